"""Integrations: adapters that run sdbench's credit assignment inside other engines: TRL (`trl`) and verl (`verl`).
May import: core, rewards, data, models, rollout, rl.

Each adapter is a thin layer over the same pure functions sdbench's own trainer uses (segmenter -> token spans ->
per-segment rewards -> `sdbench.rl.advantages`), so a number from any path means the same thing. Importing this
package imports no engine; each module imports its engine inside functions or at its own import. (Tasks go
to lmms-eval through `sdbench export-lmms-eval`, sdbench/commands/lmms_eval_export.py.)
"""
