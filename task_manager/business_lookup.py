"""Finding who to call: Google Places API (New) Text Search, over httpx.

One POST to `/v1/places:searchText` with the key and a field mask in headers (the API
bills by the fields asked for, and refuses a request without a mask). The answer is cut
down to what a plan needs: name, number, address, and the opening hours turned into a
calling window, so the agent rings while someone is there to answer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import time
from typing import Any

import httpx

from config.settings import PlacesSettings
from task_manager.calling_hours import format_days

log = logging.getLogger(__name__)
SEARCH_PATH = "/v1/places:searchText"
FIELD_MASK = ",".join(
    f"places.{name}"
    for name in (
        "displayName",
        "nationalPhoneNumber",
        "internationalPhoneNumber",
        "formattedAddress",
        "regularOpeningHours",
    )
)
MAX_RESULTS = 10
# Places numbers days from Sunday = 0; calling_hours from Monday = 0.
_PLACES_TO_WEEKDAY = {0: 6, 1: 0, 2: 1, 3: 2, 4: 3, 5: 4, 6: 5}


class LookupFailed(Exception):
    """The search could not be done; the message is safe to show the person."""


@dataclass(frozen=True, slots=True)
class OpenWindow:
    """One window inside every opening day's hours: start, end, and the open days."""

    start: time
    end: time
    days: str


@dataclass(frozen=True, slots=True)
class Business:
    name: str
    phone_number: str | None  # international form when given
    address: str
    hours: OpenWindow | None
    hours_text: list[str]

    def as_tool_result(self) -> dict[str, Any]:
        window = None
        if self.hours is not None:
            window = {
                "start": self.hours.start.strftime("%H:%M"),
                "end": self.hours.end.strftime("%H:%M"),
                "days": self.hours.days,
            }
        return {
            "name": self.name,
            "phone_number": self.phone_number,
            "address": self.address,
            "calling_window": window,
            "opening_hours": self.hours_text,
        }


def opening_window(hours: dict[str, Any] | None) -> OpenWindow | None:
    """The latest opening to the earliest closing over the open days, if that is a window.

    Why the intersection: a plan has one window per task, and a call at 8:30 to a place
    that opens at 9 on Mondays is a wasted attempt. Periods that cross midnight or have no
    close (open 24 h) do not narrow the window.
    """
    periods = (hours or {}).get("periods") or []
    starts: list[time] = []
    ends: list[time] = []
    days: set[int] = set()
    for period in periods:
        opens, closes = period.get("open") or {}, period.get("close")
        if "day" not in opens:
            continue
        days.add(_PLACES_TO_WEEKDAY[int(opens["day"]) % 7])
        starts.append(time(int(opens.get("hour", 0)), int(opens.get("minute", 0))))
        if closes and closes.get("day") == opens["day"]:
            ends.append(time(int(closes.get("hour", 0)), int(closes.get("minute", 0))))
    if not days:
        return None
    start, end = max(starts), min(ends, default=time(23, 59))
    if not start < end:
        return None
    return OpenWindow(start, end, format_days(days))


def parse_place(place: dict[str, Any]) -> Business:
    hours = place.get("regularOpeningHours")
    return Business(
        name=str((place.get("displayName") or {}).get("text", "")),
        phone_number=place.get("internationalPhoneNumber") or place.get("nationalPhoneNumber"),
        address=str(place.get("formattedAddress", "")),
        hours=opening_window(hours),
        hours_text=[str(d) for d in (hours or {}).get("weekdayDescriptions") or []],
    )


class PlacesLookup:
    """`search(query, near)`; one pooled httpx client, closed with `aclose()`."""

    def __init__(self, settings: PlacesSettings, timeout: float = 10.0) -> None:
        if settings.api_key is None:
            raise ValueError("GOOGLE_PLACES_API_KEY is not set")
        self._key = settings.api_key
        self._client = httpx.AsyncClient(base_url=settings.base_url, timeout=timeout)

    async def search(self, query: str, near: str = "") -> list[Business]:
        text = f"{query} near {near}" if near.strip() else query
        headers = {
            "X-Goog-Api-Key": self._key.get_secret_value(),
            "X-Goog-FieldMask": FIELD_MASK,
        }
        body = {"textQuery": text, "pageSize": MAX_RESULTS}
        try:
            response = await self._client.post(SEARCH_PATH, json=body, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("places search failed", extra={"error": type(exc).__name__})
            raise LookupFailed("the business search could not be reached") from None
        if response.status_code != 200:
            log.warning("places search refused", extra={"status": response.status_code})
            raise LookupFailed(f"the business search answered HTTP {response.status_code}")
        places = response.json().get("places") or []
        return [parse_place(p) for p in places]

    async def aclose(self) -> None:
        await self._client.aclose()
