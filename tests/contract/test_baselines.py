"""Every baselines/*.yaml loads into TrainConfig (unknown keys are errors) and names a real method."""

from pathlib import Path

import pytest

from sdbench.core.config import load_config
from sdbench.rl.advantages import ADVANTAGE_ESTIMATORS
from sdbench.rl.train_config import TrainConfig

BASELINES = sorted((Path(__file__).resolve().parents[2] / "baselines").glob("*.yaml"))


def test_one_recipe_per_method():
    methods = {load_config(TrainConfig, p).method for p in BASELINES}
    assert methods == set(ADVANTAGE_ESTIMATORS) | {"sft"}


@pytest.mark.parametrize("path", BASELINES, ids=lambda p: p.name)
def test_recipe_loads(path):
    cfg = load_config(TrainConfig, path)
    assert cfg.method == "sft" or cfg.method in ADVANTAGE_ESTIMATORS
    assert path.stem.replace("_", "-") == cfg.method


@pytest.mark.parametrize("path", sorted((BASELINES[0].parent / "pipeline").glob("*.yaml")), ids=lambda p: p.name)
def test_pipeline_recipes_load(path):
    from sdbench.commands.pipeline import PipelineConfig

    cfg = load_config(PipelineConfig, path)
    assert cfg.seeds >= 3 and cfg.out != PipelineConfig().out  # a run of its own, beside make demo's
