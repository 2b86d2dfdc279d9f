"""Draw the synthetic charts of `sdbench.data.sources.chart_data` and tile them into one image.

Why it looks like this: building 1,000 examples (3,750 charts) must take well under a minute on 2 CPU
cores. Measured per 256x192 chart on this machine: a fresh pyplot figure ~110 ms; one reused Axes with
`ax.cla()` ~27 ms; reused artists with ticks ~12 ms; reused artists, axis off, matplotlib text ~7 ms;
reused artists with the text drawn by PIL ~2 ms. Matplotlib's text layout is most of the cost, so:

* the geometry (bars, lines, markers, pie wedges, axis lines) is drawn by matplotlib (`Figure` +
  `FigureCanvasAgg`, never pyplot), one figure per chart type whose artists are created once and only
  updated (heights, data, angles, visibility) for each chart;
* all text (title 'Chart k', tick labels, value labels, pie legend) is drawn by PIL with the DejaVu Sans
  font files that ship inside matplotlib, at positions computed with the axes' data transform.

Every property a chart sets is reset for the next one, so a chart's pixels never depend on the charts
drawn before it (tested). `tile_images(cells)` puts K cells on a grid: 1 row up to 3 charts, 2 rows up to
8, then a square-ish grid.

    .venv/bin/python -c "import random; from sdbench.data.sources.chart_data import sample_chart; \
        from sdbench.data.sources.chart_renderer import ChartRenderer; \
        ChartRenderer().render(sample_chart(random.Random(0), 'pie', 1)).save('chart.png')"
"""

from __future__ import annotations

import math
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL.Image import Image
    from PIL.ImageFont import FreeTypeFont

CELL_WIDTH, CELL_HEIGHT, DPI = 256, 192, 64
"""One chart, in pixels (the figure is CELL_WIDTH/DPI x CELL_HEIGHT/DPI inches)."""
GAP = 6
"""Pixels between tiled charts (and around them)."""
PIE_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3")
MAX_ITEMS = 9  # the most bars / points / slices any chart type has (chart_data.NUM_ITEMS)


@cache
def font(size: int, bold: bool = False) -> FreeTypeFont:
    """DejaVu Sans from matplotlib's own data folder: the same glyphs wherever matplotlib is installed."""
    from pathlib import Path

    import matplotlib
    from PIL import ImageFont

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name), size)


class ChartRenderer:
    """Renders chart dicts to RGB cells of CELL_WIDTH x CELL_HEIGHT; create one per source call and reuse it."""

    def __init__(self) -> None:
        self._figures: dict[str, tuple[Any, Any, dict[str, Any]]] = {}

    def render(self, chart: dict[str, Any]) -> Image:
        from PIL import ImageDraw

        kind = chart["type"]
        if kind not in self._figures:
            self._figures[kind] = _BUILDERS[kind]()
        canvas, ax, artists = self._figures[kind]
        texts = _UPDATERS[kind](ax, artists, chart)  # [(x, y, text, anchor, size, colour)] in PIL pixels
        canvas.draw()
        img = _canvas_image(canvas)
        draw = ImageDraw.Draw(img)
        draw.text((CELL_WIDTH // 2, 3), chart["title"], font=font(15, bold=True), fill="black", anchor="mt")
        for x, y, text, anchor, size, colour in texts:
            draw.text((x, y), text, font=font(size), fill=colour, anchor=anchor)
        return img


def tile_images(cells: list[Image]) -> Image:
    """Cells on a white grid, row-major, each framed by a thin grey border."""
    from PIL import Image as PILImage
    from PIL import ImageDraw

    rows, cols = grid_shape(len(cells))
    width, height = cells[0].size
    out = PILImage.new("RGB", (cols * (width + GAP) + GAP, rows * (height + GAP) + GAP), "white")
    draw = ImageDraw.Draw(out)
    for j, cell in enumerate(cells):
        x = GAP + (j % cols) * (width + GAP)
        y = GAP + (j // cols) * (height + GAP)
        out.paste(cell, (x, y))
        draw.rectangle((x - 1, y - 1, x + width, y + height), outline="#b0b0b0")
    return out


def grid_shape(k: int) -> tuple[int, int]:
    """(rows, cols) of a tile of k charts.

    >>> [grid_shape(k) for k in (1, 2, 3, 4, 8, 9, 16)]
    [(1, 1), (1, 2), (1, 3), (2, 2), (2, 4), (3, 3), (4, 4)]
    """
    rows = 1 if k <= 3 else 2 if k <= 8 else math.ceil(math.sqrt(k))
    return rows, math.ceil(k / rows)


# ---- per chart type: build the figure once, then update it ---------------------------------------------
def _figure(rect: tuple[float, float, float, float]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(CELL_WIDTH / DPI, CELL_HEIGHT / DPI), dpi=DPI, facecolor="white")
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes(rect)
    ax.set_axis_off()
    return canvas, ax


def _canvas_image(canvas) -> Image:
    from PIL import Image as PILImage

    width, height = canvas.get_width_height()
    assert (width, height) == (CELL_WIDTH, CELL_HEIGHT), (width, height)
    return PILImage.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).convert("RGB")


def _pixels(ax, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Data coordinates -> PIL pixel coordinates (origin top-left)."""
    return [(float(x), CELL_HEIGHT - float(y)) for x, y in ax.transData.transform(points)]


def _build_bar():
    canvas, ax = _figure((0.04, 0.15, 0.92, 0.69))
    bars = ax.bar(range(MAX_ITEMS), [1] * MAX_ITEMS, width=0.7)
    ax.axhline(0, color="#333333", lw=1)
    ax.set_ylim(0, 112)
    return canvas, ax, {"bars": list(bars)}


def _update_bar(ax, artists, chart):
    labels, values = chart["labels"], chart["values"]
    n = len(labels)
    for j, bar in enumerate(artists["bars"]):
        bar.set_visible(j < n)
        if j < n:
            bar.set_height(values[j])
            bar.set_color(chart["color"])
    ax.set_xlim(-0.6, n - 0.4)
    tops = _pixels(ax, [(j, v) for j, v in enumerate(values)] + [(j, 0) for j in range(n)])
    texts = [(x, y - 2, str(v), "mb", 11, "black") for (x, y), v in zip(tops[:n], values)]
    texts += [(x, y + 3, label, "mt", 11, "black") for (x, y), label in zip(tops[n:], labels)]
    return texts


def _build_hbar():
    canvas, ax = _figure((0.24, 0.04, 0.64, 0.80))
    bars = ax.barh(range(MAX_ITEMS), [1] * MAX_ITEMS, height=0.7)
    ax.axvline(0, color="#333333", lw=1)
    ax.set_xlim(0, 100)
    return canvas, ax, {"bars": list(bars)}


def _update_hbar(ax, artists, chart):
    labels, values = chart["labels"], chart["values"]
    n = len(labels)
    for j, bar in enumerate(artists["bars"]):
        bar.set_visible(j < n)
        if j < n:
            bar.set_width(values[j])
            bar.set_color(chart["color"])
    ax.set_ylim(n - 0.4, -0.6)  # first category on top
    ends = _pixels(ax, [(v, j) for j, v in enumerate(values)] + [(0, j) for j in range(n)])
    texts = [(x + 3, y, str(v), "lm", 11, "black") for (x, y), v in zip(ends[:n], values)]
    texts += [(x - 4, y, label, "rm", 11, "black") for (x, y), label in zip(ends[n:], labels)]
    return texts


def _build_line():
    canvas, ax = _figure((0.06, 0.15, 0.88, 0.65))
    (line,) = ax.plot([0, 1], [0, 1], marker="o", markersize=5, lw=2)
    ax.axhline(0, color="#333333", lw=1)
    ax.set_ylim(0, 108)
    return canvas, ax, {"line": line}


def _update_line(ax, artists, chart):
    labels, values = chart["labels"], chart["values"]
    n = len(labels)
    artists["line"].set_data(range(n), values)
    artists["line"].set_color(chart["color"])
    ax.set_xlim(-0.5, n - 0.5)
    points = _pixels(ax, [(j, v) for j, v in enumerate(values)] + [(j, 0) for j in range(n)])
    texts = [(x, y - 5, str(v), "mb", 11, "black") for (x, y), v in zip(points[:n], values)]
    texts += [(x, y + 3, label, "mt", 10, "black") for (x, y), label in zip(points[n:], labels)]
    return texts


def _build_pie():
    from matplotlib.patches import Rectangle, Wedge

    canvas, ax = _figure((0.02, 0.02, 0.56, 0.80))
    wedges = [Wedge((0, 0), 1.0, 0, 1, facecolor=c, edgecolor="white", lw=1) for c in PIE_COLOURS]
    for wedge in wedges:
        ax.add_patch(wedge)
    ax.set_xlim(-1.05, 1.05)
    ax.set_ylim(-1.05, 1.05)
    ax.set_aspect("equal")
    fig = canvas.figure
    swatches = [fig.add_artist(Rectangle((0, 0), 10 / CELL_WIDTH, 10 / CELL_HEIGHT, facecolor=c,
                                         transform=fig.transFigure)) for c in PIE_COLOURS]
    return canvas, ax, {"wedges": wedges, "swatches": swatches}


def _update_pie(ax, artists, chart):
    labels, values = chart["labels"], chart["values"]
    angle = 90.0  # slices run counter-clockwise from 12 o'clock
    top = (CELL_HEIGHT - 18 * len(labels)) // 2 + 12  # legend rows, 18 px apart, centred vertically
    texts = []
    for j, (wedge, swatch) in enumerate(zip(artists["wedges"], artists["swatches"])):
        wedge.set_visible(j < len(values))
        swatch.set_visible(j < len(values))
        if j < len(values):
            wedge.set_theta1(angle)
            wedge.set_theta2(angle + 3.6 * values[j])
            angle += 3.6 * values[j]
            y = top + 18 * j
            swatch.set_xy((156 / CELL_WIDTH, 1 - (y + 5) / CELL_HEIGHT))
            texts.append((171, y, f"{labels[j]} {values[j]}%", "lm", 11, "black"))
    return texts


def _build_scatter():
    canvas, ax = _figure((0.09, 0.10, 0.85, 0.72))
    (points,) = ax.plot([0], [0], linestyle="none", marker="o", markersize=8)
    ax.plot([-0.5, 10.5], [-0.5, -0.5], color="#333333", lw=1)
    ax.plot([-0.5, -0.5], [-0.5, 10.5], color="#333333", lw=1)
    ax.set_xlim(-0.6, 10.6)
    ax.set_ylim(-0.6, 10.6)
    return canvas, ax, {"points": points}


def _update_scatter(ax, artists, chart):
    artists["points"].set_data(chart["x"], chart["y"])
    artists["points"].set_color(chart["color"])
    (x0, y0), (x1, y1) = _pixels(ax, [(10.5, -0.5), (-0.5, 10.5)])
    return [(x0, y0 + 2, "x", "rt", 11, "black"), (x1 - 3, y1, "y", "rt", 11, "black")]


_BUILDERS = {"bar": _build_bar, "hbar": _build_hbar, "line": _build_line, "pie": _build_pie,
             "scatter": _build_scatter}
_UPDATERS = {"bar": _update_bar, "hbar": _update_hbar, "line": _update_line, "pie": _update_pie,
             "scatter": _update_scatter}
