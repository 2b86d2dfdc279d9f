"""Why the embedded default scores what it scores on multichart: what a blind answer gets, and whether its vision
tower can learn the chart properties that questions ask about.

1. The question prior. A policy that reads the question but not the chart answers each (chart type, question kind)
   with that pair's most frequent answer in the train split: "positive" to every correlation question, the most
   common bar count, the most common option letter. Its accuracy on the test split, per K, is the bar a policy that
   sees must clear; the warm-start report's multichart accuracy and its swapped-image control are printed beside it.
2. `--vision-steps N` (default 600; 0 skips): from the shipped default model's vision tower, train it with linear
   heads for N steps of 16 train images on properties a question needs and a 64-token, 96-wide tower might see:
   the number of bars / slices / points (count, 3-9), a line's shape (4 classes), a scatter's correlation sign,
   and the chart type. Two probes read the same features: `token` (every vision token of a chart predicts its
   chart's properties) and `chart` (the mean of the chart's tokens does). It prints held-out accuracy per K beside
   the majority-class rate of the held-out labels: a property the tower cannot learn stays at that rate. The probes
   train on 2,500 of the 3,000 train examples and are scored on the other 500 and the test split.

   `--fresh` re-initialises the tower first (what a rebuild from phase 1 would start from) and
   `--max-vision-tokens N` feeds the images at up to N merged tokens instead of the model's 64 (a 530 x 402 px
   K = 4 image is 272 tokens at its native size): together they test whether more tokens would let a tower of this
   size learn what the shipped one does not.

Run: `python scripts/probe_chart_reading.py` (about 5 min on its 1 thread; `--vision-steps 0`: seconds;
`--fresh --max-vision-tokens 256`: about 10 min on 2 threads). It builds
the default model's synthetic tasks into the cache first if they are not there (the same data as its warm-start
report). The numbers it printed are in README, "The embedded default model".
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vision-steps", type=int, default=600)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--fresh", action="store_true", help="re-initialise the vision tower before the probes")
    parser.add_argument("--max-vision-tokens", type=int, default=0,
                        help="merged vision tokens per image at most (0: the model's own processor, 64)")
    args = parser.parse_args()

    from sdbench.data.task_data import load_task_data
    from sdbench.models.default_model import DEFAULT, default_model
    from sdbench.warm_start.recipe import build_spec_tasks

    data = load_task_data(build_spec_tasks(DEFAULT)["multichart"])
    train, test = list(data.examples("train")), list(data.examples("test"))
    report = json.loads((default_model() / "warmstart.json").read_text(encoding="utf-8"))
    print("multichart answer accuracy on the default model's held-out test examples, per K")
    print(f"  {'K':>2} {'segments':>8} {'question prior':>15} {'default model':>14} {'swapped images':>15}")
    for k, accuracy in question_prior(train, test).items():
        n = sum(ex.num_segments for ex in test if ex.num_segments == k)
        print(f"  {k:>2} {n:>8} {accuracy:>15.3f} {report['reward_by_k']['multichart'][str(k)]:>14.3f} "
              f"{report['swapped_by_k']['multichart'][str(k)]:>15.3f}")
    if args.vision_steps:
        # the probes train on the first 2,500 train examples and are scored on the other 500 and the test split:
        # the tower never trained on charts (its warm-up is multipanel's, and SFT keeps it frozen)
        vision_probe(default_model(), train[:2500], train[2500:] + test, args.vision_steps, args.threads,
                     fresh=args.fresh, max_tokens=args.max_vision_tokens)


def question_prior(train, test) -> dict[int, float]:
    """Accuracy per K of answering each (chart type, question kind) with its most frequent train answer."""
    answers: dict[tuple[str, str], collections.Counter] = collections.defaultdict(collections.Counter)
    for ex in train:
        for s in ex.segments:
            answers[s.meta["chart_type"], s.meta["question_kind"]][s.answer] += 1
    hits: dict[int, list[bool]] = collections.defaultdict(list)
    for ex in test:
        for s in ex.segments:
            common = answers.get((s.meta["chart_type"], s.meta["question_kind"]))
            hits[ex.num_segments].append(bool(common) and common.most_common(1)[0][0] == s.answer)
    return {k: sum(v) / len(v) for k, v in sorted(hits.items())}


PROPERTIES = ("count", "shape", "correlation", "type")


def chart_properties(chart: dict) -> dict[str, int]:
    """Class of each property of one chart (sdbench.data.sources.chart_data's dict); -100 where it has none."""
    from sdbench.data.sources.chart_data import CHART_TYPES, SHAPES, pearson

    n = len(chart["x"] if chart["type"] == "scatter" else chart["labels"])
    return {"count": n - 3, "type": CHART_TYPES.index(chart["type"]),
            "shape": SHAPES.index(chart["shape"]) if chart["type"] == "line" else -100,
            "correlation": int(pearson(chart["x"], chart["y"]) > 0) if chart["type"] == "scatter" else -100}


def token_charts(ex, rows: int, cols: int) -> list[int]:
    """Index of the chart under each merged vision token of a tiled multichart image (-1: none), raster order."""
    from sdbench.data.sources.chart_renderer import GAP, grid_shape

    tile_rows, tile_cols = grid_shape(len(ex.meta["charts"]))
    width, height = ex.images[0].size
    cell_w, cell_h = (width - GAP) / tile_cols, (height - GAP) / tile_rows  # a chart and the gap before the next
    out = []
    for r in range(rows):
        for c in range(cols):
            x, y = (c + 0.5) * width / cols, (r + 0.5) * height / rows
            j = int(y // cell_h) * tile_cols + int(x // cell_w)
            out.append(j if j < len(ex.meta["charts"]) else -1)
    return out


def vision_probe(model_dir, train, test, steps: int, threads: int, fresh: bool = False, max_tokens: int = 0) -> None:
    import torch

    from sdbench.models.policy import load_policy
    from sdbench.warm_start.vision_warmup import _vision_tower

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    policy = load_policy(str(model_dir))
    visual = _vision_tower(policy.model)
    merge = visual.spatial_merge_size
    processor = policy.processor.image_processor
    if fresh:
        visual.apply(policy.model._init_weights)
    if max_tokens:
        pixels = max_tokens * (processor.patch_size * processor.merge_size) ** 2
        processor.size = {"shortest_edge": processor.size["shortest_edge"], "longest_edge": pixels}
        processor.max_pixels = pixels
    print(f"vision tower: {'re-initialised' if fresh else 'the shipped one'}, images at up to "
          f"{max_tokens or processor.size['longest_edge'] // (processor.patch_size * processor.merge_size) ** 2} "
          "merged tokens")
    dim = visual.merger.mlp[-1].out_features
    classes = {"count": 7, "shape": 4, "correlation": 2, "type": 5}
    heads = {(probe, p): torch.nn.Linear(dim, n) for probe in ("token", "chart") for p, n in classes.items()}
    params = [*visual.parameters(), *(w for h in heads.values() for w in h.parameters())]
    for w in params:
        w.requires_grad_(True)
    optimizer = torch.optim.AdamW(params, lr=2e-3, weight_decay=0.0)

    def forward(batch):
        inputs = processor(images=[ex.images[0] for ex in batch], return_tensors="pt")
        features = visual(inputs["pixel_values"], grid_thw=inputs["image_grid_thw"]).pooler_output  # (N, dim)
        owner, labels, pooled, chart_labels, start = [], {p: [] for p in classes}, [], {p: [] for p in classes}, 0
        for ex, (_, h, w) in zip(batch, inputs["image_grid_thw"].tolist()):
            charts = token_charts(ex, h // merge, w // merge)
            props = [chart_properties(chart) for chart in ex.meta["charts"]]
            for j, chart_props in enumerate(props):
                rows = [start + i for i, c in enumerate(charts) if c == j]
                pooled.append(features[rows].mean(0))
                for p in classes:
                    chart_labels[p].append(chart_props[p])
            for c in charts:
                owner.append(c)
                for p in classes:
                    labels[p].append(props[c][p] if c >= 0 else -100)
            start += len(charts)
        pooled = torch.stack(pooled)
        out = {}
        for p in classes:
            out["token", p] = (heads["token", p](features), torch.tensor(labels[p]))
            out["chart", p] = (heads["chart", p](pooled), torch.tensor(chart_labels[p]))
        return out

    t0 = time.perf_counter()
    visual.train()
    for step in range(steps):
        rng = random.Random(f"chart-probe-{step}")
        out = forward([rng.choice(train) for _ in range(16)])
        loss = sum(torch.nn.functional.cross_entropy(logits, target, ignore_index=-100)
                   for logits, target in out.values() if (target >= 0).any())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        if (step + 1) % 100 == 0:
            seconds = time.perf_counter() - t0
            print(f"  vision step {step + 1}/{steps}: loss {float(loss.detach()):.3f} ({seconds:.0f}s)", flush=True)
    visual.eval()
    print(f"held-out accuracy of the probes after {steps} steps: token / chart (chance: the majority class of the "
          "held-out labels)")
    print(f"  {'K':>2}" + "".join(f"{p:>28}" for p in classes))
    for k in sorted({ex.num_segments for ex in test}):
        held_out = [ex for ex in test if ex.num_segments == k]
        with torch.no_grad():
            chunks = [forward(held_out[i:i + 64]) for i in range(0, len(held_out), 64)]
        out = {key: tuple(torch.cat([c[key][i] for c in chunks]) for i in (0, 1)) for key in chunks[0]}
        cells = []
        for p in classes:
            accuracy = []
            for probe in ("token", "chart"):
                logits, target = out[probe, p]
                keep = target >= 0
                accuracy.append(float((logits.argmax(-1) == target)[keep].float().mean()))
            labels = [t for t in out["chart", p][1].tolist() if t >= 0]
            chance = collections.Counter(labels).most_common(1)[0][1] / len(labels)
            cells.append(f"{accuracy[0]:.2f} / {accuracy[1]:.2f} ({chance:.2f}, n={len(labels)})")
        print(f"  {k:>2}" + "".join(f"{c:>28}" for c in cells))

if __name__ == "__main__":
    main()
