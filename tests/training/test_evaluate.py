"""`sdbench eval` and `sdbench diagnose` on a tiny model: results with provenance, traceable outputs, errors."""

import json

import pytest
import torch

from sdbench.cli import main
from sdbench.core.errors import SdbenchError
from sdbench.evaluation.evaluate import EvalConfig, evaluate
from sdbench.evaluation.results import read_results
from sdbench.rl.diagnostics import diagnostics_by_k, theoretical_misattribution
from sdbench.rl.train_config import TrainConfig
from sdbench.rl.trainer import train


@pytest.fixture(scope="module")
def trained(tiny_task, tiny_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "sd"
    return train(TrainConfig(task=tiny_task, model=str(tiny_model), out=out, method="sd-grpo", steps=1,
                             prompts_per_step=2, group_size=2, max_new_tokens=16, seed=3, threads=1,
                             reward="embedding_similarity"))


def test_eval_writes_results_with_provenance_and_outputs(tiny_task, trained, tmp_path):
    path = evaluate(EvalConfig(model=str(trained), task=tiny_task, out=tmp_path / "e", max_new_tokens=16,
                               batch_size=3, metrics=("chart_answer", "rouge_l")))
    results = read_results(path)
    assert results["method"] == "sd-grpo" and results["seed"] == 3
    assert results["task"]["name"] == "multichart" and len(results["task"]["content_hash"]) == 64
    assert results["model"]["checkpoint"].endswith("step-000001") and len(results["model"]["checkpoint_hash"]) == 64
    assert results["train"]["config"]["method"] == "sd-grpo" and results["train"]["learning_curve"][0]["step"] == 1
    assert results["provenance"]["git_sha"] and results["provenance"]["timestamp"]
    assert set(results["by_k"]) == {"1", "2"} and results["by_k"]["1"]["num_examples"] == 2
    for stat in results["metrics"].values():
        assert stat["ci_low"] <= stat["mean"] <= stat["ci_high"]
    rows = [json.loads(line) for line in (path.parent / "outputs.jsonl").read_text().splitlines()]
    assert len(rows) == results["task"]["num_examples"] == 4
    mean_rouge = sum(r["metrics"]["rouge_l"] for r in rows) / len(rows)
    assert results["metrics"]["rouge_l"]["mean"] == pytest.approx(mean_rouge)  # numbers trace back to text


def test_eval_errors_and_notes(tiny_task, tiny_model, trained, tmp_path, capsys):
    with pytest.raises(SdbenchError, match=r"no example with K=\[8\]"):
        evaluate(EvalConfig(model=str(tiny_model), task=tiny_task, segments=(8,), out=tmp_path / "a"))
    assert main(["eval", "--model", str(tmp_path / "missing"), "--task", str(tiny_task)]) == 2
    assert "no such folder" in capsys.readouterr().err
    from sdbench.data.build_task import BuildTaskConfig, build_task

    other = build_task(BuildTaskConfig(task="multipanel", segments=(1,), n_train=0, n_test=2,
                                       out=tmp_path / "mp"), quiet=True)
    capsys.readouterr()
    path = evaluate(EvalConfig(model=str(trained), task=other, out=tmp_path / "b", max_new_tokens=8,
                               metrics=("fact_f1",)))
    results = read_results(path)
    assert "trained on task 'multichart', evaluated on 'multipanel'" in results["notes"][0]
    # 8 tokens of a random tiny model score 0 on every example: the eval says that a board would rank noise
    assert results["metrics"]["fact_f1"]["mean"] == 0.0
    assert "warning: fact_f1 = 0.0000 over the whole test split" in capsys.readouterr().err


def test_diagnostics_on_hand_made_rollout_scores():
    # K = 2, two prompts, G = 4. Prompt 1: segments disagree in rollouts 1-2 and agree in 3-4.
    p1 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    # prompt 2: segment 2 constant (no sign), segment 1 decides everything: holistic agrees with it
    p2 = torch.tensor([[1.0, 0.5], [0.0, 0.5], [1.0, 0.5], [0.0, 0.5]])
    out = diagnostics_by_k([p1, p2], num_resamples=200)["2"]
    # p1: R = (.5, .5, 1, 0): A = (0, 0, +, -); pairs with signs: rollouts 3-4 x 2 segments, all agree -> 0/4
    # p2: R = (.75, .25, .75, .25): A = (+, -, +, -), segment 1 agrees on 4 pairs, segment 2 has no sign -> 0/4
    assert out["num_pairs"] == 8 and out["misattribution_rate"]["mean"] == 0.0
    assert out["c_hat"]["mean"] == 0.0  # p1: corr((1,0,1,0), (0,1,1,0)) = 0; p2: segment 2 constant
    assert out["theory_independent"] == pytest.approx(0.25) and out["theory_at_c_hat"] == pytest.approx(0.25)
    wrong = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0]])
    # K = 3: R = (1/3, 2/3, 1/3, 2/3) -> A = (-, +, -, +); segment 1 = (1, 0, 0, 1) -> a = (+, -, -, +):
    # opposite in rollouts 1 and 2; segment 2 = (0, 1, 1, 0) agrees in 1, 2 and disagrees in 3, 4 ... hand count:
    # seg1 signs (+,-,-,+) vs A (-,+,-,+): wrong at 1, 2 -> 2; seg2 (-,+,+,-): wrong at 3, 4 -> 2;
    # seg3 (-,+,-,+): wrong at none -> 0. Total 4 wrong of 12.
    out3 = diagnostics_by_k([wrong], num_resamples=10)["3"]
    assert out3["num_pairs"] == 12 and out3["misattribution_rate"]["mean"] == pytest.approx(4 / 12)
    assert out3["theory_independent"] == pytest.approx(theoretical_misattribution(3, 0.0))


def test_diagnose_command_writes_table_json_and_plot(tiny_task, tiny_model, tmp_path, capsys):
    assert main(["diagnose", "--model", str(tiny_model), "--task", str(tiny_task), "--out", str(tmp_path / "d"),
                 "--prompts", "2", "--group-size", "3", "--max-new-tokens", "8", "--threads", "1"]) == 0
    assert "wrong-sign" in capsys.readouterr().out
    result = json.loads((tmp_path / "d" / "diagnostics.json").read_text())
    assert set(result["by_k"]) == {"1", "2"} and result["by_k"]["1"]["theory_independent"] == 0.0
    for fmt in ("png", "svg", "pdf"):
        assert (tmp_path / "d" / f"diagnostics.{fmt}").stat().st_size > 1000
