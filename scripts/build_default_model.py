"""Rebuild the shipped default model (sdbench/assets/<SHIPPED_NAME>/) from nothing, offline.

    .venv/bin/python scripts/build_default_model.py                # ≈ 70 min on 2 CPU cores, every phase
    .venv/bin/python scripts/build_default_model.py --out runs/dm-rebuild  # somewhere else, to compare
    .venv/bin/python scripts/build_default_model.py --start-from OLD --phases-done 4   # continue a prefix

`--start-from FOLDER --phases-done N` continues from a model that holds the first N phases of this very recipe
(`DefaultModelSpec.phases`), e.g. the previous shipped version, whose recipe is a prefix of this one: that is how
default-model-v2 was made from default-model-v1 (git history has its files), and the report records it.

Runs `sdbench.models.default_model`'s recipe for `DEFAULT` (vision warm-up, SFT, warm-start report) with all CPU threads
and writes the folder atomically, then prints the sha256 of every file for `SHIPPED_SHA256` in
sdbench/models/default_model.py. The same CPU kind and thread count give the same bytes; another CPU kind may not (float
reductions differ), which is why the result is shipped rather than rebuilt on each machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path


def main() -> int:
    from sdbench.models.default_model import DEFAULT, SHIPPED_DIR
    from sdbench.warm_start.recipe import build

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=SHIPPED_DIR, help=f"target folder (default {SHIPPED_DIR})")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--start-from", type=Path, default=None,
                        help="a model folder holding the first --phases-done phases of the recipe")
    parser.add_argument("--phases-done", type=int, default=0, help="phases already in --start-from")
    args = parser.parse_args()
    if (args.start_from is None) != (args.phases_done == 0):
        parser.error("--start-from and --phases-done go together")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=args.out.parent))
    try:
        start = None if args.start_from is None else (args.start_from, args.phases_done)
        report = build(DEFAULT, staging, quiet=False, start=start)
        report["threads"] = torch.get_num_threads()
        (staging / "warmstart.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        if args.out.exists():
            shutil.rmtree(args.out)
        os.replace(staging, args.out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    hashes = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
              for p in sorted(args.out.iterdir()) if p.is_file() and p.name != "warmstart.json"}
    print(f"wrote {args.out}; SHIPPED_SHA256 = {json.dumps(hashes, indent=4)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
