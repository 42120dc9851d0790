"""The one-shot commands: `migrate`, `create-user`, `token create` and the operator's
`dnd` list."""

from __future__ import annotations

import getpass
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from common.phone_numbers import to_e164
from config import Settings
from database.engine import create_engine_for, session_factory
from database.migrate import upgrade
from database.models import TokenScope
from database.repositories import dnd, users
from web_interface import accounts
from web_interface.password_policy import password_problem
from web_interface.passwords import hash_password
from web_interface.schemas import MAX_TOKEN_DAYS


@asynccontextmanager
async def _transaction(settings: Settings) -> AsyncIterator[AsyncSession]:
    """One transaction on the migrated database, for a one-shot command."""
    await upgrade(settings.database.url, settings.app.data_dir)
    engine = create_engine_for(settings.database.url, settings.app.data_dir)
    try:
        async with session_factory(engine)() as session, session.begin():
            yield session
    finally:
        await engine.dispose()


async def create_user(settings: Settings, email: str, name: str, password: str | None) -> int:
    secret = password or getpass.getpass("Password: ")
    if (problem := password_problem(secret, email, name)) is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    async with _transaction(settings) as session:
        if await users.get_by_email(session, email) is not None:
            print(f"error: an account for {email} exists already", file=sys.stderr)
            return 1
        user = await users.create(
            session, email=email, password_hash=hash_password(secret), display_name=name
        )
    print(f"created user {user.id} <{email}>")
    return 0


async def create_token(settings: Settings, email: str, name: str, scopes: str, days: int) -> int:
    """An API token for a script, made by whoever runs this host's commands: no browser,
    no CSRF token to scrape. The token alone goes to stdout (`TOKEN=$(python main.py
    token create ...)`); it is shown once, and only its hash is stored."""
    try:
        wanted = [TokenScope(s.strip()) for s in scopes.split(",") if s.strip()]
    except ValueError:
        print("error: --scopes is a comma list of read, calls, account", file=sys.stderr)
        return 2
    if not wanted or not 1 <= days <= MAX_TOKEN_DAYS:
        print(f"error: give at least one scope and 1-{MAX_TOKEN_DAYS} days", file=sys.stderr)
        return 2
    async with _transaction(settings) as session:
        user = await users.get_by_email(session, email)
        if user is None:
            print(f"error: no account for {email} (create-user makes one)", file=sys.stderr)
            return 1
        made = await accounts.create_api_token(
            session, user_id=user.id, name=name, scopes=wanted, lifetime=timedelta(days=days)
        )
    print(made.secret)
    print(f"token {name!r} for {email}, expires in {days} days", file=sys.stderr)
    return 0


async def migrate(settings: Settings) -> int:
    await upgrade(settings.database.url, settings.app.data_dir)
    print("database is at the latest schema")
    return 0


async def operator_dnd(settings: Settings, action: str, number: str | None, reason: str) -> int:
    """The operator's list (user_id None): callee opt-outs land here; no user can remove
    an entry, only this command."""
    if action != "list":
        if not number:
            print(f"error: dnd {action} needs a phone number", file=sys.stderr)
            return 2
        try:
            number = to_e164(number, settings.calling.default_region)
        except ValueError as exc:
            print(f"error: {number!r} {exc}", file=sys.stderr)
            return 2
    async with _transaction(settings) as session:
        if action == "list":
            for entry in await dnd.list_for_user(session, user_id=None):
                print(f"{entry.phone_number}  {entry.created_at:%Y-%m-%d}  {entry.reason}")
            return 0
        assert number is not None
        if action == "add":
            await dnd.add(session, user_id=None, phone_number=number, reason=reason)
            print(f"{number} is on the operator's do-not-call list")
            return 0
        removed = await dnd.remove(session, user_id=None, phone_number=number)
    print(f"{number} removed" if removed else f"{number} was not on the list")
    return 0 if removed else 1
