"""Compiled one-pass MinHash kernel (Numba): UTF-8 text -> words -> shingles -> signatures.

The same function as the NumPy path in ``minhash.py`` (``tokenize`` + ``word_hashes`` +
``shingle_hashes_from_words`` + ``signatures_from_shingles``), bit for bit (tested), in
one pass over each document instead of a regex, a list of words, a join and a dozen
whole-batch NumPy passes:

- Words are found by looking each code point up in a class table built from the very
  regex ``tokenize`` uses (``minhash.codepoint_classes``), so the two cannot drift apart;
  combining marks are skipped exactly as ``tokenize`` deletes them.
- A word's hash is accumulated byte by byte while it is scanned (no prefix-sum arrays).
- Each shingle is mixed once and pushed through all ``num_perm`` permutations while it is
  in a register; the document's running minima (896 bytes for 112 permutations) stay in
  L1, and the permutation loop is a plain ``min(a*h + b)`` loop that LLVM vectorizes.

Why Numba rather than a C extension: it ships as wheels for every platform we run on, so
``pip install`` needs no compiler on Dataflow/Dask workers. ``cache=True`` keeps the
compiled code on disk, so only the first process on a machine pays the ~2 s compile
(where nothing is writable, every process compiles: see ``compiled``).
"""
from __future__ import annotations

import numpy as np
from numba import njit


def compiled(**options):
    """``numba.njit`` with the on-disk cache when numba finds a writable place for it.

    With no writable place (a read-only install and no writable home or NUMBA_CACHE_DIR,
    as in some locked-down worker images) ``cache=True`` raises at import; then each
    process compiles for itself (~2 s) instead of failing.
    """
    def wrap(function):
        try:
            return njit(cache=True, nogil=True, **options)(function)
        except RuntimeError:
            return njit(cache=False, nogil=True, **options)(function)
    return wrap


_U = np.uint64
_POLY = _U(0x9E3779B97F4A7C15)
_M1 = _U(0xFF51AFD7ED558CCD)
_M2 = _U(0xC4CEB9FE1A85EC53)
_S33 = _U(33)
_ONE = _U(1)

# Code point classes (the values of ``minhash.codepoint_classes()``).
SEPARATOR = 0  # ends a word: spaces, punctuation, digits, "_", symbols
LETTER = 1  # part of a run of letters (a word in scripts written with spaces)
SINGLE = 2  # a word by itself: a character of a script written without spaces (CJK, Thai)
DELETED = 3  # a combining mark: removed before words are found, so it never splits one


@compiled(inline="always")
def fmix64(h):
    """MurmurHash3's 64-bit finaliser: the project's one integer mixer (MinHash shingles,
    paragraph keys' Bloom probes)."""
    h ^= h >> _S33
    h *= _M1
    h ^= h >> _S33
    h *= _M2
    return h ^ (h >> _S33)


@compiled(inline="always")
def _word_hash(buf, start, end, skip, classes):
    """Polynomial hash of the bytes of the kept code points in ``buf[start:end]``."""
    h = _U(0)
    p = _ONE
    pos = start
    while pos < end:
        n = utf8_length(buf[pos])
        if not skip or classes[decode_utf8(buf, pos, n)] != DELETED:
            for i in range(n):
                h += (_U(buf[pos + i]) + _ONE) * p
                p *= _POLY
        pos += n
    return fmix64(h)


@compiled(inline="always")
def utf8_length(lead):
    if lead < 0x80:
        return 1
    if lead < 0xE0:
        return 2
    if lead < 0xF0:
        return 3
    return 4


@compiled(inline="always")
def decode_utf8(buf, pos, n):
    if n == 1:
        return np.int64(buf[pos])
    if n == 2:
        return (np.int64(buf[pos] & 0x1F) << 6) | np.int64(buf[pos + 1] & 0x3F)
    if n == 3:
        return (np.int64(buf[pos] & 0x0F) << 12) | (np.int64(buf[pos + 1] & 0x3F) << 6) | np.int64(buf[pos + 2] & 0x3F)
    return ((np.int64(buf[pos] & 0x07) << 18) | (np.int64(buf[pos + 1] & 0x3F) << 12)
            | (np.int64(buf[pos + 2] & 0x3F) << 6) | np.int64(buf[pos + 3] & 0x3F))


@compiled(inline="always")
def _scan_words(buf, pos, end, classes, wh):
    """Hash the words of ``buf[pos:end]`` into ``wh[0:]``; return how many there are."""
    words = 0
    word_start = -1  # byte offset of the current run of letters, -1 outside one
    has_deleted = False  # whether the current run contains a combining mark
    while pos < end:
        n = utf8_length(buf[pos])
        cls = classes[decode_utf8(buf, pos, n)]
        if cls == LETTER:
            if word_start < 0:
                word_start = pos
                has_deleted = False
        elif cls == DELETED:
            has_deleted = has_deleted or word_start >= 0
        else:
            if word_start >= 0:
                wh[words] = _word_hash(buf, word_start, pos, has_deleted, classes)
                words += 1
                word_start = -1
            if cls == SINGLE:
                wh[words] = _word_hash(buf, pos, pos + n, False, classes)
                words += 1
        pos += n
    if word_start >= 0:
        wh[words] = _word_hash(buf, word_start, pos, has_deleted, classes)
        words += 1
    return words


@compiled()
def word_hashes_from_utf8(buf, doc_ends, classes):
    """(every document's word hashes back to back, words per document): the same values as
    ``minhash.word_hashes(tokenize(text) for each text)``; input as for signatures_from_utf8."""
    wh = np.empty(max(1, buf.size), _U)  # a word takes at least one byte
    counts = np.zeros(doc_ends.size, np.int64)
    start = 0
    total = 0
    for d in range(doc_ends.size):
        counts[d] = _scan_words(buf, start, doc_ends[d], classes, wh[total:])
        total += counts[d]
        start = doc_ends[d]
    return wh[:total].copy(), counts


@compiled()
def signatures_from_utf8(buf, doc_ends, classes, ngram, k, a, b, sig):
    """Fill ``sig`` (docs x num_perm, preset to 2**64-1); return shingles per document.

    ``buf``: the documents' lowercased, NFKD-normalized text as UTF-8, back to back;
    ``doc_ends``: the byte offset where each document ends; ``classes``: a uint8 class per
    code point; ``k``: the ``ngram`` position constants; ``a``, ``b``: the affine64
    permutations. Shingle i = ``fmix64(sum_j word_hash[i+j] * k[j])``; a document with
    fewer than ``ngram`` words has one shingle of all its words.
    """
    n_docs = doc_ends.size
    num_perm = a.size
    n_sh = np.zeros(n_docs, np.int64)
    longest = 1
    start = 0
    for d in range(n_docs):
        longest = max(longest, doc_ends[d] - start)
        start = doc_ends[d]
    wh = np.empty(longest, _U)  # a word takes at least one byte
    pos = 0
    for d in range(n_docs):
        end = doc_ends[d]
        words = _scan_words(buf, pos, end, classes, wh)
        pos = end
        if words == 0:
            continue
        width = min(words, ngram)
        shingles = words - width + 1
        n_sh[d] = shingles
        row = sig[d]
        for i in range(shingles):
            s = _U(0)
            for j in range(width):
                s += wh[i + j] * k[j]
            m = fmix64(s)
            for q in range(num_perm):
                v = a[q] * m + b[q]
                row[q] = v if v < row[q] else row[q]
    return n_sh
