"""load_policy + chat_inputs on every tiny architecture: image tokens never sampled, left-padded generation,
forward + backward, G-fold repetition, completion mask, batched == alone log-probs, safe-loading errors."""

from __future__ import annotations

import pytest
import torch
from transformers import LogitsProcessor, LogitsProcessorList

from sdbench.core.errors import SdbenchError
from sdbench.models.chat_inputs import build_prompt_batch, build_training_batch, repeat_batch
from sdbench.models.policy import load_policy


class BoostTokens(LogitsProcessor):
    """Adds `amount` to the logits of `token_ids`: makes the model want to sample them."""

    def __init__(self, token_ids, amount: float):
        self.token_ids, self.amount = sorted(token_ids), amount

    def __call__(self, input_ids, scores):
        scores = scores.clone()
        scores[:, self.token_ids] += self.amount
        return scores


def _sampled(policy, batch, **kwargs) -> torch.Tensor:
    torch.manual_seed(0)
    out = policy.model.generate(**batch, max_new_tokens=12, do_sample=True, min_new_tokens=12, **kwargs)
    return out[:, batch["input_ids"].shape[1]:]


def test_policy_knows_its_special_tokens(arch, policies):
    policy = policies[arch]
    config = policy.model.config
    tokenizer = policy.tokenizer
    image_token = getattr(config, "image_token_id", None) or getattr(config, "image_token_index", None)
    assert image_token in policy.image_token_ids
    assert tokenizer.eos_token_id in policy.eos_token_ids
    assert not policy.image_token_ids & (policy.eos_token_ids | {policy.pad_token_id})
    names = {tokenizer.convert_ids_to_tokens(i) for i in policy.image_token_ids}
    expected = {"qwen2_vl": {"<|image_pad|>", "<|vision_start|>", "<|vision_end|>", "<|video_pad|>"},
                "qwen2_5_vl": {"<|image_pad|>", "<|vision_start|>", "<|vision_end|>", "<|video_pad|>"},
                "llava": {"<image>"},
                "idefics3": {"<image>", "<fake_token_around_image>", "<global-img>", "<row_3_col_4>"}}[arch]
    assert expected <= names
    assert not any(n.startswith(("Panel", "Chart")) for n in names)
    assert policy.computes_positions == arch.startswith("qwen")


def test_generate_never_emits_image_tokens(arch, policies, examples):
    """With the image tokens boosted to dominate the distribution, sampling emits them unless suppressed;
    `suppress_tokens` keeps them out, and so does the tiny model's own generation config."""
    policy = policies[arch]
    batch = build_prompt_batch(policy, examples[:2])
    image_ids = torch.tensor(sorted(policy.image_token_ids))
    boost = LogitsProcessorList([BoostTokens(policy.image_token_ids, 30.0)])
    unsuppressed = _sampled(policy, batch, logits_processor=boost, suppress_tokens=[])
    assert torch.isin(unsuppressed, image_ids).float().mean() > 0.9  # the test can fail
    suppressed = _sampled(policy, batch, logits_processor=boost, suppress_tokens=sorted(policy.image_token_ids))
    assert suppressed.shape == (2, 12) and not torch.isin(suppressed, image_ids).any()
    by_default = _sampled(policy, batch, logits_processor=boost)
    assert not torch.isin(by_default, image_ids).any()


def test_left_padded_generation_matches_each_prompt_alone(arch, policies, examples):
    policy = policies[arch]
    pair = [examples[0], examples[3]]  # K = 1 and K = 8: prompts of different lengths
    batch = build_prompt_batch(policy, pair)
    assert batch["attention_mask"][0, 0] == 0 and batch["attention_mask"][:, -1].all()  # padded on the left
    kwargs = dict(max_new_tokens=8, min_new_tokens=8, do_sample=False,
                  suppress_tokens=sorted(policy.image_token_ids))
    together = policy.model.generate(**batch, **kwargs)[:, batch["input_ids"].shape[1]:]
    for row, example in enumerate(pair):
        alone_batch = build_prompt_batch(policy, [example])
        alone = policy.model.generate(**alone_batch, **kwargs)[:, alone_batch["input_ids"].shape[1]:]
        assert torch.equal(together[row], alone[0])


def test_forward_backward_gives_finite_gradients_through_the_vision_tower(arch, policies, examples,
                                                                          completion_logprobs):
    policy = policies[arch]
    batch = build_training_batch(policy, examples[1:3], ["Panel 1: a small red circle.", "Panel 2: none."])
    policy.model.zero_grad()
    logp = completion_logprobs(policy.model, batch)
    loss = -(logp * batch.completion_token_mask).sum() / batch.completion_token_mask.sum()
    loss.backward()
    grads = {name: p.grad for name, p in policy.model.named_parameters() if p.requires_grad}
    unused = {name for name, g in grads.items() if g is None}
    # LLaVA reads a hidden layer of the CLIP tower, never its post_layernorm (as the real LLaVA does)
    assert unused <= {"model.vision_tower.post_layernorm.weight", "model.vision_tower.post_layernorm.bias"}
    assert all(torch.isfinite(g).all() for g in grads.values() if g is not None)
    vision = [g for name, g in grads.items() if "vision" in name or "visual" in name]
    assert vision and any(g.abs().sum() > 0 for g in vision)  # the image reaches the loss
    policy.model.zero_grad()


def test_repeated_inputs_give_the_same_logits_for_each_copy(arch, policies, examples):
    policy = policies[arch]
    pair = [examples[1], examples[7]]  # a 2-panel image and an 8-chart image: different pixel shapes
    once = build_prompt_batch(policy, pair)
    thrice = build_prompt_batch(policy, pair, num_repeats=3)
    assert thrice["input_ids"].shape[0] == 6
    with torch.no_grad():
        logits_once = policy.model(**once).logits
        logits_thrice = policy.model(**thrice).logits
    for row in range(6):
        torch.testing.assert_close(logits_thrice[row], logits_once[row // 3], atol=1e-5, rtol=0)
    assert not torch.allclose(logits_once[0], logits_once[1], atol=1e-3)


def test_repeat_batch_handles_patch_rows_per_image():
    """Qwen2-VL layout: pixel_values rows are patches, image i owning prod(grid_thw[i]) of them; example 0
    has two images (2 + 4 patches), example 1 one image (3 patches)."""
    grid = torch.tensor([[1, 1, 2], [1, 2, 2], [1, 1, 3]])
    pixels = torch.arange(9.0)[:, None].expand(9, 4)
    batch = {"input_ids": torch.tensor([[1, 2], [3, 4]]), "pixel_values": pixels, "image_grid_thw": grid}
    out = repeat_batch(batch, 2, images_per_example=[2, 1])
    assert out["input_ids"].tolist() == [[1, 2], [1, 2], [3, 4], [3, 4]]
    assert out["image_grid_thw"].tolist() == [[1, 1, 2], [1, 2, 2]] * 2 + [[1, 1, 3]] * 2
    assert out["pixel_values"][:, 0].tolist() == [0, 1, 2, 3, 4, 5] * 2 + [6, 7, 8] * 2
    llava = repeat_batch({"pixel_values": torch.arange(3.0)[:, None, None, None].expand(3, 3, 2, 2)}, 2, [2, 1])
    assert llava["pixel_values"][:, 0, 0, 0].tolist() == [0, 1, 0, 1, 2, 2]
    with pytest.raises(SdbenchError, match="rows"):
        repeat_batch({"pixel_values": pixels, "image_grid_thw": grid}, 2, [1, 1])


def test_completion_mask_marks_exactly_the_completion_tokens(arch, policies, examples):
    policy = policies[arch]
    completions = [[17, 18, 19, 20, 21], [30], [40, 41, policy.eos_token_id], [50, 51]]  # 2 examples x G=2
    batch = build_training_batch(policy, examples[:2], completions)
    ids, mask = batch.inputs["input_ids"], batch.completion_mask
    assert ids.shape == mask.shape == (4, batch.prompt_length + 5)
    for row, completion in enumerate(completions):
        assert ids[row][mask[row]].tolist() == completion
        assert mask[row].nonzero().flatten().tolist() == list(range(batch.prompt_length,
                                                                    batch.prompt_length + len(completion)))
        assert batch.inputs["attention_mask"][row, batch.prompt_length + len(completion):].sum() == 0
    assert torch.equal(batch.completion_ids, ids[:, batch.prompt_length:])
    assert torch.equal(ids[0, :batch.prompt_length], ids[1, :batch.prompt_length])  # same prompt, repeated
    text = build_training_batch(policy, examples[:1], ["Panel 1: a large blue square."])
    tokens = text.inputs["input_ids"][0][text.completion_mask[0]].tolist()
    assert tokens[-1] == policy.eos_token_id
    assert policy.tokenizer.decode(tokens[:-1]) == "Panel 1: a large blue square."
    with pytest.raises(SdbenchError, match="not a whole number"):
        build_training_batch(policy, examples[:2], completions[:3])


def test_batched_log_probs_equal_each_example_alone(arch, policies, examples, completion_logprobs):
    """Left padding of the prompt block and right padding of the completion block change nothing."""
    policy = policies[arch]
    chosen = [examples[0], examples[3], examples[5]]  # prompts of different lengths, images of different shapes
    completions = ["Panel 1: a small green triangle and a large red circle.", "Chart 1: 12",
                   "Chart 1: Apple\nChart 2: 7.5"]
    with torch.no_grad():
        batch = build_training_batch(policy, chosen, completions)
        together = completion_logprobs(policy.model, batch)
        assert batch.inputs["attention_mask"][:, 0].min() == 0  # there is left padding to get wrong
        for row, (example, completion) in enumerate(zip(chosen, completions)):
            alone_batch = build_training_batch(policy, [example], [completion])
            alone = completion_logprobs(policy.model, alone_batch)[0]
            n = int(batch.completion_token_mask[row].sum())
            assert n == alone.shape[0]
            torch.testing.assert_close(together[row, :n], alone, atol=1e-5, rtol=0)


def test_pickled_weights_are_refused(model_dirs, tmp_path):
    folder = tmp_path / "bin-only"
    folder.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "processor_config.json"):
        (folder / name).write_bytes((model_dirs["llava"] / name).read_bytes())
    torch.save({"w": torch.zeros(2)}, folder / "pytorch_model.bin")
    with pytest.raises(SdbenchError, match=r"only pickled weights \(pytorch_model.bin\).*safetensors.*"
                                           r"save_pretrained") as info:
        load_policy(str(folder))
    assert "\n" not in str(info.value)


def test_missing_model_errors_in_one_line(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # no 25 s of retries without network
    with pytest.raises(SdbenchError, match="no-such-org/no-such-vlm.*not a local folder.*hub") as info:
        load_policy("no-such-org/no-such-vlm")
    assert "\n" not in str(info.value)
    with pytest.raises(SdbenchError, match="no such folder"):
        load_policy(str(tmp_path / "absent"))


def test_cached_hub_id_loads_from_the_cache_without_network_retries(model_dirs, tmp_path, monkeypatch):
    """A hub id present in the local cache loads from it with the network down, and without the hub client's
    retry loop (≈ 25 s of sleeps) that a plain from_pretrained goes through first."""
    import shutil
    import socket
    import time

    import huggingface_hub.constants

    revision = "0" * 40
    repo = tmp_path / "models--sdbench-test--tiny-llava"
    shutil.copytree(model_dirs["llava"], repo / "snapshots" / revision)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))

    def no_network(*args, **kwargs):
        raise OSError("network disabled in this test")

    def no_retry_sleep(seconds):
        raise AssertionError(f"slept {seconds} s: a network retry loop ran")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(time, "sleep", no_retry_sleep)
    policy = load_policy("sdbench-test/tiny-llava")
    assert type(policy.model).__name__ == "LlavaForConditionalGeneration"
    assert policy.image_token_ids == frozenset({policy.model.config.image_token_index})
