"""Synthetic multi-panel scientific figures whose K subcaptions are entangled through one shared context.

What: the figures of the `subfigure` task's synthetic source (sdbench.data.sources.synthetic_subfigures).
Example i is one figure with K subplots (K = req.k_for(i)) from ONE experiment: the same measured quantity and x
variable with their units, the same n samples of one material under one atmosphere, error bars over the same number
of runs; the panels differ only in one factor (pressure, annealing time, doping level or light intensity), whose
value rises from panel to panel. Its caption is "<shared context> (a) … (b) …", MMSci style (seed 1,
K = 2, entanglement 0.5, as `caption(draw_figure(random.Random(1), 2, 0.5))` writes it):

    Applied field (Oe) dependence of the absorbance (a.u.) of three zeolite samples measured in air. Panels (a)
    and (b) correspond to light intensities of 150 and 500 mW/cm2, respectively. Error bars are s.d. over 4
    runs. (a) Scatter plot of the measured quantity for the three zeolite samples in air, with a light intensity
    of 150 mW/cm2. The values decrease steadily from left to right. Sample 1 shows the highest values. (b) Bar
    chart of absorbance versus applied field for the three zeolite samples in air, at a higher light intensity
    than in (a). The values go through a maximum mid-range. The highest values belong to sample 1.

Why: the paper's third claim is that when segments are entangled (subcaptions that lean on a shared
context), a blend of holistic and per-segment advantages beats both. This source makes the entanglement a
knob, so its effect can be measured, and every subcaption carries verifiable facts.

The `entanglement` option e in [0, 1]. Each subcaption has four *shared slots*:

| slot | restated (written in the subcaption; its facts are the segment's) | referred back (names no value) |
|---|---|---|
| quantity | "conductivity versus temperature" -> variable, xvar | "the measured quantity" (a), "the same quantity as in (a)" (later panels) |
| units | "(S/m)", "(K)" after the names, or "(S/m versus K)" -> unit ×2 | nothing: units are left to the context |
| samples | "the three alloy samples in air" -> samples, material, atmosphere | "the samples described above" (a), "the same samples" |
| setting | "with a pressure of 5 atm" -> setting | "at the first pressure listed above" (a), "at a higher pressure than in (a)" |

For panel j and slot s a number u[j, s] is drawn uniformly from [0, 1) by the example's RNG, whatever e is;
the slot is referred back iff u[j, s] < e. So each slot is referred back with probability e, independently;
at e = 0 every subcaption is self-contained (it names its variable, units, samples and setting), at e = 1 no
subcaption names any of them (all units appear only in the context), and for one seed raising e only turns
restated slots into references: the figure, the plot types, trends and everything else stay the same. When
a later panel refers back both its quantity and its samples, its first sentence becomes "Same measurement as
in (a), …". The panel's own facts (plot type, trend, which sample is highest) are always written. The shared
context always states everything.

Facts. Every fact is a canonical string "<kind>:<letter>|<value>" (segment facts, `Segment.facts`) or
"<kind>|<value>" / "setting:<letter>|<value> <unit>" (shared facts, `Example.meta["shared_facts"]`);
`FACT_KINDS` lists the kinds and their values. `parse_facts(text, letter)` extracts segment facts from any
free text (a model's subcaption) with the synonyms in `PLOT_WORDS` / `TREND_WORDS`;
`parse_context_facts(text)` does the same for a context. On generated text both return exactly the facts
stored with it (tested on thousands of captions), so a fact-F1 reward is parse(output) vs stored facts.

Rendering: sdbench.data.sources.subfigure_renderer (about 5-10 ms per figure on one core).

    sdbench build-task subfigure --segments 1,2,4,8 --n-train 1000 --n-test 200 --options entanglement 0.8
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from random import Random

from sdbench.core.errors import SdbenchError

# ---- vocabulary -------------------------------------------------------------------------------------------
QUANTITIES = (("conductivity", "S/m"), ("magnetization", "emu/g"), ("absorbance", "a.u."),
              ("current density", "mA/cm2"), ("photoluminescence intensity", "counts"), ("stress", "MPa"),
              ("specific capacity", "mAh/g"), ("heat flow", "mW"))
"""Measured quantities (y axis) with their units."""
X_VARIABLES = (("temperature", "K"), ("bias voltage", "V"), ("wavelength", "nm"), ("frequency", "Hz"),
               ("applied field", "Oe"))
"""Independent variables (x axis) with their units; disjoint from QUANTITIES and from each other's units."""
MATERIALS = ("alloy", "polymer", "perovskite", "hydrogel", "ceramic", "graphene", "zeolite")
ATMOSPHERES = {"air": "in air", "argon": "under argon", "nitrogen": "under nitrogen", "vacuum": "in vacuum"}
SETTINGS = (  # (factor, plural, unit, 16 ascending values): the factor varied across panels
    ("pressure", "pressures", "atm",
     ("0.1", "0.2", "0.5", "1", "2", "3", "5", "10", "20", "30", "50", "100", "200", "300", "500", "1000")),
    ("annealing time", "annealing times", "h",
     ("0.25", "0.5", "1", "2", "3", "4", "6", "8", "12", "16", "24", "36", "48", "72", "96", "120")),
    ("doping level", "doping levels", "mol%",
     ("0.05", "0.1", "0.2", "0.3", "0.5", "1", "1.5", "2", "3", "4", "5", "6", "8", "10", "12", "15")),
    ("light intensity", "light intensities", "mW/cm2",
     ("1", "2", "5", "10", "15", "20", "30", "50", "75", "100", "150", "200", "250", "300", "400", "500")),
)
MAX_PANELS = 16
PLOTS = ("line", "scatter", "bar")
TRENDS = ("increasing", "decreasing", "peaked", "flat")
NUMBER_WORDS = {2: "two", 3: "three", 4: "four"}
SLOTS = ("quantity", "units", "samples", "setting")
"""The shared slots of a subcaption that the entanglement knob refers back to the context."""

PLOT_NOUNS = {"line": "line plot", "scatter": "scatter plot", "bar": "bar chart"}
TREND_SENTENCES = {
    "increasing": ("The values increase steadily from left to right.", "The values rise monotonically."),
    "decreasing": ("The values decrease steadily from left to right.", "The values fall monotonically."),
    "peaked": ("The values peak in the middle of the range.", "The values go through a maximum mid-range."),
    "flat": ("The values stay roughly constant.", "The values show no clear trend."),
}
MAX_SENTENCES = ("Sample {m} shows the highest values.", "The highest values belong to sample {m}.")

# What the parser accepts (the generator writes a subset of these).
PLOT_WORDS = {"line": r"line (?:plot|graph|chart)s?", "scatter": r"scatter(?: plot| graph| chart)?s?",
              "bar": r"bar (?:chart|plot|graph)s?|histograms?"}
TREND_WORDS = {
    "increasing": r"increases?|increasing|rises?|rising|grows?|growing",
    "decreasing": r"decreases?|decreasing|falls?|falling|drops?|dropping|declines?|declining",
    "peaked": r"peaks?|peaked|peaking|goes through a maximum|go through a maximum",
    "flat": r"constant|flat|no clear trend|unchanged",
}
UNITS = tuple(u for _, u in QUANTITIES) + tuple(u for _, u in X_VARIABLES)

FACT_KINDS: dict[str, str] = {
    "plot": f"plot type of the panel: {', '.join(PLOTS)}",
    "trend": f"shape shared by the panel's curves: {', '.join(TRENDS)}",
    "max": "the sample with the highest values: 'sample N'",
    "variable": f"measured quantity: {', '.join(q for q, _ in QUANTITIES)}",
    "xvar": f"x variable: {', '.join(x for x, _ in X_VARIABLES)}",
    "unit": f"a unit written in parentheses: {', '.join(UNITS)}",
    "samples": "number of samples: 2, 3, 4",
    "material": f"sample material: {', '.join(MATERIALS)}",
    "atmosphere": f"measurement atmosphere: {', '.join(ATMOSPHERES)}",
    "setting": "the panel's value of the varied factor: '<value> <unit>' (units "
               f"{', '.join(s[2] for s in SETTINGS)})",
    "runs": "number of runs behind the error bars (shared context only)",
}
"""Every fact kind, its values and where it comes from (segment facts: all but 'runs')."""


# ---- one figure: experiment, panels, texts, facts ----------------------------------------------------------
@dataclass(frozen=True)
class Panel:
    """One subplot: what it shows (plot type, trend, top sample, setting), how it is drawn, how it is captioned."""

    letter: str
    plot: str
    trend: str
    top_sample: int  # 1-based sample with the highest values
    setting: str  # value of the varied factor, e.g. "5"
    levels: tuple[int, ...]  # level rank of each sample (0 = lowest)
    shape: tuple[float, float, float]  # exponent, centre, width of the trend curve
    jitter: tuple[tuple[float, ...], ...]  # (num_samples, 7)
    error: float
    referred: tuple[str, ...]  # shared slots referred back to the context
    trend_variant: int
    max_variant: int


@dataclass(frozen=True)
class SyntheticFigure:
    """One synthetic figure: the experiment, its panels, the caption pieces and the facts."""

    quantity: str
    unit: str
    xvar: str
    xunit: str
    material: str
    atmosphere: str
    num_samples: int
    runs: int
    factor: tuple[str, str, str]  # (name, plural, unit)
    context_variant: int
    panels: tuple[Panel, ...]
    shared_context: str = ""
    subcaptions: tuple[str, ...] = ()
    shared_facts: tuple[str, ...] = ()
    segment_facts: tuple[tuple[str, ...], ...] = field(default=())


def draw_figure(rng: Random, k: int, entanglement: float) -> SyntheticFigure:
    """Draw one figure with k panels. The RNG is consumed the same way for every entanglement value."""
    if not 1 <= k <= MAX_PANELS:
        raise SdbenchError(f"subfigure synthetic: K={k} is outside 1..{MAX_PANELS}")
    quantity, unit = rng.choice(QUANTITIES)
    xvar, xunit = rng.choice(X_VARIABLES)
    material = rng.choice(MATERIALS)
    atmosphere = rng.choice(sorted(ATMOSPHERES))
    num_samples = rng.randint(2, 4)
    runs = rng.randint(3, 10)
    name, plural, factor_unit, values = rng.choice(SETTINGS)
    context_variant = rng.randrange(2)
    settings = [values[i] for i in sorted(rng.sample(range(len(values)), k))]
    panels = []
    for j in range(k):
        plot, trend = rng.choice(PLOTS), rng.choice(TRENDS)
        levels = list(range(num_samples))
        rng.shuffle(levels)
        shape = (rng.uniform(0.7, 1.5), rng.uniform(0.35, 0.65), rng.uniform(0.18, 0.28))
        jitter = tuple(tuple(rng.uniform(-0.015, 0.015) for _ in range(7)) for _ in range(num_samples))
        error = rng.uniform(0.015, 0.035)
        draws = [rng.random() for _ in SLOTS]
        referred = tuple(slot for slot, u in zip(SLOTS, draws) if u < entanglement)
        panels.append(Panel(letter=_letter(j), plot=plot, trend=trend, top_sample=levels.index(num_samples - 1) + 1,
                            setting=settings[j], levels=tuple(levels), shape=shape, jitter=jitter, error=error,
                            referred=referred, trend_variant=rng.randrange(2), max_variant=rng.randrange(2)))
    fig = SyntheticFigure(quantity=quantity, unit=unit, xvar=xvar, xunit=xunit, material=material,
                          atmosphere=atmosphere, num_samples=num_samples, runs=runs,
                          factor=(name, plural, factor_unit), context_variant=context_variant, panels=tuple(panels))
    return replace(fig, shared_context=context_text(fig),
                   subcaptions=tuple(subcaption_text(fig, j) for j in range(k)),
                   shared_facts=tuple(sorted(context_facts(fig))),
                   segment_facts=tuple(tuple(sorted(panel_facts(fig, j))) for j in range(k)))


def _letter(j: int) -> str:
    return chr(ord("a") + j)


def context_text(fig: SyntheticFigure) -> str:
    """The shared context: quantities + units, samples, what distinguishes the panels, error bars."""
    n = NUMBER_WORDS[fig.num_samples]
    atm = ATMOSPHERES[fig.atmosphere]
    if fig.context_variant == 0:
        first = (f"{_cap(fig.quantity)} ({fig.unit}) versus {fig.xvar} ({fig.xunit}) of {n} {fig.material} "
                 f"samples measured {atm}.")
    else:
        first = (f"{_cap(fig.xvar)} ({fig.xunit}) dependence of the {fig.quantity} ({fig.unit}) of {n} "
                 f"{fig.material} samples measured {atm}.")
    name, plural, unit = fig.factor
    values = [p.setting for p in fig.panels]
    k = len(values)
    if k == 1:
        panels = f"Panel (a) corresponds to {_article(name)} {name} of {values[0]} {unit}."
    else:
        span = "(a) and (b)" if k == 2 else f"(a)–({_letter(k - 1)})"
        listed = f"{', '.join(values[:-1])} and {values[-1]}"
        panels = f"Panels {span} correspond to {plural} of {listed} {unit}, respectively."
    return f"{first} {panels} Error bars are s.d. over {fig.runs} runs."


def subcaption_text(fig: SyntheticFigure, j: int) -> str:
    """Subcaption of panel j (without its "(a)" marker); see the module docstring for the slot phrases."""
    p = fig.panels[j]
    prev = _letter(j - 1) if j else ""
    ref = set(p.referred)
    name, _, factor_unit = fig.factor
    units = "" if "units" in ref else f" ({fig.unit} versus {fig.xunit})"
    if "setting" in ref:
        setting = f"at the first {name} listed above" if j == 0 else f"at a higher {name} than in ({prev})"
    else:
        setting = f"with {_article(name)} {name} of {p.setting} {factor_unit}"
    if j > 0 and {"quantity", "samples"} <= ref:
        first = f"Same measurement as in ({prev}){units}, {setting}, shown as a {PLOT_NOUNS[p.plot]}."
    else:
        if "quantity" not in ref and "units" not in ref:
            what = f"{fig.quantity} ({fig.unit}) versus {fig.xvar} ({fig.xunit})"
        elif "quantity" not in ref:
            what = f"{fig.quantity} versus {fig.xvar}"
        else:
            what = ("the measured quantity" if j == 0 else f"the same quantity as in ({prev})") + units
        if "samples" in ref:
            samples = "the samples described above" if j == 0 else "the same samples"
        else:
            samples = f"the {NUMBER_WORDS[fig.num_samples]} {fig.material} samples {ATMOSPHERES[fig.atmosphere]}"
        first = f"{_cap(PLOT_NOUNS[p.plot])} of {what} for {samples}, {setting}."
    trend = TREND_SENTENCES[p.trend][p.trend_variant]
    top = MAX_SENTENCES[p.max_variant].format(m=p.top_sample)
    return f"{first} {trend} {top}"


def panel_facts(fig: SyntheticFigure, j: int) -> set[str]:
    """The facts subcaption j states (its own facts + the shared slots it restates)."""
    p = fig.panels[j]
    facts = {f"plot:{p.letter}|{p.plot}", f"trend:{p.letter}|{p.trend}", f"max:{p.letter}|sample {p.top_sample}"}
    if "quantity" not in p.referred:
        facts |= {f"variable:{p.letter}|{fig.quantity}", f"xvar:{p.letter}|{fig.xvar}"}
    if "units" not in p.referred:
        facts |= {f"unit:{p.letter}|{fig.unit}", f"unit:{p.letter}|{fig.xunit}"}
    if "samples" not in p.referred:
        facts |= {f"samples:{p.letter}|{fig.num_samples}", f"material:{p.letter}|{fig.material}",
                  f"atmosphere:{p.letter}|{fig.atmosphere}"}
    if "setting" not in p.referred:
        facts.add(f"setting:{p.letter}|{p.setting} {fig.factor[2]}")
    return facts


def context_facts(fig: SyntheticFigure) -> set[str]:
    facts = {f"variable|{fig.quantity}", f"xvar|{fig.xvar}", f"unit|{fig.unit}", f"unit|{fig.xunit}",
             f"samples|{fig.num_samples}", f"material|{fig.material}", f"atmosphere|{fig.atmosphere}",
             f"runs|{fig.runs}"}
    return facts | {f"setting:{p.letter}|{p.setting} {fig.factor[2]}" for p in fig.panels}


SHARED_SLOT_KINDS = ("variable", "xvar", "unit", "samples", "material", "atmosphere")
"""Fact kinds a subcaption may restate from the context (setting: only its own letter's)."""


def true_panel_facts(facts: tuple[str, ...] | set[str], shared_facts: list[str] | tuple[str, ...],
                     letter: str) -> set[str]:
    """Every fact TRUE of panel `letter`: its own facts plus the context's, as if every slot were restated.

    A subcaption that restates a unit the reference left to the context states a true fact, not an error
    (fact precision is measured against these; recall against the segment's own facts).

    >>> sorted(true_panel_facts({"plot:b|bar"}, ["unit|K", "runs|5", "setting:a|1 atm", "setting:b|5 atm"], "b"))
    ['plot:b|bar', 'setting:b|5 atm', 'unit:b|K']
    """
    out = set(facts)
    for fact in shared_facts:
        kind, value = fact.split("|", 1)
        if kind in SHARED_SLOT_KINDS:
            out.add(f"{kind}:{letter}|{value}")
        elif kind == f"setting:{letter}":
            out.add(fact)
    return out


def letter_of(label: str) -> str:
    """'(b)' -> 'b' (the letter inside a segment label)."""
    return "".join(ch for ch in label.lower() if "a" <= ch <= "z")


def caption(fig: SyntheticFigure) -> str:
    """The full caption in MMSci style: context, then "(a) …" "(b) …" inline."""
    return " ".join([fig.shared_context, *(f"({p.letter}) {s}" for p, s in zip(fig.panels, fig.subcaptions))])


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


# ---- parsing facts back out of free text ------------------------------------------------------------------
_NUMBERS = {"two": 2, "three": 3, "four": 4, **{str(n): n for n in range(2, 10)}}
_PLOT_RE = {kind: re.compile(rf"\b(?:{words})\b", re.IGNORECASE) for kind, words in PLOT_WORDS.items()}
_TREND_RE = {kind: re.compile(rf"\b(?:{words})\b", re.IGNORECASE) for kind, words in TREND_WORDS.items()}
_NAME_RE = {name: re.compile(rf"\b{re.escape(name)}\b", re.IGNORECASE)
            for name in [q for q, _ in QUANTITIES] + [x for x, _ in X_VARIABLES]}
_PARENS = re.compile(r"\(([^()]*)\)")
_UNIT_SEP = re.compile(r"\s*(?:versus|vs\.?|,|;)\s*")
_SAMPLES = re.compile(rf"\b(two|three|four|[2-9]) ({'|'.join(MATERIALS)}) samples\b", re.IGNORECASE)
_ATMOSPHERE = re.compile(r"\b(?:in|under) (air|argon|nitrogen|vacuum)\b", re.IGNORECASE)
_SETTING_UNITS = "|".join(re.escape(s[2]) for s in SETTINGS)
_SETTING = re.compile(rf"(?<![\w.])(\d+(?:\.\d+)?) ?({_SETTING_UNITS})(?![\w/%])")
_MAX = re.compile(r"\bsample (\d+)\b[^.;]*?\bhighest\b|\bhighest\b[^.;]*?\bsample (\d+)\b", re.IGNORECASE)
_RUNS = re.compile(r"\bover (\d+) runs\b", re.IGNORECASE)
_PANEL_SETTINGS = re.compile(
    rf"\bpanels? \(([a-z])\)(?:–\(([a-z])\)| and \(([a-z])\))? corresponds? to (?:an? )?[a-z ]+? of "
    rf"(\d+(?:\.\d+)?(?:(?:, | and )\d+(?:\.\d+)?)*) ({_SETTING_UNITS})(?![\w/%])", re.IGNORECASE)


def parse_facts(text: str, letter: str) -> set[str]:
    """Segment facts stated in `text` (a subcaption, generated or written by a model), for panel `letter`.

    >>> text = "Bar chart of stress versus frequency. The values fall. Sample 3 shows the highest values."
    >>> sorted(parse_facts(text, "b"))
    ['max:b|sample 3', 'plot:b|bar', 'trend:b|decreasing', 'variable:b|stress', 'xvar:b|frequency']
    """
    facts = _shared_kind_facts(text, f":{letter}")
    facts |= {f"plot:{letter}|{kind}" for kind, rx in _PLOT_RE.items() if rx.search(text)}
    facts |= {f"trend:{letter}|{kind}" for kind, rx in _TREND_RE.items() if rx.search(text)}
    facts |= {f"max:{letter}|sample {a or b}" for a, b in _MAX.findall(text)}
    facts |= {f"setting:{letter}|{value} {unit}" for value, unit in _SETTING.findall(text)}
    return facts


def parse_context_facts(text: str) -> set[str]:
    """Shared facts stated in a context text (see `context_facts` for the format)."""
    facts = _shared_kind_facts(text, "")
    facts |= {f"runs|{n}" for n in _RUNS.findall(text)}
    for first, last, second, values, unit in _PANEL_SETTINGS.findall(text):
        end = last or second or first
        letters = [chr(c) for c in range(ord(first.lower()), ord(end.lower()) + 1)]
        numbers = re.split(r", | and ", values)
        facts |= {f"setting:{letter}|{v} {unit}" for letter, v in zip(letters, numbers)}
    return facts


def _shared_kind_facts(text: str, suffix: str) -> set[str]:
    """variable / xvar / unit / samples / material / atmosphere facts, kinds suffixed with ':<letter>' or ''."""
    facts = set()
    for name, rx in _NAME_RE.items():
        if rx.search(text):
            kind = "variable" if name in dict(QUANTITIES) else "xvar"
            facts.add(f"{kind}{suffix}|{name}")
    for group in _PARENS.findall(text):
        facts |= {f"unit{suffix}|{tok}" for tok in _UNIT_SEP.split(group.strip()) if tok in UNITS}
    for number, material in _SAMPLES.findall(text):
        facts |= {f"samples{suffix}|{_NUMBERS[number.lower()]}", f"material{suffix}|{material.lower()}"}
    facts |= {f"atmosphere{suffix}|{a.lower()}" for a in _ATMOSPHERE.findall(text)}
    return facts




# ---- the source ---------------------------------------------------------------------------------------------


