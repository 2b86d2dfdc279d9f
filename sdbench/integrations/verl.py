"""sdbench's credit assignment inside verl 0.9.1 (Ray, FSDP/Megatron, vLLM/SGLang rollouts), without editing verl.

What: five advantage estimators registered with verl's `register_adv_est` (verl.trainer.ppo.core_algos):

    algorithm.adv_estimator=   sdbench_grpo | sdbench_dr_grpo | sdbench_sd_grpo | sdbench_sd_dr_grpo | sdbench_hybrid

each one `sdbench.rl.advantages.ADVANTAGE_ESTIMATORS[method]` behind verl's estimator signature; a reward-loop
manager `SdbenchRewardManager` that scores each rollout with sdbench's `Scorer` (segmenter -> per-segment rewards ->
holistic reward) and maps the segments onto the response tokens (`sdbench.data.token_spans`); v1 trainers
`sdbench_sync`, `sdbench_colocate_async`, `sdbench_separate_async` (verl's sync / async trainers plus one step,
below); and `verl_rows`, which turns a built sdbench task into verl's parquet rows (examples/verl/prepare_data.py).

Why this shape, from verl 0.9.1's source:
- What an estimator receives. `ray_trainer.compute_advantage` calls `get_adv_estimator_fn(name)(token_level_rewards=
  (B, T), response_mask=(B, T), config=algorithm config, index=uid (B,) numpy)` and nothing else (only the built-in
  "gdpo" also gets the batch, and only in the deprecated v0 trainer). The default v1 trainer (`trainer.use_v1=True`)
  reads only uid, response_mask and rm_scores from its TransferQueue before that call.
- What the reward path can put in `token_level_rewards`. The reward loop returns one float per rollout
  (`reward_score`), which verl writes at the last response token (`AgentLoopOutput.as_dict`); everything else a
  reward manager returns goes to `reward_extra_info` (TransferQueue field `extra_fields` in v1).
- One float32 per token cannot carry both a segment id and a segment reward exactly, so "segment k's reward at its
  end token" would lose tokens outside every segment (labels), missing segments, zero rewards and segment identity.

Where the rewards travel, therefore:
- `token_level_rewards`: the holistic reward R_i at the last response token (verl's standard outcome layout), so
  verl's own metrics (`critic/score/*`), DAPO group filtering and its built-in estimators keep their meaning.
- `reward_extra_info["sdbench_segments"]`: one JSON record per rollout (`segment_record`): r_{i,k} and found flags for
  the K expected segments, the token runs of each segment ([k, start, stop) over response positions; every other
  token is outside), the response length and R_i. JSON because verl turns each extra-info key into a numpy column.
- The one step verl lacks: the `sdbench_*` v1 trainers read those records from the TransferQueue for the rows of the
  advantage step and `bind_segments(records)` around verl's own `_compute_advantage`; verl then calls the registered
  estimator exactly as above, and the estimator reads the bound records. Each record is checked against its row
  (response length, R_i == token_level_rewards.sum(-1)), so misaligned rows or a KL penalty inside the reward
  (`algorithm.use_kl_in_reward=True`, unsupported: use the actor's KL loss) fail loudly. `sdbench_grpo` and
  `sdbench_dr_grpo` need no records and run in any verl trainer.

Groups: verl's `index` (uid) forms the groups, which need not be contiguous nor of equal size. The estimator orders the
rows group by group (first-seen uid order, rows in batch order inside a group), runs sdbench's estimator once per
distinct group size on that contiguous layout and scatters the result back; every statistic is within a group, so
this is exactly sdbench's estimator on each group.

Why one file: estimators, reward manager, trainers and row export are one contract with verl 0.9.1 (what the
reward path writes is what the estimators read); they are checked together against verl's source and its own code
(tests/optional/test_verl_adapter.py), and split apart they would hide that contract.

Options (all optional) under `algorithm.sdbench` (hydra: `+algorithm.sdbench.outside=zero`): `outside`
(holistic | zero | mean, sdbench.rl.advantages), `hybrid_lambda` (0.5), `scale_by_std` (hybrid only; True blends
GRPO with SD-GRPO, False Dr. GRPO with SD-Dr. GRPO), `eps` (1e-4, TRL's; not read by the Dr. variants).

How it loads: `VERL_USE_EXTERNAL_MODULES=sdbench.integrations.verl` (verl imports the listed modules whenever a
process imports verl; pass it to every Ray worker through the job's runtime_env), and
`reward.reward_manager.source=importlib reward.reward_manager.name=SdbenchRewardManager
reward.reward_manager.module.path=pkg://sdbench.integrations.verl`. Importing this module registers everything when
verl is importable and does nothing else; without verl only the pure functions are defined. Commands:
examples/verl/README.md. Tests: tests/integrations/test_verl_layout.py (no verl), tests/optional/test_verl_adapter.py
(`make test-verl`, in .venv-verl).
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sdbench.rl.advantages import ADVANTAGE_ESTIMATORS, DEFAULT_EPS, OUTSIDE_RULES, AdvantageInputs

SEGMENTS_KEY = "sdbench_segments"
"""The reward_extra_info key that carries each rollout's segment record (a JSON string)."""
RECORD_VERSION = 1
ESTIMATORS: dict[str, str] = {
    "sdbench_grpo": "grpo",
    "sdbench_dr_grpo": "dr-grpo",
    "sdbench_sd_grpo": "sd-grpo",
    "sdbench_sd_dr_grpo": "sd-dr-grpo",
    "sdbench_hybrid": "hybrid",
}
"""verl estimator name -> sdbench method (sdbench.rl.advantages.ADVANTAGE_ESTIMATORS)."""
SEGMENT_METHODS = frozenset({"sd-grpo", "sd-dr-grpo", "hybrid"})
TRAINER_MODES = ("sync", "colocate_async", "separate_async")
"""verl v1 trainer modes; each gets an `sdbench_<mode>` twin that binds the segment records."""


# ---- one rollout: segments <-> a JSON-safe record ---------------------------------------------------------


def token_runs(token_segment_ids: Sequence[int]) -> list[list[int]]:
    """Runs of equal non-negative segment ids as [k, start, stop); tokens outside every segment (< 0) are left out.

    >>> token_runs([-1, -1, 0, 0, -1, 1, 1, 1, -1])
    [[0, 2, 4], [1, 5, 8]]
    """
    runs: list[list[int]] = []
    for position, k in enumerate(token_segment_ids):
        k = int(k)
        if k < 0:
            continue
        if runs and runs[-1][0] == k and runs[-1][2] == position:
            runs[-1][2] = position + 1
        else:
            runs.append([k, position, position + 1])
    return runs


def ids_from_runs(runs: Sequence[Sequence[int]], length: int) -> list[int]:
    """The inverse of `token_runs`: per-token segment ids of a response of `length` tokens, -1 outside.

    >>> ids_from_runs([[0, 2, 4], [1, 5, 8]], 9)
    [-1, -1, 0, 0, -1, 1, 1, 1, -1]
    """
    ids = [-1] * length
    for k, start, stop in runs:
        if not 0 <= start < stop <= length:
            raise ValueError(f"token run [{k}, {start}, {stop}) does not fit a response of {length} tokens")
        ids[start:stop] = [int(k)] * (stop - start)
    return ids


def segment_record(segment_rewards: Sequence[float], segment_found: Sequence[bool],
                   token_segment_ids: Sequence[int], holistic_reward: float) -> dict[str, Any]:
    """One rollout's record: the K expected segments' rewards (0 for a missing one) and found flags, the token runs
    of each segment over the response positions, the response length and the holistic reward R_i."""
    if len(segment_rewards) != len(segment_found):
        raise ValueError(f"{len(segment_rewards)} segment rewards but {len(segment_found)} found flags")
    return {"v": RECORD_VERSION, "rewards": [float(r) if found else 0.0 for r, found in zip(segment_rewards,
                                                                                       segment_found)],
            "found": [bool(f) for f in segment_found], "runs": token_runs(token_segment_ids),
            "length": len(token_segment_ids), "holistic": float(holistic_reward)}


def encode_record(record: Mapping[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"))


def decode_record(value: Any) -> dict[str, Any]:
    """A record from reward_extra_info: a JSON string (as written by SdbenchRewardManager) or a dict."""
    record = json.loads(value) if isinstance(value, (str, bytes)) else dict(value)
    if record.get("v") != RECORD_VERSION:
        raise ValueError(f"sdbench segment record version {record.get('v')!r}, expected {RECORD_VERSION}")
    return record


def records_from_extra_fields(extra_fields: Sequence[Any]) -> list[dict[str, Any]]:
    """The records of a v1 TransferQueue `extra_fields` column (one dict per row holding `reward_extra_info`)."""
    records = []
    for row, extra in enumerate(extra_fields):
        info = extra.get("reward_extra_info", {}) if isinstance(extra, Mapping) else {}
        if SEGMENTS_KEY not in info:
            raise ValueError(f"row {row} has no reward_extra_info[{SEGMENTS_KEY!r}]: score with "
                             "reward.reward_manager.name=SdbenchRewardManager (examples/verl/README.md)")
        records.append(decode_record(info[SEGMENTS_KEY]))
    return records


# ---- a batch: records + verl tensors -> AdvantageInputs ------------------------------------------------------


def collate(records: Sequence[Mapping[str, Any]], token_level_rewards: Tensor, response_mask: Tensor,
            check_holistic: bool = True) -> AdvantageInputs:
    """AdvantageInputs for a verl batch: R_i = token_level_rewards.sum(-1) (verl's outcome reward, as its GRPO reads
    it), completion_mask = response_mask, and the segment fields from one record per row, in row order.

    Each record must fit its row: same response length as response_mask's last real token + 1, and (check_holistic)
    the same R_i; otherwise the rows and records are misaligned, or the reward was changed after scoring (KL in
    reward), and a ValueError says so."""
    num_rows, num_tokens = response_mask.shape
    if len(records) != num_rows:
        raise ValueError(f"{len(records)} segment records for a batch of {num_rows} rows")
    holistic = token_level_rewards.detach().float().sum(dim=-1).cpu()                      # (B,)
    num_segments = max([len(r["rewards"]) for r in records] + [1])
    seg_rewards = torch.zeros(num_rows, num_segments)                                      # (B, S)
    seg_mask = torch.zeros(num_rows, num_segments, dtype=torch.bool)                       # (B, S)
    seg_found = torch.zeros(num_rows, num_segments, dtype=torch.bool)                      # (B, S)
    token_ids = torch.full((num_rows, num_tokens), -1, dtype=torch.long)                    # (B, T)
    mask = response_mask.detach().cpu().bool()                                             # (B, T)
    for i, record in enumerate(records):
        k = len(record["rewards"])
        seg_rewards[i, :k] = torch.tensor(record["rewards"], dtype=torch.float32)
        seg_mask[i, :k] = True
        seg_found[i, :k] = torch.tensor(record["found"], dtype=torch.bool)
        length = int(record["length"])
        real = mask[i].nonzero()
        row_length = int(real[-1]) + 1 if len(real) else 0
        if length != row_length or length > num_tokens:
            raise ValueError(f"row {i}: the segment record covers {length} response tokens but the row has "
                             f"{row_length}; records and rows are misaligned")
        if check_holistic and not math.isclose(float(holistic[i]), record["holistic"], rel_tol=1e-5, abs_tol=1e-5):
            raise ValueError(f"row {i}: token_level_rewards sums to {float(holistic[i])!r} but the rollout was scored "
                             f"{record['holistic']!r}; rows and records are misaligned, or a KL penalty was put in the "
                             "reward (set algorithm.use_kl_in_reward=False and use the actor's KL loss)")
        token_ids[i, :length] = torch.tensor(ids_from_runs(record["runs"], length), dtype=torch.long)
    return AdvantageInputs(rewards=holistic, completion_mask=mask, segment_rewards=seg_rewards, segment_mask=seg_mask,
                           segment_found=seg_found, token_segment_ids=token_ids)


def group_rows(index: Sequence[Any]) -> list[list[int]]:
    """Rows of each group (verl's uid per row), groups in first-seen order, rows in batch order.

    >>> group_rows(["b", "a", "b", "c", "a"])
    [[0, 2], [1, 4], [3]]
    """
    groups: dict[Any, list[int]] = {}
    for row, uid in enumerate(index):
        groups.setdefault(uid.item() if hasattr(uid, "item") else uid, []).append(row)
    return list(groups.values())


def _select(inputs: AdvantageInputs, rows: Tensor) -> AdvantageInputs:
    def pick(t: Tensor | None) -> Tensor | None:
        return None if t is None else t[rows]

    return AdvantageInputs(rewards=inputs.rewards[rows], completion_mask=inputs.completion_mask[rows],
                           segment_rewards=pick(inputs.segment_rewards), segment_mask=pick(inputs.segment_mask),
                           segment_found=pick(inputs.segment_found), token_segment_ids=pick(inputs.token_segment_ids))


def advantages_by_uid(method: str, inputs: AdvantageInputs, index: Sequence[Any], **kwargs: Any) -> Tensor:
    """sdbench's `method` on groups given by uid instead of contiguous blocks of G rows. Returns (B, T).

    The rows are laid out group by group and the estimator runs once per distinct group size; every statistic is
    taken within a group, so each group gets exactly what sdbench gives it on its own."""
    estimator = ADVANTAGE_ESTIMATORS[method]
    num_rows = inputs.rewards.shape[0]
    if len(index) != num_rows:
        raise ValueError(f"index has {len(index)} uids for {num_rows} rows")
    out = torch.zeros(inputs.completion_mask.shape, dtype=torch.float32)                  # (B, T)
    by_size: dict[int, list[int]] = {}
    for rows in group_rows(index):
        by_size.setdefault(len(rows), []).extend(rows)                                     # contiguous groups
    for size, rows in by_size.items():
        order = torch.tensor(rows, dtype=torch.long)
        out[order] = estimator(_select(inputs, order), size, **kwargs).float()
    return out


def estimator_options(method: str, config: Any) -> dict[str, Any]:
    """sdbench keyword arguments for `method` from `algorithm.sdbench` (a mapping or an object with .get)."""
    options = _get(config, "sdbench") or {}
    unknown = set(options) - {"outside", "hybrid_lambda", "scale_by_std", "eps"}
    if unknown:
        raise ValueError(f"unknown algorithm.sdbench option(s) {sorted(unknown)}; "
                         "valid: outside, hybrid_lambda, scale_by_std, eps")
    kwargs: dict[str, Any] = {}
    if method in SEGMENT_METHODS:
        kwargs["outside"] = str(options.get("outside", "holistic"))
        if kwargs["outside"] not in OUTSIDE_RULES:
            raise ValueError(f"algorithm.sdbench.outside={kwargs['outside']!r}; valid: {', '.join(OUTSIDE_RULES)}")
    if method == "hybrid":
        kwargs["hybrid_lambda"] = float(options.get("hybrid_lambda", 0.5))
        kwargs["scale_by_std"] = bool(options.get("scale_by_std", True))
    if method in ("grpo", "sd-grpo", "hybrid"):
        kwargs["eps"] = float(options.get("eps", DEFAULT_EPS))
    return kwargs


def _get(config: Any, key: str) -> Any:
    if config is None:
        return None
    if isinstance(config, Mapping) or hasattr(config, "get"):
        try:
            return config.get(key, None)
        except (AttributeError, KeyError, TypeError):
            return None
    return getattr(config, key, None)


def verl_advantages(method: str, token_level_rewards: Tensor, response_mask: Tensor, index: Sequence[Any] | None,
                    records: Sequence[Mapping[str, Any]] | None = None, **kwargs: Any) -> Tensor:
    """What the registered `sdbench_<method>` estimator computes, as a pure function. Returns (B, T) float32 on
    token_level_rewards' device; rows in verl's order; 0 on padding."""
    if index is None:
        raise ValueError("verl passed no index (uid); sdbench estimators normalise within uid groups")
    if method in SEGMENT_METHODS:
        if records is None:
            raise ValueError(f"{method} needs the rollouts' segment records: run verl with "
                             "trainer.v1.trainer_mode=sdbench_sync (or sdbench_colocate_async / sdbench_separate_async)"
                             " and reward.reward_manager.name=SdbenchRewardManager (examples/verl/README.md)")
        inputs = collate(records, token_level_rewards, response_mask)
    else:
        inputs = AdvantageInputs(rewards=token_level_rewards.detach().float().sum(dim=-1).cpu(),
                                 completion_mask=response_mask.detach().cpu().bool())
    return advantages_by_uid(method, inputs, index, **kwargs).to(token_level_rewards.device)


# ---- binding the records for one advantage step ------------------------------------------------------------

_BOUND: ContextVar[list[dict[str, Any]] | None] = ContextVar("sdbench_segment_records", default=None)


@contextmanager
def bind_segments(records: Sequence[Mapping[str, Any]]) -> Iterator[None]:
    """Within the block, the registered sdbench estimators read these records, one per row of the batch that verl's
    compute_advantage is given (same order)."""
    token = _BOUND.set([dict(r) for r in records])
    try:
        yield
    finally:
        _BOUND.reset(token)


def make_estimator(name: str):
    """The function registered as `name` (a key of ESTIMATORS), with verl's estimator signature."""
    method = ESTIMATORS[name]

    def estimator(token_level_rewards: Tensor, response_mask: Tensor, index: Any = None, config: Any = None,
                  **unused: Any) -> tuple[Tensor, Tensor]:
        advantages = verl_advantages(method, token_level_rewards, response_mask, index, _BOUND.get(),
                                     **estimator_options(method, config))
        return advantages, advantages  # outcome-style, as verl's GRPO: returns = advantages

    estimator.__name__ = estimator.__qualname__ = f"compute_{name}_advantage"
    estimator.__doc__ = f"sdbench {method!r} (sdbench.rl.advantages) behind verl's estimator signature."
    return estimator


# ---- data: a built sdbench task -> verl parquet rows ------------------------------------------------------------


def verl_rows(task_folder: str | Path, split: str, reward: str | None = None,
              holistic: str | None = None) -> Iterator[dict[str, Any]]:
    """One verl RLHFDataset row per example: the prompt as one user turn with an `<image>` per image before the text
    (sdbench.models.chat_inputs.prompt_messages' order), the images as PNG bytes, and in `extra_info` where
    SdbenchRewardManager finds the example again (absolute task folder, split, id; optional reward overrides)."""
    from sdbench.data.task_data import load_task_data, to_row

    data = load_task_data(task_folder)
    folder = str(Path(task_folder).resolve())
    for index, example in enumerate(data.examples(split)):
        row = to_row(example)
        extra: dict[str, Any] = {"sdbench_task": folder, "split": split, "example_id": example.id, "index": index,
                                 "num_segments": example.num_segments}
        if reward:
            extra["sdbench_reward"] = reward
        if holistic:
            extra["sdbench_holistic"] = holistic
        yield {"data_source": f"sdbench/{data.task_name}",
               "prompt": [{"role": "user", "content": "<image>" * len(example.images) + example.prompt}],
               "images": [{"bytes": image["bytes"]} for image in row["images"]],
               "ability": "segment_captioning",
               "reward_model": {"style": "rule", "ground_truth": example.holistic_reference},
               "extra_info": extra}


# ---- scoring one rollout ---------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def task_scorer(task_folder: str, split: str, reward: str | None = None, holistic: str | None = None):
    """(Scorer, {example id: Example}) for one split of a built task, built once per process (it holds the metric
    caches, e.g. CIDEr-D corpus statistics), as sdbench's trainer builds it."""
    from sdbench.data.scoring import Scorer
    from sdbench.data.task import load_task
    from sdbench.data.task_data import load_task_data

    data = load_task_data(task_folder)
    spec = load_task(data.task_name)
    examples = list(data.examples(split))
    scorer = Scorer(spec, data.manifest["source"]["name"], examples, metrics=(), reward=reward, holistic=holistic)
    return scorer, {ex.id: ex for ex in examples}


def score_rollout(scorer, example, response_ids: Sequence[int], tokenizer, finished: bool) -> dict[str, Any]:
    """Score one response as sdbench's trainer does (decode without special tokens, segment, score, map the segment
    spans onto tokens). Returns the reward loop's result: {"reward_score": R_i, "reward_extra_info": {...}}."""
    from sdbench.data.token_spans import decode_with_offsets, token_segment_ids

    decoded = decode_with_offsets(list(response_ids), tokenizer)
    score = scorer.score([example], [decoded.text], hit_length_limit=[not finished])[0]
    found = [span is not None for span in score.spans]
    record = segment_record(score.segment_rewards, found, token_segment_ids(decoded, score.spans),
                            score.holistic_reward)
    info = {SEGMENTS_KEY: encode_record(record),
            "sdbench/segment_reward": sum(score.segment_rewards) / max(1, score.num_segments),
            "sdbench/segments_found": sum(found) / max(1, score.num_segments),
            "sdbench/num_segments": score.num_segments}
    return {"reward_score": float(score.holistic_reward), "reward_extra_info": info}


def compute_score(data_source: str, solution_str: str, ground_truth: str, extra_info: Mapping[str, Any] | None = None,
                  **unused: Any) -> dict[str, Any]:
    """A verl custom reward function (`reward.custom_reward_function.path=pkg://sdbench.integrations.verl
    reward.custom_reward_function.name=compute_score`) for the holistic-only estimators (sdbench_grpo,
    sdbench_dr_grpo) and validation: scores the decoded text; it has no tokens, so it writes no segment record."""
    extra = dict(extra_info or {})
    scorer, examples = task_scorer(extra["sdbench_task"], extra["split"], extra.get("sdbench_reward"),
                                   extra.get("sdbench_holistic"))
    score = scorer.score([examples[extra["example_id"]]], [solution_str])[0]
    found = [span is not None for span in score.spans]
    return {"score": float(score.holistic_reward),
            "sdbench/segment_reward": sum(score.segment_rewards) / max(1, score.num_segments),
            "sdbench/segments_found": sum(found) / max(1, score.num_segments)}


# ---- verl-side classes and registration (only where verl is importable) ------------------------------------------


def _eos_ids(tokenizer) -> set[int]:
    eos = getattr(tokenizer, "eos_token_id", None)
    return set(eos if isinstance(eos, (list, tuple)) else [eos]) - {None}


def register() -> None:
    """Register the estimators, the reward manager ("sdbench") and the v1 trainers with verl. Idempotent."""
    from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY, register_adv_est

    for name in ESTIMATORS:
        if name not in ADV_ESTIMATOR_REGISTRY:
            register_adv_est(name)(make_estimator(name))
    from verl.experimental.reward_loop.reward_manager.registry import REWARD_MANAGER

    REWARD_MANAGER.setdefault("sdbench", SdbenchRewardManager)
    try:  # the v1 trainers need verl's TransferQueue (verl[verl-core]); without it only v1 training is unavailable
        from verl.trainer.ppo.v1 import trainer_base
    except ImportError:
        return
    for mode in TRAINER_MODES:
        name = f"sdbench_{mode}"
        if name not in trainer_base.TRAINER_REGISTRY:
            base = trainer_base.get_trainer_cls(mode)
            cls = type(f"Sdbench{base.__name__}", (SegmentRecordsMixin, base), {"__module__": __name__})
            trainer_base.register_trainer(name)(cls)
            globals()[cls.__name__] = cls


class SegmentRecordsMixin:
    """The step verl lacks: reads the segment records of the advantage step's rows from the TransferQueue and binds
    them around verl's own `_compute_advantage` (KL, rollout correction and write-back stay verl's)."""

    def _compute_advantage(self, batch, metrics):
        if ESTIMATORS.get(str(self.config.algorithm.adv_estimator)) not in SEGMENT_METHODS:
            return super()._compute_advantage(batch, metrics)
        import transfer_queue as tq

        data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=["extra_fields"])
        column = data["extra_fields"]  # a NonTensorStack, numpy array or list, by TransferQueue backend
        records = records_from_extra_fields(column.tolist() if hasattr(column, "tolist") else list(column))
        with bind_segments(records):
            return super()._compute_advantage(batch, metrics)


if importlib.util.find_spec("verl") is not None:
    from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase

    class SdbenchRewardManager(RewardManagerBase):
        """verl reward-loop manager: scores a rollout with sdbench's Scorer and returns R_i as `reward_score` and
        the segment record under reward_extra_info["sdbench_segments"]. The parquet row's extra_info (verl_rows)
        names the task folder, split and example; the folder must exist at that path on every node."""

        def __init__(self, config, tokenizer, compute_score=None, reward_router_address=None,
                     reward_model_tokenizer=None, **unused):
            super().__init__(config, tokenizer, compute_score)

        async def run_single(self, data) -> dict:
            item = data[-1:][0]  # as verl's naive manager: the last sequence of a multi-sequence output
            response_ids = item.batch["responses"]
            valid = int(item.batch["attention_mask"][-response_ids.shape[-1]:].sum())
            ids = response_ids[:valid].tolist()
            extra = dict(item.non_tensor_batch.get("extra_info", {}) or {})
            scorer, examples = task_scorer(extra["sdbench_task"], extra["split"], extra.get("sdbench_reward"),
                                           extra.get("sdbench_holistic"))
            finished = bool(ids) and ids[-1] in _eos_ids(self.tokenizer)
            example = examples[extra["example_id"]]
            return await self.loop.run_in_executor(
                None, lambda: score_rollout(scorer, example, ids, self.tokenizer, finished))

    register()
