"""A run folder belongs to one run (sdbench.rl.run_folder): the lock, resume that must match, restarts and leftovers.

Each case is a clumsy or hostile use of `sdbench train`; each test checks the error (one line, naming what to do)
and that nothing was lost or mixed: metrics.jsonl describes one run, checkpoints stay intact."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sdbench.cli import main
from sdbench.core.errors import SdbenchError
from sdbench.rl.run_folder import claim_run_folder, config_differences
from sdbench.rl.run_log import read_metrics
from sdbench.rl.train_config import TrainConfig
from sdbench.rl.trainer import train
from tests.fixtures.train_config import tiny_train_config

REPO = Path(__file__).resolve().parents[2]


def _cfg(task, model, out, **kw) -> TrainConfig:
    """Shorter than the trainer tests' runs (2 steps of 2 x 2 rollouts), and a checkpoint every step."""
    return tiny_train_config(task, model, out, **{"steps": 2, "group_size": 2, "max_new_tokens": 12, "save_every": 1,
                                                  **kw})


def _steps(run) -> list[int]:
    return [m["step"] for m in read_metrics(run)]


def test_a_second_run_into_a_held_folder_fails_at_once_naming_the_holder(tiny_task, tiny_model, tmp_path, capsys):
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom sdbench.rl.run_folder import claim_run_folder\n"
         f"with claim_run_folder({str(run)!r}):\n    print('held', flush=True)\n    time.sleep(60)"],
        cwd=REPO, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert holder.stdout.readline().strip() == "held"
        start = time.perf_counter()
        rc = main(["train", "--task", str(tiny_task), "--model", str(tiny_model), "--out", str(run), "--steps", "1"])
        err = capsys.readouterr().err
        assert rc == 2 and time.perf_counter() - start < 30  # at once, not after loading a model
        assert f"in use by another training run (pid {holder.pid} on " in err and "choose another --out" in err
        assert not (run / "metrics.jsonl").exists()
    finally:
        holder.kill()
        holder.wait()
    with claim_run_folder(run):  # the kernel released the dead holder's lock
        pass


def test_resume_refuses_other_settings_and_allows_neutral_ones(tiny_task, tiny_model, tmp_path):
    run = train(_cfg(tiny_task, tiny_model, tmp_path / "run", steps=1))
    for change, named in [(dict(method="grpo"), "method: 'sd-grpo' -> 'grpo'"), (dict(seed=3), "seed: 0 -> 3"),
                          (dict(learning_rate=1e-3), "learning_rate: 0.005 -> 0.001"),
                          (dict(reward="cider_d"), "reward: 'embedding_similarity' -> 'cider_d'")]:
        with pytest.raises(SdbenchError, match="was started with other settings") as info:
            train(_cfg(tiny_task, tiny_model, run, steps=2, resume=True, **change))
        assert named in str(info.value)
    assert _steps(run) == [1]  # nothing was mixed in
    train(_cfg(tiny_task, tiny_model, run, steps=2, resume=True, threads=2))  # threads and steps may differ
    assert _steps(run) == [1, 2]
    assert config_differences({"threads": 1, "steps": 2, "out": "a"}, {"threads": 2, "steps": 9, "out": "b"}) == []


def test_resume_refuses_a_rebuilt_task(tiny_task, tiny_model, tmp_path):
    run = train(_cfg(tiny_task, tiny_model, tmp_path / "run", steps=1))
    state = run / "checkpoints" / "step-000001" / "trainer_state.json"
    record = json.loads(state.read_text())
    record["extra"]["task"]["content_hash"] = "0" * 64
    state.write_text(json.dumps(record))
    with pytest.raises(SdbenchError, match=r"task data: content 000000000000 -> [0-9a-f]{12} \(rebuilt or changed\)"):
        train(_cfg(tiny_task, tiny_model, run, resume=True))


def test_a_run_stopped_before_its_first_checkpoint_restarts_cleanly(tiny_task, tiny_model, tmp_path, capsys):
    import shutil

    run = train(_cfg(tiny_task, tiny_model, tmp_path / "run", steps=1))
    shutil.rmtree(run / "checkpoints")  # as if killed after logging step 1 but before saving it
    with pytest.raises(SdbenchError, match="already holds a run; pass --resume to continue it"):
        train(_cfg(tiny_task, tiny_model, run))
    train(_cfg(tiny_task, tiny_model, run, resume=True))
    assert "stopped before its first checkpoint: starting again from step 0" in capsys.readouterr().err
    assert _steps(run) == [1, 2]  # the old step-1 line is gone, not doubled
    with pytest.raises(SdbenchError, match="holds no run yet; drop --resume"):
        train(_cfg(tiny_task, tiny_model, tmp_path / "new", resume=True))


def test_a_corrupt_latest_falls_back_to_the_newest_intact_checkpoint(tiny_task, tiny_model, tmp_path, capsys):
    run = train(_cfg(tiny_task, tiny_model, tmp_path / "run", steps=2))
    (run / "checkpoints" / "step-000002" / "model.safetensors").unlink()
    leftover = run / "checkpoints" / ".tmp-step-000003-99999"
    leftover.mkdir()
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"step": 3, "loss": 0.1')  # a line cut off by a kill
    train(_cfg(tiny_task, tiny_model, run, steps=3, resume=True))
    err = capsys.readouterr().err
    assert "names 'step-000002', which is missing or incomplete: using step-000001" in err
    assert "removed checkpoints/.tmp-step-000003-99999" in err and not leftover.exists()
    assert "dropped 1 line(s) that are not a complete JSON record" in err
    assert _steps(run) == [1, 2, 3]  # resumed after step 1: step 2 redone once, step 3 new


@pytest.mark.parametrize("args, message", [
    (["--learning-rate", "nan"], "--learning-rate: need a finite number, got nan"),
    (["--clip-eps-low", "inf"], "--clip-eps-low: need a finite number, got inf"),
])
def test_bad_numbers_are_one_line_errors(tiny_task, tiny_model, tmp_path, capsys, args, message):
    rc = main(["train", "--task", str(tiny_task), "--model", str(tiny_model), "--out", str(tmp_path / "r"), *args])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err


def test_out_that_is_a_file_or_cannot_be_made_is_one_line(tiny_task, tiny_model, tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert main(["train", "--task", str(tiny_task), "--model", str(tiny_model), "--out", str(a_file)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    # a folder that cannot be made (under a file: fails for root too, unlike a read-only folder)
    assert main(["train", "--task", str(tiny_task), "--model", str(tiny_model), "--out", str(a_file / "run")]) == 2
    err = capsys.readouterr().err
    assert "cannot write there (Not a directory)" in err and "Traceback" not in err


def test_a_deleted_latest_pointer_resumes_from_the_newest_intact_checkpoint(tiny_task, tiny_model, tmp_path, capsys):
    run = train(_cfg(tiny_task, tiny_model, tmp_path / "run", steps=2))
    (run / "checkpoints" / "latest").unlink()
    train(_cfg(tiny_task, tiny_model, run, steps=3, resume=True))
    assert "latest is missing: using step-000002, the newest intact checkpoint" in capsys.readouterr().err
    assert _steps(run) == [1, 2, 3]
