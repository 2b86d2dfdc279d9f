"""The synthetic source of `multichart`: determinism, answers recomputed from the stored chart data for every
question kind, chart count and tiling, and the rendering contract (titles drawn, no state leak between charts).

    .venv/bin/python -m pytest tests/unit/test_chart_source.py -q -p no:cacheprovider
"""

import math
import random
import re

import pytest

from sdbench.core.errors import SdbenchError
from sdbench.data.build_task import BuildTaskConfig, build_task
from sdbench.data.source import SourceRequest
from sdbench.data.sources.chart_data import CHART_TYPES, sample_chart, synthetic_source
from sdbench.data.sources.chart_renderer import CELL_HEIGHT, CELL_WIDTH, GAP, ChartRenderer, grid_shape, tile_images
from sdbench.data.task import load_task
from sdbench.data.task_data import load_task_data

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
SHAPES = {"increasing", "decreasing", "increasing then decreasing", "decreasing then increasing"}


def examples(n=8, segments=(1, 2, 4, 8), seed=0, split="train", **options):
    req = SourceRequest(task=load_task("multichart"), split=split, n=n, segments=segments, seed=seed,
                        options={"tile": True, "chart_types": ",".join(CHART_TYPES), "choice_fraction": 0.25,
                                 **options})
    return list(synthetic_source(req))


def fingerprint(ex):
    return (ex.id, ex.prompt, ex.holistic_reference, ex.meta, [(s.label, s.answer, s.meta) for s in ex.segments],
            [img.tobytes() for img in ex.images])


@pytest.fixture(scope="module")
def many():
    """200 examples with K cycling 1..8: enough that every question kind appears."""
    return examples(n=200, segments=(1, 2, 3, 4, 5, 6, 7, 8), seed=3)


# ---- determinism -------------------------------------------------------------------------------------------
def test_same_seed_same_examples_other_seed_other_examples():
    a, b, c = examples(seed=0), examples(seed=0), examples(seed=1)
    assert [fingerprint(e) for e in a] == [fingerprint(e) for e in b]
    assert [e.meta for e in a] != [e.meta for e in c]


def test_example_i_does_not_depend_on_n():
    small, large = examples(n=3), examples(n=9)
    assert [fingerprint(e) for e in small] == [fingerprint(e) for e in large[:3]]


def test_a_chart_renders_the_same_whatever_was_drawn_before():
    rng = random.Random(5)
    charts = [sample_chart(rng, t, j + 1) for j, t in enumerate(CHART_TYPES * 3)]
    fresh = [ChartRenderer().render(c).tobytes() for c in charts]
    shared = ChartRenderer()
    in_sequence = [shared.render(c).tobytes() for c in charts]
    in_reverse = [shared.render(c).tobytes() for c in reversed(charts)][::-1]
    assert fresh == in_sequence == in_reverse


# ---- answers are verifiable from Example.meta["charts"] ------------------------------------------------------
def recompute(chart: dict, meta: dict) -> str:
    """An independent oracle: the answer of one question from the stored chart data alone."""
    kind = meta["question_kind"]
    if chart["type"] == "scatter":
        xs, ys = chart["x"], chart["y"]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        cov = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
        return {"count": str(len(xs)), "correlation": "positive" if cov > 0 else "negative"}[kind]
    pairs = list(zip(chart["labels"], chart["values"]))
    best = max(pairs, key=lambda p: p[1])[0]
    if kind == "max_label":
        return best
    if kind == "min_label":
        return min(pairs, key=lambda p: p[1])[0]
    if kind == "value_of":
        return str(dict(pairs)[meta["target"]])
    if kind == "count":
        return str(len(pairs))
    if kind == "trend":
        return "increasing" if chart["values"] == sorted(chart["values"]) else "decreasing"
    if kind == "max_label_choice":
        return "ABCD"[meta["choices"].index(best)]
    if kind == "trend_choice":
        return "ABCD"[meta["choices"].index(line_shape(chart["values"]))]
    raise AssertionError(f"untested question kind {kind}")


def line_shape(values: list[int]) -> str:
    ups = [b > a for a, b in zip(values, values[1:])]
    turns = sum(u != v for u, v in zip(ups, ups[1:]))
    assert turns <= 1, values
    if turns == 0:
        return "increasing" if ups[0] else "decreasing"
    return "increasing then decreasing" if ups[0] else "decreasing then increasing"


def test_every_answer_recomputes_from_the_stored_chart_data(many):
    kinds_seen = set()
    for ex in many:
        charts = ex.meta["charts"]
        assert len(charts) == ex.num_segments
        for k, (seg, chart) in enumerate(zip(ex.segments, charts), start=1):
            assert chart["number"] == k and chart["title"] == f"Chart {k}"
            assert seg.meta["chart_type"] == chart["type"] and seg.meta["chart_index"] == k
            assert seg.answer == seg.reference == recompute(chart, seg.meta), (ex.id, k, chart, seg.meta)
            kinds_seen.add((chart["type"], seg.meta["question_kind"]))
    expected = {(t, k) for t in ("bar", "hbar", "pie") for k in ("max_label", "min_label", "value_of", "count",
                                                                 "max_label_choice")}
    expected |= {("line", k) for k in ("max_label", "min_label", "value_of", "trend", "trend_choice")}
    expected |= {("scatter", "count"), ("scatter", "correlation")}
    assert kinds_seen == expected


def test_chart_data_has_no_ties_and_keeps_its_promises(many):
    for chart in (c for ex in many for c in ex.meta["charts"]):
        if chart["type"] == "scatter":
            assert len(set(chart["x"])) == len(chart["x"]) and all(0 <= v <= 10 for v in chart["x"] + chart["y"])
            xs, ys = chart["x"], chart["y"]
            mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
            r = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / math.sqrt(
                sum((x - mx) ** 2 for x in xs) * sum((y - my) ** 2 for y in ys))
            assert abs(r) >= 0.6
            continue
        assert len(set(chart["values"])) == len(chart["values"]), "a tie would make max/min ambiguous"
        assert len(set(chart["labels"])) == len(chart["labels"])
        if chart["type"] == "pie":
            assert sum(chart["values"]) == 100 and min(chart["values"]) >= 5
        if chart["type"] == "line":
            assert line_shape(chart["values"]) == chart["shape"] and chart["shape"] in SHAPES
            start = MONTHS.index(chart["labels"][0])  # consecutive months, never years (a year is a number)
            assert chart["labels"] == list(MONTHS[start:start + len(chart["labels"])])


def test_segment_meta_answer_types_and_choices(many):
    for seg in (s for ex in many for s in ex.segments):
        meta = seg.meta
        assert set(meta) >= {"question", "chart_type", "answer_type", "question_kind"}
        if meta["answer_type"] == "choice":
            assert len(meta["choices"]) == 4 and len(set(meta["choices"])) == 4 and seg.answer in "ABCD"
            assert meta["options"] == dict(zip("ABCD", meta["choices"]))
            for letter, choice in zip("ABCD", meta["choices"]):
                assert f"{letter}. {choice}" in meta["question"]
        else:
            assert "choices" not in meta and "options" not in meta
        if meta["answer_type"] == "number":
            assert seg.answer.isdigit()
        if meta["question_kind"] == "value_of":
            assert meta["target"] in meta["question"]


# ---- prompt, labels, ids, tiling ---------------------------------------------------------------------------
def test_prompt_lists_one_question_per_chart_and_the_line_format():
    for i, ex in enumerate(examples(n=4)):
        assert ex.id == f"multichart-train-{i:06d}"
        assert ex.num_segments == (1, 2, 4, 8)[i]
        assert [s.label for s in ex.segments] == [f"Chart {k}:" for k in range(1, ex.num_segments + 1)]
        for seg in ex.segments:
            assert f"{seg.label} {seg.meta['question']}\n" in ex.prompt + "\n"
        assert f"exactly {ex.num_segments} line(s)" in ex.prompt
        assert ex.holistic_reference == "\n".join(f"{s.label} {s.answer}" for s in ex.segments)


def test_tiled_image_holds_k_charts_on_the_grid():
    for ex in examples(n=4):
        (img,) = ex.images
        rows, cols = grid_shape(ex.num_segments)
        assert img.size == (cols * (CELL_WIDTH + GAP) + GAP, rows * (CELL_HEIGHT + GAP) + GAP)
        for j in range(ex.num_segments):  # each cell's title band ("Chart k") has dark text pixels
            x0, y0 = GAP + (j % cols) * (CELL_WIDTH + GAP), GAP + (j // cols) * (CELL_HEIGHT + GAP)
            band = img.crop((x0 + CELL_WIDTH // 2 - 40, y0 + 2, x0 + CELL_WIDTH // 2 + 40, y0 + 18)).convert("L")
            assert min(band.tobytes()) < 80, (ex.id, j)


def test_untiled_gives_k_separate_chart_images_that_match_the_tiles():
    tiled, separate = examples(n=4), examples(n=4, tile=False)
    for a, b in zip(tiled, separate):
        assert len(b.images) == b.num_segments and all(im.size == (CELL_WIDTH, CELL_HEIGHT) for im in b.images)
        assert a.meta["charts"] == b.meta["charts"] and b.meta["tile"] is False
        assert tile_images(list(b.images)).tobytes() == a.images[0].tobytes()


def test_the_title_is_the_only_difference_between_chart_1_and_chart_7():
    chart = sample_chart(random.Random(0), "bar", 1)
    one = ChartRenderer().render(chart)
    seven = ChartRenderer().render({**chart, "number": 7, "title": "Chart 7"})
    diff = [i for i, (a, b) in enumerate(zip(one.convert("L").tobytes(), seven.convert("L").tobytes())) if a != b]
    assert diff and max(diff) // CELL_WIDTH < 20, "only the title band changes"


# ---- options ------------------------------------------------------------------------------------------------
def test_chart_types_and_choice_fraction_options():
    exs = examples(n=12, chart_types="pie,line", choice_fraction=1.0)
    assert {c["type"] for ex in exs for c in ex.meta["charts"]} == {"pie", "line"}
    assert all(s.meta["answer_type"] == "choice" for ex in exs for s in ex.segments)
    exs = examples(n=12, choice_fraction=0.0)
    assert not any(s.meta["answer_type"] == "choice" for ex in exs for s in ex.segments)


@pytest.mark.parametrize("options, message", [({"chart_types": "bar,donut"}, "chart_types"),
                                              ({"chart_types": ""}, "chart_types"),
                                              ({"choice_fraction": 1.5}, "choice_fraction")])
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(SdbenchError, match=message):
        examples(n=1, **options)


def test_build_task_end_to_end(tmp_path):
    out = build_task(BuildTaskConfig(task="multichart", segments=(1, 2, 4, 8), n_train=8, n_test=4,
                                     out=tmp_path / "mc", options={"tile": "false"}), quiet=True)
    data = load_task_data(out, verify=True)
    assert data.manifest["splits"]["train"]["k_histogram"] == {"1": 2, "2": 2, "4": 2, "8": 2}
    ex = list(data.examples("test"))[3]
    assert ex.id == "multichart-test-000003" and len(ex.images) == 8
    assert re.fullmatch(r"(Chart \d: \S.*\n){7}Chart 8: \S.*", ex.holistic_reference)
