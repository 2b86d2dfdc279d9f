"""`sdbench train --method grpo|dr-grpo|sd-grpo|sd-dr-grpo|hybrid`: the RL loop, top to bottom.

One step:
    1. sample P prompts of the train split (seeded by (seed, step) only, so a resumed run sees the same ones)
    2. roll out G completions each with the rollout backend, keeping the sampling log-probs
    3. decode, segment and score every completion through the shared scoring path (sdbench.data.scoring):
       per-segment rewards r_{i,k} (B, S) and the holistic reward R_i (B,)
    4. map each segment's characters onto its tokens (sdbench.data.token_spans)                -> (B, T) segment ids
    5. credit assignment, the only place methods differ: ADVANTAGE_ESTIMATORS[method]     -> (B, T) advantages
    6. clipped policy-gradient loss on per-token advantages (+ KL to the initial policy when beta > 0),
       accumulated over micro-batches exactly as one batch would be, then one optimizer step
    7. log the step (JSONL, optionally TensorBoard); checkpoint every `save_every` steps (safetensors, atomic)

Shapes: P prompts, G rollouts per prompt, B = P·G, T completion tokens, S max segments (sdbench/rl/__init__.py).
"""

from __future__ import annotations

import copy
import json
import random
import resource
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from sdbench.core.types import Example
from sdbench.models.logprobs import completion_logprobs, micro_batch
from sdbench.rl.advantages import ADVANTAGE_ESTIMATORS, AdvantageInputs, holistic_advantages, segment_advantages
from sdbench.rl.diagnostics import misattribution_rate
from sdbench.rl.losses import clipped_pg_loss
from sdbench.rl.run_setup import setup_run
from sdbench.rl.segment_batch import ScoredBatch, segment_tensors
from sdbench.rl.train_config import TrainConfig
from sdbench.rollout.backend import SamplingParams
from sdbench.rollout.factory import make_backend

SCALED = {"grpo": True, "dr-grpo": False, "sd-grpo": True, "sd-dr-grpo": False, "hybrid": True}


def train(cfg: TrainConfig) -> Path:
    """Run (or resume) training; returns the run folder, which this process holds (locked) meanwhile."""
    from sdbench.rl.run_folder import claim_run_folder

    with claim_run_folder(cfg.run_dir):
        if cfg.method == "sft":
            from sdbench.rl.sft import sft

            return sft(cfg)
        return _train_rl(cfg)


def _train_rl(cfg: TrainConfig) -> Path:
    from sdbench.core.progress import progress
    from sdbench.core.progress import write as progress_write
    from sdbench.data.scoring import Scorer
    from sdbench.models.checkpoint import load_trainer_state, save_checkpoint
    from sdbench.rl.run_log import RunLog

    run_dir, data, spec, source, examples, resume_from, policy = setup_run(cfg)
    reference = _reference_model(policy, cfg)
    scorer = Scorer(spec, source, examples, metrics=(), reward=cfg.reward, holistic=cfg.holistic_reward)
    optimizer = torch.optim.AdamW([p for p in policy.model.parameters() if p.requires_grad],
                                  lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0)
    start = 0
    if resume_from is not None:
        start = load_trainer_state(resume_from, optimizer, scheduler).step
        print(f"resuming {run_dir} from step {start}", file=sys.stderr)
    backend = make_backend(cfg.rollout_backend, policy, seed=cfg.seed, trust_remote_code=cfg.trust_remote_code)
    params = SamplingParams(cfg.max_new_tokens, cfg.temperature, cfg.top_p)
    config_record = json.loads(json.dumps(asdict(cfg), default=str))
    provenance_record = {"task": {"name": spec.name, "version": spec.version, "source": source,
                                  "content_hash": data.manifest["content_hash"]},
                         "reward": scorer.reward, "holistic_reward": scorer.holistic}
    log = RunLog(run_dir, tensorboard=cfg.tensorboard, resume_step=start)
    log.write_run_info({"config": config_record, **provenance_record, "model": policy.name,
                        "num_train_examples": len(examples)})
    bar = progress(range(start, cfg.steps), initial=start, total=cfg.steps, desc=f"{cfg.method} {spec.name}",
                   unit="step")
    zero_run = 0  # consecutive steps whose advantages were all 0
    warned_cut = False
    for step in bar:
        metrics = train_step(cfg, step, policy, reference, backend, params, scorer, examples, optimizer, scheduler)
        log.log(step + 1, metrics)
        cut = None if warned_cut else length_limit_warning(step + 1, metrics, cfg.max_new_tokens)
        if cut:
            progress_write(cut)
            warned_cut = True
        zero_run = zero_run + 1 if metrics["advantage/zero_fraction"] == 1.0 else 0
        if zero_run and zero_run % ZERO_ADVANTAGE_STEPS == 0:
            progress_write(zero_advantage_warning(step + 1, zero_run, metrics, scorer.reward))
        bar.set_postfix(reward=f"{metrics['reward/holistic']:.3f}", loss=f"{metrics['loss']:.4f}")
        if (step + 1) % cfg.save_every == 0 or step + 1 == cfg.steps:
            save_checkpoint(run_dir, step + 1, policy.model, policy.processor, optimizer, scheduler,
                            config_record, extra=provenance_record)
    log.close()
    print(f"trained {cfg.steps} steps; run folder {run_dir} (metrics.jsonl, checkpoints/)", file=sys.stderr)
    return run_dir


ZERO_ADVANTAGE_STEPS = 5
"""Warn after this many steps in a row with every advantage 0 (no gradient at all)."""


def zero_advantage_warning(step: int, run: int, metrics: dict[str, Any], reward: str) -> str:
    """The warning for `run` steps in a row (ending at `step`) in which every token's advantage was 0."""
    return (f"warning: steps {step - run + 1}-{step}: every advantage was 0, so the policy got no gradient (loss "
            f"{metrics['loss']:.4f}): in every group all {reward} rewards were equal (this step's mean "
            f"{metrics['reward/holistic']:.3f}). The reward does not tell this policy's samples apart: warm-start it "
            "first (sdbench train --method sft), pick a reward that varies (--reward), or raise --group-size / "
            "--temperature")


CUT_FRACTION = 0.5
"""Warn (once) at the first step in which more than this share of the rollouts hit --max-new-tokens."""


def length_limit_warning(step: int, metrics: dict[str, Any], max_new_tokens: int) -> str | None:
    """The warning for a step in which most rollouts were cut at the generation limit, or None.

    >>> length_limit_warning(1, {"finished_fraction": 0.75}, 96) is None
    True
    >>> length_limit_warning(3, {"finished_fraction": 0.25, "segments_found": 0.4}, 96)[:62]
    'warning: step 3: 75 % of the rollouts hit --max-new-tokens 96 '
    """
    cut = 1.0 - metrics["finished_fraction"]
    if cut <= CUT_FRACTION:
        return None
    return (f"warning: step {step}: {cut * 100:.0f} % of the rollouts hit --max-new-tokens {max_new_tokens} before "
            f"they ended (segments found per expected: {metrics.get('segments_found', float('nan')):.2f}). The segments after "
            "the cut score 0 in every rollout of a group, so they get no advantage, and a whole-output reward "
            "(CIDEr-D's length penalty) collapses towards 0: raise --max-new-tokens to the length of the task's "
            "references (`sdbench show` prints examples)")


# ---- one step -----------------------------------------------------------------------------------------------
def train_step(cfg: TrainConfig, step: int, policy, reference, backend, params: SamplingParams, scorer,
               examples: list[Example], optimizer, scheduler) -> dict[str, Any]:
    from sdbench.data.token_spans import decode_with_offsets
    from sdbench.models.chat_inputs import build_training_batch

    t0 = time.perf_counter()
    prompts = sample_prompts(examples, cfg.prompts_per_step, cfg.seed, step)
    G = cfg.group_size
    backend.sync_weights(policy.model)
    rollouts = backend.generate(prompts, G, params)
    t_generate = time.perf_counter() - t0

    # ---- reward: decode, segment, score -------------------------------------------------------------------
    rows = [ex for ex in prompts for _ in range(G)]                                    # B examples, prompt-major
    decoded = [decode_with_offsets(ids, policy.tokenizer) for ids in rollouts.completion_ids]
    scores = scorer.score(rows, [d.text for d in decoded], hit_length_limit=[not f for f in rollouts.finished])
    B = len(rows)
    T = max(1, max(len(ids) for ids in rollouts.completion_ids))
    holistic = torch.tensor([s.holistic_reward for s in scores])                        # (B,)
    tensors = segment_tensors(ScoredBatch(scores, decoded), T)  # (B, S) rewards/mask/found, (B, T) ids/mask
    seg_rewards, seg_mask, seg_found = tensors.segment_rewards, tensors.segment_mask, tensors.segment_found
    token_ids, completion_mask = tensors.token_segment_ids, tensors.completion_mask
    S = seg_rewards.shape[1]
    old_logps = torch.zeros(B, T)                                                       # (B, T)
    for i, logps in enumerate(rollouts.logprobs):
        old_logps[i, :len(logps)] = torch.tensor(logps)
    t_score = time.perf_counter() - t0 - t_generate

    # ---- credit assignment ---------------------------------------------------------------------------------
    inputs = AdvantageInputs(rewards=holistic, completion_mask=completion_mask, segment_rewards=seg_rewards,
                             segment_mask=seg_mask, segment_found=seg_found, token_segment_ids=token_ids)
    kwargs: dict[str, Any] = {}
    if cfg.method.startswith("sd-") or cfg.method == "hybrid":
        kwargs["outside"] = cfg.outside
    if cfg.method == "hybrid":
        kwargs["hybrid_lambda"] = cfg.hybrid_lambda
    advantages = ADVANTAGE_ESTIMATORS[cfg.method](inputs, G, **kwargs)                  # (B, T)
    scaled = SCALED[cfg.method]
    hol_adv = holistic_advantages(holistic, G, scale_by_std=scaled)                     # (B,)
    seg_adv = segment_advantages(seg_rewards, seg_mask, seg_found, G, scale_by_std=scaled)  # (B, S)

    # ---- policy update: micro-batches accumulate exactly one batch's gradient ------------------------------
    # the prompts go through the processor once per step (P examples, repeated G times); each micro-batch is cut
    # out of that batch (logprobs.micro_batch: the same tensors as building it from its own rows), and the rows of
    # one prompt share a pass over it (logprobs.completion_logprobs)
    full_batch = build_training_batch(policy, prompts, rollouts.completion_ids, num_repeats=G)
    images_per_row = [len(ex.images) for ex in rows]
    example_of_row = [i // G for i in range(B)]                                        # rows of a prompt: consecutive
    policy.model.train()
    optimizer.zero_grad(set_to_none=True)
    num_tokens = int(completion_mask.sum())
    totals: dict[str, float] = {"loss": 0.0}
    stat_sums: dict[str, float] = {}
    entropy_sum, logp_gap = 0.0, 0.0
    for lo in range(0, B, cfg.micro_batch_size):
        hi = min(B, lo + cfg.micro_batch_size)
        batch = micro_batch(full_batch, lo, hi, images_per_row)
        loss, stats, entropy, gap = _micro_batch_loss(cfg, policy, reference, batch, example_of_row[lo:hi],
                                                      images_per_row[lo:hi], old_logps[lo:hi], advantages[lo:hi],
                                                      completion_mask[lo:hi])
        mb_tokens = int(completion_mask[lo:hi].sum())
        weight = mb_tokens / max(1, num_tokens) if cfg.loss_aggregation == "token-mean" else (hi - lo) / B
        (loss * weight).backward()
        totals["loss"] += float(loss.detach()) * weight
        for name, value in stats.items():
            stat_sums[name] = stat_sums.get(name, 0.0) + float(value) * mb_tokens
        entropy_sum += entropy
        logp_gap = max(logp_gap, gap)
    grad_norm = torch.nn.utils.clip_grad_norm_(policy.model.parameters(),
                                               cfg.max_grad_norm if cfg.max_grad_norm > 0 else float("inf"))
    optimizer.step()
    scheduler.step()
    t_total = time.perf_counter() - t0

    # ---- metrics -------------------------------------------------------------------------------------------
    metrics: dict[str, Any] = {
        "loss": totals["loss"], "reward/holistic": float(holistic.mean()),
        "reward/segment": float(seg_rewards[seg_mask].mean()),
        "reward/by_position": {str(k + 1): float(seg_rewards[seg_mask[:, k], k].mean())
                               for k in range(S) if seg_mask[:, k].any()},
        "segments_found": float(seg_found.sum() / seg_mask.sum()),
        "advantage/mean": float(advantages[completion_mask].mean()),
        "advantage/std": float(advantages[completion_mask].std()) if num_tokens > 1 else 0.0,
        "advantage/abs_max": float(advantages[completion_mask].abs().max()),
        "advantage/zero_fraction": float((advantages[completion_mask] == 0).float().mean()),
        "misattribution_rate": misattribution_rate(hol_adv, seg_adv, seg_mask),
        "entropy": entropy_sum / max(1, num_tokens),
        "logprob_gap_max": logp_gap,
        "grad_norm": float(grad_norm),
        "learning_rate": scheduler.get_last_lr()[0],
        "completion_length": num_tokens / B,
        "finished_fraction": sum(rollouts.finished) / B,
        "tokens_per_second": num_tokens / t_total,
        "seconds/generate": t_generate, "seconds/score": t_score, "seconds/step": t_total,
        "peak_memory_mb": peak_memory_mb(),
    }
    metrics.update({name: total / max(1, num_tokens) for name, total in stat_sums.items()})
    return metrics


def _micro_batch_loss(cfg: TrainConfig, policy, reference, batch, example_of_row, images_per_row, old_logps,
                      advantages, mask):
    T = batch.completion_ids.shape[1]
    layout = dict(example_of_row=example_of_row, images_per_row=images_per_row)  # rows of a prompt share its pass
    logps, entropy = completion_logprobs(policy, batch, cfg.temperature, **layout)     # (b, T)
    mask, old, adv = mask[:, :T], old_logps[:, :T], advantages[:, :T]
    ref_logps = None
    if reference is not None:
        with torch.no_grad():
            ref_logps, _ = completion_logprobs(reference, batch, cfg.temperature, **layout)
    loss, stats = clipped_pg_loss(logps, old, adv, mask, clip_eps_low=cfg.clip_eps_low,
                                  clip_eps_high=cfg.clip_eps_high, beta=cfg.beta, ref_logps=ref_logps,
                                  aggregation=cfg.loss_aggregation, max_completion_length=cfg.max_new_tokens)
    gap = float((logps.detach() - old).abs()[mask].max()) if mask.any() else 0.0
    return loss, stats, float(entropy.detach()[mask].sum()), gap


# ---- helpers ------------------------------------------------------------------------------------------------
def sample_prompts(examples: list[Example], num: int, seed: int, step: int) -> list[Example]:
    """P prompts for a step, drawn without replacement by (seed, step) alone (resume-safe)."""
    rng = random.Random(f"prompts-{seed}-{step}")
    return rng.sample(examples, num) if num <= len(examples) else [rng.choice(examples) for _ in range(num)]


def _reference_model(policy, cfg: TrainConfig):
    """A frozen copy of the initial policy for the KL term (None when beta = 0)."""
    if cfg.beta == 0:
        return None
    reference = copy.copy(policy)
    reference.model = copy.deepcopy(policy.model).eval()
    for p in reference.model.parameters():
        p.requires_grad_(False)
    return reference


def peak_memory_mb() -> float:
    """Peak memory: CUDA's max allocated when a GPU is in use, else the process's peak RSS."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
