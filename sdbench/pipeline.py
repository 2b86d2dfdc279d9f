"""`sdbench pipeline`: the main job, end to end, on the embedded default.

    sdbench pipeline                          # make demo: ≈ 13 min on 2 CPU cores, set-up included
    sdbench pipeline --seed 7                 # the same job on other data and training seeds (7, 8, 9)
    sdbench pipeline --config baselines/pipeline/full.yaml   # the fuller run leaderboards/ publishes

Stages (each prints its progress; every artefact lands under --out):
    1. build the three synthetic tasks (train + test) and print a sample of each (+ a contact sheet PNG)
    2. the embedded default model (shipped weights, checked by sha256; or built once and cached) and its
       warm-start report, recomputed here: reward by K on the test splits, beside the same prompts with each
       example's image swapped for another's (does the policy read the image?)
    3. RL, `seeds` training seeds per method, the same seeds, prompts and hyper-parameters for every method (only
       the advantage estimator differs): GRPO and SD-GRPO on `rl_task` (multipanel, its verifiable per-panel fact
       F1 as the reward) and GRPO, SD-GRPO and hybrid on `hybrid_task` (subfigure, entangled captions); each run
       is evaluated on its task's test split right after it trains (greedy; results.json + outputs.jsonl with
       provenance). `workers` processes of one CPU thread run side by side.
    4. the credit-assignment simulator (sdbench.simulate)
    5. the leaderboard of those results (printed, and written under OUT/leaderboard)
    6. the comparisons (sdbench.compare): SD-GRPO − GRPO per K on multipanel (fact F1, then CIDEr-D), hybrid
       against both pure methods on subfigure; the interval over the paired seeds beside the per-example
       bootstrap; written to OUT/comparison.json (+ .md, .csv)

The multipanel data is built with the default model's own source options (`DEFAULT.task_options`: one shape
per panel, no relations, white background), so completions stay short enough for CPU RL.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from sdbench.configs import EvalConfig, PipelineConfig, TrainConfig
from sdbench.errors import SdbenchError

SAVE_EVERY = 10
"""Checkpoint interval of the RL runs: an interrupted pipeline resumes from the last one."""
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


def pipeline(cfg: PipelineConfig) -> dict[str, Any]:
    """Run every stage; returns {'results': {run_id: results.json path}, 'comparison': rows, 'seconds': s}."""
    from sdbench.build_task import build_task
    from sdbench.compare import comparison_rows, render_text, write_comparison
    from sdbench.configs import BuildTaskConfig, ShowConfig
    from sdbench.default_model import DEFAULT, default_model, print_report, task_options, warmstart_report
    from sdbench.leaderboard import LeaderboardConfig, collect_runs, leaderboard
    from sdbench.show import show
    from sdbench.simulate import SimulateConfig, simulate

    start = time.perf_counter()
    stages = 6
    stage = iter(range(1, stages + 1))
    timings: dict[str, float] = {}

    def header(text: str) -> float:
        print(f"\n[{next(stage)}/{stages}] {text}  (pipeline at {time.perf_counter() - start:.0f}s)", flush=True)
        return time.perf_counter()

    t0 = header(f"build the synthetic tasks {', '.join(cfg.tasks)} (K={','.join(map(str, cfg.segments))})")
    folders: dict[str, Path] = {}
    for task in cfg.tasks:
        folders[task] = build_task(BuildTaskConfig(
            task=task, source="synthetic", segments=cfg.segments, n_train=cfg.n_train, n_test=cfg.n_test,
            seed=cfg.seed, options=task_options(DEFAULT, task), out=cfg.out / "tasks" / task), quiet=True)
        show(ShowConfig(folder=folders[task], split="test", num=1))
    timings["tasks"] = time.perf_counter() - t0

    model = cfg.model  # passed on as given: results name 'default' by its version, not a cache path
    if cfg.model == "default":
        t0 = header("the embedded default model and its warm-start report (greedy, on these test splits)")
        folder = default_model()
        report = warmstart_report(folder, {task: folders[task] for task in cfg.tasks}, threads=cfg.workers)
        (cfg.out / "warmstart.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"  {folder}")
        print_report(report, indent="  ")
    else:
        t0 = header(f"the policy: {cfg.model}")
    timings["model"] = time.perf_counter() - t0

    jobs = plan_jobs(cfg, model, folders)
    trained = [j for j in jobs if j.train is not None]
    t0 = header(f"train and evaluate {len(trained)} runs ({describe_studies(cfg)}; {cfg.seeds} seed(s) "
                f"{list(cfg.training_seeds)}) and the starting model: {cfg.workers} run(s) side by side, "
                "one CPU thread each")
    results = run_jobs(jobs, workers=cfg.workers)
    timings["train+eval"] = time.perf_counter() - t0

    t0 = header("credit-assignment simulator")
    simulate(SimulateConfig(out=cfg.out / "simulate", num_seeds=cfg.simulator_seeds))
    timings["simulate"] = time.perf_counter() - t0

    t0 = header("leaderboard")
    leaderboard(LeaderboardConfig(results=cfg.out / "results", out=cfg.out / "leaderboard", examples_per_run=1))
    timings["leaderboard"] = time.perf_counter() - t0

    t0 = header("method against method, paired over seeds and test examples")
    runs, _ = collect_runs(cfg.out / "results")
    comparison: list[dict[str, Any]] = []
    for task, baseline, treatment, metrics in comparisons(cfg, folders):
        comparison += comparison_rows(runs, baseline, treatment, metrics, task=task)
    print(render_text(comparison))
    write_comparison(comparison, cfg.out)
    print(f"\n  wrote {cfg.out / 'comparison.json'} (+ .md, .csv); any results folder: sdbench compare --results DIR")
    timings["compare"] = time.perf_counter() - t0

    seconds = time.perf_counter() - start
    print("\ntime per stage: " + ", ".join(f"{name} {s:.0f}s" for name, s in timings.items()))
    print(f"pipeline done in {seconds:.0f}s ({seconds / 60:.1f} min); outputs under {cfg.out}/ "
          f"(leaderboard: {cfg.out / 'leaderboard'}, simulator: {cfg.out / 'simulate'})")
    return {"results": {name: str(p) for name, p in results.items()}, "comparison": comparison, "seconds": seconds}


def studies(cfg: PipelineConfig) -> list[tuple[str, tuple[int, ...], tuple[str, ...], int]]:
    """(task, K values, methods, steps) of each RL study the pipeline runs."""
    out = [(cfg.rl_task, cfg.rl_segments, cfg.methods, cfg.steps)]
    if cfg.hybrid_task:
        out.append((cfg.hybrid_task, cfg.hybrid_segments, cfg.hybrid_methods, cfg.hybrid_steps))
    return out


def describe_studies(cfg: PipelineConfig) -> str:
    return "; ".join(f"{', '.join(methods)} on {task} K={','.join(map(str, ks))}, {steps} steps"
                     for task, ks, methods, steps in studies(cfg))


def comparisons(cfg: PipelineConfig, folders: dict[str, Path]) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(task, baseline, treatment, metrics): every pair of methods a study trained, pure methods first."""
    from sdbench.task_data import load_task_data
    from sdbench.task import load_task

    out = []
    for task, _, methods, _ in studies(cfg):
        spec = load_task(task)
        source = load_task_data(folders[task]).manifest["source"]["name"]
        reward = cfg.reward or spec.reward_for(source)
        metrics = tuple(dict.fromkeys([reward, spec.primary_metric_for(source), *cfg.also_compare]))
        metrics = tuple(m for m in metrics if m in spec.metrics or m == reward)
        order = [m for m in ("grpo", "dr-grpo", "sd-grpo", "sd-dr-grpo", "hybrid") if m in methods]
        for i, treatment in enumerate(order):
            for baseline in order[:i]:
                out.append((task, baseline, treatment, metrics))
    return out


def plan_jobs(cfg: PipelineConfig, model: str, folders: dict[str, Path]) -> list[Job]:
    """Every (task, method, seed) run with its evaluation, and one evaluation of the starting model per task."""
    from sdbench.task import load_task

    jobs: list[Job] = []
    for task, segments, methods, steps in studies(cfg):
        spec = load_task(task)
        metrics = tuple(dict.fromkeys([*spec.metrics, *([cfg.reward] if cfg.reward else [])]))

        def evaluation(method: str, seed: int, model_ref: str) -> EvalConfig:
            run_id = f"{task}-{method}-seed{seed}"
            return EvalConfig(model=model_ref, task=folders[task], out=cfg.out / "results" / run_id, run_id=run_id,
                              max_new_tokens=cfg.max_new_tokens, metrics=metrics, method=method, seed=seed,
                              threads=1)

        jobs.append(Job(f"{task}-base", task, "base", cfg.seed, None, evaluation("base", cfg.seed, model)))
        for seed in cfg.training_seeds:
            for method in methods:
                run = TrainConfig(
                    task=folders[task], model=model, method=method, seed=seed, steps=steps, segments=segments,
                    out=cfg.out / "train" / f"{task}-{method}-seed{seed}", prompts_per_step=cfg.prompts_per_step,
                    group_size=cfg.group_size, max_new_tokens=cfg.max_new_tokens, learning_rate=cfg.learning_rate,
                    reward=cfg.reward, hybrid_lambda=cfg.hybrid_lambda if method == "hybrid" else 0.5,
                    save_every=SAVE_EVERY, threads=1)
                jobs.append(Job(f"{task}-{method}-seed{seed}", task, method, seed, run,
                                evaluation(method, seed, str(run.run_dir))))
    return jobs


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

    from sdbench.evaluate import evaluate
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
    from sdbench.checkpoint import latest_checkpoint

    latest = latest_checkpoint(run_dir)
    return latest is not None and results.stat().st_mtime > latest.stat().st_mtime


def _run_state(run_dir: Path, steps: int) -> str:
    """'done' (its latest checkpoint is at `steps`), 'resume' (a run was started there: `train --resume` continues
    it from its newest checkpoint, or from step 0 if it has none, after checking its settings) or 'new'."""
    from sdbench.checkpoint import checkpoint_dir, latest_checkpoint

    if not run_dir.is_dir() or not any(p.name != ".lock" for p in run_dir.iterdir()):
        return "new"
    latest = latest_checkpoint(run_dir)
    return "done" if latest is not None and latest.name == checkpoint_dir(run_dir, steps).name else "resume"


def _progress_text(job: Job) -> str:
    """'<name> step s/N reward r (t s/step)' from RUN/metrics.jsonl."""
    from sdbench.run_log import read_metrics

    rows = read_metrics(job.train.run_dir) if (job.train.run_dir / "metrics.jsonl").is_file() else []
    if not rows:
        return f"{job.name} starting"
    row = rows[-1]
    return (f"{job.name} step {int(row.get('step', 0))}/{job.train.steps} reward "
            f"{float(row.get('reward/holistic', 0.0)):.3f} ({float(row.get('seconds/step', 0.0)):.1f} s/step)")


def _headline(results_path: Path) -> str:
    from sdbench.results import read_results

    r = read_results(results_path)
    stat = r["metrics"].get(r["primary_metric"]) or {}
    mean = stat.get("mean")
    return f"{r['primary_metric']} {mean:.3f}" if isinstance(mean, (int, float)) else f"{r['primary_metric']} n/a"


def _tail(log: Path, lines: int = 3) -> str:
    text = log.read_text(encoding="utf-8", errors="replace").strip().splitlines() if log.is_file() else []
    return " / ".join(text[-lines:]) or f"no output in {log}"
