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
    4. the credit-assignment simulator (sdbench.commands.simulate)
    5. the leaderboard of those results (printed, and written under OUT/leaderboard)
    6. the comparisons (sdbench.evaluation.compare): SD-GRPO − GRPO per K on multipanel (fact F1, then CIDEr-D), hybrid
       against both pure methods on subfigure; the interval over the paired seeds beside the per-example
       bootstrap; written to OUT/comparison.json (+ .md, .csv)

The multipanel data is built with the default model's own source options (`DEFAULT.task_options`: one shape
per panel, no relations, white background), so completions stay short enough for CPU RL.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sdbench.commands.pipeline_jobs import Job, run_jobs
from sdbench.core.config import check_finite
from sdbench.core.errors import SdbenchError
from sdbench.evaluation.evaluate import EvalConfig
from sdbench.rl.train_config import TrainConfig

SAVE_EVERY = 10
"""Checkpoint interval of the RL runs: an interrupted pipeline resumes from the last one."""


@dataclass(frozen=True)
class PipelineConfig:
    """`sdbench pipeline`: the main job on the embedded default: build the synthetic tasks, check the default model's
    warm-start, train GRPO and SD-GRPO on multipanel (and hybrid on subfigure) over seeds, evaluate every run, run
    the simulator, print the leaderboard and the paired comparisons."""

    out: Path = Path("runs/pipeline")
    """Folder for everything the pipeline writes."""
    tasks: tuple[str, ...] = ("multipanel", "multichart", "subfigure")
    """Tasks to build from their synthetic source."""
    segments: tuple[int, ...] = (1, 2, 4)
    """K values to build (the default model is warm-started on K = 1, 2, 4)."""
    n_train: int = 256
    """Train examples per task."""
    n_test: int = 96
    """Test examples per task (spread evenly over the K values: 32 per K by default)."""
    seed: int = 0
    """Seed of the data, the simulator and the first training seed."""
    seeds: int = 3
    """Training seeds per method: --seed, --seed + 1, … Every method gets the same seeds, so each seed is a paired
    comparison (same prompts, same starting model; only the advantage estimator differs)."""
    model: str = "default"
    """Policy to start RL from: 'default' (the embedded default: shipped weights, checked by hash) or any model
    `sdbench train --model` takes."""
    rl_task: str = "multipanel"
    """Task of the main comparison (one of --tasks)."""
    rl_segments: tuple[int, ...] = (2, 4)
    """K values of the train examples its RL runs sample from (every built K is evaluated)."""
    methods: tuple[str, ...] = ("grpo", "sd-grpo")
    """Methods of the main comparison."""
    steps: int = 50
    """RL steps per run of the main comparison."""
    hybrid_task: str | None = None
    """Task of the hybrid study (GRPO, SD-GRPO and hybrid on entangled segments; one of --tasks), e.g. subfigure.
    Off in `make demo`, which it would take past 15 minutes; on in baselines/pipeline/full.yaml."""
    hybrid_segments: tuple[int, ...] = (2, 4)
    """K values of the hybrid study's train examples."""
    hybrid_methods: tuple[str, ...] = ("grpo", "sd-grpo", "hybrid")
    """Methods of the hybrid study: hybrid against both pure methods, same seeds."""
    hybrid_steps: int = 30
    """RL steps per run of the hybrid study."""
    hybrid_lambda: float = 0.5
    """λ of the hybrid runs (weight of the holistic advantage)."""
    hybrid_max_new_tokens: int | None = None
    """Generation limit of the hybrid study's rollouts and evaluations (None: --max-new-tokens). Subfigure captions
    are long (≈ 140 tokens at K = 2, ≈ 240 and at most ≈ 260 at K = 4): at 96 most are cut before their last
    subfigures, and the whole caption's CIDEr-D, GRPO's reward there, is ≈ 0 for every rollout."""
    hybrid_learning_rate: float | None = None
    """AdamW learning rate of the hybrid study's runs (None: --learning-rate)."""
    prompts_per_step: int = 4
    """P: prompts per RL step."""
    group_size: int = 8
    """G: rollouts per prompt."""
    max_new_tokens: int = 96
    """Generation limit for RL rollouts and evaluation."""
    learning_rate: float = 1e-4
    """AdamW learning rate of the RL runs."""
    outside: Literal["holistic", "zero", "mean"] = "holistic"
    """Advantage of tokens outside every segment (labels, preamble, EOS) in the sd-* and hybrid runs (`sdbench
    train --outside`). In the simulator's λ sweep hybrid beats SD-GRPO only under `zero` (README, the hybrid study)."""
    beta: float = 0.0
    """Weight of the KL term to the starting policy in every RL run (`sdbench train --beta`; 0: none, as TRL's
    GRPOConfig default). Each step then also runs the starting policy forward on its rollouts."""
    reward: str | None = None
    """Per-segment reward of the RL runs; None: each task's own (multipanel: fact_f1, subfigure: its source's)."""
    also_compare: tuple[str, ...] = ("cider_d",)
    """Metrics compared besides each study's reward and primary metric (where the task has them)."""
    workers: int = 2
    """Runs side by side, one process and one CPU thread each (1: one after the other, in this process; the curves
    are those of a --threads 1 run either way)."""
    simulator_seeds: int = 16
    """Seeds of the credit-assignment simulator."""

    @property
    def training_seeds(self) -> tuple[int, ...]:
        return tuple(range(self.seed, self.seed + self.seeds))

    def __post_init__(self):
        check_finite(self)
        rl_methods = ("grpo", "dr-grpo", "sd-grpo", "sd-dr-grpo", "hybrid")
        for flag, task, segments, methods in (("rl", self.rl_task, self.rl_segments, self.methods),
                                              ("hybrid", self.hybrid_task, self.hybrid_segments, self.hybrid_methods)):
            if task is None:
                continue
            if task not in self.tasks:
                raise SdbenchError(f"--{flag}-task {task!r} is not among --tasks {list(self.tasks)}")
            missing = [k for k in segments if k not in self.segments]
            if missing:
                raise SdbenchError(f"--{flag}-segments {list(segments)}: K={missing} not built; add to --segments")
            unknown = [m for m in methods if m not in rl_methods]
            if unknown or not methods:
                name = "methods" if flag == "rl" else "hybrid-methods"
                raise SdbenchError(f"--{name} {list(methods)}: choose RL methods among {', '.join(rl_methods)}")
        if self.hybrid_task is not None and self.hybrid_task == self.rl_task:
            raise SdbenchError(f"--hybrid-task {self.hybrid_task!r} is the --rl-task too; give another task or none")
        for name in ("n_train", "n_test", "seeds", "steps", "hybrid_steps", "prompts_per_step", "max_new_tokens",
                     "hybrid_max_new_tokens", "simulator_seeds", "workers"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise SdbenchError(f"--{name.replace('_', '-')}: need >= 1, got {getattr(self, name)}")
        for name in ("learning_rate", "hybrid_learning_rate"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise SdbenchError(f"--{name.replace('_', '-')}: need a positive number, got {getattr(self, name)}")
        if self.beta < 0:
            raise SdbenchError(f"--beta: need a number >= 0 (0: no KL term), got {self.beta}")
        if self.group_size < 2:
            raise SdbenchError(f"--group-size {self.group_size}: GRPO-style methods need >= 2 rollouts per prompt")
        if not 0.0 <= self.hybrid_lambda <= 1.0:
            raise SdbenchError(f"--hybrid-lambda: need a value in [0, 1], got {self.hybrid_lambda}")


def pipeline(cfg: PipelineConfig) -> dict[str, Any]:
    """Run every stage; returns {'results': {run_id: results.json path}, 'comparison': rows, 'seconds': s}."""
    from sdbench.commands.show import ShowConfig, show
    from sdbench.commands.simulate import SimulateConfig, simulate
    from sdbench.data.build_task import BuildTaskConfig, build_task
    from sdbench.evaluation.compare import comparison_rows, render_text, write_comparison
    from sdbench.evaluation.leaderboard.command import LeaderboardConfig, leaderboard
    from sdbench.evaluation.leaderboard.runs import collect_runs
    from sdbench.models.default_model import DEFAULT, task_options
    from sdbench.warm_start.recipe import ensure_default_model
    from sdbench.warm_start.report import print_report, warmstart_report

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
        folder = ensure_default_model()
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


@dataclass(frozen=True)
class Study:
    """One RL study of the pipeline: its task, the K values its runs train on, its methods and their budget."""

    task: str
    segments: tuple[int, ...]
    methods: tuple[str, ...]
    steps: int
    max_new_tokens: int
    learning_rate: float


def studies(cfg: PipelineConfig) -> list[Study]:
    """The main comparison, then the hybrid study if there is one."""
    out = [Study(cfg.rl_task, cfg.rl_segments, cfg.methods, cfg.steps, cfg.max_new_tokens, cfg.learning_rate)]
    if cfg.hybrid_task:
        out.append(Study(cfg.hybrid_task, cfg.hybrid_segments, cfg.hybrid_methods, cfg.hybrid_steps,
                         cfg.hybrid_max_new_tokens or cfg.max_new_tokens,
                         cfg.learning_rate if cfg.hybrid_learning_rate is None else cfg.hybrid_learning_rate))
    return out


def describe_studies(cfg: PipelineConfig) -> str:
    parts = [f"{', '.join(s.methods)} on {s.task} K={','.join(map(str, s.segments))}, {s.steps} steps"
             + ("" if s.max_new_tokens == cfg.max_new_tokens else f", {s.max_new_tokens} new tokens")
             + ("" if s.learning_rate == cfg.learning_rate else f", learning rate {s.learning_rate:g}")
             for s in studies(cfg)]
    parts += [f"KL to the starting policy, beta {cfg.beta:g}"] if cfg.beta else []
    parts += [f"outside-segment advantage {cfg.outside}"] if cfg.outside != "holistic" else []
    return "; ".join(parts)


def comparisons(cfg: PipelineConfig, folders: dict[str, Path]) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(task, baseline, treatment, metrics): every pair of methods a study trained, pure methods first."""
    from sdbench.data.task import load_task
    from sdbench.data.task_data import load_task_data

    out = []
    for study in studies(cfg):
        task, methods = study.task, study.methods
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
    from sdbench.data.task import load_task

    jobs: list[Job] = []
    for study in studies(cfg):
        task = study.task
        spec = load_task(task)
        metrics = tuple(dict.fromkeys([*spec.metrics, *([cfg.reward] if cfg.reward else [])]))

        def evaluation(method: str, seed: int, model_ref: str) -> EvalConfig:
            run_id = f"{task}-{method}-seed{seed}"
            return EvalConfig(model=model_ref, task=folders[task], out=cfg.out / "results" / run_id, run_id=run_id,
                              max_new_tokens=study.max_new_tokens, metrics=metrics, method=method, seed=seed,
                              threads=1)

        jobs.append(Job(f"{task}-base", task, "base", cfg.seed, None, evaluation("base", cfg.seed, model)))
        for seed in cfg.training_seeds:
            for method in study.methods:
                run = TrainConfig(
                    task=folders[task], model=model, method=method, seed=seed, steps=study.steps,
                    segments=study.segments,
                    out=cfg.out / "train" / f"{task}-{method}-seed{seed}", prompts_per_step=cfg.prompts_per_step,
                    group_size=cfg.group_size, max_new_tokens=study.max_new_tokens, learning_rate=study.learning_rate,
                    beta=cfg.beta, outside=cfg.outside, reward=cfg.reward,
                    hybrid_lambda=cfg.hybrid_lambda if method == "hybrid" else 0.5, save_every=SAVE_EVERY, threads=1)
                jobs.append(Job(f"{task}-{method}-seed{seed}", task, method, seed, run,
                                evaluation(method, seed, str(run.run_dir))))
    return jobs


