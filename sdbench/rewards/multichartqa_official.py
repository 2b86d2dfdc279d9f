"""The official MultiChartQA per-question score, reproduced exactly, quirks included.

What: `multichartqa_official(response, answer, question_type)` gives the number that one question adds to
the accuracy the MultiChartQA paper reports (Zhu et al., NAACL 2025, arXiv 2410.14179). The score is 0 or
1 for multiple-choice questions (their gold is one letter). For open-ended questions it is a multiple of
1/k: parallel questions have k sub-answers joined by "; ", and each sub-answer earns partial credit.
`multichartqa_official_breakdown` returns the same score plus the per-sub-answer matches that the
official code computes.

Why: the `multichart` task reports this number as its holistic metric, so it must be the paper's number
and not one "in the spirit of" it. Its quirks make it a poor RL reward: hedges score, and the "1" of
"Chart 1:" counts as an answer. `chart_answer.py` holds the stricter per-segment reward.

How: this is a clean reimplementation, not a copy, of the scoring in github.com/Zivenzhu/Multi-chart-QA
at commit 1129e12f7d7cb4b99fc6a051b2f49fe3b24faa1e:
`code/calculate_acc.py` L172-191 (called C below) and `code/mmmu_utils.py` (called M), which adapts
MMMU's `eval_utils.py`. The question's `task` label is not an input, because it only picks the category a
score is added to (C L169-170). Aggregation is left out. In the official code a label missing from
`question_content_types` raises inside the group's `try` (C L156, L170, L211), which silently skips
the rest of that group; the older labels in the shared sample (e.g. "Comparative_Reasoning/Easy")
would trigger this.

Official quirks reproduced (official line in brackets)
  Flow
   1. [C L184-191] Open-ended: the WHOLE gold string is scored first as one answer. Only when that is
      not 1 is the gold split on ";" (not "; "), each part stripped, and the mean over parts returned
      (partial credit). The whole-gold pass matches by substring, so gold "2.50; x" scores 1 on
      "12.50; x" although part "2.50" alone would not match.
   2. [C L173-179] Multiple choice: the choices are always A-D. `index2ans` maps each letter to the
      literal "Answer: X", not to the option's text, so the options are never read from the question
      and the "content" fallback (10) only looks for "answer: x".
   3. [C L181-183, M L192-196] Multiple choice also splits the gold on ";". A part equal to the parsed
      letter marks `gold.index(part)`, which is the FIRST equal part, so gold "A; A" scores 0.5 on "A".
  Multiple-choice parsing, `parse_multi_choice_response` [M L15-74]
   4. [M L20-21] The characters , . ! ? ; : ' are stripped from both ends, one character at a time in
      that order. Whitespace is not stripped: "B,." -> "B,".
   5. [M L22-23] Newlines become spaces and the text is padded with one space on each side.
   6. [M L28-31] "(X)" anywhere wins. With several, the last one in the text wins [M L57-60, L71].
   7. [M L33-36] Otherwise " X " as a token. This includes the article in "A good fit" -> A. With
      several, the last one wins [M L63-65].
   8. [M L37-40] Otherwise "X." anywhere, even inside a word ("USA." -> A). With several, the FIRST in
      A-D order wins: rfind(" X ") is -1 for all of them and np.argmax takes the first [M L63-65, L71].
   9. [M L41-44] The "X\\n" branch is dead code, because newlines were already replaced (5).
  10. [M L46-50] Otherwise, when there are more than 5 whitespace tokens, "answer: x" anywhere
      (case-insensitive). With several, the last one wins [M L67-69].
  11. [M L52-53] If nothing is found, the official code picks a RANDOM letter (seed 42). THE ONE
      DELIBERATE DEVIATION: here nothing is picked, and the question scores a deterministic 0.
  Open-ended parsing, `parse_open_response` [M L134-182]
  12. [M L142] The response is stripped of whitespace, then of "." at both ends, then LOWER-CASED
      before the sentence split [M L143]. The split's `(?=[A-Z])` lookahead can therefore never fire,
      so the response is split on "\\n" only.
  13. [M L144-145] Indicators are plain substrings, so they also match inside other words: 'is '
      in "this ", "axis "; 'so ' in "also "; 'final '; 'answer '; 'result '. "Answer: " can never
      match after the lower-casing.
  14. [M L148-149] '=' is an indicator only on the last line.
  15. [M L151-157] For each line, each indicator present gives the text after its LAST occurrence,
      stripped, and the shortest of these tails is kept. An empty tail is falsy: the next indicator's
      tail replaces it whatever its length. A final empty tail is dropped [M L160]. Example:
      "answer: japan is the largest" keeps "the largest".
  16. [M L162] A tail that is only one of : , . ! ? ; ' is dropped.
  17. [M L164-165] If no line gives a tail, the whole lowered response is the only key. Key
      responses from EVERY line count, reasoning lines included, not only the "Answer:" line.
  18. [M L170-172, L112-132] Numbers are extracted from every key with three regexes (comma-grouped,
      scientific, simple). A number followed directly by "," is NOT extracted by the simple pattern,
      so "25, because" gives no 25. The patterns overlap: "1,000" also gives "000", and "2.5e3" also
      gives "2". A "-" glued to a number is its sign: "2018-2020" gives 2018 and -2020.
  19. [M L174-177, L88-110] Each key and each number is normalised. Python float() of the text with
      its commas removed ("1,2,3" -> 123; also "nan", "inf", "1_000", Unicode digits) becomes a float
      ROUNDED TO 2 DECIMALS. Anything else stays a lower-cased string.
  20. [M L180] Duplicates are removed with a set. Of 0.0 and -0.0, the first in order survives. This
      matters only for a gold of 0 (see 23).
  Open-ended evaluation, `eval_open(..., "relaxed_acc")` [M L238-285]
  21. [M L240-249] The gold is normalised with the same rule (19). A numeric gold becomes a float
      rounded to 2 decimals. "45%" stays the string "45%".
  22. [M L252-258] A string prediction matches a string gold when the gold is a SUBSTRING of it.
      "japan" is in "japan and korea", and a one-letter gold "a" matches any key containing an "a".
  23. [M L262-266, L330-368] Every float prediction is compared with every gold, numeric or not, by
      `relaxed_correctness(str(gold), str(pred))`. The tolerance is 5 % relative, inclusive (<=).
      The "%" conversion applies to the gold only, because str(float) never ends in "%": gold "45%" is
      matched by 0.45, not by 45 (the text "45%" still matches by substring, 22). A gold that is 0,
      or that rounds to 0 such as 0.004, falls back to string equality of str(float): the prediction
      must print as "0.0", and "-0.0" fails.
  24. [M L273-275] The `gold_i == []` "unknown/unanswerable" branch cannot be reached, because
      splitting the gold always gives at least one part.
  25. An empty gold part (a gold ending in ";") is a substring of every string prediction, so it
      always matches when one exists.

Differences that cannot change a score
  - The three number regexes are rewritten so that they never backtrack quadratically. The official
    scientific pattern takes 7.5 s on 20,000 digits. The rewrite adds `(?<!\\d)`, possessive
    quantifiers, and `[eE][+-]?\\d` in place of `[eE][+-]?\\d+` inside a negative lookahead. A match
    never starts in the middle of a digit run, and backtracking inside a run never helps;
    tests/unit/test_multichartqa_official.py checks the rewrite against the official patterns.
  - `resp.split(ind)[-1]` becomes `resp.rpartition(ind)[2]`. They are equal because no indicator
    overlaps itself.
  - Work that cannot change the result is skipped. A repeated line or raw string is processed once,
    because de-duplication keeps the first equal value either way. Text without a digit skips the
    number regexes. The matching stops at the first prediction that matches a gold part.
  - A response that is None, or any other non-string, is scored as "". For a multiple-choice question
    this is deviation 11 (score 0); for an open question it is what the official code gives for "".

Run: `python -c "from sdbench.rewards.multichartqa_official import multichartqa_official as f;
print(f('Answer: 3; 5 by 3', '3; 5 by 3', 'open-ended'))"`
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sdbench.core.errors import SdbenchError

OPEN_ENDED = "open-ended"
MULTIPLE_CHOICE = "multiple-choice"
QUESTION_TYPES = (OPEN_ENDED, MULTIPLE_CHOICE)

CHOICES = ("A", "B", "C", "D")  # C L173
CHOICE_CONTENTS = {choice: f"Answer: {choice}" for choice in CHOICES}  # C L174-179: `index2ans`
CHOICE_STRIP_CHARS = (",", ".", "!", "?", ";", ":", "'")  # M L20
INDICATORS = ("answer: ", "Answer: ", "could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ",
              "result ")  # M L144-145 ("Answer: " can never match lowered text; kept for fidelity)
LAST_LINE_INDICATORS = INDICATORS + ("=",)  # M L148-149
TRIVIAL_TAILS = frozenset({":", ",", ".", "!", "?", ";", "'"})  # M L162
MAX_RELATIVE_CHANGE = 0.05  # M L332

# M L117: linear as it stands (`\b` stops starts inside a digit run; a comma chain backtracks at most once).
_COMMA_NUMBER = re.compile(r"-?\b\d{1,3}(?:,\d{3})+\b")
# M L119 `-?\d+(?:\.\d+)?[eE][+-]?\d+`, made linear: the same matches (see module docstring).
_SCIENTIFIC_NUMBER = re.compile(r"-?(?<!\d)\d++(?:\.\d++)?[eE][+-]?\d++")
# M L121 `-?(?:\d+\.\d+|\.\d+|\d+\b)(?![eE][+-]?\d+)(?![,\d])`, made linear: the same matches.
_SIMPLE_NUMBER = re.compile(r"-?(?:(?<!\d)\d++\.\d++|\.\d++|(?<!\d)\d++\b)(?![eE][+-]?\d)(?![,\d])")
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True)
class OfficialScore:
    """One question's official score and how the official code reached it."""

    score: float
    """The official per-question score: what C L209 adds to the category's `correct_num`."""
    parts: tuple[str, ...]
    """The gold split on ';' and stripped (C L181-182 / L189-190): one entry per sub-answer."""
    part_matched: tuple[bool, ...]
    """Per sub-answer: did the official per-part evaluation mark it (M L196 / L258 / L266)."""
    whole_matched: bool | None
    """Open-ended: the whole gold matched in the first pass (C L186), which makes the score 1 whatever
    `part_matched` says. None for multiple choice, which has no such pass."""
    prediction: tuple[str | float, ...] | str | None
    """Open-ended: the normalised, de-duplicated predictions (M L182). Multiple choice: the parsed letter,
    or None where the official code would pick one at random (deviation 11)."""


def multichartqa_official(response: str | None, answer: str, question_type: str) -> float:
    """The official MultiChartQA score of one response. Never raises on `response`.

    `answer` is the record's `answer` field. `question_type` is its `type` field ('open-ended' or
    'multiple-choice'). Any other type raises SdbenchError, as the official code raises at C L193-194.

    >>> multichartqa_official("Solution: ...\\nAnswer: 3; 5 by 3", "3; 5 by 3", "open-ended")
    1.0
    >>> multichartqa_official("Answer: 4; 5 by 3", "3; 5 by 3", "open-ended")  # the 3 in "by 3" counts
    1.0
    >>> multichartqa_official("Answer: 4; 5 by 2", "3; 5 by 3", "open-ended")
    0.0
    >>> multichartqa_official("Answer: Mistral agreement; C", "Mistral agreement; B", "open-ended")
    0.5
    >>> multichartqa_official("Answer: (C)", "C", "multiple-choice")
    1.0
    """
    return multichartqa_official_breakdown(response, answer, question_type).score


def multichartqa_official_breakdown(response: str | None, answer: str, question_type: str) -> OfficialScore:
    """`multichartqa_official` with the per-sub-answer matches and the parsed prediction."""
    if question_type not in QUESTION_TYPES:
        raise SdbenchError(f"MultiChartQA question type {question_type!r} is not one of {list(QUESTION_TYPES)}; "
                           "pass the record's 'type' field")
    text = response if isinstance(response, str) else ""
    parts = tuple(part.strip() for part in answer.split(";"))  # C L181-182 / L189-190
    if question_type == MULTIPLE_CHOICE:
        chosen = parse_multi_choice_response(text)
        matched = multi_choice_part_matches(parts, chosen)
        return OfficialScore(sum(matched) / len(matched), parts, matched, None, chosen)
    predictions = parse_open_response(text)
    whole, *part_matches = open_part_matches((answer, *parts), predictions)  # C L186 and L191, one pass
    matched = tuple(part_matches)
    score = 1.0 if whole else sum(matched) / len(matched)  # C L188: the split retry only when not 1
    return OfficialScore(score, parts, matched, whole, tuple(predictions))


# ----------- multiple choice (M L15-74, L186-200) ----------------------------------------------------------

def parse_multi_choice_response(response: str) -> str | None:
    """The letter the official parser picks, or None where it would pick at random (M L52-53).

    >>> parse_multi_choice_response("The answer is (B), not (A) or (C).")
    'C'
    >>> parse_multi_choice_response("Made in the USA. I think so")  # quirk 8: "A." inside a word
    'A'
    >>> parse_multi_choice_response("no letter here") is None
    True
    """
    for char in CHOICE_STRIP_CHARS:  # M L20-21, one character at a time in this order
        response = response.strip(char)
    response = " " + response.replace("\n", " ") + " "  # M L22-23
    kind = "bracket"
    candidates = [c for c in CHOICES if f"({c})" in response]  # M L28-31
    if not candidates:
        kind = "token"
        candidates = [c for c in CHOICES if f" {c} " in response]  # M L33-36
    if not candidates:  # M L37-40: still "token" for the tie-break, where rfind(" X ") is -1 for all
        candidates = [c for c in CHOICES if f"{c}." in response]
    # M L41-44 ("X\n") cannot fire: newlines were replaced at M L22.
    lowered = response.lower()
    if not candidates and len(response.split()) > 5:  # M L46-50
        kind = "content"
        candidates = [c for c in CHOICES if CHOICE_CONTENTS[c].lower() in lowered]
    if not candidates:
        return None  # M L52-53 picks random.choice(all_choices): the documented deviation
    if len(candidates) == 1:
        return candidates[0]
    if kind == "bracket":  # M L57-60
        positions = [response.rfind(f"({c})") for c in candidates]
    elif kind == "token":  # M L62-65
        positions = [response.rfind(f" {c} ") for c in candidates]
    else:  # M L66-69
        positions = [lowered.rfind(CHOICE_CONTENTS[c].lower()) for c in candidates]
    return candidates[positions.index(max(positions))]  # M L71: np.argmax returns the first maximum


def multi_choice_part_matches(parts: tuple[str, ...], chosen: str | None) -> tuple[bool, ...]:
    """M L192-196: a part equal to the choice marks the FIRST equal part (`gold_i.index`), quirk 3."""
    matched = [False] * len(parts)
    for part in parts:
        if part == chosen:
            matched[parts.index(part)] = True
    return tuple(matched)


# ----------- open-ended (M L77-182, L238-285, L330-368) ----------------------------------------------------

def key_responses(response: str) -> list[str]:
    """M L140-166 `get_key_subresponses`: the tails after the indicator words, one per line at most.

    >>> key_responses("Answer: Japan is the largest")  # quirk 15: shortest tail wins
    ['the largest']
    >>> key_responses("Chart 1: 25")  # quirk 17: no indicator -> the whole lowered response
    ['chart 1: 25']
    """
    text = response.strip().strip(".").lower()  # M L142
    lines = text.split("\n")  # M L143: `\.\s(?=[A-Z])` cannot match lowered text (quirk 12)
    keys = []
    done = set()  # a repeated line adds a repeated key, which de-duplication removes anyway
    for index, line in enumerate(lines):
        last = index == len(lines) - 1
        if line in done and not last:
            continue
        done.add(line)
        key = _shortest_tail(line, LAST_LINE_INDICATORS if last else INDICATORS)  # M L148-149
        if key and key.strip() not in TRIVIAL_TAILS:  # M L160-163
            keys.append(key)
    return keys or [text]  # M L164-165


def _shortest_tail(line: str, indicators: tuple[str, ...]) -> str | None:
    """M L150-157: the shortest text after the last occurrence of an indicator; '' is replaced by the next."""
    shortest = None
    for indicator in indicators:
        if indicator in line:
            tail = line.rpartition(indicator)[2].strip()  # == line.split(indicator)[-1].strip()
            if not shortest or len(tail) < len(shortest):
                shortest = tail
    return shortest


def extract_numbers(text: str) -> list[str]:
    """M L112-132: comma-grouped, then scientific, then simple numbers (quirk 18).

    >>> extract_numbers("1,000 and 2.5e3, then 25, and 7")  # '000' and '2' too; no '25' (before a comma)
    ['1,000', '2.5e3', '000', '2', '7']
    """
    if not _DIGIT.search(text):  # every pattern needs a digit; skips the scan of digit-free text
        return []
    return _COMMA_NUMBER.findall(text) + _SCIENTIFIC_NUMBER.findall(text) + _SIMPLE_NUMBER.findall(text)


def normalize_str(text: str) -> str | float:
    """M L88-110 (with `check_is_number`, M L77-86): a float rounded to 2 decimals, or the lowered string.

    >>> normalize_str(" 1,234.567 "), normalize_str("Japan"), normalize_str("45%")
    (1234.57, 'japan', '45%')
    """
    text = text.strip()
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return text.lower()
    return round(value, 2)


def parse_open_response(response: str) -> list[str | float]:
    """M L134-182: normalised key responses and the numbers in them, de-duplicated (first one kept).

    >>> sorted(parse_open_response("The axis is 2018-2020"), key=str)  # quirk 18: "-2020"
    [-2020.0, '2018-2020', 2018.0]
    """
    keys = key_responses(response)
    raw = list(keys)  # M L170
    for key in keys:  # M L171-172
        raw.extend(extract_numbers(key))
    # M L174-180. dict.fromkeys keeps the first of equal values, as set() does (quirk 20). Repeated raw
    # strings are dropped before normalising: this is faster and keeps the same first value.
    return list(dict.fromkeys(normalize_str(item) for item in dict.fromkeys(raw)))


def relaxed_correctness(target: str, prediction: str) -> bool:
    """M L330-368 (Methani et al. 2020 / ChartQA relaxed accuracy), exactly as the official code has it.

    >>> relaxed_correctness("45%", "0.45"), relaxed_correctness("45%", "45.0"), relaxed_correctness("0.0", "-0.0")
    (True, False, False)
    """
    prediction_float = _to_float(prediction)
    target_float = _to_float(target)
    if prediction_float is not None and target_float:
        return abs(prediction_float - target_float) / abs(target_float) <= MAX_RELATIVE_CHANGE
    return prediction.lower() == target.lower()


def open_part_matches(golds: tuple[str, ...], predictions: list[str | float]) -> tuple[bool, ...]:
    """M L238-285 `eval_open(golds, predictions, "relaxed_acc")`, per gold instead of averaged.

    A gold is marked when ANY prediction matches it (M L258 / L266 only ever set a 1). This equals
    calling `relaxed_correctness(str(gold), str(pred))` for every float prediction. It is faster
    because the gold side is parsed once per gold, and `float(str(pred))` is `pred` for every float.
    """
    texts = [pred for pred in predictions if isinstance(pred, str)]
    numbers = [pred for pred in predictions if not isinstance(pred, str)]
    verdicts: dict[str, bool] = {}  # the whole gold and a part are often the same string
    for gold in golds:
        if gold not in verdicts:
            verdicts[gold] = _any_prediction_matches(normalize_str(gold), texts, numbers)  # M L244-248
    return tuple(verdicts[gold] for gold in golds)


def _any_prediction_matches(gold: str | float, texts: list[str], numbers: list[float]) -> bool:
    if isinstance(gold, str) and any(gold in text for text in texts):  # M L253-258 (quirk 22)
        return True
    target = str(gold)  # M L265 -> relaxed_correctness(target, str(pred)), M L362-368 (quirk 23)
    target_float = _to_float(target)
    if target_float:
        return any(abs(pred - target_float) / abs(target_float) <= MAX_RELATIVE_CHANGE for pred in numbers)
    target = target.lower()
    return any(str(pred).lower() == target for pred in numbers)


def _to_float(text: str) -> float | None:
    """M L352-360: '%' divides by 100; anything float() rejects is None."""
    try:
        if text.endswith("%"):
            return float(text.rstrip("%")) / 100.0
        return float(text)
    except ValueError:
        return None
