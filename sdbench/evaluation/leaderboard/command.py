"""`sdbench leaderboard`: results JSONs -> validated pandas tables -> boards (terminal, Markdown, CSV, HTML)
and plots, one board per task *version* (versions are never ranked together).

    sdbench leaderboard                                  # every task; prints terminal tables
    sdbench leaderboard --task multipanel --format markdown
    sdbench leaderboard --results leaderboards/results --out leaderboards --strict

Source of truth: `leaderboards/results/*.json`, one file per evaluation run (schema: sdbench.evaluation.results). A
row is (task source, split, method, model); the files of a row are its seeds, and every cell is the mean
± the half-width of a 95 % t-interval over those seeds (sdbench.core.stats.seed_ci), overall and per K.

Written under --out, per board `<task>-v<version>`: `.md`, `.csv` (long: one line per row, metric and K)
and `.html` (one self-contained page, sdbench.evaluation.leaderboard.page), plus `plots/<board>-reward_vs_k`,
`-learning_curves` and `-diagnostics` (sdbench.evaluation.leaderboard.plots) as .png, .svg and .pdf where the
results hold that data.

Nothing is dropped silently: a file that is not a valid results file, a duplicate seed, a row mixing
decoding settings or training configs, an unreadable learning curve: each becomes a note printed with the
board and written into it. `--strict` turns unreadable files and duplicate seeds into errors instead.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sdbench.core.atomic import write_atomic
from sdbench.core.errors import SdbenchError
from sdbench.evaluation.leaderboard.runs import collect_runs, drop_duplicate_seeds
from sdbench.evaluation.leaderboard.tables import Board, build_boards
from sdbench.evaluation.leaderboard.text import md_cell, plain, render_csv, render_markdown, render_table


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
            text += "\n\nnotes (all boards):\n" + "\n".join(f"  - {plain(n)}" for n in general)
        print(text)
    elif cfg.format == "markdown":
        text = "\n".join(render_markdown(b, general=False) for b in boards)
        if general:
            text += "\n## Notes (all boards)\n\n" + "".join(f"- {md_cell(n)}\n" for n in general)
        print(text, end="")
    elif cfg.format == "csv":
        print(render_csv(boards), end="")
        for note in [f"{b.name}: {n}" for b in boards for n in b.notes] + general:
            print(f"note: {plain(note)}", file=sys.stderr)
    else:
        for path in written:
            if path.suffix == ".html":
                print(path)
    if cfg.write:
        print(f"wrote {len(written)} files under {cfg.out} ({', '.join(b.name for b in boards)})", file=sys.stderr)
    return boards


def write_board(board: Board, out_dir: Path, examples_per_run: int = 2) -> list[Path]:
    """Write <board>.md, .csv, .html and plots/<board>-<plot>.{png,svg,pdf} (only plots with data); return the
    paths."""
    from sdbench.evaluation.figures import render, save_figure
    from sdbench.evaluation.leaderboard.examples import read_examples
    from sdbench.evaluation.leaderboard.page import render_html
    from sdbench.evaluation.leaderboard.plots import PLOTS

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
        from sdbench.evaluation.compare import render_csv as comparison_csv

        texts["-comparison.csv"] = comparison_csv(board.comparisons)
    for suffix, text in texts.items():
        path = out_dir / f"{board.name}{suffix}"
        write_atomic(path, text.encode("utf-8", errors="replace"))  # lone surrogates from JSON -> '?'
        written.append(path)
    return written
