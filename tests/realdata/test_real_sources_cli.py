"""Every real source end to end, through the commands a user runs: build-task -> score (both splits) -> eval -> train.

Sources and data:
  multichart / multichartqa   the 60 real MultiChartQA questions of ../shared/real-samples (copied to tmp_path,
                              one group rewritten so its parallel questions fall back to "Question j:" labels):
                              single-answer ("Answer:", "Chart c:") and parallel questions, 2 and 3 charts each
  multipanel / docci          the format-faithful DOCCI miniature of tests/fixtures/docci_fixture.py
  subfigure / mmsci           the MMSci benchmark root of tests/fixtures/mmsci_fixture.py: captions with and without
                              markers, combined "(a,b)", "(A)" markers, a title without full stop, "(i)" lists

Each build is made with no --segments (a real source then builds every K its data has), scored with its own
references as predictions (every segment at the top of the scale) and with empty predictions (the bottom), on
both splits in one call; then `sdbench eval` on 3 test examples and 2 steps of `sdbench train --method sd-grpo`,
with a small random-weight Qwen2.5-VL built like the embedded default (its builder, its processor settings;
smaller, since the embedded default takes minutes to build).

    .venv/bin/python -m pytest tests/realdata -q
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest

from sdbench.cli import main
from sdbench.data.task_data import load_task_data
from sdbench.models.tiny_vlm import VisionTower, build_tiny_vlm, corpus_texts, train_tokenizer
from sdbench.rewards.text_tokenizer import ptb_tokenize
from tests.fixtures.docci_fixture import write_docci_fixture
from tests.fixtures.mmsci_fixture import write_benchmark_root

GROUP_55 = "arxiv_0_2407.03173v1"


def _multichartqa(tmp: Path, real_samples_dir: Path) -> Path:
    data = real_samples_dir / "multichartqa" / "data"
    if not data.is_dir():
        pytest.skip(f"{data}: MultiChartQA sample absent")
    root = tmp / "mcqa"
    shutil.copytree(data, root)
    path = root / GROUP_55 / "chart-path_and_question-answer_pair.json"
    records = json.loads(path.read_text(encoding="utf-8"))
    for rec in records:  # "… in which chart?": the sub-questions no longer name one chart each
        if rec["id"] == "group_55_question_2":
            rec["question"] = rec["question"].replace("in the first chart?", "in which chart?")
    path.write_text(json.dumps(records), encoding="utf-8")
    return root


SOURCES = {  # source -> (task, data writer, examples per split (-1: all), expected K of the whole build)
    "multichartqa": ("multichart", _multichartqa, -1, {1: 35, 2: 24, 3: 1}),
    # DOCCI photos are tiled into K panels: K is a choice (default 1, 2, 4, 8), 4 examples per split cycle it
    "docci": ("multipanel", lambda tmp, _: (write_docci_fixture(tmp / "docci"), tmp / "docci")[1], 4,
              {1: 2, 2: 2, 4: 2, 8: 2}),
    "mmsci": ("subfigure", lambda tmp, _: write_benchmark_root(tmp / "mmsci"), -1, None),
}
TOP = {"chart_answer": 1.0, "multichartqa_official": 1.0, "cider_d": 10.0, "rouge_l": 1.0, "bleu_4": 1.0,
       "embedding_similarity": 1.0}
CAPTION_METRICS = "cider_d,rouge_l,bleu_4,embedding_similarity,whole_cider_d"  # METEOR: Java, slow; tested elsewhere


def _top(metric: str, reference: str) -> float | None:
    """The best score of `metric`: a reference scored as its own prediction. CIDEr-D's is 10 x the share of the
    orders n = 1..4 that have n-grams, so a reference of w < 4 PTB tokens tops out at 10 w / 4 ("Reaction
    scheme." -> 5); BLEU-4 has no top below 4 tokens (None: not checked)."""
    words = len(ptb_tokenize(reference).split())
    if metric == "cider_d":
        return 10.0 * min(words, 4) / 4
    if metric == "bleu_4" and words < 4:
        return None
    return TOP[metric]


def _run(*argv) -> tuple[str, str]:
    """Run the CLI in-process; it must exit 0 and print no traceback. Returns (stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in argv])
    assert rc == 0, err.getvalue()
    assert "Traceback" not in err.getvalue()
    return out.getvalue(), err.getvalue()


def _predictions(path: Path, build: Path, response) -> Path:
    data = load_task_data(build)
    lines = [json.dumps({"id": ex.id, "response": response(ex)})
             for split in ("train", "test") if data.manifest["splits"][split]["count"]
             for ex in data.examples(split)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory, real_samples_dir):
    """source -> (build folder, what the build printed on stderr), built once through the CLI."""
    cache: dict[str, tuple[Path, str]] = {}

    def get(source: str) -> tuple[Path, str]:
        if source not in cache:
            tmp = tmp_path_factory.mktemp(source)
            task, write, n, _ = SOURCES[source]
            path = write(tmp, real_samples_dir)
            _, err = _run("build-task", task, "--source", source, "--path", path, "--n-train", n, "--n-test", n,
                          "--out", tmp / "build")
            cache[source] = (tmp / "build", err)
        return cache[source]
    return get


@pytest.fixture(scope="module")
def policy(tmp_path_factory, built):
    """A small Qwen2.5-VL of the embedded default's make, its tokenizer trained on every real build's text."""
    import torch

    torch.set_num_threads(2)
    texts: list[str] = []
    for source in SOURCES:
        data = load_task_data(built(source)[0])
        for split in ("train", "test"):
            if data.manifest["splits"][split]["count"]:
                texts += corpus_texts(data.examples(split))
    tokenizer = train_tokenizer(texts, 1024, "qwen2_5_vl")
    return build_tiny_vlm("qwen2_5_vl", tokenizer, tmp_path_factory.mktemp("policy") / "m", hidden_size=64,
                          num_layers=2, vision=VisionTower(hidden_size=32, num_layers=1, num_heads=2),
                          image_size=224, seed=0)


@pytest.mark.parametrize("source", list(SOURCES))
def test_build_with_no_segments_builds_every_k_the_data_has(source, built):
    folder, err = built(source)
    data = load_task_data(folder)
    found = {int(k): sum(data.manifest["splits"][s]["k_histogram"].get(k, 0) for s in ("train", "test"))
             for k in {k for s in ("train", "test") for k in data.manifest["splits"][s]["k_histogram"]}}
    expected = SOURCES[source][3]
    if expected is not None:
        assert found == expected
    if source == "docci":
        assert "every K the data has" not in err
    else:
        assert f"every K the data has was built ({', '.join(f'K={k}: {c}' for k, c in sorted(found.items()))})" in err
    if source == "multichartqa":
        labels = {s.label.split()[0] for split in ("train", "test") for ex in data.examples(split) for s in ex.segments}
        assert labels == {"Chart", "Answer:", "Question"}  # all three label schemes of the real data


@pytest.mark.parametrize("source", list(SOURCES))
def test_score_references_at_the_top_and_empty_at_the_bottom_on_both_splits(source, built, tmp_path):
    folder, _ = built(source)
    metrics = () if source == "multichartqa" else ("--metrics", CAPTION_METRICS)
    refs = _predictions(tmp_path / "refs.jsonl", folder, lambda ex: ex.holistic_reference)
    out, _ = _run("score", "--task", folder, "--predictions", refs, "--out", tmp_path / "refs", *metrics)
    summary = json.loads((tmp_path / "refs" / "summary.json").read_text())
    data = load_task_data(folder)
    assert list(summary["splits"]) == ["train", "test"]  # one call, one table per split
    for split in ("train", "test"):
        assert summary["splits"][split]["num_examples"] == data.manifest["splits"][split]["count"]
        assert f" {split}: {data.manifest['splits'][split]['count']} examples (0 without a prediction)" in out
    rows = [json.loads(line) for line in (tmp_path / "refs" / "scores.jsonl").read_text().splitlines()]
    assert len(rows) == sum(data.manifest["splits"][s]["count"] for s in ("train", "test"))
    for row in rows:
        assert row["format"]["num_found"] == row["num_segments"], row["id"]
        for seg in row["segments"]:
            for name, value in seg["metrics"].items():
                top = _top(name, seg["text"]) if value is not None and name in TOP else None
                if top is not None:
                    assert value == pytest.approx(top, abs=1e-5), (row["id"], seg["label"], name)
        if source == "multichartqa":
            assert row["metrics"]["multichartqa_official"] == 1.0, row["id"]
        assert row["segment_rewards"] == pytest.approx([_top(summary["reward"], seg["text"]) for seg in row["segments"]],
                                                       abs=1e-5)

    empty = _predictions(tmp_path / "empty.jsonl", folder, lambda ex: "")
    _run("score", "--task", folder, "--predictions", empty, "--out", tmp_path / "empty", *metrics)
    for row in map(json.loads, (tmp_path / "empty" / "scores.jsonl").read_text().splitlines()):
        assert row["segment_rewards"] == [0.0] * row["num_segments"] and row["holistic_reward"] == 0.0
        assert all(v in (None, 0.0) for v in row["metrics"].values()), row["id"]

    _run("score", "--task", folder, "--predictions", refs, "--out", tmp_path / "board" / "refs", "--split", "test",
         "--model-name", "references", *metrics)
    test = json.loads((tmp_path / "board" / "refs" / "summary.json").read_text())["splits"]
    assert list(test) == ["test"]
    # the scores go on a board beside other runs: the references rank first, the empty responses last
    _run("score", "--task", folder, "--predictions", empty, "--out", tmp_path / "board" / "empty", "--split", "test",
         "--model-name", "empty", *metrics)
    board_out, _ = _run("leaderboard", "--results", tmp_path / "board", "--out", tmp_path / "boards", "--format", "csv")
    primary = summary["primary_metric"]
    lines = [line.split(",") for line in board_out.splitlines() if f",{primary}," in line and ",all," in line]
    assert [line[5] for line in lines] == ["empty", "references"]      # rows (sorted by model in the CSV)
    means = {line[5]: float(line[9]) for line in lines}
    assert means["references"] == pytest.approx(test["test"]["metrics"][primary], rel=1e-5) and means["empty"] == 0.0


@pytest.mark.parametrize("source", list(SOURCES))
def test_eval_and_sd_grpo_training_run_on_the_real_build(source, built, policy, tmp_path):
    folder, _ = built(source)
    metrics = () if source == "multichartqa" else ("--metrics", "cider_d,rouge_l")
    _run("eval", "--model", policy, "--task", folder, "--limit", 3, "--max-new-tokens", 12,
         "--batch-size", 3, "--out", tmp_path / "eval", *metrics)
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    outputs = (tmp_path / "eval" / "outputs.jsonl").read_text().splitlines()
    assert results["task"]["num_examples"] == len(outputs) == 3
    assert results["task"]["content_hash"] == load_task_data(folder).manifest["content_hash"]

    run = tmp_path / "run"
    _run("train", "--method", "sd-grpo", "--task", folder, "--model", policy, "--steps", 2,
         "--prompts-per-step", 2, "--group-size", 2, "--max-new-tokens", 12, "--threads", 1, "--out", run)
    steps = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps] == [1, 2]
    assert (run / "checkpoints").is_dir() and any((run / "checkpoints").iterdir())


def test_bad_input_on_the_real_paths_is_a_counted_skip_or_one_line(tmp_path, real_samples_dir, built):
    """A record missing a field and a chart that does not decode are counted skips naming the record; bad
    prediction lines are counted and listed by line; --strict turns them into one line; nothing is lost."""
    root = _multichartqa(tmp_path, real_samples_dir)
    group = root / GROUP_55
    (group / sorted(p.name for p in group.glob("*.png"))[0]).write_bytes(b"\x89PNG\r\n\x1a\n not a png")
    other = root / "oecd_0_deaths-from-cancer" / "chart-path_and_question-answer_pair.json"
    records = json.loads(other.read_text(encoding="utf-8"))
    del records[0]["answer"]
    other.write_text(json.dumps(records), encoding="utf-8")
    _, err = _run("build-task", "multichart", "--source", "multichartqa", "--path", root, "--n-train", -1,
                  "--n-test", -1, "--out", tmp_path / "b")
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    skips = {reason: sum(s["skips"].get(reason, 0) for s in manifest["splits"].values())
             for reason in ("image does not decode", "missing field: answer")}
    assert skips == {"image does not decode": 4, "missing field: answer": 1}  # group_55's 4 questions use the chart
    listed = [r["record"] for s in manifest["splits"].values() for r in s["skipped_records"]]
    assert any(r.startswith("oecd_0_deaths-from-cancer/chart-path_and_question-answer_pair.json[0]") for r in listed)
    assert "image does not decode ×" in err and "missing field: answer ×1" in err
    assert sum(s["count"] for s in manifest["splits"].values()) == 60 - 5

    data = load_task_data(tmp_path / "b")
    ids = [ex.id for split in ("train", "test") for ex in data.examples(split)]
    lines = [json.dumps({"id": ids[0], "response": "Answer: 1"}), "{not json", json.dumps({"id": ids[0], "response": "x"}),
             json.dumps({"id": "group_999_question_9", "response": "x"}), json.dumps({"response": "no id"})]
    preds = tmp_path / "p.jsonl"
    preds.write_bytes(("\n".join(lines) + "\n").encode() + b'{"id": "x", "response": "\xff"}\n')
    _, err = _run("score", "--task", tmp_path / "b", "--predictions", preds, "--out", tmp_path / "s")
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())["predictions"]
    assert (summary["num_invalid"], summary["num_duplicates"], summary["num_unknown"]) == (3, 1, 1)
    assert [i["line"] for i in summary["invalid_lines"]] == [2, 5, 6]
    assert "not valid UTF-8" in summary["invalid_lines"][2]["problem"]
    assert "3 invalid line(s)" in err and "1 duplicate id(s)" in err and "1 id(s) not in the task" in err
    out, errbuf = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(errbuf):
        rc = main(["score", "--task", str(tmp_path / "b"), "--predictions", str(preds), "--strict"])
    last = errbuf.getvalue().strip().splitlines()[-1]
    assert rc == 2 and last.startswith("sdbench score: error: --predictions") and "(--strict)" in last
    assert "Traceback" not in errbuf.getvalue()
