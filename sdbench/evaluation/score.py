"""`sdbench score`: score a user's own model outputs against a built task, without running any model.

    sdbench score --task runs/mcqa --predictions my_model.jsonl --out runs/my_model_scores
    sdbench score --task runs/mcqa --predictions my_model.jsonl --split test

Input: one JSON object per line, `{"id": "<task example id>", "response": "<the model's full output>"}`; the
ids may come from any split of the build. Which splits are scored (`--split`): `auto` (default) every split
that at least one prediction answers, `all` every split of the build, or one split. Each split is scored
against its own reference corpus (CIDEr-D document frequencies) and gets a table of its own.

Output: `scores.jsonl` (per example: its split, every metric per segment and averaged, whole-output metrics,
the per-segment and holistic rewards, format statistics, the response) and `summary.json` (`splits`: per
split, means overall, by K and by segment position, format compliance; the prediction report: invalid /
duplicate / unknown / missing ids, counted and listed; provenance: task name, version, content hash,
predictions hash, sdbench version, git sha). The same scoring path serves `sdbench eval` and the trainer's
rewards. With `--model-name NAME` it also writes `results.json` (the schema `sdbench eval` writes, method
'external'), so your model goes on a board beside the trained baselines:

    sdbench score --task runs/mp --predictions mine.jsonl --split test --model-name my-vlm --out leaderboards/results/my-vlm
    sdbench leaderboard
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from sdbench.core.atomic import write_atomic
from sdbench.core.errors import SdbenchError
from sdbench.core.provenance import provenance
from sdbench.data.scoring import Scorer
from sdbench.data.summary import summarize
from sdbench.data.task import load_task
from sdbench.data.task_data import SPLITS, load_task_data
from sdbench.evaluation.predictions import read_predictions
from sdbench.evaluation.results import write_results

SCHEMA_VERSION = 2
BATCH = 256


@dataclass(frozen=True)
class ScoreConfig:
    """`sdbench score`: score your own model's outputs against a built task, without running any model."""

    task: Path | None = None
    """A folder written by `sdbench build-task`."""
    predictions: Path | None = None
    """JSONL, one {"id": ..., "response": ...} per line (ids are the task's example ids)."""
    out: Path | None = None
    """Output folder for scores.jsonl and summary.json (default: next to the predictions file)."""
    split: Literal["auto", "all", "train", "test"] = "auto"
    """Splits to score, one table each: 'auto' every split that a prediction answers, 'all' every split of the
    build (ids without a prediction count as missing), or one split."""
    metrics: tuple[str, ...] = ()
    """Metrics to compute (default: the task's; comma-separated)."""
    missing: Literal["zero", "skip"] = "zero"
    """Task examples without a prediction: score them as an empty response ('zero') or leave them out ('skip'
    — the summary then covers fewer examples and says so)."""
    strict: bool = False
    """Fail on any invalid, duplicate, unknown or missing prediction instead of counting it."""
    model_name: str | None = None
    """Put these scores on a board: also write results.json (the schema `sdbench eval` writes, method 'external',
    this model name) beside scores.jsonl, for `sdbench leaderboard` and `sdbench compare`. Needs one split."""
    seed: int = 0
    """With --model-name: the training seed of the scored model (a board averages a row's seeds)."""

    def __post_init__(self):
        if self.task is None or self.predictions is None:
            raise SdbenchError("score: pass --task BUILD_DIR and --predictions FILE.jsonl")
        if self.model_name is not None and not self.model_name.strip():
            raise SdbenchError("--model-name: give the name the board shows for your model (e.g. my-vlm-7b)")

    @property
    def out_dir(self) -> Path:
        return Path(self.out) if self.out else Path(self.predictions).parent / (Path(self.predictions).stem + "_scores")


def score(cfg: ScoreConfig) -> dict[str, Any]:
    from sdbench.core.progress import progress

    data = load_task_data(cfg.task)
    spec = load_task(data.task_name)
    if spec.version != data.task_version:
        raise SdbenchError(f"{cfg.task}: built with task {spec.name} v{data.task_version}, but tasks/ has "
                           f"v{spec.version}; rebuild the task (scores of different versions never mix)")
    source = data.manifest["source"]["name"]
    data.check()  # an edited or damaged build is refused before anything is scored against it
    # every split's examples (text only: images are decoded on access, and scoring reads none)
    corpora = {split: list(data.examples(split)) for split in SPLITS
               if data.manifest["splits"].get(split, {}).get("count", 0)}
    if not corpora:
        raise SdbenchError(f"{cfg.task}: the build has no examples")
    found, report = read_predictions(cfg.predictions, [ex.id for split in corpora for ex in corpora[split]])
    chosen = _chosen_splits(cfg, corpora, found)
    report.count_missing([ex.id for split in chosen for ex in corpora[split]], found)
    problems = report.problems()
    if problems and cfg.strict:
        raise SdbenchError(f"--predictions {cfg.predictions}: " + "; ".join(problems) + " (--strict)")
    for line in problems:
        print(f"warning: {line}", file=sys.stderr)
    for split in corpora:
        if split not in chosen:
            print(f"note: split {split!r} ({len(corpora[split])} examples) has no prediction; not scored "
                  "(--split all scores it, with empty responses)", file=sys.stderr)

    if cfg.model_name is not None and len(chosen) != 1:
        raise SdbenchError(f"--model-name: a board row is one split, and {len(chosen)} splits would be scored "
                           f"({', '.join(chosen)}); pass --split test (or the split your predictions answer)")
    rows: list[dict[str, Any]] = []
    splits: dict[str, Any] = {}
    by_split: dict[str, list] = {}
    scorer = None
    for split in chosen:
        corpus = corpora[split]
        examples = [ex for ex in corpus if ex.id in found] if cfg.missing == "skip" else corpus
        if not examples:
            raise SdbenchError(f"--predictions {cfg.predictions}: no prediction matches an id of split {split!r} "
                               f"(its ids look like {corpus[0].id!r})")
        scorer = Scorer(spec, source, corpus, metrics=tuple(cfg.metrics) or None)
        scores = []
        for start in progress(range(0, len(examples), BATCH), desc=f"scoring {split}", unit="batch",
                              disable=len(examples) <= BATCH):
            batch = examples[start:start + BATCH]
            scores.extend(scorer.score(batch, [found.get(ex.id, "") for ex in batch]))
        rows += [{"split": split, **s.to_dict()} for s in scores]
        by_split[split] = scores
        splits[split] = {"num_missing_predictions": sum(ex.id not in found for ex in corpus), **summarize(scores)}
    assert scorer is not None
    summary = {
        "schema_version": SCHEMA_VERSION,
        "task": {"name": spec.name, "version": spec.version, "source": source, "splits_scored": chosen,
                 "content_hash": data.manifest["content_hash"], "folder": str(cfg.task)},
        "predictions": {"path": str(cfg.predictions), "sha256": _sha256(cfg.predictions), **asdict(report)},
        "reward": scorer.reward, "holistic_reward": scorer.holistic,
        "primary_metric": spec.primary_metric_for(source),
        "metrics_unavailable": scorer.unavailable,
        "missing_predictions": cfg.missing,
        "splits": splits,
        "config": json.loads(json.dumps(asdict(cfg), default=str)),
        "provenance": provenance(),
    }
    out = cfg.out_dir
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "scores.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    write_atomic(out / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    print(format_summary(summary))
    print(f"wrote {out}/scores.jsonl and summary.json")
    if cfg.model_name is not None:
        (split,) = chosen
        path = write_results(out / "results.json", board_results(cfg, summary, split, by_split[split]))
        print(f"wrote {path}: put its folder under a leaderboard's --results (e.g. leaderboards/results/) and run "
              "`sdbench leaderboard`")
    return summary


def board_results(cfg: ScoreConfig, summary: dict[str, Any], split: str, scores: list) -> dict[str, Any]:
    """A results file (sdbench.evaluation.results schema) for the scores of one split: method 'external', the model
    named by --model-name, no training, decoding unknown (the outputs were made elsewhere); per-example values in
    scores.jsonl (its `outputs`), so `sdbench compare` can pair it with other runs."""
    from sdbench.evaluation.evaluate import aggregate
    from sdbench.evaluation.results import SCHEMA_VERSION as RESULTS_SCHEMA

    task = summary["task"]
    run_id = f"{task['name']}-{_safe(cfg.model_name)}-external-seed{cfg.seed}"
    return {
        "schema_version": RESULTS_SCHEMA, "run_id": run_id,
        "task": {"name": task["name"], "version": task["version"], "source": task["source"], "split": split,
                 "content_hash": task["content_hash"], "folder": task["folder"],
                 "num_examples": len(scores), "segments": []},
        "model": {"name": cfg.model_name, "checkpoint": None, "checkpoint_hash": None},
        "method": "external", "seed": cfg.seed, "train": None,
        "decoding": {"greedy": None, "temperature": None, "max_new_tokens": None, "num_samples": 1},
        "primary_metric": summary["primary_metric"], "reward": summary["reward"],
        "holistic_reward": summary["holistic_reward"], "metrics_unavailable": summary["metrics_unavailable"],
        **aggregate(scores, seed=cfg.seed),
        "diagnostics": None,
        "notes": [f"scored by `sdbench score` from {Path(cfg.predictions).name} (sha256 "
                  f"{summary['predictions']['sha256'][:12]}); {summary['splits'][split]['num_missing_predictions']} "
                  f"example(s) without a prediction ({cfg.missing})"],
        "outputs": "scores.jsonl", "eval_config": summary["config"], "seconds": None,
        "provenance": summary["provenance"],
    }


def _safe(name: str) -> str:
    """A model name as a run-id part: letters, digits, '.', '_', '-' (others as '-')."""
    return "".join(c if c.isalnum() or c in "._-" else "-" for c in name).strip("-") or "model"


def _chosen_splits(cfg: ScoreConfig, corpora: dict[str, list], found: dict[str, str]) -> list[str]:
    """The splits to score, in build order (train, test)."""
    if cfg.split in SPLITS:
        if cfg.split not in corpora:
            raise SdbenchError(f"--split {cfg.split}: the build {cfg.task} has no {cfg.split} examples "
                               f"(it has {', '.join(corpora)})")
        return [cfg.split]
    if cfg.split == "all":
        return list(corpora)
    answered = [split for split, corpus in corpora.items() if any(ex.id in found for ex in corpus)]
    if not answered:
        some = next(iter(corpora.values()))[0].id
        raise SdbenchError(f"--predictions {cfg.predictions}: no prediction matches an id of the build {cfg.task} "
                           f"(its ids look like {some!r}); each line needs the example's \"id\"")
    return answered


def format_summary(summary: dict[str, Any]) -> str:
    """One table per scored split: examples, the primary metric, the rewards, by K, format compliance."""
    task, primary = summary["task"], summary["primary_metric"]
    lines = []
    for split, s in summary["splits"].items():
        value = s["metrics"].get(primary)
        lines.append(f"{task['name']} v{task['version']} ({task['source']}) {split}: {s['num_examples']} examples"
                     f" ({s['num_missing_predictions']} without a prediction); {primary} = "
                     f"{'n/a' if value is None else f'{value:.4f}'}; segments found "
                     f"{s['format']['segments_found_per_expected']:.3f}")
        lines.append(f"  {'K':>4} {'n':>6} {primary:>24} {'holistic reward':>16}")
        for k, group in s["by_k"].items():
            v, h = group["metrics"].get(primary), group["holistic_reward"]
            lines.append(f"  {k:>4} {group['num_examples']:>6} {'n/a' if v is None else f'{v:.4f}':>24} "
                         f"{'n/a' if h is None else f'{h:.4f}':>16}")
    return "\n".join(lines)


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


