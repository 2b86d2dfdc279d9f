"""DOCCI (Onoe et al., ECCV 2024) as the real source of the `multipanel` task: K photos tiled into one image.

DOCCI's official layout under --path (https://google.github.io/docci):

    DIR/docci_descriptions.jsonlines    one JSON object per line: example_id ('train_00009'), split
                                        (train | test | qual_dev | qual_test), image_file ('train_00009.jpg'),
                                        description (one long paragraph, ~136 words)
    DIR/images/<image_file>             the JPEG photos (docci_images.tar.gz extracts to images/)

DOCCI describes single images; a K-panel example is made here: example i draws K distinct records of the
DOCCI split (train -> train, test -> test, or the `docci_split` option) with `req.rng(i)`, so example i does
not depend on n, and records may recur across examples. Each photo is decoded at reduced resolution
(JPEG draft mode), letterboxed to a `panel_size` square and tiled with panel numbers like the synthetic
panels; each panel's reference is its own DOCCI description (whitespace collapsed to single spaces, so the
holistic reference keeps one line per panel). A K-tuple has no DOCCI id, so examples are named
'docci-{build split}-{i:06d}' and carry the DOCCI example_ids in meta['docci_ids'] (and each segment's
meta['docci_id']).

Bad input: a missing descriptions file is an error naming the path and the layout; a malformed line or a
record missing a field is a counted skip ('docci_descriptions.jsonlines:LINE'); a record whose image is
missing, does not decode or points outside images/ is skipped (counted once) and another record is drawn;
a split with fewer usable records than K is an error saying how many it has.

    sdbench build-task multipanel --source docci --path ~/data/docci --segments 1,2,4,8 --n-train 2000 --n-test 500
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from sdbench.core.errors import SdbenchError
from sdbench.core.types import Skip
from sdbench.data.source import SkipRecord

if TYPE_CHECKING:
    from PIL.Image import Image

    from sdbench.core.types import Example
    from sdbench.data.source import SourceRequest

DESCRIPTIONS = "docci_descriptions.jsonlines"
IMAGES = "images"
FIELDS = ("example_id", "split", "image_file", "description")
DOCCI_SPLITS = ("train", "test", "qual_dev", "qual_test")
LAYOUT = (f"DIR/{DESCRIPTIONS} and DIR/{IMAGES}/<image_file> (DOCCI's official layout: download "
          "docci_descriptions.jsonlines and extract docci_images.tar.gz from https://google.github.io/docci)")


@dataclass(frozen=True)
class DocciRecord:
    example_id: str
    split: str
    image_file: str
    description: str
    line: int
    """1-based line in docci_descriptions.jsonlines."""

    @property
    def where(self) -> str:
        return f"{DESCRIPTIONS}:{self.line}"


def docci_split_for(build_split: str, override: str = "") -> str:
    """The DOCCI split an sdbench split reads: train -> train, test -> test, unless `override` names one.

    >>> docci_split_for("test"), docci_split_for("train", "qual_dev")
    ('test', 'qual_dev')
    """
    if override:
        if override not in DOCCI_SPLITS:
            raise SdbenchError(f"--options docci_split: {override!r} is not a DOCCI split; valid: "
                               f"{', '.join(DOCCI_SPLITS)} (or empty: train -> train, test -> test)")
        return override
    return build_split


def read_records(req: SourceRequest, split: str) -> tuple[list[DocciRecord], list[Skip]]:
    """The records of one DOCCI split, in file order, and the skips of lines that cannot be used.

    Lines of other splits are ignored (not skips); a line whose split cannot be read is a skip."""
    if req.path is None or not req.resolve(DESCRIPTIONS).is_file():
        raise SdbenchError(f"{req.path / DESCRIPTIONS if req.path else DESCRIPTIONS}: not found; the docci "
                           f"source expects --path DIR holding {LAYOUT}")
    data = req.read_bytes(DESCRIPTIONS, required=True)
    if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark is not part of the first record
        data = data[3:]
    records: list[DocciRecord] = []
    skips: list[Skip] = []
    seen: set[str] = set()
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        where = f"{DESCRIPTIONS}:{lineno}"
        try:
            rec = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            skips.append(Skip(where, "malformed JSON line"))
            continue
        if not isinstance(rec, dict):
            skips.append(Skip(where, "malformed JSON line"))
            continue
        problem = _field_problem(rec, "split")
        if problem:
            skips.append(Skip(where, problem))
            continue
        if rec["split"] != split:
            continue
        problem = next((p for p in (_field_problem(rec, f) for f in FIELDS) if p), None)
        if problem:
            skips.append(Skip(where, problem))
            continue
        if rec["example_id"] in seen:
            skips.append(Skip(where, "duplicate example_id"))
            continue
        seen.add(rec["example_id"])
        records.append(DocciRecord(example_id=rec["example_id"], split=split, image_file=rec["image_file"],
                                   description=" ".join(rec["description"].split()), line=lineno))
    return records, skips


def _field_problem(rec: dict, name: str) -> str | None:
    value = rec.get(name)
    if value is None:
        return f"missing field: {name}"
    if not isinstance(value, str):
        return f"field is not a string: {name}"
    if not value.strip():
        return f"empty field: {name}"
    return None


def image_path(image_file: str) -> str:
    """'x.jpg' -> 'images/x.jpg'; a name that leaves images/ ('../x.jpg', '/etc/x') is a SkipRecord.

    >>> image_path("train_00009.jpg")
    'images/train_00009.jpg'
    """
    p = PurePosixPath(image_file)
    if p.is_absolute() or ".." in p.parts:
        raise SkipRecord("image path escapes images/")
    return f"{IMAGES}/{p}"


def load_panel(req: SourceRequest, rec: DocciRecord, panel_size: int) -> Image:
    """The record's photo letterboxed into a panel; SkipRecord (short reason) if it cannot be used."""
    from PIL import Image as PILImage

    from sdbench.data.sources.panel_renderer import fit_square

    try:
        data = req.read_bytes(image_path(rec.image_file))
    except SkipRecord as skip:  # 'file not found: images/x.jpg' -> 'image file not found' (groups in the manifest)
        reason = skip.reason.split(":")[0]
        raise SkipRecord(reason if reason.startswith("image") else f"image {reason}") from None
    try:
        with PILImage.open(io.BytesIO(data)) as img:
            img.draft("RGB", (panel_size, panel_size))  # JPEG: decode at 1/2, 1/4 or 1/8 scale, >= panel_size
            img.load()
            rgb = img.convert("RGB")
    except Exception:  # PIL raises many types for corrupt data; all mean the same here
        raise SkipRecord("image does not decode") from None
    return fit_square(rgb, panel_size)


def docci_source(req: SourceRequest) -> Iterator[Example | Skip]:
    """Example i: K = req.k_for(i) distinct DOCCI records drawn by req.rng(i), tiled into one image.

    n = -1 ('all') builds round(records / mean K) examples, so each record is used about once on average."""
    from sdbench.core.types import Example, Segment
    from sdbench.data.sources.panel_renderer import tile_panels

    panel_size = int(req.options.get("panel_size", 256))
    if panel_size < 32:
        raise SdbenchError(f"--options panel_size: need >= 32 px, got {panel_size}")
    split = docci_split_for(req.split, str(req.options.get("docci_split", "")))
    records, skips = read_records(req, split)
    yield from skips
    if req.n == 0:
        return
    where = f"{req.path / DESCRIPTIONS if req.path else DESCRIPTIONS}"
    need = max(req.segments)
    if len(records) < need:
        raise SdbenchError(f"{where}: DOCCI split {split!r} has {len(records)} usable record(s); K={need} needs "
                           f"at least {need}. Lower --segments or pick another split (--options docci_split ...)")
    n = req.n if req.n >= 0 else max(1, round(len(records) * len(req.segments) / sum(req.segments)))
    bad: set[int] = set()
    bad_reasons: Counter[str] = Counter()
    for i in range(n):
        rng = req.rng(i)
        k = req.k_for(i)
        chosen: list[int] = []
        panels: list[Image] = []
        while len(chosen) < k:
            if len(records) - len(bad) < k:
                raise SdbenchError(f"{where}: DOCCI split {split!r} has {len(records)} record(s) of which "
                                   f"{len(bad)} have an unusable image (most often: "
                                   f"{bad_reasons.most_common(1)[0][0]}); K={k} needs {k} usable ones. Fix the "
                                   f"images under {IMAGES}/ or lower --segments")
            idx = rng.randrange(len(records))
            if idx in bad or idx in chosen:
                continue
            try:
                panels.append(load_panel(req, records[idx], panel_size))
            except SkipRecord as skip:
                bad.add(idx)
                bad_reasons[skip.reason] += 1
                yield Skip(records[idx].where, skip.reason)
                continue
            chosen.append(idx)
        picked = [records[idx] for idx in chosen]
        labels = [req.task.label(j + 1) for j in range(k)]
        segments = tuple(Segment(index=j, label=labels[j], reference=rec.description,
                                 meta={"docci_id": rec.example_id, "image_file": rec.image_file})
                         for j, rec in enumerate(picked))
        yield Example(id=f"docci-{req.split}-{i:06d}", images=(tile_panels(panels),),
                      prompt=req.task.render_prompt("docci", labels), segments=segments,
                      holistic_reference="\n".join(f"{s.label} {s.reference}" for s in segments),
                      meta={"docci_ids": [rec.example_id for rec in picked], "docci_split": split})
