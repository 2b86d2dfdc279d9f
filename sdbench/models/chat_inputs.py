"""sdbench Examples -> model inputs: prompt batches for generation and prompt + completion batches for training.

What:
  - `build_prompt_batch(policy, examples, num_repeats=G)`: the chat template renders each example as one user
    turn (its images, then its prompt) plus the assistant generation prompt; the processor turns text and
    images into input_ids, attention_mask, pixel_values and the architecture's own tensors (image_grid_thw and
    mm_token_type_ids for Qwen2-VL, pixel_attention_mask for Idefics3 …), left-padded for `generate`.
    Each example is processed once and its tensors repeated G times for G rollouts (`repeat_batch`).
  - `build_training_batch(policy, examples, completions)`: the same prompt block followed by the completions
    (token ids from the sampler, or text for SFT, which gets the end-of-turn token appended), for one
    teacher-forced forward pass, with `completion_mask` marking the completion tokens.

Why: the trainer compares the log-probs the sampler saw with the log-probs of the training forward pass, so
both must see exactly the same tokens at the same positions. The training batch therefore has the layout
`generate` returns: [left padding | prompt | completion | right padding], and for models that take
positions from the sequence index (Llama-based LLaVA / Idefics3) explicit `position_ids` that skip the left
padding, exactly as generation computes them (with RoPE a constant shift changes attention only by float
round-off, ≈ 6e-7 in the logits here, but a model with absolute positions would be wrong without them);
multimodal-RoPE models (Qwen2-VL family) compute positions from the attention mask themselves. A batched
forward pass then gives each row's completion log-probs as the row would alone (to float round-off).

How:

    batch = build_prompt_batch(policy, examples, num_repeats=8)                   # P examples -> B = 8·P rows
    out = policy.model.generate(**batch, suppress_tokens=sorted(policy.image_token_ids), do_sample=True)
    train = build_training_batch(policy, examples, completion_ids, num_repeats=8)  # completion_ids: B lists
    logits = policy.model(**train.inputs).logits                                   # (B, L, V)
    # token t of the completion is predicted at position prompt_length + t - 1:
    logp = logits[:, train.prompt_length - 1:-1].log_softmax(-1).gather(-1, train.completion_ids[..., None])

Pixel tensors come in three layouts, all repeated correctly: per image patch (Qwen2-VL: pixel_values
(num_patches_total, C·p·p) with image_grid_thw (num_images, 3), the rows of image i being prod(thw_i)),
per image (LLaVA: (num_images, C, H, W)), per example (Idefics3: (B, max_images, C, H, W)).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from sdbench.core.errors import SdbenchError

if TYPE_CHECKING:
    from sdbench.core.types import Example
    from sdbench.models.policy import Policy

PER_IMAGE_KEYS = frozenset({"image_grid_thw", "image_sizes"})
"""Tensors with one row per image (Qwen2-VL grids, LLaVA-NeXT sizes)."""


def prompt_messages(example: Example) -> list[dict[str, Any]]:
    """The conversation for one example: a single user turn with its images first, then its prompt."""
    content: list[dict[str, Any]] = [{"type": "image"} for _ in example.images]
    content.append({"type": "text", "text": example.prompt})
    return [{"role": "user", "content": content}]


def render_prompt(policy: Policy, example: Example) -> str:
    """The chat-template text of one example's prompt, ending with the assistant generation prompt."""
    return policy.processor.apply_chat_template(prompt_messages(example), add_generation_prompt=True,
                                                tokenize=False)


def _rows_per_example(batch: dict[str, torch.Tensor], key: str, images_per_example: Sequence[int]) -> list[int]:
    """How many leading rows of batch[key] belong to each example."""
    value = batch[key]
    num_examples = len(images_per_example)
    if key == "pixel_values" and "image_grid_thw" in batch:  # Qwen2-VL: one row per image patch
        patches = batch["image_grid_thw"].prod(dim=-1).tolist()
        rows, start = [], 0
        for n in images_per_example:
            rows.append(int(sum(patches[start:start + n])))
            start += n
        return rows
    if key in PER_IMAGE_KEYS or (key == "pixel_values" and value.dim() == 4):  # LLaVA: one row per image
        return list(images_per_example)
    if value.shape[0] == num_examples:  # text tensors; Idefics3 pixel_values (B, max_images, C, H, W)
        return [1] * num_examples
    raise SdbenchError(f"cannot tell how the rows of {key!r} (shape {tuple(value.shape)}) map to the "
                       f"{num_examples} examples of the batch; extend chat_inputs._rows_per_example")


def repeat_batch(batch: dict[str, torch.Tensor], num_repeats: int,
                 images_per_example: Sequence[int]) -> dict[str, torch.Tensor]:
    """Each example's rows repeated `num_repeats` times in place (example 0 G times, then example 1 …),
    like `repeat_interleave` on the batch dimension, for every tensor layout (see the module docstring)."""
    if num_repeats == 1:
        return dict(batch)
    out: dict[str, torch.Tensor] = {}
    for key, value in batch.items():
        if not isinstance(value, torch.Tensor):
            raise SdbenchError(f"repeat_batch: {key!r} is a {type(value).__name__}, not a tensor")
        rows = _rows_per_example(batch, key, images_per_example)
        if sum(rows) != value.shape[0]:
            raise SdbenchError(f"repeat_batch: {key!r} has {value.shape[0]} rows, the examples account for {sum(rows)}")
        if all(r == 1 for r in rows):
            out[key] = value.repeat_interleave(num_repeats, dim=0)
        else:
            counts = torch.tensor(rows, device=value.device)
            example_of_row = torch.arange(len(rows), device=value.device).repeat_interleave(counts)
            order = torch.cat([torch.nonzero(example_of_row == i).flatten().repeat(num_repeats)
                               for i in range(len(rows))])
            out[key] = value.index_select(0, order)
    return out


def _to_model(policy: Policy, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Move to the model's device; floating tensors (pixels) to the model's dtype."""
    device, dtype = policy.model.device, policy.model.dtype
    return {k: (v.to(device=device, dtype=dtype) if v.is_floating_point() else v.to(device))
            for k, v in batch.items()}


def build_prompt_batch(policy: Policy, examples: Sequence[Example], *, num_repeats: int = 1,
                       padding_side: str = "left") -> dict[str, torch.Tensor]:
    """Model inputs for `generate`: one row per example and repeat (B = len(examples) · num_repeats), rows
    [i·G, (i+1)·G) from example i, padded on `padding_side` ('left' for generation)."""
    if not examples:
        raise SdbenchError("build_prompt_batch: no examples")
    if num_repeats < 1:
        raise SdbenchError(f"num_repeats must be >= 1, got {num_repeats}")
    texts = [render_prompt(policy, ex) for ex in examples]
    images = [list(ex.images) for ex in examples]
    kwargs: dict[str, Any] = {"text": texts, "padding": True, "padding_side": padding_side, "return_tensors": "pt"}
    if any(images):
        kwargs["images"] = images
    encoded = policy.processor(**kwargs)
    batch = {k: v for k, v in encoded.items() if isinstance(v, torch.Tensor)}
    batch = repeat_batch(batch, num_repeats, [len(ex.images) for ex in examples])
    return _to_model(policy, batch)


def completion_token_ids(policy: Policy, completions: Sequence[str]) -> list[list[int]]:
    """Completions given as text (SFT) -> token ids, each ending with the end-of-turn (eos) token, as a
    sampled completion that finished would."""
    eos = policy.eos_token_id
    return [policy.tokenizer(text, add_special_tokens=False)["input_ids"] + [eos] for text in completions]


@dataclass
class TrainingBatch:
    """Prompt + completion rows for one teacher-forced forward pass.

    Row layout: [left padding | prompt | completion | right padding], L = prompt_length + T."""

    inputs: dict[str, torch.Tensor]
    """Everything `model(**inputs)` takes: input_ids (B, L), attention_mask (B, L), pixel tensors, and
    position_ids (B, L) for models that do not derive positions from the attention mask."""
    completion_mask: torch.Tensor
    """(B, L) bool: True exactly at completion tokens (never at prompt or padding)."""
    completion_ids: torch.Tensor
    """(B, T) long: the completion tokens, right-padded with the pad id; == input_ids[:, prompt_length:]."""
    prompt_length: int
    """Length of the (left-padded) prompt block; completion token t sits at position prompt_length + t."""

    @property
    def completion_token_mask(self) -> torch.Tensor:
        """(B, T) bool: completion_mask restricted to the completion block."""
        return self.completion_mask[:, self.prompt_length:]


def build_training_batch(policy: Policy, examples: Sequence[Example],
                         completions: Sequence[Sequence[int]] | Sequence[str], *,
                         num_repeats: int | None = None) -> TrainingBatch:
    """Prompt + completion batch. `completions` are token id lists (sampled; kept as they are, eos included
    if sampled) or strings (SFT; tokenised, eos appended). There are len(examples) · G completions, the G of
    example i at rows [i·G, (i+1)·G); G = num_repeats, or len(completions) / len(examples) when None."""
    if not completions:
        raise SdbenchError("build_training_batch: no completions")
    if num_repeats is None:
        if len(completions) % len(examples):
            raise SdbenchError(f"{len(completions)} completions for {len(examples)} examples: not a whole number "
                               "per example; pass num_repeats")
        num_repeats = len(completions) // len(examples)
    if len(completions) != len(examples) * num_repeats:
        raise SdbenchError(f"{len(completions)} completions != {len(examples)} examples x {num_repeats} repeats")
    if all(isinstance(c, str) for c in completions):
        token_lists = completion_token_ids(policy, completions)  # type: ignore[arg-type]
    elif any(isinstance(c, str) for c in completions):
        raise SdbenchError("completions mix text and token ids; give all as text or all as token id lists")
    else:
        token_lists = [[int(t) for t in c] for c in completions]

    prompt = build_prompt_batch(policy, examples, num_repeats=num_repeats, padding_side="left")
    device = prompt["input_ids"].device
    num_rows, prompt_length = prompt["input_ids"].shape                       # B, Lp
    max_len = max(len(ids) for ids in token_lists)                            # T
    completion_ids = torch.full((num_rows, max_len), policy.pad_token_id, dtype=torch.long, device=device)
    completion_valid = torch.zeros((num_rows, max_len), dtype=torch.bool, device=device)
    for row, ids in enumerate(token_lists):
        completion_ids[row, :len(ids)] = torch.tensor(ids, dtype=torch.long, device=device)
        completion_valid[row, :len(ids)] = True

    inputs = dict(prompt)
    inputs["input_ids"] = torch.cat([prompt["input_ids"], completion_ids], dim=1)                     # (B, L)
    inputs["attention_mask"] = torch.cat([prompt["attention_mask"], completion_valid.long()], dim=1)  # (B, L)
    for key in ("mm_token_type_ids", "token_type_ids"):  # completion tokens are text (type 0)
        if key in prompt:
            inputs[key] = torch.cat([prompt[key], torch.zeros_like(completion_ids)], dim=1)
    if not policy.computes_positions:
        inputs["position_ids"] = (inputs["attention_mask"].cumsum(dim=1) - 1).clamp(min=0)           # (B, L)
    completion_mask = torch.cat([torch.zeros_like(prompt["attention_mask"], dtype=torch.bool), completion_valid],
                                dim=1)                                                               # (B, L)
    return TrainingBatch(inputs=inputs, completion_mask=completion_mask, completion_ids=completion_ids,
                         prompt_length=prompt_length)
