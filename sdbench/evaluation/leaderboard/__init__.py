"""The leaderboard: results files -> validated runs (runs) -> tables per task version (tables) -> the terminal,
Markdown and CSV text (text), the HTML page (page), plots and example responses; `command` is `sdbench leaderboard`.
May import: core, rewards, data, models, rollout, rl.
"""
