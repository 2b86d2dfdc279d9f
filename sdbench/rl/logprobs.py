"""Per-token log-probs of completions under a policy: the one formula both sampling and training use.

log p(token) = logits[token] / temperature − logsumexp(logits / temperature), with the suppressed tokens
(image placeholders, never sampled) set to −inf first. The HF rollout backend applies it to the logits
`generate` saw; the trainer applies it to a teacher-forced forward pass of the same tokens. With the same
weights the two agree to float round-off (tests/models), so the PPO ratio starts at 1.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor


def token_logprobs(logits: Tensor, token_ids: Tensor, temperature: float = 1.0,
                   suppressed: Iterable[int] = ()) -> tuple[Tensor, Tensor]:
    """logits (B, T, V) predicting token_ids (B, T) -> (log-probs (B, T), entropies (B, T)), float32."""
    scaled = logits.float() / temperature                                   # (B, T, V)
    suppressed = list(suppressed)
    if suppressed:
        scaled[..., suppressed] = float("-inf")
    log_norm = torch.logsumexp(scaled, dim=-1)                              # (B, T)
    picked = scaled.gather(-1, token_ids.unsqueeze(-1)).squeeze(-1)         # (B, T)
    probs = torch.softmax(scaled, dim=-1)                                   # (B, T, V)
    entropy = log_norm - (probs * scaled.nan_to_num(neginf=0.0)).sum(-1)    # (B, T)
    return picked - log_norm, entropy


def completion_logprobs(policy, batch, temperature: float = 1.0) -> tuple[Tensor, Tensor]:
    """Teacher-forced log-probs and entropies (B, T) of a `chat_inputs.TrainingBatch`'s completion tokens."""
    logits = policy.model(**batch.inputs).logits                            # (B, L, V)
    start = batch.prompt_length
    predicting = logits[:, start - 1:-1]                                    # (B, T, V): position t predicts t+1
    return token_logprobs(predicting, batch.completion_ids, temperature, policy.image_token_ids)
