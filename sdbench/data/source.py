"""What a task source receives (`SourceRequest`) and the safe way for it to read local data files.

A source is a generator function `fn(req: SourceRequest) -> Iterator[Example | Skip]`, listed by name in its
task's `hooks.py` (`SOURCES = {"synthetic": fn, "docci": fn2}`). Synthetic sources make `req.n` examples from
`req.seed`; real sources read files under `req.path` *only* through `req.read_bytes` / `req.read_json` /
`req.read_image`, which

* refuse paths that escape the data folder (a record pointing at '../../etc/passwd' becomes a `Skip`),
* turn missing / unreadable / undecodable files into one-line errors (`SdbenchError`) or `SkipRecord`,
* feed every byte read into `req.source_hash`, so the manifest records exactly which data was used.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdbench.core.errors import SdbenchError
from sdbench.core.types import Example, Skip

if TYPE_CHECKING:
    from PIL.Image import Image

    from sdbench.data.task import TaskSpec


class SkipRecord(Exception):
    """Raised inside a source for one bad record; the source catches it and yields `Skip(record, reason)`.

    `reason` is short and groupable ('file not found'); `path` names the file involved, if any, and belongs
    in the Skip's record, not its reason, so the manifest counts one reason for many files."""

    def __init__(self, reason: str, path: str | Path | None = None):
        super().__init__(f"{reason}: {path}" if path is not None else reason)
        self.reason = reason
        self.path = None if path is None else Path(path).as_posix()

    def to_skip(self, record: str) -> Skip:
        """The Skip to yield: the record, with the file involved, and the groupable reason."""
        return Skip(f"{record} ({self.path})" if self.path else record, self.reason)


@dataclass
class SourceRequest:
    """Everything a source needs to produce one split."""

    task: TaskSpec
    """The task definition (label format, prompt template, options)."""
    split: str
    """'train' or 'test'."""
    n: int
    """Number of examples wanted; -1 means all a real source has."""
    segments: tuple[int, ...]
    """Allowed K values. Synthetic sources cycle through them; real sources keep records whose K is listed."""
    seed: int
    """Build seed; use `rng(i)` for a per-example generator so example i does not depend on n."""
    path: Path | None = None
    """Root of a real source's local copy (None for synthetic sources)."""
    options: dict[str, Any] = field(default_factory=dict)
    """Source options from task.yaml defaults, overridden by `--options key=value`."""
    _hash: Any = field(default_factory=hashlib.sha256, repr=False)
    files_read: int = 0
    notes: list[str] = field(default_factory=list)
    """What the source decided on its own that the user should know ('this benchmark root has no train/: the
    train split is empty'); `note()` adds one, build-task prints them and keeps them in the manifest."""

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    # ---- determinism -----------------------------------------------------------------------------------
    def rng(self, *key: object) -> random.Random:
        """A `random.Random` seeded from (task, split, seed, *key) through SHA-256: stable across machines,
        Python versions and n (example 7 is the same whether 10 or 10,000 are built)."""
        material = json.dumps([self.task.name, self.split, self.seed, *key], default=str).encode()
        return random.Random(int.from_bytes(hashlib.sha256(material).digest()[:8], "big"))

    def in_split(self, key: object, test_fraction: float) -> bool:
        """Whether the item `key` (e.g. a MultiChartQA group) belongs to this request's split, for sources that
        ship without splits. The draw depends on (task, seed, key) only, not on the split, so train and test
        builds agree: every key lands in exactly one of them, a `test_fraction` share of keys in test."""
        material = json.dumps([self.task.name, "split", self.seed, key], default=str).encode()
        u = int.from_bytes(hashlib.sha256(material).digest()[:8], "big") / 2**64
        return (u < test_fraction) == (self.split == "test")

    def k_for(self, i: int) -> int:
        """K of synthetic example i: the segment counts are cycled so every K gets an equal share."""
        return self.segments[i % len(self.segments)]

    # ---- safe reading of a real source's files ---------------------------------------------------------
    @property
    def source_hash(self) -> str:
        return self._hash.hexdigest()

    def resolve(self, relative: str | Path) -> Path:
        """`path / relative`, refusing a name that leaves the data folder ('../x', '/etc/x'; raises SkipRecord).

        The check is on the written path, not on symlink targets: an `images/` folder that is a symlink to
        another disk is fine, an annotation naming '../../etc/passwd' is not."""
        if self.path is None:
            raise SdbenchError(f"source needs a data folder: pass --path DIR (task {self.task.name})")
        root = os.path.normpath(os.path.abspath(self.path))
        target = os.path.normpath(os.path.join(root, relative))
        if target != root and not target.startswith(root + os.sep):
            raise SkipRecord("path escapes the data folder", relative)
        return Path(target)

    def read_bytes(self, relative: str | Path, *, required: bool = False) -> bytes:
        """Read a file under the data folder and add it to the source hash.

        A missing file is a `SkipRecord` (the record that named it is skipped), or a `SdbenchError` when
        `required` (an annotation file without which nothing can be built)."""
        target = self.resolve(relative)
        try:
            data = target.read_bytes()
        except FileNotFoundError:
            if required:
                raise SdbenchError(f"{target}: file not found; check --path (expected the {self.task.name} "
                                   f"source's official layout, see tasks/{self.task.name}/README.md)") from None
            raise SkipRecord("file not found", relative) from None
        except (IsADirectoryError, PermissionError, OSError) as exc:
            if required:
                raise SdbenchError(f"{target}: cannot read ({exc.__class__.__name__}); check permissions") from None
            raise SkipRecord("file unreadable", relative) from None
        self._hash.update(str(Path(relative).as_posix()).encode() + b"\0")
        self._hash.update(hashlib.sha256(data).digest())
        self.files_read += 1
        return data

    def read_json(self, relative: str | Path, *, required: bool = False) -> Any:
        """Parse a JSON file; malformed JSON is a SkipRecord (or SdbenchError when required) naming the file
        and the line of the error."""
        data = self.read_bytes(relative, required=required)
        try:
            return json.loads(data.decode("utf-8-sig"))  # a byte-order mark is not part of the JSON
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            where = f"line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
            if required:
                raise SdbenchError(f"{self.resolve(relative)}: malformed JSON ({where}); "
                                   "fix or re-download the file") from None
            raise SkipRecord("malformed JSON", relative) from None

    def read_image(self, relative: str | Path) -> Image:
        """Decode an image to RGB; a file that does not decode is a SkipRecord."""
        from PIL import Image as PILImage

        data = self.read_bytes(relative)
        try:
            with PILImage.open(io.BytesIO(data)) as img:
                img.load()
                return img.convert("RGB")
        except Exception:  # PIL raises many types for corrupt data; all mean the same thing here
            raise SkipRecord("image does not decode", relative) from None


SourceFn = Callable[[SourceRequest], Iterator[Example | Skip]]
"""The signature of every source generator listed in a task's hooks.SOURCES."""
