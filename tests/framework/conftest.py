"""Fixtures for the framework tests: the toy task folder on SDBENCH_TASKS_PATH and a tiny real-source copy."""

import json
from pathlib import Path

import pytest

FIXTURE_TASKS = Path(__file__).resolve().parents[1] / "fixtures" / "tasks"


@pytest.fixture(autouse=True)
def toy_task_path(monkeypatch):
    monkeypatch.setenv("SDBENCH_TASKS_PATH", str(FIXTURE_TASKS))


@pytest.fixture
def toy_files(tmp_path) -> Path:
    """A folder in the toy task's 'files' layout: records.json + images/."""
    from PIL import Image

    root = tmp_path / "toyfiles"
    (root / "images").mkdir(parents=True)
    records = []
    for i, colour in enumerate(["red", "green", "blue"]):
        Image.new("RGB", (8, 8), colour).save(root / "images" / f"{i}.png")
        records.append({"id": f"rec{i}", "image": f"{i}.png", "colour": colour})
    (root / "records.json").write_text(json.dumps(records))
    return root
