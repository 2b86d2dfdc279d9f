"""Reading and validating results for a board: every results file under a folder becomes a `Run`, or a `Note` saying
why it was skipped (`--strict`: an error); two files claiming one seed of one row are refused.

What a board relies on beyond the schema (sdbench.evaluation.results) is checked here: a safe task name, a task
version this sdbench has, numbers where numbers go, every metric value inside its metric's range.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from sdbench.core.errors import SdbenchError, did_you_mean
from sdbench.evaluation.results import read_results

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")   # task names become file names


@dataclass(frozen=True)
class Run:
    """One validated results file."""

    path: Path
    results: dict[str, Any]

    @property
    def task(self) -> str:
        return self.results["task"]["name"]

    @property
    def version(self) -> int:
        return self.results["task"]["version"]

    @property
    def row(self) -> tuple[str, str, str, str]:
        """(source, split, method, model): the leaderboard row this run is one seed of."""
        r = self.results
        return (r["task"]["source"], r["task"]["split"], r["method"], r["model"]["name"])

    @property
    def seed(self) -> int:
        return self.results["seed"]

    @property
    def run_id(self) -> str:
        return self.results["run_id"]


class Note(NamedTuple):
    """A note before boards exist: on the board of (task, version), on every board of `task` when version is
    None or has no board, on every board when task is None or has no results."""

    task: str | None
    version: int | None
    text: str


def collect_runs(results_dir: Path, strict: bool = False) -> tuple[list[Run], list[Note]]:
    """Every valid results file under `results_dir`, and a Note for each one skipped (on the board of the
    task and version the file names, where it can be read).

    A file is skipped (strict: an SdbenchError) when sdbench.evaluation.results rejects it (other schema version,
    missing field, malformed JSON) or when it lacks what a board needs (check_for_board)."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise SdbenchError(f"--results {results_dir}: not a folder (expected one results JSON per run, "
                           "as written by `sdbench eval`)")
    runs: list[Run] = []
    skipped: list[Note] = []
    for path in sorted(p for p in results_dir.rglob("*.json") if not p.name.startswith(".")):
        if not _is_results_candidate(path):
            continue  # other JSON under the folder (checkpoint configs, dataset metadata) is not a results file
        try:
            results = read_results(path)
            check_for_board(results, str(path))
        except SdbenchError as exc:
            if strict:
                raise SdbenchError(f"{exc} (--strict; without it the file is skipped with a note)") from None
            skipped.append(Note(*_task_of(path), f"skipped {exc}"))
            continue
        runs.append(Run(path, results))
    return runs, skipped


def _is_results_candidate(path: Path) -> bool:
    """A file named results.json, any JSON object with top-level 'schema_version' and 'run_id' (a results file
    of another name or version: reported when it does not validate), or a file that does not parse (it may be
    a broken results file: reported). Other JSON (checkpoint configs, build manifests, dataset metadata) is
    not a results file and is passed over."""
    if path.name == "results.json":
        return True
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return True
    return isinstance(raw, dict) and "schema_version" in raw and "run_id" in raw


def check_for_board(results: dict[str, Any], where: str) -> None:
    """What the leaderboard relies on beyond sdbench.evaluation.results.validate_results; SdbenchError if absent."""
    task = results["task"]
    if not isinstance(task["name"], str) or not SAFE_NAME.fullmatch(task["name"]):
        raise SdbenchError(f"{where}: task.name {task['name']!r} must be letters, digits, '_', '.', '-' "
                           "(it names the board's files)")
    if not is_int(task["version"]) or task["version"] < 1:
        raise SdbenchError(f"{where}: task.version must be a positive integer, got {task['version']!r}")
    _check_task_exists(task["name"], task["version"], where)
    for name in ("source", "split"):
        if not isinstance(task[name], str):
            raise SdbenchError(f"{where}: task.{name} must be a string")
    if not isinstance(results["model"].get("name"), str):
        raise SdbenchError(f"{where}: missing field model.name")
    for metric, stat in results["metrics"].items():
        _check_stat(stat, f"{where}: metrics.{metric}")
    if results["primary_metric"] not in results["metrics"]:
        raise SdbenchError(f"{where}: primary_metric {results['primary_metric']!r} is not in metrics")
    for k, entry in results["by_k"].items():
        if not str(k).isdigit() or int(k) < 1:
            raise SdbenchError(f"{where}: by_k key {k!r} is not a positive integer K")
        if not isinstance(entry, dict) or not isinstance(entry.get("metrics"), dict):
            raise SdbenchError(f"{where}: by_k.{k} must be {{num_examples, metrics: {{...}}}}")
        for metric, stat in entry["metrics"].items():
            _check_stat(stat, f"{where}: by_k.{k}.metrics.{metric}")
    _check_ranges(results, where)


def _check_stat(stat: Any, where: str) -> None:
    value = stat.get("mean") if isinstance(stat, dict) else stat
    if value is not None and not is_number(value):
        raise SdbenchError(f"{where}: mean must be a number or null, got {value!r}")


def _check_task_exists(name: str, version: int, where: str) -> None:
    """A board exists only for a task of tasks/ (or SDBENCH_TASKS_PATH) at a version it has had (1 … now)."""
    from sdbench.data.task import list_tasks, load_task

    tasks = list_tasks()
    if name not in tasks:
        raise SdbenchError(f"{where}: task {name!r} is not a task of this sdbench ({', '.join(sorted(tasks))})"
                           f"{did_you_mean(name, tasks)}")
    current = load_task(name).version
    if version > current:
        raise SdbenchError(f"{where}: {name} v{version} does not exist (tasks/{name} is at v{current}); the file was "
                           "not written by this sdbench's `eval`")


def _check_ranges(results: dict[str, Any], where: str) -> None:
    """Every reported value of a known metric lies in its range (`Metric.value_range`); an unknown metric name
    is refused: a board compares sdbench's metrics, whose meaning and scale are fixed."""
    from sdbench.rewards.registry import METRICS, reward_range

    ranges = {name: metric.value_range for name, metric in METRICS.items()}
    reward, holistic = results.get("reward"), results.get("holistic_reward") or "mean"
    rewards = ("segment_reward", "holistic_reward")
    if reward in METRICS and (holistic == "mean" or holistic in METRICS):
        ranges.update(reward_range(reward, holistic))
    tables = [("metrics", results["metrics"])]
    tables += [(f"by_k.{k}.metrics", entry["metrics"]) for k, entry in results["by_k"].items()]
    tables += [(f"by_position.{p}", table) for p, table in results["by_position"].items() if isinstance(table, dict)]
    for scope, table in tables:
        for metric, stat in table.items():
            if metric not in ranges:
                if metric in rewards:
                    continue  # a file without its reward's name: the range is unknown
                raise SdbenchError(f"{where}: {scope}.{metric} is not a metric of sdbench{did_you_mean(metric, ranges)}")
            low, high = ranges[metric]
            for part in ("mean", "ci_low", "ci_high") if isinstance(stat, dict) else ():
                value = stat.get(part)
                if is_number(value) and not is_nan(value) and not low - 1e-9 <= value <= high + 1e-9:
                    raise SdbenchError(f"{where}: {scope}.{metric}.{part} = {value} is outside {metric}'s range "
                                       f"[{low:g}, {high:g}]")


def _task_of(path: Path) -> tuple[str | None, int | None]:
    """(task name, version) a rejected file claims, each None where unreadable: where its skip note goes."""
    try:
        task = json.loads(path.read_text(encoding="utf-8"))["task"]
        name, version = task.get("name"), task.get("version")
    except Exception:  # noqa: BLE001 - the file is already known to be bad; this is only for the note
        return None, None
    return (name if isinstance(name, str) else None), (version if is_int(version) else None)


def drop_duplicate_seeds(runs: list[Run], strict: bool = False) -> tuple[list[Run], list[Note]]:
    """One run per (task, version, row, seed): the first on the board (provenance.timestamp, then path). A later
    file that claims the same seed is refused with a note (strict: an error), unless it is a byte-identical
    copy, which is counted once."""
    by_seed: dict[tuple, list[Run]] = defaultdict(list)
    for run in runs:
        by_seed[(run.task, run.version, *run.row, run.seed)].append(run)
    kept: list[Run] = []
    notes: list[Note] = []
    for (task, version, source, split, method, model, seed), group in by_seed.items():
        group = sorted(group, key=lambda r: (str(r.results["provenance"].get("timestamp") or ""), str(r.path)))
        first = group[0]
        kept.append(first)
        original = first.path.read_bytes()
        for other in group[1:]:
            if other.path.read_bytes() == original:
                notes.append(Note(task, version, f"{other.path} is a copy of {first.path}; counted once"))
                continue
            message = (f"refused {other.path}: it claims seed {seed} of {method} / {model} ({source}, {split}), "
                       f"which {first.path} already holds with other numbers; give the run another seed or "
                       "remove one file")
            if strict:
                raise SdbenchError(f"{task} v{version}: {message} (--strict)")
            notes.append(Note(task, version, message))
    return sorted(kept, key=lambda r: str(r.path)), notes


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_nan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
