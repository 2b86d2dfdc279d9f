"""The DOCCI source of `multipanel` on a format-faithful fixture (tests/fixtures/docci_fixture.py): K-panel
tiling, references in panel order, splits, and every bad-input case through build-task and the CLI.

    .venv/bin/python -m pytest tests/unit/test_docci_source.py -q -p no:cacheprovider
"""

import json
from pathlib import Path

import pytest

from sdbench.cli import main as cli_main
from sdbench.core.errors import SdbenchError
from sdbench.data.build_task import BuildTaskConfig, build_task
from sdbench.data.sources.panel_renderer import LETTERBOX_RGB, tile_layout
from sdbench.data.task_data import load_task_data
from tests.fixtures.docci_fixture import LARGE_IMAGE_ID, colour_of, write_descriptions, write_docci_fixture

PANEL = 64


@pytest.fixture
def docci(tmp_path) -> tuple[Path, list[dict]]:
    root = tmp_path / "docci"
    return root, write_docci_fixture(root)


def build(root: Path, out: Path, segments=(1, 2, 4, 8), n_train=6, n_test=3, **options):
    opts = {"panel_size": str(PANEL), **{k: str(v) for k, v in options.items()}}
    return load_task_data(build_task(BuildTaskConfig(task="multipanel", source="docci", path=root, segments=segments,
                                                     n_train=n_train, n_test=n_test, out=out, options=opts),
                                     quiet=True))


def close(a, b, tol=12) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b))


def test_k_panels_tiled_with_references_in_panel_order(docci, tmp_path):
    root, records = docci
    by_id = {r["example_id"]: r for r in records}
    data = build(root, tmp_path / "out")
    for split, n in (("train", 6), ("test", 3)):
        examples = list(data.examples(split))
        assert [e.id for e in examples] == [f"docci-{split}-{i:06d}" for i in range(n)]
        assert [e.num_segments for e in examples] == [(1, 2, 4, 8)[i % 4] for i in range(n)]
        for ex in examples:
            ids = ex.meta["docci_ids"]
            assert ex.meta["docci_split"] == split
            assert len(set(ids)) == ex.num_segments, "panels of one example are drawn without replacement"
            assert all(by_id[i]["split"] == split for i in ids)
            lay = tile_layout(ex.num_segments, PANEL)
            assert ex.images[0].size == (lay.width, lay.height)
            for j, (seg, docci_id) in enumerate(zip(ex.segments, ids)):
                assert seg.meta["docci_id"] == docci_id
                assert seg.reference == " ".join(by_id[docci_id]["description"].split())
                assert seg.label == f"Panel {j + 1}:" and not seg.facts
                x, y = lay.panel_origin(j)
                assert close(ex.images[0].getpixel((x + PANEL // 2, y + PANEL // 2)), colour_of(docci_id, records))
            assert ex.holistic_reference.split("\n") == [f"{s.label} {s.reference}" for s in ex.segments]
            assert "photograph" in ex.prompt and all(s.label in ex.prompt for s in ex.segments)
    assert data.manifest["source"]["files_read"] > 1 and data.manifest["splits"]["train"]["num_skipped"] == 0


def test_photos_are_letterboxed_to_the_panel_size(docci, tmp_path):
    root, records = docci
    data = build(root, tmp_path / "out", segments=(8,), n_train=1, n_test=0)  # K=8 of 8 train records: all
    ex = next(data.examples("train"))
    assert sorted(ex.meta["docci_ids"]) == sorted(r["example_id"] for r in records if r["split"] == "train")
    lay = tile_layout(8, PANEL)
    j = ex.meta["docci_ids"].index(LARGE_IMAGE_ID)  # 1600x1200 -> 64x48, gray bars above and below
    x, y = lay.panel_origin(j)
    assert close(ex.images[0].getpixel((x + PANEL // 2, y + 2)), LETTERBOX_RGB, tol=0)
    assert close(ex.images[0].getpixel((x + PANEL // 2, y + PANEL // 2)), colour_of(LARGE_IMAGE_ID, records))


def test_same_seed_same_bytes_other_seed_other_draws(docci, tmp_path):
    root, _ = docci
    a, b = build(root, tmp_path / "a"), build(root, tmp_path / "b")
    assert a.manifest["content_hash"] == b.manifest["content_hash"]
    assert a.manifest["source"]["hash"] == b.manifest["source"]["hash"]
    c = load_task_data(build_task(BuildTaskConfig(task="multipanel", source="docci", path=root, n_train=6, n_test=3,
                                                  seed=1, out=tmp_path / "c", options={"panel_size": str(PANEL)}),
                                  quiet=True))
    assert [e.meta["docci_ids"] for e in c.examples("train")] != [e.meta["docci_ids"] for e in a.examples("train")]


def test_docci_split_option_reads_qual_dev_and_rejects_unknown_names(docci, tmp_path):
    root, _ = docci
    data = build(root, tmp_path / "q", segments=(1, 2), n_train=4, n_test=0, docci_split="qual_dev")
    ids = [i for e in data.examples("train") for i in e.meta["docci_ids"]]
    assert ids and all(i.startswith("qual_dev_") for i in ids)
    with pytest.raises(SdbenchError, match="qual_val.*valid: train, test, qual_dev, qual_test"):
        build(root, tmp_path / "x", docci_split="qual_val")


def test_all_records_means_about_one_use_per_record(docci, tmp_path):
    root, _ = docci
    data = build(root, tmp_path / "all", segments=(1, 2), n_train=-1, n_test=-1)
    assert data.manifest["splits"]["train"]["count"] == round(8 * 2 / 3)


# ---- bad input ------------------------------------------------------------------------------------------
def lines_of(records):
    return [json.dumps(r) for r in records]


def test_malformed_line_and_missing_field_are_counted_skips(docci, tmp_path):
    root, records = docci
    lines = lines_of(records)
    lines[1] = lines[1][:-5]                                           # train_00001: cut mid-record
    bad = dict(records[9])
    del bad["description"]                                             # test_00001
    lines[9] = json.dumps(bad)
    lines.append('["not", "an", "object"]')
    write_descriptions(root, lines)
    data = build(root, tmp_path / "out", segments=(1, 2, 4), n_train=6, n_test=3)
    train, test = data.manifest["splits"]["train"], data.manifest["splits"]["test"]
    assert train["skips"] == {"malformed JSON line": 2}
    assert {"record": "docci_descriptions.jsonlines:2", "reason": "malformed JSON line"} in train["skipped_records"]
    assert test["skips"] == {"malformed JSON line": 2, "missing field: description": 1}
    missing = {"record": "docci_descriptions.jsonlines:10", "reason": "missing field: description"}
    assert missing in test["skipped_records"]
    used = {i for e in data.examples("train") for i in e.meta["docci_ids"]}
    assert "train_00001" not in used and train["count"] == 6


def test_a_byte_order_mark_does_not_lose_the_first_record(docci, tmp_path):
    root, records = docci
    path = root / "docci_descriptions.jsonlines"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    data = build(root, tmp_path / "out", segments=(1,), n_train=-1, n_test=0)
    assert data.manifest["splits"]["train"]["skips"] == {}
    assert "train_00000" in {i for e in data.examples("train") for i in e.meta["docci_ids"]}


@pytest.mark.parametrize("damage,reason", [
    ("delete", "image file not found"),
    ("corrupt", "image does not decode"),
    ("escape", "image path escapes images/"),
])
def test_unusable_image_skips_that_record_once_and_draws_another(docci, tmp_path, damage, reason):
    root, records = docci
    victim = records[2]                                                # train_00002
    if damage == "delete":
        (root / "images" / victim["image_file"]).unlink()
    elif damage == "corrupt":
        (root / "images" / victim["image_file"]).write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg" * 10)
    else:
        (root / "x.jpg").write_bytes((root / "images" / victim["image_file"]).read_bytes())  # readable if followed
        lines = lines_of(records)
        lines[2] = json.dumps({**victim, "image_file": "../x.jpg"})
        write_descriptions(root, lines)
    # K=4 from 8 train records, 10 examples: train_00002 is drawn (fixed seed), fails, and is never used
    data = build(root, tmp_path / "out", segments=(4,), n_train=10, n_test=0)
    train = data.manifest["splits"]["train"]
    assert train["skips"] == {reason: 1}
    assert train["skipped_records"] == [{"record": "docci_descriptions.jsonlines:3", "reason": reason}]
    examples = list(data.examples("train"))
    assert len(examples) == 10 and all(e.num_segments == 4 for e in examples)
    assert all(victim["example_id"] not in e.meta["docci_ids"] for e in examples)
    with pytest.raises(SdbenchError, match=reason.replace("/", ".")):
        build_task(BuildTaskConfig(task="multipanel", source="docci", path=root, segments=(4,), n_train=10,
                                   n_test=0, out=tmp_path / "strict", strict=True, options={"panel_size": "64"}),
                   quiet=True)


def test_missing_descriptions_file_is_an_error_naming_path_and_layout(docci, tmp_path, capsys):
    root, _ = docci
    (root / "docci_descriptions.jsonlines").unlink()
    with pytest.raises(SdbenchError) as err:
        build(root, tmp_path / "out")
    msg = str(err.value)
    assert str(root / "docci_descriptions.jsonlines") in msg and "images/<image_file>" in msg and "\n" not in msg
    rc = cli_main(["build-task", "multipanel", "--source", "docci", "--path", str(root), "--out", str(tmp_path / "c")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and "docci_descriptions.jsonlines: not found" in lines[0]


def test_too_few_records_for_k_says_how_many_the_split_has(docci, tmp_path, capsys):
    root, _ = docci
    with pytest.raises(SdbenchError, match=r"split 'train' has 8 usable record\(s\); K=16 needs at least 16"):
        build(root, tmp_path / "out", segments=(1, 16))
    rc = cli_main(["build-task", "multipanel", "--source", "docci", "--path", str(root), "--segments", "1,4",
                   "--n-train", "2", "--n-test", "0", "--options", "docci_split", "qual_test", "--out",
                   str(tmp_path / "cli")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and "split 'qual_test' has 2 usable record(s); K=4" in lines[0]


def test_bad_images_leaving_too_few_records_is_an_error(docci, tmp_path):
    root, records = docci
    (root / "images" / "qual_dev_00000.jpg").unlink()
    with pytest.raises(SdbenchError, match="split 'qual_dev' has 2 record.*1 have an unusable image "
                                           r"\(most often: image file not found\); K=2"):
        build(root, tmp_path / "out", segments=(2,), n_train=1, n_test=0, docci_split="qual_dev")
