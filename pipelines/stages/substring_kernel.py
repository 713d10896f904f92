"""Compiled (Numba) passes of exact substring dedup over a suffix array.

Everything after the suffix array itself (libdivsufsort, ``pydivsufsort.divsufsort``)
runs here, in linear passes with no Python loop over positions and no array wider than
the suffix array:

1. ``long_match_bits``: one bit per position, set when the suffix shares at least
   ``min_span`` bytes, none of them the 0xFF separator, with its predecessor in suffix
   order. Computed with the Phi algorithm (Kaerkkaeinen, Manzini, Puglisi 2009): the
   permuted LCP is produced in text order from one int32 array (Phi) and only its
   ``>= min_span`` bit is kept (n / 8 bytes). ``pydivsufsort.kasai`` would return the
   whole int32 LCP array and build an inverse suffix array (8 more bytes per byte);
   ``longest_previous_factor`` needs ~17 bytes per byte of its own (bench figures).
2. ``mark_repeated_windows``: one scan of the suffix array. Suffixes whose first
   ``min_span`` bytes are equal form a run of adjacent ranks whose bits are set;
   keep-first marks every member but the smallest position (the first copy in
   (document id, offset) order), strike-all marks every member. The bits are gathered
   in suffix order first, in a branch-free loop, so many cache misses are in flight at
   once (1.7x faster than testing them inside the scan).
3. ``covered_intervals``: the union of ``[p, p + min_span)`` over marked ``p``.

Marking windows rather than computing the longest previous factor gives the same
union (a match of length L >= min_span at p covers the windows p .. p + L - min_span,
each repeated), which is the definition the tests check against brute force.

Also here, because they are per-byte loops: ``snap_spans`` (removal: byte spans to
character spans, shrunk to character and word boundaries), ``winnow`` (the partitioned
path's anchors, one rolling pass), ``first_copies`` and ``join_segments`` (a bucket's
identical segments found exactly, the rest joined for the suffix array).
Why our own passes rather than ``pydivsufsort.kasai``/``longest_previous_factor``: those
return full int32 arrays (kasai also builds an inverse suffix array, LPF peaks at ~21
bytes per byte with the SA) that we then filtered with NumPy; ``bench/substring.py``
runs both on the same buffer (docs/substring.md).
"""
from __future__ import annotations

import numpy as np

from pipelines.stages.minhash_kernel import compiled, decode_utf8, utf8_length

SEPARATOR = 0xFF


@compiled()
def long_match_bits(buf, sa, min_span):
    """Bit p (of a uint8 bitmap) = lcp(p, predecessor of p in SA order) >= min_span,
    the match stopped at the first separator."""
    n = len(sa)
    bits = np.zeros((n + 7) >> 3, dtype=np.uint8)
    if n == 0:
        return bits
    phi = np.empty(n, dtype=sa.dtype)
    phi[sa[0]] = -1
    for i in range(1, n):
        phi[sa[i]] = sa[i - 1]
    length = 0
    for p in range(n):
        q = phi[p]
        if q < 0:
            length = 0
            continue
        while p + length < n and q + length < n:
            c = buf[p + length]
            if c != buf[q + length] or c == SEPARATOR:
                break
            length += 1
        if length >= min_span:
            bits[p >> 3] |= np.uint8(1 << (p & 7))
        if length > 0:
            length -= 1
    return bits


@compiled()
def mark_repeated_windows(sa, bits, keep_first):
    """uint8 array, 1 at every position whose min_span-window is removed."""
    n = len(sa)
    joined = np.empty(n + 1, dtype=np.uint8)  # joined[i]: rank i continues the run of i - 1
    for i in range(n):
        p = sa[i]
        joined[i] = (bits[p >> 3] >> (p & 7)) & 1
    joined[n] = 0
    marks = np.zeros(n, dtype=np.uint8)
    start = 0
    for i in range(1, n + 1):
        if joined[i]:
            continue
        if i - start >= 2:
            for r in range(start, i):
                marks[sa[r]] = 1
            if keep_first:
                first = sa[start]
                for r in range(start + 1, i):
                    first = min(first, sa[r])
                marks[first] = 0
        start = i
    return marks


@compiled()
def covered_intervals(marks, min_span):
    """(m, 2) int64: union of [p, p + min_span) over p with marks[p] != 0, sorted,
    touching intervals merged."""
    n = len(marks)
    out = np.empty((n // (min_span + 1) + 1, 2), dtype=np.int64)  # disjoint, non-touching
    j = -1
    reach = -1
    for p in range(n):
        if marks[p]:
            if p > reach:
                j += 1
                out[j, 0] = p
            reach = p + min_span
            out[j, 1] = reach
    return out[: j + 1].copy()


@compiled(inline="always")
def _char_start(buf, pos):
    """Start byte of the UTF-8 character containing byte ``pos``."""
    while pos > 0 and (buf[pos] & 0xC0) == 0x80:
        pos -= 1
    return pos


@compiled(inline="always")
def _is_word_at(buf, pos, word_table):
    return word_table[decode_utf8(buf, pos, utf8_length(buf[pos]))] != 0


@compiled()
def snap_spans(buf, spans, word_table, snap_words):
    """Byte spans of one document -> (character spans (m, 2) int64, bytes removed).

    The spans are merged first (any order, overlapping or touching). Then each is shrunk
    inward exactly as ``substring.byte_spans_to_char_spans`` documents: its start moves
    to the next character start, its end back to the start of the character it falls
    in; with ``snap_words`` a start inside a word moves past the word's end and an end
    inside a word back to its start (``word_table[code point]`` says what a word
    character is). Offsets are then counted in characters, in one pass over ``buf``.
    """
    n = len(buf)
    m = len(spans)
    order = np.argsort(spans[:, 0], kind="mergesort")
    cuts = np.empty((m, 2), dtype=np.int64)  # byte offsets, snapped
    k = 0
    i = 0
    while i < m:
        s = spans[order[i], 0]
        e = spans[order[i], 1]
        i += 1
        while i < m and spans[order[i], 0] <= e:  # merge overlapping and touching spans
            e = max(e, spans[order[i], 1])
            i += 1
        if e <= s:
            continue
        while s < n and (buf[s] & 0xC0) == 0x80:
            s += 1
        if e < n:
            e = _char_start(buf, e)
        if snap_words:
            if 0 < s < n and _is_word_at(buf, _char_start(buf, s - 1), word_table):
                while s < e and _is_word_at(buf, s, word_table):
                    s += utf8_length(buf[s])
            if 0 < e < n and _is_word_at(buf, e, word_table):
                while e > s:
                    prev = _char_start(buf, e - 1)
                    if not _is_word_at(buf, prev, word_table):
                        break
                    e = prev
        if e > s:
            cuts[k, 0] = s
            cuts[k, 1] = e
            k += 1
    out = np.empty((k, 2), dtype=np.int64)
    removed = 0
    chars = 0  # characters starting before byte `pos`
    pos = 0
    for j in range(k):
        for side in range(2):
            target = cuts[j, side]
            while pos < target:
                if (buf[pos] & 0xC0) != 0x80:
                    chars += 1
                pos += 1
            out[j, side] = chars
        removed += cuts[j, 1] - cuts[j, 0]
    return out, removed


_MASK32 = np.uint64(0xFFFFFFFF)
_HASH_BASE = np.uint64(0x100000001B3)


@compiled(inline="always")
def _mix64(x):
    """splitmix64 finalizer: spreads the polynomial hash over all 64 bits."""
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@compiled()
def winnow(buf, doc_starts, doc_ends, min_span, gram):
    """Winnowed anchors of every document of ``buf``: (document index, offset, fingerprint,
    owned): ``owned`` is the last window start whose minimum is this anchor; the first is
    where the previous anchor's range ended + 1 (0 for a document's first anchor). A
    window's owner depends only on its own bytes, so every copy of a window finds it
    complete in ``[first owned, last owned + min_span)`` around its owner.

    Fingerprint of a gram = splitmix64 of sum((byte + 1) * B^(gram - 1 - j)) mod 2^64,
    rolled in O(1) per byte. Window of t = min_span - gram + 1 grams; its minimum key
    (top 32 bits of the fingerprint, then the rightmost position) is selected, found
    with a monotone deque, so the whole pass is linear.
    """
    t = min_span - gram + 1
    total = 0
    for d in range(len(doc_starts)):
        total += max(doc_ends[d] - doc_starts[d] - gram + 1, 0)
    cap = total // max(t // 2, 1) + 2 * len(doc_starts) + 16
    out_doc = np.empty(cap, dtype=np.uint32)
    out_pos = np.empty(cap, dtype=np.uint32)
    out_fp = np.empty(cap, dtype=np.uint64)
    out_last = np.empty(cap, dtype=np.uint32)
    power = np.uint64(1)
    for _ in range(gram - 1):
        power *= _HASH_BASE
    keys = np.empty(t, dtype=np.uint64)  # ring buffer of the deque
    kpos = np.empty(t, dtype=np.int64)
    kfp = np.empty(t, dtype=np.uint64)
    count = 0
    for d in range(len(doc_starts)):
        base = doc_starts[d]
        m = doc_ends[d] - base - gram + 1  # grams in this document
        if m < t:
            continue
        h = np.uint64(0)
        for j in range(gram - 1):
            h = h * _HASH_BASE + np.uint64(buf[base + j] + 1)
        head = 0
        size = 0
        last = -1
        for i in range(m):
            h = h * _HASH_BASE + np.uint64(buf[base + i + gram - 1] + 1)
            fp = _mix64(h)
            key = (fp & ~_MASK32) | (_MASK32 - np.uint64(i))
            if size > 0 and kpos[head] <= i - t:  # the front left the window
                head = (head + 1) % t
                size -= 1
            while size > 0 and keys[(head + size - 1) % t] >= key:
                size -= 1
            slot = (head + size) % t
            keys[slot] = key
            kpos[slot] = i
            kfp[slot] = fp
            size += 1
            h -= np.uint64(buf[base + i] + 1) * power
            if i >= t - 1 and kpos[head] != last:
                last = kpos[head]
                if count == len(out_doc):  # density bound exceeded (never seen): grow
                    out_doc = np.concatenate((out_doc, out_doc))
                    out_pos = np.concatenate((out_pos, out_pos))
                    out_fp = np.concatenate((out_fp, out_fp))
                    out_last = np.concatenate((out_last, out_last))
                if i > t - 1:
                    out_last[count - 1] = i - t  # window start i - t + 1 has a new owner
                out_doc[count] = d
                out_pos[count] = last
                out_fp[count] = kfp[head]
                count += 1
        out_last[count - 1] = m - t
    return out_doc[:count].copy(), out_pos[:count].copy(), out_fp[:count].copy(), out_last[:count].copy()


@compiled()
def first_copies(text, src, length):
    """For segments ``text[src[i]: src[i] + length[i]]`` in order: index of the first
    segment with identical bytes (itself when it is the first). Exact: a hash table of
    64-bit FNV-1a hashes, every hit confirmed byte by byte."""
    m = len(src)
    size = 1
    while size < 2 * m + 2:
        size *= 2
    table = np.full(size, -1, dtype=np.int64)
    hashes = np.empty(m, dtype=np.uint64)
    first = np.empty(m, dtype=np.int64)
    for i in range(m):
        h = np.uint64(0xCBF29CE484222325) ^ np.uint64(length[i])
        for j in range(src[i], src[i] + length[i]):
            h = (h ^ np.uint64(text[j])) * np.uint64(0x100000001B3)
        hashes[i] = h
        slot = np.int64(h & np.uint64(size - 1))
        first[i] = i
        while table[slot] >= 0:
            c = table[slot]
            if hashes[c] == h and length[c] == length[i]:
                same = True
                for j in range(length[i]):
                    if text[src[c] + j] != text[src[i] + j]:
                        same = False
                        break
                if same:
                    first[i] = c
                    break
            slot = (slot + 1) & (size - 1)
        if first[i] == i:
            table[slot] = i
    return first


@compiled()
def join_segments(text, src, length, chosen, separator):
    """Concatenate the chosen segments ``text[src[c]: src[c] + length[c]]``, with a
    SEPARATOR byte between them when ``separator``; returns (buffer, start of each)."""
    gap = 1 if separator else 0
    total = 0
    for c in chosen:
        total += length[c] + gap
    buf = np.empty(max(total - gap, 0), dtype=np.uint8)
    starts = np.empty(len(chosen), dtype=np.int64)
    pos = 0
    for k in range(len(chosen)):
        c = chosen[k]
        if k and separator:
            buf[pos] = SEPARATOR
            pos += 1
        starts[k] = pos
        buf[pos: pos + length[c]] = text[src[c]: src[c] + length[c]]
        pos += length[c]
    return buf, starts
