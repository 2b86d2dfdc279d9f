"""`sdbench build-task`: run a task's source for each split and write the data + manifest.

    sdbench build-task multipanel --segments 1,2,4,8 --n-train 1000 --n-test 200 --seed 0 --out runs/mp
    sdbench build-task multichart --source multichartqa --path ~/data/MultiChartQA/data --n-test -1
    sdbench build-task --list

Building is idempotent: an output folder that already holds the same build (same task version, source,
config and source hash) is reused; one that holds a different build is an error unless --overwrite.
Bad records become counted skips (reported on screen and in the manifest), or an error with --strict.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sdbench.core.errors import SdbenchError, unknown_name_error
from sdbench.core.provenance import provenance
from sdbench.core.types import Example, Skip
from sdbench.data.build_key import code_hash, resolve_options
from sdbench.data.dataset_card import dataset_card
from sdbench.data.source import SourceRequest
from sdbench.data.task import TaskSpec, list_tasks, load_hooks, load_task
from sdbench.data.task_data import (MANIFEST, SCHEMA_VERSION, PngCache, content_hash, data_file_records, example_digest,
                                    k_histogram, to_row, write_split)

MAX_LISTED_SKIPS = 50
DEFAULT_SYNTHETIC_SEGMENTS = (1, 2, 4, 8)
MAX_EXAMPLES_PER_SPLIT = 200_000
"""A split is held in memory as stored rows until it is written (≈ 5-50 KB an example): larger requests are
refused up front (--n-train / --n-test), instead of being killed for memory part-way."""
STAGING_PREFIX = ".build-"
BUILD_ENTRIES = {MANIFEST, "data", "README.md"}  # what a build folder holds (plus contact_sheet_*.png of `show`)


def config_dict(cfg: BuildTaskConfig, options: dict[str, Any], segments: tuple[int, ...]) -> dict[str, Any]:
    """What identifies a build (the manifest's config): everything but output/behaviour flags; `segments` is
    the K values the build asked the source for (--segments, or its default)."""
    record = asdict(cfg)
    for key in ("out", "overwrite", "list", "strict"):
        record.pop(key)
    record["path"] = str(cfg.path) if cfg.path else None
    record["segments"] = list(segments)
    record["options"] = options
    return json.loads(json.dumps(record, sort_keys=True))


@dataclass(frozen=True)
class BuildTaskConfig:
    """`sdbench build-task`: build a task's train/test data from one source into a folder."""

    task: str | None = None
    """Task name (see `sdbench build-task --list`)."""
    source: str = "synthetic"
    """Source of the task: 'synthetic' (procedural, offline) or the task's real source (docci, multichartqa, mmsci)."""
    path: Path | None = None
    """Local copy of a real source in its official layout (see tasks/<task>/README.md)."""
    segments: tuple[int, ...] = ()
    """Numbers of segments K to build (comma- or space-separated: --segments 1,2,4,8). Default: 1,2,4,8 for a
    synthetic source; every K the data has for a real one (the build prints what it found)."""
    n_train: int = 1000
    """Train examples (synthetic: exactly; real: at most, -1 = all)."""
    n_test: int = 200
    """Test examples (synthetic: exactly; real: at most, -1 = all)."""
    seed: int = 0
    """Seed; the same seed and config give the same bytes."""
    out: Path | None = None
    """Output folder (default: runs/tasks/<task>-<source>-seed<seed>)."""
    options: dict[str, str] = field(default_factory=dict)
    """Source options as key value pairs (defaults and meaning in task.yaml), e.g. --options entanglement 0.8."""
    strict: bool = False
    """Fail on the first bad record instead of counting it as a skip."""
    overwrite: bool = False
    """Replace an output folder that holds a different build."""
    list: bool = False
    """List tasks, versions and sources, then exit."""

    def __post_init__(self):
        if not self.list and self.task is None:
            raise SdbenchError("build-task: name a task (sdbench build-task TASK …) or pass --list")
        if any(k < 1 for k in self.segments):
            raise SdbenchError(f"--segments: need positive integers, got {self.segments}")
        if len(set(self.segments)) != len(self.segments):
            raise SdbenchError(f"--segments: {self.segments} lists a value twice")
        for name in ("n_train", "n_test"):
            if getattr(self, name) < -1:
                raise SdbenchError(f"--{name.replace('_', '-')}: need >= 0 (or -1 = all), got {getattr(self, name)}")

    @property
    def out_dir(self) -> Path:
        return Path(self.out) if self.out else Path("runs") / "tasks" / f"{self.task}-{self.source}-seed{self.seed}"


def build_task(cfg: BuildTaskConfig, quiet: bool = False) -> Path:
    """Build (or reuse) the task data described by cfg; returns the output folder."""
    if cfg.list:
        print(format_task_list())
        return Path()
    spec = load_task(cfg.task)
    if cfg.source not in spec.sources:
        raise unknown_name_error("source", cfg.source, spec.sources, where=f" of task {spec.name!r}")
    src = spec.sources[cfg.source]
    segments = build_segments(cfg, spec)
    bad = [k for k in segments if not src.min_segments <= k <= src.max_segments]
    if bad:
        raise SdbenchError(f"--segments: source {cfg.source!r} of task {spec.name!r} supplies K in "
                           f"[{src.min_segments}, {src.max_segments}]; it cannot supply K={bad}. "
                           f"Pick values in that range.")
    too_many = [f"--n-{name} {n}" for name, n in (("train", cfg.n_train), ("test", cfg.n_test))
                if n > MAX_EXAMPLES_PER_SPLIT]
    if too_many:
        raise SdbenchError(f"{', '.join(too_many)}: a split holds at most {MAX_EXAMPLES_PER_SPLIT:,} examples (it is "
                           "kept in memory until written); build larger sets as several folders with other --seed")
    if src.kind == "synthetic" and min(cfg.n_train, cfg.n_test) < 0:
        raise SdbenchError(f"source {cfg.source!r} is synthetic: --n-train/--n-test need a count (-1 = all is "
                           "for real sources)")
    if src.kind == "real" and cfg.path is None:
        raise SdbenchError(f"source {cfg.source!r} reads a local copy: pass --path DIR ({src.layout})")
    if src.kind == "real" and not Path(cfg.path).is_dir():
        raise SdbenchError(f"--path {cfg.path}: not a folder; expected {src.layout}")
    options = resolve_options(spec, cfg.source, cfg.options)
    config_record = config_dict(cfg, options, segments)

    code = code_hash(spec)
    out = cfg.out_dir
    existing = _existing_build(out)
    if (existing is not None and existing.get("schema_version") == SCHEMA_VERSION
            and existing.get("config") == config_record and existing.get("code_hash") == code):
        if not quiet:
            print(f"{out}: already built (content {existing['content_hash'][:12]}); reusing it")
        return out
    if existing is not None and not cfg.overwrite:
        if existing.get("config") == config_record:
            what = "a build of the same config by other code (sdbench, task.yaml, hooks or generators changed since)"
        else:
            task, source = existing.get("task") or {}, existing.get("source") or {}
            what = (f"a different build (task {task.get('name')} v{task.get('version')}, source "
                    f"{source.get('name')}, seed {existing.get('seed')})")
        raise SdbenchError(f"--out {out}: holds {what}; pass --overwrite to replace that build, or choose another --out")

    hooks = load_hooks(spec)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_staging(out.parent, quiet)
        staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=out.parent))
    except OSError as exc:
        raise SdbenchError(f"--out {out}: cannot write in {out.parent} ({exc.strerror or exc.__class__.__name__}); "
                           "choose a folder you can write to") from None
    try:
        manifest = _build_into(staging, spec, cfg, hooks.SOURCES[cfg.source], options, config_record, segments,
                               quiet)
        manifest["code_hash"] = code
        say = (lambda *a: None) if quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))
        _write_dataset_dict(staging, manifest)
        size = sum(p.stat().st_size for p in (staging / "data").rglob("*") if p.is_file())
        say(f"build {spec.name}/{cfg.source}: hashing the stored files ({size / 1e6:.1f} MB) for the manifest")
        manifest["files"] = data_file_records(staging)
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        (staging / "README.md").write_text(dataset_card(manifest, spec), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        staging.chmod(0o755)
        os.replace(staging, out)  # atomic: a reader never sees a half-written build
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    if not quiet:
        print(summary_line(out, manifest))
    return out


def _write_dataset_dict(folder: Path, manifest: dict[str, Any]) -> None:
    """data/dataset_dict.json, so `datasets.load_from_disk(BUILD/data)` opens the splits as one DatasetDict."""
    splits = [name for name, s in manifest["splits"].items() if s["count"]]
    if splits:
        (folder / "data" / "dataset_dict.json").write_text(json.dumps({"splits": splits}) + "\n", encoding="utf-8")


def _existing_build(out: Path) -> dict[str, Any] | None:
    """The manifest of the sdbench build in `out` (any schema version), or None when `out` is absent or empty.

    Anything else in `out` is refused, with or without --overwrite: a folder that is not a build, or that
    holds files no build writes, is never deleted."""
    if not out.exists():
        return None
    if not out.is_dir():
        raise SdbenchError(f"--out {out}: is a file, not a folder; choose a folder for the build")
    entries = sorted(p.name for p in out.iterdir())
    if not entries:
        return None
    manifest = None
    if MANIFEST in entries:
        try:
            manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            manifest = None
    if not (isinstance(manifest, dict) and {"schema_version", "task", "content_hash"} <= set(manifest)):
        raise SdbenchError(f"--out {out}: holds files that are not an sdbench build ({', '.join(entries[:5])}"
                           f"{' …' if len(entries) > 5 else ''}); choose another --out (nothing was changed)")
    foreign = [name for name in entries if name not in BUILD_ENTRIES and not name.startswith("contact_sheet_")]
    if foreign:
        raise SdbenchError(f"--out {out}: holds an sdbench build and files no build writes ({', '.join(foreign[:5])}); "
                           "move them away or choose another --out (nothing was changed)")
    return manifest


def _remove_stale_staging(parent: Path, quiet: bool) -> None:
    """Remove staging folders of builds that were killed (their process is gone): `.build-<pid>-*`."""
    for path in parent.glob(f"{STAGING_PREFIX}*-*"):
        pid = path.name[len(STAGING_PREFIX):].split("-", 1)[0]
        if path.is_dir() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            if not quiet:
                print(f"note: removed {path}, left by a build that was stopped", file=sys.stderr)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def build_segments(cfg: BuildTaskConfig, spec: TaskSpec) -> tuple[int, ...]:
    """The K values to build: --segments; else the source's `segments.default` (task.yaml); else every K a
    real source's data has (all of min..max are asked for) or 1, 2, 4, 8 for a synthetic one."""
    if cfg.segments:
        return tuple(cfg.segments)
    src = spec.sources[cfg.source]
    if src.default_segments is not None:
        return src.default_segments
    if src.kind == "real":
        return tuple(range(src.min_segments, src.max_segments + 1))
    return tuple(k for k in DEFAULT_SYNTHETIC_SEGMENTS if src.min_segments <= k <= src.max_segments)


def _build_into(folder: Path, spec: TaskSpec, cfg: BuildTaskConfig, source_fn, options: dict[str, Any],
                config_record: dict[str, Any], segments: tuple[int, ...], quiet: bool) -> dict[str, Any]:
    from sdbench.core.progress import progress

    splits: dict[str, Any] = {}
    digests: dict[str, list[bytes]] = {}
    source_hashes, files_read = {}, 0
    for split, n in (("train", cfg.n_train), ("test", cfg.n_test)):
        req = SourceRequest(task=spec, split=split, n=n, segments=segments, seed=cfg.seed,
                            path=Path(cfg.path) if cfg.path else None, options=options)
        rows: list[dict[str, Any]] = []  # stored rows (PNG bytes), not decoded examples: memory follows the bytes
        pngs = PngCache()
        ks: list[int] = []
        digests[split] = []
        skips: dict[str, int] = {}
        skipped: list[dict[str, str]] = []
        seen_ids: set[str] = set()
        with progress(total=n if n >= 0 else None, desc=f"build {spec.name}/{cfg.source} {split}", unit="ex",
                      disable=quiet or n == 0, leave=False) as bar:
            for item in source_fn(req) if n != 0 else ():
                if not isinstance(item, Skip):
                    _check_example(item, spec, cfg.source, seen_ids)
                    problem = reference_problem(item, spec)
                    if problem is not None and spec.sources[cfg.source].kind != "real":
                        raise SdbenchError(f"task {spec.name} source {cfg.source} example {item.id!r}: {problem} "
                                           "(source bug)")
                    if problem is not None:
                        item = Skip(f"{item.id}: {problem}", "reference does not read back into its segments")
                if isinstance(item, Skip):
                    if cfg.strict:
                        raise SdbenchError(f"{item.record}: {item.reason} (--strict; drop --strict to skip "
                                           "bad records and count them)")
                    skips[item.reason] = skips.get(item.reason, 0) + 1
                    if len(skipped) < MAX_LISTED_SKIPS:
                        skipped.append({"record": item.record, "reason": item.reason})
                    continue
                digests[split].append(example_digest(item))
                rows.append(to_row(item, pngs))
                ks.append(item.num_segments)
                bar.update(1)
                if 0 <= n <= len(rows):
                    break
        if rows:  # an empty split has no data folder; TaskData reads it as empty
            if not quiet:
                print(f"build {spec.name}/{cfg.source} {split}: {len(rows)} examples made; writing them "
                      f"({sum(len(img['bytes']) for r in rows for img in r['images']) / 1e6:.1f} MB of PNG)",
                      file=sys.stderr, flush=True)
            write_split(rows, folder / "data" / split, fingerprint=content_hash({split: digests[split]})[:16])
        splits[split] = {"count": len(rows), "k_histogram": k_histogram(ks),
                         "skips": dict(sorted(skips.items())), "num_skipped": sum(skips.values()),
                         "skipped_records": skipped, "notes": list(req.notes)}
        source_hashes[split] = req.source_hash if req.files_read else None
        files_read += req.files_read
        if not quiet:
            for line in req.notes:
                print(f"{spec.name}/{cfg.source} {split}: {line}", file=sys.stderr)
            if skips:
                print(f"{spec.name}/{cfg.source} {split}: skipped {sum(skips.values())} record(s): "
                      + "; ".join(f"{r} ×{c}" for r, c in sorted(skips.items())), file=sys.stderr)
    _check_counts(spec, cfg, splits, quiet)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "task": {"name": spec.name, "version": spec.version, "segment_label": spec.segment_label,
                 "primary_metric": spec.primary_metric},
        "source": {"name": cfg.source, "kind": spec.sources[cfg.source].kind,
                   "path": str(cfg.path) if cfg.path else None, "files_read": files_read,
                   "hash": source_hashes},
        "seed": cfg.seed,
        "config": config_record,
        "splits": splits,
        "content_hash": content_hash(digests),
        "provenance": provenance("datasets", "pillow", "matplotlib", "numpy"),
    }
    return manifest


def _check_example(ex: Example, spec: TaskSpec, source: str, seen_ids: set[str]) -> None:
    """The segment contract; a violation is a bug in the source, reported with the example id."""
    where = f"task {spec.name} source {source} example {ex.id!r}"
    if ex.id in seen_ids:
        raise SdbenchError(f"{where}: duplicate id (source bug)")
    seen_ids.add(ex.id)
    if not ex.images or not ex.prompt or not ex.segments:
        raise SdbenchError(f"{where}: needs images, a prompt and at least one segment (source bug)")
    for i, seg in enumerate(ex.segments):
        if seg.index != i or not seg.label or not isinstance(seg.reference, str):
            raise SdbenchError(f"{where}: segment {i} breaks the contract (index/label/reference) (source bug)")
    labels = [s.label for s in ex.segments]
    if len(set(labels)) != len(labels):
        raise SdbenchError(f"{where}: duplicate segment labels {labels} (source bug)")


def reference_problem(ex: Example, spec: TaskSpec) -> str | None:
    """Whether the example's whole reference, read by the segmenter as a model output would be, gives back
    exactly its segment references; None when it does, else what differs.

    The holistic reference is what SFT trains on and what a perfect answer looks like, so a reference that
    does not split back into its own segments would score below the top of the scale as a prediction."""
    from sdbench.data.segmenter import segment_text

    labels = [s.label for s in ex.segments]
    out = segment_text(ex.holistic_reference, labels, ex.meta.get("segment_label", spec.segment_label))
    for seg, found in zip(ex.segments, out.segments):
        if found is None:
            return f"segment {seg.label!r} is not found in the holistic reference"
        if found.text != seg.reference.strip():
            return (f"segment {seg.label!r} reads back as {found.text[:60]!r}, not its reference "
                    f"{seg.reference.strip()[:60]!r}")
    return None


def _check_counts(spec: TaskSpec, cfg: BuildTaskConfig, splits: dict[str, Any], quiet: bool) -> None:
    """Real sources: every K asked for with --segments must appear somewhere, else say what the data has;
    without --segments, say which K were found."""
    found = {int(k) for s in splits.values() for k in s["k_histogram"]}
    total = sum(s["count"] for s in splits.values())
    if total == 0 and (cfg.n_train or cfg.n_test):
        skipped = sum(s["num_skipped"] for s in splits.values())
        raise SdbenchError(f"{spec.name}/{cfg.source}: no example was built ({skipped} record(s) skipped); "
                           f"check --path and --segments")
    if spec.sources[cfg.source].kind != "real":
        return
    hist = {k: sum(s["k_histogram"].get(str(k), 0) for s in splits.values()) for k in sorted(found)}
    found_text = ", ".join(f"K={k}: {c}" for k, c in hist.items())
    missing = [k for k in cfg.segments if k not in found]
    if missing:
        raise SdbenchError(f"{spec.name}/{cfg.source}: the data has no example with K={missing}; "
                           f"K found: {found_text}. Drop those values from --segments.")
    if not cfg.segments and spec.sources[cfg.source].default_segments is None and not quiet:
        print(f"{spec.name}/{cfg.source}: no --segments given, so every K the data has was built ({found_text})",
              file=sys.stderr)


def summary_line(out: Path, manifest: dict[str, Any]) -> str:
    parts = []
    for split, s in manifest["splits"].items():
        hist = " ".join(f"K{k}:{c}" for k, c in s["k_histogram"].items())
        skipped = f", {s['num_skipped']} skipped" if s["num_skipped"] else ""
        parts.append(f"{split} {s['count']} ({hist}{skipped})")
    return f"{out}: {manifest['task']['name']} v{manifest['task']['version']} from {manifest['source']['name']}: " \
           f"{'; '.join(parts)}; content {manifest['content_hash'][:12]}"


def format_task_list() -> str:
    rows = [("task", "version", "source", "kind", "K", "description")]
    for name in sorted(list_tasks()):
        spec = load_task(name)
        for src in spec.sources.values():
            rows.append((name, str(spec.version), src.name, src.kind, f"{src.min_segments}-{src.max_segments}",
                         src.description))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:5], widths)) + "  " + r[5] for r in rows)
