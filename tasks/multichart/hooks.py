"""Hooks of the `multichart` task: its sources (the code lives in sdbench/sources/)."""

from sdbench.sources.chart_data import synthetic_source
from sdbench.sources.multichartqa import multichartqa_source

SOURCES = {"synthetic": synthetic_source, "multichartqa": multichartqa_source}
