"""The embedded default policy: a small Qwen2.5-VL that sees, shipped with sdbench; its recipe and where it is found.

RL needs a policy that is imperfect but far from random, and that reads the image. `default_model()` returns the
shipped weights (`sdbench/assets/default-model-v2/`, safetensors, their sha256 checked on every load against
`SHIPPED_SHA256`): greedy decoding and training on CPUs of one kind then start from the same bytes on every
machine. `DefaultModelSpec` is the architecture and the recipe (`phases`); sdbench.warm_start runs it (vision
warm-up, SFT, the warm-start report), as `scripts/build_default_model.py` does to make the shipped weights.
A build of another spec lives under `$SDBENCH_CACHE` (default `~/.cache/sdbench`), keyed by a hash of the spec and
of the code that makes it. A bit-exact rebuild on another CPU is not promised (float reductions differ between CPU
kinds): that is why the weights are shipped. Architecture, size and recipe were chosen by measurement on 2 CPU
cores (README, "The embedded default model").
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from sdbench.core.errors import SdbenchError

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
CODE_FILES = ("models/tiny_vlm.py", "models/chat_inputs.py", "models/default_model.py", "rl/sft.py",
              "warm_start/vision_warmup.py", "warm_start/recipe.py")
"""The code that turns a spec into weights (paths under sdbench/), hashed into a built folder's name."""
SHIPPED_NAME = "default-model-v2"
"""The shipped default's versioned name: results and boards name `--model default` by it."""
SHIPPED_DIR = Path(__file__).resolve().parents[1] / "assets" / SHIPPED_NAME
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
    from sdbench.data.build_key import code_hash
    from sdbench.data.task import load_task

    package = Path(__file__).resolve().parents[1]
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


def default_model(spec: DefaultModelSpec = DEFAULT) -> Path:
    """The folder of the warm-started default model: the shipped one (hash-checked) for the default spec, else the
    cached build of `spec`. Building is sdbench.warm_start.recipe's job (`ensure_default_model`); here a missing
    model is an error that says how to get it."""
    if spec == DEFAULT and (shipped := shipped_model()) is not None:
        return shipped
    folder = built_folder(spec)
    if (folder / "warmstart.json").is_file():
        return folder
    if spec == DEFAULT:
        raise SdbenchError(f"{SHIPPED_DIR}: the shipped default model is missing; restore it (git checkout -- "
                           f"{SHIPPED_DIR}) or rebuild it: python scripts/build_default_model.py")
    raise SdbenchError(f"{folder}: this default-model spec is not built; build it with "
                       "sdbench.warm_start.recipe.ensure_default_model(spec)")


def built_folder(spec: DefaultModelSpec) -> Path:
    """Where a build of `spec` lives in the cache."""
    return cache_root() / default_model_name(spec)


