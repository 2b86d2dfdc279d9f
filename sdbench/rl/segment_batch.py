"""Scored completions -> the per-row tensors credit assignment reads, for sdbench's trainer and the TRL adapter.

`segment_tensors(ScoredBatch, T)` turns what the scoring path says about B completions (sdbench.data.scoring's
ExampleScore: per-segment rewards, found spans; sdbench.data.token_spans's DecodedTokens: one character span per
token) into (B, S) segment rewards / expected / found and (B, T) token segment ids and completion mask. sdbench's
own trainer and the TRL adapter both call it, so a completion gets the same tensors, and with the same estimator
the same advantages, on both paths (the verl adapter carries the same fields per rollout, checked equal in
tests/optional/test_verl_adapter.py).

Rules: S = the largest K in the batch; segment k of a row is expected when k < its K, found when the segmenter
gave it a span; a missing segment's reward is 0; tokens outside every segment (labels, preamble, EOS) and
padding get segment id -1; padding is False in completion_mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from sdbench.data.scoring import ExampleScore
    from sdbench.data.token_spans import DecodedTokens


@dataclass(frozen=True)
class ScoredBatch:
    """What sdbench's scoring path says about a batch of completions, row by row."""

    scores: list[ExampleScore]
    """Segments, per-segment rewards r_k and holistic reward R of each completion (sdbench.data.scoring)."""
    decoded: list[DecodedTokens]
    """Decoded text and one character span per completion token (sdbench.data.token_spans)."""


@dataclass(frozen=True)
class SegmentTensors:
    """The per-row tensors credit assignment reads besides the holistic reward (rows: completions)."""

    segment_rewards: Tensor
    """(b, S) float: r_{i,k}, 0 where not expected."""
    segment_mask: Tensor
    """(b, S) bool: segment k is expected (k < K of the row's example)."""
    segment_found: Tensor
    """(b, S) bool: the completion wrote segment k."""
    token_segment_ids: Tensor
    """(b, T) long: segment of each completion token, -1 outside every segment and on padding."""
    completion_mask: Tensor
    """(b, T) bool: real completion tokens."""


def segment_tensors(batch: ScoredBatch, num_tokens: int, device: torch.device | str = "cpu") -> SegmentTensors:
    """ScoredBatch -> SegmentTensors with T = num_tokens columns (>= the longest completion), rules above.

    >>> from sdbench.data.scoring import ExampleScore
    >>> from sdbench.data.token_spans import DecodedTokens
    >>> score = ExampleScore("x", 2, [], {}, {}, [0.5, 0.0], 0.25, "Panel 1: cat", [(9, 12), None])
    >>> tokens = DecodedTokens("Panel 1: cat", [(0, 5), (5, 7), (7, 8), (8, 12)], [False] * 4)
    >>> out = segment_tensors(ScoredBatch([score], [tokens]), num_tokens=5)
    >>> out.token_segment_ids.tolist(), out.segment_found.tolist(), out.completion_mask.tolist()
    ([[-1, -1, -1, 0, -1]], [[True, False]], [[True, True, True, True, False]])
    """
    from sdbench.data.token_spans import token_segment_ids

    num_rows = len(batch.scores)
    num_segments = max((s.num_segments for s in batch.scores), default=1)
    rewards = torch.zeros(num_rows, num_segments)                                      # (b, S)
    mask = torch.zeros(num_rows, num_segments, dtype=torch.bool)                       # (b, S)
    found = torch.zeros(num_rows, num_segments, dtype=torch.bool)                      # (b, S)
    ids = torch.full((num_rows, num_tokens), -1, dtype=torch.long)                     # (b, T)
    completion_mask = torch.zeros(num_rows, num_tokens, dtype=torch.bool)             # (b, T)
    for i, (score, decoded) in enumerate(zip(batch.scores, batch.decoded)):
        k, n = score.num_segments, len(decoded.spans)
        if n > num_tokens:
            raise ValueError(f"row {i} has {n} completion tokens, more than num_tokens={num_tokens}")
        rewards[i, :k] = torch.tensor(score.segment_rewards)
        mask[i, :k] = True
        found[i, :k] = torch.tensor([span is not None for span in score.spans])
        ids[i, :n] = torch.tensor(token_segment_ids(decoded, score.spans), dtype=torch.long)
        completion_mask[i, :n] = True
    return SegmentTensors(*(t.to(device) for t in (rewards, mask, found, ids, completion_mask)))
