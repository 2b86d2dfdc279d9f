"""Shared fixtures for the model tests: real task examples, and one tiny model per architecture, built once
per session (text 128 wide x 2 layers, a 1-layer vision tower, 112 px images -> at most 16 vision tokens).

    .venv/bin/python -m pytest tests/models -q -p no:cacheprovider
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sdbench.data.build_task import BuildTaskConfig, build_task
from sdbench.data.task_data import load_task_data
from sdbench.models.tiny_vlm import ARCHITECTURES, VisionTower, build_tiny_vlm, corpus_texts, train_tokenizer

TEST_SIZES = dict(hidden_size=128, num_layers=2, vision=VisionTower(hidden_size=32, num_layers=1, num_heads=2),
                  image_size=112)
VOCAB_SIZE = 640


@pytest.fixture(scope="session")
def examples(tmp_path_factory) -> list:
    """Four multipanel test examples with K = 1, 2, 4, 8 (different prompt lengths and image shapes) followed
    by four multichart ones."""
    out = []
    for task in ("multipanel", "multichart"):
        folder = build_task(BuildTaskConfig(task=task, segments=(1, 2, 4, 8), n_train=0, n_test=4, seed=0,
                                            out=tmp_path_factory.mktemp(task) / "b"), quiet=True)
        out += sorted(load_task_data(folder).examples("test"), key=lambda ex: ex.num_segments)
    return out


@pytest.fixture(scope="session")
def tokenizers(examples) -> dict:
    return {arch: train_tokenizer(corpus_texts(examples), VOCAB_SIZE, arch) for arch in ARCHITECTURES}


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory, tokenizers) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-vlms")
    return {arch: build_tiny_vlm(arch, tokenizers[arch], root / arch, seed=0, **TEST_SIZES)
            for arch in ARCHITECTURES}


@pytest.fixture(scope="session")
def policies(model_dirs) -> dict:
    from sdbench.models.policy import load_policy

    torch.set_num_threads(2)
    return {arch: load_policy(str(path)) for arch, path in model_dirs.items()}


@pytest.fixture(scope="session")
def tiny_sizes() -> dict:
    """The build_tiny_vlm keyword arguments the session models were built with."""
    return dict(TEST_SIZES)


@pytest.fixture(params=ARCHITECTURES)
def arch(request) -> str:
    return request.param


def _completion_logprobs(model, batch) -> torch.Tensor:
    """(B, T) log-prob of each completion token under `model` (garbage where completion_token_mask is False),
    through the trainer's own formula: completion token t is predicted at position prompt_length + t - 1."""
    from sdbench.models.logprobs import token_logprobs

    logits = model(**batch.inputs).logits[:, batch.prompt_length - 1:-1]   # (B, T, V)
    return token_logprobs(logits, batch.completion_ids)[0]


@pytest.fixture(scope="session")
def completion_logprobs():
    """The function (model, TrainingBatch) -> (B, T) completion log-probs."""
    return _completion_logprobs
