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
    "call_processor/ami/inbound_announcement.py",
    "audio_processing/realtime/events.py",
    "audio_processing/realtime/tools.py",
    "audio_processing/realtime/session_config.py",
    "audio_processing/call_brief.py",
    "audio_processing/call_turns.py",
    "common/commands.py",
    "common/call_outcomes.py",
    "audio_processing/talker_result.py",
    "audio_processing/frame_features.py",
    "audio_processing/beep_detector.py",
    "audio_processing/greeting.py",
    "audio_processing/hold_detector.py",
    "audio_processing/callee_watch.py",
    "audio_processing/voicemail_message.py",
    "audio_processing/realtime/stall.py",
    "common/call_policy.py",
    "common/webhook_events.py",
    "common/webhook_signature.py",
    "common/webhook_targets.py",
    "launcher/demo/voice.py",
    "launcher/demo/callees.py",
    "launcher/demo/agent.py",
    "launcher/demo/planner.py",
    "launcher/demo/ami_line.py",
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


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, known: set[str]) -> set[str]:
    """Our modules this file imports, at any depth (an import inside a function counts)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in known else node.module)
    return found & known


def import_graph(files: list[Path]) -> dict[str, set[str]]:
    names = {module_name(f): f for f in files}
    return {name: imports_of(path, set(names)) - {name} for name, path in names.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as a path that returns to its start), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_no_import_cycles() -> None:
    """Cycles hide behind imports inside functions; the layers alone do not catch them."""
    cycle = find_cycle(import_graph([f for _, f in package_files()]))
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_the_cycle_check_finds_a_planted_cycle(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import x\n")
    (package / "b.py").write_text("def f():\n    from pkg import c\n")
    (package / "c.py").write_text("import pkg.a\n")
    files = sorted(package.rglob("*.py"))
    graph = {
        ".".join(f.relative_to(tmp_path).with_suffix("").parts).removesuffix(".__init__"): f
        for f in files
    }
    edges = {name: imports_of(path, set(graph)) - {name} for name, path in graph.items()}
    assert find_cycle(edges) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]
