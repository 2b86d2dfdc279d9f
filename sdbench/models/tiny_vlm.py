"""Tiny vision-language models of real Hugging Face architectures, built locally from a config: no download.

What: `train_tokenizer(texts, vocab_size, arch)` trains a byte-level BPE tokenizer on the task texts with the
special tokens and chat template of architecture `arch`; `build_tiny_vlm(arch, tokenizer, out_dir, ...)`
writes a complete HF model folder (config.json, model.safetensors, generation_config.json, tokenizer files,
processor_config.json with the image processor, chat_template.jinja, tiny_vlm.json) with random weights drawn
from `seed`. The folder loads with `AutoModelForImageTextToText.from_pretrained(out_dir)` and with
`sdbench.models.policy.load_processor(out_dir)` / `load_policy(out_dir)`; `AutoProcessor.from_pretrained` works too
for `llava` and `idefics3`, and for the Qwen families only where torchvision is installed (their processor
class insists on a torchvision video processor; `load_processor` builds an image-only one instead).

Why: the embedded default of sdbench (synthetic tasks on 2 CPU cores) needs a policy that is a *real* VLM
architecture, so that the very code that trains it (chat template -> processor -> generate -> per-token
log-probs) also runs unchanged on Qwen2.5-VL-3B or SmolVLM from the hub. Random weights are the start; an SFT
warm start on the synthetic train split makes it a policy worth doing RL on.

How:

    from sdbench.models.tiny_vlm import build_tiny_vlm, corpus_texts, train_tokenizer
    tok = train_tokenizer(corpus_texts(examples), vocab_size=2048, arch="qwen2_vl")
    path = build_tiny_vlm("qwen2_vl", tok, "models/tiny-qwen2vl", hidden_size=384, num_layers=6, seed=0)

Architectures (`ARCHITECTURES`): qwen2_vl, qwen2_5_vl, llava, idefics3. Every one is set up so that one vision
token stands for a 28 x 28 pixel area and an image is shrunk to at most `image_size`² pixels (224 -> at most 64
vision tokens): Qwen2-VL / Qwen2.5-VL keep the aspect ratio (patch 14, 2 x 2 merge, max_pixels = image_size²);
LLaVA pads to a square and resizes to image_size (patch 28); Idefics3 resizes to a image_size square
(patch 14, pixel-shuffle scale factor 2) without splitting into sub-images. SmolVLM is left out: its
processor needs the `num2words` package, and its architecture is Idefics3's.

Determinism: the same tokenizer, sizes and seed give bit-identical weights (torch's CPU generator seeded
with `seed` before the model is initialised); BPE training on the same texts gives the same vocabulary.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdbench.core.errors import SdbenchError, unknown_name_error

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

    from sdbench.core.types import Example

PIXELS_PER_VISION_TOKEN_SIDE = 28
"""Every architecture here maps a 28 x 28 pixel area to one vision token (see the module docstring)."""


@dataclass(frozen=True)
class VisionTower:
    """Size of the (tiny) vision encoder."""

    hidden_size: int = 96
    """Width of the vision transformer."""
    num_layers: int = 2
    """Number of vision transformer blocks."""
    num_heads: int = 2
    """Attention heads of the vision transformer (hidden_size must divide by it)."""


@dataclass(frozen=True)
class _Recipe:
    """What one architecture needs from its tokenizer: special tokens, their roles, the chat template."""

    special_tokens: tuple[str, ...]
    eos_token: str
    """The token that ends an assistant turn (generation stops on it)."""
    pad_token: str
    bos_token: str | None
    extra_eos_tokens: tuple[str, ...]
    """Further tokens that also end generation (e.g. Qwen's <|endoftext|>)."""
    image_tokens: tuple[str, ...]
    """Vision placeholder / marker tokens: never sampled (the generation config suppresses them)."""
    chat_template: str


def _chat_template(*, bos: str, turn_start: dict[str, str], image: str, user_end: str,
                   assistant_end: str, generation_prompt: str) -> str:
    """A minimal Jinja chat template in the shape every real VLM template has: per message a role prefix,
    the content (images become `image`, text items their text, a plain string content itself), an end of turn;
    then, with add_generation_prompt, the assistant prefix."""
    starts = "".join(f"{{% {'if' if i == 0 else 'elif'} message['role'] == '{role}' %}}{prefix}"
                     for i, (role, prefix) in enumerate(turn_start.items())) + "{% endif %}"
    content = ("{% if message['content'] is string %}{{ message['content'] }}{% else %}"
               "{% for item in message['content'] %}{% if item['type'] == 'image' %}" + image +
               "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}")
    end = f"{{% if message['role'] == 'assistant' %}}{assistant_end}{{% else %}}{user_end}{{% endif %}}"
    return (bos + "{% for message in messages %}" + starts + content + end + "{% endfor %}"
            "{% if add_generation_prompt %}" + generation_prompt + "{% endif %}")


_QWEN = _Recipe(
    special_tokens=("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                    "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"),
    eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token=None, extra_eos_tokens=("<|endoftext|>",),
    image_tokens=("<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"),
    chat_template=_chat_template(
        bos="", turn_start={"system": "<|im_start|>system\n", "user": "<|im_start|>user\n",
                            "assistant": "<|im_start|>assistant\n"},
        image="<|vision_start|><|image_pad|><|vision_end|>", user_end="<|im_end|>\n",
        assistant_end="<|im_end|>\n", generation_prompt="<|im_start|>assistant\n"))

_LLAVA = _Recipe(  # llava-1.5-hf's template: "USER: <image>\n... ASSISTANT: ...</s>"
    special_tokens=("<unk>", "<s>", "</s>", "<pad>", "<image>"),
    eos_token="</s>", pad_token="<pad>", bos_token="<s>", extra_eos_tokens=(), image_tokens=("<image>",),
    chat_template=_chat_template(
        bos="{{ bos_token }}", turn_start={"system": "", "user": "USER: ", "assistant": "ASSISTANT: "},
        image="<image>\n", user_end=" ", assistant_end="{{ eos_token }}", generation_prompt="ASSISTANT:"))

_IDEFICS3_IMAGE_TOKENS = ("<fake_token_around_image>", "<image>", "<global-img>") + tuple(
    f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7))
_IDEFICS3 = _Recipe(  # Idefics3-8B-Llama3's template: "<|begin_of_text|>User:<image>...<end_of_utterance>\nAssistant:"
    special_tokens=("<|begin_of_text|>", "<|end_of_text|>", "<|finetune_right_pad_id|>", "<end_of_utterance>")
    + _IDEFICS3_IMAGE_TOKENS,
    eos_token="<end_of_utterance>", pad_token="<|finetune_right_pad_id|>", bos_token="<|begin_of_text|>",
    extra_eos_tokens=("<|end_of_text|>",), image_tokens=_IDEFICS3_IMAGE_TOKENS,
    chat_template=_chat_template(
        bos="{{ bos_token }}", turn_start={"system": "System: ", "user": "User:", "assistant": "Assistant:"},
        image="<image>", user_end="<end_of_utterance>\n", assistant_end="<end_of_utterance>\n",
        generation_prompt="Assistant:"))

RECIPES: dict[str, _Recipe] = {"qwen2_vl": _QWEN, "qwen2_5_vl": _QWEN, "llava": _LLAVA, "idefics3": _IDEFICS3}
ARCHITECTURES: tuple[str, ...] = tuple(RECIPES)


def _recipe(arch: str) -> _Recipe:
    if arch not in RECIPES:
        raise unknown_name_error("tiny VLM architecture", arch, RECIPES)
    return RECIPES[arch]


def corpus_texts(examples: Iterable[Example]) -> list[str]:
    """The texts a tokenizer for sdbench should know: every prompt, holistic reference, segment label and
    segment reference."""
    texts: list[str] = []
    for ex in examples:
        texts += [ex.prompt, ex.holistic_reference]
        texts += [s.label + " " + s.reference for s in ex.segments]
    return texts


def train_tokenizer(texts: Iterable[str], vocab_size: int, arch: str) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on `texts`, with the special tokens, roles (bos/eos/pad) and chat
    template of `arch`. Byte-level: every string encodes, nothing maps to <unk>. The vocabulary holds the
    special tokens first (ids 0 … n-1), the 256 byte symbols, then up to `vocab_size` in all with merges."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    recipe = _recipe(arch)
    if vocab_size < len(recipe.special_tokens) + 256:
        raise SdbenchError(f"vocab_size {vocab_size} is too small: a byte-level BPE tokenizer for {arch} needs "
                           f"at least {len(recipe.special_tokens) + 256} (specials + 256 bytes)")
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(recipe.special_tokens),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    backend.train_from_iterator(list(texts), trainer)
    roles = {"eos_token": recipe.eos_token, "pad_token": recipe.pad_token}
    if recipe.bos_token is not None:
        roles["bos_token"] = recipe.bos_token
    if "<unk>" in recipe.special_tokens:
        roles["unk_token"] = "<unk>"
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, **roles)
    tokenizer.chat_template = recipe.chat_template
    return tokenizer


def _heads(hidden_size: int) -> tuple[int, int]:
    """(attention heads, key-value heads) for a text model of this width: head_dim 64, grouped-query attention
    with 2 query heads per key-value head where the head count is even."""
    if hidden_size % 64:
        raise SdbenchError(f"hidden_size {hidden_size} must be a multiple of 64 (head_dim 64)")
    num_heads = hidden_size // 64
    return num_heads, (num_heads // 2 if num_heads % 2 == 0 else num_heads)


def _token_id(tokenizer, token: str) -> int:
    token_id = tokenizer.convert_tokens_to_ids(token)
    if token_id is None or (token_id == tokenizer.unk_token_id and token != tokenizer.unk_token):
        raise SdbenchError(f"the tokenizer has no {token!r} token; train it with train_tokenizer(..., arch=...) "
                           "for the architecture you build")
    return token_id


def _llama_text_config(tokenizer, recipe: _Recipe, hidden_size: int, num_layers: int) -> dict[str, Any]:
    num_heads, num_kv_heads = _heads(hidden_size)
    return dict(model_type="llama", vocab_size=len(tokenizer), hidden_size=hidden_size,
                intermediate_size=hidden_size * 8 // 3 // 64 * 64, num_hidden_layers=num_layers,
                num_attention_heads=num_heads, num_key_value_heads=num_kv_heads, head_dim=64,
                max_position_embeddings=4096, rms_norm_eps=1e-5, tie_word_embeddings=True,
                bos_token_id=_token_id(tokenizer, recipe.bos_token) if recipe.bos_token else None,
                eos_token_id=_token_id(tokenizer, recipe.eos_token),
                pad_token_id=_token_id(tokenizer, recipe.pad_token))


def _qwen_parts(arch: str, tokenizer, hidden_size: int, num_layers: int, vision: VisionTower, image_size: int):
    """(config, image processor, processor class) for Qwen2-VL / Qwen2.5-VL."""
    import transformers
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    num_heads, num_kv_heads = _heads(hidden_size)
    half = 64 // 2  # mrope_section (temporal, height, width) must sum to head_dim / 2; Qwen's own split is 1:1.5:1.5
    text = dict(vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=hidden_size * 8 // 3 // 64 * 64,
                num_hidden_layers=num_layers, num_attention_heads=num_heads, num_key_value_heads=num_kv_heads,
                max_position_embeddings=4096, rms_norm_eps=1e-6, max_window_layers=num_layers,
                rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0,
                                 "mrope_section": [half // 4, 3 * half // 8, 3 * half // 8]},
                bos_token_id=None, eos_token_id=_token_id(tokenizer, "<|im_end|>"),
                pad_token_id=_token_id(tokenizer, "<|endoftext|>"), tie_word_embeddings=True)
    common = dict(depth=vision.num_layers, num_heads=vision.num_heads, patch_size=14, spatial_merge_size=2,
                  temporal_patch_size=2)
    if arch == "qwen2_vl":
        config_class, processor_class = transformers.Qwen2VLConfig, transformers.Qwen2VLProcessor
        vision_config = dict(embed_dim=vision.hidden_size, hidden_size=hidden_size, mlp_ratio=4, **common)
    else:
        config_class, processor_class = transformers.Qwen2_5_VLConfig, transformers.Qwen2_5_VLProcessor
        vision_config = dict(hidden_size=vision.hidden_size, intermediate_size=vision.hidden_size * 4,
                             out_hidden_size=hidden_size, window_size=112,
                             fullatt_block_indexes=[vision.num_layers - 1], **common)
    config = config_class(
        text_config=text, vision_config=vision_config, tie_word_embeddings=True,
        image_token_id=_token_id(tokenizer, "<|image_pad|>"), video_token_id=_token_id(tokenizer, "<|video_pad|>"),
        vision_start_token_id=_token_id(tokenizer, "<|vision_start|>"),
        vision_end_token_id=_token_id(tokenizer, "<|vision_end|>"))
    side = PIXELS_PER_VISION_TOKEN_SIDE
    image_processor = Qwen2VLImageProcessorPil(min_pixels=(2 * side) ** 2, max_pixels=image_size**2)
    return config, image_processor, processor_class, {}


def _llava_parts(arch: str, tokenizer, hidden_size: int, num_layers: int, vision: VisionTower, image_size: int):
    """(config, image processor, processor class, processor kwargs) for LLaVA (CLIP vision tower + Llama)."""
    import transformers
    from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil

    patch = PIXELS_PER_VISION_TOKEN_SIDE
    if image_size % patch:
        raise SdbenchError(f"llava: image_size {image_size} must be a multiple of the patch size {patch}")
    vision_config = dict(model_type="clip_vision_model", hidden_size=vision.hidden_size,
                         intermediate_size=vision.hidden_size * 4, num_hidden_layers=vision.num_layers,
                         num_attention_heads=vision.num_heads, image_size=image_size, patch_size=patch,
                         projection_dim=vision.hidden_size)
    config = transformers.LlavaConfig(
        vision_config=vision_config, text_config=_llama_text_config(tokenizer, _LLAVA, hidden_size, num_layers),
        image_token_index=_token_id(tokenizer, "<image>"), image_seq_length=(image_size // patch) ** 2,
        vision_feature_layer=-1, vision_feature_select_strategy="default", tie_word_embeddings=True)
    image_processor = LlavaImageProcessorPil(  # pad to a square first: a center crop would cut panels off
        do_pad=True, size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size})
    kwargs = dict(patch_size=patch, vision_feature_select_strategy="default", num_additional_image_tokens=1)
    return config, image_processor, transformers.LlavaProcessor, kwargs


def _idefics3_parts(arch: str, tokenizer, hidden_size: int, num_layers: int, vision: VisionTower, image_size: int):
    """(config, image processor, processor class, processor kwargs) for Idefics3 (SigLIP-like tower + Llama)."""
    import transformers
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    patch, scale = 14, 2
    if image_size % (patch * scale):
        raise SdbenchError(f"idefics3: image_size {image_size} must be a multiple of {patch * scale}")
    vision_config = dict(hidden_size=vision.hidden_size, intermediate_size=vision.hidden_size * 4,
                         num_hidden_layers=vision.num_layers, num_attention_heads=vision.num_heads,
                         image_size=image_size, patch_size=patch)
    config = transformers.Idefics3Config(
        vision_config=vision_config, text_config=_llama_text_config(tokenizer, _IDEFICS3, hidden_size, num_layers),
        image_token_id=_token_id(tokenizer, "<image>"), scale_factor=scale, tie_word_embeddings=True,
        pad_token_id=_token_id(tokenizer, _IDEFICS3.pad_token))
    image_processor = Idefics3ImageProcessorPil(
        do_image_splitting=False, size={"longest_edge": image_size}, max_image_size={"longest_edge": image_size})
    kwargs = dict(image_seq_len=(image_size // patch) ** 2 // scale**2)
    return config, image_processor, transformers.Idefics3Processor, kwargs


_PARTS = {"qwen2_vl": _qwen_parts, "qwen2_5_vl": _qwen_parts, "llava": _llava_parts, "idefics3": _idefics3_parts}


def build_tiny_vlm(arch: str, tokenizer: PreTrainedTokenizerFast, out_dir: str | Path, *, hidden_size: int = 384,
                   num_layers: int = 6, vision: VisionTower = VisionTower(), image_size: int = 224, seed: int = 0,
                   overwrite: bool = False) -> Path:
    """Write a random-weight `arch` model with `tokenizer` to `out_dir` and return the folder.

    hidden_size / num_layers size the text decoder (head_dim 64); `vision` sizes the vision tower; an image
    becomes at most (image_size / 28)² vision tokens. `tokenizer` must come from `train_tokenizer(..., arch)`
    (or have the same special tokens). Refuses to write into a non-empty folder unless `overwrite`."""
    import torch
    from transformers import AutoModelForImageTextToText, GenerationConfig

    from sdbench.models.policy import image_only_processor_class

    recipe = _recipe(arch)
    for token in recipe.special_tokens:
        _token_id(tokenizer, token)
    if tokenizer.chat_template is None:
        raise SdbenchError("the tokenizer has no chat template; make it with train_tokenizer(..., arch=...)")
    if image_size % PIXELS_PER_VISION_TOKEN_SIDE:
        raise SdbenchError(f"image_size {image_size} must be a multiple of {PIXELS_PER_VISION_TOKEN_SIDE}")
    if vision.hidden_size % vision.num_heads:
        raise SdbenchError(f"vision hidden_size {vision.hidden_size} must divide by num_heads {vision.num_heads}")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise SdbenchError(f"{out}: exists and is not empty; pass overwrite=True (--overwrite) to replace it")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)

    config, image_processor, processor_class, processor_kwargs = _PARTS[arch](
        arch, tokenizer, hidden_size, num_layers, vision, image_size)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = AutoModelForImageTextToText.from_config(config, dtype=torch.float32)
    finally:
        torch.random.set_rng_state(generator_state)
    eos_ids = [_token_id(tokenizer, t) for t in (recipe.eos_token, *recipe.extra_eos_tokens)]
    image_ids = sorted({_token_id(tokenizer, t) for t in recipe.image_tokens})
    model.generation_config = GenerationConfig(
        eos_token_id=eos_ids, pad_token_id=_token_id(tokenizer, recipe.pad_token),
        bos_token_id=_token_id(tokenizer, recipe.bos_token) if recipe.bos_token else None,
        suppress_tokens=image_ids)
    model.save_pretrained(out)

    processor_cls = image_only_processor_class(processor_class)
    processor = processor_cls(image_processor=image_processor, tokenizer=tokenizer,
                              chat_template=recipe.chat_template, **processor_kwargs)
    processor.save_pretrained(out)
    (out / "tiny_vlm.json").write_text(json.dumps({
        "arch": arch, "hidden_size": hidden_size, "num_layers": num_layers, "vision": asdict(vision),
        "image_size": image_size, "seed": seed, "vocab_size": len(tokenizer),
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "tokenizer_sha256": hashlib.sha256(tokenizer.backend_tokenizer.to_str().encode()).hexdigest(),
    }, indent=2) + "\n", encoding="utf-8")
    return out
