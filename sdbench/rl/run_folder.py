"""A training run folder belongs to one run: a lock while it trains, a resume that must match how it started, and
the leftovers of a killed run cleaned on the next start.

    with claim_run_folder(run_dir):                   # a second `sdbench train` into run_dir fails at once
        start_from = resume_point(run_dir, config, resume=cfg.resume)

The lock is an `flock` on RUN/.lock, which holds the holder's pid, host and start time for the error message;
the kernel drops it when the process ends, however it ends (kill -9 included), so a stale lock never blocks.

Resume rules (`resume_point`):
  * without --resume, a folder that already holds a run (a checkpoint, metrics.jsonl or run_info.json) is refused;
  * with --resume, the run's saved config (its newest checkpoint's, else run_info.json's) must equal this one in
    every setting that can change a result: only RESULT_NEUTRAL may differ (the error names each difference);
  * a run stopped before its first checkpoint starts again from step 0 (its metrics are dropped);
  * a `latest` pointer that names a missing or incomplete checkpoint falls back to the newest intact one
    (sdbench.models.checkpoint.newest_intact), with a line saying so;
  * temporary folders of checkpoints killed mid-save (checkpoints/.tmp-*) are removed first.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sdbench.core.errors import SdbenchError

LOCK = ".lock"
RESULT_NEUTRAL = frozenset({"threads", "tensorboard", "resume", "steps", "save_every", "out"})
"""TrainConfig fields a resumed run may change: how many steps in all, how often to save, threads, logging.
Step k computes the same whatever they are (the learning-rate schedule does not depend on the total)."""


@contextmanager
def claim_run_folder(run_dir: Path) -> Iterator[None]:
    """Hold RUN/.lock for the block; another process holding it is an SdbenchError naming its pid."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise SdbenchError(f"--out {run_dir}: is a file, not a folder; choose a folder for the run")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise SdbenchError(f"--out {run_dir}: cannot write there ({exc.strerror or exc.__class__.__name__}); "
                           "choose a folder you can write to") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SdbenchError(f"--out {run_dir}: in use by another training run ({_holder(fd)}); wait for it to "
                               "end, or choose another --out") from None
        holder = {"pid": os.getpid(), "host": socket.gethostname(),
                  "since": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        return f"pid {info['pid']} on {info['host']}, since {info['since']}"
    except (ValueError, KeyError, OSError):
        return "another process"


def config_differences(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """'name: saved -> now' for every setting that differs and can change a result.

    >>> config_differences({"method": "sd-grpo", "steps": 40, "seed": 0}, {"method": "grpo", "steps": 80, "seed": 0})
    ["method: 'sd-grpo' -> 'grpo'"]
    """
    names = sorted((set(saved) | set(now)) - RESULT_NEUTRAL)
    return [f"{name}: {saved.get(name)!r} -> {now.get(name)!r}" for name in names
            if not _same(saved.get(name), now.get(name))]


def _same(a: Any, b: Any) -> bool:
    """Equal values, or two spellings of one existing path ('runs/mp' and './runs/mp')."""
    if a == b:
        return True
    if isinstance(a, str) and isinstance(b, str) and a and b and Path(a).exists() and Path(b).exists():
        return Path(a).resolve() == Path(b).resolve()
    return False


def resume_point(run_dir: Path, config: dict[str, Any], resume: bool, content_hash: str | None = None) -> Path | None:
    """The checkpoint to continue from, or None to start at step 0 (rules: module docstring); `content_hash`, the
    task data's, must also be the one the run started on."""
    from sdbench.models.checkpoint import newest_intact

    run_dir = Path(run_dir)
    for name in clean_leftovers(run_dir):
        print(f"note: removed {name}, left by a checkpoint save that did not finish", file=sys.stderr)
    latest, note = newest_intact(run_dir)
    started = latest is not None or any((run_dir / f).exists() for f in ("metrics.jsonl", "run_info.json"))
    if not resume:
        if started:
            raise SdbenchError(f"--out {run_dir}: already holds a run; pass --resume to continue it (from its newest "
                               "checkpoint, or from step 0 if it stopped before its first), or choose another --out")
        return None
    if not started:
        raise SdbenchError(f"--resume: {run_dir} holds no run yet; drop --resume to start one there")
    saved, saved_hash = _saved_config(run_dir, latest)
    if saved is not None:
        differences = config_differences(saved, config)
        if content_hash and saved_hash and saved_hash != content_hash:
            differences.append(f"task data: content {saved_hash[:12]} -> {content_hash[:12]} (rebuilt or changed)")
        if differences:
            raise SdbenchError(f"--resume: {run_dir} was started with other settings ({'; '.join(differences)}); "
                               "resume with the run's own settings, or start a new run with another --out")
    if note:
        print(f"note: {note}", file=sys.stderr)
    if latest is None:
        print(f"note: {run_dir} stopped before its first checkpoint: starting again from step 0", file=sys.stderr)
    return latest


def clean_leftovers(run_dir: Path) -> list[str]:
    """Remove what a save killed half-way leaves (checkpoints/.tmp-*, .latest.*); returns what was removed."""
    root = Path(run_dir) / "checkpoints"
    removed = []
    for path in sorted(root.glob(".tmp-*")) + sorted(root.glob(".latest.*")) if root.is_dir() else []:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(str(path.relative_to(run_dir)))
    return removed


def _saved_config(run_dir: Path, checkpoint: Path | None) -> tuple[dict[str, Any] | None, str | None]:
    """(config, task content hash) the run was started with: its checkpoint's, else run_info.json's."""
    for path, task in ((checkpoint / "trainer_state.json" if checkpoint else None, ("extra", "task")),
                       (run_dir / "run_info.json", ("task",))):
        if path is not None and path.is_file():
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                config = record["config"]
            except (ValueError, KeyError, OSError):
                continue
            for key in task:
                record = record.get(key) if isinstance(record, dict) else None
            return config, record.get("content_hash") if isinstance(record, dict) else None
    return None, None
