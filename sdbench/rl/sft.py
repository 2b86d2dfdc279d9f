"""`sdbench train --method sft`: supervised warm-start on a task's train split (teacher forcing on the
holistic reference: labelled segments, shared context first).

The loss is the mean negative log-likelihood of the reference tokens (end-of-turn token included); batches
are drawn by (seed, step) alone, so runs are reproducible and resumable like RL runs. `sft_steps(...)` is the
loop itself, reused by `sdbench.models.default_model` to warm-start the embedded default model.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import torch

from sdbench.core.types import Example
from sdbench.rl.train_config import TrainConfig


def sft_steps(policy, examples: Sequence[Example], steps: int, batch_size: int, learning_rate: float, seed: int,
              on_step: Callable[[int, dict], None] | None = None, start: int = 0, optimizer=None,
              warmup_steps: int = 0) -> torch.optim.Optimizer:
    """Run SFT steps [start, steps) on `examples`; returns the optimizer (for checkpointing)."""
    from sdbench.models.chat_inputs import build_training_batch

    model = policy.model
    model.train()
    if optimizer is None:
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=learning_rate)
    for step in range(start, steps):
        t0 = time.perf_counter()
        rng = random.Random(f"sft-{seed}-{step}")
        batch_examples = [rng.choice(examples) for _ in range(batch_size)]
        batch = build_training_batch(policy, batch_examples, [ex.holistic_reference for ex in batch_examples],
                                     num_repeats=1)
        logits = model(**batch.inputs).logits[:, batch.prompt_length - 1:-1]           # (B, T, V)
        mask = batch.completion_token_mask                                               # (B, T)
        nll = torch.nn.functional.cross_entropy(logits.float().transpose(1, 2), batch.completion_ids,
                                                reduction="none")                         # (B, T)
        loss = nll[mask].mean()
        for group in optimizer.param_groups:
            group["lr"] = learning_rate * min(1.0, (step + 1) / warmup_steps) if warmup_steps else learning_rate
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if on_step is not None:
            on_step(step, {"loss": float(loss.detach()), "grad_norm": float(grad_norm), "tokens": int(mask.sum()),
                           "seconds/step": time.perf_counter() - t0})
    return optimizer


def sft(cfg: TrainConfig) -> Path:
    """SFT `cfg.model` on `cfg.task` for `cfg.steps` steps of `cfg.micro_batch_size` examples."""
    from sdbench.core.progress import progress
    from sdbench.models.checkpoint import save_checkpoint
    from sdbench.rl.run_log import RunLog
    from sdbench.rl.run_setup import setup_run

    run_dir, data, spec, source, examples, resume_from, policy = setup_run(cfg)
    optimizer = torch.optim.AdamW([p for p in policy.model.parameters() if p.requires_grad], lr=cfg.learning_rate,
                                  weight_decay=cfg.weight_decay)
    start = 0
    if resume_from is not None:
        from sdbench.models.checkpoint import load_trainer_state

        start = load_trainer_state(resume_from, optimizer, None).step
    config_record = json.loads(json.dumps(asdict(cfg), default=str))
    log = RunLog(run_dir, tensorboard=cfg.tensorboard, resume_step=start)
    task_record = {"name": spec.name, "version": spec.version, "source": source,
                   "content_hash": data.manifest["content_hash"]}
    log.write_run_info({"config": config_record, "model": policy.name, "num_train_examples": len(examples),
                        "task": task_record})
    bar = progress(total=cfg.steps, initial=start, desc=f"sft {spec.name}", unit="step")

    def on_step(step: int, metrics: dict) -> None:
        log.log(step + 1, metrics)
        bar.update(1)
        bar.set_postfix(loss=f"{metrics['loss']:.3f}")
        if (step + 1) % cfg.save_every == 0 or step + 1 == cfg.steps:
            save_checkpoint(run_dir, step + 1, policy.model, policy.processor, optimizer, None, config_record,
                            extra={"task": task_record})

    sft_steps(policy, examples, cfg.steps, cfg.micro_batch_size, cfg.learning_rate, cfg.seed, on_step=on_step,
              start=start, optimizer=optimizer, warmup_steps=cfg.warmup_steps)
    bar.close()
    log.close()
    return run_dir
