"""Benchmark: the cost of checking a build's stored files (TaskData.check) against `sdbench score` of its test split.

`sdbench score`, `eval` and `train` check that the files of the splits they read are those the build wrote
(size and xxh3-128 of each, recorded in the manifest), so an edited or damaged build is refused. The target:
the check costs under 5 % of a score of the whole test split. This script times, on any build folder,

  (a) the check of the test split's files (TaskData.check(["test"])), page cache warm (its files read once
      before) and, where the OS can drop a file's cached pages (posix_fadvise DONTNEED), cold;
  (b) `sdbench score --split test` as a user runs it (a subprocess: interpreter, imports, the check included),
      in process (sdbench.evaluation.score.score: open the build, read the predictions, score every example with the
      task's metrics, write scores.jsonl and summary.json) with the check switched off, and the Scorer's
      scoring alone; the references as predictions;

and prints the ratios. All measured in the same process, interleaved, best of --repeats.

Run: `python scripts/bench_task_check.py runs/mcqa` (a build folder; build the full MultiChartQA with
`sdbench build-task multichart --source multichartqa --path DIR --n-train -1 --n-test -1 --out runs/mcqa`).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path


def _drop_cache(folder: Path) -> bool:
    """Ask the OS to forget the cached pages of the split's files; False where it cannot."""
    if not hasattr(os, "posix_fadvise"):
        return False
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("build", type=Path, help="a folder written by `sdbench build-task`")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import json
    import tempfile

    from sdbench.data import task_data as task_data_module
    from sdbench.data.scoring import Scorer
    from sdbench.data.task import load_task
    from sdbench.data.task_data import load_task_data
    from sdbench.evaluation.score import ScoreConfig, score

    data = load_task_data(args.build)
    spec = load_task(data.task_name)
    source = data.manifest["source"]["name"]
    examples = list(data.examples("test"))
    size = sum(p.stat().st_size for p in (args.build / "data" / "test").rglob("*") if p.is_file())
    print(f"{args.build}: {data.task_name} v{data.task_version} ({source}), test split {len(examples)} examples, "
          f"{size / 2**20:.0f} MiB of files")
    work = Path(tempfile.mkdtemp())
    predictions = work / "refs.jsonl"
    predictions.write_text("".join(json.dumps({"id": ex.id, "response": ex.holistic_reference}) + "\n"
                                   for ex in examples), encoding="utf-8")

    check = task_data_module.TaskData.check
    warm, cold, command, scoring = [], [], [], []
    for _ in range(args.repeats):
        if _drop_cache(args.build / "data" / "test"):
            t0 = time.perf_counter()
            data.check(["test"])
            cold.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        data.check(["test"])
        warm.append(time.perf_counter() - t0)
        task_data_module.TaskData.check = lambda self, splits=None: None
        try:
            t0 = time.perf_counter()
            with open(os.devnull, "w") as sink:
                import contextlib

                with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                    score(ScoreConfig(task=args.build, predictions=predictions, out=work / "scores", split="test"))
            command.append(time.perf_counter() - t0)
        finally:
            task_data_module.TaskData.check = check
        t0 = time.perf_counter()
        Scorer(spec, source, examples).score(examples, [ex.holistic_reference for ex in examples])
        scoring.append(time.perf_counter() - t0)
    import subprocess
    import sys

    wall = []
    for _ in range(args.repeats):  # as a user runs it (the check included): interpreter, imports, everything
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "sdbench.cli", "score", "--task", str(args.build), "--predictions",
                        str(predictions), "--out", str(work / "cli"), "--split", "test"], check=True,
                       capture_output=True)
        wall.append(time.perf_counter() - t0)
    best_command, best_scoring = min(command), min(scoring)
    print(f"sdbench score --split test as a command: {min(wall):.2f} s wall; the check is "
          f"{100 * min(warm) / min(wall):.1f} % of it (page cache warm)")
    print(f"sdbench score --split test (in process, check off): {best_command:.3f} s; its scoring alone "
          f"{best_scoring:.3f} s (best of {args.repeats})")
    print(f"check, page cache warm: {min(warm):.3f} s = {100 * min(warm) / best_command:.1f} % of the in-process score "
          f"({100 * min(warm) / best_scoring:.0f} % of the scoring alone)")
    if cold:
        print(f"check, page cache cold: {min(cold):.3f} s = {100 * min(cold) / best_command:.1f} % of the in-process "
              "score (disk-bound: scoring never reads the image bytes)")


if __name__ == "__main__":
    main()
