"""Model output text -> the K labelled segments it contains, with character spans and format statistics.

What: `segment_text(text, expected_labels, label_template)` finds the labels a model wrote ("Panel 2:",
"Chart 3:", "(b)"), matches each to the expected segment it names, and returns one `FoundSegment | None`
per expected label (same order) plus `FormatStats`. `segment_char_spans` turns the result into the body
spans that `sdbench.data.token_spans.token_segment_ids` maps onto tokens.

Why: SD-GRPO scores every segment on its own and gives each token its segment's advantage, so which text
belongs to which segment has to be decided once, here, by written rules that hold on messy output.
Segment identity is the label, not the position: "Panel 3:" is segment 3 wherever it appears.

How a label is recognised. A template "Panel {k}:" has *word style* (a word, a number, a terminator);
"({letter})" has *marker style* (bracket, letter, bracket). Numbers match whole (`Panel 12:` is never
`Panel 1:` followed by "2:"); letters are one or two ASCII letters (a … z, aa, ab … as `format_label`).

| where the label is written | word style ("Panel {k}:") | marker style ("({letter})") |
|---|---|---|
| start of text or of a line, after optional markdown (`#`, `>`, `-`, `*`, `+`, `•`, `1.`, `1)`) and emphasis (`**`, `__`, `*`) | any case; terminator `:` `：` `.` `)` `-` `–` `—`, or closing emphasis, or end of line, or a `#` heading; an optional short "(top left)" before the terminator: "Panel 2 -", "**Panel 2**", "panel 2.", "PANEL 2:", "## Panel 2", "1. Panel 2)" | "(b)", "(B)", "b)", "B)", "**(b)**", "(b):" |
| inside a line, right after `. ! ? ; : ,` (and their CJK forms) and optional spaces | only with the strong terminator `:`/`：`: "45; Chart 2: 30", "Answer: Chart 1: 45" | only the bracketed form, not after a comma: "… cells. (b) Western blot" |
| anywhere else | not a label: "as in Panel 2, the cat", "Panel 2 shows a dog" (no terminator), "in Panel 2: x" | not a label: "as shown in (b), …", "Fig. 1(b)", "… and b) …" |

What each case yields (every accepted label, expected or not, ends the segment before it):

| case | result | counted in stats as |
|---|---|---|
| expected label, first occurrence | starts that segment; body = text up to the next accepted label, whitespace-stripped (a separator before an inline label stays: "Chart 1: 45; Chart 2: 30" gives "45;") | `num_found` |
| expected label never written | segment is None (scores 0 downstream) | `num_missing` |
| label written again (duplicate) | the FIRST occurrence keeps the segment; the duplicate ends the segment before it and its text belongs to no segment | `num_duplicate_labels`, `num_unlabeled_chars` |
| labels out of order ("Panel 2:" before "Panel 1:") | still matched by label | `num_out_of_order` (first occurrences whose expected index is below an earlier one's) |
| label not expected ("Panel 9:" when K=4, "(d)" when K=3) | ends the segment before it; its text belongs to no segment | `num_unexpected_labels`, `num_unlabeled_chars` |
| marker not expected that is a roman numeral ("(i)", "(ii)", "(iv)", "(x)" when they name no expected segment) | stays text of the segment it is in: captions number lists that way, and a subcaption "(a) spectra: (i) as grown; (ii) annealed" must read back whole | `num_unexpected_labels` |
| label in another style ("**Panel 2**", "PANEL 2 -", "(B)") | accepted as the table above says | `num_nonstandard_labels` (written form != template form) |
| text before the first label (preamble) | belongs to no segment | `num_unlabeled_chars` (non-whitespace characters outside every label and body) |
| text after the last segment ("In summary, …") | part of the last segment (nothing marks its end) | — |
| label followed directly by the next label or end of text | FoundSegment with empty body | `num_empty_segments` |
| no label at all, K = 1 | the whole text (stripped) is segment 1: a one-segment answer needs no label; label = "" | `no_labels`, `implicit_single` |
| no label at all, K > 1 | every segment None | `no_labels` |
| output cut off | segments as found | `truncated`: `hit_length_limit` when the caller knows the finish reason, else a heuristic (see `_looks_truncated`) |

Ranges and groups ("(a, b)", "(a–c)", "Panels 1-2:") and markers written after their text ("… in mice (b)")
are not labels. "e.g. (b) …" is read as a label (the "." looks like a sentence end).

Robustness: never raises on model output (None, non-str, control characters, lone surrogates). All patterns
are bounded or possessive and the context rules run inside the regex: a 1 MB output takes ≈ 0.05 s, or
≈ 0.3–0.5 s when it holds 10^5 labels (tests/unit/test_segmenter.py keeps adversarial inputs under 1 s).

    >>> out = segment_text("Panel 1: a cat.\\nPanel 2: a dog.", ["Panel 1:", "Panel 2:"], "Panel {k}:")
    >>> [s.text for s in out.segments], out.stats.num_found
    (['a cat.', 'a dog.'], 2)
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import NamedTuple

from sdbench.core.errors import SdbenchError

FORMAT_STATS: dict[str, str] = {
    "num_expected": "segments the example expects (K)",
    "num_found": "expected segments whose label was found (or K = 1 taken whole)",
    "num_missing": "expected segments not found (None; score 0 downstream)",
    "num_labels": "accepted label occurrences, expected or not, duplicates included",
    "num_duplicate_labels": "label occurrences after the first of the same label",
    "num_out_of_order": "first occurrences whose expected index is below that of an earlier one",
    "num_unexpected_labels": "label occurrences naming no expected segment ('Panel 9:' when K = 4; a roman-numeral "
                             "marker such as '(ii)' is counted but stays text)",
    "num_nonstandard_labels": "accepted labels not written exactly as the template ('**Panel 2**', '(B)')",
    "num_empty_segments": "found segments with an empty body",
    "num_unlabeled_chars": "non-whitespace characters outside every label and found segment body",
    "no_labels": "no label at all was found",
    "implicit_single": "K = 1 and no label: the whole text was taken as the segment",
    "truncated": "the output looks cut off (finish reason when given, else a heuristic)",
}

ROMAN_NUMERALS = frozenset({"i", "ii", "iv", "v", "vi", "ix", "x", "xi", "xv", "xx"})
"""Marker values that are roman numerals (labels have at most two letters): unless one names an expected
segment, it is a list item of the text ("(i) as grown; (ii) annealed"), not a subfigure label."""
_SENTENCE_END = ".!?;:。！？；："  # inline marker labels ("(b)") may follow these
_CLAUSE_END = _SENTENCE_END + ",，"  # inline word labels ("Chart 2:") may follow these
_OPEN_ENDINGS = ",;:-–—(/&+="
_FIELD = re.compile(r"\{(k|letter)\}")


@dataclass(frozen=True)
class FoundSegment:
    """One expected segment as found in the text."""

    index: int
    """0-based index in the expected labels."""
    label: str
    """The label as written, markdown included ('**Panel 2:**'); '' for an implicit single segment."""
    label_span: tuple[int, int]
    """[start, end) of the label in the text."""
    span: tuple[int, int]
    """[start, end) of the body (label excluded, whitespace-stripped); empty when the body is."""
    text: str
    """The body: text[span[0]:span[1]]."""


@dataclass(frozen=True)
class FormatStats:
    """Format statistics of one output; the keys and their meaning are FORMAT_STATS."""

    num_expected: int
    num_found: int
    num_missing: int
    num_labels: int
    num_duplicate_labels: int
    num_out_of_order: int
    num_unexpected_labels: int
    num_nonstandard_labels: int
    num_empty_segments: int
    num_unlabeled_chars: int
    no_labels: bool
    implicit_single: bool
    truncated: bool

    def as_dict(self) -> dict[str, int | bool]:
        return asdict(self)


@dataclass(frozen=True)
class SegmentedOutput:
    """Segments aligned with the expected labels (None where missing) and format statistics."""

    text: str
    """The text that was segmented (spans refer to it)."""
    segments: list[FoundSegment | None]
    stats: FormatStats


class _Label(NamedTuple):  # a NamedTuple: a 1 MB output can hold 10^5 labels
    start: int
    end: int
    key: str
    written: str


def segment_text(text: str | None, expected_labels: list[str], label_template: str,
                 hit_length_limit: bool | None = None) -> SegmentedOutput:
    """Split `text` into the segments named by `expected_labels` (rules: module docstring).

    hit_length_limit: the generation stopped at max tokens (finish reason 'length'); None = unknown,
    then `truncated` is guessed from the text.

    >>> out = segment_text("Intro.\\n**Chart 2**: 45; Chart 3: 30", ["Chart 2:", "Chart 3:"], "Chart {k}:")
    >>> [s.text for s in out.segments], out.stats.num_unlabeled_chars, out.stats.num_nonstandard_labels
    (['45;', '30'], 6, 1)
    >>> segment_text("Panel 12: x", ["Panel 1:", "Panel 2:"], "Panel {k}:").segments
    [None, None]
    """
    text = _as_text(text)
    expected_labels = list(expected_labels or [])
    style = _style(label_template)
    key_to_index = _expected_keys(expected_labels, label_template, style)
    labels = _find_labels(text, style)
    num_accepted = len(labels)
    unexpected_text = 0  # marker style: an unexpected roman numeral is text, not a boundary (module docstring)
    if style.marker:
        kept = [label for label in labels if label.key in key_to_index or label.key not in ROMAN_NUMERALS]
        unexpected_text, labels = len(labels) - len(kept), kept

    segments: list[FoundSegment | None] = [None] * len(expected_labels)
    duplicates = out_of_order = nonstandard = 0
    unexpected = unexpected_text
    highest = -1
    canonical: dict[str, str] = {}
    unlabeled = [text[:labels[0].start] if labels else text]  # preamble + text of duplicate/unexpected labels
    for pos, label in enumerate(labels):
        if label.key not in canonical:
            canonical[label.key] = _canonical(label_template, style, label.key)
        nonstandard += label.written != canonical[label.key]
        index = key_to_index.get(label.key)
        body_end = labels[pos + 1].start if pos + 1 < len(labels) else len(text)
        if index is None or segments[index] is not None:
            unexpected += index is None
            duplicates += index is not None
            unlabeled.append(text[label.end:body_end])
            continue
        out_of_order += index < highest
        highest = max(highest, index)
        start, end = _strip_span(text, label.end, body_end)
        segments[index] = FoundSegment(index, text[label.start:label.end], (label.start, label.end), (start, end),
                                       text[start:end])

    implicit = len(expected_labels) == 1 and not labels and bool(text.strip())
    if implicit:
        start, end = _strip_span(text, 0, len(text))
        segments[0] = FoundSegment(0, "", (start, start), (start, end), text[start:end])
        unlabeled = []

    found = [s for s in segments if s is not None]
    stats = FormatStats(
        num_expected=len(expected_labels), num_found=len(found), num_missing=len(expected_labels) - len(found),
        num_labels=num_accepted, num_duplicate_labels=duplicates, num_out_of_order=out_of_order,
        num_unexpected_labels=unexpected, num_nonstandard_labels=nonstandard,
        num_empty_segments=sum(not s.text for s in found),
        num_unlabeled_chars=_count_non_space("".join(unlabeled)), no_labels=not num_accepted,
        implicit_single=implicit,
        truncated=(bool(hit_length_limit) if hit_length_limit is not None
                   else _looks_truncated(text, labels, segments)))
    return SegmentedOutput(text=text, segments=segments, stats=stats)


def segment_char_spans(output: SegmentedOutput) -> list[tuple[int, int] | None]:
    """Body spans aligned with the expected labels, the input of `token_spans.token_segment_ids`.

    >>> segment_char_spans(segment_text("(a) x (b) y. (B) z", ["(a)", "(b)"], "({letter})"))
    [(4, 12), (17, 18)]
    """
    return [None if s is None else s.span for s in output.segments]


# ---- label recognition -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Style:
    marker: bool  # marker style ('({letter})'); else word style ('Panel {k}:', 'Answer:')
    field: str  # 'k' | 'letter' | 'fixed' (a template with no placeholder: one label, 'Answer:')
    label: re.Pattern  # one label alone (to read the expected labels)
    in_text: re.Pattern  # an accepted label with its context (line start or after punctuation)


# The context and the acceptance rules are matched by the regex itself (conditionals on the group `md`, which
# takes part only at a line start), so a rejected candidate costs no Python and an accepted one little.
# Line start: spaces, then markdown ('#', '>', '-', '•', '* ', '+ ', '1.', '1)') in group md.
_LINE_CONTEXT = r"^[ \t\r]*+(?P<md>(?:(?:(?P<hash>#++)|>|[-•]|[*+](?=[ \t])|\d{1,3}+[.)])[ \t]*+)*+)"
_EMPHASIS = r"[*_]{1,3}+"


@lru_cache(maxsize=64)
def _style(template: str) -> _Style:
    """Compile the recognition patterns of a label template (once per template)."""
    match = _FIELD.search(template or "")
    if match is not None and _FIELD.search(template, match.end()):
        raise SdbenchError(f"label template {template!r}: needs exactly one {{k}} or {{letter}} placeholder, "
                           "e.g. 'Panel {k}:' or '({letter})', or none for one fixed label ('Answer:')")
    if match is None:  # one fixed label, e.g. "Answer:" (a one-segment example): a word with no number
        if not re.match(r"^\W*\w", template or "") or not (template or "").strip()[-1:] in ":：":
            raise SdbenchError(f"label template {template!r}: a fixed label is a word and a colon, e.g. "
                               "'Answer:'; otherwise use a {k} or {letter} placeholder")
        field, prefix, suffix = "fixed", template.strip()[:-1].strip(), ""  # the word before the colon
        value = r"(?P<value>)"
    else:
        field = match.group(1)
        prefix, suffix = template[:match.start()].strip(), template[match.end():].strip()
        value = r"(?P<value>\d{1,6}+)(?!\d)" if field == "k" else r"(?P<value>[A-Za-z]{1,2}+)"
    word_style = bool(prefix) and prefix[-1].isalnum()
    if word_style:
        word = r"[ \t]+".join(re.escape(part) for part in prefix.split())
        lenient = (r"(?:[ \t]{0,3}+\([^()\n]{0,40}+\))?"  # "(top left)"
                   rf"(?P<close>{_EMPHASIS})?"
                   r"(?:[ \t]{0,3}+(?:[:：)]|[\-–—.](?!\d))" rf"(?:{_EMPHASIS})?"  # terminator
                   r"|(?=[ \t]*+(?:\r?\n|\Z))"  # end of line
                   r"|(?(close)|(?(hash)|(?!))))")  # closing emphasis or a '#' heading
        strong = rf"(?:{_EMPHASIS})?[ \t]{{0,3}}+[:：](?:{_EMPHASIS})?"
        core = rf"(?:{_EMPHASIS})?(?<![^\W_]){word}[ \t]{{0,3}}+{value}(?({'md'}){lenient}|{strong})"
        label = (rf"(?:{_EMPHASIS})?{word}[ \t]{{0,3}}+{value}.*" if field != "fixed"  # an expected label
                 else rf"(?:{_EMPHASIS})?{word}{value}[ \t]*+[:：](?:{_EMPHASIS})?")
        marks = _CLAUSE_END
    else:  # marker style
        if not prefix and not suffix:
            raise SdbenchError(f"label template {template!r}: needs a word ('Panel {{k}}:') or brackets "
                               "('({letter})')")
        opening = re.escape(prefix)
        closing = re.escape(suffix) if suffix else r"(?!\w)"
        core = (rf"(?:{_EMPHASIS})?(?<![^\W_])(?(md)(?:{opening})?+|{opening}){value}{closing}"
                rf"(?:{_EMPHASIS})?(?:[ \t]{{0,3}}+[:.](?!\d))?")
        label = rf"(?:{_EMPHASIS})?(?:{opening})?{value}{closing}.*"
        marks = _SENTENCE_END
    inline = rf"(?<=[{re.escape(marks)}])[ \t]{{0,7}}+"
    flags = re.IGNORECASE | re.MULTILINE
    return _Style(not word_style, field, re.compile(label, flags | re.DOTALL),
                  re.compile(rf"(?:{_LINE_CONTEXT}|{inline})(?P<core>{core})", flags))


def _find_labels(text: str, style: _Style) -> list[_Label]:
    """Accepted label occurrences in text order (context rules: module docstring)."""
    labels = []
    append = labels.append
    field_k = style.field == "k"
    for m in style.in_text.finditer(text):  # hot: 10^5 labels in a 1 MB output, so `_key` is inlined
        core, end = m.span("core")
        start = m.start("md")
        value = m.group("value")
        append(_Label(core if start < 0 else start, end, str(int(value)) if field_k else value.lower(),
                      text[core:end]))
    return labels


def _key(field: str, value: str) -> str:
    """The identity of a label: its number ('012' -> '12'), its letter lower-cased, or '' for a fixed label."""
    return str(int(value)) if field == "k" else value.lower()


def _canonical(template: str, style: _Style, key: str) -> str:
    if style.field == "fixed":
        return template.strip()
    if style.field == "k":
        return template.format(k=key).strip()
    return template.format(letter=key).strip()


def _expected_keys(expected_labels: list[str], template: str, style: _Style) -> dict[str, int]:
    keys: dict[str, int] = {}
    for index, label in enumerate(expected_labels):
        m = style.label.fullmatch(str(label).strip())
        if m is None:
            raise SdbenchError(f"expected label {label!r} does not follow the label template {template!r}")
        key = _key(style.field, m.group("value"))
        if key in keys:
            raise SdbenchError(f"expected labels {expected_labels!r}: {label!r} is listed twice")
        keys[key] = index
    return keys


# ---- small helpers -----------------------------------------------------------------------------------
def _as_text(text: object) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        return text.decode("utf-8", errors="replace")
    return text if isinstance(text, str) else str(text)


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    """[start, end) narrowed to exclude leading/trailing whitespace (str.isspace), empty at `start` if blank."""
    chunk = text[start:end]
    left = len(chunk) - len(chunk.lstrip())
    if left == len(chunk):
        return start, start
    return start + left, start + len(chunk.rstrip())


def _count_non_space(text: str) -> int:
    return sum(map(len, text.split()))


def _looks_truncated(text: str, labels: list[_Label], segments: list[FoundSegment | None]) -> bool:
    """Heuristic when the finish reason is unknown: the text ends with a label, or with a character that
    cannot end an answer (',', ':', '-', '(' …), or with a letter/digit while the last expected segment is
    missing (a cut-off output loses its tail segments)."""
    stripped = text.rstrip()
    if not stripped:
        return False
    if labels and labels[-1].end >= len(stripped):
        return True
    last = stripped[-1]
    return last in _OPEN_ENDINGS or (last.isalnum() and bool(segments) and segments[-1] is None)
