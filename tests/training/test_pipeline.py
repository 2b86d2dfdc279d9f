"""`sdbench pipeline` end to end on the tiny model: every stage runs, both studies over two paired seeds in side-by-side
worker processes, its files are valid, comparison.json holds the paired rows, and a second run reuses everything."""

import json

from sdbench.commands.pipeline import PipelineConfig, pipeline
from sdbench.evaluation.results import read_results


def test_pipeline_end_to_end_on_the_tiny_model(tiny_model, tmp_path, capsys):
    cfg = PipelineConfig(out=tmp_path / "p", model=str(tiny_model), tasks=("multichart", "subfigure"), segments=(1, 2),
                         n_train=16, n_test=4, rl_task="multichart", rl_segments=(1, 2), steps=2,
                         hybrid_task="subfigure", hybrid_segments=(2,), hybrid_methods=("grpo", "hybrid"),
                         hybrid_steps=1, hybrid_max_new_tokens=16, hybrid_learning_rate=3e-5, seeds=2,
                         prompts_per_step=2, group_size=2, max_new_tokens=12,
                         reward="embedding_similarity", also_compare=(), simulator_seeds=2, workers=2, beta=0.04,
                         outside="zero")
    summary = pipeline(cfg)
    printed = capsys.readouterr().out
    expected = {f"{task}-{method}-seed{seed}" for task, methods in (("multichart", ("grpo", "sd-grpo")),
                                                                    ("subfigure", ("grpo", "hybrid")))
                for method in methods for seed in (0, 1)} | {"multichart-base", "subfigure-base"}
    assert set(summary["results"]) == expected
    for name, path in summary["results"].items():
        results = read_results(path)
        assert name.startswith(results["task"]["name"]) and results["method"] in name
        assert results["task"]["num_examples"] == 4
        # trained runs are named by the model they started from: the rows of a leaderboard are (method, base model)
        assert results["model"]["name"] == tiny_model.name
    for seed in (0, 1):
        for method in ("grpo", "sd-grpo"):  # each in a worker process, with its own log
            run = tmp_path / "p" / "train" / f"multichart-{method}-seed{seed}"
            steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
            assert steps == [1, 2] and (run / "checkpoints" / "step-000002").is_dir()
            assert (tmp_path / "p" / "logs" / f"multichart-{method}-seed{seed}.log").is_file()
            assert read_results(summary["results"][f"multichart-{method}-seed{seed}"])["seed"] == seed
        hybrid = read_results(summary["results"][f"subfigure-hybrid-seed{seed}"])
        assert hybrid["train"]["config"]["hybrid_lambda"] == 0.5
        # each study generates up to its own limit, in training and in evaluation
        assert hybrid["train"]["config"]["max_new_tokens"] == hybrid["decoding"]["max_new_tokens"] == 16
        main = read_results(summary["results"][f"multichart-sd-grpo-seed{seed}"])
        assert main["train"]["config"]["max_new_tokens"] == main["decoding"]["max_new_tokens"] == 12
        # and trains at its own learning rate
        assert (hybrid["train"]["config"]["learning_rate"], main["train"]["config"]["learning_rate"]) == (3e-5, 1e-4)
        for key, value in (("beta", 0.04), ("outside", "zero")):  # every run, both studies
            assert hybrid["train"]["config"][key] == main["train"]["config"][key] == value
    rows = json.loads((tmp_path / "p" / "comparison.json").read_text())
    assert rows == json.loads(json.dumps(summary["comparison"]))
    keys = {(r["task"], r["baseline"], r["treatment"], r["metric"], r["K"]) for r in rows}
    assert ("multichart", "grpo", "sd-grpo", "embedding_similarity", 1) in keys
    assert ("multichart", "grpo", "sd-grpo", "chart_answer", "all") in keys
    assert ("subfigure", "grpo", "hybrid", "embedding_similarity", 2) in keys
    assert all(r["n_seeds"] == 2 and r["seeds"] == [0, 1] and r["interval"] == "seeds" for r in rows)
    assert all(r["n_examples"] == 4 for r in rows if r["K"] == "all" and r["task"] == "multichart")
    assert (tmp_path / "p" / "simulate" / "simulate.json").is_file()
    assert (tmp_path / "p" / "leaderboard" / "multichart-v2.html").is_file()
    for text in ("[1/6]", "[6/6]", "sd-grpo vs grpo on multichart", "hybrid vs grpo on subfigure", "pipeline done in",
                 "KL to the starting policy, beta 0.04; outside-segment advantage zero"):
        assert text in printed

    again = pipeline(cfg)  # finished runs and their evaluations are reused, not redone
    assert "already holds 2 steps; reusing it" in capsys.readouterr().out
    assert again["comparison"] == summary["comparison"]
