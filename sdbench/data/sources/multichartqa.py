"""MultiChartQA (Zhu et al., NAACL 2025) read from a local copy of its `data/` folder: the `multichart` real source.

Layout (the upstream repository github.com/Zivenzhu/Multi-chart-QA, folder `data/`; --path may point at
`data/` or at the repository root that holds it):

    <path>/<group>/chart-path_and_question-answer_pair.json   a list of question records (4 per group)
    <path>/<group>/<chart>.png                                 the group's 2-3 charts

A record is {"id": "group_72_question_1", "image": ["modified_local_full_qa\\\\<group>\\\\<file>.png", …],
"question": "The first chart is <image>. … Question: …", "answer": "100; 0; 1", "task": …, "type": …}.
Image paths are Windows-style; the first component is dropped and the rest is read under <path>. Both
versions of the labels load and are normalised to the newer names (the 8 categories of the official scorer);
the newer version's questions, which lack the "The first chart is <image>." prefix, load too.

How a record becomes an example (details and reasons in tasks/multichart/README.md):

* Parallel_Questions/*: the numbered sub-questions "1. … 2. …" and the "; "-split answer give K = 2-3
  segments. Each sub-question names one chart ("… in the third chart?"); segments are sorted by that chart
  and labelled "Chart {c}:". When the sub-questions do not name one distinct chart each (about 3% upstream,
  e.g. "Which chart has …", or two about the same chart) the segments keep question order and are labelled
  "Question {j}:" (`meta["label_scheme"] == "question"`).
* every other category is one segment whose answer is the whole official answer, labelled "Chart {c}:" for a
  Direct question that names exactly one chart, else "Answer:".
* groups (never single questions: the 4 questions of a group share its charts) go to test or train by a
  `SourceRequest.in_split` draw of (seed, group name) against option `test_fraction`; groups are visited in a seeded order.

    .venv/bin/sdbench build-task multichart --source multichartqa --path ../shared/real-samples/multichartqa/data \\
        --n-train -1 --n-test -1 --out runs/mcqa
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sdbench.core.errors import SdbenchError
from sdbench.core.types import Example, Segment, Skip
from sdbench.data.source import SkipRecord

if TYPE_CHECKING:
    from PIL.Image import Image

    from sdbench.data.source import SourceRequest

ANNOTATION_FILE = "chart-path_and_question-answer_pair.json"
REQUIRED_FIELDS = {"id": str, "image": list, "question": str, "answer": str, "task": str, "type": str}
TASK_LABELS = {  # every label of either version -> the newer name (what the official calculate_acc.py expects)
    "Direct_Questions/Content": "Direct_Questions/Content",
    "Direct_Questions/Structure": "Direct_Questions/Structure",
    "Parallel_Questions/Content": "Parallel_Questions/Content",
    "Parallel_Questions/Structure": "Parallel_Questions/Structure",
    "Parallel_Questions/Mixed": "Parallel_Questions/Mixed",
    "Comparative_Reasoning/Easy": "Comparative_Reasoning/Structure",
    "Comparative_Reasoning/Hard": "Comparative_Reasoning/Content",
    "Comparative_Reasoning/Structure": "Comparative_Reasoning/Structure",
    "Comparative_Reasoning/Content": "Comparative_Reasoning/Content",
    "Sequential_Reasoning": "Sequential_Reasoning/Content",
    "Sequential_Reasoning/Content": "Sequential_Reasoning/Content",
}
QUESTION_TYPES = ("open-ended", "multiple-choice")
LABEL_TEMPLATES = {"chart": "Chart {k}:", "question": "Question {k}:", "answer": "Answer:"}  # by label scheme
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth")
_ORDINAL = "|".join(ORDINALS)
# "the third chart", "first the chart" (sic, upstream), "the second and the third charts", "first, second chart"
CHART_PHRASE = re.compile(rf"\b((?:(?:{_ORDINAL})(?:\s*,\s*|\s+and\s+(?:the\s+)?|\s+))+)(?:the\s+)?charts?\b",
                          re.IGNORECASE)
ORDINAL_WORD = re.compile(rf"\b({_ORDINAL})\b", re.IGNORECASE)
IMAGE_PREFIX = re.compile(r"^\s*(?:The \w+ chart is <image>\.\s*)+", re.IGNORECASE)
FORMAT_BLOCK = re.compile(  # the trailing answer-format instruction, replaced by the segment format
    r"\s*(?:Now that you have got the answers for the \w+ questions\.\s*)?(?:Note that )?"
    r"[Yy]our answer format should (?:be )?as follows:\s*Answer:[^\n]*\s*$")
SUB_QUESTION = re.compile(r"^[ \t]*(\d+)\.(?!\d)[ \t]*", re.MULTILINE)
OPTION = re.compile(r"^[ \t]*([A-D])\.[ \t]+(.+?)[ \t]*$", re.MULTILINE)
NUMBER = re.compile(r"^[-+]?(?:\d[\d,]*)?\.?\d+%?$")


# ---- the source ------------------------------------------------------------------------------------------
def multichartqa_source(req: SourceRequest) -> Iterator[Example | Skip]:
    """The examples of req.split, group by group in a seeded order; bad records become counted Skips."""
    test_fraction = float(req.options.get("test_fraction", 0.5))
    if not 0.0 <= test_fraction <= 1.0:
        raise SdbenchError(f"--options test_fraction: need a number in [0, 1], got {test_fraction}")
    prefix, groups = find_groups(req)
    mine = [g for g in groups if req.in_split(g, test_fraction)]  # whole groups: they share their charts
    req.rng("order").shuffle(mine)
    seen_ids: set[str] = set()
    for group in mine:
        yield from _group_examples(req, prefix, group, seen_ids)


def find_groups(req: SourceRequest) -> tuple[str, list[str]]:
    """(prefix under --path, sorted group folder names); --path may be `data/` or the folder that holds it."""
    root = req.path
    if root is None:
        raise SdbenchError(f"source multichartqa needs a data folder: pass --path DIR (task {req.task.name})")
    for prefix in ("", "data/"):
        base = root / prefix
        if base.is_dir():
            groups = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
            if any((base / g / ANNOTATION_FILE).is_file() for g in groups):
                return prefix, groups
    raise SdbenchError(f"{root}: no MultiChartQA group found; expected <path>/<group>/{ANNOTATION_FILE} and the "
                       "group's PNG charts (the data/ folder of github.com/Zivenzhu/Multi-chart-QA)")


def _group_examples(req: SourceRequest, prefix: str, group: str, seen_ids: set[str]) -> Iterator[Example | Skip]:
    annotation = f"{prefix}{group}/{ANNOTATION_FILE}"
    try:
        records = req.read_json(annotation)
    except SkipRecord as skip:
        yield Skip(annotation, "malformed JSON" if skip.reason.startswith("malformed JSON")
                   else "missing annotation file" if skip.reason.startswith("file not found")
                   else "unreadable annotation file")
        return
    if not isinstance(records, list):
        yield Skip(annotation, "annotation file is not a list of records")
        return
    images: dict[str, Image | SkipRecord] = {}  # the charts of a group are shared by its records: decode once
    for r, record in enumerate(records):
        where = f"{annotation}[{r}]"
        try:
            parsed = parse_record(record, group)
            if parsed["id"] in seen_ids:
                raise SkipRecord("duplicate id")
            seen_ids.add(parsed["id"])
            if len(parsed["segments"]) not in req.segments:
                continue  # filtered by --segments, not a bad record
            charts = tuple(_read_chart(req, prefix, group, path, images) for path in parsed["image_paths"])
        except SkipRecord as skip:
            yield Skip(f"{where} {record.get('id', '') if isinstance(record, dict) else ''}".strip(), skip.reason)
            continue
        yield _example(req, parsed, charts)


def _read_chart(req: SourceRequest, prefix: str, group: str, raw_path: str,
                cache: dict[str, Image | SkipRecord]) -> Image:
    """Decode one chart (cached per group); failures become a SkipRecord with a groupable reason."""
    if raw_path not in cache:
        parts = re.split(r"[\\/]", raw_path)  # "modified_local_full_qa\\<group>\\<file>.png"
        relative = "/".join(parts[1:]) if len(parts) > 1 else f"{group}/{parts[0]}"
        try:
            cache[raw_path] = req.read_image(prefix + relative)
        except SkipRecord as skip:
            reason = skip.reason.split(":")[0]  # "file not found: x.png" -> "file not found"
            cache[raw_path] = SkipRecord(f"image {reason}" if not reason.startswith("image") else reason)
    found = cache[raw_path]
    if isinstance(found, SkipRecord):
        raise SkipRecord(found.reason)
    return found


# ---- one record ------------------------------------------------------------------------------------------
def parse_record(record: Any, group: str) -> dict[str, Any]:
    """Validate one JSON record and split it into segments (no file access; raises SkipRecord).

    Returns {"id", "image_paths", "prompt_question", "line_guide", "segments": [(label, answer, meta)], "meta"}.
    """
    if not isinstance(record, dict):
        raise SkipRecord("record is not an object")
    for name, kind in REQUIRED_FIELDS.items():
        if name not in record or record[name] is None:
            raise SkipRecord(f"missing field: {name}")
        if not isinstance(record[name], kind):
            raise SkipRecord(f"bad field: {name}")
    if not record["image"] or not all(isinstance(p, str) and p.strip() for p in record["image"]):
        raise SkipRecord("bad field: image")
    if record["task"] not in TASK_LABELS:
        raise SkipRecord("unknown task label")
    if record["type"] not in QUESTION_TYPES:
        raise SkipRecord("bad field: type")
    if not record["answer"].strip():
        raise SkipRecord("empty answer")
    num_charts = len(record["image"])
    question = record["question"]
    prefix = IMAGE_PREFIX.match(question)
    if prefix and prefix.group(0).count("<image>") != num_charts:
        raise SkipRecord("image count differs from question")
    body = re.sub(r"^\s*Question:", "", question[prefix.end():] if prefix else question)
    body, format_removed = FORMAT_BLOCK.subn("", body)
    body = body.strip()
    task = TASK_LABELS[record["task"]]
    if task.startswith("Parallel_Questions"):
        segments, scheme, guide = _parallel_segments(body, record["answer"], num_charts)
    else:
        segments, scheme, guide = _single_segment(body, record["answer"], task, num_charts)
    order = ", ".join(ORDINALS[:num_charts - 1]) + (" and " if num_charts > 1 else "") + ORDINALS[num_charts - 1]
    preamble = f"The {num_charts} images are the {order} chart, in this order." if num_charts > 1 else \
        "The image is the first chart."
    meta = {"task": task, "task_original": record["task"], "type": record["type"],
            "official_answer": record["answer"], "question": question, "group": group, "num_charts": num_charts,
            "label_scheme": scheme, "format_instruction_removed": bool(format_removed),
            # the label template the segmenter reads this example's output with ("Answer:" is a fixed label:
            # K = 1, read whole when unlabelled)
            "segment_label": LABEL_TEMPLATES[scheme]}
    return {"id": record["id"], "image_paths": list(record["image"]), "prompt_question": f"{preamble}\n{body}",
            "line_guide": guide, "segments": segments, "meta": meta}


def _parallel_segments(body: str, answer: str, num_charts: int):
    items = split_sub_questions(body)
    answers = [a.strip() for a in answer.split("; ")]
    if len(items) < 2:
        raise SkipRecord("no numbered sub-questions")
    if len(items) != len(answers):
        raise SkipRecord("sub-answer count differs from sub-question count")
    if not all(answers):
        raise SkipRecord("empty answer")
    charts = [charts_named(item.split("\n")[0]) for item in items]
    mapped = [c[0] if len(c) == 1 and c[0] <= num_charts else None for c in charts]
    by_chart = None not in mapped and len(set(mapped)) == len(mapped)
    order = sorted(range(len(items)), key=lambda j: mapped[j]) if by_chart else list(range(len(items)))
    segments, guide = [], []
    for j in order:
        stem = items[j].split("\n")[0].strip()
        meta: dict[str, Any] = {"question_index": j, "chart_index": mapped[j] if by_chart else None,
                                "sub_question": stem, "charts_named": charts[j],
                                "answer_type": _answer_type(answers[j], options_of(items[j]))}
        if options_of(items[j]):
            meta["options"] = options_of(items[j])
        if by_chart:
            label = f"Chart {mapped[j]}:"
            guide.append(f"{label} <answer to question {j + 1}, about the {ORDINALS[mapped[j] - 1]} chart>")
        else:
            label = f"Question {j + 1}:"
            guide.append(f"{label} <answer to question {j + 1}>")
        segments.append((label, answers[j], meta))
    return segments, "chart" if by_chart else "question", guide


def _single_segment(body: str, answer: str, task: str, num_charts: int):
    stem = question_stem(body)
    named = charts_named(stem)
    options = options_of(body)
    one_chart = task.startswith("Direct_Questions") and len(named) == 1 and named[0] <= num_charts
    label = f"Chart {named[0]}:" if one_chart else "Answer:"
    meta: dict[str, Any] = {"question_index": 0, "chart_index": named[0] if one_chart else None,
                            "sub_question": stem, "charts_named": named,
                            "answer_type": _answer_type(answer.strip(), options)}
    if options:
        meta["options"] = options
    return [(label, answer.strip(), meta)], "chart" if one_chart else "answer", [f"{label} <your answer>"]


def _example(req: SourceRequest, parsed: dict[str, Any], charts: tuple[Image, ...]) -> Example:
    segments = tuple(Segment(index=i, label=label, reference=answer, answer=answer, meta=meta)
                     for i, (label, answer, meta) in enumerate(parsed["segments"]))
    labels = [s.label for s in segments]
    prompt = req.task.render_prompt("multichartqa", labels, question=parsed["prompt_question"],
                                    questions="\n".join(parsed["line_guide"]))
    return Example(id=parsed["id"], images=charts, prompt=prompt, segments=segments,
                   holistic_reference="\n".join(f"{s.label} {s.reference}" for s in segments), meta=parsed["meta"])


# ---- text helpers ----------------------------------------------------------------------------------------
def split_sub_questions(body: str) -> list[str]:
    """The numbered items "1. …", "2. …" of a parallel question, in order, each with its notes and options
    and without its number. Every line that starts with "<digits>." opens an item, whatever the digits:
    upstream has numbering typos (group_37_question_1 numbers its items 1, 2, 2).

    >>> split_sub_questions(" 1. Q one?\\nNote a.\\n2.Q two?\\nA. x\\nB. y")
    ['Q one?\\nNote a.', 'Q two?\\nA. x\\nB. y']
    """
    marks = list(SUB_QUESTION.finditer(body))
    ends = [m.start() for m in marks[1:]] + [len(body)]
    return [body[m.end():end].strip() for m, end in zip(marks, ends)]


def charts_named(text: str) -> list[int]:
    """1-based chart numbers named in text, in order of first mention.

    >>> charts_named("in both the second chart and the third chart"), charts_named("in first the chart")
    ([2, 3], [1])
    >>> charts_named("the second and the third charts"), charts_named("Which chart has the most?")
    ([2, 3], [])
    """
    found: list[int] = []
    for phrase in CHART_PHRASE.finditer(text):
        for word in ORDINAL_WORD.findall(phrase.group(1)):
            number = ORDINALS.index(word.lower()) + 1
            if number not in found:
                found.append(number)
    return found


def question_stem(body: str) -> str:
    """The question itself: the text before its first 'Note …' line or lettered option."""
    lines = []
    for line in body.split("\n"):
        if lines and (line.strip().lower().startswith("note") or OPTION.match(line)):
            break
        lines.append(line)
    return "\n".join(lines).strip()


def options_of(text: str) -> dict[str, str]:
    """Lettered options 'A. …' to 'D. …' of a choice question ({} unless A, B, C, D all appear)."""
    options = {m.group(1): m.group(2) for m in OPTION.finditer(text)}
    return options if set(options) == set("ABCD") else {}


def _answer_type(answer: str, options: dict[str, str]) -> str:
    """'choice' (lettered options and a letter answer), 'number', or 'string'."""
    if options and answer in options:
        return "choice"
    return "number" if NUMBER.match(answer.replace(" ", "")) else "string"
