"""A model-free credit-assignment simulator: a K-segment softmax bandit trained with the real estimators.

What: a policy writes K segments; segment k's "output" is one arm a_k out of A, drawn from its own softmax
(logits θ_k), plus, when the segments are entangled (w > 0), one shared decision b (a shared context written
outside every segment, logits φ). Rewards (qualities q_a = a / (A − 1), so each part scores in [0, 1]):

    r_{i,k} = (1 − w)·q[a_{i,k}] + w·q[b_i] + σ·(√c·z_i + √(1 − c)·ε_{i,k})     shared_in = "segments"
    R_i     = mean_k r_{i,k}                                                    (holistic reward)

    z_i, ε_{i,k} ~ N(0, 1) independent: z_i is a latent shared by rollout i's segments.

With shared_in = "holistic" the shared decision is judged by the holistic reward only:
r_{i,k} = (1 − w)·q[a_{i,k}] + noise and R_i = mean_k r_{i,k} + w·q[b_i]. Either way the best policy earns
E[R] = 1 and the uniform one 0.5.

Exact reward correlation. With segment choices independent across segments and the same marginal policy in
every segment (true at the uniform start), v_q = Var_π(q[a]) and v_s = Var_π(q[b]):

    shared_in = "segments":  Var r_k = (1 − w)² v_q + w² v_s + σ²,   Cov(r_k, r_j) = w² v_s + c σ²  (k ≠ j)
    shared_in = "holistic":  Var r_k = (1 − w)² v_q + σ²,            Cov(r_k, r_j) = c σ²

so the segment rewards' correlation is Cov / Var, which is exactly c only when v_q = 0 and w = 0
(quality_scale = 0: pure Gaussian rewards). At a uniform policy over A equally spaced qualities
v_q = (A + 1) / (12 (A − 1)) · quality_scale². The closed form P_wrong = arccos(ρ_K)/π of DESIGN.md needs
jointly Gaussian exchangeable rewards; it then holds *exactly* for any group size G (centring within a group
and dividing by a positive std change neither the correlation nor the sign), which is what
`misattribution_rates` checks.

Each rollout is a sequence of "tokens": token k (segment id k) is segment k's choice, and, when w > 0, one
more token with segment id −1 (outside every segment) is the shared decision. The advantages come from
`sdbench.rl.advantages.ADVANTAGE_ESTIMATORS` (the trainer's own functions) on an `AdvantageInputs`, so the
`outside` rule decides what the shared decision is credited with: `holistic` gives it A_i, `zero` nothing,
`mean` the mean of the a_{i,k}.

Update (REINFORCE with the per-token advantages, exact softmax gradient, averaged over the rollouts):

    θ_k ← θ_k + lr · mean_i adv_{i,k}  · (onehot(a_{i,k}) − π_k)      (segment k's token)
    φ   ← φ   + lr · mean_i adv_{i,−1} · (onehot(b_i) − π_φ)          (the shared token, id −1)

Why: it isolates credit assignment (no model, no text, no tokeniser) and runs in seconds, so the paper's
three claims can be checked on many seeds: misattribution vs K (closed form), SD-GRPO's edge growing with K
on independent segments, and the hybrid on entangled ones.

How: everything is batched over N seeds (tensors (N, …)); each seed has its own random streams
(numpy `default_rng([seed, stream])`), drawn up front, so a seed's trajectory does not depend on the other
seeds, on the method (common random numbers: methods are compared on the same draws) or on the number of
steps. `sdbench simulate` (sdbench/commands/simulate.py) runs the experiments. Shapes: N seeds, P prompts per step,
G group size, M = P·G rollouts per seed per step, K segments, A arms, T = K (+1 with a shared decision).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from sdbench.rl.advantages import (ADVANTAGE_ESTIMATORS, AdvantageInputs, Outside, holistic_advantages,
                                   segment_advantages)
from sdbench.rl.diagnostics import misattribution_rate

SharedIn = Literal["segments", "holistic"]
DTYPE = torch.float64
# random streams of one seed (numpy default_rng([seed, stream])): one per kind of draw, so that adding draws of
# one kind never shifts another
_ARMS, _NOISE = 0, 1


@dataclass(frozen=True)
class Bandit:
    """The environment: what a rollout is and how it is scored (equations in the module docstring)."""

    num_segments: int
    """K: segments per rollout (one arm choice each)."""
    num_arms: int = 4
    """A: choices per segment (and for the shared decision); qualities q_a = quality_scale · a / (A − 1)."""
    noise_std: float = 0.5
    """σ: standard deviation of each segment reward's noise."""
    noise_corr: float = 0.0
    """c: correlation of the noise of two segments of one rollout (shared latent z_i)."""
    shared_weight: float = 0.0
    """w: weight of the shared decision's quality; 0 = independent segments, no shared decision."""
    shared_in: SharedIn = "segments"
    """Where the shared decision is judged: in every segment's reward, or in the holistic reward only."""
    quality_scale: float = 1.0
    """Scale of the arm qualities; 0 makes every reward pure Gaussian noise (the closed form's regime)."""

    def __post_init__(self) -> None:
        if self.num_segments < 1 or self.num_arms < 2:
            raise ValueError(f"need K >= 1 segments and A >= 2 arms, got K={self.num_segments}, A={self.num_arms}")
        if self.noise_std < 0 or not 0.0 <= self.noise_corr <= 1.0 or not 0.0 <= self.shared_weight <= 1.0:
            raise ValueError("need noise_std >= 0, noise_corr in [0, 1], shared_weight in [0, 1]")
        if self.shared_in not in ("segments", "holistic"):
            raise ValueError(f"shared_in={self.shared_in!r}; valid: segments, holistic")

    @property
    def has_shared(self) -> bool:
        return self.shared_weight > 0

    @property
    def num_tokens(self) -> int:
        """T: one token per segment, plus the shared decision's token (segment id −1) when w > 0."""
        return self.num_segments + int(self.has_shared)

    @property
    def qualities(self) -> Tensor:
        return self.quality_scale * torch.linspace(0.0, 1.0, self.num_arms, dtype=DTYPE)  # (A,)


def reward_correlation(env: Bandit) -> float:
    """Correlation of two segment rewards of one rollout under the uniform policy (module docstring).

    >>> reward_correlation(Bandit(4, noise_corr=0.5, quality_scale=0.0))
    0.5
    >>> round(reward_correlation(Bandit(4, num_arms=4, noise_std=0.5, noise_corr=0.5)), 4)
    0.3214
    """
    v = float(env.qualities.var(unbiased=False))      # v_q = v_s: both are uniform over the same qualities
    w, s2 = env.shared_weight, env.noise_std**2
    shared = w**2 * v if env.shared_in == "segments" else 0.0
    var = (1 - w) ** 2 * v + shared + s2
    return (shared + env.noise_corr * s2) / var if var > 0 else 0.0


# --- random draws --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Draws:
    """All randomness of a run, drawn up front: uniforms pick arms (inverse CDF), normals make the noise."""

    uniforms: Tensor
    """(N, steps, M, K + 1) in [0, 1): column k picks segment k's arm, column K the shared decision."""
    normals: Tensor
    """(N, steps, M, K + 1) N(0, 1): columns 0..K−1 are ε_{i,k}, column K is z_i."""


def draw(seeds: Sequence[int], num_steps: int, rollouts_per_step: int, num_segments: int) -> Draws:
    """Each seed's draws from its own streams; step t's draws do not depend on num_steps."""
    shape = (num_steps, rollouts_per_step, num_segments + 1)
    uniforms = [np.random.default_rng([seed, _ARMS]).random(shape) for seed in seeds]
    normals = [np.random.default_rng([seed, _NOISE]).standard_normal(shape) for seed in seeds]
    return Draws(torch.from_numpy(np.stack(uniforms)), torch.from_numpy(np.stack(normals)))  # (N, steps, M, K+1)


# --- one step: sample, score, credit, update ----------------------------------------------------------------


def sample_arms(logits: Tensor, uniforms: Tensor) -> Tensor:
    """logits (N, K, A), uniforms (N, M, K) -> arms (N, M, K) long, by inverse CDF of softmax(logits)."""
    cdf = logits.softmax(-1).cumsum(-1)                                    # (N, K, A)
    arms = (uniforms[..., None] >= cdf[:, None]).sum(-1)                   # (N, M, K)
    return arms.clamp(max=logits.shape[-1] - 1)                            # float round-off at the top


def score(env: Bandit, arms: Tensor, shared: Tensor | None, normals: Tensor) -> tuple[Tensor, Tensor]:
    """arms (N, M, K), shared (N, M) or None, normals (N, M, K + 1).
    Returns segment rewards r (N, M, K) and holistic rewards R (N, M)."""
    q = env.qualities                                                      # (A,)
    w, c = env.shared_weight, env.noise_corr
    noise = env.noise_std * (math.sqrt(c) * normals[..., -1:] + math.sqrt(1 - c) * normals[..., :-1])  # (N, M, K)
    r = (1 - w) * q[arms] + noise                                          # (N, M, K)
    shared_quality = w * q[shared] if shared is not None else 0.0          # (N, M)
    if env.shared_in == "segments":
        r = r + (shared_quality[..., None] if shared is not None else 0.0)
        return r, r.mean(-1)
    return r, r.mean(-1) + shared_quality                                  # (N, M, K), (N, M)


def advantage_inputs(env: Bandit, segment_rewards: Tensor, rewards: Tensor) -> AdvantageInputs:
    """segment_rewards (N, M, K), rewards (N, M) -> AdvantageInputs with B = N·M rollouts of T tokens:
    token k belongs to segment k, the shared decision's token (if any) to none (id −1)."""
    num_seeds, num_rollouts, k = segment_rewards.shape
    b = num_seeds * num_rollouts
    ids = torch.arange(env.num_tokens).where(torch.arange(env.num_tokens) < k, -1)  # (T,)
    return AdvantageInputs(
        rewards=rewards.reshape(b),                                        # (B,)
        completion_mask=torch.ones(b, env.num_tokens, dtype=torch.bool),   # (B, T)
        segment_rewards=segment_rewards.reshape(b, k),                     # (B, K)
        segment_mask=torch.ones(b, k, dtype=torch.bool),                   # (B, K)
        segment_found=torch.ones(b, k, dtype=torch.bool),                  # (B, K)
        token_segment_ids=ids.expand(b, -1),                               # (B, T)
    )


def method_kwargs(method: str, outside: Outside = "holistic", hybrid_lambda: float = 0.5,
                  hybrid_scale_by_std: bool = True) -> dict[str, object]:
    """The keyword arguments `ADVANTAGE_ESTIMATORS[method]` takes for these knobs.

    >>> method_kwargs("grpo"), method_kwargs("sd-dr-grpo", outside="zero")
    ({}, {'outside': 'zero'})
    """
    if method in ("grpo", "dr-grpo"):
        return {}
    if method in ("sd-grpo", "sd-dr-grpo"):
        return {"outside": outside}
    if method == "hybrid":
        return {"outside": outside, "hybrid_lambda": hybrid_lambda, "scale_by_std": hybrid_scale_by_std}
    raise ValueError(f"unknown method {method!r}; valid: {', '.join(ADVANTAGE_ESTIMATORS)}")


def policy_gradient(logits: Tensor, choices: Tensor, advantages: Tensor) -> Tensor:
    """logits (N, K, A), choices (N, M, K) long, advantages (N, M, K) -> (N, K, A):
    mean_i adv_{i,k} · ∇ log softmax(logits_k)[a_{i,k}] = mean_i adv_{i,k} · (onehot(a_{i,k}) − π_k)."""
    probs = logits.softmax(-1)                                             # (N, K, A)
    onehot = torch.nn.functional.one_hot(choices, logits.shape[-1]).to(logits.dtype)  # (N, M, K, A)
    return ((onehot - probs[:, None]) * advantages[..., None]).mean(1)    # (N, K, A)


def expected_reward(env: Bandit, logits: Tensor, shared_logits: Tensor | None) -> Tensor:
    """Exact E[R] of the policy (no sampling): logits (N, K, A), shared_logits (N, 1, A) or None -> (N,)."""
    q = env.qualities                                                      # (A,)
    value = (1 - env.shared_weight) * (logits.softmax(-1) @ q).mean(-1)    # (N,)
    if shared_logits is not None:
        value = value + env.shared_weight * (shared_logits.softmax(-1) @ q)[:, 0]
    return value                                                           # (N,)


# --- training ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trajectory:
    """One method's run over N seeds."""

    expected_reward: Tensor
    """(N, steps + 1): exact E[R] before the first update and after each."""
    segment_reward: Tensor
    """(N, steps + 1): the segments' part, mean_k E[q[a_k]] (in [0, 1])."""
    shared_reward: Tensor
    """(N, steps + 1): the shared decision's part, E[q[b]] (0.5 throughout without one)."""


def train(env: Bandit, method: str, seeds: Sequence[int], num_steps: int, learning_rate: float,
          group_size: int = 8, prompts_per_step: int = 4, draws: Draws | None = None,
          **kwargs: object) -> Trajectory:
    """Train a uniform-start policy for num_steps with ADVANTAGE_ESTIMATORS[method](…, **kwargs) on every seed.
    `draws` (from `draw`) may be passed to share them between methods; they are made from `seeds` otherwise."""
    estimator = ADVANTAGE_ESTIMATORS[method]
    k, a = env.num_segments, env.num_arms
    rollouts = group_size * prompts_per_step                               # M
    if draws is None:
        draws = draw(seeds, num_steps, rollouts, k)
    num_seeds = len(seeds)
    logits = torch.zeros(num_seeds, k, a, dtype=DTYPE)                     # (N, K, A): θ
    shared_logits = torch.zeros(num_seeds, 1, a, dtype=DTYPE) if env.has_shared else None  # (N, 1, A): φ
    q = env.qualities
    curve, seg_curve, shared_curve = [], [], []

    def record() -> None:
        curve.append(expected_reward(env, logits, shared_logits))
        seg_curve.append((logits.softmax(-1) @ q).mean(-1))
        shared_curve.append((shared_logits.softmax(-1) @ q)[:, 0] if shared_logits is not None
                            else torch.full((num_seeds,), 0.5, dtype=DTYPE))

    record()
    for step in range(num_steps):
        u, n = draws.uniforms[:, step], draws.normals[:, step]             # (N, M, K+1)
        arms = sample_arms(logits, u[..., :k])                             # (N, M, K)
        shared = sample_arms(shared_logits, u[..., k:])[..., 0] if shared_logits is not None else None  # (N, M)
        segment_rewards, rewards = score(env, arms, shared, n)             # (N, M, K), (N, M)
        inputs = advantage_inputs(env, segment_rewards, rewards)
        adv = estimator(inputs, group_size, **kwargs).reshape(num_seeds, rollouts, env.num_tokens)  # (N, M, T)
        logits = logits + learning_rate * policy_gradient(logits, arms, adv[..., :k])
        if shared_logits is not None:
            shared_logits = shared_logits + learning_rate * policy_gradient(shared_logits, shared[..., None],
                                                                            adv[..., k:])
        record()
    return Trajectory(torch.stack(curve, 1), torch.stack(seg_curve, 1), torch.stack(shared_curve, 1))


def steps_to_target(curve: Tensor, target: float) -> Tensor:
    """curve (N, steps + 1) -> (N,) long: the first step whose value is >= target; steps + 1 if never.

    >>> steps_to_target(torch.tensor([[0.1, 0.5, 0.9, 0.95], [0.1, 0.2, 0.3, 0.4]]), 0.9)
    tensor([2, 4])
    """
    reached = curve >= target                                              # (N, steps + 1)
    first = reached.to(torch.int8).argmax(1)                               # (N,)
    return torch.where(reached.any(1), first, curve.shape[1])


# --- misattribution ------------------------------------------------------------------------------------------


def misattribution_rates(env: Bandit, seeds: Sequence[int], num_rollouts: int, group_size: int = 8,
                         scale_by_std: bool = True) -> list[float]:
    """The wrong-sign rate (sdbench.rl.diagnostics.misattribution_rate of holistic_advantages vs
    segment_advantages) at the uniform policy, one value per seed over num_rollouts rollouts."""
    if num_rollouts % group_size:
        raise ValueError(f"num_rollouts={num_rollouts} must be a multiple of group_size={group_size}")
    k = env.num_segments
    draws = draw(seeds, 1, num_rollouts, k)
    u, n = draws.uniforms[:, 0], draws.normals[:, 0]                       # (N, M, K+1)
    logits = torch.zeros(len(seeds), k, env.num_arms, dtype=DTYPE)         # (N, K, A): uniform
    shared = sample_arms(torch.zeros(len(seeds), 1, env.num_arms, dtype=DTYPE), u[..., k:])[..., 0] \
        if env.has_shared else None                                        # (N, M)
    segment_rewards, rewards = score(env, sample_arms(logits, u[..., :k]), shared, n)  # (N, M, K), (N, M)
    rates = []
    for r, big_r in zip(segment_rewards, rewards, strict=True):            # (M, K), (M,)
        mask = torch.ones_like(r, dtype=torch.bool)                        # (M, K)
        holistic = holistic_advantages(big_r, group_size, scale_by_std)    # (M,)
        per_segment = segment_advantages(r, mask, mask, group_size, scale_by_std)  # (M, K)
        rate = misattribution_rate(holistic, per_segment, mask)
        rates.append(0.0 if rate is None else rate)
    return rates
