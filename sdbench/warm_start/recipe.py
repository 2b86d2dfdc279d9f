"""How the embedded default model is made: `DefaultModelSpec`'s recipe run into a folder, offline.

    1. build the synthetic tasks (train split, K in `segments`, source options `task_options`) into the cache
    2. train a byte-level BPE tokenizer on their prompts and references
    3. build a random-weight Qwen2.5-VL of `hidden_size` x `num_layers` (vision tower 96 x 2, 224 px images,
       at most 64 vision tokens per image)
    4. run `phases` in order: the vision warm-up (sdbench.warm_start.vision_warmup: the vision tower learns to name
       the colour, shape, size and grid cell of the multipanel object under each vision token, from the generator's
       scene graphs), then SFT phases with the vision tower frozen: alignment on multipanel after a short prompt,
       instruction on every task with its own prompts, instruction on one task
    5. the warm-start report (sdbench.warm_start.report): greedy outputs on held-out synthetic test examples per
       task and K, scored with each task's reward, beside the same prompts with every image swapped for another
       example's (the control: a policy that reads the image loses reward when the image is wrong)

`ensure_default_model(spec)` returns the shipped or cached model, building it into the cache first when it is
neither (written atomically); `scripts/build_default_model.py` runs `build` to make the shipped weights.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sdbench.core.provenance import provenance
from sdbench.models.default_model import (DEFAULT, SHIPPED_DIR, DefaultModelSpec, built_folder, cache_root,
                                          default_model, spec_key, task_options)
from sdbench.warm_start.report import print_report, warmstart_report

ALIGN_PROMPT = "Describe the {num_segments} panels."


def ensure_default_model(spec: DefaultModelSpec = DEFAULT, quiet: bool = False) -> Path:
    """The default model of `spec` (sdbench.models.default_model.default_model), built into the cache on first use."""
    if spec == DEFAULT and SHIPPED_DIR.is_dir():
        return default_model(spec)  # a changed or missing shipped file is an error with its fix, never a rebuild
    folder = built_folder(spec)
    if (folder / "warmstart.json").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=folder.parent))
    try:
        report = build(spec, staging, quiet)
        (staging / "warmstart.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        try:
            os.replace(staging, folder)
        except OSError:  # another process finished first: keep theirs
            if not (folder / "warmstart.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def build(spec: DefaultModelSpec, out: Path, quiet: bool, start: tuple[Path, int] | None = None) -> dict[str, Any]:
    """Run `spec`'s recipe into `out`; `start` = (folder, n): continue from the model in `folder`, which holds the
    result of the first n phases of this very recipe (e.g. the previous shipped version, whose recipe is a prefix
    of this one), instead of building those again."""
    import torch
    from transformers.utils import logging as hf_logging

    from sdbench.data.task_data import load_task_data
    from sdbench.models.policy import load_policy
    from sdbench.models.tiny_vlm import VisionTower, build_tiny_vlm, corpus_texts, train_tokenizer
    from sdbench.rl.sft import sft_steps
    from sdbench.warm_start.vision_warmup import vision_warmup

    say = (lambda *a: None) if quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))
    hf_logging.disable_progress_bar()
    t0 = time.perf_counter()
    say(f"building the default model ({spec.arch} {spec.hidden_size}x{spec.num_layers}) into {out.parent}; "
        "this happens once")
    folders = build_spec_tasks(spec)
    by_task = {task: list(load_task_data(folder).examples("train")) for task, folder in folders.items()}
    train = [ex for examples in by_task.values() for ex in examples]
    done = 0
    if start is None:
        tokenizer = train_tokenizer(corpus_texts(train), spec.vocab_size, spec.arch)
        torch.manual_seed(spec.seed)
        build_tiny_vlm(spec.arch, tokenizer, out, hidden_size=spec.hidden_size, num_layers=spec.num_layers,
                       vision=VisionTower(hidden_size=spec.vision_hidden_size, num_layers=spec.vision_layers),
                       image_size=spec.image_size, seed=spec.seed, overwrite=True)
    else:
        folder, done = start
        for path in Path(folder).iterdir():
            if path.is_file() and path.name != "warmstart.json":
                shutil.copy2(path, out / path.name)
        say(f"  continuing from {folder}: phases 1-{done} of the recipe are in it")
    policy = load_policy(str(out))
    panels = [ex for ex in train if "scene_graphs" in ex.meta]
    short = [dataclasses.replace(ex, prompt=ALIGN_PROMPT.format(num_segments=ex.num_segments)) for ex in panels]
    data = {"align-k1": ("alignment SFT, K=1, short prompt", [ex for ex in short if ex.num_segments == 1]),
            "align": ("alignment SFT, every K, short prompt", short),
            "instruct": (f"instruction SFT, {len(spec.tasks)} tasks, their prompts", train)}
    history: list[dict] = []
    losses: list[float] = []
    sft_index = 0  # the seed of an SFT phase: spec.seed + its index among the SFT phases
    for number, (kind, steps) in enumerate(spec.phases, 1):
        if kind != "vision":  # the vision tower learns in the vision phase only
            for parameter in policy.model.model.visual.parameters():
                parameter.requires_grad_(False)
        if number <= done:
            sft_index += kind != "vision"
            continue
        if kind == "vision":
            say(f"  phase {number}, vision warm-up: {steps} steps of {spec.vision_warmup_batch} multipanel images")

            def on_vision_step(step: int, metrics: dict, steps=steps) -> None:
                history.append(metrics)
                if (step + 1) % 250 == 0 or step + 1 == steps:
                    window = history[-250:]
                    say(f"    vision step {step + 1}/{steps}: " + ", ".join(
                        f"{k.split('/')[-1]} {sum(h[k] for h in window) / len(window):.3f}" for k in metrics)
                        + f" ({time.perf_counter() - t0:.0f}s)")

            vision_warmup(policy, panels, int(task_options(spec, "multipanel").get("panel_size", 128)), steps,
                          spec.vision_warmup_batch, spec.vision_warmup_learning_rate, spec.seed, on_step=on_vision_step)
            continue
        if kind.startswith("instruct:"):
            task = kind.split(":", 1)[1]
            name, examples = f"instruction SFT, {task} only, its prompts", by_task[task]
        else:
            name, examples = data[kind]
        say(f"  phase {number}, {name}: {steps} steps of {spec.sft_batch} on {len(examples)} examples")

        def on_step(step: int, metrics: dict, steps=steps) -> None:
            losses.append(metrics["loss"])
            if (step + 1) % 100 == 0 or step + 1 == steps:
                say(f"    step {step + 1}/{steps}: loss {sum(losses[-100:]) / len(losses[-100:]):.3f} "
                    f"({time.perf_counter() - t0:.0f}s)")

        losses.clear()
        sft_steps(policy, examples, steps, spec.sft_batch, spec.sft_learning_rate, spec.seed + sft_index,
                  on_step=on_step, warmup_steps=spec.sft_warmup_steps)
        sft_index += 1
    policy.model.save_pretrained(out, safe_serialization=True)
    say("  warm-start report (greedy decoding on held-out synthetic examples):")
    report = {"spec": asdict(spec), "sft_final_loss": sum(losses[-100:]) / max(1, len(losses[-100:])),
              "vision_warmup_final": {k: sum(h[k] for h in history[-250:]) / max(1, len(history[-250:]))
                                      for k in (history[-1] if history else {})},
              "started_from": None if start is None else {"folder": Path(start[0]).name, "phases_done": done},
              "seconds": None, **warmstart_report(out, folders, policy=policy),
              **provenance("torch", "transformers")}
    print_report(report, indent="    ", say=say)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    say(f"  default model ready in {report['seconds']:.0f}s")
    return report


def build_spec_tasks(spec: DefaultModelSpec) -> dict[str, Path]:
    """The synthetic tasks the default model is made from (train: SFT data; test: the warm-start report)."""
    from sdbench.data.build_task import BuildTaskConfig, build_task

    return {task: build_task(BuildTaskConfig(
        task=task, segments=spec.segments, n_train=spec.n_train, n_test=spec.eval_per_k * len(spec.segments),
        seed=spec.seed, options=task_options(spec, task),
        out=cache_root() / "tasks" / f"{task}-default-{spec_key(spec)}"), quiet=True) for task in spec.tasks}
