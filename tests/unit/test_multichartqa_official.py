"""Tests for the official MultiChartQA score (sdbench/rewards/multichartqa_official.py).

Each expected value was worked out by hand from the official code: github.com/Zivenzhu/Multi-chart-QA
@1129e12, `code/calculate_acc.py` (C) and `code/mmmu_utils.py` (M). The comment on each case names the
line that produces the value. The real-sample tests use the 60 MultiChartQA questions in
../shared/real-samples/multichartqa.
"""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdbench.core.errors import SdbenchError
from sdbench.rewards.multichartqa_official import (extract_numbers, key_responses, multichartqa_official,
                                                   multichartqa_official_breakdown, normalize_str,
                                                   parse_multi_choice_response, parse_open_response,
                                                   relaxed_correctness)

OPEN, MC = "open-ended", "multiple-choice"


@pytest.fixture(scope="module")
def sample(real_samples_dir) -> list[dict]:
    """The 60 real question records, read in place from ../shared/real-samples/multichartqa/data."""
    files = sorted((real_samples_dir / "multichartqa" / "data").glob("*/chart-path_and_question-answer_pair.json"))
    if not files:
        pytest.skip("MultiChartQA sample absent")
    return [record for path in files for record in json.loads(path.read_text(encoding="utf-8"))]


# ----------- flow: whole-gold pass, ";" retry, partial credit (C L184-191) -------------------------------

@pytest.mark.parametrize("response, gold, expected", [
    # C L186: the whole gold "2.50; x" is a substring of the key "12.50; x" -> 1, although part 2.50 alone fails
    ("Answer: 12.50; x", "2.50; x", 1.0),
    # C L188-191: retry per part, mean over parts
    ("Answer: Mistral agreement; C", "Mistral agreement; B", 0.5),
    ("Answer: 100; 7; 9", "100; 0; 1", 1 / 3),
    # C L189: split on ";" (not "; "), parts stripped
    ("Answer: 3", "3;5", 0.5),
    # quirk 25: an empty part "" is a substring of every string prediction (M L257)
    ("Answer: Korea", "Japan;", 0.5),
])
def test_whole_gold_then_split_retry(response, gold, expected):
    assert multichartqa_official(response, gold, OPEN) == expected


def test_breakdown_reports_whole_pass_and_parts():
    got = multichartqa_official_breakdown("Answer: 12.50; x", "2.50; x", OPEN)
    assert got.whole_matched is True and got.part_matched == (False, True) and got.score == 1.0
    got = multichartqa_official_breakdown("Answer: Mistral agreement; C", "Mistral agreement; B", OPEN)
    assert got.parts == ("Mistral agreement", "B")
    assert got.whole_matched is False and got.part_matched == (True, False) and got.score == 0.5


# ----------- multiple choice (C L172-183, M L15-74, L186-200) -----------------------------------------------

@pytest.mark.parametrize("response, gold, expected", [
    ("Answer: C", "C", 1.0),
    ("Answer: B", "C", 0.0),
    # M L196: gold.index(part) marks the FIRST equal part: "A; A" scores 0.5 on A
    ("Answer: A", "A; A", 0.5),
    # C L173: choices are always A-D, so gold E is unreachable
    ("Answer: E", "E", 0.0),
    # M L20-21: "," stripped before "." -> "B,." leaves "B,": no candidate -> random there, 0 here
    ("B,.", "B", 0.0),
    ("B.,", "B", 1.0),
    # M L28-31, L57-60: brackets win, the last bracket wins
    ("(A) is wrong, the answer is (C)", "C", 1.0),
    # M L33-36, L63-65: " A " (an article) is a candidate and is the last token
    ("The answer: C is A sure bet", "C", 0.0),
    ("The answer: C is A sure bet", "A", 1.0),
    # M L37-40: "A." inside "USA."
    ("Made in the USA. I think so", "A", 1.0),
    # M L62-65, L71: "X." candidates all rfind(" X ") == -1 -> argmax takes the first in A-D order
    ("fig.D. and fig.B. now", "B", 1.0),
    ("fig.D. and fig.B. now", "D", 0.0),
    # M L46-50: content fallback "answer: x" only with more than 5 tokens
    ("So my final answer: c, as argued", "C", 1.0),
    ("answer: c", "C", 0.0),
    # M L52-53: nothing parsed -> the official random letter; here a deterministic 0 (the one deviation)
    ("no idea", "A", 0.0),
    ("", "A", 0.0),
])
def test_multiple_choice_quirks(response, gold, expected):
    assert multichartqa_official(response, gold, MC) == expected


def test_duplicate_choice_parts_mark_only_the_first():
    # M L196: matched[gold_i.index(answer)] marks the first equal part, twice
    assert multichartqa_official_breakdown("Answer: A", "A; A", MC).part_matched == (True, False)


def test_unparseable_choice_is_none_not_random():
    assert parse_multi_choice_response("no idea") is None
    assert multichartqa_official_breakdown("no idea", "A", MC).prediction is None
    assert [multichartqa_official("???", gold, MC) for gold in "ABCD"] == [0.0] * 4


# ----------- open-ended parsing (M L134-182) -------------------------------------------------------------

def test_lowercasing_defeats_the_sentence_split():
    # M L142-143: lower() before re.split(r'\.\s(?=[A-Z])|\n') -> one sentence; 'is ' keeps the last tail
    assert key_responses("The value is 10. The answer is 20") == ["20"]
    assert multichartqa_official("The value is 10. The answer is 20", "10", OPEN) == 0.0


def test_indicators_match_inside_words():
    # M L144-145: 'is ' inside "axis " gives the key "shows 25" on a reasoning line
    assert multichartqa_official("Answer: 30\nThis axis shows 25", "25", OPEN) == 1.0
    # 'so ' inside "also "
    assert key_responses("Answer: Japan\nKorea also leads") == ["japan", "leads"]


def test_equals_sign_only_on_last_line():
    # M L148-149
    assert multichartqa_official("x = 5\nAnswer: 7", "5", OPEN) == 0.0
    assert multichartqa_official("Answer: 7\nx = 5", "5", OPEN) == 1.0


def test_shortest_tail_and_empty_tail():
    # M L151-157: "answer: " gives "japan is the largest", 'is ' gives "the largest" (shorter)
    assert key_responses("Answer: Japan is the largest") == ["the largest"]
    assert multichartqa_official("Answer: Japan is the largest", "Japan", OPEN) == 0.0
    # M L153: the 'is ' tail is "" (falsy), so the longer 'answer ' tail "is" replaces it
    assert key_responses("so the answer is \nAnswer: 7") == ["is", "7"]


def test_trivial_tail_dropped_and_whole_response_fallback():
    # M L162 drops ";", M L164-165 falls back to the whole lowered response
    assert key_responses("answer: ;\nnothing here") == ["answer: ;\nnothing here"]


def test_chart_label_number_counts_and_reasoning_lines_count():
    # M L164-165 + L172: no indicator -> the whole response -> the "1" of "Chart 1:" is a number
    assert multichartqa_official("Chart 1: 5", "1", OPEN) == 1.0
    assert multichartqa_official("Chart 1: 7\nChart 2: 7\nChart 3: 7", "100; 0; 1", OPEN) == 1 / 3
    # every line's key counts (M L146), not only the answer line
    assert multichartqa_official("Solution: the value is 30.\nAnswer: 25", "30", OPEN) == 1.0


@pytest.mark.parametrize("response, gold, expected", [
    # M L121 (?![,\d]): a number right before a comma is not extracted
    ("Answer: 25, as shown", "25", 0.0),
    ("Answer: 25 , as shown", "25", 1.0),
    # M L121 -?: "10-20" gives 10 and -20
    ("Answer: 10-20", "-20", 1.0),
    ("Answer: 10-20", "20", 0.0),
    # M L82 / L100: commas removed before float(): "1,2,3" is 123; Python float accepts "1_000"
    ("Answer: 1,2,3", "123", 1.0),
    ("Answer: 1_000", "1000", 1.0),
    # M L103: round to 2 decimals: gold 0.004 -> 0.0 and 0.001 -> 0.0, then string equality "0.0"
    ("Answer: 0.001", "0.004", 1.0),
    # M L364-368: gold 0 -> string equality of str(float): "-0.0" != "0.0"
    ("Answer: -0", "0", 0.0),
    ("Answer: 0", "0", 1.0),
    # M L180: set() keeps the first of -0.0 / 0.0
    ("Answer: -0; 0", "0", 0.0),
    ("Answer: 0; -0", "0", 1.0),
])
def test_number_extraction_and_normalisation(response, gold, expected):
    assert multichartqa_official(response, gold, OPEN) == expected


def test_extract_numbers_overlapping_patterns():
    # M L117-131: commas, then scientific, then simple; "000" and "2" come from the simple pattern
    assert extract_numbers("1,000 and 2.5e3, then 25, and 7") == ["1,000", "2.5e3", "000", "2", "7"]


def test_normalize_str():
    assert normalize_str(" 1,234.567 ") == 1234.57  # M L95-104
    assert normalize_str("Japan ") == "japan"  # M L107
    assert normalize_str("45%") == "45%"  # float("45%") fails -> a string


# ----------- open-ended evaluation (M L238-285, L330-368) --------------------------------------------------

@pytest.mark.parametrize("response, gold, expected", [
    # M L257: the gold string is a substring of the prediction
    ("Answer: Japan and Korea", "Japan", 1.0),
    # one-letter gold "a" is in "the bar", 25 matches as a number
    ("Answer: the bar; 25", "A; 25", 1.0),
    # M L354-356: "%" divides the GOLD by 100 only
    ("Answer: 0.45", "45%", 1.0),
    ("Answer: 45", "45%", 0.0),
    ("Answer: 45%", "45%", 1.0),  # substring of the string key "45%"
    # M L365-366: 5 % relative, inclusive; M L103 rounds before comparing
    ("Answer: 105", "100", 1.0),
    ("Answer: 105.01", "100", 0.0),
    ("Answer: 105.004", "100", 1.0),
    ("Answer: 95", "100", 1.0),
    ("Answer: 94.9", "100", 0.0),
])
def test_relaxed_open_evaluation(response, gold, expected):
    assert multichartqa_official(response, gold, OPEN) == expected


def test_relaxed_correctness_as_official():
    assert relaxed_correctness("45%", "0.45") and not relaxed_correctness("45%", "45.0")
    assert relaxed_correctness("0.0", "0.0") and not relaxed_correctness("0.0", "-0.0")
    assert relaxed_correctness("japan", "Japan")  # M L368: case-insensitive string equality
    assert not relaxed_correctness("100.0", "105.01")


def test_parse_open_response_deduplicates_and_types():
    preds = parse_open_response("Answer: 1,000")
    assert preds == [1000.0, 0.0]  # the key "1,000" -> 1000.0; its numbers "1,000" (dup) and "000" -> 0.0


# ----------- inputs ----------------------------------------------------------------------------------------

def test_none_response_scores_like_empty():
    assert multichartqa_official(None, "x", OPEN) == 0.0
    assert multichartqa_official(None, "", OPEN) == 1.0  # "" is a substring of the key "" (M L257)
    assert multichartqa_official(None, "A", MC) == 0.0


def test_unknown_question_type_raises():
    with pytest.raises(SdbenchError, match="open-ended"):
        multichartqa_official("Answer: 1", "1", "open")


# ----------- the rewritten number regexes equal the official ones (M L117-121) -----------------------------

OFFICIAL_PATTERNS = (r"-?\b\d{1,3}(?:,\d{3})+\b", r"-?\d+(?:\.\d+)?[eE][+-]?\d+",
                     r"-?(?:\d+\.\d+|\.\d+|\d+\b)(?![eE][+-]?\d+)(?![,\d])")  # M L117, L119, L121, verbatim


def official_extract_numbers(text: str) -> list[str]:
    return [found for pattern in OFFICIAL_PATTERNS for found in re.findall(pattern, text)]


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="0123456789.,-+eEa x_٣%", max_size=24))
def test_fast_number_regexes_equal_official(text):
    assert extract_numbers(text) == official_extract_numbers(text)


# ----------- the 60 real MultiChartQA questions ------------------------------------------------------------

def test_sample_has_60_questions_of_both_types(sample):
    assert len(sample) == 60
    assert {record["type"] for record in sample} == {OPEN, MC}


@pytest.mark.parametrize("template", ["Answer: {}", "Solution: I read the charts carefully.\nAnswer: {}",
                                      "answer: {}."])
def test_sample_gold_in_official_format_scores_one(sample, template):
    scores = [multichartqa_official(template.format(r["answer"]), r["answer"], r["type"]) for r in sample]
    assert scores == [1.0] * len(sample)


def test_sample_wrong_answer_scores_zero(sample):
    # "zzz": no number, no letter a-d, no gold part is a substring of it; MC: no letter -> 0 (M L52)
    assert [multichartqa_official("Answer: zzz", r["answer"], r["type"]) for r in sample] == [0.0] * 60


def test_sample_wrong_choice_letter_scores_zero(sample):
    for record in (r for r in sample if r["type"] == MC):
        wrong = next(letter for letter in "ABCD" if letter != record["answer"])
        assert multichartqa_official(f"Answer: {wrong}", record["answer"], MC) == 0.0
        assert multichartqa_official(f"({record['answer']}) or ({wrong})", record["answer"], MC) == 0.0  # last wins
        assert multichartqa_official(f"({wrong}) or ({record['answer']})", record["answer"], MC) == 1.0


# (gold, score of "Answer: <first part>; zzz", score of "Answer: zzz; <other parts>"), worked out by hand:
# a part scores when it is a substring of the key (M L257) or a number in the key is within 5 % (M L265).
HALF_RIGHT = [
    ("Mistral agreement; B", 0.5, 0.5),
    ("A; 25", 0.5, 0.5),
    ("3; 5 by 3", 0.5, 1.0),  # the "3" of "5 by 3" is a number matching part 1
    ("B; 3.0", 0.5, 0.5),
    ("4; 3 by 3", 0.5, 0.5),
    ("0.50; 5", 0.5, 0.5),
    ("4; 1 by 3", 0.5, 0.5),
    ("100; 0; 1", 1 / 3, 2 / 3),
    ("B; -400", 0.5, 0.5),
    ("25; 5", 0.5, 0.5),
    ("1000; 250", 0.5, 0.5),
    ("18; 0", 0.5, 0.5),
    ("1970; Share of households with air conditioning, 2018", 0.5, 1.0),  # 2018 is within 5 % of 1970
    ("News coverage of disasters; Storm", 0.5, 0.5),
    ("A; Flood", 0.5, 0.5),
    ("C; 4", 0.5, 0.5),
    ("A; D", 0.5, 0.5),
    ("A top concern; C", 1.0, 0.5),  # gold "c" is a substring of "a top concern"
    ("Some; You, yourself, as an individual", 0.5, 0.5),
    ("3; All legal permanent residents, Adjustments, New arrivals", 0.5, 0.5),
    ("New arrivals; Workers", 0.5, 0.5),
    ("36; People without criminal records could opt out of facial recognition databases", 0.5, 0.5),
    ("Use the technology to monitor Black and Hispanic neighborhoods much more often than other neighborhoods; 54",
     0.5, 0.5),
    ("Have heard of; 54", 0.5, 0.5),
    ("Rumble; YouTube", 0.5, 0.5),
]


def test_half_right_table_covers_every_parallel_sample_question(sample):
    parallel = sorted(r["answer"] for r in sample if ";" in r["answer"])
    assert parallel == sorted(gold for gold, _, _ in HALF_RIGHT)


@pytest.mark.parametrize("gold, first_only, rest_only", HALF_RIGHT)
def test_sample_half_right_parallel_answers(gold, first_only, rest_only):
    first, *rest = (part.strip() for part in gold.split(";"))
    assert multichartqa_official(f"Answer: {first}; zzz", gold, OPEN) == pytest.approx(first_only, abs=1e-12)
    assert multichartqa_official(f"Answer: zzz; {'; '.join(rest)}", gold, OPEN) == pytest.approx(rest_only, abs=1e-12)
