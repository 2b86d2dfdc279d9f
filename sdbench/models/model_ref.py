"""What `--model` names, resolved: 'default', a run folder, a checkpoint folder, a local HF folder or a hub id.

`resolve_model(ref)` returns the folder or id to load and, for sdbench checkpoints, their trainer state
(the run config: method, seed, task), which `sdbench eval` records as provenance.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdbench.core.errors import SdbenchError


@dataclass(frozen=True)
class ModelRef:
    load_from: str
    """What to pass to load_policy."""
    checkpoint: Path | None
    """The sdbench checkpoint folder, when it is one."""
    train_state: dict[str, Any] | None
    """Its trainer_state.json (run config, step, provenance), when it is one."""


def resolve_model(model: str) -> ModelRef:
    if model == "default":
        from sdbench.models.default_model import default_model

        return ModelRef(str(default_model()), None, None)
    path = Path(model).expanduser()
    if (path / "checkpoints").is_dir():  # a run folder: its newest checkpoint
        from sdbench.models.checkpoint import latest_checkpoint

        ckpt = latest_checkpoint(path)
        if ckpt is None:
            raise SdbenchError(f"--model {model}: this run folder has no complete checkpoint yet")
        path = ckpt
    if (path / "trainer_state.json").is_file():
        state = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
        return ModelRef(str(path), path, state)
    if model.startswith((".", "/", "~")) and not path.exists():
        raise SdbenchError(f"--model {model}: no such folder (a run folder, checkpoint, HF folder, hub id or "
                           "'default')")
    return ModelRef(model, None, None)


def display_name(model: str) -> str:
    """How results and leaderboards name a model: a hub id as it is, a local folder by its folder name (no machine
    paths in published results), 'default' by the embedded default's name (spec and code hash).

    >>> display_name("Qwen/Qwen2.5-VL-3B-Instruct"), display_name("/data/models/my-vlm/")
    ('Qwen/Qwen2.5-VL-3B-Instruct', 'my-vlm')
    """
    if model == "default":
        from sdbench.models.default_model import default_model_name

        return default_model_name()
    path = Path(model).expanduser()
    if model.startswith((".", "/", "~")) or path.exists():
        return path.resolve().name
    return model


def weights_hash(folder: Path) -> str | None:
    """SHA-256 over a local model folder's safetensors files (None for hub ids)."""
    files = sorted(Path(folder).glob("*.safetensors"))
    files = [f for f in files if f.name not in ("optimizer.safetensors", "rng.safetensors")]
    if not files:
        return None
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0")
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()
