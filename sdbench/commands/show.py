"""`sdbench show DIR`: print a few built examples and draw a contact sheet (images beside their segment
references) so a person can look at what was built.

    sdbench show runs/tasks/multipanel-synthetic-seed0 --num 4
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sdbench.core.errors import SdbenchError
from sdbench.core.types import Example
from sdbench.data.task_data import load_task_data

SHEET_WIDTH = 1400
THUMB = 360  # max side of an example's image on the sheet, px


@dataclass(frozen=True)
class ShowConfig:
    """`sdbench show`: print a few examples of a built task and write a contact sheet PNG."""

    folder: Path = Path("runs/tasks/multipanel-synthetic-seed0")
    """A folder written by `sdbench build-task`."""
    split: Literal["train", "test"] = "test"
    """Which split to show."""
    num: int = 3
    """How many examples to print and draw."""
    sheet: Path | None = None
    """Where to write the contact sheet (default: FOLDER/contact_sheet_<split>.png)."""

    def __post_init__(self):
        if self.num < 1:
            raise SdbenchError(f"--num: need >= 1, got {self.num}")


def show(cfg: ShowConfig) -> Path:
    data = load_task_data(cfg.folder)
    m = data.manifest
    print(f"{cfg.folder}: task {m['task']['name']} v{m['task']['version']}, source {m['source']['name']}, "
          f"seed {m['seed']}, content {m['content_hash'][:12]}")
    for split, s in m["splits"].items():
        skipped = f", skipped {s['num_skipped']}: {s['skips']}" if s["num_skipped"] else ""
        print(f"  {split}: {s['count']} examples, K histogram {s['k_histogram']}{skipped}")
    examples = []
    for ex in data.examples(cfg.split):
        examples.append(ex)
        if len(examples) >= cfg.num:
            break
    for ex in examples:
        print(format_example(ex))
    sheet_path = cfg.sheet or cfg.folder / f"contact_sheet_{cfg.split}.png"
    contact_sheet(examples).save(sheet_path)
    print(f"contact sheet: {sheet_path}")
    return sheet_path


def format_example(ex: Example, width: int = 110) -> str:
    lines = [f"\n=== {ex.id}  (K={ex.num_segments}, {len(ex.images)} image(s) "
             f"{', '.join(f'{i.width}x{i.height}' for i in ex.images)})",
             "prompt: " + textwrap.shorten(ex.prompt.replace("\n", " "), width=width * 2)]
    if ex.shared_context:
        lines.append("shared context: " + textwrap.shorten(ex.shared_context, width=width))
    for seg in ex.segments:
        answer = f"  [answer: {seg.answer}]" if seg.answer is not None else ""
        lines.append(f"  {seg.label} {textwrap.shorten(seg.reference, width=width)}{answer}")
    return "\n".join(lines)


def contact_sheet(examples: list[Example]):
    """One row per example: its image(s) on the left, its labelled segment references on the right."""
    from PIL import Image, ImageDraw

    from sdbench.evaluation.figures import pil_font

    font = pil_font(14)  # DejaVu Sans: PIL's built-in default lacks glyphs such as "–"
    rows = []
    for ex in examples:
        thumbs = [_thumb(img) for img in ex.images]
        img_w = sum(t.width for t in thumbs) + 8 * (len(thumbs) - 1)
        text_w = SHEET_WIDTH - min(img_w, SHEET_WIDTH // 2) - 30
        chars = max(20, text_w // 8)
        text = [f"{ex.id}  (K={ex.num_segments})"]
        if ex.shared_context:
            text += textwrap.wrap("context: " + ex.shared_context, chars)[:3]
        for seg in ex.segments:
            extra = f"  [answer: {seg.answer}]" if seg.answer is not None else ""
            text += textwrap.wrap(f"{seg.label} {seg.reference}{extra}", chars)[:4]
        height = max(max(t.height for t in thumbs), 18 * len(text)) + 20
        row = Image.new("RGB", (SHEET_WIDTH, height), "white")
        x = 10
        for t in thumbs:
            if x + t.width > SHEET_WIDTH // 2 + 10:
                break
            row.paste(t, (x, 10))
            x += t.width + 8
        draw = ImageDraw.Draw(row)
        for i, line in enumerate(text):
            draw.text((x + 12, 10 + 18 * i), line, fill="black", font=font)
        draw.line([(0, height - 1), (SHEET_WIDTH, height - 1)], fill="#999999")
        rows.append(row)
    sheet = Image.new("RGB", (SHEET_WIDTH, max(1, sum(r.height for r in rows))), "white")
    y = 0
    for r in rows:
        sheet.paste(r, (0, y))
        y += r.height
    return sheet


def _thumb(img):
    scale = min(1.0, THUMB / max(img.width, img.height))
    return img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))))
