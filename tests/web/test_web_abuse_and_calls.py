"""The web cannot hurt the calls (issue 13, load): while one person holds 200 live pages
and sends 50 MB bodies without end, another person's answer to the agent is delivered, a
sandbox call starts, and the audio it is sent stays paced (p99 spacing error < 5 ms,
measured on the wire to Asterisk by the tap).

The load runs in its own process (tests/support/web_load.py) and reaches the platform
only through its ports; the platform runs as `main.py run` builds it, web app included.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
from pathlib import Path

import httpx
import pytest

from call_processor.finished_call import EndedBy
from common.commands import FeedbackAnswer
from config.settings import WebSettings
from database.states import CallStatus
from tests.calls.conftest import call_stack, wait_until
from tests.support import sandbox as sb
from tests.support.sandbox import Sandbox
from tests.web.conftest import refresh_csrf, sign_up
from tests.web.seed import seed_user_data
from web_interface.security import SESSION_COOKIE

pytestmark = [pytest.mark.sandbox, pytest.mark.redis]
PAGES = 200
BODY_MIB = 50
ROOT = Path(__file__).resolve().parents[2]


def spacing_errors_ms(times: list[float]) -> list[float]:
    return sorted(abs(b - a - 0.020) * 1000 for a, b in itertools.pairwise(times))


def p99(values: list[float]) -> float:
    return values[min(len(values) - 1, int(len(values) * 0.99))]


async def test_200_pages_and_50_mb_bodies_of_one_person_leave_others_answers_and_calls_alone(
    asterisk_sandbox: Sandbox, tmp_path: Path, redis_url: str
) -> None:
    web = WebSettings(max_sockets_per_user=PAGES + 10)  # all 200 stay open: the worst case
    async with call_stack(
        asterisk_sandbox, tmp_path, redis_url=redis_url, web=True, tap=True, web_settings=web
    ) as stack:
        assert stack.web_port is not None
        assert stack.tap is not None
        base = f"127.0.0.1:{stack.web_port}"
        async with (
            httpx.AsyncClient(base_url=f"http://{base}", timeout=10) as a,
            httpx.AsyncClient(base_url=f"http://{base}", timeout=10) as b,
        ):
            await sign_up(a, "a@example.com")
            await sign_up(b, "b@example.com")
            await refresh_csrf(b)
            b_seeded = await seed_user_data(stack.sessions, "b@example.com")
            cookie = f"{SESSION_COOKIE}={a.cookies[SESSION_COOKIE]}"
            load = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.support.web_load", base, cookie, str(PAGES),
                str(BODY_MIB), cwd=ROOT, stdout=asyncio.subprocess.PIPE,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )  # fmt: skip
            assert load.stdout is not None
            try:
                ready = json.loads(await asyncio.wait_for(load.stdout.readline(), 60))
                assert ready == {"ready": PAGES}

                # A live call of B's waits for B's answer on its command channel.
                async with stack.bus.subscribe(b_seeded.call_id) as call_commands:
                    answered = await b.post(
                        f"/api/feedback/{b_seeded.question_id}/answer", json={"answer": "Yes"}
                    )
                    command = await asyncio.wait_for(anext(call_commands), 5)

                # A call starts under the same load and is sent paced audio throughout.
                token = Sandbox.new_token()
                placing = stack.place(stack.request(sb.SILENT, token))
                await wait_until(lambda: len(stack.talkers.talkers) == 1, timeout=20)
                call_id = next(iter(stack.talkers.talkers))
                finished = await asyncio.wait_for(placing, 30)
            finally:
                load.terminate()
                out, _ = await asyncio.wait_for(load.communicate(), 30)
    summary = json.loads(out.decode().splitlines()[-1])
    assert answered.status_code == 200, answered.text
    assert answered.json()["delivered"] is True
    assert command == FeedbackAnswer(request_id=b_seeded.question_id, answer="Yes")
    assert finished.status == CallStatus.COMPLETED, finished
    assert finished.ended_by is EndedBy.FAR_END  # the far end's own 8 s, nothing cut short
    frames = [f.at for f in stack.tap.call(call_id).frames]
    errors = spacing_errors_ms(frames[5:])  # past the first frames' start-up
    assert len(errors) >= 300, len(errors)  # ~8 s of 20 ms frames
    late = [round(e) for e in errors if e > 5]
    assert p99(errors) < 5.0, f"p99 spacing error {p99(errors):.2f} ms; over 5 ms: {late}"
    # The load was real: the bodies kept coming and were refused, the pages stayed open.
    assert summary["answers"].get("413", 0) >= 10, summary
    assert set(summary["answers"]) <= {"413", "closed"}, summary
    assert summary["pages_open"] == PAGES, summary
