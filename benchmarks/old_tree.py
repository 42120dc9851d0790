"""`--compare REV`: REV's code in a temporary `git worktree`, with this tree's harness.

The old side should differ from the new one only in the platform, so the worktree's
benchmarks/ is replaced by this tree's (the platform process, its statistics), and the
load generator and the fake model always run from this tree. A revision whose platform
cannot be driven by this harness (older than something platform_side uses) is refused
before anything is measured, with the import error that says what is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.children import ROOT


class CompareError(RuntimeError):
    """REV cannot be compared against (unknown, or its platform lacks what we drive)."""


@dataclass(frozen=True)
class OldTree:
    rev: str
    commit: str
    subject: str
    root: Path

    def remove(self) -> None:
        """The worktree and its registration in the repository are both gone afterwards."""
        _git("worktree", "remove", "--force", str(self.root), check=False)
        shutil.rmtree(self.root, ignore_errors=True)
        _git("worktree", "prune", check=False)


def checkout(rev: str) -> OldTree:
    """REV checked out under /tmp with this tree's benchmarks/, checked to import."""
    commit = _git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if not commit:
        raise CompareError(f"--compare {rev}: no such revision in {ROOT}")
    subject = _git("log", "-1", "--format=%s", commit)
    root = Path(tempfile.mkdtemp(prefix="opendeep-compare-", dir="/tmp"))
    tree = OldTree(rev, commit, _short(subject), root)
    try:
        _git("worktree", "add", "--detach", "--quiet", str(root), commit)
        shutil.rmtree(root / "benchmarks", ignore_errors=True)
        shutil.copytree(
            ROOT / "benchmarks",
            root / "benchmarks",
            ignore=shutil.ignore_patterns("results", "__pycache__"),
        )
        _probe(tree)
    except BaseException:
        tree.remove()
        raise
    return tree


def _short(subject: str, width: int = 72) -> str:
    """A commit subject fit for one table caption."""
    return subject if len(subject) <= width else subject[: width - 1].rstrip() + "…"


# Imports the platform process, then names any of the project's modules that came from
# elsewhere: the venv's editable install would quietly fill a module the old tree lacks.
_PROBE = """
import sys
from pathlib import Path
import benchmarks.platform_side
root = Path.cwd().resolve()
ours = {p.name for p in root.iterdir() if (p / "__init__.py").exists()}
for name, module in sorted(sys.modules.items()):
    path = getattr(module, "__file__", None)
    if name.split(".")[0] in ours and path and root not in Path(path).resolve().parents:
        sys.exit(f"ModuleNotFoundError: no {name} at this revision (it came from {path})")
"""


def _probe(tree: OldTree) -> None:
    """Import the platform process against the old code only: fails fast and says why."""
    env = {**os.environ, "PYTHONPATH": str(tree.root)}
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=tree.root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        lines = probe.stderr.strip().splitlines()
        reason = lines[-1] if lines else f"exit code {probe.returncode}"
        raise CompareError(
            f"--compare {tree.rev} ({tree.commit[:10]}): this tree's benchmarks/platform_side.py "
            f"cannot drive that revision's platform ({reason}); compare against a newer one"
        )


def _git(*args: str, check: bool = True) -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
    )
    if check and done.returncode != 0 and args[0] != "rev-parse":
        raise CompareError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()
