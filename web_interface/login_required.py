"""The one exception a page dependency raises for a visitor without a session."""

from __future__ import annotations


class LoginRequired(Exception):
    """A page was asked for without a valid session: go to the login form, then back."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path
