"""The results file: one JSON per evaluation run, the leaderboard's source of truth (reviewable in git).

Schema (SCHEMA_VERSION = 1); `validate_results` checks it and names the file and field on any problem:

    schema_version   1
    run_id           unique name of the run (file stem)
    task             {name, version, source, split, content_hash}
    model            {name, checkpoint, checkpoint_hash}      checkpoint fields null for hub / external models
    method           training method of the evaluated model: sft | grpo | dr-grpo | sd-grpo | sd-dr-grpo | hybrid
                     | base | external
    seed             training seed of the evaluated model (leaderboards average over seeds)
    train            {config, steps, learning_curve: [{step, reward/holistic, ...}]} or null
    decoding         {greedy, temperature, max_new_tokens, num_samples}
    primary_metric   name of the task source's primary metric
    metrics          {metric: {mean, ci_low, ci_high, n}}                           over all test examples
    by_k             {K: {num_examples, metrics: {metric: {mean, ci_low, ci_high, n}}}}
    by_position      {position: {metric: {mean, ci_low, ci_high, n}}}
    format           format compliance (sdbench.data.summary.format_compliance)
    diagnostics      misattribution diagnostics vs K, or null
    outputs          path of the per-example outputs JSONL, relative to the results file
    provenance       {sdbench_version, git_sha, timestamp, libraries}

Confidence intervals are 95 % bootstrap intervals over test examples (sdbench.core.stats).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sdbench.core.errors import SdbenchError

SCHEMA_VERSION = 1
REQUIRED = {"schema_version": int, "run_id": str, "task": dict, "model": dict, "method": str, "seed": int,
            "decoding": dict, "primary_metric": str, "metrics": dict, "by_k": dict, "by_position": dict,
            "format": dict, "outputs": str, "provenance": dict}
TASK_FIELDS = ("name", "version", "source", "split", "content_hash")
METHODS = ("sft", "grpo", "dr-grpo", "sd-grpo", "sd-dr-grpo", "hybrid", "base", "external")


def validate_results(results: Any, where: str) -> dict[str, Any]:
    """Return `results` if it follows the schema; else raise SdbenchError naming `where` and the field."""
    if not isinstance(results, dict):
        raise SdbenchError(f"{where}: not a JSON object")
    version = results.get("schema_version")
    if version != SCHEMA_VERSION:
        raise SdbenchError(f"{where}: schema_version {version!r}, this sdbench reads {SCHEMA_VERSION}; re-run "
                           "`sdbench eval` to regenerate it (or use the sdbench version that wrote it)")
    for name, kind in REQUIRED.items():
        if name not in results:
            raise SdbenchError(f"{where}: missing field {name!r}")
        if not isinstance(results[name], kind) or (kind is int and isinstance(results[name], bool)):
            raise SdbenchError(f"{where}: field {name!r} must be {kind.__name__}")
    for name in TASK_FIELDS:
        if name not in results["task"]:
            raise SdbenchError(f"{where}: missing field task.{name}")
    if results["method"] not in METHODS:
        raise SdbenchError(f"{where}: method {results['method']!r} is not one of {list(METHODS)}")
    for metric, stat in results["metrics"].items():
        if not isinstance(stat, dict) or "mean" not in stat:
            raise SdbenchError(f"{where}: metrics.{metric} must be {{mean, ci_low, ci_high, n}}")
    return results


def read_results(path: Path) -> dict[str, Any]:
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SdbenchError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise SdbenchError(f"{path}: not UTF-8 (byte {exc.start + 1}); a results file is UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise SdbenchError(f"{path}: malformed JSON (line {exc.lineno})") from None
    except OSError as exc:
        raise SdbenchError(f"{path}: cannot read ({exc.strerror or exc.__class__.__name__})") from None
    return validate_results(raw, str(path))


def write_results(path: Path, results: dict[str, Any]) -> Path:
    """Validate, then write atomically (sorted keys, so diffs in git stay small)."""
    import os
    import tempfile

    validate_results(results, str(path))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(results, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path
