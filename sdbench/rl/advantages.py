"""Rewards -> per-token advantages (B, T): GRPO, Dr. GRPO, SD-GRPO, SD-Dr. GRPO and the hybrid.

What: five estimators with one signature, picked by `--method` from `ADVANTAGE_ESTIMATORS`:

    advantages = ADVANTAGE_ESTIMATORS[method](inputs, group_size, **method_kwargs)   # (B, T)

`inputs` is an `AdvantageInputs` (holistic rewards, segment rewards and masks, token segment ids, completion
mask). The building blocks are public too: `holistic_advantages` (B,), `segment_advantages` (B, S),
`outside_advantages` (B,) and `spread_to_tokens` (B, T); a TRL or verl subclass can call them directly.

Why: the estimator is the only place the methods differ (DESIGN.md), so each is a small pure function and the
rules that decide credit (tokens outside every segment, missing segments, zero-variance groups) are written
here once, with tests. Shapes: see the legend in `sdbench/rl/__init__.py` (P, G, B = P·G, T, S).

How (per group of G rollouts of one prompt; `centre` = r − mean over the group; `scale` = divide by the
group's unbiased std + eps, as TRL's GRPOTrainer with `scale_rewards="group"`):

| method | holistic part A_i | per-segment part a_{i,k} | token of segment k | token outside every segment |
|---|---|---|---|---|
| `grpo` | centre + scale R_i | — | A_i | A_i |
| `dr-grpo` | centre R_i (Liu et al. 2025, "Dr. GRPO": no std division) | — | A_i | A_i |
| `sd-grpo` | centre + scale R_i | centre + scale r_{i,k} over the group, per k (SD-GRPO, arXiv 2606.09871) | a_{i,k} | `outside` rule |
| `sd-dr-grpo` | centre R_i | centre r_{i,k} per k | a_{i,k} | `outside` rule |
| `hybrid` | as grpo (`scale_by_std=True`) or dr-grpo (False) | as sd-grpo (True) or sd-dr-grpo (False) | λ·A_i + (1−λ)·a_{i,k} | λ·A_i + (1−λ)·outside |

Tokens outside every segment (labels such as "Panel 2:", a preamble, text after a duplicate or unexpected
label, EOS; token segment id < 0, or the id of a segment the prompt does not expect), rule `outside`:

| `outside` | such a token gets | consequence |
|---|---|---|
| `"holistic"` (default) | the rollout's holistic advantage A_i (GRPO's or Dr. GRPO's, matching the method's scaling) | format tokens and shared context are still credited by the holistic reward, which is the only reward that judges them (DESIGN.md, entangled segments); with K = 1 and r_{i,0} = R_i every token gets GRPO's advantage exactly; hybrid leaves these tokens at A_i for any λ |
| `"zero"` | 0 | such tokens are never reinforced nor penalised: labels and shared context get no learning signal |
| `"mean"` | mean over the rollout's expected segments of a_{i,k} (missing ones included) | no holistic reward needed for these tokens; a missing segment's penalty reaches the labels and preamble |

Missing segments (expected, segment_mask True, but the model did not write it, segment_found False): the
segment's reward is taken as 0, whatever `segment_rewards` holds there (NaN is fine), and it still takes part
in its group's statistics, so writing a segment that others skipped is rewarded and skipping it is
penalised. It has no tokens, so its advantage reaches tokens only through the `"mean"` rule; under
`"holistic"` the penalty arrives through R_i when the holistic reward counts the segment (e.g. a mean of
segment rewards with 0 for missing ones). Segments a prompt does not expect (segment_mask False, k ≥ K) take
no part in any statistic, their rewards are ignored (NaN is fine), and their advantage is 0.

Zero-variance groups: when every member of a group has the same reward (all G rollouts for a holistic
reward, all rollouts expecting segment k for a segment reward), the advantage is exactly 0, with or without
the std division, and never NaN. The centred value is zeroed outright: the float32 mean of equal numbers can
miss them by an ulp, and TRL divides that ulp by (0 + 1e-4) (three rewards of 0.9 give +6e-4 each in TRL
1.16, a shift of the whole group); a zero denominator (eps = 0) gives 0. A group with one member gets 0.
Padding (completion_mask False) gets 0.

eps: 1e-4 by default, TRL's constant (`advantages / (std_rewards + 1e-4)`), so `grpo` equals TRL's
GRPOTrainer out of the box (tests/equivalence/test_trl_equivalence.py).

    >>> import torch
    >>> inputs = AdvantageInputs(rewards=torch.tensor([1.0, 0.0, 0.5]), completion_mask=torch.ones(3, 2))
    >>> ADVANTAGE_ESTIMATORS["dr-grpo"](inputs, group_size=3)
    tensor([[ 0.5000,  0.5000],
            [-0.5000, -0.5000],
            [ 0.0000,  0.0000]])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import torch
from torch import Tensor

Outside = Literal["holistic", "zero", "mean"]
OUTSIDE_RULES: tuple[str, ...] = ("holistic", "zero", "mean")
DEFAULT_EPS = 1e-4
"""Added to the group std before dividing; TRL GRPOTrainer's constant."""


@dataclass(frozen=True)
class AdvantageInputs:
    """The tensors every estimator reads. Segment fields may be None for `grpo` / `dr-grpo`.

    Construction checks shapes and dtypes and that the rewards that are used are finite (`ValueError`
    otherwise); it never modifies a tensor.
    """

    rewards: Tensor
    """(B,) float: holistic reward R_i of each rollout."""
    completion_mask: Tensor
    """(B, T) bool or 0/1: real completion tokens (False on padding)."""
    segment_rewards: Tensor | None = None
    """(B, S) float: r_{i,k}; read only where segment_mask and segment_found are True."""
    segment_mask: Tensor | None = None
    """(B, S) bool: segment k is expected for this rollout's prompt (k < K)."""
    segment_found: Tensor | None = None
    """(B, S) bool: the model wrote segment k (False for a missing segment: its reward counts as 0)."""
    token_segment_ids: Tensor | None = None
    """(B, T) long: segment index of each token, negative outside every segment (labels, preamble, EOS);
    padding is told by completion_mask, whatever its id."""

    def __post_init__(self) -> None:
        if self.rewards.dim() != 1 or not self.rewards.is_floating_point():
            raise ValueError(f"rewards must be a (B,) float tensor, got {_shape(self.rewards)} {self.rewards.dtype}")
        num_rollouts = self.rewards.shape[0]
        if self.completion_mask.dim() != 2 or self.completion_mask.shape[0] != num_rollouts:
            raise ValueError(f"completion_mask must be (B, T) with B={num_rollouts}, "
                             f"got {_shape(self.completion_mask)}")
        if not torch.isfinite(self.rewards).all():
            raise ValueError("rewards contain NaN or inf; give unscorable rollouts a real reward (e.g. 0)")
        segment_fields = (self.segment_rewards, self.segment_mask, self.segment_found, self.token_segment_ids)
        if all(field is None for field in segment_fields):
            return
        if any(field is None for field in segment_fields):
            raise ValueError("give all of segment_rewards, segment_mask, segment_found, token_segment_ids, or none")
        assert self.segment_rewards is not None and self.segment_mask is not None
        assert self.segment_found is not None and self.token_segment_ids is not None
        if self.segment_rewards.dim() != 2 or self.segment_rewards.shape[0] != num_rollouts:
            raise ValueError(f"segment_rewards must be (B, S) with B={num_rollouts}, "
                             f"got {_shape(self.segment_rewards)}")
        if not self.segment_rewards.is_floating_point():
            raise ValueError(f"segment_rewards must be float, got {self.segment_rewards.dtype}")
        for name in ("segment_mask", "segment_found"):
            value = getattr(self, name)
            if value.shape != self.segment_rewards.shape or value.dtype != torch.bool:
                raise ValueError(f"{name} must be a bool tensor of shape {_shape(self.segment_rewards)}, "
                                 f"got {_shape(value)} {value.dtype}")
        if self.token_segment_ids.shape != self.completion_mask.shape or self.token_segment_ids.is_floating_point():
            raise ValueError(f"token_segment_ids must be an integer tensor of shape {_shape(self.completion_mask)}, "
                             f"got {_shape(self.token_segment_ids)} {self.token_segment_ids.dtype}")
        num_segments = self.segment_rewards.shape[1]
        if (self.token_segment_ids >= num_segments).any():
            raise ValueError(f"token_segment_ids must be < S={num_segments} (negative = outside every segment)")
        used = self.segment_mask & self.segment_found  # (B, S)
        if not torch.isfinite(self.segment_rewards[used]).all():
            raise ValueError("segment_rewards contain NaN or inf on a found, expected segment")


def _shape(tensor: Tensor) -> tuple[int, ...]:
    return tuple(tensor.shape)


class AdvantageEstimator(Protocol):
    def __call__(self, inputs: AdvantageInputs, group_size: int, **kwargs) -> Tensor: ...


# --- building blocks ---------------------------------------------------------------------------------------


def _group_normalise(values: Tensor, members: Tensor, group_size: int, scale_by_std: bool, eps: float) -> Tensor:
    """values (B, N) float, members (B, N) bool: which entries take part in their column's group statistics.
    Centres each column within each group of G rows (and divides by unbiased std + eps if scale_by_std).
    Returns (B, N); 0 for non-members, for constant groups and for a zero denominator."""
    num_rollouts, num_columns = values.shape
    if num_rollouts % group_size:
        raise ValueError(f"B={num_rollouts} rollouts do not split into groups of group_size={group_size}")
    v = values.reshape(-1, group_size, num_columns)                      # (P, G, N)
    m = members.reshape(-1, group_size, num_columns)                     # (P, G, N)
    v = torch.where(m, v, 0.0)  # non-members (NaN allowed there) cannot leak into the sums
    n = m.sum(dim=1, keepdim=True)                                       # (P, 1, N)
    mean = v.sum(dim=1, keepdim=True) / n.clamp(min=1)                   # (P, 1, N)
    centred = torch.where(m, v - mean, 0.0)                              # (P, G, N)
    lowest = torch.where(m, v, torch.inf).amin(dim=1, keepdim=True)      # (P, 1, N)
    highest = torch.where(m, v, -torch.inf).amax(dim=1, keepdim=True)    # (P, 1, N)
    centred = torch.where(lowest == highest, 0.0, centred)  # equal rewards: exactly 0, not an ulp / eps
    if scale_by_std:
        std = ((centred**2).sum(dim=1, keepdim=True) / (n - 1).clamp(min=1)).sqrt()  # (P, 1, N), unbiased
        denominator = std + eps
        centred = torch.where(denominator > 0, centred / denominator, 0.0)
    return centred.reshape(num_rollouts, num_columns)                   # (B, N)


def _float(tensor: Tensor) -> Tensor:
    """At least float32 (bf16/fp16 rewards are computed in float32; float64 stays float64)."""
    return tensor.to(torch.promote_types(tensor.dtype, torch.float32))


def holistic_advantages(rewards: Tensor, group_size: int, scale_by_std: bool = True,
                        eps: float = DEFAULT_EPS) -> Tensor:
    """rewards (B,), rows [i·G, (i+1)·G) share prompt i. Returns A_i (B,): (R − mean) / (std + eps), std
    unbiased, or R − mean without scale_by_std (Dr. GRPO). A group of equal rewards gets exactly 0.

    >>> holistic_advantages(torch.tensor([1.0, 0.0, 0.5, 2.0, 2.0, 2.0]), group_size=3, eps=0.0)
    tensor([ 1., -1.,  0.,  0.,  0.,  0.])
    """
    members = torch.ones(rewards.shape[0], 1, dtype=torch.bool, device=rewards.device)  # (B, 1)
    return _group_normalise(_float(rewards)[:, None], members, group_size, scale_by_std, eps)[:, 0]  # (B,)


def segment_advantages(segment_rewards: Tensor, segment_mask: Tensor, segment_found: Tensor, group_size: int,
                       scale_by_std: bool = True, eps: float = DEFAULT_EPS) -> Tensor:
    """segment_rewards (B, S), segment_mask (B, S) bool (expected), segment_found (B, S) bool (written).
    Returns a_{i,k} (B, S): each segment z-scored (or only centred) across the rollouts of its group that
    expect it; a missing segment counts with reward 0; an unexpected one gets 0."""
    rewards = torch.where(segment_found, _float(segment_rewards), 0.0)   # (B, S), missing -> 0
    return _group_normalise(rewards, segment_mask, group_size, scale_by_std, eps)  # (B, S)


def outside_advantages(outside: Outside, holistic: Tensor, per_segment: Tensor, segment_mask: Tensor) -> Tensor:
    """What a token outside every segment gets, per rollout (B,), by the rule in the module docstring.
    holistic (B,), per_segment (B, S), segment_mask (B, S) bool."""
    if outside == "holistic":
        return holistic                                                   # (B,)
    if outside == "zero":
        return torch.zeros_like(holistic)                                 # (B,)
    if outside == "mean":
        total = torch.where(segment_mask, per_segment, 0.0).sum(dim=1)    # (B,)
        return total / segment_mask.sum(dim=1).clamp(min=1)               # (B,), 0 with no expected segment
    raise ValueError(f"outside={outside!r}; valid: {', '.join(OUTSIDE_RULES)}")


def spread_to_tokens(per_segment: Tensor, segment_mask: Tensor, token_segment_ids: Tensor,
                     completion_mask: Tensor, outside: Tensor) -> Tensor:
    """per_segment (B, S), segment_mask (B, S) bool, token_segment_ids (B, T) (negative: outside),
    completion_mask (B, T), outside (B,). Each token of an expected segment k gets per_segment[:, k]; every
    other real token gets outside; padding gets 0. Returns (B, T)."""
    ids = token_segment_ids.long().clamp(min=0)                           # (B, T)
    in_segment = (token_segment_ids >= 0) & segment_mask.gather(1, ids)   # (B, T)
    per_token = torch.where(in_segment, per_segment.gather(1, ids), outside[:, None])  # (B, T)
    return torch.where(completion_mask.bool(), per_token, 0.0)            # (B, T)


def _tokens(per_rollout: Tensor, completion_mask: Tensor) -> Tensor:
    """(B,) -> (B, T): the rollout's value on each real token, 0 on padding."""
    return torch.where(completion_mask.bool(), per_rollout[:, None], 0.0)  # (B, T)


def _require_segments(inputs: AdvantageInputs, method: str) -> None:
    if inputs.segment_rewards is None:
        raise ValueError(f"method {method!r} needs segment_rewards, segment_mask, segment_found and "
                         "token_segment_ids in AdvantageInputs")


def _check_outside(outside: str) -> None:
    if outside not in OUTSIDE_RULES:
        raise ValueError(f"outside={outside!r}; valid: {', '.join(OUTSIDE_RULES)}")


def _segment_decomposed(inputs: AdvantageInputs, group_size: int, scale_by_std: bool, outside: Outside,
                        eps: float, method: str) -> Tensor:
    _require_segments(inputs, method)
    _check_outside(outside)
    assert inputs.segment_rewards is not None and inputs.segment_mask is not None
    assert inputs.segment_found is not None and inputs.token_segment_ids is not None
    holistic = holistic_advantages(inputs.rewards, group_size, scale_by_std, eps)                 # (B,)
    per_segment = segment_advantages(inputs.segment_rewards, inputs.segment_mask, inputs.segment_found,
                                     group_size, scale_by_std, eps)                               # (B, S)
    rest = outside_advantages(outside, holistic, per_segment, inputs.segment_mask)                # (B,)
    return spread_to_tokens(per_segment, inputs.segment_mask, inputs.token_segment_ids,
                            inputs.completion_mask, rest)                                          # (B, T)


# --- the estimators ----------------------------------------------------------------------------------------


def grpo_advantages(inputs: AdvantageInputs, group_size: int, eps: float = DEFAULT_EPS) -> Tensor:
    """GRPO: every token of rollout i gets (R_i − mean) / (std + eps). Returns (B, T)."""
    return _tokens(holistic_advantages(inputs.rewards, group_size, True, eps), inputs.completion_mask)


def dr_grpo_advantages(inputs: AdvantageInputs, group_size: int) -> Tensor:
    """Dr. GRPO: every token of rollout i gets R_i − mean (no std division: it reweights prompts by their
    difficulty, Liu et al. 2025). Returns (B, T)."""
    return _tokens(holistic_advantages(inputs.rewards, group_size, False), inputs.completion_mask)


def sd_grpo_advantages(inputs: AdvantageInputs, group_size: int, outside: Outside = "holistic",
                       eps: float = DEFAULT_EPS) -> Tensor:
    """SD-GRPO: each token of segment k gets (r_{i,k} − mean_j r_{j,k}) / (std_j r_{j,k} + eps); tokens
    outside every segment follow `outside`. Returns (B, T)."""
    return _segment_decomposed(inputs, group_size, True, outside, eps, "sd-grpo")


def sd_dr_grpo_advantages(inputs: AdvantageInputs, group_size: int, outside: Outside = "holistic") -> Tensor:
    """SD-GRPO inside Dr. GRPO (the paper's setting): each token of segment k gets r_{i,k} − mean_j r_{j,k};
    tokens outside every segment follow `outside` (with Dr. GRPO's holistic advantage). Returns (B, T)."""
    return _segment_decomposed(inputs, group_size, False, outside, DEFAULT_EPS, "sd-dr-grpo")


def hybrid_advantages(inputs: AdvantageInputs, group_size: int, hybrid_lambda: float = 0.5,
                      scale_by_std: bool = True, outside: Outside = "holistic", eps: float = DEFAULT_EPS) -> Tensor:
    """Hybrid: λ · holistic + (1 − λ) · per-segment, token by token (SD-GRPO paper, entangled segments).
    scale_by_std=True blends GRPO with SD-GRPO, False blends Dr. GRPO with SD-Dr. GRPO. λ = 1 is exactly the
    holistic method, λ = 0 exactly the segment-decomposed one. Returns (B, T)."""
    if not 0.0 <= hybrid_lambda <= 1.0:
        raise ValueError(f"hybrid_lambda={hybrid_lambda} must lie in [0, 1]")
    holistic = _tokens(holistic_advantages(inputs.rewards, group_size, scale_by_std, eps),
                       inputs.completion_mask)                                                     # (B, T)
    per_segment = _segment_decomposed(inputs, group_size, scale_by_std, outside, eps, "hybrid")   # (B, T)
    return hybrid_lambda * holistic + (1.0 - hybrid_lambda) * per_segment                          # (B, T)


ADVANTAGE_ESTIMATORS: dict[str, AdvantageEstimator] = {
    "grpo": grpo_advantages,
    "dr-grpo": dr_grpo_advantages,
    "sd-grpo": sd_grpo_advantages,
    "sd-dr-grpo": sd_dr_grpo_advantages,
    "hybrid": hybrid_advantages,
}


def get_advantage_estimator(method: str) -> AdvantageEstimator:
    """The estimator registered as `method`; a ValueError lists the valid names."""
    try:
        return ADVANTAGE_ESTIMATORS[method]
    except KeyError:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(ADVANTAGE_ESTIMATORS)}") from None
