"""The verl adapter's pure parts, without verl: segment records <-> tensors, uid grouping, options, parquet rows.

    .venv/bin/python -m pytest tests/integrations/test_verl_layout.py -q -p no:cacheprovider

The oracle for every advantage check is sdbench's own estimator run on each uid group alone (group_size = that
group's size), with AdvantageInputs built directly from the generated arrays, never from the records; the adapter
must give the same numbers for rows in any order and groups of unequal size. verl itself is exercised in
tests/optional/test_verl_adapter.py (`make test-verl`).
"""

import json
import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sdbench.integrations.verl import (ESTIMATORS, SEGMENTS_KEY, advantages_by_uid, bind_segments, collate,
                                       decode_record, encode_record, estimator_options, group_rows, ids_from_runs,
                                       make_estimator, records_from_extra_fields, segment_record, token_runs,
                                       verl_advantages, verl_rows)
from sdbench.rl.advantages import ADVANTAGE_ESTIMATORS, AdvantageInputs

METHOD_KWARGS = {
    "grpo": {}, "dr-grpo": {},
    "sd-grpo": {"outside": "holistic"}, "sd-dr-grpo": {"outside": "mean"},
    "hybrid": {"hybrid_lambda": 0.3, "scale_by_std": False, "outside": "zero"},
}


def random_batch(seed: int, num_tokens: int = 12):
    """Rows of several uid groups (unequal sizes, unequal K per prompt), shuffled. Each row: response length, token
    segment ids (contiguous run per found segment, labels and gaps at -1), rewards with ties, missing segments."""
    rng = random.Random(seed)
    rows = []
    for group in range(rng.randint(2, 4)):
        uid = f"uid-{rng.randint(0, 10**6)}-{group}"
        num_segments = rng.randint(1, 3)
        constant = rng.random() < 0.25  # a zero-variance group
        for _ in range(rng.choice([1, 2, 3, 4])):
            length = rng.randint(num_segments * 2, num_tokens)
            ids = [-1] * length
            found = [rng.random() < 0.8 for _ in range(num_segments)]
            cursor = 0
            for k in range(num_segments):
                if not found[k]:
                    continue
                start = cursor + 1  # one label token before each body
                stop = min(length, start + rng.randint(1, 2))
                if start >= stop:
                    found[k] = False
                    continue
                ids[start:stop] = [k] * (stop - start)
                cursor = stop
            rewards = [0.5 if constant else rng.choice([0.0, 0.25, 0.5, 1.0, rng.random()]) for _ in found]
            rewards = [r if f else 0.0 for r, f in zip(rewards, found)]
            holistic = sum(rewards) / num_segments
            rows.append(dict(uid=uid, length=length, ids=ids, found=found, rewards=rewards, holistic=holistic))
    rng.shuffle(rows)
    return rows


def verl_tensors(rows, num_tokens: int = 12):
    """verl's view: token_level_rewards with R_i at the last response token, response_mask, uid index."""
    token_level_rewards = torch.zeros(len(rows), num_tokens)
    response_mask = torch.zeros(len(rows), num_tokens, dtype=torch.long)
    for i, row in enumerate(rows):
        response_mask[i, :row["length"]] = 1
        token_level_rewards[i, row["length"] - 1] = row["holistic"]
    return token_level_rewards, response_mask, [row["uid"] for row in rows]


def oracle(method: str, rows, num_tokens: int = 12, **kwargs) -> torch.Tensor:
    """sdbench's estimator on each uid group alone, inputs built from the raw arrays (trainer style)."""
    out = torch.zeros(len(rows), num_tokens)
    for members in group_rows([row["uid"] for row in rows]):
        group = [rows[i] for i in members]
        num_segments = max(len(r["rewards"]) for r in group)
        seg_rewards = torch.zeros(len(group), num_segments)
        seg_mask = torch.zeros(len(group), num_segments, dtype=torch.bool)
        seg_found = torch.zeros(len(group), num_segments, dtype=torch.bool)
        token_ids = torch.full((len(group), num_tokens), -1, dtype=torch.long)
        mask = torch.zeros(len(group), num_tokens, dtype=torch.bool)
        for j, r in enumerate(group):
            k = len(r["rewards"])
            seg_rewards[j, :k] = torch.tensor(r["rewards"])
            seg_mask[j, :k] = True
            seg_found[j, :k] = torch.tensor(r["found"])
            token_ids[j, :r["length"]] = torch.tensor(r["ids"])
            mask[j, :r["length"]] = True
        inputs = AdvantageInputs(rewards=torch.tensor([r["holistic"] for r in group]), completion_mask=mask,
                                 segment_rewards=seg_rewards, segment_mask=seg_mask, segment_found=seg_found,
                                 token_segment_ids=token_ids)
        out[members] = ADVANTAGE_ESTIMATORS[method](inputs, len(group), **kwargs)
    return out


def records_of(rows):
    return [segment_record(r["rewards"], r["found"], r["ids"], r["holistic"]) for r in rows]


# ---- records ------------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=-1, max_value=3), max_size=40))
def test_token_runs_round_trip(ids):
    assert ids_from_runs(token_runs(ids), len(ids)) == ids


def test_record_json_round_trip_and_missing_segment_reward_is_zero():
    record = segment_record([0.7, float("nan")], [True, False], [-1, 0, 0, -1], holistic_reward=0.35)
    assert record["rewards"] == [0.7, 0.0] and record["found"] == [True, False]
    assert record["runs"] == [[0, 1, 3]] and record["length"] == 4
    assert decode_record(encode_record(record)) == record
    with pytest.raises(ValueError, match="version"):
        decode_record(json.dumps({**record, "v": 99}))


def test_records_from_extra_fields_reads_reward_extra_info_and_names_the_fix():
    record = segment_record([1.0], [True], [0, 0], 1.0)
    extra = [{"reward_extra_info": {SEGMENTS_KEY: encode_record(record), "acc": 1.0}}]
    assert records_from_extra_fields(extra) == [record]
    with pytest.raises(ValueError, match="SdbenchRewardManager"):
        records_from_extra_fields([{"reward_extra_info": {"acc": 1.0}}])


def test_collate_rebuilds_trainer_inputs():
    rows = random_batch(seed=3)
    token_level_rewards, response_mask, _ = verl_tensors(rows)
    inputs = collate(records_of(rows), token_level_rewards, response_mask)
    for i, row in enumerate(rows):
        k = len(row["rewards"])
        assert inputs.token_segment_ids[i, :row["length"]].tolist() == row["ids"]
        assert inputs.segment_found[i, :k].tolist() == row["found"]
        assert inputs.segment_mask[i].sum() == k
        torch.testing.assert_close(inputs.rewards[i], torch.tensor(row["holistic"]))


def test_collate_refuses_misaligned_rows_and_kl_in_reward():
    rows = random_batch(seed=4)
    token_level_rewards, response_mask, _ = verl_tensors(rows)
    records = records_of(rows)
    with pytest.raises(ValueError, match="misaligned"):
        collate(records[::-1], token_level_rewards, response_mask)
    shifted = token_level_rewards.clone()
    shifted[:, 0] -= 0.01  # what a per-token KL penalty in the reward does
    with pytest.raises(ValueError, match="use_kl_in_reward"):
        collate(records, shifted, response_mask)


# ---- uid groups -----------------------------------------------------------------------------------------------


def test_group_rows_keeps_first_seen_order():
    assert group_rows(["x", "y", "x", "z", "y", "x"]) == [[0, 2, 5], [1, 4], [3]]


@pytest.mark.parametrize("method", list(METHOD_KWARGS))
@pytest.mark.parametrize("seed", range(6))
def test_shuffled_unequal_groups_match_each_group_alone(method, seed):
    rows = random_batch(seed)
    token_level_rewards, response_mask, index = verl_tensors(rows)
    inputs = collate(records_of(rows), token_level_rewards, response_mask)
    got = advantages_by_uid(method, inputs, index, **METHOD_KWARGS[method])
    torch.testing.assert_close(got, oracle(method, rows, **METHOD_KWARGS[method]), rtol=0, atol=0)


def test_contiguous_equal_groups_are_the_plain_estimator():
    rows = [dict(r, uid=f"g{i // 3}") for i, r in enumerate(random_batch(seed=7)[:6])]
    rows = [dict(r, rewards=(r["rewards"] + [0.0])[:1], found=(r["found"] + [False])[:1]) for r in rows]
    for r in rows:
        r["ids"] = [k if k == 0 else -1 for k in r["ids"]]
        r["holistic"] = r["rewards"][0]
    token_level_rewards, response_mask, index = verl_tensors(rows)
    inputs = collate(records_of(rows), token_level_rewards, response_mask)
    torch.testing.assert_close(advantages_by_uid("sd-grpo", inputs, index),
                               ADVANTAGE_ESTIMATORS["sd-grpo"](inputs, 3), rtol=0, atol=0)


# ---- the registered estimator, minus verl ----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_estimator_reads_bound_records_and_options(name):
    method = ESTIMATORS[name]
    rows = random_batch(seed=11)
    token_level_rewards, response_mask, index = verl_tensors(rows)
    config = {"sdbench": {"outside": "mean", "hybrid_lambda": 0.25, "scale_by_std": True, "eps": 1e-6}}
    with bind_segments(records_of(rows)):
        advantages, returns = make_estimator(name)(token_level_rewards=token_level_rewards,
                                                   response_mask=response_mask, index=index, config=config)
    assert advantages is returns
    torch.testing.assert_close(advantages, oracle(method, rows, **estimator_options(method, config)), rtol=0, atol=0)


def test_segment_estimators_without_records_say_which_trainer_to_use():
    rows = random_batch(seed=12)
    token_level_rewards, response_mask, index = verl_tensors(rows)
    with pytest.raises(ValueError, match="trainer_mode=sdbench_sync"):
        verl_advantages("sd-grpo", token_level_rewards, response_mask, index)
    grpo = verl_advantages("grpo", token_level_rewards, response_mask, index)  # holistic only: no records needed
    torch.testing.assert_close(grpo, oracle("grpo", rows), rtol=0, atol=0)


def test_estimator_options():
    assert estimator_options("dr-grpo", None) == {}
    assert estimator_options("sd-dr-grpo", {}) == {"outside": "holistic"}
    assert estimator_options("hybrid", {"sdbench": {"hybrid_lambda": 1}}) == {
        "outside": "holistic", "hybrid_lambda": 1.0, "scale_by_std": True, "eps": 1e-4}
    with pytest.raises(ValueError, match="outside"):
        estimator_options("sd-grpo", {"sdbench": {"outside": "labels"}})
    with pytest.raises(ValueError, match="unknown"):
        estimator_options("sd-grpo", {"sdbench": {"lambda": 0.5}})


# ---- parquet rows ----------------------------------------------------------------------------------------------


def test_verl_rows_from_a_built_task(tmp_path):
    from sdbench.data.build_task import BuildTaskConfig, build_task
    from sdbench.data.task_data import load_task_data

    folder = build_task(BuildTaskConfig(task="multipanel", segments=(2, 3), n_train=3, n_test=1, seed=0,
                                        out=tmp_path / "mp"), quiet=True)
    examples = list(load_task_data(folder).examples("train"))
    rows = list(verl_rows(folder, "train", reward="fact_f1"))
    assert len(rows) == len(examples) == 3
    for row, example in zip(rows, examples):
        content = row["prompt"][0]["content"]
        assert content.count("<image>") == len(example.images) == len(row["images"])
        assert content.endswith(example.prompt) and row["data_source"] == "sdbench/multipanel"
        assert row["extra_info"]["example_id"] == example.id and row["extra_info"]["sdbench_reward"] == "fact_f1"
        assert row["images"][0]["bytes"].startswith(b"\x89PNG")
