"""Models: the policy (any HF image-text-to-text model), the tiny VLMs, the embedded default model's spec and shipped
weights, chat inputs, token log-probs, safetensors checkpoints and what `--model` names (model_ref).
May import: core, data.
"""
