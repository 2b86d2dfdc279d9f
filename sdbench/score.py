"""`sdbench score`: score a user's own model outputs against a built task, without running any model.

    sdbench score --task runs/mp --predictions my_model.jsonl --out runs/my_model_scores

Input: one JSON object per line, `{"id": "<task example id>", "response": "<the model's full output>"}`.
Output: `scores.jsonl` (per example: every metric per segment and averaged, whole-output metrics, the
per-segment and holistic rewards, format statistics, the response) and `summary.json` (means overall, by K
and by segment position; format compliance; the prediction report: invalid / duplicate / unknown / missing
ids, counted and listed; provenance: task name, version, content hash, predictions hash, sdbench version,
git sha). The same scoring path serves `sdbench eval` and the trainer's rewards.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sdbench.configs import ScoreConfig
from sdbench.errors import SdbenchError
from sdbench.predictions import read_predictions
from sdbench.provenance import provenance
from sdbench.scoring import Scorer
from sdbench.summary import summarize
from sdbench.task import load_task
from sdbench.task_data import load_task_data

SCHEMA_VERSION = 1
BATCH = 256


def score(cfg: ScoreConfig) -> dict[str, Any]:
    from tqdm.auto import tqdm

    data = load_task_data(cfg.task)
    spec = load_task(data.task_name)
    if spec.version != data.task_version:
        raise SdbenchError(f"{cfg.task}: built with task {spec.name} v{data.task_version}, but tasks/ has "
                           f"v{spec.version}; rebuild the task (scores of different versions never mix)")
    source = data.manifest["source"]["name"]
    corpus = list(data.examples(cfg.split))  # also the reference corpus (CIDEr-D document frequencies)
    examples = corpus
    if not examples:
        raise SdbenchError(f"{cfg.task}: split {cfg.split!r} has no examples")
    found, report = read_predictions(cfg.predictions, [ex.id for ex in examples])
    problems = report.problems()
    if problems and cfg.strict:
        raise SdbenchError(f"--predictions {cfg.predictions}: " + "; ".join(problems) + " (--strict)")
    for line in problems:
        print(f"warning: {line}", file=sys.stderr)
    if cfg.missing == "skip":
        examples = [ex for ex in examples if ex.id in found]
        if not examples:
            raise SdbenchError(f"--predictions {cfg.predictions}: no prediction matches an id of split "
                               f"{cfg.split!r} (its ids look like {corpus[0].id!r})")
    scorer = Scorer(spec, source, corpus, metrics=tuple(cfg.metrics) or None)
    scores = []
    for start in tqdm(range(0, len(examples), BATCH), desc="scoring", unit="batch", file=sys.stderr,
                      disable=True if len(examples) <= BATCH else None):
        batch = examples[start:start + BATCH]
        scores.extend(scorer.score(batch, [found.get(ex.id, "") for ex in batch]))
    summary = {
        "schema_version": SCHEMA_VERSION,
        "task": {"name": spec.name, "version": spec.version, "source": source, "split": cfg.split,
                 "content_hash": data.manifest["content_hash"], "folder": str(cfg.task)},
        "predictions": {"path": str(cfg.predictions), "sha256": _sha256(cfg.predictions), **asdict(report)},
        "reward": scorer.reward, "holistic_reward": scorer.holistic,
        "primary_metric": spec.primary_metric_for(source),
        "metrics_unavailable": scorer.unavailable,
        "missing_predictions": cfg.missing,
        **summarize(scores),
        "config": json.loads(json.dumps(asdict(cfg), default=str)),
        "provenance": provenance(),
    }
    out = cfg.out_dir
    out.mkdir(parents=True, exist_ok=True)
    _write_atomic(out / "scores.jsonl", "".join(json.dumps(s.to_dict(), ensure_ascii=False) + "\n" for s in scores))
    _write_atomic(out / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    primary = summary["primary_metric"]
    value = summary["metrics"].get(primary)
    print(f"{spec.name} v{spec.version} ({source}, {cfg.split}): {len(scores)} examples scored; "
          f"{primary} = {'n/a' if value is None else f'{value:.4f}'}; segments found "
          f"{summary['format']['segments_found_per_expected']:.3f}; wrote {out}/scores.jsonl and summary.json")
    return summary


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
