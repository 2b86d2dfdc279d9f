"""Task registry: a task is data (`tasks/<name>/task.yaml`) plus fixed-name hooks (`tasks/<name>/hooks.py`).

Tasks are found in the repository's `tasks/` folder and in every folder listed in the environment variable
`SDBENCH_TASKS_PATH` (os.pathsep-separated), so adding a task means adding a folder, nothing else.

task.yaml (read with `yaml.safe_load`, validated strictly; unknown keys are errors):

    name: multipanel                 # must equal the folder name
    version: 1                       # bump when data or scoring changes; results of versions never mix
    description: one line
    segment_label: "Panel {k}:"      # {k} = 1-based number, {letter} = a, b, c …
    prompt: "… {num_segments} … {labels} …"   # default prompt template (sources may override)
    sources:
      synthetic: {kind: synthetic, description: …, segments: {min: 1, max: 16}, options: {…}}
      docci:     {kind: real, description: …, layout: …, citation: …, license: …, segments: {…}}
    rewards: [fact_f1, cider_d]      # per-segment reward metrics the task offers (the first is the default)
    metrics: [fact_f1, …]            # metrics reported by eval / score (sdbench.rewards.registry.METRICS)
    primary_metric: fact_f1
    holistic_reward: mean            # optional: rollout-level reward, 'mean' of segment rewards or a whole metric

A source may override `reward`, `holistic_reward` and `primary_metric` (e.g. DOCCI has no facts: cider_d).

hooks.py defines, by fixed name:
    SOURCES: dict[str, SourceFn]     # one generator per source listed in task.yaml (required)
"""

from __future__ import annotations

import importlib.util
import os
import string
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from sdbench.core.errors import SdbenchError, did_you_mean, unknown_name_error

REPO_TASKS_DIR = Path(__file__).resolve().parents[2] / "tasks"
TASK_KEYS = {"name", "version", "description", "segment_label", "prompt", "sources", "rewards", "metrics",
             "primary_metric", "holistic_reward"}
OPTIONAL_TASK_KEYS = {"description", "holistic_reward"}
SOURCE_KEYS = {"kind", "description", "segments", "options", "prompt", "layout", "citation", "license", "url",
               "reward", "holistic_reward", "primary_metric"}
PROMPT_FIELDS = {"num_segments", "labels", "first_label", "last_label", "question", "questions"}


@dataclass(frozen=True)
class SourceSpec:
    """One source of a task, as declared in task.yaml (reward fields None: the task's)."""

    name: str
    kind: str  # 'synthetic' | 'real'
    description: str
    min_segments: int
    max_segments: int
    options: dict[str, Any] = field(default_factory=dict)
    default_segments: tuple[int, ...] | None = None
    """K values built when --segments is not given (`segments.default`); None: a real source builds every K
    its data has, a synthetic one 1, 2, 4, 8 (within min..max)."""
    prompt: str | None = None
    layout: str = ""
    citation: str = ""
    license: str = ""
    url: str = ""
    reward: str | None = None
    holistic_reward: str | None = None
    primary_metric: str | None = None


@dataclass(frozen=True)
class TaskSpec:
    """A validated task.yaml."""

    name: str
    version: int
    description: str
    segment_label: str
    prompt: str
    sources: dict[str, SourceSpec]
    rewards: tuple[str, ...]
    metrics: tuple[str, ...]
    primary_metric: str
    folder: Path
    holistic_reward: str = "mean"

    def reward_for(self, source: str) -> str:
        """The per-segment reward metric of a source (its own, else the task's first)."""
        return self.sources[source].reward or self.rewards[0]

    def holistic_for(self, source: str) -> str:
        return self.sources[source].holistic_reward or self.holistic_reward

    def primary_metric_for(self, source: str) -> str:
        return self.sources[source].primary_metric or self.primary_metric

    def label(self, k: int) -> str:
        """Label of the segment numbered k (1-based): 'Panel 3:', '(c)'.

        >>> TaskSpec("t", 1, "", "({letter})", "", {}, (), (), "", Path(".")).label(3)
        '(c)'
        """
        return format_label(self.segment_label, k)

    def render_prompt(self, source: str, labels: list[str], **fields: str) -> str:
        """Fill the (source's or default) prompt template."""
        template = self.sources[source].prompt or self.prompt
        values = {"num_segments": str(len(labels)), "labels": ", ".join(labels),
                  "first_label": labels[0] if labels else "", "last_label": labels[-1] if labels else "",
                  **fields}
        return template.format(**values)


def format_label(template: str, k: int) -> str:
    """'Panel {k}:' -> 'Panel 3:'; '({letter})' -> '(c)' (k > 26 continues with 'aa', 'ab', …)."""
    letters = ""
    n = k
    while n > 0:
        n, rem = divmod(n - 1, 26)
        letters = chr(ord("a") + rem) + letters
    return template.format(k=k, letter=letters)


# ---- discovery ------------------------------------------------------------------------------------------
def task_dirs() -> list[Path]:
    """Folders searched for tasks: the repo's tasks/ then SDBENCH_TASKS_PATH entries."""
    extra = [Path(p) for p in os.environ.get("SDBENCH_TASKS_PATH", "").split(os.pathsep) if p]
    return [REPO_TASKS_DIR, *extra]


def list_tasks() -> dict[str, Path]:
    """name -> task folder, for every folder holding a task.yaml (a later folder never shadows an earlier)."""
    found: dict[str, Path] = {}
    for root in task_dirs():
        if root.is_dir():
            for yaml_path in sorted(root.glob("*/task.yaml")):
                found.setdefault(yaml_path.parent.name, yaml_path.parent)
    return found


def load_task(name: str) -> TaskSpec:
    """Load and validate tasks/<name>/task.yaml; unknown names get a 'did you mean'."""
    tasks = list_tasks()
    if name not in tasks:
        raise unknown_name_error("task", name, tasks)
    return _load_spec(tasks[name])


def load_hooks(spec: TaskSpec) -> ModuleType:
    """Import tasks/<name>/hooks.py as a private module and check its fixed names."""
    return _load_hooks(spec.folder, tuple(spec.sources))


@cache
def _load_hooks(folder: Path, source_names: tuple[str, ...]) -> ModuleType:
    path = folder / "hooks.py"
    if not path.is_file():
        raise SdbenchError(f"{path}: missing; every task needs a hooks.py defining SOURCES")
    module_name = f"sdbench_task_hooks_{folder.name}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    assert module_spec and module_spec.loader
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    sources = getattr(module, "SOURCES", None)
    if not isinstance(sources, dict):
        raise SdbenchError(f"{path}: must define SOURCES = {{source name: generator function}}")
    if set(sources) != set(source_names):
        raise SdbenchError(f"{path}: SOURCES has {sorted(sources)} but task.yaml lists {sorted(source_names)}; "
                           "make them match")
    return module


def _load_spec(folder: Path) -> TaskSpec:
    import yaml

    path = folder / "task.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SdbenchError(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise SdbenchError(f"{path}: must be a mapping of task fields")
    _check_keys(raw, TASK_KEYS, str(path))
    for key in TASK_KEYS - OPTIONAL_TASK_KEYS:
        if key not in raw:
            raise SdbenchError(f"{path}: missing field {key!r}")
    if raw["name"] != folder.name:
        raise SdbenchError(f"{path}: name {raw['name']!r} must equal the folder name {folder.name!r}")
    if not isinstance(raw["version"], int) or raw["version"] < 1:
        raise SdbenchError(f"{path}: version must be a positive integer, got {raw['version']!r}")
    _check_template(raw["prompt"], f"{path}: prompt")
    sources = {}
    for src_name, src in (raw["sources"] or {}).items():
        where = f"{path}: sources.{src_name}"
        if not isinstance(src, dict):
            raise SdbenchError(f"{where}: must be a mapping")
        _check_keys(src, SOURCE_KEYS, where)
        if src.get("kind") not in ("synthetic", "real"):
            raise SdbenchError(f"{where}.kind: must be 'synthetic' or 'real', got {src.get('kind')!r}")
        seg = src.get("segments") or {}
        lo, hi = seg.get("min", 1), seg.get("max", 1)
        if not (isinstance(lo, int) and isinstance(hi, int) and 1 <= lo <= hi):
            raise SdbenchError(f"{where}.segments: need integers 1 <= min <= max, got {seg!r}")
        _check_keys(seg, {"min", "max", "default"}, f"{where}.segments")
        default = seg.get("default")
        if default is not None and not (isinstance(default, list) and default and all(
                isinstance(k, int) and lo <= k <= hi for k in default) and len(set(default)) == len(default)):
            raise SdbenchError(f"{where}.segments.default: need a list of distinct K in [{lo}, {hi}], got {default!r}")
        if src.get("prompt") is not None:
            _check_template(src["prompt"], f"{where}.prompt")
        sources[src_name] = SourceSpec(
            name=src_name, kind=src["kind"], description=str(src.get("description", "")), min_segments=lo,
            max_segments=hi, options=dict(src.get("options") or {}), prompt=src.get("prompt"),
            default_segments=tuple(default) if default is not None else None,
            layout=str(src.get("layout", "")), citation=str(src.get("citation", "")),
            license=str(src.get("license", "")), url=str(src.get("url", "")), reward=src.get("reward"),
            holistic_reward=src.get("holistic_reward"), primary_metric=src.get("primary_metric"))
    if not sources:
        raise SdbenchError(f"{path}: sources: at least one source is needed")
    metrics = tuple(raw["metrics"])
    rewards = tuple(raw["rewards"] or ())
    holistic = raw.get("holistic_reward", "mean")
    _check_metric_names(path, metrics, rewards, holistic, raw["primary_metric"], sources)
    try:
        format_label(raw["segment_label"], 1)
    except (KeyError, IndexError, ValueError):
        raise SdbenchError(f"{path}: segment_label {raw['segment_label']!r} may only use {{k}} or {{letter}}") from None
    return TaskSpec(name=raw["name"], version=raw["version"], description=str(raw.get("description", "")),
                    segment_label=raw["segment_label"], prompt=raw["prompt"], sources=sources,
                    rewards=rewards, metrics=metrics, primary_metric=raw["primary_metric"], folder=folder,
                    holistic_reward=holistic)


def _check_metric_names(path: Path, metrics: tuple[str, ...], rewards: tuple[str, ...], holistic: str,
                        primary: str, sources: dict[str, SourceSpec]) -> None:
    """Every metric named in task.yaml exists, rewards are segment metrics, holistic rewards whole ones."""
    from sdbench.rewards.registry import METRICS

    def check(name: str, field_name: str, level: str | None = None) -> None:
        if name not in METRICS:
            raise SdbenchError(f"{path}: {field_name}: unknown metric {name!r}{did_you_mean(name, METRICS)}; "
                               f"see sdbench/rewards/registry.py")
        if level and METRICS[name].level != level:
            raise SdbenchError(f"{path}: {field_name}: {name!r} is a {METRICS[name].level} metric; need a {level} one")

    if not rewards:
        raise SdbenchError(f"{path}: rewards: name at least one per-segment reward metric")
    for name in metrics:
        check(name, "metrics")
    for name in rewards:
        check(name, "rewards", "segment")
    for src in sources.values():
        if src.reward is not None:
            check(src.reward, f"sources.{src.name}.reward", "segment")
    for field_name, value in [("holistic_reward", holistic)] + [
            (f"sources.{s.name}.holistic_reward", s.holistic_reward) for s in sources.values()]:
        if value is not None and value != "mean":
            check(value, field_name, "whole")
    for field_name, value in [("primary_metric", primary)] + [
            (f"sources.{s.name}.primary_metric", s.primary_metric) for s in sources.values()]:
        if value is not None and value not in metrics:
            raise SdbenchError(f"{path}: {field_name} {value!r} is not in metrics {list(metrics)}")


def _check_keys(raw: dict, allowed: set[str], where: str) -> None:
    for key in raw:
        if key not in allowed:
            raise SdbenchError(f"{where}: unknown key {key!r}{did_you_mean(key, allowed)}; "
                               f"allowed: {', '.join(sorted(allowed))}")


def _check_template(template: object, where: str) -> None:
    if not isinstance(template, str):
        raise SdbenchError(f"{where}: must be a string")
    for _, field_name, _, _ in string.Formatter().parse(template):
        if field_name is not None and field_name not in PROMPT_FIELDS:
            raise SdbenchError(f"{where}: unknown placeholder {{{field_name}}}{did_you_mean(field_name, PROMPT_FIELDS)};"
                               f" allowed: {', '.join(sorted(PROMPT_FIELDS))} (write {{{{ }}}} for a literal brace)")
