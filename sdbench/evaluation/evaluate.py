"""`sdbench eval --model CKPT_OR_ID --task DIR`: generate on the test split, score, write results with provenance.

    sdbench eval --model runs/train/multipanel-sd-grpo-seed0 --task runs/mp
    sdbench eval --model Qwen/Qwen2.5-VL-3B-Instruct --task runs/mcqa --num-samples 4 --temperature 0.7

Batched greedy (or sampled) generation with the rollout backend (`--rollout-backend hf`, the default, or
`vllm` on a GPU), then the same scoring path as `sdbench score`.
Writes OUT/outputs.jsonl (every output with every metric, so a number can be traced back to text) and
OUT/results.json (sdbench.evaluation.results schema): per-segment metrics averaged over segments, by K and by segment
position, whole-output metrics, format compliance, 95 % bootstrap CIs, and provenance (task name, version,
content hash; model, checkpoint and weights hash; method, training config and seed; sdbench version, git
sha, timestamp). `--diagnostics` adds the misattribution diagnostics (sdbench.evaluation.diagnose).
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from sdbench.core.config import PLAIN_NAME, check_finite
from sdbench.core.errors import SdbenchError
from sdbench.core.stats import bootstrap_ci
from sdbench.data.summary import format_compliance
from sdbench.data.task_data import load_split
from sdbench.evaluation.results import SCHEMA_VERSION, write_results


@dataclass(frozen=True)
class EvalConfig:
    """`sdbench eval`: generate on a task's test split, score, and write a results JSON with provenance."""

    model: str = "default"
    """A run folder or checkpoint of `sdbench train`, a local HF folder, a hub id, or 'default'."""
    task: Path = Path("runs/pipeline/tasks/multipanel")
    """A folder written by `sdbench build-task`."""
    out: Path | None = None
    """Folder for results.json and outputs.jsonl (default: runs/eval/<run id>)."""
    run_id: str | None = None
    """Name of this evaluation run (default: <task>-<method>-seed<seed>-<model folder>)."""
    split: Literal["train", "test"] = "test"
    """Split to evaluate."""
    segments: tuple[int, ...] = ()
    """Only examples with these K (default: all)."""
    limit: int = 0
    """At most this many examples (0 = all), taken in split order."""
    max_new_tokens: int = 256
    """Generation limit."""
    batch_size: int = 16
    """Prompts per generate call."""
    rollout_backend: Literal["hf", "vllm"] = "hf"
    """Generation backend: 'hf' (transformers, CPU reference) or 'vllm' (GPU; pip install 'sdbench[vllm]')."""
    num_samples: int = 0
    """0: greedy decoding; N > 0: N sampled outputs per prompt at --temperature (all scored)."""
    temperature: float = 1.0
    """Sampling temperature when --num-samples > 0."""
    metrics: tuple[str, ...] = ()
    """Metrics to report (default: the task's, those that can run here)."""
    method: str | None = None
    """Training method recorded for the leaderboard (default: read from the checkpoint, else 'base')."""
    seed: int | None = None
    """Training seed recorded for the leaderboard (default: read from the checkpoint, else 0)."""
    diagnostics: bool = False
    """Also run the misattribution diagnostics (sampled groups) and store them in the results."""
    diagnostics_prompts: int = 32
    """Prompts per K for the diagnostics."""
    group_size: int = 8
    """Rollouts per prompt for the diagnostics."""
    threads: int = 0
    """torch threads (0 = torch's default)."""
    trust_remote_code: bool = False
    """Allow model code from the model folder / hub."""

    def __post_init__(self):
        check_finite(self)
        if self.run_id is not None and not PLAIN_NAME.fullmatch(self.run_id):
            raise SdbenchError(f"--run-id {self.run_id!r}: need a plain name (letters, digits, '.', '_', '-'; no "
                               "'/' or leading '.'), e.g. multipanel-sd-grpo-seed0")
        if self.max_new_tokens < 1 or self.batch_size < 1 or self.num_samples < 0 or self.limit < 0:
            raise SdbenchError("--max-new-tokens and --batch-size need >= 1; --num-samples and --limit >= 0")
        if self.group_size < 2 or self.diagnostics_prompts < 1:
            raise SdbenchError("--group-size needs >= 2 and --diagnostics-prompts >= 1")


def evaluate(cfg: EvalConfig) -> Path:
    """Run the evaluation; returns the results.json path."""
    import torch

    from sdbench.core.progress import progress
    from sdbench.core.provenance import provenance
    from sdbench.data.scoring import Scorer
    from sdbench.data.token_spans import decode_with_offsets
    from sdbench.models.model_ref import display_name, resolve_model, weights_hash
    from sdbench.models.policy import load_policy
    from sdbench.rollout.backend import SamplingParams
    from sdbench.rollout.factory import make_backend

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    data, spec, source, examples = load_split(cfg.task, cfg.split, cfg.segments, cfg.limit)
    ref = resolve_model(cfg.model)
    state = ref.train_state or {}
    train_config = state.get("config") or {}
    notes = _task_mismatch_notes(state, spec, data)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    method = cfg.method or train_config.get("method") or "base"
    seed = cfg.seed if cfg.seed is not None else int(train_config.get("seed", 0))
    run_id = cfg.run_id or f"{spec.name}-{method}-seed{seed}-{Path(ref.load_from).name}"
    out = Path(cfg.out) if cfg.out else Path("runs") / "eval" / run_id
    policy = load_policy(ref.load_from, trust_remote_code=cfg.trust_remote_code)
    scorer = Scorer(spec, source, examples, metrics=tuple(cfg.metrics) or None)
    backend = make_backend(cfg.rollout_backend, policy, seed=seed, trust_remote_code=cfg.trust_remote_code)
    greedy = cfg.num_samples == 0
    samples = max(1, cfg.num_samples)
    params = SamplingParams(cfg.max_new_tokens, cfg.temperature, greedy=greedy)
    torch.manual_seed(seed)

    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    scores = []
    for lo in progress(range(0, len(examples), cfg.batch_size), desc=f"eval {spec.name}", unit="batch"):
        batch = examples[lo:lo + cfg.batch_size]
        rollouts = backend.generate(batch, samples, params)
        texts = [decode_with_offsets(ids, policy.tokenizer).text for ids in rollouts.completion_ids]
        repeated = [ex for ex in batch for _ in range(samples)]
        batch_scores = scorer.score(repeated, texts, hit_length_limit=[not f for f in rollouts.finished])
        for i, s in enumerate(batch_scores):
            row = s.to_dict()
            row.update({"sample": i % samples, "num_tokens": len(rollouts.completion_ids[i]),
                        "finished": rollouts.finished[i]})
            rows.append(row)
        scores.extend(batch_scores)
    seconds = time.perf_counter() - t0

    out.mkdir(parents=True, exist_ok=True)
    with (out / "outputs.jsonl").open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    diagnostics = None
    if cfg.diagnostics:
        from sdbench.evaluation.diagnose import run_diagnostics

        diagnostics = run_diagnostics(policy, spec, source, examples, prompts_per_k=cfg.diagnostics_prompts,
                                      group_size=cfg.group_size, max_new_tokens=cfg.max_new_tokens,
                                      temperature=1.0, seed=seed, plot=out / "diagnostics.png", backend=backend)
    results = {
        "schema_version": SCHEMA_VERSION, "run_id": run_id,
        "task": {"name": spec.name, "version": spec.version, "source": source, "split": cfg.split,
                 "content_hash": data.manifest["content_hash"], "folder": str(cfg.task),
                 "num_examples": len(examples), "segments": list(cfg.segments)},
        # a trained checkpoint is named by the model its run started from, so the seeds of a recipe share a row
        "model": {"name": display_name(train_config.get("model") or cfg.model),
                  "checkpoint": str(ref.checkpoint) if ref.checkpoint else None,
                  "checkpoint_hash": weights_hash(Path(ref.load_from)) if Path(ref.load_from).is_dir() else None},
        "method": method, "seed": seed,
        "train": {"config": train_config, "steps": state.get("step"), "learning_curve": _learning_curve(ref)}
        if ref.checkpoint else None,
        "decoding": {"greedy": greedy, "temperature": None if greedy else cfg.temperature,
                     "max_new_tokens": cfg.max_new_tokens, "num_samples": samples},
        "primary_metric": spec.primary_metric_for(source), "reward": scorer.reward,
        "holistic_reward": scorer.holistic, "metrics_unavailable": scorer.unavailable,
        **aggregate(scores, seed=seed),
        "diagnostics": diagnostics, "notes": notes, "outputs": "outputs.jsonl",
        "eval_config": json.loads(json.dumps(asdict(cfg), default=str)), "seconds": round(seconds, 1),
        "provenance": {**provenance("torch", "transformers", *(["vllm"] if cfg.rollout_backend == "vllm" else [])),
                       "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds")},
    }
    path = write_results(out / "results.json", results)
    primary = results["primary_metric"]
    stat = results["metrics"].get(primary) or {}
    print(f"{run_id}: {primary} = {_fmt(stat)} over {len(examples)} examples "
          f"({seconds:.0f}s); wrote {path}", file=sys.stderr)
    for warning in (near_zero_warning(results), truncation_warning(results)):
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
    return path


TRUNCATED_FRACTION = 0.25
"""Warn when more than this share of the outputs were cut at max_new_tokens."""


def truncation_warning(results: dict[str, Any]) -> str | None:
    """A warning when many outputs hit the generation limit: their later segments are missing and score 0.

    >>> truncation_warning({"format": {"outputs_truncated": 0.1}, "decoding": {"max_new_tokens": 96}}) is None
    True
    >>> truncation_warning({"format": {"outputs_truncated": 0.67}, "decoding": {"max_new_tokens": 96}})[:45]
    '67 % of the outputs hit max_new_tokens (96): '
    """
    share = (results.get("format") or {}).get("outputs_truncated")
    if share is None or share <= TRUNCATED_FRACTION:
        return None
    limit = results["decoding"]["max_new_tokens"]
    return (f"{share * 100:.0f} % of the outputs hit max_new_tokens ({limit}): their segments after the cut are "
            "missing and score 0, so this run measures the length limit as much as the model. Evaluate again with a "
            "--max-new-tokens that fits the task's references (`sdbench show` prints examples)")


def near_zero_warning(results: dict[str, Any]) -> str | None:
    """A warning when the primary metric is ≈ 0 over every test example: a board ranking such runs ranks noise.

    >>> near_zero_warning({"primary_metric": "m", "metrics": {"m": {"mean": 0.0}}, "format": {"segments_found_per_expected": 0.2}})[:34]
    'm = 0.0000 over the whole test spl'
    """
    from sdbench.core.stats import NEAR_ZERO

    primary = results["primary_metric"]
    mean = (results["metrics"].get(primary) or {}).get("mean")
    if mean is None or abs(mean) >= NEAR_ZERO:
        return None
    found = (results.get("format") or {}).get("segments_found_per_expected")
    return (f"{primary} = {mean:.4f} over the whole test split: on a board this run (and any other like it) ranks "
            f"by noise. Segments found per expected: {'n/a' if found is None else f'{found:.2f}'} (below 1: the "
            "outputs miss the segment labels the task asks for). Read a few outputs (outputs.jsonl), check that "
            "the model sees the image and follows the prompt, or compare on another metric")


def aggregate(scores, seed: int = 0) -> dict[str, Any]:
    """metrics / by_k / by_position with bootstrap CIs (over outputs), format compliance, rewards."""
    def stats_of(values_by_metric: dict[str, list[float]]) -> dict[str, dict]:
        return {m: bootstrap_ci(v, seed=seed) for m, v in values_by_metric.items()}

    overall: dict[str, list[float]] = defaultdict(list)
    by_k: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    count_k: dict[int, int] = defaultdict(int)
    by_pos: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for s in scores:
        count_k[s.num_segments] += 1
        values = {**s.metrics, "holistic_reward": s.holistic_reward,
                  "segment_reward": sum(s.segment_rewards) / len(s.segment_rewards)}
        for m, v in values.items():
            if v is not None:
                overall[m].append(v)
                by_k[s.num_segments][m].append(v)
        for seg in s.segments:
            for m, v in seg["metrics"].items():
                if v is not None:
                    by_pos[seg["index"] + 1][m].append(v)
    return {
        "metrics": stats_of(overall),
        "by_k": {str(k): {"num_examples": count_k[k], "metrics": stats_of(by_k[k])} for k in sorted(by_k)},
        "by_position": {str(p): stats_of(by_pos[p]) for p in sorted(by_pos)},
        "format": format_compliance(scores),
    }


def _task_mismatch_notes(state: dict, spec, data) -> list[str]:
    """Explicit notes when a checkpoint was trained on another task / task version / data."""
    trained = (state.get("extra") or {}).get("task") or {}
    notes = []
    if trained and trained.get("name") != spec.name:
        notes.append(f"the checkpoint was trained on task {trained.get('name')!r}, evaluated on {spec.name!r}")
    elif trained and trained.get("version") != spec.version:
        notes.append(f"the checkpoint was trained on {spec.name} v{trained.get('version')}, evaluated on "
                     f"v{spec.version}")
    return notes


def _learning_curve(ref) -> list[dict[str, Any]]:
    """The training run's per-step rewards (from RUN/metrics.jsonl beside the checkpoints), if present."""
    if ref.checkpoint is None:
        return []
    from sdbench.rl.run_log import read_metrics

    run_dir = ref.checkpoint.parent.parent
    if not (run_dir / "metrics.jsonl").is_file():
        return []
    keep = ("step", "reward/holistic", "reward/segment", "misattribution_rate", "loss", "kl")
    return [{k: row[k] for k in keep if k in row} for row in read_metrics(run_dir)]


def _fmt(stat: dict) -> str:
    if not stat or stat.get("mean") is None:
        return "n/a"
    return f"{stat['mean']:.4f} [{stat['ci_low']:.4f}, {stat['ci_high']:.4f}]"
