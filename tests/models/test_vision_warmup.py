"""The default model's vision warm-up: token labels from scene graphs (hand-computed), and the loop trains the
vision tower only."""

import pytest
import torch

from sdbench.core.errors import SdbenchError
from sdbench.data.build_task import BuildTaskConfig, build_task
from sdbench.data.task_data import load_task_data
from sdbench.models.tiny_vlm import VisionTower, build_tiny_vlm, corpus_texts, train_tokenizer
from sdbench.warm_start.vision_warmup import ATTRIBUTES, token_targets, vision_warmup

RED_CIRCLE = {"background": "white", "objects": [{"colour": "red", "shape": "circle", "size": "large",
                                                   "position": "center", "offset": [0.0, 0.0]}]}


def test_the_token_under_the_object_centre_is_labelled_with_its_attributes():
    # one 128 px panel: header 20 px, gap 4 -> drawing area from (4, 24); a large centred object spans
    # x 50..86, y 70..106 of the 136 x 156 image. With 2 x 2 tokens (68 x 78 px each) its centre (68, 88) lies in
    # token (1, 1) = index 3, and no token centre (34|102, 39|117) is inside its box.
    t = token_targets([RED_CIRCLE], 128, (136, 156), (2, 2))
    assert t["colour"] == [0, 0, 0, ATTRIBUTES["colour"].index("red") + 1]
    assert t["shape"] == [0, 0, 0, ATTRIBUTES["shape"].index("circle") + 1]
    assert t["size"] == [0, 0, 0, ATTRIBUTES["size"].index("large") + 1]
    assert t["cell"] == [0, 0, 0, ATTRIBUTES["cell"].index("center") + 1]


def test_tokens_whose_centre_is_inside_the_box_are_labelled_too():
    # 4 x 4 tokens of 34 x 39 px: centres at x 17, 51, 85, 119 and y 19.5, 58.5, 97.5, 136.5; the box x 50..86,
    # y 70..106 holds the centres (51, 97.5) and (85, 97.5): tokens (2, 1), (2, 2); its centre (68, 88) is in (2, 2)
    t = token_targets([RED_CIRCLE], 128, (136, 156), (4, 4))
    assert [i for i, c in enumerate(t["colour"]) if c] == [2 * 4 + 1, 2 * 4 + 2]


def test_a_panel_size_that_does_not_match_the_image_is_refused():
    with pytest.raises(SdbenchError, match="tile to 136x156"):
        token_targets([RED_CIRCLE], 128, (200, 200), (2, 2))


def test_the_warm_up_trains_the_vision_tower_and_nothing_else(tmp_path):
    folder = build_task(BuildTaskConfig(task="multipanel", segments=(1, 2), n_train=8, n_test=2, seed=0,
                                        options={"max_objects": "1"}, out=tmp_path / "mp"), quiet=True)
    examples = list(load_task_data(folder).examples("train"))
    tokenizer = train_tokenizer(corpus_texts(examples), 400, "qwen2_5_vl")
    torch.manual_seed(0)
    path = build_tiny_vlm("qwen2_5_vl", tokenizer, tmp_path / "m", hidden_size=64, num_layers=1,
                          vision=VisionTower(hidden_size=32, num_layers=1, num_heads=2), image_size=112, seed=0)
    from sdbench.models.policy import load_policy

    policy = load_policy(str(path))
    before = {k: v.clone() for k, v in policy.model.state_dict().items()}
    seen: list[dict] = []
    vision_warmup(policy, examples, 128, steps=3, batch_size=2, learning_rate=1e-2, seed=0,
                  on_step=lambda step, m: seen.append(m))
    after = policy.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(".visual." in k or k.startswith("visual.") for k in changed)
    assert any("merger" in k for k in changed)
    assert len(seen) == 3 and all(set(m) == {"loss", *(f"accuracy/{h}" for h in ATTRIBUTES)} for m in seen)
