"""The analyzer: the deterministic table, the agent fallback, the LLM path against a local
HTTP server that checks the request shape, DND entries and campaign goals."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from audio_processing.realtime.tools import TOOLS
from common.call_outcomes import AgentOutcome
from config.settings import CallingSettings, OpenAISettings
from database.repositories import calls, campaigns, dnd, task_events, tasks, turns
from database.states import Speaker, TaskActor, TaskStatus
from launcher.openai_clients import build_openai_clients
from task_manager.call_judge import Decision, LlmJudge, Verdict
from task_manager.call_launcher import PlannedCall
from task_manager.post_call_analyzer import (
    AGENT_OUTCOMES,
    Backoff,
    PostCallAnalyzer,
    rule_verdict,
)
from task_manager.scheduler import default_window
from tests.support.fake_twilio import HttpRequest, LocalHttpServer
from tests.task_manager.helpers import (
    NEW_YORK,
    WEDNESDAY_15_UTC,
    FakeClock,
    Sessions,
    add_task,
    get_task,
    make_user,
    report,
)


async def in_progress(sessions: Sessions, user_id: int, attempt: int = 1, **fields: Any):
    task = await add_task(sessions, user_id, NEW_YORK, **fields)
    async with sessions() as s, s.begin():
        row = await get_task(sessions, task)
        s.add(row)
        await task_events.move(
            s, row, TaskStatus.IN_PROGRESS, actor=TaskActor.SYSTEM, attempt_count=attempt
        )
    planned = PlannedCall(user_id, task.id, NEW_YORK, attempt, task.campaign_id)
    return task, planned


def analyzer(sessions: Sessions, judge: LlmJudge | None = None) -> PostCallAnalyzer:
    return PostCallAnalyzer(
        sessions, judge, clock=FakeClock(WEDNESDAY_15_UTC), rng=random.Random(7)
    )


@pytest.mark.parametrize("status", ["busy", "no_answer", "congestion", "failed", "ai_failure"])
async def test_unanswered_outcomes_retry_with_backoff_then_fail(
    sessions: Sessions, status: str
) -> None:
    user = await make_user(sessions)
    task, planned = await in_progress(sessions, user.id, attempt=2, max_attempts=3)
    assert rule_verdict(report(status)) is not None  # decided without any LLM
    await analyzer(sessions).on_call_done(planned, report(status))
    row = await get_task(sessions, task)
    assert (row.status, row.last_decision, row.attempt_count) == (
        TaskStatus.RETRY_SCHEDULED, "retry", 2,
    )  # fmt: skip
    base = Backoff().base[status] * 2  # second attempt: doubled
    assert base * 0.75 <= row.next_action_time - WEDNESDAY_15_UTC <= base * 1.25
    assert row.inter_call_context["history"][-1]["decision"] == "retry"

    last, planned = await in_progress(sessions, user.id, attempt=3, max_attempts=3)
    await analyzer(sessions).on_call_done(planned, report(status))
    row = await get_task(sessions, last)
    assert row.status == TaskStatus.FAILED
    assert row.last_decision_reason.startswith("all 3 attempts were used")


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    policy, rng = Backoff(jitter=0.25), random.Random(1)
    delays = [policy.delay("busy", n, rng) for n in range(1, 12)]
    for n, delay in enumerate(delays, start=1):
        plain = min(policy.cap, timedelta(minutes=10) * 2 ** (n - 1))
        assert plain * 0.75 <= delay <= plain * 1.25
    assert len({d.total_seconds() for d in delays[:5]}) == 5


async def test_an_interrupted_call_is_retried_without_using_an_attempt(sessions: Sessions) -> None:
    user = await make_user(sessions)
    task, planned = await in_progress(sessions, user.id, attempt=1, max_attempts=1)
    await analyzer(sessions).on_call_done(planned, report("interrupted"))
    row = await get_task(sessions, task)
    assert (row.status, row.attempt_count) == (TaskStatus.RETRY_SCHEDULED, 0)


@pytest.mark.parametrize(
    ("agent_outcome", "status"),
    [
        ("success", TaskStatus.SUCCEEDED),
        ("failure", TaskStatus.FAILED),
        ("needs_user", TaskStatus.NEEDS_USER),
        ("callback_requested", TaskStatus.RETRY_SCHEDULED),
        (None, TaskStatus.RETRY_SCHEDULED),
    ],
)
async def test_without_a_key_the_agents_outcome_decides(
    sessions: Sessions, agent_outcome: str | None, status: TaskStatus
) -> None:
    user = await make_user(sessions)
    task, planned = await in_progress(sessions, user.id)
    done = report("completed", agent_outcome=agent_outcome, facts={"time": "Tue 10:00"})
    await analyzer(sessions).on_call_done(planned, done)
    row = await get_task(sessions, task)
    assert row.status == status
    assert row.result == ({"time": "Tue 10:00"} if status is TaskStatus.SUCCEEDED else None)


async def test_a_callee_opt_out_goes_to_the_operators_list_that_no_user_can_clear(
    sessions: Sessions,
) -> None:
    """Issue 13: "do not call me again" went on the calling user's own list, which that
    user could delete, and another user's task to the same number was dialled."""
    user = await make_user(sessions)
    other = await make_user(sessions)
    task, planned = await in_progress(sessions, user.id)
    await analyzer(sessions).on_call_done(planned, report("completed", agent_outcome="do_not_call"))
    assert (await get_task(sessions, task)).status == TaskStatus.CANCELLED_DND
    async with sessions() as s, s.begin():
        assert await dnd.is_blocked(s, user_id=user.id, phone_number=NEW_YORK)
        assert await dnd.is_blocked(s, user_id=other.id, phone_number=NEW_YORK)
        assert await dnd.list_for_user(s, user_id=user.id) == []  # nothing of theirs to remove
        assert not await dnd.remove(s, user_id=user.id, phone_number=NEW_YORK)
        [entry] = await dnd.list_for_user(s, user_id=None)
    assert entry.reason.startswith(f"callee opted out (task {task.id})")


async def test_a_number_refused_as_do_not_call_before_dialing_is_not_listed_again(
    sessions: Sessions,
) -> None:
    """The initiator's own check stopped the call: the task stands down, nothing is added
    to the operator's list (the entry that stopped it may be the user's own)."""
    user = await make_user(sessions)
    task, planned = await in_progress(sessions, user.id)
    refused = report("failed", end_reason="do_not_call_list")
    await analyzer(sessions).on_call_done(planned, refused)
    assert (await get_task(sessions, task)).status == TaskStatus.CANCELLED_DND
    async with sessions() as s:
        assert await dnd.list_for_user(s, user_id=None) == []


@pytest.mark.parametrize("minutes", [1e10, float("inf"), float("nan"), -5.0, 0.0])
async def test_a_judges_delay_is_clamped_to_thirty_days_and_the_shortest_backoff(
    sessions: Sessions, minutes: float
) -> None:
    """Issue 13: retry_after_minutes=1e10 raised OverflowError and left the task in_progress."""
    user = await make_user(sessions)
    task, planned = await in_progress(sessions, user.id, max_attempts=3)
    verdict = Verdict(Decision.RETRY, "later", "llm", retry_after_minutes=minutes)
    await analyzer(sessions).apply(planned, report("completed"), verdict)
    row = await get_task(sessions, task)
    assert row.status == TaskStatus.RETRY_SCHEDULED
    delay = row.next_action_time - WEDNESDAY_15_UTC
    assert min(Backoff().base.values()) <= delay <= timedelta(days=30)


async def test_calls_that_never_left_use_no_attempt_a_few_times(sessions: Sessions) -> None:
    """Issue 13: with AMI down every originate used an attempt, and three of them failed
    the task without one call placed."""
    user = await make_user(sessions)
    task, _ = await in_progress(sessions, user.id, attempt=0, max_attempts=2)
    refused = report("failed", end_reason="originate_refused")
    for _ in range(5):
        row = await get_task(sessions, task)
        planned = PlannedCall(user.id, task.id, NEW_YORK, row.attempt_count + 1)
        async with sessions() as s, s.begin():
            await tasks.update_status(s, user_id=user.id, task_id=task.id,
                expected_version=row.version, status=TaskStatus.IN_PROGRESS, actor=TaskActor.SYSTEM,
                attempt_count=row.attempt_count + 1)  # fmt: skip
        await analyzer(sessions).on_call_done(planned, refused)
        row = await get_task(sessions, task)
        assert (row.status, row.attempt_count) == (TaskStatus.RETRY_SCHEDULED, 0)
    assert row.inter_call_context["free_retries"] == {"not_placed": 5}


async def test_an_answered_call_that_broke_uses_its_attempt_an_unanswered_one_twice_not(
    sessions: Sessions,
) -> None:
    """Issue 13: ten interrupted calls in a row left a max_attempts=3 task at attempt 0."""
    user = await make_user(sessions)
    answered, planned = await in_progress(sessions, user.id, attempt=1, max_attempts=3)
    await analyzer(sessions).on_call_done(planned, report("interrupted", answered=True))
    assert (await get_task(sessions, answered)).attempt_count == 1
    counts = []
    unanswered, _ = await in_progress(sessions, user.id, attempt=0, max_attempts=3)
    for _ in range(3):
        row = await get_task(sessions, unanswered)
        async with sessions() as s, s.begin():
            await tasks.update_status(s, user_id=user.id, task_id=row.id,
                expected_version=row.version, status=TaskStatus.IN_PROGRESS, actor=TaskActor.SYSTEM,
                attempt_count=row.attempt_count + 1)  # fmt: skip
        planned = PlannedCall(user.id, row.id, NEW_YORK, row.attempt_count + 1)
        await analyzer(sessions).on_call_done(planned, report("interrupted"))
        counts.append((await get_task(sessions, unanswered)).attempt_count)
    assert counts == [0, 0, 1]


async def test_success_meets_the_goal_and_stands_down_the_rest(sessions: Sessions) -> None:
    user = await make_user(sessions)
    async with sessions() as s, s.begin():
        campaign = await campaigns.create(s, user_id=user.id, name="c", stop_after_successes=1)
    winner, planned = await in_progress(sessions, user.id, campaign_id=campaign.id)
    also_live, live_call = await in_progress(sessions, user.id, campaign_id=campaign.id)
    queued = await add_task(sessions, user.id, NEW_YORK, campaign_id=campaign.id)
    claimed = await add_task(sessions, user.id, NEW_YORK, campaign_id=campaign.id)
    async with sessions() as s, s.begin():
        row = await get_task(sessions, claimed)
        s.add(row)
        await task_events.move(s, row, TaskStatus.SCHEDULED, actor=TaskActor.SYSTEM)
    service = analyzer(sessions)
    await service.on_call_done(planned, report("completed", agent_outcome="success"))
    assert (await get_task(sessions, winner)).status == TaskStatus.SUCCEEDED
    for task in (queued, claimed):
        assert (await get_task(sessions, task)).status == TaskStatus.GOAL_MET_ELSEWHERE
    assert (await get_task(sessions, also_live)).status == TaskStatus.IN_PROGRESS  # finishes
    await service.on_call_done(live_call, report("busy"))
    assert (await get_task(sessions, also_live)).status == TaskStatus.GOAL_MET_ELSEWHERE


class FakeChat:
    """The chat completions endpoint; checks the request the SDK sends."""

    def __init__(self, reply: Any) -> None:
        self.reply = reply
        self.bodies: list[dict[str, Any]] = []

    async def handle(self, request: HttpRequest) -> tuple[int, Any]:
        assert (request.method, request.path) == ("POST", "/v1/chat/completions")
        assert request.headers["authorization"] == "Bearer sk-test-judge"
        body = request.json()
        self.bodies.append(body)
        content = self.reply if isinstance(self.reply, str) else json.dumps(self.reply)
        return 200, {
            "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
        }  # fmt: skip


def judge_for(server: LocalHttpServer) -> LlmJudge:
    settings = OpenAISettings(
        api_key=SecretStr("sk-test-judge"), base_url=f"{server.base_url}/v1", chat_model="judge-1"
    )
    clients = build_openai_clients(settings)
    assert clients is not None
    return LlmJudge(clients.chat, settings.chat_model, timeout=5)


async def test_the_llm_reads_the_transcript_and_decides(sessions: Sessions) -> None:
    user = await make_user(sessions)
    task, planned = await in_progress(sessions, user.id, objective="book a cleaning")
    async with sessions() as s, s.begin():
        await calls.create_dialing(s, user_id=user.id, call_id="c-1", phone_number=NEW_YORK,
                                   task_id=task.id)  # fmt: skip
        await turns.append(s, user_id=user.id, call_id="c-1", speaker=Speaker.AGENT,
                           text="Could we book Tuesday?")  # fmt: skip
        await turns.append(s, user_id=user.id, call_id="c-1", speaker=Speaker.CALLEE,
                           text="Tuesday 10am works, 80 dollars.")  # fmt: skip
    chat = FakeChat({
        "decision": "success", "reason": "booked", "retry_after_minutes": None,
        "result": [{"key": "time", "value": "Tue 10:00"}, {"key": "price", "value": "$80"}],
        "notes_for_next_attempt": "",
    })  # fmt: skip
    async with LocalHttpServer(chat.handle) as server:
        judge = judge_for(server)
        done = report("completed", call_id="c-1", agent_outcome="failure", amd_status="HUMAN")
        await analyzer(sessions, judge).on_call_done(planned, done)
        await judge.client.close()
    row = await get_task(sessions, task)
    assert (row.status, row.result) == (TaskStatus.SUCCEEDED, {"time": "Tue 10:00", "price": "$80"})
    assert row.last_decision_reason == "booked"
    (body,) = chat.bodies
    assert body["model"] == "judge-1"
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    schema = body["response_format"]["json_schema"]["schema"]
    assert set(schema["required"]) == set(schema["properties"])
    prompt = body["messages"][1]["content"]
    for expected in ("book a cleaning", "callee: Tuesday 10am works", "HUMAN", "failure"):
        assert expected in prompt


async def test_an_unusable_llm_reply_falls_back_to_the_agent(sessions: Sessions) -> None:
    user = await make_user(sessions)
    task, planned = await in_progress(sessions, user.id)
    chat = FakeChat("this is not JSON")
    async with LocalHttpServer(chat.handle) as server:
        judge = judge_for(server)
        done = report("completed", agent_outcome="needs_user")
        verdict = await analyzer(sessions, judge).decide(planned, done)
        await judge.client.close()
    assert (verdict.decision, verdict.source) == (Decision.NEEDS_USER, "agent")
    assert len(chat.bodies) == 1
    assert (await get_task(sessions, task)).status == TaskStatus.IN_PROGRESS  # decide only


def test_every_outcome_the_agent_may_give_has_a_decision() -> None:
    """The end_call schema and the analyzer share one enum; none may go undecided."""
    offered = TOOLS["end_call"]["parameters"]["properties"]["outcome"]["enum"]
    assert offered == [o.value for o in AgentOutcome]
    assert set(AGENT_OUTCOMES) == set(AgentOutcome)


async def test_a_requested_callback_sets_the_next_attempt_inside_calling_hours(
    sessions: Sessions,
) -> None:
    """Callback at 15:00 New York (20:00 UTC): that is the next attempt. Asked for 23:00,
    it moves to the next opening of the operator's window (09:00 the next weekday)."""
    user = await make_user(sessions)
    window = default_window(CallingSettings())  # Mon-Fri 09:00-20:00 callee-local
    judge_free = PostCallAnalyzer(
        sessions, clock=FakeClock(WEDNESDAY_15_UTC), rng=random.Random(7), window=window
    )
    at_three = WEDNESDAY_15_UTC.replace(hour=20)
    task, planned = await in_progress(sessions, user.id, max_attempts=3)
    done = report("completed", agent_outcome="callback_requested", callback_at=at_three,
                  summary="Call back after 3 pm.",
                  facts={"callback_requested": "after 3 pm", "doctor": "Smith"})  # fmt: skip
    await judge_free.on_call_done(planned, done)
    row = await get_task(sessions, task)
    assert (row.status, row.next_action_time) == (TaskStatus.RETRY_SCHEDULED, at_three)
    [entry] = row.inter_call_context["history"]
    assert entry["summary"] == "Call back after 3 pm."
    assert entry["facts"] == {"doctor": "Smith"}
    assert entry["callback"] == "after 3 pm"

    late, planned = await in_progress(sessions, user.id, max_attempts=3)
    at_eleven_pm = WEDNESDAY_15_UTC.replace(day=5, hour=4)  # Wed 23:00 in New York
    await judge_free.on_call_done(planned, report("completed", agent_outcome="callback_requested",
                                                  callback_at=at_eleven_pm))  # fmt: skip
    row = await get_task(sessions, late)
    assert row.next_action_time == WEDNESDAY_15_UTC.replace(day=5, hour=14)  # Thu 09:00 NY
