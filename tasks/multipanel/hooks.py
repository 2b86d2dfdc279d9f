"""Hooks of the `multipanel` task: its sources, by fixed name (the code lives in sdbench/sources/)."""

from sdbench.sources.docci import docci_source
from sdbench.sources.scene_graph import synthetic_source

SOURCES = {"synthetic": synthetic_source, "docci": docci_source}
