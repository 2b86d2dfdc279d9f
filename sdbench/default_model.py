"""The embedded default policy: a small Qwen2.5-VL built locally and warm-started by SFT, built once and cached.

RL needs a policy that is imperfect but far from random. `default_model()` builds one on the synthetic train
splits of the three tasks, with no download:

    1. build the synthetic tasks (train split, K in `segments`, source options `task_options`) into the cache
    2. train a byte-level BPE tokenizer on their prompts and references
    3. build a random-weight Qwen2.5-VL of `hidden_size` x `num_layers` (vision tower 96 x 2, 224 px images,
       at most 64 vision tokens per image)
    4. SFT on the holistic references of all three tasks (`sft_steps` steps of `sft_batch` examples)
    5. greedy-decode a few test examples per task and K and score them: the per-segment reward by K before RL,
       written to `warmstart.json` beside the weights and printed

The folder is keyed by a hash of `DefaultModelSpec` and of the code that makes it (generators, model builder,
SFT), lives under `$SDBENCH_CACHE` (default `~/.cache/sdbench`), and is written atomically: a second call, or
another process, reuses it. Architecture and size were chosen by measurement on 2 CPU cores
(`scripts/bench_tiny_vlm.py`, README "The embedded default model").
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sdbench.provenance import provenance


@dataclass(frozen=True)
class DefaultModelSpec:
    arch: str = "qwen2_5_vl"
    hidden_size: int = 256
    num_layers: int = 4
    vision_hidden_size: int = 96
    vision_layers: int = 2
    image_size: int = 224
    vocab_size: int = 2048
    tasks: tuple[str, ...] = ("multipanel", "multichart", "subfigure")
    segments: tuple[int, ...] = (1, 2, 4)
    task_options: tuple[tuple[str, str, str], ...] = (
        ("multipanel", "max_objects", "1"), ("multipanel", "relations", "false"), ("multipanel", "background", "false"))
    """(task, option, value) source options of the synthetic data, as `build-task --options` takes them. Multipanel
    with one shape per panel, no relations and a white background: ≈ 12 tokens per panel instead of ≈ 50, which
    CPU RL can afford (`sdbench pipeline` builds its multipanel task with the same options)."""
    n_train: int = 1500
    """Synthetic train examples per task (tokenizer corpus and SFT data)."""
    sft_steps: int = 300
    sft_batch: int = 8
    sft_learning_rate: float = 2e-3
    sft_warmup_steps: int = 30
    eval_per_k: int = 4
    """Test examples per task and K decoded for the warm-start report."""
    seed: int = 0


DEFAULT = DefaultModelSpec()
CODE_FILES = ("tiny_vlm.py", "rl/sft.py", "chat_inputs.py", "default_model.py")


def cache_root() -> Path:
    return Path(os.environ.get("SDBENCH_CACHE", Path.home() / ".cache" / "sdbench"))


def spec_key(spec: DefaultModelSpec) -> str:
    """Hash of the spec and of the code that turns it into weights (task generators included)."""
    from sdbench.build_task import code_hash
    from sdbench.task import load_task

    package = Path(__file__).resolve().parent
    h = hashlib.sha256(json.dumps(asdict(spec), sort_keys=True).encode())
    for name in CODE_FILES:
        h.update((package / name).read_bytes())
    for task in spec.tasks:
        h.update(code_hash(load_task(task)).encode())
    return h.hexdigest()[:16]


def default_model_name(spec: DefaultModelSpec = DEFAULT) -> str:
    """The default model's name (its cache folder's): architecture + hash of spec and code; no build needed."""
    return f"default-model-{spec.arch}-{spec_key(spec)}"


def task_options(spec: DefaultModelSpec, task: str) -> dict[str, str]:
    """The source options the default model's synthetic data of `task` is built with."""
    return {option: value for name, option, value in spec.task_options if name == task}


def default_model(spec: DefaultModelSpec = DEFAULT, quiet: bool = False) -> Path:
    """The folder of the warm-started default model (built on first use, then reused)."""
    folder = cache_root() / default_model_name(spec)
    if (folder / "warmstart.json").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=folder.parent))
    try:
        report = _build(spec, staging, quiet)
        (staging / "warmstart.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        try:
            os.replace(staging, folder)
        except OSError:  # another process finished first: keep theirs
            if not (folder / "warmstart.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _build(spec: DefaultModelSpec, out: Path, quiet: bool) -> dict[str, Any]:
    import torch
    from transformers.utils import logging as hf_logging

    from sdbench.build_task import build_task
    from sdbench.configs import BuildTaskConfig
    from sdbench.policy import load_policy
    from sdbench.rl.sft import sft_steps
    from sdbench.task_data import load_task_data
    from sdbench.tiny_vlm import VisionTower, build_tiny_vlm, corpus_texts, train_tokenizer

    say = (lambda *a: None) if quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))
    hf_logging.disable_progress_bar()
    t0 = time.perf_counter()
    say(f"building the default model ({spec.arch} {spec.hidden_size}x{spec.num_layers}) into {out.parent}; "
        "this happens once")
    train, test = [], {}
    for task in spec.tasks:
        folder = build_task(BuildTaskConfig(
            task=task, segments=spec.segments, n_train=spec.n_train, n_test=spec.eval_per_k * len(spec.segments),
            seed=spec.seed, options=task_options(spec, task),
            out=cache_root() / "tasks" / f"{task}-default-{spec_key(spec)}"), quiet=True)
        data = load_task_data(folder)
        train += list(data.examples("train"))
        test[task] = list(data.examples("test"))
    tokenizer = train_tokenizer(corpus_texts(train), spec.vocab_size, spec.arch)
    torch.manual_seed(spec.seed)
    build_tiny_vlm(spec.arch, tokenizer, out, hidden_size=spec.hidden_size, num_layers=spec.num_layers,
                   vision=VisionTower(hidden_size=spec.vision_hidden_size, num_layers=spec.vision_layers),
                   image_size=spec.image_size, seed=spec.seed, overwrite=True)
    policy = load_policy(str(out))
    say(f"  tokenizer + model built ({time.perf_counter() - t0:.0f}s); SFT warm-start: {spec.sft_steps} steps "
        f"of {spec.sft_batch} on {len(train)} examples")
    losses: list[float] = []

    def on_step(step: int, metrics: dict) -> None:
        losses.append(metrics["loss"])
        if not quiet and ((step + 1) % 25 == 0 or step + 1 == spec.sft_steps):
            say(f"  sft step {step + 1}/{spec.sft_steps}: loss {sum(losses[-25:]) / len(losses[-25:]):.3f} "
                f"({time.perf_counter() - t0:.0f}s)")

    sft_steps(policy, train, spec.sft_steps, spec.sft_batch, spec.sft_learning_rate, spec.seed, on_step=on_step,
              warmup_steps=spec.sft_warmup_steps)
    policy.model.save_pretrained(out, safe_serialization=True)
    say("  warm-start report (greedy decoding on held-out synthetic examples):")
    report = {"spec": asdict(spec), "sft_final_loss": sum(losses[-25:]) / max(1, len(losses[-25:])),
              "seconds": None, "reward_by_k": {}, **provenance("torch", "transformers")}
    for task, examples in test.items():
        report["reward_by_k"][task] = by_k = warmstart_rewards(policy, task, examples)
        say(f"    {task:<11} " + "  ".join(f"K={k}: {v:.3f}" for k, v in by_k.items()))
    report["seconds"] = round(time.perf_counter() - t0, 1)
    say(f"  default model ready in {report['seconds']:.0f}s")
    return report


def warmstart_rewards(policy, task: str, examples, max_new_tokens: int = 256) -> dict[str, float]:
    """Mean per-segment reward by K of greedy outputs (the task source's reward metric)."""
    from sdbench.rollout.backend import SamplingParams
    from sdbench.rollout.hf_backend import HFBackend
    from sdbench.scoring import Scorer
    from sdbench.task import load_task
    from sdbench.token_spans import decode_with_offsets

    rollouts = HFBackend(policy).generate(examples, 1, SamplingParams(max_new_tokens, greedy=True))
    texts = [decode_with_offsets(ids, policy.tokenizer).text for ids in rollouts.completion_ids]
    scores = Scorer(load_task(task), "synthetic", examples, metrics=()).score(examples, texts)
    by_k: dict[int, list[float]] = {}
    for s in scores:
        by_k.setdefault(s.num_segments, []).extend(s.segment_rewards)
    return {str(k): sum(v) / len(v) for k, v in sorted(by_k.items())}
