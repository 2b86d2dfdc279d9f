"""Tests for the per-segment multichart reward (sdbench/rewards/chart_answer.py).

Messy segments (label present or absent, "Answer:" markers, units, hedges, empty input, None), each gold
kind (number, text, list, layout, choice letter), the official quirks it deliberately does not have, and
every sub-answer of the 60 real MultiChartQA questions in ../shared/real-samples/multichartqa.
"""

from __future__ import annotations

import json

import pytest

from sdbench.rewards.chart_answer import answer_text, chart_answer, normalize_text
from sdbench.rewards.multichartqa_official import multichartqa_official


@pytest.fixture(scope="module")
def sub_answers(real_samples_dir) -> list[str]:
    """Every "; "-separated sub-answer of the 60 real questions: one segment's gold each."""
    files = sorted((real_samples_dir / "multichartqa" / "data").glob("*/chart-path_and_question-answer_pair.json"))
    if not files:
        pytest.skip("MultiChartQA sample absent")
    records = [record for path in files for record in json.loads(path.read_text(encoding="utf-8"))]
    return [part.strip() for record in records for part in record["answer"].split(";")]


# ----------- numbers ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("segment, expected", [
    ("Chart 1: 25", 1.0),
    ("25", 1.0),
    ("Answer: 25", 1.0),
    ("Chart 1: Answer: 25", 1.0),
    ("The answer is 25.", 1.0),
    ("Chart 1: The answer is 25.", 1.0),
    ("**Chart 1:** **25**", 1.0),
    ("- Chart 1: 25", 1.0),  # a markdown bullet, not a minus sign
    ("approximately 25", 1.0),
    ("about 25 units", 1.0),
    ("25%", 1.0),
    ("$25", 1.0),
    ("2.5e1", 1.0),
    ("Chart 1: 26", 1.0),  # 4 % off
    ("Chart 1: 23.75", 1.0),  # exactly 5 % off: inclusive
    ("Chart 1: 26.5", 0.0),  # 6 % off
    ("Chart 1: 20 or 30", 0.0),  # a hedge
    ("Chart 1: 25 or 26", 0.0),  # a hedge, even when both are within tolerance
    ("between 20 and 30", 0.0),
    ("Chart 1: 25 (in 2018)", 0.0),  # two numbers stated
    ("Chart 1: The bars go from 10 to 25.\nAnswer: 25", 1.0),  # the marker picks the answer line
    ("Chart 1: The bars go from 10 to 25.", 0.0),  # no marker: two numbers
    ("Chart 1: Answer: 25\nbecause the tallest bar is 25 and the next is 20", 1.0),  # only the marker's line
    ("twenty-five", 0.0),
    ("Chart 1:", 0.0),
    ("", 0.0),
    (None, 0.0),
])
def test_numeric_gold_25(segment, expected):
    assert chart_answer(segment, "25", label="Chart 1:") == expected


def test_label_number_is_never_an_answer():
    # the official score reads the "1" of "Chart 1:" as a number; this reward strips the label first
    assert multichartqa_official("Chart 1: 5", "1", "open-ended") == 1.0
    assert chart_answer("Chart 1: 5", "1", label="Chart 1:") == 0.0
    assert chart_answer("Chart 1: 5", "1") == 0.0  # no label given: the generic "Chart <n>:" is stripped
    assert chart_answer("Chart 1: 1", "1", label="Chart 1:") == 1.0
    assert chart_answer("chart 3 : 7", "7", label="Chart 3:") == 1.0  # case and spacing
    assert chart_answer("Chart 3 7", "7", label="Chart 3:") == 1.0  # trailing punctuation optional
    assert chart_answer("Chart 10: 7", "7", label="Chart 1:") == 1.0  # not "Chart 1" + "0: 7"
    assert chart_answer("(b) 7", "7", label="(b)") == 1.0


@pytest.mark.parametrize("segment, gold, expected", [
    ("1,000", "1000", 1.0),
    ("1000", "1,000", 1.0),
    ("1,000,000", "1000000", 1.0),
    ("1,5", "15", 0.0),  # a comma not followed by three digits separates two numbers
    ("45", "45%", 1.0),  # "%" is a unit on both sides
    ("45 %", "45%", 1.0),
    ("0.45", "45%", 0.0),  # no rescaling by 100 (the official score accepts this)
    ("4,000", "4,000%", 1.0),
    ("0", "0", 1.0),
    ("0.0", "0", 1.0),
    ("-0", "0", 1.0),  # the official score rejects "-0.0"
    ("0.001", "0", 0.0),  # gold 0: exact
    ("-400", "-400", 1.0),
    ("−400", "-400", 1.0),  # U+2212 minus sign
    ("400", "-400", 0.0),
    ("Chart 2: -400", "-400", 1.0),
    ("0.5", "0.50", 1.0),
    ("3", "3.0", 1.0),
    ("Q1", "1", 0.0),  # a digit glued to a letter is not a number
    ("3rd", "3", 1.0),
])
def test_number_forms(segment, gold, expected):
    assert chart_answer(segment, gold, label="Chart 2:") == expected


# ----------- text and lists --------------------------------------------------------------------------------

@pytest.mark.parametrize("segment, expected", [
    ("Japan", 1.0),
    ("Chart 1: japan.", 1.0),
    ("The answer is **Japan**", 1.0),
    ('"Japan"', 1.0),
    ("Japan and Korea", 0.0),  # the official score accepts it (substring)
    ("Japan, Korea", 0.0),
    ("Japan or Korea", 0.0),
    ("I think Japan", 0.0),
    ("Korea", 0.0),
])
def test_text_gold_must_match_whole_answer(segment, expected):
    assert chart_answer(segment, "Japan", label="Chart 1:") == expected


def test_official_substring_quirk_is_not_reproduced():
    assert multichartqa_official("Answer: Japan and Korea", "Japan", "open-ended") == 1.0
    assert chart_answer("Answer: Japan and Korea", "Japan") == 0.0


def test_normalize_text():
    assert normalize_text("  The Purchasing-power parities (PPP). ") == "purchasing power parities ppp"
    assert normalize_text("CO₂ emissions") == normalize_text("co2 Emissions")  # NFKC


LEGEND = "All legal permanent residents, Adjustments, New arrivals"


@pytest.mark.parametrize("segment, expected", [
    (LEGEND, 1.0),
    ("New arrivals, Adjustments, All legal permanent residents", 1.0),  # any order
    ("New arrivals, adjustments, and all legal permanent residents.", 1.0),  # Oxford "and"
    ("All legal permanent residents, Adjustments and New arrivals", 1.0),  # "X and Y" closes the list
    ("Adjustments, New arrivals", 0.0),  # an item missing
    ("All legal permanent residents, Adjustments, New arrivals, Workers", 0.0),  # an extra item
    ("All legal permanent residents, Adjustments, Adjustments", 0.0),  # one-to-one
])
def test_comma_list_gold(segment, expected):
    assert chart_answer(segment, LEGEND) == expected


@pytest.mark.parametrize("segment, gold, expected", [
    ("You, yourself, as an individual", "You, yourself, as an individual", 1.0),  # a label with commas
    ("Santa Clara County, CA (30%)", "Santa Clara County, CA (30%)", 1.0),
    ("True, 75", "True, 75", 1.0),
    ("75, true", "True, 75", 1.0),
    ("True, 76", "True, 75", 1.0),  # a number item uses the 5 % rule
    ("True, about 75", "True, 75", 0.0),  # a number item must be a bare number
    ("29.64, 23.94", "29.64, 23.94", 1.0),
    ("23.94, 29.64", "29.64, 23.94", 0.0),  # a list of numbers keeps its order
    ("(4, 2)", "(4, 2)", 1.0),
    ("4,2", "(4, 2)", 1.0),
    ("(2, 4)", "(4, 2)", 0.0),  # coordinates keep their order
])
def test_multi_part_text_gold(segment, gold, expected):
    assert chart_answer(segment, gold) == expected


@pytest.mark.parametrize("segment, expected", [
    ("5 by 3", 1.0),
    ("Chart 2: 5 x 3", 1.0),
    ("5x3", 1.0),
    ("5 × 3", 1.0),
    ("5 rows by 3 columns", 1.0),
    ("5 rows and 3 columns", 1.0),
    ("5 by 3 grid", 1.0),
    ("The answer is 5 by 3.", 1.0),
    ("3 by 5", 0.0),  # rows and columns swapped
    ("5 by 4", 0.0),  # no tolerance
    ("5 by 3 or 3 by 5", 0.0),
    ("15", 0.0),
])
def test_layout_gold(segment, expected):
    assert chart_answer(segment, "5 by 3", label="Chart 2:") == expected


# ----------- multiple-choice letters -----------------------------------------------------------------------

@pytest.mark.parametrize("segment, expected", [
    ("B", 1.0),
    ("(B)", 1.0),
    ("B.", 1.0),
    ("B)", 1.0),
    ("b", 1.0),
    ("Option B", 1.0),
    ("option (b)", 1.0),
    ("The answer is B", 1.0),
    ("Chart 3: Answer: B", 1.0),
    ("The correct option is B.", 1.0),
    ("B. Increasing then decreasing", 1.0),
    ("Increasing then decreasing (B)", 1.0),
    ("Chart 3: B", 1.0),
    ("A or B", 0.0),
    ("A and B", 0.0),
    ("A/B", 0.0),
    ("B, not A", 0.0),  # names two options
    ("b) or c)", 0.0),
    ("A", 0.0),
    ("C", 0.0),
    ("Bars", 0.0),  # the "B" of a word is not a letter
    ("Increasing then decreasing", 0.0),  # option text needs the `choices` mapping
    ("", 0.0),
    (None, 0.0),
])
def test_choice_letter_gold_b(segment, expected):
    assert chart_answer(segment, "B", label="Chart 3:") == expected


def test_choice_option_text_with_mapping():
    options = {"A": "Increasing", "B": "Increasing then decreasing", "C": "Decreasing",
               "D": "Decreasing then increasing"}
    assert chart_answer("Increasing then decreasing", "B", choices=options) == 1.0
    assert chart_answer("increasing then decreasing.", "B", choices=options) == 1.0
    assert chart_answer("Increasing", "B", choices=options) == 0.0
    assert chart_answer("Increasing or decreasing", "B", choices=options) == 0.0


def test_choices_set_which_letters_are_options():
    assert chart_answer("E", "E", choices=("A", "B", "C", "D", "E")) == 1.0
    assert chart_answer("E or A", "E", choices=("A", "B", "C", "D", "E")) == 0.0
    assert chart_answer("e", "E") == 1.0  # E is not an option by default: compared as text


def test_official_letter_quirks_are_not_reproduced():
    # official: the last bracket wins and a one-letter gold is matched as a substring
    assert multichartqa_official("(A) or (B)", "B", "multiple-choice") == 1.0
    assert chart_answer("(A) or (B)", "B") == 0.0
    assert multichartqa_official("Answer: the bar; 25", "A; 25", "open-ended") == 1.0
    assert chart_answer("the bar", "A") == 0.0


# ----------- extraction ------------------------------------------------------------------------------------

@pytest.mark.parametrize("segment, label, expected", [
    ("**Chart 2:** The answer is **Japan**.", "Chart 2:", "Japan"),
    ("Chart 1: The bars rise from 10 to 30.\nAnswer: 30\n(see legend)", None, "30"),
    ("Chart 1: Answer: Chart 1: 30", "Chart 1:", "30"),
    ("Figure 2) 30", None, "30"),
    ("Chart 1.5", None, "Chart 1.5"),  # "1.5" is not a label followed by "."
    ("30 is the answer", None, "30 is the answer"),  # nothing after the marker: the whole segment
])
def test_answer_text(segment, label, expected):
    assert answer_text(segment, label) == expected


def test_empty_or_non_string_gold_scores_zero():
    assert chart_answer("25", "") == 0.0
    assert chart_answer("25", "   ") == 0.0
    assert chart_answer("25", None) == 0.0  # type: ignore[arg-type]


# ----------- the real sample's sub-answers -----------------------------------------------------------------

def test_sample_sub_answers_cover_every_gold_kind(sub_answers):
    assert len(sub_answers) == 86  # 60 questions; 25 parallel ones: 24 with two parts, 1 with three
    assert {"B", "5 by 3", "-400", "True, 75", LEGEND, "0"} <= set(sub_answers)


@pytest.mark.parametrize("template", ["Chart 2: {}", "**Chart 2:** The answer is {}.", "Chart 2: Answer: {}",
                                      "Chart 2: Looking at bars 3 and 4 of the chart.\nAnswer: {}", "{}"])
def test_sample_correct_segments_score_one(sub_answers, template):
    assert [chart_answer(template.format(gold), gold, label="Chart 2:") for gold in sub_answers] == \
        [1.0] * len(sub_answers)


def test_sample_hedges_and_wrong_answers_score_zero(sub_answers):
    for gold in sub_answers:
        other = "A" if gold != "A" else "B"
        hedge = f"{gold} or {other}" if gold in "ABCD" else f"{gold} or 99 zzz"
        assert chart_answer(f"Chart 2: {hedge}", gold, label="Chart 2:") == 0.0, hedge
        wrong = other if gold in "ABCD" else "zzz 99999"
        assert chart_answer(f"Chart 2: {wrong}", gold, label="Chart 2:") == 0.0, wrong


@pytest.mark.parametrize("stated, gold, expected", [
    ("Chart 1: 1970", "1970", 1.0),
    ("Chart 1: 1971", "1970", 0.0),   # 5 % of 1970 would accept 1872-2068: years match exactly
    ("Chart 1: 2068", "1970", 0.0),
    ("Chart 1: 1971, 2000", "1970, 2000", 0.0),  # in a list too
    ("Chart 1: 2,010", "2010", 1.0),  # a thousands comma still states 2010
    ("Chart 1: 3100", "3000", 1.0),   # not a year (above 2100): the 5 % tolerance applies
    ("Chart 1: 999", "950", 0.0),
    ("Chart 1: 26", "25", 1.0),
])
def test_years_are_matched_exactly(stated, gold, expected):
    assert chart_answer(stated, gold, label="Chart 1:") == expected
