"""Hooks of the `multipanel` task, by fixed name (the code lives in sdbench/data/sources/).

SOURCES      the source generators
parse_facts  the canonical facts a segment's text states (for fact_precision / fact_recall / fact_f1)
true_facts   every fact true of a panel: precision counts a true but unmentioned relation as correct, a fact
             about another panel as wrong
"""

from sdbench.data.sources.docci import docci_source
from sdbench.data.sources.scene_graph import SceneGraph
from sdbench.data.sources.scene_graph import parse_facts as _parse_facts
from sdbench.data.sources.scene_graph import true_facts as _true_facts
from sdbench.data.sources.synthetic_panels import synthetic_source

SOURCES = {"synthetic": synthetic_source, "docci": docci_source}


def parse_facts(text, segment, example) -> set[str]:
    return _parse_facts(text)


def true_facts(segment, example) -> set[str]:
    return _true_facts(SceneGraph.from_dict(example.meta["scene_graphs"][segment.index]), background=True)
