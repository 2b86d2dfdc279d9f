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
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdbench.core.errors import SdbenchError
from sdbench.core.types import Example, Segment

MANIFEST = "manifest.json"
SCHEMA_VERSION = 2  # 2: the manifest lists every data file with its size and hash (`files`)
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


class PngCache:
    """PNG bytes of the images encoded so far, while those image objects live: a real source shares one decoded
    chart among the examples that use it (MultiChartQA: a group's 4 questions), and encoding is most of a
    build's time (full MultiChartQA: 4 x fewer encodes). Keyed by object identity, checked through a weak
    reference, so a dead image's entry is dropped and a new object at its address is never mistaken for it."""

    def __init__(self):
        self._items: dict[int, tuple[weakref.ref, bytes]] = {}

    def png(self, img) -> bytes:
        key = id(img)
        hit = self._items.get(key)
        if hit is not None and hit[0]() is img:
            return hit[1]
        data = _png(img)
        self._items[key] = (weakref.ref(img, lambda _, key=key: self._items.pop(key, None)), data)
        return data


def to_row(ex: Example, pngs: PngCache | None = None) -> dict[str, Any]:
    encode = pngs.png if pngs is not None else _png
    return {"id": ex.id, "images": [{"bytes": encode(img), "path": None} for img in ex.images],
            "prompt": ex.prompt, "num_segments": ex.num_segments,
            "segments": [{"index": s.index, "label": s.label, "reference": s.reference, "answer": s.answer,
                          "facts": list(s.facts), "meta": canonical_json(s.meta)} for s in ex.segments],
            "holistic_reference": ex.holistic_reference, "shared_context": ex.shared_context,
            "meta": canonical_json(ex.meta)}


def from_row(row: dict[str, Any], images: Sequence[Any] | None = None) -> Example:
    """An Example from a stored row; `images` replaces the row's decoded images (e.g. a LazyImages)."""
    if images is None:
        images = tuple(img.convert("RGB") if img.mode != "RGB" else img for img in row["images"])
    segments = tuple(Segment(index=s["index"], label=s["label"], reference=s["reference"], answer=s["answer"],
                             facts=tuple(s["facts"]), meta=json.loads(s["meta"])) for s in row["segments"])
    return Example(id=row["id"], images=images, prompt=row["prompt"], segments=segments,
                   holistic_reference=row["holistic_reference"], shared_context=row["shared_context"],
                   meta=json.loads(row["meta"]))


def write_split(rows: list[dict[str, Any]], folder: Path, fingerprint: str) -> None:
    """Save one split's rows (`to_row`); the fingerprint is derived from content so the saved bytes are
    deterministic."""
    from datasets import Dataset, disable_progress_bars

    disable_progress_bars()
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
        try:
            return load_from_disk(str(path))
        except Exception as exc:  # datasets / pyarrow raise many types for a damaged folder; all mean the same
            raise SdbenchError(f"{path}: cannot be read ({exc.__class__.__name__}: {str(exc)[:120]}); the build "
                               f"folder is damaged, rebuild it with `sdbench build-task`") from None

    def check(self, splits: Iterable[str] | None = None) -> None:
        """Fast tamper and damage check of the stored files of `splits` (all by default) against the sizes and
        hashes the manifest recorded when the build was written: an edited, truncated or missing file is an
        SdbenchError naming it. Costs a read of the files (xxh3, ≈ 10 GB/s once in the page cache);
        `verify()` is the deep check of the content hash over decoded pixels."""
        wanted = set(self.manifest["splits"] if splits is None else splits)
        for relative, expected in sorted(self.manifest["files"].items()):
            if relative.split("/")[1] not in wanted:
                continue
            path = self.folder / relative
            problem = _file_problem(path, expected)
            if problem:
                raise SdbenchError(f"{path}: {problem} since the build was written; the task data is not what "
                                   f"its manifest (content {self.manifest['content_hash'][:12]}) describes. Rebuild "
                                   "it with the same `sdbench build-task` command and --overwrite")

    def examples(self, split: str) -> Iterator[Example]:
        """The examples of a split, in stored order. Their images are a `LazyImages`: decoded when read, one
        example at a time, so holding every example of a real split costs its text, not its pixels."""
        import pyarrow.compute as pc

        dataset = self.dataset(split)
        if len(dataset) == 0:
            return
        column = dataset.data.column("images")  # memory-mapped Arrow: list<struct<bytes, path>> per row
        counts = pc.list_value_length(column).to_pylist()
        for row_index, row in enumerate(dataset.remove_columns("images")):
            yield from_row(row, images=LazyImages(column, row_index, counts[row_index], self.folder, split))

    def verify(self) -> None:
        """Recompute the content hash from the stored data; raise if it differs from the manifest's."""
        digests = {split: [example_digest(ex) for ex in self.examples(split)] for split in self.manifest["splits"]}
        got = content_hash(digests)
        if got != self.manifest["content_hash"]:
            raise SdbenchError(f"{self.folder}: content hash {got[:12]} does not match the manifest's "
                               f"{self.manifest['content_hash'][:12]}; the data was modified, rebuild it")


class LazyImages(Sequence):
    """The images of one stored example, decoded from the split's memory-mapped Arrow data when accessed.

    Behaves as the tuple of RGB PIL images it stands for (len, index, iterate, compare); nothing is cached,
    so memory follows the batch being used, not the split. A stored image that no longer decodes is an
    SdbenchError naming the build folder, the split and the example."""

    def __init__(self, column, row: int, count: int, folder: Path, split: str):
        self._column, self._row, self._count, self._folder, self._split = column, row, count, folder, split

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index):
        if isinstance(index, slice):
            return tuple(self._decode_all())[index]
        if not -self._count <= index < self._count:
            raise IndexError(f"image index {index} out of range ({self._count} images)")
        return self._decode_all(only=index % self._count)[0]

    def __iter__(self):
        return iter(self._decode_all())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # like the tuple of images it stands for (PIL images are unhashable)

    def __repr__(self) -> str:
        return f"LazyImages({self._count} image(s) of {self._split} row {self._row} in {self._folder})"

    def _decode_all(self, only: int | None = None) -> list:
        from PIL import Image, UnidentifiedImageError

        stored = self._column[self._row]  # one row's list of {bytes, path}, read from the mapped file
        picked = stored.as_py() if only is None else [stored[only].as_py()]
        images = []
        for item in picked:
            try:
                with Image.open(io.BytesIO(item["bytes"])) as img:
                    images.append(img.convert("RGB"))
            except (UnidentifiedImageError, OSError, TypeError, ValueError) as exc:
                raise SdbenchError(f"{self._folder}/data/{self._split}: the image of example row {self._row} "
                                   f"does not decode ({exc.__class__.__name__}); the build folder is damaged, "
                                   "rebuild it with `sdbench build-task`") from None
        return images


def file_record(path: Path) -> dict[str, Any]:
    """{'bytes', 'xxh3_128'} of one stored file (the manifest's `files` entries)."""
    return {"bytes": path.stat().st_size, "xxh3_128": _xxh3(path)}


def data_file_records(folder: Path) -> dict[str, dict[str, Any]]:
    """Every file under FOLDER/data, by its path relative to FOLDER."""
    return {p.relative_to(folder).as_posix(): file_record(p)
            for p in sorted((folder / "data").rglob("*")) if p.is_file()}


def _xxh3(path: Path) -> str:
    import mmap

    import xxhash

    with open(path, "rb") as f:
        if path.stat().st_size == 0:
            return xxhash.xxh3_128_hexdigest(b"")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            return xxhash.xxh3_128_hexdigest(mapped)


def _file_problem(path: Path, expected: dict[str, Any]) -> str | None:
    if not path.is_file():
        return "missing"
    if path.stat().st_size != expected["bytes"]:
        return f"{path.stat().st_size} bytes instead of {expected['bytes']} (truncated or rewritten)"
    if _xxh3(path) != expected["xxh3_128"]:
        return "changed (its hash differs)"
    return None


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


def with_segments(examples: list[Example], segments: Sequence[int], where: str) -> list[Example]:
    """The examples whose K is in `segments` (all when empty), as `train`, `eval` and `diagnose` take --segments.

    K values the split does not have are left out with a note on stderr; none at all is an SdbenchError."""
    import sys

    if not segments:
        return examples
    have = sorted({ex.num_segments for ex in examples})
    kept = [ex for ex in examples if ex.num_segments in segments]
    if not kept:
        raise SdbenchError(f"{where} has no example with K={list(segments)} (it has K={have}); build the task "
                           "with those K or change --segments")
    absent = [k for k in segments if k not in have]
    if absent:
        print(f"note: {where} has no example with K={absent}; using K={[k for k in segments if k in have]}",
              file=sys.stderr)
    return kept


def k_histogram(ks: Iterable[int]) -> dict[str, int]:
    """{"K": count} in K order, from the K of each example."""
    hist: dict[int, int] = {}
    for k in ks:
        hist[k] = hist.get(k, 0) + 1
    return {str(k): hist[k] for k in sorted(hist)}


def load_split(task: str | Path, split: str, segments: Sequence[int] = (), limit: int = 0):
    """(task data, spec, source name, examples) of one split of a build, for the trainer, `eval` and `diagnose`:
    the build is checked against tasks/ (its version) and its files (sizes and hashes), the examples filtered by K
    and cut to `limit` (0: all)."""
    from sdbench.data.task import load_task

    data = load_task_data(task)
    spec = load_task(data.task_name)
    if spec.version != data.task_version:
        raise SdbenchError(f"{task}: built with task v{data.task_version}, tasks/ has v{spec.version}; rebuild it")
    data.check([split])
    if not data.manifest["splits"].get(split, {}).get("count"):
        raise SdbenchError(f"{task}: the build has no {split} examples; rebuild it with --n-{split} N (or -1 for "
                           "all of a real source)")
    examples = with_segments(list(data.examples(split)), segments, f"{task}: split {split!r}")
    if limit:
        examples = examples[:limit]
    if not examples:
        raise SdbenchError(f"{task}: split {split!r} has no examples")
    return data, spec, data.manifest["source"]["name"], examples
