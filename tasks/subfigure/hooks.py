"""Hooks of the `subfigure` task, by fixed name (the code lives in sdbench/data/sources/).

SOURCES      the source generators: synthetic figures, MMSci
parse_facts  the canonical facts a segment's text states (fact_precision / fact_recall / fact_f1; synthetic only:
             MMSci segments have no facts, so fact metrics do not apply there)
true_facts   every fact true of a panel: its own plus the shared context's, so restating a unit the reference
             left to the context is not counted as an error
"""

from sdbench.data.sources.mmsci import mmsci_figures
from sdbench.data.sources.subfigure_generator import letter_of
from sdbench.data.sources.subfigure_generator import parse_facts as _parse_facts
from sdbench.data.sources.subfigure_generator import true_panel_facts
from sdbench.data.sources.synthetic_subfigures import synthetic_subfigures

SOURCES = {"synthetic": synthetic_subfigures, "mmsci": mmsci_figures}


def parse_facts(text, segment, example) -> set[str]:
    return _parse_facts(text, letter_of(segment.label))


def true_facts(segment, example) -> set[str]:
    return true_panel_facts(segment.facts, example.meta.get("shared_facts", ()), letter_of(segment.label))
