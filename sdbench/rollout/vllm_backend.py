"""The vLLM rollout backend: `LLM.generate` on a colocated copy of the policy, synced from it every step.

What: `VLLMBackend(policy)` samples G completions per example with vLLM's offline `LLM` API and returns the
same `RolloutBatch` as the HF backend: token ids (EOS kept when sampled), the sampling log-prob of each token,
and `finished` (ended by EOS, not by max_new_tokens), prompt-major. `sync_weights(model)` copies the trainer's
parameters into vLLM's model before each step.

    sdbench train --task runs/mp --model Qwen/Qwen2.5-VL-3B-Instruct --rollout-backend vllm
    sdbench eval  --task runs/mp --model runs/train/mp-sd-grpo-seed0 --rollout-backend vllm
    sdbench diagnose --task runs/mp --model runs/train/mp-sft-seed0 --rollout-backend vllm

Install: `pip install 'sdbench[vllm]'` in its own CUDA environment (vLLM pins its own torch build). Importing
this module does not import vLLM; the backend imports it when it is built.

vLLM API covered: the V1 engine, vLLM >= 0.11 (`logprobs_mode`, `LLM.apply_model` on V1, top_k=0 as "off");
written against vLLM's current source (the `vllm` extra pins >= 0.33) and checked on CPU only, with stand-ins:
  - requests are dicts {"prompt": chat-template text, "multi_modal_data": {"image": PIL image or list}}; the
    text is `chat_inputs.render_prompt`, the very string the HF path gives the processor, with the example's
    images in order, so both backends see the same prompt tokens and image placeholders (vLLM runs the
    model's HF processor on it);
  - `SamplingParams(n=G, temperature, top_p, top_k=0 (off), min_p=0, no penalties, max_tokens, logprobs=0
    (the sampled token's log-prob only), stop_token_ids = every eos id, logit_bias = -1e4 on the image
    placeholder tokens, detokenize=False)`. Greedy decoding is temperature 0, which vLLM allows only with
    n = 1: the prompt is then sent G times. vLLM takes temperatures in [0, 2] only;
  - `LLM(..., logprobs_mode="processed_logprobs")`: log-probs of the distribution that was sampled (after the
    logit bias and the temperature). vLLM's default, "raw_logprobs", ignores the temperature. The logit bias
    of -1e4 makes an image token's probability exactly 0 in float32, as the HF backend's -inf does, so the
    log-probs are those of `sdbench.models.logprobs.token_logprobs`. Two differences: with top_p < 1 vLLM
    reports the truncated distribution's log-probs (the HF backend the untruncated one's; the trainer's
    default top_p is 1), and greedy requests report log-probs at temperature 1;
  - weight sync: `LLM.apply_model(fn)` runs `fn(model)` on vLLM's model in each worker, and `fn` calls the
    model's own `load_weights([(name, tensor), ...])` with the policy's `named_parameters()` under their
    Hugging Face names (vLLM maps them, as when it reads the checkpoint; tied weights come once), then the
    prefix cache (KV blocks computed with the old weights) and, where vLLM has it, the encoder cache are
    reset. Colocated: the engine core runs in this process (`VLLM_ENABLE_V1_MULTIPROCESSING=0` is set unless
    the environment sets it), so `fn` and the tensors it carries are passed by reference, not pickled (with
    the engine in a process of its own they would be pickled, which vLLM allows only with
    VLLM_ALLOW_INSECURE_SERIALIZATION=1, and slowly).
    This is what TRL's colocate mode does (it reaches the same model through
    `llm.llm_engine.model_executor.driver_worker.model_runner.model`); `apply_model` is the public route.
    vLLM's newer `LLM.update_weights` / `init_weight_transfer_engine` (NCCL / IPC transfer to a separate
    inference process) is for a disaggregated set-up and is not used.

Knobs (constructor arguments): `gpu_memory_utilization` (default 0.3: the share of GPU memory vLLM takes for
its weights and KV cache; the rest stays for the trainer on the same GPU), `enable_sleep_mode` (after each
`generate`, `LLM.sleep(level=2)` frees vLLM's weights and KV cache for the training step; `sync_weights`
wakes the weights and loads the new ones, `generate` wakes the KV cache; a `generate` without a sync first
reloads the weights from the policy), `dtype` (default: the policy's own, so that float32 tiny models compare
exactly; vLLM's "auto" would turn float32 into float16), `max_model_len`, `max_images_per_prompt`
(`limit_mm_per_prompt`), `enforce_eager`, `seed`, `trust_remote_code`, and any other `LLM(...)` keyword via
`llm_kwargs`; `make_backend("vllm", policy, **knobs)` passes them on. `llm=` takes an `LLM` built elsewhere.

The request/response conversion is pure (`build_requests`, `to_sampling_params_kwargs`,
`rollout_batch_from_outputs`) and tested on CPU with stand-ins for vLLM's output objects
(tests/unit/test_vllm_backend.py); scripts/check_vllm_backend.py compares the two backends on a GPU.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Sequence
from typing import Any

from sdbench.core.errors import SdbenchError
from sdbench.core.types import Example
from sdbench.rollout.backend import RolloutBatch, SamplingParams

IMAGE_TOKEN_BIAS = -1e4
"""Logit bias on image placeholder tokens: exp(-1e4) is exactly 0 in float32, so they are never sampled and
have no probability mass, as with the HF backend's -inf (a finite value passes every vLLM validation path)."""

INSTALL_HINT = ("pip install 'sdbench[vllm]' in a separate CUDA environment (vLLM pins its own torch build; "
                "see README)")


def import_vllm():
    """The `vllm` module, or an SdbenchError that says how to install it."""
    try:
        import vllm
    except ImportError as exc:
        raise SdbenchError(f"--rollout-backend vllm needs vLLM, which is not installed here ({exc}); "
                           f"{INSTALL_HINT}, or use --rollout-backend hf") from exc
    return vllm


# ---- pure conversion: sdbench <-> vLLM request / response objects ------------------------------------------
def build_requests(prompts: Sequence[str], images: Sequence[Sequence[Any]], copies: int = 1) -> list[dict[str, Any]]:
    """One vLLM prompt dict per prompt (each repeated `copies` times in place, for greedy decoding):
    {"prompt": text} plus {"multi_modal_data": {"image": ...}} when the prompt has images (one image as
    itself, several as a list in prompt order)."""
    if len(prompts) != len(images):
        raise SdbenchError(f"build_requests: {len(prompts)} prompts but {len(images)} image lists")
    if copies < 1:
        raise SdbenchError(f"build_requests: copies must be >= 1, got {copies}")
    requests = []
    for text, imgs in zip(prompts, images):
        request: dict[str, Any] = {"prompt": text}
        if len(imgs) == 1:
            request["multi_modal_data"] = {"image": imgs[0]}
        elif imgs:
            request["multi_modal_data"] = {"image": list(imgs)}
        requests.extend(dict(request) for _ in range(copies))
    return requests


def requests_for_examples(policy, examples: Sequence[Example], group_size: int,
                          params: SamplingParams) -> list[dict[str, Any]]:
    """vLLM prompt dicts for `examples`: the chat-template text of the HF path (`chat_inputs.render_prompt`)
    and the examples' images; greedy requests are repeated `group_size` times (vLLM allows n > 1 only when
    sampling)."""
    from sdbench.models.chat_inputs import render_prompt

    prompts = [render_prompt(policy, ex) for ex in examples]
    return build_requests(prompts, [ex.images for ex in examples], copies=group_size if params.greedy else 1)


def to_sampling_params_kwargs(params: SamplingParams, eos_ids: Iterable[int], group_size: int,
                              seed: int | None = None, suppressed_ids: Iterable[int] = (),
                              vocab_size: int | None = None) -> dict[str, Any]:
    """Keyword arguments of `vllm.SamplingParams` for one request of `params` (module docstring).

    Every knob that shapes the distribution is explicit: vLLM would otherwise fill some from the model's
    generation_config (Qwen2.5-VL ships top_k=1, repetition_penalty=1.05). `suppressed_ids` (image
    placeholders) get IMAGE_TOKEN_BIAS; ids >= vocab_size are dropped (the model has no logit for them and
    vLLM rejects them)."""
    if group_size < 1:
        raise SdbenchError(f"group_size must be >= 1, got {group_size}")
    eos = sorted(set(eos_ids))
    if not eos:
        raise SdbenchError("to_sampling_params_kwargs: no eos token ids; a completion could never finish")
    suppressed = sorted(i for i in set(suppressed_ids) if vocab_size is None or 0 <= i < vocab_size)
    kwargs: dict[str, Any] = {
        "n": 1 if params.greedy else group_size,
        "temperature": 0.0 if params.greedy else params.temperature,
        "top_p": 1.0 if params.greedy else params.top_p,
        "top_k": 0,  # 0 = off (vLLM >= 0.10; older releases wanted -1)
        "min_p": 0.0,
        "repetition_penalty": 1.0, "presence_penalty": 0.0, "frequency_penalty": 0.0,
        "max_tokens": params.max_new_tokens,
        "logprobs": 0,  # the sampled token's log-prob, nothing else
        "stop_token_ids": eos,
        "skip_special_tokens": False, "detokenize": False,  # sdbench decodes the ids itself
    }
    if suppressed:
        kwargs["logit_bias"] = {i: IMAGE_TOKEN_BIAS for i in suppressed}
    if seed is not None:
        kwargs["seed"] = seed  # vLLM gives the n completions of a request seeds seed, seed + 1, …
    return kwargs


def rollout_batch_from_outputs(outputs: Sequence[Any], group_size: int, eos_ids: Iterable[int]) -> RolloutBatch:
    """`LLM.generate`'s RequestOutputs (in request order) -> RolloutBatch, prompt-major.

    Each request's completions are taken in `index` order. A completion ends at its first eos id (kept; later
    tokens, if any, dropped) and is `finished` when it has one; finish_reason "stop" without an eos (a stop
    string) or any other reason than "stop" / "length" is an error. Log-probs are read from the per-position
    {token_id: Logprob} dicts for the sampled token."""
    eos = frozenset(eos_ids)
    ids_out: list[list[int]] = []
    logps_out: list[list[float]] = []
    finished_out: list[bool] = []
    for request_index, request in enumerate(outputs):
        for completion in sorted(request.outputs, key=lambda c: c.index):
            ids = [int(t) for t in completion.token_ids]
            where = f"vLLM request {request_index}, completion {completion.index}"
            if completion.logprobs is None:
                raise SdbenchError(f"{where}: no log-probs returned; the request needs SamplingParams(logprobs=0)")
            if len(completion.logprobs) != len(ids):
                raise SdbenchError(f"{where}: {len(completion.logprobs)} log-prob entries for {len(ids)} tokens")
            end = next((t + 1 for t, token in enumerate(ids) if token in eos), None)
            reason = completion.finish_reason
            if reason not in ("stop", "length"):
                raise SdbenchError(f"{where}: finish_reason {reason!r}; expected 'stop' (eos) or 'length'")
            if reason == "stop" and end is None:
                raise SdbenchError(f"{where}: stopped without an eos token (stop reason "
                                   f"{getattr(completion, 'stop_reason', None)!r}); sdbench stops on eos ids only")
            ids = ids[:end] if end is not None else ids
            logps = []
            for t, (token, entry) in enumerate(zip(ids, completion.logprobs)):
                if token not in entry:
                    raise SdbenchError(f"{where}: token {t} ({token}) has no log-prob in {sorted(entry)}")
                logps.append(float(entry[token].logprob))
            ids_out.append(ids)
            logps_out.append(logps)
            finished_out.append(end is not None)
    if not ids_out or len(ids_out) % group_size:
        raise SdbenchError(f"vLLM returned {len(ids_out)} completions: not a positive multiple of the group size "
                           f"{group_size}")
    return RolloutBatch(completion_ids=ids_out, logprobs=logps_out, finished=finished_out, group_size=group_size)


def _load_weights(model, weights: list) -> Any:
    """Runs inside vLLM's worker on its model (`LLM.apply_model`)."""
    return model.load_weights(weights)


# ---- the backend -------------------------------------------------------------------------------------------
class VLLMBackend:
    def __init__(self, policy, *, gpu_memory_utilization: float = 0.3, enable_sleep_mode: bool = False,
                 dtype: str | None = None, max_model_len: int | None = None,
                 max_images_per_prompt: int | None = None, enforce_eager: bool = False, seed: int = 0,
                 trust_remote_code: bool = False, llm: Any = None, **llm_kwargs: Any):
        self.policy = policy
        self.enable_sleep_mode = enable_sleep_mode
        self._vllm = import_vllm()
        text_config = policy.model.config.get_text_config()
        self.vocab_size = int(text_config.vocab_size)
        if llm is None:
            # colocated: the engine core (and the model) in this process, so apply_model passes tensors by reference
            os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
            kwargs: dict[str, Any] = {
                "model": policy.name, "dtype": dtype or str(policy.model.dtype).removeprefix("torch."),
                "seed": seed, "gpu_memory_utilization": gpu_memory_utilization,
                "enable_sleep_mode": enable_sleep_mode, "logprobs_mode": "processed_logprobs",
                "enforce_eager": enforce_eager, "trust_remote_code": trust_remote_code,
            }
            if max_model_len is not None:
                kwargs["max_model_len"] = max_model_len
            if max_images_per_prompt is not None:
                kwargs["limit_mm_per_prompt"] = {"image": max_images_per_prompt}
            llm = self._vllm.LLM(**kwargs, **llm_kwargs)
        self.llm = llm
        self._weights_asleep = self._kv_cache_asleep = False
        if enable_sleep_mode:  # free the GPU for the trainer until the first rollout
            self._sleep()

    def _sleep(self) -> None:
        self.llm.sleep(level=2)  # level 2: weights discarded (the next sync reloads them), KV cache freed
        self._weights_asleep = self._kv_cache_asleep = True

    def sync_weights(self, model) -> None:
        """Load `model`'s parameters (Hugging Face names) into vLLM's model; reset the caches of the old weights."""
        if self._weights_asleep:
            self.llm.wake_up(tags=["weights"])
            self._weights_asleep = False
        weights = [(name, param.detach()) for name, param in model.named_parameters()]
        loaded = self.llm.apply_model(functools.partial(_load_weights, weights=weights))
        if any(isinstance(names, (set, frozenset, list)) and not names for names in loaded or ()):
            raise SdbenchError("vLLM loaded none of the policy's weights: its parameter names do not map onto "
                               f"vLLM's model for {self.policy.name!r}")
        self.llm.reset_prefix_cache()
        reset_encoder_cache = getattr(self.llm.llm_engine, "reset_encoder_cache", None)
        if callable(reset_encoder_cache):  # cached vision features of the old weights (newer vLLM releases)
            reset_encoder_cache()

    def generate(self, examples: Sequence[Example], group_size: int, params: SamplingParams) -> RolloutBatch:
        policy = self.policy
        if self._weights_asleep:  # no sync since the last sleep: vLLM's weights are gone, take the policy's
            self.sync_weights(policy.model)
        if self._kv_cache_asleep:
            self.llm.wake_up(tags=["kv_cache"])
            self._kv_cache_asleep = False
        requests = requests_for_examples(policy, examples, group_size, params)
        sampling = self._vllm.SamplingParams(**to_sampling_params_kwargs(
            params, policy.eos_token_ids, group_size, suppressed_ids=policy.image_token_ids,
            vocab_size=self.vocab_size))
        outputs = self.llm.generate(requests, sampling, use_tqdm=False)
        if self.enable_sleep_mode:
            self._sleep()
        batch = rollout_batch_from_outputs(outputs, group_size, policy.eos_token_ids)
        if len(batch) != len(examples) * group_size:
            raise SdbenchError(f"vLLM returned {len(batch)} completions for {len(examples)} prompts x {group_size}")
        return batch
