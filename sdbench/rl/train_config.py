"""`sdbench train`'s config: one frozen dataclass whose fields are the flags and the keys of baselines/*.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sdbench.core.config import check_finite
from sdbench.core.errors import SdbenchError

Method = Literal["sft", "grpo", "dr-grpo", "sd-grpo", "sd-dr-grpo", "hybrid"]
RL_METHODS = ("grpo", "dr-grpo", "sd-grpo", "sd-dr-grpo", "hybrid")


@dataclass(frozen=True)
class TrainConfig:
    """`sdbench train`: warm-start by SFT (--method sft) or RL with GRPO / Dr. GRPO / SD-GRPO / hybrid.

    baselines/*.yaml map 1:1 onto these fields."""

    task: Path = Path("runs/pipeline/tasks/multipanel")
    """A folder written by `sdbench build-task` (its train split is used)."""
    model: str = "default"
    """'default' (the embedded tiny VLM, built and warm-started once, cached), a local HF folder, a hub id,
    or a checkpoint folder of an earlier run."""
    method: Method = "sd-grpo"
    """Credit assignment: the advantage estimator (sdbench.rl.advantages), or 'sft' for supervised warm-start."""
    out: Path | None = None
    """Run folder (default: runs/train/<task>-<method>-seed<seed>)."""
    seed: int = 0
    """Seed for prompt order, sampling and initialisation."""
    steps: int = 40
    """Optimizer steps (RL: one batch of prompts × group_size rollouts per step)."""
    segments: tuple[int, ...] = ()
    """Train only on examples with these K (default: all in the split)."""
    # ---- rollouts ----
    prompts_per_step: int = 4
    """P: prompts per step."""
    group_size: int = 8
    """G: rollouts per prompt."""
    max_new_tokens: int = 160
    """Generation limit per rollout."""
    temperature: float = 1.0
    """Sampling temperature (the loss uses the same temperature for log-probs)."""
    top_p: float = 1.0
    """Nucleus sampling; 1.0 keeps the exact sampling distribution the log-probs refer to."""
    rollout_backend: Literal["hf", "vllm"] = "hf"
    """'hf': transformers generate, the CPU reference; 'vllm': vLLM on a GPU, weights synced every step (pip install
    'sdbench[vllm]' in its own CUDA environment). Interface: sdbench/rollout/backend.py."""
    # ---- credit assignment ----
    hybrid_lambda: float = 0.5
    """λ of the hybrid: λ·holistic + (1−λ)·per-segment advantage."""
    outside: Literal["holistic", "zero", "mean"] = "holistic"
    """Advantage of tokens outside every segment (labels, preamble, EOS) under sd-* and hybrid."""
    reward: str | None = None
    """Per-segment reward metric (default: the task source's)."""
    holistic_reward: str | None = None
    """Rollout-level reward: 'mean' of segment rewards or a whole metric (default: the task source's)."""
    # ---- loss and optimisation ----
    learning_rate: float = 2e-5
    """AdamW learning rate."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    warmup_steps: int = 0
    """Linear warm-up steps, then constant."""
    max_grad_norm: float = 1.0
    """Gradient clipping (0 = off)."""
    clip_eps_low: float = 0.2
    """PPO clip: ratio >= 1 − eps_low."""
    clip_eps_high: float = 0.2
    """PPO clip: ratio <= 1 + eps_high (0.28 = DAPO's clip-higher)."""
    beta: float = 0.0
    """KL coefficient to the initial policy (0 = no reference model)."""
    loss_aggregation: Literal["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"] = "token-mean"
    """How per-token losses become one number (TRL: bnpo, grpo, dr_grpo)."""
    micro_batch_size: int = 8
    """Sequences per forward/backward pass (gradient accumulation over the step's B = P·G rollouts)."""
    # ---- bookkeeping ----
    save_every: int = 20
    """Checkpoint every N steps (and at the end)."""
    resume: bool = False
    """Continue from the run folder's latest checkpoint."""
    tensorboard: bool = False
    """Also log to TensorBoard (pip install tensorboard)."""
    threads: int = 0
    """torch threads (0 = leave torch's default)."""
    trust_remote_code: bool = False
    """Allow model code from the model folder / hub (off unless you trust it)."""

    def __post_init__(self):
        check_finite(self)
        positive = ("steps", "prompts_per_step", "group_size", "max_new_tokens", "micro_batch_size", "save_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise SdbenchError(f"--{name.replace('_', '-')}: need >= 1, got {getattr(self, name)}")
        if self.method != "sft" and self.group_size < 2:
            raise SdbenchError(f"--group-size {self.group_size}: GRPO-style methods need >= 2 rollouts per prompt")
        if not 0.0 <= self.hybrid_lambda <= 1.0:
            raise SdbenchError(f"--hybrid-lambda: need a value in [0, 1], got {self.hybrid_lambda}")
        if self.hybrid_lambda != 0.5 and self.method != "hybrid":
            raise SdbenchError(f"--hybrid-lambda does nothing with --method {self.method}; use --method hybrid")
        if self.temperature <= 0 or not 0 < self.top_p <= 1:
            raise SdbenchError("--temperature must be > 0 and --top-p in (0, 1]")
        if self.learning_rate <= 0 or self.beta < 0 or self.clip_eps_low < 0 or self.clip_eps_high < 0:
            raise SdbenchError("--learning-rate must be > 0; --beta, --clip-eps-low/high must be >= 0")

    @property
    def run_dir(self) -> Path:
        return Path(self.out) if self.out else Path("runs") / "train" / f"{Path(self.task).name}-{self.method}-seed{self.seed}"

    @property
    def completions_per_step(self) -> int:
        return self.prompts_per_step * self.group_size
