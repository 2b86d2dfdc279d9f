"""The segment contract, checked on every task in tasks/ through its synthetic source.

Real sources are checked on real samples / format-faithful fixtures in their own tests; this file makes
sure a newly added task (a folder under tasks/) meets the contract without any test being written for it.
"""

import json

import pytest

from sdbench.data.build_task import BuildTaskConfig, build_task
from sdbench.data.task import REPO_TASKS_DIR, list_tasks, load_task
from sdbench.data.task_data import canonical_json, load_task_data

TASKS = sorted(name for name, folder in list_tasks().items() if folder.parent == REPO_TASKS_DIR)
SEGMENTS = (1, 2, 4, 8)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    cache = {}

    def get(task: str, seed: int = 0):
        if (task, seed) not in cache:
            out = tmp_path_factory.mktemp(f"{task}-{seed}")
            cache[task, seed] = load_task_data(build_task(BuildTaskConfig(
                task=task, source="synthetic", segments=SEGMENTS, n_train=8, n_test=4, seed=seed,
                out=out / "b"), quiet=True))
        return cache[task, seed]
    return get


def test_the_three_tasks_exist():
    assert {"multipanel", "multichart", "subfigure"} <= set(TASKS)


@pytest.mark.parametrize("task", TASKS)
def test_every_task_folder_is_complete(task):
    spec = load_task(task)
    readme = (spec.folder / "README.md").read_text(encoding="utf-8")
    for heading in ("Changelog", "Citation"):
        assert heading.lower() in readme.lower(), f"tasks/{task}/README.md lacks a {heading} section"
    assert "synthetic" in spec.sources and any(s.kind == "real" for s in spec.sources.values())


@pytest.mark.parametrize("task", TASKS)
def test_synthetic_examples_meet_the_contract(task, built):
    spec = load_task(task)
    data = built(task)
    for split, n in (("train", 8), ("test", 4)):
        examples = list(data.examples(split))
        assert len(examples) == n
        assert [e.num_segments for e in examples] == [SEGMENTS[i % 4] for i in range(n)]
        for ex in examples:
            assert ex.id and ex.prompt and ex.images
            assert all(img.mode == "RGB" and img.width > 0 and img.height > 0 for img in ex.images)
            assert [s.index for s in ex.segments] == list(range(ex.num_segments))
            assert [s.label for s in ex.segments] == [spec.label(k + 1) for k in range(ex.num_segments)]
            for seg in ex.segments:
                assert seg.label in ex.prompt, f"{ex.id}: prompt does not name {seg.label}"
                assert seg.reference.strip(), f"{ex.id}: empty reference for {seg.label}"
                assert seg.reference in ex.holistic_reference
                json.dumps(seg.meta)
            if ex.shared_context:
                assert ex.holistic_reference.startswith(ex.shared_context)
    ids = [e.id for s in ("train", "test") for e in data.examples(s)]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("task", TASKS)
def test_synthetic_build_is_deterministic_by_seed(task, built, tmp_path):
    again = load_task_data(build_task(BuildTaskConfig(task=task, source="synthetic", segments=SEGMENTS,
                                                      n_train=8, n_test=4, seed=0, out=tmp_path / "again"),
                                      quiet=True), verify=True)
    assert again.manifest["content_hash"] == built(task).manifest["content_hash"]
    assert built(task, seed=1).manifest["content_hash"] != built(task).manifest["content_hash"]
    texts = lambda d: [canonical_json([e.prompt, e.holistic_reference]) for e in d.examples("test")]  # noqa: E731
    assert texts(built(task, seed=1)) != texts(built(task))


@pytest.mark.parametrize("task", TASKS)
def test_train_and_test_differ(task, built):
    data = built(task)
    train = {e.holistic_reference for e in data.examples("train")}
    test = {e.holistic_reference for e in data.examples("test")}
    assert len(train & test) <= 1  # K=1 items can coincide by chance; more means the splits share a stream
