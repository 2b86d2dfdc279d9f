"""Benchmark: CIDEr-D rewards for one RL step (G x K = 64 x 8 = 512 segments) against a fixed corpus.

What it times, per step, each including the PTB tokenisation of the 512 new candidates (the same
pure-Python tokenizer, sdbench.rewards.text_tokenizer, for all three; the fixed corpus is tokenised once
beforehand, as any user would cache it):
  (a) pycocoevalcap `Cider().compute_score(gts, res)` handed the whole corpus. That is the only way to get
      corpus-level document frequencies through its public API: gts = every corpus document's references,
      res = the step's candidate for the 512 documents being scored and "" for the others (the cheapest
      valid hypothesis; `Cider` demands one per key). Each step it re-cooks, re-counts df over all
      documents and scores every key.
  (b) pycocoevalcap's `CiderScorer` with the corpus statistics computed once (document frequencies and the
      cooked references), calling only `compute_cider()` on the 512 pairs per step. compute_cider() sets
      ref_len = log(len(crefs)), i.e. log(512) here; we hand it a list whose len() is the corpus size so
      that it uses log(number of corpus documents) like (a) and (c).
  (c) sdbench.rewards.cider.CiderD built once from the corpus; `.score()` per step.
Every step asserts that (b) and (c) agree to 1e-6, and (a) too on the steps it runs.

Data: a deterministic synthetic corpus (seeded): --docs documents (default 5,000, one per image/segment)
of 1-3 captions each, 15-40 words from templates over colours/objects/actions/positions. Each step picks
512 distinct documents (so one whole-corpus Cider call scores each exactly once) and makes a candidate per
document by perturbing one of its references (or, 1 in 5, writing a fresh caption).

Run: `python scripts/bench_cider.py` (about 35 s; `--steps 10 --steps-a 2` for a quick look). Threads are
pinned to 1 before numpy loads; the three are timed interleaved, step by step, in the same process.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sdbench.rewards.cider import CiderD  # noqa: E402
from sdbench.rewards.text_tokenizer import ptb_tokenize  # noqa: E402

COLOURS = "red blue green yellow white black brown orange purple pink grey silver golden dark light".split()
SIZES = "small large tiny huge tall short old young wooden metal plastic striped".split()
OBJECTS = ("dog cat car bus bicycle man woman child tree house table chair umbrella kite boat train horse "
           "bird bench sign clock laptop cup plate pizza sandwich truck motorcycle giraffe elephant zebra "
           "sheep cow surfboard skateboard frisbee vase bottle bowl couch bed tv phone book lamp fence").split()
ACTIONS = ("sitting on", "standing next to", "running past", "riding", "holding", "looking at", "walking by",
           "parked near", "lying on", "leaning against", "jumping over", "resting under", "facing")
POSITIONS = ("on the left", "on the right", "in the foreground", "in the background", "at the top",
             "at the bottom", "in the center", "near the window", "behind the fence", "under the bridge",
             "beside the road", "in front of the building")
PLACES = "park street kitchen beach field room station market garden harbor airport classroom".split()
LINKS = (", and", ", while", ". Nearby,", "; meanwhile", ", as", ". In addition,")


def _clause(rng: random.Random) -> list[str]:
    det = rng.choice(["a", "the", "one", "a", "two"])
    noun = rng.choice(OBJECTS) + ("s" if det == "two" else "")
    words = [det, rng.choice(SIZES), rng.choice(COLOURS), noun, "is" if det != "two" else "are",
             *rng.choice(ACTIONS).split(), rng.choice(["a", "the"]), rng.choice(COLOURS), rng.choice(OBJECTS)]
    if rng.random() < 0.7:
        words += rng.choice(POSITIONS).split()
    if rng.random() < 0.5:
        words += ["in", "the", rng.choice(PLACES)]
    if rng.random() < 0.15:
        words[3] = words[3] + "'s"
    return words


def make_caption(rng: random.Random) -> str:
    """A 15-40 word English caption: clauses joined by commas/periods, capitalised, full stop."""
    words = _clause(rng)
    while len(words) < 15 or (len(words) < 40 and rng.random() < 0.35):
        more = [*rng.choice(LINKS).split(), *_clause(rng)]
        if len(words) + len(more) > 40:
            break
        words = words + more
    text = " ".join(words).replace(" ,", ",").replace(" .", ".").replace(" ;", ";")
    return text[0].upper() + text[1:] + "."


def perturb(rng: random.Random, caption: str) -> str:
    """A model-like candidate: the reference with some words swapped or dropped."""
    words = caption.split()
    pool = COLOURS + SIZES + OBJECTS
    out = [w for w in words if rng.random() > 0.08]
    return " ".join(rng.choice(pool) if rng.random() < 0.2 else w for w in out)


class _CorpusSizedList(list):
    """A list whose len() is the corpus size: CiderScorer.compute_cider() uses len(crefs) only for
    ref_len = log(len(crefs)); iteration (zip) still sees the real items."""

    def __init__(self, items: list, corpus_size: int):
        super().__init__(items)
        self.corpus_size = corpus_size

    def __len__(self) -> int:
        return self.corpus_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50, help="steps timed for (b) and (c)")
    parser.add_argument("--steps-a", type=int, default=5, help="steps timed for (a) (several seconds each)")
    parser.add_argument("--docs", type=int, default=5000, help="corpus documents (one per image/segment)")
    parser.add_argument("--batch", type=int, default=512, help="candidates per step (G x K)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.cider.cider_scorer import CiderScorer, cook_test

    rng = random.Random(args.seed)
    corpus_raw = [[make_caption(rng) for _ in range(rng.randint(1, 3))] for _ in range(args.docs)]
    steps = []
    for _ in range(max(args.steps, args.steps_a)):
        docs = rng.sample(range(args.docs), args.batch)
        cands = [perturb(rng, rng.choice(corpus_raw[d])) if rng.random() < 0.8 else make_caption(rng)
                 for d in docs]
        steps.append((docs, cands))
    corpus = [[ptb_tokenize(r) for r in doc] for doc in corpus_raw]   # the fixed corpus, tokenised once
    num_refs = sum(map(len, corpus))
    words = np.mean([len(r.split()) for doc in corpus for r in doc])
    print(f"corpus: {args.docs} documents, {num_refs} references, {words:.1f} words/reference; "
          f"{args.batch} candidates/step")

    t0 = time.perf_counter()
    base = CiderScorer(n=4, sigma=6.0)
    for doc in corpus:
        base.cook_append(None, doc)
    base.compute_doc_freq()
    setup_b = time.perf_counter() - t0
    t0 = time.perf_counter()
    scorer = CiderD(corpus)
    setup_c = time.perf_counter() - t0
    print(f"one-off setup: (b) cook + df {setup_b:.2f} s, (c) CiderD(corpus) {setup_c:.2f} s")

    def run_a(docs, cands):
        cand_tok = [ptb_tokenize(c) for c in cands]
        res = {d: [""] for d in range(args.docs)}
        for d, c in zip(docs, cand_tok):
            res[d] = [c]
        _, scores = Cider().compute_score(gts, res)
        return np.asarray(scores)[docs]

    def run_b(docs, cands):
        cs = CiderScorer(n=4, sigma=6.0)
        cs.ctest = [cook_test(ptb_tokenize(c)) for c in cands]
        cs.crefs = _CorpusSizedList([base.crefs[d] for d in docs], args.docs)
        cs.document_frequency = base.document_frequency
        return np.asarray(cs.compute_cider())

    def run_c(docs, cands):
        return scorer.score([ptb_tokenize(c) for c in cands], [corpus[d] for d in docs])

    gts = {d: corpus[d] for d in range(args.docs)}
    # interleaved (c, b, a per step) so that load from other processes hits all three alike
    seconds = {"a": 0.0, "b": 0.0, "c": 0.0}
    results = {"a": [], "b": [], "c": []}
    for step, (docs, cands) in enumerate(steps):
        for name, fn, num in (("c", run_c, args.steps), ("b", run_b, args.steps), ("a", run_a, args.steps_a)):
            if step < num:
                t0 = time.perf_counter()
                results[name].append(fn(docs, cands))
                seconds[name] += time.perf_counter() - t0
    timings = {"a": seconds["a"] / args.steps_a, "b": seconds["b"] / args.steps, "c": seconds["c"] / args.steps}
    for b, c in zip(results["b"], results["c"]):
        assert np.allclose(b, c, rtol=0, atol=1e-6), np.abs(b - c).max()
    for a, c in zip(results["a"], results["c"]):
        assert np.allclose(a, c, rtol=0, atol=1e-6), np.abs(a - c).max()
    max_diff = max(np.abs(b - c).max() for b, c in zip(results["b"], results["c"]))
    mean_score = np.mean(np.concatenate(results["c"]))
    print(f"(a) pycocoevalcap Cider().compute_score, whole corpus each step: {timings['a']:.4f} s/step "
          f"({args.steps_a} steps)")
    print(f"(b) pycocoevalcap CiderScorer, corpus df once, compute_cider():  {timings['b']:.4f} s/step "
          f"({args.steps} steps)")
    print(f"(c) sdbench CiderD.score:                                         {timings['c']:.4f} s/step "
          f"({args.steps} steps)")
    print(f"a/c = {timings['a'] / timings['c']:.1f}x   b/c = {timings['b'] / timings['c']:.1f}x   "
          f"(targets >= 50x and >= 10x)")
    print(f"max |b - c| = {max_diff:.2e} over {args.steps} x {args.batch} scores (asserted <= 1e-6; a == c too); "
          f"mean CIDEr-D {mean_score:.3f}")
    tok_only = time.perf_counter()
    for _, cands in steps[: args.steps]:
        [ptb_tokenize(c) for c in cands]
    tok_only = (time.perf_counter() - tok_only) / args.steps
    print(f"of which tokenising 512 candidates: {tok_only:.4f} s/step")


if __name__ == "__main__":
    main()
