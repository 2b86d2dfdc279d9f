"""`sdbench diagnose`: how often would GRPO push a segment's tokens the wrong way? Measured vs the closed form.

    sdbench diagnose --model runs/train/multipanel-sft-seed0 --task runs/mp --prompts 32 --group-size 8

For up to `prompts` test prompts per K, sample G rollouts, score every segment, and report per K (with 95 %
bootstrap CIs over prompts): the empirical rate at which a segment's holistic advantage has the opposite sign
of its own per-segment advantage, corr(holistic, per-segment advantage), the mean inter-segment reward
correlation ĉ, and the closed form arccos(sqrt((1+(K−1)ĉ)/K))/π beside the measurement (DESIGN.md,
"Misattribution, in numbers"). Writes OUT/diagnostics.json and OUT/diagnostics.{png,svg,pdf}.
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sdbench.core.config import check_finite
from sdbench.core.errors import SdbenchError


@dataclass(frozen=True)
class DiagnoseConfig:
    """`sdbench diagnose`: measured credit misattribution vs K beside the closed form, from sampled rollouts."""

    model: str = "default"
    """The policy whose rollouts are diagnosed (as for `sdbench eval`)."""
    task: Path = Path("runs/pipeline/tasks/multipanel")
    """A folder written by `sdbench build-task`."""
    out: Path = Path("runs/diagnose")
    """Folder for diagnostics.json and diagnostics.png."""
    split: Literal["train", "test"] = "test"
    """Split whose prompts are sampled."""
    segments: tuple[int, ...] = ()
    """K values to diagnose (default: all in the split)."""
    prompts: int = 32
    """Prompts per K."""
    group_size: int = 8
    """Rollouts per prompt (G)."""
    max_new_tokens: int = 256
    """Generation limit."""
    temperature: float = 1.0
    """Sampling temperature."""
    rollout_backend: Literal["hf", "vllm"] = "hf"
    """Generation backend: 'hf' (transformers, CPU reference) or 'vllm' (GPU; pip install 'sdbench[vllm]')."""
    seed: int = 0
    """Sampling seed."""
    threads: int = 0
    """torch threads (0 = torch's default)."""
    trust_remote_code: bool = False
    """Allow model code from the model folder / hub."""

    def __post_init__(self):
        check_finite(self)
        if self.temperature <= 0 or self.prompts < 1 or self.group_size < 2 or self.max_new_tokens < 1:
            raise SdbenchError("--temperature must be > 0, --prompts and --max-new-tokens >= 1, --group-size >= 2")


def run_diagnostics(policy, spec, source: str, examples, prompts_per_k: int, group_size: int,
                    max_new_tokens: int, temperature: float, seed: int, plot: Path | None = None,
                    backend=None) -> dict[str, Any]:
    """Sample, score (the source's per-segment reward only) and aggregate by K. `backend`: a rollout backend
    to sample with (default: the HF backend on `policy`)."""
    import torch

    from sdbench.core.progress import progress
    from sdbench.data.scoring import Scorer
    from sdbench.data.token_spans import decode_with_offsets
    from sdbench.rl.diagnostics import diagnostics_by_k
    from sdbench.rollout.backend import SamplingParams
    from sdbench.rollout.factory import make_backend

    rng = random.Random(f"diagnose-{seed}")
    by_k: dict[int, list] = {}
    for ex in examples:
        by_k.setdefault(ex.num_segments, []).append(ex)
    chosen = [ex for k in sorted(by_k) for ex in rng.sample(by_k[k], min(prompts_per_k, len(by_k[k])))]
    torch.manual_seed(seed)
    scorer = Scorer(spec, source, examples, metrics=())
    backend = backend if backend is not None else make_backend("hf", policy)
    params = SamplingParams(max_new_tokens, temperature)
    groups = []
    for ex in progress(chosen, desc="diagnose", unit="prompt"):
        rollouts = backend.generate([ex], group_size, params)
        texts = [decode_with_offsets(ids, policy.tokenizer).text for ids in rollouts.completion_ids]
        scores = scorer.score([ex] * group_size, texts, hit_length_limit=[not f for f in rollouts.finished])
        groups.append(torch.tensor([s.segment_rewards for s in scores]))                # (G, K)
    result = {"group_size": group_size, "temperature": temperature, "reward": scorer.reward,
              "by_k": diagnostics_by_k(groups, seed=seed)}
    if plot is not None:
        plot_diagnostics(result, plot, title=f"{spec.name} ({source}): credit misattribution vs K")
    return result


def plot_diagnostics(result: dict[str, Any], path: Path, title: str) -> list[Path]:
    """PATH (.png) plus .svg and .pdf: the measured wrong-sign rate per K with its 95 % CI, the closed form at the
    measured ĉ (dashed; only at the K where ĉ is measured, and 0 at K = 1) and at ĉ = 0 (dotted), on a log2 K axis."""
    from sdbench.evaluation.figures import error_bars, legend_below, log2_k_axis, new_figure, save_figure
    from sdbench.rl.diagnostics import theoretical_misattribution

    ks = [int(k) for k in result["by_k"]]
    rows = {k: result["by_k"][str(k)] for k in ks}
    fig, (ax,) = new_figure(1, panel_size=(6.0, 4.4))
    measured = [(k, rows[k]["misattribution_rate"]) for k in ks]
    measured = [(k, m) for k, m in measured if m["mean"] is not None and m["ci_low"] is not None]
    ax.errorbar([k for k, _ in measured], [m["mean"] for _, m in measured],
                yerr=error_bars([m["mean"] for _, m in measured], [m["ci_low"] for _, m in measured],
                                [m["ci_high"] for _, m in measured]),
                fmt="o", capsize=4, color="#1f77b4", label="measured (95 % CI over prompts)")
    at_c_hat = [(k, 0.0 if k == 1 else theoretical_misattribution(k, rows[k]["c_hat"]["mean"])) for k in ks
                if k == 1 or rows[k]["c_hat"]["mean"] is not None]
    if any(k > 1 for k, _ in at_c_hat):
        ax.plot([k for k, _ in at_c_hat], [v for _, v in at_c_hat], "--", marker="x", color="#d62728",
                label="closed form at measured ĉ")
    top = max(ks + [8])
    grid = [2 ** (i / 20) for i in range(0, 20 * max(1, top.bit_length() - 1) + 1)]
    ax.plot(grid, [theoretical_misattribution(k, 0.0) for k in grid], ":", color="#666666", label="closed form, ĉ = 0")
    log2_k_axis(ax, sorted(set(ks) | {top}))
    ax.set_ylabel("P(holistic advantage has the wrong sign)")
    ax.set_title(title, fontsize=9)
    ax.set_ylim(0, 0.5)
    ax.grid(alpha=0.3)
    legend_below(ax)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return save_figure(fig, Path(path).with_suffix(""))


def diagnose(cfg: DiagnoseConfig) -> Path:
    import torch

    from sdbench.core.provenance import provenance
    from sdbench.data.task_data import load_split
    from sdbench.models.model_ref import resolve_model
    from sdbench.models.policy import load_policy
    from sdbench.rollout.factory import make_backend

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    data, spec, source, examples = load_split(cfg.task, cfg.split, cfg.segments)
    policy = load_policy(resolve_model(cfg.model).load_from, trust_remote_code=cfg.trust_remote_code)
    out = Path(cfg.out)
    backend = make_backend(cfg.rollout_backend, policy, seed=cfg.seed, trust_remote_code=cfg.trust_remote_code)
    result = run_diagnostics(policy, spec, source, examples, cfg.prompts, cfg.group_size,
                             cfg.max_new_tokens, cfg.temperature, cfg.seed, plot=out / "diagnostics.png",
                             backend=backend)
    result.update({"task": {"name": spec.name, "version": spec.version, "source": source,
                            "content_hash": data.manifest["content_hash"]}, "model": cfg.model,
                   "provenance": provenance("torch", "transformers")})
    out.mkdir(parents=True, exist_ok=True)
    (out / "diagnostics.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(format_table(result))
    print(f"wrote {out}/diagnostics.json and diagnostics.png (+ .svg, .pdf)", file=sys.stderr)
    return out


def format_table(result: dict[str, Any]) -> str:
    def f(x):
        return "  n/a " if x is None else f"{x:6.3f}"

    lines = ["   K  prompts  pairs  wrong-sign [95% CI]          theory(ĉ)  theory(0)  ĉ       corr(A,a)"]
    for k, r in result["by_k"].items():
        m = r["misattribution_rate"]
        lines.append(f"{k:>4}  {r['num_prompts']:>7}  {r['num_pairs']:>5}  {f(m['mean'])} [{f(m['ci_low'])}, "
                     f"{f(m['ci_high'])}]  {f(r['theory_at_c_hat'])}     {f(r['theory_independent'])}    "
                     f"{f(r['c_hat']['mean'])}  {f(r['corr_holistic_segment']['mean'])}")
    return "\n".join(lines)
