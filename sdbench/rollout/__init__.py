"""Rollout backends: sample G completions per prompt and keep their sampling log-probs.

`hf` (transformers generate, the CPU reference) is always available; `vllm` is imported only when chosen.
"""
