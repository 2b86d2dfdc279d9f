"""TRL adapter: SD-GRPO, SD-Dr. GRPO and the hybrid inside TRL's `GRPOTrainer` (TRL 1.16), multi-GPU included.

What:
  - `task_dataset(task)`: a folder written by `sdbench build-task` -> a `datasets.Dataset` in TRL's VLM
    conversational format: `prompt` (one user turn holding the example's prompt; TRL puts the images before
    the text, the layout of sdbench's own `chat_inputs.prompt_messages`), `images` (the example's images) and
    `example_id` (how the adapter finds the `Example` a completion answers).
  - `TaskRewards(task, tokenizer)`: scores completions through sdbench's one scoring path
    (`decode_with_offsets` -> `Scorer.score`, the calls `sdbench train` makes); `TaskRewards.holistic_reward`
    is a reward function in TRL's signature (`reward(prompts, completions, **kwargs) -> list[float]`).
  - `SegmentCredit(method, outside, hybrid_lambda)`: which estimator of `sdbench.rl.advantages` to use,
    validated on construction.
  - `SegmentGRPOTrainer(GRPOTrainer)`: TRL's trainer with its (B,) advantages replaced by sdbench's per-token
    (B, T) ones. Generation (transformers or vLLM), the loss (`loss_type`: grpo, dr_grpo, dapo, bnpo, cispo,
    sapo, luspo, vespo), KL, accelerate / DeepSpeed / FSDP stay TRL's.

Why: sdbench's own trainer is the reference on one CPU; at scale the method should run inside an engine that
already does multi-GPU, never a home-made one (DESIGN.md). Credit assignment is the only place the methods
differ, and TRL 1.16's `_compute_loss` takes (B, T) advantages as they are, so the adapter overrides two
methods and leaves the rest of TRL alone. Scoring and advantages are sdbench's functions, so the same completion
gets the same rewards, token spans and advantages here as in `sdbench train`.

Why one file: the adapter is one subclass of TRL's trainer and the three things it is built from (dataset,
rewards, credit); they change together whenever TRL's `GRPOTrainer` does, and are read against TRL 1.16's source.

How:

    from sdbench.integrations.trl import SegmentCredit, SegmentGRPOTrainer, TaskRewards, task_dataset
    processor = sdbench.models.policy.load_processor("Qwen/Qwen2.5-VL-3B-Instruct")
    processor.tokenizer.padding_side = "left"  # as TRL loads processors itself
    rewards = TaskRewards("runs/tasks/multipanel", processor.tokenizer)
    trainer = SegmentGRPOTrainer(model="Qwen/Qwen2.5-VL-3B-Instruct", args=GRPOConfig(...),
                                 train_dataset=task_dataset("runs/tasks/multipanel"), processing_class=processor,
                                 task_rewards=rewards, credit=SegmentCredit("hybrid", hybrid_lambda=0.5))
    trainer.train()

(reward_funcs defaults to [rewards.holistic_reward]; examples/trl/ has the script and the `accelerate launch`
configs.)

Data path of one generation batch. Each process holds b rows (B = b · num_processes; TRL's sampler keeps the G
rollouts of a prompt consecutive, and a group may span two processes):
  1. TRL generates the b completions and calls `_calculate_rewards`, which the adapter wraps to record the
     example ids and completion token ids. The reward functions run on the b local rows; TRL gathers their
     values across processes: rewards_per_func (B, F).
  2. `TaskRewards.score` decodes each completion with `decode_with_offsets`, segments and scores it with
     `Scorer.score` (once per batch: `holistic_reward` and the trainer share a one-batch cache).
  3. `segment_tensors`: local segment rewards / expected / found (b, S_local) and token segment ids
     (`token_segment_ids`) and completion mask (b, T_local).
  4. `gather_rows`, the way TRL gathers rewards: pad S and T to the largest over processes
     (`accelerator.pad_across_processes`), then `accelerator.gather` -> (B, S), (B, T) in process order.
     Holistic R (B,) = Σ_f reward_weights[f] · rewards_per_func[:, f], TRL's own "sum_then_normalize" sum.
  5. `ADVANTAGE_ESTIMATORS[method](AdvantageInputs(...), G, **kwargs)` on the whole batch -> (B, T), so groups
     that span processes are normalised over all their members; this process's rows (TRL's `process_slice`)
     and its T_local columns become `output["advantages"]` (b, T_local). TRL then shuffles and splits the
     batch into micro-batches; the loss reads (B, T) advantages element by element.

TRL settings the adapter checks (`scale_by_std_for`; a wrong one is an `SdbenchError` naming the fix):
| method | TRL `scale_rewards` | advantage |
|---|---|---|
| grpo, sd-grpo | "group" | divided by the group std + 1e-4 (TRL's constant) |
| dr-grpo, sd-dr-grpo | "none" | centred only (Dr. GRPO) |
| hybrid | "group" or "none" | blends GRPO with SD-GRPO, or Dr. GRPO with SD-Dr. GRPO |
`scale_rewards="batch"` and `multi_objective_aggregation="normalize_then_sum"` have no per-segment counterpart
and are refused; tools and environments are refused (their tokens are not the model's text to segment).

Differences from TRL's own advantages: a group whose rewards are all equal gets exactly 0 (TRL: the float rounding
of the mean divided by 1e-4); a completion for which every reward function returned None is an error (TRL: 0).
TRL's completions table still logs its (B,) holistic advantages; the adapter adds `sdbench/segment_reward`,
`sdbench/segments_found`, `sdbench/misattribution_rate` and `sdbench/advantage_abs_mean` to TRL's metrics.
With (B, T) advantages the sign tests of `loss_type="vespo"` and of `off_policy_mask_threshold` act per token
(their (B, 1) weights become (B, T)); every other loss reads the advantage per token anyway.

Importing this module does not import TRL: `SegmentGRPOTrainer` is built on first access (TRL takes seconds to
import), so the pure parts (scoring, tensors, gathering) and their doctests run without it.

Shapes: b local rows, B all rows, T completion tokens, S max segments (legend: sdbench/rl/__init__.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from sdbench.core.errors import SdbenchError, unknown_name_error
from sdbench.rl.advantages import (ADVANTAGE_ESTIMATORS, OUTSIDE_RULES, AdvantageInputs, holistic_advantages,
                                   segment_advantages)
from sdbench.rl.segment_batch import ScoredBatch, SegmentTensors, segment_tensors

if TYPE_CHECKING:
    from datasets import Dataset

    from sdbench.core.types import Example
    from sdbench.data.task_data import TaskData

EXAMPLE_ID = "example_id"
"""Dataset column naming the sdbench example of each prompt."""
SEGMENT_METHODS = ("sd-grpo", "sd-dr-grpo", "hybrid")
"""Methods that read segment rewards and take `outside`."""
SCALE_REWARDS = {"grpo": ("group",), "sd-grpo": ("group",), "dr-grpo": ("none",), "sd-dr-grpo": ("none",),
                 "hybrid": ("group", "none")}
"""TRL `scale_rewards` values each method agrees with (the method decides the scaling; see the module docstring)."""


# ---- configuration ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SegmentCredit:
    """Which credit assignment the trainer applies; checked on construction (`SdbenchError` naming the fix).

    >>> SegmentCredit("hybrid", hybrid_lambda=0.25).estimator_kwargs(scale_by_std=False)
    {'outside': 'holistic', 'hybrid_lambda': 0.25, 'scale_by_std': False}
    >>> SegmentCredit("grpo").estimator_kwargs(scale_by_std=True)
    {}
    """

    method: str = "sd-grpo"
    """An estimator of sdbench.rl.advantages: grpo, dr-grpo, sd-grpo, sd-dr-grpo or hybrid."""
    outside: str = "holistic"
    """Advantage of tokens outside every segment (labels, preamble, EOS) under sd-* and hybrid: holistic, zero
    or mean (rules: sdbench/rl/advantages.py)."""
    hybrid_lambda: float | None = None
    """λ of the hybrid, λ·holistic + (1−λ)·per-segment, in [0, 1]; required by hybrid, refused otherwise."""

    def __post_init__(self) -> None:
        if self.method not in ADVANTAGE_ESTIMATORS:
            raise unknown_name_error("credit method", self.method, ADVANTAGE_ESTIMATORS,
                                     where=" (SegmentCredit.method)")
        if self.outside not in OUTSIDE_RULES:
            raise unknown_name_error("outside rule", self.outside, OUTSIDE_RULES, where=" (SegmentCredit.outside)")
        if self.method == "hybrid":
            if self.hybrid_lambda is None or not 0.0 <= float(self.hybrid_lambda) <= 1.0:
                raise SdbenchError(f"SegmentCredit.hybrid_lambda={self.hybrid_lambda!r}: method 'hybrid' needs a "
                                   "λ in [0, 1] (1 = holistic only, 0 = per-segment only), e.g. hybrid_lambda=0.5")
        elif self.hybrid_lambda is not None:
            raise SdbenchError(f"SegmentCredit.hybrid_lambda does nothing with method {self.method!r}; "
                               "use method='hybrid' or leave hybrid_lambda unset")

    def estimator_kwargs(self, scale_by_std: bool) -> dict[str, Any]:
        """Keyword arguments of `ADVANTAGE_ESTIMATORS[method]` (scale_by_std is read by hybrid only)."""
        if self.method not in SEGMENT_METHODS:
            return {}
        kwargs: dict[str, Any] = {"outside": self.outside}
        if self.method == "hybrid":
            kwargs.update(hybrid_lambda=float(self.hybrid_lambda), scale_by_std=scale_by_std)  # type: ignore[arg-type]
        return kwargs


def scale_by_std_for(credit: SegmentCredit, scale_rewards: str, multi_objective_aggregation: str) -> bool:
    """Whether the estimator divides by the group std, from TRL's `scale_rewards`; `SdbenchError` when the two
    settings disagree (table: module docstring).

    >>> scale_by_std_for(SegmentCredit("sd-dr-grpo"), "none", "sum_then_normalize")
    False
    """
    if multi_objective_aggregation != "sum_then_normalize":
        raise SdbenchError(f"GRPOConfig.multi_objective_aggregation={multi_objective_aggregation!r}: segment credit "
                           "sums the reward functions first; set multi_objective_aggregation='sum_then_normalize'")
    allowed = SCALE_REWARDS[credit.method]
    if scale_rewards not in allowed:
        raise SdbenchError(f"GRPOConfig.scale_rewards={scale_rewards!r} does not fit method {credit.method!r}, which "
                           f"decides the scaling itself; set scale_rewards to {' or '.join(map(repr, allowed))}")
    return scale_rewards == "group"


# ---- task data -> TRL ---------------------------------------------------------------------------------------
def _task_data(task: str | Path | TaskData) -> TaskData:
    from sdbench.data.task_data import TaskData, load_task_data

    return task if isinstance(task, TaskData) else load_task_data(task)


def _keep(num_segments: int, segments: Sequence[int]) -> bool:
    return not segments or num_segments in segments


def _examples_without_images(data: TaskData, split: str, segments: Sequence[int]) -> list[Example]:
    """The examples of `split` with K in `segments`, images left out (no metric reads them; each process of a
    multi-GPU run would otherwise hold every decoded image of the split)."""
    from sdbench.data.task_data import from_row

    rows = data.dataset(split).remove_columns("images")
    return [from_row({**row, "images": []}) for row in rows if _keep(row["num_segments"], segments)]


def task_dataset(task: str | Path | TaskData, split: str = "train", segments: Sequence[int] = ()) -> Dataset:
    """The examples of a built task as a TRL VLM dataset: columns `prompt` ([{"role": "user", "content":
    prompt}]), `images` (list of images, stored as in the task data, decoded to PIL on access) and `example_id`.

    segments: keep only examples with these K (default: all), as `sdbench train --segments`."""
    data = _task_data(task)
    dataset = data.dataset(split)
    if segments:
        dataset = dataset.filter(lambda k: _keep(k, segments), input_columns="num_segments")
    if len(dataset) == 0:
        raise SdbenchError(f"{data.folder}: split {split!r} has no example with K in {list(segments)}; "
                           "change `segments` or rebuild the task")
    drop = [name for name in dataset.column_names if name != "images"]
    return dataset.map(lambda example_id, prompt: {EXAMPLE_ID: example_id,
                                                   "prompt": [{"role": "user", "content": prompt}]},
                       input_columns=["id", "prompt"], remove_columns=drop)


# ---- scoring --------------------------------------------------------------------------------------------------
class TaskRewards:
    """sdbench's scoring of one task split for TRL: reward functions and the segment rewards of the trainer.

    Built like `sdbench train` builds its scorer: the examples of `split` with K in `segments` form the corpus
    (CIDEr-D document frequencies come from it), `reward` / `holistic` default to the task source's; the examples
    are kept without their images (`examples[id].images == ()`), which no metric reads. A completion
    is decoded from its token ids with `decode_with_offsets` (not TRL's text), so the text that is scored is the
    text whose character spans become token spans. `eos_token_ids` decide whether a completion finished (format
    statistics only); left None, the trainer fills in its own (the model's generation config eos ids + the
    tokenizer's eos).
    """

    def __init__(self, task: str | Path | TaskData, tokenizer: Any, *, split: str = "train",
                 segments: Sequence[int] = (), reward: str | None = None, holistic: str | None = None,
                 eos_token_ids: Iterable[int] | None = None):
        from sdbench.data.scoring import Scorer
        from sdbench.data.task import load_task

        data = _task_data(task)
        spec = load_task(data.task_name)
        if spec.version != data.task_version:
            raise SdbenchError(f"{data.folder}: built with task v{data.task_version}, tasks/ has v{spec.version}; "
                               "rebuild it")
        examples = _examples_without_images(data, split, segments)
        if not examples:
            raise SdbenchError(f"{data.folder}: split {split!r} has no example with K in {list(segments)}; "
                               "change `segments` or rebuild the task")
        self.tokenizer = tokenizer
        self.examples: dict[str, Example] = {ex.id: ex for ex in examples}
        self.scorer = Scorer(spec, data.manifest["source"]["name"], examples, metrics=(), reward=reward,
                             holistic=holistic)
        self.eos_token_ids: frozenset[int] | None = None if eos_token_ids is None else frozenset(eos_token_ids)
        self._cache: tuple[Any, ScoredBatch] | None = None

    def use_eos_token_ids(self, eos_token_ids: Iterable[int]) -> None:
        """Set the end-of-completion ids when none were given (the trainer calls this with its own)."""
        if self.eos_token_ids is None:
            self.eos_token_ids = frozenset(eos_token_ids)

    def score(self, example_ids: Sequence[str], completion_ids: Sequence[Sequence[int]]) -> ScoredBatch:
        """Decode, segment and score completion_ids[i] (token ids, EOS included when sampled) as an answer to
        example example_ids[i]. The last batch is cached: the same call again returns the same object."""
        from sdbench.data.token_spans import decode_with_offsets

        completion_ids = [[int(t) for t in ids] for ids in completion_ids]
        key = (tuple(example_ids), tuple(map(tuple, completion_ids)))
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        unknown = sorted({i for i in example_ids if i not in self.examples})
        if unknown:
            raise SdbenchError(f"example ids {unknown[:3]} are not in this TaskRewards' split ({len(self.examples)} "
                               "examples); build the dataset and the TaskRewards from the same task, split and "
                               "segments")
        eos = self.eos_token_ids if self.eos_token_ids is not None else {self.tokenizer.eos_token_id}
        decoded = [decode_with_offsets(ids, self.tokenizer) for ids in completion_ids]
        hit_limit = [not (ids and ids[-1] in eos) for ids in completion_ids]
        scores = self.scorer.score([self.examples[i] for i in example_ids], [d.text for d in decoded],
                                   hit_length_limit=hit_limit)
        batch = ScoredBatch(scores=scores, decoded=decoded)
        self._cache = (key, batch)
        return batch

    def holistic_reward(self, prompts: list, completions: list, completion_ids: list[list[int]] | None = None,
                        example_id: list[str] | None = None, **kwargs) -> list[float]:
        """TRL reward function: the holistic reward R of each completion (task.yaml `holistic_reward`: the mean of
        the segment rewards, or a whole-output metric). Needs the dataset's `example_id` column."""
        if example_id is None or completion_ids is None:
            raise SdbenchError(f"holistic_reward needs the {EXAMPLE_ID!r} column (build the dataset with "
                               "sdbench.integrations.trl.task_dataset) and TRL's completion_ids")
        return [s.holistic_reward for s in self.score(example_id, completion_ids).scores]


# ---- pure tensor steps ----------------------------------------------------------------------------------------
PAD_VALUES = {"segment_rewards": 0.0, "segment_mask": 0, "segment_found": 0, "token_segment_ids": -1,
              "completion_mask": 0}
"""What pads each SegmentTensors field across processes: nothing expected, nothing found, no token."""


def gather_rows(local: SegmentTensors, accelerator: Any) -> SegmentTensors:
    """All processes' rows in process order, as TRL gathers its rewards: each (b, N) tensor padded on dim 1 to
    the largest N over processes (`accelerator.pad_across_processes`), then `accelerator.gather` -> (B, N).
    Bool tensors travel as long (every backend gathers those). One process: the tensors as they are."""
    out = {}
    for field in fields(SegmentTensors):
        value = getattr(local, field.name)
        is_bool = value.dtype == torch.bool
        value = value.long() if is_bool else value
        value = accelerator.pad_across_processes(value, dim=1, pad_index=PAD_VALUES[field.name])
        value = accelerator.gather(value)
        out[field.name] = value.bool() if is_bool else value
    return SegmentTensors(**out)


def holistic_rewards(rewards_per_func: Tensor, reward_weights: Tensor) -> Tensor:
    """rewards_per_func (B, F) as TRL gathers them (NaN: the function returned None), reward_weights (F,).
    Returns R (B,): the weighted sum over functions, NaN counted as 0, as TRL's "sum_then_normalize"; an
    `SdbenchError` when every function returned None for a completion.

    >>> holistic_rewards(torch.tensor([[1.0, float("nan")], [0.5, 2.0]]), torch.tensor([1.0, 0.5]))
    tensor([1.0000, 1.5000])
    """
    unscorable = torch.isnan(rewards_per_func).all(dim=1)                              # (B,)
    if unscorable.any():
        raise SdbenchError(f"{int(unscorable.sum())} completions got None from every reward function; segment "
                           "credit needs a holistic reward for each (return a number, e.g. 0.0, not None)")
    return (rewards_per_func * reward_weights.to(rewards_per_func)[None, :]).nansum(dim=1)  # (B,)


def per_token_advantages(credit: SegmentCredit, rewards: Tensor, segments: SegmentTensors, group_size: int,
                         scale_by_std: bool) -> Tensor:
    """rewards (B,) holistic R, segments with B rows -> (B, T) advantages of `credit.method`, straight from
    `sdbench.rl.advantages.ADVANTAGE_ESTIMATORS` (the function `sdbench train` calls)."""
    inputs = AdvantageInputs(rewards=rewards, completion_mask=segments.completion_mask,
                             segment_rewards=segments.segment_rewards.to(rewards.dtype),
                             segment_mask=segments.segment_mask, segment_found=segments.segment_found,
                             token_segment_ids=segments.token_segment_ids)
    return ADVANTAGE_ESTIMATORS[credit.method](inputs, group_size, **credit.estimator_kwargs(scale_by_std))


def segment_metrics(rewards: Tensor, segments: SegmentTensors, advantages: Tensor, group_size: int,
                    scale_by_std: bool) -> dict[str, float]:
    """What the trainer adds to TRL's logged metrics, over the whole (gathered) batch."""
    from sdbench.rl.diagnostics import misattribution_rate

    mask, found = segments.segment_mask, segments.segment_found
    hol_adv = holistic_advantages(rewards, group_size, scale_by_std)                                    # (B,)
    seg_adv = segment_advantages(segments.segment_rewards, mask, found, group_size, scale_by_std)       # (B, S)
    real = segments.completion_mask
    metrics = {"sdbench/segment_reward": float(segments.segment_rewards[mask].mean()),
               "sdbench/segments_found": float(found.sum() / mask.sum().clamp(min=1)),
               "sdbench/advantage_abs_mean": float(advantages[real].abs().mean()) if real.any() else 0.0}
    rate = misattribution_rate(hol_adv, seg_adv, mask)
    if rate is not None:  # None: no pair with two signs (e.g. every group constant)
        metrics["sdbench/misattribution_rate"] = rate
    return metrics


# ---- the trainer ----------------------------------------------------------------------------------------------
def __getattr__(name: str) -> Any:
    """`SegmentGRPOTrainer` is built on first access, so importing this module does not import TRL."""
    if name == "SegmentGRPOTrainer":
        globals()[name] = cls = _trainer_class()
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _trainer_class() -> type:
    try:
        from trl import GRPOTrainer
    except ImportError as exc:  # pragma: no cover - trl is in the test extra
        raise ImportError("SegmentGRPOTrainer needs TRL 1.16: pip install 'sdbench[trl]'") from exc

    class SegmentGRPOTrainer(GRPOTrainer):
        """TRL's GRPOTrainer with per-token advantages from sdbench's estimators (data path: module docstring).

        Arguments are GRPOTrainer's, plus `task_rewards` (the task's scoring; its `holistic_reward` is the default
        reward function) and `credit` (default: SegmentCredit(), i.e. sd-grpo). Other reward functions may be
        given: the holistic reward R is then their weighted sum, as in TRL; segment rewards always come from
        task_rewards.
        """

        def __init__(self, model: Any, reward_funcs: Any = None, args: Any = None, *, task_rewards: TaskRewards,
                     credit: SegmentCredit | None = None, **kwargs: Any):
            if not isinstance(task_rewards, TaskRewards):
                raise SdbenchError("SegmentGRPOTrainer needs task_rewards=TaskRewards(task_folder, tokenizer)")
            self.credit = credit if credit is not None else SegmentCredit()
            if args is not None:  # fail before the model loads
                _check_args(args, self.credit)
            if kwargs.get("tools") or kwargs.get("environment_factory") is not None:
                raise SdbenchError("SegmentGRPOTrainer: tools and environments are not supported (tool responses "
                                   "would be segmented as model text); drop `tools` / `environment_factory`")
            self.task_rewards = task_rewards
            self._sdbench_batch: tuple[list[str], list[list[int]], Tensor] | None = None
            super().__init__(model, reward_funcs if reward_funcs is not None else [task_rewards.holistic_reward],
                             args, **kwargs)
            self.scale_by_std = _check_args(self.args, self.credit)
            task_rewards.use_eos_token_ids(self.eos_token_ids)

        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
            """TRL's rewards (gathered: (B, F)); records the local example ids and completion ids."""
            if EXAMPLE_ID not in inputs[0]:
                raise SdbenchError(f"the training data has no {EXAMPLE_ID!r} column; build it with "
                                   "sdbench.integrations.trl.task_dataset(task_folder)")
            rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
            self._sdbench_batch = ([row[EXAMPLE_ID] for row in inputs], [list(ids) for ids in completion_ids_list],
                                   rewards_per_func)
            return rewards_per_func

        def _generate_and_score_completions(self, inputs):
            """TRL's batch, with output["advantages"] replaced by sdbench's (b, T) per-token advantages."""
            output = super()._generate_and_score_completions(inputs)
            if self._sdbench_batch is None:
                raise RuntimeError("TRL did not call _calculate_rewards; this TRL version is not supported (1.16)")
            example_ids, completion_ids, rewards_per_func = self._sdbench_batch
            self._sdbench_batch = None
            mode = "train" if self.model.training else "eval"
            group_size = self.num_generations if mode == "train" else self.num_generations_eval
            num_tokens = output["completion_ids"].shape[1]                                        # T_local
            device = output["completion_ids"].device
            scored = self.task_rewards.score(example_ids, completion_ids)
            local = segment_tensors(scored, num_tokens, device)                                   # b rows
            everyone = gather_rows(local, self.accelerator)                                       # B rows
            rewards = holistic_rewards(rewards_per_func, self.reward_weights)                     # (B,)
            advantages = per_token_advantages(self.credit, rewards, everyone, group_size,
                                              self.scale_by_std)                                  # (B, T)
            for name, value in segment_metrics(rewards, everyone, advantages, group_size, self.scale_by_std).items():
                self._metrics[mode][name].append(value)
            rows = slice(self.accelerator.process_index * len(example_ids),
                         (self.accelerator.process_index + 1) * len(example_ids))  # TRL's process_slice
            output["advantages"] = advantages[rows, :num_tokens].to(device)                       # (b, T_local)
            return output

    SegmentGRPOTrainer.__module__ = __name__
    SegmentGRPOTrainer.__qualname__ = "SegmentGRPOTrainer"
    return SegmentGRPOTrainer


def _check_args(args: Any, credit: SegmentCredit) -> bool:
    """GRPOConfig settings the adapter depends on; returns scale_by_std (see `scale_by_std_for`)."""
    if getattr(args, "remove_unused_columns", False):
        raise SdbenchError(f"GRPOConfig.remove_unused_columns=True drops the {EXAMPLE_ID!r} column the segment "
                           "rewards need; set remove_unused_columns=False (GRPOConfig's default)")
    scale = {True: "group", False: "none"}.get(args.scale_rewards, args.scale_rewards)  # as GRPOConfig does
    return scale_by_std_for(credit, scale, args.multi_objective_aggregation)
