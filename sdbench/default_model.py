"""The embedded default policy: a small Qwen2.5-VL that sees, shipped with sdbench (and rebuildable offline).

RL needs a policy that is imperfect but far from random, and that reads the image. `default_model()` returns the
shipped weights (`sdbench/assets/default-model-v2/`, safetensors, their sha256 checked on every load against
`SHIPPED`): greedy decoding and training on CPUs of one kind then start from the same bytes on every machine.
Without them (a checkout that dropped the assets, or another `DefaultModelSpec`) it builds the model into the
cache, as `scripts/build_default_model.py` does to make the shipped ones:

    1. build the synthetic tasks (train split, K in `segments`, source options `task_options`) into the cache
    2. train a byte-level BPE tokenizer on their prompts and references
    3. build a random-weight Qwen2.5-VL of `hidden_size` x `num_layers` (vision tower 96 x 2, 224 px images,
       at most 64 vision tokens per image)
    4. run `phases` in order: the vision warm-up (sdbench.vision_warmup: the vision tower learns to name the
       colour, shape, size and grid cell of the multipanel object under each vision token, from the generator's
       scene graphs), then SFT phases with the vision tower frozen: alignment on multipanel after a short prompt,
       instruction on every task with its own prompts, instruction on one task
    5. the warm-start report (`warmstart_report`): greedy outputs on held-out synthetic test examples per task
       and K, scored with each task's reward, beside the same prompts with every image swapped for another
       example's (the control: a policy that reads the image loses reward when the image is wrong)

A built folder is keyed by a hash of `DefaultModelSpec` and of the code that makes it, lives under
`$SDBENCH_CACHE` (default `~/.cache/sdbench`) and is written atomically. A bit-exact rebuild on another CPU is not
promised (float reductions differ between CPU kinds): that is why the weights are shipped. Architecture, size
and recipe were chosen by measurement on 2 CPU cores (README, "The embedded default model").
"""

from __future__ import annotations

import dataclasses
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

from sdbench.errors import SdbenchError
from sdbench.provenance import provenance


PHASES = ("vision", "align-k1", "align", "instruct")
V1_PHASES = (("vision", 1500), ("align-k1", 1500), ("align", 1500), ("instruct", 800))
"""default-model-v1's recipe."""
V2_PHASES = (*V1_PHASES, ("align", 1500), ("instruct", 1500), ("instruct:multipanel", 500), ("instruct", 300))
"""default-model-v2's: v1's, then alignment again, a longer instruction stage, instruction on the RL task, and a
short one on every task to bring the other tasks' formats back (README, "The embedded default model", says why)."""


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
    n_train: int = 3000
    """Synthetic train examples per task (tokenizer corpus and SFT data)."""
    phases: tuple[tuple[str, int], ...] = V2_PHASES
    """The recipe, in order: (kind, steps) with kind one of PHASES. `vision` trains the vision tower alone (and
    freezes it after); `align-k1` / `align`: alignment SFT (LLaVA's stage 1) on multipanel references after the
    short prompt ALIGN_PROMPT, K = 1 only / every K; `instruct`: SFT on every task with its own prompts;
    `instruct:<task>`: the same on one task (e.g. the task RL trains on, last, so it gets the final steps). A short
    prompt puts ~30 tokens between the answer and the image instead of ~250, so the decoder learns to read the
    vision tokens in far fewer (and ~3x cheaper) steps."""
    vision_warmup_batch: int = 16
    vision_warmup_learning_rate: float = 2e-3
    sft_batch: int = 8
    sft_learning_rate: float = 2e-3
    sft_warmup_steps: int = 30
    eval_per_k: int = 32
    """Test examples per task and K decoded for the warm-start report (the pipeline's test split: same seed,
    options and size, so `sdbench pipeline` recomputes this very report)."""
    seed: int = 0

    def __post_init__(self):
        bad = [kind for kind, _ in self.phases
               if kind not in PHASES and not (kind.startswith("instruct:") and kind[len("instruct:"):] in self.tasks)]
        if bad or any(steps < 0 for _, steps in self.phases):
            raise SdbenchError(f"DefaultModelSpec.phases: kinds must be {PHASES} with steps >= 0, got {self.phases}")
        if any(kind == "vision" for kind, _ in self.phases[1:]):
            raise SdbenchError("DefaultModelSpec.phases: `vision` can only come first (the tower is frozen after it)")


DEFAULT = DefaultModelSpec()
CODE_FILES = ("tiny_vlm.py", "vision_warmup.py", "rl/sft.py", "chat_inputs.py", "default_model.py")
ALIGN_PROMPT = "Describe the {num_segments} panels."
SHIPPED_NAME = "default-model-v2"
"""The shipped default's versioned name: results and boards name `--model default` by it."""
SHIPPED_DIR = Path(__file__).resolve().parent / "assets" / SHIPPED_NAME
SHIPPED_SHA256 = {
    "chat_template.jinja": "12eb1aa76536cadea0a91d2768c864e879662e2f477c93aad11b85510fa046ea",
    "config.json": "b5d26ab419af2893d92293a0b6867fd787c6134cb1265764d6cd70cc34aa4f90",
    "generation_config.json": "49c04b610e868e7172f22f85b7645f7df571690cdea920ba4025c032f254f66c",
    "model.safetensors": "5c060782e8ca47a873c477de144a85a3e97586fd4967da10b89826e6d108d2c1",
    "processor_config.json": "669ae91b4a0d0ecb30f2a7d5453dd687b772ed865389f4efa43f61620629a4f5",
    "tiny_vlm.json": "ec6d0b259dc7e9bc57e3ed29364431e12768ec3feaa56f0bebc361b080e06f5e",
    "tokenizer.json": "39d8bf2e32a75f25a4e6595013ce8fe908500168048c49d06e251f2b77188de0",
    "tokenizer_config.json": "4e999b53919aaff3ac8d357052dc6de028b5e72f11eb3cb1ed82e1e5b34be963",
}
"""sha256 of the shipped files that decide every output; checked on each load (scripts/build_default_model.py
prints these for a new build)."""


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
    """The default model's name: the shipped version's for the default spec when shipped, else architecture +
    hash of spec and code (the cache folder's name); no build needed."""
    if spec == DEFAULT and SHIPPED_DIR.is_dir():
        return SHIPPED_NAME
    return f"default-model-{spec.arch}-{spec_key(spec)}"


def shipped_model() -> Path | None:
    """The shipped weights' folder after checking every hash in SHIPPED_SHA256; None when not shipped."""
    if not SHIPPED_DIR.is_dir():
        return None
    for name, expected in SHIPPED_SHA256.items():
        path = SHIPPED_DIR / name
        if not path.is_file():
            raise SdbenchError(f"{path}: missing from the shipped default model; restore it (git checkout -- {path}) "
                               "or rebuild with python scripts/build_default_model.py")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != expected:
            raise SdbenchError(f"{path}: sha256 {digest[:16]}… is not the shipped {expected[:16]}…; the file was "
                               f"changed or is a Git LFS pointer: restore it (git checkout -- {path}) or rebuild "
                               "with python scripts/build_default_model.py (and update SHIPPED_SHA256)")
    return SHIPPED_DIR


def task_options(spec: DefaultModelSpec, task: str) -> dict[str, str]:
    """The source options the default model's synthetic data of `task` is built with."""
    return {option: value for name, option, value in spec.task_options if name == task}


def default_model(spec: DefaultModelSpec = DEFAULT, quiet: bool = False) -> Path:
    """The folder of the warm-started default model: the shipped one (hash-checked) for the default spec, else
    built on first use into the cache, then reused."""
    if spec == DEFAULT and (shipped := shipped_model()) is not None:
        return shipped
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


def _build(spec: DefaultModelSpec, out: Path, quiet: bool, start: tuple[Path, int] | None = None) -> dict[str, Any]:
    """Run `spec`'s recipe into `out`; `start` = (folder, n): continue from the model in `folder`, which holds the
    result of the first n phases of this very recipe (e.g. the previous shipped version, whose recipe is a prefix
    of this one), instead of building those again."""
    import torch
    from transformers.utils import logging as hf_logging

    from sdbench.policy import load_policy
    from sdbench.rl.sft import sft_steps
    from sdbench.task_data import load_task_data
    from sdbench.tiny_vlm import VisionTower, build_tiny_vlm, corpus_texts, train_tokenizer
    from sdbench.vision_warmup import vision_warmup

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
    from sdbench.build_task import build_task
    from sdbench.configs import BuildTaskConfig

    return {task: build_task(BuildTaskConfig(
        task=task, segments=spec.segments, n_train=spec.n_train, n_test=spec.eval_per_k * len(spec.segments),
        seed=spec.seed, options=task_options(spec, task),
        out=cache_root() / "tasks" / f"{task}-default-{spec_key(spec)}"), quiet=True) for task in spec.tasks}


def warmstart_report(model: Path, task_folders: dict[str, Path], policy=None, threads: int = 0,
                     max_new_tokens: int = 256) -> dict[str, Any]:
    """Greedy per-segment reward by K on each task folder's test split, and the swapped-image control.

    {"reward_metric": {task: metric}, "reward_by_k": {task: {K: mean}}, "swapped_by_k": {task: {K: mean}},
     "num_by_k": {task: {K: examples}}}. The control decodes the same prompts with each example's images
    replaced by those of the next example of the same K (a cyclic shift), so the text asked for is unchanged and
    only the image is wrong: a policy that reads the image scores lower on it."""
    import torch

    from sdbench.policy import load_policy
    from sdbench.task_data import load_task_data

    if threads:
        torch.set_num_threads(threads)
    policy = policy or load_policy(str(model))
    report: dict[str, Any] = {"reward_metric": {}, "reward_by_k": {}, "swapped_by_k": {}, "num_by_k": {}}
    for task, folder in task_folders.items():
        data = load_task_data(folder)
        examples = list(data.examples("test"))
        rewards, metric = segment_rewards_by_k(policy, task, examples, max_new_tokens)
        swapped, _ = segment_rewards_by_k(policy, task, swap_images(examples), max_new_tokens)
        report["reward_metric"][task] = metric
        report["reward_by_k"][task] = {k: sum(v) / len(v) for k, v in rewards.items()}
        report["swapped_by_k"][task] = {k: sum(v) / len(v) for k, v in swapped.items()}
        report["num_by_k"][task] = {k: sum(1 for ex in examples if str(ex.num_segments) == k) for k in rewards}
    return report


def swap_images(examples: list) -> list:
    """Each example with the images of the next example of the same K (cyclic within K; order kept).

    >>> from sdbench.types import Example, Segment
    >>> seg = Segment(index=0, label="Panel 1:", reference="r")
    >>> exs = [Example(str(i), (f"img{i}",), "p", (seg,), "h") for i in range(3)]
    >>> [ex.images[0] for ex in swap_images(exs)]
    ['img1', 'img2', 'img0']
    """
    import dataclasses

    by_k: dict[int, list[int]] = {}
    for i, ex in enumerate(examples):
        by_k.setdefault(ex.num_segments, []).append(i)
    out = list(examples)
    for indices in by_k.values():
        for j, i in enumerate(indices):
            out[i] = dataclasses.replace(examples[i], images=examples[indices[(j + 1) % len(indices)]].images)
    return out


def segment_rewards_by_k(policy, task: str, examples, max_new_tokens: int = 256
                         ) -> tuple[dict[str, list[float]], str]:
    """({K: every segment's reward}, reward metric) of greedy outputs, scored with the task source's reward."""
    from sdbench.rollout.backend import SamplingParams
    from sdbench.rollout.hf_backend import HFBackend
    from sdbench.scoring import Scorer
    from sdbench.task import load_task
    from sdbench.token_spans import decode_with_offsets

    rollouts = HFBackend(policy).generate(examples, 1, SamplingParams(max_new_tokens, greedy=True))
    texts = [decode_with_offsets(ids, policy.tokenizer).text for ids in rollouts.completion_ids]
    scorer = Scorer(load_task(task), "synthetic", examples, metrics=())
    by_k: dict[int, list[float]] = {}
    for s in scorer.score(examples, texts):
        by_k.setdefault(s.num_segments, []).extend(s.segment_rewards)
    return {str(k): v for k, v in sorted(by_k.items())}, scorer.reward


def print_report(report: dict[str, Any], indent: str = "", say=print) -> None:
    """The warm-start report as one line per task: reward by K, and the swapped-image control beside it."""
    for task, by_k in report["reward_by_k"].items():
        swapped = report.get("swapped_by_k", {}).get(task, {})
        cells = "  ".join(f"K={k}: {v:.3f}" + (f" (swapped {swapped[k]:.3f})" if k in swapped else "")
                          for k, v in by_k.items())
        n = report.get("num_by_k", {}).get(task, {})
        count = f"  [{'/'.join(str(n[k]) for k in by_k)} examples]" if n else ""
        say(f"{indent}{task:<11} {report.get('reward_metric', {}).get(task, ''):<13} {cells}{count}")
