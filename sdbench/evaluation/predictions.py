"""Reading a user's predictions file (JSONL, one `{"id": …, "response": …}` per line) against a task split.

Nothing is dropped silently: malformed lines, lines without a string `id` / `response`, duplicate ids (the
first is kept), ids the task does not have, and task ids with no prediction are all counted and listed in
`PredictionReport`, which `sdbench score` prints and writes into its summary.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from sdbench.core.errors import SdbenchError

MAX_LISTED = 20


@dataclass
class PredictionReport:
    """What was read, and every problem found, counted (lists are capped at MAX_LISTED entries)."""

    num_lines: int = 0
    num_used: int = 0
    invalid_lines: list[dict[str, object]] = field(default_factory=list)
    num_invalid: int = 0
    duplicate_ids: list[str] = field(default_factory=list)
    num_duplicates: int = 0
    unknown_ids: list[str] = field(default_factory=list)
    num_unknown: int = 0
    missing_ids: list[str] = field(default_factory=list)
    num_missing: int = 0

    def count_missing(self, expected_ids: list[str], found: dict[str, str]) -> None:
        """Set the missing ids: those of `expected_ids` (the ids being scored) without a prediction."""
        missing = [i for i in expected_ids if i not in found]
        self.num_missing = len(missing)
        self.missing_ids = missing[:MAX_LISTED]

    def problems(self) -> list[str]:
        out = []
        if self.num_invalid:
            out.append(f"{self.num_invalid} invalid line(s), e.g. {self.invalid_lines[:3]}")
        if self.num_duplicates:
            out.append(f"{self.num_duplicates} duplicate id(s) (first kept), e.g. {self.duplicate_ids[:3]}")
        if self.num_unknown:
            out.append(f"{self.num_unknown} id(s) not in the task, e.g. {self.unknown_ids[:3]}")
        if self.num_missing:
            out.append(f"{self.num_missing} task id(s) without a prediction, e.g. {self.missing_ids[:3]}")
        return out


def read_predictions(path: Path, task_ids: list[str]) -> tuple[dict[str, str], PredictionReport]:
    """{id: response} for the ids of `task_ids` found in the file, and the report.

    A UTF-8 byte-order mark at the start of the file is ignored; a line that is not valid UTF-8 is an invalid
    line (counted and listed), never decoded with replacement characters."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SdbenchError(f"--predictions {path}: file not found") from None
    except OSError as exc:
        raise SdbenchError(f"--predictions {path}: cannot read ({exc.__class__.__name__})") from None
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    known = set(task_ids)
    report = PredictionReport()
    found: dict[str, str] = {}
    for number, line in enumerate(raw.split(b"\n"), 1):
        if not line.strip():
            continue
        report.num_lines += 1
        problem, record = _parse_line(line)
        if problem:
            report.num_invalid += 1
            if len(report.invalid_lines) < MAX_LISTED:
                report.invalid_lines.append({"line": number, "problem": problem})
            continue
        pid, response = record
        if pid not in known:
            report.num_unknown += 1
            if len(report.unknown_ids) < MAX_LISTED:
                report.unknown_ids.append(pid)
        elif pid in found:
            report.num_duplicates += 1
            if len(report.duplicate_ids) < MAX_LISTED:
                report.duplicate_ids.append(pid)
        else:
            found[pid] = response
    report.num_used = len(found)
    report.count_missing(task_ids, found)
    return found, report


def _parse_line(line: bytes) -> tuple[str | None, tuple[str, str] | None]:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not valid UTF-8 (byte {exc.start + 1})", None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"malformed JSON (column {exc.colno})", None
    if not isinstance(obj, dict):
        return "not a JSON object", None
    pid, response = obj.get("id"), obj.get("response")
    if not isinstance(pid, str) or not pid:
        return "missing or non-string field: id", None
    if response is None:
        return "missing field: response", None
    if not isinstance(response, str):
        return "non-string field: response", None
    return None, (pid, response)
