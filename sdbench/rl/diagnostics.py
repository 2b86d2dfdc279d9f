"""Credit-misattribution statistics: pure functions of advantages (tensors in, floats / tensors out).

A segment's tokens receive the holistic advantage A_i under GRPO; its own merit is the per-segment advantage
a_{i,k}. The misattribution rate is the share of (rollout, segment) pairs where the two have opposite signs:
tokens that GRPO pushes the wrong way. Under the exchangeable-segments model of DESIGN.md (K segments,
per-segment correlation c, R_i = mean_k r_{i,k}) corr(A_i, a_{i,k}) = rho_K = sqrt((1 + (K-1)c) / K) and,
in the Gaussian approximation, P_wrong(K, c) = arccos(rho_K) / pi.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def theoretical_misattribution(num_segments: int, correlation: float) -> float:
    """P_wrong(K, c) = arccos(sqrt((1 + (K-1)c) / K)) / pi.

    >>> [round(theoretical_misattribution(k, 0.0), 3) for k in (1, 2, 4, 8)]
    [0.0, 0.25, 0.333, 0.385]
    >>> theoretical_misattribution(4, 1.0)
    0.0
    """
    if num_segments < 1:
        raise ValueError(f"num_segments must be >= 1, got {num_segments}")
    rho = math.sqrt(max(0.0, min(1.0, (1 + (num_segments - 1) * correlation) / num_segments)))
    return math.acos(rho) / math.pi


def misattribution_rate(holistic_adv: Tensor, segment_adv: Tensor, segment_mask: Tensor) -> float | None:
    """Share of (rollout, segment) pairs whose holistic and per-segment advantages have opposite signs.

    holistic_adv (B,), segment_adv (B, S), segment_mask (B, S) bool (expected segments). Pairs where either
    advantage is exactly 0 (zero-variance groups, a rollout at the group mean) have no sign and are left out;
    None when no pair is left.

    >>> misattribution_rate(torch.tensor([1.0, -1.0]), torch.tensor([[0.5, -0.2], [0.3, 0.0]]),
    ...                     torch.tensor([[True, True], [True, True]]))
    0.6666666666666666
    """
    a = holistic_adv[:, None].expand_as(segment_adv)        # (B, S)
    valid = segment_mask & (a != 0) & (segment_adv != 0)    # (B, S)
    n = int(valid.sum())
    if n == 0:
        return None
    wrong = (torch.sign(a) != torch.sign(segment_adv)) & valid
    return int(wrong.sum()) / n


def group_diagnostics(segment_rewards: Tensor) -> dict[str, float | None]:
    """Statistics of one prompt's G rollouts with K segments each. segment_rewards (G, K), missing = 0.

    Holistic R_i = mean_k r_{i,k}; A_i and a_{i,k} are GRPO's z-scores (eps = 0: a zero-variance group or
    segment has no sign and is left out). Returns:
      wrong_pairs / sign_pairs   (rollout, segment) pairs with opposite / any defined signs
      corr                       Pearson corr over the group's pairs of (A_i, a_{i,k}) (None: undefined)
      c_hat                      mean pairwise correlation between segments' rewards across the G rollouts
                                 (segment pairs with zero variance left out; None when K = 1 or none is left)

    >>> d = group_diagnostics(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]]))
    >>> d["wrong_pairs"], d["sign_pairs"], round(d["c_hat"], 3)
    (0, 4, 0.0)
    """
    from sdbench.rl.advantages import holistic_advantages, segment_advantages

    g, k = segment_rewards.shape
    rewards = segment_rewards.float()
    hol = holistic_advantages(rewards.mean(dim=1), g, eps=0.0)                            # (G,)
    mask = torch.ones(g, k, dtype=torch.bool)
    seg = segment_advantages(rewards, mask, mask, g, eps=0.0)                             # (G, K)
    a = hol[:, None].expand(g, k)                                                         # (G, K)
    valid = (a != 0) & (seg != 0)
    wrong = int(((torch.sign(a) != torch.sign(seg)) & valid).sum())
    corr = _pearson(a.reshape(-1), seg.reshape(-1))
    pair_corrs = [_pearson(rewards[:, i], rewards[:, j]) for i in range(k) for j in range(i + 1, k)]
    pair_corrs = [c for c in pair_corrs if c is not None]
    return {"wrong_pairs": wrong, "sign_pairs": int(valid.sum()), "corr": corr,
            "c_hat": sum(pair_corrs) / len(pair_corrs) if pair_corrs else None}


def diagnostics_by_k(groups: list[Tensor], num_resamples: int = 1000, seed: int = 0) -> dict[str, dict]:
    """Misattribution vs K from many prompts' (G, K) reward matrices.

    Per K: the measured wrong-sign rate (pooled over pairs) with a bootstrap CI over prompts, the mean
    corr(A, a) and ĉ (with CIs), the closed form P_wrong(K, ĉ) and P_wrong(K, 0), counts, and the signal a
    per-segment estimator has: the mean within-group standard deviation of a segment's reward (with its CI over
    prompts) and the share of (prompt, segment) columns whose G rewards are all equal (no gradient there)."""
    import numpy as np

    from sdbench.core.stats import bootstrap_ci

    per_k: dict[int, list[dict]] = {}
    spread: dict[int, list[Tensor]] = {}
    for rewards in groups:                                                              # (G, K)
        per_k.setdefault(int(rewards.shape[1]), []).append(group_diagnostics(rewards))
        spread.setdefault(int(rewards.shape[1]), []).append(rewards.double().std(dim=0, unbiased=False))  # (K,)
    out: dict[str, dict] = {}
    for k, stats in sorted(per_k.items()):
        wrong = np.array([s["wrong_pairs"] for s in stats], dtype=float)
        pairs = np.array([s["sign_pairs"] for s in stats], dtype=float)
        rate = float(wrong.sum() / pairs.sum()) if pairs.sum() else None
        rng = np.random.default_rng(seed)
        boots = []
        for _ in range(num_resamples if pairs.sum() else 0):
            idx = rng.integers(0, len(stats), len(stats))
            if pairs[idx].sum():
                boots.append(wrong[idx].sum() / pairs[idx].sum())
        c_values = [s["c_hat"] for s in stats if s["c_hat"] is not None]
        c_hat = bootstrap_ci(c_values, seed=seed)
        corr = bootstrap_ci([s["corr"] for s in stats if s["corr"] is not None], seed=seed)
        out[str(k)] = {
            "num_prompts": len(stats), "num_pairs": int(pairs.sum()),
            "misattribution_rate": {"mean": rate,
                                    "ci_low": float(np.quantile(boots, 0.025)) if boots else None,
                                    "ci_high": float(np.quantile(boots, 0.975)) if boots else None},
            "corr_holistic_segment": corr, "c_hat": c_hat,
            "theory_at_c_hat": theoretical_misattribution(k, c_hat["mean"] if c_hat["mean"] is not None else 0.0),
            "theory_independent": theoretical_misattribution(k, 0.0),
            "segment_reward_std": bootstrap_ci([float(col.mean()) for col in spread[k]], seed=seed),
            "flat_segment_fraction": float(sum(int((col == 0).sum()) for col in spread[k])
                                           / sum(col.numel() for col in spread[k])),
        }
    return out


def _pearson(x: Tensor, y: Tensor) -> float | None:
    x, y = x.double() - x.double().mean(), y.double() - y.double().mean()
    denom = float((x.pow(2).sum() * y.pow(2).sum()).sqrt())
    return float((x * y).sum()) / denom if denom > 0 else None
