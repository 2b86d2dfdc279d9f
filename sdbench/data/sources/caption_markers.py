"""Split a multi-panel figure caption into its shared context and ordered subcaptions "(a) …", "(b) …".

What: `split_caption(caption)` -> `SplitCaption(shared_context, subcaptions=((letter, text), …), …)`, a pure
function (no I/O, no state). It is the MMSci sub-caption marker rule, used by the `mmsci` source of the
`subfigure` task to turn one caption into K segments, and usable on model outputs for analysis.

Why: MMSci (Li et al., 2024) splits captions at "(a)", "(b)" … with one rule; reproducing it keeps our K and
our per-subfigure references those of the benchmark.

The official rule. `find_sub_caption` in github.com/Leezekun/MMSci, file `mmsci-data/scripts/utils.py`,
lines 106-135 (identical in all 15 commits, f9be52c "first version" 2024-06-07 to c787815 2024-12-02). In
commit f9be52c, `mmsci-data/scripts/process_benchmark.py` (L213, L221, L282, …) and `prepare_benchmark.py`
call it on each figure's `description` (the text after the title; later commits removed both scripts):

1. candidates are the matches of the regex `\\(([a-z])\\)`: one lowercase letter in parentheses;
2. a candidate is a marker only at the very start of the text, or when the two characters before it are a
   sentence punctuation mark from `.!?;:` followed by one space (". (b)", "; (c)");
3. a subcaption is the text from the end of its marker to the start of the next marker (or the end of the
   text), stripped; empty subcaptions are dropped;
4. the result is a dict letter -> text, so a repeated letter keeps the first position and the LAST text;
5. the text before the first marker (the shared context) is not returned.

What this module does, and where it had to decide (each case is tested in tests/unit/test_caption_markers.py):

| case | official | here |
|---|---|---|
| "as shown in (a) and (b)" inside a sentence | not a marker | same: not a marker |
| ". (b)" / "; (b)" / ": (b)" / "! (b)" / "? (b)" | marker | same (so "e.g. (b) …" is one too) |
| ", (b)" / "word (b)" / ".(b)" | not a marker | same |
| ".  (b)", ".\\n(b)" (several spaces, newline) | not a marker (exactly one space) | marker: any whitespace run after the punctuation |
| leading whitespace before the first "(a)" | not a marker (and a quirk: at index 1 the check reads `text[-1]`) | the caption is stripped first, so "(a)" at the start counts |
| "Title (a) x. (b) y." (benchmark file: title + " " + description, the title without final full stop) | the rule read the description alone, so "(a)" was its first marker | `title_joined=True`: the first "(a)" after a space, before the first marker found, counts when that marker is not "(a)" |
| text before the first marker | discarded | kept as `shared_context` |
| "(i)" as the ninth panel ("… (h) x. (i) y.") | marker | marker: "(i)" continues the sequence after "(h)" |
| "(i)", "(ii)", "(iii)" roman numerals | "(i)" (and "(v)", "(x)") split at sentence starts | never a marker when the caption contains a multi-letter roman numeral "(ii)", "(iv)" …, and "(i)", "(v)", "(x)" are markers only right after "(h)", "(u)", "(w)" |
| "(A)", "(B)" upper case | never markers | not markers by default; `uppercase=True` accepts them (as lowercase letters) only when the caption has no lowercase marker |
| "a)", "b)" without "(" | never markers | not markers by default; `unopened=True` accepts them (same position rule, first must be "a") only when no parenthesised marker exists |
| "(a,b)", "(a, b)", "(a and b)", "(a & b)", "(a–c)", "(a-c)", "(a, c–e)" | never markers (the text joins the previous subcaption) | one marker naming several panels: each listed letter gets the same text; ranges expand (a–c = a, b, c); recorded in `combined` |
| "(a) … (c) …" with no (b) | keys a, c | letters kept as found; "b" listed in `missing_letters` (the caller decides to keep or skip) |
| "(a) x. (b) y. (a) z." repeated letter | a -> "z" (first position, last text) | a -> "x. z." (texts of a repeated letter joined in order, first position); listed in `duplicated_letters` |
| "(a) x. (b)." empty subcaption | dropped when exactly "" | dropped when it has no letter or digit (".", "–"); listed in `empty_letters`, never in `missing_letters` |
| letters out of order "(b) … (a) …" | dict order of appearance | order of appearance (the order the caption gives) |

Subcaption texts and the shared context are the caption's own characters (stripped), so every subcaption
that is not a merged duplicate is a substring of the caption.

    >>> s = split_caption("Growth of films. (a) SEM image; see (b). (b) XRD pattern.")
    >>> s.shared_context, s.subcaptions
    ('Growth of films.', (('a', 'SEM image; see (b).'), ('b', 'XRD pattern.')))
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SENTENCE_PUNCTUATION = ".!?;:"
"""A marker may follow one of these and whitespace (official: '.!?;:' and exactly one space)."""

_CONNECTOR = r"\s*(?:,|&|and|[-–—])\s*"
_PAREN = {case: re.compile(rf"\((?P<body>{cls}(?:{_CONNECTOR}{cls})*)\)") for case, cls in
          (("lower", "[a-z]"), ("upper", "[A-Z]"))}
_UNOPENED = {case: re.compile(rf"(?<![\w(])(?P<body>{cls})\)") for case, cls in
             (("lower", "[a-z]"), ("upper", "[A-Z]"))}
_SPLIT_CONNECTORS = re.compile(rf"({_CONNECTOR})")
_RANGE = re.compile(r"^\s*[-–—]\s*$")
_MULTI_ROMAN = re.compile(r"\((?:ii|iii|iv|vi|vii|viii|ix|xi|xii|xiii|xiv|xv)\)", re.IGNORECASE)
_ROMAN_SINGLES = {"i": "h", "v": "u", "x": "w"}  # ambiguous letter -> the panel letter it must follow
_HAS_CONTENT = re.compile(r"[^\W_]")  # a letter or digit (any script)


@dataclass(frozen=True)
class SplitCaption:
    """A caption cut at its subfigure markers."""

    shared_context: str
    """Text before the first marker, stripped ('' when the caption starts with a marker or has none)."""
    subcaptions: tuple[tuple[str, str], ...]
    """(letter, text) in order of first appearance; letters are lowercase; texts are stripped, non-empty.
    No marker at all -> ()."""
    missing_letters: tuple[str, ...] = ()
    """Letters between 'a' and the last letter found that have no marker ('(a) … (c)' -> ('b',))."""
    duplicated_letters: tuple[str, ...] = ()
    """Letters whose marker appears more than once (their texts are joined)."""
    empty_letters: tuple[str, ...] = ()
    """Letters whose marker is followed by no text (dropped from `subcaptions`)."""
    combined: tuple[tuple[str, ...], ...] = ()
    """Groups of letters that share one marker and one text ('(a,b)', '(a–c)')."""
    style: str = "none"
    """Which marker style was used: 'paren' ('(a)', the official one), 'upper' ('(A)'), 'unopened' ('a)'),
    or 'none' (no marker found)."""

    @property
    def letters(self) -> tuple[str, ...]:
        return tuple(letter for letter, _ in self.subcaptions)


def split_caption(caption: str, *, uppercase: bool = False, unopened: bool = False,
                  title_joined: bool = False) -> SplitCaption:
    """Split `caption` at its subfigure markers (the MMSci rule; see the module docstring for every case).

    uppercase: also accept '(A)', '(B)' … when the caption has no lowercase marker.
    unopened: also accept 'a)', 'b)' … when the caption has no parenthesised marker.
    title_joined: the caption is a title, a space and the description (the MMSci benchmark file), while the
      official rule read the description alone: a first marker '(a)' right after a title that has no final
      full stop ("Device layout (a) Map. (b) …") still counts, when the markers found start after 'a'.

    >>> split_caption("(a) Map. (b) Profile.").letters
    ('a', 'b')
    >>> split_caption("Profiles as shown in (a) and (b).").subcaptions
    ()
    """
    text = caption.strip()
    styles: list[tuple[str, re.Pattern[str], bool]] = [("paren", _PAREN["lower"], False)]
    if uppercase:
        styles.append(("upper", _PAREN["upper"], True))
    if unopened:
        styles.append(("unopened", _UNOPENED["lower"], True))
        if uppercase:
            styles.append(("unopened", _UNOPENED["upper"], True))
    for style, pattern, must_start_at_a in styles:
        markers = _find_markers(text, pattern)
        if title_joined and markers and markers[0][2][0] != "a":
            markers = _first_after_title(text, pattern, markers)
        if markers and (not must_start_at_a or markers[0][2][0] == "a"):
            return _assemble(text, markers, style)
    return SplitCaption(shared_context=text, subcaptions=())


# ---- finding markers ------------------------------------------------------------------------------------
def _find_markers(text: str, pattern: re.Pattern[str]) -> list[tuple[int, int, tuple[str, ...]]]:
    """(start, end, letters) of every accepted marker, in text order."""
    has_multi_roman = _MULTI_ROMAN.search(text) is not None
    markers: list[tuple[int, int, tuple[str, ...]]] = []
    for match in pattern.finditer(text):
        if not _at_sentence_start(text, match.start()):
            continue
        letters = _expand(match.group("body"))
        if letters is None:
            continue
        if len(letters) == 1 and letters[0] in _ROMAN_SINGLES:
            previous = markers[-1][2][-1] if markers else None
            if has_multi_roman or previous != _ROMAN_SINGLES[letters[0]]:
                continue  # a roman numeral "(i)", not the panel after "(h)"
        markers.append((match.start(), match.end(), letters))
    return markers


def _first_after_title(text: str, pattern: re.Pattern[str],
                       markers: list[tuple[int, int, tuple[str, ...]]]) -> list[tuple[int, int, tuple[str, ...]]]:
    """`markers` with the first '(a)' before them added, when it follows whitespace (a title's last word)."""
    for match in pattern.finditer(text, 0, markers[0][0]):
        letters = _expand(match.group("body"))
        if letters and letters[0] == "a" and match.start() > 0 and text[match.start() - 1].isspace():
            return [(match.start(), match.end(), letters), *markers]
    return markers


def _at_sentence_start(text: str, start: int) -> bool:
    """True at the start of the text, or after sentence punctuation followed by whitespace."""
    if start == 0:
        return True
    before = text[:start]
    stripped = before.rstrip()
    if len(stripped) == len(before):
        return False  # no whitespace right before the marker
    return not stripped or stripped[-1] in SENTENCE_PUNCTUATION


def _expand(body: str) -> tuple[str, ...] | None:
    """'a' -> ('a',); 'a, b' -> ('a', 'b'); 'a–c' -> ('a', 'b', 'c'); an invalid range ('c–a') -> None."""
    tokens = _SPLIT_CONNECTORS.split(body.lower())  # letter, connector, letter, connector, …
    letters, connectors = tokens[0::2], tokens[1::2]
    out: list[str] = [letters[0]]
    for connector, letter in zip(connectors, letters[1:]):
        if _RANGE.match(connector):
            start = out[-1]
            if not start < letter:
                return None
            out.extend(chr(c) for c in range(ord(start) + 1, ord(letter) + 1))
        else:
            out.append(letter)
    return tuple(out)


# ---- assembling the result ------------------------------------------------------------------------------
def _assemble(text: str, markers: list[tuple[int, int, tuple[str, ...]]], style: str) -> SplitCaption:
    shared = text[:markers[0][0]].strip()
    texts: dict[str, str] = {}
    seen: list[str] = []
    duplicated: list[str] = []
    empty: list[str] = []
    combined: list[tuple[str, ...]] = []
    for i, (_, end, letters) in enumerate(markers):
        stop = markers[i + 1][0] if i + 1 < len(markers) else len(text)
        body = text[end:stop].strip()
        if len(letters) > 1:
            combined.append(letters)
        for letter in letters:
            if letter in seen:
                if letter not in duplicated:
                    duplicated.append(letter)
            else:
                seen.append(letter)
            if not _HAS_CONTENT.search(body):
                continue
            texts[letter] = f"{texts[letter]} {body}" if letter in texts else body
    for letter in seen:
        if letter not in texts:
            empty.append(letter)
    last = max(seen)
    missing = tuple(chr(c) for c in range(ord("a"), ord(last) + 1) if chr(c) not in seen)
    return SplitCaption(
        shared_context=shared, subcaptions=tuple((letter, texts[letter]) for letter in seen if letter in texts),
        missing_letters=missing, duplicated_letters=tuple(duplicated), empty_letters=tuple(empty),
        combined=tuple(combined), style=style)
