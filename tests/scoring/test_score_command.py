"""`sdbench score` end to end: predictions file problems are counted and listed, never dropped."""

import json

import pytest

from sdbench.cli import main
from sdbench.core.errors import SdbenchError
from sdbench.evaluation.predictions import read_predictions
from sdbench.evaluation.score import ScoreConfig, score


def _write(path, lines):
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_prediction_report_counts_every_problem(tmp_path):
    path = _write(tmp_path / "p.jsonl", [
        {"id": "a", "response": "x"}, {"id": "a", "response": "second"}, "{broken", "[1, 2]",
        {"id": "zzz", "response": "y"}, {"id": "b"}, {"id": 3, "response": "z"}, {"id": "b", "response": 5}, ""])
    found, report = read_predictions(path, ["a", "b", "c"])
    assert found == {"a": "x"}
    assert report.num_lines == 8 and report.num_used == 1
    assert report.num_invalid == 5 and {i["line"] for i in report.invalid_lines} == {3, 4, 6, 7, 8}
    assert report.duplicate_ids == ["a"] and report.unknown_ids == ["zzz"]
    assert report.missing_ids == ["b", "c"] and report.num_missing == 2


def test_score_writes_per_example_scores_and_summary(built, tmp_path, capsys):
    data = built("multipanel")
    examples = list(data.examples("test"))
    preds = [{"id": ex.id, "response": ex.holistic_reference} for ex in examples[1:]]
    path = _write(tmp_path / "preds.jsonl", preds + [{"id": "ghost", "response": "boo"}])
    out = tmp_path / "scores"
    assert main(["score", "--task", str(data.folder), "--predictions", str(path), "--out", str(out),
                 "--metrics", "fact_f1,fact_recall"]) == 0
    captured = capsys.readouterr()
    assert "1 id(s) not in the task" in captured.err and "1 task id(s) without a prediction" in captured.err
    summary = json.loads((out / "summary.json").read_text())
    rows = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    test = summary["splits"]["test"]
    assert list(summary["splits"]) == ["test"] and summary["task"]["splits_scored"] == ["test"]
    assert len(rows) == len(examples) == test["num_examples"] and {r["split"] for r in rows} == {"test"}
    assert rows[0]["id"] == examples[0].id and rows[0]["metrics"]["fact_f1"] == 0.0  # missing -> empty -> 0
    assert all(r["metrics"]["fact_f1"] == 1.0 for r in rows[1:])
    assert test["metrics"]["fact_f1"] == pytest.approx((len(examples) - 1) / len(examples))
    assert test["num_missing_predictions"] == 1
    assert summary["predictions"]["missing_ids"] == [examples[0].id] and summary["predictions"]["unknown_ids"] == ["ghost"]
    assert summary["task"]["content_hash"] == data.manifest["content_hash"] and summary["task"]["version"] == 2
    assert summary["provenance"]["sdbench_version"] and len(summary["predictions"]["sha256"]) == 64
    assert set(test["by_k"]) == {"1", "2", "4"} and test["by_position"]["4"]["fact_f1"] == 1.0
    assert "multipanel v2 (synthetic) test: 12 examples (1 without a prediction)" in captured.out

    skipped = score(ScoreConfig(task=data.folder, predictions=path, out=tmp_path / "s2", metrics=("fact_f1",),
                                missing="skip"))["splits"]["test"]
    assert skipped["num_examples"] == len(examples) - 1 and skipped["metrics"]["fact_f1"] == 1.0
    with pytest.raises(SdbenchError, match="--strict"):
        score(ScoreConfig(task=data.folder, predictions=path, out=tmp_path / "s3", strict=True))


def test_score_bad_inputs_are_one_line_errors(built, tmp_path, capsys):
    data = built("multipanel")
    assert main(["score", "--task", str(data.folder), "--predictions", str(tmp_path / "none.jsonl")]) == 2
    assert "file not found" in capsys.readouterr().err
    assert main(["score", "--task", str(tmp_path), "--predictions", str(tmp_path / "x")]) == 2
    assert "no manifest.json" in capsys.readouterr().err
    path = _write(tmp_path / "p.jsonl", [{"id": "nope", "response": "x"}])
    assert main(["score", "--task", str(data.folder), "--predictions", str(path), "--missing", "skip"]) == 2
    assert "no prediction matches" in capsys.readouterr().err


def test_scores_go_on_a_board(built, tmp_path):
    """--model-name writes a results file of the eval schema, with the per-example values beside it: the
    leaderboard ranks it with the run's own example interval."""
    from sdbench.evaluation.leaderboard.command import LeaderboardConfig, leaderboard

    data = built("multipanel")
    examples = list(data.examples("test"))
    perfect = _write(tmp_path / "perfect.jsonl", [{"id": ex.id, "response": ex.holistic_reference} for ex in examples])
    half = _write(tmp_path / "half.jsonl", [{"id": ex.id, "response": ex.holistic_reference if i % 2 else ""}
                                            for i, ex in enumerate(examples)])
    for name, path in (("perfect", perfect), ("half", half)):
        assert main(["score", "--task", str(data.folder), "--predictions", str(path), "--split", "test",
                     "--model-name", name, "--out", str(tmp_path / "results" / name)]) == 0
    results = json.loads((tmp_path / "results" / "perfect" / "results.json").read_text())
    assert results["method"] == "external" and results["model"]["name"] == "perfect" and results["train"] is None
    assert results["task"]["content_hash"] == data.manifest["content_hash"] and results["outputs"] == "scores.jsonl"
    (board,) = leaderboard(LeaderboardConfig(results=tmp_path / "results", out=tmp_path / "boards", format="csv"))
    cells = board.cells[(board.cells["metric"] == "fact_f1") & (board.cells["k"] == "all")].set_index("model")
    assert cells.loc["perfect", "mean"] == 1.0
    assert cells.loc["half", "mean"] == pytest.approx(sum(i % 2 for i in range(len(examples))) / len(examples))
    assert cells.loc["half", "interval"] == "examples"  # one seed: its bootstrap CI over examples
    assert cells.loc["half", "ci_low"] < cells.loc["half", "mean"] < cells.loc["half", "ci_high"]
