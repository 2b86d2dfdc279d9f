"""Drawing a synthetic subfigure figure (sdbench.data.sources.subfigure_generator's `SyntheticFigure`) as one image.

Matplotlib draws all panels' data in one Axes per figure layout (one LineCollection for curves,
a scatter for markers, a PolyCollection for bars, LineCollections for frames and error bars), reused
across examples (only data are swapped in); text (labels, titles, legends) is drawn with PIL using
matplotlib's DejaVu fonts, because matplotlib text layout costs ~1 ms per string and would dominate.
About 5-10 ms per figure on one core (K = 1 … 8).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from sdbench.data.sources.subfigure_generator import ATMOSPHERES, NUMBER_WORDS, Panel, SyntheticFigure

if TYPE_CHECKING:
    from PIL.Image import Image

PANEL_W, PANEL_H, TOP = 208, 176, 30  # pixels: one panel cell; the band for the figure title
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")  # sample 1..4
NUM_POINTS = {"line": 7, "scatter": 7, "bar": 5}


def grid(k: int) -> tuple[int, int]:
    """(rows, cols) of a k-panel figure: 1x1, 1x2, 1x3, 2x2, then 4 columns."""
    cols = k if k <= 3 else (2 if k == 4 else 4)
    return -(-k // cols), cols


class FigureRenderer:
    """Draws `Figure`s; keeps one matplotlib canvas per K and the fonts, so each figure only swaps data."""

    def __init__(self) -> None:
        from matplotlib import get_data_path
        from PIL import ImageFont

        ttf = f"{get_data_path()}/fonts/ttf"
        self.font = {"label": ImageFont.truetype(f"{ttf}/DejaVuSans-Bold.ttf", 13),
                     "title": ImageFont.truetype(f"{ttf}/DejaVuSans.ttf", 10),
                     "small": ImageFont.truetype(f"{ttf}/DejaVuSans.ttf", 9)}
        self._layouts: dict[int, dict[str, Any]] = {}

    def _layout(self, k: int) -> dict[str, Any]:
        if k in self._layouts:
            return self._layouts[k]
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.collections import LineCollection, PolyCollection
        from matplotlib.figure import Figure as MplFigure

        rows, cols = grid(k)
        width, height = PANEL_W * cols, PANEL_H * rows + TOP
        figure = MplFigure(figsize=(width / 100, height / 100), dpi=100)
        canvas = FigureCanvasAgg(figure)
        ax = figure.add_axes((0, 0, 1, 1))
        ax.set_axis_off()
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)  # pixel coordinates, y down (as PIL)
        layout = {"canvas": canvas, "size": (width, height), "cols": cols,
                  "frames": LineCollection([], colors="black", linewidths=0.8),
                  "bars": PolyCollection([], linewidths=0),
                  "curves": LineCollection([], linewidths=1.6),
                  "errors": LineCollection([], colors="0.3", linewidths=0.7)}
        for name in ("frames", "bars", "curves", "errors"):
            ax.add_collection(layout[name])
        layout["marks"] = ax.scatter([], [], s=10, linewidths=0)
        self._layouts[k] = layout
        return layout

    def render(self, fig: SyntheticFigure) -> Image:
        import numpy as np
        from PIL import Image as PILImage
        from PIL import ImageDraw

        k = len(fig.panels)
        layout = self._layout(k)
        frames, curves, curve_colours, bars, bar_colours, errors, marks, mark_colours = ([] for _ in range(8))
        texts: list[tuple[tuple[float, float], str, str, str, str]] = []  # (xy, text, font, colour, anchor)
        name, _, unit = fig.factor
        for j, p in enumerate(fig.panels):
            row, col = divmod(j, layout["cols"])
            x0, y0 = col * PANEL_W, TOP + row * PANEL_H
            px0, px1, py0, py1 = x0 + 12, x0 + 146, y0 + 34, y0 + PANEL_H - 22  # plot area
            frames.append([(px0, py0), (px0, py1), (px1, py1)])
            n = NUM_POINTS[p.plot]
            xs = np.linspace(0.0, 1.0, n)
            sx = px0 + 10 + xs * (px1 - px0 - 20)
            for s in range(fig.num_samples):
                ys = np.array([_curve(p, x) for x in xs]) + 0.13 * p.levels[s] + np.array(p.jitter[s][:n])
                sy = py1 - ys * (py1 - py0)
                if p.plot == "line":
                    curves.append(np.column_stack([sx, sy]))
                    curve_colours.append(COLOURS[s])
                elif p.plot == "scatter":
                    marks.extend(zip(sx, sy))
                    mark_colours.extend([COLOURS[s]] * n)
                else:
                    group = (px1 - px0 - 20) / (n - 1) * 0.8
                    w = group / fig.num_samples
                    left = sx - group / 2 + s * w
                    bars.extend([(a, py1), (a, b), (a + w, b), (a + w, py1)] for a, b in zip(left, sy))
                    bar_colours.extend([COLOURS[s]] * n)
                centres = left + w / 2 if p.plot == "bar" else sx
                e = p.error * (py1 - py0)
                errors.extend([(a, b - e), (a, b + e)] for a, b in zip(centres, sy))
                texts.append(((px1 + 5, py0 + 2 + 13 * s), f"sample {s + 1}", "small", COLOURS[s], "la"))
            texts += [((x0 + 4, y0 + 2), f"({p.letter})", "label", "black", "la"),
                      ((x0 + 32, y0 + 4), f"{name} = {p.setting} {unit}", "title", "black", "la"),
                      ((px0, y0 + 20), f"{fig.quantity} ({fig.unit})", "small", "black", "la"),
                      (((px0 + px1) / 2, py1 + 5), f"{fig.xvar} ({fig.xunit})", "small", "black", "ma")]
        layout["frames"].set_segments(frames)
        layout["curves"].set_segments(curves)
        layout["curves"].set_color(curve_colours or ["black"])
        layout["bars"].set_verts(bars)
        layout["bars"].set_facecolor(bar_colours or ["black"])
        layout["errors"].set_segments(errors)
        layout["marks"].set_offsets(np.array(marks, dtype=float).reshape(-1, 2))
        layout["marks"].set_facecolor(mark_colours or ["black"])
        canvas = layout["canvas"]
        canvas.draw()
        image = PILImage.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
        image = image.convert("RGB")
        draw = ImageDraw.Draw(image)
        width = layout["size"][0]
        title = (f"{NUMBER_WORDS[fig.num_samples]} {fig.material} samples {ATMOSPHERES[fig.atmosphere]}; "
                 f"error bars: s.d. over {fig.runs} runs")
        if draw.textlength(title, font=self.font["title"]) <= width - 8:
            draw.text((width / 2, 9), title, font=self.font["title"], fill="black", anchor="ma")
        else:
            first, second = title.split("; ")
            draw.text((width / 2, 2), first + ";", font=self.font["small"], fill="black", anchor="ma")
            draw.text((width / 2, 14), second, font=self.font["small"], fill="black", anchor="ma")
        for xy, text, font, colour, anchor in texts:
            draw.text(xy, text, font=self.font[font], fill=colour, anchor=anchor)
        return image


def _curve(p: Panel, x: float) -> float:
    """Normalised height (0..~0.5) of the panel's trend at x in [0, 1], before the sample's level offset."""
    exponent, centre, width = p.shape
    base = 0.05
    if p.trend == "increasing":
        return base + 0.45 * x ** exponent
    if p.trend == "decreasing":
        return base + 0.45 * (1 - x ** exponent)
    if p.trend == "peaked":
        return base + 0.45 * math.exp(-(((x - centre) / width) ** 2))
    return base + 0.2
