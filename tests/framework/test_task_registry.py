"""Task discovery and strict task.yaml validation."""

import shutil
from pathlib import Path

import pytest

from sdbench.core.errors import SdbenchError
from sdbench.data.task import format_label, list_tasks, load_hooks, load_task

TOY = Path(__file__).resolve().parents[1] / "fixtures" / "tasks" / "toy"


def test_repo_tasks_and_extra_path_are_found():
    tasks = list_tasks()
    assert "toy" in tasks
    for name in ("multipanel", "multichart", "subfigure"):
        assert name in tasks, f"task {name} missing from tasks/"


@pytest.mark.parametrize("k, template, expected", [
    (1, "Panel {k}:", "Panel 1:"), (12, "Chart {k}:", "Chart 12:"), (1, "({letter})", "(a)"),
    (26, "({letter})", "(z)"), (27, "({letter})", "(aa)"), (28, "({letter})", "(ab)"),
])
def test_format_label(k, template, expected):
    assert format_label(template, k) == expected


def _copy_toy(tmp_path, monkeypatch, edit) -> str:
    dest = tmp_path / "tasks" / "broken"
    shutil.copytree(TOY, dest)
    text = (dest / "task.yaml").read_text().replace("name: toy", "name: broken")
    (dest / "task.yaml").write_text(edit(text))
    monkeypatch.setenv("SDBENCH_TASKS_PATH", str(tmp_path / "tasks"))
    return "broken"


@pytest.mark.parametrize("edit, message", [
    (lambda t: t + "colour: red\n", "unknown key 'colour'"),
    (lambda t: t.replace("version: 1", "version: one"), "version must be a positive integer"),
    (lambda t: t.replace("primary_metric: chart_answer", "primary_metric: f1"), "primary_metric 'f1' is not in metrics"),
    (lambda t: t.replace("{num_segments} squares", "{num_segment} squares"), "unknown placeholder {num_segment}"),
    (lambda t: t.replace("kind: synthetic", "kind: fake"), "kind: must be 'synthetic' or 'real'"),
    (lambda t: t.replace("{min: 1, max: 6}", "{min: 3, max: 2}"), "segments: need integers"),
    (lambda t: t.replace('"Part {k}:"', '"Part {n}:"'), "segment_label"),
    (lambda t: t.replace("name: broken", "name: other"), "must equal the folder name"),
    (lambda t: t + "  extra: [\n", "invalid YAML"),
])
def test_invalid_task_yaml_is_a_one_line_error(tmp_path, monkeypatch, edit, message):
    name = _copy_toy(tmp_path, monkeypatch, edit)
    with pytest.raises(SdbenchError, match=message.replace("(", r"\(").replace("{", r"\{")) as info:
        load_task(name)
    assert "\n" not in str(info.value) and "task.yaml" in str(info.value)


def test_hooks_must_match_declared_sources(tmp_path, monkeypatch):
    name = _copy_toy(tmp_path, monkeypatch, lambda t: t)
    hooks = tmp_path / "tasks" / name / "hooks.py"
    hooks.write_text(hooks.read_text().replace('SOURCES = {"synthetic": synthetic, "files": files}',
                                               'SOURCES = {"synthetic": synthetic}'))
    with pytest.raises(SdbenchError, match="SOURCES has"):
        load_hooks(load_task(name))
