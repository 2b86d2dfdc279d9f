"""The `mmsci` source of the `subfigure` task on format-faithful fixtures of both MMSci layouts, and bad input."""

import json
from pathlib import Path

import pytest

from sdbench.cli import main
from sdbench.core.errors import SdbenchError
from sdbench.data.build_task import BuildTaskConfig, build_task
from sdbench.data.sources.mmsci import canonical_caption, figure_title
from sdbench.data.task_data import load_task_data
from tests.fixtures.mmsci_fixture import (CAPTIONS, CATEGORY, EXPECTED_K, benchmark_record, png, write_article,
                                          write_benchmark_folder, write_benchmark_root, write_rawdata)

ALL_K = (1, 2, 3, 4)


def _build(path: Path, out: Path, segments=ALL_K, n_train=-1, n_test=-1, **options):
    cfg = BuildTaskConfig(task="subfigure", source="mmsci", path=path, segments=segments, n_train=n_train,
                          n_test=n_test, out=out, options={k: str(v) for k, v in options.items()})
    data = load_task_data(build_task(cfg, quiet=True))
    counts = {s: data.manifest["splits"][s]["count"] for s in ("train", "test")}
    if all(counts.values()):
        data.verify()  # (an empty split cannot be read back: see the report on task_data)
    return {s: {e.id: e for e in data.examples(s)} if counts[s] else {} for s in counts}, data.manifest


def _cli_error(capsys, *args) -> tuple[int, str]:
    """Run the CLI; return its exit status and its error line (progress-bar residue before it is ignored)."""
    rc = main(["build-task", "subfigure", "--source", "mmsci", *map(str, args)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert "sdbench build-task: error: " in last, err
    return rc, last[last.index("sdbench build-task: error: "):]


# ---- layout A: the benchmark ------------------------------------------------------------------------------
def test_benchmark_root_train_and_test(tmp_path):
    root = write_benchmark_root(tmp_path / "benchmark")
    examples, manifest = _build(root, tmp_path / "out")
    train, test = examples["train"], examples["test"]
    assert sorted(train) == sorted(f"ncomms{1000 + i}_figure_1" for i in range(len(CAPTIONS)))
    assert manifest["splits"]["train"]["skips"] == {"article also in dev/test": 1}  # the leaked article
    assert sorted(test) == ["ncomms3001_figure_1", "s41467-021-22317-8_figure_2", "s41467-024-46848-x_figure_4"]
    for i, name in enumerate(CAPTIONS):
        ex = train[f"ncomms{1000 + i}_figure_1"]
        assert ex.num_segments == EXPECTED_K[name], name
        assert ex.meta["caption"] == CAPTIONS[name]
        assert ex.holistic_reference == canonical_caption(ex.shared_context, ex.segments)
        assert ex.meta["uid"] == f"ncomms{1000 + i}" and ex.meta["category"] == CATEGORY
        assert ex.images[0].size == (40, 30)
    # the test captions come from the _w_answer file, not the anonymized one
    assert test["s41467-021-22317-8_figure_2"].meta["caption"] == CAPTIONS["two"]


def test_segments_of_each_caption_case(tmp_path):
    examples, _ = _build(write_benchmark_root(tmp_path / "b"), tmp_path / "out")
    train = examples["train"]
    two = train["ncomms1000_figure_1"]
    assert two.shared_context == "Angle-dependent magnetoresistance of thin flakes."
    assert [s.label for s in two.segments] == ["(a)", "(b)"]
    assert two.segments[1].reference.startswith("The same measurement for sample 2")
    assert "labelled (a), (b)" in two.prompt
    three = train["ncomms1001_figure_1"]  # "(b)" at the end of (c)'s sentence does not split
    assert three.segments[2].reference.endswith("simulated from the structure in (b).")
    none = train["ncomms1003_figure_1"]  # no marker: one segment "(a)" = the whole caption
    assert none.shared_context is None and [s.label for s in none.segments] == ["(a)"]
    assert none.segments[0].reference == CAPTIONS["none"] and none.meta["marker_style"] == "none"
    combined = train["ncomms1004_figure_1"]  # "(a,b)": one text for both panels
    assert [s.label for s in combined.segments] == ["(a)", "(b)", "(c)"]
    assert combined.segments[0].reference == combined.segments[1].reference
    assert combined.segments[0].meta == {"shared_with": ["a", "b"]} and combined.segments[2].meta == {}
    assert combined.meta["combined"] == [["a", "b"]]
    gap = train["ncomms1005_figure_1"]  # "(a) … (c)": letters kept as found
    assert [s.label for s in gap.segments] == ["(a)", "(c)"] and gap.meta["missing_letters"] == ["b"]
    assert "labelled (a), (c)" in gap.prompt


def test_options_test_split_dev_abstract_and_skip_missing_letters(tmp_path):
    root = write_benchmark_root(tmp_path / "b")
    examples, manifest = _build(root, tmp_path / "o1", test_split="dev", with_abstract=True,
                                skip_missing_letters=True)
    assert sorted(examples["test"]) == ["ncomms2001_figure_0", "ncomms2002_figure_3"]
    assert manifest["splits"]["train"]["skips"] == {"article also in dev/test": 1,
                                                     "non-consecutive subfigure markers": 1}
    ex = examples["test"]["ncomms2001_figure_0"]
    assert ex.prompt.startswith("Article abstract: Abstract of article ncomms2001") and "labelled (a)" in ex.prompt


def test_k_filter_and_min_caption_words_are_counted(tmp_path):
    root = write_benchmark_root(tmp_path / "b")
    examples, manifest = _build(root, tmp_path / "o", segments=(2, 3), n_test=0, min_caption_words=12)
    assert {e.num_segments for e in examples["train"].values()} <= {2, 3}
    skips = manifest["splits"]["train"]["skips"]
    assert skips["K=4 not in --segments"] == 1
    assert skips["caption shorter than 12 words"] == 1  # the one-sentence K = 1 caption


def test_lenient_markers_option(tmp_path):
    folder = write_benchmark_folder(tmp_path / "dev", [
        benchmark_record("ncomms5000", 1, "Device overview. (A) Optical image. (B) Transfer curve."),
        benchmark_record("ncomms5001", 1, "Set-up. a) Laser path. b) Detector.")])
    strict, strict_manifest = _build(folder, tmp_path / "o1", segments=(1,), n_test=0, test_fraction=0.00001,
                                     uppercase_markers=False)
    default, _ = _build(folder, tmp_path / "o3", segments=(1, 2), n_test=0, test_fraction=0.00001)
    lenient, _ = _build(folder, tmp_path / "o2", segments=(2,), n_test=0, test_fraction=0.00001, lenient_markers=True)
    # the official rule alone: "(A) …" stays one subfigure whose text holds "(A)", which a model's "(A)" label
    # would cut, so its reference cannot read back into its segment: skipped and counted, not built wrong
    assert list(strict["train"]) == ["ncomms5001_figure_1"] and strict["train"]["ncomms5001_figure_1"].num_segments == 1
    assert strict_manifest["splits"]["train"]["skips"] == {"reference does not read back into its segments": 1}
    # "(A)", "(B)" split by default (uppercase_markers); "a)", "b)" only with lenient_markers
    assert {i: e.num_segments for i, e in default["train"].items()} == {"ncomms5000_figure_1": 2,
                                                                        "ncomms5001_figure_1": 1}
    assert [s.reference for s in default["train"]["ncomms5000_figure_1"].segments] == ["Optical image.",
                                                                                       "Transfer curve."]
    assert len(lenient["train"]) == 2 and all(e.num_segments == 2 for e in lenient["train"].values())
    assert [s.reference for s in lenient["train"]["ncomms5001_figure_1"].segments] == ["Laser path.", "Detector."]


def test_single_split_folder_is_split_by_article_hash(tmp_path):
    records = [benchmark_record(f"ncomms{7000 + i}", i % 3, CAPTIONS["two"]) for i in range(40)]
    folder = write_benchmark_folder(tmp_path / "dev", records)
    examples, _ = _build(folder, tmp_path / "o", segments=(2,), test_fraction=0.25)
    train, test = set(examples["train"]), set(examples["test"])
    assert train | test == {f"ncomms{7000 + i}_figure_{i % 3}" for i in range(40)} and not train & test
    assert 3 <= len(test) <= 18
    again, _ = _build(folder, tmp_path / "o2", segments=(2,), test_fraction=0.25)
    assert set(again["test"]) == test


def test_anonymized_test_without_answer_file_is_an_error(tmp_path, capsys):
    root = write_benchmark_root(tmp_path / "b", with_answer=False)
    with pytest.raises(SdbenchError, match="image_caption_generation_data_w_answer.json"):
        _build(root, tmp_path / "o")
    rc, err = _cli_error(capsys, "--path", root, "--segments", "1,2,3,4", "--out", tmp_path / "o2")
    assert rc == 2 and "anonymizes" in err
    # … and building test from dev works
    examples, _ = _build(root, tmp_path / "o3", test_split="dev")
    assert len(examples["test"]) == 2


def test_benchmark_root_with_only_some_splits_builds_what_it_has(tmp_path, capsys):
    import shutil

    root = write_benchmark_root(tmp_path / "b")
    shutil.rmtree(root / "train")
    examples, manifest = _build(root, tmp_path / "o", segments=(1, 2, 3))
    assert examples["train"] == {} and len(examples["test"]) == 3
    assert manifest["splits"]["train"]["notes"] == ["this benchmark root has dev/, test/ but no train/: the train "
                                                    "split is empty"]
    shutil.rmtree(root / "test")  # only the official dev split: the test split comes from it, and the CLI says so
    assert main(["build-task", "subfigure", "--source", "mmsci", "--path", str(root), "--out", str(tmp_path / "o2")]) == 0
    err = capsys.readouterr().err
    assert "test: this benchmark root has dev/ but no test/: the test split is built from dev/" in err
    assert "no --segments given, so every K the data has was built (K=3: 1, K=4: 1)" in err
    data = load_task_data(tmp_path / "o2")
    assert sorted(ex.id for ex in data.examples("test")) == ["ncomms2001_figure_0", "ncomms2002_figure_3"]
    assert data.manifest["splits"]["train"]["count"] == 0


# ---- bad input, layout A ------------------------------------------------------------------------------------
def test_folder_in_neither_layout(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SdbenchError, match="no image_caption_generation_data.json and no article folders"):
        _build(tmp_path / "empty", tmp_path / "o")
    rc, err = _cli_error(capsys, "--path", tmp_path / "empty", "--out", tmp_path / "o2")
    assert rc == 2 and "image_caption_generation_data.json" in err


@pytest.mark.parametrize("content, message", [("[{\"uid\": 1,,]", "malformed JSON \\(line 1\\)"),
                                              ("{\"uid\": \"x\"}", "expected a JSON list of records")])
def test_malformed_benchmark_json(tmp_path, capsys, content, message):
    folder = tmp_path / "dev"
    folder.mkdir()
    (folder / "image_caption_generation_data.json").write_text(content)
    with pytest.raises(SdbenchError, match=message):
        _build(folder, tmp_path / "o")
    rc, err = _cli_error(capsys, "--path", folder, "--out", tmp_path / "o2")
    assert rc == 2 and len(err.splitlines()) == 1


def test_bad_records_are_counted_skips(tmp_path, capsys):
    good = [benchmark_record(f"ncomms{8000 + i}", 1, CAPTIONS["two"]) for i in range(3)]
    bad = [
        "not an object",
        {**benchmark_record("ncomms8100", 1, ""), "caption": None},
        {k: v for k, v in benchmark_record("ncomms8101", 1, CAPTIONS["two"]).items() if k != "image"},
        benchmark_record("ncomms8102", 1, "   "),
        {**benchmark_record("ncomms8103", 1, CAPTIONS["two"]), "image": "../../escape_figure_1.png"},
        benchmark_record("ncomms8104", 1, CAPTIONS["two"]),  # image file deleted below
        benchmark_record("ncomms8105", 1, CAPTIONS["two"]),  # image file corrupted below
        benchmark_record("ncomms8000", 1, CAPTIONS["two"]),  # same figure as good[0]
        {**benchmark_record("ncomms8106", 1, CAPTIONS["two"]), "caption": 42},
    ]
    folder = write_benchmark_folder(tmp_path / "dev", good + bad)
    (folder / "images" / "ncomms8104_figure_1.png").unlink()
    (folder / "images" / "ncomms8105_figure_1.png").write_bytes(b"not a png")
    examples, manifest = _build(folder, tmp_path / "o", segments=(2,), n_test=0, test_fraction=0.0001)
    assert sorted(examples["train"]) == ["ncomms8000_figure_1", "ncomms8001_figure_1", "ncomms8002_figure_1"]
    assert manifest["splits"]["train"]["skips"] == {
        "record is not an object": 1, "missing field: caption": 1, "missing field: image": 1,
        "empty caption": 1, "image: path escapes the data folder": 1, "image: file not found": 1,
        "image: image does not decode": 1, "duplicate figure (same image listed twice)": 1, "bad field: caption": 1}
    records = {s["reason"]: s["record"] for s in manifest["splits"]["train"]["skipped_records"]}
    assert records["missing field: caption"] == "image_caption_generation_data.json[4]"
    assert records["image: file not found"] == "image_caption_generation_data.json[8] (images/ncomms8104_figure_1.png)"
    # --strict turns the first bad record into a one-line error
    rc, err = _cli_error(capsys, "--path", folder, "--segments", "2", "--n-test", "0", "--strict",
                         "--options", "test_fraction", "0.0001", "--out", tmp_path / "o2")
    assert rc == 2 and "record is not an object" in err


# ---- layout B: raw per-article folders --------------------------------------------------------------------
def test_raw_layout_with_official_split_files(tmp_path):
    root = tmp_path / "rawdata"
    write_rawdata(root)
    examples, manifest = _build(root, tmp_path / "o", segments=(1, 2, 3))
    train, test = examples["train"], examples["test"]
    assert sorted(test) == ["ncomms3001_figure_0", "s41467-021-22317-8_figure_0"]
    assert sorted(train) == ["ncomms1000_figure_0", "ncomms1000_figure_1", "ncomms1001_figure_0",
                             "ncomms1002_figure_0"]
    assert manifest["splits"]["train"]["skips"] == {"article also in dev/test": 1}
    ex = train["ncomms1000_figure_0"]  # caption = title without "Figure 1:" + description
    assert ex.meta["caption"] == CAPTIONS["two"]
    assert ex.shared_context == "Angle-dependent magnetoresistance of thin flakes."
    assert ex.meta["layout"] == "raw" and ex.meta["subject"] == "Materials science"
    assert train["ncomms1000_figure_1"].num_segments == 1
    assert test["ncomms3001_figure_0"].num_segments == 3


def test_raw_layout_without_split_files_uses_an_article_hash(tmp_path):
    root = tmp_path / "rawdata"
    write_rawdata(root, with_split_files=False)
    examples, manifest = _build(root, tmp_path / "o", segments=(1, 2, 3, 4), test_fraction=0.5)
    train, test = set(examples["train"]), set(examples["test"])
    uids = lambda ids: {i.rsplit("_figure_", 1)[0] for i in ids}  # noqa: E731
    assert not uids(train) & uids(test)
    assert uids(train) | uids(test) == {"ncomms1000", "ncomms1001", "ncomms1002", "ncomms2001", "ncomms3001",
                                        "s41467-021-22317-8"}
    skips = {**manifest["splits"]["train"]["skips"], **manifest["splits"]["test"]["skips"]}
    assert skips == {"duplicate article (listed under several subjects)": 1}


def test_raw_layout_prefers_the_processed_json(tmp_path):
    root = tmp_path / "raw"
    folder = write_article(root, CATEGORY, "Physics", "ncomms9000", [("Figure 1: Old title.", "(a) x. (b) y.")])
    processed = json.loads((folder / "ncomms9000_data.json").read_text())
    processed["images"][0]["description"] = "(a) Clean x. (b) Clean y. (c) Clean z."
    (folder / "ncomms9000_processed_data.json").write_text(json.dumps(processed))
    examples, _ = _build(root, tmp_path / "o", segments=(3,), test_fraction=0.99999, n_train=0)
    assert [s.reference for s in examples["test"]["ncomms9000_figure_0"].segments] == ["Clean x.", "Clean y.",
                                                                                        "Clean z."]


def test_raw_bad_articles_are_counted_skips(tmp_path):
    root = tmp_path / "raw"
    write_article(root, CATEGORY, "Physics", "ncomms9100", [("Figure 1: T.", "(a) x. (b) y.")])  # good
    write_article(root, CATEGORY, "Physics", "ncomms9101", [("Figure 1: T.", "(a) x. (b) y.")])
    (root / CATEGORY / "Physics" / "ncomms9101" / "ncomms9101_data.json").write_text("{ broken")
    (root / CATEGORY / "Physics" / "ncomms9102").mkdir(parents=True)  # no JSON at all
    folder = write_article(root, CATEGORY, "Physics", "ncomms9103", [("Figure 1: T.", "(a) x. (b) y.")])
    data = json.loads((folder / "ncomms9103_data.json").read_text())
    data["images"] = [{"image_filename": "figure_0.png", "description": "(a) x. (b) y."},  # no caption
                      {"image_filename": "../../../../outside.png", "caption": "Figure 2: T.",
                       "description": "(a) x. (b) y."},
                      {"image_filename": "figure_9.png", "caption": "Figure 3: T.", "description": "(a) x. (b) y."},
                      7]
    (folder / "ncomms9103_data.json").write_text(json.dumps(data))
    folder = write_article(root, CATEGORY, "Physics", "ncomms9104", [("Figure 1: T.", "(a) x. (b) y.")])
    (folder / "ncomms9104_data.json").write_text(json.dumps({"title": "no images field"}))
    png(root / CATEGORY / "outside.png")
    examples, manifest = _build(root, tmp_path / "o", segments=(2,), test_fraction=0.99999, n_train=0)
    assert list(examples["test"]) == ["ncomms9100_figure_0"]
    assert manifest["splits"]["test"]["skips"] == {
        "article JSON: malformed JSON": 1, "article JSON: file not found": 1, "missing field: caption": 1,
        "image: path escapes the data folder": 1, "image: file not found": 1, "image entry is not an object": 1,
        "missing field: images": 1}


@pytest.mark.parametrize("content, message", [("{ nope", "malformed JSON"),
                                              ('{"Physical sciences": ["x"]}', "expected \\{category")])
def test_malformed_split_file_is_an_error(tmp_path, capsys, content, message):
    root = tmp_path / "rawdata"
    write_rawdata(root)
    (root / "test_split_ids.json").write_text(content)
    with pytest.raises(SdbenchError, match=message):
        _build(root, tmp_path / "o", segments=(1, 2, 3))
    rc, err = _cli_error(capsys, "--path", root, "--segments", "1,2,3", "--out", tmp_path / "o2")
    assert rc == 2 and "test_split_ids.json" in err


def test_split_files_without_the_test_one_fall_back_to_dev(tmp_path):
    root = tmp_path / "rawdata"
    write_rawdata(root)
    (root / "test_split_ids.json").unlink()
    examples, manifest = _build(root, tmp_path / "o", segments=(1, 2, 3, 4))
    assert list(examples["test"]) == ["ncomms2001_figure_0"]
    assert manifest["splits"]["test"]["notes"] == ["no test_split_ids.json at the root: the test split is the "
                                                   "articles of dev_split_ids.json"]
    (root / "dev_split_ids.json").unlink()
    with pytest.raises(SdbenchError, match="neither test_split_ids.json nor dev_split_ids.json"):
        _build(root, tmp_path / "o2", segments=(1, 2, 3))


def test_bad_option_values(tmp_path):
    root = write_benchmark_root(tmp_path / "b")
    with pytest.raises(SdbenchError, match="test_split: must be 'test' or 'dev'"):
        _build(root, tmp_path / "o", test_split="val")
    with pytest.raises(SdbenchError, match="test_fraction: must be in"):
        _build(root, tmp_path / "o", test_fraction=1.5)


def test_figure_title_strips_only_the_figure_prefix():
    assert figure_title("Figure 3: Setup: overview.") == "Setup: overview."
    assert figure_title("Fig. 2. Growth.") == "Growth."
    assert figure_title("No prefix here") == "No prefix here"


def test_raw_title_without_full_stop_is_still_shared_context(tmp_path):
    """The rule reads the description alone (as MMSci's builder does), so "(a)" at its start is a marker."""
    root = tmp_path / "raw"
    write_article(root, CATEGORY, "Physics", "ncomms9200", [("Figure 1: Device characteristics",
                                                            "(a) Micrograph. (b) Transfer curves.")])
    examples, _ = _build(root, tmp_path / "o", segments=(2,), test_fraction=0.99999, n_train=0)
    ex = examples["test"]["ncomms9200_figure_0"]
    assert ex.shared_context == "Device characteristics"
    assert [s.reference for s in ex.segments] == ["Micrograph.", "Transfer curves."]
    assert ex.meta["caption"] == "Device characteristics (a) Micrograph. (b) Transfer curves."
    assert ex.holistic_reference == "Device characteristics\n(a) Micrograph.\n(b) Transfer curves."
