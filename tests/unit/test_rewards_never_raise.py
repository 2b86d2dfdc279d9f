"""Property tests: the multichart rewards never raise on model output and stay fast on huge outputs.

The inputs are random text built from all Unicode categories (lone surrogates and control characters
included), mixed with tokens the parsers react to. Both functions must return a float in [0, 1].
`chart_answer` must return exactly 0 or 1. The official score must be a multiple of 1/k for a gold
with k parts. A 1 MB response must score in well under a second; the test asserts < 2 s for slow CI.
"""

from __future__ import annotations

import math
import time

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sdbench.rewards.chart_answer import chart_answer
from sdbench.rewards.multichartqa_official import MULTIPLE_CHOICE, OPEN_ENDED, multichartqa_official

TOKENS = ["Chart 1:", "**Chart 2:**", "Answer:", "answer: ", "The answer is", "is ", "so ", "final ", "=", "\n",
          "(A)", "B.", " C ", "D", "A or B", "Option B", "1,000", "1,5", "-0", "0.0", "0", "25", "45%", "−4",
          "2.5e3", "1e999", "nan", "inf", "5 by 3", "3x5", " rows and ", ", and ", ", ", ";", "; ", ".", "**",
          "٣", "\ud800", "\udfff", "\x00", "\x1c", "\u2028", "İ", "ß", "(", ")", "[", "]"]
ANY_CHAR = st.characters(exclude_categories=())  # every category, surrogates (Cs) and controls (Cc) too
TEXT = st.lists(st.one_of(st.text(ANY_CHAR, max_size=8), st.sampled_from(TOKENS)), max_size=14).map("".join)
LABEL = st.one_of(st.none(), st.sampled_from(["Chart 1:", "Chart 2:", "(b)", ":", "", "Chart 1"]), TEXT)
CHOICES = st.one_of(st.none(), st.lists(TEXT, max_size=5), st.dictionaries(TEXT, TEXT, max_size=5),
                    st.just(("A", "B", "C", "D", "E")))


@settings(max_examples=500, deadline=None)
@given(response=st.one_of(st.none(), TEXT), gold=TEXT, question_type=st.sampled_from([OPEN_ENDED, MULTIPLE_CHOICE]))
def test_official_score_is_a_fraction_of_the_parts(response, gold, question_type):
    score = multichartqa_official(response, gold, question_type)
    assert isinstance(score, float) and 0.0 <= score <= 1.0
    num_parts = len(gold.split(";"))
    assert score == 1.0 or math.isclose(score * num_parts, round(score * num_parts), abs_tol=1e-9)


@settings(max_examples=500, deadline=None)
@given(segment=st.one_of(st.none(), TEXT), gold=TEXT, label=LABEL, choices=CHOICES)
def test_chart_answer_is_zero_or_one(segment, gold, label, choices):
    assert chart_answer(segment, gold, label=label, choices=choices) in (0.0, 1.0)


NUMBER = st.one_of(st.integers(-10**12, 10**12).map(str),
                   st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12).map(repr))


@settings(max_examples=200, deadline=None)
@given(gold=NUMBER, other=NUMBER, label=st.sampled_from(["Chart 1:", "Chart 12:", "(c)"]))
def test_chart_answer_numbers_commit_or_score_zero(gold, other, label):
    """The gold itself (after any label) scores 1; a hedge between two different values scores 0."""
    assert chart_answer(f"{label} {gold}", gold, label=label) == 1.0
    assert chart_answer(f"{label} Answer: {gold}.", gold, label=label) == 1.0
    assume(float(gold) != float(other))
    assert chart_answer(f"{label} {gold} or {other}", gold, label=label) == 0.0
    assert chart_answer(f"{label} {other} or {gold}", gold, label=label) == 0.0


ONE_MB = 1_000_000
HUGE = {
    "digit run": "1" * ONE_MB,  # the official scientific-notation regex is quadratic on this
    "digit run then exponent": "7" * (ONE_MB - 3) + "e5x",
    "minus run then digit": "-" * ONE_MB + "1",
    "many short lines": "".join(f"so it is {i}\n" for i in range(ONE_MB // 16)),
    "mixed markup": ("Chart 1: (A) B. answer: 3,000 or 2.5e-3 % ; 1,5 \n" * (ONE_MB // 48)),
}


@pytest.mark.parametrize("name", HUGE)
def test_one_megabyte_response_is_fast(name):
    text = HUGE[name]
    for score in (lambda: multichartqa_official(text, "3; 5 by 3", OPEN_ENDED),
                  lambda: multichartqa_official(text, "B", MULTIPLE_CHOICE),
                  lambda: chart_answer(text, "25", label="Chart 1:"),
                  lambda: chart_answer(text, "All legal permanent residents, Adjustments, New arrivals")):
        start = time.perf_counter()
        value = score()
        elapsed = time.perf_counter() - start
        assert 0.0 <= value <= 1.0
        assert elapsed < 2.0, f"{name}: {elapsed:.2f} s on a 1 MB response"
