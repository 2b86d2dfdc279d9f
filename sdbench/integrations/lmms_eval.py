"""lmms-eval's side of an exported task (`sdbench export-lmms-eval`, sdbench/commands/lmms_eval_export.py): what the
exported utils.py calls while lmms-eval runs, so its numbers are sdbench's own.

`ExportedTask` reads the folder's export record and data and answers lmms-eval's hooks (doc_to_visual, doc_to_text,
process_results) with sdbench's `Scorer`; `MetricLayout` fixes the reported numbers at export time and
`pooled_mean` aggregates them exactly as `sdbench score` does; `predictions_from_samples` turns lmms-eval's logged
samples back into a predictions file for `sdbench score`. Needs lmms-eval only in the process that runs it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from sdbench.core.errors import SdbenchError
from sdbench.data.scoring import ExampleScore, Scorer
from sdbench.data.task import load_task
from sdbench.data.task_data import from_row

EXPORT_FILE = "sdbench_export.json"
"""Written into every exported folder; --overwrite replaces only folders that hold it."""
EXPORT_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class MetricLayout:
    """Which numbers an exported task reports (fixed at export time, written into the YAML)."""

    metrics: tuple[str, ...]
    """sdbench metric names (the task's, plus its reward metrics), in the Scorer's order."""
    primary: str
    reward: str
    """The per-segment reward metric."""
    ks: tuple[int, ...]
    """K values present in the exported split."""

    @property
    def names(self) -> tuple[str, ...]:
        """The lmms-eval metric names, in YAML order."""
        return (*self.metrics, "holistic_reward", "segment_reward", "segments_found_per_expected",
                "outputs_all_segments_found", *(f"{self.primary}_k{k}" for k in self.ks),
                *(f"holistic_reward_k{k}" for k in self.ks),
                *(f"{self.reward}_pos{p}" for p in range(1, max(self.ks) + 1)))


def layout_for(spec, source: str, ks: list[int]) -> MetricLayout:
    """The layout of a task source: the names `Scorer` computes (unavailable ones then report None)."""
    reward, holistic = spec.reward_for(source), spec.holistic_for(source)
    names = list(spec.metrics)
    for name in [reward] + ([holistic] if holistic != "mean" else []):
        if name not in names:
            names.append(name)
    return MetricLayout(metrics=tuple(names), primary=spec.primary_metric_for(source), reward=reward,
                        ks=tuple(sorted(ks)))


def example_metrics(score: ExampleScore, layout: MetricLayout) -> dict[str, float | list[float] | None]:
    """One example's contribution to every metric of the layout (None: it does not count for that metric)."""
    out: dict[str, float | list[float] | None] = {m: score.metrics.get(m) for m in layout.metrics}
    out["holistic_reward"] = score.holistic_reward
    out["segment_reward"] = list(score.segment_rewards)
    out["segments_found_per_expected"] = [1.0 if seg["found"] else 0.0 for seg in score.segments]
    out["outputs_all_segments_found"] = float(score.format["num_found"] == score.format["num_expected"])
    for k in layout.ks:
        mine = score.num_segments == k
        out[f"{layout.primary}_k{k}"] = score.metrics.get(layout.primary) if mine else None
        out[f"holistic_reward_k{k}"] = score.holistic_reward if mine else None
    for p in range(1, max(layout.ks) + 1):
        seg = score.segments[p - 1] if p <= len(score.segments) else None
        out[f"{layout.reward}_pos{p}"] = None if seg is None else seg["metrics"].get(layout.reward)
    return out


def pooled_mean(items: list[Any]) -> float | None:
    """Mean of every number in `items` (lists are flattened, None skipped); None when there is none.

    >>> pooled_mean([1.0, None, [0.0, 0.5], []])
    0.5
    """
    values = [float(v) for item in items for v in (item if isinstance(item, list | tuple) else [item])
              if v is not None]
    return sum(values) / len(values) if values else None


def summary_metrics(summary: dict[str, Any], layout: MetricLayout) -> dict[str, float | None]:
    """The numbers of one split of a `sdbench score` summary.json (`summary["splits"][split]`) under the
    lmms-eval metric names of `layout`."""
    by_k, by_pos = summary.get("by_k", {}), summary.get("by_position", {})
    out: dict[str, float | None] = {m: summary["metrics"].get(m) for m in layout.metrics}
    out["holistic_reward"] = summary["rewards"]["holistic"]
    out["segment_reward"] = summary["rewards"]["segment"]
    out["segments_found_per_expected"] = summary["format"]["segments_found_per_expected"]
    out["outputs_all_segments_found"] = summary["format"]["outputs_all_segments_found"]
    for k in layout.ks:
        group = by_k.get(str(k), {})
        out[f"{layout.primary}_k{k}"] = group.get("metrics", {}).get(layout.primary)
        out[f"holistic_reward_k{k}"] = group.get("holistic_reward")
    for p in range(1, max(layout.ks) + 1):
        out[f"{layout.reward}_pos{p}"] = by_pos.get(str(p), {}).get(layout.reward)
    return out


class ExportedTask:
    """The lmms-eval hooks of one exported folder. Constructing it reads nothing; the first
    `process_results` loads the split (the reference corpus) and builds the Scorer once."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self._lock = threading.Lock()  # lmms-eval calls process_results from a thread pool

    @cached_property
    def info(self) -> dict[str, Any]:
        path = self.folder / EXPORT_FILE
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SdbenchError(f"{path}: missing; export the task again with `sdbench export-lmms-eval`") from None

    @cached_property
    def layout(self) -> MetricLayout:
        raw = self.info["layout"]
        return MetricLayout(metrics=tuple(raw["metrics"]), primary=raw["primary"], reward=raw["reward"],
                            ks=tuple(raw["ks"]))

    @cached_property
    def examples(self) -> dict[str, Any]:
        """{id: Example} of the exported split, without images (scoring never reads them)."""
        import pyarrow.parquet as pq

        path = self.folder / self.info["data_file"]
        columns = [c for c in pq.read_schema(path).names if c != "images"]
        return {row["id"]: from_row({**row, "images": []}) for row in pq.read_table(path, columns=columns).to_pylist()}

    @cached_property
    def scorer(self) -> Scorer:
        task = self.info["task"]
        spec = load_task(task["name"])
        if spec.version != task["version"]:
            raise SdbenchError(f"{self.folder}: exported from {spec.name} v{task['version']}, but this sdbench has "
                               f"v{spec.version}; rebuild and export the task again (versions never mix)")
        return Scorer(spec, task["source"], list(self.examples.values()))

    def doc_to_visual(self, doc: dict[str, Any]) -> list[Any]:
        """The example's images as RGB PIL images, in order (sdbench's prompt puts them before the text)."""
        return [img.convert("RGB") if img.mode != "RGB" else img for img in doc["images"]]

    def doc_to_text(self, doc: dict[str, Any]) -> str:
        """The example's prompt, exactly the text sdbench's HF path puts after the images."""
        return doc["prompt"]

    def process_results(self, doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
        """Score the first output with sdbench's Scorer; one entry per metric of the layout."""
        response = results[0] if results else ""
        with self._lock:  # the data and the Scorer (its embedding model) load once; one thread scores at a time
            example = self.examples.get(doc["id"])
            if example is None:
                raise SdbenchError(f"{self.folder}: lmms-eval passed example id {doc['id']!r}, which the exported "
                                   "split does not have; export the task again")
            [score] = self.scorer.score([example], [response if isinstance(response, str) else ""])
        return example_metrics(score, self.layout)


def predictions_from_samples(samples_path: str | Path, export_folder: str | Path, out_path: str | Path) -> int:
    """lmms-eval's logged samples (the `--log_samples` JSONL) -> a `sdbench score` predictions JSONL, one
    {"id", "response"} per line with the raw model output; returns the number written.

    lmms-eval logs each sample's `doc_id` (its row in the exported split), not the doc, so the ids are read from
    the exported data file."""
    import pyarrow.parquet as pq

    info = ExportedTask(export_folder).info
    ids = pq.read_table(Path(export_folder) / info["data_file"], columns=["id"]).column("id").to_pylist()
    lines = []
    for line in Path(samples_path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        sample = json.loads(line)
        response = sample["filtered_resps"]
        while isinstance(response, list):  # one response per request; the first, as process_results reads it
            response = response[0] if response else ""
        lines.append(json.dumps({"id": ids[int(sample["doc_id"])], "response": response}, ensure_ascii=False) + "\n")
    Path(out_path).write_text("".join(lines), encoding="utf-8")
    return len(lines)
