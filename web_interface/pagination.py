"""Every list, on pages and in the API, comes 50 at a time, numbered from 1.

Why: the dashboard used to render every task a person had (5,000 tasks: 10 MB of HTML,
205 ms of the event loop that paces live call audio; issue 13). A list is read with one
row more than a page, which says whether a next page exists without counting.

The JSON API keeps answering plain arrays (so clients written for them keep working) and
says where the neighbours are in a `Link` header (RFC 8288), `rel="next"` / `rel="prev"`
with `?page=N`; pages show "Newer"/"Older" style links built the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from fastapi import Request, Response

T = TypeVar("T")
PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    number: int
    has_next: bool

    @property
    def has_prev(self) -> bool:
        return self.number > 1


@dataclass(frozen=True, slots=True)
class PageLinks:
    """For templates: where the previous and next pages are (None: there is none)."""

    number: int
    prev: str | None
    next: str | None


def offset(number: int) -> int:
    return (number - 1) * PAGE_SIZE


FETCH = PAGE_SIZE + 1  # one more than a page: is there a next one?


def page_of(rows: Sequence[T], number: int) -> Page[T]:
    """`rows` as read with `offset(number)` and `FETCH`."""
    return Page(list(rows[:PAGE_SIZE]), number, len(rows) > PAGE_SIZE)


def page_url(request: Request, number: int, param: str = "page") -> str:
    """This URL (path and query, other parameters kept) at another page."""
    url = request.url.include_query_params(**{param: number})
    return f"{url.path}?{url.query}"


def links(request: Request, page: Page[T], param: str = "page") -> PageLinks:
    return PageLinks(
        number=page.number,
        prev=page_url(request, page.number - 1, param) if page.has_prev else None,
        next=page_url(request, page.number + 1, param) if page.has_next else None,
    )


def set_link_header(response: Response, request: Request, page: Page[T]) -> None:
    found = links(request, page)
    neighbours = (("prev", found.prev), ("next", found.next))
    parts = [f'<{url}>; rel="{rel}"' for rel, url in neighbours if url]
    if parts:
        response.headers["Link"] = ", ".join(parts)
