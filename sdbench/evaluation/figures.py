"""Conventions shared by every figure sdbench draws (leaderboard plots, `diagnose`, contact sheets).

- Formats: `save_figure` writes PNG (for pages and READMEs), SVG and PDF (for papers) side by side, with no
  version or date stamped in them, so the same data gives the same bytes.
- Font: DejaVu Sans, the font matplotlib ships in its own package data (so it is on every machine that can draw
  a plot, and matplotlib's default); it has every glyph sdbench writes ("–", "±", "ĉ", "≈"). SVG keeps text as
  text, PDF embeds it as TrueType. `pil_font` opens the same file for PIL drawings (contact sheets), whose
  built-in default font lacks some of these glyphs.
- K axes are log2 (`log2_k_axis`); several rows at one K are dodged sideways (`dodge`) so error bars never sit on
  one another; intervals are clipped to the metric's range (`clip`); legends name the method and a short model
  name (`short_model`, `series_label`).
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from pathlib import Path

FORMATS = ("png", "svg", "pdf")
METHOD_COLORS = {"grpo": "#1f77b4", "dr-grpo": "#17becf", "sd-grpo": "#d62728", "sd-dr-grpo": "#ff7f0e",
                 "hybrid": "#2ca02c", "sft": "#7f7f7f", "base": "#000000", "external": "#9467bd"}
MAX_MODEL_CHARS = 24
_HASH_TAIL = re.compile(r"[-_.]?[0-9a-f]{12,}$")


def font_file(bold: bool = False) -> Path:
    """DejaVu Sans (Bold) from matplotlib's package data."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")


def pil_font(size: int, bold: bool = False):
    """The figure font at `size` px for PIL's ImageDraw."""
    from PIL import ImageFont

    return ImageFont.truetype(str(font_file(bold)), size)


def new_figure(num_panels: int, panel_size: tuple[float, float] = (6.4, 4.8), max_cols: int = 2):
    """(Figure, [axes]) for `num_panels` panels, at most `max_cols` per row; object API, no pyplot state."""
    from matplotlib.figure import Figure

    cols = max(1, min(num_panels, max_cols))
    rows = max(1, math.ceil(num_panels / cols))
    fig = Figure(figsize=(panel_size[0] * cols, panel_size[1] * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[num_panels:]:
        ax.set_visible(False)
    return fig, list(axes[:num_panels])


SAVE_RC = {"svg.fonttype": "none",       # SVG text stays text (searchable, editable)
           "pdf.fonttype": 42,           # TrueType in PDFs (journals refuse Type 3 fonts)
           "svg.hashsalt": "sdbench"}    # stable element ids in SVG output


def render(fig, fmt: str, dpi: int = 100) -> bytes:
    """The figure as bytes in `fmt` (png, svg or pdf), without a creator/date stamp."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: one of {', '.join(FORMATS)}")
    metadata = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None},
                "pdf": {"CreationDate": None, "Creator": None, "Producer": None}}[fmt]
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context(SAVE_RC):   # save-time settings only; the caller's rcParams stay as they were
        fig.savefig(buffer, format=fmt, dpi=dpi, metadata=metadata)
    return buffer.getvalue()


def save_figure(fig, stem: Path, formats: Sequence[str] = FORMATS, dpi: int = 100) -> list[Path]:
    """Write `stem`.png/.svg/.pdf (each atomically); returns the paths."""
    from sdbench.core.atomic import write_atomic

    paths = []
    for fmt in formats:
        path = Path(f"{stem}.{fmt}")
        write_atomic(path, render(fig, fmt, dpi))
        paths.append(path)
    return paths


def log2_k_axis(ax, ks: Sequence[int], label: str = "K (segments per example)") -> None:
    """A log2 x axis with a tick at every K and the K written as an integer."""
    ks = sorted(set(int(k) for k in ks))
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks)
    ax.set_xticks([], minor=True)
    ax.get_xaxis().set_major_formatter("{x:.0f}")
    if ks:
        ax.set_xlim(ks[0] / 2 ** 0.35, ks[-1] * 2 ** 0.35)
    ax.set_xlabel(label)


def dodge(ks: Sequence[float], index: int, count: int, width: float = 0.18) -> list[float]:
    """The x positions of series `index` of `count` at each K on a log2 axis: spread over `width` octaves.

    >>> dodge([1, 4], 0, 1)
    [1.0, 4.0]
    >>> [round(x, 3) for x in dodge([2], 0, 3)] + [round(x, 3) for x in dodge([2], 2, 3)]
    [1.879, 2.129]
    """
    offset = 0.0 if count <= 1 else (index - (count - 1) / 2) * width / (count - 1)
    return [float(k) * 2 ** offset for k in ks]


def clip(value: float | None, bounds: tuple[float, float] | None) -> float | None:
    """`value` clipped to `bounds` (None: unbounded); None stays None.

    >>> clip(-0.02, (0.0, 1.0)), clip(0.5, None), clip(None, (0.0, 1.0))
    (0.0, 0.5, None)
    """
    if value is None or bounds is None or (isinstance(value, float) and math.isnan(value)):
        return value
    return min(max(value, bounds[0]), bounds[1])


def error_bars(means: Sequence[float], lows: Sequence[float], highs: Sequence[float]) -> list[list[float]]:
    """matplotlib's `yerr` from interval bounds. An interval that does not hold its mean (a bootstrap interval can
    sit beside it; rounding at a bound) draws no bar on that side instead of a negative one, which matplotlib
    refuses.

    >>> error_bars([0.5, 1.0], [0.4, 1.0000001], [0.7, 1.0])
    [[0.09999999999999998, 0.0], [0.19999999999999996, 0.0]]
    """
    return [[max(0.0, m - lo) for m, lo in zip(means, lows)], [max(0.0, hi - m) for m, hi in zip(means, highs)]]


def metric_bounds(metric: str) -> tuple[float, float] | None:
    """The value range of an sdbench metric (None when unknown or unbounded)."""
    from sdbench.rewards.registry import METRICS

    entry = METRICS.get(metric)
    if entry is None:
        return None
    low, high = entry.value_range
    return None if math.isinf(low) and math.isinf(high) else (low, high)


def short_model(model: str) -> str:
    """A model name short enough for a legend: no hub organisation, no trailing content hash, at most
    MAX_MODEL_CHARS characters.

    >>> short_model("default-model-qwen2_5_vl-06757ac00cf0848d"), short_model("Qwen/Qwen2.5-VL-3B-Instruct")
    ('default-model-qwen2_5_vl', 'Qwen2.5-VL-3B-Instruct')
    """
    name = model.rsplit("/", 1)[-1] or model
    name = _HASH_TAIL.sub("", name) or name
    return name if len(name) <= MAX_MODEL_CHARS else name[:MAX_MODEL_CHARS - 1] + "…"


def series_label(method: str, model: str | None, num_seeds: int) -> str:
    """'sd-grpo (3 seeds)', or 'sd-grpo · Qwen2.5-VL-3B (3 seeds)' when the plot holds several models."""
    name = method if model is None else f"{method} · {short_model(model)}"
    return mpl_text(f"{name} ({num_seeds} seed{'s' if num_seeds != 1 else ''})")


def mpl_text(text: str) -> str:
    """Text for matplotlib: one printable line, '$' escaped (no mathtext from names)."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in str(text)).replace("$", r"\$")


def smooth(values: Sequence[float], window: int) -> list[float]:
    """Trailing moving average over `window` points (the first points average what exists so far).

    >>> smooth([0.0, 2.0, 4.0, 6.0], 2)
    [0.0, 1.0, 3.0, 5.0]
    """
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def legend_below(ax, title: str | None = None) -> None:
    """The legend under the axes, never on the data."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False,
                  title=None if title is None else mpl_text(title), title_fontsize=8)
