"""`sdbench pipeline` end to end on the tiny model: every stage runs, the side-by-side training path included, its
files are valid, and a second run reuses the finished training runs."""

import json

from sdbench.configs import PipelineConfig
from sdbench.pipeline import pipeline
from sdbench.results import read_results


def test_pipeline_end_to_end_on_the_tiny_model(tiny_model, tmp_path, capsys):
    cfg = PipelineConfig(out=tmp_path / "p", model=str(tiny_model), tasks=("multichart",), segments=(1, 2),
                         n_train=16, n_test=4, rl_task="multichart", rl_segments=(1, 2), steps=2, prompts_per_step=2,
                         group_size=2, max_new_tokens=12, reward="embedding_similarity", simulator_seeds=2)
    summary = pipeline(cfg)
    printed = capsys.readouterr().out
    assert set(summary["results"]) == {"base", "grpo", "sd-grpo"}
    for method, path in summary["results"].items():
        results = read_results(path)
        assert results["method"] == method and results["task"]["name"] == "multichart"
        assert results["task"]["num_examples"] == 4
        # trained runs are named by the model they started from: the rows of a leaderboard are (method, base model)
        assert results["model"]["name"] == tiny_model.name
    for method in ("grpo", "sd-grpo"):  # trained side by side, each in its own process with its own log
        run = tmp_path / "p" / "train" / f"multichart-{method}-seed0"
        steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert steps == [1, 2] and (run / "checkpoints" / "step-000002").is_dir()
        assert (run.with_suffix(".log")).is_file()
        assert read_results(summary["results"][method])["train"]["steps"] == 2
    # the RL reward, then the task's primary metric; each per K and over all test examples
    assert [(row["metric"], row["k"]) for row in summary["comparison"]] == [
        (metric, k) for metric in ("embedding_similarity", "chart_answer") for k in ("1", "2", "all")]
    assert all(row["n"] == 4 for row in summary["comparison"] if row["k"] == "all")
    assert (tmp_path / "p" / "simulate" / "simulate.json").is_file()
    assert (tmp_path / "p" / "leaderboard" / "multichart-v2.html").is_file()
    for text in ("[1/6]", "[6/6]", "sd-grpo vs grpo", "pipeline done in"):
        assert text in printed

    again = pipeline(cfg)  # finished runs are reused, not retrained
    assert "already holds 2 steps; reusing it" in capsys.readouterr().out
    assert again["comparison"] == summary["comparison"]
