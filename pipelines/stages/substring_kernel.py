"""Compiled (Numba) passes of exact substring dedup over a suffix array.

Everything after the suffix array itself (libdivsufsort, ``pydivsufsort.divsufsort``)
runs here, in linear passes with no Python loop over positions:

1. ``window_codes`` (text order, sequential): a uint16 per position ``p``, a rolling
   polynomial hash of the window ``buf[p: p + min_span]``, or ``INVALID`` where the
   window holds a 0xFF separator or runs past the end (such a window never repeats).
2. ``mark_repeated_windows`` (suffix order): suffixes whose first ``min_span`` bytes are
   equal are a run of adjacent ranks, so equal codes at adjacent ranks are the
   candidates. One random read per rank (the code of ``sa[i]``, gathered a chunk at a
   time so many cache misses are in flight), and a run is verified byte by byte once,
   its first window against its last: the suffix array is sorted, so when those two
   windows are equal every window between them is too. A run whose ends differ (codes
   collided) is split by comparing neighbours byte by byte, so the result is exact
   whatever the hash. Keep-first marks every member of a run but its smallest position
   (the first copy in (document id, offset) order), strike-all every member. Marks are
   written into the codes array itself (``MARKED``): each position's code is read
   exactly once, at its own rank, and the line it is written to was just read, so no
   second array and no cold writes.
3. ``covered_intervals``: the union of ``[p, p + min_span)`` over marked ``p``.

Why not Phi (the permuted LCP in text order; this module's previous design): it costs a
random write per rank to build Phi (4 bytes per byte), a data-dependent random read of
the buffer per position, then a gather of the bits in suffix order; the codes cost one
gather per rank, and the byte comparisons run once per run, 8 bytes at a time, on
windows read a batch at a time first. 200 MB benchmark: 3.8-4.1 CPU seconds instead of
6.6-6.8 for the passes after the suffix array (each step measured in docs/substring.md),
peak 7 bytes per byte instead of 9 (buffer 1, SA 4, codes 2).
``pydivsufsort.kasai`` would return the whole int32 LCP array and build an inverse
suffix array; ``longest_previous_factor`` peaks at ~21 bytes per byte with the SA.

Marking windows rather than computing the longest previous factor gives the same
union (a match of length L >= min_span at p covers the windows p .. p + L - min_span,
each repeated), which is the definition the tests check against brute force.

Also here, because they are per-byte loops: ``snap_spans`` (removal: byte spans to
character spans, shrunk to character and word boundaries), ``winnow`` (the partitioned
path's anchors, one rolling pass), ``first_copies`` and ``join_segments`` (a bucket's
identical segments found exactly, the rest joined for the suffix array).
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from pipelines.stages.minhash_kernel import compiled, decode_utf8, utf8_length

SEPARATOR = 0xFF
INVALID = 0xFFFF  # window code: crosses a separator or the end of the buffer
MARKED = 0xFFFE  # written over the code by mark_repeated_windows: window removed
CODE_BITS = 16  # uint16 codes: 1 in ~65,000 adjacent distinct windows collide (then split)
_HASH_BASE = np.uint64(0x100000001B3)  # FNV-1a prime: both rolling hashes (window codes, anchors)
_CODE_MIX = np.uint64(0x9E3779B97F4A7C15)
_GATHER = 2048  # ranks whose codes are gathered at once (their lines stay in L2)
_PENDING = 256  # runs verified together (their windows, ~1,500 lines, touched first)


@compiled()
def window_codes(buf, min_span, code_bits):
    """uint16 per position: the top ``code_bits`` bits of a polynomial hash (mod 2^64,
    mixed by one multiply) of ``buf[p: p + min_span]``, never MARKED nor INVALID; or
    INVALID when that window holds a SEPARATOR or runs past the end. Tests pass a small
    ``code_bits`` to force collisions."""
    n = len(buf)
    codes = np.empty(n, dtype=np.uint16)
    power = np.uint64(1)  # base ^ (min_span - 1): removes the byte leaving the window
    for _ in range(min_span - 1):
        power *= _HASH_BASE
    shift = np.uint64(64 - code_bits)
    h = np.uint64(0)
    last_separator = -1
    for j in range(min(min_span - 1, n)):
        if buf[j] == SEPARATOR:
            last_separator = j
        h = h * _HASH_BASE + np.uint64(buf[j])
    for p in range(n - min_span + 1):
        c = buf[p + min_span - 1]
        if c == SEPARATOR:
            last_separator = p + min_span - 1
        h = h * _HASH_BASE + np.uint64(c)
        if last_separator >= p:
            codes[p] = INVALID
        else:
            x = (h * _CODE_MIX) >> shift
            if x >= MARKED:
                x = np.uint64(1)
            codes[p] = x
        h -= np.uint64(buf[p]) * power
    for p in range(max(n - min_span + 1, 0), n):
        codes[p] = INVALID
    return codes


@intrinsic
def _load_u64(typingctx, array, index):
    """8 bytes of a uint8 array from ``index`` as one unaligned load (no bounds check):
    Numba has no unaligned view, and comparing windows 8 bytes at a time is 7x faster
    than byte by byte (100-byte windows, cached)."""
    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        offset = context.cast(builder, args[1], signature.args[1], types.intp)
        pointer = builder.bitcast(builder.gep(data, [offset]), ir.IntType(64).as_pointer())
        return builder.load(pointer, align=1)
    return types.uint64(array, index), codegen


@compiled(inline="always")
def _same_window(buf, p, q, min_span):
    """buf[p: p + min_span] == buf[q: q + min_span]; both windows lie inside buf."""
    j = 0
    while j + 8 <= min_span:
        if _load_u64(buf, p + j) != _load_u64(buf, q + j):
            return False
        j += 8
    while j < min_span:
        if buf[p + j] != buf[q + j]:
            return False
        j += 1
    return True


@compiled()
def _close_run(buf, sa, codes, start, end, first, min_span, keep_first):
    """Ranks [start, end) had equal codes and are marked; ``first`` is their smallest
    position. Verify, unmark the first copy (keep-first), or split a collided run."""
    if _same_window(buf, sa[start], sa[end - 1], min_span):
        if keep_first:
            codes[first] = 0
        return
    s = start  # codes collided (rare): exact runs by comparing neighbours
    for i in range(start + 1, end + 1):
        if i < end and _same_window(buf, sa[i - 1], sa[i], min_span):
            continue
        if i - s >= 2:
            f = sa[s]
            for r in range(s, i):
                codes[sa[r]] = MARKED
                f = min(f, sa[r])
            if keep_first:
                codes[f] = 0
        else:
            codes[sa[s]] = 0
        s = i


@compiled()
def _close_runs(buf, sa, codes, runs, m, min_span, keep_first):
    """Verify ``runs[:m]``. Every line of their end windows is read first, in a loop of
    independent loads (many misses in flight), then compared while cached. Returns the
    bytes read, so the compiler keeps those loads."""
    touched = 0
    for j in range(m):
        p = sa[runs[j, 0]]
        q = sa[runs[j, 1] - 1]
        for off in range(0, min_span, 64):
            touched += buf[p + off] + buf[q + off]
        touched += buf[p + min_span - 1] + buf[q + min_span - 1]
    for j in range(m):
        _close_run(buf, sa, codes, runs[j, 0], runs[j, 1], runs[j, 2], min_span, keep_first)
    return touched


@compiled()
def mark_repeated_windows(buf, sa, codes, min_span, keep_first):
    """Overwrite ``codes`` (from ``window_codes``) with MARKED at every position whose
    window is removed; other positions keep a value != MARKED. Returns a checksum of
    the bytes verification touched (ignore it)."""
    n = len(sa)
    gathered = np.empty(_GATHER, dtype=np.uint16)
    runs = np.empty((_PENDING, 3), dtype=np.int64)  # start rank, end rank, first position
    m = 0
    touched = 0
    current = INVALID  # code of the run being scanned
    start = 0  # its first rank
    first = 0  # its smallest position
    for c0 in range(0, n, _GATHER):
        c1 = min(c0 + _GATHER, n)
        for i in range(c0, c1):  # independent loads only: the random reads overlap
            gathered[i - c0] = codes[sa[i]]
        for i in range(c0, c1):
            x = gathered[i - c0]
            p = sa[i]
            if x == current and x != INVALID:
                codes[p] = MARKED
                if i - start == 1:
                    codes[sa[start]] = MARKED
                first = min(first, p)
                continue
            if i - start >= 2:
                runs[m, 0] = start
                runs[m, 1] = i
                runs[m, 2] = first
                m += 1
                if m == _PENDING:
                    touched += _close_runs(buf, sa, codes, runs, m, min_span, keep_first)
                    m = 0
            current = x
            start = i
            first = p
    if n - start >= 2:
        runs[m, 0] = start
        runs[m, 1] = n
        runs[m, 2] = first
        m += 1
    touched += _close_runs(buf, sa, codes, runs, m, min_span, keep_first)
    return touched


@compiled()
def covered_intervals(marks, min_span):
    """(m, 2) int64: union of [p, p + min_span) over p with marks[p] == MARKED, sorted,
    touching intervals merged."""
    n = len(marks)
    out = np.empty((n // (min_span + 1) + 1, 2), dtype=np.int64)  # disjoint, non-touching
    j = -1
    reach = -1
    for p in range(n):
        if marks[p] == MARKED:
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
