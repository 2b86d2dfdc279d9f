"""`sdbench pipeline`: the main job, end to end, on the embedded default.

Today: build the three synthetic tasks (train + test, K in 1,2,4,8) and show a sample of each (printed
examples + a contact sheet PNG). Later stages (warm-start, GRPO / SD-GRPO training, evaluation, simulator,
leaderboard) join here as they land.
"""

from __future__ import annotations

import time

from sdbench.build_task import build_task
from sdbench.configs import BuildTaskConfig, PipelineConfig, ShowConfig
from sdbench.show import show


def pipeline(cfg: PipelineConfig) -> None:
    start = time.perf_counter()
    for i, task in enumerate(cfg.tasks, 1):
        print(f"\n[{i}/{len(cfg.tasks)}] build-task {task} (synthetic, K={','.join(map(str, cfg.segments))})")
        t0 = time.perf_counter()
        folder = build_task(BuildTaskConfig(task=task, source="synthetic", segments=cfg.segments,
                                            n_train=cfg.n_train, n_test=cfg.n_test, seed=cfg.seed,
                                            out=cfg.out / "tasks" / task))
        print(f"  built in {time.perf_counter() - t0:.1f}s")
        show(ShowConfig(folder=folder, split="test", num=2))
    print(f"\npipeline done in {time.perf_counter() - start:.1f}s; outputs under {cfg.out}/")
