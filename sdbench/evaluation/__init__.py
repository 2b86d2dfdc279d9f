"""Evaluation: `eval` (generate, score, results with provenance), `score` (a user's own outputs), `diagnose` (the
wrong-sign rate), the results schema, `compare` (paired by seed), figures and the leaderboard.
May import: core, rewards, data, models, rollout, rl.
"""
