"""Exact substring deduplication (Lee et al. 2022, "Deduplicating Training Data Makes
Language Models Better"), pure functions, no Beam.

Semantics. A byte range of a document is *repeated* when it lies inside an occurrence of
a byte string of length >= ``min_span`` that occurs at least twice in the corpus (two
distinct positions, the same or different documents; matches never cross a document
boundary). Equivalently: position ``a`` starts a repeated ``min_span``-byte *window* and
the removed set is the union of those windows. Two policies:

- ``strike_all``: remove every copy (what Lee et al.'s ExactSubstr does);
- keep-first (default): remove a window only when the same bytes occur at an *earlier*
  position, "earlier" meaning the total order (document id, byte offset). The first copy
  survives.

Single-node engine: one suffix array (libdivsufsort through ``pydivsufsort``) over the
concatenated UTF-8 bytes with a 0xFF byte between documents. 0xFF never occurs in UTF-8,
so a match that runs into a separator must meet a separator at the same distance in
the other copy too; therefore the longest match *inside the documents* is simply
``min(lcp, bytes_left_in_document(a))`` for either side. One separator byte per
document is all it costs (a unique int32 symbol per document would quadruple the
suffix-array input, because pydivsufsort sorts wide alphabets as multi-byte strings).
strike_all uses the LCP array (kasai); keep-first uses the longest-previous-factor
array (both compiled, from pydivsufsort).

Partitioned engine (for corpora larger than one worker): see ``winnow_anchors`` and
``bucket_repeated_spans``; ``pipelines/dedup/substring.py`` wires it into Beam and
``docs/substring.md`` gives the memory bounds. It returns exactly the same byte ranges
as the single suffix array (tested).

Offsets: the engines work on UTF-8 *byte* offsets; ``byte_spans_to_char_spans`` snaps
them inward to character (and, for space-delimited scripts, word) boundaries and returns
*character* offsets into the text the stage received, which is what
``Document.removed_spans`` stores.
"""
from __future__ import annotations

import re
from typing import Iterable, Iterator, NamedTuple, Optional, Sequence

import numpy as np
import pydivsufsort

SEPARATOR = 0xFF  # never a byte of valid UTF-8 (nor of 'surrogatepass' output)
DEFAULT_MIN_SPAN = 100  # bytes, ~50 tokens (Lee et al.)
DEFAULT_ANCHOR_BYTES = 32

_EMPTY_SPANS = np.zeros((0, 2), dtype=np.int64)


def encode(text: str) -> bytes:
    """UTF-8 bytes of a document; lone surrogates survive (and never produce 0xFF)."""
    return text.encode("utf-8", "surrogatepass")


# ---------------------------------------------------------------------------------
# Interval helpers
# ---------------------------------------------------------------------------------

def merge_intervals(spans: np.ndarray) -> np.ndarray:
    """Union of half-open [start, end) intervals, sorted, touching ones merged."""
    spans = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    spans = spans[spans[:, 1] > spans[:, 0]]
    if len(spans) == 0:
        return _EMPTY_SPANS.copy()
    return _covered_intervals(spans[:, 0], spans[:, 1] - spans[:, 0])


def _covered_intervals(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Union of [starts[i], starts[i] + lengths[i])."""
    if len(starts) == 0:
        return _EMPTY_SPANS.copy()
    if len(starts) > 1 and not (starts[1:] >= starts[:-1]).all():
        order = np.argsort(starts, kind="stable")
        starts, lengths = starts[order], lengths[order]
    # Sorted starts: one running maximum, no (m, 2) int64 copy nor lexsort (hits can be
    # most of the corpus on a heavily duplicated input).
    reach = np.maximum.accumulate(starts + lengths)
    new = np.ones(len(starts), dtype=bool)
    new[1:] = starts[1:] > reach[:-1]
    first = np.flatnonzero(new)
    last = np.append(first[1:] - 1, len(starts) - 1)
    return np.stack([starts[first], reach[last]], axis=1).astype(np.int64)


# ---------------------------------------------------------------------------------
# Single-node engine: one suffix array over segments
# ---------------------------------------------------------------------------------

def concat_segments(segments: Sequence[bytes]) -> tuple[bytes, np.ndarray]:
    """Join segments with SEPARATOR; returns (buffer, start offset of each segment)."""
    lengths = np.fromiter((len(s) for s in segments), dtype=np.int64, count=len(segments))
    starts = np.zeros(len(segments), dtype=np.int64)
    if len(segments) > 1:
        starts[1:] = np.cumsum(lengths[:-1] + 1)
    return bytes([SEPARATOR]).join(segments), starts


def _bytes_left(positions: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """For buffer positions inside segments: bytes until the end of their segment."""
    seg = np.searchsorted(starts, positions, side="right") - 1
    return starts[seg] + lengths[seg] - positions


def repeated_byte_spans(segments: Sequence[bytes], min_span: int = DEFAULT_MIN_SPAN,
                        keep_first: bool = True) -> list[np.ndarray]:
    """Byte ranges to remove from each segment, as a list of (m, 2) int64 arrays.

    ``segments`` are in the global order that defines "first" (document id, offset).
    Memory: the buffer (n bytes) + suffix array (4n; 8n beyond 2 GiB) + LCP or LPF
    array (4n, plus the inverse suffix array kasai builds, 4n) + 8-24 bytes per
    *repeated* byte for the hits: ~10-16 bytes per input byte (bench/substring.py).
    """
    if min_span < 1:
        raise ValueError("min_span must be >= 1")
    out = [_EMPTY_SPANS.copy() for _ in segments]
    if not segments or max((len(s) for s in segments), default=0) < min_span:
        return out
    buf, starts = concat_segments(segments)
    lengths = np.fromiter((len(s) for s in segments), dtype=np.int64, count=len(segments))
    sa = pydivsufsort.divsufsort(buf)
    # Only positions whose raw match reaches min_span are looked at again, so beyond
    # the buffer, SA and one LCP/LPF array (4 bytes each) nothing is O(n).
    if keep_first:
        # LPF[a] = longest match of the suffix at a with any suffix starting before a.
        lpf = pydivsufsort.longest_previous_factor(buf, sa)
        hit = np.flatnonzero(lpf >= min_span).astype(lpf.dtype)  # int32 below 2 GiB
        match = np.minimum(lpf[hit], _bytes_left(hit, starts, lengths).astype(lpf.dtype))
        del lpf
        ok = match >= min_span
        covered = _covered_intervals(hit[ok], match[ok])
    else:
        lcp = pydivsufsort.kasai(buf, sa)  # lcp[i] = lcp(sa[i], sa[i+1])
        pairs = np.flatnonzero(lcp[:-1] >= min_span)
        left_pos = sa[pairs]
        right_pos = sa[pairs + 1]
        match = np.minimum(lcp[pairs], _bytes_left(left_pos, starts, lengths).astype(lcp.dtype))
        del lcp
        ok = match >= min_span
        hit = np.concatenate([left_pos[ok], right_pos[ok]])
        covered = _covered_intervals(hit, np.concatenate([match[ok], match[ok]]))
    del sa
    if len(covered) == 0:
        return out
    # Map buffer intervals back to segments (intervals never cross a separator).
    seg = np.searchsorted(starts, covered[:, 0], side="right") - 1
    local = covered - starts[seg][:, None]
    order_changes = np.flatnonzero(np.diff(seg)) + 1
    for idx, block in zip(np.split(seg, order_changes), np.split(local, order_changes)):
        out[int(idx[0])] = block
    return out


# ---------------------------------------------------------------------------------
# Partitioned engine: winnowed anchors + per-bucket suffix arrays
# ---------------------------------------------------------------------------------

_MASK32 = np.uint64(0xFFFFFFFF)
_HASH_BASE = np.uint64(0x100000001B3)


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: spreads a polynomial hash over all 64 bits."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def gram_fingerprints(data: bytes, gram: int) -> np.ndarray:
    """64-bit fingerprint of every ``gram``-byte substring (len(data) - gram + 1 values).

    Polynomial hash mod 2^64 built by doubling (h_2L[i] = h_L[i] * B^L + h_L[i + L]), so
    a 32-byte gram costs 5 vector passes instead of 32, then mixed with splitmix64.
    """
    m = len(data) - gram + 1
    if m <= 0:
        return np.zeros(0, dtype=np.uint64)
    h = np.frombuffer(data, dtype=np.uint8).astype(np.uint64) + np.uint64(1)
    length, power = 1, _HASH_BASE
    with np.errstate(over="ignore"):  # wrap-around mod 2^64 is intended
        result, result_len = None, 0
        remaining = gram
        while remaining:
            if remaining & 1:  # append the current power-of-two block to the result
                if result is None:
                    result, result_len = h, length
                else:
                    n = min(len(result) - length, len(h) - result_len)
                    result = result[:n] * power + h[result_len: result_len + n]
                    result_len += length
            remaining >>= 1
            if remaining:
                h = h[:-length] * power + h[length:]
                length *= 2
                power = power * power
        return _mix64(result[:m])


def _sliding_min(values: np.ndarray, window: int) -> np.ndarray:
    """Minimum of every ``window`` consecutive values (van Herk / Gil-Werman, O(n))."""
    m = len(values)
    pad = (-m) % window
    big = np.iinfo(np.uint64).max
    padded = np.concatenate([values, np.full(pad, big, dtype=np.uint64)]).reshape(-1, window)
    prefix = np.minimum.accumulate(padded, axis=1).ravel()
    suffix = np.minimum.accumulate(padded[:, ::-1], axis=1)[:, ::-1].ravel()
    count = m - window + 1
    return np.minimum(suffix[:count], prefix[window - 1: window - 1 + count])


def winnow_anchors(data: bytes, min_span: int = DEFAULT_MIN_SPAN,
                   anchor_bytes: int = DEFAULT_ANCHOR_BYTES) -> tuple[np.ndarray, np.ndarray]:
    """Selected anchor positions and their ``anchor_bytes``-gram fingerprints.

    Winnowing (Schleimer et al. 2003) over the ``anchor_bytes``-grams with a window of
    ``t = min_span - anchor_bytes + 1`` grams: every ``min_span``-byte window contains
    exactly one such t-window, whose minimum gram is selected wherever those bytes
    occur. So two copies of any repeated ``min_span``-byte window share an anchor at
    the same relative offset: the guarantee that lets buckets find every repeat.
    Ties: the key is (top 32 bits of the fingerprint, then rightmost position), which
    depends only on content and relative position. Density ~ 2 / (t + 1).
    """
    if not 1 <= anchor_bytes <= min_span:
        raise ValueError("anchor_bytes must be between 1 and min_span")
    window = min_span - anchor_bytes + 1
    fps = gram_fingerprints(data, anchor_bytes)
    if len(fps) < window:  # document shorter than min_span: nothing to find in it
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
    positions = np.arange(len(fps), dtype=np.uint64)
    keys = (fps & ~_MASK32) | (_MASK32 - positions)
    minima = _sliding_min(keys, window)
    chosen = (_MASK32 - (minima & _MASK32)).astype(np.int64)
    # The chosen position never moves left as the window slides: dedupe runs, no sort.
    keep = np.ones(len(chosen), dtype=bool)
    keep[1:] = chosen[1:] != chosen[:-1]
    selected = chosen[keep]
    return selected, fps[selected]


def anchor_contexts(positions: Sequence[int], data_len: int, min_span: int,
                    anchor_bytes: int) -> list[tuple[int, int]]:
    """Merged byte ranges holding every min_span-window that contains an anchor.

    ``positions`` must be sorted; then both ends grow monotonically and one linear pass
    merges them (plain Python: these lists are short, numpy call overhead dominates).
    """
    reach_left, out = min_span - anchor_bytes, []
    for pos in positions:
        lo, hi = max(pos - reach_left, 0), min(pos + min_span, data_len)
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def bucket_of(fps: np.ndarray, num_buckets: int) -> np.ndarray:
    # The low bits are independent of the top bits that winnowing minimised.
    return (fps % np.uint64(num_buckets)).astype(np.int64)


class AnchorShare(NamedTuple):
    """What one document sends to one bucket: its anchors there and their contexts.

    ``contexts`` are the merged context ranges of those anchors and ``pieces`` their
    bytes, so the bucket never needs the whole document. ``data_len`` clips contexts.
    """

    doc_id: str
    positions: np.ndarray
    fps: np.ndarray
    contexts: list[tuple[int, int]]
    pieces: list[bytes]
    data_len: int


def document_anchor_shares(doc_id: str, data: bytes, num_buckets: int,
                           min_span: int = DEFAULT_MIN_SPAN,
                           anchor_bytes: int = DEFAULT_ANCHOR_BYTES) -> Iterator[tuple[int, AnchorShare]]:
    """(bucket, share) pairs for one document (at most one per bucket)."""
    positions, fps = winnow_anchors(data, min_span, anchor_bytes)
    if len(positions) == 0:
        return
    buckets = bucket_of(fps, num_buckets)
    order = np.argsort(buckets, kind="stable")  # keeps positions sorted inside a bucket
    positions, fps, buckets = positions[order], fps[order], buckets[order]
    bounds = np.flatnonzero(np.diff(buckets)) + 1
    starts = [0] + bounds.tolist()
    ends = bounds.tolist() + [len(buckets)]
    for lo, hi in zip(starts, ends):
        pos = positions[lo:hi]
        ctx = anchor_contexts(pos.tolist(), len(data), min_span, anchor_bytes)
        yield int(buckets[lo]), AnchorShare(doc_id, pos, fps[lo:hi], ctx,
                                            [data[s:e] for s, e in ctx], len(data))


def bucket_repeated_spans(shares: Iterable[AnchorShare], min_span: int = DEFAULT_MIN_SPAN,
                          anchor_bytes: int = DEFAULT_ANCHOR_BYTES,
                          keep_first: bool = True) -> Iterator[tuple[str, np.ndarray]]:
    """Within one bucket: (doc_id, byte spans to remove) for documents with repeats.

    1. Keep anchors whose fingerprint occurs at >= 2 positions in the bucket (all copies
       of a repeated window share one anchor fingerprint, hence one bucket).
    2. Cut those anchors' contexts out of the shipped pieces; order them by
       (document id, offset), the global order that defines "first".
    3. Run the suffix-array engine over just these segments. Every match it reports is
       a real repeat (segments of one document never overlap), and every repeated
       window of the corpus is complete in the bucket of its anchor, so the union over
       buckets equals the single-suffix-array answer.
    Memory: this bucket's shares (their pieces) plus ~30 bytes per byte of the
    segments kept in step 2.
    """
    shares = sorted(shares, key=lambda s: s.doc_id)
    if not shares:
        return
    all_fps = np.concatenate([s.fps for s in shares])
    _, inverse, counts = np.unique(all_fps, return_inverse=True, return_counts=True)
    repeated = (counts[inverse] >= 2).tolist()
    segments: list[bytes] = []
    owners: list[tuple[str, int]] = []
    offset = 0
    for share in shares:
        n = len(share.fps)
        keep = repeated[offset: offset + n]
        offset += n
        if not any(keep):
            continue
        kept_positions = [p for p, k in zip(share.positions.tolist(), keep) if k]
        needed = anchor_contexts(kept_positions, share.data_len, min_span, anchor_bytes)
        # Each needed range lies inside one shipped context (a subset of their union);
        # both lists are sorted, so one forward walk finds it.
        c = 0
        for s, e in needed:
            while share.contexts[c][1] < e:
                c += 1
            base = share.contexts[c][0]
            segments.append(share.pieces[c][s - base: e - base])
            owners.append((share.doc_id, s))
    if not segments:
        return
    found = repeated_byte_spans(segments, min_span, keep_first)
    per_doc: dict[str, list[np.ndarray]] = {}
    for (doc_id, start), spans in zip(owners, found):
        if len(spans):
            per_doc.setdefault(doc_id, []).append(spans + start)
    for doc_id in sorted(per_doc):
        yield doc_id, merge_intervals(np.concatenate(per_doc[doc_id]))


def partitioned_repeated_spans(docs: Sequence[tuple[str, bytes]], num_buckets: int,
                               min_span: int = DEFAULT_MIN_SPAN,
                               anchor_bytes: int = DEFAULT_ANCHOR_BYTES,
                               keep_first: bool = True) -> dict[str, np.ndarray]:
    """The partitioned algorithm run in one process (the Beam job distributes it)."""
    buckets: dict[int, list[AnchorShare]] = {}
    for doc_id, data in docs:
        for b, share in document_anchor_shares(doc_id, data, num_buckets, min_span, anchor_bytes):
            buckets.setdefault(b, []).append(share)
    per_doc: dict[str, list[np.ndarray]] = {}
    for b in sorted(buckets):
        for doc_id, spans in bucket_repeated_spans(buckets[b], min_span, anchor_bytes, keep_first):
            per_doc.setdefault(doc_id, []).append(spans)
    return {d: merge_intervals(np.concatenate(v)) for d, v in per_doc.items()}


def single_repeated_spans(docs: Sequence[tuple[str, bytes]], min_span: int = DEFAULT_MIN_SPAN,
                          keep_first: bool = True) -> dict[str, np.ndarray]:
    """Reference: one suffix array over the whole corpus, documents ordered by id."""
    docs = sorted(docs, key=lambda d: d[0])
    found = repeated_byte_spans([d for _, d in docs], min_span, keep_first)
    return {doc_id: spans for (doc_id, _), spans in zip(docs, found) if len(spans)}


# ---------------------------------------------------------------------------------
# Removal: bytes -> characters -> words, then cut by offsets
# ---------------------------------------------------------------------------------

_NO_SPACE_CHAR = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002ffff]"
)


def _is_word_char(c: str) -> bool:
    # Characters of scripts without spaces are words on their own: any cut is a word cut.
    return c.isalnum() and not _NO_SPACE_CHAR.match(c)


def byte_spans_to_char_spans(text: str, data: bytes, spans: np.ndarray,
                             snap_words: bool = True) -> list[tuple[int, int]]:
    """Turn byte spans into character spans, shrinking them inward.

    Never cuts inside a UTF-8 character: a start inside a character moves to the next
    character, an end inside one moves back to the character's start. With
    ``snap_words`` a span that starts or ends inside a word shrinks to the word
    boundary, so no half-words are left behind (we shrink rather than grow: only bytes
    proven to be repeated are ever removed).
    """
    spans = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    if len(spans) == 0:
        return []
    b = np.frombuffer(data, dtype=np.uint8)
    is_start = (b & 0xC0) != 0x80
    # starts_before[p] = number of characters starting before byte p.
    starts_before = np.concatenate([[0], np.cumsum(is_start)])
    n = len(b)
    out: list[tuple[int, int]] = []
    for s, e in spans:
        cs = int(starts_before[s])  # next character start at or after s
        ce = int(starts_before[e])
        if e < n and not is_start[e]:
            ce -= 1  # e is inside a character: end before it
        if snap_words:
            if 0 < cs < len(text) and _is_word_char(text[cs - 1]):
                while cs < ce and _is_word_char(text[cs]):
                    cs += 1
            if 0 < ce < len(text) and _is_word_char(text[ce]):
                while ce > cs and _is_word_char(text[ce - 1]):
                    ce -= 1
        if ce > cs:
            out.append((cs, ce))
    return out


def remove_char_spans(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """Cut sorted, non-overlapping character spans out of text (by offsets)."""
    pieces, pos = [], 0
    for s, e in spans:
        pieces.append(text[pos:s])
        pos = e
    pieces.append(text[pos:])
    return "".join(pieces)


def removal_plan(text: str, byte_spans: Optional[np.ndarray], snap_words: bool = True
                 ) -> tuple[str, list[tuple[int, int]], int]:
    """(new text, character spans removed, UTF-8 bytes removed) for one document."""
    if byte_spans is None or len(byte_spans) == 0:
        return text, [], 0
    data = encode(text)
    char_spans = byte_spans_to_char_spans(text, data, merge_intervals(byte_spans), snap_words)
    removed_bytes = sum(len(encode(text[s:e])) for s, e in char_spans)
    return remove_char_spans(text, char_spans), char_spans, removed_bytes
