"""What identifies a build: the hash of the code that makes its data, the source options it was asked for, and the
config record in its manifest. `sdbench build-task` reuses a folder only when all three match."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from sdbench.core.errors import SdbenchError, unknown_name_error
from sdbench.data.task import TaskSpec


def code_hash(spec: TaskSpec) -> str:
    """SHA-256 of the code and definitions that make the data: the task folder's task.yaml and hooks.py, the
    source modules, and the on-disk schema. A build folder is reused only when this and the config match,
    so editing a prompt or a generator never silently serves stale data."""
    package = Path(__file__).resolve().parent
    files = [spec.folder / "task.yaml", spec.folder / "hooks.py", package / "task_data.py", package / "source.py",
             *sorted((package / "sources").glob("*.py"))]
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def resolve_options(spec: TaskSpec, source: str, given: dict[str, str]) -> dict[str, Any]:
    """task.yaml option defaults overridden by --options, coerced to the default's type."""
    defaults = spec.sources[source].options
    options = dict(defaults)
    for key, raw in given.items():
        if key not in defaults:
            raise unknown_name_error("option", key, defaults, where=f" of {spec.name}/{source} (--options)")
        kind = type(defaults[key])
        try:
            options[key] = _parse_option(kind, raw)
        except ValueError:
            raise SdbenchError(f"--options {key}: expected {kind.__name__}, got {raw!r}") from None
    return options


def _parse_option(kind: type, raw: Any) -> Any:
    if not isinstance(raw, str):
        return kind(raw)
    if kind is bool:
        if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(raw)
        return raw.lower() in ("true", "1", "yes")
    return kind(raw)


