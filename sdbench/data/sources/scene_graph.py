"""Scene graphs of the synthetic `multipanel` task: sampling, dense descriptions, canonical facts, parsing.

A panel is a small scene: 1–4 coloured shapes, each in its own cell of a 3x3 grid, on a background colour.
Its *scene graph* (`SceneGraph`) is the ground truth; its *description* is a few English sentences written
from the graph with paraphrase variety drawn from an RNG; its *facts* are the canonical strings the
description states — no more, no fewer — so that a fact-F1 reward can compare a model's text with them:

    object:large red circle                                 an object (size colour shape)
    position:large red circle@top-left                      the object's grid cell
    relation:large red circle|left of|small blue star       only 'left of' and 'above' are canonical:
    relation:small blue star|above|large red circle           'B right of A' is stored as 'A|left of|B'
    background:gray                                         the panel's background colour

An object is named by its full "size colour shape" (unique within a panel), so every fact is local to its
panel. `parse_facts(text)` reads free text back into these facts with the same vocabulary (`SHAPES`,
`COLOURS`, `SIZES`, `POSITIONS`, `RELATIONS`, `BACKGROUNDS`: canonical name -> the phrases that mean it);
`parse_facts(describe(g, rng).text) == set(describe(g, rng).facts)` holds for every graph (tested).
`true_facts(graph)` lists every fact that is true of the graph (all pairwise relations, not only the stated
ones), for a reward that wants to judge precision against the scene rather than against the reference.

The task's synthetic source, which draws these graphs as panels, is sdbench.data.sources.synthetic_panels.

    .venv/bin/python -c "import random; from sdbench.data.sources.scene_graph import *; \
        g = sample_scene(random.Random(0)); print(describe(g, random.Random(1)).text)"
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from random import Random
from typing import Any

from sdbench.core.errors import SdbenchError

# ---- vocabulary: canonical name -> every phrase that means it (the first is the canonical spelling) -------
# Descriptions use all of these phrases; parse_facts accepts exactly these (case-insensitive, '-' == ' ').
SHAPES: dict[str, tuple[str, ...]] = {
    "circle": ("circle", "disc", "disk"),
    "square": ("square",),
    "triangle": ("triangle",),
    "star": ("star",),
    "diamond": ("diamond", "rhombus"),
    "hexagon": ("hexagon",),
    "cross": ("cross", "plus sign"),
    "heart": ("heart",),
}
COLOURS: dict[str, tuple[str, ...]] = {
    "red": ("red",), "orange": ("orange",), "yellow": ("yellow",), "green": ("green",), "blue": ("blue",),
    "purple": ("purple", "violet"), "pink": ("pink",), "black": ("black",),
}
SIZES: dict[str, tuple[str, ...]] = {
    "small": ("small", "little", "tiny"),
    "medium": ("medium", "medium-sized", "mid-sized"),
    "large": ("large", "big"),
}
POSITIONS: dict[str, tuple[str, ...]] = {  # row-major over the 3x3 grid
    "top-left": ("top-left", "upper-left"),
    "top-center": ("top-center", "top-centre", "top-middle", "upper-middle"),
    "top-right": ("top-right", "upper-right"),
    "middle-left": ("middle-left", "center-left", "centre-left"),
    "center": ("center", "centre", "middle"),
    "middle-right": ("middle-right", "center-right", "centre-right"),
    "bottom-left": ("bottom-left", "lower-left"),
    "bottom-center": ("bottom-center", "bottom-centre", "bottom-middle", "lower-middle"),
    "bottom-right": ("bottom-right", "lower-right"),
}
RELATIONS: dict[str, tuple[str, ...]] = {
    "left of": ("to the left of", "left of", "on the left of"),
    "right of": ("to the right of", "right of", "on the right of"),
    "above": ("above", "over", "higher than"),
    "below": ("below", "under", "beneath", "underneath", "lower than"),
}
CANONICAL_RELATION: dict[str, tuple[str, bool]] = {
    "left of": ("left of", False), "right of": ("left of", True), "above": ("above", False), "below": ("above", True)}
"""relation -> (canonical relation, swap the two objects). 'B right of A' is the fact 'A|left of|B'."""
BACKGROUNDS: dict[str, tuple[str, ...]] = {
    "white": ("white",), "gray": ("gray", "grey"), "beige": ("beige", "cream"), "light blue": ("light blue",)}

POSITION_NAMES = tuple(POSITIONS)
GRID = 3
MAX_OBJECTS = GRID * GRID


# ---- the scene graph ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SceneObject:
    shape: str
    colour: str
    size: str
    position: str
    """One of POSITION_NAMES: the 3x3 grid cell."""
    offset: tuple[float, float] = (0.0, 0.0)
    """Jitter of the centre inside its cell, each in [-1, 1] (fraction of the free space); rendering only."""

    @property
    def name(self) -> str:
        return f"{self.size} {self.colour} {self.shape}"

    @property
    def row(self) -> int:
        return POSITION_NAMES.index(self.position) // GRID

    @property
    def col(self) -> int:
        return POSITION_NAMES.index(self.position) % GRID


@dataclass(frozen=True)
class SceneGraph:
    objects: tuple[SceneObject, ...]
    """In reading order (row-major by cell)."""
    background: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (stored in Example.meta['scene_graphs'])."""
        return {"background": self.background,
                "objects": [{"shape": o.shape, "colour": o.colour, "size": o.size, "position": o.position,
                             "offset": list(o.offset)} for o in self.objects]}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SceneGraph:
        return cls(objects=tuple(SceneObject(o["shape"], o["colour"], o["size"], o["position"], tuple(o["offset"]))
                                 for o in raw["objects"]), background=raw["background"])


def sample_scene(rng: Random, min_objects: int = 1, max_objects: int = 4, background: bool = True) -> SceneGraph:
    """A random scene: distinct cells, no two objects with the same size+colour+shape.

    >>> g = sample_scene(Random(0)); 1 <= len(g.objects) <= 4
    True
    """
    if not 1 <= min_objects <= max_objects <= MAX_OBJECTS:
        raise SdbenchError(f"--options min_objects/max_objects: need 1 <= min_objects <= max_objects <= "
                           f"{MAX_OBJECTS}, got {min_objects}/{max_objects}")
    cells = sorted(rng.sample(range(MAX_OBJECTS), rng.randint(min_objects, max_objects)))
    objects, names = [], set()
    for cell in cells:
        while True:
            shape, colour, size = rng.choice(list(SHAPES)), rng.choice(list(COLOURS)), rng.choice(list(SIZES))
            if (size, colour, shape) not in names:
                break
        names.add((size, colour, shape))
        offset = (round(rng.uniform(-1, 1), 2), round(rng.uniform(-1, 1), 2))
        objects.append(SceneObject(shape, colour, size, POSITION_NAMES[cell], offset))
    return SceneGraph(tuple(objects), rng.choice(list(BACKGROUNDS)) if background else "white")


# ---- facts ----------------------------------------------------------------------------------------------
def object_fact(obj: SceneObject) -> str:
    return f"object:{obj.name}"


def position_fact(obj: SceneObject) -> str:
    return f"position:{obj.name}@{obj.position}"


def relation_fact(a: str, relation: str, b: str) -> str:
    """Canonical relation fact from 'a RELATION b' (any of RELATIONS' keys).

    >>> relation_fact("small blue star", "right of", "large red circle")
    'relation:large red circle|left of|small blue star'
    """
    canonical, swap = CANONICAL_RELATION[relation]
    return f"relation:{b}|{canonical}|{a}" if swap else f"relation:{a}|{canonical}|{b}"


def background_fact(background: str) -> str:
    return f"background:{background}"


def true_relations(a: SceneObject, b: SceneObject) -> list[str]:
    """Relations (keys of RELATIONS) that hold for 'a REL b', from their grid cells."""
    rels = []
    if a.col != b.col:
        rels.append("left of" if a.col < b.col else "right of")
    if a.row != b.row:
        rels.append("above" if a.row < b.row else "below")
    return rels


def attribute_facts(facts) -> list[str]:
    """The attribute facts implied by object and position facts, in order: 'colour:C', 'shape:S', 'size:Z' of
    each object, 'cell:P' of each position (unbound to the object: partial credit for a half-right mention).

    >>> attribute_facts(["object:large red circle", "position:large red circle@top-left"])
    ['size:large', 'colour:red', 'shape:circle', 'cell:top-left']
    """
    out: list[str] = []
    for fact in facts:
        if fact.startswith("object:"):
            size, colour, shape = fact[len("object:"):].split(" ", 2)
            out += [f"size:{size}", f"colour:{colour}", f"shape:{shape}"]
        elif fact.startswith("position:"):
            out.append(f"cell:{fact.rsplit('@', 1)[1]}")
    return list(dict.fromkeys(out))


def true_facts(graph: SceneGraph, background: bool = True) -> set[str]:
    """Every fact true of the graph: objects, positions, their attributes, background, all pairwise relations."""
    facts = {object_fact(o) for o in graph.objects} | {position_fact(o) for o in graph.objects}
    facts.update(attribute_facts(sorted(facts)))
    if background:
        facts.add(background_fact(graph.background))
    for i, a in enumerate(graph.objects):
        for b in graph.objects[i + 1:]:
            facts.update(relation_fact(a.name, rel, b.name) for rel in true_relations(a, b))
    return facts


# ---- descriptions ---------------------------------------------------------------------------------------
POSITION_TEMPLATES = (
    "A {obj} sits in the {pos}.",
    "In the {pos} there is a {obj}.",
    "There is a {obj} in the {pos}.",
    "The {pos} holds a {obj}.",
    "A {obj} is placed in the {pos}.",
    "You can see a {obj} in the {pos}.",
)  # every size word starts with a consonant, so the article is always 'a'
RELATION_TEMPLATES = ("The {a} is {rel} the {b}.", "The {a} sits {rel} the {b}.", "The {a} appears {rel} the {b}.")
BACKGROUND_TEMPLATES = ("The background is {bg}.", "Everything is drawn on a plain {bg} background.",
                        "The panel has a {bg} background.")
POSITION_SUFFIXES = {"corner": ("", " corner"), "edge": ("", " area"), "center": ("",)}


@dataclass(frozen=True)
class Description:
    text: str
    """One line of sentences (no newline), each stating only true facts."""
    facts: tuple[str, ...]
    """The canonical facts the text states, in order of first mention, without duplicates."""


def describe(graph: SceneGraph, rng: Random, relations: bool = True, background: bool = True) -> Description:
    """Describe every object and its cell; with `relations`, relate each object after the first to an
    earlier one (one true relation each); with `background`, name the background colour."""
    phrases = {o.name: _phrase(rng.choice(SIZES[o.size]), rng.choice(COLOURS[o.colour]), rng.choice(SHAPES[o.shape]))
               for o in graph.objects}
    sentences: list[str] = []
    facts: list[str] = []
    for obj in graph.objects:
        kind = "center" if obj.position == "center" else "corner" if obj.row != 1 and obj.col != 1 else "edge"
        pos = rng.choice(POSITIONS[obj.position]) + rng.choice(POSITION_SUFFIXES[kind])
        pos = pos if rng.random() < 0.5 else pos.replace("-", " ")
        sentences.append(rng.choice(POSITION_TEMPLATES).format(obj=phrases[obj.name], pos=pos))
        facts += [object_fact(obj), position_fact(obj), *attribute_facts([object_fact(obj), position_fact(obj)])]
    if relations:
        for j in range(1, len(graph.objects)):
            a, b = graph.objects[j], graph.objects[rng.randrange(j)]
            if rng.random() < 0.5:
                a, b = b, a
            rel = rng.choice(true_relations(a, b))
            sentences.append(rng.choice(RELATION_TEMPLATES).format(
                a=phrases[a.name], rel=rng.choice(RELATIONS[rel]), b=phrases[b.name]))
            facts.append(relation_fact(a.name, rel, b.name))
    if background:
        bg = rng.choice(BACKGROUND_TEMPLATES).format(bg=rng.choice(BACKGROUNDS[graph.background]))
        first = rng.random() < 0.5
        sentences = [bg, *sentences] if first else [*sentences, bg]
        facts = [background_fact(graph.background), *facts] if first else [*facts, background_fact(graph.background)]
    return Description(" ".join(sentences), tuple(dict.fromkeys(facts)))


def _phrase(size: str, colour: str, shape: str) -> str:
    return f"{size} {colour} {shape}"


# ---- parsing free text back into facts -----------------------------------------------------------------
def parse_facts(text: str) -> set[str]:
    """The canonical facts stated in `text` (one panel's description), read with the vocabulary above.

    Rules: the text is cut into clauses at . ! ? ; newlines and the words 'and', 'while', 'whereas', 'but'.
    An object is 'SIZE COLOUR SHAPE' (any synonyms; a mention missing one of the three names nothing). In a
    clause, a relation phrase relates the nearest object before it to the nearest object after it; a
    position phrase belongs to the nearest object (fewest characters between them; ties go to the earlier);
    'COLOUR background' or 'background is COLOUR' names the background. Negation is not understood.

    >>> sorted(parse_facts("In the top left there is a big red disc. The little blue star is to the right of "
    ...                    "the large red circle. The background is grey."))  # doctest: +NORMALIZE_WHITESPACE
    ['background:gray', 'cell:top-left', 'colour:blue', 'colour:red', 'object:large red circle',
     'object:small blue star', 'position:large red circle@top-left',
     'relation:large red circle|left of|small blue star', 'shape:circle', 'shape:star', 'size:large', 'size:small']
    >>> parse_facts("A red car is parked in the center of a town square on a sunny day.")
    set()
    """
    patterns = _patterns()
    facts: set[str] = set()
    normalised = text.lower().replace("-", " ")
    for clause in patterns["clause"].split(normalised):
        objects, positions, relations = [], [], []
        for m in patterns["token"].finditer(clause):
            if m.lastgroup == "object":
                name = _phrase(patterns["size"][m["size"]], patterns["colour"][m["colour"]],
                               patterns["shape"][m["shape"]])
                objects.append((m.start(), m.end(), name))
                facts.add(f"object:{name}")
            elif m.lastgroup in ("bg1", "bg2"):
                facts.add(background_fact(patterns["background"][_squash(m[m.lastgroup])]))
            elif m.lastgroup == "relation":
                relations.append((m.start(), m.end(), patterns["relation"][_squash(m["relation"])]))
            elif m.lastgroup == "position":
                positions.append((m.start(), m.end(), patterns["position"][_squash(m["position"])]))
        for start, end, rel in relations:
            before = [o for o in objects if o[1] <= start]
            after = [o for o in objects if o[0] >= end]
            if before and after and before[-1][2] != after[0][2]:
                facts.add(relation_fact(before[-1][2], rel, after[0][2]))
        for start, end, pos in positions:
            if objects:
                gap = lambda o: (start - o[1]) if o[1] <= start else (o[0] - end)  # noqa: E731
                nearest = min(objects, key=lambda o: (gap(o), o[0]))
                facts.add(f"position:{nearest[2]}@{pos}")
    facts.update(attribute_facts(sorted(facts)))
    return facts


def _squash(phrase: str) -> str:
    return " ".join(phrase.split())


@cache
def _patterns() -> dict[str, Any]:
    """Compiled regexes and phrase -> canonical maps (built once, on first use)."""
    def lookup(vocab: dict[str, tuple[str, ...]]) -> dict[str, str]:
        return {p.replace("-", " "): name for name, phrases in vocab.items() for p in phrases}

    def alternation(phrases) -> str:  # longest first: Python's regex alternation is ordered, not greedy
        return "|".join(r"\s+".join(map(re.escape, p.split())) for p in sorted(phrases, key=lambda p: (-len(p), p)))

    maps = {"shape": lookup(SHAPES), "colour": lookup(COLOURS), "size": lookup(SIZES), "position": lookup(POSITIONS),
            "relation": lookup(RELATIONS), "background": lookup(BACKGROUNDS)}
    bg = alternation(maps["background"])
    token = (rf"\b(?P<object>(?P<size>{alternation(maps['size'])})\s*,?\s+(?P<colour>{alternation(maps['colour'])})"
             rf"\s+(?P<shape>{alternation(maps['shape'])}))\b"
             rf"|\b(?P<bg1>{bg})\s+background\b"
             rf"|\bbackground\s+(?:colou?r\s+)?is\s+(?:a\s+)?(?:plain\s+|solid\s+)?(?P<bg2>{bg})\b"
             rf"|\b(?P<relation>{alternation(maps['relation'])})\b"
             rf"|\b(?P<position>{alternation(maps['position'])})\b")
    return {**maps, "token": re.compile(token),
            "clause": re.compile(r"[.!?;\n]+|\b(?:and|while|whereas|but)\b")}



