"""The RL trainer end to end on a tiny model: it updates, checkpoints exactly, resumes exactly.

A random-weight model scores 0 on chart answers, which would give zero advantages everywhere; the tests train
on `embedding_similarity` instead (a continuous per-segment caption metric), so every step has a gradient."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sdbench.core.errors import SdbenchError
from sdbench.models.checkpoint import latest_checkpoint, save_checkpoint
from sdbench.rl.run_log import read_metrics
from sdbench.rl.trainer import train
from tests.fixtures.train_config import tiny_train_config

REPO = Path(__file__).resolve().parents[2]


_cfg = tiny_train_config


def _losses(run) -> list[float]:
    return [m["loss"] for m in read_metrics(run)]


def test_train_smoke_in_a_subprocess_changes_parameters_and_reloads(tiny_task, tiny_model, tmp_path):
    """`sdbench train` as a user runs it: 2 steps, parameters change, the checkpoint reloads to the same logits."""
    from safetensors.torch import load_file

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "sdbench.cli", "train", "--task", str(tiny_task), "--model", str(tiny_model),
           "--method", "sd-grpo", "--steps", "2", "--prompts-per-step", "2", "--group-size", "4",
           "--max-new-tokens", "24", "--learning-rate", "1e-2", "--out", str(out), "--threads", "1",
           "--reward", "embedding_similarity"]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr[-2000:]
    ckpt = latest_checkpoint(out)
    assert ckpt is not None and ckpt.name == "step-000002"
    before, after = load_file(str(tiny_model / "model.safetensors")), load_file(str(ckpt / "model.safetensors"))
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed, "no parameter changed after 2 RL steps"
    assert not list(ckpt.glob("*.bin")) and not list(ckpt.glob("*.pt")) and not list(ckpt.glob("*.pkl"))

    from sdbench.data.task_data import load_task_data
    from sdbench.models.chat_inputs import build_prompt_batch
    from sdbench.models.policy import load_policy

    ex = next(load_task_data(tiny_task).examples("test"))
    reloaded = load_policy(str(ckpt))
    again = load_policy(str(ckpt))
    batch = build_prompt_batch(reloaded, [ex])
    with torch.no_grad():
        torch.testing.assert_close(reloaded.model(**batch).logits, again.model(**batch).logits, rtol=0, atol=0)
    metrics = read_metrics(out)
    assert [m["step"] for m in metrics] == [1, 2]
    assert metrics[0]["logprob_gap_max"] < 1e-5  # sampling log-probs == training log-probs, same weights
    info = json.loads((out / "run_info.json").read_text())
    assert info["task"]["content_hash"] and info["config"]["method"] == "sd-grpo" and info["provenance"]["git_sha"]


def test_same_seed_same_loss_curve_and_resume_is_exact(tiny_task, tiny_model, tmp_path):
    full = train(_cfg(tiny_task, tiny_model, tmp_path / "full", steps=4))
    again = train(_cfg(tiny_task, tiny_model, tmp_path / "again", steps=4))
    assert _losses(full) == _losses(again)
    assert any(m["loss"] != 0.0 for m in read_metrics(full)), "every step had zero advantage; the test is vacuous"

    half = train(_cfg(tiny_task, tiny_model, tmp_path / "half", steps=2, save_every=2))
    with pytest.raises(SdbenchError, match="--resume"):
        train(_cfg(tiny_task, tiny_model, tmp_path / "half", steps=4, save_every=2))
    train(_cfg(tiny_task, tiny_model, tmp_path / "half", steps=4, save_every=2, resume=True))
    assert _losses(half) == _losses(full)
    assert [m["reward/holistic"] for m in read_metrics(half)] == [m["reward/holistic"] for m in read_metrics(full)]


def test_a_crash_during_save_leaves_the_previous_checkpoint(tiny_task, tiny_model, tmp_path, monkeypatch):
    run = train(_cfg(tiny_task, tiny_model, tmp_path / "run", steps=1, save_every=1))
    first = latest_checkpoint(run)
    assert first.name == "step-000001"
    from sdbench.models.policy import load_policy

    policy = load_policy(str(first))
    optimizer = torch.optim.AdamW(policy.model.parameters())

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed mid-save")

    monkeypatch.setattr("safetensors.torch.save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(run, 2, policy.model, policy.processor, optimizer, None, {})
    assert latest_checkpoint(run) == first
    assert (first / "model.safetensors").is_file() and not (run / "checkpoints" / "step-000002").exists()


@pytest.mark.parametrize("method", ["grpo", "dr-grpo", "sd-dr-grpo", "hybrid"])
def test_every_method_runs_a_step(tiny_task, tiny_model, tmp_path, method):
    kw = {"hybrid_lambda": 0.3} if method == "hybrid" else {}
    run = train(_cfg(tiny_task, tiny_model, tmp_path / method, steps=1, method=method, **kw))
    (m,) = read_metrics(run)
    assert m["reward/holistic"] >= 0 and m["logprob_gap_max"] < 1e-5 and "misattribution_rate" in m


def test_kl_to_the_initial_policy_is_zero_at_the_start(tiny_task, tiny_model, tmp_path):
    run = train(_cfg(tiny_task, tiny_model, tmp_path / "kl", steps=1, beta=0.1))
    (m,) = read_metrics(run)
    assert m["kl"] == pytest.approx(0.0, abs=1e-6)


def test_bad_training_requests(tiny_task, tiny_model, tmp_path):
    with pytest.raises(SdbenchError, match=r"split .train. has no example with K=\[8\]"):
        train(_cfg(tiny_task, tiny_model, tmp_path / "a", segments=(8,)))
    with pytest.raises(SdbenchError, match="holds no run yet; drop --resume"):
        train(_cfg(tiny_task, tiny_model, tmp_path / "b", resume=True))
    with pytest.raises(SdbenchError, match="does nothing with --method"):
        _cfg(tiny_task, tiny_model, tmp_path / "c", method="grpo", hybrid_lambda=0.2)
    with pytest.raises(SdbenchError, match="group-size"):
        _cfg(tiny_task, tiny_model, tmp_path / "d", group_size=1)
    with pytest.raises(SdbenchError):
        train(_cfg(tiny_task, tmp_path / "no-such-model", tmp_path / "e"))


def test_sft_lowers_the_loss_and_resumes_exactly(tiny_task, tiny_model, tmp_path):
    full = train(_cfg(tiny_task, tiny_model, tmp_path / "full", method="sft", steps=6, micro_batch_size=4,
                      learning_rate=3e-3))
    losses = _losses(full)
    assert len(losses) == 6 and sum(losses[-2:]) < sum(losses[:2])
    assert latest_checkpoint(full).name == "step-000006"
    half = train(_cfg(tiny_task, tiny_model, tmp_path / "half", method="sft", steps=3, micro_batch_size=4,
                      learning_rate=3e-3, save_every=3))
    train(_cfg(tiny_task, tiny_model, tmp_path / "half", method="sft", steps=6, micro_batch_size=4,
               learning_rate=3e-3, save_every=3, resume=True))
    assert _losses(half) == losses


def test_at_k1_grpo_and_sd_grpo_are_the_same_run(tiny_task, tiny_model, tmp_path):
    """With one segment the segment advantage is the holistic one, so the two methods take identical steps: the same
    losses, rewards and final weights, bit for bit (what the pipeline's K = 1 rows rest on)."""
    from safetensors.torch import load_file

    runs = {m: train(_cfg(tiny_task, tiny_model, tmp_path / m, method=m, steps=2, segments=(1,)))
            for m in ("grpo", "sd-grpo")}
    grpo, sd = (read_metrics(runs[m]) for m in ("grpo", "sd-grpo"))
    assert any(m["loss"] != 0.0 for m in grpo), "zero advantage at every step: the comparison would be vacuous"
    for key in ("loss", "reward/holistic", "advantage/mean", "advantage/std", "grad_norm"):
        assert [m[key] for m in grpo] == [m[key] for m in sd], key
    weights = {m: load_file(str(latest_checkpoint(r) / "model.safetensors")) for m, r in runs.items()}
    assert all(torch.equal(weights["grpo"][k], weights["sd-grpo"][k]) for k in weights["grpo"])


def test_steps_with_every_advantage_zero_are_warned_about(tiny_task, tiny_model, tmp_path, capsys):
    """A random-weight model scores 0 on every chart answer: each group's rewards are equal, every advantage is 0."""
    out = train(_cfg(tiny_task, tiny_model, tmp_path / "flat", steps=5, reward=None, max_new_tokens=6))
    assert all(m["advantage/zero_fraction"] == 1.0 and m["loss"] == 0.0 for m in read_metrics(out))
    err = capsys.readouterr().err
    assert "warning: steps 1-5: every advantage was 0, so the policy got no gradient" in err
    assert "all chart_answer rewards were equal" in err


def test_rollouts_cut_at_the_length_limit_are_warned_about_once(tiny_task, tiny_model, tmp_path, capsys):
    """A random-weight model almost never writes EOS: at 4 new tokens every rollout is cut, and the user is told
    (once, not every step) that the later segments get no advantage and which flag to raise."""
    out = train(_cfg(tiny_task, tiny_model, tmp_path / "cut", steps=2, max_new_tokens=4))
    assert all(m["finished_fraction"] < 0.5 for m in read_metrics(out))
    err = capsys.readouterr().err
    assert err.count("of the rollouts hit --max-new-tokens 4 before they ended") == 1
    assert "warning: step 1:" in err and "raise --max-new-tokens" in err
