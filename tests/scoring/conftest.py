"""Small synthetic builds shared by the scoring tests (built once per session)."""

import pytest

from sdbench.data.build_task import BuildTaskConfig, build_task
from sdbench.data.task_data import load_task_data


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    cache = {}

    def get(task: str):
        if task not in cache:
            out = tmp_path_factory.mktemp(task) / "b"
            cache[task] = load_task_data(build_task(BuildTaskConfig(
                task=task, segments=(1, 2, 4), n_train=0, n_test=12, seed=0, out=out), quiet=True))
        return cache[task]
    return get
