"""The pipeline's SD-GRPO vs GRPO comparison: pairing by example id, per-K means and differences, verdicts;
and PipelineConfig's checks."""

import json

import pytest

from sdbench.configs import PipelineConfig
from sdbench.errors import SdbenchError
from sdbench.pipeline import comparison_table, compare_methods


def _run(tmp_path, name, values, extra_rows=()):
    """A minimal results.json + outputs.jsonl: values = {example id: (K, fact_f1)}."""
    folder = tmp_path / name
    folder.mkdir()
    rows = [{"id": i, "num_segments": k, "metrics": {"fact_f1": v}, "sample": 0} for i, (k, v) in values.items()]
    rows += list(extra_rows)
    (folder / "outputs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    # compare_methods reads only these fields; read_results validates the schema, so write a valid file
    from tests.fixtures.leaderboard_fixture import make_results

    results = make_results("multipanel", 1, "fact_f1", "grpo", 0, "outputs.jsonl")
    from sdbench.results import write_results

    return write_results(folder / "results.json", results)


def test_paired_differences_by_k_are_hand_computed(tmp_path):
    grpo = _run(tmp_path, "g", {"a": (2, 0.0), "b": (2, 0.5), "c": (4, 0.25), "d": (4, 0.25)})
    sd = _run(tmp_path, "s", {"a": (2, 0.5), "b": (2, 1.0), "c": (4, 0.25), "d": (4, 0.75), "only-here": (4, 1.0)},
              extra_rows=[{"id": "z", "num_segments": 2, "metrics": {"fact_f1": None}, "sample": 0}])
    rows = compare_methods({"grpo": grpo, "sd-grpo": sd}, baseline="grpo", treatment="sd-grpo")
    by_k = {r["k"]: r for r in rows}
    assert list(by_k) == ["2", "4", "all"]
    assert by_k["2"]["n"] == 2 and by_k["2"]["baseline"]["mean"] == 0.25 and by_k["2"]["treatment"]["mean"] == 0.75
    assert by_k["2"]["delta"]["mean"] == 0.5
    assert by_k["2"]["delta"]["ci_low"] == by_k["2"]["delta"]["ci_high"] == 0.5  # both differences are 0.5
    assert by_k["4"]["delta"]["mean"] == 0.25 and by_k["4"]["delta"]["ci_low"] == 0.0
    assert by_k["all"]["n"] == 4  # 'only-here' is not in both runs; 'z' has no value
    assert by_k["all"]["delta"]["mean"] == pytest.approx(0.375)
    table = comparison_table(rows, num_seeds=1)
    lines = {line.split()[0]: line for line in table.splitlines()[2:]}
    assert lines["2"].endswith("sd-grpo better")
    assert lines["4"].endswith("no significant difference")  # CI [0, 0.5] touches 0
    assert "1 training seed(s)" in table


def test_pipeline_config_checks():
    with pytest.raises(SdbenchError, match="rl-segments"):
        PipelineConfig(segments=(1, 2), rl_segments=(2, 4))
    with pytest.raises(SdbenchError, match="rl-task"):
        PipelineConfig(tasks=("multichart",))
    with pytest.raises(SdbenchError, match="methods"):
        PipelineConfig(methods=("sft",))
    with pytest.raises(SdbenchError, match="group-size"):
        PipelineConfig(group_size=1)


def test_a_metric_missing_from_the_outputs_is_a_clear_error(tmp_path):
    grpo = _run(tmp_path, "g", {"a": (2, 0.0)})
    sd = _run(tmp_path, "s", {"a": (2, 0.5)})
    with pytest.raises(SdbenchError, match="no example has 'rouge_l' in both runs"):
        compare_methods({"grpo": grpo, "sd-grpo": sd}, baseline="grpo", treatment="sd-grpo", metric="rouge_l")
