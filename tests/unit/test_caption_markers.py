"""The MMSci subcaption marker rule (sdbench/data/sources/caption_markers.py), case by case, outputs by hand."""

import re

import pytest

from sdbench.data.sources.caption_markers import split_caption

# (case id, caption, expected shared context, expected (letter, text) pairs, other expected fields)
CASES = [
    ("basic", "Growth of films. (a) SEM image. (b) XRD pattern.",
     "Growth of films.", [("a", "SEM image."), ("b", "XRD pattern.")], {}),
    ("starts with marker", "(a) Map of the site. (b) Depth profile.",
     "", [("a", "Map of the site."), ("b", "Depth profile.")], {}),
    ("leading whitespace", "  (a) Map. (b) Profile.", "", [("a", "Map."), ("b", "Profile.")], {}),
    ("no marker", "Schematic of the set-up.", "Schematic of the set-up.", [], {"style": "none"}),
    ("inside a sentence", "Spectra as shown in (a) and (b) agree.", "Spectra as shown in (a) and (b) agree.", [], {}),
    ("inline reference kept in text", "Overview. (a) Setup, compare (b). (b) Result; see also (a).",
     "Overview.", [("a", "Setup, compare (b)."), ("b", "Result; see also (a).")], {}),
    ("after every sentence punctuation", "T: (a) one; (b) two! (c) three? (d) four. (e) five",
     "T:", [("a", "one;"), ("b", "two!"), ("c", "three?"), ("d", "four."), ("e", "five")], {}),
    ("after a comma is not a marker", "T. (a) one, (b) two.", "T.", [("a", "one, (b) two.")], {}),
    ("no space after punctuation", "T. (a) one.(b) two.", "T.", [("a", "one.(b) two.")], {}),
    ("newline and double space", "T.\n(a) one.  (b) two.\n(c) three.",
     "T.", [("a", "one."), ("b", "two."), ("c", "three.")], {}),
    ("ninth panel (i) continues a..h",
     "T. (a) a. (b) b. (c) c. (d) d. (e) e. (f) f. (g) g. (h) h. (i) i.",
     "T.", [(c, f"{c}.") for c in "abcdefghi"], {}),
    ("roman numerals (i) (ii) are not panels", "T. (a) Steps: (i) mix. (ii) heat. (b) Yield.",
     "T.", [("a", "Steps: (i) mix. (ii) heat."), ("b", "Yield.")], {}),
    ("(i) after (h) with a (ii) is roman",
     "T. (a) a. (b) b. (c) c. (d) d. (e) e. (f) f. (g) g. (h) h. (i) x. (ii) y.",
     "T.", [*[(c, f"{c}.") for c in "abcdefg"], ("h", "h. (i) x. (ii) y.")], {}),
    ("(i) not after (h) is roman", "T. (a) a. (b) Steps. (i) mix first.",
     "T.", [("a", "a."), ("b", "Steps. (i) mix first.")], {}),
    ("lone (i), (v) are roman", "(i) Left. (v) Right.", "(i) Left. (v) Right.", [], {"style": "none"}),
    ("upper case not accepted by default", "(A) Map. (B) Profile.", "(A) Map. (B) Profile.", [], {"style": "none"}),
    ("combined comma", "T. (a,b) Images. (c) Plot.",
     "T.", [("a", "Images."), ("b", "Images."), ("c", "Plot.")], {"combined": (("a", "b"),)}),
    ("combined comma space", "T. (a, b) Images. (c) Plot.",
     "T.", [("a", "Images."), ("b", "Images."), ("c", "Plot.")], {"combined": (("a", "b"),)}),
    ("combined en-dash range", "T. (a–c) Images. (d) Plot.",
     "T.", [("a", "Images."), ("b", "Images."), ("c", "Images."), ("d", "Plot.")], {"combined": (("a", "b", "c"),)}),
    ("combined hyphen range", "T. (a-b) Images. (c) Plot.",
     "T.", [("a", "Images."), ("b", "Images."), ("c", "Plot.")], {"combined": (("a", "b"),)}),
    ("combined 'and'", "T. (a and b) Images. (c) Plot.",
     "T.", [("a", "Images."), ("b", "Images."), ("c", "Plot.")], {"combined": (("a", "b"),)}),
    ("combined list with range", "T. (a, c–e) Images. (b) Plot.",
     "T.", [("a", "Images."), ("c", "Images."), ("d", "Images."), ("e", "Images."), ("b", "Plot.")],
     {"combined": (("a", "c", "d", "e"),)}),
    ("reversed range is not a marker", "T. (c–a) Images. (a) Plot.", "T. (c–a) Images.", [("a", "Plot.")], {}),
    ("missing letter", "T. (a) One. (c) Three.",
     "T.", [("a", "One."), ("c", "Three.")], {"missing_letters": ("b",)}),
    ("first letter missing", "T. (b) Two.", "T.", [("b", "Two.")], {"missing_letters": ("a",)}),
    ("duplicated marker", "T. (a) One. (b) Two. (a) More on one.",
     "T.", [("a", "One. More on one."), ("b", "Two.")], {"duplicated_letters": ("a",)}),
    ("empty subcaption", "T. (a) One. (b).", "T.", [("a", "One.")], {"empty_letters": ("b",),
                                                                    "missing_letters": ()}),
    ("empty then text", "T. (a). (b) Two.", "T.", [("b", "Two.")], {"empty_letters": ("a",)}),
    ("out of order", "T. (b) Two. (a) One.", "T.", [("b", "Two."), ("a", "One.")], {}),
    ("unopened not accepted by default", "T. a) One. b) Two.", "T. a) One. b) Two.", [], {}),
    ("e.g. before a marker splits (as official)", "Scans, e.g. (b) shows one.", "Scans, e.g.",
     [("b", "shows one.")], {"missing_letters": ("a",)}),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_marker_rule(case):
    _, caption, shared, subcaptions, extra = case
    got = split_caption(caption)
    assert got.shared_context == shared
    assert list(got.subcaptions) == subcaptions
    for name, value in extra.items():
        assert getattr(got, name) == value, name


def test_uppercase_option_accepts_all_uppercase_markers_as_lowercase_letters():
    caption = "Device overview. (A) Optical image. (B) Transfer curve. (C) Mobility."
    assert split_caption(caption).subcaptions == ()  # the official rule: lowercase only
    got = split_caption(caption, uppercase=True)
    assert got.style == "upper"
    assert got.shared_context == "Device overview."
    assert got.subcaptions == (("a", "Optical image."), ("b", "Transfer curve."), ("c", "Mobility."))


def test_uppercase_option_ignored_when_lowercase_markers_exist():
    got = split_caption("T. (a) One. (B) Two.", uppercase=True)
    assert got.style == "paren" and got.subcaptions == (("a", "One. (B) Two."),)


def test_unopened_option():
    got = split_caption("Title. a) One. b) Two.", unopened=True)
    assert got.style == "unopened" and got.subcaptions == (("a", "One."), ("b", "Two."))
    # must start at 'a', and never inside words like "Fig. 3a)"
    assert split_caption("Title. b) One. c) Two.", unopened=True).subcaptions == ()
    assert split_caption("As in Fig. 3a) and 3b).", unopened=True).subcaptions == ()


def _official_oracle(text: str) -> dict[str, str]:
    """An independent re-statement of MMSci's find_sub_caption (utils.py L106-135): lowercase '(x)' at index 0
    or after one of '.!?;:' + one space; text to the next marker, stripped; empty dropped; dict semantics."""
    starts = [m for m in re.finditer(r"\(([a-z])\)", text)
              if m.start() == 0 or (m.start() >= 2 and text[m.start() - 2] in ".!?;:" and text[m.start() - 1] == " ")]
    out: dict[str, str] = {}
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        if text[m.end():end].strip():
            out[m.group(1)] = text[m.end():end].strip()
    return out


@pytest.mark.parametrize("seed", range(200))
def test_agrees_with_the_official_rule_where_no_extension_applies(seed):
    """Random captions made of official-style pieces (no roman numerals, no combined markers, no repeats,
    single spaces): our split equals the official dict, and the shared context is the text before (a)."""
    import random

    rng = random.Random(seed)
    words = ["cells", "shown", "in", "(b)", "and", "data", "at", "2 K", "scale", "bar"]
    letters = sorted(rng.sample("abcdefgh", rng.randint(0, 6)))
    pieces = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 6))) + rng.choice(".;:!?") for _ in letters]
    head = "Figure title." if rng.random() < 0.7 else ""
    caption = " ".join([head] + [f"({c}) {p}" for c, p in zip(letters, pieces)]).strip()
    got = split_caption(caption)
    assert dict(got.subcaptions) == _official_oracle(caption)
    assert got.shared_context == (head if letters else caption)


def test_texts_are_substrings_of_the_caption():
    caption = "Overview of the set-up. (a) Laser path; see (c). (b) Detector. (c) Timing."
    got = split_caption(caption)
    assert caption.startswith(got.shared_context)
    assert all(text in caption for _, text in got.subcaptions)
    assert got.letters == ("a", "b", "c")
