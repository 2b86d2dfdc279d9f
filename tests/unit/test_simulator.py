"""The credit-assignment simulator: closed-form misattribution, exact equivalences, determinism, claim 1,
and the `sdbench simulate` command's files.

    .venv/bin/python -m pytest tests/unit/test_simulator.py -q -p no:cacheprovider
"""

import json
import math

import pytest
import torch

from sdbench.commands.simulate import SimulateConfig, simulate
from sdbench.core.errors import SdbenchError
from sdbench.rl.diagnostics import theoretical_misattribution
from sdbench.rl.simulator import (Bandit, draw, expected_reward, method_kwargs, misattribution_rates, policy_gradient,
                                  reward_correlation, sample_arms, score, steps_to_target, train)

ROLLOUTS = 8192
SEEDS = (0, 1, 2, 3)


@pytest.fixture(autouse=True)
def one_thread():
    """The tensors are tiny: two torch threads on a shared 2-core machine make these tests 10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- (a) misattribution --------------------------------------------------------------------------------------


@pytest.mark.parametrize("c", [0.0, 0.5])
@pytest.mark.parametrize("k", [1, 2, 4, 8])
def test_measured_misattribution_matches_the_closed_form(k, c):
    """Exchangeable Gaussian segment rewards with correlation c: the wrong-sign rate of the real estimators'
    advantages is arccos(sqrt((1 + (K-1)c)/K))/π within 3 standard errors. The bound used for the standard
    error, sqrt(p(1-p)/rollouts), is conservative: a rollout's share of wrong segments has variance <= p(1-p)."""
    env = Bandit(k, noise_corr=c, noise_std=1.0, quality_scale=0.0)
    rates = misattribution_rates(env, SEEDS, ROLLOUTS, group_size=8)
    measured = sum(rates) / len(rates)
    theory = theoretical_misattribution(k, c)
    if k == 1:
        assert rates == [0.0] * len(SEEDS)  # one segment: holistic and segment advantages are the same numbers
        return
    se = math.sqrt(theory * (1 - theory) / (ROLLOUTS * len(SEEDS)))
    assert abs(measured - theory) < 3 * se, (measured, theory, se)
    # and the test can tell c apart: the other correlation's closed form is far outside the tolerance
    other = theoretical_misattribution(k, 0.5 if c == 0.0 else 0.0)
    assert abs(measured - other) > 10 * se


@pytest.mark.parametrize("env", [
    Bandit(3, noise_corr=0.3, noise_std=0.7),
    Bandit(3, noise_corr=0.3, noise_std=0.7, shared_weight=0.4),
    Bandit(3, noise_corr=0.3, noise_std=0.7, shared_weight=0.4, shared_in="holistic"),
])
def test_segment_rewards_have_the_documented_correlation(env):
    """At the uniform policy corr(r_k, r_j) is reward_correlation(env) (equations in the module docstring)."""
    m = 200_000
    d = draw([7], 1, m, env.num_segments)
    u, n = d.uniforms[:, 0], d.normals[:, 0]                                     # (1, M, K+1)
    uniform = torch.zeros(1, env.num_segments, env.num_arms, dtype=torch.float64)
    shared = sample_arms(torch.zeros(1, 1, env.num_arms, dtype=torch.float64), u[..., -1:])[..., 0]
    r, big_r = score(env, sample_arms(uniform, u[..., :-1]), shared if env.has_shared else None, n)
    corr = torch.corrcoef(r[0].T)                                                # (K, K)
    off = corr[~torch.eye(env.num_segments, dtype=torch.bool)]
    assert off.sub(reward_correlation(env)).abs().max() < 0.01, (off, reward_correlation(env))
    assert big_r.mean() == pytest.approx(0.5, abs=0.01)                          # uniform policy earns 0.5


# --- building blocks -----------------------------------------------------------------------------------------


def test_sample_arms_inverts_the_softmax_cdf():
    logits = torch.log(torch.tensor([[[0.25, 0.75]]], dtype=torch.float64))     # (1, 1, 2)
    uniforms = torch.tensor([[[0.1], [0.3], [0.9], [0.2499]]], dtype=torch.float64)  # (1, 4, 1)
    assert sample_arms(logits, uniforms)[0, :, 0].tolist() == [0, 1, 1, 0]


def test_policy_gradient_is_the_autograd_gradient():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)      # (N, K, A)
    choices = torch.randint(0, 4, (2, 5, 3))                                     # (N, M, K)
    adv = torch.randn(2, 5, 3, dtype=torch.float64)                              # (N, M, K)
    logp = logits.log_softmax(-1)[:, None].expand(2, 5, 3, 4).gather(-1, choices[..., None])[..., 0]  # (N, M, K)
    (adv * logp).mean(1).sum().backward()
    torch.testing.assert_close(policy_gradient(logits.detach(), choices, adv), logits.grad)


def test_expected_reward_is_one_half_at_the_start_and_one_at_the_optimum():
    env = Bandit(2, shared_weight=0.3)
    start = torch.zeros(1, 2, 4, dtype=torch.float64)
    best = torch.tensor([-50.0, -50.0, -50.0, 50.0], dtype=torch.float64).expand(1, 2, 4)
    assert expected_reward(env, start, start[:, :1]).item() == pytest.approx(0.5)
    assert expected_reward(env, best, best[:, :1]).item() == pytest.approx(1.0)


def test_tokens_are_one_per_segment_plus_the_shared_one_outside():
    assert Bandit(3).num_tokens == 3 and Bandit(3, shared_weight=0.2).num_tokens == 4
    from sdbench.rl.simulator import advantage_inputs
    inputs = advantage_inputs(Bandit(3, shared_weight=0.2), torch.zeros(2, 4, 3, dtype=torch.float64),
                              torch.zeros(2, 4, dtype=torch.float64))
    assert inputs.token_segment_ids[0].tolist() == [0, 1, 2, -1] and inputs.rewards.shape == (8,)


# --- training: determinism and exact equivalences ------------------------------------------------------------


def test_a_seed_gives_the_same_trajectory_alone_in_a_batch_or_with_more_steps():
    env = Bandit(3, shared_weight=0.3, noise_corr=0.2)
    kwargs = method_kwargs("hybrid", "mean", 0.3)
    both = train(env, "hybrid", [5, 6], 30, 0.5, **kwargs).expected_reward
    again = train(env, "hybrid", [5, 6], 30, 0.5, **kwargs).expected_reward
    alone = train(env, "hybrid", [6], 30, 0.5, **kwargs).expected_reward
    longer = train(env, "hybrid", [5, 6], 40, 0.5, **kwargs).expected_reward
    assert torch.equal(both, again)
    assert torch.equal(both[1:], alone)
    assert torch.equal(both, longer[:, :31])
    assert not torch.equal(both[0], both[1])


@pytest.mark.parametrize("outside", ["holistic", "zero", "mean"])
@pytest.mark.parametrize("scale_by_std", [True, False])
def test_hybrid_ends_are_exactly_the_pure_methods(outside, scale_by_std):
    """λ = 0 is SD-GRPO (SD-Dr. GRPO) and λ = 1 is GRPO (Dr. GRPO), bit for bit, on entangled segments."""
    env = Bandit(3, shared_weight=0.4, noise_corr=0.3)
    seeds = [0, 1]
    holistic, decomposed = ("grpo", "sd-grpo") if scale_by_std else ("dr-grpo", "sd-dr-grpo")

    def run(method, **kwargs):
        return train(env, method, seeds, 25, 0.5, **kwargs)

    lam0 = run("hybrid", **method_kwargs("hybrid", outside, 0.0, scale_by_std))
    lam1 = run("hybrid", **method_kwargs("hybrid", outside, 1.0, scale_by_std))
    assert torch.equal(lam0.expected_reward, run(decomposed, **method_kwargs(decomposed, outside)).expected_reward)
    assert torch.equal(lam1.expected_reward, run(holistic).expected_reward)
    assert not torch.equal(lam0.expected_reward, lam1.expected_reward)


def test_one_segment_sd_grpo_is_grpo():
    env = Bandit(1)
    assert torch.equal(train(env, "grpo", [0, 1], 20, 0.5).expected_reward,
                       train(env, "sd-grpo", [0, 1], 20, 0.5).expected_reward)


def test_outside_zero_never_moves_the_shared_decision_under_sd_grpo():
    env = Bandit(2, shared_weight=0.5)
    zero = train(env, "sd-grpo", [0, 1], 30, 0.5, outside="zero")
    holistic = train(env, "sd-grpo", [0, 1], 30, 0.5, outside="holistic")
    assert torch.all(zero.shared_reward == 0.5)
    assert holistic.shared_reward[:, -1].min() > 0.6


# --- (b) the paper's claim 1 ---------------------------------------------------------------------------------


def test_sd_grpo_reaches_the_target_much_sooner_than_grpo_at_k8():
    """Independent segments, K = 8: SD-GRPO needs less than half GRPO's steps (measured ≈ 41 vs ≈ 118 with
    the defaults over 16 seeds), and SD-Dr. GRPO less than half Dr. GRPO's; at K = 1 they coincide (above)."""
    env = Bandit(8, noise_std=1.0)
    seeds = [0, 1, 2, 3]
    d = draw(seeds, 200, 32, 8)
    steps = {m: steps_to_target(train(env, m, seeds, 200, 0.5, draws=d, **method_kwargs(m)).expected_reward,
                                0.9).double().mean().item()
             for m in ("grpo", "sd-grpo", "dr-grpo", "sd-dr-grpo")}
    assert 2 * steps["sd-grpo"] < steps["grpo"], steps
    assert 2 * steps["sd-dr-grpo"] < steps["dr-grpo"], steps


# --- the command ---------------------------------------------------------------------------------------------


def test_simulate_writes_its_files(tmp_path, capsys):
    cfg = SimulateConfig(out=tmp_path / "sim", num_seeds=2, segments=(1, 2), misattribution_rollouts=256,
                         max_steps=15, lambdas=(0.0, 1.0), outside_rules=("zero",), methods=("grpo", "sd-grpo"))
    results = simulate(cfg)
    names = {p.name for p in (tmp_path / "sim").iterdir()}
    plots = ("misattribution_vs_k", "steps_to_target_vs_k", "learning_curves", "lambda_sweep")
    assert names == {"simulate.json", "simulate.csv", *(f"{p}.{fmt}" for p in plots for fmt in ("png", "svg", "pdf"))}
    assert (tmp_path / "sim" / "lambda_sweep.pdf").read_bytes()[:5] == b"%PDF-"
    assert "<svg" in (tmp_path / "sim" / "lambda_sweep.svg").read_text()[:2000]
    saved = json.loads((tmp_path / "sim" / "simulate.json").read_text())
    assert saved["seeds"] == [0, 1] and saved["provenance"]["sdbench_version"]
    assert saved["config"]["out"] == str(tmp_path / "sim")
    assert len(saved["misattribution"]) == 2 * 2 * 2 and len(saved["steps_to_target"]) == 2 * 2
    assert len(saved["hybrid_sweep"]) == 2 and results["wall_time_s"] > 0
    assert "(c) entangled segments" in capsys.readouterr().out
    lines = (tmp_path / "sim" / "simulate.csv").read_text().splitlines()
    assert lines[0].startswith("experiment,") and len(lines) > 10


def test_config_is_parsed_from_flags_and_validated():
    from sdbench.cli import parse_config

    cfg = parse_config("simulate", SimulateConfig, ["--segments", "1,2", "--num-seeds", "3", "--outside-rules",
                                                    "zero", "mean", "--experiments", "hybrid"])
    assert cfg.segments == (1, 2) and cfg.seeds == [0, 1, 2] and cfg.outside_rules == ("zero", "mean")
    with pytest.raises(SdbenchError, match="group-size"):
        SimulateConfig(group_size=1)
    with pytest.raises(SdbenchError, match="methods"):
        SimulateConfig(methods=("ppo",))
