"""Tiny VLMs of real HF architectures: offline build, determinism, round trip, processor without torchvision,
tokenizer and chat template, vision-token budget."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from sdbench.core.errors import SdbenchError
from sdbench.models.tiny_vlm import PIXELS_PER_VISION_TOKEN_SIDE, RECIPES, build_tiny_vlm, train_tokenizer


@pytest.fixture
def offline(monkeypatch):
    """Any attempt to reach the Hugging Face hub raises."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def test_same_seed_gives_identical_weights_offline(arch, tokenizers, model_dirs, tmp_path, offline, tiny_sizes):
    again = build_tiny_vlm(arch, tokenizers[arch], tmp_path / "again", seed=0, **tiny_sizes)
    other = build_tiny_vlm(arch, tokenizers[arch], tmp_path / "other", seed=1, **tiny_sizes)
    first, second = load_file(model_dirs[arch] / "model.safetensors"), load_file(again / "model.safetensors")
    assert first.keys() == second.keys() and len(first) > 10
    assert all(torch.equal(first[k], second[k]) for k in first)
    third = load_file(other / "model.safetensors")
    random_init = [k for k in first if first[k].numel() > 1 and first[k].std() > 0]  # not the ones/zeros of norms
    assert len(random_init) > 10 and all(not torch.equal(first[k], third[k]) for k in random_init)
    assert json.loads((again / "tiny_vlm.json").read_text())["arch"] == arch


def test_folder_is_complete_and_loads_with_auto_model(arch, model_dirs, offline, tiny_sizes):
    from transformers import AutoConfig, AutoModelForImageTextToText

    folder = model_dirs[arch]
    for name in ("config.json", "model.safetensors", "generation_config.json", "tokenizer.json",
                 "tokenizer_config.json", "processor_config.json", "chat_template.jinja"):
        assert (folder / name).is_file(), name
    assert not list(folder.glob("*.bin"))
    assert AutoConfig.from_pretrained(folder).model_type == arch
    model = AutoModelForImageTextToText.from_pretrained(folder)
    assert model.config.get_text_config().hidden_size == tiny_sizes["hidden_size"]
    assert model.config.get_text_config().num_hidden_layers == tiny_sizes["num_layers"]


def test_processor_loads_without_torchvision(arch, model_dirs, offline):
    from transformers import AutoProcessor
    from transformers.utils import is_torchvision_available

    from sdbench.models.policy import load_processor

    processor = load_processor(str(model_dirs[arch]))
    assert type(processor).__name__ == json.loads((model_dirs[arch] / "processor_config.json").read_text())[
        "processor_class"]
    assert type(processor.image_processor).__name__.endswith("Pil") or is_torchvision_available()
    if arch in ("llava", "idefics3") or is_torchvision_available():
        assert type(AutoProcessor.from_pretrained(model_dirs[arch])).__name__ == type(processor).__name__
    else:  # the fallback is needed, and it leaves the video processor out
        with pytest.raises(Exception):  # noqa: B017 - whatever transformers raises for the missing video processor
            AutoProcessor.from_pretrained(model_dirs[arch])
        assert getattr(processor, "video_processor", None) is None


def test_save_load_round_trip_gives_identical_logits(arch, policies, examples, tmp_path, offline):
    from sdbench.models.chat_inputs import build_prompt_batch
    from sdbench.models.policy import load_policy

    policy = policies[arch]
    policy.model.save_pretrained(tmp_path)
    policy.processor.save_pretrained(tmp_path)
    again = load_policy(str(tmp_path))
    assert type(again.processor) is type(policy.processor) or type(again.processor).__name__ == type(
        policy.processor).__name__
    assert again.image_token_ids == policy.image_token_ids and again.eos_token_ids == policy.eos_token_ids
    batch, batch_again = build_prompt_batch(policy, examples[:2]), build_prompt_batch(again, examples[:2])
    assert batch.keys() == batch_again.keys()
    assert all(torch.equal(batch[k], batch_again[k]) for k in batch)
    with torch.no_grad():
        assert torch.equal(policy.model(**batch).logits, again.model(**batch).logits)


def test_vision_tokens_stay_within_the_budget(arch, policies, examples, tiny_sizes):
    """K = 8 charts (≈ 1054 x 402 px) and K = 1 panel (≈ 136 x 156 px) both fit in (112 / 28)² = 16 tokens."""
    from sdbench.models.chat_inputs import build_prompt_batch

    policy = policies[arch]
    image_token = policy.model.config.image_token_id if hasattr(policy.model.config, "image_token_id") else \
        policy.model.config.image_token_index
    budget = (tiny_sizes["image_size"] // PIXELS_PER_VISION_TOKEN_SIDE) ** 2
    for example in (examples[0], examples[-1]):
        batch = build_prompt_batch(policy, [example])
        count = int((batch["input_ids"] == image_token).sum())
        assert 4 <= count <= budget, (example.id, example.images[0].size, count)


def test_tokenizer_has_the_architecture_tokens_and_template(arch, tokenizers, examples):
    tokenizer = tokenizers[arch]
    recipe = RECIPES[arch]
    ids = [tokenizer.convert_tokens_to_ids(t) for t in recipe.special_tokens]
    assert ids == list(range(len(recipe.special_tokens)))  # specials first, one id each
    assert tokenizer.eos_token == recipe.eos_token and tokenizer.pad_token == recipe.pad_token
    text = examples[3].prompt + " Ünïcode ✓"
    assert tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"]) == text  # byte-level: lossless
    assert len(tokenizer(examples[3].prompt, add_special_tokens=False)["input_ids"]) < len(examples[3].prompt) / 2
    again = train_tokenizer([examples[0].prompt] * 3, 300, arch)
    assert again.get_vocab() == train_tokenizer([examples[0].prompt] * 3, 300, arch).get_vocab()
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe."}]},
                {"role": "assistant", "content": "Panel 1: a cat."}]
    rendered = tokenizer.apply_chat_template(messages, tokenize=False)
    prompt_only = tokenizer.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True)
    assert rendered.index("Describe.") < rendered.index("Panel 1: a cat.")
    assert recipe.image_tokens[0] in prompt_only or "<image>" in prompt_only
    assert rendered.rstrip().endswith(recipe.eos_token)
    assert prompt_only.rstrip().endswith(recipe.chat_template.rsplit("{% if add_generation_prompt %}", 1)[1]
                                         .split("{%")[0].rstrip())


def test_bad_arguments_are_refused(tokenizers, model_dirs, tmp_path, tiny_sizes):
    with pytest.raises(SdbenchError, match="unknown tiny VLM architecture 'qwen2vl'.*did you mean"):
        build_tiny_vlm("qwen2vl", tokenizers["qwen2_vl"], tmp_path / "x")
    with pytest.raises(SdbenchError, match="no '<unk>' token"):
        build_tiny_vlm("llava", tokenizers["qwen2_vl"], tmp_path / "y", **tiny_sizes)
    with pytest.raises(SdbenchError, match="not empty"):
        build_tiny_vlm("llava", tokenizers["llava"], model_dirs["llava"], **tiny_sizes)
    with pytest.raises(SdbenchError, match="multiple of 64"):
        build_tiny_vlm("llava", tokenizers["llava"], tmp_path / "z", hidden_size=100)
    with pytest.raises(SdbenchError, match="too small"):
        train_tokenizer(["a"], 100, "idefics3")
