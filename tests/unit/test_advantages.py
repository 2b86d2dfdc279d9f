"""Advantage estimators on hand-computed tensors, the equivalences between methods, and never-NaN.

    .venv/bin/python -m pytest tests/unit/test_advantages.py -q -p no:cacheprovider

The batch below (P=2 prompts, G=3 rollouts, S=2, T=5) is chosen so that every group's rewards are
x, x ± d/2 (z-scores −1, 0, 1, hand-checkable); the expected tensors are written out by hand from the
rules in the module docstring of sdbench/rl/advantages.py.
"""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sdbench.rl.advantages import (
    ADVANTAGE_ESTIMATORS,
    AdvantageInputs,
    dr_grpo_advantages,
    get_advantage_estimator,
    grpo_advantages,
    holistic_advantages,
    hybrid_advantages,
    sd_dr_grpo_advantages,
    sd_grpo_advantages,
    segment_advantages,
)

G = 3
nan = math.nan


def tiny_batch() -> AdvantageInputs:
    """Prompt 0 (rows 0-2) expects 2 segments, prompt 1 (rows 3-5) expects 1 (segment 1 masked out).

    holistic R:      [0.5, 0.1, 0.3 | 0.3, 0.1, 0.2] -> z [1, -1, 0 | 1, -1, 0], centred [.2, -.2, 0 | .1, -.1, 0]
    segment 0:       [1.0, 0.0, 0.5 | 0.5, (missing, 0.9 ignored -> 0), 1.0] -> z [1, -1, 0 | 0, -1, 1]
                     centred [.5, -.5, 0 | 0, -.5, .5]
    segment 1:       [0.4, 0.2, 0.6 | not expected (NaN ignored)] -> z [0, -1, 1 | 0, 0, 0]
                     centred [0, -.2, .2 | 0, 0, 0]
    """
    return AdvantageInputs(
        rewards=torch.tensor([0.5, 0.1, 0.3, 0.3, 0.1, 0.2]),
        segment_rewards=torch.tensor([[1.0, 0.4], [0.0, 0.2], [0.5, 0.6], [0.5, nan], [0.9, nan], [1.0, nan]]),
        segment_mask=torch.tensor([[True, True]] * 3 + [[True, False]] * 3),
        segment_found=torch.tensor([[True, True]] * 3 + [[True, False], [False, False], [True, False]]),
        token_segment_ids=torch.tensor([
            [-1, 0, 0, 1, 1],     # label, segment 0, segment 1
            [-1, 0, -1, 1, -1],   # label, seg 0, label, seg 1, padding
            [0, 0, 1, 1, -1],     # no label, EOS at the end
            [-1, 0, 0, 0, -1],    # label, segment 0, EOS
            [-1, -1, -1, -1, -1],  # segment 0 missing: 3 outside tokens, 2 padding
            [0, 0, 0, 1, -1],     # token in segment 1, which prompt 1 does not expect -> outside; padding
        ]),
        completion_mask=torch.tensor([
            [1, 1, 1, 1, 1],
            [1, 1, 1, 1, 0],
            [1, 1, 1, 1, 1],
            [1, 1, 1, 1, 1],
            [1, 1, 1, 0, 0],
            [1, 1, 1, 1, 0],
        ]),
    )


def t(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


# --- hand-computed values of each method ---------------------------------------------------------------------


def test_grpo_hand_computed():
    expected = t([[1] * 5, [-1, -1, -1, -1, 0], [0] * 5, [1] * 5, [-1, -1, -1, 0, 0], [0] * 5])
    torch.testing.assert_close(grpo_advantages(tiny_batch(), G, eps=0.0), expected)


def test_grpo_default_eps_is_trls_1e_4():
    # group 0: centred 0.2, std 0.2 -> 0.2 / (0.2 + 1e-4)
    got = grpo_advantages(tiny_batch(), G)
    assert got[0, 0].item() == pytest.approx(0.2 / 0.2001, rel=1e-6)
    assert got[0, 0].item() < 1.0


def test_dr_grpo_hand_computed():
    expected = t([[0.2] * 5, [-0.2] * 4 + [0], [0] * 5, [0.1] * 5, [-0.1] * 3 + [0, 0], [0] * 5])
    torch.testing.assert_close(dr_grpo_advantages(tiny_batch(), G), expected)


def test_segment_advantages_hand_computed():
    inputs = tiny_batch()
    z = segment_advantages(inputs.segment_rewards, inputs.segment_mask, inputs.segment_found, G, eps=0.0)
    torch.testing.assert_close(z, t([[1, 0], [-1, -1], [0, 1], [0, 0], [-1, 0], [1, 0]]))
    centred = segment_advantages(inputs.segment_rewards, inputs.segment_mask, inputs.segment_found, G,
                                 scale_by_std=False)
    torch.testing.assert_close(centred, t([[0.5, 0], [-0.5, -0.2], [0, 0.2], [0, 0], [-0.5, 0], [0.5, 0]]))


def test_sd_grpo_outside_holistic_hand_computed():
    expected = t([
        [1, 1, 1, 0, 0],      # label gets A_0 = 1; segment 0 a=1; segment 1 a=0
        [-1, -1, -1, -1, 0],  # labels get A_1 = -1; seg 0 a=-1; seg 1 a=-1; padding 0
        [0, 0, 1, 1, 0],      # EOS gets A_2 = 0
        [1, 0, 0, 0, 1],      # label and EOS get A_3 = 1; seg 0 a=0
        [-1, -1, -1, 0, 0],   # all outside: A_4 = -1
        [1, 1, 1, 0, 0],      # seg 0 a=1; the unexpected segment-1 token gets A_5 = 0
    ])
    torch.testing.assert_close(sd_grpo_advantages(tiny_batch(), G, eps=0.0), expected)


def test_sd_grpo_outside_zero_hand_computed():
    expected = t([[0, 1, 1, 0, 0], [0, -1, 0, -1, 0], [0, 0, 1, 1, 0], [0] * 5, [0] * 5, [1, 1, 1, 0, 0]])
    torch.testing.assert_close(sd_grpo_advantages(tiny_batch(), G, outside="zero", eps=0.0), expected)


def test_sd_grpo_outside_mean_hand_computed():
    # mean of a over expected segments: [0.5, -1, 0.5, 0, -1 (the missing segment's a), 1]
    expected = t([
        [0.5, 1, 1, 0, 0],
        [-1, -1, -1, -1, 0],
        [0, 0, 1, 1, 0.5],
        [0, 0, 0, 0, 0],
        [-1, -1, -1, 0, 0],
        [1, 1, 1, 1, 0],
    ])
    torch.testing.assert_close(sd_grpo_advantages(tiny_batch(), G, outside="mean", eps=0.0), expected)


def test_sd_dr_grpo_hand_computed():
    expected = t([
        [0.2, 0.5, 0.5, 0, 0],
        [-0.2, -0.5, -0.2, -0.2, 0],
        [0, 0, 0.2, 0.2, 0],
        [0.1, 0, 0, 0, 0.1],
        [-0.1, -0.1, -0.1, 0, 0],
        [0.5, 0.5, 0.5, 0, 0],
    ])
    torch.testing.assert_close(sd_dr_grpo_advantages(tiny_batch(), G), expected)


def test_hybrid_hand_computed():
    # 0.25 * grpo + 0.75 * sd-grpo (outside = holistic)
    expected = t([
        [1, 1, 1, 0.25, 0.25],
        [-1, -1, -1, -1, 0],
        [0, 0, 0.75, 0.75, 0],
        [1, 0.25, 0.25, 0.25, 1],
        [-1, -1, -1, 0, 0],
        [0.75, 0.75, 0.75, 0, 0],
    ])
    torch.testing.assert_close(hybrid_advantages(tiny_batch(), G, hybrid_lambda=0.25, eps=0.0), expected)


def test_hybrid_without_std_blends_dr_grpo_with_sd_dr_grpo():
    inputs = tiny_batch()
    got = hybrid_advantages(inputs, G, hybrid_lambda=0.5, scale_by_std=False)
    expected = 0.5 * dr_grpo_advantages(inputs, G) + 0.5 * sd_dr_grpo_advantages(inputs, G)
    torch.testing.assert_close(got, expected)
    assert got[0, 0].item() == pytest.approx(0.2)  # label token: Dr. GRPO's A_0 under both halves


def test_missing_segment_reward_is_zero_whatever_the_input():
    inputs = tiny_batch()
    changed = AdvantageInputs(**{**inputs.__dict__, "segment_rewards": inputs.segment_rewards.clone()})
    changed.segment_rewards[4, 0] = -123.0  # the missing segment: must still count as 0
    assert torch.equal(sd_grpo_advantages(changed, G, outside="mean"), sd_grpo_advantages(inputs, G, outside="mean"))


def test_missing_segment_takes_part_in_group_statistics():
    """Only the rollout that skipped segment 0 is penalised; without it in the statistics, the two others
    would have equal rewards (0.5 and 0.5) and get 0."""
    inputs = AdvantageInputs(
        rewards=torch.zeros(3),
        segment_rewards=torch.tensor([[0.5], [0.5], [0.0]]),
        segment_mask=torch.ones(3, 1, dtype=torch.bool),
        segment_found=torch.tensor([[True], [True], [False]]),
        token_segment_ids=torch.zeros(3, 2, dtype=torch.long),
        completion_mask=torch.ones(3, 2),
    )
    got = sd_dr_grpo_advantages(inputs, 3, outside="mean")
    torch.testing.assert_close(got[:, 0], t([1 / 6, 1 / 6, -1 / 3]))


# --- equivalences ----------------------------------------------------------------------------------------------


def one_segment_batch(rewards: torch.Tensor, label_tokens: int = 0) -> AdvantageInputs:
    """K = 1: segment reward = holistic reward; the first `label_tokens` tokens are a label (outside)."""
    num_rollouts, num_tokens = rewards.shape[0], 6
    ids = torch.zeros(num_rollouts, num_tokens, dtype=torch.long)
    ids[:, :label_tokens] = -1
    mask = torch.ones(num_rollouts, num_tokens)
    mask[1, 4:] = 0  # some padding
    return AdvantageInputs(
        rewards=rewards, segment_rewards=rewards[:, None].clone(),
        segment_mask=torch.ones(num_rollouts, 1, dtype=torch.bool),
        segment_found=torch.ones(num_rollouts, 1, dtype=torch.bool),
        token_segment_ids=ids, completion_mask=mask)


REWARDS_P2_G3 = torch.tensor([1.0, 0.0, 0.25, 0.7, 0.7, 0.7])  # group 2 has zero variance


@pytest.mark.parametrize("outside", ["holistic", "zero", "mean"])
def test_sd_grpo_with_one_segment_equals_grpo(outside):
    inputs = one_segment_batch(REWARDS_P2_G3)
    got = sd_grpo_advantages(inputs, G, outside=outside)
    assert torch.equal(got, grpo_advantages(inputs, G))
    assert got.abs().sum() > 0


@pytest.mark.parametrize("outside", ["holistic", "mean"])
def test_sd_grpo_with_one_segment_and_a_label_equals_grpo(outside):
    inputs = one_segment_batch(REWARDS_P2_G3, label_tokens=2)
    assert torch.equal(sd_grpo_advantages(inputs, G, outside=outside), grpo_advantages(inputs, G))


def test_sd_grpo_with_one_segment_and_outside_zero_leaves_the_label_out():
    inputs = one_segment_batch(REWARDS_P2_G3, label_tokens=2)
    got = sd_grpo_advantages(inputs, G, outside="zero")
    assert torch.equal(got[:, :2], torch.zeros(6, 2))
    assert torch.equal(got[:, 2:], grpo_advantages(inputs, G)[:, 2:])


@pytest.mark.parametrize("outside", ["holistic", "zero", "mean"])
def test_sd_dr_grpo_with_one_segment_equals_dr_grpo(outside):
    inputs = one_segment_batch(REWARDS_P2_G3)
    assert torch.equal(sd_dr_grpo_advantages(inputs, G, outside=outside), dr_grpo_advantages(inputs, G))


@pytest.mark.parametrize("outside", ["holistic", "zero", "mean"])
def test_hybrid_lambda_one_is_the_holistic_method(outside):
    inputs = tiny_batch()
    assert torch.equal(hybrid_advantages(inputs, G, hybrid_lambda=1.0, outside=outside), grpo_advantages(inputs, G))
    assert torch.equal(hybrid_advantages(inputs, G, hybrid_lambda=1.0, scale_by_std=False, outside=outside),
                       dr_grpo_advantages(inputs, G))


@pytest.mark.parametrize("outside", ["holistic", "zero", "mean"])
def test_hybrid_lambda_zero_is_sd_grpo(outside):
    inputs = tiny_batch()
    assert torch.equal(hybrid_advantages(inputs, G, hybrid_lambda=0.0, outside=outside),
                       sd_grpo_advantages(inputs, G, outside=outside))
    assert torch.equal(hybrid_advantages(inputs, G, hybrid_lambda=0.0, scale_by_std=False, outside=outside),
                       sd_dr_grpo_advantages(inputs, G, outside=outside))


def test_grpo_matches_torch_std_formula():
    """(R − mean) / (unbiased torch.std + eps), as TRL computes it."""
    rewards = torch.tensor([0.3, 1.7, -2.0, 0.9, 0.1, 0.4, 5.0, 5.5])
    grouped = rewards.view(2, 4)
    expected = ((grouped - grouped.mean(1, keepdim=True)) / (grouped.std(1, keepdim=True) + 1e-4)).view(-1)
    torch.testing.assert_close(holistic_advantages(rewards, 4), expected)


# --- zero variance and never NaN -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0.0, 0.1, 1 / 3, 7.3, -1e5])
@pytest.mark.parametrize("scale_by_std", [True, False])
def test_equal_rewards_give_exactly_zero(value, scale_by_std):
    rewards = torch.full((5,), value)
    assert torch.equal(holistic_advantages(rewards, 5, scale_by_std=scale_by_std), torch.zeros(5))
    assert torch.equal(holistic_advantages(rewards, 5, scale_by_std=scale_by_std, eps=0.0), torch.zeros(5))


def test_group_of_one_gives_zero():
    assert torch.equal(holistic_advantages(torch.tensor([0.3, 2.0]), 1), torch.zeros(2))


@st.composite
def random_inputs(draw):
    num_prompts = draw(st.integers(1, 3))
    group_size = draw(st.integers(1, 4))
    num_segments = draw(st.integers(1, 4))
    num_tokens = draw(st.integers(1, 6))
    num_rollouts = num_prompts * group_size
    reward = st.floats(-1e6, 1e6, allow_nan=False, width=32)
    flat = lambda n, s: draw(st.lists(s, min_size=n, max_size=n))  # noqa: E731
    segment_rewards = torch.tensor(flat(num_rollouts * num_segments, reward)).view(num_rollouts, num_segments)
    segment_mask = torch.tensor(flat(num_rollouts * num_segments, st.booleans())).view(num_rollouts, num_segments)
    segment_found = torch.tensor(flat(num_rollouts * num_segments, st.booleans())).view(num_rollouts, num_segments)
    segment_rewards = torch.where(segment_found & segment_mask, segment_rewards, torch.nan)  # NaN where unused
    ids = torch.tensor(flat(num_rollouts * num_tokens, st.integers(-2, num_segments - 1))).view(num_rollouts, -1)
    completion_mask = torch.tensor(flat(num_rollouts * num_tokens, st.booleans())).view(num_rollouts, -1)
    inputs = AdvantageInputs(rewards=torch.tensor(flat(num_rollouts, reward)), segment_rewards=segment_rewards,
                             segment_mask=segment_mask, segment_found=segment_found,
                             token_segment_ids=ids, completion_mask=completion_mask)
    return inputs, group_size


@settings(max_examples=300, deadline=None)
@given(random_inputs(), st.sampled_from(sorted(ADVANTAGE_ESTIMATORS)), st.sampled_from(["holistic", "zero", "mean"]),
       st.sampled_from([0.0, 1e-4]))
def test_any_rewards_any_masks_give_finite_advantages(drawn, method, outside, eps):
    inputs, group_size = drawn
    kwargs = {} if method in ("grpo", "dr-grpo") else {"outside": outside}
    if method in ("grpo", "sd-grpo", "hybrid"):
        kwargs["eps"] = eps
    got = ADVANTAGE_ESTIMATORS[method](inputs, group_size, **kwargs)
    assert got.shape == inputs.completion_mask.shape
    assert torch.isfinite(got).all()
    assert torch.equal(got[~inputs.completion_mask], torch.zeros_like(got[~inputs.completion_mask]))


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 4), st.integers(2, 5), st.floats(-1e6, 1e6, allow_nan=False, width=32), st.booleans())
def test_zero_variance_group_is_exactly_zero_among_others(num_prompts, group_size, value, scale_by_std):
    rewards = torch.linspace(-1, 1, num_prompts * group_size)
    rewards[:group_size] = value  # prompt 0: every rollout has the same reward
    got = holistic_advantages(rewards, group_size, scale_by_std=scale_by_std)
    assert torch.equal(got[:group_size], torch.zeros(group_size))
    assert torch.isfinite(got).all()


# --- registry and validation -----------------------------------------------------------------------------------


def test_registry_names_and_unknown_method_lists_valid_names():
    assert set(ADVANTAGE_ESTIMATORS) == {"grpo", "dr-grpo", "sd-grpo", "sd-dr-grpo", "hybrid"}
    assert get_advantage_estimator("sd-grpo") is sd_grpo_advantages
    with pytest.raises(ValueError, match="sd-dr-grpo"):
        get_advantage_estimator("sdgrpo")


def test_holistic_only_inputs_work_for_grpo_and_are_refused_by_sd_methods():
    inputs = AdvantageInputs(rewards=torch.tensor([1.0, 0.0]), completion_mask=torch.ones(2, 3))
    assert grpo_advantages(inputs, 2).shape == (2, 3)
    with pytest.raises(ValueError, match="segment_rewards"):
        sd_grpo_advantages(inputs, 2)


@pytest.mark.parametrize("change, message", [
    ({"rewards": torch.tensor([1.0, nan, 0.0, 0.0, 0.0, 0.0])}, "NaN"),
    ({"rewards": torch.ones(6, 1)}, r"\(B,\)"),
    ({"segment_mask": torch.ones(6, 2)}, "bool"),
    ({"segment_found": None}, "or none"),
    ({"token_segment_ids": torch.full((6, 5), 2)}, "< S=2"),
    ({"completion_mask": torch.ones(5, 5)}, "completion_mask"),
])
def test_invalid_inputs_raise(change, message):
    with pytest.raises(ValueError, match=message):
        AdvantageInputs(**{**tiny_batch().__dict__, **change})


def test_nan_reward_on_a_found_segment_raises():
    fields = tiny_batch().__dict__
    segment_rewards = fields["segment_rewards"].clone()
    segment_rewards[0, 1] = nan
    with pytest.raises(ValueError, match="found, expected segment"):
        AdvantageInputs(**{**fields, "segment_rewards": segment_rewards})


def test_bad_group_size_outside_rule_and_lambda_raise():
    with pytest.raises(ValueError, match="group_size=4"):
        grpo_advantages(tiny_batch(), 4)
    with pytest.raises(ValueError, match="holistic, zero, mean"):
        sd_grpo_advantages(tiny_batch(), G, outside="labels")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        hybrid_advantages(tiny_batch(), G, hybrid_lambda=1.5)

