"""Generated token ids -> the character span of each token in the decoded text -> per-token segment ids.

What: `decode_with_offsets(token_ids, tokenizer)` returns the decoded text and one [start, end) character span
per token; `token_segment_ids(decoded, segment_spans)` turns the segmenter's body spans into a list of T ints:
segment index k (0-based) for a token of segment k, -1 for every other token. The flow per rollout:

    decoded = decode_with_offsets(completion_ids, tokenizer)
    segmented = segmenter.segment_text(decoded.text, expected_labels, label_template)
    segment_ids = token_segment_ids(decoded, segmenter.segment_char_spans(segmented))   # len == T

Why: SD-GRPO gives every token its segment's advantage, so the text decision of the segmenter has to become a
token decision that is exact, documented and the same for every tokenizer kind.

The text. `text = decode(ids without special tokens)`, with the tokenizer's own decoder and no HF clean-up
(`clean_up_tokenization_spaces=False`, which transformers 5 already ignores for BPE tokenizers; the clean-up
would delete characters and shift offsets). It equals `tokenizer.decode(ids, skip_special_tokens=True,
clean_up_tokenization_spaces=False)` whenever the tokenizer's `all_special_ids` are also special in its
backend (the normal case). Segment and score this `decoded.text`, so the spans refer to the text that was
judged. Special tokens: `all_special_ids` and added tokens marked special (EOS, pad, <|im_end|> …);
negative ids (padding such as -100) count as special; ids the vocabulary lacks decode to nothing.

Token spans, exactly. Let P_j = decode(ids[:j+1]) (special tokens left out) and lcp(a, b) the length of
the common prefix of a and b. Token j ends at end_j = max over i <= j of lcp(P_i, text): a character belongs
to the first token after which the decoded prefix shows it, and everything before it, as in the final text.
Token j starts where token j-1 ends, so the spans tile the text in order, without gaps or overlaps:
  - a multi-byte character split over byte-level BPE or byte-fallback ("<0xE4>") tokens belongs to the token
    that completes it; the tokens before it get an empty span right before it (an incomplete character
    decodes to U+FFFD, which is not the final character);
  - a token whose text a later token rewrites (Llama's ByteFallback decodes a whole run of byte tokens as
    U+FFFDs once the run turns out invalid UTF-8, even bytes that were valid alone) ends where its prefix
    last agreed with the final text;
  - a special token gets an empty span where it sits.

How, in O(T): a sliding window ids[first:j+1] starts at the last group of tokens whose text became final (the
left context that "▁" and "##" decoders need); what the window adds after that group's own decode is
compared with the text, and the window slides on only at text that matched and holds no U+FFFD (a
replacement character may stand for bytes whose meaning depends on their neighbours). About two decodes
of a few tokens per token (≈ 4 µs per token with a `tokenizers` backend). When a decoder does not fit the
window (the additions do not rebuild the text, or 64 tokens pass without a place to slide, as in long runs
of invalid bytes), the ends come from the definition by prefix decodes, `reference_ends`, O(T^2)
(≈ 0.1 s for 1k tokens, 1.5 s for 4k); tests check both agree, on real text and on random ids.

Segment of a token (`token_segment_ids`):
| token | segment id |
|---|---|
| special token | -1 |
| non-empty span | the segment whose body span holds the span's first non-whitespace character (a token straddling a boundary goes wholly to that side; " The" after "Panel 1:" is in segment 0, ":" is not) |
| whitespace-only span | the segment whose body holds its first character: inner spaces/newlines of a body are in; a space token right after a label and the newline between a body and the next label are -1 (bodies are whitespace-stripped) |
| empty span (part of a split character) | the segment holding the character it helps build (-1 at the end of the text) |
| label, preamble, text of duplicate/unexpected labels, anything outside every body | -1 |

For an in-order output the ids are non-decreasing (ignoring -1), since the spans tile the text in order.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

Decode = Callable[[list[int]], str]
"""Decodes a list of non-special token ids to text (special tokens never reach it)."""

_MAX_PENDING = 64  # tokens held back before the window method gives up (a decoder it does not fit)


@dataclass(frozen=True)
class DecodedTokens:
    """Decoded text and one [start, end) character span per token id (same length as the ids)."""

    text: str
    spans: list[tuple[int, int]]
    special: list[bool]
    """True for special tokens (and negative ids): never part of a segment."""


def decode_with_offsets(token_ids: Iterable[int] | Any, tokenizer: Any) -> DecodedTokens:
    """Decode generated ids with an HF tokenizer (`PreTrainedTokenizerBase`) or a `tokenizers.Tokenizer`.

    token_ids: a list, tuple, numpy array or 1-D tensor of one completion's ids (padding included is fine).
    """
    decode, special_ids = decoder_for(tokenizer)
    return decode_offsets(token_ids, decode, special_ids)


def decoder_for(tokenizer: Any) -> tuple[Decode, frozenset[int]]:
    """The decode function and special-token ids of a tokenizer (the small protocol the rest uses).

    A `tokenizers.Tokenizer` decodes itself. An HF fast tokenizer decodes through its `backend_tokenizer`
    (the same text as `tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)`
    with no Python overhead per call) unless its class overrides decoding (Whisper, CPM …); those and slow
    tokenizers go through `tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)`.
    Special ids: the tokenizer's `all_special_ids` and every added token marked special.
    """
    special: set[int] = set(getattr(tokenizer, "all_special_ids", ()) or ())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None and hasattr(tokenizer, "get_added_tokens_decoder"):
        backend = tokenizer  # a tokenizers.Tokenizer
    if backend is not None:
        special |= {i for i, tok in backend.get_added_tokens_decoder().items() if tok.special}
        if backend is tokenizer or not _overrides_decoding(tokenizer):
            return (lambda ids: backend.decode(ids, skip_special_tokens=True)), frozenset(special)
    added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    special |= {i for i, tok in added.items() if getattr(tok, "special", False)}
    return (lambda ids: tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False),
            frozenset(special))


def _overrides_decoding(tokenizer: Any) -> bool:
    """True when the HF tokenizer's class changes decoding below the class that owns `backend_tokenizer`."""
    cls = type(tokenizer)
    owner = next((c for c in cls.__mro__ if "backend_tokenizer" in vars(c)), cls)
    return any(getattr(cls, name, None) is not getattr(owner, name, None)
               for name in ("decode", "_decode", "convert_tokens_to_string"))


def decode_offsets(token_ids: Iterable[int] | Any, decode: Decode,
                   special_ids: frozenset[int] | set[int] = frozenset()) -> DecodedTokens:
    """Text and per-token spans for any decode function (definition: module docstring).

    >>> pieces = {1: "Panel", 2: " 1", 3: ":", 4: " cat", 0: "<eos>"}
    >>> out = decode_offsets([1, 2, 3, 4, 0], lambda ids: "".join(pieces[i] for i in ids), {0})
    >>> out.text, out.spans
    ('Panel 1: cat', [(0, 5), (5, 7), (7, 8), (8, 12), (12, 12)])
    """
    ids = _as_int_list(token_ids)
    special = [t < 0 or t in special_ids for t in ids]
    plain = [t for t, is_special in zip(ids, special) if not is_special]
    text = decode(plain) if plain else ""
    ends = _window_ends(plain, decode, text)
    if ends is None:
        ends = reference_ends(plain, decode, text)
    spans, position, k = [], 0, 0
    for is_special in special:
        if is_special:
            spans.append((position, position))
        else:
            spans.append((position, ends[k]))
            position = ends[k]
            k += 1
    return DecodedTokens(text=text, spans=spans, special=special)


def token_segment_ids(decoded: DecodedTokens, segment_spans: Sequence[tuple[int, int] | None]) -> list[int]:
    """Per-token segment index (-1 outside every segment); rules in the module docstring.

    segment_spans: body span of segment k at position k (None for a missing segment); spans must not overlap.

    >>> decoded = DecodedTokens("Panel 1: cat\\n", [(0, 5), (5, 7), (7, 8), (8, 12), (12, 13)], [False] * 5)
    >>> token_segment_ids(decoded, [(9, 12)])
    [-1, -1, -1, 0, -1]
    """
    text = decoded.text
    bodies = sorted((span[0], span[1], k) for k, span in enumerate(segment_spans)
                    if span is not None and span[0] < span[1])
    starts = [start for start, _, _ in bodies]
    out = []
    for (start, end), is_special in zip(decoded.spans, decoded.special):
        if is_special:
            out.append(-1)
            continue
        anchor = _first_non_space(text, start, end)
        i = bisect_right(starts, anchor) - 1
        out.append(bodies[i][2] if i >= 0 and anchor < bodies[i][1] else -1)
    return out


def reference_ends(ids: list[int], decode: Decode, text: str) -> list[int]:
    """end_j = max over i <= j of lcp(decode(ids[:i+1]), text): the definition, by prefix decodes, O(T^2)."""
    ends, best = [], 0
    for j in range(len(ids)):
        best = max(best, _common_prefix_len(decode(ids[:j + 1]), text, 0))
        ends.append(best)
    return ends


def _window_ends(ids: list[int], decode: Decode, text: str) -> list[int] | None:
    """The same ends by a sliding window of decodes, O(T); None when the decoder does not fit the method.

    The window ids[first:j+1] starts at the last token group whose text was final (left context for "▁"
    and "##" decoders); decode(ids[:j+1]) is taken to be text[:cursor - len(base)] + window.
    """
    ends = [0] * len(ids)
    end = 0  # running max of lcp(decode(ids[:j+1]), text)
    cursor = 0  # characters of `text` up to the end of the window's base
    first, last_final = 0, -1
    base = ""  # decode(ids[first:last_final+1]): text[cursor - len(base):cursor]
    complete = True  # the last window's text was all in `text`
    for j in range(len(ids)):
        if j - last_final > _MAX_PENDING:
            return None
        window = decode(ids[first:j + 1])
        complete = False
        if window.startswith(base):  # else the window rewrote final text (byte-fallback run): lcp < cursor
            added = window[len(base):]
            matched = _common_prefix_len(added, text, cursor)
            end = max(end, cursor + matched)
            complete = matched == len(added)
            # Slide only at clean text: U+FFFD may stand for bytes whose meaning depends on their neighbours.
            if complete and "\ufffd" not in added:
                cursor += len(added)
                first, last_final = last_final + 1, j
                base = decode(ids[first:j + 1])
        ends[j] = end
    if ids and not (complete and end == len(text)):
        return None
    return ends


def _common_prefix_len(piece: str, text: str, offset: int) -> int:
    """Length of the common prefix of `piece` and text[offset:]."""
    if text.startswith(piece, offset):
        return len(piece)
    n = 0
    for a, b in zip(piece, text[offset:offset + len(piece)]):
        if a != b:
            break
        n += 1
    return n


def _first_non_space(text: str, start: int, end: int) -> int:
    """Index of the first non-whitespace character in text[start:end], else `start`."""
    chunk = text[start:end]
    stripped = chunk.lstrip()
    return start + len(chunk) - len(stripped) if stripped else start


def _as_int_list(token_ids: Iterable[int] | Any) -> list[int]:
    if token_ids is None:
        return []
    if hasattr(token_ids, "tolist"):
        token_ids = token_ids.tolist()
    return [int(t) for t in token_ids]
