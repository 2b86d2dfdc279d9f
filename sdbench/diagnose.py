"""`sdbench diagnose`: how often would GRPO push a segment's tokens the wrong way? Measured vs the closed form.

    sdbench diagnose --model runs/train/multipanel-sft-seed0 --task runs/mp --prompts 32 --group-size 8

For up to `prompts` test prompts per K, sample G rollouts, score every segment, and report per K (with 95 %
bootstrap CIs over prompts): the empirical rate at which a segment's holistic advantage has the opposite sign
of its own per-segment advantage, corr(holistic, per-segment advantage), the mean inter-segment reward
correlation ĉ, and the closed form arccos(sqrt((1+(K−1)ĉ)/K))/π beside the measurement (DESIGN.md,
"Misattribution, in numbers"). Writes OUT/diagnostics.json and OUT/diagnostics.png.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

from sdbench.configs import DiagnoseConfig


def run_diagnostics(policy, spec, source: str, examples, prompts_per_k: int, group_size: int,
                    max_new_tokens: int, temperature: float, seed: int, plot: Path | None = None,
                    backend=None) -> dict[str, Any]:
    """Sample, score (the source's per-segment reward only) and aggregate by K. `backend`: a rollout backend
    to sample with (default: the HF backend on `policy`)."""
    import torch
    from tqdm.auto import tqdm

    from sdbench.scoring import Scorer

    from sdbench.rl.diagnostics import diagnostics_by_k
    from sdbench.rollout.backend import SamplingParams, make_backend
    from sdbench.token_spans import decode_with_offsets

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
    for ex in tqdm(chosen, desc="diagnose", unit="prompt", file=sys.stderr):
        rollouts = backend.generate([ex], group_size, params)
        texts = [decode_with_offsets(ids, policy.tokenizer).text for ids in rollouts.completion_ids]
        scores = scorer.score([ex] * group_size, texts, hit_length_limit=[not f for f in rollouts.finished])
        groups.append(torch.tensor([s.segment_rewards for s in scores]))                # (G, K)
    result = {"group_size": group_size, "temperature": temperature, "reward": scorer.reward,
              "by_k": diagnostics_by_k(groups, seed=seed)}
    if plot is not None:
        plot_diagnostics(result, plot, title=f"{spec.name} ({source}): credit misattribution vs K")
    return result


def plot_diagnostics(result: dict[str, Any], path: Path, title: str) -> Path:
    import math

    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from sdbench.rl.diagnostics import theoretical_misattribution

    ks = [int(k) for k in result["by_k"]]
    rows = [result["by_k"][str(k)] for k in ks]
    fig = Figure(figsize=(6, 4), dpi=100)
    ax = fig.add_subplot()
    measured = [r["misattribution_rate"]["mean"] for r in rows]
    lo = [r["misattribution_rate"]["ci_low"] for r in rows]
    hi = [r["misattribution_rate"]["ci_high"] for r in rows]
    ok = [i for i, m in enumerate(measured) if m is not None and lo[i] is not None]
    ax.errorbar([ks[i] for i in ok], [measured[i] for i in ok],
                yerr=[[measured[i] - lo[i] for i in ok], [hi[i] - measured[i] for i in ok]],
                fmt="o", capsize=4, label="measured (95% CI)")
    grid = [1 + i * (max(ks + [8]) - 1) / 100 for i in range(101)]
    ax.plot(grid, [math.acos(math.sqrt(1 / k)) / math.pi for k in grid], "--", label="theory, c = 0")
    c_hat = [r["c_hat"]["mean"] for r in rows]
    ax.plot(ks, [theoretical_misattribution(k, c if c is not None else 0.0) for k, c in zip(ks, c_hat)], "s-",
            label="theory at measured ĉ")
    ax.set_xlabel("K (segments)")
    ax.set_ylabel("P(holistic advantage has the wrong sign)")
    ax.set_title(title, fontsize=9)
    ax.set_ylim(0, 0.5)
    ax.legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return Path(path)


def diagnose(cfg: DiagnoseConfig) -> Path:
    import torch

    from sdbench.evaluate import load_eval_examples
    from sdbench.model_ref import resolve_model
    from sdbench.policy import load_policy
    from sdbench.provenance import provenance
    from sdbench.rollout.backend import make_backend

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    data, spec, source, examples = load_eval_examples(cfg.task, cfg.split, cfg.segments)
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
    print(f"wrote {out}/diagnostics.json and diagnostics.png", file=sys.stderr)
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
