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
so a match that runs into a separator must meet a separator at the same distance in the
other copy too; therefore the longest match *inside the documents* is the match stopped
at the first separator. One separator byte per document is all it costs (a unique int32
symbol per document would quadruple the suffix-array input, because pydivsufsort sorts
wide alphabets as multi-byte strings). The passes after the suffix array (which
windows repeat, keep-first or strike-all, and their union) are compiled:
``substring_kernel``.

Partitioned engine (for corpora larger than one worker): ``batch_fingerprints`` and
``bucket_repeated_masks`` (round 1: which anchors are seen twice), ``batch_bucket_shares``
and ``bucket_repeated_spans`` (round 2: search their contexts);
``pipelines/dedup/substring.py`` wires it into Beam and ``docs/substring.md`` gives the
memory bounds and the bytes each round ships. It returns exactly the same byte ranges
as the single suffix array (tested).

Offsets: the engines work on UTF-8 *byte* offsets; ``byte_spans_to_char_spans`` snaps
them inward to character (and, for space-delimited scripts, word) boundaries and returns
*character* offsets into the text the stage received, which is what
``Document.removed_spans`` stores.
"""
from __future__ import annotations

import functools
import math
import re
import sys
import zlib
from typing import Iterable, Iterator, NamedTuple, Optional, Sequence

import numpy as np
import pydivsufsort

from pipelines.stages import substring_kernel as kernel

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


def repeated_byte_spans(segments: Sequence[bytes], min_span: int = DEFAULT_MIN_SPAN,
                        keep_first: bool = True) -> list[np.ndarray]:
    """Byte ranges to remove from each segment, as a list of (m, 2) int64 arrays.

    ``segments`` are in the global order that defines "first" (document id, offset).
    Memory (bench/substring.py): the buffer (n bytes) + suffix array (4n; 8n beyond
    2 GiB) + one uint16 window code per byte (2n, marks written over them) = 7n at
    the peak.
    """
    if min_span < 1:
        raise ValueError("min_span must be >= 1")
    out = [_EMPTY_SPANS.copy() for _ in segments]
    if not segments or max((len(s) for s in segments), default=0) < min_span:
        return out
    buf, starts = concat_segments(segments)
    covered = buffer_repeated_intervals(buf, min_span, keep_first)
    del buf
    for seg, local in split_by_segment(covered, starts):
        out[seg] = local
    return out


def buffer_repeated_intervals(buf, min_span: int, keep_first: bool) -> np.ndarray:
    """Removed (m, 2) intervals of a SEPARATOR-joined buffer (bytes, or a writable uint8
    array: pydivsufsort refuses read-only ones): suffix array (libdivsufsort) + the
    compiled passes of ``substring_kernel``."""
    if len(buf) < min_span:
        return _EMPTY_SPANS.copy()
    sa = pydivsufsort.divsufsort(buf)
    data = np.frombuffer(buf, dtype=np.uint8) if isinstance(buf, bytes) else buf
    codes = kernel.window_codes(data, min_span, kernel.CODE_BITS)
    kernel.mark_repeated_windows(data, sa, codes, min_span, keep_first)
    del sa
    return kernel.covered_intervals(codes, min_span)


def split_by_segment(covered: np.ndarray, starts: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(segment number, its intervals in segment offsets): intervals never cross a separator."""
    if len(covered) == 0:
        return
    seg = np.searchsorted(starts, covered[:, 0], side="right") - 1
    local = covered - starts[seg][:, None]
    bounds = np.flatnonzero(np.diff(seg)) + 1
    for lo, hi in zip(np.concatenate([[0], bounds]).tolist(), np.concatenate([bounds, [len(seg)]]).tolist()):
        yield int(seg[lo]), local[lo:hi]


# ---------------------------------------------------------------------------------
# Partitioned engine: winnowed anchors + per-bucket suffix arrays
# ---------------------------------------------------------------------------------

def winnow_anchors(data: bytes, min_span: int = DEFAULT_MIN_SPAN,
                   anchor_bytes: int = DEFAULT_ANCHOR_BYTES) -> tuple[np.ndarray, np.ndarray]:
    """Selected anchor positions and their ``anchor_bytes``-gram fingerprints.

    Winnowing (Schleimer et al. 2003) over the ``anchor_bytes``-grams with a window of
    ``t = min_span - anchor_bytes + 1`` grams: every ``min_span``-byte window contains
    exactly one such t-window, whose minimum gram (its *owner*) is selected wherever
    those bytes occur. So two copies of any repeated ``min_span``-byte window share an
    anchor at the same relative offset: the guarantee that lets buckets find every
    repeat. Ties: the key is (top 32 bits of the fingerprint, then rightmost position),
    which depends only on content and relative position. Density ~ 2 / (t + 1).
    Compiled (``substring_kernel.winnow``, one pass).
    """
    _check_anchor(min_span, anchor_bytes)
    _, positions, fps, _ = kernel.winnow(np.frombuffer(data, dtype=np.uint8), np.zeros(1, np.int64),
                                         np.array([len(data)], np.int64), min_span, anchor_bytes)
    return positions.astype(np.int64), fps


def _check_anchor(min_span: int, anchor_bytes: int) -> None:
    if not 1 <= anchor_bytes <= min_span:
        raise ValueError("anchor_bytes must be between 1 and min_span")


def _zstd():
    import zstandard  # level 3: ~200 MB/s per core; shares are small, so fast matters
    return zstandard


_META_COLUMNS = ("doc_slots", "ctx_doc", "ctx_start", "ctx_len", "ctx_anchors", "fp32", "anchor_offset")


class BucketShare(NamedTuple):
    """What one batch of documents sends to one bucket: one shuffle element.

    ``meta`` (zstd) holds uint32 columns: per document with anchors here its slot in the
    batch (``doc_slots``, to route spans back); per *context* (the merged byte ranges
    that hold every window owned by one document's anchors here) its document
    (``ctx_doc``, into ``doc_ids``), ``ctx_start``, ``ctx_len`` and number of anchors;
    per anchor, in context order, 32 bits of its fingerprint (``fp32``: only used to
    find fingerprints seen twice; a collision costs search time, never a wrong span)
    and its offset in its context. ``text`` (zstd) is the contexts' bytes in the same
    order; contexts are sorted by their first fingerprint so copies of one text sit
    side by side and compress. ``doc_ids`` travel once per share.
    """

    batch: str
    doc_ids: list[str]
    meta: bytes
    text: bytes

    def shipped_bytes(self) -> int:
        """Bytes this element puts through the shuffle (payloads and ids)."""
        return len(self.meta) + len(self.text) + sum(len(i) + 1 for i in self.doc_ids) + len(self.batch)

    def columns(self) -> dict[str, np.ndarray]:
        raw = np.frombuffer(_zstd().ZstdDecompressor().decompress(self.meta), dtype=np.uint32)
        sizes, raw = raw[: len(_META_COLUMNS)], raw[len(_META_COLUMNS):]
        bounds = np.concatenate([[0], np.cumsum(sizes.astype(np.int64))])
        return {name: raw[bounds[i]: bounds[i + 1]] for i, name in enumerate(_META_COLUMNS)}


def _pack(columns: dict[str, np.ndarray]) -> bytes:
    arrays = [np.asarray(columns[name], dtype=np.uint32) for name in _META_COLUMNS]
    sizes = np.array([len(a) for a in arrays], dtype=np.uint32)
    return _zstd().ZstdCompressor(level=3).compress(np.concatenate([sizes] + arrays).tobytes())


class _BatchAnchors(NamedTuple):
    """A batch's winnowed anchors in (document, position) order, with the range of the
    windows each one owns, ``[lo, hi)`` in document offsets."""

    data: np.ndarray
    starts: np.ndarray
    doc: np.ndarray
    pos: np.ndarray
    fps: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


def _batch_anchors(docs: Sequence[tuple[str, bytes]], min_span: int, anchor_bytes: int) -> Optional[_BatchAnchors]:
    _check_anchor(min_span, anchor_bytes)
    if not docs:
        return None
    buf, starts = concat_segments([d for _, d in docs])
    lengths = np.fromiter((len(d) for _, d in docs), dtype=np.int64, count=len(docs))
    data = np.frombuffer(buf, dtype=np.uint8)
    doc, pos, fps, last = kernel.winnow(data, starts, starts + lengths, min_span, anchor_bytes)
    if len(fps) == 0:
        return None
    doc = doc.astype(np.int64)
    first = np.zeros(len(doc), dtype=np.int64)  # first owned window start
    follows = np.zeros(len(doc), dtype=bool)
    follows[1:] = doc[1:] == doc[:-1]
    first[1:][follows[1:]] = last[:-1][follows[1:]].astype(np.int64) + 1
    return _BatchAnchors(data, starts, doc, pos.astype(np.int64), fps, first, last.astype(np.int64) + min_span)


def _fp32(fps: np.ndarray) -> np.ndarray:
    # Bits 16-47: clear of the low bits that pick the bucket and of the top bits that
    # winnowing minimised (nearly constant among selected anchors).
    return (fps >> np.uint64(16)).astype(np.uint32)


def _bucket_order(fps: np.ndarray, doc: np.ndarray, pos: np.ndarray, num_buckets: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(bucket of each anchor, order grouping anchors by bucket, then (document, position))."""
    bucket = _bucket_of(fps, num_buckets)
    return bucket, np.lexsort((pos, doc, bucket))


def _bucket_of(fps: np.ndarray, num_buckets: int) -> np.ndarray:
    """Each anchor's bucket: the fingerprint's low bits, independent of the top bits winnowing minimised."""
    return (fps % np.uint64(num_buckets)).astype(np.int64)


# Two-round shipping. Round 1 sends 4 bytes per anchor (its 32-bit fingerprint) to a
# bucket, which counts the fingerprints and answers each (batch, bucket) with one bit
# per anchor: seen at >= 2 positions. Round 2 sends contexts only for those anchors.
# Only a repeated window needs searching and its owner's fingerprint is then seen
# twice, so the spans are the same as shipping every context (tested); what goes
# through the shuffle is ~0.11 bytes per input byte + the contexts of repeated anchors.

class FingerprintShare(NamedTuple):
    """Round 1: a batch's anchors in one fingerprint bucket, as uint32 fingerprints in
    (document, position) order (raw bytes: random values do not compress)."""

    batch: str
    fp32: bytes

    def shipped_bytes(self) -> int:
        return len(self.fp32) + len(self.batch)


class RepeatedMask(NamedTuple):
    """Round 1's answer to one (batch, fingerprint bucket): ``np.packbits`` of one bit
    per anchor of its FingerprintShare, set when the fingerprint was seen twice. Only
    masks with a bit set are sent; a missing one means "none repeated".

    ``hot``: the batch's *hot* fingerprints of this bucket (seen more often than one
    search bucket should hold), as uint32 pairs: the sorted 32-bit fingerprints, then
    the number of groups each one's contexts are split into (``hot_groups``). Empty
    when none is hot."""

    bucket: int
    bits: bytes
    hot: bytes = b""

    def shipped_bytes(self) -> int:
        return len(self.bits) + len(self.hot) + 8

    def hot_table(self) -> tuple[np.ndarray, np.ndarray]:
        table = np.frombuffer(self.hot, dtype=np.uint32).reshape(2, -1)
        return table[0], table[1]


class BatchText(NamedTuple):
    """A batch's document ids and UTF-8 texts as round 2 needs them (no Document
    objects, the texts zstd-compressed: ~0.3-0.4 of their size on web text, repeats or
    not), for the join of the batch with its masks."""

    doc_ids: list[str]
    lengths: bytes  # uint32 per document
    text: bytes

    @classmethod
    def pack(cls, docs: Sequence[tuple[str, bytes]]) -> "BatchText":
        lengths = np.fromiter((len(d) for _, d in docs), dtype=np.uint32, count=len(docs))
        text = _zstd().ZstdCompressor(level=3).compress(b"".join(d for _, d in docs))
        return cls([i for i, _ in docs], lengths.tobytes(), text)

    def documents(self) -> list[tuple[str, bytes]]:
        data = _zstd().ZstdDecompressor().decompress(self.text)
        lengths = np.frombuffer(self.lengths, dtype=np.uint32).astype(np.int64)
        ends = np.cumsum(lengths).tolist()
        return [(i, data[e - n: e]) for i, e, n in zip(self.doc_ids, ends, lengths.tolist())]

    def shipped_bytes(self) -> int:
        return len(self.text) + len(self.lengths) + sum(len(i) + 1 for i in self.doc_ids)


def batch_fingerprints(batch: str, docs: Sequence[tuple[str, bytes]], num_buckets: int,
                       min_span: int = DEFAULT_MIN_SPAN, anchor_bytes: int = DEFAULT_ANCHOR_BYTES
                       ) -> Iterator[tuple[int, FingerprintShare]]:
    """Round 1: (fingerprint bucket, share) pairs for a batch, at most one per bucket."""
    anchors = _batch_anchors(docs, min_span, anchor_bytes)
    if anchors is None:
        return
    bucket, order = _bucket_order(anchors.fps, anchors.doc, anchors.pos, num_buckets)
    bucket, fp32 = bucket[order], _fp32(anchors.fps)[order]
    edges = np.flatnonzero(np.diff(bucket)) + 1
    for a, b in zip(np.concatenate([[0], edges]).tolist(), np.append(edges, len(bucket)).tolist()):
        yield int(bucket[a]), FingerprintShare(batch, fp32[a:b].tobytes())


# Hot fingerprints. Every context of one fingerprint goes to one bucket, so a boilerplate
# string in thousands of documents would make its bucket grow with the corpus. Round 1
# counts each fingerprint; one seen more often than a search bucket should hold (the
# budget) is *hot*: each of its contexts joins one of k groups (a hash of its document
# id and offset) and ships to the k buckets of the pairs (its group, h), h = 0..k-1. Two
# copies of a window in groups g and h meet in the bucket of (min(g, h), max(g, h)),
# and a bucket marks a window only where another copy of it (an earlier one, keeping
# the first) is in the bucket, which is then a copy in the corpus: so the union over
# buckets is still the single suffix array's answer (docs/substring.md; tested). A pair
# bucket holds ~2c/k of the c contexts; shipping grows k-fold for hot anchors only.
HOT_MIN_CONTEXTS = 64  # a fingerprint seen fewer times never splits: too small to matter
# A fingerprint may fill a quarter of a mean bucket. Buckets add up many fingerprints of
# skewed counts, so the largest is near 2x the mean even then (bench/substring.py, 4,096
# buckets on 50 MB: 0.5 gave 2.01, 0.25 gave 1.94 and ships 15% more; docs/substring.md).
HOT_SHARE = 0.25


def hot_budget(counts: np.ndarray, fingerprint_buckets: int, search_buckets: int) -> float:
    """Contexts of one fingerprint that a search bucket may hold: ``HOT_SHARE`` of the
    mean number of repeated anchors a search bucket receives, estimated from one
    fingerprint bucket's ``counts`` (one per distinct fingerprint; fingerprints spread
    evenly over the fingerprint buckets)."""
    repeated = int(counts[counts >= 2].sum())
    return max(HOT_MIN_CONTEXTS, HOT_SHARE * repeated * fingerprint_buckets / max(search_buckets, 1))


def hot_groups(counts: np.ndarray, budget: float, search_buckets: int) -> np.ndarray:
    """Groups per fingerprint: 1 where ``counts <= budget``, else ``ceil(2 count /
    budget)`` (a pair bucket then holds ~``2 count / k <= budget``), at most
    ``sqrt(2 x search_buckets)``: beyond that the k(k+1)/2 pairs outnumber the buckets,
    so more groups only ship more (a bucket's share of one fingerprint is then
    ~``count x sqrt(2 / search_buckets)``, its floor in this design)."""
    cap = max(2, math.isqrt(2 * max(search_buckets, 1)))
    k = np.minimum(np.ceil(2 * counts / max(budget, 1.0)), cap)
    return np.where(counts > budget, k, 1).astype(np.uint32)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer on a uint64 array (wrapping arithmetic), as the kernel's."""
    x = np.asarray(x, dtype=np.uint64).copy()
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def _hot_destinations(doc_ids: Sequence[str], doc: np.ndarray, pos: np.ndarray, fps: np.ndarray,
                      groups: np.ndarray, num_buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """(anchor index, bucket) pairs for hot anchors (``groups[i] = k > 1``): an anchor
    in group g = hash(document id, offset) mod k ships to the bucket of every pair (g, h),
    keyed by hash(fingerprint, min(g, h), max(g, h)); once per bucket where pairs share one."""
    k = groups.astype(np.int64)
    slots = np.unique(doc)
    crc = np.zeros(int(slots[-1]) + 1, dtype=np.uint64)
    crc[slots] = [zlib.crc32(doc_ids[i].encode("utf-8", "surrogatepass")) for i in slots.tolist()]
    group = (_mix((crc[doc] << np.uint64(32)) ^ pos.astype(np.uint64)) % k.astype(np.uint64)).astype(np.int64)
    copy_of = np.repeat(np.arange(len(k)), k)
    other = np.arange(len(copy_of)) - np.repeat(np.cumsum(k) - k, k)  # h = 0..k-1
    g = group[copy_of]
    pair = (np.minimum(g, other) * k[copy_of] + np.maximum(g, other) + 1).astype(np.uint64)
    bucket = (_mix(fps[copy_of] ^ _mix(pair)) % np.uint64(num_buckets)).astype(np.int64)
    unique = np.unique(copy_of * num_buckets + bucket)
    return unique // num_buckets, unique % num_buckets


def bucket_repeated_masks(bucket: int, shares: Iterable[FingerprintShare], search_buckets: int = 0,
                          fingerprint_buckets: int = 1, budget: float = 0.0
                          ) -> Iterator[tuple[str, RepeatedMask]]:
    """Round 1 in one fingerprint bucket: (batch, mask) for every share with an anchor
    whose fingerprint occurs at >= 2 positions. Memory ~35 bytes per anchor received
    (the fingerprints and np.unique's temporaries).

    Hot fingerprints (``search_buckets`` > 0): seen more than ``budget`` times (default
    ``hot_budget``, from this bucket's repeated anchors); each mask lists the batch's
    hot ones with their ``hot_groups``. ``search_buckets`` 0: none is hot."""
    shares = list(shares)
    if not shares:
        return
    arrays = [np.frombuffer(s.fp32, dtype=np.uint32) for s in shares]
    values, inverse, counts = np.unique(np.concatenate(arrays), return_inverse=True, return_counts=True)
    repeated = counts[inverse] >= 2
    groups = None
    if search_buckets > 0:
        groups = hot_groups(counts, budget or hot_budget(counts, fingerprint_buckets, search_buckets),
                            search_buckets)
        if not (groups > 1).any():
            groups = None
    del counts
    offset = 0
    for share, fps in zip(shares, arrays):
        bits = repeated[offset: offset + len(fps)]
        hot = b""
        if groups is not None:
            mine = inverse[offset: offset + len(fps)]
            here = np.unique(mine[groups[mine] > 1])  # sort only the hot anchors of this share
            if len(here):
                hot = np.concatenate([values[here], groups[here]]).astype(np.uint32).tobytes()
        offset += len(fps)
        if bits.any():
            yield share.batch, RepeatedMask(bucket, np.packbits(bits).tobytes(), hot)


def batch_bucket_shares(batch: str, docs: Sequence[tuple[str, bytes]], num_buckets: int,
                        min_span: int = DEFAULT_MIN_SPAN,
                        anchor_bytes: int = DEFAULT_ANCHOR_BYTES,
                        repeated: Optional[Iterable[RepeatedMask]] = None,
                        fingerprint_buckets: int = 0) -> Iterator[tuple[int, BucketShare]]:
    """(bucket, share) pairs for a batch of (document id, UTF-8 bytes); at most one per
    bucket. Each anchor ships the bytes of the windows it owns, ``[first owned window,
    last owned window + min_span)``; a document's ranges in one bucket are merged.

    Two rounds: ``repeated`` holds round 1's masks for this batch (from
    ``fingerprint_buckets`` fingerprint buckets); only the anchors they mark ship, and
    those of hot fingerprints ship to the buckets of their group's pairs
    (``_hot_destinations``).
    """
    anchors = _batch_anchors(docs, min_span, anchor_bytes)
    if anchors is None:
        return
    data, starts, doc, pos, fps, lo, hi = anchors
    groups = None
    if repeated is not None:
        keep = np.zeros(len(fps), dtype=bool)
        groups = np.ones(len(fps), dtype=np.uint32)
        fp_bucket, fp_order = _bucket_order(fps, doc, pos, fingerprint_buckets)
        fp_bucket = fp_bucket[fp_order]  # the order round 1 shipped them in
        fp32 = _fp32(fps)
        for mask in repeated:
            a, b = np.searchsorted(fp_bucket, [mask.bucket, mask.bucket + 1]).tolist()
            bits = np.unpackbits(np.frombuffer(mask.bits, dtype=np.uint8), count=b - a).astype(bool)
            keep[fp_order[a:b][bits]] = True
            if mask.hot:
                hot_fp, hot_k = mask.hot_table()
                here = fp_order[a:b]
                at = np.minimum(np.searchsorted(hot_fp, fp32[here]), len(hot_fp) - 1)
                found = hot_fp[at] == fp32[here]
                groups[here[found]] = hot_k[at[found]]
        if not keep.any():
            return
        doc, pos, fps, lo, hi, groups = doc[keep], pos[keep], fps[keep], lo[keep], hi[keep], groups[keep]
    bucket = _bucket_of(fps, num_buckets)
    if groups is not None and (groups > 1).any():
        cold, hot = np.flatnonzero(groups <= 1), np.flatnonzero(groups > 1)
        copy_of, hot_bucket = _hot_destinations([d for d, _ in docs], doc[hot], pos[hot], fps[hot],
                                                groups[hot], num_buckets)
        chosen = np.concatenate([cold, hot[copy_of]])
        bucket = np.concatenate([bucket[cold], hot_bucket])
        doc, pos, fps, lo, hi = doc[chosen], pos[chosen], fps[chosen], lo[chosen], hi[chosen]
    order = np.lexsort((pos, doc, bucket))
    doc, pos, fps, bucket, lo, hi = doc[order], pos[order], fps[order], bucket[order], lo[order], hi[order]
    # Merge the ranges of one (bucket, document): lo and hi both grow with pos there.
    new_ctx = np.ones(len(pos), dtype=bool)
    new_ctx[1:] = (bucket[1:] != bucket[:-1]) | (doc[1:] != doc[:-1]) | (lo[1:] > hi[:-1])
    ctx_of_anchor = np.cumsum(new_ctx) - 1
    c_first = np.flatnonzero(new_ctx)
    c_last = np.append(c_first[1:] - 1, len(pos) - 1)
    ctx_lo, ctx_hi, ctx_doc, ctx_bucket, ctx_fp = lo[c_first], hi[c_last], doc[c_first], bucket[c_first], fps[c_first]
    ctx_anchors = c_last - c_first + 1
    fp32 = _fp32(fps)
    text_compressor = _zstd().ZstdCompressor(level=3)
    edges = np.flatnonzero(np.diff(ctx_bucket)) + 1
    for c0, c1 in zip(np.concatenate([[0], edges]).tolist(), np.append(edges, len(c_first)).tolist()):
        by_fp = c0 + np.argsort(ctx_fp[c0:c1], kind="stable")
        per_ctx = ctx_anchors[by_fp]
        run_start = np.repeat(c_first[by_fp] - (np.cumsum(per_ctx) - per_ctx), per_ctx)
        anchor_order = run_start + np.arange(int(per_ctx.sum()))  # anchors, context by context
        docs_here, ctx_doc_local = np.unique(ctx_doc[by_fp], return_inverse=True)
        text, _ = kernel.join_segments(data, starts[ctx_doc[by_fp]] + ctx_lo[by_fp], ctx_hi[by_fp] - ctx_lo[by_fp],
                                       np.arange(len(by_fp)), False)
        meta = _pack({
            "doc_slots": docs_here, "ctx_doc": ctx_doc_local, "ctx_start": ctx_lo[by_fp],
            "ctx_len": ctx_hi[by_fp] - ctx_lo[by_fp], "ctx_anchors": ctx_anchors[by_fp],
            "fp32": fp32[anchor_order],
            "anchor_offset": pos[anchor_order] - ctx_lo[ctx_of_anchor[anchor_order]],
        })
        yield int(ctx_bucket[c0]), BucketShare(batch, [docs[i][0] for i in docs_here.tolist()],
                                               meta, text_compressor.compress(text.tobytes()))


def bucket_repeated_spans(shares: Iterable[BucketShare], min_span: int = DEFAULT_MIN_SPAN,
                          anchor_bytes: int = DEFAULT_ANCHOR_BYTES, keep_first: bool = True
                          ) -> Iterator[tuple[str, "BatchSpans"]]:
    """Within one bucket: (batch, BatchSpans) for every batch with documents that have
    repeats.

    1. Keep anchors whose fingerprint occurs at >= 2 positions in the bucket (all copies
       of a repeated window share their owner's fingerprint, hence one bucket).
    2. Cut each kept anchor's ``[pos - (min_span - anchor_bytes), pos + min_span)``,
       clipped to its shipped context, out of the shipped text, merged per document, in
       (document id, offset) order: the global order that defines "first".
    3. Segments with identical bytes are searched once (exact: hashed, then compared
       byte by byte): every window of a later copy is repeated (with strike-all, of the
       first copy too); the distinct ones, in order of first occurrence, go through the
       suffix-array engine. Every match is a real repeat (segments of one document never
       overlap) and every repeated window of the corpus is complete in the bucket of its
       owner, so the union over buckets is the single suffix array's answer (tested).
    Memory: the compressed shares, their text while cutting, and the engine's ~9 bytes
    per byte of the distinct segments (bench/substring.py: largest bucket).
    """
    shares = list(shares)
    if not shares:
        return
    cols = [s.columns() for s in shares]
    fp32 = np.concatenate([c["fp32"] for c in cols])
    _, inverse, counts = np.unique(fp32, return_inverse=True, return_counts=True)
    repeated = counts[inverse] >= 2
    del fp32, inverse
    if not repeated.any():
        return
    names = sorted({i for s in shares for i in s.doc_ids})
    name_rank = {name: r for r, name in enumerate(names)}
    reach_left = min_span - anchor_bytes
    texts, parts = [], []
    offset = text_base = 0
    decompressor = _zstd().ZstdDecompressor()
    for share_no, (share, c) in enumerate(zip(shares, cols)):
        n = len(c["fp32"])
        keep = repeated[offset: offset + n]
        offset += n
        if not keep.any():
            continue
        ctx_len = c["ctx_len"].astype(np.int64)
        ctx_src = text_base + np.concatenate([[0], np.cumsum(ctx_len)[:-1]])  # in the joined text
        ctx_of_anchor = np.repeat(np.arange(len(ctx_len)), c["ctx_anchors"].astype(np.int64))[keep]
        a_off = c["anchor_offset"].astype(np.int64)[keep]
        ctx_start = c["ctx_start"].astype(np.int64)[ctx_of_anchor]
        lo = ctx_start + np.maximum(a_off - reach_left, 0)
        hi = ctx_start + np.minimum(a_off + min_span, ctx_len[ctx_of_anchor])
        doc = c["ctx_doc"].astype(np.int64)[ctx_of_anchor]
        parts.append((np.full(len(lo), share_no), doc, lo, hi, ctx_src[ctx_of_anchor] - ctx_start,
                      np.array([name_rank[i] for i in share.doc_ids], dtype=np.int64)[doc],
                      c["doc_slots"].astype(np.int64)[doc]))
        texts.append(np.frombuffer(decompressor.decompress(share.text), dtype=np.uint8))
        text_base += len(texts[-1])
    text = np.concatenate(texts)
    del texts
    share_no, _, lo, hi, src_shift, rank, slot = (np.concatenate(x) for x in zip(*parts))
    # (document, offset) order; a document lives in one share, its ranges in one context each.
    order = np.lexsort((lo, share_no, rank))
    share_no, lo, hi, src_shift, rank, slot = (x[order] for x in (share_no, lo, hi, src_shift, rank, slot))
    same_doc = np.zeros(len(lo), dtype=bool)
    same_doc[1:] = (rank[1:] == rank[:-1]) & (share_no[1:] == share_no[:-1])
    new = ~same_doc
    # Within a document ranges are sorted by lo; merge overlapping or touching ones.
    run_hi = _running_max_per_group(hi, ~same_doc)
    new[1:] |= lo[1:] > run_hi[:-1]
    first = np.flatnonzero(new)
    last = np.append(first[1:] - 1, len(lo) - 1)
    seg_lo, seg_hi = lo[first], run_hi[last]
    seg_src = seg_lo + src_shift[first]
    seg_len = seg_hi - seg_lo
    seg_share, seg_slot = share_no[first], slot[first]
    first_copy = kernel.first_copies(text, seg_src, seg_len)
    distinct = np.flatnonzero(first_copy == np.arange(len(first_copy)))
    whole = np.zeros(len(seg_len), dtype=bool)  # segment repeated from end to end
    later = (first_copy != np.arange(len(first_copy))) & (seg_len >= min_span)
    whole[later] = True
    if not keep_first:
        whole[first_copy[later]] = True
    joined, starts = kernel.join_segments(text, seg_src, seg_len, distinct, True)
    del text
    covered = buffer_repeated_intervals(joined, min_span, keep_first)
    del joined
    found_seg, found_lo, found_hi = [np.flatnonzero(whole)], [np.zeros(int(whole.sum()), np.int64)], [seg_len[whole]]
    if len(covered):
        k = np.searchsorted(starts, covered[:, 0], side="right") - 1
        seg = distinct[k]
        keep = ~whole[seg]
        found_seg.append(seg[keep])
        found_lo.append((covered[:, 0] - starts[k])[keep])
        found_hi.append((covered[:, 1] - starts[k])[keep])
    seg, s_lo, s_hi = (np.concatenate(x) for x in (found_seg, found_lo, found_hi))
    if len(seg) == 0:
        return
    spans = np.stack([s_lo, s_hi], axis=1) + seg_lo[seg][:, None]
    owner_share, owner_slot = seg_share[seg], seg_slot[seg]
    order = np.lexsort((spans[:, 0], owner_slot, owner_share))
    spans, owner_share, owner_slot = spans[order], owner_share[order], owner_slot[order]
    cut = np.flatnonzero(np.diff(owner_share)) + 1
    found: dict[str, list[BatchSpans]] = {}
    for a, b in zip(np.concatenate([[0], cut]).tolist(), np.append(cut, len(spans)).tolist()):
        found.setdefault(shares[int(owner_share[a])].batch, []).append(
            BatchSpans(owner_slot[a:b].astype(np.uint32), spans[a:b]))
    for batch in sorted(found):
        parts = found[batch]  # several only if two batches had the same ids (the same key)
        yield batch, parts[0] if len(parts) == 1 else BatchSpans(
            np.concatenate([p.slots for p in parts]), np.concatenate([p.spans for p in parts]))


class BatchSpans(NamedTuple):
    """Byte spans found in one bucket for one batch: ``spans[i]`` belongs to the document
    in slot ``slots[i]`` of the batch. Two arrays per element, not one per document:
    Beam pickles every array it ships separately."""

    slots: np.ndarray
    spans: np.ndarray

    def by_slot(self) -> Iterator[tuple[int, np.ndarray]]:
        if len(self.slots) == 0:
            return
        order = np.argsort(self.slots, kind="stable")
        slots, spans = self.slots[order], self.spans[order]
        cut = np.flatnonzero(np.diff(slots)) + 1
        for a, b in zip(np.concatenate([[0], cut]).tolist(), np.append(cut, len(slots)).tolist()):
            yield int(slots[a]), spans[a:b]


def _running_max_per_group(values: np.ndarray, starts_group: np.ndarray) -> np.ndarray:
    """Running maximum of ``values`` restarted wherever ``starts_group`` is True."""
    group = np.cumsum(starts_group)
    # Offset each group above every earlier one, so one global running max never leaks.
    shift = (group * (int(values.max()) + 1)) if len(values) else group
    return np.maximum.accumulate(values + shift) - shift


def partitioned_repeated_spans(docs: Sequence[tuple[str, bytes]], num_buckets: int,
                               min_span: int = DEFAULT_MIN_SPAN,
                               anchor_bytes: int = DEFAULT_ANCHOR_BYTES,
                               keep_first: bool = True, batch_docs: int = 1000,
                               rounds: int = 2, fingerprint_buckets: int = 0,
                               split_hot: bool = True, hot_contexts: float = 0.0) -> dict[str, np.ndarray]:
    """The partitioned algorithm run in one process (the Beam job distributes it).
    ``rounds=2`` counts fingerprints first (``fingerprint_buckets`` buckets, default
    ``num_buckets``) and ships contexts only for anchors seen twice; ``split_hot``
    spreads fingerprints seen more than ``hot_contexts`` times (default
    ``hot_budget``) over pair buckets."""
    fingerprint_buckets = fingerprint_buckets or num_buckets
    batches = {f"{b0:012d}": docs[b0: b0 + batch_docs] for b0 in range(0, len(docs), batch_docs)}
    masks: dict[str, list[RepeatedMask]] = {key: [] for key in batches}
    if rounds == 2:
        fingerprints: dict[int, list[FingerprintShare]] = {}
        for key, batch in batches.items():
            for b, share in batch_fingerprints(key, batch, fingerprint_buckets, min_span, anchor_bytes):
                fingerprints.setdefault(b, []).append(share)
        for b in sorted(fingerprints):
            for key, mask in bucket_repeated_masks(b, fingerprints[b], num_buckets if split_hot else 0,
                                                   fingerprint_buckets, hot_contexts):
                masks[key].append(mask)
    buckets: dict[int, list[BucketShare]] = {}
    for key, batch in batches.items():
        for b, share in batch_bucket_shares(key, batch, num_buckets, min_span, anchor_bytes,
                                            masks[key] if rounds == 2 else None, fingerprint_buckets):
            buckets.setdefault(b, []).append(share)
    per_doc: dict[str, list[np.ndarray]] = {}
    for b in sorted(buckets):
        for batch, found in bucket_repeated_spans(buckets[b], min_span, anchor_bytes, keep_first):
            for slot, spans in found.by_slot():
                per_doc.setdefault(batches[batch][slot][0], []).append(spans)
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


@functools.lru_cache(maxsize=1)
def word_char_table() -> np.ndarray:
    """uint8 per code point: 1 where ``_is_word_char`` holds (built once, ~0.3 s)."""
    every = "".join(map(chr, range(sys.maxunicode + 1)))
    table = np.fromiter((c.isalnum() for c in every), dtype=np.uint8, count=len(every))
    for m in _NO_SPACE_CHAR.finditer(every):  # one code point per match
        table[m.start()] = 0
    return table


def byte_spans_to_char_spans(text: str, data: bytes, spans: np.ndarray,
                             snap_words: bool = True) -> list[tuple[int, int]]:
    """Turn byte spans into character spans, shrinking them inward.

    Never cuts inside a UTF-8 character: a start inside a character moves to the next
    character, an end inside one moves back to the character's start. With
    ``snap_words`` a span that starts or ends inside a word shrinks to the word
    boundary, so no half-words are left behind (we shrink rather than grow: only bytes
    proven to be repeated are ever removed). Spans may overlap or touch: they are
    merged first. Compiled (``substring_kernel.snap_spans``).
    """
    char_spans, _ = _snap(data, spans, snap_words)
    return [tuple(span) for span in char_spans.tolist()]


def _snap(data: bytes, spans, snap_words: bool) -> tuple[np.ndarray, int]:
    spans = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    if len(spans) == 0:
        return _EMPTY_SPANS.copy(), 0
    char_spans, removed = kernel.snap_spans(np.frombuffer(data, dtype=np.uint8), spans,
                                            word_char_table(), snap_words)
    return char_spans, int(removed)


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
    char_spans, removed = _snap(encode(text), byte_spans, snap_words)
    spans = [tuple(span) for span in char_spans.tolist()]
    return remove_char_spans(text, spans), spans, removed
