"""The pipeline's jobs: one training run and its evaluation each, run side by side in worker processes (one CPU thread
each), logged to OUT/logs/<name>.log, resumed from their last checkpoint, skipped when their results are newer."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from sdbench.core.errors import SdbenchError
from sdbench.evaluation.evaluate import EvalConfig
from sdbench.rl.train_config import TrainConfig

PROGRESS_SECONDS = 20
"""How often the combined progress line of the side-by-side runs is printed."""


@dataclasses.dataclass(frozen=True)
class Job:
    """One training run and its evaluation (or an evaluation only: train is None)."""

    name: str
    task: str
    method: str
    seed: int
    train: TrainConfig | None
    eval: EvalConfig

    @property
    def log(self) -> Path:
        return self.eval.out.parent.parent / "logs" / f"{self.name}.log"


def run_jobs(jobs: list[Job], workers: int) -> dict[str, Path]:
    """Run every job (finished training runs are reused, interrupted ones resume; evaluations are redone unless
    their results are newer than the run's last checkpoint), `workers` at a time in fresh processes, each
    logging to OUT/logs/<name>.log; a progress line of the running ones every PROGRESS_SECONDS, TTY or not."""
    import concurrent.futures as futures
    import multiprocessing

    for job in jobs:
        if job.train is not None and _run_state(job.train.run_dir, job.train.steps) == "done":
            print(f"  {job.train.run_dir} already holds {job.train.steps} steps; reusing it")
    if workers <= 1:
        return {job.name: _run_job(job, None) for job in jobs}
    context = multiprocessing.get_context("spawn")  # a clean interpreter: no inherited torch thread pools
    results: dict[str, Path] = {}
    failed: dict[str, str] = {}
    t0 = time.perf_counter()
    with futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending = {pool.submit(_run_job, job, str(job.log)): job for job in jobs}
        print(f"  {len(jobs)} jobs; logs under {jobs[0].log.parent}", flush=True)
        last = 0.0
        while pending:
            done, _ = futures.wait(pending, timeout=2, return_when=futures.FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                try:
                    results[job.name] = future.result()
                    print(f"  done {job.name} ({len(results)}/{len(jobs)}, {time.perf_counter() - t0:.0f}s): "
                          f"{_headline(results[job.name])}", flush=True)
                except futures.CancelledError:
                    continue
                except Exception as exc:  # noqa: BLE001 - reported with the log's tail below
                    failed[job.name] = f"{exc.__class__.__name__}: {exc} (log {job.log}: {_tail(job.log)})"
                    for other in pending:  # fail fast: the runs not started yet are not started
                        other.cancel()
            if pending and time.perf_counter() - last > PROGRESS_SECONDS:
                last = time.perf_counter()
                running = [j for j in pending.values() if j.train is not None and j.train.run_dir.is_dir()]
                line = " | ".join(_progress_text(j) for j in running[:workers])
                if line:
                    print(f"  [{time.perf_counter() - t0:.0f}s, {len(results)}/{len(jobs)} done] {line}", flush=True)
    if failed:
        name, why = next(iter(failed.items()))
        others = f" (also failed: {', '.join(list(failed)[1:])})" if len(failed) > 1 else ""
        raise SdbenchError(f"run {name} failed: {why}{others}; fix the cause and run the pipeline again: finished "
                           "runs are reused and interrupted ones resume from their last checkpoint")
    return {job.name: results[job.name] for job in jobs}


def _run_job(job: Job, log: str | None) -> Path:
    """Train (reusing or resuming) then evaluate; in a child process, with its output in `log`."""
    import contextlib

    from sdbench.evaluation.evaluate import evaluate
    from sdbench.rl.trainer import train

    if log:
        Path(log).parent.mkdir(parents=True, exist_ok=True)
    stream = open(log, "a", encoding="utf-8", buffering=1) if log else None  # noqa: SIM115 - closed below
    with contextlib.ExitStack() as stack:
        if stream is not None:
            stack.callback(stream.close)
            stack.enter_context(contextlib.redirect_stdout(stream))
            stack.enter_context(contextlib.redirect_stderr(stream))
        if job.train is not None:
            state = _run_state(job.train.run_dir, job.train.steps)
            if state != "done":
                train(dataclasses.replace(job.train, resume=state == "resume"))
        results = job.eval.out / "results.json"
        if results.is_file() and job.train is not None and _is_newer(results, job.train.run_dir):
            return results
        return evaluate(job.eval)


def _is_newer(results: Path, run_dir: Path) -> bool:
    from sdbench.models.checkpoint import latest_checkpoint

    latest = latest_checkpoint(run_dir)
    return latest is not None and results.stat().st_mtime > latest.stat().st_mtime


def _run_state(run_dir: Path, steps: int) -> str:
    """'done' (its latest checkpoint is at `steps`), 'resume' (a run was started there: `train --resume` continues
    it from its newest checkpoint, or from step 0 if it has none, after checking its settings) or 'new'."""
    from sdbench.models.checkpoint import checkpoint_dir, latest_checkpoint

    if not run_dir.is_dir() or not any(p.name != ".lock" for p in run_dir.iterdir()):
        return "new"
    latest = latest_checkpoint(run_dir)
    return "done" if latest is not None and latest.name == checkpoint_dir(run_dir, steps).name else "resume"


def _progress_text(job: Job) -> str:
    """'<name> step s/N reward r (t s/step)' from RUN/metrics.jsonl."""
    from sdbench.rl.run_log import read_metrics

    rows = read_metrics(job.train.run_dir) if (job.train.run_dir / "metrics.jsonl").is_file() else []
    if not rows:
        return f"{job.name} starting"
    row = rows[-1]
    return (f"{job.name} step {int(row.get('step', 0))}/{job.train.steps} reward "
            f"{float(row.get('reward/holistic', 0.0)):.3f} ({float(row.get('seconds/step', 0.0)):.1f} s/step)")


def _headline(results_path: Path) -> str:
    from sdbench.evaluation.results import read_results

    r = read_results(results_path)
    stat = r["metrics"].get(r["primary_metric"]) or {}
    mean = stat.get("mean")
    return f"{r['primary_metric']} {mean:.3f}" if isinstance(mean, (int, float)) else f"{r['primary_metric']} n/a"


def _tail(log: Path, lines: int = 3) -> str:
    text = log.read_text(encoding="utf-8", errors="replace").strip().splitlines() if log.is_file() else []
    return " / ".join(text[-lines:]) or f"no output in {log}"
