"""Commands that compose the layers: the main job (pipeline), `show`, `simulate` and `export-lmms-eval`, each with
its config; the other commands live in the layer whose work they are (cli.py lists them all).
May import: core, rewards, data, models, rollout, rl, warm_start, evaluation, integrations.
"""
