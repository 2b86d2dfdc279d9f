"""A tiny task and a tiny Qwen2.5-VL (text 128 x 2, 112 px images) for the trainer tests, built once."""

from pathlib import Path

import pytest
import torch

from sdbench.data.build_task import BuildTaskConfig, build_task
from sdbench.data.task_data import load_task_data
from sdbench.models.tiny_vlm import VisionTower, build_tiny_vlm, corpus_texts, train_tokenizer


@pytest.fixture(scope="session")
def tiny_task(tmp_path_factory) -> Path:
    return build_task(BuildTaskConfig(task="multichart", segments=(1, 2), n_train=16, n_test=4, seed=0,
                                      out=tmp_path_factory.mktemp("task") / "mc"), quiet=True)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, tiny_task) -> Path:
    torch.set_num_threads(2)
    examples = list(load_task_data(tiny_task).examples("train"))
    tokenizer = train_tokenizer(corpus_texts(examples), 600, "qwen2_5_vl")
    return build_tiny_vlm("qwen2_5_vl", tokenizer, tmp_path_factory.mktemp("model") / "m", hidden_size=128,
                          num_layers=2, vision=VisionTower(hidden_size=32, num_layers=1, num_heads=2),
                          image_size=112, seed=0)
