"""`sdbench leaderboard` on synthetic results (tests/fixtures/leaderboard_fixture.py): results JSONs round-trip
into the boards (numbers == means over seeds computed here by hand), task versions never mix, bad files are
errors under --strict and explicit notes otherwise, and the HTML holds no unescaped model text.

The same page in headless Chromium: tests/browser/test_leaderboard_html.py.
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from sdbench.core.errors import SdbenchError
from sdbench.evaluation.leaderboard.command import LeaderboardConfig, leaderboard
from sdbench.evaluation.leaderboard.page import CSP, SCRIPT
from sdbench.evaluation.leaderboard.tables import ALL_K
from tests.fixtures.leaderboard_fixture import (EVIL_MODEL, KS, METHODS, PAYLOADS, SEEDS, TASKS, make_results,
                                                write_leaderboard_fixture)

T975_DF2 = 4.303  # Student's t, 97.5 % quantile, 2 degrees of freedom (3 seeds)


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory) -> Path:
    return write_leaderboard_fixture(tmp_path_factory.mktemp("lb") / "results")


@pytest.fixture(scope="module")
def published(fixture_dir, tmp_path_factory) -> tuple[list, Path]:
    """The boards written once for the read-only tests: (boards, out dir)."""
    out = tmp_path_factory.mktemp("boards")
    boards = leaderboard(LeaderboardConfig(results=fixture_dir, out=out, examples_per_run=len(PAYLOADS)))
    return boards, out


def copy_fixture(fixture_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(fixture_dir, tmp_path / "results"))


def by_hand(fixture_dir: Path) -> dict[tuple, list[float]]:
    """(task, version, method, metric, k) -> the values of the seeds, read straight from the JSON files."""
    values: dict[tuple, list[float]] = {}
    for path in sorted(fixture_dir.glob("*.json")):
        r = json.loads(path.read_text())
        key = (r["task"]["name"], r["task"]["version"], r["method"])
        for metric, stat in r["metrics"].items():
            values.setdefault((*key, metric, ALL_K), []).append(stat["mean"])
        for k, entry in r["by_k"].items():
            for metric, stat in entry["metrics"].items():
                values.setdefault((*key, metric, k), []).append(stat["mean"])
    return values


# ---- round trip -----------------------------------------------------------------------------------------
def test_results_round_trip_into_the_boards(published, fixture_dir):
    boards, _ = published
    assert [(b.task, b.version) for b in boards] == [("multichart", 1), ("multichart", 2), ("multipanel", 1)]
    expected = by_hand(fixture_dir)
    seen = 0
    for board in boards:
        for cell in board.cells.to_dict("records"):
            values = expected[(cell["task"], cell["version"], cell["method"], cell["metric"], cell["k"])]
            assert len(values) == len(SEEDS) == cell["n_seeds"]
            mean = sum(values) / len(values)
            half = T975_DF2 * math.sqrt(sum((v - mean) ** 2 for v in values) / 2) / math.sqrt(3)
            assert cell["mean"] == pytest.approx(mean, abs=1e-12)
            assert (cell["ci_low"], cell["ci_high"]) == pytest.approx((mean - half, mean + half), abs=1e-12)
            assert cell["seeds"] == "0 1 2"
            seen += 1
    assert seen == len(TASKS) * len(METHODS) * 2 * (1 + len(KS))  # 2 metrics, overall + each K


def test_rows_are_ranked_by_the_primary_metric(published):
    from sdbench.evaluation.leaderboard.tables import ranked_rows

    for board in published[0]:
        rows = ranked_rows(board)
        assert [r["method"] for r in rows] == ["sd-grpo", "hybrid", "grpo"]
        assert {r["metric"] for r in rows} == {"cider_d" if board.task == "multipanel" else "chart_answer"}
        assert all(sorted(r["by_k"]) == list(KS) and r["seeds"] == list(SEEDS) for r in rows)


def test_task_versions_are_never_mixed(published):
    boards, out = published
    by_version = {b.version: b for b in boards if b.task == "multichart"}
    for version, board in by_version.items():
        assert set(board.cells["version"]) == {version}
        assert {r.version for r in board.runs} == {version}
        assert all(f"multichart-v{version}-" in run_id for ids in board.cells["run_ids"] for run_id in ids.split())
        other = 3 - version
        assert any(f"also has results at version(s) {other}" in n and "never ranked together" in n for n in board.notes)
        csv_text = (out / f"multichart-v{version}.csv").read_text()
        assert f"multichart-v{other}-" not in csv_text and f"\nmultichart,{other}," not in csv_text
    # v2 values are v1 + 0.1 in the fixture: had any v2 seed leaked into v1, this would not hold exactly
    v1, v2 = (by_version[v].cells.set_index(["method", "metric", "k"])["mean"] for v in (1, 2))
    assert ((v2 - v1) - 0.1).abs().max() < 1e-9
    single = next(b for b in boards if b.task == "multipanel")
    assert not any("also has results" in n for n in single.notes)  # multipanel has one version


def test_csv_contents(published, fixture_dir):
    _, out = published
    rows = list(csv.DictReader(io.StringIO((out / "multichart-v1.csv").read_text())))
    assert list(rows[0]) == ["task", "version", "source", "split", "method", "model", "metric", "headline", "k",
                             "mean", "ci_low", "ci_high", "interval", "n_seeds", "seeds", "run_ids"]
    assert len(rows) == len(METHODS) * 2 * (1 + len(KS))
    assert [r["k"] for r in rows[:5]] == ["all", "1", "2", "4", "8"]
    expected = by_hand(fixture_dir)
    for r in rows:
        values = expected[("multichart", 1, r["method"], r["metric"], r["k"])]
        assert float(r["mean"]) == pytest.approx(sum(values) / 3, rel=1e-5)
        assert r["headline"] == str(r["metric"] == "chart_answer")
        assert r["n_seeds"] == "3" and r["seeds"] == "0 1 2" and r["interval"] == "seeds"
    assert {r["model"] for r in rows if r["method"] == "hybrid"} == {EVIL_MODEL}  # CSV keeps the raw text


def test_markdown_contents(published):
    _, out = published
    md = (out / "multichart-v1.md").read_text()
    assert md.startswith("# multichart v1\n")
    assert "## synthetic, test split: chart_answer (primary metric)" in md
    assert "| method | model | seeds | chart_answer | K=1 | K=2 | K=4 | K=8 |" in md
    lines = [line for line in md.splitlines() if line.startswith("| sd-grpo |")]
    assert lines[0] == ("| sd-grpo | default | 3 | 0.520 ± 0.032 | 0.513 ± 0.032 | 0.493 ± 0.032 | 0.473 ± 0.032 "
                        "| 0.453 ± 0.032 |")
    assert md.index("| sd-grpo |") < md.index("| hybrid |") < md.index("| grpo |")
    assert "![reward vs K](plots/multichart-v1-reward_vs_k.png)" in md
    assert "<script" not in md.lower() and "&lt;script&gt;" in md  # names are escaped: GitHub renders inline HTML


def test_published_files_and_plots(published):
    _, out = published
    for board in ("multipanel-v1", "multichart-v1", "multichart-v2"):
        for suffix in (".md", ".csv", ".html"):
            assert (out / f"{board}{suffix}").stat().st_size > 0
        for plot in ("reward_vs_k", "learning_curves", "diagnostics"):
            assert (out / "plots" / f"{board}-{plot}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert oct((out / f"{board}.html").stat().st_mode & 0o777) == "0o644"


def test_plots_only_when_there_is_data(fixture_dir, tmp_path):
    results = tmp_path / "results"
    for seed in SEEDS:
        run = make_results("multichart", 1, "chart_answer", "grpo", seed, outputs="none.jsonl")
        run["train"] = None
        run["diagnostics"] = None
        (results).mkdir(exist_ok=True)
        (results / f"r{seed}.json").write_text(json.dumps(run))
    leaderboard(LeaderboardConfig(results=results, out=tmp_path / "out", format="csv"))
    assert sorted(p.name for p in (tmp_path / "out" / "plots").iterdir()) == [
        f"multichart-v1-reward_vs_k.{fmt}" for fmt in ("pdf", "png", "svg")]
    html = (tmp_path / "out" / "multichart-v1.html").read_text()
    assert "outputs of run multichart-v1-grpo-seed0 not found" in html  # the missing outputs are noted


def test_writing_twice_gives_the_same_bytes(fixture_dir, tmp_path):
    for out in ("a", "b"):
        leaderboard(LeaderboardConfig(results=fixture_dir, task="multipanel", out=tmp_path / out, format="csv"))
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 4 + 3 * 3  # md, csv, html, comparison csv; 3 plots as png, svg and pdf
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)


# ---- bad input ------------------------------------------------------------------------------------------
def write_old_schema(results: Path) -> Path:
    old = make_results("multichart", 1, "chart_answer", "grpo", 7, outputs="x.jsonl", schema_version=0)
    path = results / "old-run.json"
    path.write_text(json.dumps(old))
    return path


def test_other_schema_version_is_an_error_with_strict(fixture_dir, tmp_path):
    results = copy_fixture(fixture_dir, tmp_path)
    path = write_old_schema(results)
    with pytest.raises(SdbenchError, match=r"old-run\.json: schema_version 0, this sdbench reads 1.*--strict"):
        leaderboard(LeaderboardConfig(results=results, out=tmp_path / "out", strict=True))
    assert not (tmp_path / "out").exists()
    assert path.exists()


def test_other_schema_version_is_skipped_with_a_note(fixture_dir, tmp_path, capsys):
    results = copy_fixture(fixture_dir, tmp_path)
    path = write_old_schema(results)
    (results / "broken.json").write_text("{not json")
    bad_name = make_results("multichart", 1, "chart_answer", "grpo", 8, outputs="x.jsonl")
    bad_name["task"]["name"] = "../../escape"
    (results / "bad-name.json").write_text(json.dumps(bad_name))
    boards = leaderboard(LeaderboardConfig(results=results, write=False))
    printed = capsys.readouterr().out
    leaderboard(LeaderboardConfig(results=results, task="multichart", out=tmp_path / "out", format="csv"))
    old_note = f"skipped {path}: schema_version 0, this sdbench reads 1"
    mp1 = next(b for b in boards if b.name == "multichart-v1")
    assert any(n.startswith(old_note) for n in mp1.notes)             # tied to the task the file names
    mp2 = next(b for b in boards if b.name == "multichart-v2")
    single = next(b for b in boards if b.name == "multipanel-v1")
    assert not any("old-run" in n for n in single.all_notes + mp2.all_notes)  # not multipanel, nor v2
    assert {r.seed for r in mp1.runs} == set(SEEDS)                    # and left out of the numbers
    general = boards[0].general_notes
    assert any(f"skipped {results / 'broken.json'}: malformed JSON" in n for n in general)
    assert any("bad-name.json: task.name '../../escape' must be" in n for n in general)
    assert old_note in printed and "broken.json: malformed JSON" in printed
    assert printed.count("broken.json") == 1                           # general notes are printed once
    for suffix in (".md", ".html"):
        text = (tmp_path / "out" / f"multichart-v1{suffix}").read_text()
        assert "old-run.json" in text and "schema_version 0" in text and "broken.json" in text
    assert not any("escape" in p.name for p in tmp_path.rglob("*"))


def test_a_second_file_claiming_a_seed_is_refused_unless_identical(fixture_dir, tmp_path):
    results = copy_fixture(fixture_dir, tmp_path)
    original = results / "multipanel-v1-grpo-seed1.json"
    shutil.copy(original, results / "copy.json")  # byte-identical: counted once
    dup = json.loads(original.read_text())
    dup["run_id"] = "rerun"
    dup["metrics"]["cider_d"]["mean"] = 0.99
    dup["provenance"]["timestamp"] = "2099-01-01T00:00:00Z"  # later than the original, which is on the board
    (results / "rerun.json").write_text(json.dumps(dup))
    boards = leaderboard(LeaderboardConfig(results=results, out=tmp_path / "out", task="multipanel", format="csv"))
    cell = boards[0].cells.query("method == 'grpo' and metric == 'cider_d' and k == 'all'").iloc[0]
    assert cell["n_seeds"] == 3 and "rerun" not in cell["run_ids"] and cell["mean"] < 0.9
    assert cell["run_ids"].split().count("multipanel-v1-grpo-seed1") == 1
    assert any(n.startswith(f"refused {results / 'rerun.json'}: it claims seed 1 of grpo / default (synthetic, "
                            "test)") for n in boards[0].notes)
    assert any(" is a copy of " in n and "copy.json" in n and n.endswith("counted once") for n in boards[0].notes)
    with pytest.raises(SdbenchError, match="refused .*rerun.json: it claims seed 1 of grpo"):
        leaderboard(LeaderboardConfig(results=results, out=tmp_path / "out", strict=True))


def test_fewer_seeds_one_seed_and_missing_values(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    for seed in (0, 1):
        run = make_results("multichart", 1, "chart_answer", "grpo", seed, outputs="x.jsonl")
        if seed == 1:
            run["by_k"]["8"]["metrics"]["chart_answer"]["mean"] = None   # n/a for this seed at K=8
        (results / f"g{seed}.json").write_text(json.dumps(run))
    one = make_results("multichart", 1, "chart_answer", "sd-grpo", 0, outputs="x.jsonl")
    one["decoding"]["temperature"] = 0.7
    (results / "s0.json").write_text(json.dumps(one))
    two = make_results("multichart", 1, "chart_answer", "sd-grpo", 1, outputs="x.jsonl")
    two["train"]["config"]["learning_rate"] = 1e-4
    (results / "s1.json").write_text(json.dumps(two))
    (board,) = leaderboard(LeaderboardConfig(results=results, write=False, format="markdown"))
    from sdbench.evaluation.leaderboard.text import render_table

    table = render_table(board)
    grpo = next(line for line in table.splitlines() if line.startswith("grpo"))
    # K=8: one seed has a value; its interval is that run's bootstrap CI over test examples (marked †)
    assert grpo.endswith("0.377 ± 0.083  0.347 ± 0.083  0.310 [0.300, 0.320]† (n=1)")
    assert "sd-grpo / default (synthetic, test) averages seeds evaluated with 2 different decoding" in table
    assert "training configs differ in: learning_rate" in table


def test_one_seed_shows_its_example_interval_and_none_without_one(tmp_path):
    """One seed has no seed interval; the board shows the run's own bootstrap CI over test examples instead, marked
    as such, and nothing where the file has no CI."""
    results = tmp_path / "results"
    results.mkdir()
    run = make_results("multipanel", 1, "cider_d", "hybrid", 0, "x")
    (results / "a.json").write_text(json.dumps(run))
    (board,) = leaderboard(LeaderboardConfig(results=results, write=False))
    from sdbench.evaluation.leaderboard.tables import ranked_rows
    from sdbench.evaluation.leaderboard.text import render_table

    overall = ranked_rows(board)[0]["overall"]
    assert overall["interval"] == "examples" and overall["ci_low"] == pytest.approx(0.507)
    assert "0.517 [0.507, 0.527]†" in render_table(board) and "±" not in render_table(board).split("\n", 1)[1]
    for table in [run["metrics"], *(entry["metrics"] for entry in run["by_k"].values())]:
        for stat in table.values():
            stat["ci_low"] = stat["ci_high"] = None
    (results / "a.json").write_text(json.dumps(run))
    (board,) = leaderboard(LeaderboardConfig(results=results, write=False))
    overall = ranked_rows(board)[0]["overall"]
    assert overall["interval"] is None and math.isnan(overall["ci_low"])
    assert "0.517  " in render_table(board) and "†" not in render_table(board).split("\n", 1)[1]


def test_unknown_task_metric_and_empty_folders(fixture_dir, tmp_path):
    with pytest.raises(SdbenchError, match="unknown task 'multipanle' in the results.*did you mean 'multipanel'"):
        leaderboard(LeaderboardConfig(results=fixture_dir, task="multipanle", write=False))
    with pytest.raises(SdbenchError, match="--metric 'cider' .*did you mean 'cider_d'.*they have: cider_d, rouge_l"):
        leaderboard(LeaderboardConfig(results=fixture_dir, task="multipanel", metric="cider", write=False))
    with pytest.raises(SdbenchError, match="not a folder"):
        leaderboard(LeaderboardConfig(results=tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SdbenchError, match="no valid results file; `sdbench eval` writes one per run"):
        leaderboard(LeaderboardConfig(results=tmp_path / "empty"))
    write_old_schema(tmp_path / "empty")
    with pytest.raises(SdbenchError, match=r"no valid results file \(1 skipped: skipped .*schema_version 0"):
        leaderboard(LeaderboardConfig(results=tmp_path / "empty"))
    with pytest.raises(SdbenchError, match="--examples-per-run"):
        LeaderboardConfig(examples_per_run=-1)


def test_metric_flag_ranks_by_another_metric(fixture_dir):
    boards = leaderboard(LeaderboardConfig(results=fixture_dir, task="multipanel", metric="rouge_l", write=False))
    from sdbench.evaluation.leaderboard.tables import ranked_rows
    from sdbench.evaluation.leaderboard.text import section_title

    assert {r["metric"] for r in ranked_rows(boards[0])} == {"rouge_l"}
    assert section_title(boards[0], "synthetic", "test") == "synthetic, test split: rouge_l"


# ---- printed formats ------------------------------------------------------------------------------------
def test_printed_formats(fixture_dir, capsys):
    leaderboard(LeaderboardConfig(results=fixture_dir, task="multipanel", write=False))
    table = capsys.readouterr().out
    assert table.splitlines()[0].startswith("== multipanel v1: 9 runs; mean ± half-width of the 95 % t-interval")
    assert "K=8" in table and "sd-grpo  default" in table
    leaderboard(LeaderboardConfig(results=fixture_dir, write=False, format="csv"))
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == len(TASKS) * len(METHODS) * 2 * (1 + len(KS))
    assert {(r["task"], r["version"]) for r in rows} == {("multipanel", "1"), ("multichart", "1"), ("multichart", "2")}
    leaderboard(LeaderboardConfig(results=fixture_dir, write=False, format="markdown"))
    assert capsys.readouterr().out.count("\n# ") == 2  # three boards, the first at the very top


def test_terminal_table_shows_control_characters_escaped(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    run = make_results("multipanel", 1, "cider_d", "grpo", 0, "x")
    run["model"]["name"] = "evil\x1b[2J\nmodel"
    (results / "a.json").write_text(json.dumps(run))
    (board,) = leaderboard(LeaderboardConfig(results=results, write=False))
    from sdbench.evaluation.leaderboard.text import render_table

    assert "\x1b" not in render_table(board) and "evil\\x1b[2J\\nmodel" in render_table(board)


def test_config_parses_from_the_command_line():
    from sdbench.cli import parse_config

    cfg = parse_config("leaderboard", LeaderboardConfig, ["--task", "multichart", "--format", "markdown",
                                                          "--strict", "--no-write", "--out", "x"])
    assert (cfg.task, cfg.format, cfg.strict, cfg.write, cfg.out) == ("multichart", "markdown", True, False, Path("x"))
    with pytest.raises(SdbenchError, match="drop --no-write"):
        LeaderboardConfig(format="html", write=False)


# ---- the HTML page, read statically (the browser test opens it) ---------------------------------------
class _Collect(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "h4", "p", "code", "em", "table",
                "thead", "tbody", "tr", "th", "td", "figure", "img", "figcaption", "pre", "ul", "li", "div", "span",
                "details", "summary", "label", "select", "option", "script"}


def test_html_has_no_unescaped_model_text(published):
    _, out = published
    page = (out / "multichart-v1.html").read_text()
    parser = _Collect()
    parser.feed(page)
    tags = {tag for tag, _ in parser.tags}
    assert tags <= ALLOWED_TAGS, tags - ALLOWED_TAGS                  # no svg, iframe, a, link, base, ...
    assert [tag for tag, _ in parser.tags].count("script") == 1       # the page's own script (its CSP hash)
    for tag, attrs in parser.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        if tag == "img":
            assert attrs["src"].startswith("data:image/png;base64,")
        if tag == "meta" and "http-equiv" in attrs:
            assert attrs == {"http-equiv": "Content-Security-Policy", "content": CSP}
    assert CSP.startswith("default-src 'none'; img-src data:; style-src 'unsafe-inline'")
    head = page[:page.index("<title>")]
    assert "Content-Security-Policy" in head                           # before any content it guards
    assert "script-src 'sha256-" in CSP and "'unsafe-inline'" not in CSP.split("script-src")[1]
    lowered = page.replace(f"<script>{SCRIPT}</script>", "", 1).lower()      # all but the page's own script
    for needle in ("<script", "<svg", "<iframe", "<img src=x", "<body onload", "http://", "https://"):
        assert needle not in lowered, needle
    text = "".join(parser.text)
    for payload in PAYLOADS:                                           # every response is on the page, as text
        assert payload in text
    assert text.count(EVIL_MODEL) >= 4                                  # the model name, as text, in every table
    assert "<script>alert('config')</script>" not in page               # (config values are not shown raw either)


def test_other_json_under_the_results_folder_is_not_a_results_file(tmp_path):
    from sdbench.evaluation.leaderboard.runs import _is_results_candidate

    (tmp_path / "manifest.json").write_text('{"schema_version": 1, "task": {}}')     # a build manifest
    (tmp_path / "config.json").write_text('{"model_type": "qwen2_5_vl"}')           # a checkpoint's config
    (tmp_path / "results.json").write_text("{}")
    (tmp_path / "run7.json").write_text('{"schema_version": 0, "run_id": "run7"}')  # an old results file
    (tmp_path / "broken.json").write_text('{"schema_version": 1, ')
    assert [p.name for p in sorted(tmp_path.iterdir()) if _is_results_candidate(p)] == \
        ["broken.json", "results.json", "run7.json"]


def test_impossible_results_are_refused_and_an_unreadable_file_is_skipped(fixture_dir, tmp_path):
    """Boards exist only for tasks and versions of tasks/; values must lie in their metric's range; a file that
    is not UTF-8 is one skip note, not an aborted board."""
    results = copy_fixture(fixture_dir, tmp_path)
    cases = {}
    ghost = make_results("nosuchtask", 1, "cider_d", "grpo", 0, outputs="x.jsonl")
    cases["ghost.json"] = (ghost, "task 'nosuchtask' is not a task of this sdbench")
    future = make_results("multipanel", 99, "cider_d", "grpo", 0, outputs="x.jsonl")
    cases["future.json"] = (future, "multipanel v99 does not exist (tasks/multipanel is at v2)")
    wild = make_results("multipanel", 1, "cider_d", "grpo", 7, outputs="x.jsonl")
    wild["metrics"]["fact_f1"] = {"mean": 57.0, "ci_low": 50.0, "ci_high": 60.0, "n": 3}
    cases["wild.json"] = (wild, "metrics.fact_f1.mean = 57.0 is outside fact_f1's range [0, 1]")
    over = make_results("multipanel", 1, "cider_d", "grpo", 8, outputs="x.jsonl")
    over["by_k"]["2"]["metrics"]["cider_d"]["ci_high"] = 10.5
    cases["over.json"] = (over, "by_k.2.metrics.cider_d.ci_high = 10.5 is outside cider_d's range [0, 10]")
    typo = make_results("multipanel", 1, "cider_d", "grpo", 9, outputs="x.jsonl")
    typo["metrics"]["cider"] = typo["metrics"]["cider_d"]
    cases["typo.json"] = (typo, "metrics.cider is not a metric of sdbench (did you mean 'cider_d'?)")
    for name, (record, _) in cases.items():
        (results / name).write_text(json.dumps(record))
    (results / "latin1.json").write_bytes('{"run_id": "caf\xe9"}'.encode("latin-1"))
    boards = leaderboard(LeaderboardConfig(results=results, out=tmp_path / "out", format="csv"))
    assert sorted(b.name for b in boards) == ["multichart-v1", "multichart-v2", "multipanel-v1"]  # no ghost boards
    notes = [n for b in boards for n in b.all_notes]
    for name, (_, message) in cases.items():
        assert any(f"skipped {results / name}: " in n and message in n for n in notes), name
    assert any(f"skipped {results / 'latin1.json'}: not UTF-8" in n for n in notes)
    mp1 = next(b for b in boards if b.name == "multipanel-v1")
    assert {r.seed for r in mp1.runs if r.row[2] == "grpo"} == set(SEEDS)  # none of the refused runs counted
    with pytest.raises(SdbenchError, match="--strict"):
        leaderboard(LeaderboardConfig(results=results, out=tmp_path / "out2", strict=True))


def test_diagnostics_in_the_format_diagnose_writes_reach_the_board(tmp_path):
    """`sdbench diagnose` stores measured rates as {mean, ci_low, ci_high} (sdbench.rl.diagnostics.diagnostics_by_k):
    the board keeps their means and intervals instead of dropping them."""
    import torch

    from sdbench.evaluation.leaderboard.runs import collect_runs
    from sdbench.evaluation.leaderboard.tables import diagnostics_frame
    from sdbench.rl.diagnostics import diagnostics_by_k

    gen = torch.Generator().manual_seed(0)
    groups = [torch.rand(8, k, generator=gen) for k in (2, 4) for _ in range(6)]                  # (G, K) each
    real = diagnostics_by_k(groups)
    results = tmp_path / "results"
    results.mkdir()
    run = make_results("multichart", 1, "chart_answer", "grpo", 0, outputs="none.jsonl")
    run["diagnostics"] = {"group_size": 8, "by_k": real}
    (results / "r0.json").write_text(json.dumps(run))
    runs, _ = collect_runs(results)
    frame, notes = diagnostics_frame(runs)
    assert not notes
    rate = frame[frame["name"] == "misattribution_rate"].set_index("k")
    assert list(rate.index) == [2, 4]
    for k in (2, 4):
        stat = real[str(k)]["misattribution_rate"]
        assert rate.loc[k, "value"] == stat["mean"] and rate.loc[k, "ci_low"] == stat["ci_low"]
    assert {"c_hat", "corr_holistic_segment", "segment_reward_std", "theory_at_c_hat"} <= set(frame["name"])
    leaderboard(LeaderboardConfig(results=results, out=tmp_path / "out", format="csv"))
    assert (tmp_path / "out" / "plots" / "multichart-v1-diagnostics.png").is_file()


def test_examples_show_their_reference_and_image_from_the_task_build(tmp_path):
    """The page shows each example response beside the example's reference and image, read from the task build
    named in the results (when its content hash matches); otherwise a note says why not."""
    from sdbench.data.build_task import BuildTaskConfig, build_task
    from sdbench.data.task_data import load_task_data
    from sdbench.evaluation.leaderboard.examples import read_examples

    folder = build_task(BuildTaskConfig(task="multipanel", segments=(2,), n_train=0, n_test=3, out=tmp_path / "mp"),
                        quiet=True)
    data = load_task_data(folder)
    examples = list(data.examples("test"))
    results = tmp_path / "results"
    (results / "outputs").mkdir(parents=True)
    run = make_results("multipanel", 2, "fact_f1", "grpo", 0, "outputs/r.jsonl")
    run["task"].update(folder=str(folder), content_hash=data.manifest["content_hash"])
    run["metrics"] = {"fact_f1": {"mean": 0.5, "ci_low": 0.4, "ci_high": 0.6, "n": 3}}
    run["by_k"] = {"2": {"num_examples": 3, "metrics": {"fact_f1": {"mean": 0.5, "ci_low": 0.4, "ci_high": 0.6}}}}
    run["by_position"] = {}
    (results / "outputs" / "r.jsonl").write_text("".join(
        json.dumps({"id": ex.id, "num_segments": 2, "holistic_reward": 0.5, "response": f"<b>answer {i}</b>"}) + "\n"
        for i, ex in enumerate(examples)))
    (results / "r.json").write_text(json.dumps(run))
    (board,) = leaderboard(LeaderboardConfig(results=results, out=tmp_path / "out", examples_per_run=2,
                                             format="csv"))
    shown, notes = read_examples(board.runs, 2)
    (records,) = shown.values()
    assert [r["reference"] for r in records] == [ex.holistic_reference for ex in examples[:2]] and notes == []
    assert all(r["image"][:8] == b"\x89PNG\r\n\x1a\n" for r in records)
    page = (tmp_path / "out" / "multipanel-v2.html").read_text()
    assert page.count('<details class="example">') == 2 and page.count('alt="image of example') == 2
    assert "<h4>Reference</h4>" in page and "&lt;b&gt;answer 0&lt;/b&gt;" in page
    assert examples[0].holistic_reference.split("\n")[0][:40] in page

    run["task"]["content_hash"] = "0" * 64   # results from other data than this folder holds: not shown, noted
    (results / "r.json").write_text(json.dumps(run))
    (board,) = leaderboard(LeaderboardConfig(results=results, write=False))
    shown, notes = read_examples(board.runs, 2)
    assert all(r["reference"] is None and r["image"] is None for r in next(iter(shown.values())))
    assert len(notes) == 1 and "holds other data" in notes[0]
