"""The MultiChartQA source of `multichart` on the 60 real questions in ../shared/real-samples/multichartqa
(read in place, never copied into the repository): segments in chart order, ids, both label versions,
the group-level split, determinism, and every bad-input case on broken copies in tmp_path.

    .venv/bin/python -m pytest tests/unit/test_multichartqa_source.py -q -p no:cacheprovider
"""

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from sdbench.core.errors import SdbenchError
from sdbench.core.types import Skip
from sdbench.data.build_task import BuildTaskConfig, build_task
from sdbench.data.source import SourceRequest
from sdbench.data.sources.multichartqa import ANNOTATION_FILE, multichartqa_source
from sdbench.data.task import load_task
from sdbench.data.task_data import load_task_data

ORDINAL = {1: "first", 2: "second", 3: "third"}
NEWER_LABELS = {"Comparative_Reasoning/Easy": "Comparative_Reasoning/Structure",
                "Comparative_Reasoning/Hard": "Comparative_Reasoning/Content",
                "Sequential_Reasoning": "Sequential_Reasoning/Content"}
SMALL_GROUPS = ("arxiv_0_2407.03173v1",  # 3 charts: group_55, parallel questions about charts (2, 1) and (1, 3)
                "pew_0_short-reads_2021_07_23_on-climate-change-republicans-are-open-to-some-policy-approaches-"
                "even-as-they-assign-the-issue-low-priority")  # 2 charts: group_200


@pytest.fixture(scope="module")
def data_dir(real_samples_dir) -> Path:
    path = real_samples_dir / "multichartqa" / "data"
    if not path.is_dir():
        pytest.skip(f"{path}: MultiChartQA sample absent")
    return path


@pytest.fixture(scope="module")
def records(data_dir) -> dict[str, dict]:
    """id -> the raw JSON record (+ its group), read independently of the source."""
    out = {}
    for f in sorted(data_dir.glob(f"*/{ANNOTATION_FILE}")):
        for rec in json.loads(f.read_text(encoding="utf-8")):
            out[rec["id"]] = {**rec, "group": f.parent.name}
    return out


def load(path: Path, seed=0, test_fraction=0.5, segments=(1, 2, 3), splits=("train", "test")):
    """{split: [Example | Skip]} straight from the source (no build, no PNG re-encoding)."""
    spec = load_task("multichart")
    return {split: list(multichartqa_source(SourceRequest(task=spec, split=split, n=-1, segments=segments, seed=seed,
                                                          path=path, options={"test_fraction": test_fraction})))
            for split in splits}


def examples_of(loaded) -> dict:
    return {item.id: item for items in loaded.values() for item in items if not isinstance(item, Skip)}


def skips_of(loaded) -> list[Skip]:
    return [item for items in loaded.values() for item in items if isinstance(item, Skip)]


@pytest.fixture(scope="module")
def real(data_dir):
    return load(data_dir)


@pytest.fixture(scope="module")
def by_id(real):
    return examples_of(real)


# ---- all 60 real questions ---------------------------------------------------------------------------------
def test_all_sixty_load_with_the_dataset_ids_and_k_counts(real, by_id, records):
    assert skips_of(real) == []
    assert len(records) == 60 and set(by_id) == set(records)
    expected_k = Counter(len(r["answer"].split("; ")) if r["task"].startswith("Parallel") else 1
                         for r in records.values())
    assert expected_k == {1: 35, 2: 24, 3: 1}
    assert Counter(ex.num_segments for ex in by_id.values()) == expected_k


def test_parallel_segments_are_the_sub_answers_in_chart_order(by_id, records):
    parallel = [r for r in records.values() if r["task"].startswith("Parallel_Questions")]
    assert len(parallel) == 25
    for rec in parallel:
        ex = by_id[rec["id"]]
        sub_answers = rec["answer"].split("; ")
        charts = [s.meta["chart_index"] for s in ex.segments]
        assert ex.meta["label_scheme"] == "chart", rec["id"]
        assert charts == sorted(charts) and len(set(charts)) == len(charts) and max(charts) <= len(rec["image"])
        assert sorted(s.meta["question_index"] for s in ex.segments) == list(range(len(sub_answers)))
        for seg in ex.segments:
            c = seg.meta["chart_index"]
            assert seg.label == f"Chart {c}:"
            assert seg.answer == seg.reference == sub_answers[seg.meta["question_index"]]
            assert f"{ORDINAL[c]} chart" in seg.meta["sub_question"] or f"{ORDINAL[c]} the chart" in \
                seg.meta["sub_question"], (rec["id"], seg.meta["sub_question"])
        assert ex.holistic_reference == "\n".join(f"{s.label} {s.answer}" for s in ex.segments)


@pytest.mark.parametrize("record_id, expected", [
    ("group_99_question_1", [("Chart 2:", "5", 1), ("Chart 3:", "25", 0)]),
    ("group_72_question_1", [("Chart 1:", "100", 0), ("Chart 2:", "0", 1), ("Chart 3:", "1", 2)]),
    ("group_33_question_1", [("Chart 2:", "B", 1), ("Chart 3:", "Mistral agreement", 0)]),
    ("group_156_question_1", [("Chart 1:", "Share of households with air conditioning, 2018", 1),
                              ("Chart 2:", "1970", 0)]),
    ("group_209_question_1", [("Chart 1:", "All legal permanent residents, Adjustments, New arrivals", 1),
                              ("Chart 3:", "3", 0)]),
])
def test_hand_checked_parallel_items(by_id, record_id, expected):
    ex = by_id[record_id]
    assert [(s.label, s.answer, s.meta["question_index"]) for s in ex.segments] == expected


def test_lettered_sub_questions_keep_their_options(by_id):
    chart3 = by_id["group_52_question_1"].segments[1]  # "1. What does the horizontal axis of the third chart …"
    assert chart3.label == "Chart 3:" and chart3.answer == "A" and chart3.meta["answer_type"] == "choice"
    assert chart3.meta["options"] == {"A": "Wavelength [â„«]", "B": "Arbitrary Flux", "C": "Time [s]",
                                      "D": "Frequency [Hz]"}
    chart2 = by_id["group_52_question_1"].segments[0]
    assert chart2.answer == "25" and chart2.meta["answer_type"] == "number" and "options" not in chart2.meta


def test_single_segment_items_keep_the_whole_answer(by_id, records):
    for rec in records.values():
        if rec["task"].startswith("Parallel"):
            continue
        (seg,) = by_id[rec["id"]].segments
        assert seg.answer == rec["answer"] and seg.meta["question_index"] == 0
        if rec["task"].startswith("Direct_Questions"):  # every Direct question here names exactly one chart
            assert seg.label == f"Chart {seg.meta['chart_index']}:"
            assert f"{ORDINAL[seg.meta['chart_index']]} chart" in seg.meta["sub_question"]
        else:
            assert seg.label == "Answer:" and seg.meta["chart_index"] is None
    mc = by_id["group_213_question_0"].segments[0]  # Direct, multiple-choice, about the second chart
    assert (mc.label, mc.answer, mc.meta["answer_type"]) == ("Chart 2:", "C", "choice")
    assert mc.meta["options"]["C"] == "Various potential outcomes of using facial recognition technology by police"
    seq = by_id["group_33_question_3"].segments[0]
    assert (seq.label, seq.answer, seq.meta["charts_named"]) == ("Answer:", "Fourth", [2, 3])


def test_meta_images_and_prompt(by_id, records, data_dir):
    from PIL import Image

    for rec in records.values():
        ex = by_id[rec["id"]]
        assert ex.meta["task_original"] == rec["task"]
        assert ex.meta["task"] == NEWER_LABELS.get(rec["task"], rec["task"])
        assert ex.meta["type"] == rec["type"] and ex.meta["official_answer"] == rec["answer"]
        assert ex.meta["question"] == rec["question"] and ex.meta["group"] == rec["group"]
        assert len(ex.images) == len(rec["image"]) == ex.meta["num_charts"]
        assert "<image>" not in ex.prompt and "The_answer_for_the_first_question" not in ex.prompt
        assert f"exactly {ex.num_segments} line(s)" in ex.prompt
        for seg in ex.segments:
            assert seg.label in ex.prompt and seg.meta["sub_question"] in ex.prompt
    ex, rec = by_id["group_200_question_1"], records["group_200_question_1"]
    for img, raw in zip(ex.images, rec["image"]):
        with Image.open(data_dir / Path(*raw.split("\\")[1:])) as png:
            assert img.tobytes() == png.convert("RGB").tobytes()


# ---- split, determinism, --segments ------------------------------------------------------------------------
def test_split_assigns_whole_groups_and_is_deterministic(real, data_dir):
    split_of_group = {}
    for split, items in real.items():
        for ex in items:
            assert split_of_group.setdefault(ex.meta["group"], split) == split, "a group was split"
    assert set(split_of_group.values()) == {"train", "test"}
    again = load(data_dir)
    assert {s: [(e.id, e.prompt, e.holistic_reference) for e in items] for s, items in real.items()} == \
        {s: [(e.id, e.prompt, e.holistic_reference) for e in items] for s, items in again.items()}
    assignments = {tuple(sorted({e.meta["group"] for e in load(data_dir, seed=seed, splits=("test",))["test"]}))
                   for seed in range(4)}
    assert len(assignments) > 1, "the seed changes which groups are held out"


def test_test_fraction_extremes(data_dir):
    everything = load(data_dir, test_fraction=1.0, segments=(2, 3))
    assert everything["train"] == [] and len(everything["test"]) == 25
    nothing = load(data_dir, test_fraction=0.0, segments=(2, 3))
    assert nothing["test"] == [] and len(nothing["train"]) == 25
    with pytest.raises(SdbenchError, match="test_fraction"):
        load(data_dir, test_fraction=1.5)


def test_segments_option_filters_by_k(data_dir):
    only_three = examples_of(load(data_dir, segments=(3,)))
    assert list(only_three) == ["group_72_question_1"]
    parallel = examples_of(load(data_dir, segments=(2, 3)))
    assert len(parallel) == 25 and all(ex.meta["task"].startswith("Parallel") for ex in parallel.values())


# ---- the newer upstream version --------------------------------------------------------------------------
def copy_groups(data_dir: Path, dest: Path, groups=SMALL_GROUPS) -> Path:
    for group in groups:
        shutil.copytree(data_dir / group, dest / group)
    return dest


def rewrite(dest: Path, group: str, change) -> None:
    path = dest / group / ANNOTATION_FILE
    records = json.loads(path.read_text(encoding="utf-8"))
    change(records)
    path.write_text(json.dumps(records), encoding="utf-8")


@pytest.mark.parametrize("drop", ["through 'Question:'", "only the <image> sentences"])
def test_newer_labels_and_questions_without_image_prefix_load_the_same(data_dir, tmp_path, drop):
    old = examples_of(load(copy_groups(data_dir, tmp_path / "old"), test_fraction=1.0))
    new_dir = copy_groups(data_dir, tmp_path / "new")

    def to_newer(records):
        for rec in records:
            rec["task"] = NEWER_LABELS.get(rec["task"], rec["task"])
            head, _, rest = rec["question"].partition("Question:")
            assert "<image>" in head
            rec["question"] = rest.lstrip(" ") if drop.startswith("through") else "Question:" + rest

    for group in SMALL_GROUPS:
        rewrite(new_dir, group, to_newer)
    new = examples_of(load(new_dir, test_fraction=1.0))
    assert len(old) == len(new) == 8 and set(old) == set(new)
    assert {r.meta["task_original"] for r in old.values()} & set(NEWER_LABELS)  # the copy did hold old labels
    for rid, ex in new.items():
        assert ex.meta["task"] == old[rid].meta["task"] == ex.meta["task_original"]
        assert [(s.label, s.answer, s.meta) for s in ex.segments] == \
            [(s.label, s.answer, s.meta) for s in old[rid].segments]
        assert ex.prompt == old[rid].prompt


# ---- label fallback ----------------------------------------------------------------------------------------
def test_sub_questions_that_do_not_name_one_chart_each_keep_question_order(data_dir, tmp_path):
    dest = copy_groups(data_dir, tmp_path / "d", SMALL_GROUPS[:1])

    def blur(records):  # group_55_question_1: "1. … in the second chart?" / "2. … of the first chart?"
        rec = next(r for r in records if r["id"] == "group_55_question_1")
        rec["question"] = rec["question"].replace("subplot of the first chart?", "subplot of the second chart?")
        rec2 = next(r for r in records if r["id"] == "group_55_question_2")
        rec2["question"] = rec2["question"].replace("in the first chart?", "in which chart?")

    rewrite(dest, SMALL_GROUPS[0], blur)
    got = examples_of(load(dest, test_fraction=1.0))
    for rid in ("group_55_question_1", "group_55_question_2"):
        ex = got[rid]
        assert ex.meta["label_scheme"] == "question"
        assert [s.label for s in ex.segments] == ["Question 1:", "Question 2:"]
        assert [s.answer for s in ex.segments] == ex.meta["official_answer"].split("; ")
        assert all(s.meta["chart_index"] is None for s in ex.segments)
        assert "Question 1: <answer to question 1>" in ex.prompt


# ---- bad input ---------------------------------------------------------------------------------------------
def test_missing_or_empty_folder_is_one_line_error(tmp_path):
    for path in (tmp_path / "absent", tmp_path):
        with pytest.raises(SdbenchError, match=ANNOTATION_FILE.replace(".", r"\.")):
            load(path)
    (tmp_path / "some_group").mkdir()
    with pytest.raises(SdbenchError, match="no MultiChartQA group found"):
        load(tmp_path)


def test_repository_root_layout_is_accepted(data_dir, tmp_path):
    copy_groups(data_dir, tmp_path / "data")
    assert len(examples_of(load(tmp_path, test_fraction=1.0))) == 8


def test_malformed_json_is_one_skip_per_group_file(data_dir, tmp_path):
    dest = copy_groups(data_dir, tmp_path / "d")
    (dest / SMALL_GROUPS[0] / ANNOTATION_FILE).write_text('[{"id": "group_55_question_0", ', encoding="utf-8")
    loaded = load(dest, test_fraction=1.0)
    skips = skips_of(loaded)
    assert [(s.record, s.reason) for s in skips] == [(f"{SMALL_GROUPS[0]}/{ANNOTATION_FILE}", "malformed JSON")]
    assert len(examples_of(loaded)) == 4
    (dest / SMALL_GROUPS[0] / ANNOTATION_FILE).write_text('{"not": "a list"}', encoding="utf-8")
    assert [s.reason for s in skips_of(load(dest, test_fraction=1.0))] == ["annotation file is not a list of records"]
    (dest / SMALL_GROUPS[0] / ANNOTATION_FILE).unlink()
    assert [s.reason for s in skips_of(load(dest, test_fraction=1.0))] == ["missing annotation file"]


def test_an_annotation_file_with_a_byte_order_mark_loads_whole(data_dir, tmp_path):
    dest = copy_groups(data_dir, tmp_path / "d")
    path = dest / SMALL_GROUPS[0] / ANNOTATION_FILE
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())  # as Windows editors save UTF-8
    loaded = load(dest, test_fraction=1.0)
    assert skips_of(loaded) == [] and len(examples_of(loaded)) == 8


@pytest.mark.parametrize("field", ["id", "image", "question", "answer", "task", "type"])
def test_a_record_missing_a_field_is_skipped_by_name(data_dir, tmp_path, field):
    dest = copy_groups(data_dir, tmp_path / "d")
    rewrite(dest, SMALL_GROUPS[1], lambda records: records[2].pop(field))
    loaded = load(dest, test_fraction=1.0)
    (skip,) = skips_of(loaded)
    assert skip.reason == f"missing field: {field}" and f"{SMALL_GROUPS[1]}/{ANNOTATION_FILE}[2]" in skip.record
    assert len(examples_of(loaded)) == 7


@pytest.mark.parametrize("change, reason", [
    (lambda r: r.update(task="Parallel_Questions/Other"), "unknown task label"),
    (lambda r: r.update(type="essay"), "bad field: type"),
    (lambda r: r.update(image="not a list"), "bad field: image"),
    (lambda r: r.update(answer="Some"), "sub-answer count differs from sub-question count"),
    (lambda r: r.update(question=r["question"].replace("The second chart is <image>. ", "")),
     "image count differs from question"),
])
def test_bad_records_are_counted_skips(data_dir, tmp_path, change, reason):
    dest = copy_groups(data_dir, tmp_path / "d")
    rewrite(dest, SMALL_GROUPS[1], lambda records: change(records[3]))  # group_200_question_3: parallel
    (skip,) = skips_of(load(dest, test_fraction=1.0))
    assert skip.reason == reason and "group_200_question_3" in skip.record


def test_image_missing_undecodable_or_escaping_is_skipped(data_dir, tmp_path):
    dest = copy_groups(data_dir, tmp_path / "d")
    pngs = sorted((dest / SMALL_GROUPS[0]).glob("*.png"))
    pngs[0].unlink()
    loaded = load(dest, test_fraction=1.0)
    assert Counter(s.reason for s in skips_of(loaded)) == {"image file not found": 4}  # the 4 records share it
    assert len(examples_of(loaded)) == 4

    dest = copy_groups(data_dir, tmp_path / "e")
    (dest / SMALL_GROUPS[0] / pngs[1].name).write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    assert Counter(s.reason for s in skips_of(load(dest, test_fraction=1.0))) == {"image does not decode": 4}

    dest = copy_groups(data_dir, tmp_path / "f")
    shutil.copy(pngs[1], tmp_path / "secret.png")  # a real PNG just outside the data folder
    rewrite(dest, SMALL_GROUPS[1], lambda records: records[0]["image"].__setitem__(
        0, "modified_local_full_qa\\..\\secret.png"))
    (skip,) = skips_of(load(dest, test_fraction=1.0))
    assert skip.reason == "image path escapes the data folder" and "group_200_question_0" in skip.record


def test_build_task_counts_skips_in_the_manifest_and_strict_fails(data_dir, tmp_path):
    dest = copy_groups(data_dir, tmp_path / "d")
    rewrite(dest, SMALL_GROUPS[1], lambda records: records[2].pop("answer"))
    cfg = dict(task="multichart", source="multichartqa", path=dest, segments=(1, 2), n_train=-1, n_test=-1,
               options={"test_fraction": "1.0"})
    # no verify=True: the empty train split trips datasets' load_from_disk (framework issue, reported)
    data = load_task_data(build_task(BuildTaskConfig(**cfg, out=tmp_path / "out"), quiet=True))
    test = data.manifest["splits"]["test"]
    assert test["count"] == 7 and test["skips"] == {"missing field: answer": 1}
    assert test["k_histogram"] == {"1": 3, "2": 4}
    with pytest.raises(SdbenchError, match="missing field: answer"):
        build_task(BuildTaskConfig(**cfg, out=tmp_path / "strict", strict=True), quiet=True)
    assert {ex.id for ex in data.examples("test")} == {f"group_{g}_question_{q}" for g in (55, 200)
                                                        for q in range(4)} - {"group_200_question_2"}
