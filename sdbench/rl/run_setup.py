"""What RL and SFT runs share before their loops: threads, the train examples, the resume point, seeds, the policy."""

from __future__ import annotations

import json
import random
from dataclasses import asdict
from pathlib import Path

import torch

from sdbench.data.task_data import load_split
from sdbench.rl.train_config import TrainConfig


def setup_run(cfg: TrainConfig):
    """What RL and SFT runs share before their loops: threads, data, the resume point, seeds, the policy.

    Returns (run_dir, task data, spec, source, train examples, checkpoint to resume from or None, policy)."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    from sdbench.rl.run_folder import resume_point

    run_dir = cfg.run_dir
    data, spec, source, examples = load_train_examples(cfg)
    resume_from = resume_point(run_dir, json.loads(json.dumps(asdict(cfg), default=str)), cfg.resume,
                               content_hash=data.manifest["content_hash"])
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    return run_dir, data, spec, source, examples, resume_from, resolve_policy(cfg, resume_from)


def load_train_examples(cfg: TrainConfig):
    """The task data, its spec and source, and the train examples (filtered by K)."""
    return load_split(cfg.task, "train", cfg.segments)


def resolve_policy(cfg: TrainConfig, resume_from: Path | None):
    """The policy to train: a resumed checkpoint, the embedded default, or any HF model / run / checkpoint."""
    from sdbench.models.model_ref import resolve_model
    from sdbench.models.policy import load_policy

    source = str(resume_from) if resume_from is not None else resolve_model(cfg.model).load_from
    return load_policy(source, trust_remote_code=cfg.trust_remote_code)
