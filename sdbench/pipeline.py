"""`sdbench pipeline`: the main job, end to end, on the embedded default.

    sdbench pipeline                          # ≈ 15 min on 2 CPU cores, most of it the first time only
    sdbench pipeline --steps 60 --methods grpo,sd-grpo,hybrid --out runs/pipeline-long

Stages (each prints its progress; every artefact lands under --out):
    1. build the three synthetic tasks (train + test) and print a sample of each (+ a contact sheet PNG)
    2. the embedded default model: built and SFT warm-started once, then cached (sdbench.default_model)
    3. RL on `rl_task` (multipanel) examples with K in `rl_segments`: one run per method (GRPO, SD-GRPO), the
       same seed, prompts and hyper-parameters; only the advantage estimator differs
    4. evaluate the warm-started model and each trained run on the test split (greedy; results.json +
       outputs.jsonl per run, with provenance)
    5. the credit-assignment simulator (sdbench.simulate)
    6. the leaderboard of those results (printed, and written under OUT/leaderboard)
    7. SD-GRPO against GRPO per K: the paired difference of the primary metric on the same test examples with
       a 95 % bootstrap CI. With one training seed this CI covers the test-example sampling only, not the
       seed-to-seed spread of RL: the printout says so.

The multipanel data is built with the default model's own source options (`DEFAULT.task_options`: one shape
per panel, no relations, white background), so RL starts from a policy that is imperfect but not hopeless on
it, and completions stay short enough for CPU RL.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from sdbench.configs import PipelineConfig, TrainConfig
from sdbench.errors import SdbenchError

SAVE_EVERY = 10
"""Checkpoint interval of the RL runs: an interrupted pipeline resumes from the last one."""


def pipeline(cfg: PipelineConfig) -> dict[str, Any]:
    """Run every stage; returns {'results': {run_id: results.json path}, 'comparison': rows, 'seconds': s}."""
    from sdbench.build_task import build_task
    from sdbench.configs import BuildTaskConfig, EvalConfig, ShowConfig
    from sdbench.default_model import DEFAULT, default_model, task_options
    from sdbench.evaluate import evaluate
    from sdbench.leaderboard import LeaderboardConfig, leaderboard
    from sdbench.results import read_results
    from sdbench.show import show
    from sdbench.simulate import SimulateConfig, simulate
    from sdbench.task import load_task

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

    model = cfg.model  # passed on as given: results name 'default' by its spec and code hash, not a cache path
    if cfg.model == "default":
        t0 = header("the embedded default model (built and warm-started once, then cached)")
        folder = default_model()
        report = json.loads((folder / "warmstart.json").read_text(encoding="utf-8"))
        print(f"  {folder}\n  per-segment reward by K before RL (greedy, its own held-out examples):")
        for task, by_k in report["reward_by_k"].items():
            print(f"    {task:<11} " + "  ".join(f"K={k}: {v:.3f}" for k, v in by_k.items()))
    else:
        t0 = header(f"the policy: {cfg.model}")
    timings["model"] = time.perf_counter() - t0

    task_dir = folders[cfg.rl_task]
    t0 = header(f"train {' and '.join(cfg.methods)} on {cfg.rl_task} K={','.join(map(str, cfg.rl_segments))}: "
                f"{cfg.steps} steps of {cfg.prompts_per_step} prompts x {cfg.group_size} rollouts"
                + (", the runs side by side, one CPU thread each" if cfg.parallel and len(cfg.methods) > 1 else ""))
    runs = {method: TrainConfig(
        task=task_dir, model=model, method=method, out=cfg.out / "train" / f"{cfg.rl_task}-{method}-seed{cfg.seed}",
        seed=cfg.seed, steps=cfg.steps, segments=cfg.rl_segments, prompts_per_step=cfg.prompts_per_step,
        group_size=cfg.group_size, max_new_tokens=cfg.max_new_tokens, learning_rate=cfg.learning_rate,
        reward=cfg.reward, save_every=SAVE_EVERY, threads=1 if cfg.parallel else 0) for method in cfg.methods}
    train_all(runs, parallel=cfg.parallel)
    timings["train"] = time.perf_counter() - t0

    t0 = header(f"evaluate the warm-started model and {len(runs)} trained runs on {cfg.rl_task} test (greedy)")
    results: dict[str, Path] = {}
    metrics = tuple(dict.fromkeys([*load_task(cfg.rl_task).metrics, *([cfg.reward] if cfg.reward else [])]))
    for method, model_ref in [("base", model), *((m, str(c.run_dir)) for m, c in runs.items())]:
        run_id = f"{cfg.rl_task}-{method}-seed{cfg.seed}"
        results[method] = evaluate(EvalConfig(
            model=model_ref, task=task_dir, out=cfg.out / "results" / run_id, run_id=run_id,
            max_new_tokens=cfg.max_new_tokens, metrics=metrics, method=method, seed=cfg.seed))
    timings["eval"] = time.perf_counter() - t0

    t0 = header("credit-assignment simulator")
    simulate(SimulateConfig(out=cfg.out / "simulate", num_seeds=cfg.simulator_seeds))
    timings["simulate"] = time.perf_counter() - t0

    t0 = header("leaderboard")
    leaderboard(LeaderboardConfig(results=cfg.out / "results", out=cfg.out / "leaderboard", examples_per_run=1))
    timings["leaderboard"] = time.perf_counter() - t0

    comparison: list[dict[str, Any]] = []
    if {"grpo", "sd-grpo"} <= set(results):
        primary = read_results(results["grpo"])["primary_metric"]
        for metric in dict.fromkeys([m for m in (cfg.reward, primary) if m]):  # the RL reward, then the primary
            rows = compare_methods(results, baseline="grpo", treatment="sd-grpo", metric=metric)
            print(comparison_table(rows, num_seeds=1))
            comparison += rows
    seconds = time.perf_counter() - start
    print("\ntime per stage: " + ", ".join(f"{name} {s:.0f}s" for name, s in timings.items()))
    print(f"pipeline done in {seconds:.0f}s ({seconds / 60:.1f} min); outputs under {cfg.out}/ "
          f"(leaderboard: {cfg.out / 'leaderboard'}, simulator: {cfg.out / 'simulate'})")
    return {"results": {m: str(p) for m, p in results.items()}, "comparison": comparison, "seconds": seconds}


def train_all(runs: dict[str, TrainConfig], parallel: bool) -> None:
    """Train every run (reusing finished ones, resuming interrupted ones). parallel: one process per run, side by
    side, each logging to RUN.log, with a combined progress line here; else one after the other, in process."""
    from sdbench.rl.trainer import train

    todo = {}
    for method, run in runs.items():
        state = _run_state(run.run_dir, run.steps)
        if state == "done":
            print(f"  {run.run_dir} already holds {run.steps} steps; reusing it")
            continue
        todo[method] = dataclasses.replace(run, resume=state == "resume")
    if not parallel or len(todo) < 2:
        for run in todo.values():
            train(run)
        return
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # a clean interpreter: no inherited torch thread pools
    processes = {}
    for method, run in todo.items():
        log = run.run_dir.with_suffix(".log")
        log.parent.mkdir(parents=True, exist_ok=True)
        processes[method] = context.Process(target=_train_logged, args=(run, str(log)), name=f"train-{method}")
        processes[method].start()
        print(f"  {method}: {run.run_dir} (log: {log})")
    shown: dict[str, int] = {}
    last_print = 0.0

    def report(force: bool) -> None:
        nonlocal shown, last_print
        progress = {m: _progress(todo[m].run_dir) for m in todo}
        steps = {m: p[0] for m, p in progress.items()}
        if any(steps.values()) and steps != shown and (force or time.perf_counter() - last_print > 20):
            shown, last_print = steps, time.perf_counter()
            print("  " + " | ".join(f"{m} step {s}/{todo[m].steps} reward {r:.3f}" + (f" ({t:.1f} s/step)" if t else "")
                                    for m, (s, r, t) in progress.items()), flush=True)

    try:
        while any(p.is_alive() for p in processes.values()):
            time.sleep(2)
            report(force=False)
    except KeyboardInterrupt:
        for p in processes.values():
            p.terminate()
        raise
    report(force=True)
    failed = {m: p.exitcode for m, p in processes.items() if p.exitcode != 0}
    if failed:
        detail = "; ".join(f"{m} exited with {code}: {_tail(todo[m].run_dir.with_suffix('.log'))}"
                           for m, code in failed.items())
        raise SdbenchError(f"training failed ({detail}); fix the cause and run the pipeline again: finished runs "
                           "are reused and interrupted ones resume from their last checkpoint")


def _train_logged(run: TrainConfig, log: str) -> None:
    """Child process: train one run with its output in `log`."""
    import sys

    from sdbench.rl.trainer import train

    with open(log, "a", encoding="utf-8", buffering=1) as f:
        sys.stdout = sys.stderr = f
        train(run)


def _run_state(run_dir: Path, steps: int) -> str:
    """'done' (its latest checkpoint is at `steps`), 'resume' (a run was started there: `train --resume` continues
    it from its newest checkpoint, or from step 0 if it has none, after checking its settings) or 'new'."""
    from sdbench.checkpoint import checkpoint_dir, latest_checkpoint

    if not run_dir.is_dir() or not any(p.name != ".lock" for p in run_dir.iterdir()):
        return "new"
    latest = latest_checkpoint(run_dir)
    return "done" if latest is not None and latest.name == checkpoint_dir(run_dir, steps).name else "resume"


def _progress(run_dir: Path) -> tuple[int, float, float]:
    """(last logged step, its holistic reward, seconds per step) from RUN/metrics.jsonl; zeros before step 1."""
    from sdbench.run_log import read_metrics

    rows = read_metrics(run_dir) if (run_dir / "metrics.jsonl").is_file() else []  # a line being written is left out
    row = rows[-1] if rows else {}
    return int(row.get("step", 0)), float(row.get("reward/holistic", 0.0)), float(row.get("seconds/step", 0.0))


def _tail(log: Path, lines: int = 3) -> str:
    text = log.read_text(encoding="utf-8", errors="replace").strip().splitlines() if log.is_file() else []
    return " / ".join(text[-lines:]) or f"no output in {log}"


def compare_methods(results: dict[str, Path], baseline: str, treatment: str, metric: str | None = None
                    ) -> list[dict[str, Any]]:
    """Paired comparison of two runs' `metric` (default: the primary) on the same test examples, per K and overall.

    Reads each run's outputs.jsonl (per-example metrics); pairs outputs by example id. Returns one row per K
    (then 'all'): {k, n, baseline, treatment, delta} where each value is a bootstrap_ci dict (mean, 95 % CI);
    delta is the bootstrap CI of the per-example difference treatment − baseline."""
    from sdbench.results import read_results
    from sdbench.stats import bootstrap_ci

    runs = {name: read_results(results[name]) for name in (baseline, treatment)}
    metric = metric or runs[baseline]["primary_metric"]
    per_example = {name: _per_example(results[name], run, metric) for name, run in runs.items()}
    common = sorted(set(per_example[baseline]) & set(per_example[treatment]))
    if not common:
        raise SdbenchError(f"{results[baseline]} and {results[treatment]}: no example has {metric!r} in both runs' "
                           "outputs; evaluate both with that metric (sdbench eval --metrics)")
    groups: dict[str, list[str]] = {}
    for example_id in common:
        groups.setdefault(str(per_example[baseline][example_id][0]), []).append(example_id)
    groups = {k: groups[k] for k in sorted(groups, key=int)}
    groups["all"] = common
    rows = []
    for k, ids in groups.items():
        a = [per_example[baseline][i][1] for i in ids]
        b = [per_example[treatment][i][1] for i in ids]
        rows.append({"k": k, "n": len(ids), "metric": metric, "baseline": bootstrap_ci(a),
                     "treatment": bootstrap_ci(b), "delta": bootstrap_ci([y - x for x, y in zip(a, b)]),
                     "names": (baseline, treatment)})
    return rows


def _per_example(results_path: Path, results: dict[str, Any], metric: str) -> dict[str, tuple[int, float]]:
    """{example id: (K, metric value)} from a run's outputs JSONL (greedy: one output per example)."""
    outputs = Path(results_path).parent / results["outputs"]
    values: dict[str, tuple[int, float]] = {}
    for line in outputs.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        value = row["metrics"].get(metric)
        if value is not None and row.get("sample", 0) == 0:
            values[row["id"]] = (row["num_segments"], float(value))
    return values


def comparison_table(rows: list[dict[str, Any]], num_seeds: int) -> str:
    """The paired comparison as text: one line per K."""
    def ci(stat: dict[str, Any]) -> str:
        return f"{stat['mean']:+.3f} [{stat['ci_low']:+.3f}, {stat['ci_high']:+.3f}]"

    baseline, treatment = rows[0]["names"]
    lines = [f"\n{treatment} vs {baseline}: {rows[0]['metric']} on the same test examples, mean [95 % bootstrap CI "
             f"over examples]; {num_seeds} training seed(s), so seed-to-seed variance is not in these intervals",
             f"  {'K':>4} {'n':>4}  {baseline:>24}  {treatment:>24}  {'difference':>24}  verdict"]
    for row in rows:
        delta = row["delta"]
        if delta["ci_low"] > 0:
            verdict = f"{treatment} better"
        elif delta["ci_high"] < 0:
            verdict = f"{baseline} better"
        else:
            verdict = "no significant difference"
        lines.append(f"  {row['k']:>4} {row['n']:>4}  {ci(row['baseline']):>24}  {ci(row['treatment']):>24}  "
                     f"{ci(delta):>24}  {verdict}")
    return "\n".join(lines)
