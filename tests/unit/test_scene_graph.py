"""The synthetic multipanel source: scene graphs, descriptions, canonical facts, parse_facts, rendering, tiling.

    .venv/bin/python -m pytest tests/unit/test_scene_graph.py -q -p no:cacheprovider
"""

import json
import re
from collections import Counter
from random import Random

import pytest

from sdbench.cli import main as cli_main
from sdbench.core.errors import SdbenchError
from sdbench.data.build_task import BuildTaskConfig, build_task
from sdbench.data.source import SourceRequest
from sdbench.data.sources.panel_renderer import (BACKGROUND_RGB, COLOUR_RGB, DIGIT_H, DIGIT_W, DIGITS, FRAME_RGB, GAP,
                                                 NUMBER_RGB, object_box, render_panel, tile_layout, tile_panels)
from sdbench.data.sources.scene_graph import (BACKGROUNDS, COLOURS, POSITION_NAMES, POSITIONS, RELATIONS, SHAPES, SIZES,
                                              SceneGraph, describe, parse_facts, sample_scene, true_facts)
from sdbench.data.sources.synthetic_panels import synthetic_source
from sdbench.data.task import load_task
from sdbench.data.task_data import example_digest, load_task_data

OPTION_GRID = [dict(min_objects=1, max_objects=4, relations=True, background=True),
               dict(min_objects=1, max_objects=9, relations=True, background=True),
               dict(min_objects=3, max_objects=6, relations=False, background=False),
               dict(min_objects=1, max_objects=1, relations=True, background=False)]


def panels(count: int, seed: int = 0, **opts):
    """(graph, description) pairs from one RNG stream."""
    rng = Random(seed)
    kw = dict(relations=opts.pop("relations", True), background=opts.get("background", True))
    out = []
    for _ in range(count):
        g = sample_scene(rng, **opts)
        out.append((g, describe(g, rng, **kw)))
    return out


# ---- determinism ----------------------------------------------------------------------------------------
def test_same_seed_same_graph_and_description_different_seed_differs():
    assert panels(50, seed=3) == panels(50, seed=3)
    texts = [d.text for _, d in panels(50, seed=3)]
    assert texts != [d.text for _, d in panels(50, seed=4)]
    assert len(set(texts)) > 45


def test_example_i_does_not_depend_on_n_and_seed_changes_it():
    spec = load_task("multipanel")

    def build(n, seed=0):
        req = SourceRequest(task=spec, split="train", n=n, segments=(1, 2, 4, 8), seed=seed,
                            options=dict(spec.sources["synthetic"].options))
        return list(synthetic_source(req))

    five, ten = build(5), build(10)
    assert [example_digest(e) for e in five] == [example_digest(e) for e in ten[:5]]
    assert [e.id for e in ten] == [f"multipanel-train-{i:06d}" for i in range(10)]
    assert [example_digest(e) for e in build(5, seed=1)] != [example_digest(e) for e in five]


# ---- facts == parse_facts(description), and facts are true --------------------------------------------
@pytest.mark.parametrize("opts", OPTION_GRID)
def test_parse_facts_recovers_exactly_the_stated_facts(opts):
    for g, d in panels(1500, seed=7, **dict(opts)):
        assert parse_facts(d.text) == set(d.facts), d.text
        assert len(d.facts) == len(set(d.facts))
        assert "\n" not in d.text


def expected_relation_holds(graph: SceneGraph, fact: str) -> bool:
    """Independent check of a relation fact against grid cells (not via the module's helpers)."""
    a, rel, b = fact.removeprefix("relation:").split("|")
    cells = {f"{o.size} {o.colour} {o.shape}": divmod(POSITION_NAMES.index(o.position), 3) for o in graph.objects}
    (ra, ca), (rb, cb) = cells[a], cells[b]
    return {"left of": ca < cb, "above": ra < rb}[rel]


@pytest.mark.parametrize("opts", OPTION_GRID)
def test_facts_are_true_of_the_graph_and_cover_every_object(opts):
    for g, d in panels(1000, seed=11, **dict(opts)):
        names = [f"{o.size} {o.colour} {o.shape}" for o in g.objects]
        assert len(set(names)) == len(names), "objects of a panel must be distinguishable"
        assert len({o.position for o in g.objects}) == len(g.objects)
        assert opts["min_objects"] <= len(g.objects) <= opts["max_objects"]
        kinds = Counter(f.split(":")[0] for f in d.facts)
        assert kinds["object"] == kinds["position"] == len(g.objects)
        assert kinds["relation"] == (len(g.objects) - 1 if opts["relations"] else 0)
        assert kinds["background"] == int(opts["background"])
        for fact in d.facts:
            kind, _, body = fact.partition(":")
            if kind == "object":
                assert body in names
            elif kind == "position":
                name, pos = body.split("@")
                assert g.objects[names.index(name)].position == pos
            elif kind == "relation":
                assert expected_relation_holds(g, fact), (fact, g)
            elif kind in ("colour", "shape", "size"):
                assert body in {getattr(o, kind) for o in g.objects}
            elif kind == "cell":
                assert body in {o.position for o in g.objects}
            else:
                assert kind == "background" and body == g.background
        # the attribute facts are the distinct attributes of the objects and their cells (partial credit)
        assert {f for f in d.facts if f.split(":")[0] in ("colour", "shape", "size", "cell")} == {
            f"{k}:{getattr(o, 'position' if k == 'cell' else k)}" for o in g.objects
            for k in ("colour", "shape", "size", "cell")}
        assert set(d.facts) <= true_facts(g, background=opts["background"])


def test_true_facts_has_every_pairwise_relation():
    g = SceneGraph.from_dict({"background": "gray", "objects": [
        {"shape": "circle", "colour": "red", "size": "large", "position": "top-left", "offset": [0, 0]},
        {"shape": "star", "colour": "blue", "size": "small", "position": "bottom-right", "offset": [0, 0]},
        {"shape": "heart", "colour": "pink", "size": "medium", "position": "top-right", "offset": [0, 0]}]})
    rels = sorted(f for f in true_facts(g) if f.startswith("relation:"))
    assert rels == ["relation:large red circle|above|small blue star",
                    "relation:large red circle|left of|medium pink heart",
                    "relation:large red circle|left of|small blue star",
                    "relation:medium pink heart|above|small blue star"]


# ---- paraphrase variety ---------------------------------------------------------------------------------
def test_descriptions_use_every_synonym_and_several_templates():
    text = " ".join(d.text for _, d in panels(3000, seed=5, max_objects=9)).lower()
    for vocab in (SHAPES, COLOURS, SIZES, POSITIONS, RELATIONS, BACKGROUNDS):
        for phrases in vocab.values():
            for phrase in phrases:
                assert re.search(rf"\b{re.escape(phrase)}\b", text) or phrase.replace("-", " ") in text, phrase
    openings = Counter(s.split()[0] for s in re.split(r"(?<=\.) ", text))
    assert len(openings) >= 5  # "a", "in", "there", "the", "you", "everything" ...


def test_same_graph_gets_different_wordings():
    g = sample_scene(Random(1), min_objects=3, max_objects=3)
    texts = {describe(g, Random(s)).text for s in range(20)}
    assert len(texts) >= 15
    assert len({frozenset(describe(g, Random(s)).facts) - {f for f in true_facts(g) if "relation" in f}
                for s in range(20)}) == 1  # wording varies; objects, positions and background do not


# ---- parse_facts on other text --------------------------------------------------------------------------
UNRELATED = [
    "A red car is parked in the center of a town square on a sunny day. To the left of the car is a blue bench.",
    "A close-up view of a green leaf with small drops of water. The background is out of focus and dark.",
    "Two people stand at the top left of the frame, one wearing a yellow jacket, above a white fence.",
    "The menu lists a large pizza, a small salad and a medium coffee; the middle shelf holds orange juice.",
    "Panel 1: A star-shaped cookie sits beside a heart-shaped box. Across the street is a square building.",
    "A small red car is to the left of a big blue truck, both in the bottom right corner of the photo.",
]


@pytest.mark.parametrize("text", UNRELATED)
def test_parse_finds_nothing_in_unrelated_text(text):
    assert parse_facts(text) == set()


def test_parse_reads_free_text_with_synonyms_case_and_converse_relations():
    text = ("PANEL TEXT: a Big Red Disc is in the upper left corner, and the tiny violet plus sign is in the "
            "lower-right. The tiny violet plus sign sits to the right of the big red disc. The little "
            "violet cross is below the large red circle; the background colour is grey.")
    assert parse_facts(text) == {
        "object:large red circle", "object:small purple cross", "position:large red circle@top-left",
        "position:small purple cross@bottom-right", "relation:large red circle|left of|small purple cross",
        "relation:large red circle|above|small purple cross", "background:gray",
        "size:large", "size:small", "colour:red", "colour:purple", "shape:circle", "shape:cross",
        "cell:top-left", "cell:bottom-right"}
    # a mention missing its size names no object; a relation needs an object on each side
    assert parse_facts("A red circle sits in the top-left corner. The large red circle is above.") == {
        "object:large red circle", "size:large", "colour:red", "shape:circle"}


def test_a_half_right_description_gets_partial_credit():
    """Attribute facts: the wrong shape at the right cell still states the right colour, size and cell."""
    from sdbench.data.sources.scene_graph import attribute_facts

    reference = ["object:large red circle", "position:large red circle@top-left"]
    reference += attribute_facts(reference)
    said = parse_facts("A big red star sits in the upper left.")
    assert said & set(reference) == {"size:large", "colour:red", "cell:top-left"}
    assert len(reference) == 6  # so its fact F1 is 2 * (3/6 * 3/6) / (3/6 + 3/6) = 0.5


def test_facts_of_one_panel_do_not_parse_from_another():
    (g1, d1), (g2, d2) = panels(2, seed=21, min_objects=2, max_objects=2)
    assert parse_facts(d1.text) != parse_facts(d2.text)
    assert not parse_facts(d2.text) >= set(d1.facts)


# ---- rendering ------------------------------------------------------------------------------------------
def test_render_puts_each_object_colour_at_its_position_and_background_elsewhere():
    size = 128
    for g, _ in panels(300, seed=2, max_objects=9):
        img = render_panel(g, size)
        assert img.size == (size, size) and img.mode == "RGB"
        occupied = set()
        for o in g.objects:
            x0, y0, x1, y1 = object_box(o.row, o.col, o.size, o.offset, size)
            cell = size / 3
            assert o.col * cell <= x0 and x1 < (o.col + 1) * cell and o.row * cell <= y0 and y1 < (o.row + 1) * cell
            assert img.getpixel(((x0 + x1) // 2, (y0 + y1) // 2)) == COLOUR_RGB[o.colour], (o, g)
            occupied.add(o.position)
        for pos in set(POSITION_NAMES) - occupied:
            r, c = divmod(POSITION_NAMES.index(pos), 3)
            assert img.getpixel((int((c + 0.5) * size / 3), int((r + 0.5) * size / 3))) == BACKGROUND_RGB[g.background]
        assert img.getpixel((0, 0)) == BACKGROUND_RGB[g.background]


def test_sizes_are_visibly_different():
    boxes = {s: object_box(1, 1, s, (0, 0), 128) for s in SIZES}
    widths = {s: b[2] - b[0] + 1 for s, b in boxes.items()}
    assert widths["small"] * 1.4 < widths["medium"] and widths["medium"] * 1.3 < widths["large"]


def test_render_is_deterministic():
    g = sample_scene(Random(9), min_objects=4, max_objects=4)
    assert render_panel(g, 112).tobytes() == render_panel(SceneGraph.from_dict(json.loads(json.dumps(g.to_dict()))),
                                                           112).tobytes()


# ---- tiling ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("k,cols,rows", [(1, 1, 1), (2, 2, 1), (3, 3, 1), (4, 2, 2), (8, 4, 2), (9, 3, 3), (16, 4, 4)])
def test_tiling_grid_size_panels_and_numbers(k, cols, rows):
    size = 128
    graphs = [g for g, _ in panels(k, seed=k)]
    tiles = [render_panel(g, size) for g in graphs]
    img = tile_panels(tiles)
    lay = tile_layout(k, size)
    assert (lay.cols, lay.rows) == (cols, rows)
    assert img.size == (cols * size + (cols + 1) * GAP, rows * (lay.header + size) + (rows + 1) * GAP)
    for j, tile in enumerate(tiles):
        x, y = lay.panel_origin(j)
        assert img.crop((x, y, x + size, y + size)).tobytes() == tile.tobytes()
        assert read_number(img, lay, j) == str(j + 1)


def read_number(img, lay, j: int) -> str:
    """Read the bitmap digits back from panel j's header (fails if dots are missing or extra ink exists)."""
    x, y = lay.number_origin(j)
    s = lay.scale
    hx, hy = lay.panel_origin(j)
    header = img.crop((hx, hy - lay.header, hx + lay.panel_size, hy))
    header_pixels = [header.getpixel((u, v)) for v in range(header.height) for u in range(header.width)]
    ink = sum(1 for px in header_pixels if px == NUMBER_RGB)
    digits, drawn = "", 0
    while True:
        bits = tuple("".join("#" if img.getpixel((x + c * s, y + r * s)) == NUMBER_RGB else "." for c in range(DIGIT_W))
                     for r in range(DIGIT_H))
        match = [d for d, pattern in DIGITS.items() if pattern == bits]
        if not match:
            break
        digits += match[0]
        drawn += sum(row.count("#") for row in bits) * s * s
        x += (DIGIT_W + 1) * s
    assert ink == drawn, "the header holds ink that is not the panel number"
    assert all(px in (NUMBER_RGB, FRAME_RGB) for px in header_pixels)
    return digits


def test_two_digit_numbers_and_scale_follow_panel_size():
    lay = tile_layout(12, 256)
    assert lay.scale == 4 and lay.header >= DIGIT_H * 4
    img = tile_panels([render_panel(g, 256) for g, _ in panels(12, seed=12)])
    assert [read_number(img, lay, j) for j in range(12)] == [str(j + 1) for j in range(12)]


# ---- through build-task and the CLI ---------------------------------------------------------------------
def test_build_task_stores_facts_graphs_and_labelled_references(tmp_path):
    out = build_task(BuildTaskConfig(task="multipanel", segments=(1, 2, 4, 8), n_train=8, n_test=4,
                                     out=tmp_path / "mp"), quiet=True)
    data = load_task_data(out, verify=True)
    assert data.manifest["splits"]["train"]["k_histogram"] == {"1": 2, "2": 2, "4": 2, "8": 2}
    for ex in data.examples("train"):
        graphs = ex.meta["scene_graphs"]
        assert len(graphs) == ex.num_segments
        lay = tile_layout(ex.num_segments, 128)
        assert ex.images[0].size == (lay.width, lay.height)
        lines = ex.holistic_reference.split("\n")
        assert lines == [f"Panel {j + 1}: {s.reference}" for j, s in enumerate(ex.segments)]
        for seg, graph in zip(ex.segments, graphs):
            assert seg.facts and parse_facts(seg.reference) == set(seg.facts)
            assert set(seg.facts) <= true_facts(SceneGraph.from_dict(graph))
            assert seg.label in ex.prompt
        assert "3x3 grid" in ex.prompt and "one line per" in ex.prompt


def test_bad_options_are_one_line_errors(tmp_path, capsys):
    with pytest.raises(SdbenchError, match="max_objects"):
        build_task(BuildTaskConfig(task="multipanel", segments=(1,), n_train=2, n_test=0, out=tmp_path / "a",
                                   options={"max_objects": "10"}), quiet=True)
    rc = cli_main(["build-task", "multipanel", "--segments", "1", "--n-train", "2", "--n-test", "0",
                   "--out", str(tmp_path / "b"), "--options", "panel_size", "20"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "panel_size" in err[0]
