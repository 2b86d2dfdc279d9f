"""The vLLM rollout backend on CPU, without vLLM: request conversion (the HF path's prompt tokens and images,
sampling knobs), response conversion (ids, sampled-token log-probs, finished flags, prompt-major order), the
missing-vLLM error, `make_backend` routing, and the backend's calls into a stand-in `vllm` module (weight
sync by reference, cache reset, sleep-mode order). The GPU comparison with the HF backend is
scripts/check_vllm_backend.py."""

from __future__ import annotations

import os
import sys
import types
from collections import namedtuple

import pytest
import torch
from PIL import Image

from sdbench.core.config import from_dict
from sdbench.core.errors import SdbenchError
from sdbench.core.types import Example
from sdbench.evaluation.diagnose import DiagnoseConfig
from sdbench.evaluation.evaluate import EvalConfig
from sdbench.rl.train_config import TrainConfig
from sdbench.rollout.backend import SamplingParams
from sdbench.rollout.factory import make_backend
from sdbench.rollout.vllm_backend import (IMAGE_TOKEN_BIAS, VLLMBackend, build_requests, requests_for_examples,
                                          rollout_batch_from_outputs, to_sampling_params_kwargs)

# Stand-ins for vllm.outputs.RequestOutput / CompletionOutput and vllm.logprobs.Logprob (the fields read).
Logprob = namedtuple("Logprob", "logprob rank decoded_token", defaults=(None, None))
Completion = namedtuple("Completion", "index token_ids logprobs finish_reason stop_reason", defaults=(None,))
Request = namedtuple("Request", "request_id prompt outputs")

EOS = frozenset({0, 2})


def completion(index, ids, finish_reason, *, logps=None, others=True, stop_reason=None):
    """A completion whose token t has log-prob logps[t] (default -(t+1)/10), each dict also holding a decoy
    top-1 entry with another value, as vLLM returns when the sampled token is not the most likely one."""
    logps = logps or [-(t + 1) / 10 for t in range(len(ids))]
    entries = [{tok: Logprob(lp, rank=2), **({tok + 1000: Logprob(-0.01, rank=1)} if others else {})}
               for tok, lp in zip(ids, logps)]
    return Completion(index, list(ids), entries, finish_reason, stop_reason)


# ---- a tiny real policy (processor + chat template + model) --------------------------------------------------
@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    from sdbench.models.policy import load_policy
    from sdbench.models.tiny_vlm import VisionTower, build_tiny_vlm, train_tokenizer

    texts = ["Describe panel A and panel B of the chart.", "What is the value of the red bar?"] * 4
    tokenizer = train_tokenizer(texts, 400, "qwen2_5_vl")
    folder = build_tiny_vlm("qwen2_5_vl", tokenizer, tmp_path_factory.mktemp("vllm") / "m", hidden_size=64,
                            num_layers=1, vision=VisionTower(hidden_size=32, num_layers=1, num_heads=2),
                            image_size=56, seed=0)
    return load_policy(str(folder))


@pytest.fixture(scope="module")
def examples():
    red, blue, green = (Image.new("RGB", size, color) for size, color in
                        [((56, 84), "red"), ((56, 56), "blue"), ((84, 56), "green")])
    return [Example(id="two", images=(red, blue), prompt="Describe panel A and panel B.", segments=(),
                    holistic_reference=""),
            Example(id="none", images=(), prompt="What is the value of the red bar?", segments=(),
                    holistic_reference=""),
            Example(id="one", images=(green,), prompt="Describe the chart.", segments=(), holistic_reference="")]


# ---- requests ---------------------------------------------------------------------------------------------
def test_requests_tokenize_to_the_hf_paths_prompt_with_the_same_images(policy, examples):
    from sdbench.models.chat_inputs import build_prompt_batch

    requests = requests_for_examples(policy, examples, group_size=4, params=SamplingParams(16))
    assert len(requests) == len(examples)  # sampling: one request per prompt, n = G
    for ex, req in zip(examples, requests):
        images = req.get("multi_modal_data", {}).get("image", [])
        images = images if isinstance(images, list) else [images]
        assert len(images) == len(ex.images) and all(a is b for a, b in zip(images, ex.images))
        # What vLLM's HF processor makes of the request == the HF backend's input ids for this example.
        kwargs = {"images": [images]} if images else {}
        got = policy.processor(text=[req["prompt"]], return_tensors="pt", **kwargs)["input_ids"][0]
        want = build_prompt_batch(policy, [ex])["input_ids"][0]
        assert torch.equal(got, want), ex.id
        assert req["prompt"].count("<|vision_start|>") == len(ex.images)
    assert "multi_modal_data" not in requests[1]
    assert isinstance(requests[0]["multi_modal_data"]["image"], list)  # several images: a list, in order
    assert requests[2]["multi_modal_data"]["image"] is examples[2].images[0]  # one image: itself


def test_greedy_requests_repeat_each_prompt_group_size_times_in_place(policy, examples):
    requests = requests_for_examples(policy, examples[:2], group_size=3, params=SamplingParams(8, greedy=True))
    prompts = [r["prompt"] for r in requests]
    assert len(requests) == 6
    assert prompts[:3] == [prompts[0]] * 3 and prompts[3:] == [prompts[3]] * 3 and prompts[0] != prompts[3]
    assert requests[0] is not requests[1]  # separate dicts


def test_build_requests_rejects_mismatched_inputs():
    with pytest.raises(SdbenchError, match="2 prompts but 1 image lists"):
        build_requests(["a", "b"], [()])
    with pytest.raises(SdbenchError, match="copies"):
        build_requests(["a"], [()], copies=0)


def test_sampling_kwargs_set_every_knob_of_the_distribution():
    kw = to_sampling_params_kwargs(SamplingParams(32, temperature=0.7, top_p=0.9), eos_ids={7, 2}, group_size=8,
                                   suppressed_ids={5, 3, 400}, vocab_size=305)
    assert kw["n"] == 8 and kw["temperature"] == 0.7 and kw["top_p"] == 0.9 and kw["max_tokens"] == 32
    assert kw["top_k"] == 0 and kw["min_p"] == 0.0 and kw["repetition_penalty"] == 1.0
    assert kw["presence_penalty"] == 0.0 and kw["frequency_penalty"] == 0.0
    assert kw["logprobs"] == 0 and kw["stop_token_ids"] == [2, 7]
    assert kw["logit_bias"] == {3: IMAGE_TOKEN_BIAS, 5: IMAGE_TOKEN_BIAS}  # 400 is outside the vocabulary
    assert torch.softmax(torch.tensor([0.0, 30.0 + IMAGE_TOKEN_BIAS]), 0)[1].item() == 0.0  # exactly never
    assert kw["detokenize"] is False and kw["skip_special_tokens"] is False
    assert "seed" not in kw
    assert to_sampling_params_kwargs(SamplingParams(4), {2}, 2, seed=11)["seed"] == 11
    assert "logit_bias" not in to_sampling_params_kwargs(SamplingParams(4), {2}, 2)


def test_greedy_is_temperature_zero_with_one_completion_per_request():
    kw = to_sampling_params_kwargs(SamplingParams(16, temperature=0.7, top_p=0.5, greedy=True), {2}, group_size=4)
    assert kw["temperature"] == 0.0 and kw["n"] == 1 and kw["top_p"] == 1.0


def test_sampling_kwargs_need_an_eos_id():
    with pytest.raises(SdbenchError, match="no eos"):
        to_sampling_params_kwargs(SamplingParams(4), set(), 2)


def test_sampling_kwargs_are_accepted_by_vllm():
    vllm = pytest.importorskip("vllm")  # only where vLLM is installed
    params = vllm.SamplingParams(**to_sampling_params_kwargs(SamplingParams(16, temperature=0.8), {2}, 4,
                                                             suppressed_ids={3}, vocab_size=10))
    assert params.n == 4 and params.logprobs == 0 and 2 in params.stop_token_ids


# ---- responses --------------------------------------------------------------------------------------------
def test_outputs_become_a_prompt_major_batch_with_sampled_token_logprobs():
    outputs = [  # P = 2, G = 2; completions listed out of index order, as nothing guarantees their order
        Request("0", "p0", [completion(1, [9, 10, 2], "stop", logps=[-0.5, -1.5, -0.25]),
                            completion(0, [11, 12, 13], "length")]),
        Request("1", "p1", [completion(0, [14, 0], "stop"), completion(1, [15, 16, 0], "length")]),
    ]
    batch = rollout_batch_from_outputs(outputs, group_size=2, eos_ids=EOS)
    assert batch.group_size == 2 and len(batch) == 4
    assert batch.completion_ids == [[11, 12, 13], [9, 10, 2], [14, 0], [15, 16, 0]]
    assert batch.finished == [False, True, True, True]  # eos sampled as the last allowed token still ends it
    assert batch.logprobs[1] == [-0.5, -1.5, -0.25]  # the sampled token's entry, not the decoy top-1
    assert batch.logprobs[0] == pytest.approx([-0.1, -0.2, -0.3])
    assert all(len(i) == len(lp) for i, lp in zip(batch.completion_ids, batch.logprobs))


def test_tokens_after_the_first_eos_are_dropped():
    outputs = [Request("0", "p", [completion(0, [5, 2, 8, 0], "stop")])]
    batch = rollout_batch_from_outputs(outputs, 1, EOS)
    assert batch.completion_ids == [[5, 2]] and batch.finished == [True]
    assert batch.logprobs == [pytest.approx([-0.1, -0.2])]


def test_greedy_outputs_one_per_request_are_grouped_by_request_order():
    outputs = [Request(str(i), "p", [completion(0, [20 + i, 2], "stop")]) for i in range(4)]
    batch = rollout_batch_from_outputs(outputs, group_size=2, eos_ids=EOS)
    assert [ids[0] for ids in batch.completion_ids] == [20, 21, 22, 23]


@pytest.mark.parametrize("bad, message", [
    (completion(0, [5, 6], "stop"), "stopped without an eos"),
    (completion(0, [5, 2], "abort"), "finish_reason 'abort'"),
    (Completion(0, [5, 2], None, "stop"), "no log-probs"),
    (Completion(0, [5, 2], [{5: Logprob(-1.0)}], "stop"), "1 log-prob entries for 2 tokens"),
    (Completion(0, [5, 2], [{5: Logprob(-1.0)}, {9: Logprob(-1.0)}], "stop"), r"token 1 \(2\) has no log-prob"),
])
def test_malformed_outputs_are_errors(bad, message):
    with pytest.raises(SdbenchError, match=message):
        rollout_batch_from_outputs([Request("0", "p", [bad])], 1, EOS)


def test_completion_count_must_fill_whole_groups():
    outputs = [Request("0", "p", [completion(i, [5, 2], "stop") for i in range(3)])]
    with pytest.raises(SdbenchError, match="3 completions: not a positive multiple of the group size 2"):
        rollout_batch_from_outputs(outputs, 2, EOS)


# ---- make_backend and the backend against a stand-in vllm module -------------------------------------------
def test_missing_vllm_names_the_extra_to_install(policy, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # `import vllm` raises ImportError
    with pytest.raises(SdbenchError, match=r"pip install 'sdbench\[vllm\]' in a separate CUDA environment"):
        make_backend("vllm", policy)


def test_make_backend_routes_by_name(policy):
    from sdbench.rollout.hf_backend import HFBackend

    assert isinstance(make_backend("hf", policy, seed=3), HFBackend)
    with pytest.raises(SdbenchError, match=r"unknown rollout backend 'vlm' \(did you mean 'vllm'\?\); valid: hf, vllm"):
        make_backend("vlm", policy)


class FakeVLLMModel:
    def __init__(self, loaded_names=None):
        self.calls = []
        self.loaded_names = loaded_names

    def load_weights(self, weights):
        self.calls.append(list(weights))
        return {name for name, _ in weights} if self.loaded_names is None else self.loaded_names


def fake_vllm(log: list, model: FakeVLLMModel, answers):
    """A `vllm` module whose LLM records every call in `log` and answers generate() with `answers(requests, n)`."""
    class SamplingParams:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

    class LLM:
        def __init__(self, **kwargs):
            self.kwargs = kwargs
            self.llm_engine = types.SimpleNamespace(reset_encoder_cache=lambda: log.append("reset_encoder_cache"))
            log.append(("LLM", os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING")))

        def generate(self, requests, sampling, use_tqdm=True):
            log.append(("generate", len(requests), sampling.kwargs["n"]))
            self.last = (requests, sampling)
            return answers(requests, sampling.kwargs["n"])

        def apply_model(self, fn):
            log.append("apply_model")
            return [fn(model)]

        def reset_prefix_cache(self):
            log.append("reset_prefix_cache")

        def sleep(self, level=1):
            log.append(("sleep", level))

        def wake_up(self, tags=None):
            log.append(("wake_up", tuple(tags)))

    module = types.ModuleType("vllm")
    module.LLM, module.SamplingParams = LLM, SamplingParams
    return module


def answer_eos_after(requests, n):
    """Completion c of request r: tokens [100 + 10 r + c, 2] (eos), log-probs -0.1, -0.2."""
    return [Request(str(r), req["prompt"], [completion(c, [100 + 10 * r + c, 2], "stop") for c in range(n)])
            for r, req in enumerate(requests)]


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.setattr(os, "environ", {k: v for k, v in os.environ.items() if not k.startswith("VLLM_")})


def test_backend_builds_a_colocated_llm_with_processed_logprobs(policy, monkeypatch, clean_env):
    log, model = [], FakeVLLMModel()
    monkeypatch.setitem(sys.modules, "vllm", fake_vllm(log, model, answer_eos_after))
    backend = make_backend("vllm", policy, seed=7, gpu_memory_utilization=0.5, max_images_per_prompt=4)
    assert isinstance(backend, VLLMBackend)
    kw = backend.llm.kwargs
    assert kw["model"] == policy.name and kw["dtype"] == "float32" and kw["seed"] == 7
    assert kw["logprobs_mode"] == "processed_logprobs" and kw["gpu_memory_utilization"] == 0.5
    assert kw["enable_sleep_mode"] is False and kw["limit_mm_per_prompt"] == {"image": 4}
    assert kw["trust_remote_code"] is False
    assert log == [("LLM", "0")]  # the engine core runs in this process


def test_sync_passes_the_policys_parameters_by_reference_and_resets_caches(policy, monkeypatch, clean_env):
    log, model = [], FakeVLLMModel()
    monkeypatch.setitem(sys.modules, "vllm", fake_vllm(log, model, answer_eos_after))
    backend = make_backend("vllm", policy)
    log.clear()
    backend.sync_weights(policy.model)
    assert log == ["apply_model", "reset_prefix_cache", "reset_encoder_cache"]
    (weights,) = model.calls
    params = dict(policy.model.named_parameters())
    assert [name for name, _ in weights] == list(params)
    assert all(t.data_ptr() == params[name].data_ptr() and not t.requires_grad for name, t in weights)


def test_sync_that_loads_nothing_is_an_error(policy, monkeypatch, clean_env):
    monkeypatch.setitem(sys.modules, "vllm", fake_vllm([], FakeVLLMModel(loaded_names=set()), answer_eos_after))
    with pytest.raises(SdbenchError, match="loaded none of the policy's weights"):
        make_backend("vllm", policy).sync_weights(policy.model)


def test_generate_returns_the_rollout_batch_of_the_hf_backend_shape(policy, examples, monkeypatch, clean_env):
    log, model = [], FakeVLLMModel()
    monkeypatch.setitem(sys.modules, "vllm", fake_vllm(log, model, answer_eos_after))
    backend = make_backend("vllm", policy)
    batch = backend.generate(examples[:2], 3, SamplingParams(12, temperature=0.9))
    requests, sampling = backend.llm.last
    assert len(requests) == 2 and sampling.kwargs["n"] == 3 and sampling.kwargs["temperature"] == 0.9
    assert sampling.kwargs["stop_token_ids"] == sorted(policy.eos_token_ids)
    assert set(sampling.kwargs["logit_bias"]) == set(policy.image_token_ids)
    assert batch.group_size == 3 and batch.finished == [True] * 6
    assert batch.completion_ids == [[100, 2], [101, 2], [102, 2], [110, 2], [111, 2], [112, 2]]
    assert batch.logprobs == [pytest.approx([-0.1, -0.2])] * 6

    greedy = backend.generate(examples[:2], 3, SamplingParams(12, greedy=True))
    requests, sampling = backend.llm.last
    assert len(requests) == 6 and sampling.kwargs["n"] == 1 and sampling.kwargs["temperature"] == 0.0
    assert len(greedy) == 6 and greedy.group_size == 3


def test_sleep_mode_frees_the_gpu_between_rollouts_and_reloads_weights_first(policy, examples, monkeypatch,
                                                                             clean_env):
    log, model = [], FakeVLLMModel()
    monkeypatch.setitem(sys.modules, "vllm", fake_vllm(log, model, answer_eos_after))
    backend = make_backend("vllm", policy, enable_sleep_mode=True)
    assert log == [("LLM", "0"), ("sleep", 2)]
    log.clear()
    backend.sync_weights(policy.model)  # a training step: sync, then generate
    backend.generate(examples[:1], 2, SamplingParams(8))
    assert log == [("wake_up", ("weights",)), "apply_model", "reset_prefix_cache", "reset_encoder_cache",
                   ("wake_up", ("kv_cache",)), ("generate", 1, 2), ("sleep", 2)]
    log.clear()
    backend.generate(examples[:1], 2, SamplingParams(8))  # eval: no sync; the discarded weights are reloaded
    assert log[:2] == [("wake_up", ("weights",)), "apply_model"] and log[-1] == ("sleep", 2)
    assert len(model.calls) == 2


# ---- configs ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [TrainConfig, EvalConfig, DiagnoseConfig])
def test_configs_take_the_vllm_backend_and_reject_unknown_ones(cls):
    assert from_dict(cls, {"rollout_backend": "vllm"}, where="x.yaml").rollout_backend == "vllm"
    assert cls().rollout_backend == "hf"
    with pytest.raises(SdbenchError, match=r"x.yaml: rollout_backend: 'sglang' is not one of \['hf', 'vllm'\]"):
        from_dict(cls, {"rollout_backend": "sglang"}, where="x.yaml")
