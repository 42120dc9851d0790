"""Which passwords an account may have: at least 10 characters, and not easy to guess.

Why zxcvbn (Dropbox's estimator, the maintained Python port): it knows the common
password lists, keyboard walks, dates and names, and says why a password is weak in words
a person can act on; a length rule alone lets "password12" through. Only the first
characters are scored (CHECKED): the estimator's cost grows with length, and a password
that long is no guess anyway.
"""

from __future__ import annotations

from zxcvbn import zxcvbn

MIN_LENGTH = 10
MIN_SCORE = 3  # zxcvbn's 0-4: 3 is "safely unguessable" against an online attack
CHECKED = 72


def password_problem(password: str, *hints: str) -> str | None:
    """Why this password is refused, or None. `hints`: the person's email and name,
    which a password must not lean on."""
    if len(password) < MIN_LENGTH:
        return f"The password needs at least {MIN_LENGTH} characters."
    known = [h for h in hints if h] + ["opendeep"]
    result = zxcvbn(password[:CHECKED], user_inputs=known)
    if result["score"] >= MIN_SCORE:
        return None
    warning = result["feedback"].get("warning") or "It would be easy to guess."
    return (
        f"Choose a harder password. {warning} Add another word or two; uncommon words are better."
    )
