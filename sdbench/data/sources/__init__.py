"""Task sources: procedural generators (scene graphs, charts, subfigures) and loaders of real datasets (DOCCI,
MultiChartQA, MMSci), one module per noun.
May import: core, rewards.
"""
