"""build-task on the toy fixture task: determinism, manifest, reuse, and every framework-level bad input."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sdbench.cli import main
from sdbench.core.errors import SdbenchError
from sdbench.data.build_task import BuildTaskConfig, build_task
from sdbench.data.task_data import load_task_data


def _build(out: Path, **kw) -> Path:
    cfg = dict(task="toy", segments=(1, 2, 3), n_train=12, n_test=5, seed=0, out=out)
    cfg.update(kw)
    return build_task(BuildTaskConfig(**cfg), quiet=True)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_different_seed_different(tmp_path):
    a, b = _build(tmp_path / "a"), _build(tmp_path / "b")
    c = _build(tmp_path / "c", seed=1)
    assert _files(a) == _files(b)
    ma, mc = load_task_data(a).manifest, load_task_data(c).manifest
    assert ma["content_hash"] != mc["content_hash"]


def test_example_i_does_not_depend_on_n(tmp_path):
    small = list(load_task_data(_build(tmp_path / "s", n_train=4)).examples("train"))
    large = list(load_task_data(_build(tmp_path / "l", n_train=12)).examples("train"))
    assert [e.prompt for e in small] == [e.prompt for e in large[:4]]
    assert [e.images[0].tobytes() for e in small] == [e.images[0].tobytes() for e in large[:4]]


def test_manifest_records_counts_histogram_and_verifies(tmp_path):
    data = load_task_data(_build(tmp_path / "a"), verify=True)
    m = data.manifest
    assert m["task"] == {"name": "toy", "version": 1, "segment_label": "Part {k}:", "primary_metric": "chart_answer"}
    assert m["splits"]["train"]["count"] == 12 and m["splits"]["test"]["count"] == 5
    assert m["splits"]["train"]["k_histogram"] == {"1": 4, "2": 4, "3": 4}
    assert m["config"]["options"] == {"size": 16, "bright": False}
    assert m["seed"] == 0 and m["provenance"]["sdbench_version"]
    ex = next(data.examples("train"))
    assert ex.segments[0].label == "Part 1:" and ex.segments[0].answer == ex.segments[0].reference


def test_load_back_is_identical_to_what_was_built(tmp_path):
    from sdbench.data.source import SourceRequest
    from sdbench.data.task import load_hooks, load_task

    spec = load_task("toy")
    req = SourceRequest(task=spec, split="train", n=12, segments=(1, 2, 3), seed=0, options={"size": 16, "bright": False})
    built = list(load_hooks(spec).SOURCES["synthetic"](req))
    loaded = list(load_task_data(_build(tmp_path / "a")).examples("train"))
    assert [(e.id, e.prompt, e.segments, e.holistic_reference, e.meta) for e in built] == \
           [(e.id, e.prompt, e.segments, e.holistic_reference, e.meta) for e in loaded]
    assert [[i.tobytes() for i in e.images] for e in built] == [[i.tobytes() for i in e.images] for e in loaded]


def test_empty_split_reads_back_empty(tmp_path):
    data = load_task_data(_build(tmp_path / "a", n_test=0), verify=True)
    assert data.manifest["splits"]["test"]["count"] == 0
    assert list(data.examples("test")) == [] and len(data.dataset("test")) == 0
    assert len(list(data.examples("train"))) == 12


def test_in_split_puts_every_key_in_exactly_one_split():
    from sdbench.data.source import SourceRequest
    from sdbench.data.task import load_task

    spec = load_task("toy")
    train, test = (SourceRequest(task=spec, split=s, n=-1, segments=(1,), seed=5) for s in ("train", "test"))
    keys = [f"group_{i}" for i in range(400)]
    in_test = [k for k in keys if test.in_split(k, 0.25)]
    assert all(train.in_split(k, 0.25) != test.in_split(k, 0.25) for k in keys)
    assert 70 <= len(in_test) <= 130  # 100 expected
    other_seed = SourceRequest(task=spec, split="test", n=-1, segments=(1,), seed=6)
    assert in_test != [k for k in keys if other_seed.in_split(k, 0.25)]


def test_tampered_data_fails_verification(tmp_path):
    folder = _build(tmp_path / "a")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["content_hash"] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SdbenchError, match="content hash"):
        load_task_data(folder, verify=True)


def test_rebuild_same_config_is_reused_and_different_config_refused(tmp_path):
    folder = _build(tmp_path / "a")
    mtime = (folder / "manifest.json").stat().st_mtime_ns
    assert _build(tmp_path / "a") == folder and (folder / "manifest.json").stat().st_mtime_ns == mtime
    with pytest.raises(SdbenchError, match="holds a different build.*--overwrite"):
        _build(tmp_path / "a", seed=3)
    _build(tmp_path / "a", seed=3, overwrite=True)
    assert load_task_data(folder).manifest["seed"] == 3


def test_edited_task_definition_is_rebuilt_not_reused(tmp_path, monkeypatch):
    import shutil

    tasks = tmp_path / "tasks"
    shutil.copytree(Path(__file__).resolve().parents[1] / "fixtures" / "tasks" / "toy", tasks / "toy")
    monkeypatch.setenv("SDBENCH_TASKS_PATH", str(tasks))
    folder = _build(tmp_path / "a")
    yaml_path = tasks / "toy" / "task.yaml"
    yaml_path.write_text(yaml_path.read_text().replace("Name the colour", "Say the colour"))
    with pytest.raises(SdbenchError, match="holds a build of the same config by other code.*--overwrite"):
        _build(tmp_path / "a")
    _build(tmp_path / "a", overwrite=True)
    assert next(load_task_data(folder).examples("test")).prompt.startswith("Say the colour")


def test_symlinked_image_folder_is_read_but_escaping_names_are_not(tmp_path, toy_files):
    real_images = tmp_path / "elsewhere"
    (toy_files / "images").rename(real_images)
    (toy_files / "images").symlink_to(real_images)
    folder = _build(tmp_path / "o", source="files", path=toy_files, segments=(1,), n_train=0, n_test=-1)
    assert load_task_data(folder).manifest["splits"]["test"]["count"] == 3


def test_overwrite_replaces_only_an_sdbench_build(tmp_path, capsys):
    """--overwrite never deletes a folder that is not a build, nor a build folder holding the user's files; no
    refusal suggests --overwrite for them."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    for overwrite in (False, True):
        with pytest.raises(SdbenchError, match="holds files that are not an sdbench build .*nothing was changed") as e:
            _build(mine, overwrite=overwrite)
        assert "--overwrite" not in str(e.value)
    assert (mine / "notes.txt").read_text() == "mine"
    (mine / "manifest.json").write_text('{"not": "a build"}')  # a manifest of some other tool
    with pytest.raises(SdbenchError, match="not an sdbench build"):
        _build(mine, overwrite=True)
    build = _build(tmp_path / "b")
    (build / "my_results.csv").write_text("keep me")
    with pytest.raises(SdbenchError, match=r"files no build writes \(my_results.csv\)"):
        _build(build, seed=5, overwrite=True)
    assert (build / "my_results.csv").is_file() and load_task_data(build).manifest["seed"] == 0
    a_file = tmp_path / "f"
    a_file.write_text("x")
    assert main(["build-task", "toy", "--out", str(a_file)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_a_killed_builds_staging_folder_is_removed_and_sizes_are_refused_up_front(tmp_path, capsys):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".build-{dead.stdout.strip()}-abc123"
    (stale / "data").mkdir(parents=True)
    live = tmp_path / f".build-{os.getpid()}-inprogress"  # a build still running (this process) is left alone
    live.mkdir()
    assert main(["build-task", "toy", "--n-train", "2", "--n-test", "1", "--out", str(tmp_path / "o")]) == 0
    assert not stale.exists() and live.is_dir()
    assert f"removed {stale}, left by a build that was stopped" in capsys.readouterr().err
    start = time.perf_counter()
    assert main(["build-task", "toy", "--n-test", "99999999999999999999", "--out", str(tmp_path / "big")]) == 2
    err = capsys.readouterr().err
    assert "--n-test 99999999999999999999: a split holds at most 200,000 examples" in err
    assert time.perf_counter() - start < 10 and not (tmp_path / "big").exists()
    assert [p.name for p in tmp_path.glob(".build-*")] == [live.name]  # the refused build left nothing


@pytest.mark.parametrize("kw, message", [
    (dict(task="toi"), r"unknown task 'toi' \(did you mean 'toy'\?\)"),
    (dict(source="file"), r"unknown source 'file' of task 'toy' \(did you mean 'files'\?\)"),
    (dict(segments=(2, 9)), r"cannot supply K=\[9\]"),
    (dict(source="files", segments=(1,)), "pass --path DIR"),
    (dict(n_train=-1), "synthetic: --n-train/--n-test need a count"),
    (dict(options={"sise": "3"}), "unknown option 'sise'.*did you mean 'size'"),
    (dict(options={"size": "big"}), "--options size: expected int"),
    (dict(options={"bright": "maybe"}), "--options bright: expected bool"),
])
def test_bad_build_requests(tmp_path, kw, message):
    with pytest.raises(SdbenchError, match=message):
        _build(tmp_path / "o", **kw)


@pytest.mark.parametrize("kw, message", [
    (dict(segments=(0, 1)), "--segments"), (dict(segments=(1, 1)), "twice"),
    (dict(n_train=-5), "--n-train"), (dict(task=None), "name a task"),
])
def test_bad_config_values(kw, message):
    cfg = dict(task="toy")
    cfg.update(kw)
    with pytest.raises(SdbenchError, match=message):
        BuildTaskConfig(**cfg)


def test_real_source_skips_are_counted_and_listed(tmp_path, toy_files):
    (toy_files / "images" / "1.png").write_bytes(b"not a png")
    records = json.loads((toy_files / "records.json").read_text())
    records.append({"id": "nocolour", "image": "0.png"})
    records.append({"id": "escape", "image": "../../etc/passwd", "colour": "red"})
    records.append({"id": "gone", "image": "missing.png", "colour": "red"})
    (toy_files / "records.json").write_text(json.dumps(records))
    folder = _build(tmp_path / "o", source="files", path=toy_files, segments=(1,), n_train=0, n_test=-1)
    split = load_task_data(folder).manifest["splits"]["test"]
    assert split["count"] == 2
    assert split["skips"] == {"file not found": 1, "image does not decode": 1, "missing field: colour": 1,
                              "path escapes the data folder": 1}
    assert split["num_skipped"] == 4
    assert {"record": "records.json[1] (images/1.png)", "reason": "image does not decode"} in split["skipped_records"]
    with pytest.raises(SdbenchError, match="--strict"):
        _build(tmp_path / "p", source="files", path=toy_files, segments=(1,), n_train=0, n_test=-1, strict=True)


def test_real_source_missing_or_malformed_annotation_file(tmp_path, toy_files):
    with pytest.raises(SdbenchError, match="not a folder"):
        _build(tmp_path / "o", source="files", path=tmp_path / "nowhere", segments=(1,))
    (toy_files / "records.json").write_text('[{"id": 1,,}]')
    with pytest.raises(SdbenchError, match=r"records.json: malformed JSON \(line 1\)"):
        _build(tmp_path / "o", source="files", path=toy_files, segments=(1,))
    (toy_files / "records.json").unlink()
    with pytest.raises(SdbenchError, match="records.json: file not found"):
        _build(tmp_path / "o", source="files", path=toy_files, segments=(1,))


def test_source_hash_changes_with_the_data(tmp_path, toy_files):
    m1 = load_task_data(_build(tmp_path / "a", source="files", path=toy_files, segments=(1,))).manifest
    from PIL import Image
    Image.new("RGB", (8, 8), "purple").save(toy_files / "images" / "0.png")
    m2 = load_task_data(_build(tmp_path / "b", source="files", path=toy_files, segments=(1,))).manifest
    assert m1["source"]["hash"]["train"] and m1["source"]["hash"] != m2["source"]["hash"]
    assert m1["source"]["files_read"] == 8  # (records.json + 3 images) per split


def test_cli_errors_are_one_line_without_traceback(tmp_path, capsys):
    assert main(["build-task", "toi", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "did you mean 'toy'" in err and "Traceback" not in err


def test_cli_comma_lists_config_file_and_unknown_keys(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("task: toy\nsegments: [1, 2]\nn_train: 3\nn_test: 2\n")
    assert main(["build-task", "--config", str(cfg), "--segments", "1,3", "--out", str(tmp_path / "o")]) == 0
    assert load_task_data(tmp_path / "o").manifest["config"]["segments"] == [1, 3]
    cfg.write_text("task: toy\nsegmnets: [1]\n")
    assert main(["build-task", "--config", str(cfg)]) == 2
    assert "unknown key 'segmnets' (did you mean 'segments'?)" in capsys.readouterr().err
    cfg.write_text("task: toy\nn_train: lots\n")
    assert main(["build-task", "--config", str(cfg)]) == 2
    assert "n_train: expected an integer" in capsys.readouterr().err


def test_list_shows_tasks_versions_and_sources(capsys):
    assert main(["build-task", "--list"]) == 0
    out = capsys.readouterr().out
    assert "toy" in out and "files" in out and "synthetic" in out and "1-6" in out


def test_show_prints_examples_and_writes_contact_sheet(tmp_path, capsys):
    folder = _build(tmp_path / "a")
    assert main(["show", str(folder), "--num", "2"]) == 0
    out = capsys.readouterr().out
    assert "Part 1:" in out and "content" in out
    from PIL import Image
    with Image.open(folder / "contact_sheet_test.png") as sheet:
        assert sheet.width == 1400 and sheet.height > 20


def test_a_build_loads_with_datasets_has_a_card_and_logs_its_progress(tmp_path, capsys, monkeypatch):
    """Not on a terminal (a log file, CI): progress comes as plain lines, the write and hash phases included;
    data/ opens with `datasets.load_from_disk`; README.md is a dataset card that names the content hash."""
    import datasets

    monkeypatch.setenv("SDBENCH_PROGRESS_S", "0")
    folder = build_task(BuildTaskConfig(task="toy", segments=(1, 2, 3), n_train=12, n_test=5, seed=0,
                                        out=tmp_path / "a"))
    err = capsys.readouterr().err
    assert "build toy/synthetic train: 12/12 ex (100 %)" in err and "done" in err
    assert "build toy/synthetic train: 12 examples made; writing them" in err
    assert "build toy/synthetic: hashing the stored files" in err
    splits = datasets.load_from_disk(str(folder / "data"))
    assert sorted(splits) == ["test", "train"] and splits["train"].num_rows == 12 and splits["test"].num_rows == 5
    manifest = load_task_data(folder, verify=True).manifest
    assert splits["train"][0]["id"] == next(load_task_data(folder).examples("train")).id
    card = (folder / "README.md").read_text()
    assert card.startswith("---\npretty_name: sdbench toy v1 (synthetic)")
    assert manifest["content_hash"] in card and "| train | 12 | K=1: 4, K=2: 4, K=3: 4 | 0 |" in card
    assert "sdbench build-task toy --source synthetic --segments 1,2,3 --n-train 12 --n-test 5 --seed 0" in card
    assert _build(tmp_path / "a") == folder  # the card and dataset_dict.json do not stop the build being reused
