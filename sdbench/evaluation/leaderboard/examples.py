"""The example responses a board shows: each run's first outputs, with the reference and the image they answer.

Responses come from the run's outputs JSONL (a path relative to its results file). The reference (the example's
holistic reference) and a thumbnail of its first image come from the task build the run was evaluated on
(`task.folder` in the results file, absolute or relative to the current folder or to the results file), used only
when its content hash is the one the results file names. Anything missing is a note, never an error: a board
can be made where the runs' task builds are not.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdbench.core.errors import SdbenchError

if TYPE_CHECKING:
    from sdbench.evaluation.leaderboard.runs import Run

MAX_RESPONSE_CHARS = 1500             # responses and references are cut here on the page
THUMBNAIL_PX = 320                    # the longer side of an example's image on the page


def read_examples(runs: list[Run], num: int) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """{run id: the first `num` outputs as {id, num_segments, holistic_reward, response, reference, image}} and
    notes; `reference` is a string or None, `image` PNG bytes (a thumbnail) or None."""
    examples: dict[str, list[dict[str, Any]]] = {}
    notes: list[str] = []
    by_build: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        examples[run.run_id], note = read_outputs(run, num)
        if note:
            notes.append(note)
        if examples[run.run_id]:
            task = run.results["task"]
            by_build.setdefault((str(task.get("folder", "")), str(task["content_hash"])), []).append(run)
    for build_runs in by_build.values():
        wanted = {record["id"] for run in build_runs for record in examples[run.run_id]}
        found, note = references(build_runs[0], wanted)
        if note:
            notes.append(note)
        for run in build_runs:
            for record in examples[run.run_id]:
                record.update(found.get(record["id"], {"reference": None, "image": None}))
    return examples, notes


def read_outputs(run: Run, num: int) -> tuple[list[dict[str, Any]], str | None]:
    """The first `num` records of a run's outputs ({id, num_segments, holistic_reward, response}), and a note
    when its outputs JSONL is missing or has unreadable lines."""
    if num <= 0:
        return [], None
    path = run.path.parent / run.results["outputs"]
    if not path.is_file():
        return [], f"outputs of run {run.run_id} not found at {path}; no example responses shown"
    records: list[dict[str, Any]] = []
    bad = 0
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            if len(records) >= num:
                break
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if not isinstance(record, dict) or not isinstance(record.get("response"), str):
                bad += 1
                continue
            records.append({"id": str(record.get("id", "")), "num_segments": record.get("num_segments"),
                            "holistic_reward": record.get("holistic_reward"), "response": record["response"]})
    return records, (f"outputs of run {run.run_id}: {bad} unreadable line(s) before the examples shown ({path})"
                     if bad else None)


def task_folder(run: Run) -> Path | None:
    """The task build a run was evaluated on, where it can be found: `task.folder` as written (absolute, or
    relative to the current folder), else relative to the results file."""
    folder = run.results["task"].get("folder")
    if not isinstance(folder, str) or not folder:
        return None
    for candidate in (Path(folder), run.path.parent / folder):
        if (candidate / "manifest.json").is_file():
            return candidate
    return None


def references(run: Run, ids: set[str]) -> tuple[dict[str, dict[str, Any]], str | None]:
    """{example id: {reference, image}} for `ids` of the run's split, from its task build; or {} and a note why
    not (the build is not here, holds other data, or cannot be read)."""
    from sdbench.data.task_data import load_task_data

    task = run.results["task"]
    folder = task_folder(run)
    if folder is None:
        return {}, (f"references and images of {task['name']} v{task['version']} not shown: its task build "
                    f"{task.get('folder')!r} (named in the results files) is not here; run the leaderboard where "
                    "`sdbench eval` ran, or rebuild the task there with the same command")
    try:
        data = load_task_data(folder)
        if data.manifest["content_hash"] != task["content_hash"]:
            return {}, (f"references and images not shown: {folder} holds other data (content "
                        f"{data.manifest['content_hash'][:12]}) than the runs were evaluated on "
                        f"({str(task['content_hash'])[:12]})")
        found = {ex.id: {"reference": ex.holistic_reference, "image": thumbnail(ex.images)}
                 for ex in data.examples(task["split"]) if ex.id in ids}
    except SdbenchError as exc:
        return {}, f"references and images not shown: {exc}"
    return found, None


def thumbnail(images) -> bytes | None:
    """PNG bytes of the first of `images` shrunk to THUMBNAIL_PX on its longer side (None: no image, or one that
    cannot be decoded)."""
    try:
        if not len(images):
            return None
        image = images[0].convert("RGB")
    except (OSError, ValueError, SdbenchError):
        return None
    image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
