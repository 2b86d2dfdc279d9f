"""`sdbench compare`: pairing by seed and by example id, per-K differences, seed-level and per-example intervals,
verdicts (hand-computed), and the command on results files."""

import json

import pytest

from sdbench.cli import main
from sdbench.commands.pipeline import PipelineConfig
from sdbench.core.errors import SdbenchError
from sdbench.core.stats import seed_ci
from sdbench.evaluation.compare import CompareConfig, compare, paired_rows, verdict


def test_one_seed_uses_the_per_example_bootstrap():
    base = {"a": (2, 0.0), "b": (2, 0.5), "c": (4, 0.25), "d": (4, 0.25)}
    treat = {"a": (2, 0.5), "b": (2, 1.0), "c": (4, 0.25), "d": (4, 0.75), "only-here": (4, 1.0)}
    rows = {r["K"]: r for r in paired_rows([(base, treat)], [0], "fact_f1", "grpo", "sd-grpo")}
    assert list(rows) == [2, 4, "all"]
    assert rows[2]["grpo"] == 0.25 and rows[2]["sd_grpo"] == 0.75 and rows[2]["difference"] == 0.5
    assert rows[2]["interval"] == "examples" and rows[2]["ci_low"] == rows[2]["ci_high"] == 0.5  # both diffs 0.5
    assert rows[2]["verdict"] == "sd-grpo better"
    assert rows[4]["difference"] == 0.25 and rows[4]["ci_low"] == 0.0
    assert rows[4]["verdict"] == "no significant difference"  # the interval [0, 0.5] touches 0
    assert rows["all"]["n_examples"] == 4  # 'only-here' is not in both runs
    assert rows["all"]["difference"] == pytest.approx(0.375) and rows["all"]["n_seeds"] == 1


def test_several_seeds_use_the_t_interval_of_the_per_seed_differences():
    ids = ("a", "b")
    pairs = []
    for seed_delta in (0.10, 0.20, 0.30):
        base = {i: (4, 0.5) for i in ids}
        treat = {"a": (4, 0.5 + seed_delta), "b": (4, 0.5 + seed_delta + 0.1)}
        pairs.append((base, treat))
    row = paired_rows(pairs, [0, 1, 2], "fact_f1", "grpo", "sd-grpo")[0]
    assert row["per_seed_difference"] == pytest.approx([0.15, 0.25, 0.35])
    expected = seed_ci([0.15, 0.25, 0.35])
    assert row["difference"] == pytest.approx(0.25)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((expected["ci_low"], expected["ci_high"]))
    # by hand: sd = 0.1, half = 4.303 * 0.1 / sqrt(3) = 0.2484
    assert row["ci_low"] == pytest.approx(0.25 - 0.24844, abs=1e-4) and row["interval"] == "seeds"
    assert row["verdict"] == "sd-grpo better"
    # the per-example interval averages each example's difference over seeds: a -> 0.2, b -> 0.3
    assert row["example_ci_low"] == pytest.approx(0.2) and row["example_ci_high"] == pytest.approx(0.3)


def test_examples_missing_in_any_seed_are_left_out_and_none_left_is_an_error():
    pairs = [({"a": (2, 0.0), "b": (2, 0.0)}, {"a": (2, 1.0), "b": (2, 1.0)}),
             ({"a": (2, 0.0)}, {"a": (2, 0.5)})]
    row = paired_rows(pairs, [0, 1], "m", "grpo", "sd-grpo")[0]
    assert row["n_examples"] == 1 and row["per_seed_difference"] == [1.0, 0.5]
    with pytest.raises(SdbenchError, match="no test example has 'm'"):
        paired_rows([({"a": (2, 0.0)}, {"b": (2, 1.0)})], [0], "m", "grpo", "sd-grpo")


def test_verdicts():
    assert verdict(0.01, 0.2, "grpo", "hybrid") == "hybrid better"
    assert verdict(-0.2, -0.01, "grpo", "hybrid") == "grpo better"
    assert verdict(-0.1, 0.1, "grpo", "hybrid") == "no significant difference"
    assert verdict(None, None, "grpo", "hybrid") == "no significant difference"


def _write_run(folder, method, seed, values, metric="fact_f1"):
    """results.json (valid schema) + outputs.jsonl; values = {example id: (K, value)}."""
    from sdbench.evaluation.results import write_results
    from tests.fixtures.leaderboard_fixture import make_results

    folder.mkdir(parents=True)
    rows = [{"id": i, "num_segments": k, "metrics": {metric: v}, "sample": 0} for i, (k, v) in values.items()]
    (folder / "outputs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    results = make_results("multipanel", 1, "cider_d", method, seed, "outputs.jsonl")
    results["model"]["name"] = "default"
    return write_results(folder / "results.json", results)


def test_compare_command_pairs_seeds_and_writes_json_md_csv(tmp_path, capsys):
    for seed in (0, 1):
        _write_run(tmp_path / "r" / f"g{seed}", "grpo", seed, {"a": (2, 0.1), "b": (4, 0.2)})
        _write_run(tmp_path / "r" / f"s{seed}", "sd-grpo", seed, {"a": (2, 0.3 + 0.1 * seed), "b": (4, 0.2)})
    _write_run(tmp_path / "r" / "s9", "sd-grpo", 9, {"a": (2, 1.0), "b": (4, 1.0)})  # no grpo seed 9: not paired
    assert main(["compare", "--results", str(tmp_path / "r"), "--metrics", "fact_f1", "--out",
                 str(tmp_path / "out")]) == 0
    rows = json.loads((tmp_path / "out" / "comparison.json").read_text())
    by_k = {r["K"]: r for r in rows}
    assert by_k[2]["seeds"] == [0, 1] and by_k[2]["per_seed_difference"] == pytest.approx([0.2, 0.3])
    assert by_k[4]["difference"] == 0.0 and by_k[4]["verdict"] == "no significant difference"
    for key in ("metric", "K", "grpo", "sd_grpo", "difference", "ci_low", "ci_high", "n_seeds", "verdict"):
        assert key in by_k["all"]
    assert "| 2 | 1 | 0.100 | 0.350 |" in (tmp_path / "out" / "comparison.md").read_text()
    csv_lines = (tmp_path / "out" / "comparison.csv").read_text().splitlines()
    assert csv_lines[0].startswith("task,version,source,split,model,metric,K,baseline,treatment") and len(csv_lines) == 4
    assert "2 paired seed(s) [0, 1]" in capsys.readouterr().out


def test_compare_names_what_is_missing(tmp_path):
    _write_run(tmp_path / "r" / "g0", "grpo", 0, {"a": (2, 0.1)})
    with pytest.raises(SdbenchError, match="no task has runs of both 'grpo' and 'sd-grpo'.*methods found: \\['grpo'\\]"):
        compare(CompareConfig(results=tmp_path / "r", metrics=("fact_f1",)))
    with pytest.raises(SdbenchError, match="both 'grpo'"):
        CompareConfig(baseline="grpo", treatment="grpo")


def test_pipeline_config_checks():
    with pytest.raises(SdbenchError, match="rl-segments"):
        PipelineConfig(segments=(1, 2), rl_segments=(2, 4))
    with pytest.raises(SdbenchError, match="rl-task"):
        PipelineConfig(tasks=("multichart",))
    with pytest.raises(SdbenchError, match="hybrid-task"):
        PipelineConfig(tasks=("multipanel", "multichart"), hybrid_task="subfigure")
    with pytest.raises(SdbenchError, match="methods"):
        PipelineConfig(methods=("sft",))
    with pytest.raises(SdbenchError, match="group-size"):
        PipelineConfig(group_size=1)
    with pytest.raises(SdbenchError, match="seeds"):
        PipelineConfig(seeds=0)
    with pytest.raises(SdbenchError, match="--hybrid-learning-rate: need a positive number, got 0.0"):
        PipelineConfig(hybrid_learning_rate=0.0)
    with pytest.raises(SdbenchError, match="--beta: need a number >= 0"):
        PipelineConfig(beta=-0.1)
    assert PipelineConfig(seed=7).training_seeds == (7, 8, 9)

