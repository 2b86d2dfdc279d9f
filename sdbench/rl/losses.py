"""Clipped policy-gradient loss on per-token advantages, with an optional KL penalty and TRL's aggregations.

What: `clipped_pg_loss(logps, old_logps, advantages, completion_mask, ...) -> (loss, stats)`. Per token
(PPO / GRPO clipped surrogate, two-sided clip range as DAPO's "clip-higher"):

    ratio = exp(logp − old_logp)
    loss_t = −min(ratio · A_t, clip(ratio, 1 − eps_low, 1 + eps_high) · A_t) + beta · w_t · KL_t
    KL_t = exp(ref − logp) − (ref − logp) − 1          (k3 estimator, Schulman 2020; TRL's per_token_kl)
    w_t = ratio (kl_ratio_weighted=True, the default) or 1

w_t = ratio makes the KL gradient the unbiased reverse-KL gradient when samples come from the old policy
(DeepSeek-V3.2, arXiv 2512.02556); TRL 1.16 does this by default (`use_bias_correction_kl=True`). The ratio is
not detached, so it changes the gradient even on-policy, where its value is 1; kl_ratio_weighted=False is the
DeepSeekMath GRPO penalty (TRL `use_bias_correction_kl=False`).

then one scalar by `aggregation`, picked from `LOSS_AGGREGATIONS` (names as verl's `loss_agg_mode`):

| aggregation | formula over real tokens (mask) | TRL GRPOTrainer `loss_type` it equals |
|---|---|---|
| `token-mean` | Σ_{b,t} loss / Σ_{b,t} mask | `bnpo`; and `dapo` when one process holds the whole generation batch (its normaliser is `num_items_in_batch`, the batch's token count) |
| `seq-mean-token-mean` | mean_b (Σ_t loss / Σ_t mask) | `grpo` |
| `seq-mean-token-sum-norm` | Σ_{b,t} loss / (B · max_completion_length) | `dr_grpo` (Dr. GRPO's constant normaliser) |

tests/equivalence/test_trl_equivalence.py checks loss, gradient and clip statistics against TRL 1.16's own
`GRPOTrainer._compute_loss` to 1e-6, with (B,) and (B, T) advantages, with and without KL.

Why: one loss for every method, so methods differ only in their advantages; pure tensors in, a scalar and
a dict of statistics out (no trainer state), so it is tested by hand-computed tensors.

Stats (detached 0-dim tensors; call float() to log), named as TRL logs them:
`clip_ratio/low_mean` (tokens with A < 0 whose ratio fell below 1 − eps_low, over real tokens),
`clip_ratio/high_mean` (A > 0 and ratio above 1 + eps_high), `clip_ratio/region_mean` (either),
`clip_ratio/low_min` / `clip_ratio/high_max` (min / max over non-empty sequences of the per-sequence
fraction), `kl` (mean of w_t · KL_t over real tokens, as TRL logs it; only when ref_logps is given) and
`ratio/mean`.

Padding (completion_mask 0) contributes nothing to the loss, its gradient or the stats, even where its
log-probs are -inf or NaN; a batch with no real token gives loss 0.

    >>> import torch
    >>> logps = torch.log(torch.tensor([[1.5, 1.0]]))
    >>> loss, stats = clipped_pg_loss(logps, torch.zeros(1, 2), torch.tensor([1.0]), torch.ones(1, 2))
    >>> round(loss.item(), 4), stats["clip_ratio/high_mean"].item()
    (-1.1, 0.5)
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor


class LossAggregation(Protocol):
    def __call__(self, per_token_loss: Tensor, mask: Tensor, max_completion_length: int | None) -> Tensor: ...


def token_mean(per_token_loss: Tensor, mask: Tensor, max_completion_length: int | None = None) -> Tensor:
    """per_token_loss (B, T), mask (B, T) float. Every real token of the batch weighs the same (TRL "bnpo"/"dapo")."""
    return (per_token_loss * mask).sum() / mask.sum().clamp(min=1.0)


def seq_mean_token_mean(per_token_loss: Tensor, mask: Tensor, max_completion_length: int | None = None) -> Tensor:
    """Mean over each sequence's tokens, then over sequences (TRL "grpo"): a short completion's tokens weigh
    more than a long one's."""
    per_sequence = (per_token_loss * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)  # (B,)
    return per_sequence.mean()


def seq_mean_token_sum_norm(per_token_loss: Tensor, mask: Tensor, max_completion_length: int | None) -> Tensor:
    """Sum over all tokens / (B · max_completion_length): Dr. GRPO's constant normaliser (TRL "dr_grpo"), no
    length bias. max_completion_length is the generation limit, not this batch's T."""
    if max_completion_length is None or max_completion_length <= 0:
        raise ValueError("aggregation 'seq-mean-token-sum-norm' needs max_completion_length > 0 "
                         "(the generation limit, as TRL's GRPOConfig.max_completion_length)")
    return (per_token_loss * mask).sum() / (per_token_loss.shape[0] * max_completion_length)


LOSS_AGGREGATIONS: dict[str, LossAggregation] = {
    "token-mean": token_mean,
    "seq-mean-token-mean": seq_mean_token_mean,
    "seq-mean-token-sum-norm": seq_mean_token_sum_norm,
}


def k3_kl(logps: Tensor, ref_logps: Tensor) -> Tensor:
    """Per-token k3 estimate of KL(π ‖ π_ref) (B, T): exp(ref − logp) − (ref − logp) − 1 ≥ 0."""
    delta = ref_logps - logps                                             # (B, T)
    return torch.exp(delta) - delta - 1


def clipped_pg_loss(logps: Tensor, old_logps: Tensor | None, advantages: Tensor, completion_mask: Tensor, *,
                    clip_eps_low: float = 0.2, clip_eps_high: float = 0.2, beta: float = 0.0,
                    ref_logps: Tensor | None = None, aggregation: str = "token-mean",
                    max_completion_length: int | None = None,
                    kl_ratio_weighted: bool = True) -> tuple[Tensor, dict[str, Tensor]]:
    """logps (B, T) of the policy being trained (with grad); old_logps (B, T) of the policy that sampled
    (None: on-policy, logps.detach(), as TRL); advantages (B, T), or (B,) for one value per rollout;
    completion_mask (B, T) bool or 0/1; ref_logps (B, T), needed when beta != 0. Defaults as TRL's GRPOConfig
    (epsilon 0.2, epsilon_high = epsilon, beta 0, use_bias_correction_kl True). Returns (scalar loss, stats)."""
    if aggregation not in LOSS_AGGREGATIONS:
        raise ValueError(f"unknown aggregation {aggregation!r}; valid: {', '.join(LOSS_AGGREGATIONS)}")
    if beta != 0.0 and ref_logps is None:
        raise ValueError(f"beta={beta} needs ref_logps (log-probs of the reference policy)")
    if advantages.dim() == 1:
        advantages = advantages[:, None]                                  # (B, 1), broadcasts over T
    if old_logps is None:
        old_logps = logps.detach()
    mask = completion_mask.to(logps.dtype)                                # (B, T)
    real = completion_mask.bool()                                         # (B, T)
    # padding: zero all log-probs there, so -inf / NaN padding reaches neither the loss nor the gradient
    logps = torch.where(real, logps, 0.0)
    old_logps = torch.where(real, old_logps, 0.0)
    ref_logps = None if ref_logps is None else torch.where(real, ref_logps, 0.0)

    ratio = torch.exp(logps - old_logps)                                  # (B, T)
    clipped_ratio = torch.clamp(ratio, 1 - clip_eps_low, 1 + clip_eps_high)  # (B, T)
    per_token_loss = -torch.min(ratio * advantages, clipped_ratio * advantages)  # (B, T)
    kl = None
    if ref_logps is not None:
        kl = k3_kl(logps, ref_logps)                                      # (B, T)
        if kl_ratio_weighted:
            kl = kl * ratio
        if beta != 0.0:
            per_token_loss = per_token_loss + beta * kl
    per_token_loss = torch.where(real, per_token_loss, 0.0)
    loss = LOSS_AGGREGATIONS[aggregation](per_token_loss, mask, max_completion_length)

    with torch.no_grad():
        stats = _stats(ratio, advantages, real, mask, kl, clip_eps_low, clip_eps_high)
    return loss, stats


def _stats(ratio: Tensor, advantages: Tensor, real: Tensor, mask: Tensor, kl: Tensor | None,
           clip_eps_low: float, clip_eps_high: float) -> dict[str, Tensor]:
    """Clip fractions as TRL's GRPOTrainer logs them, mean ratio and mean KL, over real tokens."""
    num_tokens = mask.sum().clamp(min=1.0)
    tokens_per_sequence = mask.sum(dim=1)                                 # (B,)
    non_empty = tokens_per_sequence > 0                                   # (B,)

    def token_mean_of(x: Tensor) -> Tensor:
        return torch.where(real, x, 0.0).sum() / num_tokens

    def sequence_fractions(x: Tensor) -> Tensor:
        return torch.where(real, x, 0.0).sum(dim=1) / tokens_per_sequence.clamp(min=1.0)  # (B,)

    low = ((ratio < 1 - clip_eps_low) & (advantages < 0)).to(mask.dtype)   # (B, T)
    high = ((ratio > 1 + clip_eps_high) & (advantages > 0)).to(mask.dtype)  # (B, T)
    low_per_sequence = sequence_fractions(low)                            # (B,)
    high_per_sequence = sequence_fractions(high)                          # (B,)
    any_sequence = non_empty.any()
    low_min = torch.where(non_empty, low_per_sequence, torch.inf).min()    # inf when every sequence is empty
    high_max = torch.where(non_empty, high_per_sequence, -torch.inf).max()
    stats = {
        "clip_ratio/low_mean": token_mean_of(low),
        "clip_ratio/high_mean": token_mean_of(high),
        "clip_ratio/region_mean": token_mean_of(torch.maximum(low, high)),
        "clip_ratio/low_min": torch.where(any_sequence, low_min, 0.0),
        "clip_ratio/high_max": torch.where(any_sequence, high_max, 0.0),
        "ratio/mean": token_mean_of(ratio),
    }
    if kl is not None:
        stats["kl"] = token_mean_of(kl)
    return {name: value.detach() for name, value in stats.items()}
