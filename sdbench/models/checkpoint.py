"""Training checkpoints: safetensors only, written atomically, resumed exactly.

Layout of a run folder:

    RUN/checkpoints/step-000040/       one complete checkpoint
        model.safetensors, config.json, tokenizer + processor files   (save_pretrained, safetensors)
        optimizer.safetensors          every optimizer state tensor, keyed "state.<param index>.<name>"
        trainer_state.json             step, optimizer param groups, scheduler state, Python RNG state,
                                       the full run config, sdbench version, git sha
        rng.safetensors                torch's CPU RNG state (and CUDA's where present)
    RUN/checkpoints/latest             the name of the newest complete checkpoint

A checkpoint is written into a hidden temporary folder and renamed into place, then `latest` is replaced
(also by rename): a process killed mid-save leaves the previous checkpoint and `latest` intact. Nothing here
reads pickles: tensors come from safetensors, everything else from JSON.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdbench.core.errors import SdbenchError
from sdbench.core.provenance import provenance

LATEST = "latest"


@dataclass
class TrainerState:
    """What a resumed run needs besides the weights."""

    step: int
    config: dict[str, Any]
    extra: dict[str, Any]


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"step-{step:06d}"


def save_checkpoint(run_dir: Path, step: int, model, processor, optimizer, scheduler, config: dict[str, Any],
                    extra: dict[str, Any] | None = None, keep_last: int = 2) -> Path:
    """Write step `step` atomically and point `latest` at it; keep the `keep_last` newest checkpoints."""
    import torch
    from safetensors.torch import save_file

    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = checkpoint_dir(run_dir, step)
    tmp = root / f".tmp-{final.name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    model.save_pretrained(tmp, safe_serialization=True)
    if processor is not None:
        processor.save_pretrained(tmp)
    opt_state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for idx, state in opt_state["state"].items():
        for name, value in state.items():
            if torch.is_tensor(value):
                tensors[f"state.{idx}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"state.{idx}.{name}"] = value
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    rng = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            rng[f"torch_cuda_{i}"] = state
    save_file(rng, str(tmp / "rng.safetensors"))
    state = {"step": step, "param_groups": opt_state["param_groups"], "optimizer_scalars": scalars,
             "scheduler": scheduler.state_dict() if scheduler is not None else None,
             "python_random": _encode_py_rng(random.getstate()), "config": config, "extra": extra or {},
             **provenance("torch", "transformers")}
    (tmp / "trainer_state.json").write_text(json.dumps(state, indent=2, default=str) + "\n", encoding="utf-8")
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _write_pointer(root, final.name)
    for old in sorted(p for p in root.glob("step-*") if p.is_dir())[:-keep_last] if keep_last > 0 else []:
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint `latest` names, or the newest intact one when it names none that is intact (said on
    stderr); None when the run has no checkpoint."""
    path, note = newest_intact(run_dir)
    if note:
        print(f"note: {note}", file=sys.stderr)
    return path


def is_intact(path: Path) -> bool:
    """Every file of a complete checkpoint is there and its trainer_state.json reads."""
    path = Path(path)
    weights = (path / "model.safetensors").is_file() or (path / "model.safetensors.index.json").is_file()
    if not (weights and all((path / f).is_file() for f in ("optimizer.safetensors", "rng.safetensors"))):
        return False
    try:
        return isinstance(json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))["step"], int)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def newest_intact(run_dir: Path) -> tuple[Path | None, str | None]:
    """(checkpoint to use, note): the one `latest` names when intact, else the newest intact `step-*` with a
    note saying why. (None, None) for a run without checkpoints; an SdbenchError when none is intact."""
    root = Path(run_dir) / "checkpoints"
    pointer = root / LATEST
    named = pointer.read_text(encoding="utf-8").strip() if pointer.is_file() else None
    if named and is_intact(root / named):
        return root / named, None
    candidates = sorted((p for p in root.glob("step-*") if p.is_dir()), reverse=True) if root.is_dir() else []
    if named is None and not candidates:
        return None, None
    intact = next((p for p in candidates if is_intact(p)), None)
    if intact is None:
        raise SdbenchError(f"{root}: no intact checkpoint ({', '.join(p.name for p in candidates) or 'none'} "
                           f"incomplete{'; latest names ' + repr(named) if named else ''}); delete {run_dir} to "
                           "start the run over")
    why = f"{pointer} names {named!r}, which is missing or incomplete" if named else f"{pointer} is missing"
    return intact, f"{why}: using {intact.name}, the newest intact checkpoint"


def load_trainer_state(path: Path, optimizer, scheduler) -> TrainerState:
    """Restore optimizer, scheduler and RNG states from a checkpoint folder (weights are loaded separately,
    with `from_pretrained(path, use_safetensors=True)`)."""
    import torch
    from safetensors.torch import load_file

    state = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
    tensors = load_file(str(path / "optimizer.safetensors"))
    per_param: dict[int, dict[str, Any]] = {}
    for key, value in list(tensors.items()) + list(state["optimizer_scalars"].items()):
        _, idx, name = key.split(".", 2)
        per_param.setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict({"state": per_param, "param_groups": state["param_groups"]})
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    rng = load_file(str(path / "rng.safetensors"))
    torch.set_rng_state(rng["torch_cpu"])
    if torch.cuda.is_available():
        cuda = [rng[k] for k in sorted(k for k in rng if k.startswith("torch_cuda_"))]
        if cuda:
            torch.cuda.set_rng_state_all(cuda)
    random.setstate(_decode_py_rng(state["python_random"]))
    return TrainerState(step=state["step"], config=state["config"], extra=state["extra"])


def _write_pointer(root: Path, name: str) -> None:
    tmp = root / f".{LATEST}.{os.getpid()}"
    tmp.write_text(name + "\n", encoding="utf-8")
    os.replace(tmp, root / LATEST)


def _encode_py_rng(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _decode_py_rng(raw: list) -> tuple:
    version, internal, gauss = raw
    return (version, tuple(internal), gauss)
