"""Hooks of the `multichart` task: its sources (the code lives in sdbench/data/sources/)."""

from sdbench.data.sources.chart_data import synthetic_source
from sdbench.data.sources.multichartqa import multichartqa_source

SOURCES = {"synthetic": synthetic_source, "multichartqa": multichartqa_source}
