"""The synthetic source of `subfigure`: K-panel figures of one experiment (sdbench.data.sources.subfigure_generator),
drawn by sdbench.data.sources.subfigure_renderer, with each panel's subcaption as its segment reference and its facts
(panel and shared) as the segment's facts."""

from __future__ import annotations

import math
from collections.abc import Iterator

from sdbench.core.errors import SdbenchError
from sdbench.core.types import Example, Segment
from sdbench.data.source import SourceRequest
from sdbench.data.sources.subfigure_generator import draw_figure
from sdbench.data.sources.subfigure_renderer import FigureRenderer


def synthetic_subfigures(req: SourceRequest) -> Iterator[Example]:
    """req.n figures; example i has K = req.k_for(i) panels and depends only on (task, split, seed, i, options)."""
    entanglement = _entanglement(req.options.get("entanglement", 0.5))
    renderer = FigureRenderer()
    for i in range(req.n):
        k = req.k_for(i)
        fig = draw_figure(req.rng(i), k, entanglement)
        labels = [req.task.label(j + 1) for j in range(k)]
        segments = tuple(
            Segment(index=j, label=labels[j], reference=fig.subcaptions[j], facts=fig.segment_facts[j],
                    meta={"referred": list(p.referred), "plot": p.plot, "trend": p.trend,
                          "top_sample": p.top_sample, "setting": f"{p.setting} {fig.factor[2]}"})
            for j, p in enumerate(fig.panels))
        holistic = " ".join([fig.shared_context, *(f"{s.label} {s.reference}" for s in segments)])
        yield Example(
            id=f"{req.task.name}-{req.split}-{i:06d}", images=(renderer.render(fig),),
            prompt=req.task.render_prompt("synthetic", labels), segments=segments,
            holistic_reference=holistic, shared_context=fig.shared_context,
            meta={"entanglement": entanglement, "shared_facts": list(fig.shared_facts),
                  "experiment": {"quantity": fig.quantity, "unit": fig.unit, "xvar": fig.xvar, "xunit": fig.xunit,
                                 "material": fig.material, "atmosphere": fig.atmosphere,
                                 "num_samples": fig.num_samples, "runs": fig.runs, "factor": fig.factor[0],
                                 "factor_unit": fig.factor[2]}})


def _entanglement(value: object) -> float:
    try:
        e = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SdbenchError(f"--options entanglement: expected a number in [0, 1], got {value!r}") from None
    if not 0.0 <= e <= 1.0 or math.isnan(e):
        raise SdbenchError(f"--options entanglement: must be in [0, 1] (0 = self-contained subcaptions, "
                           f"1 = everything shared lives in the context), got {e}")
    return e
