"""The data contract every task source produces and every later stage (rewards, trainer, evaluator) reads.

An `Example` is one prompt with its image(s) and its K ordered `Segment`s. A segment carries the label the
model is asked to write ("Panel 2:", "Chart 3:", "(b)"), the reference text for that segment, and whatever
verifiable content the source has (a short answer, a list of canonical facts). Source-specific extras go in
the JSON-serialisable `meta` dicts, never in new top-level fields, so every task shares one on-disk schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # PIL is imported lazily by the code that makes images
    from PIL.Image import Image


@dataclass(frozen=True)
class Segment:
    """One verifiable part of the expected output."""

    index: int
    """0-based position of the segment in the expected output."""
    label: str
    """The label the model writes before this segment, e.g. 'Panel 2:', 'Chart 3:', '(b)'."""
    reference: str
    """Reference text of this segment (a description, a caption, or the answer sentence)."""
    answer: str | None = None
    """Short verifiable answer where the source has one (multichart), else None."""
    facts: tuple[str, ...] = ()
    """Canonical verifiable facts (synthetic sources), e.g. 'object:large red circle'. Empty if none."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Source-specific, JSON-serialisable extras (e.g. MultiChartQA chart index, sub-question)."""


@dataclass(frozen=True)
class Example:
    """One task item: prompt + image(s) + K ordered segments."""

    id: str
    """Stable id; for real sources the dataset's own record id (e.g. 'group_72_question_0')."""
    images: tuple[Image, ...]
    """RGB images, in the order the prompt refers to them."""
    prompt: str
    """The full instruction given to the model."""
    segments: tuple[Segment, ...]
    """The K segments, in the order the model should write them."""
    holistic_reference: str
    """Reference for the whole output (segments joined with their labels, shared context first)."""
    shared_context: str | None = None
    """Text shared by all segments (MMSci / subfigure caption preamble), kept apart from the segments."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Source-specific, JSON-serialisable extras (scene graphs, chart data, dataset labels …)."""

    @property
    def num_segments(self) -> int:
        return len(self.segments)


@dataclass(frozen=True)
class Skip:
    """A source record that was left out, with the reason. Skips are counted in the manifest by reason."""

    record: str
    """Where: 'file:line' or a record id."""
    reason: str
    """Why, in a few words that group well (e.g. 'image does not decode', 'missing field: caption')."""
