"""The board's figures: what they draw, read back from the matplotlib artists (not just that a file exists)."""

from __future__ import annotations

import json
import math

import pytest

from sdbench.evaluation.leaderboard.command import LeaderboardConfig, leaderboard
from sdbench.evaluation.leaderboard.plots import plot_diagnostics, plot_learning_curves, plot_reward_vs_k
from sdbench.rl.diagnostics import theoretical_misattribution
from tests.fixtures.leaderboard_fixture import make_results, real_diagnostics


def board_of(tmp_path, runs):
    results = tmp_path / "results"
    results.mkdir(exist_ok=True)
    for i, run in enumerate(runs):
        (results / f"r{i}.json").write_text(json.dumps(run))
    (board,) = leaderboard(LeaderboardConfig(results=results, write=False, format="csv"))
    return board


def lines_by_label(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_reward_vs_k_dodges_rows_clips_to_the_range_and_keeps_legends_short(tmp_path, capsys):
    runs = [make_results("multipanel", 1, "cider_d", method, seed, "x.jsonl") for method in ("grpo", "sd-grpo")
            for seed in (0, 1, 2)]
    for run in runs:
        run["model"]["name"] = "default-model-qwen2_5_vl-06757ac00cf0848d"
    fig = plot_reward_vs_k(board_of(tmp_path, runs))
    (ax,) = fig.axes
    handles, labels = ax.get_legend_handles_labels()
    assert labels == ["sd-grpo (3 seeds)", "grpo (3 seeds)"]                 # one model: named once, in the title
    assert ax.get_title().endswith("· default-model-qwen2_5_vl")
    xs = [line.get_xdata() for line in ax.get_lines() if line.get_label() in labels or line.get_marker() == "o"]
    positions = {tuple(round(x, 3) for x in data) for data in xs if len(data) == 4}
    assert len(positions) == 2                                              # the two rows sit side by side at each K
    for data in positions:
        assert all(abs(math.log2(x) - round(math.log2(x))) < 0.2 for x in data)  # within 0.2 octave of their K
    assert ax.get_xscale() == "log"


def test_error_bars_stay_in_the_metric_range(tmp_path):
    runs = []
    for seed, mean in zip((0, 1, 2), (0.01, 0.30, 0.02)):  # at K=1, a seed t-interval reaching below 0
        run = make_results("multipanel", 1, "cider_d", "grpo", seed, "x.jsonl")
        run["primary_metric"] = "rouge_l"
        run["by_k"]["1"]["metrics"]["rouge_l"].update(mean=mean, ci_low=max(0.0, mean - 0.01), ci_high=mean + 0.01)
        runs.append(run)
    board = board_of(tmp_path, runs)
    cell = board.cells[(board.cells["metric"] == "rouge_l") & (board.cells["k"] == "1")].iloc[0]
    assert cell["interval"] == "seeds" and cell["ci_low"] < 0                # the cell keeps the true interval
    fig = plot_reward_vs_k(board)
    (ax,) = fig.axes
    segments = [seg for collection in ax.collections for seg in collection.get_segments()]
    lowest = min(point[1] for seg in segments for point in seg)
    assert lowest >= 0.0                                                     # never below a [0, 1] metric's 0
    assert ax.get_ylim()[0] >= 0.0


def test_learning_curves_name_the_reward_and_band_the_seeds(tmp_path):
    runs = [make_results("multipanel", 1, "cider_d", "sd-grpo", seed, "x.jsonl") for seed in (0, 1, 2)]
    for run in runs:
        run["train"]["config"]["reward"] = "fact_f1"
    fig = plot_learning_curves(board_of(tmp_path, runs))
    (ax,) = fig.axes
    assert ax.get_ylabel() == "training reward (holistic): mean of fact_f1"
    assert len(ax.collections) == 1                                           # the 95 % band over the 3 seeds
    (mean,) = [line for line in ax.get_lines() if line.get_label() == "sd-grpo (3 seeds)"]
    # fixture curve: 0.1 * step + 0.01 * seed + base; the mean over seeds of a 1-step window (4 steps / 10) is exact
    assert list(mean.get_ydata()) == pytest.approx([0.1 * s + 0.01 + 0.5 for s in (1, 2, 3, 4)])
    whole = [make_results("multipanel", 1, "cider_d", "grpo", seed, "x.jsonl") for seed in (0, 1)]
    for run in whole:  # a whole-output holistic reward is named as it is, not as the segment reward
        run["train"]["config"]["reward"], run["holistic_reward"] = "cider_d", "whole_cider_d"
    (tmp_path / "whole").mkdir()
    (whole_ax,) = plot_learning_curves(board_of(tmp_path / "whole", whole)).axes
    assert whole_ax.get_ylabel() == "training reward (holistic): whole_cider_d"


def test_diagnostics_show_the_measured_rate_with_the_closed_form_at_the_measured_c_hat(tmp_path):
    run = make_results("multipanel", 1, "cider_d", "grpo", 0, "x.jsonl")
    run["diagnostics"] = real_diagnostics()
    fig = plot_diagnostics(board_of(tmp_path, [run]))
    rate = next(ax for ax in fig.axes if ax.get_title().startswith("wrong-sign rate"))
    lines = lines_by_label(rate)
    closed = lines["grpo: closed form at measured ĉ"]
    by_k = real_diagnostics()["by_k"]
    assert list(closed.get_xdata()) == [1, 2, 4] and closed.get_linestyle() == "--"
    expected = [0.0] + [theoretical_misattribution(k, by_k[str(k)]["c_hat"]["mean"]) for k in (2, 4)]
    assert list(closed.get_ydata()) == pytest.approx(expected)               # K=1: ĉ is null there, the rate is 0
    (measured,) = [c for c in rate.containers if c.get_label() == "grpo (1 seed) measured"]
    assert list(measured.lines[0].get_ydata()) == pytest.approx([by_k[k]["misattribution_rate"]["mean"] for k in ("1", "2", "4")])
    assert "closed form, ĉ = 0" in lines and rate.get_xscale() == "log"
    titles = {ax.get_title() for ax in fig.axes}
    assert "within-group std of a segment's reward" in titles and not any("num_" in t for t in titles)
