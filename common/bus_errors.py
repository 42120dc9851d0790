"""The command bus's own errors, in a module of their own so both transports and the
shared subscriber (common/shared_subscriber.py) raise the same ones."""

from __future__ import annotations


class CommandBusError(RuntimeError):
    """Base of the command bus's own errors."""


class CommandBusClosed(CommandBusError):
    """The bus was closed (`aclose()`); nothing can be published or subscribed any more."""


class CommandBusUnavailable(CommandBusError):
    """Redis did not answer in time; the command was not sent / the subscription not made."""
