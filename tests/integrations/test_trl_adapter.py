"""The TRL adapter (sdbench/integrations/trl.py) on a tiny local Qwen2.5-VL, CPU, no download.

    .venv/bin/python -m pytest tests/integrations/test_trl_adapter.py -q -p no:cacheprovider

What is checked:
  - a 2-step `SegmentGRPOTrainer.train()` with sampled completions (method sd-grpo) changes the parameters and
    logs the sdbench metrics;
  - the per-token advantages TRL's `_compute_loss` receives equal sdbench's estimator output computed here
    independently (a fresh `Scorer`, `decode_with_offsets`, `token_segment_ids`, `ADVANTAGE_ESTIMATORS`), for
    sd-grpo, hybrid, sd-dr-grpo (with loss_type="dr_grpo") and grpo (which also equals TRL's own (B,) advantage);
    the completions are scripted from the references (segments right, wrong, missing, a preamble) so the
    per-segment rewards differ within each group;
  - every TRL loss_type's `_compute_loss` accepts the (B, T) advantages (finite loss, a gradient);
  - two real processes (gloo) gather segment tensors of different S and T and a group that spans both
    processes, and each gets its slice of the single-process result (hand-computed values for that group);
  - bad configurations fail with an error naming the field and the fix.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("trl")

from sdbench.core.errors import SdbenchError  # noqa: E402
from sdbench.data.build_task import BuildTaskConfig  # noqa: E402
from sdbench.data.build_task import build_task  # noqa: E402
from sdbench.data.task_data import load_task_data  # noqa: E402
from sdbench.integrations.trl import (SegmentCredit, TaskRewards, holistic_rewards, scale_by_std_for,  # noqa: E402
                                      task_dataset)
from sdbench.models.tiny_vlm import VisionTower, build_tiny_vlm, corpus_texts, train_tokenizer  # noqa: E402
from sdbench.rl.advantages import ADVANTAGE_ESTIMATORS, AdvantageInputs  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning", "ignore::DeprecationWarning")

G = 4  # rollouts per prompt
ROWS = 8  # per_device_train_batch_size: 2 prompts per step


# ---- fixtures ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def task_dir(tmp_path_factory) -> Path:
    """Synthetic multipanel, K alternating 1, 2, 1, 2 … (the first batch holds one example of each)."""
    return build_task(BuildTaskConfig(task="multipanel", segments=(1, 2), n_train=6, n_test=1, seed=0,
                                      out=tmp_path_factory.mktemp("task") / "mp"), quiet=True)


@pytest.fixture(scope="module")
def policy(tmp_path_factory, task_dir):
    """A tiny random Qwen2.5-VL (text 64 x 1, vision 32 x 1, 56 px images) with its processor, left padding."""
    from sdbench.models.policy import load_policy

    torch.set_num_threads(2)
    examples = list(load_task_data(task_dir).examples("train"))
    tokenizer = train_tokenizer(corpus_texts(examples), 600, "qwen2_5_vl")
    folder = build_tiny_vlm("qwen2_5_vl", tokenizer, tmp_path_factory.mktemp("model") / "m", hidden_size=64,
                            num_layers=1, vision=VisionTower(hidden_size=32, num_layers=1, num_heads=2),
                            image_size=56, seed=0)
    loaded = load_policy(str(folder))
    loaded.tokenizer.padding_side = "left"  # as TRL loads a processor itself
    return loaded


def grpo_config(out: Path, policy, **overrides):
    from trl import GRPOConfig

    settings = dict(output_dir=str(out), max_steps=1, per_device_train_batch_size=ROWS, num_generations=G,
                    max_completion_length=16, learning_rate=1e-2, beta=0.0, use_cpu=True, bf16=False,
                    gradient_checkpointing=False, report_to="none", save_strategy="no", logging_steps=1,
                    disable_tqdm=True, seed=0, shuffle_dataset=False, dataloader_num_workers=0,
                    generation_kwargs={"suppress_tokens": sorted(policy.image_token_ids)})
    settings.update(overrides)
    return GRPOConfig(**settings)


def make_trainer(policy, task_dir, out, credit, rewards=None, dataset=None, **config):
    """A SegmentGRPOTrainer on a fresh copy of the tiny model (tests never share trained weights)."""
    import copy

    from sdbench.integrations.trl import SegmentGRPOTrainer

    rewards = rewards if rewards is not None else TaskRewards(task_dir, policy.tokenizer)
    dataset = dataset if dataset is not None else task_dataset(task_dir)
    return SegmentGRPOTrainer(model=copy.deepcopy(policy.model), args=grpo_config(out, policy, **config),
                              train_dataset=dataset, processing_class=policy.processor, task_rewards=rewards,
                              credit=credit)


def record_loss_inputs(trainer) -> list[dict]:
    """Wrap `_compute_loss` on the instance: each call's inputs (the batch TRL's loss reads) are kept."""
    seen: list[dict] = []
    original = trainer._compute_loss

    def recording(model, inputs):
        seen.append(inputs)
        return original(model, inputs)

    trainer._compute_loss = recording
    return seen


def script_completions(trainer, policy, write) -> list[tuple[str, list[int]]]:
    """Replace sampling: row g of an example's group gets the token ids of write(example, g) + <|im_end|>.
    Returns the rows of the last generation batch as (example id, completion ids), in TRL's row order."""
    rows: list[tuple[str, list[int]]] = []
    examples = trainer.task_rewards.examples
    eos = policy.tokenizer.convert_tokens_to_ids("<|im_end|>")
    original = trainer._generate_and_score_completions
    ids_of_batch: list[str] = []

    def remember_ids(inputs):
        ids_of_batch[:] = [row["example_id"] for row in inputs]
        return original(inputs)

    def fixed(prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        rows.clear()
        for r, example_id in enumerate(ids_of_batch):
            text = write(examples[example_id], r % G)
            rows.append((example_id, policy.tokenizer(text, add_special_tokens=False)["input_ids"] + [eos]))
        return [ids for _, ids in rows], None

    trainer._generate_and_score_completions = remember_ids
    trainer._generate_single_turn = fixed
    return rows


def write_completion(example, g: int) -> str:
    """g=0 every segment right; 1 the last segment wrong; 2 a preamble and segment 1 missing; 3 every segment
    given the last segment's reference."""
    labels = [s.label for s in example.segments]
    refs = [s.reference for s in example.segments]
    if g == 1:
        refs = refs[:-1] + ["A tiny grey cross on a black background."]
    if g == 2:
        return "Sure, here it is.\n" + "\n".join(f"{lab} {ref}" for lab, ref in list(zip(labels, refs))[1:])
    if g == 3:
        refs = [refs[-1]] * len(refs)
    return "\n".join(f"{lab} {ref}" for lab, ref in zip(labels, refs))


def expected_advantages(task_dir, policy, rows, method, kwargs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """sdbench's own pipeline, as `sdbench train` runs it, on the rows TRL scored: (advantages (B, T),
    completion mask (B, T), holistic rewards (B,))."""
    from sdbench.data.scoring import Scorer
    from sdbench.data.task import load_task
    from sdbench.data.token_spans import decode_with_offsets, token_segment_ids

    data = load_task_data(task_dir)
    examples = list(data.examples("train"))
    by_id = {ex.id: ex for ex in examples}
    scorer = Scorer(load_task(data.task_name), data.manifest["source"]["name"], examples, metrics=())
    decoded = [decode_with_offsets(ids, policy.tokenizer) for _, ids in rows]
    scores = scorer.score([by_id[i] for i, _ in rows], [d.text for d in decoded],
                          hit_length_limit=[False] * len(rows))
    B, S, T = len(rows), max(s.num_segments for s in scores), max(len(ids) for _, ids in rows)
    seg_rewards, seg_mask = torch.zeros(B, S), torch.zeros(B, S, dtype=torch.bool)
    seg_found, token_ids = torch.zeros(B, S, dtype=torch.bool), torch.full((B, T), -1)
    mask = torch.zeros(B, T, dtype=torch.bool)
    for i, (score, d) in enumerate(zip(scores, decoded)):
        k, n = score.num_segments, len(rows[i][1])
        seg_rewards[i, :k] = torch.tensor(score.segment_rewards)
        seg_mask[i, :k] = True
        seg_found[i, :k] = torch.tensor([span is not None for span in score.spans])
        token_ids[i, :n] = torch.tensor(token_segment_ids(d, score.spans))
        mask[i, :n] = True
    holistic = torch.tensor([s.holistic_reward for s in scores])
    inputs = AdvantageInputs(rewards=holistic, completion_mask=mask, segment_rewards=seg_rewards,
                             segment_mask=seg_mask, segment_found=seg_found, token_segment_ids=token_ids)
    return ADVANTAGE_ESTIMATORS[method](inputs, G, **kwargs), mask, holistic


# ---- (a) a real 2-step run --------------------------------------------------------------------------------------
def test_two_sampled_steps_change_the_parameters(policy, task_dir, tmp_path):
    rewards = TaskRewards(task_dir, policy.tokenizer, segments=(1,), reward="rouge_l")  # random text overlaps
    trainer = make_trainer(policy, task_dir, tmp_path, SegmentCredit("sd-grpo"), rewards=rewards,
                           dataset=task_dataset(task_dir, segments=(1,)), max_steps=2)
    seen = record_loss_inputs(trainer)
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainer.train()
    changed = [name for name, p in trainer.model.named_parameters() if not torch.equal(before[name], p)]
    assert len(seen) == 2 and all(batch["advantages"].shape == batch["completion_ids"].shape for batch in seen)
    assert any(batch["advantages"].abs().max() > 0 for batch in seen)
    assert len(changed) > len(before) // 2, f"only {len(changed)} of {len(before)} tensors changed"
    logged = trainer.state.log_history[0]
    assert 0.5 <= logged["sdbench/segments_found"] <= 1.0  # K = 1: unlabelled text is the one segment
    assert logged["sdbench/segment_reward"] == pytest.approx(logged["reward"], abs=1e-6)  # holistic = mean of 1


# ---- (b) the advantages TRL's loss sees are sdbench's -----------------------------------------------------------
@pytest.mark.parametrize("credit, config", [
    (SegmentCredit("sd-grpo"), {}),
    (SegmentCredit("hybrid", outside="mean", hybrid_lambda=0.3), {}),
    (SegmentCredit("sd-dr-grpo", outside="zero"), {"scale_rewards": "none", "loss_type": "dr_grpo"}),
    (SegmentCredit("grpo"), {}),
], ids=["sd-grpo", "hybrid", "sd-dr-grpo+dr_grpo-loss", "grpo"])
def test_loss_sees_sdbench_advantages(policy, task_dir, tmp_path, monkeypatch, credit, config):
    monkeypatch.setattr("trl.trainer.grpo_trainer.shuffle_sequence_dict", lambda batch: batch)  # keep row order
    trainer = make_trainer(policy, task_dir, tmp_path, credit, max_completion_length=320, **config)
    rows = script_completions(trainer, policy, write_completion)
    seen = record_loss_inputs(trainer)
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainer.train()

    kwargs = credit.estimator_kwargs(scale_by_std=config.get("scale_rewards", "group") == "group")
    expected, mask, holistic = expected_advantages(task_dir, policy, rows, credit.method, kwargs)
    got = seen[0]["advantages"]
    assert [trainer.task_rewards.examples[i].num_segments for i, _ in rows] == [1] * G + [2] * G
    assert torch.equal(seen[0]["completion_mask"].bool()[:, :mask.shape[1]], mask)
    torch.testing.assert_close(got[:, :mask.shape[1]], expected, rtol=0, atol=1e-6)
    assert torch.count_nonzero(got[:, mask.shape[1]:]) == 0  # padding
    assert got.abs().max() > 0.3
    assert any(not torch.equal(before[n], p) for n, p in trainer.model.named_parameters())

    k2 = slice(G, 2 * G)  # the K = 2 group: g0 right, g1 last wrong, g2 preamble + segment 1 missing, g3 repeats
    per_row_values = [set(got[i][mask[i]].tolist()) for i in range(2 * G)]
    if credit.method == "grpo":  # one value per rollout: TRL's own (B,) advantage of the same rewards
        trl_own = torch.tensor(list(trainer._logs["advantages"]))
        torch.testing.assert_close(got[:, 0], trl_own, rtol=0, atol=1e-6)
        assert all(len(values) == 1 for values in per_row_values)
    else:  # the segments of a K = 2 rollout get different credit
        assert all(len(values) >= 2 for values in per_row_values[k2])
    if credit.method == "sd-grpo":
        # segment 2 of g0 and of g2 is the same text, so its tokens get the same advantage (the last body token,
        # before <|im_end|>); g2's preamble and <|im_end|> are outside every segment: its holistic advantage
        segment_2 = [got[G + g][mask[G + g]][-2].item() for g in (0, 2)]
        assert segment_2[0] == pytest.approx(segment_2[1], abs=1e-6)
        group = holistic[k2]
        holistic_g2 = ((group[2] - group.mean()) / (group.std() + 1e-4)).item()
        assert got[G + 2][0].item() == pytest.approx(holistic_g2, abs=1e-5)
        assert got[G + 2][mask[G + 2]][-1].item() == pytest.approx(holistic_g2, abs=1e-5)
        assert abs(holistic_g2 - segment_2[1]) > 0.1  # so the two rules are told apart


# ---- (c) every loss_type takes (B, T) advantages ---------------------------------------------------------------
def test_every_loss_type_accepts_per_token_advantages(policy, task_dir, tmp_path):
    trainer = make_trainer(policy, task_dir, tmp_path, SegmentCredit("sd-grpo"), max_completion_length=320)
    script_completions(trainer, policy, write_completion)
    seen = record_loss_inputs(trainer)
    trainer.train()
    batch = seen[0]
    assert batch["advantages"].dim() == 2
    compute_loss = type(trainer)._compute_loss
    for loss_type in ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo"):
        trainer.loss_type = loss_type  # what _compute_loss reads
        trainer.model.zero_grad()
        loss = compute_loss(trainer, trainer.model, batch)
        loss.backward()
        grad = sum(p.grad.abs().sum() for p in trainer.model.parameters() if p.grad is not None)
        assert torch.isfinite(loss) and grad > 0, loss_type


# ---- multi-process gathering -------------------------------------------------------------------------------------
CHILD = r'''
import json, sys
import torch
from accelerate import Accelerator
from sdbench.integrations.trl import SegmentCredit, SegmentTensors, gather_rows, per_token_advantages

accelerator = Accelerator(cpu=True)
local = json.loads(sys.argv[1])[accelerator.process_index]
tensors = SegmentTensors(torch.tensor(local["rewards"]), torch.tensor(local["mask"]), torch.tensor(local["found"]),
                         torch.tensor(local["ids"]), torch.tensor(local["completion_mask"]))
holistic = accelerator.gather(torch.tensor(local["holistic"]))            # as TRL gathers rewards_per_func
everyone = gather_rows(tensors, accelerator)
advantages = per_token_advantages(SegmentCredit("sd-dr-grpo", outside="mean"), holistic, everyone, 2, False)
b, t = len(local["holistic"]), len(local["ids"][0])
rows = slice(accelerator.process_index * b, (accelerator.process_index + 1) * b)
print("RESULT", json.dumps(advantages[rows, :t].tolist()), flush=True)
accelerator.wait_for_everyone()  # neither process may exit while the other still talks to it (gloo aborts then)
torch.distributed.destroy_process_group()
'''

# Process 0: rows 0-2, S = 1, T = 2; process 1: rows 3-5, S = 3, T = 3. G = 2: the group of rows 2 and 3 spans
# both processes (K = 1), rows 4-5 have K = 3 (segment 2 missing in row 4).
LOCAL = [
    {"holistic": [1.0, 0.0, 0.6], "rewards": [[1.0], [0.0], [0.6]], "mask": [[True]] * 3, "found": [[True]] * 3,
     "ids": [[0, -1], [0, 0], [-1, 0]], "completion_mask": [[True, True], [True, False], [True, True]]},
    {"holistic": [0.2, 0.5, 0.3], "rewards": [[0.2, 0.0, 0.0], [0.5, 0.0, 1.0], [0.3, 0.4, 0.2]],
     "mask": [[True, False, False], [True, True, True], [True, True, True]],
     "found": [[True, False, False], [True, False, True], [True, True, True]],
     "ids": [[0, 0, -1], [0, 2, 2], [1, 1, 2]], "completion_mask": [[True, True, False], [True] * 3, [True] * 3]},
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_gather_and_slice_like_one(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "WORLD_SIZE": "2",
           "LOCAL_WORLD_SIZE": "2", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    children = [subprocess.Popen([sys.executable, str(script), json.dumps(LOCAL)], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env={**env, "RANK": str(r), "LOCAL_RANK": str(r)})
                for r in range(2)]
    outputs = [child.communicate(timeout=120) for child in children]
    assert all(child.returncode == 0 for child in children), outputs[0][1][-2000:] + outputs[1][1][-2000:]
    got = [json.loads(out.split("RESULT ", 1)[1]) for out, _ in outputs]

    # one process holding all six rows, padded by hand (S = 3, T = 3)
    def pad(rows, width, value):
        return [row + [value] * (width - len(row)) for row in rows]
    rewards = torch.tensor(pad(LOCAL[0]["rewards"], 3, 0.0) + LOCAL[1]["rewards"])
    inputs = AdvantageInputs(
        rewards=torch.tensor(LOCAL[0]["holistic"] + LOCAL[1]["holistic"]),
        completion_mask=torch.tensor(pad(LOCAL[0]["completion_mask"], 3, False) + LOCAL[1]["completion_mask"]),
        segment_rewards=rewards, segment_mask=torch.tensor(pad(LOCAL[0]["mask"], 3, False) + LOCAL[1]["mask"]),
        segment_found=torch.tensor(pad(LOCAL[0]["found"], 3, False) + LOCAL[1]["found"]),
        token_segment_ids=torch.tensor(pad(LOCAL[0]["ids"], 3, -1) + LOCAL[1]["ids"]))
    single = ADVANTAGE_ESTIMATORS["sd-dr-grpo"](inputs, 2, outside="mean")
    torch.testing.assert_close(torch.tensor(got[0]), single[:3, :2])
    torch.testing.assert_close(torch.tensor(got[1]), single[3:, :3])
    # by hand (Dr. GRPO: centred only; a token outside every segment gets the mean over the rollout's expected
    # segments, so padded segments must not count as expected): rows 0 | 1, r = 1.0 | 0.0 -> ±0.5
    torch.testing.assert_close(torch.tensor(got[0][0]), torch.tensor([0.5, 0.5]))
    torch.testing.assert_close(torch.tensor(got[0][1]), torch.tensor([-0.5, 0.0]))
    # rows 2 | 3 share a group across the two processes, r = 0.6 | 0.2 -> ±0.2
    torch.testing.assert_close(torch.tensor(got[0][2]), torch.tensor([0.2, 0.2]))
    torch.testing.assert_close(torch.tensor(got[1][0]), torch.tensor([-0.2, -0.2, 0.0]))
    # rows 4 | 5: segment 1 0.5 | 0.3, segment 2 missing (0) | 0.4, segment 3 1.0 | 0.2
    torch.testing.assert_close(torch.tensor(got[1][1]), torch.tensor([0.1, 0.4, 0.4]))
    torch.testing.assert_close(torch.tensor(got[1][2]), torch.tensor([0.2, 0.2, -0.4]))


# ---- (d) bad configurations --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    ({"method": "sd-grpoo"}, r"unknown credit method 'sd-grpoo' \(SegmentCredit.method\) \(did you mean 'sd-grpo'"),
    ({"method": "hybrid"}, r"hybrid_lambda=None: method 'hybrid' needs a λ in \[0, 1\]"),
    ({"method": "hybrid", "hybrid_lambda": 1.5}, r"hybrid_lambda=1.5: method 'hybrid' needs a λ in \[0, 1\]"),
    ({"method": "sd-grpo", "hybrid_lambda": 0.5}, r"hybrid_lambda does nothing with method 'sd-grpo'"),
    ({"outside": "everywhere"},
     r"unknown outside rule 'everywhere' \(SegmentCredit.outside\).*valid: holistic, mean, zero"),
])
def test_bad_credit_config_names_the_field_and_fix(kwargs, message):
    with pytest.raises(SdbenchError, match=message):
        SegmentCredit(**kwargs)


def test_trl_settings_that_do_not_fit_are_refused():
    assert scale_by_std_for(SegmentCredit("hybrid", hybrid_lambda=0.5), "none", "sum_then_normalize") is False
    assert scale_by_std_for(SegmentCredit("sd-grpo"), "group", "sum_then_normalize") is True
    with pytest.raises(SdbenchError, match=r"scale_rewards='group' does not fit method 'sd-dr-grpo'.*'none'"):
        scale_by_std_for(SegmentCredit("sd-dr-grpo"), "group", "sum_then_normalize")
    with pytest.raises(SdbenchError, match=r"scale_rewards='batch'.*'group' or 'none'"):
        scale_by_std_for(SegmentCredit("hybrid", hybrid_lambda=0.5), "batch", "sum_then_normalize")
    with pytest.raises(SdbenchError, match=r"multi_objective_aggregation='normalize_then_sum'.*sum_then_normalize"):
        scale_by_std_for(SegmentCredit("sd-grpo"), "group", "normalize_then_sum")
    with pytest.raises(SdbenchError, match=r"every reward function.*return a number"):
        holistic_rewards(torch.tensor([[float("nan")], [1.0]]), torch.ones(1))


def test_trainer_refuses_bad_settings_before_loading_the_model(policy, task_dir, tmp_path):
    from sdbench.integrations.trl import SegmentGRPOTrainer

    rewards = TaskRewards(task_dir, policy.tokenizer)
    missing_folder = str(tmp_path / "no-model-here")  # never loaded: the checks come first
    with pytest.raises(SdbenchError, match=r"remove_unused_columns=True drops the 'example_id' column"):
        SegmentGRPOTrainer(missing_folder, args=grpo_config(tmp_path, policy, remove_unused_columns=True),
                           task_rewards=rewards)
    with pytest.raises(SdbenchError, match=r"scale_rewards='group' does not fit method 'dr-grpo'"):
        SegmentGRPOTrainer(missing_folder, args=grpo_config(tmp_path, policy), task_rewards=rewards,
                           credit=SegmentCredit("dr-grpo"))
    with pytest.raises(SdbenchError, match=r"needs task_rewards=TaskRewards"):
        SegmentGRPOTrainer(missing_folder, args=grpo_config(tmp_path, policy), task_rewards=None)


def test_rewards_and_dataset_name_the_missing_pieces(policy, task_dir):
    rewards = TaskRewards(task_dir, policy.tokenizer, segments=(2,))
    with pytest.raises(SdbenchError, match=r"example ids \['multipanel-train-000000'\] are not in this TaskRewards"):
        rewards.score(["multipanel-train-000000"], [[5, 6]])
    with pytest.raises(SdbenchError, match=r"needs the 'example_id' column"):
        rewards.holistic_reward(["p"], ["c"], completion_ids=[[5]])
    with pytest.raises(SdbenchError, match=r"no example with K in \[3\]"):
        task_dataset(task_dir, segments=(3,))
    dataset = task_dataset(task_dir, segments=(2,))
    assert set(dataset.column_names) == {"images", "example_id", "prompt"}
    row = dataset[0]
    example = rewards.examples[row["example_id"]]
    assert row["prompt"] == [{"role": "user", "content": example.prompt}]
    stored = next(ex for ex in load_task_data(task_dir).examples("train") if ex.id == example.id)
    assert [image.size for image in row["images"]] == [image.size for image in stored.images] != []
    assert example.images == () and example.segments == stored.segments  # TaskRewards keeps no images
    # the same completion gets the same holistic reward as sdbench's scorer, and a cached second call
    text = "\n".join(f"{s.label} {s.reference}" for s in example.segments)
    ids = [policy.tokenizer(text, add_special_tokens=False)["input_ids"]]
    first = rewards.score([example.id], ids)
    assert rewards.holistic_reward(["p"], ["c"], completion_ids=ids, example_id=[example.id]) == [
        first.scores[0].holistic_reward]
    assert rewards.score([example.id], ids) is first
    assert first.scores[0].holistic_reward > 0.9  # the references themselves
