"""The command line: `python main.py [run|doctor|migrate|create-user|token|dnd|demo]`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from common.log_context import configure_logging
from config import ConfigError, Settings, load_settings
from launcher import commands
from launcher.doctor import run_doctor
from launcher.run import run
from launcher.supervisor import WorkerCountError, supervise, worker_count


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="main.py", description="OpenDeep: AI phone calls.")
    top.add_argument("--env-file", default=".env", help="dotenv file to read (default .env)")
    sub = top.add_subparsers(dest="command")
    run_parser = sub.add_parser("run", help="run the platform (default)")
    run_parser.add_argument(
        "--workers",
        default="auto",
        help="call worker processes (default auto: one per core with REDIS_URL, else 1)",
    )
    run_parser.add_argument(
        "--no-web", action="store_true", help="calls only, no web app (the other workers)"
    )
    doctor = sub.add_parser("doctor", help="what is missing for calls, and what to do")
    doctor.add_argument("--verbose", action="store_true", help="list every setting")
    sub.add_parser("migrate", help="upgrade the database schema to the latest version")
    demo = sub.add_parser("demo", help="try OpenDeep: scripted agents, demo callees")
    demo.add_argument("--data-dir", default=".demo", help="the demo's own data (default .demo)")
    demo.add_argument(
        "--line",
        choices=["auto", "sandbox", "simulated"],
        default="auto",
        help="the telephone line: the Asterisk sandbox (needs root and debootstrap), a "
        "simulated one, or auto (default: the sandbox where it can run)",
    )
    create = sub.add_parser("create-user", help="create an account")
    create.add_argument("--email", required=True)
    create.add_argument("--name", default="")
    create.add_argument("--password", help="read from the terminal when omitted")
    token = sub.add_parser("token", help="make an API token for a script (README, The web API)")
    token.add_argument("action", choices=["create"])
    token.add_argument("--email", required=True, help="the account the token acts for")
    token.add_argument("--name", default="script", help="what the token is for")
    token.add_argument("--scopes", default="read", help="comma list of read, calls, account")
    token.add_argument("--days", type=int, default=30, help="lifetime, 1-365 days")
    dnd = sub.add_parser("dnd", help="the operator's do-not-call list (binds every user)")
    dnd.add_argument("action", choices=["list", "add", "remove"])
    dnd.add_argument("number", nargs="?", help="a phone number (add/remove)")
    dnd.add_argument("--reason", default="added by the operator")
    return top


def load(env_file: str) -> Settings:
    """Settings, or one `config error: NAME: reason` line per problem and exit status 2."""
    try:
        return load_settings(env_file=env_file)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"config error: {problem}", file=sys.stderr)
        raise SystemExit(2) from None


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    command = args.command or "run"
    if command == "doctor":
        logging.basicConfig(level=logging.CRITICAL)
        return asyncio.run(run_doctor(args.env_file, verbose=args.verbose))
    settings = load(args.env_file)
    configure_logging(settings.app.log_level, settings.app.log_format)
    if command == "migrate":
        return asyncio.run(commands.migrate(settings))
    if command == "create-user":
        return asyncio.run(commands.create_user(settings, args.email, args.name, args.password))
    if command == "token":
        made = commands.create_token(settings, args.email, args.name, args.scopes, args.days)
        return asyncio.run(made)
    if command == "demo":
        from launcher.demo import command as demo  # wired by this command only

        return demo.run(settings, Path(args.data_dir), args.line)
    if command == "dnd":
        return asyncio.run(commands.operator_dnd(settings, args.action, args.number, args.reason))
    return run_command(settings, args)


def run_command(settings: Settings, args: argparse.Namespace) -> int:
    workers, web = getattr(args, "workers", "auto"), not getattr(args, "no_web", False)
    try:
        count = worker_count(workers, settings, os.cpu_count())
    except WorkerCountError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    if count == 1:
        return run(settings, web=web)
    return asyncio.run(supervise(settings, args.env_file, count))
