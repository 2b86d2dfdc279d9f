"""Per-step metrics of a training run: `RUN/metrics.jsonl` (one JSON object per step) and, optionally,
TensorBoard event files under `RUN/tensorboard/`.

`RUN/run_info.json` records the run's config, task (name, version, content hash), reward and model. A
resumed run drops the lines after the step it resumes from, so the file always describes one run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from sdbench.core.errors import SdbenchError
from sdbench.core.provenance import provenance


class RunLog:
    def __init__(self, run_dir: Path, tensorboard: bool = False, resume_step: int = 0):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.run_dir / "metrics.jsonl"
        if self.path.exists():
            kept, torn = [], 0
            for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
                step = _step_of(line)
                if step is None:
                    torn += bool(line.strip())
                elif step <= resume_step:
                    kept.append(line)
            if torn:  # a process killed mid-write leaves half a line; the step is redone and logged again
                print(f"note: {self.path}: dropped {torn} line(s) that are not a complete JSON record "
                      "(a write cut off when the run was stopped)", file=sys.stderr)
            self.path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        self._file = self.path.open("a", encoding="utf-8")
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise SdbenchError("--tensorboard needs the tensorboard package: pip install tensorboard") from None
            self._tb = SummaryWriter(str(self.run_dir / "tensorboard"))

    def write_run_info(self, info: dict[str, Any]) -> None:
        info = {**info, "provenance": provenance("torch", "transformers")}
        (self.run_dir / "run_info.json").write_text(json.dumps(info, indent=2, default=str) + "\n", encoding="utf-8")

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        self._file.write(json.dumps({"step": step, **metrics}, default=float) + "\n")
        self._file.flush()
        if self._tb is not None:
            for name, value in _flatten(metrics):
                self._tb.add_scalar(name, value, step)

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def _step_of(line: str) -> int | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record["step"] if isinstance(record, dict) and isinstance(record.get("step"), int) else None


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The per-step records of RUN/metrics.jsonl; a line cut off by a killed run is left out."""
    path = Path(run_dir) / "metrics.jsonl"
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return [json.loads(line) for line in lines if _step_of(line) is not None]


def _flatten(metrics: dict[str, Any], prefix: str = ""):
    for name, value in metrics.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{name}/")
        elif isinstance(value, int | float) and value is not None:
            yield f"{prefix}{name}", float(value)
