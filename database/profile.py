"""What a person lets the agent know about them, what it must never say, and UI marks.

Why a model that owns its keys: the profile is one JSON column read by the web pages, the
planning assistant, the scheduler and every call's agent. Typed here, a reader cannot ask
for `standing_facts` where the writer stored `facts`; stored rows are read tolerantly
(unknown keys dropped, a malformed value replaced by its default) so an old or hand-edited
row never breaks a call.
"""

from __future__ import annotations

import logging
from datetime import datetime, time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger(__name__)


class PreferredWindow(BaseModel):
    """The person's narrowing of the calling window for all their calls (None: keep)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    start: time | None = None
    end: time | None = None
    days: str | None = None  # "mon,tue,..." as CALLING_DAYS


class Profile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    facts: dict[str, str] = Field(default_factory=dict)  # label → value the agent may share
    never_share: tuple[str, ...] = ()  # things the agent must never say
    calling_window: PreferredWindow | None = None
    notifications_seen_at: datetime | None = None
    # A caller we cannot match to a task is put through to the person's phone instead of
    # hearing INBOUND_UNKNOWN_MESSAGE (when exactly one person with a phone asks for it).
    forward_unknown_callers: bool = False

    @classmethod
    def from_stored(cls, raw: Any) -> Profile:
        """Whatever the column holds; a field that does not validate falls back to its
        default (logged without values), the rest is kept."""
        if not isinstance(raw, dict):
            return cls()
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            bad = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
            log.warning("profile fields ignored", extra={"fields": sorted(bad)})
            return cls.model_validate({k: v for k, v in raw.items() if k not in bad})

    def stored(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_defaults=True)
