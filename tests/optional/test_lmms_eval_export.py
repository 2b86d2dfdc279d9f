"""The exported lmms-eval task run by the real lmms-eval: its numbers equal `sdbench score` on the same outputs.

Runs in .venv-lmms (lmms-eval 0.7.3 + sdbench; `make test-lmms-eval` builds it and runs this file); skipped where
lmms-eval is not installed, e.g. in the main .venv.

    bash scripts/venv.sh lmms-eval && .venv-lmms/bin/python -m pytest -q tests/optional/test_lmms_eval_export.py

Model: a tiny random-weight LLaVA built locally (sdbench.models.tiny_vlm), run by lmms-eval's built-in `llava_hf` class
on CPU. Not the tiny Qwen2.5-VL: in .venv-lmms (no torchvision, transformers 5) lmms-eval's `qwen2_5_vl` class
cannot load it (AutoProcessor wants the torchvision video processor), and the generic `huggingface` class fails
for every model (it passes `audios=`, which transformers 5 rejects). Which model writes the outputs does not
matter here: the test compares two scorings of the same outputs.
"""

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("lmms_eval")

from sdbench.commands.lmms_eval_export import ExportLmmsEvalConfig, export_lmms_eval
from sdbench.data.build_task import build_task  # noqa: E402
from sdbench.data.build_task import BuildTaskConfig
from sdbench.data.task_data import load_task_data  # noqa: E402
from sdbench.evaluation.score import ScoreConfig  # noqa: E402
from sdbench.evaluation.score import score  # noqa: E402
from sdbench.integrations.lmms_eval import ExportedTask, predictions_from_samples, summary_metrics
from sdbench.models.tiny_vlm import VisionTower, build_tiny_vlm, corpus_texts, train_tokenizer  # noqa: E402

pytestmark = [pytest.mark.optional_env, pytest.mark.slow]

TASK = "sdbench_multipanel"


def test_lmms_eval_numbers_equal_sdbench_score(tmp_path):
    import torch

    torch.set_num_threads(2)
    task = build_task(BuildTaskConfig(task="multipanel", segments=(1, 2), n_train=8, n_test=4, seed=0,
                                      out=tmp_path / "task"), quiet=True)
    tokenizer = train_tokenizer(corpus_texts(load_task_data(task).examples("train")), 600, "llava")
    model = build_tiny_vlm("llava", tokenizer, tmp_path / "model", hidden_size=128, num_layers=2,
                           vision=VisionTower(hidden_size=32, num_layers=1, num_heads=2), image_size=112, seed=0)
    export = export_lmms_eval(ExportLmmsEvalConfig(task=task, out=tmp_path / "export", max_new_tokens=48))

    logs = tmp_path / "logs"
    command = [sys.executable, "-m", "lmms_eval", "--model", "llava_hf",
               "--model_args", f"pretrained={model},device=cpu,device_map=cpu", "--include_path", str(export),
               "--tasks", TASK, "--batch_size", "1", "--log_samples", "--output_path", str(logs)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "HF_DATASETS_CACHE": str(tmp_path / "hf_datasets"), "OMP_NUM_THREADS": "2"}
    run = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    samples = sorted(logs.rglob(f"*_samples_{TASK}.jsonl"))
    results = sorted(logs.rglob("*_results.json"))
    # lmms-eval exits 0 even when the run fails: the files it writes at the end are the evidence
    assert run.returncode == 0 and samples and results, f"{run.stdout[-4000:]}\n{run.stderr[-4000:]}"

    logged = [json.loads(line) for line in samples[0].read_text().splitlines()]
    assert len(logged) == 4
    assert any(s["token_counts"][0]["output_tokens"] > 0 for s in logged)  # llava_hf logs "" on a generate error
    lmms_numbers = json.loads(results[0].read_text())["results"][TASK]

    predictions = tmp_path / "predictions.jsonl"
    assert predictions_from_samples(samples[0], export, predictions) == 4
    summary = score(ScoreConfig(task=task, predictions=predictions, out=tmp_path / "scores", strict=True))
    layout = ExportedTask(export).layout
    want = summary_metrics(summary["splits"]["test"], layout)
    for name in layout.names:
        got = lmms_numbers[f"{name},none"]
        if want[name] is None:
            assert got is None, name
        else:  # the embedding model encodes one output at a time in process_results, all at once in `score`
            assert got == pytest.approx(want[name], rel=1e-6, abs=1e-9), name

    # per example too: lmms-eval's logged per-sample metrics are sdbench's scores.jsonl rows
    rows = {r["id"]: r for r in map(json.loads, (tmp_path / "scores" / "scores.jsonl").read_text().splitlines())}
    ids = [json.loads(line)["id"] for line in predictions.read_text().splitlines()]
    for sample, example_id in zip(logged, ids):
        for name in layout.metrics:
            want_value = rows[example_id]["metrics"][name]
            assert sample[name] == (None if want_value is None else pytest.approx(want_value, rel=1e-6, abs=1e-9))
        assert sample["segment_reward"] == pytest.approx(rows[example_id]["segment_rewards"])
        assert sample["holistic_reward"] == pytest.approx(rows[example_id]["holistic_reward"])
    print(f"lmms-eval {TASK}: " + ", ".join(f"{n}={lmms_numbers[f'{n},none']}" for n in layout.names[:8]))
