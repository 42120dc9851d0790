"""Errors the repositories raise where returning None would hide a bug or a race."""

from __future__ import annotations


class VersionConflict(Exception):
    """Someone else changed the row since it was read; re-read it and decide again."""


class NotFound(LookupError):
    """A referenced row does not exist for this user (or belongs to someone else)."""


class AlreadyExists(Exception):
    """A unique value (an email address) is taken."""
