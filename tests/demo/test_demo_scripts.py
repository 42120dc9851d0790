"""The demo's scripts, without I/O: the planner and judge, the call agent, the callees,
the voices. Each test feeds what the product sends and checks what the demo answers."""

from __future__ import annotations

import json

import pytest

from audio_processing.beep_detector import BeepDetector
from audio_processing.frame_features import measure
from audio_processing.realtime.tools import TOOLS
from audio_processing.voicemail_message import message_instructions
from launcher.demo import voice
from launcher.demo.agent import ScriptedAgent, person_of, voicemail_message
from launcher.demo.callees import (
    ANYONE,
    BRIGHT_SMILE,
    CALLEES,
    DENTISTS,
    HARBOR,
    OAK_STREET,
    by_instructions,
    by_number,
)
from launcher.demo.planner import CLARIFY, HELP, PLAN_SHOWN, Text, ToolCall, planner_reply, verdict
from task_manager.call_judge import VERDICT_SCHEMA, CallMaterial, render
from task_manager.orchestrator import CampaignPlan, OrchestratorService


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


# -- the planning assistant -----------------------------------------------------------------
def test_a_request_for_dentists_without_a_time_gets_one_clarifying_question() -> None:
    assert planner_reply([user("call three dentists and book a cleaning")]) == Text(CLARIFY)


def test_the_answer_to_the_question_gets_a_plan_of_three_calls_to_the_demo_dentists() -> None:
    asked = [user("call three dentists"), {"role": "assistant", "content": CLARIFY}]
    reply = planner_reply([*asked, user("Tuesday mornings")])
    assert isinstance(reply, ToolCall)
    assert reply.name == "propose_plan"
    plan = CampaignPlan.model_validate(reply.arguments["plan"])
    assert [t.phone_number for t in plan.tasks] == [d.number for d in DENTISTS]
    assert all("They prefer: Tuesday mornings." in t.objective for t in plan.tasks)


def test_a_request_that_says_when_gets_the_plan_at_once() -> None:
    reply = planner_reply([user("Book me a dental cleaning, any weekday morning")])
    assert isinstance(reply, ToolCall)


def test_the_plan_passes_the_orchestrators_own_checks() -> None:
    from config.settings import CallingSettings

    reply = planner_reply([user("dentist cleaning any time")])
    assert isinstance(reply, ToolCall)
    plan = CampaignPlan.model_validate(reply.arguments["plan"])
    OrchestratorService(None, CallingSettings()).prepare(plan)  # type: ignore[arg-type]


def test_anything_else_gets_told_what_the_demo_can_do() -> None:
    assert planner_reply([user("order a pizza")]) == Text(HELP)


def test_after_the_tool_result_it_explains_the_plan_or_the_problems() -> None:
    shown = {"role": "tool", "tool_call_id": "c", "content": json.dumps({"accepted": True})}
    assert planner_reply([user("x"), shown]) == Text(PLAN_SHOWN)
    refused = {"accepted": False, "problems": ["task 1: not a valid number"]}
    reply = planner_reply([user("x"), {"role": "tool", "content": json.dumps(refused)}])
    assert reply == Text("The plan was refused: task 1: not a valid number")


# -- the judge ------------------------------------------------------------------------------
def material(**changes: object) -> CallMaterial:
    base: dict[str, object] = {
        "objective": "Book a cleaning", "success_criteria": "", "contact_name": "Harbor",
        "transcript": [("agent", "hello")],
    }  # fmt: skip
    return CallMaterial(**{**base, **changes})  # type: ignore[arg-type]


def test_the_judge_reads_the_agents_outcome_from_the_rendered_record() -> None:
    done = verdict(render(material(agent_outcome="success", agent_summary="Wed 10 am")))
    assert (done["decision"], done["result"]) == (
        "success",
        [{"key": "booked", "value": "Wed 10 am"}],
    )
    machine = verdict(render(material(answered_by="machine", message_left=True)))
    assert machine["decision"] == "failed"
    assert "a message was left" in machine["reason"]
    assert verdict(render(material(agent_outcome="needs_user")))["decision"] == "needs_user"
    assert verdict(render(material()))["reason"] == "The call did not book an appointment."


def test_every_verdict_has_exactly_the_schemas_fields() -> None:
    for outcome in ("success", "failure", "needs_user", None):
        reply = verdict(render(material(agent_outcome=outcome)))
        assert set(reply) == set(VERDICT_SCHEMA["properties"])


# -- the callees and the agent --------------------------------------------------------------
def test_each_demo_number_reaches_its_callee_and_others_reach_the_demo_line() -> None:
    for callee in DENTISTS:
        assert by_number(callee.number) is callee
        assert by_number(callee.number.lstrip("+")) is callee
    assert by_number("+14155550123") is ANYONE


def test_the_agent_knows_its_callee_from_the_brief_even_when_the_plan_was_edited() -> None:
    assert by_instructions("You are calling: Harbor dentist.") is HARBOR
    assert by_instructions("You are calling: Oak Street Dental (demo).") is OAK_STREET
    assert by_instructions("You are calling: Joe.") is ANYONE


@pytest.mark.parametrize("callee", CALLEES, ids=lambda c: c.key)
def test_every_tool_in_the_scripts_is_one_the_product_offers(callee: object) -> None:
    from launcher.demo.callees import DemoCallee

    assert isinstance(callee, DemoCallee)
    lines = [e.agent for e in callee.exchanges] + [callee.after_answer, callee.no_answer]
    for line in filter(None, lines):
        if line.tool:
            assert line.tool in TOOLS
            assert set(line.args) <= set(TOOLS[line.tool]["parameters"]["properties"])


BRIEF = "You are on a phone call on behalf of Ann.\nSome rule.\nYou are calling: {name}."


def test_the_agent_answers_each_line_it_heard_once() -> None:
    agent = ScriptedAgent(BRIEF.format(name=HARBOR.name))
    assert agent.respond().say == ""  # nothing heard yet: an empty response
    assert agent.transcript(0) == HARBOR.exchanges[0].callee.text
    agent.heard(0)
    step = agent.respond()
    assert step.say.startswith("Hello Maya, I'm an AI assistant calling on behalf of Ann.")
    assert agent.respond().say == ""  # asked again (after a tool output): nothing new to say
    assert agent.transcript(len(HARBOR.exchanges)) is None


def test_the_agent_presses_1_at_the_menu_and_passes_the_persons_answer_on() -> None:
    agent = ScriptedAgent(BRIEF.format(name=BRIGHT_SMILE.name))
    agent.heard(0)
    step = agent.respond()
    assert (step.tool, step.args) == ("send_dtmf", {"digits": "1"})
    agent.heard(3)
    asked = agent.respond()
    assert asked.tool == "request_user_feedback"
    answered = agent.respond(feedback=json.dumps({"answered": True, "answer": "Thursday"}))
    assert answered.say == "Thanks for waiting. They say: Thursday"
    agent.heard(4)
    closing = agent.respond()
    assert closing.tool == "end_call"
    assert (
        closing.args["summary"] == "Booked a cleaning at Bright Smile Dental; Ann chose: Thursday"
    )


def test_without_the_persons_answer_the_agent_ends_the_call_for_them_to_decide() -> None:
    agent = ScriptedAgent(BRIEF.format(name=BRIGHT_SMILE.name))
    step = agent.respond(feedback=json.dumps({"answered": False, "note": "late"}))
    assert (step.tool, step.args["outcome"]) == ("end_call", "needs_user")


def test_the_agent_leaves_the_voicemail_message_the_bridge_composed() -> None:
    agent = ScriptedAgent(BRIEF.format(name=OAK_STREET.name))
    agent.heard(0)
    assert agent.respond().tool == "report_voicemail"
    message = "Hello, this is an assistant calling for Ann about a cleaning."
    assert agent.respond(instructions=message_instructions(message)).say == message
    assert voicemail_message("Just answer.") is None


def test_whom_the_call_is_for_comes_from_the_brief() -> None:
    assert person_of(BRIEF) == "Ann"
    assert person_of("no name here") == "the person"


# -- the voices -----------------------------------------------------------------------------
def test_speech_takes_time_by_its_length_and_is_loud_with_short_dips() -> None:
    pcm = voice.speech("Harbor Dental, Maya speaking. How can I help?")
    assert len(pcm) == voice.speech_ms("Harbor Dental, Maya speaking. How can I help?") * 16
    levels = [voice.rms(f) for f in voice.frames(pcm)]
    quiet_run = longest = 0
    for level in levels:
        quiet_run = quiet_run + 1 if level < 300 else 0
        longest = max(longest, quiet_run)
    assert sum(level >= 500 for level in levels) > len(levels) / 2
    assert longest * 20 < 300  # no dip as long as a turn detector's pause


def test_speech_is_no_beep_to_the_products_detector_and_the_beep_is_one() -> None:
    def beeps(pcm: bytes) -> int:
        """Tones the detector reports, with the quiet after it that a beep needs."""
        detector = BeepDetector()
        heard = [detector.feed(measure(f)) for f in voice.frames(pcm + voice.silence(600))]
        return sum(tone is not None for tone in heard)

    assert beeps(voice.speech(OAK_STREET.exchanges[0].callee.text)) == 0
    assert beeps(voice.beep()) == 1


def test_frames_are_20_ms_with_the_last_one_padded() -> None:
    assert [len(f) for f in voice.frames(bytes(700))] == [320, 320, 320]


# -- hearing turns ---------------------------------------------------------------------------
def test_the_realtime_side_hears_one_turn_per_line_and_ends_it_after_the_pause() -> None:
    from launcher.demo.realtime_session import EnergyTurns

    turns = EnergyTurns(pause_ms=500)
    line = voice.speech(HARBOR.exchanges[0].callee.text)
    heard = turns.feed(voice.silence(200) + line + voice.silence(400))
    assert heard == [("started", 200)]  # a pause shorter than 500 ms: still speaking
    heard = turns.feed(voice.silence(200))
    assert len(heard) == 1
    kind, end_ms = heard[0]
    assert kind == "stopped"
    assert abs(end_ms - (200 + len(line) // 16)) <= 200  # the last loud frame, give or take


async def test_the_callee_counts_the_agents_utterances_by_their_pauses() -> None:
    from launcher.demo.callee_call import AgentEars

    ears = AgentEars()
    for frame in voice.frames(voice.speech("Let me check with them.") + voice.silence(800)):
        ears.feed(frame)
    assert ears.utterances == 1
    for frame in voice.frames(voice.speech("Thanks.") + voice.silence(300)):
        ears.feed(frame)
    assert ears.utterances == 1  # still talking, as far as a 700 ms pause can tell
    for frame in voice.frames(voice.silence(500)):
        ears.feed(frame)
    assert ears.utterances == 2
