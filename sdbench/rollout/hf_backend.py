"""The CPU reference rollout backend: transformers `generate`, sampling from the policy object itself.

Each example's inputs are built once and repeated G times; image placeholder tokens are passed as
`suppress_tokens`. The sampling log-prob of each token comes from the raw logits `generate` returns, through
`sdbench.rl.logprobs.token_logprobs` (the formula the trainer uses), so it is the log-prob of the
distribution that was sampled when top_p = 1 (with top_p < 1 it is the untruncated distribution's, as in
TRL). A completion ends at its first EOS (kept) or at max_new_tokens (`finished` False).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from sdbench.rl.logprobs import token_logprobs
from sdbench.rollout.backend import RolloutBatch, SamplingParams
from sdbench.types import Example


class HFBackend:
    def __init__(self, policy):
        self.policy = policy

    def sync_weights(self, model) -> None:  # samples from the trained model object itself
        return None

    @torch.no_grad()
    def generate(self, examples: Sequence[Example], group_size: int, params: SamplingParams) -> RolloutBatch:
        from transformers import GenerationConfig

        from sdbench.chat_inputs import build_prompt_batch

        policy = self.policy
        batch = build_prompt_batch(policy, list(examples), num_repeats=group_size)
        prompt_length = batch["input_ids"].shape[1]
        # Every knob that shapes the distribution is set explicitly: `generate` fills unset (None) values from
        # the model's own generation config (Qwen2.5-VL ships top_k=1, repetition_penalty=1.05), which would
        # make the sampled distribution differ from the one the log-probs describe.
        config = GenerationConfig(
            max_new_tokens=params.max_new_tokens, do_sample=not params.greedy, num_beams=1,
            **({} if params.greedy else {"temperature": params.temperature, "top_p": params.top_p, "top_k": 0}),
            repetition_penalty=1.0,
            no_repeat_ngram_size=0, suppress_tokens=sorted(policy.image_token_ids),
            eos_token_id=sorted(policy.eos_token_ids), pad_token_id=policy.pad_token_id, output_logits=True,
            return_dict_in_generate=True)
        was_training = policy.model.training
        policy.model.eval()
        out = policy.model.generate(**batch, generation_config=config)
        policy.model.train(was_training)
        sequences = out.sequences[:, prompt_length:]                              # (B, T)
        logits = torch.stack(out.logits, dim=1)                                   # (B, T, V) raw
        logps, _ = token_logprobs(logits, sequences, params.temperature, policy.image_token_ids)
        ids, lps, finished = [], [], []
        eos = policy.eos_token_ids
        for row in range(sequences.shape[0]):
            tokens = sequences[row].tolist()
            end = next((t + 1 for t, tok in enumerate(tokens) if tok in eos), None)
            finished.append(end is not None)
            end = end or len(tokens)
            ids.append(tokens[:end])
            lps.append(logps[row, :end].tolist())
        return RolloutBatch(completion_ids=ids, logprobs=lps, finished=finished, group_size=group_size)
