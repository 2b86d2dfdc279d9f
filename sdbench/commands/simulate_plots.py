"""The simulator's figures (`sdbench simulate`): misattribution vs K beside the closed form, steps to target vs K,
learning curves, and the hybrid's λ sweep; each written as PNG, SVG and PDF (sdbench.evaluation.figures). `cfg` is
the run's SimulateConfig (read for its axes and labels; not imported, so the command imports its plots and not the
reverse)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_misattribution(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sdbench.evaluation.figures import save_figure
    from sdbench.rl.diagnostics import theoretical_misattribution

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ks = sorted({r["K"] for r in rows})
    grid = list(range(1, max(ks) + 1))
    for i, c in enumerate(sorted({r["c"] for r in rows})):
        color = f"C{i}"
        ax.plot(grid, [theoretical_misattribution(k, c) for k in grid], "-", color=color, lw=1,
                label=f"closed form, c={c:g}")
        for model, marker, fill in (("gaussian", "o", color), ("bandit", "s", "none")):
            sel = [r for r in rows if r["c"] == c and r["rewards"] == model]
            if not sel:
                continue
            err = [[r["measured"] - (r["ci_low"] if r["ci_low"] is not None else r["measured"]) for r in sel],
                   [(r["ci_high"] if r["ci_high"] is not None else r["measured"]) - r["measured"] for r in sel]]
            ax.errorbar([r["K"] for r in sel], [r["measured"] for r in sel], yerr=err, fmt=marker, color=color,
                        mfc=fill, capsize=3, label=f"measured ({model}), c={c:g}")
            effective = sel[0]["c_effective"]
            if abs(effective - c) > 1e-9:
                ax.plot(grid, [theoretical_misattribution(k, effective) for k in grid], ":", color=color, lw=1,
                        label=f"closed form at the bandit's c_eff={effective:.3f}")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_xlabel("segments K")
    ax.set_ylabel("wrong-sign rate of the holistic advantage")
    ax.set_title("Credit misattribution vs K (95 % CI over seeds)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, Path(path).with_suffix(""), dpi=120)  # .png, .svg, .pdf
    plt.close(fig)


def plot_steps(rows: list[dict[str, Any]], cfg: Any, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sdbench.evaluation.figures import save_figure

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, method in enumerate(cfg.methods):
        sel = sorted((r for r in rows if r["method"] == method), key=lambda r: r["K"])
        low = [r["steps_mean"] - (r["steps_ci_low"] if r["steps_ci_low"] is not None else r["steps_mean"]) for r in sel]
        high = [(r["steps_ci_high"] if r["steps_ci_high"] is not None else r["steps_mean"]) - r["steps_mean"]
                for r in sel]
        label = f"hybrid λ={cfg.hybrid_lambda:g}" if method == "hybrid" else method
        ax.errorbar([r["K"] for r in sel], [r["steps_mean"] for r in sel], yerr=[low, high], fmt="o",
                    color=f"C{i}", capsize=3, label=label, ls="--" if "dr-grpo" in method else "-")
    ax.axhline(cfg.max_steps, color="grey", lw=0.8, ls=":")
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(cfg.segments), [str(k) for k in cfg.segments])
    ax.set_xlabel("segments K (independent)")
    ax.set_ylabel(f"steps to E[R] ≥ {cfg.target:g}")
    ax.set_title("Steps to target vs K (95 % CI over seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, Path(path).with_suffix(""), dpi=120)  # .png, .svg, .pdf
    plt.close(fig)


def plot_curves(curves: dict[str, dict[str, list[float]]], cfg: Any, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sdbench.evaluation.figures import save_figure

    ks = list(curves)
    fig, axes = plt.subplots(1, len(ks), figsize=(3.2 * len(ks), 3.2), sharey=True, squeeze=False)
    for ax, k in zip(axes[0], ks, strict=True):
        for i, (method, curve) in enumerate(curves[k].items()):
            ax.plot(curve, color=f"C{i}", lw=1.2, ls="--" if "dr-grpo" in method else "-", label=method)
        ax.axhline(cfg.target, color="grey", lw=0.8, ls=":")
        ax.set_title(f"K={k}")
        ax.set_xlabel("step")
    axes[0][0].set_ylabel("E[R] (mean over seeds)")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, Path(path).with_suffix(""), dpi=110)  # .png, .svg, .pdf
    plt.close(fig)


def plot_lambda(rows: list[dict[str, Any]], cfg: Any, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sdbench.evaluation.figures import save_figure

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for i, outside in enumerate(cfg.outside_rules):
        sel = [r for r in rows if r["outside"] == outside]
        lams = [r["lambda"] for r in sel]
        for ax, key in ((left, "steps"), (right, "mean_reward")):
            mean = [r[f"{key}_mean" if key == "steps" else key] for r in sel]
            low = [r[f"{key}_ci_low"] if r[f"{key}_ci_low"] is not None else m for r, m in zip(sel, mean, strict=True)]
            high = [r[f"{key}_ci_high"] if r[f"{key}_ci_high"] is not None else m
                    for r, m in zip(sel, mean, strict=True)]
            ax.errorbar(lams, mean, yerr=[[m - lo for m, lo in zip(mean, low, strict=True)],
                                          [hi - m for m, hi in zip(mean, high, strict=True)]],
                        fmt="o-", color=f"C{i}", capsize=3, label=f"outside={outside}")
    left.axhline(cfg.max_steps, color="grey", lw=0.8, ls=":")
    left.set_ylabel(f"steps to E[R] ≥ {cfg.target:g}")
    right.set_ylabel("mean E[R] over the run")
    for ax in (left, right):
        ax.set_xlabel("hybrid λ (0 = SD-GRPO, 1 = GRPO)")
        ax.legend(fontsize=8)
    fig.suptitle(f"Entangled segments: K={cfg.entangled_segments}, shared weight w={cfg.shared_weight:g} "
                 f"(judged in {cfg.shared_in}), c={cfg.entangled_corr:g}")
    fig.tight_layout()
    save_figure(fig, Path(path).with_suffix(""), dpi=120)  # .png, .svg, .pdf
    plt.close(fig)
