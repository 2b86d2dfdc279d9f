"""One scoring path for everything: responses -> segments -> every metric, per segment and whole.

`Scorer(task_data_or_spec, corpus)` is built once per split (it holds the metric caches: CIDEr-D corpus
statistics, the embedding model); `scorer.score(examples, responses)` returns one `ExampleScore` per
response. `sdbench score` (user predictions), `sdbench eval` (generated outputs) and the trainer's rewards
all go through it, so a number means the same thing wherever it was computed.

Per example it records: the format statistics of the segmenter, each expected segment's text (or None when
the model did not write it) with every segment metric, the mean of each segment metric over the K segments
(a missing segment scores 0), every whole-output metric, and the rewards: the per-segment reward vector
r_k (the task's reward metric) and the holistic reward R (task.yaml `holistic_reward`: "mean" of the r_k,
or a whole metric).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sdbench.core.errors import SdbenchError
from sdbench.core.types import Example
from sdbench.data.segmenter import segment_char_spans, segment_text
from sdbench.data.task import TaskSpec, load_hooks
from sdbench.rewards.registry import METRICS, ScoringContext, SegmentItem, WholeItem, get_metric, holistic_value


@dataclass
class ExampleScore:
    """The scores of one response."""

    id: str
    num_segments: int
    segments: list[dict[str, Any]]
    """Per expected segment: index, label, found, text, and {metric: value} (None: not applicable)."""
    metrics: dict[str, float | None]
    """Segment metrics averaged over the K segments, and whole metrics."""
    format: dict[str, Any]
    """The segmenter's format statistics."""
    segment_rewards: list[float]
    """r_k: the reward metric of each segment (0 for a missing segment)."""
    holistic_reward: float
    """R: the rollout-level reward."""
    response: str = ""
    spans: list[tuple[int, int] | None] = field(default_factory=list)
    """Character span of each expected segment's body in `response` (None: not written); the trainer maps
    them onto tokens (sdbench.data.token_spans)."""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "num_segments": self.num_segments, "response": self.response,
                "metrics": self.metrics, "segment_rewards": self.segment_rewards,
                "holistic_reward": self.holistic_reward, "format": self.format, "segments": self.segments,
                "spans": self.spans}


@dataclass
class Scorer:
    """Scores responses of one task source against a fixed corpus (the split being scored)."""

    spec: TaskSpec
    source: str
    corpus: Sequence[Example]
    metrics: tuple[str, ...] | None = None
    """Metrics to compute; None: the task's metrics that can run here (METEOR needs Java)."""
    reward: str | None = None
    """Per-segment reward metric; None: the source's (task.yaml)."""
    holistic: str | None = None
    """Holistic reward: 'mean' or a whole metric; None: the source's (task.yaml)."""
    unavailable: dict[str, str] = field(default_factory=dict)
    """Metrics left out here, with the reason (reported in summaries)."""

    def __post_init__(self):
        self.reward = self.reward or self.spec.reward_for(self.source)
        self.holistic = self.holistic or self.spec.holistic_for(self.source)
        names = list(self.metrics) if self.metrics is not None else list(self.spec.metrics)
        for name in [self.reward] + ([self.holistic] if self.holistic != "mean" else []):
            if name not in names:
                names.append(name)
        chosen = []
        for name in names:
            metric = get_metric(name)
            ok, why = metric.available()
            if ok:
                chosen.append(name)
            elif name in (self.reward, self.holistic):
                raise SdbenchError(f"metric {name!r} is the reward but cannot run here: {why}")
            else:
                self.unavailable[name] = why
        if get_metric(self.reward).level != "segment":
            raise SdbenchError(f"reward {self.reward!r} is a whole-output metric; the per-segment reward must be "
                               f"one of {sorted(m for m, v in METRICS.items() if v.level == 'segment')}")
        if self.holistic != "mean" and get_metric(self.holistic).level != "whole":
            raise SdbenchError(f"holistic_reward {self.holistic!r} must be 'mean' or a whole-output metric")
        self.metrics = tuple(chosen)
        self.context = ScoringContext(hooks=load_hooks(self.spec), corpus=self.corpus)

    def score(self, examples: Sequence[Example], responses: Sequence[str | None],
              hit_length_limit: Sequence[bool] | None = None) -> list[ExampleScore]:
        """Score responses[i] against examples[i]. Never raises on response content."""
        if len(examples) != len(responses):
            raise ValueError(f"{len(examples)} examples but {len(responses)} responses")
        texts = [r if isinstance(r, str) else "" for r in responses]
        segmented = [segment_text(text, [s.label for s in ex.segments],
                                  ex.meta.get("segment_label", self.spec.segment_label),
                                  hit_length_limit=None if hit_length_limit is None else hit_length_limit[i])
                     for i, (ex, text) in enumerate(zip(examples, texts))]
        # segment level: one batch per metric over every (example, segment)
        items = [SegmentItem(None if found is None else found.text, seg, ex)
                 for ex, out in zip(examples, segmented) for seg, found in zip(ex.segments, out.segments)]
        seg_values: dict[str, list[float | None]] = {}
        whole_values: dict[str, list[float | None]] = {}
        for name in self.metrics:
            metric = METRICS[name]
            if metric.level == "segment":
                column: list[float | None] = [None] * len(items)  # None: the metric does not apply
                todo = []
                for i, it in enumerate(items):
                    if metric.applies(it, self.context):
                        if it.text is None:
                            column[i] = 0.0  # a segment the model did not write scores 0
                        else:
                            todo.append(i)
                for i, v in zip(todo, metric.fn([items[i] for i in todo], self.context) if todo else []):
                    column[i] = v
                seg_values[name] = column
            else:
                wholes = [WholeItem(t, ex, tuple(None if f is None else f.text for f in out.segments),
                                    out.stats.no_labels) for t, ex, out in zip(texts, examples, segmented)]
                todo = [i for i, it in enumerate(wholes) if metric.applies(it, self.context)]
                column = [None] * len(wholes)
                for i, v in zip(todo, metric.fn([wholes[i] for i in todo], self.context) if todo else []):
                    column[i] = v
                whole_values[name] = column
        results = []
        cursor = 0
        for n, (ex, out, text) in enumerate(zip(examples, segmented, texts)):
            k = ex.num_segments
            segments = []
            for j, (seg, found) in enumerate(zip(ex.segments, out.segments)):
                segments.append({"index": seg.index, "label": seg.label, "found": found is not None,
                                 "text": None if found is None else found.text,
                                 "metrics": {m: seg_values[m][cursor + j] for m in seg_values}})
            averaged: dict[str, float | None] = {}
            for m in seg_values:
                vals = [v for v in seg_values[m][cursor:cursor + k] if v is not None]
                averaged[m] = sum(vals) / len(vals) if vals else None
            whole = {m: whole_values[m][n] for m in whole_values}
            rewards = [float(seg_values[self.reward][cursor + j] or 0.0) for j in range(k)]
            cursor += k
            results.append(ExampleScore(
                id=ex.id, num_segments=k, segments=segments, metrics={**averaged, **whole},
                format=out.stats.as_dict(), segment_rewards=rewards,
                holistic_reward=holistic_value(self.holistic, rewards, whole), response=text,
                spans=segment_char_spans(out)))
        return results
