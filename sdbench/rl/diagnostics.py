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
