"""Warm start: how the embedded default model is made (the vision warm-up, the SFT recipe of `DefaultModelSpec`)
and checked (the warm-start report with its swapped-image control).
May import: core, rewards, data, models, rollout, rl.
"""
