"""`sdbench export-lmms-eval`: write an lmms-eval task folder for a built sdbench task.

    sdbench export-lmms-eval --task runs/mp --out runs/lmms_eval/multipanel
    python -m lmms_eval --model llava_hf --model_args pretrained=MODEL_DIR,device=cpu,device_map=cpu \
        --include_path runs/lmms_eval/multipanel --tasks sdbench_multipanel --batch_size 1 \
        --log_samples --output_path runs/lmms_eval_logs

What the folder holds (lmms-eval's task-folder convention: YAML + a small Python file):
  sdbench_<task>.yaml    the task: data from data/<split>.parquet (absolute path), the prompt, greedy generation,
                         one metric_list entry per number below, each aggregated by `utils.pooled_mean`
  utils.py               doc_to_visual / doc_to_text / process_results / pooled_mean; each delegates to
                         sdbench.integrations.lmms_eval.ExportedTask, so scoring is sdbench's `Scorer`, the one
                         `sdbench score` uses
  data/<split>.parquet   the split's rows as `datasets` stores them (images as PNG bytes -> PIL on access)
  sdbench_export.json    task name / version / source / content hash, and the metric layout
  README.md              the exact lmms-eval command and the metric mapping

Why every metric is a pooled mean: `process_results` returns, per example, a number, None (the metric does not
apply to this example) or a list of numbers (one per segment); `pooled_mean` averages every number of every
example and skips None. That is exactly how `sdbench score` summarises (sdbench.data.summary), so each lmms-eval number
equals one entry of the split's table in `summary.json` (`splits.<split>`; `summary_metrics` gives the mapping;
tests/optional checks it end to end):

  lmms-eval metric               sdbench score summary.json           per example
  <metric>                       metrics.<metric>                     segment metrics averaged over K, or whole
  holistic_reward                rewards.holistic                     R
  segment_reward                 rewards.segment                      [r_1 … r_K] (pooled over all segments)
  segments_found_per_expected    format.segments_found_per_expected   [found_1 … found_K] as 0/1
  outputs_all_segments_found     format.outputs_all_segments_found    1 if every segment was found
  <primary>_k<K>                 by_k.<K>.metrics.<primary>           the primary metric if the example has K
  holistic_reward_k<K>           by_k.<K>.holistic_reward             R if the example has K
  <reward>_pos<p>                by_position.<p>.<reward>             r_p if the example has a segment p

The data is copied (not referenced) so the exported folder keeps working after the build folder is gone; its
path in the YAML is absolute (lmms-eval resolves relative data paths against the working directory), so
export again after moving the folder. lmms-eval strips leading/trailing whitespace from each output before
`process_results`; sdbench's segmenter strips segment bodies too, so the numbers do not change.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from sdbench.core.errors import SdbenchError
from sdbench.core.provenance import provenance
from sdbench.data.task import load_task
from sdbench.data.task_data import load_task_data
from sdbench.integrations.lmms_eval import EXPORT_FILE, EXPORT_SCHEMA_VERSION, MetricLayout, layout_for


@dataclass(frozen=True)
class ExportLmmsEvalConfig:
    """`sdbench export-lmms-eval`: write an lmms-eval task folder (YAML + hooks + data) for a built task."""

    task: Path | None = None
    """A folder written by `sdbench build-task`."""
    out: Path | None = None
    """Folder to write (new or empty; an earlier export needs --overwrite)."""
    split: Literal["train", "test"] = "test"
    """Split to export."""
    name: str | None = None
    """lmms-eval task name (default: sdbench_<task>)."""
    max_new_tokens: int = 256
    """Generation limit written into the task YAML."""
    overwrite: bool = False
    """Replace an earlier export in --out."""

    def __post_init__(self):
        if self.task is None or self.out is None:
            raise SdbenchError("export-lmms-eval: pass --task BUILD_DIR and --out DIR")
        if self.max_new_tokens < 1:
            raise SdbenchError(f"--max-new-tokens: need >= 1, got {self.max_new_tokens}")
        if self.name is not None and not self.name.replace("_", "").replace("-", "").isalnum():
            raise SdbenchError(f"--name {self.name!r}: use letters, digits, '_' and '-' only")


UTILS_PY = '''"""lmms-eval hooks of {name} (written by `sdbench export-lmms-eval`; edits are lost on re-export).

Each hook delegates to sdbench.integrations.lmms_eval.ExportedTask, so scoring is sdbench's own Scorer."""

from pathlib import Path

from sdbench.integrations.lmms_eval import ExportedTask
from sdbench.integrations.lmms_eval import pooled_mean as _pooled_mean

_TASK = ExportedTask(Path(__file__).resolve().parent)  # reads nothing until the first call


def doc_to_visual(doc):
    return _TASK.doc_to_visual(doc)


def doc_to_text(doc, lmms_eval_specific_kwargs=None):
    return _TASK.doc_to_text(doc)


def process_results(doc, results):
    return _TASK.process_results(doc, results)


def pooled_mean(items):
    return _pooled_mean(items)
'''


def lmms_eval_command(name: str, folder: Path, model: str = "MODEL_DIR") -> str:
    """The lmms-eval command that runs an exported task (CPU; see README for GPU)."""
    return (f"python -m lmms_eval --model llava_hf --model_args pretrained={model},device=cpu,device_map=cpu "
            f"--include_path {folder} --tasks {name} --batch_size 1 --log_samples "
            f"--output_path runs/lmms_eval_logs")


def export_lmms_eval(cfg: ExportLmmsEvalConfig) -> Path:
    """Write the lmms-eval task folder for cfg.task's split; returns the folder."""
    from datasets import disable_progress_bars

    task_dir = Path(cfg.task)
    if not task_dir.is_dir():
        raise SdbenchError(f"--task {task_dir}: no such folder; build it first with `sdbench build-task`")
    data = load_task_data(task_dir)
    spec = load_task(data.task_name)
    if spec.version != data.task_version:
        raise SdbenchError(f"{task_dir}: built with task {spec.name} v{data.task_version}, but tasks/ has "
                           f"v{spec.version}; rebuild the task (scores of different versions never mix)")
    source = data.manifest["source"]["name"]
    histogram = data.manifest["splits"].get(cfg.split, {}).get("k_histogram", {})
    dataset = data.dataset(cfg.split)
    if len(dataset) == 0 or not histogram:
        raise SdbenchError(f"{task_dir}: split {cfg.split!r} has no examples; nothing to export")
    name = cfg.name or f"sdbench_{spec.name}"
    layout = layout_for(spec, source, [int(k) for k in histogram])

    out = Path(cfg.out).resolve()
    _prepare_out(out, cfg.overwrite)
    disable_progress_bars()
    (out / "data").mkdir(parents=True)
    data_file = f"data/{cfg.split}.parquet"
    dataset.to_parquet(str(out / data_file))
    info = {"schema_version": EXPORT_SCHEMA_VERSION, "lmms_eval_task": name,
            "task": {"name": spec.name, "version": spec.version, "source": source, "split": cfg.split,
                     "content_hash": data.manifest["content_hash"], "build_folder": str(task_dir.resolve())},
            "data_file": data_file, "num_examples": len(dataset), "layout": asdict(layout),
            "config": json.loads(json.dumps(asdict(cfg), default=str)), "provenance": provenance()}
    (out / EXPORT_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    (out / f"{name}.yaml").write_text(task_yaml(name, spec, cfg, out / data_file, layout), encoding="utf-8")
    (out / "utils.py").write_text(UTILS_PY.format(name=name), encoding="utf-8")
    (out / "README.md").write_text(readme(name, spec, source, cfg, out, layout, len(dataset)), encoding="utf-8")
    print(f"wrote lmms-eval task {name} ({spec.name} v{spec.version}, {source}, {cfg.split}: {len(dataset)} "
          f"examples, {len(layout.names)} metrics) to {out}\nrun it with:\n  {lmms_eval_command(name, out)}")
    return out


def _prepare_out(out: Path, overwrite: bool) -> None:
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        out.mkdir(parents=True, exist_ok=True)
        return
    if not out.is_dir():
        raise SdbenchError(f"--out {out}: exists and is not a folder")
    if not (out / EXPORT_FILE).is_file():
        raise SdbenchError(f"--out {out}: folder is not empty and was not written by `sdbench export-lmms-eval`; "
                           "choose an empty or new folder")
    if not overwrite:
        raise SdbenchError(f"--out {out}: holds an earlier export; pass --overwrite to replace it")
    shutil.rmtree(out)
    out.mkdir(parents=True)


def task_yaml(name: str, spec, cfg: ExportLmmsEvalConfig, data_path: Path, layout: MetricLayout) -> str:
    """The task YAML. Written as text: lmms-eval's `!function` tags are not plain YAML."""
    q = json.dumps  # a JSON string is a valid double-quoted YAML scalar
    metrics = "".join(f"  - metric: {m}\n    aggregation: !function utils.pooled_mean\n    higher_is_better: true\n"
                      for m in layout.names)
    return (f"# lmms-eval task for sdbench {spec.name} v{spec.version}, written by `sdbench export-lmms-eval`.\n"
            f"# Scoring is sdbench's (utils.py -> sdbench.commands.lmms_eval_export); see README.md in this folder.\n"
            f"task: {name}\n"
            f"dataset_path: parquet\n"
            f"dataset_kwargs:\n  data_files:\n    {cfg.split}: {q(str(data_path))}\n"
            f"test_split: {cfg.split}\n"
            f"output_type: generate_until\n"
            f"doc_to_visual: !function utils.doc_to_visual\n"
            f"doc_to_text: !function utils.doc_to_text\n"
            f"doc_to_target: holistic_reference\n"
            f"process_results: !function utils.process_results\n"
            f"generation_kwargs:\n  max_new_tokens: {cfg.max_new_tokens}\n  temperature: 0\n  do_sample: false\n"
            f"  until: []\n"
            f"metric_list:\n{metrics}"
            f"metadata:\n  version: {spec.version}\n  sdbench_task: {spec.name}\n")


def readme(name: str, spec, source: str, cfg: ExportLmmsEvalConfig, out: Path, layout: MetricLayout,
           num_examples: int) -> str:
    rows = "\n".join(f"| `{lm}` | `{where}` |" for lm, where in _summary_paths(layout).items())
    return f"""# {name}: sdbench {spec.name} v{spec.version} as an lmms-eval task

Written by `sdbench export-lmms-eval` from the build `{Path(cfg.task).resolve()}` (source `{source}`, split
`{cfg.split}`, {num_examples} examples). Do not edit: export again instead (also after moving this folder — the
YAML names the data file by its absolute path).

## Run it

In an environment with lmms-eval and sdbench (`bash scripts/venv.sh lmms-eval` in the sdbench repository builds
`.venv-lmms`):

```
{lmms_eval_command(name, out)}
```

`MODEL_DIR` is a local folder or hub id that the `--model` class loads; any lmms-eval generation model works
(e.g. on a GPU: `--model qwen2_5_vl --model_args pretrained=Qwen/Qwen2.5-VL-3B-Instruct`). Checked with lmms-eval
0.7.3 and transformers 5.23 on CPU without torchvision: `llava_hf` (LLaVA-architecture folders; needs the
`decord` package) runs; `qwen2_5_vl` needs torchvision (the Qwen2.5-VL processor loads a video processor); the
generic `huggingface` class fails in transformers 5 (it passes `audios=`). lmms-eval exits with status 0 even
when the run fails: check that the samples file was written. Add `--limit N` for a quick run.

Compare with sdbench's own scoring of the same outputs: turn lmms-eval's `*_samples_{name}.jsonl` (under
`--output_path`) into a predictions file and score it (`sdbench score` reads the build folder, which must exist):

```
python - SAMPLES.jsonl <<'EOF'
import sys
from sdbench.integrations.lmms_eval import predictions_from_samples
predictions_from_samples(sys.argv[1], "{out}", "preds.jsonl")
EOF
sdbench score --task {Path(cfg.task).resolve()} --split {cfg.split} --predictions preds.jsonl --out preds_scores
```

Each lmms-eval number equals the entry of `splits.{cfg.split}` in that summary.json given in the table below, to float round-off
(`embedding_similarity` moves by about 1e-7: lmms-eval scores one output at a time, `sdbench score` a batch);
tests/optional/test_lmms_eval_export.py in the sdbench repository checks this end to end.

## Prompt and generation

One user turn: the example's images, then its prompt text (`doc_to_text`), as in sdbench's HF path; greedy,
at most {cfg.max_new_tokens} new tokens, no stop strings.

## Metrics

Every metric is a pooled mean (`utils.pooled_mean`): per example, `process_results` gives a number, None (not
counted) or one number per segment, scored by sdbench's `Scorer`. Each equals one number of `sdbench score`'s
summary.json, under `splits.{cfg.split}`:

| lmms-eval metric | summary.json `splits.{cfg.split}` |
|---|---|
{rows}
"""


def _summary_paths(layout: MetricLayout) -> dict[str, str]:
    paths = {m: f"metrics.{m}" for m in layout.metrics}
    paths |= {"holistic_reward": "rewards.holistic", "segment_reward": "rewards.segment",
              "segments_found_per_expected": "format.segments_found_per_expected",
              "outputs_all_segments_found": "format.outputs_all_segments_found"}
    paths |= {f"{layout.primary}_k{k}": f"by_k.{k}.metrics.{layout.primary}" for k in layout.ks}
    paths |= {f"holistic_reward_k{k}": f"by_k.{k}.holistic_reward" for k in layout.ks}
    paths |= {f"{layout.reward}_pos{p}": f"by_position.{p}.{layout.reward}" for p in range(1, max(layout.ks) + 1)}
    return paths


