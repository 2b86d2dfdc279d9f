"""Drawing of the `multipanel` task's images: one scene graph into one panel, and K panels into one image.

`render_panel(graph, size)` draws a `SceneGraph` (sdbench.data.sources.scene_graph) with plain PIL: the panel is
a 3x3 grid of cells (no lines drawn); each object is a filled shape with a thin dark outline, centred in
its cell plus its jitter, sized small / medium / large relative to the cell. Everything is integer pixel
work on exact colours (no anti-aliasing, no fonts), so the same graph gives the same bytes on any machine.

`tile_panels(panels)` lays K equally sized panels out row-major on a grid close to square but wider than
tall (rows = floor(sqrt K), cols = ceil(K / rows): K=1 1x1, 2 2x1, 4 2x2, 8 4x2), each under a dark header
strip carrying its number drawn with a built-in 5x7 bitmap font, so a model can tell "Panel 3" from
"Panel 4". `fit_square` letterboxes a photograph (DOCCI) into a square panel.

    .venv/bin/python -c "import random; from sdbench.data.sources.scene_graph import sample_scene; \
        from sdbench.data.sources.panel_renderer import render_panel, tile_panels; \
        tile_panels([render_panel(sample_scene(random.Random(s)), 128) for s in range(8)]).save('panels.png')"
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from sdbench.data.sources.scene_graph import GRID, SceneGraph

if TYPE_CHECKING:
    from PIL.Image import Image

COLOUR_RGB: dict[str, tuple[int, int, int]] = {
    "red": (220, 35, 35), "orange": (245, 140, 25), "yellow": (245, 215, 30), "green": (35, 155, 60),
    "blue": (35, 85, 220), "purple": (135, 55, 185), "pink": (245, 135, 190), "black": (25, 25, 25)}
BACKGROUND_RGB: dict[str, tuple[int, int, int]] = {
    "white": (255, 255, 255), "gray": (196, 196, 196), "beige": (238, 224, 192), "light blue": (200, 222, 245)}
SIZE_FRACTION = {"small": 0.36, "medium": 0.6, "large": 0.86}
"""Object extent (px) as a fraction of the cell side."""
OUTLINE_RGB = (60, 60, 60)
FRAME_RGB = (45, 45, 45)
"""Gaps between panels and header strips."""
NUMBER_RGB = (255, 255, 255)
LETTERBOX_RGB = (128, 128, 128)
GAP = 4
"""px between panels and around the border."""

DIGITS = {  # 5x7 bitmap font, one string per row, '#' = ink
    "0": (".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."),
    "1": ("..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "2": (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),
    "3": ("####.", "....#", "....#", ".###.", "....#", "....#", "####."),
    "4": ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),
    "5": ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),
    "6": (".###.", "#....", "#....", "####.", "#...#", "#...#", ".###."),
    "7": ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),
    "8": (".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."),
    "9": (".###.", "#...#", "#...#", ".####", "....#", "....#", ".###."),
}
DIGIT_W, DIGIT_H = 5, 7


# ---- one panel ------------------------------------------------------------------------------------------
def render_panel(graph: SceneGraph, size: int) -> Image:
    """The panel of `graph`, `size` x `size` px."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (size, size), BACKGROUND_RGB[graph.background])
    draw = ImageDraw.Draw(img)
    for obj in graph.objects:
        x0, y0, x1, y1 = object_box(obj.row, obj.col, obj.size, obj.offset, size)
        fill = COLOUR_RGB[obj.colour]
        if obj.shape == "circle":
            draw.ellipse((x0, y0, x1, y1), fill=fill, outline=OUTLINE_RGB)
        elif obj.shape == "square":
            draw.rectangle((x0, y0, x1, y1), fill=fill, outline=OUTLINE_RGB)
        else:
            cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2
            draw.polygon([(round(cx + r * u), round(cy + r * v)) for u, v in unit_polygon(obj.shape)],
                         fill=fill, outline=OUTLINE_RGB)
    return img


def object_box(row: int, col: int, size_name: str, offset: tuple[float, float],
               panel: int) -> tuple[int, int, int, int]:
    """Integer bounding box (x0, y0, x1, y1), inclusive, of an object; it stays inside its cell."""
    cell = panel / GRID
    extent = max(5, round(SIZE_FRACTION[size_name] * cell))
    slack = max(0.0, (cell - extent) / 2 - 1)
    cx = (col + 0.5) * cell + offset[0] * slack
    cy = (row + 0.5) * cell + offset[1] * slack
    x0, y0 = round(cx - extent / 2), round(cy - extent / 2)
    return x0, y0, x0 + extent - 1, y0 + extent - 1


@cache
def unit_polygon(shape: str) -> tuple[tuple[float, float], ...]:
    """Vertices of a shape scaled so its bounding box is exactly [-1, 1]^2 (rounded: machine-independent)."""
    if shape == "triangle":
        pts = [(0.0, -1.0), (1.0, 1.0), (-1.0, 1.0)]
    elif shape == "diamond":
        pts = [(0.0, -1.0), (0.72, 0.0), (0.0, 1.0), (-0.72, 0.0)]
    elif shape == "hexagon":
        pts = [(math.cos(math.radians(60 * k)), math.sin(math.radians(60 * k))) for k in range(6)]
    elif shape == "star":
        pts = [((1.0 if k % 2 == 0 else 0.42) * math.cos(math.radians(-90 + 36 * k)),
                (1.0 if k % 2 == 0 else 0.42) * math.sin(math.radians(-90 + 36 * k))) for k in range(10)]
    elif shape == "cross":
        a = 0.34
        pts = [(-a, -1), (a, -1), (a, -a), (1, -a), (1, a), (a, a), (a, 1), (-a, 1), (-a, a), (-1, a), (-1, -a),
               (-a, -a)]
    elif shape == "heart":
        ts = [2 * math.pi * k / 48 for k in range(48)]
        pts = [(16 * math.sin(t) ** 3,
                -(13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t))) for t in ts]
    else:
        raise ValueError(f"no polygon for shape {shape!r}")
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    sx, sy = (max(xs) - min(xs)) / 2, (max(ys) - min(ys)) / 2
    mx, my = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    return tuple((round((x - mx) / sx, 4), round((y - my) / sy, 4)) for x, y in pts)


# ---- tiling ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TileLayout:
    """Where each panel of a K-panel image goes."""

    rows: int
    cols: int
    panel_size: int
    header: int
    """Height of the numbered strip above each panel, px."""
    scale: int
    """Pixels per bitmap-font dot."""

    @property
    def width(self) -> int:
        return self.cols * self.panel_size + (self.cols + 1) * GAP

    @property
    def height(self) -> int:
        return self.rows * (self.header + self.panel_size) + (self.rows + 1) * GAP

    def panel_origin(self, j: int) -> tuple[int, int]:
        """Top-left pixel of panel j's drawing area (j 0-based, row-major)."""
        r, c = divmod(j, self.cols)
        return GAP + c * (self.panel_size + GAP), GAP + r * (self.header + self.panel_size + GAP) + self.header

    def number_origin(self, j: int) -> tuple[int, int]:
        """Top-left pixel of panel j's number in its header strip."""
        x, y = self.panel_origin(j)
        return x + 2 * self.scale, y - self.header + (self.header - DIGIT_H * self.scale) // 2


def tile_layout(k: int, panel_size: int) -> TileLayout:
    """Grid for K panels: rows = floor(sqrt K), cols = ceil(K / rows).

    >>> [(lay.cols, lay.rows) for lay in (tile_layout(k, 128) for k in (1, 2, 4, 8))]
    [(1, 1), (2, 1), (2, 2), (4, 2)]
    """
    if k < 1:
        raise ValueError(f"need at least one panel, got {k}")
    rows = math.isqrt(k)
    cols = -(-k // rows)
    scale = max(1, panel_size // 64)
    return TileLayout(rows=rows, cols=cols, panel_size=panel_size, header=DIGIT_H * scale + 3 * scale, scale=scale)


def tile_panels(panels: list[Image]) -> Image:
    """One image holding the panels row-major, each under a header with its 1-based number."""
    from PIL import Image, ImageDraw

    size = panels[0].width
    if any(p.size != (size, size) for p in panels):
        raise ValueError("all panels must be square and of the same size")
    layout = tile_layout(len(panels), size)
    canvas = Image.new("RGB", (layout.width, layout.height), FRAME_RGB)
    draw = ImageDraw.Draw(canvas)
    for j, panel in enumerate(panels):
        canvas.paste(panel, layout.panel_origin(j))
        draw_number(draw, layout.number_origin(j), j + 1, layout.scale)
    return canvas


def draw_number(draw, origin: tuple[int, int], number: int, scale: int) -> None:
    """Draw `number` with the bitmap font; each dot is a scale x scale square."""
    x, y = origin
    for ch in str(number):
        for r, line in enumerate(DIGITS[ch]):
            for c, dot in enumerate(line):
                if dot == "#":
                    draw.rectangle((x + c * scale, y + r * scale, x + (c + 1) * scale - 1, y + (r + 1) * scale - 1),
                                   fill=NUMBER_RGB)
        x += (DIGIT_W + 1) * scale


def fit_square(img: Image, size: int) -> Image:
    """Resize a photo to fit `size` x `size` keeping its aspect ratio, centred on a gray letterbox."""
    from PIL import Image

    w, h = img.size
    scale = size / max(w, h)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    resized = img.resize(new, Image.Resampling.BICUBIC, reducing_gap=3.0) if new != (w, h) else img
    out = Image.new("RGB", (size, size), LETTERBOX_RGB)
    out.paste(resized, ((size - new[0]) // 2, (size - new[1]) // 2))
    return out
