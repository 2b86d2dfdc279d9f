"""`sdbench pipeline`: the main job, end to end, on the embedded default.

Today: build the three synthetic tasks (train + test, K in 1,2,4,8), show a sample of each (printed examples +
a contact sheet PNG), then build (once; cached) and warm-start the embedded default model and print its
per-segment reward by K before RL. The RL comparison, evaluation, simulator and leaderboard stages join here
as they land.
"""

from __future__ import annotations

import time

from sdbench.build_task import build_task
from sdbench.configs import BuildTaskConfig, PipelineConfig, ShowConfig
from sdbench.show import show


def pipeline(cfg: PipelineConfig) -> None:
    start = time.perf_counter()
    steps = len(cfg.tasks) + 1
    for i, task in enumerate(cfg.tasks, 1):
        print(f"\n[{i}/{steps}] build-task {task} (synthetic, K={','.join(map(str, cfg.segments))})")
        t0 = time.perf_counter()
        folder = build_task(BuildTaskConfig(task=task, source="synthetic", segments=cfg.segments,
                                            n_train=cfg.n_train, n_test=cfg.n_test, seed=cfg.seed,
                                            out=cfg.out / "tasks" / task))
        print(f"  built in {time.perf_counter() - t0:.1f}s")
        show(ShowConfig(folder=folder, split="test", num=2))
    print(f"\n[{steps}/{steps}] the embedded default model (built and warm-started once, then cached)")
    import json

    from sdbench.default_model import default_model

    folder = default_model()
    report = json.loads((folder / "warmstart.json").read_text())
    print(f"  {folder}")
    print("  per-segment reward by K before RL (greedy):")
    for task, by_k in report["reward_by_k"].items():
        print(f"    {task:<11} " + "  ".join(f"K={k}: {v:.3f}" for k, v in by_k.items()))
    print(f"\npipeline done in {time.perf_counter() - start:.1f}s; outputs under {cfg.out}/")
