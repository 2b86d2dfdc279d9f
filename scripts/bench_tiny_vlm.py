"""Benchmark the tiny VLMs on CPU: which architecture and size can do an RL step on 2 cores in a few seconds?

What: for each architecture of `sdbench.models.tiny_vlm` and each text size (hidden x layers), with 1 and 2 torch
threads, one fresh subprocess (so peak RSS is that configuration's own) builds the model and measures:
  - parameters (all, and of the vision tower),
  - vision tokens of one K = 4 multipanel image,
  - seconds to sample 8 x 64 new tokens (`--new-tokens`) from one prompt repeated 8 times (G = 8 rollouts),
  - seconds for forward + backward of a log-prob loss on 8 x (prompt + 64) tokens,
  - peak resident memory of the process.
The medians of `--repeats` runs are printed as a Markdown table; `--json FILE` keeps the raw rows.

Why: the embedded default model (architecture and size) is picked from these numbers; DESIGN.md asks an RL
step (G = 8 rollouts x 64-128 tokens, then the update) to take a few seconds on 2 CPU cores. Timings on a
shared 2-core machine swing, so compare rows measured in the same run.

How:
    .venv/bin/python scripts/bench_tiny_vlm.py                       # all architectures, 3 sizes, 1 and 2 threads
    .venv/bin/python scripts/bench_tiny_vlm.py --arch qwen2_vl --sizes 384x6 --threads 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_SIZES = ("256x4", "384x6", "512x8")
NUM_ROLLOUTS = 8


def _texts_and_example(data_root: Path):
    from sdbench.data.build_task import BuildTaskConfig, build_task
    from sdbench.data.task_data import load_task_data
    from sdbench.models.tiny_vlm import corpus_texts

    texts, example = [], None
    for task in ("multipanel", "multichart", "subfigure"):
        folder = build_task(BuildTaskConfig(task=task, n_train=100, n_test=8, seed=0, out=data_root / task,
                                            overwrite=True), quiet=True)
        data = load_task_data(folder)
        texts += corpus_texts(data.examples("train"))
        if task == "multipanel":
            example = next(ex for ex in data.examples("test") if ex.num_segments == 4)
    return texts, example


def measure_one(arch: str, hidden_size: int, num_layers: int, threads: int, vision_hidden: int, vision_layers: int,
                image_size: int, vocab_size: int, repeats: int, new_tokens: int) -> dict:
    """Build one model and time it; runs in its own process (see main)."""
    import resource

    import torch

    torch.set_num_threads(threads)
    from sdbench.models.chat_inputs import build_prompt_batch, build_training_batch
    from sdbench.models.policy import load_policy
    from sdbench.models.tiny_vlm import VisionTower, build_tiny_vlm, train_tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        texts, example = _texts_and_example(Path(tmp) / "data")
        tokenizer = train_tokenizer(texts, vocab_size, arch)
        folder = build_tiny_vlm(arch, tokenizer, Path(tmp) / "model", hidden_size=hidden_size,
                                num_layers=num_layers, vision=VisionTower(vision_hidden, vision_layers, 2),
                                image_size=image_size, seed=0)
        policy = load_policy(str(folder))
    model = policy.model
    config = model.config
    image_token = getattr(config, "image_token_id", None) or getattr(config, "image_token_index", None)
    vision_params = sum(p.numel() for n, p in model.named_parameters() if "vision" in n or "visual" in n)

    prompt = build_prompt_batch(policy, [example], num_repeats=NUM_ROLLOUTS)
    vision_tokens = int((prompt["input_ids"][0] == image_token).sum())
    generate = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=True, temperature=1.0,
                    suppress_tokens=sorted(policy.image_token_ids))
    model.eval()
    with torch.no_grad():
        model.generate(**prompt, **{**generate, "max_new_tokens": 4, "min_new_tokens": 4})  # warm-up
    generate_s = []
    for _ in range(repeats):
        start = time.perf_counter()
        with torch.no_grad():
            out = model.generate(**prompt, **generate)
        generate_s.append(time.perf_counter() - start)
    completions = out[:, prompt["input_ids"].shape[1]:].tolist()
    assert all(len(c) == new_tokens for c in completions)

    model.train()
    batch = build_training_batch(policy, [example], completions)
    train_s = []
    for _ in range(repeats + 1):  # the first is a warm-up
        start = time.perf_counter()
        logits = model(**batch.inputs).logits[:, batch.prompt_length - 1:-1]                  # (B, T, V)
        logp = logits.float().log_softmax(-1).gather(-1, batch.completion_ids[..., None]).squeeze(-1)
        loss = -(logp * batch.completion_token_mask).sum() / batch.completion_token_mask.sum()
        loss.backward()
        model.zero_grad(set_to_none=True)
        train_s.append(time.perf_counter() - start)
    return {"arch": arch, "hidden_size": hidden_size, "num_layers": num_layers, "threads": threads,
            "new_tokens": new_tokens,
            "params_m": sum(p.numel() for p in model.parameters()) / 1e6, "vision_params_m": vision_params / 1e6,
            "vocab": len(policy.tokenizer), "vision_tokens": vision_tokens,
            "prompt_tokens": int(prompt["input_ids"].shape[1]), "generate_s": statistics.median(generate_s),
            "fwd_bwd_s": statistics.median(train_s[1:]),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _table(rows: list[dict]) -> str:
    n = rows[0]["new_tokens"] if rows else 64
    head = (f"| arch | text | threads | params (M) | vision (M) | vision tok | prompt tok | generate 8x{n} (s) | "
            f"fwd+bwd 8x(p+{n}) (s) | step (s) | peak RSS (MB) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        lines.append(f"| {r['arch']} | {r['hidden_size']}x{r['num_layers']} | {r['threads']} | {r['params_m']:.1f} | "
                     f"{r['vision_params_m']:.2f} | {r['vision_tokens']} | {r['prompt_tokens']} | "
                     f"{r['generate_s']:.2f} | {r['fwd_bwd_s']:.2f} | {r['generate_s'] + r['fwd_bwd_s']:.2f} | "
                     f"{r['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from sdbench.models.tiny_vlm import ARCHITECTURES

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", nargs="+", default=list(ARCHITECTURES), choices=ARCHITECTURES)
    parser.add_argument("--sizes", nargs="+", default=list(DEFAULT_SIZES), help="text HIDDENxLAYERS, e.g. 384x6")
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--vision", default="96x2", help="vision tower HIDDENxLAYERS")
    parser.add_argument("--image-size", type=int, default=224, help="at most (image_size/28)^2 vision tokens")
    parser.add_argument("--vocab-size", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=64, help="tokens sampled per rollout")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one configuration, print JSON
    args = parser.parse_args(argv)
    vision_hidden, vision_layers = (int(x) for x in args.vision.split("x"))
    if args.one:
        arch, size, threads = args.one.split(":")
        hidden, layers = (int(x) for x in size.split("x"))
        print(json.dumps(measure_one(arch, hidden, layers, int(threads), vision_hidden, vision_layers,
                                     args.image_size, args.vocab_size, args.repeats, args.new_tokens)))
        return 0
    rows = []
    for arch in args.arch:
        for size in args.sizes:
            for threads in args.threads:
                cmd = [sys.executable, __file__, "--one", f"{arch}:{size}:{threads}", "--vision", args.vision,
                       "--image-size", str(args.image_size), "--vocab-size", str(args.vocab_size),
                       "--repeats", str(args.repeats), "--new-tokens", str(args.new_tokens)]
                done = subprocess.run(cmd, capture_output=True, text=True)
                if done.returncode:
                    print(f"{arch} {size} threads={threads} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
                    continue
                rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
