"""sdbench's GRPO / Dr. GRPO advantages and clipped loss equal TRL's GRPOTrainer (TRL 1.16) to 1e-6.

    .venv/bin/python -m pytest tests/equivalence/test_trl_equivalence.py -q -p no:cacheprovider

What is compared:
  - advantages: `grpo` == TRL `scale_rewards="group"`, `dr-grpo` == TRL `scale_rewards="none"` (TRL's (B,)
    advantage on every real token);
  - loss value, its gradient with respect to the log-probs, and the clip / KL statistics TRL logs:
    `token-mean` == TRL `loss_type="bnpo"` and `"dapo"` (one process, one accumulation step: dapo's
    normaliser `num_items_in_batch` is then the batch's token count), `seq-mean-token-mean` == `"grpo"`,
    `seq-mean-token-sum-norm` == `"dr_grpo"`; each with beta 0 and beta > 0 (KL with and without TRL's
    `use_bias_correction_kl`), with TRL's own (B,) advantages and with sd-grpo's (B, T) per-token advantages
    (TRL 1.16's `_compute_loss` unsqueezes (B,) and takes (B, T) as it is).

How (the smallest faithful way): TRL's code runs unmodified on a real `GRPOTrainer`. It is built by its own
`__init__` (so GRPOConfig's epsilon / epsilon_high / beta / loss_type / scale_rewards reach the attributes
the methods read exactly as in training) on a 1-layer random Llama and a word-level tokenizer written to a
temp dir (no download; ≈ 0.1 s per trainer). Two methods are replaced on the instance, nothing else:
  - `_generate` returns fixed prompt and completion token ids (no sampling), so the real
    `_generate_and_score_completions` runs TRL's reward -> advantage lines on the rewards our reward function
    returns, and builds the real batch (completion mask, num_items_in_batch);
  - `_get_per_token_logps_and_entropies`, the model forward, returns our fixed log-prob tensor (a leaf with
    requires_grad), so the real `_compute_loss` runs TRL's ratio, clipping, KL and aggregation on it.
The model is put in train mode and `current_gradient_accumulation_steps` set to 1, as Trainer's loop does
with gradient_accumulation_steps=1; old and reference log-probs are set in the batch as TRL's own step would.

Known deviation, tested below: a group whose rewards are all equal gets exactly 0 here; TRL divides the
float rounding of the group mean by 1e-4 (e.g. three rewards of 0.9 give +5.96e-4 each in TRL 1.16).
"""

import pytest
import torch

trl = pytest.importorskip("trl")

from sdbench.rl.advantages import (  # noqa: E402
    AdvantageInputs,
    dr_grpo_advantages,
    grpo_advantages,
    sd_grpo_advantages,
)
from sdbench.rl.losses import clipped_pg_loss  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")

G = 3
PROMPTS = ["w1 w2", "w3 w4", "w5 w6"]  # P = 3
COMPLETIONS = [[2, 3, 4, 1], [5, 6, 1], [7, 8, 9, 10, 11], [2, 1], [3, 4, 5, 6, 1], [7],
               [8, 9, 1], [10, 11, 12, 13, 1], [4, 1]]  # B = 9, T = 5 (longest)
MAX_COMPLETION_LENGTH = 8  # the config's limit, > T: Dr. GRPO's normaliser must use it, not T
REWARDS = [0.9, 0.1, 0.35, 1.7, -0.4, 0.6, 0.5, 0.5, 0.5]  # group 2: equal rewards (exact in float)
EPSILON, EPSILON_HIGH = 0.2, 0.28
AGGREGATION = {"grpo": "seq-mean-token-mean", "bnpo": "token-mean", "dapo": "token-mean",
               "dr_grpo": "seq-mean-token-sum-norm"}


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, **{f"w{i}": i + 2 for i in range(30)}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>")
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, pad_token_id=0, eos_token_id=1,
                         bos_token_id=1)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny_llama")
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def make_trainer(model_dir, rewards, **config):
    """A real GRPOTrainer whose generation is fixed (COMPLETIONS) and whose reward function returns `rewards`."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    def fixed_reward(prompts, completions, **kwargs):
        return list(rewards)

    args = GRPOConfig(output_dir=str(model_dir / "out"), per_device_train_batch_size=len(COMPLETIONS),
                      num_generations=G, max_completion_length=MAX_COMPLETION_LENGTH, use_cpu=True, bf16=False,
                      report_to="none", save_strategy="no", logging_strategy="no", **config)
    trainer = GRPOTrainer(model=str(model_dir), reward_funcs=fixed_reward, args=args,
                          train_dataset=Dataset.from_dict({"prompt": PROMPTS}))
    trainer._generate = lambda prompts: (
        [[2, 3]] * len(prompts), [list(ids) for ids in COMPLETIONS], None, ["…"] * len(prompts), None, {}, None, None)
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1  # what Trainer's loop sets with gradient_accumulation_steps=1
    return trainer


def trl_batch(trainer, logps):
    """TRL's own batch from `_generate_and_score_completions` (the model forward returns `logps`)."""
    trainer._get_per_token_logps_and_entropies = lambda *args, compute_entropy=False, **kwargs: (
        logps, torch.zeros_like(logps) if compute_entropy else None, None)
    return trainer._generate_and_score_completions([{"prompt": p} for p in PROMPTS for _ in range(G)])


def completion_mask() -> torch.Tensor:
    num_tokens = max(map(len, COMPLETIONS))
    return torch.tensor([[1] * len(ids) + [0] * (num_tokens - len(ids)) for ids in COMPLETIONS])  # (B, T)


def fixed_logps():
    """(logps, old, ref), (B, T): old and ref differ from logps by up to ±0.5 nats, so both clip sides fire."""
    generator = torch.Generator().manual_seed(1)
    shape = completion_mask().shape
    logps = -2 * torch.rand(shape, generator=generator)
    old = logps + (torch.rand(shape, generator=generator) - 0.5)
    ref = logps + (torch.rand(shape, generator=generator) - 0.5)
    return logps, old, ref


def per_token_advantages() -> torch.Tensor:
    """sd-grpo's (B, T) advantages for 2 segments per rollout: what an SD-GRPO subclass of TRL would pass."""
    mask = completion_mask()
    ids = torch.tensor([[-1, 0, 0, 1, 1]] * len(COMPLETIONS))
    segment_rewards = torch.tensor([[0.2, 0.9], [0.8, 0.1], [0.4, 0.4], [1.0, 0.0], [0.3, 0.7], [0.6, 0.6],
                                    [0.1, 0.5], [0.9, 0.2], [0.5, 0.3]])
    inputs = AdvantageInputs(
        rewards=torch.tensor(REWARDS), completion_mask=mask, segment_rewards=segment_rewards,
        segment_mask=torch.ones(9, 2, dtype=torch.bool), segment_found=torch.ones(9, 2, dtype=torch.bool),
        token_segment_ids=ids)
    return sd_grpo_advantages(inputs, G)


def assert_close_1e6(actual, expected):
    torch.testing.assert_close(actual, expected, rtol=0.0, atol=1e-6)


# --- advantages --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scale_rewards, ours", [("group", grpo_advantages), ("none", dr_grpo_advantages)])
def test_holistic_advantages_equal_trl(tiny_model_dir, scale_rewards, ours):
    trainer = make_trainer(tiny_model_dir, REWARDS, scale_rewards=scale_rewards)
    batch = trl_batch(trainer, fixed_logps()[0])
    assert batch["advantages"].shape == (len(COMPLETIONS),)
    mask = batch["completion_mask"]
    assert torch.equal(mask, completion_mask())
    got = ours(AdvantageInputs(rewards=torch.tensor(REWARDS), completion_mask=mask), G)
    assert_close_1e6(got, batch["advantages"][:, None] * mask)
    assert got.abs().max() > 0.1


def test_equal_rewards_rounding_is_the_one_deviation(tiny_model_dir):
    rewards = [0.9, 0.9, 0.9, 1.0, 0.0, 0.5, 0.2, 0.3, 0.7]
    trainer = make_trainer(tiny_model_dir, rewards, scale_rewards="group")
    trl_advantages = trl_batch(trainer, fixed_logps()[0])["advantages"]
    ours = grpo_advantages(AdvantageInputs(rewards=torch.tensor(rewards), completion_mask=torch.ones(9, 1)), G)[:, 0]
    assert torch.equal(ours[:G], torch.zeros(G))                  # equal rewards: exactly 0 here
    assert_close_1e6(ours[G:], trl_advantages[G:])                # other groups: TRL's values
    assert (trl_advantages[:G] - ours[:G]).abs().max() < 1e-3     # TRL: mean rounding / 1e-4


# --- loss ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("loss_type", sorted(AGGREGATION))
@pytest.mark.parametrize("beta, bias_correction_kl", [(0.0, True), (0.04, True), (0.04, False)])
@pytest.mark.parametrize("advantage_shape", ["per-rollout (B,)", "per-token (B, T)"])
def test_loss_gradient_and_stats_equal_trl(tiny_model_dir, loss_type, beta, bias_correction_kl, advantage_shape):
    trainer = make_trainer(tiny_model_dir, REWARDS, loss_type=loss_type, beta=beta, epsilon=EPSILON,
                           epsilon_high=EPSILON_HIGH, use_bias_correction_kl=bias_correction_kl)
    logps, old, ref = fixed_logps()
    batch = trl_batch(trainer, logps)
    if advantage_shape == "per-token (B, T)":
        batch["advantages"] = per_token_advantages()
    batch["old_per_token_logps"] = old
    if beta:
        batch["ref_per_token_logps"] = ref

    trl_logps = logps.clone().requires_grad_(True)
    trainer._get_per_token_logps_and_entropies = lambda *args, compute_entropy=False, **kwargs: (
        trl_logps, torch.zeros_like(trl_logps), None)
    trl_loss = trainer._compute_loss(trainer.model, batch)
    trl_loss.backward()
    trl_stats = {name: values[-1] for name, values in trainer._metrics["train"].items()}

    our_logps = logps.clone().requires_grad_(True)
    our_loss, our_stats = clipped_pg_loss(
        our_logps, old, batch["advantages"], batch["completion_mask"], clip_eps_low=EPSILON,
        clip_eps_high=EPSILON_HIGH, beta=beta, ref_logps=ref if beta else None, aggregation=AGGREGATION[loss_type],
        max_completion_length=MAX_COMPLETION_LENGTH, kl_ratio_weighted=bias_correction_kl)
    our_loss.backward()

    assert_close_1e6(our_loss, trl_loss)
    assert_close_1e6(our_logps.grad, trl_logps.grad)
    assert trl_logps.grad.abs().max() > 1e-3  # a gradient that is there, not two zeros
    for name in ("clip_ratio/low_mean", "clip_ratio/high_mean", "clip_ratio/region_mean", "clip_ratio/low_min",
                 "clip_ratio/high_max") + (("kl",) if beta else ()):
        assert our_stats[name].item() == pytest.approx(trl_stats[name], abs=1e-6), name
    assert our_stats["clip_ratio/low_mean"] > 0 and our_stats["clip_ratio/high_mean"] > 0  # both sides fire


def test_aggregations_differ_on_this_batch():
    """The loss-type comparisons above can tell the aggregations apart: they give different values here."""
    logps, old, _ = fixed_logps()
    values = {name: clipped_pg_loss(logps, old, per_token_advantages(), completion_mask(), aggregation=name,
                                    max_completion_length=MAX_COMPLETION_LENGTH)[0].item()
              for name in set(AGGREGATION.values())}
    assert len({round(value, 6) for value in values.values()}) == 3, values
