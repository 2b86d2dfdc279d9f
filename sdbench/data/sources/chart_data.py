"""Synthetic charts of the `multichart` task: data, one verifiable question per chart, and the source.

Each chart is a small JSON-serialisable dict drawn from an RNG (`sample_chart`), so the ground truth of every
question is in `Example.meta["charts"]` and any answer can be recomputed from it:

    bar / hbar   {"type", "number", "title", "labels": [3-6 names], "values": [distinct ints 5..99], "color"}
    line         … "labels": [4-7 consecutive months], "values": [distinct ints], "shape": one of SHAPES
    pie          … "labels": [3-5 names], "values": [distinct integer percentages >= 5 summing to 100]
    scatter      … "x": [4-9 distinct ints 0..10], "y": [ints 0..10], |Pearson r| >= 0.6

`sample_question(rng, chart, choice_fraction)` picks one question kind that the chart supports and states it;
`answer_question(chart, kind, target, choices)` is the oracle that computes the short answer from the data:

    max_label / min_label   the label with the highest / lowest value     (string)
    value_of                the value of `target` (value labels are drawn) (number)
    count                   number of bars / slices / points               (number)
    trend                   'increasing' | 'decreasing' (monotone lines)   (string)
    correlation             'positive' | 'negative' (scatter)              (string)
    max_label_choice, trend_choice   the same as lettered options A-D     (choice: the letter)

Line charts are labelled with month names, not years: a year answer would be a number to a relaxed-accuracy
reward, and 5 % of 2015 accepts any year of the century.

`synthetic_source(req)` is the task's synthetic source: K charts per example, rendered by
`sdbench.data.sources.chart_renderer` and tiled into one image (option `tile: true`) or given as K images.

    .venv/bin/python -c "import random; from sdbench.data.sources.chart_data import *; \
        c = sample_chart(random.Random(0), 'bar', 1); print(c, sample_question(random.Random(1), c, 0.25))"
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from random import Random
from typing import TYPE_CHECKING, Any

from sdbench.core.errors import SdbenchError
from sdbench.core.types import Example, Segment

if TYPE_CHECKING:
    from sdbench.data.source import SourceRequest

CHART_TYPES = ("bar", "hbar", "line", "pie", "scatter")
SHAPES = ("increasing", "decreasing", "increasing then decreasing", "decreasing then increasing")
LETTERS = "ABCD"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860")
NAME_POOLS = (  # short names (<= 5 letters) so that six labels fit side by side under a 256 px chart
    ("Apple", "Pear", "Plum", "Kiwi", "Mango", "Lime", "Fig", "Grape", "Peach", "Lemon", "Melon", "Date"),
    ("Peru", "Chile", "Spain", "Italy", "Japan", "Kenya", "Egypt", "India", "Chad", "Nepal", "Oman", "Cuba"),
    ("Ana", "Ben", "Cara", "Dan", "Eva", "Finn", "Gus", "Hana", "Ivo", "Jon", "Kim", "Lea"),
    ("Oak", "Pine", "Elm", "Ash", "Birch", "Maple", "Cedar", "Yew", "Fir", "Beech", "Larch", "Alder"),
)
NUM_ITEMS = {"bar": (3, 6), "hbar": (3, 6), "line": (4, 7), "pie": (3, 5), "scatter": (4, 9)}
OPEN_KINDS = {
    "bar": ("max_label", "min_label", "value_of", "count"),
    "hbar": ("max_label", "min_label", "value_of", "count"),
    "line": ("max_label", "min_label", "value_of", "trend"),
    "pie": ("max_label", "min_label", "value_of", "count"),
    "scatter": ("count", "correlation"),
}
CHOICE_KINDS = {"bar": "max_label_choice", "hbar": "max_label_choice", "line": "trend_choice",
                "pie": "max_label_choice"}
QUESTION_TEXT = {
    ("bar", "max_label"): "Which category has the highest value?",
    ("bar", "min_label"): "Which category has the lowest value?",
    ("bar", "value_of"): "What is the value of {target}?",
    ("bar", "count"): "How many bars are there?",
    ("line", "max_label"): "In which month is the value highest?",
    ("line", "min_label"): "In which month is the value lowest?",
    ("line", "value_of"): "What is the value in {target}?",
    ("line", "trend"): "Is the trend increasing or decreasing?",
    ("line", "trend_choice"): "Which option best describes the trend?",
    ("pie", "max_label"): "Which slice is the largest?",
    ("pie", "min_label"): "Which slice is the smallest?",
    ("pie", "value_of"): "What percentage is {target}?",
    ("pie", "count"): "How many slices are there?",
    ("scatter", "count"): "How many points are there?",
    ("scatter", "correlation"): "Is the correlation between x and y positive or negative?",
}
ANSWER_TYPES = {"max_label": "string", "min_label": "string", "value_of": "number", "count": "number",
                "trend": "string", "correlation": "string", "max_label_choice": "choice", "trend_choice": "choice"}


# ---- chart data ------------------------------------------------------------------------------------------
def sample_chart(rng: Random, chart_type: str, number: int) -> dict[str, Any]:
    """Data of one chart titled 'Chart {number}'; every value the questions need is in the dict."""
    lo, hi = NUM_ITEMS[chart_type]
    n = rng.randint(lo, hi)
    chart: dict[str, Any] = {"type": chart_type, "number": number, "title": f"Chart {number}"}
    if chart_type in ("bar", "hbar"):
        chart["labels"] = rng.sample(rng.choice(NAME_POOLS), n)
        chart["values"] = rng.sample(range(5, 100), n)
        chart["color"] = rng.choice(COLOURS)
    elif chart_type == "line":
        start = rng.randint(0, len(MONTHS) - n)
        chart["labels"] = list(MONTHS[start:start + n])
        chart["shape"] = rng.choice(SHAPES)
        chart["values"] = _shaped_values(rng, n, chart["shape"])
        chart["color"] = rng.choice(COLOURS)
    elif chart_type == "pie":
        chart["labels"] = rng.sample(rng.choice(NAME_POOLS), n)
        chart["values"] = _percentages(rng, n)
    elif chart_type == "scatter":
        chart["x"], chart["y"] = _correlated_points(rng, n)
        chart["color"] = rng.choice(COLOURS)
    else:
        raise SdbenchError(f"unknown chart type {chart_type!r}; valid: {', '.join(CHART_TYPES)}")
    return chart


def _shaped_values(rng: Random, n: int, shape: str) -> list[int]:
    """n distinct values whose sequence follows `shape` strictly (the turn is never at either end)."""
    values = sorted(rng.sample(range(5, 100), n))
    if shape == "increasing":
        return values
    if shape == "decreasing":
        return values[::-1]
    turn = rng.randint(1, n - 2)  # index of the peak (or trough)
    extreme, rest = (values[-1], values[:-1]) if shape == "increasing then decreasing" else (values[0], values[1:])
    left = sorted(rng.sample(rest, turn))
    right = [v for v in rest if v not in left]
    if shape == "increasing then decreasing":
        return left + [extreme] + sorted(right, reverse=True)
    return sorted(left, reverse=True) + [extreme] + sorted(right)


def _percentages(rng: Random, n: int) -> list[int]:
    """n distinct integer percentages, each >= 5, summing to 100 (rejection sampling; deterministic)."""
    while True:
        cuts = [0, *sorted(rng.sample(range(1, 100), n - 1)), 100]
        parts = [b - a for a, b in zip(cuts, cuts[1:])]
        if min(parts) >= 5 and len(set(parts)) == n:
            return parts


def _correlated_points(rng: Random, n: int) -> tuple[list[int], list[int]]:
    """n points on a 0..10 grid with distinct x and a clear linear trend (|Pearson r| >= 0.6)."""
    sign = rng.choice((1, -1))
    while True:
        xs = rng.sample(range(11), n)
        ys = [min(10, max(0, round(5 + sign * 0.8 * (x - 5) + rng.uniform(-1.5, 1.5)))) for x in xs]
        r = pearson(xs, ys)
        if r * sign >= 0.6:
            return xs, ys


def pearson(xs: list[int], ys: list[int]) -> float:
    """Pearson correlation; 0.0 when either variable is constant.

    >>> round(pearson([0, 1, 2], [2, 4, 6]), 6)
    1.0
    """
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy) if sxx and syy else 0.0


# ---- questions -------------------------------------------------------------------------------------------
def sample_question(rng: Random, chart: dict[str, Any], choice_fraction: float) -> dict[str, Any]:
    """One question about `chart`: {"kind", "question", "answer", "answer_type", "target", "choices"}.

    With probability `choice_fraction` a chart type that has a lettered variant gets it (options A-D)."""
    chart_type = chart["type"]
    kinds = [k for k in OPEN_KINDS[chart_type] if k != "trend" or chart["shape"] in SHAPES[:2]]
    kind = rng.choice(kinds)
    if chart_type in CHOICE_KINDS and rng.random() < choice_fraction:
        kind = CHOICE_KINDS[chart_type]
    target = rng.choice(chart["labels"]) if kind == "value_of" else None
    choices: list[str] = []
    if kind == "trend_choice":
        choices = rng.sample(SHAPES, len(SHAPES))
    elif kind == "max_label_choice":
        best = chart["labels"][chart["values"].index(max(chart["values"]))]
        others = [label for label in chart["labels"] if label != best]
        pool = next(p for p in NAME_POOLS if best in p)
        others += [name for name in pool if name not in chart["labels"]]  # fill-ins when the chart has < 4
        choices = rng.sample([best, *rng.sample(others[:max(3, len(chart["labels"]) - 1)], 3)], 4)
    text = QUESTION_TEXT[("bar" if chart_type == "hbar" else chart_type,
                          "max_label" if kind == "max_label_choice" else kind)].format(target=target)
    if choices:
        text += " " + " ".join(f"{LETTERS[j]}. {c}" for j, c in enumerate(choices))
    return {"kind": kind, "question": text, "answer": answer_question(chart, kind, target, choices),
            "answer_type": ANSWER_TYPES[kind], "target": target, "choices": choices}


def answer_question(chart: dict[str, Any], kind: str, target: str | None = None,
                    choices: list[str] | None = None) -> str:
    """The short answer of a question, computed from the chart data alone.

    >>> c = {"type": "bar", "labels": ["Fig", "Kiwi", "Lime"], "values": [20, 70, 40]}
    >>> answer_question(c, "max_label"), answer_question(c, "value_of", "Lime")
    ('Kiwi', '40')
    >>> answer_question(c, "max_label_choice", choices=["Lime", "Fig", "Kiwi", "Pear"])
    'C'
    """
    if kind == "count":
        return str(len(chart["x"] if chart["type"] == "scatter" else chart["labels"]))
    if kind == "correlation":
        return "positive" if pearson(chart["x"], chart["y"]) > 0 else "negative"
    labels, values = chart["labels"], chart["values"]
    if kind == "max_label":
        return labels[values.index(max(values))]
    if kind == "min_label":
        return labels[values.index(min(values))]
    if kind == "value_of":
        return str(values[labels.index(target)])
    if kind == "trend":
        return chart["shape"]
    if kind == "max_label_choice":
        return LETTERS[(choices or []).index(labels[values.index(max(values))])]
    if kind == "trend_choice":
        return LETTERS[(choices or []).index(chart["shape"])]
    raise SdbenchError(f"unknown question kind {kind!r}; valid: {', '.join(ANSWER_TYPES)}")


# ---- the source ------------------------------------------------------------------------------------------
def synthetic_source(req: SourceRequest) -> Iterator[Example]:
    """`req.n` examples; example i has K = req.k_for(i) charts and is drawn from req.rng(i) alone.

    Options: tile (one tiled image, else K images), chart_types (comma-separated subset of CHART_TYPES),
    choice_fraction (share of questions asked as lettered A-D options where the chart type has a variant)."""
    from sdbench.data.sources.chart_renderer import ChartRenderer, tile_images

    tile = bool(req.options.get("tile", True))
    chart_types = parse_chart_types(str(req.options.get("chart_types", ",".join(CHART_TYPES))))
    choice_fraction = float(req.options.get("choice_fraction", 0.25))
    if not 0.0 <= choice_fraction <= 1.0:
        raise SdbenchError(f"--options choice_fraction: need a number in [0, 1], got {choice_fraction}")
    renderer = ChartRenderer()
    for i in range(req.n):
        rng = req.rng(i)
        k = req.k_for(i)
        charts, segments = [], []
        for c in range(1, k + 1):
            chart = sample_chart(rng, rng.choice(chart_types), c)
            q = sample_question(rng, chart, choice_fraction)
            label = req.task.label(c)
            meta = {"question": q["question"], "chart_type": chart["type"], "answer_type": q["answer_type"],
                    "question_kind": q["kind"], "chart_index": c}
            if q["target"] is not None:
                meta["target"] = q["target"]
            if q["choices"]:  # "options" has the shape of the MultiChartQA source's (letter -> option text)
                meta["choices"] = q["choices"]
                meta["options"] = dict(zip(LETTERS, q["choices"]))
            charts.append(chart)
            segments.append(Segment(index=c - 1, label=label, reference=q["answer"], answer=q["answer"], meta=meta))
        cells = [renderer.render(chart) for chart in charts]
        images = (tile_images(cells),) if tile else tuple(cells)
        labels = [s.label for s in segments]
        questions = "\n".join(f"{s.label} {s.meta['question']}" for s in segments)
        yield Example(
            id=f"{req.task.name}-{req.split}-{i:06d}", images=images,
            prompt=req.task.render_prompt("synthetic", labels, questions=questions),
            segments=tuple(segments), holistic_reference="\n".join(f"{s.label} {s.reference}" for s in segments),
            meta={"charts": charts, "tile": tile})


def parse_chart_types(raw: str) -> tuple[str, ...]:
    """'bar, pie' -> ('bar', 'pie'); unknown names are an error listing the valid ones.

    >>> parse_chart_types("pie,bar")
    ('pie', 'bar')
    """
    names = tuple(name.strip() for name in raw.split(",") if name.strip())
    bad = [name for name in names if name not in CHART_TYPES]
    if bad or not names:
        raise SdbenchError(f"--options chart_types: unknown or empty {bad or raw!r}; "
                           f"use a comma-separated subset of {', '.join(CHART_TYPES)}")
    return names
