"""Tests for sdbench.data.token_spans against tokenizers of every kind, trained here on a tiny corpus (no download).

Kinds: byte-level BPE (GPT-2 / Qwen: ByteLevel pre-tokenizer + decoder), the same without the split regex
(merges across spaces, punctuation and newlines: tokens straddle label/body boundaries), WordPiece (BERT:
"##" continuations, decoder clean-up, newlines lost), Unigram with Metaspace ("▁", SentencePiece style),
and a Llama-style BPE with byte fallback ("<0xE4>" tokens; Replace/ByteFallback/Fuse/Strip decoder). Each
is also wrapped in `transformers.PreTrainedTokenizerFast` to test the HF path.
"""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sdbench.data.segmenter import segment_char_spans, segment_text
from sdbench.data.token_spans import (DecodedTokens, _window_ends, decode_offsets, decode_with_offsets, decoder_for,
                                      reference_ends, token_segment_ids)

ALPHABET = "abcdefgh xyz éü中文😀.,;!?'-\n"
CORPUS = [
    "Panel 1: A red cat sits on a green mat.\nPanel 2: Un café crème à côté d'une fenêtre.",
    "Panel 12: 中文字符 and emoji 😀🎉 next to the dog.\nPanel 3: The value is 45%; it's fine.",
    "Chart 2: Japan and Korea, 3.5 million. (b) A dog's toy; don't stop.",
    "(a) Western blot of cells. (b) Images of mice, scale bar 10 µm.",
    "abc def gh xyz éü 中文 😀 a.b,c;d!e?f'g-h x\ny z",
]
LINES = [line for text in CORPUS for line in text.split("\n")] * 40
EOS, PAD, UNK = "<|endoftext|>", "<pad>", "<unk>"
SPLITTING = ("byte_level_bpe", "wordpiece", "unigram_metaspace")  # pre-tokenizers that split at spaces
KINDS = (*SPLITTING, "byte_level_bpe_merged", "llama_byte_fallback")


def _byte_level_bpe(use_regex: bool):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=use_regex)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(LINES if use_regex else CORPUS * 40, trainers.BpeTrainer(
        vocab_size=400, special_tokens=[EOS, PAD], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    return tok


def _wordpiece():
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.WordPiece(unk_token=UNK))
    tok.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()  # cleanup=True, per token: "ok" "." -> "ok."
    tok.train_from_iterator(LINES, trainers.WordPieceTrainer(vocab_size=300, special_tokens=[EOS, PAD, UNK],
                                                             show_progress=False))
    return tok


def _unigram_metaspace():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(CORPUS * 40, trainers.UnigramTrainer(vocab_size=250, special_tokens=[EOS, PAD, UNK],
                                                                 unk_token=UNK, show_progress=False))
    return tok


def _llama_byte_fallback():
    """SentencePiece-BPE as Llama / LLaVA ship it: no pre-tokenizer, '▁' for spaces, <0xXX> byte tokens."""
    from tokenizers import Tokenizer, models, normalizers, trainers

    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.train_from_iterator(LINES, trainers.BpeTrainer(vocab_size=300, special_tokens=[EOS, PAD, UNK],
                                                       limit_alphabet=40, show_progress=False))
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    for byte in range(256):
        vocab.setdefault(f"<0x{byte:02X}>", len(vocab))
    spec["model"]["byte_fallback"] = True
    spec["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"},
        {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    return Tokenizer.from_str(json.dumps(spec))


@pytest.fixture(scope="session")
def toks():
    """kind -> tokenizers.Tokenizer; kind + '/hf' -> the same wrapped in PreTrainedTokenizerFast."""
    from transformers import PreTrainedTokenizerFast

    raw = {"byte_level_bpe": _byte_level_bpe(True), "byte_level_bpe_merged": _byte_level_bpe(False),
           "wordpiece": _wordpiece(), "unigram_metaspace": _unigram_metaspace(),
           "llama_byte_fallback": _llama_byte_fallback()}
    hf = {f"{kind}/hf": PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=PAD)
          for kind, tok in raw.items()}
    return raw | hf


def _ids(tok, text: str) -> list[int]:
    if hasattr(tok, "backend_tokenizer"):
        return tok(text, add_special_tokens=False)["input_ids"]
    return tok.encode(text, add_special_tokens=False).ids


def _special(tok, token: str) -> int:
    return tok.convert_tokens_to_ids(token) if hasattr(tok, "backend_tokenizer") else tok.token_to_id(token)


def _non_space(text: str) -> str:
    return "".join(text.split())


def _anchor(text: str, start: int, end: int) -> int:
    """Oracle of the documented rule: first non-whitespace character of the span, else its start."""
    for i in range(start, end):
        if not text[i].isspace():
            return i
    return start


def _check_tiling(decoded: DecodedTokens, num_ids: int) -> None:
    assert len(decoded.spans) == len(decoded.special) == num_ids
    position = 0
    for (start, end), special in zip(decoded.spans, decoded.special):
        assert start == position <= end
        assert not special or start == end
        position = end
    assert position == len(decoded.text)


SAMPLES = [
    "Panel 1: A red cat sits on a green mat.\nPanel 2: Un café crème à côté d'une fenêtre.",
    "Panel 12: 中文字符 and emoji 😀🎉 next to the dog.\nPanel 3: The value is 45%; it's fine.",
    "(a) Western blot of cells. (b) Images of mice, scale bar 10 µm. don't stop .",
    "abc  def\n\ngh 😀😀 x",
]


# ---- the text and the spans ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", [*KINDS, *(f"{k}/hf" for k in KINDS)])
def test_text_is_decode_without_special_tokens_and_spans_tile_it(toks, kind):
    tok = toks[kind]
    eos, pad = _special(tok, EOS), _special(tok, PAD)
    for sample in SAMPLES:
        first, second = sample[:len(sample) // 2], sample[len(sample) // 2:]
        first_ids = _ids(tok, first)
        ids = [eos, *first_ids, eos, *_ids(tok, second), eos, pad, pad, -100]
        decoded = decode_with_offsets(ids, tok)
        kept = [i for i in ids if i >= 0]
        if kind.endswith("/hf"):
            assert decoded.text == tok.decode(kept, skip_special_tokens=True, clean_up_tokenization_spaces=False)
            assert decoded.text == tok.decode(kept, skip_special_tokens=True)  # v5 default: no clean-up
        else:
            assert decoded.text == tok.decode(kept, skip_special_tokens=True)
        _check_tiling(decoded, len(ids))
        assert decoded.special == [i < 0 or i in (eos, pad, _special(tok, UNK)) for i in ids]
        assert decoded.special[0] and decoded.special[len(first_ids) + 1] and all(decoded.special[-4:])


@pytest.mark.parametrize("kind", KINDS)
def test_window_method_equals_the_definition_on_real_text(toks, kind):
    decode, special = decoder_for(toks[kind])
    for sample in SAMPLES:
        ids = [i for i in _ids(toks[kind], sample) if i not in special]
        text = decode(ids)
        ends = _window_ends(ids, decode, text)
        assert ends is not None, "the O(T) path must handle ordinary text"
        assert ends == reference_ends(ids, decode, text)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), kind=st.sampled_from(KINDS))
def test_spans_follow_the_definition_on_arbitrary_ids(toks, data, kind):
    """Random ids (invalid UTF-8, stray '##' and '▁', specials anywhere): spans == the definition."""
    tok = toks[kind]
    ids = data.draw(st.lists(st.integers(0, tok.get_vocab_size() - 1), max_size=40))
    decoded = decode_with_offsets(ids, tok)
    _check_tiling(decoded, len(ids))
    decode, special = decoder_for(tok)
    plain = [i for i in ids if i not in special]
    expected = reference_ends(plain, decode, decoded.text)
    assert [end for (_, end), s in zip(decoded.spans, decoded.special) if not s] == expected
    window = _window_ends(plain, decode, decoded.text)
    assert window is None or window == expected


def test_invalid_byte_fallback_run_is_attributed_byte_by_byte(toks):
    """ByteFallback turns a whole run of byte tokens into U+FFFDs when the run is invalid UTF-8, even bytes
    that were valid alone ("}"): the window must not slide inside such a run (it did, and gave 3, 3, 3)."""
    tok = toks["llama_byte_fallback"]
    ids = [tok.token_to_id(t) for t in ["▁cells", "<0xAB>", "<0xCF>", "<0xC9>", "<0xAA>", "<0x7D>", "<0x8E>", "2"]]
    decoded = decode_with_offsets(ids, tok)
    assert decoded.text == "cells" + "\ufffd" * 6 + "2"
    assert [end for _, end in decoded.spans] == [5, 6, 7, 8, 9, 10, 11, 12]
    decode, _ = decoder_for(tok)
    assert _window_ends(ids, decode, decoded.text) == reference_ends(ids, decode, decoded.text)


def test_fallback_when_a_decoder_is_not_local():
    """A decoder whose output depends on the first token of the whole sequence (upper case after token 1)
    defeats the window; the spans then come from prefix decodes and still follow the definition."""
    pieces = {1: "ab", 2: " cd", 3: "!", 4: " ef", 5: "gh"}

    def decode(ids):
        text = "".join(pieces[i] for i in ids)
        return text.upper() if ids[:1] == [1] else text

    ids = [1, 2, 3, 4]
    assert _window_ends(ids, decode, decode(ids)) is None
    decoded = decode_offsets(ids, decode)
    assert decoded.text == "AB CD! EF"
    assert decoded.spans == [(0, 2), (2, 5), (5, 6), (6, 9)]
    # the definition: a token's text counts once its prefix decode shows it as in the final text
    decoded = decode_offsets([5, 1, 2], decode)
    assert decoded.text == "ghab cd" and decoded.spans == [(0, 2), (2, 4), (4, 7)]


def test_input_types_and_empty_input(toks):
    import numpy as np
    import torch

    tok = toks["byte_level_bpe"]
    ids = _ids(tok, "Panel 1: a cat.")
    expected = decode_with_offsets(ids, tok)
    assert decode_with_offsets(np.array(ids), tok) == expected
    assert decode_with_offsets(torch.tensor(ids), tok) == expected
    assert decode_with_offsets(tuple(ids), tok) == expected
    assert decode_with_offsets([], tok) == DecodedTokens("", [], [])
    assert decode_with_offsets(None, tok) == DecodedTokens("", [], [])
    out = decode_with_offsets([-100, *ids, 10**9], tok)  # negative: special; out of vocab: decodes to nothing
    assert out.text == expected.text and out.special[0] and out.spans[-1] == (len(out.text), len(out.text))


def test_hf_special_ids_include_eos_and_pad(toks):
    _, special = decoder_for(toks["byte_level_bpe/hf"])
    assert {_special(toks["byte_level_bpe/hf"], EOS), _special(toks["byte_level_bpe/hf"], PAD)} <= special


def test_linear_time_on_long_outputs(toks):
    tok = toks["byte_level_bpe/hf"]
    ids = _ids(tok, " ".join(SAMPLES) * 60)[:4096]
    assert len(ids) == 4096
    start = time.perf_counter()
    decoded = decode_with_offsets(ids, tok)
    assert time.perf_counter() - start < 1.0  # ≈ 0.02 s; prefix decoding takes ≈ 1.5 s
    _check_tiling(decoded, 4096)


# ---- segment ids ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["byte_level_bpe", "llama_byte_fallback", "byte_level_bpe/hf"])
def test_split_multibyte_characters_go_with_the_token_that_completes_them(toks, kind):
    tok = toks[kind]
    text = "Panel 1: 中文 😀 café ☃.\nPanel 2: 𝄞 ok."
    ids = _ids(tok, text)
    decoded = decode_with_offsets(ids, tok)
    assert decoded.text == text
    seg_ids = token_segment_ids(decoded, segment_char_spans(segment_text(text, ["Panel 1:", "Panel 2:"],
                                                                         "Panel {k}:")))
    decode, _ = decoder_for(tok)
    partial = [j for j, i in enumerate(ids) if "\ufffd" in decode([i])]
    assert len(partial) >= 3, "the test needs characters split over byte tokens"
    for j in partial:
        start, end = decoded.spans[j]
        completing = next(k for k in range(j, len(ids)) if decoded.spans[k][1] > start)
        assert start == end or completing == j  # empty span unless it completes a character itself
        assert not decoded.text[start].isspace() and not decoded.text[start].isascii()
        assert seg_ids[j] == seg_ids[completing] != -1
    assert set(seg_ids) == {-1, 0, 1}


@pytest.mark.parametrize("kind", [*KINDS, "byte_level_bpe/hf", "wordpiece/hf"])
def test_label_tokens_specials_and_separators_get_minus_one(toks, kind):
    tok = toks[kind]
    eos, pad = _special(tok, EOS), _special(tok, PAD)
    ids = [*_ids(tok, "Panel 12: A red cat.\n"), eos, *_ids(tok, "Panel 3: The dog."), eos, pad, pad]
    decoded = decode_with_offsets(ids, tok)
    out = segment_text(decoded.text, ["Panel 12:", "Panel 3:"], "Panel {k}:")
    assert [_non_space(s.text) for s in out.segments] == ["Aredcat.", "Thedog."]
    seg_ids = token_segment_ids(decoded, segment_char_spans(out))
    assert len(seg_ids) == len(ids)
    assert all(s == -1 for s, special in zip(seg_ids, decoded.special) if special)
    label_start, label_end = out.segments[0].label_span
    label_tokens = [j for j, (a, b) in enumerate(decoded.spans) if a < b and label_start <= a and b <= label_end]
    if kind in ("byte_level_bpe", "wordpiece", "unigram_metaspace", "byte_level_bpe/hf", "wordpiece/hf"):
        assert len(label_tokens) >= 3, "'Panel 12:' is split over several tokens"
    assert all(seg_ids[j] == -1 for j in label_tokens)
    body_tokens = [j for j, (a, b) in enumerate(decoded.spans) if a < b and out.segments[1].span[0] <= a
                   and b <= out.segments[1].span[1]]
    assert body_tokens and all(seg_ids[j] == 1 for j in body_tokens)


def test_straddling_tokens_follow_their_first_non_space_character():
    pieces = {1: "Panel", 2: " 1", 3: ": A", 4: " cat", 5: ".\nPan", 6: "el 2", 7: ":", 8: " dog", 9: "  ",
              10: "\n", 11: "x", 12: " \n(", 0: "<eos>"}
    ids = [1, 2, 3, 4, 9, 11, 5, 6, 7, 8, 10, 12, 0]
    decoded = decode_offsets(ids, lambda xs: "".join(pieces[i] for i in xs), {0})
    assert decoded.text == "Panel 1: A cat  x.\nPanel 2: dog\n \n("
    out = segment_text(decoded.text, ["Panel 1:", "Panel 2:"], "Panel {k}:")
    assert [s.text for s in out.segments] == ["A cat  x.", "dog\n \n("]
    seg_ids = token_segment_ids(decoded, segment_char_spans(out))
    #            Panel " 1"  ": A"  cat  "  "  x  ".\nPan" "el 2" ":"  dog  "\n" " \n(" eos
    assert seg_ids == [-1, -1, -1, 0, 0, 0, 0, -1, -1, 1, 1, 1, -1]


def test_whitespace_tokens_inside_and_between_bodies():
    pieces = {1: "Panel 1:", 2: " a", 3: "\n\n", 4: " b", 5: "\n", 6: "Panel 2:", 7: " c", 8: "\n"}
    decoded = decode_offsets([1, 2, 3, 4, 5, 6, 7, 8], lambda xs: "".join(pieces[i] for i in xs))
    out = segment_text(decoded.text, ["Panel 1:", "Panel 2:"], "Panel {k}:")
    assert token_segment_ids(decoded, segment_char_spans(out)) == [-1, 0, 0, 0, -1, -1, 1, -1]


def test_missing_empty_and_out_of_order_segments():
    pieces = {1: "Panel 3:", 2: " c", 3: "\nPanel 1:", 4: " a", 5: "\nPanel 2:"}
    decoded = decode_offsets([1, 2, 3, 4, 5], lambda xs: "".join(pieces[i] for i in xs))
    out = segment_text(decoded.text, ["Panel 1:", "Panel 2:", "Panel 3:", "Panel 4:"], "Panel {k}:")
    assert token_segment_ids(decoded, segment_char_spans(out)) == [-1, 2, -1, 0, -1]


# ---- properties -----------------------------------------------------------------------------------------
BODY = st.builds(str.__add__, st.sampled_from("abxyzé中😀"), st.text(alphabet=ALPHABET, max_size=30)).map(
    lambda s: s.strip() + ".")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), kind=st.sampled_from(KINDS))
def test_segment_ids_properties(toks, data, kind):
    tok = toks[kind]
    num = data.draw(st.integers(1, 4))
    written = data.draw(st.lists(BODY, min_size=num, max_size=num))
    text = data.draw(st.sampled_from(["", "Sure.\n"])) + "\n".join(
        f"Panel {k + 1}: {body}" for k, body in enumerate(written))
    ids = _ids(tok, text) + data.draw(st.lists(st.sampled_from([_special(tok, EOS), _special(tok, PAD)]),
                                               max_size=3))
    decoded = decode_with_offsets(ids, tok)
    out = segment_text(decoded.text, [f"Panel {k}:" for k in range(1, num + 1)], "Panel {k}:")
    assert out.stats.num_found == num
    seg_ids = token_segment_ids(decoded, segment_char_spans(out))

    assert len(seg_ids) == len(ids)
    assert set(seg_ids) <= {-1, *range(num)}
    in_segments = [s for s in seg_ids if s != -1]
    assert in_segments == sorted(in_segments), "in-order output: segment ids never decrease"
    for j, ((start, end), k) in enumerate(zip(decoded.spans, seg_ids)):
        if decoded.special[j]:
            assert k == -1
            continue
        anchor = _anchor(decoded.text, start, end)
        owner = [i for i, s in enumerate(out.segments) if s.span[0] <= anchor < s.span[1]]
        assert k == (owner[0] if owner else -1)
    for k, seg in enumerate(out.segments):
        covered = _non_space("".join(decoded.text[a:b] for (a, b), s in zip(decoded.spans, seg_ids) if s == k))
        if kind in ("byte_level_bpe", "wordpiece"):
            assert covered == _non_space(seg.text)
        elif kind == "unigram_metaspace":
            assert _non_space(seg.text) in covered
        inside = [s for (a, b), s in zip(decoded.spans, seg_ids) if a < b and seg.span[0] <= a and b <= seg.span[1]]
        assert all(s == k for s in inside), "a token wholly inside a body belongs to it"


def test_hf_subclass_that_overrides_decoding_is_decoded_through_it(toks):
    from transformers import PreTrainedTokenizerFast

    class Shouting(PreTrainedTokenizerFast):
        def _decode(self, token_ids, **kwargs):
            return super()._decode(token_ids, **kwargs).upper()

    tok = Shouting(tokenizer_object=toks["byte_level_bpe"], eos_token=EOS)
    ids = _ids(tok, "Panel 1: a cat.")
    decoded = decode_with_offsets(ids, tok)
    assert decoded.text == "PANEL 1: A CAT."
    _check_tiling(decoded, len(ids))
    plain = decode_with_offsets(ids, toks["byte_level_bpe/hf"])
    assert plain.text == "Panel 1: a cat." and plain.spans == decoded.spans
