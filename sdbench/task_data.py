"""Built task data on disk: an HF `DatasetDict` (one dataset per split) plus `manifest.json`.

Layout of a build folder:

    OUT/manifest.json            task name/version, source + its hash, config, seed, counts, K histogram,
                                 counted skips, content hash, provenance
    OUT/data/{train,test}/       `datasets` save_to_disk folders (images stored as PNG bytes)

The content hash covers every field of every example in order, images as decoded RGB pixels, so it is the
same on any machine that produces the same data; `load_task_data(..., verify=True)` recomputes it.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdbench.errors import SdbenchError
from sdbench.types import Example, Segment

MANIFEST = "manifest.json"
SCHEMA_VERSION = 1
SPLITS = ("train", "test")


def features():
    """The one on-disk schema shared by every task."""
    from datasets import Features, Image, List, Value

    segment = {"index": Value("int32"), "label": Value("string"), "reference": Value("string"),
               "answer": Value("string"), "facts": List(Value("string")), "meta": Value("string")}
    return Features({
        "id": Value("string"), "images": List(Image()), "prompt": Value("string"),
        "num_segments": Value("int32"), "segments": List(segment), "holistic_reference": Value("string"),
        "shared_context": Value("string"), "meta": Value("string")})


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def example_digest(ex: Example) -> bytes:
    """SHA-256 of one example: text fields as canonical JSON, images as (mode, size, raw pixels)."""
    h = hashlib.sha256()
    h.update(canonical_json(_text_fields(ex)).encode())
    for img in ex.images:
        h.update(f"{img.mode}{img.size}".encode())
        h.update(img.tobytes())
    return h.digest()


def content_hash(digests_by_split: dict[str, list[bytes]]) -> str:
    h = hashlib.sha256()
    for split in sorted(digests_by_split):
        h.update(split.encode() + b"\0")
        for d in digests_by_split[split]:
            h.update(d)
    return h.hexdigest()


def _text_fields(ex: Example) -> dict[str, Any]:
    return {"id": ex.id, "prompt": ex.prompt, "holistic_reference": ex.holistic_reference,
            "shared_context": ex.shared_context, "meta": ex.meta,
            "segments": [{"index": s.index, "label": s.label, "reference": s.reference, "answer": s.answer,
                          "facts": list(s.facts), "meta": s.meta} for s in ex.segments]}


def _png(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def to_row(ex: Example) -> dict[str, Any]:
    return {"id": ex.id, "images": [{"bytes": _png(img), "path": None} for img in ex.images],
            "prompt": ex.prompt, "num_segments": ex.num_segments,
            "segments": [{"index": s.index, "label": s.label, "reference": s.reference, "answer": s.answer,
                          "facts": list(s.facts), "meta": canonical_json(s.meta)} for s in ex.segments],
            "holistic_reference": ex.holistic_reference, "shared_context": ex.shared_context,
            "meta": canonical_json(ex.meta)}


def from_row(row: dict[str, Any]) -> Example:
    images = tuple(img.convert("RGB") if img.mode != "RGB" else img for img in row["images"])
    segments = tuple(Segment(index=s["index"], label=s["label"], reference=s["reference"], answer=s["answer"],
                             facts=tuple(s["facts"]), meta=json.loads(s["meta"])) for s in row["segments"])
    return Example(id=row["id"], images=images, prompt=row["prompt"], segments=segments,
                   holistic_reference=row["holistic_reference"], shared_context=row["shared_context"],
                   meta=json.loads(row["meta"]))


def write_split(examples: list[Example], folder: Path, fingerprint: str) -> None:
    """Save one split; the fingerprint is derived from content so the saved bytes are deterministic."""
    from datasets import Dataset, disable_progress_bars

    disable_progress_bars()
    rows = [to_row(ex) for ex in examples]
    columns = {name: [r[name] for r in rows] for name in features()}
    ds = Dataset.from_dict(columns, features=features())
    ds._fingerprint = fingerprint  # from_dict draws a random one; a content hash keeps state.json stable
    ds.save_to_disk(str(folder))


@dataclass
class TaskData:
    """A loaded build folder."""

    folder: Path
    manifest: dict[str, Any]

    @property
    def task_name(self) -> str:
        return self.manifest["task"]["name"]

    @property
    def task_version(self) -> int:
        return self.manifest["task"]["version"]

    def dataset(self, split: str):
        """The raw HF dataset of a split (images decode to PIL on access)."""
        from datasets import Dataset, load_from_disk

        if split not in self.manifest["splits"]:
            raise SdbenchError(f"{self.folder}: no split {split!r}; it has {sorted(self.manifest['splits'])}")
        if self.manifest["splits"][split]["count"] == 0:
            return Dataset.from_dict({name: [] for name in features()}, features=features())
        path = self.folder / "data" / split
        if not path.is_dir():
            raise SdbenchError(f"{path}: missing although the manifest lists {self.manifest['splits'][split]['count']} "
                               "examples; the build folder is incomplete, rebuild it")
        return load_from_disk(str(path))

    def examples(self, split: str) -> Iterator[Example]:
        for row in self.dataset(split):
            yield from_row(row)

    def verify(self) -> None:
        """Recompute the content hash from the stored data; raise if it differs from the manifest's."""
        digests = {split: [example_digest(ex) for ex in self.examples(split)] for split in self.manifest["splits"]}
        got = content_hash(digests)
        if got != self.manifest["content_hash"]:
            raise SdbenchError(f"{self.folder}: content hash {got[:12]} does not match the manifest's "
                               f"{self.manifest['content_hash'][:12]}; the data was modified, rebuild it")


def read_manifest(folder: Path) -> dict[str, Any] | None:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SdbenchError(f"{path}: malformed JSON (line {exc.lineno}); rebuild the task") from None
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise SdbenchError(f"{path}: schema_version {manifest.get('schema_version')!r} is not "
                           f"{SCHEMA_VERSION}; rebuild with this sdbench version")
    return manifest


def load_task_data(folder: str | Path, verify: bool = False) -> TaskData:
    """Open a folder written by `sdbench build-task`."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest is None:
        raise SdbenchError(f"{folder}: no {MANIFEST}; is this a folder written by `sdbench build-task`?")
    data = TaskData(folder=folder, manifest=manifest)
    if verify:
        data.verify()
    return data


def k_histogram(examples: Iterable[Example]) -> dict[str, int]:
    hist: dict[int, int] = {}
    for ex in examples:
        hist[ex.num_segments] = hist.get(ex.num_segments, 0) + 1
    return {str(k): hist[k] for k in sorted(hist)}
