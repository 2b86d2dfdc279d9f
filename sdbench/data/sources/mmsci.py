"""The `mmsci` source of the `subfigure` task: MMSci figures whose captions are split into subcaptions.

What: `mmsci_figures(req)` reads a local copy of MMSci (Li et al., 2024; github.com/Leezekun/MMSci) in one of
its two official layouts and yields one `Example` per figure: the figure image, the shared context (caption
text before the first marker) and one segment per subfigure, split by `caption_markers.split_caption` (the
official MMSci marker rule).

Layouts accepted under --path (detected in this order):

A. Benchmark (`benchmark.zip`): a split folder holding `image_caption_generation_data.json` (a list of
   records {uid, category, subject, abstract, content, image: "<uid>_figure_<k>.png", caption}) and
   `images/<image>`; or the benchmark root holding such folders `train/`, `dev/`, `test/`. From a root,
   build split train <- `train/`, test <- `test/` (or `dev/` with `--options test_split dev`). A split
   folder that has `image_caption_generation_data_w_answer.json` is read from that file (the plain test
   file has its captions anonymized, i.e. empty); a file whose captions are mostly empty is an error that
   names the _w_answer file. Train records whose article (uid) also appears in dev/ or test/ are skipped
   ("article also in dev/test"): the official splits are per subject, and an article listed under two
   subjects can be on both sides. A lone split folder is split into train/test by article uid
   (`req.in_split(uid, test_fraction)`: a hash of task, seed and uid).
B. Raw data (`rawdata.zip`): `<category>/<subject>/<uid>/` with `<uid>_data.json` (or the LaTeX-cleaned
   `<uid>_processed_data.json`, preferred when present, as MMSci's own builder reads it) and the figures
   named by its `images[].image_filename`. Each figure's caption is built as MMSci's builder does (title
   after the "Figure N:" prefix, a space, then the description), and the marker rule reads the description
   alone, as MMSci's builder does: the title is always shared context, even when it lacks a final full stop
   (in layout A the title and description are already joined, so "Title (a) …" without a full stop keeps
   its first subcaption inside the shared context, exactly as the rule reads the joined text).
   Splits: with `test_split_ids.json` / `dev_split_ids.json` / `train_split_ids.json` at the root
   ({category: {subject: [uid, …]}}), test is the (category, subject, uid) entries of the test (or dev)
   file, and train is the train file's entries (or every article folder when there is no train file) minus
   every uid listed in dev or test. With no split files, `req.in_split(uid, test_fraction)` decides (a hash
   of task, seed and uid). An article listed under several subjects is used once.

Per figure: the example id is the benchmark's image name without extension ("<uid>_figure_<k>"); a caption
with no marker is one segment labelled "(a)" holding the whole caption (K = 1, no shared context); a caption
whose markers skip a letter keeps the letters found (labels "(a)", "(c)"; meta missing_letters), or is
skipped with `skip_missing_letters`. `holistic_reference` is the original caption. Bad records are counted
skips: missing field, empty caption, image missing / not decoding / escaping the folder, K not requested,
duplicate figure; in layout B also a missing or malformed article JSON. A missing or malformed benchmark
JSON, or a folder in neither layout, is an `SdbenchError` naming the expected files.

    sdbench build-task subfigure --source mmsci --path ~/data/mmsci/benchmark --segments 1,2,3,4 --n-test -1
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdbench.core.errors import SdbenchError
from sdbench.core.types import Example, Segment, Skip
from sdbench.data.source import SkipRecord
from sdbench.data.sources.caption_markers import split_caption

if TYPE_CHECKING:
    from sdbench.data.source import SourceRequest

GENERATION_FILE = "image_caption_generation_data.json"
ANSWER_FILE = "image_caption_generation_data_w_answer.json"
BENCHMARK_SPLITS = ("train", "dev", "test")
SPLIT_ID_FILES = {name: f"{name}_split_ids.json" for name in BENCHMARK_SPLITS}
EXPECTED = (f"expected the MMSci benchmark ({GENERATION_FILE} + images/, or a benchmark root with "
            f"train/ dev/ test/ folders holding them) or the raw data (<category>/<subject>/<uid>/<uid>_data.json "
            "+ figure PNGs); see tasks/subfigure/README.md")
_FIGURE_PREFIX = re.compile(r"^\s*fig(?:ure)?\.?\s*\d+[a-z]?\s*[:.|]\s*", re.IGNORECASE)


@dataclass(frozen=True)
class MmsciOptions:
    """The source options of task.yaml, validated."""

    test_split: str = "test"
    test_fraction: float = 0.1
    with_abstract: bool = False
    uppercase_markers: bool = True
    lenient_markers: bool = False
    skip_missing_letters: bool = False
    min_caption_words: int = 0

    @classmethod
    def from_request(cls, options: dict[str, Any]) -> MmsciOptions:
        opts = cls(**{k: v for k, v in options.items() if k in cls.__dataclass_fields__})
        if opts.test_split not in ("test", "dev"):
            raise SdbenchError(f"--options test_split: must be 'test' or 'dev', got {opts.test_split!r}")
        if not 0.0 < opts.test_fraction < 1.0:
            raise SdbenchError(f"--options test_fraction: must be in (0, 1), got {opts.test_fraction}")
        if opts.min_caption_words < 0:
            raise SdbenchError(f"--options min_caption_words: must be >= 0, got {opts.min_caption_words}")
        return opts


@dataclass(frozen=True)
class FigureRecord:
    """One figure as read from either layout, before its caption is split and its image decoded."""

    id: str
    where: str
    image: str  # relative to the data folder
    text: str  # what the marker rule reads: the benchmark caption, or a raw figure's description
    abstract: str
    title: str = ""  # raw layout: the figure title, which precedes `text` in the caption (shared context)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def caption(self) -> str:
        return f"{self.title.strip()} {self.text.strip()}".strip()


# ---- the source -------------------------------------------------------------------------------------------
def mmsci_figures(req: SourceRequest) -> Iterator[Example | Skip]:
    """Figures of split req.split, in file (layout A) or sorted folder / split-file (layout B) order."""
    opts = MmsciOptions.from_request(req.options)
    assert req.path is not None  # build_task refuses a real source without --path
    layout = detect_layout(req.path)
    records = _raw_records(req, opts) if layout == "raw" else _benchmark_records(req, opts, layout)
    seen: set[str] = set()
    for record in records:
        if isinstance(record, Skip):
            yield record
            continue
        yield _example(req, opts, record, seen)


def detect_layout(root: Path) -> str:
    """'benchmark-folder', 'benchmark-root' or 'raw'; anything else is an SdbenchError naming the files."""
    if (root / GENERATION_FILE).is_file() or (root / ANSWER_FILE).is_file():
        return "benchmark-folder"
    if any((root / s / f).is_file() for s in BENCHMARK_SPLITS for f in (GENERATION_FILE, ANSWER_FILE)):
        return "benchmark-root"
    if any((root / f).is_file() for f in SPLIT_ID_FILES.values()) or next(root.glob("*/*/*/*_data.json"), None):
        return "raw"
    raise SdbenchError(f"--path {root}: no {GENERATION_FILE} and no article folders; {EXPECTED}")


def _example(req: SourceRequest, opts: MmsciOptions, rec: FigureRecord, seen: set[str]) -> Example | Skip:
    caption = rec.caption.strip()
    if not caption:
        return Skip(rec.where, "empty caption")
    if len(caption.split()) < opts.min_caption_words:
        return Skip(rec.where, f"caption shorter than {opts.min_caption_words} words")
    split = split_caption(rec.text, uppercase=opts.uppercase_markers or opts.lenient_markers,
                          unopened=opts.lenient_markers, title_joined=rec.meta.get("layout") == "benchmark")
    if split.subcaptions:
        parts = split.subcaptions
        shared = " ".join(p for p in (rec.title.strip(), split.shared_context) if p) or None
    else:  # no marker: the whole caption is the one subfigure's caption
        parts, shared = (("a", caption),), None
    if split.subcaptions and split.missing_letters and opts.skip_missing_letters:
        return Skip(rec.where, "non-consecutive subfigure markers")
    k = len(parts)
    if k not in req.segments:
        return Skip(rec.where, f"K={k} not in --segments")
    if rec.id in seen:
        return Skip(rec.where, "duplicate figure (same image listed twice)")
    seen.add(rec.id)
    try:
        image = req.read_image(rec.image)
    except SkipRecord as skip:
        return Skip(f"{rec.where} ({skip.path or rec.image})", f"image: {skip.reason}")
    combined = {letter: list(group) for group in split.combined for letter in group}
    labels = [req.task.label(ord(letter) - ord("a") + 1) for letter, _ in parts]
    segments = tuple(Segment(index=j, label=labels[j], reference=text,
                             meta={"shared_with": combined[letter]} if letter in combined else {})
                     for j, (letter, text) in enumerate(parts))
    prompt = req.task.render_prompt("mmsci", labels)
    if opts.with_abstract and rec.abstract.strip():
        prompt = f"Article abstract: {rec.abstract.strip()}\n\n{prompt}"
    meta = {**rec.meta, "caption": caption, "marker_style": split.style,
            "missing_letters": list(split.missing_letters), "duplicated_letters": list(split.duplicated_letters),
            "empty_letters": list(split.empty_letters), "combined": [list(g) for g in split.combined]}
    return Example(id=rec.id, images=(image,), prompt=prompt, segments=segments,
                   holistic_reference=canonical_caption(shared, segments), shared_context=shared, meta=meta)


def canonical_caption(shared: str | None, segments: tuple[Segment, ...]) -> str:
    """The whole-caption reference: the shared context, then one line per subfigure, "<label> <text>".

    It is the format the prompt asks for and the text SFT trains on, so it reads back (through
    `sdbench.data.segmenter`) into exactly the segment references; the caption as MMSci has it is kept in
    `meta["caption"]`. A combined marker "(a,b) …" becomes one line per letter with the same text.

    >>> canonical_caption("Growth.", (Segment(0, "(a)", "SEM."), Segment(1, "(b)", "XRD.")))
    'Growth.\\n(a) SEM.\\n(b) XRD.'
    """
    lines = [shared] if shared else []
    lines += [f"{s.label} {s.reference}" for s in segments]
    return "\n".join(lines)


# ---- layout A: the benchmark JSON ---------------------------------------------------------------------------
def _benchmark_records(req: SourceRequest, opts: MmsciOptions, layout: str) -> Iterator[FigureRecord | Skip]:
    assert req.path is not None
    if layout == "benchmark-folder":
        folder, hash_split = "", True
    else:
        hash_split = False
        folder = _benchmark_split_folder(req, opts)
        if folder is None:
            return
    relative = _generation_file(req.path, folder)
    records = _read_records(req, relative)
    held_out: set[str] = set()
    if req.split == "train" and not hash_split:
        for other in ("dev", "test"):
            if any((req.path / other / f).is_file() for f in (GENERATION_FILE, ANSWER_FILE)):
                other_records = _read_records(req, _generation_file(req.path, other), check_captions=False)
                held_out |= {r["uid"] for r in other_records if isinstance(r, dict) and isinstance(r.get("uid"), str)}
    for index, rec in enumerate(records):
        where = f"{relative}[{index}]"
        if not isinstance(rec, dict):
            yield Skip(where, "record is not an object")
            continue
        missing = next((f for f in ("image", "caption") if not isinstance(rec.get(f), str)), None)
        if missing is not None:
            yield Skip(where, f"missing field: {missing}" if rec.get(missing) is None else f"bad field: {missing}")
            continue
        figure_id = Path(rec["image"]).stem
        uid = rec.get("uid") if isinstance(rec.get("uid"), str) else figure_id.split("_figure_")[0]
        if hash_split and not req.in_split(uid, opts.test_fraction):
            continue  # belongs to the other split
        if uid in held_out:
            yield Skip(where, "article also in dev/test")
            continue
        image = f"{folder}/images/{rec['image']}" if folder else f"images/{rec['image']}"
        meta = {"uid": uid, "category": rec.get("category"), "subject": rec.get("subject"), "layout": "benchmark"}
        abstract = rec.get("abstract") if isinstance(rec.get("abstract"), str) else ""
        yield FigureRecord(id=figure_id, where=where, image=image, text=rec["caption"], abstract=abstract, meta=meta)


def _benchmark_split_folder(req: SourceRequest, opts: MmsciOptions) -> str | None:
    """The benchmark root's folder behind req.split: train/ for train; test/ (or dev/ with test_split dev) for
    test, falling back to the other one of the two when absent. A root without it builds that split empty;
    each choice made here is a note the build prints."""
    assert req.path is not None
    present = [s for s in BENCHMARK_SPLITS if any((req.path / s / f).is_file() for f in (GENERATION_FILE, ANSWER_FILE))]
    has = f"this benchmark root has {', '.join(f'{s}/' for s in present)}"
    if req.split == "train":
        if "train" in present:
            return "train"
        req.note(f"{has} but no train/: the train split is empty")
        return None
    other = "dev" if opts.test_split == "test" else "test"
    if opts.test_split in present:
        return opts.test_split
    if other in present:
        req.note(f"{has} but no {opts.test_split}/: the test split is built from {other}/")
        return other
    req.note(f"{has} but neither test/ nor dev/: the test split is empty")
    return None


def _generation_file(root: Path, folder: str) -> str:
    """The folder's caption file: the _w_answer one when present (test answers are anonymized otherwise)."""
    name = ANSWER_FILE if (root / folder / ANSWER_FILE).is_file() else GENERATION_FILE
    return f"{folder}/{name}" if folder else name


def _read_records(req: SourceRequest, relative: str, check_captions: bool = True) -> list[Any]:
    records = req.read_json(relative, required=True)
    if not isinstance(records, list):
        raise SdbenchError(f"{req.resolve(relative)}: expected a JSON list of records, got "
                           f"{type(records).__name__}; re-download the MMSci benchmark")
    if check_captions and records:
        empty = sum(1 for r in records if isinstance(r, dict) and not str(r.get("caption") or "").strip())
        if empty * 2 > len(records):
            raise SdbenchError(f"{req.resolve(relative)}: {empty} of {len(records)} captions are empty (MMSci "
                               f"anonymizes the test answers); put {ANSWER_FILE} in that folder, or build the "
                               "test split from dev with --options test_split dev")
    return records


# ---- layout B: raw per-article folders ----------------------------------------------------------------------
def _raw_records(req: SourceRequest, opts: MmsciOptions) -> Iterator[FigureRecord | Skip]:
    assert req.path is not None
    present = {name: file for name, file in SPLIT_ID_FILES.items() if (req.path / file).is_file()}
    held_out: set[str] = set()
    if not present:
        articles: Iterator[tuple[str, str, str]] = (
            a for a in _walk_articles(req.path) if req.in_split(a[2], opts.test_fraction))
    else:
        test_name = opts.test_split
        if test_name not in present:
            other = "dev" if test_name == "test" else "test"
            if other not in present:
                raise SdbenchError(f"{req.path}: has {', '.join(present.values())} but neither "
                                   f"{SPLIT_ID_FILES['test']} nor {SPLIT_ID_FILES['dev']}; add one, or remove the "
                                   "split files to split by a hash of the article id")
            req.note(f"no {SPLIT_ID_FILES[test_name]} at the root: the test split is the articles of "
                     f"{SPLIT_ID_FILES[other]}")
            test_name = other
        ids = {name: _read_split_ids(req, file) for name, file in present.items()}
        held_out = {uid for name in ("dev", "test") if name in ids for (_, _, uid) in ids[name]}
        if req.split == "test":
            articles = iter(ids[test_name])
        elif "train" in ids:  # listed for train: a uid also held out is a counted skip (a leak avoided)
            articles = iter(ids["train"])
        else:  # every folder not held out is a train article
            articles = (a for a in _walk_articles(req.path) if a[2] not in held_out)
    seen_uids: set[str] = set()
    for category, subject, uid in articles:
        where = f"{category}/{subject}/{uid}"
        if req.split == "train" and uid in held_out:
            yield Skip(where, "article also in dev/test")
            continue
        if uid in seen_uids:
            yield Skip(where, "duplicate article (listed under several subjects)")
            continue
        seen_uids.add(uid)
        yield from _article_figures(req, category, subject, uid)


def _walk_articles(root: Path) -> Iterator[tuple[str, str, str]]:
    """(category, subject, uid) of every article folder, in sorted order (listing only; reads are hashed)."""
    for category in _sorted_dirs(root):
        for subject in _sorted_dirs(root / category):
            for uid in _sorted_dirs(root / category / subject):
                yield category, subject, uid


def _sorted_dirs(folder: Path) -> list[str]:
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))


def _read_split_ids(req: SourceRequest, file: str) -> list[tuple[str, str, str]]:
    raw = req.read_json(file, required=True)
    ok = isinstance(raw, dict) and all(isinstance(subjects, dict) and all(
        isinstance(uids, list) and all(isinstance(u, str) for u in uids) for uids in subjects.values())
        for subjects in raw.values())
    if not ok:
        raise SdbenchError(f"{req.resolve(file)}: expected {{category: {{subject: [uid, …]}}}} as in MMSci's "
                           "rawdata split files; fix or remove the file")
    return [(c, s, u) for c, subjects in raw.items() for s, uids in subjects.items() for u in uids]


def _article_figures(req: SourceRequest, category: str, subject: str, uid: str) -> Iterator[FigureRecord | Skip]:
    assert req.path is not None
    folder = f"{category}/{subject}/{uid}"
    try:
        if not req.resolve(folder).is_dir():
            yield Skip(folder, "article folder not found")
            return
        processed = f"{folder}/{uid}_processed_data.json"
        relative = processed if req.resolve(processed).is_file() else f"{folder}/{uid}_data.json"
        data = req.read_json(relative)
    except SkipRecord as skip:
        yield Skip(f"{folder} ({skip.path})" if skip.path else folder, f"article JSON: {skip.reason}")
        return
    if not isinstance(data, dict):
        yield Skip(relative, "article JSON is not an object")
        return
    images = data.get("images")
    if not isinstance(images, list):
        yield Skip(relative, "missing field: images")
        return
    abstract = data.get("abstract") if isinstance(data.get("abstract"), str) else ""
    for k, entry in enumerate(images):
        where = f"{relative}[images][{k}]"
        if not isinstance(entry, dict):
            yield Skip(where, "image entry is not an object")
            continue
        missing = next((f for f in ("image_filename", "caption", "description") if not isinstance(entry.get(f), str)),
                       None)
        if missing is not None:
            yield Skip(where, f"missing field: {missing}" if entry.get(missing) is None else f"bad field: {missing}")
            continue
        filename = entry["image_filename"]
        yield FigureRecord(id=f"{uid}_{Path(filename).stem}", where=where, image=f"{folder}/{filename}",
                           text=entry["description"], title=figure_title(entry["caption"]), abstract=abstract,
                           meta={"uid": uid, "category": category, "subject": subject, "layout": "raw"})


def figure_title(caption: str) -> str:
    """A raw figure's title: its `caption` without the "Figure N:" prefix.

    MMSci's builder (process_benchmark.py L99-102 in commit f9be52c) keeps `caption.split(":")[-1]`, which also
    drops any text before a colon inside the title; here only the prefix is removed. The benchmark caption is
    this title, a space, and the description (`FigureRecord.caption`).

    >>> figure_title("Figure 2: Device layout: top view.")
    'Device layout: top view.'
    """
    return _FIGURE_PREFIX.sub("", caption).strip()
