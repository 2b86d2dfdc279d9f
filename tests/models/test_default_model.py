"""The shipped default model: its files are the ones whose sha256 the code pins, a changed file is refused with the
fix, `--model default` resolves to it, and it writes the labelled format and reads the image."""

import shutil

import pytest

from sdbench.core.errors import SdbenchError
from sdbench.models import default_model as dm


def test_the_shipped_files_match_the_pinned_hashes():
    assert dm.SHIPPED_DIR.is_dir(), "sdbench/assets/default-model-v2 is missing (a checkout without the assets?)"
    assert dm.shipped_model() == dm.SHIPPED_DIR
    assert dm.default_model() == dm.SHIPPED_DIR  # no build when the shipped weights are there
    assert dm.default_model_name() == "default-model-v2"
    assert (dm.SHIPPED_DIR / "model.safetensors").stat().st_size < 20 * 2**20


def test_the_shipped_report_is_of_the_default_recipe_and_shows_reading():
    """warmstart.json was made by DEFAULT's recipe, and on multipanel the swapped-image control scores lower at
    every K (the model reads the panels; README, "The embedded default model")."""
    import json
    from dataclasses import asdict

    report = json.loads((dm.SHIPPED_DIR / "warmstart.json").read_text())
    assert report["spec"] == json.loads(json.dumps(asdict(dm.DEFAULT)))
    real, swapped = report["reward_by_k"]["multipanel"], report["swapped_by_k"]["multipanel"]
    assert all(real[k] > swapped[k] + 0.05 for k in ("1", "2", "4")), (real, swapped)


def test_phases_are_checked():
    with pytest.raises(SdbenchError, match="phases: kinds must be"):
        dm.DefaultModelSpec(phases=(("vision", 10), ("instruct:nosuchtask", 5)))
    with pytest.raises(SdbenchError, match="`vision` can only come first"):
        dm.DefaultModelSpec(phases=(("align", 10), ("vision", 5)))


def test_a_changed_or_missing_shipped_file_is_refused_with_the_fix(tmp_path, monkeypatch):
    original, copy = dm.SHIPPED_DIR, tmp_path / "default-model-v2"
    shutil.copytree(original, copy)
    monkeypatch.setattr(dm, "SHIPPED_DIR", copy)
    data = bytearray((copy / "model.safetensors").read_bytes())
    data[-1] ^= 1
    (copy / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(SdbenchError, match=r"model\.safetensors: sha256 .* is not the shipped .*git checkout"):
        dm.shipped_model()
    shutil.copy(original / "model.safetensors", copy)
    (copy / "tokenizer.json").unlink()
    with pytest.raises(SdbenchError, match="tokenizer.json: missing from the shipped default model"):
        dm.shipped_model()


def test_the_default_resolves_to_the_shipped_weights_and_writes_labelled_panels(tmp_path):
    from sdbench.data.build_task import BuildTaskConfig, build_task
    from sdbench.data.task_data import load_task_data
    from sdbench.data.token_spans import decode_with_offsets
    from sdbench.models.model_ref import display_name, resolve_model
    from sdbench.models.policy import load_policy
    from sdbench.rollout.backend import SamplingParams
    from sdbench.rollout.hf_backend import HFBackend

    assert resolve_model("default").load_from == str(dm.SHIPPED_DIR) and display_name("default") == "default-model-v2"
    folder = build_task(BuildTaskConfig(task="multipanel", segments=(2,), n_train=1, n_test=2, seed=0,
                                        options=dm.task_options(dm.DEFAULT, "multipanel"), out=tmp_path / "mp"),
                        quiet=True)
    examples = list(load_task_data(folder).examples("test"))
    policy = load_policy(str(dm.SHIPPED_DIR))
    assert examples[0].prompt == examples[1].prompt  # the prompt depends on K only: the images tell them apart
    rollouts = HFBackend(policy).generate(examples, 1, SamplingParams(64, greedy=True))
    texts = [decode_with_offsets(ids, policy.tokenizer).text for ids in rollouts.completion_ids]
    for text in texts:
        assert [line.split(":")[0] for line in text.splitlines()] == ["Panel 1", "Panel 2"], text
    assert texts[0] != texts[1], "greedy outputs for the same prompt ignore the image"  # a blind policy fails this


def test_the_pipeline_refuses_a_changed_shipped_file_instead_of_rebuilding(tmp_path, monkeypatch):
    """ensure_default_model builds only when there is nothing to find: a tampered shipped file is the same error
    with its fix as for `--model default`, never a silent 95-minute build into the cache."""
    from sdbench.warm_start import recipe

    copy = tmp_path / "default-model-v2"
    shutil.copytree(dm.SHIPPED_DIR, copy)
    (copy / "config.json").write_text("{}")
    monkeypatch.setattr(dm, "SHIPPED_DIR", copy)
    monkeypatch.setattr(recipe, "SHIPPED_DIR", copy)
    monkeypatch.setattr(recipe, "build", lambda *a, **k: pytest.fail("rebuilt instead of refusing"))
    with pytest.raises(SdbenchError, match=r"config\.json: sha256 .* is not the shipped"):
        recipe.ensure_default_model()
