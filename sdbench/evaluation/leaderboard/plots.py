"""The leaderboard's figures, one function per plot: Board -> matplotlib Figure (or None when it has no data).

`sdbench.evaluation.leaderboard.command.write_board` saves each as PNG, SVG and PDF (sdbench.evaluation.figures).
Conventions: log2 K axes, rows at one K dodged sideways, intervals clipped to the metric's range, legends naming the method (and a short
model name when a panel holds several models), learning curves smoothed with a 95 % band over seeds and the
training reward named on the axis, the closed-form misattribution rate dashed beside the measured one.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sdbench.evaluation.figures import (METHOD_COLORS, clip, dodge, error_bars, legend_below, log2_k_axis,
                                        metric_bounds, mpl_text, new_figure, series_label, short_model, smooth)

if TYPE_CHECKING:
    from sdbench.evaluation.leaderboard.tables import Board

CURVE_METRIC = "reward/holistic"      # what the learning-curves plot shows
LINE_STYLES = ("-", "--", ":", "-.")   # one per model when a panel holds several (colour: the method)
SMOOTHING = 10                        # learning curves: a moving average over 1/SMOOTHING of the steps
DIAGNOSTIC_PANELS = {                 # name in diagnostics.by_k -> panel title (counts are not plotted)
    "misattribution_rate": "wrong-sign rate of the holistic advantage",
    "c_hat": "ĉ: mean inter-segment reward correlation",
    "corr_holistic_segment": "corr(holistic, per-segment advantage)",
    "segment_reward_std": "within-group std of a segment's reward",
    "flat_segment_fraction": "share of segments with equal rewards in a group",
}


def _model_of(models: set[str]) -> tuple[str | None, str]:
    """(model shown in each legend entry or None, suffix for the title) for the models of one panel."""
    if len(models) == 1:
        return None, f" · {short_model(next(iter(models)))}"
    return "several", ""


def plot_reward_vs_k(board: Board):
    """The headline metric vs K per row: mean over seeds, error bars the 95 % seed interval (one seed: none),
    dodged per row and clipped to the metric's range; one panel per (source, split)."""
    from sdbench.evaluation.leaderboard.tables import ranked_rows

    rows = [r for r in ranked_rows(board) if any(_has(c) for c in r["by_k"].values())]
    if not rows:
        return None
    sections = list(dict.fromkeys((r["source"], r["split"]) for r in rows))
    fig, axes = new_figure(len(sections))
    for ax, section in zip(axes, sections):
        mine = [r for r in rows if (r["source"], r["split"]) == section]
        metric = board.headline[section]
        bounds = metric_bounds(metric)
        several, model_title = _model_of({r["model"] for r in mine})
        styles = {m: LINE_STYLES[i % len(LINE_STYLES)] for i, m in enumerate(sorted({r["model"] for r in mine}))}
        for index, r in enumerate(mine):
            points = [(k, c) for k, c in r["by_k"].items() if _has(c)]
            means = [c["mean"] for _, c in points]
            low = [clip(c["ci_low"], bounds) if _has(c, "ci_low") else c["mean"] for _, c in points]
            high = [clip(c["ci_high"], bounds) if _has(c, "ci_high") else c["mean"] for _, c in points]
            xs = dodge([k for k, _ in points], index, len(mine))
            ax.errorbar(xs, means, yerr=error_bars(means, low, high),
                        marker="o", capsize=3, color=METHOD_COLORS.get(r["method"]), linestyle=styles[r["model"]],
                        label=series_label(r["method"], r["model"] if several else None, len(r["seeds"])))
        log2_k_axis(ax, [k for r in mine for k in r["by_k"]])
        if bounds is not None:
            ax.set_ylim(bottom=max(bounds[0], ax.get_ylim()[0]), top=min(bounds[1], ax.get_ylim()[1]))
        ax.set_ylabel(mpl_text(f"{metric} (test, mean over seeds)"))
        ax.set_title(mpl_text(f"{board.task} v{board.version}: {section[0]}, {section[1]}{model_title}"), fontsize=10)
        ax.grid(alpha=0.3)
        legend_below(ax)
    return fig


def plot_learning_curves(board: Board):
    """CURVE_METRIC vs training step per row: each seed smoothed (moving average), the mean over seeds with its
    95 % t-band when there are several; the y axis names the training reward."""
    from sdbench.core.stats import seed_ci

    curves = board.curves[board.curves["metric"] == CURVE_METRIC]
    if curves.empty:
        return None
    rewards = _training_rewards(board)
    sections = sorted({(s, sp) for s, sp in zip(curves["source"], curves["split"])})
    fig, axes = new_figure(len(sections))
    for ax, section in zip(axes, sections):
        mine = curves[(curves["source"] == section[0]) & (curves["split"] == section[1])]
        several, model_title = _model_of(set(mine["model"]))
        window = max(1, round(mine["step"].nunique() / SMOOTHING))
        section_rewards = set()
        for (method, model), row in mine.groupby(["method", "model"], sort=True):
            color = METHOD_COLORS.get(method)
            steps = sorted(set(row["step"]))
            smoothed = {}
            for seed, seed_curve in row.groupby("seed"):
                seed_curve = seed_curve.sort_values("step")
                smoothed[seed] = dict(zip(seed_curve["step"], smooth(seed_curve["value"].tolist(), window)))
            reward = rewards.get((method, model))
            section_rewards.add(reward)
            label = series_label(method, model if several else None, len(smoothed))
            if len(smoothed) == 1:
                (only,) = smoothed.values()
                ax.plot(list(only), list(only.values()), color=color, linewidth=2, label=label)
                continue
            stats = [seed_ci([curve[s] for curve in smoothed.values() if s in curve]) for s in steps]
            ax.plot(steps, [st["mean"] for st in stats], color=color, linewidth=2, label=label)
            band = [(s, st) for s, st in zip(steps, stats) if st["ci_low"] is not None]
            ax.fill_between([s for s, _ in band], [st["ci_low"] for _, st in band], [st["ci_high"] for _, st in band],
                            color=color, alpha=0.18, linewidth=0)
        named = sorted(r for r in section_rewards if r)
        reward_text = f": {', '.join(named)}" if named else ""
        ax.set_xlabel("training step")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel(mpl_text(f"training reward (holistic){reward_text}"))
        ax.set_title(mpl_text(f"{board.task} v{board.version}: {section[0]}, {section[1]}{model_title} · training"),
                     fontsize=10)
        ax.grid(alpha=0.3)
        legend_below(ax, title=f"moving average over {window} step(s); band: 95 % t-interval over seeds")
    return fig


def plot_diagnostics(board: Board):
    """One panel per diagnostic vs K (log2), one line per row (mean over seeds, error bars: the 95 % interval of a
    single seed's measurement, or over seeds). On the misattribution panel, the closed form
    arccos(sqrt((1+(K−1)ĉ)/K))/π dashed at each row's measured ĉ (where ĉ is measured), and dotted at ĉ = 0."""
    from sdbench.core.stats import seed_ci
    from sdbench.rl.diagnostics import theoretical_misattribution

    diag = board.diagnostics
    if diag.empty:
        return None
    names = [n for n in DIAGNOSTIC_PANELS if n in set(diag["name"])]
    if not names:
        return None
    fig, axes = new_figure(len(names), panel_size=(5.4, 4.2))
    row_keys = sorted({tuple(x) for x in diag[["source", "split", "method", "model"]].itertuples(index=False)})
    several = len({key[3] for key in row_keys}) > 1
    many_sections = len({key[:2] for key in row_keys}) > 1
    all_ks = sorted(set(diag["k"]))
    for ax, name in zip(axes, names):
        mine = diag[diag["name"] == name]
        for index, key in enumerate(row_keys):
            row = mine[(mine["source"] == key[0]) & (mine["split"] == key[1]) & (mine["method"] == key[2])
                       & (mine["model"] == key[3])]
            if row.empty:
                continue
            color = METHOD_COLORS.get(key[2])
            ks, means, lows, highs = [], [], [], []
            for k, at_k in row.groupby("k"):
                values = at_k["value"].tolist()
                if len(values) == 1:
                    low, high = at_k["ci_low"].iloc[0], at_k["ci_high"].iloc[0]
                else:
                    stat = seed_ci(values)
                    low, high = stat["ci_low"], stat["ci_high"]
                mean = sum(values) / len(values)
                bad = low is None or high is None or math.isnan(low) or math.isnan(high)
                ks.append(int(k)), means.append(mean)
                lows.append(mean if bad else low), highs.append(mean if bad else high)
            label = series_label(key[2], key[3] if several else None, row["seed"].nunique())
            label += mpl_text(f" [{key[0]}, {key[1]}]") if many_sections else ""
            xs = dodge(ks, index, len(row_keys))
            ax.errorbar(xs, means, yerr=error_bars(means, lows, highs),
                        marker="o", capsize=3, color=color, label=label + (" measured" if name == "misattribution_rate"
                                                                          else ""))
            if name == "misattribution_rate":
                c_hat = diag[(diag["name"] == "c_hat") & (diag["source"] == key[0]) & (diag["split"] == key[1])
                             & (diag["method"] == key[2]) & (diag["model"] == key[3])].groupby("k")["value"].mean()
                # K = 1 has no other segment: the closed form is 0 whatever ĉ (which is not measured there)
                at = [(k, 0.0 if k == 1 else theoretical_misattribution(k, float(c_hat[k])))
                      for k in ks if k == 1 or k in c_hat.index]
                if any(k > 1 for k, _ in at):
                    ax.plot([k for k, _ in at], [v for _, v in at], "--", marker="x", color=color, linewidth=1.2,
                            label=mpl_text(f"{key[2]}: closed form at measured ĉ"))
        if name == "misattribution_rate":
            grid = [2 ** (i / 20) for i in range(0, 20 * int(math.log2(max(all_ks))) + 1)] if max(all_ks) > 1 else [1]
            ax.plot(grid, [theoretical_misattribution(k, 0.0) for k in grid], ":", color="#666666",
                    label="closed form, ĉ = 0")
            ax.set_ylim(0, 0.5)
        elif name in ("flat_segment_fraction",):
            ax.set_ylim(0, 1)
        log2_k_axis(ax, all_ks)
        ax.set_title(mpl_text(DIAGNOSTIC_PANELS[name]), fontsize=10)
        ax.grid(alpha=0.3)
        legend_below(ax)
    fig.suptitle(mpl_text(f"{board.task} v{board.version}: credit-assignment diagnostics (sdbench diagnose)"),
                 fontsize=11)
    return fig


def _training_rewards(board: Board) -> dict[tuple[str, str], str]:
    """(method, model) -> the rollout-level reward its training runs optimised, the one the learning curves show:
    "mean of <segment reward>" or a whole metric (train.config's rewards, else the results')."""
    out: dict[tuple[str, str], str] = {}
    for run in board.runs:
        train = run.results.get("train") or {}
        config = train.get("config") if isinstance(train, dict) else None
        config = config if isinstance(config, dict) else {}
        reward = config.get("reward") or run.results.get("reward")
        holistic = config.get("holistic_reward") or run.results.get("holistic_reward") or "mean"
        if isinstance(reward, str) and isinstance(holistic, str):
            out.setdefault((run.row[2], run.row[3]), f"mean of {reward}" if holistic == "mean" else holistic)
    return out


def _has(cell, part: str = "mean") -> bool:
    value = None if cell is None else cell.get(part)
    return value is not None and not (isinstance(value, float) and math.isnan(value))


PLOTS = {"reward_vs_k": ("reward vs K", plot_reward_vs_k),
         "learning_curves": ("learning curves", plot_learning_curves),
         "diagnostics": ("diagnostics", plot_diagnostics)}
