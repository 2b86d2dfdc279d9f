"""sdbench: benchmark, evaluation suite and training baselines for segment-level credit assignment
in RL for vision-language models (GRPO vs SD-GRPO vs hybrid).

Importing this package is cheap: heavy libraries (torch, datasets, matplotlib, vLLM …) load inside the
functions that need them.
"""

__version__ = "0.1.0"
