"""Reading a build: images decoded lazily per example, the --segments filter that train / eval / diagnose share."""

import copy

import pytest

from sdbench.core.errors import SdbenchError
from sdbench.data.build_task import BuildTaskConfig, build_task
from sdbench.data.task_data import LazyImages, load_task_data, with_segments


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("b") / "mc"
    return load_task_data(build_task(BuildTaskConfig(task="multichart", segments=(1, 3), n_train=0, n_test=4,
                                                     seed=0, options={"tile": "false"}, out=out), quiet=True))


def test_images_are_lazy_and_behave_as_the_tuple_they_stand_for(data):
    examples = list(data.examples("test"))
    ex = next(e for e in examples if e.num_segments == 3)
    assert isinstance(ex.images, LazyImages) and len(ex.images) == 3  # tile false: one image per chart
    eager = tuple(row["images"] for row in data.dataset("test") if row["id"] == ex.id)[0]
    decoded = list(ex.images)
    assert [img.mode for img in decoded] == ["RGB"] * 3
    assert [img.tobytes() for img in decoded] == [img.convert("RGB").tobytes() for img in eager]
    assert ex.images[-1].tobytes() == decoded[2].tobytes() and len(ex.images[1:]) == 2
    with pytest.raises(IndexError):
        ex.images[3]
    assert ex.images == tuple(decoded) and ex == next(e for e in data.examples("test") if e.id == ex.id)
    # copied through its reduce protocol, as pickling to a worker process does
    assert copy.deepcopy(ex).images[0].tobytes() == decoded[0].tobytes()


def test_with_segments_keeps_the_k_asked_for_and_notes_the_absent(data, capsys):
    examples = list(data.examples("test"))
    assert with_segments(examples, (), "x") == examples
    kept = with_segments(examples, (3, 8), "build: split 'test'")
    assert kept and all(e.num_segments == 3 for e in kept)
    assert "note: build: split 'test' has no example with K=[8]; using K=[3]" in capsys.readouterr().err
    with pytest.raises(SdbenchError, match=r"split 'test' has no example with K=\[2, 8\] \(it has K=\[1, 3\]\)"):
        with_segments(examples, (2, 8), "build: split 'test'")


def test_a_stored_image_that_does_not_decode_is_one_line_naming_the_build(tmp_path):
    import pyarrow as pa

    column = pa.chunked_array([[[{"bytes": b"\x89PNG not an image", "path": None}]]])
    images = LazyImages(column, 0, 1, tmp_path / "build", "test")
    with pytest.raises(SdbenchError, match=r"build/data/test: the image of example row 0 does not decode .*rebuild"):
        list(images)


# ---- the stored files are checked where the data is used -------------------------------------------------
def _copy_build(data, tmp_path):
    import shutil

    shutil.copytree(data.folder, tmp_path / "b")
    return tmp_path / "b"


def _score(folder, tmp_path, capsys, data):
    import json as _json

    from sdbench.cli import main

    preds = tmp_path / "p.jsonl"
    ex = next(data.examples("test"))  # read from the intact original
    preds.write_text(_json.dumps({"id": ex.id, "response": ex.holistic_reference}) + "\n")
    rc = main(["score", "--task", str(folder), "--predictions", str(preds), "--out", str(tmp_path / "s")])
    return rc, capsys.readouterr().err


def test_an_edited_reference_is_refused_by_score(data, tmp_path, capsys):
    folder = _copy_build(data, tmp_path)
    arrow = next((folder / "data" / "test").glob("*.arrow"))
    ex = next(load_task_data(folder).examples("test"))
    old = ex.segments[0].reference.encode()
    raw = arrow.read_bytes()
    assert old in raw
    arrow.write_bytes(raw.replace(old, b"X" * len(old), 1))  # same length: the Arrow file stays readable
    rc, err = _score(folder, tmp_path, capsys, data)
    assert rc == 2 and "changed (its hash differs) since the build was written" in err
    assert "Rebuild it with the same `sdbench build-task` command and --overwrite" in err
    assert not (tmp_path / "s" / "summary.json").exists()


@pytest.mark.parametrize("damage, message", [
    ("state.json", "missing since the build was written"),
    ("dataset_info.json", "missing since the build was written"),
    ("arrow", "bytes instead of"),
])
def test_a_missing_or_truncated_data_file_is_one_line(data, tmp_path, capsys, damage, message):
    folder = _copy_build(data, tmp_path)
    split = folder / "data" / "test"
    if damage == "arrow":
        arrow = next(split.glob("*.arrow"))
        arrow.write_bytes(arrow.read_bytes()[:100])
    else:
        (split / damage).unlink()
    rc, err = _score(folder, tmp_path, capsys, data)
    assert rc == 2 and message in err and "Traceback" not in err


def test_the_check_reads_only_the_splits_asked_for(data, tmp_path):
    folder = _copy_build(data, tmp_path)
    manifest = load_task_data(folder).manifest
    assert sorted(manifest["files"]) == sorted(["data/dataset_dict.json",  # for datasets.load_from_disk(data/)
                                                *(f"data/test/{p.name}" for p in (folder / "data" / "test").iterdir())])
    load_task_data(folder).check(["train"])  # the build has no train data: nothing to read
    (folder / "data" / "test" / "state.json").unlink()
    with pytest.raises(SdbenchError, match="state.json: missing"):
        load_task_data(folder).check(["test"])


def test_eval_and_train_check_the_split_they_read(data, tmp_path):
    from sdbench.data.task_data import load_split
    from sdbench.rl.run_setup import load_train_examples
    from sdbench.rl.train_config import TrainConfig

    folder = _copy_build(data, tmp_path)
    (folder / "data" / "test" / "dataset_info.json").write_text("{}")
    with pytest.raises(SdbenchError, match="dataset_info.json: .* since the build was written"):
        load_split(folder, "test", ())
    with pytest.raises(SdbenchError, match="the build has no train examples"):  # its train split is untouched
        load_train_examples(TrainConfig(task=folder, model="x", out=tmp_path / "r"))


def test_run_ids_must_be_plain_names(capsys):
    from sdbench.cli import main

    assert main(["eval", "--model", "m", "--task", "t", "--run-id", "../../x"]) == 2
    err = capsys.readouterr().err
    assert "--run-id '../../x': need a plain name" in err and "Traceback" not in err
