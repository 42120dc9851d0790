"""`make deps-check`: would the newest versions our constraints allow still work?

Why: uv.lock keeps installs repeatable, but it also hides what the next `make lock` will
bring. This resolves the newest versions pyproject.toml allows (transitive ones included)
in a scratch copy of the project, prints every version that moved, installs that set into a
scratch environment and runs the fast suite (`-m "not sandbox"`) there. The project's own
uv.lock and .venv are not touched. Exit status: the suite's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def locked_versions(lock: Path) -> dict[str, str]:
    data = tomllib.loads(lock.read_text(encoding="utf-8"))
    return {p["name"]: str(p.get("version", "")) for p in data.get("package", [])}


def moved(old: dict[str, str], new: dict[str, str]) -> list[str]:
    lines = []
    for name in sorted(old.keys() | new.keys()):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        if before is None:
            lines.append(f"  + {name} {after} (new)")
        elif after is None:
            lines.append(f"  - {name} {before} (gone)")
        else:
            lines.append(f"  ~ {name} {before} -> {after}")
    return lines


def copy_project(into: Path) -> None:
    """A clone of the repository (its history too: the benchmark's --compare tests check out
    older commits), with the working tree's tracked and new (not ignored) files over it, as
    `git status` sees them; no .venv, no data."""
    subprocess.run(["git", "clone", "--quiet", "--shared", str(ROOT), str(into)], check=True)
    for relative in _git_files("--cached", "--others", "--exclude-standard"):
        source = ROOT / relative
        if source.is_file():
            target = into / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    for relative in _git_files("--deleted"):
        (into / relative).unlink(missing_ok=True)


def _git_files(*which: str) -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", *which], cwd=ROOT, check=True, capture_output=True, text=True
    )
    return listed.stdout.splitlines()


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> int:
    print("$ " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=cwd, env=env, check=False).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uv", default=str(ROOT / ".tools" / "bin" / "uv"))
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()
    uv = str(Path(args.uv).resolve())
    scratch = Path(tempfile.mkdtemp(prefix="opendeep-deps-check-"))
    project = scratch / "project"
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    env["UV_PROJECT_ENVIRONMENT"] = str(scratch / "venv")
    try:
        copy_project(project)
        if run([uv, "lock", "--upgrade", "--python", args.python], project, env) != 0:
            print("deps-check: the newest versions do not resolve together")
            return 1
        changes = moved(locked_versions(ROOT / "uv.lock"), locked_versions(project / "uv.lock"))
        print("deps-check: what the newest allowed versions change against uv.lock:")
        print("\n".join(changes) if changes else "  nothing moved")
        if run([uv, "sync", "--frozen", "--python", args.python], project, env) != 0:
            print("deps-check: the newest versions do not install")
            return 1
        python = str(scratch / "venv" / "bin" / "python")
        status = run(
            [python, "-m", "pytest", "-m", "not sandbox", "-q", "-p", "no:cacheprovider"],
            project,
            env,
        )
        verdict = "passes" if status == 0 else "FAILS"
        print(f"deps-check: the fast suite {verdict} on the newest versions ({len(changes)} moved)")
        return status
    finally:
        if args.keep:
            print(f"deps-check: scratch kept at {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
