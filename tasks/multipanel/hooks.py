"""Hooks of the `multipanel` task, by fixed name (the code lives in sdbench/sources/).

SOURCES      the source generators
parse_facts  the canonical facts a segment's text states (for fact_precision / fact_recall / fact_f1)
true_facts   every fact true of a panel: precision counts a true but unmentioned relation as correct, a fact
             about another panel as wrong
"""

from sdbench.sources.docci import docci_source
from sdbench.sources.scene_graph import SceneGraph, synthetic_source
from sdbench.sources.scene_graph import parse_facts as _parse_facts
from sdbench.sources.scene_graph import true_facts as _true_facts

SOURCES = {"synthetic": synthetic_source, "docci": docci_source}


def parse_facts(text, segment, example) -> set[str]:
    return _parse_facts(text)


def true_facts(segment, example) -> set[str]:
    return _true_facts(SceneGraph.from_dict(example.meta["scene_graphs"][segment.index]), background=True)
