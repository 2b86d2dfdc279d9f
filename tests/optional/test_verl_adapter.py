"""sdbench's estimators inside verl 0.9.1: verl's own code paths give sdbench's advantages.

    make test-verl        # builds .venv-verl (scripts/venv.sh verl, from requirements/verl.lock) if needed, then runs this file there

Skipped where verl is not installed (the main .venv: verl pins transformers < 5.11). What runs verl's real code:
- `verl.trainer.ppo.ray_trainer.compute_advantage` on a real `DataProto` (the function both verl trainers call),
  with the estimator looked up by name in verl's registry, for every sdbench estimator, on rows whose uids are
  shuffled and groups unequal, with missing segments and zero-variance groups; oracle: sdbench's estimator on
  each group alone (the generator and oracle of tests/integrations/test_verl_layout.py, loaded by path);
- a hand-computed case, and sdbench_grpo against verl's own "grpo";
- the reward path: SdbenchRewardManager.run_single on the DataProto item the reward loop gives it, verl's
  `AgentLoopOutput.as_dict` building rm_scores, and the v1 trainer's `_compute_advantage` (sdbench_sync) reading a
  TransferQueue filled by verl's own `list_of_dict_to_tensordict`; the result equals sdbench's trainer computation.
Nothing here needs a GPU, Ray workers or vLLM.
"""

import importlib.util
import random
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.optional_env
pytest.importorskip("verl")

from omegaconf import OmegaConf  # noqa: E402  (verl brings omegaconf)
from verl import DataProto  # noqa: E402
from verl.trainer.ppo.core_algos import get_adv_estimator_fn  # noqa: E402
from verl.trainer.ppo.ray_trainer import compute_advantage  # noqa: E402

import sdbench.integrations.verl as adapter  # noqa: E402  (registers the estimators)
from sdbench.rl.advantages import ADVANTAGE_ESTIMATORS, AdvantageInputs  # noqa: E402


def _layout_helpers():
    path = Path(__file__).resolve().parents[1] / "integrations" / "test_verl_layout.py"
    spec = importlib.util.spec_from_file_location("verl_layout_helpers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


layout = _layout_helpers()


def verl_batch(token_level_rewards, response_mask, uids) -> DataProto:
    return DataProto.from_dict(tensors={"token_level_rewards": token_level_rewards, "response_mask": response_mask},
                               non_tensors={"uid": np.array(uids, dtype=object)})


def algorithm_config(**sdbench_options):
    """The trainer passes `config.algorithm` (a DictConfig); sdbench's options sit under algorithm.sdbench."""
    return OmegaConf.create({"adv_estimator": "unused", "sdbench": sdbench_options})


def test_every_estimator_is_in_verls_registry():
    for name in adapter.ESTIMATORS:
        assert get_adv_estimator_fn(name).__name__ == f"compute_{name}_advantage"


@pytest.mark.parametrize("name", list(adapter.ESTIMATORS))
@pytest.mark.parametrize("seed", range(5))
def test_verl_compute_advantage_equals_sdbench(name, seed):
    method = adapter.ESTIMATORS[name]
    rows = layout.random_batch(seed)
    token_level_rewards, response_mask, uids = layout.verl_tensors(rows)
    options = {"outside": ["holistic", "zero", "mean"][seed % 3], "hybrid_lambda": 0.25 * (seed % 5),
               "scale_by_std": seed % 2 == 0}
    data = verl_batch(token_level_rewards, response_mask, uids)
    with adapter.bind_segments(layout.records_of(rows)):
        out = compute_advantage(data, adv_estimator=name, config=algorithm_config(**options))
    expected = layout.oracle(method, rows, **adapter.estimator_options(method, {"sdbench": options}))
    torch.testing.assert_close(out.batch["advantages"], expected, rtol=0, atol=0)
    torch.testing.assert_close(out.batch["returns"], expected, rtol=0, atol=0)


def test_hand_computed_sd_dr_grpo_with_interleaved_uids():
    """Rows a, b, a, b (groups not contiguous). K = 2 for prompt a, 1 for prompt b. T = 4.

    prompt a: row 0 ids [-1, 0, -1, 1], r = (1.0, 0.2); row 2 ids [-1, 0, 0, -1], r = (0.0, missing -> 0)
              segment 0 centred: +0.5, -0.5; segment 1 centred: +0.1, -0.1 (no tokens in row 2)
              R = mean of segments: 0.6, 0.0 -> Dr. GRPO holistic +0.3, -0.3 (tokens outside, rule "holistic")
    prompt b: row 1 ids [0, 0, -1, pad], r = 0.9, R = 0.9; row 3 ids [0, pad ...], r = 0.5, R = 0.5
              segment 0 centred +0.2, -0.2; holistic +0.2, -0.2
    """
    rows = [dict(uid="a", length=4, ids=[-1, 0, -1, 1], found=[True, True], rewards=[1.0, 0.2], holistic=0.6),
            dict(uid="b", length=3, ids=[0, 0, -1], found=[True], rewards=[0.9], holistic=0.9),
            dict(uid="a", length=4, ids=[-1, 0, 0, -1], found=[True, False], rewards=[0.0, 0.0], holistic=0.0),
            dict(uid="b", length=1, ids=[0], found=[True], rewards=[0.5], holistic=0.5)]
    token_level_rewards, response_mask, uids = layout.verl_tensors(rows, num_tokens=4)
    with adapter.bind_segments(layout.records_of(rows)):
        out = compute_advantage(verl_batch(token_level_rewards, response_mask, uids),
                                adv_estimator="sdbench_sd_dr_grpo", config=algorithm_config())
    expected = torch.tensor([[0.3, 0.5, 0.3, 0.1],
                             [0.2, 0.2, 0.2, 0.0],
                             [-0.3, -0.5, -0.5, -0.3],
                             [-0.2, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(out.batch["advantages"], expected, rtol=0, atol=1e-6)


def test_sdbench_grpo_with_verls_eps_equals_verls_grpo():
    """On groups of >= 2 rollouts with unequal rewards, sdbench's GRPO (eps = 1e-6) is verl's built-in GRPO; they
    differ only where sdbench defines more (a constant group gets exactly 0, a lone rollout 0)."""
    rng = random.Random(0)
    uids = [f"p{g}" for g in range(5) for _ in range(4)]
    rng.shuffle(uids)
    token_level_rewards = torch.zeros(len(uids), 6)
    response_mask = torch.zeros(len(uids), 6, dtype=torch.long)
    for i in range(len(uids)):
        length = rng.randint(1, 6)
        response_mask[i, :length] = 1
        token_level_rewards[i, length - 1] = rng.random()
    ours = compute_advantage(verl_batch(token_level_rewards, response_mask, uids), adv_estimator="sdbench_grpo",
                             config=algorithm_config(eps=1e-6))
    theirs = compute_advantage(verl_batch(token_level_rewards, response_mask, uids), adv_estimator="grpo",
                               config=algorithm_config())
    torch.testing.assert_close(ours.batch["advantages"], theirs.batch["advantages"], rtol=1e-5, atol=1e-6)


def test_segment_estimator_outside_sdbench_trainer_fails_with_the_fix():
    rows = layout.random_batch(1)
    token_level_rewards, response_mask, uids = layout.verl_tensors(rows)
    with pytest.raises(ValueError, match="trainer_mode=sdbench_sync"):
        compute_advantage(verl_batch(token_level_rewards, response_mask, uids), adv_estimator="sdbench_sd_grpo",
                          config=algorithm_config())


# ---- the reward path, end to end ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    """A tiny synthetic multipanel task, its train split as verl parquet, and a real HF tokenizer trained on it."""
    import pandas as pd

    from sdbench.data.build_task import BuildTaskConfig, build_task
    from sdbench.data.task_data import load_task_data
    from sdbench.models.tiny_vlm import corpus_texts, train_tokenizer

    folder = build_task(BuildTaskConfig(task="multipanel", segments=(2, 3), n_train=3, n_test=1, seed=0,
                                        out=tmp_path_factory.mktemp("verl") / "mp"), quiet=True)
    examples = list(load_task_data(folder).examples("train"))
    parquet = tmp_path_factory.mktemp("parquet") / "train.parquet"
    pd.DataFrame(list(adapter.verl_rows(folder, "train"))).to_parquet(parquet)
    tokenizer = train_tokenizer(corpus_texts(examples), vocab_size=2048, arch="qwen2_vl")
    return folder, examples, parquet, tokenizer


def responses_for(example, rng: random.Random) -> list[str]:
    """A few completions of different quality: the reference, one segment dropped, one body swapped, a bare text."""
    bodies = [f"{s.label} {s.reference}" for s in example.segments]
    dropped = bodies[:1] + bodies[2:]
    swapped = [bodies[0].split(" ", 2)[0] + " " + bodies[0].split(" ", 2)[1] + " " + example.segments[-1].reference]
    options = ["\n".join(bodies), "\n".join(dropped), "\n".join(swapped + bodies[1:]), "I see some panels."]
    rng.shuffle(options)
    return options


def test_reward_manager_and_v1_trainer_give_sdbench_trainer_advantages(task, monkeypatch):
    import pandas as pd
    from transfer_queue import KVBatchMeta
    from verl.experimental.agent_loop.agent_loop import AgentLoopMetrics, AgentLoopOutput
    from verl.trainer.ppo.v1 import get_trainer_cls, trainer_base
    from verl.utils.tensordict_utils import list_of_dict_to_tensordict

    from sdbench.data.token_spans import decode_with_offsets, token_segment_ids

    folder, examples, parquet, tokenizer = task
    rows = pd.read_parquet(parquet).to_dict("records")  # what verl's RLHFDataset reads
    manager = adapter.SdbenchRewardManager(OmegaConf.create({}), tokenizer)
    scorer, by_id = adapter.task_scorer(str(Path(folder).resolve()), "train")
    rng = random.Random(0)
    eos = tokenizer.eos_token_id
    samples, fields = [], []
    for prompt_index, row in enumerate(rows):
        extra = dict(row["extra_info"])
        example = by_id[extra["example_id"]]
        for text in responses_for(example, rng):
            ids = tokenizer(text, add_special_tokens=False)["input_ids"] + [eos]
            # the reward loop's single-item DataProto: left-padded prompt, right-padded response
            prompt_ids, response_ids = torch.tensor([[7, 8, 9]]), torch.tensor([ids + [0, 0]])
            attention = torch.tensor([[1, 1, 1] + [1] * len(ids) + [0, 0]])
            item = DataProto.from_dict(tensors={"prompts": prompt_ids, "responses": response_ids,
                                                "attention_mask": attention},
                                       non_tensors={"extra_info": np.array([extra], dtype=object)})
            result = manager.loop.run_until_complete(manager.run_single(item))  # the worker runs it on its loop
            samples.append((f"uid{prompt_index}", example, text, ids, result))
    rng.shuffle(samples)

    for uid, example, text, ids, result in samples:  # what SdbenchRewardManager returned is sdbench's scoring
        decoded = decode_with_offsets(ids, tokenizer)
        score = scorer.score([example], [decoded.text], hit_length_limit=[False])[0]
        assert result["reward_score"] == score.holistic_reward
        record = adapter.decode_record(result["reward_extra_info"][adapter.SEGMENTS_KEY])
        assert adapter.ids_from_runs(record["runs"], len(ids)) == token_segment_ids(decoded, score.spans)

    # verl's v1 agent-loop worker: AgentLoopOutput.as_dict builds rm_scores (R at the last token), then the sample
    # goes into the TransferQueue under key {uid}_{session}_{index}
    keys = []
    for session, (uid, example, text, ids, result) in enumerate(samples):
        output = AgentLoopOutput(prompt_ids=[7, 8, 9], response_ids=ids, response_mask=[1] * len(ids),
                                 reward_score=result["reward_score"], metrics=AgentLoopMetrics(),
                                 extra_fields={"reward_extra_info": result["reward_extra_info"]})
        field = output.as_dict()
        field["uid"] = uid
        fields.append(field)
        keys.append(f"{uid}_{session}_0")
    store = list_of_dict_to_tensordict(fields)
    written = {}

    def kv_batch_get(keys, partition_id, select_fields):
        assert keys == [f"{s[0]}_{i}_0" for i, s in enumerate(samples)]
        return store.select(*[f for f in select_fields if f in store.keys()])

    def kv_batch_put(keys, partition_id, fields):
        written.update({k: fields[k] for k in fields.keys()})
        return batch

    monkeypatch.setattr(trainer_base.tq, "kv_batch_get", kv_batch_get)
    monkeypatch.setattr(trainer_base.tq, "kv_batch_put", kv_batch_put)
    trainer_cls = get_trainer_cls("sdbench_sync")
    trainer = trainer_cls.__new__(trainer_cls)  # only _compute_advantage runs: no Ray, no workers
    options = {"outside": "mean", "hybrid_lambda": 0.4}
    trainer.config = OmegaConf.create({
        "algorithm": {"adv_estimator": "sdbench_hybrid", "use_kl_in_reward": False, "gamma": 1.0, "lam": 1.0,
                      "norm_adv_by_std_in_grpo": True, "rollout_correction": None, "sdbench": options},
        "actor_rollout_ref": {"rollout": {"n": 4}}})
    batch = KVBatchMeta(keys=keys, tags=[{} for _ in keys], partition_id="train")
    trainer._compute_advantage(batch, metrics={})
    advantages = written["advantages"]  # nested (B, response_len_i), as written back to the TransferQueue

    # sdbench's own trainer computation (sdbench.rl.trainer.train_step) from the same scores, group by group
    for members in adapter.group_rows([s[0] for s in samples]):
        group = [samples[i] for i in members]
        T = max(len(s[3]) for s in group)
        S = max(s[1].num_segments for s in group)
        seg_rewards, seg_mask = torch.zeros(len(group), S), torch.zeros(len(group), S, dtype=torch.bool)
        seg_found = torch.zeros(len(group), S, dtype=torch.bool)
        token_ids = torch.full((len(group), T), -1, dtype=torch.long)
        mask = torch.zeros(len(group), T, dtype=torch.bool)
        holistic = []
        for j, (uid, example, text, ids, result) in enumerate(group):
            decoded = decode_with_offsets(ids, tokenizer)
            score = scorer.score([example], [decoded.text], hit_length_limit=[False])[0]
            k = score.num_segments
            seg_rewards[j, :k] = torch.tensor(score.segment_rewards)
            seg_mask[j, :k] = True
            seg_found[j, :k] = torch.tensor([span is not None for span in score.spans])
            token_ids[j, :len(ids)] = torch.tensor(token_segment_ids(decoded, score.spans))
            mask[j, :len(ids)] = True
            holistic.append(score.holistic_reward)
        inputs = AdvantageInputs(rewards=torch.tensor(holistic), completion_mask=mask, segment_rewards=seg_rewards,
                                 segment_mask=seg_mask, segment_found=seg_found, token_segment_ids=token_ids)
        expected = ADVANTAGE_ESTIMATORS["hybrid"](inputs, len(group), hybrid_lambda=0.4, outside="mean")
        for j, row in enumerate(members):
            got = advantages[row]
            torch.testing.assert_close(got, expected[j, :len(group[j][3])], rtol=0, atol=0)
    assert any(float(advantages[i].abs().sum()) > 0 for i in range(len(samples)))


def test_example_overrides_compose_against_verls_config():
    """Every override of examples/verl/run_sd_grpo_qwen2_5_vl.sh names a key of verl 0.9.1's ppo_trainer config (hydra
    rejects unknown keys without `+`), and the reward manager it names resolves to SdbenchRewardManager."""
    import os
    import subprocess

    import verl
    from hydra import compose, initialize_config_dir
    from verl.trainer.ppo.reward import resolve_reward_manager_cls

    script = Path(__file__).resolve().parents[2] / "examples" / "verl" / "run_sd_grpo_qwen2_5_vl.sh"
    printed = subprocess.run(["bash", str(script)], env={**os.environ, "DRY_RUN": "1", "ESTIMATOR": "sdbench_hybrid"},
                             capture_output=True, text=True, check=True).stdout
    config_dir = str(Path(verl.__file__).parent / "trainer" / "config")
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        config = compose(config_name="ppo_trainer", overrides=printed.split())
    assert config.algorithm.adv_estimator == "sdbench_hybrid" and config.trainer.v1.trainer_mode == "sdbench_sync"
    assert adapter.estimator_options("hybrid", config.algorithm)["hybrid_lambda"] == 0.5
    assert resolve_reward_manager_cls(config) is adapter.SdbenchRewardManager
    assert config.ray_kwargs.ray_init.runtime_env.env_vars.VERL_USE_EXTERNAL_MODULES == "sdbench.integrations.verl"
