"""Sign up, log in and log out: HTML forms, CSRF-checked, rate-limited, session cookies."""

from __future__ import annotations

import logging
import math
import re
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response, status
from fastapi.responses import RedirectResponse

from database.errors import AlreadyExists
from database.models import User
from database.repositories.users import normalise_email
from web_interface import accounts
from web_interface.deps import DbSession, Deps, FormCsrf, OptionalUser, session_secret
from web_interface.password_policy import MIN_LENGTH, password_problem
from web_interface.schemas import Clean, NextPath
from web_interface.security import SESSION_COOKIE, sign_session
from web_interface.templating import render, set_cookie

router = APIRouter(tags=["auth"])
log = logging.getLogger(__name__)

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
EmailField = Annotated[Clean, Form(max_length=320)]
PasswordField = Annotated[Clean, Form(max_length=1024)]
NextField = Annotated[Clean, Form(max_length=500)]


def safe_next(target: str) -> str:
    """Only paths on this site: an open redirect after login would be a phishing aid."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


async def start_session(
    request: Request, deps: Deps, s: DbSession, user: User, to: str
) -> Response:
    made = await accounts.open_session(s, user_id=user.id, lifetime=deps.session_lifetime)
    response = RedirectResponse(safe_next(to), status_code=status.HTTP_303_SEE_OTHER)
    max_age = int(deps.session_lifetime.total_seconds())
    set_cookie(
        response, request, SESSION_COOKIE, sign_session(deps.secret_key, made.secret), max_age
    )
    return response


@router.get("/login")
async def login_form(request: Request, user: OptionalUser, next: NextPath = "/") -> Response:
    if user is not None and request.state.auth == "session":
        return RedirectResponse(safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
    return render(request, "login.html", {"next": safe_next(next)})


@router.post("/login", dependencies=[FormCsrf])
async def login(
    request: Request,
    s: DbSession,
    deps: Deps,
    email: EmailField,
    password: PasswordField,
    next: NextField = "/",
) -> Response:
    account = normalise_email(email)
    address = request.client.host if request.client else "?"
    page = {"next": safe_next(next), "email": email}
    wait = deps.login_throttle.retry_after(account, address)
    if wait > 0:
        page["error"] = f"Too many failed attempts from here. Try again in {_later(wait)}."
        response = render(request, "login.html", page, status_code=429)
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    user = await accounts.check_password(s, email=account, password=password)
    if user is None:
        deps.login_throttle.failed(account, address)
        log.info("login refused", extra={"address": address})
        page["error"] = "Wrong email or password."
        return render(request, "login.html", page, status_code=status.HTTP_401_UNAUTHORIZED)
    deps.login_throttle.succeeded(account, address)
    return await start_session(request, deps, s, user, next)


def _later(seconds: float) -> str:
    return f"{math.ceil(seconds)} seconds" if seconds < 90 else f"{math.ceil(seconds / 60)} minutes"


@router.get("/signup")
async def signup_form(request: Request) -> Response:
    return render(request, "signup.html", {"min_length": MIN_LENGTH})


@router.post("/signup", dependencies=[FormCsrf])
async def signup(
    request: Request,
    s: DbSession,
    deps: Deps,
    email: EmailField,
    password: PasswordField,
    display_name: Annotated[Clean, Form(max_length=200)] = "",
) -> Response:
    page: dict[str, object] = {
        "email": email,
        "display_name": display_name,
        "min_length": MIN_LENGTH,
    }
    errors = {}
    if not EMAIL.fullmatch(email.strip()):
        errors["email"] = "Enter an email address like name@example.com."
    if (weak := password_problem(password, email, display_name)) is not None:
        errors["password"] = weak
    if errors:
        page |= {"errors": errors, "error": " ".join(errors.values())}
        return render(request, "signup.html", page, status_code=422)
    address = request.client.host if request.client else "?"
    wait = deps.login_throttle.signup_retry_after(address)
    if wait > 0:
        page["error"] = f"Too many sign-ups. Try again in {int(wait // 60) + 1} minutes."
        return render(request, "signup.html", page, status_code=status.HTTP_429_TOO_MANY_REQUESTS)
    deps.login_throttle.signed_up(address)
    try:
        user = await accounts.sign_up(
            s, email=email, password=password, display_name=display_name.strip()
        )
    except AlreadyExists:
        page["error"] = "An account with this email exists already."
        page["exists"] = True
        return render(request, "signup.html", page, status_code=status.HTTP_409_CONFLICT)
    if deps.on_signup is not None:
        await deps.on_signup(s, user)
    return await start_session(request, deps, s, user, "/")


@router.post("/logout", dependencies=[FormCsrf])
async def logout(request: Request, s: DbSession, deps: Deps) -> Response:
    secret = session_secret(request, deps)
    if secret is not None:
        await accounts.close_session(s, secret=secret)
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
