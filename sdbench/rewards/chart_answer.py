"""Per-segment reward for the `multichart` task: one chart's answer, checked against that chart's sub-answer.

What: `chart_answer(segment_text, answer, label=..., choices=...)` returns 1.0 when the segment (for example
"Chart 2: Answer: 25") states the gold sub-answer, and 0.0 otherwise. This is MultiChartQA's relaxed
accuracy: 5 % numeric tolerance, normalised string match, and multiple-choice letters.

Why: SD-GRPO gives each segment its own advantage, so each segment needs a reward that is verifiable and
cannot be gamed. The official MultiChartQA score (`multichartqa_official.py`) is the paper's number, but
as a reward it pays for hedging. A reward the policy can raise by listing several candidates rewards
hedging, not correctness, so it is not a verifiable reward. This metric is stricter by design:

  Official quirk (multichartqa_official.py number)  Here
  ------------------------------------------------  ------------------------------------------------
  string gold matches as a substring (22):          the whole normalised answer must equal the gold,
    "Japan and Korea" scores for "Japan"              so "Japan and Korea" scores 0
  every number in the response counts (17, 18):     exactly one distinct number may be stated;
    "20 or 30" scores for 20 and for 30               "20 or 30" scores 0
  reasoning lines count (17)                        only the text after the last "answer" marker, or
                                                      the whole segment when there is no marker
  "Chart 1:" counts as the number 1 (17)            the label is stripped first
  one-letter gold "a" matches any "a" (22)          letters are matched as letters; a segment that
  "(A) or (B)" picks the last letter (6)              names two options ("A or B") scores 0
  random letter when none is parsed (11)            0
  "45%" vs 0.45 but not 45 (23)                     "%" is a unit and is ignored on both sides:
                                                      "45%" == "45" == "45 %"; 0.45 does not match 45 %
  gold 0 needs the string "0.0" (23)                gold 0 needs a stated value of exactly 0
  5 % tolerance on years (23): "1970" accepts       a gold of four plain digits in 1000-2100 (a year
    1872-2068                                         or a year tick) must be stated exactly
  rounding to 2 decimals (19)                       no rounding; the 5 % tolerance only

Rules, in order
  1. Input: `segment_text` that is not a string (None) scores 0. So does an empty gold; there is
     nothing to verify.
  2. Label: the segment's label is removed from the start, together with leading whitespace and
     markdown (`**Chart 1:**`), case- and spacing-insensitively. `label` is the label the prompt asks
     for ("Chart 1:"); its trailing punctuation is optional. When `label` is None, or is not found,
     a generic "Chart/Figure/Panel/Plot/Graph/Image/Subplot/Question <n>" followed by ":", ".", ")" or " - " is
     removed. The "1" of "Chart 1:" is therefore never read as an answer.
  3. Answer text: take the text after the LAST "answer" marker ("Answer:", "The answer is", "final
     answer ="), up to the end of that line, with the label removed again. When there is no marker, or
     nothing follows it, take the whole segment. Then strip wrapping quotes and markdown, and trailing
     "." and "!".
  4. What is compared depends on the gold:
     - Multiple choice: a gold that is one letter of `choices` (A-D when `choices` is None, the
       official set, calculate_acc.py L173). The answer names a letter as "B", "(B)", "B.", "B)",
       "Option B", "The answer is B", or "B. Increasing". A letter counts as named when it is a
       standalone uppercase letter, a bracketed "(b)"/"b)" in either case, or the whole answer. The
       score is 1 iff exactly one letter is named and it is the gold. "A or B" and "A and B" score 0.
       So does a capitalised article in the answer ("A decreasing trend, so B") — the prompt asks for
       the letter only. When `choices` is a mapping {letter: option text}, an answer that equals
       exactly one option's text (normalised) names that letter.
     - Layout: gold "m by n" (also "m x n", "m × n"). The answer must be exactly one layout with the
       same m and n in the same order: "5 by 3", "5x3", "5 × 3", "5 rows by 3 columns",
       "5 rows and 3 columns", optionally followed by "grid", "layout" or "subplots". No tolerance.
     - Number: a gold that is one number, optionally with a currency sign before it or "%" after it
       ("25", "-400", "0.50", "1,000", "45%"). The answer must contain exactly one distinct number
       value. Units and words around it are ignored: "approximately 25", "25%", "$25", "25 units",
       "The answer is 25." all state 25. "20 or 30", "25 (2018)", "between 20 and 30" state several
       and score 0. Numbers: an optional sign ("-", "+", "−"); thousands groups "1,000,000" (a comma
       not followed by exactly three digits separates numbers, so "1,5" is two numbers and the
       decimal comma is not supported); decimals; "1e5". A number glued to a letter before it ("Q1",
       "CO2") is not a number. Match: |pred − gold| ≤ 5 % · |gold| (ChartQA's relaxed accuracy,
       Methani et al. 2020), exact for gold 0 and for a year: a gold of four plain digits from 1000
       to 2100 ("1970"; 5 % would accept 1872-2068) must be stated exactly. Scale words ("million") are not applied; the
       MultiChartQA prompts ask for numbers without units.
     - Text: otherwise. The normalised answer must EQUAL the normalised gold. Normalising means
       NFKC, case-folding, punctuation turned into spaces, the articles a/an/the removed, and
       whitespace collapsed. When the gold contains commas ("All legal permanent residents,
       Adjustments, New arrivals", "True, 75") and the whole strings differ, both are also compared
       as comma-separated lists: the same number of items, matched one-to-one in any order (legend
       labels have no order). A list of numbers only ("29.64, 23.94") keeps its order. A number
       item must be a bare number and uses the 5 % rule; a text item must be equal. A leading "and "
       on an item is dropped, and "X and Y" may close a list one item short ("Adjustments and New
       arrivals"). A gold in one pair of brackets ("(4, 2)") is a coordinate: compared as a whole,
       so its order counts. Gold labels that contain commas ("You, yourself, as an individual",
       "Santa Clara County, CA (30%)") still match themselves. No partial credit: an extra or a
       missing item scores 0.

Run: `python -c "from sdbench.rewards.chart_answer import chart_answer as f; print(f('Chart 1: 25%', '25'))"`
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache

RELATIVE_TOLERANCE = 0.05
"""Relaxed accuracy: a number within 5 % of the gold is correct (ChartQA / MultiChartQA)."""
DEFAULT_CHOICES = ("A", "B", "C", "D")
"""Option letters when `choices` is None: MultiChartQA's fixed set (calculate_acc.py L173)."""
MAX_LIST_ITEMS = 32
"""A list answer with more items than this scores 0 without being compared (bounds the matching)."""

_LEADING_NOISE = re.compile(r"(?:[\s*_#>`•:]|[-–—+](?=\s))*+")  # whitespace, markdown, bullets; not a sign
_WRAPPING = " \t\r\n\f\v*_`\"'“”‘’"
_GENERIC_LABEL = re.compile(
    r"(?:chart|figure|fig\.?|panel|plot|graph|image|subplot|subfigure|question)\s*+#?\s*+\d++"
    r"\s*+(?:[:)]|\.(?!\d)|[-–—](?=\s))", re.IGNORECASE)
_ANSWER_MARKER = re.compile(
    r"\b(?:final\s++)?answer\b(?:\s*+(?:is|would\s++be|should\s++be|will\s++be)\b)?\s*+[:=]?", re.IGNORECASE)
_NUMBER = re.compile(  # sign? (thousands-grouped | plain) decimals? exponent?  or  sign? .decimals
    r"(?<![\w.])[-+\u2212]?(?:(?:\d{1,3}(?:,\d{3})+(?!\d)|\d++)(?:\.\d++)?|\.\d++)(?:[eE][-+]?\d++)?")
_GOLD_NUMBER = re.compile(
    r"[$€£¥]?\s*+([-+\u2212]?(?:(?:\d{1,3}(?:,\d{3})+|\d++)(?:\.\d++)?|\.\d++)(?:[eE][-+]?\d++)?)\s*+%?")
_LAYOUT = re.compile(r"(\d++)\s*+(?:rows?\s*+)?(?:by|x|×|\*)\s*+(\d++)(?:\s*+(?:columns?|cols?))?"
                     r"(?:\s++(?:grid|layout|subplots?))?", re.IGNORECASE)
_LAYOUT_WORDS = re.compile(r"(\d++)\s*+rows?\s*+(?:and|,)?\s*+(\d++)\s*+col(?:umn)?s?"
                           r"(?:\s++(?:grid|layout|subplots?))?", re.IGNORECASE)
_CHOICE_LEAD_IN = re.compile(
    r"(?:the\s++)?(?:correct\s++|right\s++|best\s++|final\s++)?(?:answer|option|choice)\b\s*+(?:is\b\s*+)?[:\-]?\s*+",
    re.IGNORECASE)
_LONE_LETTER = re.compile(r"[(\[]?\s*+([A-Za-z])\s*+[)\]]?\s*+[.:)]?")
_LEADING_LETTER = re.compile(r"[(\[]?([A-Za-z])[)\].:](?=\s|$)")
_BRACKETED_LETTER = re.compile(r"(?<![\w'’])\(?([A-Za-z])\)(?![\w'’])")
_YEAR = re.compile(r"\d{4}")
_PUNCTUATION = re.compile(r"[^\w\s]|_")
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")


def chart_answer(segment_text: str | None, answer: str, *, label: str | None = None,
                 choices: tuple[str, ...] | list[str] | Mapping[str, str] | None = None) -> float:
    """1.0 iff the segment states `answer` (one chart's sub-answer), else 0.0. Never raises.

    `label`: the segment's label ("Chart 1:"), removed first. `choices`: the option letters, or a
    mapping {letter: option text}; None means A-D.

    >>> chart_answer("Chart 1: Answer: 25", "25"), chart_answer("Chart 1: approximately 25.8%", "25")
    (1.0, 1.0)
    >>> chart_answer("Chart 1: 5", "1", label="Chart 1:")  # the label's "1" is not an answer
    0.0
    >>> chart_answer("Chart 2: 20 or 30", "30"), chart_answer("Chart 2: Japan and Korea", "Japan")
    (0.0, 0.0)
    >>> chart_answer("Chart 3: Option B", "B"), chart_answer("Chart 3: A or B", "B")
    (1.0, 0.0)
    """
    if not isinstance(segment_text, str) or not isinstance(answer, str) or not answer.strip():
        return 0.0
    gold = answer.strip()
    stated = answer_text(segment_text, label)
    letters, option_texts = _choice_table(choices)
    if len(gold) == 1 and gold.upper() in letters:
        return float(_named_choice(stated, letters, option_texts) == gold.upper())
    gold_layout = _layout(gold)
    if gold_layout is not None:
        return float(_layout(stated) == gold_layout)
    gold_number = _gold_number(gold)
    if gold_number is not None:
        return float(_stated_number_matches(stated, gold_number, exact=is_year(gold)))
    return float(_text_matches(stated, gold))


def answer_text(segment_text: str, label: str | None = None) -> str:
    """Rules 2-3: the segment's answer, without its label, "Answer:" marker or wrapping.

    >>> answer_text("**Chart 2:** The answer is **Japan**.", "Chart 2:")
    'Japan'
    >>> answer_text("Chart 1: The bars rise from 10 to 30.\\nAnswer: 30\\n(see legend)")
    '30'
    """
    body = _strip_label(segment_text, label)
    marker = None
    for marker in _ANSWER_MARKER.finditer(body):
        pass
    if marker is not None:
        tail = body[marker.end():].lstrip().split("\n", 1)[0]
        tail = _clean(_strip_label(tail, label))
        if tail:
            return tail
    return _clean(body)


def normalize_text(text: str) -> str:
    """Rule 4 (text): NFKC, case-fold, punctuation -> space, drop a/an/the, collapse whitespace.

    >>> normalize_text("  The Purchasing-power parities (PPP). ")
    'purchasing power parities ppp'
    """
    text = _PUNCTUATION.sub(" ", unicodedata.normalize("NFKC", text).casefold())
    return " ".join(_ARTICLES.sub(" ", text).split())


# ----------- label and answer extraction -------------------------------------------------------------------

def _strip_label(text: str, label: str | None) -> str:
    """Remove the segment label (or a generic chart label) and leading markdown from the start."""
    text = text[_LEADING_NOISE.match(text).end():]
    found = _label_pattern(label).match(text) if label else None
    found = found or _GENERIC_LABEL.match(text)
    if found:
        text = text[found.end():]
        text = text[_LEADING_NOISE.match(text).end():]
    return text


@lru_cache(maxsize=256)
def _label_pattern(label: str) -> re.Pattern:
    """'Chart 1:' -> `chart\\s*1(?!\\w)(?:\\s*:)?`: any case and spacing, trailing punctuation optional."""
    tokens = re.findall(r"\w+|[^\w\s]", label)
    last_word = max((i for i, token in enumerate(tokens) if token[0].isalnum() or token[0] == "_"), default=-1)
    head = r"\s*".join(re.escape(token) for token in tokens[:last_word + 1])
    tail = r"\s*".join(re.escape(token) for token in tokens[last_word + 1:])
    if not head:
        return re.compile(tail or r"(?!)", re.IGNORECASE)
    return re.compile(head + r"(?!\w)" + (rf"(?:\s*{tail})?" if tail else ""), re.IGNORECASE)


def _clean(text: str) -> str:
    """Strip whitespace, wrapping quotes and markdown, and a trailing '.' or '!' (one pass, linear)."""
    return text.lstrip(_WRAPPING).rstrip(_WRAPPING + ".!")


# ----------- multiple choice -------------------------------------------------------------------------------

def _choice_table(choices) -> tuple[frozenset[str], dict[str, str]]:
    """Option letters (upper case) and, for a mapping, each letter's normalised option text."""
    if choices is None:
        return frozenset(DEFAULT_CHOICES), {}
    items = choices.items() if isinstance(choices, Mapping) else ((c, None) for c in choices)
    letters, texts = set(), {}
    for letter, text in items:
        if isinstance(letter, str) and len(letter.strip()) == 1 and letter.strip().isalpha():
            letters.add(letter.strip().upper())
            if isinstance(text, str) and normalize_text(text):
                texts[letter.strip().upper()] = normalize_text(text)
    return frozenset(letters), texts


def _named_choice(stated: str, letters: frozenset[str], option_texts: dict[str, str]) -> str | None:
    """The one option letter the answer names, or None when it names none or several."""
    lead_in = _CHOICE_LEAD_IN.match(stated)
    bare = stated[lead_in.end():] if lead_in else stated
    whole = _LONE_LETTER.fullmatch(bare)
    if whole:
        return whole.group(1).upper() if whole.group(1).upper() in letters else None
    if option_texts:
        normalized = normalize_text(bare)
        same = [letter for letter, text in option_texts.items() if text == normalized]
        if len(same) == 1:
            return same[0]
    named = set()
    leading = _LEADING_LETTER.match(bare)
    if leading:
        named.add(leading.group(1).upper())
    named.update(m.group(1).upper() for m in _BRACKETED_LETTER.finditer(stated))
    named.update(m.group(0) for m in _standalone_letters(letters).finditer(stated))
    named &= letters
    return named.pop() if len(named) == 1 else None


@lru_cache(maxsize=64)
def _standalone_letters(letters: frozenset[str]) -> re.Pattern:
    """Upper-case option letters standing alone: 'B', 'B.', 'B,' but not the 'B' of 'Bars' or "B's"."""
    alternatives = "|".join(sorted(re.escape(letter) for letter in letters)) or r"(?!)"
    return re.compile(rf"(?<![\w'’])(?:{alternatives})(?![\w'’])")


# ----------- numbers and layouts ---------------------------------------------------------------------------

def _to_number(text: str) -> float | None:
    try:
        return float(text.replace(",", "").replace("\u2212", "-"))
    except ValueError:
        return None


def _gold_number(gold: str) -> float | None:
    found = _GOLD_NUMBER.fullmatch(gold)
    return _to_number(found.group(1)) if found else None


def _stated_numbers(text: str, limit: int) -> list[float]:
    """Distinct numbers in `text`, in order; stops once `limit` distinct ones are found."""
    values: list[float] = []
    seen: set[str] = set()
    for found in _NUMBER.finditer(text):
        if found.group(0) in seen:
            continue
        seen.add(found.group(0))
        value = _to_number(found.group(0))
        if value is not None and value not in values:
            values.append(value)
            if len(values) >= limit:
                break
    return values


def is_year(gold: str) -> bool:
    """A gold written as four plain digits from 1000 to 2100 ("1970", a year or a year tick) is matched
    exactly: 5 % of 1970 would accept any year from 1872 to 2068.

    >>> is_year("1970"), is_year(" 2023 "), is_year("1970.0"), is_year("1,970"), is_year("999"), is_year("2500")
    (True, True, False, False, False, False)
    """
    return bool(_YEAR.fullmatch(gold.strip())) and 1000 <= int(gold) <= 2100


def _close(pred: float, gold: float, exact: bool = False) -> bool:
    """|pred - gold| <= 5 % of |gold| (equal when `exact`); exact for gold 0; never for inf/nan."""
    if not (math.isfinite(pred) and math.isfinite(gold)):
        return False
    if gold == 0 or exact:
        return pred == gold
    return abs(pred - gold) / abs(gold) <= RELATIVE_TOLERANCE


def _stated_number_matches(stated: str, gold: float, exact: bool = False) -> bool:
    values = _stated_numbers(stated, limit=2)
    return len(values) == 1 and _close(values[0], gold, exact)


def _layout(text: str) -> tuple[int, int] | None:
    found = _LAYOUT.fullmatch(text.strip()) or _LAYOUT_WORDS.fullmatch(text.strip())
    return (int(found.group(1)), int(found.group(2))) if found else None


# ----------- text and lists --------------------------------------------------------------------------------

def _text_matches(stated: str, gold: str) -> bool:
    if normalize_text(stated) == normalize_text(gold):
        return True
    if "," not in gold or _is_tuple(gold) or max(gold.count(","), stated.count(",")) >= MAX_LIST_ITEMS:
        return False
    gold_items = _list_items(gold)
    stated_items = _list_items(stated)
    if len(stated_items) == len(gold_items) - 1 and stated_items and " and " in stated_items[-1]:
        last, _, extra = stated_items[-1].rpartition(" and ")
        stated_items = [*stated_items[:-1], last.strip(), extra.strip()]
    if not 1 < len(gold_items) == len(stated_items) <= MAX_LIST_ITEMS:
        return False
    if all(_gold_number(item) is not None for item in gold_items):  # a list of numbers keeps its order
        return all(_items_match(g, s) for g, s in zip(gold_items, stated_items))
    return _perfect_matching([[_items_match(g, s) for s in stated_items] for g in gold_items])


def _is_tuple(gold: str) -> bool:
    """'(4, 2)' or '[1, 6]': coordinates, compared as a whole (ordered), never as an unordered list."""
    return gold[:1] in "([" and gold[-1:] in ")]" and gold.count("(") + gold.count("[") == 1


def _list_items(text: str) -> list[str]:
    items = [item.strip() for item in text.split(",")]
    items = [item[4:].strip() if item.lower().startswith("and ") else item for item in items]
    return [item for item in items if item]


def _items_match(gold_item: str, stated_item: str) -> bool:
    gold_number = _gold_number(gold_item)
    if gold_number is not None:  # a number item must be a bare number: "75", "75%", "1,000"
        stated_number = _gold_number(stated_item)
        return stated_number is not None and _close(stated_number, gold_number, exact=is_year(gold_item))
    return normalize_text(gold_item) == normalize_text(stated_item)


def _perfect_matching(allowed: list[list[bool]]) -> bool:
    """Whether every gold item (row) gets its own stated item (column): Kuhn's augmenting paths."""
    owner: dict[int, int] = {}

    def assign(row: int, seen: set[int]) -> bool:
        for col, ok in enumerate(allowed[row]):
            if ok and col not in seen:
                seen.add(col)
                if col not in owner or assign(owner[col], seen):
                    owner[col] = row
                    return True
        return False

    return all(assign(row, set()) for row in range(len(allowed)))
