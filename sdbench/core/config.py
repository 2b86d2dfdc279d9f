"""How a command's config is read: the strict YAML loader and the checks every config dataclass shares.

Each command's config is a frozen dataclass beside its command (data/build_task.py's BuildTaskConfig,
rl/train_config.py's TrainConfig, ...). Settings apply in this order: `--config FILE.yaml` (keys == dataclass
fields; unknown keys are errors), then command-line flags, then the dataclass defaults. `__post_init__` only validates (it never rewrites);
derived values are properties. Each field's docstring is its `--help` text.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any, Literal

from sdbench.core.errors import SdbenchError, did_you_mean


def check_finite(cfg: Any) -> None:
    """Every float setting is a finite number ('--learning-rate nan' is refused here, not deep in torch)."""
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise SdbenchError(f"--{f.name.replace('_', '-')}: need a finite number, got {value}")


PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def load_config(cls: type, path: str | Path) -> Any:
    """Read a YAML file whose keys are `cls` fields (nested dataclasses as nested mappings).

    Unknown keys are errors naming the file and the key."""
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SdbenchError(f"--config {path}: file not found") from None
    except yaml.YAMLError as exc:
        raise SdbenchError(f"--config {path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    return from_dict(cls, raw or {}, where=str(path))


def from_dict(cls: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise SdbenchError(f"{where}: expected a mapping of {cls.__name__} fields, got {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in raw.items():
        if key not in fields:
            raise SdbenchError(f"{where}: unknown key {key!r}{did_you_mean(str(key), fields)}; "
                               f"valid keys: {', '.join(fields)}")
        kwargs[key] = _coerce(hints[key], value, f"{where}: {key}")
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        return _coerce(non_none[0], value, where) if len(non_none) == 1 else value
    if origin is tuple:
        items = value if isinstance(value, list | tuple) else [value]
        return tuple(_coerce(args[0], v, where) for v in items)
    if origin is dict:
        if not isinstance(value, dict):
            raise SdbenchError(f"{where}: expected a mapping, got {value!r}")
        return {str(k): str(v) for k, v in value.items()} if args and args[1] is str else dict(value)
    if origin is Literal:
        if value not in args:
            raise SdbenchError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if hint is Path:
        return Path(value)
    if hint in (int, float, str, bool):
        if hint is bool and not isinstance(value, bool):
            raise SdbenchError(f"{where}: expected true/false, got {value!r}")
        if hint is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise SdbenchError(f"{where}: expected an integer, got {value!r}")
        if hint is float and not isinstance(value, int | float):
            raise SdbenchError(f"{where}: expected a number, got {value!r}")
        return hint(value)
    return value
