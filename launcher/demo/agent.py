"""The scripted call agent: what the demo's "model" does each time the bridge asks. Pure.

Why it decides from what it was told, like the real model: the bridge asks for a response
(`response.create`) after the callee's turn, after tool outputs, and for a voicemail
message. The agent answers the callee line it last heard (its input transcriptions), the
person's answer once request_user_feedback returns, or the message the bridge asked for;
anything else gets an empty response, as a model with nothing to add would give.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from launcher.demo.callees import NOTHING, AgentLine, DemoCallee, by_instructions

_ON_BEHALF = re.compile(r"on behalf of (.+?)\.\s*$", re.MULTILINE)
_MESSAGE = re.compile(r'say nothing else: "(.*)"\s*$', re.DOTALL)


@dataclass(frozen=True)
class Step:
    """One response: words to say (may be empty) and at most one tool call."""

    say: str = ""
    tool: str = ""
    args: dict[str, Any] = field(default_factory=dict)


def person_of(instructions: str) -> str:
    """Whom the call is for, as the brief names them ("on behalf of Ann.")."""
    found = _ON_BEHALF.search(instructions)
    return found.group(1) if found else "the person"


def voicemail_message(response_instructions: str) -> str | None:
    """The message the bridge asks to be left word for word, if this response asks one."""
    found = _MESSAGE.search(response_instructions)
    return found.group(1) if found else None


class ScriptedAgent:
    """One call's agent. `heard(i)` for each callee line transcribed; `respond(...)` when
    the bridge asks for a response."""

    def __init__(self, instructions: str) -> None:
        self.callee: DemoCallee = by_instructions(instructions)
        self.person = person_of(instructions)
        self.answer = ""
        self._heard: int | None = None  # the last callee line heard and not yet answered

    def transcript(self, turn: int) -> str | None:
        """What the callee said in its `turn`-th burst of speech (None past its script)."""
        exchanges = self.callee.exchanges
        return exchanges[turn].callee.text if turn < len(exchanges) else None

    def heard(self, turn: int) -> None:
        if turn < len(self.callee.exchanges):
            self._heard = turn

    def respond(self, *, instructions: str = "", feedback: str | None = None) -> Step:
        """`instructions`: the response's own (a voicemail message); `feedback`: the output
        of request_user_feedback delivered since the last response."""
        message = voicemail_message(instructions)
        if message is not None:
            return Step(say=message)
        if feedback is not None:
            return self._after_feedback(feedback)
        if self._heard is None:
            return Step()
        line, self._heard = self.callee.exchanges[self._heard].agent, None
        return self._fill(line)

    def _after_feedback(self, output: str) -> Step:
        try:
            result = json.loads(output)
        except ValueError:
            result = {}
        if isinstance(result, dict) and result.get("answered"):
            self.answer = str(result.get("answer", "")).strip()
            return self._fill(self.callee.after_answer or NOTHING)
        return self._fill(self.callee.no_answer or NOTHING)

    def _fill(self, line: AgentLine) -> Step:
        return Step(
            say=self._text(line.say),
            tool=line.tool,
            args={k: self._text(v) if isinstance(v, str) else v for k, v in line.args.items()},
        )

    def _text(self, template: str) -> str:
        return template.replace("{person}", self.person).replace("{answer}", self.answer)
