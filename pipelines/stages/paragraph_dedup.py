"""Paragraph-level exact dedup with a Bloom filter (Dolma's ``dolma dedupe`` with
``paragraphs``), pure functions, no Beam. ``pipelines/dedup/paragraph.py`` wires it into
the dedup job; ``docs/paragraph_dedup.md`` explains the choices and gives the figures.

Semantics. A *paragraph* is one line of the text (split on ``"\\n"``, as Dolma does);
its key is the xxh3-64 hash of its UTF-8 bytes with surrounding whitespace stripped.
Lines shorter than ``min_chars`` characters (after stripping: empty lines, "Share", "|")
are never keys and never removed. An occurrence is removed when the same key occurred at
an *earlier* position in the total order (document id, line number): the first copy
stays. "Occurred" is asked of a Bloom filter, so a unique paragraph is removed by mistake
with probability at most ``fp_rate``; ``fp_rate == 0`` asks an exact set instead.

Why the order is deterministic although Dolma's is not: Dolma runs one filter per
process over documents in arrival order, so which copy survives (and which copies a
filter never sees, being in another process) depends on scheduling. Here paragraphs are
*partitioned by hash* (all copies of a paragraph land in the same partition), each
partition sorts its entries by (document id, line) and streams them through its own
filter. The union over partitions is the answer of one global filter walked in
(id, line) order, up to which unique paragraphs happen to collide. Only the hashes move;
the text is read once (hashing) and never shuffled.
"""
from __future__ import annotations

import math
from typing import Iterable, NamedTuple

import numpy as np
import xxhash

from pipelines.stages.minhash_kernel import compiled, fmix64  # the project's one numba wrapper and mixer
from pipelines.stages.substring import encode, merge_intervals, remove_char_spans

DEFAULT_FP_RATE = 1e-4
DEFAULT_MIN_CHARS = 20
DEFAULT_PARTITIONS = 16

_U = np.uint64
_NO_LINES = np.zeros(0, dtype=np.uint32)
_NO_HASHES = np.zeros(0, dtype=np.uint64)


# ---------------------------------------------------------------------------------
# Paragraphs and their keys
# ---------------------------------------------------------------------------------

def paragraph_hash(line: str) -> int:
    """64-bit key of one paragraph: xxh3 of its stripped UTF-8 bytes (lone surrogates kept)."""
    return xxhash.xxh3_64_intdigest(encode(line.strip()))


def text_hash(text: str) -> int:
    """Tells documents that share an id apart (see ``partition_removals``)."""
    return xxhash.xxh3_64_intdigest(encode(text))


def paragraph_keys(text: str, min_chars: int = DEFAULT_MIN_CHARS) -> tuple[np.ndarray, np.ndarray]:
    """(line numbers, keys) of the lines of ``text`` that are paragraphs (>= min_chars)."""
    lines, keys = [], []
    for number, line in enumerate(text.split("\n")):
        if len(line) >= min_chars and len(line.strip()) >= min_chars:  # cheap test first
            lines.append(number)
            keys.append(paragraph_hash(line))
    if not lines:
        return _NO_LINES, _NO_HASHES
    return np.array(lines, dtype=np.uint32), np.array(keys, dtype=np.uint64)


def partition_of(keys: np.ndarray, partitions: int) -> np.ndarray:
    # High bits: the filter probes are derived from all 64 (mixed again), so the partition
    # a key was sent to does not bias where it lands in that partition's filter.
    return ((keys >> _U(32)) % _U(partitions)).astype(np.int64)


class ParagraphShare(NamedTuple):
    """What one document sends to one partition: its paragraphs there, in line order."""

    doc_id: str
    text_hash: int
    lines: np.ndarray  # uint32 line numbers, ascending
    keys: np.ndarray  # uint64 paragraph keys


def document_shares(doc_id: str, text: str, partitions: int = DEFAULT_PARTITIONS,
                    min_chars: int = DEFAULT_MIN_CHARS) -> tuple[int, list[tuple[int, ParagraphShare]]]:
    """(paragraphs seen, [(partition, share)]): at most one share per partition."""
    lines, keys = paragraph_keys(text, min_chars)
    if len(keys) == 0:
        return 0, []
    parts = partition_of(keys, partitions)
    order = np.argsort(parts, kind="stable")  # keeps line order inside a partition
    lines, keys, parts = lines[order], keys[order], parts[order]
    bounds = np.flatnonzero(np.diff(parts)) + 1
    th = text_hash(text)
    return len(keys), [(int(p[0]), ParagraphShare(doc_id, th, ln, k))
                       for p, ln, k in zip(np.split(parts, bounds), np.split(lines, bounds),
                                           np.split(keys, bounds))]


# ---------------------------------------------------------------------------------
# Bloom filter: one numba loop over a partition's keys, in order
# ---------------------------------------------------------------------------------

def bloom_size(items: int, fp_rate: float) -> tuple[int, int]:
    """(bits, probes) of the optimal filter for ``items`` keys at ``fp_rate``."""
    items = max(1, items)
    bits = max(64, math.ceil(-items * math.log(fp_rate) / math.log(2) ** 2))
    return bits, max(1, round(bits / items * math.log(2)))


@compiled()
def _seen_before_kernel(keys, words, bits, probes, add, out):
    # Test and set in one loop: a key already present has all its bits set (nothing
    # changes); an absent one gets them all set, which is "add".
    m = np.uint64(bits)
    for i in range(keys.shape[0]):
        h1 = fmix64(keys[i])
        h2 = fmix64(h1) | np.uint64(1)  # odd step: double hashing (Kirsch-Mitzenmacher)
        present = True
        for j in range(probes):
            bit = (h1 + np.uint64(j) * h2) % m
            word = bit >> np.uint64(6)
            mask = np.uint64(1) << (bit & np.uint64(63))
            if words[word] & mask == 0:
                present = False
                if add:
                    words[word] |= mask
                else:
                    break
        out[i] = present


class BloomFilter:
    """A plain bit-array Bloom filter sized for ``items`` keys at ``fp_rate``.

    ``seen_before(keys)`` walks the keys in order and says, for each, whether it (or a
    colliding key) was added earlier, then adds it. Memory: ``bits / 8`` bytes, i.e.
    1.44 * log2(1 / fp_rate) bits per key (2.4 bytes at 1e-4).
    """

    def __init__(self, items: int, fp_rate: float):
        if not 0 < fp_rate < 1:
            raise ValueError(f"fp_rate must be in (0, 1), got {fp_rate}")
        self.bits, self.probes = bloom_size(items, fp_rate)
        self.words = np.zeros((self.bits + 63) // 64, dtype=np.uint64)

    def seen_before(self, keys: np.ndarray) -> np.ndarray:
        return self._walk(keys, True)

    def contains(self, keys: np.ndarray) -> np.ndarray:
        """Membership only, nothing added (measures the rate at a given fill)."""
        return self._walk(keys, False)

    def _walk(self, keys: np.ndarray, add: bool) -> np.ndarray:
        keys = np.ascontiguousarray(keys, dtype=np.uint64)
        out = np.zeros(len(keys), dtype=np.bool_)
        _seen_before_kernel(keys, self.words, self.bits, self.probes, add, out)
        return out


def exact_seen_before(keys: np.ndarray) -> np.ndarray:
    """The same answer without false positives (``fp_rate == 0``): sort-based, 42 bytes
    per key of temporaries at peak instead of the filter's 3.4 (bench/paragraph_dedup.py)."""
    out = np.ones(len(keys), dtype=np.bool_)
    out[np.unique(keys, return_index=True)[1]] = False
    return out


def seen_before(keys: np.ndarray, fp_rate: float) -> tuple[np.ndarray, int]:
    """(repeat mask in key order, filter bits; 0 for the exact set)."""
    if fp_rate == 0:
        return exact_seen_before(keys), 0
    bloom = BloomFilter(len(keys), fp_rate)
    return bloom.seen_before(keys), bloom.bits


# ---------------------------------------------------------------------------------
# One partition: order, filter, removals
# ---------------------------------------------------------------------------------

class PartitionResult(NamedTuple):
    removals: list[tuple[str, int, np.ndarray]]  # (doc id, text hash, removed line numbers)
    paragraphs: int  # keys walked through the filter
    bits: int  # filter size (0 in exact mode)


def partition_removals(shares: Iterable[ParagraphShare], fp_rate: float = DEFAULT_FP_RATE) -> PartitionResult:
    """Lines to remove, for every document of one partition that has any.

    Shares are walked in (document id, text hash) order, lines ascending inside a share.
    A share equal in (id, text hash) to the previous one is the same document read twice
    and is skipped, so both copies get the same (first-copy) answer. The filter is sized
    from this partition's own key count, an upper bound of its distinct keys, so the
    configured rate holds without a capacity flag (heavy duplication makes it lower).
    """
    ordered, last = [], None
    for share in sorted(shares, key=lambda s: (s.doc_id, s.text_hash)):
        if (share.doc_id, share.text_hash) != last:
            ordered.append(share)
            last = (share.doc_id, share.text_hash)
    if not ordered:
        return PartitionResult([], 0, 0)
    keys = np.concatenate([s.keys for s in ordered])
    repeat, bits = seen_before(keys, fp_rate)
    removals, pos = [], 0
    for share in ordered:
        hit = repeat[pos: pos + len(share.keys)]
        pos += len(share.keys)
        if hit.any():
            removals.append((share.doc_id, share.text_hash, share.lines[hit]))
    return PartitionResult(removals, len(keys), bits)


def find_removals(docs: Iterable[tuple[str, str]], fp_rate: float = DEFAULT_FP_RATE,
                  min_chars: int = DEFAULT_MIN_CHARS, partitions: int = 1) -> dict[str, np.ndarray]:
    """Reference driver without Beam: {doc id: removed line numbers} over (id, text) pairs
    (ids unique). The Beam stage does the same with one worker per partition."""
    buckets: dict[int, list[ParagraphShare]] = {}
    for doc_id, text in docs:
        for p, share in document_shares(doc_id, text, partitions, min_chars)[1]:
            buckets.setdefault(p, []).append(share)
    found: dict[str, list[np.ndarray]] = {}
    for p in sorted(buckets):
        for doc_id, _, lines in partition_removals(buckets[p], fp_rate).removals:
            found.setdefault(doc_id, []).append(lines)
    return {d: np.sort(np.concatenate(v)) for d, v in found.items()}


# ---------------------------------------------------------------------------------
# Removal: line numbers -> character spans -> text
# ---------------------------------------------------------------------------------

def line_char_spans(text: str, lines: Iterable[int]) -> list[tuple[int, int]]:
    """Character spans that remove the given lines with their line break.

    A line takes its following ``"\\n"``; the last line (no break after it) takes the
    one before it instead, so no empty line is left behind. Touching spans are merged.
    """
    wanted = {int(n) for n in lines}
    if not wanted:
        return []
    spans, start = [], 0
    pieces = text.split("\n")
    for number, line in enumerate(pieces):
        end = start + len(line)
        if number in wanted:
            if number < len(pieces) - 1:
                spans.append((start, end + 1))
            else:
                spans.append((max(start - 1, 0), end))
        start = end + 1
    return [(int(s), int(e)) for s, e in merge_intervals(np.array(spans, dtype=np.int64))]


def removal_plan(text: str, lines: Iterable[int]) -> tuple[str, list[tuple[int, int]], int]:
    """(new text, character spans removed, UTF-8 bytes removed) for one document."""
    spans = line_char_spans(text, lines)
    if not spans:
        return text, [], 0
    return remove_char_spans(text, spans), spans, sum(len(encode(text[s:e])) for s, e in spans)
