"""Check the vLLM rollout backend against the HF backend on one model, on a GPU.

    python scripts/check_vllm_backend.py                          # a tiny random Qwen2.5-VL built here
    python scripts/check_vllm_backend.py --model Qwen/Qwen2.5-VL-3B-Instruct --dtype bfloat16 --task runs/mp

Needs vLLM and a CUDA GPU (`pip install 'sdbench[vllm]'` in its own environment). Without --model it builds a
tiny task (multichart, K in {1, 2}) and the tiny Qwen2.5-VL of tests/training/conftest.py (text 128 x 2,
vision 32 x 1, 112 px images, seed 0) in a temp folder; --task takes the prompts from a built task instead.

Three checks, each printing max |Δ log-prob| and token agreement, the script exiting 1 when one fails:
  1. greedy: HF `generate` and vLLM on the same prompts give the same token ids, and the same log-probs
     (at temperature 1) to within --tolerance over the tokens both produced;
  2. weight sync: every parameter of the HF policy is perturbed (a stand-in for a training step: noise of
     --perturb x the parameter's std, seeded), `VLLMBackend.sync_weights` loads the new weights, and check 1
     runs again; vLLM's greedy ids or log-probs must have moved (by > 10 x --tolerance) from the unperturbed
     ones, or the check fails as proving nothing;
  3. sampling log-probs: vLLM samples G completions per prompt at --temperature, and the log-probs it reports
     are compared with the trainer's teacher-forced log-probs of the same tokens (`completion_logprobs` on
     `build_training_batch`), the quantity whose ratio is the PPO ratio: it must start at 1.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch


def tiny_model_and_task(root: Path) -> tuple[Path, Path]:
    from sdbench.data.build_task import BuildTaskConfig, build_task
    from sdbench.data.task_data import load_task_data
    from sdbench.models.tiny_vlm import VisionTower, build_tiny_vlm, corpus_texts, train_tokenizer

    task = build_task(BuildTaskConfig(task="multichart", segments=(1, 2), n_train=16, n_test=8, seed=0,
                                      out=root / "mc"), quiet=True)
    examples = list(load_task_data(task).examples("train"))
    tokenizer = train_tokenizer(corpus_texts(examples), 600, "qwen2_5_vl")
    model = build_tiny_vlm("qwen2_5_vl", tokenizer, root / "model", hidden_size=128, num_layers=2,
                           vision=VisionTower(hidden_size=32, num_layers=1, num_heads=2), image_size=112, seed=0)
    return model, task


def differences(a, b) -> tuple[list[int], float]:
    """Two RolloutBatches row by row: (first differing token of each row, or its length when the ids are equal;
    max |Δ log-prob| over the tokens before it)."""
    firsts, max_diff = [], 0.0
    for ids_a, ids_b, lp_a, lp_b in zip(a.completion_ids, b.completion_ids, a.logprobs, b.logprobs):
        common = next((t for t, (x, y) in enumerate(zip(ids_a, ids_b)) if x != y), min(len(ids_a), len(ids_b)))
        firsts.append(common)
        if common:
            max_diff = max(max_diff, float((torch.tensor(lp_a[:common]) - torch.tensor(lp_b[:common])).abs().max()))
    return firsts, max_diff


def compare(name: str, hf, vl) -> tuple[bool, float]:
    """Print and return (all greedy token ids and finished flags equal, max |Δ log-prob| over common prefixes)."""
    firsts, max_diff = differences(hf, vl)
    rows_equal = 0
    for i, (a, b, common) in enumerate(zip(hf.completion_ids, vl.completion_ids, firsts)):
        if a == b:
            rows_equal += 1
        else:
            print(f"  {name} row {i}: ids differ from token {common} (hf {a[common:common + 5]}, "
                  f"vllm {b[common:common + 5]}; lengths {len(a)} / {len(b)})")
    same = rows_equal == len(hf) == len(vl) and hf.finished == vl.finished
    print(f"{name}: greedy ids equal: {same} ({rows_equal}/{len(hf)} rows); max |Δ log-prob| = {max_diff:.2e}")
    return same, max_diff


@torch.no_grad()
def perturb(model, scale: float, seed: int) -> None:
    generator = torch.Generator(device="cpu").manual_seed(seed)
    for param in model.parameters():
        noise = torch.randn(param.shape, generator=generator).to(param.device, param.dtype)
        param.add_(noise * (scale * (param.float().std() if param.numel() > 1 else 1.0)))


def teacher_forced_check(policy, backend, examples, group_size: int, max_new_tokens: int,
                         temperature: float) -> float:
    from sdbench.models.chat_inputs import build_training_batch
    from sdbench.models.logprobs import completion_logprobs
    from sdbench.rollout.backend import SamplingParams

    rollouts = backend.generate(examples, group_size, SamplingParams(max_new_tokens, temperature))
    batch = build_training_batch(policy, examples, rollouts.completion_ids, num_repeats=group_size)
    with torch.no_grad():
        logps, _ = completion_logprobs(policy, batch, temperature)                # (B, T)
    mask = batch.completion_token_mask                                           # (B, T)
    sampled = torch.zeros_like(logps)
    for i, row in enumerate(rollouts.logprobs):
        sampled[i, :len(row)] = torch.tensor(row, device=sampled.device)
    diff = float(((logps.float() - sampled).abs() * mask).max())
    print(f"sampling log-probs (T = {temperature}, G = {group_size}, {int(mask.sum())} tokens, "
          f"{sum(rollouts.finished)}/{len(rollouts)} finished): max |vLLM − teacher-forced| = {diff:.2e}")
    return diff


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="HF model folder or hub id (default: build the tiny Qwen2.5-VL)")
    parser.add_argument("--task", type=Path, help="a `sdbench build-task` folder for the prompts (test split)")
    parser.add_argument("--num-prompts", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--group-size", type=int, default=4, help="G for the sampling check")
    parser.add_argument("--temperature", type=float, default=0.7, help="for the sampling check")
    parser.add_argument("--dtype", default="float32", help="both backends' dtype (float32, bfloat16, float16)")
    parser.add_argument("--tolerance", type=float, help="max |Δ log-prob| (default: 2e-3 float32, 5e-2 otherwise)")
    parser.add_argument("--perturb", type=float, default=0.2, help="noise scale of the weight-sync check")
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.3)
    args = parser.parse_args(argv)
    tolerance = args.tolerance if args.tolerance is not None else (2e-3 if args.dtype == "float32" else 5e-2)
    if not torch.cuda.is_available():
        print("check_vllm_backend: no CUDA GPU here; vLLM needs one", file=sys.stderr)
        return 2

    from sdbench.data.task_data import load_split
    from sdbench.models.policy import load_policy
    from sdbench.rollout.backend import SamplingParams
    from sdbench.rollout.factory import make_backend

    with tempfile.TemporaryDirectory() as tmp:
        model, task = (args.model, args.task) if args.model else tiny_model_and_task(Path(tmp))
        if task is None:
            parser.error("--model needs --task (a built task folder for the prompts)")
        _, _, _, examples = load_split(Path(task), "test", (), args.num_prompts)
        policy = load_policy(str(model), dtype=getattr(torch, args.dtype), device="cuda")
        hf = make_backend("hf", policy)
        vllm = make_backend("vllm", policy, seed=0, gpu_memory_utilization=args.gpu_memory_utilization,
                            dtype=args.dtype, enforce_eager=True)
        greedy = SamplingParams(args.max_new_tokens, greedy=True)
        print(f"model {model} ({args.dtype}), {len(examples)} prompts, {args.max_new_tokens} new tokens, "
              f"tolerance {tolerance:g}")

        before = vllm.generate(examples, 1, greedy)
        same, diff = compare("1. initial weights", hf.generate(examples, 1, greedy), before)
        ok = same and diff <= tolerance

        perturb(policy.model, args.perturb, seed=1)
        vllm.sync_weights(policy.model)
        after = vllm.generate(examples, 1, greedy)
        same, diff = compare("2. after perturb + sync_weights", hf.generate(examples, 1, greedy), after)
        firsts, moved = differences(before, after)
        changed = sum(f < len(ids) for f, ids in zip(firsts, after.completion_ids))
        effect = changed > 0 or moved > 10 * tolerance
        print(f"   the sync changed vLLM's greedy ids in {changed}/{len(after)} rows and its log-probs by up to "
              f"{moved:.2e}" + ("" if effect else " (too little to prove the sync: raise --perturb)"))
        ok = ok and same and diff <= tolerance and effect

        diff = teacher_forced_check(policy, vllm, examples, args.group_size, args.max_new_tokens, args.temperature)
        ok = ok and diff <= tolerance
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
