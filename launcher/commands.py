"""The one-shot commands: `migrate` and `create-user`."""

from __future__ import annotations

import getpass
import sys

from config import Settings
from database.engine import create_engine_for, session_factory
from database.migrate import upgrade
from database.repositories import users
from web_interface.passwords import hash_password


async def create_user(settings: Settings, email: str, name: str, password: str | None) -> int:
    secret = password or getpass.getpass("Password: ")
    if len(secret) < 8:
        print("error: the password must have at least 8 characters", file=sys.stderr)
        return 2
    await upgrade(settings.database.url, settings.app.data_dir)
    engine = create_engine_for(settings.database.url, settings.app.data_dir)
    try:
        async with session_factory(engine)() as session, session.begin():
            if await users.get_by_email(session, email) is not None:
                print(f"error: an account for {email} exists already", file=sys.stderr)
                return 1
            user = await users.create(
                session, email=email, password_hash=hash_password(secret), display_name=name
            )
        print(f"created user {user.id} <{email}>")
        return 0
    finally:
        await engine.dispose()


async def migrate(settings: Settings) -> int:
    await upgrade(settings.database.url, settings.app.data_dir)
    print("database is at the latest schema")
    return 0
