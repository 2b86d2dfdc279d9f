"""CiderD on hand-computable cases, degenerate inputs and batch invariances (no pycocoevalcap here; the
equivalence tests compare with it on random captions)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdbench.rewards.cider import CiderD, cider_d

# Two documents: every n-gram of "a b" occurs in one of them, so its IDF is log(2) - log(1) = log 2.
CORPUS = [["a b"], ["c d"]]


def test_identical_two_word_caption_is_half_of_ten():
    # orders 1 and 2: cosine 1; orders 3 and 4: no n-grams (zero norm) -> 0; mean over 4 orders x 10 = 5
    assert CiderD(CORPUS).score(["a b"], [["a b"]])[0] == pytest.approx(5.0, abs=1e-12)


def test_clipping_by_hand():
    # hyp "a a": unigram a has tf 2 -> 2L, unseen bigram "a a" -> L (df 0); ref "a b": a = b = "a b" = L.
    # order 1: min(2L, L) * L / (2L * sqrt(2) L) = 1 / (2 sqrt 2); order 2: no overlap. Equal bigram counts.
    expected = 10 * (1 / (2 * math.sqrt(2))) / 4
    assert CiderD(CORPUS).score(["a a"], [["a b"]])[0] == pytest.approx(expected, abs=1e-12)


def test_gaussian_length_penalty_by_hand():
    # hyp "a b c d" vs ref "a b": 3 vs 1 bigrams -> delta 2, penalty exp(-4 / 72).
    # IDF: a, b, "a b" -> L; c, d, "c d" -> L (doc 2); "b c", "b c d", ... unseen -> L. All weights are L.
    # order 1: hyp {a,b,c,d} ref {a,b}: dot 2L^2 / (2L * sqrt2 L) = 1/sqrt2; order 2: hyp {ab, bc, cd}
    # ref {ab}: L^2 / (sqrt3 L * L) = 1/sqrt3; orders 3, 4: ref has none -> 0.
    expected = 10 * (1 / math.sqrt(2) + 1 / math.sqrt(3)) / 4 * math.exp(-4 / 72)
    assert CiderD(CORPUS).score(["a b c d"], [["a b"]])[0] == pytest.approx(expected, abs=1e-12)


def test_ngram_in_every_document_has_zero_weight():
    # "x" occurs in both documents: IDF log 2 - log 2 = 0, so a caption of only "x" scores 0
    scorer = CiderD([["x a"], ["x c"]])
    assert scorer.score(["x"], [["x a"]])[0] == 0.0


def test_mean_over_references_counts_empty_reference():
    scorer = CiderD(CORPUS)
    one = scorer.score(["a b"], [["a b"]])[0]
    assert scorer.score(["a b"], [["a b", ""]])[0] == pytest.approx(one / 2, abs=1e-12)


@pytest.mark.parametrize("candidate", ["", None, "   ", "\x00\x01", "\ud800 a", "💥 a b", 12345])
def test_degenerate_candidates_give_finite_scores(candidate):
    out = CiderD(CORPUS).score([candidate, "a b"], [["a b"], ["a b"]])
    assert out.shape == (2,) and np.all(np.isfinite(out))
    assert out[1] == pytest.approx(5.0)                   # a neighbour's garbage does not leak into others


def test_empty_inputs():
    scorer = CiderD(CORPUS)
    assert scorer.score([], []).shape == (0,)
    assert scorer.score(["a b"], [[]])[0] == 0.0          # no references: 0, not an exception
    assert scorer.score([""], [[""]])[0] == 0.0
    assert cider_d([], []).shape == (0,)
    with pytest.raises(ValueError, match="non-empty"):
        CiderD([])
    with pytest.raises(ValueError, match="2 candidates but 1"):
        scorer.score(["a", "b"], [["a"]])


def test_one_megabyte_candidate_is_fast_and_near_zero():
    corpus = [["a man riding a wave on top of a surfboard"], ["a dog"], ["two cats"]]
    scorer = CiderD(corpus)
    big = "a man riding a wave " * 50_000                 # 1 MB, 250,000 words
    start = time.perf_counter()
    out = scorer.score([big], [corpus[0]])
    assert time.perf_counter() - start < 0.8
    assert 0.0 <= out[0] < 1e-6                           # the length penalty kills it


def test_reference_outside_corpus_counts_as_unseen():
    # "q r" is not in the corpus: all its n-grams have df 0 -> IDF log N, like "a b" in CORPUS (df 1 of 2
    # -> log 2 - 0 = log 2 = log N). So both score the same against themselves.
    scorer = CiderD(CORPUS)
    assert scorer.score(["q r"], [["q r"]])[0] == pytest.approx(scorer.score(["a b"], [["a b"]])[0])


words = st.sampled_from("a b c d e f the dog cat runs".split())
captions = st.lists(words, max_size=9).map(" ".join)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(captions, st.lists(captions, max_size=3)), min_size=1, max_size=6))
def test_batch_equals_one_by_one_and_order_free(pairs):
    scorer = CiderD([["a b c the dog", "the cat runs"], ["d e f"], ["a dog runs", "b"]])
    cands, refs = [p[0] for p in pairs], [p[1] for p in pairs]
    batch = scorer.score(cands, refs)
    single = np.array([scorer.score([c], [r])[0] for c, r in zip(cands, refs)])
    np.testing.assert_allclose(batch, single, rtol=0, atol=1e-12)
    rev = scorer.score(cands[::-1], refs[::-1])[::-1]
    np.testing.assert_allclose(batch, rev, rtol=0, atol=1e-12)
    assert np.all(batch >= 0)
