"""The warm-start report of a model: greedy per-segment reward by K on held-out synthetic test examples of each task,
beside the swapped-image control (each image replaced by another example's: a policy that reads loses reward).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def warmstart_report(model: Path, task_folders: dict[str, Path], policy=None, threads: int = 0,
                     max_new_tokens: int = 256) -> dict[str, Any]:
    """Greedy per-segment reward by K on each task folder's test split, and the swapped-image control.

    {"reward_metric": {task: metric}, "reward_by_k": {task: {K: mean}}, "swapped_by_k": {task: {K: mean}},
     "num_by_k": {task: {K: examples}}}. The control decodes the same prompts with each example's images
    replaced by those of the next example of the same K (a cyclic shift), so the text asked for is unchanged and
    only the image is wrong: a policy that reads the image scores lower on it."""
    import torch

    from sdbench.data.task_data import load_task_data
    from sdbench.models.policy import load_policy

    if threads:
        torch.set_num_threads(threads)
    policy = policy or load_policy(str(model))
    report: dict[str, Any] = {"reward_metric": {}, "reward_by_k": {}, "swapped_by_k": {}, "num_by_k": {}}
    for task, folder in task_folders.items():
        data = load_task_data(folder)
        examples = list(data.examples("test"))
        rewards, metric = segment_rewards_by_k(policy, task, examples, max_new_tokens)
        swapped, _ = segment_rewards_by_k(policy, task, swap_images(examples), max_new_tokens)
        report["reward_metric"][task] = metric
        report["reward_by_k"][task] = {k: sum(v) / len(v) for k, v in rewards.items()}
        report["swapped_by_k"][task] = {k: sum(v) / len(v) for k, v in swapped.items()}
        report["num_by_k"][task] = {k: sum(1 for ex in examples if str(ex.num_segments) == k) for k in rewards}
    return report


def swap_images(examples: list) -> list:
    """Each example with the images of the next example of the same K (cyclic within K; order kept).

    >>> from sdbench.core.types import Example, Segment
    >>> seg = Segment(index=0, label="Panel 1:", reference="r")
    >>> exs = [Example(str(i), (f"img{i}",), "p", (seg,), "h") for i in range(3)]
    >>> [ex.images[0] for ex in swap_images(exs)]
    ['img1', 'img2', 'img0']
    """
    import dataclasses

    by_k: dict[int, list[int]] = {}
    for i, ex in enumerate(examples):
        by_k.setdefault(ex.num_segments, []).append(i)
    out = list(examples)
    for indices in by_k.values():
        for j, i in enumerate(indices):
            out[i] = dataclasses.replace(examples[i], images=examples[indices[(j + 1) % len(indices)]].images)
    return out


def segment_rewards_by_k(policy, task: str, examples, max_new_tokens: int = 256
                         ) -> tuple[dict[str, list[float]], str]:
    """({K: every segment's reward}, reward metric) of greedy outputs, scored with the task source's reward."""
    from sdbench.data.scoring import Scorer
    from sdbench.data.task import load_task
    from sdbench.data.token_spans import decode_with_offsets
    from sdbench.rollout.backend import SamplingParams
    from sdbench.rollout.hf_backend import HFBackend

    rollouts = HFBackend(policy).generate(examples, 1, SamplingParams(max_new_tokens, greedy=True))
    texts = [decode_with_offsets(ids, policy.tokenizer).text for ids in rollouts.completion_ids]
    scorer = Scorer(load_task(task), "synthetic", examples, metrics=())
    by_k: dict[int, list[float]] = {}
    for s in scorer.score(examples, texts):
        by_k.setdefault(s.num_segments, []).extend(s.segment_rewards)
    return {str(k): v for k, v in sorted(by_k.items())}, scorer.reward


def print_report(report: dict[str, Any], indent: str = "", say=print) -> None:
    """The warm-start report as one line per task: reward by K, and the swapped-image control beside it."""
    for task, by_k in report["reward_by_k"].items():
        swapped = report.get("swapped_by_k", {}).get(task, {})
        cells = "  ".join(f"K={k}: {v:.3f}" + (f" (swapped {swapped[k]:.3f})" if k in swapped else "")
                          for k, v in by_k.items())
        n = report.get("num_by_k", {}).get(task, {})
        count = f"  [{'/'.join(str(n[k]) for k in by_k)} examples]" if n else ""
        say(f"{indent}{task:<11} {report.get('reward_metric', {}).get(task, ''):<13} {cells}{count}")
