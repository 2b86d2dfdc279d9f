"""The policy: any Hugging Face image-text-to-text model with its processor, loaded safely.

What: `load_policy(model)` returns a `Policy` (model, processor, tokenizer, and the token ids generation and
training need: `image_token_ids` that must never be sampled, `eos_token_ids`, `pad_token_id`).
`load_processor(model)` loads only the processor.

Why: the trainer, the sampler and the evaluator all need the same three things from a model, found generically
for every architecture (Qwen2-VL / Qwen2.5-VL, LLaVA, Idefics3 / SmolVLM, …), so that the tiny embedded
default (`sdbench.models.tiny_vlm`) and a hub checkpoint go through one code path.

How:

    policy = load_policy("models/tiny-qwen2vl")          # a local folder, or a hub id (online or cached)
    out = policy.model.generate(**batch, suppress_tokens=sorted(policy.image_token_ids), ...)

Safety: weights load from safetensors only (`use_safetensors=True`); a checkpoint with only pickled weights
(pytorch_model.bin) is refused with the command that converts it. `trust_remote_code` stays False unless asked.

Processors without torchvision: in transformers 5.x the Qwen2-VL / Qwen2.5-VL / SmolVLM processor classes take
a video processor, which is torchvision-backed, and `AutoProcessor.from_pretrained` fails without torchvision
(there is no config key that turns the video processor off). `load_processor` tries `AutoProcessor` first;
if that fails and torchvision is missing, it loads the same processor class without its video processor
(`image_only_processor_class`: a subclass whose `__init__` has no `video_processor` parameter, which is how
transformers decides which sub-processors a processor has). Images work the same; videos are unsupported.
The image processor is the PIL backend (`*ImageProcessorPil`), which `AutoImageProcessor` picks by itself
when torchvision is absent.

Image tokens: `image_token_ids` gathers every vision placeholder / marker token the model knows: config
fields named like `image_token_id`, `image_token_index`, `video_token_id`, `vision_start_token_id`,
`boi_token_index` …, the processor's `image_token`, `video_token`, `fake_image_token`, `global_image_tag`…
attributes, and special tokens of the tokenizer whose text names an image/video/vision marker. Pass them to
`generate(..., suppress_tokens=sorted(policy.image_token_ids))`: transformers' SuppressTokensLogitsProcessor
sets their logits to -inf at every step (tested in transformers 5.23 with the image tokens' logits boosted
to dominate: never sampled). `bad_words_ids` would work too but is meant for multi-token sequences.
Passing `suppress_tokens=None` or `[]` to `generate` replaces the model's generation-config list (the tiny
models store their image tokens there), and a trainer that builds its own GenerationConfig (TRL) may drop it:
always pass the ids explicitly. A sampled placeholder makes the next forward pass fail (placeholder count
!= image features) or silently misaligns images.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdbench.core.errors import SdbenchError

_CONFIG_TOKEN_KEY = re.compile(r"(image|video|vision|boi|eoi|img|patch|frame)\w*_token_(id|index|ids)$")
_PROCESSOR_TOKEN_ATTR = re.compile(r"(image|video|vision|boi|eoi|img|fake|row_col)\w*_(token|tag|token_id|token_ids|ids)$")
_SPECIAL_TOKEN_TEXT = re.compile(r"image|video|vision|<img|</img|global-img|fake_token_around_image|"
                                 r"<row_\d+_col_\d+>|<boi>|<eoi>", re.IGNORECASE)


@dataclass
class Policy:
    """A loaded image-text-to-text model with what generation and training need to know about it."""

    name: str
    """The model argument it was loaded from (hub id or local path)."""
    model: Any
    """The `AutoModelForImageTextToText` model (a torch.nn.Module)."""
    processor: Any
    """Its processor: chat template + image processor + tokenizer."""
    tokenizer: Any
    """`processor.tokenizer`."""
    image_token_ids: frozenset[int]
    """Image placeholder and vision marker tokens: must never be sampled (pass as `suppress_tokens`)."""
    eos_token_ids: frozenset[int]
    """Tokens that end a completion (generation config's eos ids + the tokenizer's eos)."""
    pad_token_id: int
    """Padding token id (tokenizer's pad, else the generation config's, else an eos id)."""

    @property
    def eos_token_id(self) -> int:
        """The token a completion written for SFT ends with: the tokenizer's eos (the end of an assistant turn
        in every chat model here), else the smallest eos id."""
        eos = self.tokenizer.eos_token_id
        return eos if eos is not None else min(self.eos_token_ids)

    @property
    def computes_positions(self) -> bool:
        """True when the model derives position ids from the attention mask itself (multimodal RoPE:
        Qwen2-VL, Qwen2.5-VL, …); otherwise a left-padded teacher-forced forward pass needs explicit
        `position_ids` (generation always computes them)."""
        inner = getattr(self.model, "model", self.model)
        return hasattr(inner, "get_rope_index") or hasattr(self.model, "get_rope_index")


def _is_local(model: str) -> bool:
    return Path(model).expanduser().exists() or model.startswith((".", "/", "~")) or model.count("/") > 1


def _check_local_weights(folder: Path) -> None:
    if not folder.is_dir():
        raise SdbenchError(f"model {str(folder)!r}: no such folder; pass a model folder (e.g. one written by "
                           "sdbench.models.tiny_vlm.build_tiny_vlm) or a Hugging Face hub id such as "
                           "Qwen/Qwen2-VL-2B-Instruct")
    if not (folder / "config.json").is_file():
        raise SdbenchError(f"model {str(folder)!r}: no config.json; this is not a Hugging Face model folder")
    if any(folder.glob("*.safetensors")) or (folder / "model.safetensors.index.json").is_file():
        return
    pickled = sorted(p.name for p in folder.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt"))
    if pickled:
        raise SdbenchError(
            f"model {str(folder)!r}: only pickled weights ({', '.join(pickled)}); sdbench loads safetensors only "
            "(unpickling can run code). If you trust the checkpoint, convert it once with: python -c \"from "
            "transformers import AutoModelForImageTextToText as M; M.from_pretrained('" + str(folder) +
            "', use_safetensors=False).save_pretrained('" + str(folder) + "-safetensors')\"")
    raise SdbenchError(f"model {str(folder)!r}: no *.safetensors weights in the folder")


def _load_error(model: str, exc: BaseException) -> SdbenchError:
    """One line naming the model and what to do, from a transformers / huggingface_hub loading error."""
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    text = str(exc)
    if "safetensors" in text and ("pytorch_model.bin" in text or "use_safetensors" in text or ".bin" in text):
        return SdbenchError(f"model {model!r}: no safetensors weights on the hub / in the cache; sdbench does not "
                            "load pickled weights. Convert a trusted copy with save_pretrained(safe_serialization=True)")
    if _is_local(model):
        return SdbenchError(f"model {model!r}: cannot be loaded ({type(exc).__name__}: {first_line})")
    return SdbenchError(
        f"model {model!r}: not a local folder, and not loadable from the Hugging Face hub or its cache "
        f"({type(exc).__name__}: {first_line[:200]}); check the id, go online (or `huggingface-cli download "
        f"{model}` where you are), or pass a local folder")


def image_only_processor_class(processor_class: type) -> type:
    """`processor_class` itself, or, if its `__init__` takes a video processor, a subclass without one.

    transformers lists a processor's sub-processors from the parameter names of its `__init__`; the subclass's
    `__init__` lacks `video_processor` and passes None for it. The subclass keeps the parent's name, so a
    processor saved from it writes `processor_class: <parent>` and loads anywhere."""
    import inspect

    params = inspect.signature(processor_class.__init__).parameters
    if "video_processor" not in params:
        return processor_class
    return _image_only_subclass(processor_class)


@functools.cache
def _image_only_subclass(processor_class: type) -> type:
    import inspect

    params = inspect.signature(processor_class.__init__).parameters
    keep = [p for name, p in params.items() if name not in ("self", "video_processor")
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    names = [p.name for p in keep]

    # Built with exec so the signature lists the parent's own parameters (image_seq_len, chat_template, …):
    # `from_args_and_dict` reads them from `__init__.__code__` to route processor_config.json entries.
    signature = ", ".join(["self"] + [f"{n}=None" for n in names] + ["**kwargs"])
    call = ", ".join([f"{n}={n}" for n in names] + ["video_processor=None", "**kwargs"])
    namespace: dict[str, Any] = {"_parent": processor_class}
    exec(f"def __init__({signature}):\n    _parent.__init__(self, {call})\n", namespace)  # noqa: S102
    init = namespace["__init__"]
    defaults = {p.name: p.default for p in keep if p.default is not p.empty}
    if defaults:  # keep the parent's defaults (e.g. image_seq_len=169) instead of None
        init.__defaults__ = tuple(defaults.get(n) for n in names)
    return type(processor_class.__name__, (processor_class,),
                {"__init__": init, "__module__": __name__, "__qualname__": processor_class.__qualname__})


def _cache_only(model: str, trust_remote_code: bool) -> bool:
    """True when `model` is a hub id whose config is in the local cache: loading then stays off the network
    (otherwise huggingface_hub, with no network, retries for ≈ 25 s before it falls back to the cache)."""
    if _is_local(model):
        return False
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(model, local_files_only=True, trust_remote_code=trust_remote_code)
    except Exception:  # noqa: BLE001 - not cached (or unreadable): go through the hub as usual
        return False
    return True


def load_processor(model: str, *, trust_remote_code: bool = False, local_files_only: bool = False) -> Any:
    """The processor of `model` (local folder or hub id); without torchvision, an image-only processor for
    architectures whose processor wants a video processor (see the module docstring)."""
    from transformers import AutoConfig, AutoProcessor
    from transformers.utils import is_torchvision_available

    hub = {"trust_remote_code": trust_remote_code, "local_files_only": local_files_only}
    try:
        return AutoProcessor.from_pretrained(model, **hub)
    except Exception as exc:  # noqa: BLE001 - transformers raises many types; we retry once, then explain
        if is_torchvision_available():
            raise _load_error(model, exc) from exc
        first_error = exc
    try:
        import transformers
        from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES

        config = AutoConfig.from_pretrained(model, **hub)
        class_name = PROCESSOR_MAPPING_NAMES.get(config.model_type)
        if class_name is None or not hasattr(transformers, class_name):
            raise first_error
        return image_only_processor_class(getattr(transformers, class_name)).from_pretrained(
            model, local_files_only=local_files_only)
    except SdbenchError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise _load_error(model, first_error) from exc


def _as_ids(value: Any) -> list[int]:
    if value is None:
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [v for v in value if isinstance(v, int)]
    return []


def find_image_token_ids(config: Any, processor: Any, tokenizer: Any) -> frozenset[int]:
    """Every vision placeholder / marker token id of a model, found generically (see the module docstring)."""
    ids: set[int] = set()
    configs = [config] + [getattr(config, name) for name in ("text_config", "vision_config")
                          if getattr(config, name, None) is not None]
    for cfg in configs:
        for key, value in cfg.to_dict().items():
            if _CONFIG_TOKEN_KEY.search(key):
                ids.update(_as_ids(value))
    for attr, value in vars(processor).items():  # instance attributes: image_token, fake_image_token_id, row_col_ids …
        if not _PROCESSOR_TOKEN_ATTR.search(attr):
            continue
        if isinstance(value, str):
            token_id = tokenizer.convert_tokens_to_ids(value)
            if token_id is not None and token_id != tokenizer.unk_token_id:
                ids.add(token_id)
        else:
            ids.update(_as_ids(value))
    for token, token_id in tokenizer.get_vocab().items():
        if token_id in tokenizer.all_special_ids or token in tokenizer.get_added_vocab():
            if _SPECIAL_TOKEN_TEXT.search(token):
                ids.add(token_id)
    protected = {tokenizer.eos_token_id, tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.unk_token_id}
    vocab_size = max(len(tokenizer), config.get_text_config().vocab_size)
    return frozenset(i for i in ids if 0 <= i < vocab_size and i not in protected)


def load_policy(model: str, *, trust_remote_code: bool = False, dtype: Any = None, device: str = "cpu") -> Policy:
    """Load `model` (a local folder or a hub id: the hub only online or from the local cache; a cached id loads
    from the cache without touching the network) with its processor.

    dtype: None keeps the checkpoint's dtype (float32 for tiny models); a torch dtype or its name otherwise.
    Raises SdbenchError with one line for: a missing folder, pickled-only weights, an id that is neither local
    nor reachable, a processor that cannot be built."""
    from transformers import AutoModelForImageTextToText
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # per-shard bars of tiny local models are noise in a training log
    if _is_local(model):
        _check_local_weights(Path(model).expanduser())
    local_files_only = _cache_only(model, trust_remote_code)
    kwargs: dict[str, Any] = {"use_safetensors": True, "trust_remote_code": trust_remote_code,
                              "local_files_only": local_files_only}
    if dtype is not None:
        kwargs["dtype"] = dtype
    try:
        net = AutoModelForImageTextToText.from_pretrained(model, **kwargs)
    except Exception as exc:  # noqa: BLE001 - turned into one line naming the model and the fix
        raise _load_error(model, exc) from exc
    net.to(device)
    processor = load_processor(model, trust_remote_code=trust_remote_code, local_files_only=local_files_only)
    tokenizer = getattr(processor, "tokenizer", None)
    if tokenizer is None:
        raise SdbenchError(f"model {model!r}: its processor has no tokenizer; it is not an image-text-to-text model")
    if getattr(processor, "chat_template", None) is None and getattr(tokenizer, "chat_template", None) is None:
        raise SdbenchError(f"model {model!r}: no chat template (processor or tokenizer); add chat_template.jinja")
    generation = net.generation_config
    eos = set(_as_ids(generation.eos_token_id)) | set(_as_ids(tokenizer.eos_token_id))
    if not eos:
        raise SdbenchError(f"model {model!r}: neither the tokenizer nor the generation config names an eos token")
    pad = tokenizer.pad_token_id
    if pad is None:
        pad = generation.pad_token_id if generation.pad_token_id is not None else min(eos)
    image_ids = find_image_token_ids(net.config, processor, tokenizer)
    return Policy(name=model, model=net, processor=processor, tokenizer=tokenizer, image_token_ids=image_ids,
                  eos_token_ids=frozenset(eos), pad_token_id=int(pad))
