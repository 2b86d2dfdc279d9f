"""Built sdbench task folder -> verl parquet files (train.parquet, test.parquet) for RLHFDataset.

    python examples/verl/prepare_data.py --task-folder runs/tasks/multipanel --out data/verl/multipanel

Each row: `prompt` (one user turn, an `<image>` per image before the text, as sdbench's own trainer orders it),
`images` (PNG bytes), `reward_model.ground_truth` (the holistic reference, for logs) and `extra_info` naming the
task folder (absolute path), split and example id, which SdbenchRewardManager uses to score the rollout with
sdbench's Scorer. The task folder must be readable at that same path on every node of the Ray cluster.
Rows come from sdbench.integrations.verl.verl_rows; this script only writes them.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task-folder", required=True, help="a folder written by `sdbench build-task`")
    parser.add_argument("--out", required=True, help="where train.parquet and test.parquet go")
    parser.add_argument("--splits", nargs="+", default=["train", "test"])
    parser.add_argument("--reward", default=None, help="per-segment reward metric (default: the task's)")
    parser.add_argument("--holistic", default=None,
                        help="holistic reward: 'mean' or a whole metric (default: the task's)")
    args = parser.parse_args(argv)

    import pandas as pd

    from sdbench.integrations.verl import verl_rows

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for split in args.splits:
        rows = list(verl_rows(args.task_folder, split, reward=args.reward, holistic=args.holistic))
        path = out / f"{split}.parquet"
        pd.DataFrame(rows).to_parquet(path)
        print(f"{path}: {len(rows)} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
