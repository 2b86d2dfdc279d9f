"""`sdbench leaderboard`: results JSONs -> validated pandas tables -> boards (terminal, Markdown, CSV, HTML)
and plots, one board per task *version* (versions are never ranked together).

    sdbench leaderboard                                  # every task; prints terminal tables
    sdbench leaderboard --task multipanel --format markdown
    sdbench leaderboard --results leaderboards/results --out leaderboards --strict

Source of truth: `leaderboards/results/*.json`, one file per evaluation run (schema: sdbench.results). A
row is (task source, split, method, model); the files of a row are its seeds, and every cell is the mean
± the half-width of a 95 % t-interval over those seeds (sdbench.stats.seed_ci), overall and per K.

Written under --out, per board `<task>-v<version>`: `.md`, `.csv` (long: one line per row, metric and K)
and `.html` (one self-contained page, sdbench.leaderboard_html), plus `plots/<board>-reward_vs_k`,
`-learning_curves` and `-diagnostics` (sdbench.leaderboard_plots) as .png, .svg and .pdf where the results hold
that data.

Nothing is dropped silently: a file that is not a valid results file, a duplicate seed, a row mixing
decoding settings or training configs, an unreadable learning curve: each becomes a note printed with the
board and written into it. `--strict` turns unreadable files and duplicate seeds into errors instead.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from sdbench.atomic import write_atomic
from sdbench.errors import SdbenchError, did_you_mean, unknown_name_error
from sdbench.results import read_results
from sdbench.stats import NEAR_ZERO, seed_ci

if TYPE_CHECKING:
    import pandas as pd

ALL_K = "all"                         # the `k` of a cell over all test examples
ROW_KEY = ("source", "split", "method", "model")
CELL_KEY = ("task", "version", *ROW_KEY, "metric", "k")
COMPARED = (("grpo", "sd-grpo"), ("grpo", "hybrid"), ("sd-grpo", "hybrid"))  # (baseline, treatment) on each board
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")   # task names become file names
# training-config fields that differ between seeds of one recipe (not part of the recipe)
BOOKKEEPING = {"seed", "out", "resume", "threads", "tensorboard", "save_every", "task", "model"}


@dataclass(frozen=True)
class LeaderboardConfig:
    """`sdbench leaderboard`: aggregate results JSONs into per-task-version boards and plots."""

    results: Path = Path("leaderboards/results")
    """Folder of results JSONs (searched recursively), one per evaluation run."""
    task: str | None = None
    """Only this task's boards (default: every task found)."""
    format: Literal["table", "markdown", "csv", "html"] = "table"
    """What to print: a terminal table, Markdown, CSV, or (html) the paths of the pages written."""
    out: Path = Path("leaderboards")
    """Where the boards (.md, .csv, .html) and plots/ are written."""
    metric: str | None = None
    """Metric the boards rank by (default: each task source's primary metric, from the results)."""
    strict: bool = False
    """Fail on an unreadable results file or a duplicate seed instead of skipping it with a note."""
    write: bool = True
    """Write the boards and plots under --out (--no-write: only print)."""
    examples_per_run: int = 2
    """Model responses per run shown on the HTML page (read from the run's outputs JSONL; 0 = none)."""

    def __post_init__(self):
        if self.examples_per_run < 0:
            raise SdbenchError(f"--examples-per-run: need >= 0, got {self.examples_per_run}")
        if self.format == "html" and not self.write:
            raise SdbenchError("--format html prints the paths of the pages it writes; drop --no-write")


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


@dataclass
class Board:
    """Everything shown for one (task, version)."""

    task: str
    version: int
    runs: list[Run]
    cells: pd.DataFrame
    """aggregate(): one line per (row, metric, k) with mean, ci_low, ci_high, n_seeds, seeds, run_ids."""
    headline: dict[tuple[str, str], str]
    """(source, split) -> the metric ranked by."""
    curves: pd.DataFrame
    """learning_curves_frame() of the runs."""
    diagnostics: pd.DataFrame
    """diagnostics_frame() of the runs."""
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    """board_comparisons(): paired method-vs-method rows per K (sdbench.compare) on each section's ranking metric."""
    notes: list[str] = field(default_factory=list)
    """Notes on this board's task: skipped files that name it, duplicates, other versions, mixing."""
    general_notes: list[str] = field(default_factory=list)
    """Notes tied to no task with results (e.g. a skipped file that names no readable task): on every board."""

    @property
    def name(self) -> str:
        return f"{self.task}-v{self.version}"

    @property
    def all_notes(self) -> list[str]:
        return [*self.notes, *self.general_notes]

    def is_primary(self, source: str, split: str) -> bool:
        """Whether the headline metric of a section is the primary metric its runs report."""
        return any(r.results["primary_metric"] == self.headline[(source, split)] for r in self.runs
                   if r.row[:2] == (source, split))


# ---- entry point ----------------------------------------------------------------------------------------
def leaderboard(cfg: LeaderboardConfig) -> list[Board]:
    """Read, aggregate, print in cfg.format, and (cfg.write) write the boards and plots under cfg.out."""
    runs, skipped = collect_runs(cfg.results, strict=cfg.strict)
    runs, duplicates = drop_duplicate_seeds(runs, strict=cfg.strict)
    if not runs:
        detail = "; ".join(note.text for note in skipped)
        raise SdbenchError(f"--results {cfg.results}: no valid results file"
                           + (f" ({len(skipped)} skipped: {detail})" if skipped else
                              "; `sdbench eval` writes one per run"))
    boards = build_boards(runs, [*skipped, *duplicates], task=cfg.task, metric=cfg.metric)
    written: list[Path] = []
    if cfg.write:
        for board in boards:
            written.extend(write_board(board, cfg.out, examples_per_run=cfg.examples_per_run))
    general = boards[0].general_notes  # the same on every board: printed once, after them
    if cfg.format == "table":
        text = "\n\n".join(render_table(b, general=False) for b in boards)
        if general:
            text += "\n\nnotes (all boards):\n" + "\n".join(f"  - {_plain(n)}" for n in general)
        print(text)
    elif cfg.format == "markdown":
        text = "\n".join(render_markdown(b, general=False) for b in boards)
        if general:
            text += "\n## Notes (all boards)\n\n" + "".join(f"- {_md(n)}\n" for n in general)
        print(text, end="")
    elif cfg.format == "csv":
        print(render_csv(boards), end="")
        for note in [f"{b.name}: {n}" for b in boards for n in b.notes] + general:
            print(f"note: {_plain(note)}", file=sys.stderr)
    else:
        for path in written:
            if path.suffix == ".html":
                print(path)
    if cfg.write:
        print(f"wrote {len(written)} files under {cfg.out} ({', '.join(b.name for b in boards)})", file=sys.stderr)
    return boards


# ---- reading --------------------------------------------------------------------------------------------
def collect_runs(results_dir: Path, strict: bool = False) -> tuple[list[Run], list[Note]]:
    """Every valid results file under `results_dir`, and a Note for each one skipped (on the board of the
    task and version the file names, where it can be read).

    A file is skipped (strict: an SdbenchError) when sdbench.results rejects it (other schema version,
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
    """What the leaderboard relies on beyond sdbench.results.validate_results; SdbenchError if absent."""
    task = results["task"]
    if not isinstance(task["name"], str) or not SAFE_NAME.fullmatch(task["name"]):
        raise SdbenchError(f"{where}: task.name {task['name']!r} must be letters, digits, '_', '.', '-' "
                           "(it names the board's files)")
    if not _is_int(task["version"]) or task["version"] < 1:
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
    if value is not None and not _is_number(value):
        raise SdbenchError(f"{where}: mean must be a number or null, got {value!r}")


def _check_task_exists(name: str, version: int, where: str) -> None:
    """A board exists only for a task of tasks/ (or SDBENCH_TASKS_PATH) at a version it has had (1 … now)."""
    from sdbench.task import list_tasks, load_task

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
                if _is_number(value) and not _isnan(value) and not low - 1e-9 <= value <= high + 1e-9:
                    raise SdbenchError(f"{where}: {scope}.{metric}.{part} = {value} is outside {metric}'s range "
                                       f"[{low:g}, {high:g}]")


def _task_of(path: Path) -> tuple[str | None, int | None]:
    """(task name, version) a rejected file claims, each None where unreadable: where its skip note goes."""
    try:
        task = json.loads(path.read_text(encoding="utf-8"))["task"]
        name, version = task.get("name"), task.get("version")
    except Exception:  # noqa: BLE001 - the file is already known to be bad; this is only for the note
        return None, None
    return (name if isinstance(name, str) else None), (version if _is_int(version) else None)


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


# ---- tables ---------------------------------------------------------------------------------------------
def runs_frame(runs: list[Run]) -> pd.DataFrame:
    """Long frame, one line per (run, metric, k): task, version, source, split, method, model, seed, run_id,
    metric, k ('all' or the K as a string), value (the run's mean over its test examples; NaN = n/a), and
    example_ci_low / example_ci_high (the run's 95 % bootstrap CI over its test examples; NaN when absent)."""
    import pandas as pd

    records = []
    for run in runs:
        base = dict(zip(("task", "version", *ROW_KEY), (run.task, run.version, *run.row)),
                    seed=run.seed, run_id=run.run_id)
        tables = [(ALL_K, run.results["metrics"])]
        tables += [(str(int(k)), entry["metrics"]) for k, entry in run.results["by_k"].items()]
        for k, table in tables:
            for metric, stat in table.items():
                records.append({**base, "metric": metric, "k": k, "value": _stat_mean(stat),
                                "example_ci_low": _stat_part(stat, "ci_low"),
                                "example_ci_high": _stat_part(stat, "ci_high")})
    columns = ["task", "version", *ROW_KEY, "seed", "run_id", "metric", "k", "value", "example_ci_low",
               "example_ci_high"]
    return pd.DataFrame.from_records(records, columns=columns).astype(
        {"value": "float64", "example_ci_low": "float64", "example_ci_high": "float64"})


def aggregate(frame: pd.DataFrame) -> pd.DataFrame:
    """Seeds -> one line per (task, version, row, metric, k): mean, ci_low, ci_high, interval, n_seeds (seeds with
    a value), seeds and run_ids (space-separated, by seed).

    The interval is the 95 % t-interval over seeds (interval 'seeds'); with one seed it is that run's own 95 %
    bootstrap interval over test examples (interval 'examples': it says nothing of seed-to-seed variance), or
    none when the file has none."""
    import pandas as pd

    lines = []
    for key, group in frame.groupby(list(CELL_KEY), sort=False):
        group = group.dropna(subset=["value"]).sort_values("seed")
        ci = seed_ci(group["value"].tolist())
        interval = "seeds" if ci["n"] >= 2 else None
        if ci["n"] == 1 and group["example_ci_low"].notna().all() and group["example_ci_high"].notna().all():
            ci = {**ci, "ci_low": float(group["example_ci_low"].iloc[0]),
                  "ci_high": float(group["example_ci_high"].iloc[0])}
            interval = "examples"
        lines.append({**dict(zip(CELL_KEY, key)), "mean": ci["mean"], "ci_low": ci["ci_low"],
                      "ci_high": ci["ci_high"], "interval": interval, "n_seeds": ci["n"],
                      "seeds": " ".join(str(s) for s in group["seed"]), "run_ids": " ".join(group["run_id"])})
    columns = [*CELL_KEY, "mean", "ci_low", "ci_high", "interval", "n_seeds", "seeds", "run_ids"]
    out = pd.DataFrame.from_records(lines, columns=columns)
    return out.astype({"mean": "float64", "ci_low": "float64", "ci_high": "float64"})


def learning_curves_frame(runs: list[Run]) -> tuple[pd.DataFrame, list[str]]:
    """Long frame of train.learning_curve: task, version, row, seed, step, metric, value (numbers only);
    and a note per run whose curve is not a list of {step, ...} objects."""
    import pandas as pd

    records, notes = [], []
    for run in runs:
        train = run.results.get("train")
        curve = train.get("learning_curve") if isinstance(train, dict) else None
        if curve is None:
            continue
        if not isinstance(curve, list) or not all(isinstance(p, dict) and _is_number(p.get("step")) for p in curve):
            notes.append(f"learning curve of run {run.run_id} is not a list of {{step, ...}}; not plotted")
            continue
        for point in curve:
            for metric, value in point.items():
                if metric != "step" and _is_number(value):
                    records.append({"task": run.task, "version": run.version,
                                    **dict(zip(ROW_KEY, run.row)), "seed": run.seed,
                                    "step": point["step"], "metric": metric, "value": float(value)})
    columns = ["task", "version", *ROW_KEY, "seed", "step", "metric", "value"]
    return pd.DataFrame.from_records(records, columns=columns), notes


def diagnostics_frame(runs: list[Run]) -> tuple[pd.DataFrame, list[str]]:
    """Long frame of diagnostics.by_k: task, version, row, seed, k (int), name, value, ci_low, ci_high; and a
    note per run whose diagnostics are not {by_k: {K: {name: number or {mean, ci_low, ci_high}}}}.

    `sdbench diagnose` and `eval --diagnostics` store measured rates as {mean, ci_low, ci_high}: the mean is the
    value, the interval comes with it (None for plain numbers)."""
    import pandas as pd

    records, notes = [], []
    for run in runs:
        diag = run.results.get("diagnostics")
        if diag is None:
            continue
        by_k = diag.get("by_k") if isinstance(diag, dict) else None
        if not isinstance(by_k, dict) or not all(str(k).isdigit() and isinstance(v, dict) for k, v in by_k.items()):
            notes.append(f"diagnostics of run {run.run_id} are not {{by_k: {{K: {{name: number}}}}}}; not plotted")
            continue
        for k, values in by_k.items():
            for name, value in values.items():
                low = high = None
                if isinstance(value, dict) and _is_number(value.get("mean")):
                    low = float(value["ci_low"]) if _is_number(value.get("ci_low")) else None
                    high = float(value["ci_high"]) if _is_number(value.get("ci_high")) else None
                    value = value["mean"]
                if _is_number(value):
                    records.append({"task": run.task, "version": run.version,
                                    **dict(zip(ROW_KEY, run.row)), "seed": run.seed,
                                    "k": int(k), "name": name, "value": float(value), "ci_low": low, "ci_high": high})
    columns = ["task", "version", *ROW_KEY, "seed", "k", "name", "value", "ci_low", "ci_high"]
    return pd.DataFrame.from_records(records, columns=columns), notes


def build_boards(runs: list[Run], notes: list[Note], task: str | None = None,
                 metric: str | None = None) -> list[Board]:
    """One Board per (task, version), sorted, each with the `notes` that concern it (see Note)."""
    tasks = sorted({r.task for r in runs})
    boards_of_task = {(r.task, r.version) for r in runs}
    general = [n.text for n in notes if n.task not in tasks]
    if task is not None and task not in tasks:
        raise unknown_name_error("task", task, tasks, where=" in the results")
    by_board: dict[tuple[str, int], list[Run]] = defaultdict(list)
    for run in runs:
        if task is None or run.task == task:
            by_board[(run.task, run.version)].append(run)
    cells = aggregate(runs_frame([r for group in by_board.values() for r in group]))
    boards = []
    for (name, version), board_runs in sorted(by_board.items()):
        board_notes = [n.text for n in notes if n.task == name
                       and (n.version == version or (name, n.version) not in boards_of_task)]
        others = sorted(v for (t, v) in by_board if t == name and v != version)
        if others:
            board_notes.append(f"{name} also has results at version(s) {', '.join(map(str, others))}: each "
                               "version is its own board; versions are never ranked together")
        board_notes.extend(_mixing_notes(board_runs))
        curves, curve_notes = learning_curves_frame(board_runs)
        diagnostics, diag_notes = diagnostics_frame(board_runs)
        headline, headline_notes = _headline_metrics(board_runs, metric)
        board_cells = cells[(cells["task"] == name) & (cells["version"] == version)].reset_index(drop=True)
        board_notes.extend(near_zero_notes(board_cells, headline))
        comparisons, comparison_notes = board_comparisons(board_runs, headline)
        boards.append(Board(name, version, board_runs, board_cells, headline, curves, diagnostics, comparisons,
                            [*board_notes, *headline_notes, *curve_notes, *diag_notes, *comparison_notes], general))
    return boards


def board_comparisons(runs: list[Run], headline: dict[tuple[str, str], str]
                      ) -> tuple[list[dict[str, Any]], list[str]]:
    """sdbench.compare's paired rows for every pair of COMPARED methods present in a section (same model, shared
    seeds), on the section's ranking metric; a note for each pair that cannot be compared (e.g. missing outputs)."""
    from sdbench.compare import comparison_rows

    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for (source, split), metric in sorted(headline.items()):
        mine = [r for r in runs if r.row[:2] == (source, split)]
        methods = {r.results["method"] for r in mine}
        for baseline, treatment in COMPARED:
            if baseline not in methods or treatment not in methods:
                continue
            try:
                found = comparison_rows(mine, baseline, treatment, (metric,), notes=notes)
            except SdbenchError as exc:
                notes.append(f"{treatment} vs {baseline} ({source}, {split}) not compared: {exc}")
                continue
            rows.extend({"source": source, "split": split, **row} for row in found)
    return rows, notes


def near_zero_notes(cells: pd.DataFrame, headline: dict[tuple[str, str], str]) -> list[str]:
    """A note per (source, split) whose ranking metric is ≈ 0 (|mean| < NEAR_ZERO over all K) for every row: its
    order is noise, and the likely cause is the model, the format or the metric, not the method."""
    notes = []
    for (source, split), metric in sorted(headline.items()):
        mine = cells[(cells["source"] == source) & (cells["split"] == split) & (cells["metric"] == metric)
                     & (cells["k"] == ALL_K)]["mean"].dropna()
        if len(mine) and (mine.abs() < NEAR_ZERO).all():
            notes.append(f"{source} / {split}: every row scores ≈ 0 on the ranking metric {metric} (at most "
                         f"{mine.abs().max():.4f}), so the ranking is noise; check the outputs (format, a blind or "
                         "untrained model) or rank by another metric (--metric)")
    return notes


def _headline_metrics(runs: list[Run], metric: str | None) -> tuple[dict[tuple[str, str], str], list[str]]:
    """(source, split) -> metric to rank by: `metric`, else the primary metric most runs name (noted when
    runs disagree). An SdbenchError when `metric` appears in no run of a section."""
    by_section: dict[tuple[str, str], list[Run]] = defaultdict(list)
    for run in runs:
        by_section[run.row[:2]].append(run)
    headline, notes = {}, []
    for section, section_runs in sorted(by_section.items()):
        if metric is not None:
            available = sorted({m for r in section_runs for m in r.results["metrics"]})
            if metric not in available:
                raise SdbenchError(f"--metric {metric!r}{did_you_mean(metric, available)}: not in the results of "
                                   f"{section_runs[0].task} v{section_runs[0].version} ({section[0]}, {section[1]}); "
                                   f"they have: {', '.join(available)}")
            lacking = [r.run_id for r in section_runs if metric not in r.results["metrics"]]
            if lacking:
                notes.append(f"{len(lacking)} run(s) of {section[0]} / {section[1]} lack metric {metric!r}: "
                             f"{', '.join(lacking)}")
            headline[section] = metric
            continue
        counts = Counter(r.results["primary_metric"] for r in section_runs)
        headline[section] = counts.most_common(1)[0][0]
        if len(counts) > 1:
            notes.append(f"runs of {section[0]} / {section[1]} name different primary metrics "
                         f"({dict(counts)}); ranked by {headline[section]!r}")
    return headline, notes


def _mixing_notes(runs: list[Run]) -> list[str]:
    """Notes on what differs inside a board that should not: test sets (content hash), and, inside a row,
    decoding settings or training configs (apart from seed and bookkeeping fields)."""
    notes = []
    hashes = sorted({str(r.results["task"]["content_hash"]) for r in runs})
    if len(hashes) > 1:
        notes.append(f"results come from {len(hashes)} different test sets (content hashes "
                     f"{', '.join(h[:12] for h in hashes)}); rows may not be directly comparable")
    by_row: dict[tuple, list[Run]] = defaultdict(list)
    for run in runs:
        by_row[run.row].append(run)
    for (source, split, method, model), row_runs in sorted(by_row.items()):
        decodings = {json.dumps(r.results["decoding"], sort_keys=True) for r in row_runs}
        if len(decodings) > 1:
            notes.append(f"{method} / {model} ({source}, {split}) averages seeds evaluated with "
                         f"{len(decodings)} different decoding settings")
        differing = _differing_config_keys([(r.results.get("train") or {}).get("config") for r in row_runs])
        if differing:
            notes.append(f"{method} / {model} ({source}, {split}) averages seeds whose training configs differ "
                         f"in: {', '.join(differing)}")
    return notes


def _differing_config_keys(configs: list[Any]) -> list[str]:
    """Training-config keys (other than BOOKKEEPING) whose values are not the same in all `configs`.

    >>> _differing_config_keys([{"seed": 0, "learning_rate": 1e-5}, {"seed": 1, "learning_rate": 2e-5}])
    ['learning_rate']
    """
    dicts = [c for c in configs if isinstance(c, dict)]
    if len(dicts) < 2:
        return []
    keys = sorted({k for c in dicts for k in c} - BOOKKEEPING)
    return [k for k in keys if len({json.dumps(c.get(k), sort_keys=True, default=str) for c in dicts}) > 1]


def ranked_rows(board: Board) -> list[dict[str, Any]]:
    """The display rows of a board, by section (source, split) then headline mean (best first):
    {source, split, metric, method, model, seeds, overall: cell, by_k: {K: cell}} with cell = aggregate line
    as a dict (or None). Shared by every renderer."""
    cells = board.cells
    ks = sorted({int(k) for k in cells["k"] if k != ALL_K})
    rows = []
    for section, metric in sorted(board.headline.items()):
        mine = cells[(cells["source"] == section[0]) & (cells["split"] == section[1]) & (cells["metric"] == metric)]
        lookup = {(line["method"], line["model"], line["k"]): line for line in mine.to_dict("records")}
        section_rows = []
        for run_row in sorted({r.row for r in board.runs if r.row[:2] == section}):
            method, model = run_row[2:]
            seeds = sorted(r.seed for r in board.runs if r.row == run_row)
            section_rows.append({"source": section[0], "split": section[1], "metric": metric, "method": method,
                                 "model": model, "seeds": seeds, "overall": lookup.get((method, model, ALL_K)),
                                 "by_k": {k: lookup.get((method, model, str(k))) for k in ks}})
        section_rows.sort(key=lambda r: -_sort_value(r["overall"]))
        rows.extend(section_rows)
    return rows


def metric_rows(board: Board) -> tuple[list[str], list[dict[str, Any]]]:
    """All metrics over all K: (metric names, [{source, split, method, model, num_seeds, cells: {metric: cell}}])."""
    cells = board.cells[board.cells["k"] == ALL_K]
    metrics = list(dict.fromkeys(cells["metric"]))
    num_seeds = Counter(r.row for r in board.runs)
    rows: dict[tuple, dict[str, Any]] = {}
    for line in cells.to_dict("records"):
        key = tuple(line[c] for c in ROW_KEY)
        row = rows.setdefault(key, {**dict(zip(ROW_KEY, key)), "num_seeds": num_seeds[key], "cells": {}})
        row["cells"][line["metric"]] = line
    return metrics, [rows[k] for k in sorted(rows)]


def format_cell(cell: dict[str, Any] | None, num_seeds: int | None = None) -> str:
    """'0.512 ± 0.034' (half-width of the seed t-interval); one seed with its example bootstrap CI:
    '0.512 [0.480, 0.545]†'; one seed without: '0.512'; no value: 'n/a'; '(n=2)' when fewer seeds than the row has.

    >>> format_cell({"mean": 0.5, "ci_low": 0.4, "ci_high": 0.6, "n_seeds": 2, "interval": "seeds"}, 3)
    '0.500 ± 0.100 (n=2)'
    >>> format_cell({"mean": 0.5, "ci_low": 0.45, "ci_high": 0.58, "n_seeds": 1, "interval": "examples"})
    '0.500 [0.450, 0.580]†'
    """
    if cell is None or cell["mean"] is None or _isnan(cell["mean"]):
        return "n/a"
    text = f"{cell['mean']:.3f}"
    if cell["ci_high"] is not None and not _isnan(cell["ci_high"]):
        if cell.get("interval") == "examples":
            text += f" [{cell['ci_low']:.3f}, {cell['ci_high']:.3f}]{EXAMPLE_MARK}"
        else:
            text += f" ± {cell['ci_high'] - cell['mean']:.3f}"
    if num_seeds is not None and cell["n_seeds"] < num_seeds:
        text += f" (n={cell['n_seeds']})"
    return text


def section_title(board: Board, source: str, split: str) -> str:
    metric = board.headline[(source, split)]
    return f"{source}, {split} split: {metric}{' (primary metric)' if board.is_primary(source, split) else ''}"


# ---- renderers ------------------------------------------------------------------------------------------
EXAMPLE_MARK = "†"
CI_LEGEND = ("mean ± half-width of the 95 % t-interval over training seeds (one results file per seed); "
             f"one seed: [95 % bootstrap CI over test examples]{EXAMPLE_MARK}, which leaves out seed-to-seed variance")


def render_table(board: Board, general: bool = True) -> str:
    """A plain-text table for the terminal (control characters in names shown escaped); `general`: include
    the notes shared by every board."""
    rows = ranked_rows(board)
    ks = sorted({k for r in rows for k in r["by_k"]})
    lines = [f"== {board.task} v{board.version}: {len(board.runs)} runs; {CI_LEGEND} =="]
    for section in dict.fromkeys((r["source"], r["split"]) for r in rows):
        header = ["method", "model", "seeds", board.headline[section], *[f"K={k}" for k in ks]]
        body = [[r["method"], r["model"], str(len(r["seeds"])), format_cell(r["overall"], len(r["seeds"])),
                 *[format_cell(r["by_k"][k], len(r["seeds"])) for k in ks]]
                for r in rows if (r["source"], r["split"]) == section]
        table = [[_plain(c) for c in line] for line in [header, *body]]
        widths = [max(len(line[i]) for line in table) for i in range(len(header))]
        lines += ["", _plain(section_title(board, *section))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in table[:1]]
        lines += ["  ".join("-" * w for w in widths)]
        lines += ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in table[1:]]
    if board.comparisons:
        from sdbench.compare import render_text

        lines += [_plain(line) for line in render_text(board.comparisons).splitlines()]
    notes = board.all_notes if general else board.notes
    if notes:
        lines += ["", "notes:", *[f"  - {_plain(n)}" for n in notes]]
    return "\n".join(lines)


def render_markdown(board: Board, plots: dict[str, str] | None = None, general: bool = True) -> str:
    """The board as Markdown; `plots` maps a plot title to its path relative to the .md file; `general`:
    include the notes shared by every board."""
    rows = ranked_rows(board)
    ks = sorted({k for r in rows for k in r["by_k"]})
    out = [f"# {_md(board.task)} v{board.version}", "",
           f"Generated by `sdbench leaderboard` from {len(board.runs)} results files; do not edit by hand. "
           f"Cells: {CI_LEGEND}. `(n=…)`: fewer seeds have this value.", ""]
    for section in dict.fromkeys((r["source"], r["split"]) for r in rows):
        out += [f"## {_md(section_title(board, *section))}", "",
                _md_table(["method", "model", "seeds", board.headline[section], *[f"K={k}" for k in ks]],
                          [[r["method"], r["model"], str(len(r["seeds"])), format_cell(r["overall"], len(r["seeds"])),
                            *[format_cell(r["by_k"][k], len(r["seeds"])) for k in ks]]
                           for r in rows if (r["source"], r["split"]) == section]), ""]
    metrics, all_rows = metric_rows(board)
    out += ["## All metrics (all K)", "",
            _md_table(["source", "split", "method", "model", *metrics],
                      [[r["source"], r["split"], r["method"], r["model"],
                        *[format_cell(r["cells"].get(m), r["num_seeds"]) for m in metrics]] for r in all_rows]), ""]
    if board.comparisons:
        from sdbench.compare import render_markdown as comparison_markdown

        out += ["## Method comparisons (paired by seed)", "",
                "difference = treatment − baseline on the same seeds and test examples; the interval is over the "
                "paired seeds (one seed: over test examples). Also in "
                f"`{board.name}-comparison.csv`.", "", comparison_markdown(board.comparisons, level=3)]
    if plots:
        out += ["## Plots", ""] + [f"![{_md(title)}]({path})" for title, path in plots.items()] + [""]
    out += ["## Runs", "", _md_table(["run", "method", "model", "seed", "source", "split", "sdbench", "git sha"],
                                     [run_summary(r) for r in board.runs]), ""]
    notes = board.all_notes if general else board.notes
    if notes:
        out += ["## Notes", ""] + [f"- {_md(n)}" for n in notes] + [""]
    return "\n".join(out).rstrip() + "\n"


def render_csv(boards: list[Board]) -> str:
    """Long CSV of the boards' cells: task, version, source, split, method, model, metric, headline (whether
    the board ranks by it), k, mean, ci_low, ci_high, interval ('seeds', 'examples' for one seed's bootstrap CI
    over test examples, or empty), n_seeds, seeds, run_ids."""
    import pandas as pd

    frames = []
    for board in boards:
        frame = board.cells.copy()
        frame.insert(7, "headline", [board.headline.get((s, sp)) == m for s, sp, m in
                                     zip(frame["source"], frame["split"], frame["metric"])])
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True)
    frame["_k"] = [-1 if k == ALL_K else int(k) for k in frame["k"]]
    frame = frame.sort_values(["task", "version", *ROW_KEY, "metric", "_k"], kind="stable").drop(columns="_k")
    return frame.to_csv(index=False, float_format="%.6g", lineterminator="\n")


def run_summary(run: Run) -> list[str]:
    """[run id, method, model, seed, source, split, sdbench version, git sha] of a run, for the Runs tables."""
    prov = run.results["provenance"]
    return [run.run_id, run.results["method"], run.row[3], str(run.seed), run.row[0], run.row[1],
            str(prov.get("sdbench_version", "?")), str(prov.get("git_sha", "?"))[:12]]


def _md_table(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(_md(c) for c in header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(_md(c) for c in line) + " |" for line in body])


def _md(text: Any) -> str:
    """A Markdown table cell / line: HTML-escaped (renderers show inline HTML), '|' escaped, one line."""
    import html

    return html.escape(_plain(str(text)), quote=True).replace("|", "\\|")


def _plain(text: str) -> str:
    """Non-printable characters (newlines, terminal escape codes) as Python escapes: one safe line.

    >>> _plain("a\\x1b[2Jb\\n")
    'a\\\\x1b[2Jb\\\\n'
    """
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


# ---- writing --------------------------------------------------------------------------------------------
def write_board(board: Board, out_dir: Path, examples_per_run: int = 2) -> list[Path]:
    """Write <board>.md, .csv, .html and plots/<board>-<plot>.{png,svg,pdf} (only plots with data); return the
    paths."""
    from sdbench.figures import render, save_figure
    from sdbench.leaderboard_examples import read_examples
    from sdbench.leaderboard_html import render_html
    from sdbench.leaderboard_plots import PLOTS

    out_dir = Path(out_dir)
    (out_dir / "plots").mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    pngs: dict[str, bytes] = {}
    for key, (title, plot) in PLOTS.items():
        fig = plot(board)
        if fig is not None:
            written.extend(save_figure(fig, out_dir / "plots" / f"{board.name}-{key}"))
            pngs[title] = render(fig, "png")
    examples, example_notes = read_examples(board.runs, examples_per_run)
    plot_paths = {title: f"plots/{board.name}-{key}.png" for key, (title, _) in PLOTS.items() if title in pngs}
    texts = {".md": render_markdown(board, plot_paths), ".csv": render_csv([board]),
             ".html": render_html(board, pngs, examples, extra_notes=example_notes)}
    if board.comparisons:
        from sdbench.compare import render_csv as comparison_csv

        texts["-comparison.csv"] = comparison_csv(board.comparisons)
    for suffix, text in texts.items():
        path = out_dir / f"{board.name}{suffix}"
        write_atomic(path, text.encode("utf-8", errors="replace"))  # lone surrogates from JSON -> '?'
        written.append(path)
    return written


# ---- small helpers --------------------------------------------------------------------------------------
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _isnan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _stat_mean(stat: Any) -> float | None:
    """The mean of a {mean, ci_low, ci_high, n} entry (or a bare number); None for n/a or NaN."""
    value = stat.get("mean") if isinstance(stat, dict) else stat
    return None if value is None or _isnan(value) else float(value)


def _stat_part(stat: Any, part: str) -> float | None:
    value = stat.get(part) if isinstance(stat, dict) else None
    return None if value is None or _isnan(value) or not _is_number(value) else float(value)


def _sort_value(cell: dict[str, Any] | None) -> float:
    return -math.inf if cell is None or _isnan(cell["mean"]) else cell["mean"]
