"""Commands sent to one live call over the command bus, and their wire form (JSON).

Why here: the web app, the model's tools and the call's handler may live in different
processes, so a command crosses Redis as bytes. One discriminated union decides what is a
command; anything else becomes `BadCommand` so a subscriber can drop it and keep going.
Models are strict and frozen: one release writes and reads this format, and a field typo
should fail loudly at the publisher rather than do something surprising in a live call.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

# Digits Asterisk's PlayDTMF understands; `w` is a 0.5 s pause between them.
DTMF_PATTERN = r"^[0-9*#A-Dw]{1,32}$"
DTMF_PAUSE_SECONDS = 0.5
# A phone number or dial string: something visible, and no control characters (a line
# break would inject lines into the AMI action that carries it).
DIAL_TARGET_PATTERN = r"^[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$"


class BadCommand(ValueError):
    """The bytes are not a valid command. The message names fields and error kinds only."""


class _Command(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")


class SendDtmf(_Command):
    """Play DTMF digits into the call (e.g. to navigate a phone menu)."""

    type: Literal["send_dtmf"] = "send_dtmf"
    digits: Annotated[str, Field(pattern=DTMF_PATTERN)]


# Hangup.reason when the person ends a live call (dashboard or API): the call's handler
# records it as the call's end reason, so the row says who ended it.
PERSON_HANGUP = "person_hangup"


class Hangup(_Command):
    """End the call from our side."""

    type: Literal["hangup"] = "hangup"
    reason: Annotated[str, Field(min_length=1, max_length=200)] = "requested"


class Transfer(_Command):
    """Hand the call over to a phone number or an Asterisk dial string."""

    type: Literal["transfer"] = "transfer"
    target: Annotated[str, Field(min_length=1, max_length=256, pattern=DIAL_TARGET_PATTERN)]


class FeedbackAnswer(_Command):
    """A person's answer to a question the model asked them during the call."""

    type: Literal["feedback_answer"] = "feedback_answer"
    request_id: int
    answer: Annotated[str, Field(max_length=10_000)]


MAX_LISTEN_SECONDS = 30.0


class Listen(_Command):
    """The owner's page listens: publish the call's audio for `seconds` more (renewed while
    the page listens, so audio stops soon after a page that vanished); 0 stops at once."""

    type: Literal["listen"] = "listen"
    seconds: Annotated[float, Field(ge=0, le=MAX_LISTEN_SECONDS)]


CallCommand = Annotated[
    SendDtmf | Hangup | Transfer | FeedbackAnswer | Listen,
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[CallCommand] = TypeAdapter(CallCommand)


def encode_command(command: CallCommand) -> bytes:
    """The JSON bytes published on the bus."""
    return command.model_dump_json().encode()


def decode_command(data: bytes | str) -> CallCommand:
    """Parse bus bytes into a command; any problem becomes `BadCommand`."""
    try:
        return _ADAPTER.validate_json(data)
    except ValidationError as exc:
        raise BadCommand(_describe(exc)) from None
    except ValueError as exc:  # e.g. bytes that are not UTF-8
        raise BadCommand(f"invalid command: {type(exc).__name__}") from None


def _describe(exc: ValidationError) -> str:
    """Field locations and error kinds, never the input (it may hold digits or answers)."""
    parts = [
        f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['type']}"
        for err in exc.errors(include_url=False, include_input=False, include_context=False)
    ]
    return "invalid command: " + "; ".join(parts)
