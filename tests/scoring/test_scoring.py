"""The shared scoring path: segments -> per-segment metrics and rewards -> holistic reward, on real task data."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdbench.core.errors import SdbenchError
from sdbench.data.scoring import Scorer
from sdbench.data.task import load_task


def _scorer(built, task, **kw):
    data = built(task)
    corpus = list(data.examples("test"))
    return Scorer(load_task(task), "synthetic", corpus, **kw), corpus


def _example_with_k(examples, k):
    return next(ex for ex in examples if ex.num_segments == k)


def test_reference_scores_one_and_missing_segment_scores_zero(built):
    scorer, examples = _scorer(built, "multipanel", metrics=("fact_f1", "fact_precision", "fact_recall"))
    ex = _example_with_k(examples, 4)
    perfect = scorer.score([ex], [ex.holistic_reference])[0]
    assert perfect.segment_rewards == [1.0, 1.0, 1.0, 1.0] and perfect.holistic_reward == 1.0
    assert perfect.metrics == {"fact_f1": 1.0, "fact_precision": 1.0, "fact_recall": 1.0}
    lines = ex.holistic_reference.split("\n")
    without_panel_3 = "\n".join(line for line in lines if not line.startswith("Panel 3:"))
    s = scorer.score([ex], [without_panel_3])[0]
    assert s.segment_rewards == [1.0, 1.0, 0.0, 1.0]
    assert s.holistic_reward == 0.75 and s.metrics["fact_f1"] == 0.75
    assert [seg["found"] for seg in s.segments] == [True, True, False, True]
    assert s.format["num_missing"] == 1 and s.format["num_found"] == 3


def test_a_fact_about_another_panel_counts_against_this_panel(built):
    scorer, examples = _scorer(built, "multipanel", metrics=("fact_f1", "fact_precision", "fact_recall"))
    ex = _example_with_k(examples, 2)
    one, two = ex.segments
    response = f"Panel 1: {one.reference} {two.reference}\nPanel 2: {two.reference}"
    s = scorer.score([ex], [response])[0]
    seg1 = s.segments[0]["metrics"]
    assert seg1["fact_recall"] == 1.0
    wrong = {f for f in two.facts} - {f for f in one.facts}
    stated = len(set(one.facts) | wrong)
    assert seg1["fact_precision"] == pytest.approx(len(one.facts) / stated)
    assert s.segments[1]["metrics"]["fact_f1"] == 1.0


def test_multichart_answers_and_official_score(built):
    scorer, examples = _scorer(built, "multichart")
    ex = _example_with_k(examples, 2)
    right = "\n".join(f"{s.label} {s.answer}" for s in ex.segments)
    half = f"{ex.segments[0].label} {ex.segments[0].answer}\n{ex.segments[1].label} definitely not it"
    a, b = scorer.score([ex, ex], [right, half])
    assert a.segment_rewards == [1.0, 1.0] and a.metrics["chart_answer"] == 1.0
    assert b.segment_rewards == [1.0, 0.0] and b.holistic_reward == 0.5
    assert a.metrics["multichartqa_official"] is not None and 0.0 <= b.metrics["multichartqa_official"] <= 1.0


def test_official_score_reads_the_answers_not_the_labels():
    """MultiChartQA's scorer reads every number of its text; it scores the rebuilt "Answer: a; b" (question
    order), so the "1" and "3" of "Chart 1:" / "Chart 3:" are never answers."""
    from sdbench.core.types import Example, Segment
    from sdbench.rewards.multichartqa_official import multichartqa_official

    segments = (Segment(0, "Chart 1:", "1", "1", meta={"question_index": 1}),
                Segment(1, "Chart 3:", "3", "3", meta={"question_index": 0}))
    ex = Example("q", (), "", segments, "Chart 1: 1\nChart 3: 3",
                 meta={"official_answer": "3; 1", "type": "open-ended", "segment_label": "Chart {k}:"})
    scorer = Scorer(load_task("multichart"), "multichartqa", [ex], metrics=("multichartqa_official",))
    wrong, right, swapped, official_format = scorer.score(
        [ex] * 4, ["Chart 1: Japan\nChart 3: Korea", "Chart 1: 1\nChart 3: 3", "Chart 3: 3\nChart 1: 1",
                   "Answer: 3; 1"])
    assert multichartqa_official("Chart 1: Japan\nChart 3: Korea", "3; 1", "open-ended") == 1.0  # raw text leaks
    assert wrong.metrics["multichartqa_official"] == 0.0
    assert right.metrics["multichartqa_official"] == swapped.metrics["multichartqa_official"] == 1.0
    assert official_format.metrics["multichartqa_official"] == 1.0  # no label at all: read as written


def test_reward_and_holistic_overrides_are_validated(built):
    with pytest.raises(SdbenchError, match="whole-output metric"):
        _scorer(built, "multichart", reward="multichartqa_official")
    with pytest.raises(SdbenchError, match="must be 'mean' or a whole-output metric"):
        _scorer(built, "multichart", holistic="chart_answer")
    with pytest.raises(SdbenchError, match="unknown metric 'chart_answr'"):
        _scorer(built, "multichart", metrics=("chart_answr",))
    scorer, examples = _scorer(built, "multichart", holistic="multichartqa_official")
    ex = _example_with_k(examples, 2)
    s = scorer.score([ex], ["\n".join(f"{seg.label} {seg.answer}" for seg in ex.segments)])[0]
    assert s.holistic_reward == s.metrics["multichartqa_official"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=300)), min_size=3, max_size=3))
def test_scoring_never_raises_on_any_output(built, responses):
    for task in ("multipanel", "multichart"):
        scorer, examples = _scorer(built, task, metrics=None if task == "multichart" else ("fact_f1",))
        scores = scorer.score(examples[:3], responses)
        for s in scores:
            assert len(s.segment_rewards) == s.num_segments
            assert all(0.0 <= r <= 1.0 for r in s.segment_rewards) and 0.0 <= s.holistic_reward <= 1.0


def test_a_one_megabyte_response_scores_in_bounded_time(built):
    import random
    import time

    words = "Panel 1: Chart 2: (a) red large circle left of 45 ; 3.5 by 2 , answer is\n".split(" ")
    rng = random.Random(0)
    big = " ".join(rng.choice(words) for _ in range(250_000))[:1_000_000]
    for task, metrics in (("multipanel", ("fact_f1", "rouge_l", "bleu_4", "cider_d")), ("multichart", None)):
        scorer, examples = _scorer(built, task, metrics=metrics)
        best = min(_timed(lambda: scorer.score(examples[:1], [big]), time) for _ in range(2))
        assert best < 3.0, f"{task}: {best:.2f}s for a 1 MB response"


def _timed(fn, time) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
