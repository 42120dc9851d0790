"""The import layers, checked on the source: imports point down only.

main.py → launcher (the composition root and CLI) → task_manager | web_interface →
call_processor → audio_processing | database → config → common. Pure protocol modules
import no network, database or asyncio library.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "common",
    "config",
    "database",
    "audio_processing",
    "call_processor",
    "task_manager",
    "web_interface",
    "launcher",
)
ALLOWED: dict[str, set[str]] = {
    "common": {"common"},
    "config": {"config", "common"},
    "database": {"database", "config", "common"},
    "audio_processing": {"audio_processing", "config", "common"},
    "call_processor": {"call_processor", "audio_processing", "database", "config", "common"},
    "task_manager": {
        "task_manager",
        "call_processor",
        "audio_processing",
        "database",
        "config",
        "common",
    },
    "web_interface": {
        "web_interface",
        "call_processor",
        "audio_processing",
        "database",
        "config",
        "common",
    },
    "launcher": {
        "launcher",
        "task_manager",
        "web_interface",
        "call_processor",
        "audio_processing",
        "database",
        "config",
        "common",
    },
}
PURE_MODULES = (
    "audio_processing/audio_socket_protocol.py",
    "audio_processing/g711.py",
    "audio_processing/audio_framer.py",
    "call_processor/ami/wire.py",
    "call_processor/ami/actions.py",
    "call_processor/ami/events.py",
    "call_processor/ami/outcomes.py",
    "call_processor/ami/errors.py",
    "audio_processing/realtime/events.py",
    "audio_processing/realtime/tools.py",
    "audio_processing/realtime/session_config.py",
    "audio_processing/call_brief.py",
    "audio_processing/call_turns.py",
    "common/commands.py",
    "common/call_outcomes.py",
    "audio_processing/talker_result.py",
)
IMPURE = {
    "asyncio",
    "socket",
    "redis",
    "sqlalchemy",
    "panoramisk",
    "websockets",
    "openai",
    "httpx",
    "asyncpg",
    "aiosqlite",
    "fastapi",
    "uvicorn",
}


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def package_files() -> list[tuple[str, Path]]:
    return [(pkg, f) for pkg in PACKAGES for f in sorted((ROOT / pkg).rglob("*.py"))]


@pytest.mark.parametrize(("package", "path"), package_files(), ids=lambda v: str(v))
def test_imports_point_down(package: str, path: Path) -> None:
    ours = imported_roots(path) & (set(PACKAGES) | {"main", "tests"})
    forbidden = ours - ALLOWED[package]
    assert not forbidden, f"{path.relative_to(ROOT)} imports {sorted(forbidden)} (layer violation)"


@pytest.mark.parametrize("relative", PURE_MODULES)
def test_pure_modules_do_no_io(relative: str) -> None:
    path = ROOT / relative
    if not path.exists():
        pytest.fail(f"{relative} is missing")
    assert not imported_roots(path) & IMPURE, f"{relative} imports an I/O library"
