"""A board's tables: validated runs -> pandas frames (cells, learning curves, diagnostics) -> one `Board` per task
version, with its notes, its ranking metric per section and its paired method comparisons.

The cells are the seed means with the 95 % t-interval over seeds (sdbench.core.stats.seed_ci), overall and per K;
`ranked_rows` and `metric_rows` are the display rows every renderer (text, page, plots) shares.
"""


from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sdbench.core.errors import SdbenchError, did_you_mean, unknown_name_error
from sdbench.core.stats import NEAR_ZERO, seed_ci
from sdbench.evaluation.leaderboard.runs import Note, Run, is_nan, is_number

if TYPE_CHECKING:
    import pandas as pd

ALL_K = "all"                         # the `k` of a cell over all test examples
ROW_KEY = ("source", "split", "method", "model")
CELL_KEY = ("task", "version", *ROW_KEY, "metric", "k")
COMPARED = (("grpo", "sd-grpo"), ("grpo", "hybrid"), ("sd-grpo", "hybrid"))  # (baseline, treatment) on each board
# training-config fields that differ between seeds of one recipe (not part of the recipe)
BOOKKEEPING = {"seed", "out", "resume", "threads", "tensorboard", "save_every", "task", "model"}


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
    """board_comparisons(): paired method-vs-method rows per K (sdbench.evaluation.compare) on each section's
    ranking metric."""
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
        if not isinstance(curve, list) or not all(isinstance(p, dict) and is_number(p.get("step")) for p in curve):
            notes.append(f"learning curve of run {run.run_id} is not a list of {{step, ...}}; not plotted")
            continue
        for point in curve:
            for metric, value in point.items():
                if metric != "step" and is_number(value):
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
                if isinstance(value, dict) and is_number(value.get("mean")):
                    low = float(value["ci_low"]) if is_number(value.get("ci_low")) else None
                    high = float(value["ci_high"]) if is_number(value.get("ci_high")) else None
                    value = value["mean"]
                if is_number(value):
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
    """sdbench.evaluation.compare's paired rows for every pair of COMPARED methods present in a section (same model,
    shared seeds), on the section's ranking metric; a note for each pair that cannot be compared (e.g. missing
    outputs)."""
    from sdbench.evaluation.compare import comparison_rows

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


def _stat_mean(stat: Any) -> float | None:
    """The mean of a {mean, ci_low, ci_high, n} entry (or a bare number); None for n/a or NaN."""
    value = stat.get("mean") if isinstance(stat, dict) else stat
    return None if value is None or is_nan(value) else float(value)


def _stat_part(stat: Any, part: str) -> float | None:
    value = stat.get(part) if isinstance(stat, dict) else None
    return None if value is None or is_nan(value) or not is_number(value) else float(value)


def _sort_value(cell: dict[str, Any] | None) -> float:
    return -math.inf if cell is None or is_nan(cell["mean"]) else cell["mean"]
