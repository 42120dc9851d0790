"""Request dependencies: one database session per request, who is asking, CSRF checks.

Two ways to be someone: the signed session cookie (browsers) or `Authorization: Bearer`
with an API token (scripts). Cookie requests that change something must also carry the
session's CSRF token (form field or X-CSRF-Token header); bearer requests need not, since
a browser never attaches a bearer token on its own.

What a caller may do: a session everything; an API token what its scopes allow
(`ReadUser`, `CallsUser`, `AccountUser`); making or revoking tokens needs a session
(`SessionUser`), so a leaked token cannot make itself more tokens.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.requests import HTTPConnection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.command_bus import CommandBus
from common.health import HealthRegistry
from common.metrics import PlatformMetrics
from database.models import TokenKind, TokenScope, User
from web_interface import accounts
from web_interface.assistant import ChatAssistant
from web_interface.body_limit import DEFAULT_LIMIT
from web_interface.live_sockets import SocketLimit
from web_interface.login_required import LoginRequired
from web_interface.login_throttle import LoginThrottle
from web_interface.private_calls import PrivateCalls
from web_interface.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    csrf_ok,
    unsign_session,
)
from web_interface.task_outlook import TaskOutlook
from web_interface.work_control import WorkControl

# Told of each new account inside the sign-up's transaction (the demo writes sample history).
SignupHook = Callable[[AsyncSession, User], Awaitable[object]]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ALL_SCOPES = frozenset(TokenScope)


@dataclass(slots=True)
class WebDeps:
    """What the web app needs from the rest of the process.

    Without `sessions` and `bus` only the operational routes exist (health checks).
    `secret_key` signs cookies and CSRF tokens; main.py passes
    `load_or_create_secret_key(settings.web.secret_key, settings.app.data_dir)`.
    Without `assistant` the chat page says so and test calls and phone codes are refused
    (503); without `control` so are pausing, resuming and cancelling campaigns and settling
    tasks.
    """

    health: HealthRegistry
    metrics: PlatformMetrics
    sessions: async_sessionmaker[AsyncSession] | None = None
    bus: CommandBus | None = None
    secret_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    default_region: str = "US"  # for numbers typed without +country code
    session_lifetime: timedelta = timedelta(days=14)
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)
    assistant: ChatAssistant | None = None
    control: WorkControl | None = None
    outlook: TaskOutlook | None = None  # calls off, and why tasks wait (task_outlook.py)
    max_sockets_per_user: int = 5  # live pages per person (live_sockets.py)
    max_body_bytes: int = DEFAULT_LIMIT  # larger request bodies get 413 (body_limit.py)
    ops_token: str | None = None  # /metrics and /readyz details off loopback (ops_access.py)
    recordings_dir: Path | None = None  # DATA_DIR/recordings (call_processor/recordings.py)
    webhook_allow_private: bool = False  # WEBHOOK_ALLOW_PRIVATE_TARGETS (webhook_targets.py)
    demo: bool = False  # every page carries a "Demo" badge (set by `main.py demo` only)
    demo_line: str = ""  # the demo's telephone line, named in the badge's tooltip
    on_signup: SignupHook | None = None
    sockets: SocketLimit = field(init=False)
    private_calls: PrivateCalls | None = field(init=False)  # shared by every live page

    def __post_init__(self) -> None:
        self.sockets = SocketLimit(per_user=self.max_sockets_per_user)
        self.private_calls = None if self.sessions is None else PrivateCalls(self.sessions)


def web_deps(conn: HTTPConnection) -> WebDeps:
    deps: WebDeps = conn.app.state.deps
    return deps


Deps = Annotated[WebDeps, Depends(web_deps)]


async def db_session(deps: Deps) -> AsyncIterator[AsyncSession]:
    """Commits when the route returns normally, before the response is sent."""
    assert deps.sessions is not None
    async with deps.sessions() as s:
        try:
            yield s
        except BaseException:
            await s.rollback()
            raise
        await s.commit()


DbSession = Annotated[AsyncSession, Depends(db_session, scope="function")]


def bus(deps: Deps) -> CommandBus:
    assert deps.bus is not None
    return deps.bus


Bus = Annotated[CommandBus, Depends(bus)]


def session_secret(conn: HTTPConnection, deps: WebDeps) -> str | None:
    return unsign_session(deps.secret_key, conn.cookies.get(SESSION_COOKIE))


def bearer_token(conn: HTTPConnection) -> str | None:
    scheme, _, token = conn.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


async def optional_user(request: Request, s: DbSession, deps: Deps) -> User | None:
    """The person behind this request, or None. Records how they authenticated."""
    token = bearer_token(request)
    request.state.scopes = frozenset()
    if token is not None:
        request.state.auth = "token"
        found = await accounts.token_user(s, secret=token)
        if found is None:
            return None
        user, request.state.scopes = found
        return user
    secret = session_secret(request, deps)
    request.state.auth = "session"
    request.state.scopes = ALL_SCOPES
    request.state.session_secret = secret
    if secret is None:
        return None
    return await accounts.user_for(s, secret=secret, kind=TokenKind.SESSION)


OptionalUser = Annotated[User | None, Depends(optional_user)]


def csrf_seed(request: Request, deps: WebDeps) -> str | None:
    """Logged in: the session secret (the token is bound to the session). Before login:
    the random pre-login cookie (signed double submit)."""
    return session_secret(request, deps) or request.cookies.get(CSRF_COOKIE)


async def api_user(request: Request, user: OptionalUser, deps: Deps) -> User:
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "log in or send Authorization: Bearer <API token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if request.state.auth == "session" and request.method not in SAFE_METHODS:
        presented = request.headers.get(CSRF_HEADER)
        if not csrf_ok(deps.secret_key, csrf_seed(request, deps), presented):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token")
    return user


def _scoped(scope: TokenScope) -> Callable[..., Awaitable[User]]:
    async def check(request: Request, user: User = Depends(api_user)) -> User:
        if scope not in request.state.scopes:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"this API token lacks the {scope} scope"
            )
        return user

    return check


async def session_user(request: Request, user: User = Depends(api_user)) -> User:
    if request.state.auth != "session":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "API tokens cannot do this; log in")
    return user


ReadUser = Annotated[User, Depends(_scoped(TokenScope.READ))]
CallsUser = Annotated[User, Depends(_scoped(TokenScope.CALLS))]
AccountUser = Annotated[User, Depends(_scoped(TokenScope.ACCOUNT))]
SessionUser = Annotated[User, Depends(session_user)]


async def page_user(request: Request, user: OptionalUser) -> User:
    """Pages are for browsers: no API tokens, and no session means the login form."""
    if user is None or request.state.auth != "session":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return user


PageUser = Annotated[User, Depends(page_user)]


async def check_form_csrf(request: Request, deps: Deps) -> None:
    """Every form post carries the CSRF token in a hidden field."""
    form = await request.form()
    presented = form.get(CSRF_FIELD)
    if not isinstance(presented, str) or not csrf_ok(
        deps.secret_key, csrf_seed(request, deps), presented
    ):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token")


FormCsrf = Depends(check_form_csrf)
