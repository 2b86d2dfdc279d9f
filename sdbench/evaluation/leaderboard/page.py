"""The HTML page of one leaderboard board: a single self-contained, interactive file that is safe to open.

- Self-contained: inline CSS and one inline script (SCRIPT), plots and example images as base64 PNG data URIs,
  no external resource of any kind; it works offline and from file://.
- Interactive: every table sorts by any column (click or Enter on a header; numbers by value, n/a last); the
  "Explore" section picks any metric and K; wide tables scroll inside their box; example responses are
  collapsible, each beside its reference and image.
- Safe: the Content-Security-Policy allows exactly SCRIPT (by its sha256), no other script, no inline handlers,
  no requests; images only from data: URIs. Every string that comes from a results or outputs file (model
  names, run ids, config values, notes that quote them, model responses, references) goes through `esc`
  (html.escape with quote=True), so model-written text is shown as text and never parsed as markup; SCRIPT
  reads the page's own attributes and moves table rows, it never writes HTML.

tests/browser/test_leaderboard_html.py opens a page with injected responses in headless Chromium.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sdbench.evaluation.compare import method_key
from sdbench.evaluation.leaderboard.examples import MAX_RESPONSE_CHARS
from sdbench.evaluation.leaderboard.tables import ALL_K, metric_rows, ranked_rows
from sdbench.evaluation.leaderboard.text import CI_LEGEND, format_cell, run_summary, section_title

if TYPE_CHECKING:
    from sdbench.evaluation.leaderboard.tables import Board

SCRIPT = """
"use strict";
(function () {
  function key(cell) {
    var v = cell.getAttribute("data-v");
    if (v !== null) { return v === "" ? null : parseFloat(v); }
    return cell.textContent.trim().toLowerCase();
  }
  function sortBy(table, index, th) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    rows.sort(function (a, b) {
      var x = key(a.cells[index]), y = key(b.cells[index]);
      if (x === null || y === null) { return (x === null) - (y === null); }
      var c = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
      return ascending ? c : -c;
    });
    Array.prototype.forEach.call(th.parentNode.cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    rows.forEach(function (r) { body.appendChild(r); });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.tabIndex = 0;
      th.title = "sort by this column";
      th.addEventListener("click", function () { sortBy(table, i, th); });
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") { sortBy(table, i, th); } });
    });
  });
  var metric = document.getElementById("pick-metric"), k = document.getElementById("pick-k");
  function show() {
    Array.prototype.forEach.call(document.querySelectorAll(".view"), function (v) {
      v.hidden = !(v.getAttribute("data-metric") === metric.value && v.getAttribute("data-k") === k.value);
    });
  }
  if (metric && k) { metric.addEventListener("change", show); k.addEventListener("change", show); show(); }
  document.documentElement.setAttribute("data-ready", "1");
})();
"""
SCRIPT_HASH = base64.b64encode(hashlib.sha256(SCRIPT.encode("utf-8")).digest()).decode("ascii")
CSP = (f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{SCRIPT_HASH}'; "
       "base-uri 'none'; form-action 'none'")
STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 80em;
       padding: 0 1em; color: #1b1b1b; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: 0.8em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; white-space: nowrap; }
table.sortable th { cursor: pointer; }
th[aria-sort="ascending"]::after { content: " \\25B2"; } th[aria-sort="descending"]::after { content: " \\25BC"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.better { background: #e8f5e9; } td.worse { background: #fdecea; }
img { max-width: 100%; border: 1px solid #eee; }
.controls label { margin-right: 1.5em; }
details.example { border: 1px solid #e3e3e3; margin: 0.5em 0; padding: 0.3em 0.6em; }
details.example summary { cursor: pointer; }
.example-body { display: flex; flex-wrap: wrap; gap: 1em; margin-top: 0.5em; }
.example-body figure { margin: 0; flex: 0 0 auto; }
.example-body .texts { flex: 1 1 28em; min-width: 0; }
pre { white-space: pre-wrap; word-break: break-word; background: #f7f7f7; border: 1px solid #e3e3e3;
      padding: 0.6em; max-height: 24em; overflow: auto; margin: 0.2em 0 0.8em; }
.notes li { color: #7a4b00; } .muted { color: #666; }
"""


def esc(value: Any) -> str:
    """Text for HTML content or a quoted attribute: & < > " ' escaped.

    >>> esc('<img src=x onerror="alert(1)">')
    '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'
    """
    return html.escape(str(value), quote=True)


class Cell:
    """A table cell: its text, and the number it sorts by (None: sorts as n/a, last)."""

    def __init__(self, text: Any, value: float | None = None, css: str = "num"):
        self.text, self.value, self.css = text, value, css


def render_html(board: Board, plots: dict[str, bytes], examples: dict[str, list[dict[str, Any]]],
                extra_notes: Iterable[str] = ()) -> str:
    """The page: headline tables per section, the method comparisons, the explorer (any metric at any K), all
    metrics, plots (title -> PNG bytes), runs, example responses (run id -> the records of
    sdbench.evaluation.leaderboard.examples), notes."""
    title = f"sdbench leaderboard: {board.task} v{board.version}"
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">',
             '<meta name="referrer" content="no-referrer">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{esc(title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
             f"<h1>{esc(title)}</h1>",
             f'<p class="muted">Generated by <code>sdbench leaderboard</code> from {len(board.runs)} results files. '
             f"Cells: {esc(CI_LEGEND)}; <em>(n=…)</em>: fewer seeds have this value. Click a column header to "
             "sort.</p>"]
    rows = ranked_rows(board)
    ks = sorted({k for r in rows for k in r["by_k"]})
    for section in dict.fromkeys((r["source"], r["split"]) for r in rows):
        parts.append(f"<h2>{esc(section_title(board, *section))}</h2>")
        body = [[Cell(r["method"], css=""), Cell(r["model"], css=""), Cell(len(r["seeds"]), len(r["seeds"])),
                 _stat(r["overall"], len(r["seeds"])), *[_stat(r["by_k"][k], len(r["seeds"])) for k in ks]]
                for r in rows if (r["source"], r["split"]) == section]
        parts.append(_table(["method", "model", "seeds", board.headline[section], *[f"K={k}" for k in ks]], body,
                            css="board"))
    if board.comparisons:
        parts += _comparisons(board.comparisons)
    parts += _explorer(board)
    metrics, all_rows = metric_rows(board)
    parts.append("<h2>All metrics (all K)</h2>")
    parts.append(_table(["source", "split", "method", "model", *metrics],
                        [[*(Cell(r[c], css="") for c in ("source", "split", "method", "model")),
                          *[_stat(r["cells"].get(m), r["num_seeds"]) for m in metrics]] for r in all_rows]))
    if plots:
        parts.append("<h2>Plots</h2>")
        parts.append('<p class="muted">Each plot is also written as SVG and PDF beside the PNG (plots/).</p>')
        for plot_title, png in plots.items():
            parts.append(f'<figure><img alt="{esc(plot_title)}" src="{_data_uri(png)}">'
                         f"<figcaption>{esc(plot_title)}</figcaption></figure>")
    parts.append("<h2>Runs</h2>")
    parts.append(_table(["run", "method", "model", "seed", "source", "split", "sdbench", "git sha", "decoding"],
                        [[*(Cell(c, css="") for c in run_summary(r)), Cell(_decoding(r.results["decoding"]), css="")]
                         for r in board.runs]))
    parts += _examples(board, examples)
    notes = [*board.all_notes, *extra_notes]
    if notes:
        parts.append("<h2>Notes</h2>")
        parts.append('<ul class="notes">' + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    parts += [f"<script>{SCRIPT}</script>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"


def _comparisons(rows: list[dict[str, Any]]) -> list[str]:
    """The paired method comparisons (sdbench.evaluation.compare rows), one table per pair and metric."""
    parts = ["<h2>Method comparisons (paired by seed)</h2>",
             '<p class="muted">difference = treatment − baseline on the same seeds and test examples; 95 % '
             "t-interval over the paired seeds (one seed: bootstrap over test examples); the example CI bootstraps "
             "the seed-averaged per-example differences. Green: the interval is above 0; red: below.</p>"]
    blocks: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        key = (row["source"], row["split"], row["model"], row["metric"], row["baseline"], row["treatment"])
        blocks.setdefault(key, []).append(row)
    for (source, split, model, metric, baseline, treatment), block in blocks.items():
        parts.append(f"<h3>{esc(treatment)} vs {esc(baseline)}: {esc(metric)} ({esc(source)}, {esc(split)}, "
                     f"{esc(model)}; {block[0]['n_seeds']} paired seed(s))</h3>")
        body = []
        for row in block:
            css = "num better" if row["verdict"].startswith(treatment) else (
                "num worse" if row["verdict"].startswith(baseline) else "num")
            body.append([Cell(row["K"], None if row["K"] == "all" else row["K"]),
                         Cell(row["n_examples"], row["n_examples"]),
                         Cell(f"{row[method_key(baseline)]:.3f}", row[method_key(baseline)]),
                         Cell(f"{row[method_key(treatment)]:.3f}", row[method_key(treatment)]),
                         Cell(f"{row['difference']:+.3f} [{_signed(row['ci_low'])}, {_signed(row['ci_high'])}]",
                              row["difference"], css),
                         Cell(f"[{_signed(row['example_ci_low'])}, {_signed(row['example_ci_high'])}]", None),
                         Cell(row["verdict"], css="")])
        parts.append(_table(["K", "n", baseline, treatment, f"difference [95 % CI over {block[0]['interval']}]",
                             "example CI", "verdict"], body))
    return parts


def _explorer(board: Board) -> list[str]:
    """Pickers for metric and K, and one (hidden unless picked) sortable table per (metric, K)."""
    cells = board.cells
    metrics = list(dict.fromkeys(cells["metric"]))
    ks = [ALL_K, *sorted({k for k in cells["k"] if k != ALL_K}, key=int)]
    headline = next(iter(board.headline.values()), metrics[0] if metrics else "")
    parts = ["<h2>Explore: any metric at any K</h2>", '<p class="controls">',
             '<label>metric <select id="pick-metric">'
             + "".join(f'<option value="{esc(m)}"{" selected" if m == headline else ""}>{esc(m)}</option>'
                       for m in metrics) + "</select></label>",
             '<label>K <select id="pick-k">'
             + "".join(f'<option value="{esc(k)}">{esc(k)}</option>' for k in ks) + "</select></label></p>"]
    num_seeds: dict[tuple, int] = {}
    for run in board.runs:
        num_seeds[run.row] = num_seeds.get(run.row, 0) + 1
    for metric in metrics:
        for k in ks:
            mine = cells[(cells["metric"] == metric) & (cells["k"] == k)].sort_values("mean", ascending=False)
            body = [[Cell(line["source"], css=""), Cell(line["split"], css=""), Cell(line["method"], css=""),
                     Cell(line["model"], css=""), Cell(line["n_seeds"], line["n_seeds"]),
                     _stat(line, num_seeds.get((line["source"], line["split"], line["method"], line["model"])))]
                    for line in mine.to_dict("records")]
            hidden = "" if (metric, k) == (headline, ALL_K) else " hidden"
            parts.append(f'<div class="view" data-metric="{esc(metric)}" data-k="{esc(k)}"{hidden}>'
                         + _table(["source", "split", "method", "model", "seeds", f"{metric} (K={k})"], body)
                         + "</div>")
    return parts


def _examples(board: Board, examples: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Collapsible example responses, each with its reference and image (when the task build was found)."""
    shown = [(r, examples.get(r.run_id, [])) for r in board.runs]
    if not any(ex for _, ex in shown):
        return []
    parts = ["<h2>Example responses</h2>",
             '<p class="muted">The first responses of each run\'s outputs file, shown as plain text beside the '
             "reference and image of the example they answer. Click one to open it.</p>"]
    for run, run_examples in shown:
        for ex in run_examples:
            meta = (f"{run.results['method']} · seed {run.seed} · example {ex['id']} · K={ex['num_segments']} · "
                    f"holistic reward {ex['holistic_reward']}")
            image = ex.get("image")
            figure = (f'<figure><img alt="image of example {esc(ex["id"])}" src="{_data_uri(image)}"></figure>'
                      if image else "")
            reference = ex.get("reference")
            texts = (f"<h4>Response</h4>{_pre(ex['response'])}"
                     + (f"<h4>Reference</h4>{_pre(reference)}" if isinstance(reference, str) else ""))
            parts.append(f'<details class="example"><summary>{esc(meta)} <span class="muted">(run '
                         f"{esc(run.run_id)})</span></summary>"
                         f'<div class="example-body">{figure}<div class="texts">{texts}</div></div></details>')
    return parts


def _pre(text: str) -> str:
    cut = len(text) > MAX_RESPONSE_CHARS
    return (f"<pre>{esc(text[:MAX_RESPONSE_CHARS])}</pre>"
            + (f'<p class="muted">(cut at {MAX_RESPONSE_CHARS} of {len(text)} characters)</p>' if cut else ""))


def _stat(cell: dict[str, Any] | None, num_seeds: int | None) -> Cell:
    mean = None if cell is None else cell.get("mean")
    value = None if mean is None or mean != mean else float(mean)
    return Cell(format_cell(cell, num_seeds), value)


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.3f}"


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + esc(base64.b64encode(png).decode("ascii"))


def _decoding(decoding: dict[str, Any]) -> str:
    """'greedy=True, max_new_tokens=64, …' (values as JSON)."""
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(decoding.items()))


def _table(header: list[Any], body: list[list[Cell]], css: str = "") -> str:
    """A sortable <table> in a scrolling box; every header and cell is escaped; a cell with a value carries it
    as data-v (what the column sorts by)."""
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in header)
    lines = []
    for line in body:
        cells = []
        for cell in line:
            if cell.value is not None:
                sort = f' data-v="{float(cell.value)!r}"'
            else:
                sort = ' data-v=""' if cell.css else ""   # a number column's n/a sorts last; text sorts as text
            klass = f' class="{esc(cell.css)}"' if cell.css else ""
            cells.append(f"<td{klass}{sort}>{esc(cell.text)}</td>")
        lines.append(f"<tr>{''.join(cells)}</tr>")
    klass = esc(f"sortable {css}".strip())
    return (f'<div class="scroll"><table class="{klass}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(lines)}</tbody></table></div>")
