"""Where a result came from: sdbench version, git sha of the checkout, library versions."""

from __future__ import annotations

import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path

import sdbench

REPO_ROOT = Path(__file__).resolve().parents[2]


@cache
def git_sha() -> str:
    """The checkout's commit ('+dirty' when tracked files changed), or 'unknown' outside a git checkout."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


def library_versions(*names: str) -> dict[str, str]:
    """{package: version} for installed packages (missing ones are 'absent')."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def provenance(*libraries: str) -> dict[str, object]:
    return {"sdbench_version": sdbench.__version__, "git_sha": git_sha(),
            "libraries": library_versions(*libraries)}
