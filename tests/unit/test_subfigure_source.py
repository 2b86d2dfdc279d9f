"""The synthetic `subfigure` source: determinism, the entanglement knob, facts and their parser, rendering."""

import random
import re

import pytest

from sdbench.cli import main
from sdbench.core.errors import SdbenchError
from sdbench.data.build_task import BuildTaskConfig, build_task
from sdbench.data.source import SourceRequest
from sdbench.data.sources.caption_markers import split_caption
from sdbench.data.sources.subfigure_generator import (SETTINGS, SLOTS, UNITS, caption, draw_figure, parse_context_facts,
                                                      parse_facts)
from sdbench.data.sources.subfigure_renderer import PANEL_H, PANEL_W, TOP, FigureRenderer, grid
from sdbench.data.sources.synthetic_subfigures import synthetic_subfigures
from sdbench.data.task import load_task
from sdbench.data.task_data import load_task_data

KS = (1, 2, 4, 8, 16)


def _request(n: int, entanglement: float = 0.5, seed: int = 0, split: str = "train") -> SourceRequest:
    return SourceRequest(task=load_task("subfigure"), split=split, n=n, segments=(1, 2, 4, 8), seed=seed,
                         options={"entanglement": entanglement})


def _units_in(text: str) -> set[str]:
    return {u for u in UNITS if f"({u}" in text or f" {u})" in text}


# ---- determinism ------------------------------------------------------------------------------------------
def test_same_seed_same_examples_and_example_i_does_not_depend_on_n():
    small = list(synthetic_subfigures(_request(4)))
    large = list(synthetic_subfigures(_request(8)))
    for a, b in zip(small, large):
        assert (a.id, a.prompt, a.holistic_reference, a.segments, a.meta) == \
               (b.id, b.prompt, b.holistic_reference, b.segments, b.meta)
        assert a.images[0].tobytes() == b.images[0].tobytes()
    other = list(synthetic_subfigures(_request(4, seed=1)))
    assert [e.holistic_reference for e in other] != [e.holistic_reference for e in small]
    test_split = list(synthetic_subfigures(_request(4, split="test")))
    assert [e.holistic_reference for e in test_split] != [e.holistic_reference for e in small]


def test_k_cycles_and_labels_ids_contexts():
    examples = list(synthetic_subfigures(_request(8)))
    assert [e.num_segments for e in examples] == [1, 2, 4, 8] * 2
    ex = examples[3]
    assert ex.id == "subfigure-train-000003"
    assert [s.label for s in ex.segments] == [f"({c})" for c in "abcdefgh"]
    assert ex.holistic_reference.startswith(ex.shared_context + " (a) ")
    assert all(f"{s.label} {s.reference}" in ex.holistic_reference for s in ex.segments)
    assert ex.meta["shared_facts"] and all(s.facts for s in ex.segments)
    assert "(a), (b)" in ex.prompt and "(h)" in ex.prompt


# ---- the entanglement knob --------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(60))
def test_entanglement_zero_every_subcaption_is_self_contained(seed):
    fig = draw_figure(random.Random(seed), KS[seed % len(KS)], 0.0)
    for panel, text in zip(fig.panels, fig.subcaptions):
        assert panel.referred == ()
        assert fig.quantity in text and fig.xvar in text
        assert _units_in(text) == {fig.unit, fig.xunit}
        assert f"{panel.setting} {fig.factor[2]}" in text and fig.material in text
        assert "as in (" not in text and "above" not in text


@pytest.mark.parametrize("seed", range(60))
def test_entanglement_one_units_appear_only_in_the_context(seed):
    fig = draw_figure(random.Random(seed), KS[seed % len(KS)], 1.0)
    assert _units_in(fig.shared_context) == {fig.unit, fig.xunit}
    assert fig.factor[2] in fig.shared_context
    for j, (panel, text) in enumerate(zip(fig.panels, fig.subcaptions)):
        assert set(panel.referred) == set(SLOTS)
        assert _units_in(text) == set() and not re.search(rf"\d {re.escape(fig.factor[2])}(?![\w/])", text)
        assert fig.quantity not in text and fig.material not in text
        assert text.startswith("Same measurement as in (") if j else "listed above" in text
        kinds = {f.split(":")[0] for f in parse_facts(text, panel.letter)}
        assert kinds == {"plot", "trend", "max"}


def test_entanglement_in_between_interpolates():
    """Each slot is referred back with probability e: the referred fraction tracks e, and the unit phrase
    (one slot) appears in about 1 - e of the subcaptions."""
    for e in (0.25, 0.5, 0.75):
        referred = total = with_units = panels = 0
        for seed in range(400):
            fig = draw_figure(random.Random(seed), 8, e)
            for panel, text in zip(fig.panels, fig.subcaptions):
                referred += len(panel.referred)
                total += len(SLOTS)
                panels += 1
                with_units += bool(_units_in(text))
        assert abs(referred / total - e) < 0.03, (e, referred / total)
        assert abs(with_units / panels - (1 - e)) < 0.04, (e, with_units / panels)


@pytest.mark.parametrize("seed", range(40))
def test_raising_entanglement_only_turns_restated_slots_into_references(seed):
    """Coupled draws: the same seed at a higher e refers back a superset of slots and changes nothing else."""
    k = KS[seed % len(KS)]
    figs = [draw_figure(random.Random(seed), k, e) for e in (0.0, 0.3, 0.7, 1.0)]
    for low, high in zip(figs, figs[1:]):
        assert low.shared_context == high.shared_context
        for p, q in zip(low.panels, high.panels):
            assert set(p.referred) <= set(q.referred)
            assert (p.plot, p.trend, p.top_sample, p.setting, p.jitter) == (q.plot, q.trend, q.top_sample, q.setting,
                                                                             q.jitter)
        assert all(set(b) <= set(a) for a, b in zip(low.segment_facts, high.segment_facts))


def test_entanglement_does_not_change_the_image():
    renderer = FigureRenderer()
    images = [renderer.render(draw_figure(random.Random(5), 4, e)).tobytes() for e in (0.0, 1.0)]
    assert images[0] == images[1]


def test_bad_entanglement_is_a_one_line_error(tmp_path, capsys):
    cfg = BuildTaskConfig(task="subfigure", n_train=2, n_test=0, out=tmp_path / "x", options={"entanglement": "1.5"})
    with pytest.raises(SdbenchError, match="entanglement: must be in \\[0, 1\\]"):
        build_task(cfg, quiet=True)
    rc = main(["build-task", "subfigure", "--n-train", "2", "--n-test", "0", "--out", str(tmp_path / "y"),
               "--options", "entanglement", "abc"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "entanglement" in err


# ---- facts ------------------------------------------------------------------------------------------------
def test_parse_facts_round_trips_on_thousands_of_generated_subcaptions():
    checked = 0
    for seed in range(1500):
        rng = random.Random(seed)
        fig = draw_figure(random.Random(seed * 7 + 1), KS[seed % len(KS)], rng.random())
        for panel, text, facts in zip(fig.panels, fig.subcaptions, fig.segment_facts):
            assert parse_facts(text, panel.letter) == set(facts), text
            checked += 1
        assert parse_context_facts(fig.shared_context) == set(fig.shared_facts), fig.shared_context
    assert checked > 5000


def test_facts_cover_the_vocabulary():
    seen_kinds, seen_values, setting_units = set(), set(), set()
    for seed in range(300):
        fig = draw_figure(random.Random(seed), 4, 0.0)
        for facts in fig.segment_facts:
            seen_kinds |= {f.split(":")[0] for f in facts}
            seen_values |= {f.split("|")[1] for f in facts}
            setting_units |= {f.split(" ", 1)[1] for f in facts if f.startswith("setting:")}
    assert seen_kinds == {"plot", "trend", "max", "variable", "xvar", "unit", "samples", "material", "atmosphere",
                          "setting"}
    assert {"line", "scatter", "bar", "increasing", "decreasing", "peaked", "flat"} <= seen_values
    assert setting_units == {u for _, _, u, _ in SETTINGS}


def test_parse_facts_reads_free_text_written_by_a_model():
    text = ("A line graph of the conductivity (S/m) vs temperature (K) for three alloy samples under argon at "
            "20 atm; the signal rises with temperature and the highest values are from sample 3.")
    assert parse_facts(text, "c") == {
        "plot:c|line", "variable:c|conductivity", "xvar:c|temperature", "unit:c|S/m", "unit:c|K",
        "samples:c|3", "material:c|alloy", "atmosphere:c|argon", "setting:c|20 atm", "trend:c|increasing",
        "max:c|sample 3"}
    assert parse_facts("", "a") == set()
    assert parse_facts("Nothing relevant here (a).", "a") == set()


def test_fact_strings_are_canonical():
    fig = draw_figure(random.Random(11), 2, 0.0)
    assert set(fig.segment_facts[1]) >= {f"plot:b|{fig.panels[1].plot}", f"trend:b|{fig.panels[1].trend}",
                                         f"max:b|sample {fig.panels[1].top_sample}",
                                         f"variable:b|{fig.quantity}", f"unit:b|{fig.unit}"}
    assert f"runs|{fig.runs}" in fig.shared_facts and f"setting:a|{fig.panels[0].setting} {fig.factor[2]}" in \
        fig.shared_facts


# ---- the caption obeys the marker rule ------------------------------------------------------------------------
@pytest.mark.parametrize("e", [0.0, 0.5, 1.0])
def test_generated_captions_split_back_with_the_marker_rule(e):
    for seed in range(200):
        fig = draw_figure(random.Random(seed), KS[seed % len(KS)], e)
        got = split_caption(caption(fig))
        assert got.shared_context == fig.shared_context
        assert got.subcaptions == tuple((p.letter, t) for p, t in zip(fig.panels, fig.subcaptions))


# ---- rendering -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [1, 2, 3, 4, 8, 16])
def test_rendered_figure_has_one_cell_per_panel(k):
    image = FigureRenderer().render(draw_figure(random.Random(k), k, 0.5))
    rows, cols = grid(k)
    assert image.mode == "RGB" and image.size == (cols * PANEL_W, rows * PANEL_H + TOP)
    assert rows * cols >= k and (rows - 1) * cols < k
    for j in range(k):  # every panel cell has drawn (non-white) pixels
        row, col = divmod(j, cols)
        cell = image.crop((col * PANEL_W, TOP + row * PANEL_H, (col + 1) * PANEL_W, TOP + (row + 1) * PANEL_H))
        assert cell.convert("L").getextrema()[0] < 128


def test_build_through_the_framework(tmp_path):
    out = build_task(BuildTaskConfig(task="subfigure", segments=(1, 2, 4, 8), n_train=4, n_test=4, seed=3,
                                     out=tmp_path / "sf", options={"entanglement": "1"}), quiet=True)
    data = load_task_data(out, verify=True)
    assert data.manifest["config"]["options"] == {"entanglement": 1.0}
    for ex in data.examples("test"):
        assert ex.meta["entanglement"] == 1.0
        assert all(not _units_in(s.reference) for s in ex.segments)
        assert all(set(s.meta["referred"]) == set(SLOTS) for s in ex.segments)


# ---- the task hooks the fact metrics call ---------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(30))
def test_true_facts_are_the_self_contained_facts_at_every_entanglement(seed):
    from sdbench.data.sources.subfigure_generator import true_panel_facts

    k = KS[seed % len(KS)]
    contained = draw_figure(random.Random(seed), k, 0.0)
    for e in (0.0, 0.5, 1.0):
        fig = draw_figure(random.Random(seed), k, e)
        for panel, facts, own in zip(fig.panels, fig.segment_facts, contained.segment_facts):
            assert true_panel_facts(facts, fig.shared_facts, panel.letter) == set(own)


def test_fact_f1_through_the_hooks_and_the_metric_registry():
    from sdbench.data.task import load_hooks
    from sdbench.rewards.registry import METRICS, ScoringContext, SegmentItem

    hooks = load_hooks(load_task("subfigure"))
    entangled = list(synthetic_subfigures(_request(4, entanglement=1.0)))
    contained = list(synthetic_subfigures(_request(4, entanglement=0.0)))
    ctx = ScoringContext(hooks=hooks, corpus=entangled)
    f1 = METRICS["fact_f1"].fn
    precision = METRICS["fact_precision"].fn
    swaps = 0
    for ex, full in zip(entangled, contained):
        own = [SegmentItem(s.reference, s, ex) for s in ex.segments]
        assert f1(own, ctx) == [1.0] * ex.num_segments
        # restating what the reference leaves to the context is true: precision stays 1
        restated = [SegmentItem(t.reference, s, ex) for s, t in zip(ex.segments, full.segments)]
        assert precision(restated, ctx) == [1.0] * ex.num_segments
        # another panel's text is wrong about this panel
        values = [{f.split("|")[1] for f in s.facts} for s in ex.segments[:2]]
        if ex.num_segments > 1 and values[0] != values[1]:
            swapped = [SegmentItem(ex.segments[1].reference, ex.segments[0], ex)]
            assert f1(swapped, ctx)[0] < 1.0
            swaps += 1
    assert swaps
