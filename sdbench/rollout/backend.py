"""The rollout interface every backend implements, and the structure it returns.

A backend turns P examples into B = P·G sampled completions (rows [p·G, (p+1)·G) belong to prompt p) and
reports, for each completion, its token ids, the log-prob of each token under the sampling distribution
(logits / temperature, image tokens suppressed) and whether it ended by itself (EOS) or hit the length
limit. Weights are synced from the trainer's policy before each step (`sync_weights`; a no-op for the HF
backend, which samples from the policy object itself; the vLLM backend loads them into its own copy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sdbench.core.types import Example


@dataclass(frozen=True)
class SamplingParams:
    max_new_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    greedy: bool = False


@dataclass
class RolloutBatch:
    """B = P·G completions; lists are per completion, in prompt-major order."""

    completion_ids: list[list[int]]
    """Generated token ids, EOS included when emitted, no padding."""
    logprobs: list[list[float]]
    """Sampling log-prob of each generated token."""
    finished: list[bool]
    """True when the completion ended with EOS, False when it hit max_new_tokens."""
    group_size: int

    def __len__(self) -> int:
        return len(self.completion_ids)


class RolloutBackend(Protocol):
    def generate(self, examples: Sequence[Example], group_size: int, params: SamplingParams) -> RolloutBatch:
        """Sample `group_size` completions for each example."""
        ...

    def sync_weights(self, model) -> None:
        """Make the backend sample from `model`'s current weights."""
        ...


