"""Rollouts: sample G completions per prompt and keep their sampling log-probs; the interface (backend), the
backends (hf: transformers, the CPU reference; vllm: imported only when chosen) and the factory that picks one.
May import: core, data, models.
"""
