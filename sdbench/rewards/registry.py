"""Every metric and reward by name: `METRICS[name]` -> `Metric(level, batched function)`.

Two levels:
- **segment** metrics score one segment's text against that segment's reference (its facts, its answer, its
  reference caption). They give the per-segment rewards r_{i,k} of SD-GRPO. A segment the model did not
  write scores 0 (the scorer handles that without calling the function). A metric that does not apply to a
  segment (`Metric.applies`: fact metrics on a segment with no facts, e.g. DOCCI) gives None, left out of
  averages.
- **whole** metrics score the whole response against the example (the official MultiChartQA score, caption
  metrics on the full caption, shared context included).

Functions are batched (`fn(items, ctx) -> list[float | None]`) because the caption metrics need a corpus
(CIDEr-D document frequencies) and a model (embedding similarity) that are set up once per corpus, not once
per segment. They are pure otherwise and never raise on model output.

The rollout-level (holistic) reward GRPO uses is `holistic_reward`: either "mean" (the mean of the K segment
rewards, missing segments as 0) or the name of a whole metric; see `holistic_value`.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal

from sdbench.core.errors import unknown_name_error
from sdbench.core.types import Example, Segment


@dataclass(frozen=True)
class SegmentItem:
    """One segment to score: the body the model wrote for it (None: not written) and its reference."""

    text: str | None
    segment: Segment
    example: Example


@dataclass(frozen=True)
class WholeItem:
    """One whole response to score against its example, with what the segmenter read from it."""

    response: str
    example: Example
    segments: tuple[str | None, ...] = ()
    """The body the segmenter found for each expected segment (None: not written), in segment order."""
    no_labels: bool = False
    """The response holds no label at all (then a metric may read it in its own format)."""


@dataclass
class ScoringContext:
    """What batched metrics share across calls: the task's hooks, the reference corpus and lazy caches.

    `corpus` is every example of the split being scored: CIDEr-D takes its document frequencies from all the
    segment references (segment level) or all holistic references (whole level) of that split, as COCO's
    evaluation does over its test set. Build one context per split and reuse it across steps."""

    hooks: ModuleType | None
    corpus: Sequence[Example]
    cache: dict[str, Any] = field(default_factory=dict)

    def cached(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]


Level = Literal["segment", "whole"]


def _always(item: Any, ctx: ScoringContext) -> bool:
    return True


@dataclass(frozen=True)
class Metric:
    name: str
    level: Level
    fn: Callable[[list[Any], ScoringContext], list[float | None]]
    description: str
    needs_java: bool = False
    applies: Callable[[Any, ScoringContext], bool] = _always
    """Whether the metric applies to an item (fact metrics need reference facts and a fact parser)."""
    value_range: tuple[float, float] = (0.0, 1.0)
    """The values the metric can take (CIDEr-D: [0, 10]; cosine similarity: [-1, 1]); the leaderboard refuses
    a result outside it."""

    def available(self) -> tuple[bool, str]:
        """(usable here, why not)."""
        if self.needs_java and shutil.which("java") is None:
            return False, "needs a Java runtime (pycocoevalcap METEOR); install one, e.g. apt-get install default-jre"
        return True, ""


# ---- fact metrics (synthetic sources) ----------------------------------------------------------------------
def _fact_prf(items: list[SegmentItem], ctx: ScoringContext) -> list[tuple[float, float, float] | None]:
    """(precision, recall, F1) of the facts parsed from each segment.

    Recall is against the segment's reference facts (what the reference states). Precision is against every
    fact that is TRUE of this segment (the task hook `true_facts`, default: the reference facts): a true but
    unmentioned relation is not an error, a fact about another panel is. Parsing uses the task hook
    `parse_facts(text, segment, example) -> set[str]`."""
    parse = getattr(ctx.hooks, "parse_facts", None)
    true_facts = getattr(ctx.hooks, "true_facts", None)
    out: list[tuple[float, float, float] | None] = []
    for it in items:
        if not _has_facts(it, ctx):
            out.append(None)
            continue
        reference = set(it.segment.facts)
        predicted = parse(it.text, it.segment, it.example) if it.text else set()
        true = set(true_facts(it.segment, it.example)) if true_facts else reference
        precision = len(predicted & true) / len(predicted) if predicted else 0.0
        recall = len(predicted & reference) / len(reference)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out.append((precision, recall, f1))
    return out


def _has_facts(item: SegmentItem, ctx: ScoringContext) -> bool:
    return bool(item.segment.facts) and hasattr(ctx.hooks, "parse_facts")


def _has_answer(item: Any, ctx: ScoringContext) -> bool:
    segments = [item.segment] if isinstance(item, SegmentItem) else item.example.segments
    return all(s.answer is not None for s in segments)


def _fact_metric(position: int) -> Callable[[list[SegmentItem], ScoringContext], list[float | None]]:
    def fn(items: list[SegmentItem], ctx: ScoringContext) -> list[float | None]:
        return [None if prf is None else prf[position] for prf in _fact_prf(items, ctx)]
    return fn


# ---- chart answers ------------------------------------------------------------------------------------------
def _chart_answer(items: list[SegmentItem], ctx: ScoringContext) -> list[float | None]:
    from sdbench.rewards.chart_answer import chart_answer

    out: list[float | None] = []
    for it in items:
        if it.segment.answer is None:
            out.append(None)
            continue
        choices = it.segment.meta.get("options") or it.segment.meta.get("choices")
        out.append(chart_answer(it.text, it.segment.answer, label=it.segment.label, choices=choices))
    return out


def official_answer(example: Example) -> tuple[str, str]:
    """(gold answer string, question type) as the official MultiChartQA scorer reads them.

    Real records keep theirs in meta; synthetic examples join their sub-answers with "; " in segment order,
    an open-ended parallel question in MultiChartQA's own format."""
    if "official_answer" in example.meta:
        return example.meta["official_answer"], example.meta.get("type", "open-ended")
    return "; ".join(s.answer or "" for s in example.segments), "open-ended"


def official_response(item: WholeItem) -> str:
    """The text the official MultiChartQA scorer reads: the answer the labelled lines give, in its format.

    The prompt asks for one "Chart k:" line per sub-question in chart order; MultiChartQA's scorer expects
    "Answer: a; b" in question order, and reads every number of the text it gets, so the raw lines would
    let the "1" of "Chart 1:" count as an answer. The official answer is rebuilt from the segment bodies,
    ordered by each segment's `question_index` (a segment not written is an empty part). A response with no
    label at all is read as written: a model answering in MultiChartQA's own format is scored as the
    official code scores it.

    >>> from sdbench.core.types import Example, Segment
    >>> ex = Example("q", (), "", (Segment(0, "Chart 2:", "5", "5", meta={"question_index": 1}),
    ...                            Segment(1, "Chart 3:", "25", "25", meta={"question_index": 0})), "")
    >>> official_response(WholeItem("Chart 2: 5\\nChart 3: 25", ex, ("5", "25")))
    'Answer: 25; 5'
    >>> official_response(WholeItem("Answer: 25; 5", ex, (None, None), no_labels=True))
    'Answer: 25; 5'
    """
    if item.no_labels and not any(text is not None for text in item.segments):
        return item.response
    order = sorted(range(len(item.example.segments)),
                   key=lambda j: item.example.segments[j].meta.get("question_index", j))
    texts = [item.segments[j] if j < len(item.segments) else None for j in order]
    return "Answer: " + "; ".join(" ".join((text or "").split()) for text in texts)


def _multichartqa_official(items: list[WholeItem], ctx: ScoringContext) -> list[float | None]:
    from sdbench.rewards.multichartqa_official import multichartqa_official

    out: list[float | None] = []
    for it in items:
        if any(s.answer is None for s in it.example.segments):
            out.append(None)
            continue
        gold, question_type = official_answer(it.example)
        out.append(multichartqa_official(official_response(it), gold, question_type))
    return out


# ---- caption metrics ----------------------------------------------------------------------------------------
def _segment_corpus(ctx: ScoringContext) -> list[list[str]]:
    return [[s.reference] for ex in ctx.corpus for s in ex.segments]


def _whole_corpus(ctx: ScoringContext) -> list[list[str]]:
    return [[ex.holistic_reference] for ex in ctx.corpus]


def _caption_metric(name: str, level: Level) -> Callable[[list[Any], ScoringContext], list[float | None]]:
    """A caption metric of sdbench.rewards.caption_metrics (pycocoevalcap-equal, PTB-tokenised first).

    CIDEr-D takes its document frequencies from the context's corpus (built once per context)."""
    backend_name = "embedding" if name == "embedding_similarity" else name

    def fn(items: list[Any], ctx: ScoringContext) -> list[float | None]:
        from sdbench.rewards.caption_metrics import build_cider, score_captions

        if level == "segment":
            candidates = [it.text or "" for it in items]
            references = [[it.segment.reference] for it in items]
        else:
            candidates = [it.response or "" for it in items]
            references = [[it.example.holistic_reference] for it in items]
        cider = None
        if name == "cider_d":
            corpus = _segment_corpus if level == "segment" else _whole_corpus
            cider = ctx.cached(f"cider:{level}", lambda: build_cider(corpus(ctx)))
        values = score_captions(candidates, references, metrics=(backend_name,), cider=cider)[backend_name]
        return [float(v) for v in values]
    return fn


CAPTION_METRICS = ("cider_d", "bleu_4", "rouge_l", "meteor", "embedding_similarity")
CAPTION_RANGES = {"cider_d": (0.0, 10.0), "embedding_similarity": (-1.0, 1.0)}  # CIDEr-D: pycocoevalcap's x10


def _build() -> dict[str, Metric]:
    metrics = [
        Metric("fact_f1", "segment", _fact_metric(2), "F1 of the facts stated in the segment (synthetic sources)",
               applies=_has_facts),
        Metric("fact_precision", "segment", _fact_metric(0), "share of stated facts that are true of this segment",
               applies=_has_facts),
        Metric("fact_recall", "segment", _fact_metric(1), "share of the reference facts the segment states",
               applies=_has_facts),
        Metric("chart_answer", "segment", _chart_answer,
               "the segment states its chart's sub-answer (5% numeric tolerance, strict on hedges)",
               applies=_has_answer),
        Metric("multichartqa_official", "whole", _multichartqa_official,
               "the official MultiChartQA per-question score of the whole response (quirks included)",
               applies=_has_answer),
    ]
    for name in CAPTION_METRICS:
        java = name == "meteor"
        span = CAPTION_RANGES.get(name, (0.0, 1.0))
        metrics.append(Metric(name, "segment", _caption_metric(name, "segment"),
                              f"{name} of the segment against its reference (pycocoevalcap-equal)", java,
                              value_range=span))
        metrics.append(Metric(f"whole_{name}", "whole", _caption_metric(name, "whole"),
                              f"{name} of the whole response against the holistic reference", java,
                              value_range=span))
    return {m.name: m for m in metrics}


METRICS: dict[str, Metric] = _build()


def get_metric(name: str) -> Metric:
    if name not in METRICS:
        raise unknown_name_error("metric", name, METRICS)
    return METRICS[name]


def reward_range(reward: str, holistic: str) -> dict[str, tuple[float, float]]:
    """The ranges of the rewards a results file reports: `segment_reward` (the reward metric's) and
    `holistic_reward` (the holistic metric's, or the reward's when it is the mean of the segments)."""
    segment = get_metric(reward).value_range
    return {"segment_reward": segment,
            "holistic_reward": segment if holistic == "mean" else get_metric(holistic).value_range}


def holistic_value(mode: str, segment_rewards: Sequence[float], whole_metrics: dict[str, float | None]) -> float:
    """The rollout-level reward: the mean of the segment rewards, or a whole metric's value.

    >>> holistic_value("mean", [1.0, 0.0, 0.5], {})
    0.5
    >>> holistic_value("multichartqa_official", [1.0, 0.0], {"multichartqa_official": 0.5})
    0.5
    """
    if mode == "mean":
        return float(sum(segment_rewards) / len(segment_rewards)) if segment_rewards else 0.0
    value = whole_metrics.get(mode)
    return 0.0 if value is None else float(value)
