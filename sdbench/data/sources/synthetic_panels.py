"""The synthetic source of `multipanel`: K scene graphs per example (sdbench.data.sources.scene_graph), each drawn
as a panel and the panels tiled and numbered (sdbench.data.sources.panel_renderer), with one dense description per
panel as its segment reference and the description's facts as the segment's facts."""

from __future__ import annotations

from collections.abc import Iterator

from sdbench.core.errors import SdbenchError
from sdbench.core.types import Example
from sdbench.data.source import SourceRequest
from sdbench.data.sources.scene_graph import describe, sample_scene


def synthetic_source(req: SourceRequest) -> Iterator[Example]:
    """Example i: K = req.k_for(i) scenes drawn from req.rng(i), rendered, tiled and numbered.

    Options (task.yaml): panel_size (px of one panel's drawing area), min_objects / max_objects per panel,
    relations (state one relation per object after the first), background (random background colour and a
    sentence naming it; off: white and unnamed)."""
    from sdbench.core.types import Example, Segment
    from sdbench.data.sources.panel_renderer import render_panel, tile_panels

    opts = req.options
    panel_size = int(opts.get("panel_size", 128))
    min_objects, max_objects = int(opts.get("min_objects", 1)), int(opts.get("max_objects", 4))
    relations, background = bool(opts.get("relations", True)), bool(opts.get("background", True))
    if panel_size < 48:
        raise SdbenchError(f"--options panel_size: need >= 48 px to draw three cells a row, got {panel_size}")
    if req.n < 0:
        raise SdbenchError(f"{req.task.name}/synthetic: --n-{req.split} -1 means 'all records' of a real source; "
                           "a synthetic source needs a count, e.g. --n-train 1000")
    for i in range(req.n):
        rng = req.rng(i)
        k = req.k_for(i)
        graphs = [sample_scene(rng, min_objects, max_objects, background) for _ in range(k)]
        descriptions = [describe(g, rng, relations=relations, background=background) for g in graphs]
        labels = [req.task.label(j + 1) for j in range(k)]
        segments = tuple(Segment(index=j, label=labels[j], reference=d.text, facts=d.facts)
                         for j, d in enumerate(descriptions))
        image = tile_panels([render_panel(g, panel_size) for g in graphs])
        yield Example(id=f"{req.task.name}-{req.split}-{i:06d}", images=(image,),
                      prompt=req.task.render_prompt("synthetic", labels), segments=segments,
                      holistic_reference="\n".join(f"{s.label} {s.reference}" for s in segments),
                      meta={"scene_graphs": [g.to_dict() for g in graphs]})
