"""MinHash signatures and LSH band keys, vectorized over batches of documents.

Pure library code (no Beam). The pieces:

1. Tokens: ``words(normalize_for_matching(text))`` -- lowercase, accents, digits and
   punctuation stripped; every CJK/Thai character is one word (script-aware).
2. Word hashes: a polynomial hash of each word's UTF-8 bytes, computed for a whole batch
   at once from prefix sums (no Python loop per word or per shingle).
3. Shingle hashes: 64-bit, ``sum_j word_hash[i + j] * K_j`` over a window of ``ngram``
   words (mod 2**64; the ``K_j`` are fixed odd constants so the order of words matters).
   A document shorter than ``ngram`` words gets one shingle made of all its words.
4. Signatures: datasketch's ``affine64`` scheme, bit for bit: the shingle hash is
   pre-mixed with the 64-bit MurmurHash3 finalizer, then ``a_k * h + b_k mod 2**64`` for
   each of ``num_perm`` permutations whose ``(a, b)`` come from
   ``datasketch.MinHash(num_perm, seed, scheme="affine64").permutations``. With
   ``hashfunc=shingle_hash64`` a datasketch MinHash gives identical hash values (tested).
5. Band keys: the signature cut into ``bands`` x ``rows``; each band is hashed to 64 bits.
   Two documents share a band key iff their band rows are equal (up to a 2**-64 chance).
6. Verification of a candidate pair (``edge_similarity``): sharing one band says little
   when a band has few rows, so before clustering every candidate edge is checked on the
   whole signature (the share of all ``num_perm`` values that agree, an unbiased Jaccard
   estimate) or, in ``exact`` mode, on the two documents' shingle sets. Payloads travel
   as bytes of uint64 arrays (``verify_payloads``).

Two implementations of steps 1-4 give identical signatures (tested): the compiled
one-pass kernel in ``minhash_kernel.py`` (the default: ``MinHasher(backend="auto")``),
and the vectorized NumPy functions below (the fallback where numba does not import, and
the kernel's cross-check).

Why our own word hash instead of sha1 (datasketch's default): sha1 needs one Python call
per shingle, which is most of datasketch's cost; the polynomial hash is one pass over the
batch's bytes. It is not cryptographic, which MinHash does not need: the permutations
are applied after the MurmurHash3 pre-mix that spreads the bits.
"""
from __future__ import annotations

import dataclasses
import functools
import re
import sys
import unicodedata
from typing import Iterable, Sequence

import numpy as np

from pipelines.stages.segmentation import _NO_SPACE_RANGES, normalize_for_matching, words

U64 = np.uint64
_MASK64 = (1 << 64) - 1
# Odd multiplier for the polynomial word hash; its inverse exists mod 2**64.
_POLY = 0x9E3779B97F4A7C15
_POLY_INV = pow(_POLY, -1, 1 << 64)
# Mixing constants of the 64-bit MurmurHash3 finalizer (as in datasketch's ``_fmix``).
_FMIX_M1 = U64(0xFF51AFD7ED558CCD)
_FMIX_M2 = U64(0xC4CEB9FE1A85EC53)
_S33 = U64(33)
# Shingles per group of documents when applying permutations: one uint64 row of this
# length (512 KiB) is reused for every permutation and stays in L2.
_PERM_CHUNK_COLS = 1 << 16
# Bytes per chunk when hashing words (the P**i tables and the prefix sums stay in L2).
_WORD_CHUNK_BYTES = 1 << 15

DEFAULT_NGRAM = 5
DEFAULT_BANDS = 37
DEFAULT_ROWS = 3
DEFAULT_SEED = 1
DEFAULT_NUM_PERM = 112
# How a candidate edge is checked before clustering: not at all, on the full signatures
# (estimated Jaccard), or on the exact shingle sets. See docs/dedup.md for how the default
# threshold was measured.
VERIFY_MODES = ("none", "signature", "exact")
DEFAULT_VERIFY = "signature"
DEFAULT_VERIFY_THRESHOLD = 0.4


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3 64-bit finalizer, element-wise with uint64 wraparound."""
    h = h ^ (h >> _S33)
    h = h * _FMIX_M1
    h = h ^ (h >> _S33)
    h = h * _FMIX_M2
    return h ^ (h >> _S33)


def _fmix64_inplace(h: np.ndarray) -> np.ndarray:
    """``fmix64`` overwriting ``h`` (a uint64 array we own): no temporaries but one."""
    t = h >> _S33
    h ^= t
    h *= _FMIX_M1
    np.right_shift(h, _S33, out=t)
    h ^= t
    h *= _FMIX_M2
    np.right_shift(h, _S33, out=t)
    h ^= t
    return h


def _position_constants(n: int) -> np.ndarray:
    """Odd 64-bit constants K_0..K_{n-1} weighting the words of a shingle by position."""
    k = fmix64(np.arange(1, n + 1, dtype=U64) * U64(_POLY))
    return k | U64(1)


@functools.lru_cache(maxsize=2)  # a 2**21 table is 32 MB: keep few
def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """P**i and P**-i mod 2**64 for i < n (cached; grown by doubling)."""
    with np.errstate(over="ignore"):
        pw = np.cumprod(np.full(n, _POLY, dtype=U64))
        inv = np.cumprod(np.full(n, _POLY_INV, dtype=U64))
    # cumprod gives P**(i+1); shift so index i holds P**i.
    pw = np.concatenate([np.ones(1, U64), pw[:-1]])
    inv = np.concatenate([np.ones(1, U64), inv[:-1]])
    return pw, inv


def _powers_at_least(n: int) -> tuple[np.ndarray, np.ndarray]:
    size = 1 << max(16, int(n - 1).bit_length())
    return _powers(size)


@functools.lru_cache(maxsize=1)
def _combining_table() -> dict[int, None]:
    """``str.translate`` table deleting what ``unicodedata.combining`` flags (~900 chars)."""
    return {c: None for c in range(sys.maxunicode + 1) if unicodedata.combining(chr(c))}


# A word: one character of a script written without spaces, or a run of other letters.
# Digits, "_" and punctuation are never words, exactly as normalize_for_matching turns
# them into spaces; the lookahead keeps e.g. the katakana middle dot "・" (punctuation
# inside a no-space block) and Thai digits out of the single-character alternative.
_FAST_TOKEN_RE = re.compile(rf"(?![\W\d_])[{_NO_SPACE_RANGES}]|[^\W\d_{_NO_SPACE_RANGES}]+", re.UNICODE)


# _FAST_TOKEN_RE's alternatives as groups, one code point at a time (codepoint_classes).
_CLASSIFY_RE = re.compile(rf"((?![\W\d_])[{_NO_SPACE_RANGES}])|([^\W\d_{_NO_SPACE_RANGES}])", re.UNICODE)


def tokenize(text: str) -> list[str]:
    """Normalized, script-aware words of ``text`` (the units shingles are made of).

    Equal to ``words(normalize_for_matching(text))`` (tested on real text) but faster
    (see docs/dedup.md), which matters because normalization is most of the cost of a
    signature: ASCII text skips NFKD, combining marks go with one ``str.translate``
    instead of a Python generator per character, and one ``findall`` replaces
    substitute + split + join + findall.
    """
    text = normalize_for_words(text)
    if not text.isascii():
        text = text.translate(_combining_table())
    return _FAST_TOKEN_RE.findall(text)


def normalize_for_words(text: str) -> str:
    """The part of ``tokenize`` before words are found: lowercase, then NFKD if not ASCII.

    Combining marks are left in; the kernel skips them (``DELETED`` code points).
    """
    text = text.lower()
    return text if text.isascii() else unicodedata.normalize("NFKD", text)


@functools.lru_cache(maxsize=1)
def codepoint_classes() -> np.ndarray:
    """The class of every code point (uint8, 0x110000 entries) as ``tokenize`` sees it.

    Derived from ``_FAST_TOKEN_RE`` itself, so the compiled kernel finds exactly the words
    ``tokenize`` finds: every code point is matched alone (separated by NULs, which are
    separators), and a regex with one group per alternative tells single-character words
    from letters of a run. Combining marks, which ``tokenize`` deletes first, are DELETED.
    Built once per process (~0.5 s).
    """
    from pipelines.stages import minhash_kernel as kernel

    classes = np.full(sys.maxunicode + 1, kernel.SEPARATOR, dtype=np.uint8)
    each = "\0".join(map(chr, range(sys.maxunicode + 1)))
    # Every code point sits at an even offset; a match is one code point.
    for m in _CLASSIFY_RE.finditer(each):
        classes[m.start() // 2] = kernel.SINGLE if m.lastindex == 1 else kernel.LETTER
    classes[list(_combining_table())] = kernel.DELETED
    return classes


def tokenize_reference(text: str) -> list[str]:
    """The definition ``tokenize`` must match: the shared segmentation functions."""
    return words(normalize_for_matching(text))


def word_hashes(token_lists: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of every word of every document, in one pass.

    Returns ``(hashes, counts)``: all documents' word hashes concatenated, and the word
    count of each document. Words are joined with single spaces (normalized words never
    contain one), so a word's bytes are the run between two spaces.
    """
    counts = np.fromiter((len(t) for t in token_lists), dtype=np.int64, count=len(token_lists))
    total_words = int(counts.sum())
    if total_words == 0:
        return np.zeros(0, U64), counts
    joined = " ".join(" ".join(t) for t in token_lists if t).encode("utf-8")
    buf = np.frombuffer(joined, dtype=np.uint8)
    n = buf.size
    spaces = np.flatnonzero(buf == 0x20)
    starts = np.empty(spaces.size + 1, np.int64)
    starts[0] = 0
    np.add(spaces, 1, out=starts[1:])
    ends = np.empty(spaces.size + 1, np.int64)
    ends[:-1] = spaces
    ends[-1] = n
    # Word hash = sum_i (c_i + 1) * P**(i - start) over the word's bytes, from prefix sums
    # (mod 2**64). The bytes are cut at word starts into chunks of ~_WORD_CHUNK_BYTES whose
    # arrays stay in L2; within a chunk starting at c0, prefix[j] = sum_{c0<=i<j} (c_i + 1)
    # * P**(i - c0), so a word is (prefix[end] - prefix[start]) * P**-(start - c0) and the
    # separating spaces are never included. (One pass over the whole batch with absolute
    # positions streams P**i tables of 8x the batch's bytes: measured ~10 % slower.)
    cut_words = np.unique(np.searchsorted(starts, np.arange(0, n, _WORD_CHUNK_BYTES), side="right") - 1)
    cuts = starts[cut_words]
    bounds = np.append(cuts, n)
    pw, inv = _powers_at_least(int(np.diff(bounds).max()) + 1)
    prefix = np.empty(n + 1, U64)
    for c0, c1 in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        cum = prefix[c0 + 1 : c1 + 1]
        np.add(buf[c0:c1], U64(1), out=cum, dtype=U64)
        np.multiply(cum, pw[: c1 - c0], out=cum)
        np.cumsum(cum, out=cum)
        prefix[c0] = 0
    chunk_of_word = np.repeat(cuts, np.diff(np.append(cut_words, starts.size)))
    h = prefix.take(ends)
    h -= prefix.take(starts)
    starts -= chunk_of_word
    h *= inv.take(starts)
    return _fmix64_inplace(h), counts


def shingle_hashes_from_words(wh: np.ndarray, counts: np.ndarray, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """Shingle hashes for all documents and the number of shingles per document.

    Shingle i of a document = ``sum_j wh[i+j] * K_j`` over the words of the window.
    Windows never cross a document boundary. Short documents (0 < words < ngram) get
    one shingle of all their words; empty documents get none.
    """
    k = _position_constants(ngram)
    n_sh = np.where(counts >= ngram, counts - ngram + 1, np.minimum(counts, 1))
    total = wh.size
    if total == 0:
        return np.zeros(0, U64), n_sh
    doc_ends = np.cumsum(counts)
    doc_starts = doc_ends - counts
    padded = np.concatenate([wh, np.zeros(ngram, U64)])
    out = np.zeros(int(n_sh.sum()), U64)
    first_sh = np.cumsum(n_sh) - n_sh
    long_docs = counts >= ngram
    with np.errstate(over="ignore"):
        if long_docs.any():
            # Every full window over the concatenation (those crossing a document boundary are
            # computed too, then dropped).
            full = np.multiply(padded[:total], k[0])
            term = np.empty(total, U64)
            for j in range(1, ngram):
                np.multiply(padded[j : j + total], k[j], out=term)
                full += term
            if long_docs.all():
                # Usual case: drop the last ngram-1 windows of every document (those that
                # run into the next one) with one boolean mask.
                keep = np.ones(total, dtype=bool)
                keep[(doc_ends[:, None] - np.arange(1, ngram)[None, :]).ravel()] = False
                return full[keep], n_sh
            n_long = n_sh[long_docs]
            offsets = np.arange(int(n_long.sum())) - np.repeat(np.cumsum(n_long) - n_long, n_long)
            dest = np.repeat(first_sh[long_docs], n_long) + offsets
            out[dest] = full[np.repeat(doc_starts[long_docs], n_long) + offsets]
        short = (counts > 0) & ~long_docs
        if short.any():
            # One shingle of all the words of a short document: mask positions past its end.
            s_starts, s_len = doc_starts[short], counts[short]
            acc = np.zeros(s_starts.size, U64)
            for j in range(ngram - 1):
                acc += np.where(s_len > j, padded[s_starts + j] * k[j], U64(0))
            out[first_sh[short]] = acc
    return out, n_sh


def _fmix64_int(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _MASK64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _MASK64
    return h ^ (h >> 33)


@functools.lru_cache(maxsize=1 << 16)
def _word_hash_int(word: str) -> int:
    h, p = 0, 1
    for c in word.encode("utf-8"):
        h = (h + (c + 1) * p) & _MASK64
        p = (p * _POLY) & _MASK64
    return _fmix64_int(h)


@functools.lru_cache(maxsize=64)
def _position_constants_int(n: int) -> tuple[int, ...]:
    return tuple(int(x) for x in _position_constants(n))


def shingle_hash64(shingle: bytes | str) -> int:
    """Hash of one shingle given as space-joined words: a datasketch ``hashfunc``.

    A scalar, pure-Python implementation of the same function as the vectorized path
    (``word_hashes`` + ``shingle_hashes_from_words``); the tests check that
    ``datasketch.MinHash(hashfunc=shingle_hash64, scheme="affine64")`` gives our signatures.
    """
    if isinstance(shingle, bytes):
        shingle = shingle.decode("utf-8")
    toks = shingle.split(" ")
    k = _position_constants_int(len(toks))
    return sum(_word_hash_int(t) * k[j] for j, t in enumerate(toks)) & _MASK64


def shingles(tokens: Sequence[str], ngram: int) -> list[bytes]:
    """The shingles of one document as space-joined bytes (for reference implementations)."""
    if not tokens:
        return []
    if len(tokens) < ngram:
        return [" ".join(tokens).encode("utf-8")]
    return [" ".join(tokens[i : i + ngram]).encode("utf-8") for i in range(len(tokens) - ngram + 1)]


@functools.lru_cache(maxsize=16)
def datasketch_permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine64 permutation parameters (a odd, b) for ``num_perm``, ``seed``."""
    from datasketch import MinHash  # imported lazily: only needed to draw (a, b) once

    a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine64").permutations
    return np.ascontiguousarray(a, dtype=U64), np.ascontiguousarray(b, dtype=U64)


def signatures_from_shingles(sh: np.ndarray, n_sh: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Min over each document's shingles of ``a * fmix64(h) + b``: a (docs, num_perm) array.

    Documents without shingles keep the empty value 2**64-1 in every row.

    One permutation at a time over a group of whole documents (~``_PERM_CHUNK_COLS``
    shingles, so the row stays in L2): ``multiply`` and ``add`` by scalars into one reused
    row, then ``minimum.reduceat`` at the documents' offsets straight into the output.
    Every ufunc call is a contiguous 1-D loop (no broadcasting, no temporaries); the
    Python loop is num_perm x 3 calls per group, negligible next to the arithmetic.
    """
    num_docs, num_perm = n_sh.size, a.size
    sig = np.full((num_docs, num_perm), np.iinfo(U64).max, dtype=U64)
    if sh.size == 0:
        return sig
    mixed = _fmix64_inplace(sh.copy())
    nonempty = np.flatnonzero(n_sh > 0)
    ends = np.cumsum(n_sh)[nonempty]
    starts = ends - n_sh[nonempty]
    mins = np.empty((num_perm, nonempty.size), dtype=U64)
    row = np.empty(max(_PERM_CHUNK_COLS, int(n_sh.max())), dtype=U64)
    # 0-d arrays rather than NumPy scalars: measured ~0.5 us less per ufunc call.
    perms = [(np.array(a_k), np.array(b_k), mins_k) for a_k, b_k, mins_k in zip(a, b, mins)]
    d0 = 0
    with np.errstate(over="ignore"):
        while d0 < nonempty.size:
            lo = int(starts[d0])
            # Whole documents ending within lo + _PERM_CHUNK_COLS (at least one).
            d1 = max(d0 + 1, int(np.searchsorted(ends, lo + _PERM_CHUNK_COLS, side="right")))
            hi = int(ends[d1 - 1])
            src, part = mixed[lo:hi], row[: hi - lo]
            offsets = starts[d0:d1] - lo
            for a_k, b_k, mins_k in perms:
                np.multiply(src, a_k, out=part)
                np.add(part, b_k, out=part)
                np.minimum.reduceat(part, offsets, out=mins_k[d0:d1])
            d0 = d1
    sig[nonempty] = mins.T
    return sig


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """A (docs, bands) uint64 array: each band's ``rows`` values hashed to 64 bits."""
    if bands * rows > sig.shape[1]:
        raise ValueError(f"bands*rows = {bands * rows} exceeds num_perm = {sig.shape[1]}")
    k = _position_constants(rows)
    banded = sig[:, : bands * rows].reshape(sig.shape[0], bands, rows)
    with np.errstate(over="ignore"):
        acc = (fmix64(banded) * k[None, None, :]).sum(axis=2, dtype=U64)
    return fmix64(acc)


@dataclasses.dataclass(frozen=True)
class MinHashConfig:
    """Plain, picklable MinHash-LSH parameters, and how candidate edges are verified."""

    num_perm: int = DEFAULT_NUM_PERM
    bands: int = DEFAULT_BANDS
    rows: int = DEFAULT_ROWS
    ngram: int = DEFAULT_NGRAM
    seed: int = DEFAULT_SEED
    verify: str = DEFAULT_VERIFY
    verify_threshold: float = DEFAULT_VERIFY_THRESHOLD

    def __post_init__(self):
        for name in ("num_perm", "bands", "rows", "ngram"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if self.bands * self.rows > self.num_perm:
            raise ValueError(
                f"--bands x --rows = {self.bands * self.rows} exceeds --num_perm = {self.num_perm}: "
                "raise --num_perm or lower --bands/--rows"
            )
        if self.verify not in VERIFY_MODES:
            raise ValueError(f"--verify must be one of {', '.join(VERIFY_MODES)}, got {self.verify!r}")
        if not 0.0 <= self.verify_threshold <= 1.0:
            raise ValueError(f"--verify_threshold must be in [0, 1], got {self.verify_threshold}")

    @property
    def threshold(self) -> float:
        """Jaccard similarity where the LSH S-curve crosses 1/2: (1/b)**(1/r)."""
        return (1.0 / self.bands) ** (1.0 / self.rows)

    @classmethod
    def from_threshold(cls, threshold: float, num_perm: int = DEFAULT_NUM_PERM,
                       ngram: int = DEFAULT_NGRAM, seed: int = DEFAULT_SEED,
                       false_positive_weight: float = 0.5, false_negative_weight: float = 0.5,
                       **verification) -> "MinHashConfig":
        """Bands and rows minimizing datasketch's weighted false positive/negative area
        (``verification``: ``verify`` and ``verify_threshold``, passed through)."""
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"--threshold must be in (0, 1), got {threshold}")
        # datasketch's own optimizer, so --threshold means exactly what it means there.
        from datasketch.lsh import _optimal_param

        b, r = _optimal_param(threshold, num_perm, false_positive_weight, false_negative_weight)
        return cls(num_perm=num_perm, bands=b, rows=r, ngram=ngram, seed=seed, **verification)


@functools.lru_cache(maxsize=1)
def _load_kernel():
    """The compiled kernel module, or None where Numba is not installed (NumPy path)."""
    try:
        import numba  # noqa: F401  (a declared dependency; missing only on odd platforms)
    except ImportError:
        return None
    from pipelines.stages import minhash_kernel

    return minhash_kernel


BACKENDS = ("auto", "numba", "numpy")


def _utf8_batch(normalized: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(all texts as one UTF-8 byte array, the byte offset where each text ends)."""
    # surrogatepass: a lone surrogate (possible in a Python str) becomes 3 bytes whose
    # code point is a separator, as it is for tokenize, instead of an exception.
    parts = [t.encode("utf-8", "surrogatepass") for t in normalized]
    doc_ends = np.cumsum(np.fromiter(map(len, parts), np.int64, len(parts)))
    return np.frombuffer(b"".join(parts), dtype=np.uint8), doc_ends


def text_word_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``word_hashes([tokenize(t) for t in texts])``, by the compiled kernel when numba
    imports (it finds the words itself, ~8x faster than ``tokenize``)."""
    kernel = _load_kernel()
    if kernel is None:
        return word_hashes([tokenize(t) for t in texts])
    buf, doc_ends = _utf8_batch([normalize_for_words(t) for t in texts])
    return kernel.word_hashes_from_utf8(buf, doc_ends, codepoint_classes())


class MinHasher:
    """Computes signatures and band keys for batches of texts with one configuration.

    ``backend``: "numba" runs the compiled one-pass kernel (``minhash_kernel``), "numpy"
    the vectorized NumPy path above; both give identical signatures (tested). "auto"
    picks numba when it imports.
    """

    def __init__(self, config: MinHashConfig = MinHashConfig(), backend: str = "auto"):
        if backend not in BACKENDS:
            raise ValueError(f"MinHasher backend must be one of {BACKENDS}, got {backend!r}")
        self.config = config
        self.backend = backend
        if backend == "numba" and _load_kernel() is None:
            raise ImportError("MinHasher(backend='numba') needs numba: pip install numba")

    @property
    def permutations(self) -> tuple[np.ndarray, np.ndarray]:
        # Cached per process by datasketch_permutations; a pickled MinHasher carries none.
        return datasketch_permutations(self.config.num_perm, self.config.seed)

    @property
    def kernel(self):
        """The compiled kernel module, or None when the NumPy path is used."""
        return None if self.backend == "numpy" else _load_kernel()

    def signatures_from_tokens(self, token_lists: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """(signatures, shingle counts) for documents given as ``tokenize`` output."""
        if self.kernel is not None:
            # Normalized words joined by spaces tokenize back to the same words.
            return self._kernel_signatures([" ".join(t) for t in token_lists])
        wh, counts = word_hashes(token_lists)
        sh, n_sh = shingle_hashes_from_words(wh, counts, self.config.ngram)
        a, b = self.permutations
        return signatures_from_shingles(sh, n_sh, a, b), n_sh

    def signatures(self, texts: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """(signatures (docs, num_perm) uint64, shingle counts) of raw texts."""
        if self.kernel is not None:
            return self._kernel_signatures([normalize_for_words(t) for t in texts])
        return self.signatures_from_tokens([tokenize(t) for t in texts])

    def _kernel_signatures(self, normalized: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        buf, doc_ends = _utf8_batch(normalized)
        a, b = self.permutations
        sig = np.full((doc_ends.size, a.size), np.iinfo(U64).max, dtype=U64)
        n_sh = self.kernel.signatures_from_utf8(buf, doc_ends, codepoint_classes(), self.config.ngram,
                                                _position_constants(self.config.ngram), a, b, sig)
        return sig, n_sh

    def band_keys(self, texts: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """(band keys (docs, bands), shingle counts). Rows of shingle-less docs are unusable."""
        sig, n_sh = self.signatures(texts)
        return band_keys(sig, self.config.bands, self.config.rows), n_sh

    def shingle_sets(self, texts: Iterable[str]) -> list[np.ndarray]:
        """Each text's distinct shingle hashes, sorted (uint64): what ``exact`` verification
        compares. The same shingles the signatures are made of (words from the kernel when
        it imports, windows from ``shingle_hashes_from_words``)."""
        texts = list(texts)
        if not texts:
            return []
        wh, counts = text_word_hashes(texts)
        sh, n_sh = shingle_hashes_from_words(wh, counts, self.config.ngram)
        return [np.unique(part) for part in np.split(sh, np.cumsum(n_sh)[:-1])]

    def verify_payloads(self, texts: Sequence[str], sig: np.ndarray) -> list[bytes]:
        """What each document brings to the check of its candidate edges, as bytes: its
        signature (``signature`` mode, num_perm x 8 bytes) or its shingle set (``exact``)."""
        if self.config.verify == "exact":
            return [s.tobytes() for s in self.shingle_sets(texts)]
        return [row.tobytes() for row in sig]


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    return float(np.mean(sig_a == sig_b))


def exact_jaccard(set_a: np.ndarray, set_b: np.ndarray) -> float:
    """|A & B| / |A | B| of two sorted arrays of distinct shingle hashes."""
    if set_a.size == 0 and set_b.size == 0:
        return 0.0  # documents without shingles are never anyone's duplicate
    inter = np.intersect1d(set_a, set_b, assume_unique=True).size
    return inter / (set_a.size + set_b.size - inter)


def edge_similarity(payload_a: bytes, payload_b: bytes, mode: str) -> float:
    """Jaccard of a candidate edge's two documents from their ``verify_payloads``."""
    a, b = np.frombuffer(payload_a, dtype=U64), np.frombuffer(payload_b, dtype=U64)
    if mode == "exact":
        return exact_jaccard(a, b)
    if a.size != b.size:
        raise ValueError("signatures of different lengths: the documents were hashed with different --num_perm")
    return estimated_jaccard(a, b)
