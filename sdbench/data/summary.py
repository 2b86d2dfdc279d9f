"""Aggregating per-example scores: every metric overall, by K, and by segment position; format compliance.

Pure functions over `ExampleScore`s (dicts in, dicts out), shared by `sdbench score` and `sdbench eval`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sdbench.data.scoring import ExampleScore


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(scores: Sequence[ExampleScore]) -> dict[str, Any]:
    """{'num_examples', 'metrics', 'rewards', 'by_k', 'by_position', 'format'} over the given scores."""
    return {
        "num_examples": len(scores),
        "metrics": _metric_means(scores),
        "rewards": {"holistic": _mean([s.holistic_reward for s in scores]),
                    "segment": _mean([r for s in scores for r in s.segment_rewards])},
        "by_k": {str(k): {"num_examples": len(group), "metrics": _metric_means(group),
                          "holistic_reward": _mean([s.holistic_reward for s in group])}
                 for k, group in sorted(_group_by_k(scores).items())},
        "by_position": _by_position(scores),
        "format": format_compliance(scores),
    }


def _group_by_k(scores: Sequence[ExampleScore]) -> dict[int, list[ExampleScore]]:
    groups: dict[int, list[ExampleScore]] = defaultdict(list)
    for s in scores:
        groups[s.num_segments].append(s)
    return groups


def _metric_means(scores: Sequence[ExampleScore]) -> dict[str, float | None]:
    values: dict[str, list[float]] = defaultdict(list)
    names: list[str] = []
    for s in scores:
        for name, v in s.metrics.items():
            if name not in values:
                names.append(name)
            if v is not None:
                values[name].append(v)
    return {name: _mean(values[name]) for name in names}


def _by_position(scores: Sequence[ExampleScore]) -> dict[str, dict[str, float | None]]:
    """Segment metrics at each segment position (1-based), over the examples that have that position."""
    values: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for s in scores:
        for seg in s.segments:
            for name, v in seg["metrics"].items():
                if v is not None:
                    values[seg["index"] + 1][name].append(v)
    return {str(pos): {name: _mean(vals) for name, vals in per.items()} for pos, per in sorted(values.items())}


def format_compliance(scores: Sequence[ExampleScore]) -> dict[str, float | None]:
    """Segments found / expected, and the share of outputs with each kind of format error."""
    expected = sum(s.format["num_expected"] for s in scores)
    found = sum(s.format["num_found"] for s in scores)
    n = len(scores)
    share = lambda pred: sum(1 for s in scores if pred(s.format)) / n if n else None  # noqa: E731
    return {
        "segments_found_per_expected": found / expected if expected else None,
        "outputs_all_segments_found": share(lambda f: f["num_found"] == f["num_expected"]),
        "outputs_with_duplicates": share(lambda f: f["num_duplicate_labels"] > 0),
        "outputs_out_of_order": share(lambda f: f["num_out_of_order"] > 0),
        "outputs_with_unexpected_labels": share(lambda f: f["num_unexpected_labels"] > 0),
        "outputs_without_labels": share(lambda f: bool(f["no_labels"])),
        "outputs_truncated": share(lambda f: bool(f["truncated"])),
        "mean_unlabeled_chars": _mean([f["num_unlabeled_chars"] for f in (s.format for s in scores)]),
    }
