"""Rewards: per-segment and holistic metrics as pure functions of strings (fact F1, chart answers, the official
MultiChartQA scorer, CIDEr-D and the caption metrics), and the registry that names them.
May import: core.
"""
