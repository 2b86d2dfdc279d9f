"""Typed configs, one frozen dataclass per command, and the strict YAML loader.

Settings apply in this order: `--config FILE.yaml` (keys == dataclass fields; unknown keys are errors),
then command-line flags, then the dataclass defaults. `__post_init__` only validates (it never rewrites);
derived values are properties. Each field's docstring is its `--help` text.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from sdbench.errors import SdbenchError, did_you_mean


def check_finite(cfg: Any) -> None:
    """Every float setting is a finite number ('--learning-rate nan' is refused here, not deep in torch)."""
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise SdbenchError(f"--{f.name.replace('_', '-')}: need a finite number, got {value}")


PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


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


@dataclass(frozen=True)
class ShowConfig:
    """`sdbench show`: print a few examples of a built task and write a contact sheet PNG."""

    folder: Path = Path("runs/tasks/multipanel-synthetic-seed0")
    """A folder written by `sdbench build-task`."""
    split: Literal["train", "test"] = "test"
    """Which split to show."""
    num: int = 3
    """How many examples to print and draw."""
    sheet: Path | None = None
    """Where to write the contact sheet (default: FOLDER/contact_sheet_<split>.png)."""

    def __post_init__(self):
        if self.num < 1:
            raise SdbenchError(f"--num: need >= 1, got {self.num}")


@dataclass(frozen=True)
class ScoreConfig:
    """`sdbench score`: score your own model's outputs against a built task, without running any model."""

    task: Path | None = None
    """A folder written by `sdbench build-task`."""
    predictions: Path | None = None
    """JSONL, one {"id": ..., "response": ...} per line (ids are the task's example ids)."""
    out: Path | None = None
    """Output folder for scores.jsonl and summary.json (default: next to the predictions file)."""
    split: Literal["auto", "all", "train", "test"] = "auto"
    """Splits to score, one table each: 'auto' every split that a prediction answers, 'all' every split of the
    build (ids without a prediction count as missing), or one split."""
    metrics: tuple[str, ...] = ()
    """Metrics to compute (default: the task's; comma-separated)."""
    missing: Literal["zero", "skip"] = "zero"
    """Task examples without a prediction: score them as an empty response ('zero') or leave them out ('skip'
    — the summary then covers fewer examples and says so)."""
    strict: bool = False
    """Fail on any invalid, duplicate, unknown or missing prediction instead of counting it."""
    model_name: str | None = None
    """Put these scores on a board: also write results.json (the schema `sdbench eval` writes, method 'external',
    this model name) beside scores.jsonl, for `sdbench leaderboard` and `sdbench compare`. Needs one split."""
    seed: int = 0
    """With --model-name: the training seed of the scored model (a board averages a row's seeds)."""

    def __post_init__(self):
        if self.task is None or self.predictions is None:
            raise SdbenchError("score: pass --task BUILD_DIR and --predictions FILE.jsonl")
        if self.model_name is not None and not self.model_name.strip():
            raise SdbenchError("--model-name: give the name the board shows for your model (e.g. my-vlm-7b)")

    @property
    def out_dir(self) -> Path:
        return Path(self.out) if self.out else Path(self.predictions).parent / (Path(self.predictions).stem + "_scores")


@dataclass(frozen=True)
class ExportLmmsEvalConfig:
    """`sdbench export-lmms-eval`: write an lmms-eval task folder (YAML + hooks + data) for a built task."""

    task: Path | None = None
    """A folder written by `sdbench build-task`."""
    out: Path | None = None
    """Folder to write (new or empty; an earlier export needs --overwrite)."""
    split: Literal["train", "test"] = "test"
    """Split to export."""
    name: str | None = None
    """lmms-eval task name (default: sdbench_<task>)."""
    max_new_tokens: int = 256
    """Generation limit written into the task YAML."""
    overwrite: bool = False
    """Replace an earlier export in --out."""

    def __post_init__(self):
        if self.task is None or self.out is None:
            raise SdbenchError("export-lmms-eval: pass --task BUILD_DIR and --out DIR")
        if self.max_new_tokens < 1:
            raise SdbenchError(f"--max-new-tokens: need >= 1, got {self.max_new_tokens}")
        if self.name is not None and not self.name.replace("_", "").replace("-", "").isalnum():
            raise SdbenchError(f"--name {self.name!r}: use letters, digits, '_' and '-' only")


Method = Literal["sft", "grpo", "dr-grpo", "sd-grpo", "sd-dr-grpo", "hybrid"]
RL_METHODS = ("grpo", "dr-grpo", "sd-grpo", "sd-dr-grpo", "hybrid")


@dataclass(frozen=True)
class TrainConfig:
    """`sdbench train`: warm-start by SFT (--method sft) or RL with GRPO / Dr. GRPO / SD-GRPO / hybrid.

    baselines/*.yaml map 1:1 onto these fields."""

    task: Path = Path("runs/pipeline/tasks/multipanel")
    """A folder written by `sdbench build-task` (its train split is used)."""
    model: str = "default"
    """'default' (the embedded tiny VLM, built and warm-started once, cached), a local HF folder, a hub id,
    or a checkpoint folder of an earlier run."""
    method: Method = "sd-grpo"
    """Credit assignment: the advantage estimator (sdbench.rl.advantages), or 'sft' for supervised warm-start."""
    out: Path | None = None
    """Run folder (default: runs/train/<task>-<method>-seed<seed>)."""
    seed: int = 0
    """Seed for prompt order, sampling and initialisation."""
    steps: int = 40
    """Optimizer steps (RL: one batch of prompts × group_size rollouts per step)."""
    segments: tuple[int, ...] = ()
    """Train only on examples with these K (default: all in the split)."""
    # ---- rollouts ----
    prompts_per_step: int = 4
    """P: prompts per step."""
    group_size: int = 8
    """G: rollouts per prompt."""
    max_new_tokens: int = 160
    """Generation limit per rollout."""
    temperature: float = 1.0
    """Sampling temperature (the loss uses the same temperature for log-probs)."""
    top_p: float = 1.0
    """Nucleus sampling; 1.0 keeps the exact sampling distribution the log-probs refer to."""
    rollout_backend: Literal["hf", "vllm"] = "hf"
    """'hf': transformers generate, the CPU reference; 'vllm': vLLM on a GPU, weights synced every step (pip install
    'sdbench[vllm]' in its own CUDA environment). Interface: sdbench/rollout/backend.py."""
    # ---- credit assignment ----
    hybrid_lambda: float = 0.5
    """λ of the hybrid: λ·holistic + (1−λ)·per-segment advantage."""
    outside: Literal["holistic", "zero", "mean"] = "holistic"
    """Advantage of tokens outside every segment (labels, preamble, EOS) under sd-* and hybrid."""
    reward: str | None = None
    """Per-segment reward metric (default: the task source's)."""
    holistic_reward: str | None = None
    """Rollout-level reward: 'mean' of segment rewards or a whole metric (default: the task source's)."""
    # ---- loss and optimisation ----
    learning_rate: float = 2e-5
    """AdamW learning rate."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    warmup_steps: int = 0
    """Linear warm-up steps, then constant."""
    max_grad_norm: float = 1.0
    """Gradient clipping (0 = off)."""
    clip_eps_low: float = 0.2
    """PPO clip: ratio >= 1 − eps_low."""
    clip_eps_high: float = 0.2
    """PPO clip: ratio <= 1 + eps_high (0.28 = DAPO's clip-higher)."""
    beta: float = 0.0
    """KL coefficient to the initial policy (0 = no reference model)."""
    loss_aggregation: Literal["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"] = "token-mean"
    """How per-token losses become one number (TRL: bnpo, grpo, dr_grpo)."""
    micro_batch_size: int = 8
    """Sequences per forward/backward pass (gradient accumulation over the step's B = P·G rollouts)."""
    # ---- bookkeeping ----
    save_every: int = 20
    """Checkpoint every N steps (and at the end)."""
    resume: bool = False
    """Continue from the run folder's latest checkpoint."""
    tensorboard: bool = False
    """Also log to TensorBoard (pip install tensorboard)."""
    threads: int = 0
    """torch threads (0 = leave torch's default)."""
    trust_remote_code: bool = False
    """Allow model code from the model folder / hub (off unless you trust it)."""

    def __post_init__(self):
        check_finite(self)
        positive = ("steps", "prompts_per_step", "group_size", "max_new_tokens", "micro_batch_size", "save_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise SdbenchError(f"--{name.replace('_', '-')}: need >= 1, got {getattr(self, name)}")
        if self.method != "sft" and self.group_size < 2:
            raise SdbenchError(f"--group-size {self.group_size}: GRPO-style methods need >= 2 rollouts per prompt")
        if not 0.0 <= self.hybrid_lambda <= 1.0:
            raise SdbenchError(f"--hybrid-lambda: need a value in [0, 1], got {self.hybrid_lambda}")
        if self.hybrid_lambda != 0.5 and self.method != "hybrid":
            raise SdbenchError(f"--hybrid-lambda does nothing with --method {self.method}; use --method hybrid")
        if self.temperature <= 0 or not 0 < self.top_p <= 1:
            raise SdbenchError("--temperature must be > 0 and --top-p in (0, 1]")
        if self.learning_rate <= 0 or self.beta < 0 or self.clip_eps_low < 0 or self.clip_eps_high < 0:
            raise SdbenchError("--learning-rate must be > 0; --beta, --clip-eps-low/high must be >= 0")

    @property
    def run_dir(self) -> Path:
        return Path(self.out) if self.out else Path("runs") / "train" / f"{Path(self.task).name}-{self.method}-seed{self.seed}"

    @property
    def completions_per_step(self) -> int:
        return self.prompts_per_step * self.group_size


@dataclass(frozen=True)
class EvalConfig:
    """`sdbench eval`: generate on a task's test split, score, and write a results JSON with provenance."""

    model: str = "default"
    """A run folder or checkpoint of `sdbench train`, a local HF folder, a hub id, or 'default'."""
    task: Path = Path("runs/pipeline/tasks/multipanel")
    """A folder written by `sdbench build-task`."""
    out: Path | None = None
    """Folder for results.json and outputs.jsonl (default: runs/eval/<run id>)."""
    run_id: str | None = None
    """Name of this evaluation run (default: <task>-<method>-seed<seed>-<model folder>)."""
    split: Literal["train", "test"] = "test"
    """Split to evaluate."""
    segments: tuple[int, ...] = ()
    """Only examples with these K (default: all)."""
    limit: int = 0
    """At most this many examples (0 = all), taken in split order."""
    max_new_tokens: int = 256
    """Generation limit."""
    batch_size: int = 16
    """Prompts per generate call."""
    rollout_backend: Literal["hf", "vllm"] = "hf"
    """Generation backend: 'hf' (transformers, CPU reference) or 'vllm' (GPU; pip install 'sdbench[vllm]')."""
    num_samples: int = 0
    """0: greedy decoding; N > 0: N sampled outputs per prompt at --temperature (all scored)."""
    temperature: float = 1.0
    """Sampling temperature when --num-samples > 0."""
    metrics: tuple[str, ...] = ()
    """Metrics to report (default: the task's, those that can run here)."""
    method: str | None = None
    """Training method recorded for the leaderboard (default: read from the checkpoint, else 'base')."""
    seed: int | None = None
    """Training seed recorded for the leaderboard (default: read from the checkpoint, else 0)."""
    diagnostics: bool = False
    """Also run the misattribution diagnostics (sampled groups) and store them in the results."""
    diagnostics_prompts: int = 32
    """Prompts per K for the diagnostics."""
    group_size: int = 8
    """Rollouts per prompt for the diagnostics."""
    threads: int = 0
    """torch threads (0 = torch's default)."""
    trust_remote_code: bool = False
    """Allow model code from the model folder / hub."""

    def __post_init__(self):
        check_finite(self)
        if self.run_id is not None and not PLAIN_NAME.fullmatch(self.run_id):
            raise SdbenchError(f"--run-id {self.run_id!r}: need a plain name (letters, digits, '.', '_', '-'; no "
                               "'/' or leading '.'), e.g. multipanel-sd-grpo-seed0")
        if self.max_new_tokens < 1 or self.batch_size < 1 or self.num_samples < 0 or self.limit < 0:
            raise SdbenchError("--max-new-tokens and --batch-size need >= 1; --num-samples and --limit >= 0")
        if self.group_size < 2 or self.diagnostics_prompts < 1:
            raise SdbenchError("--group-size needs >= 2 and --diagnostics-prompts >= 1")


@dataclass(frozen=True)
class DiagnoseConfig:
    """`sdbench diagnose`: measured credit misattribution vs K beside the closed form, from sampled rollouts."""

    model: str = "default"
    """The policy whose rollouts are diagnosed (as for `sdbench eval`)."""
    task: Path = Path("runs/pipeline/tasks/multipanel")
    """A folder written by `sdbench build-task`."""
    out: Path = Path("runs/diagnose")
    """Folder for diagnostics.json and diagnostics.png."""
    split: Literal["train", "test"] = "test"
    """Split whose prompts are sampled."""
    segments: tuple[int, ...] = ()
    """K values to diagnose (default: all in the split)."""
    prompts: int = 32
    """Prompts per K."""
    group_size: int = 8
    """Rollouts per prompt (G)."""
    max_new_tokens: int = 256
    """Generation limit."""
    temperature: float = 1.0
    """Sampling temperature."""
    rollout_backend: Literal["hf", "vllm"] = "hf"
    """Generation backend: 'hf' (transformers, CPU reference) or 'vllm' (GPU; pip install 'sdbench[vllm]')."""
    seed: int = 0
    """Sampling seed."""
    threads: int = 0
    """torch threads (0 = torch's default)."""
    trust_remote_code: bool = False
    """Allow model code from the model folder / hub."""

    def __post_init__(self):
        check_finite(self)
        if self.temperature <= 0 or self.prompts < 1 or self.group_size < 2 or self.max_new_tokens < 1:
            raise SdbenchError("--temperature must be > 0, --prompts and --max-new-tokens >= 1, --group-size >= 2")


@dataclass(frozen=True)
class PipelineConfig:
    """`sdbench pipeline`: the main job on the embedded default: build the synthetic tasks, check the default model's
    warm-start, train GRPO and SD-GRPO on multipanel (and hybrid on subfigure) over seeds, evaluate every run, run
    the simulator, print the leaderboard and the paired comparisons."""

    out: Path = Path("runs/pipeline")
    """Folder for everything the pipeline writes."""
    tasks: tuple[str, ...] = ("multipanel", "multichart", "subfigure")
    """Tasks to build from their synthetic source."""
    segments: tuple[int, ...] = (1, 2, 4)
    """K values to build (the default model is warm-started on K = 1, 2, 4)."""
    n_train: int = 256
    """Train examples per task."""
    n_test: int = 96
    """Test examples per task (spread evenly over the K values: 32 per K by default)."""
    seed: int = 0
    """Seed of the data, the simulator and the first training seed."""
    seeds: int = 3
    """Training seeds per method: --seed, --seed + 1, … Every method gets the same seeds, so each seed is a paired
    comparison (same prompts, same starting model; only the advantage estimator differs)."""
    model: str = "default"
    """Policy to start RL from: 'default' (the embedded default: shipped weights, checked by hash) or any model
    `sdbench train --model` takes."""
    rl_task: str = "multipanel"
    """Task of the main comparison (one of --tasks)."""
    rl_segments: tuple[int, ...] = (2, 4)
    """K values of the train examples its RL runs sample from (every built K is evaluated)."""
    methods: tuple[str, ...] = ("grpo", "sd-grpo")
    """Methods of the main comparison."""
    steps: int = 50
    """RL steps per run of the main comparison."""
    hybrid_task: str | None = None
    """Task of the hybrid study (GRPO, SD-GRPO and hybrid on entangled segments; one of --tasks), e.g. subfigure.
    Off in `make demo`, which it would take past 15 minutes; on in baselines/pipeline/full.yaml."""
    hybrid_segments: tuple[int, ...] = (2, 4)
    """K values of the hybrid study's train examples."""
    hybrid_methods: tuple[str, ...] = ("grpo", "sd-grpo", "hybrid")
    """Methods of the hybrid study: hybrid against both pure methods, same seeds."""
    hybrid_steps: int = 30
    """RL steps per run of the hybrid study."""
    hybrid_lambda: float = 0.5
    """λ of the hybrid runs (weight of the holistic advantage)."""
    prompts_per_step: int = 4
    """P: prompts per RL step."""
    group_size: int = 8
    """G: rollouts per prompt."""
    max_new_tokens: int = 96
    """Generation limit for RL rollouts and evaluation."""
    learning_rate: float = 1e-4
    """AdamW learning rate of the RL runs."""
    reward: str | None = None
    """Per-segment reward of the RL runs; None: each task's own (multipanel: fact_f1, subfigure: its source's)."""
    also_compare: tuple[str, ...] = ("cider_d",)
    """Metrics compared besides each study's reward and primary metric (where the task has them)."""
    workers: int = 2
    """Runs side by side, one process and one CPU thread each (1: one after the other, in this process; the curves
    are those of a --threads 1 run either way)."""
    simulator_seeds: int = 16
    """Seeds of the credit-assignment simulator."""

    @property
    def training_seeds(self) -> tuple[int, ...]:
        return tuple(range(self.seed, self.seed + self.seeds))

    def __post_init__(self):
        check_finite(self)
        rl_methods = ("grpo", "dr-grpo", "sd-grpo", "sd-dr-grpo", "hybrid")
        for flag, task, segments, methods in (("rl", self.rl_task, self.rl_segments, self.methods),
                                              ("hybrid", self.hybrid_task, self.hybrid_segments, self.hybrid_methods)):
            if task is None:
                continue
            if task not in self.tasks:
                raise SdbenchError(f"--{flag}-task {task!r} is not among --tasks {list(self.tasks)}")
            missing = [k for k in segments if k not in self.segments]
            if missing:
                raise SdbenchError(f"--{flag}-segments {list(segments)}: K={missing} not built; add to --segments")
            unknown = [m for m in methods if m not in rl_methods]
            if unknown or not methods:
                name = "methods" if flag == "rl" else "hybrid-methods"
                raise SdbenchError(f"--{name} {list(methods)}: choose RL methods among {', '.join(rl_methods)}")
        if self.hybrid_task is not None and self.hybrid_task == self.rl_task:
            raise SdbenchError(f"--hybrid-task {self.hybrid_task!r} is the --rl-task too; give another task or none")
        for name in ("n_train", "n_test", "seeds", "steps", "hybrid_steps", "prompts_per_step", "max_new_tokens",
                     "simulator_seeds", "workers"):
            if getattr(self, name) < 1:
                raise SdbenchError(f"--{name.replace('_', '-')}: need >= 1, got {getattr(self, name)}")
        if self.group_size < 2:
            raise SdbenchError(f"--group-size {self.group_size}: GRPO-style methods need >= 2 rollouts per prompt")
        if not 0.0 <= self.hybrid_lambda <= 1.0:
            raise SdbenchError(f"--hybrid-lambda: need a value in [0, 1], got {self.hybrid_lambda}")


# ---- YAML configs ---------------------------------------------------------------------------------------
def load_config(cls: type, path: str | Path) -> Any:
    """Read a YAML file whose keys are `cls` fields (nested dataclasses as nested mappings).

    Unknown keys are errors naming the file and the key."""
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SdbenchError(f"--config {path}: file not found") from None
    except yaml.YAMLError as exc:
        raise SdbenchError(f"--config {path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    return from_dict(cls, raw or {}, where=str(path))


def from_dict(cls: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise SdbenchError(f"{where}: expected a mapping of {cls.__name__} fields, got {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in raw.items():
        if key not in fields:
            raise SdbenchError(f"{where}: unknown key {key!r}{did_you_mean(str(key), fields)}; "
                               f"valid keys: {', '.join(fields)}")
        kwargs[key] = _coerce(hints[key], value, f"{where}: {key}")
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        return _coerce(non_none[0], value, where) if len(non_none) == 1 else value
    if origin is tuple:
        items = value if isinstance(value, list | tuple) else [value]
        return tuple(_coerce(args[0], v, where) for v in items)
    if origin is dict:
        if not isinstance(value, dict):
            raise SdbenchError(f"{where}: expected a mapping, got {value!r}")
        return {str(k): str(v) for k, v in value.items()} if args and args[1] is str else dict(value)
    if origin is Literal:
        if value not in args:
            raise SdbenchError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if hint is Path:
        return Path(value)
    if hint in (int, float, str, bool):
        if hint is bool and not isinstance(value, bool):
            raise SdbenchError(f"{where}: expected true/false, got {value!r}")
        if hint is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise SdbenchError(f"{where}: expected an integer, got {value!r}")
        if hint is float and not isinstance(value, int | float):
            raise SdbenchError(f"{where}: expected a number, got {value!r}")
        return hint(value)
    return value
