"""Clipped policy-gradient loss on hand-computed tensors: per-token clipping, the three aggregations, the k3
KL term, gradients, statistics and padding.

    .venv/bin/python -m pytest tests/unit/test_losses.py -q -p no:cacheprovider

The batch: B=2 sequences, T=3, old log-probs 0, ratios chosen as 1.5 / 0.5 / 1.0 so that with eps 0.2 each
token is clipped high, clipped low, or not at all (per-token loss = −min(r·A, clip(r, 0.8, 1.2)·A)):

    row 0: (A=+1, r=1.5) -> -1.2 high-clipped | (A=-1, r=0.5) -> +0.8 low-clipped | (A=+2, r=1.0) -> -2.0
    row 1: (A=+1, r=0.5) -> -0.5              | (A=-1, r=1.5) -> +1.5             | padding
    sums: row 0 -2.4 over 3 tokens, row 1 +1.0 over 2 tokens
"""

import math

import pytest
import torch

from sdbench.rl.losses import LOSS_AGGREGATIONS, clipped_pg_loss, k3_kl

RATIOS = torch.tensor([[1.5, 0.5, 1.0], [0.5, 1.5, 1.0]])
ADVANTAGES = torch.tensor([[1.0, -1.0, 2.0], [1.0, -1.0, 0.0]])
MASK = torch.tensor([[1, 1, 1], [1, 1, 0]])


def logps_leaf() -> torch.Tensor:
    return torch.log(RATIOS).clone().requires_grad_(True)


@pytest.mark.parametrize("aggregation, expected", [
    ("token-mean", (-2.4 + 1.0) / 5),
    ("seq-mean-token-mean", (-2.4 / 3 + 1.0 / 2) / 2),
    ("seq-mean-token-sum-norm", (-2.4 + 1.0) / (2 * 4)),
])
def test_loss_value_per_aggregation(aggregation, expected):
    loss, _ = clipped_pg_loss(logps_leaf(), torch.zeros(2, 3), ADVANTAGES, MASK, aggregation=aggregation,
                              max_completion_length=4)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_gradient_is_zero_on_clipped_and_padded_tokens():
    """d loss / d logp = −A·r / N on unclipped tokens (token-mean, N = 5 real tokens), 0 where clipped."""
    logps = logps_leaf()
    loss, _ = clipped_pg_loss(logps, torch.zeros(2, 3), ADVANTAGES, MASK)
    loss.backward()
    expected = torch.tensor([[0.0, 0.0, -2.0 * 1.0 / 5], [-1.0 * 0.5 / 5, 1.0 * 1.5 / 5, 0.0]])
    torch.testing.assert_close(logps.grad, expected)


def test_clip_statistics():
    _, stats = clipped_pg_loss(logps_leaf(), torch.zeros(2, 3), ADVANTAGES, MASK)
    assert stats["clip_ratio/low_mean"].item() == pytest.approx(1 / 5)
    assert stats["clip_ratio/high_mean"].item() == pytest.approx(1 / 5)
    assert stats["clip_ratio/region_mean"].item() == pytest.approx(2 / 5)
    assert stats["clip_ratio/low_min"].item() == pytest.approx(0.0)  # row 1 has no low-clipped token
    assert stats["clip_ratio/high_max"].item() == pytest.approx(1 / 3)  # row 0: 1 of 3
    assert stats["ratio/mean"].item() == pytest.approx((1.5 + 0.5 + 1.0 + 0.5 + 1.5) / 5)
    assert "kl" not in stats
    assert all(not value.requires_grad for value in stats.values())


def test_asymmetric_clip_range():
    """eps_high 0.6 lets ratio 1.5 through for A > 0 (clip-higher); the low side still clips at 0.8."""
    loss, stats = clipped_pg_loss(logps_leaf(), torch.zeros(2, 3), ADVANTAGES, MASK, clip_eps_high=0.6)
    assert loss.item() == pytest.approx((-1.5 + 0.8 - 2.0 - 0.5 + 1.5) / 5, rel=1e-6)
    assert stats["clip_ratio/high_mean"].item() == 0.0
    assert stats["clip_ratio/low_mean"].item() == pytest.approx(1 / 5)


@pytest.mark.parametrize("ratio_weighted", [False, True])
def test_kl_term_k3_hand_computed(ratio_weighted):
    """ref = old = 0: KL_t = exp(−logp) + logp − 1, i.e. 1/r + log r − 1; weighted by r (TRL's default
    bias correction) or not."""
    kl_per_ratio = {r: (1 / r + math.log(r) - 1) * (r if ratio_weighted else 1.0) for r in (1.5, 0.5, 1.0)}
    kl_sum = 2 * kl_per_ratio[1.5] + 2 * kl_per_ratio[0.5] + kl_per_ratio[1.0]  # real tokens
    beta = 0.1
    loss, stats = clipped_pg_loss(logps_leaf(), torch.zeros(2, 3), ADVANTAGES, MASK, beta=beta,
                                  ref_logps=torch.zeros(2, 3), kl_ratio_weighted=ratio_weighted)
    assert loss.item() == pytest.approx((-2.4 + 1.0 + beta * kl_sum) / 5, rel=1e-6)
    assert stats["kl"].item() == pytest.approx(kl_sum / 5, rel=1e-6)


def test_k3_kl_values():
    got = k3_kl(torch.log(torch.tensor([1.5, 0.5, 1.0])), torch.zeros(3))
    torch.testing.assert_close(got, torch.tensor([1 / 1.5 + math.log(1.5) - 1, 2 + math.log(0.5) - 1, 0.0]))
    assert (k3_kl(torch.randn(100), torch.randn(100)) >= 0).all()


def test_kl_is_reported_but_not_added_when_beta_is_zero():
    loss, stats = clipped_pg_loss(logps_leaf(), torch.zeros(2, 3), ADVANTAGES, MASK, ref_logps=torch.zeros(2, 3))
    assert loss.item() == pytest.approx((-2.4 + 1.0) / 5, rel=1e-6)
    assert stats["kl"].item() > 0


def test_per_rollout_advantages_broadcast_over_tokens():
    per_rollout = torch.tensor([0.7, -0.3])
    a, _ = clipped_pg_loss(logps_leaf(), torch.zeros(2, 3), per_rollout, MASK)
    b, _ = clipped_pg_loss(logps_leaf(), torch.zeros(2, 3), per_rollout[:, None].expand(2, 3), MASK)
    assert torch.equal(a, b)


def test_on_policy_old_logps_none_gives_ratio_one():
    """old_logps=None -> logps.detach(): ratio 1, loss = −mean(A), gradient = −A / N."""
    logps = logps_leaf()
    loss, stats = clipped_pg_loss(logps, None, ADVANTAGES, MASK)
    assert loss.item() == pytest.approx(-(1 - 1 + 2 + 1 - 1) / 5)
    assert stats["clip_ratio/region_mean"].item() == 0.0
    loss.backward()
    torch.testing.assert_close(logps.grad, -ADVANTAGES * MASK / 5)


def test_padding_with_infinite_logps_stays_out_of_loss_and_gradient():
    logps = torch.log(RATIOS).clone()
    logps[1, 2] = -math.inf
    logps.requires_grad_(True)
    old = torch.zeros(2, 3)
    old[1, 2] = math.nan
    loss, stats = clipped_pg_loss(logps, old, ADVANTAGES, MASK, beta=0.1, ref_logps=torch.zeros(2, 3))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logps.grad).all()
    assert logps.grad[1, 2].item() == 0.0
    assert all(torch.isfinite(value) for value in stats.values())


def test_empty_batch_is_zero_not_nan():
    for aggregation in LOSS_AGGREGATIONS:
        loss, stats = clipped_pg_loss(torch.zeros(2, 3), None, torch.ones(2), torch.zeros(2, 3),
                                      aggregation=aggregation, max_completion_length=3)
        assert loss.item() == 0.0
        assert all(value.item() == 0.0 for name, value in stats.items() if name != "ratio/mean")


def test_errors_say_what_is_missing():
    with pytest.raises(ValueError, match="max_completion_length"):
        clipped_pg_loss(logps_leaf(), None, ADVANTAGES, MASK, aggregation="seq-mean-token-sum-norm")
    with pytest.raises(ValueError, match="ref_logps"):
        clipped_pg_loss(logps_leaf(), None, ADVANTAGES, MASK, beta=0.1)
    with pytest.raises(ValueError, match="token-mean"):
        clipped_pg_loss(logps_leaf(), None, ADVANTAGES, MASK, aggregation="bnpo")
