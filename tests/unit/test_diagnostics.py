"""sdbench.rl.diagnostics: the signal a per-segment estimator has, hand-computed."""

import pytest
import torch


def test_diagnostics_report_the_within_group_spread_of_segment_rewards():
    """Hand-computed: one K=2 group of 4 rollouts; segment 1 varies (0, 0, 1, 1: std 0.5), segment 2 is flat."""
    from sdbench.rl.diagnostics import diagnostics_by_k

    rewards = torch.tensor([[0.0, 0.3], [0.0, 0.3], [1.0, 0.3], [1.0, 0.3]])                 # (G=4, K=2)
    row = diagnostics_by_k([rewards, rewards.clone()])["2"]
    assert row["segment_reward_std"]["mean"] == pytest.approx(0.25)  # mean over segments of (0.5, 0.0)
    assert row["flat_segment_fraction"] == 0.5 and row["num_prompts"] == 2
