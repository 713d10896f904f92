"""The LSH graph of the MinHash stage on arrays: compact ids, band buckets -> star edges,
edge verification, connected components and cluster summaries (pure NumPy/SciPy, no Beam).

Why arrays: the dedup job used to move one Beam element per document per step (band
keys, edges, labels, keep keys), and that per-element overhead, not the signatures, was
most of its cost (docs/dedup.md). Here a Beam element is a batch or a partition holding
NumPy arrays, and these functions do the work of a bucket, a join or a union-find on
them in a few vectorized passes.

COMPACT IDS. A document id becomes 128 bits, two uint64 arrays ``(hi, lo)``:
- an id of 32 lowercase hex digits (``stable_id``, every id the clean job writes) is its
  own value, hex-decoded: exact, collision-free, and ordered exactly like the strings, so
  "the smallest id" (star centres, cluster ids, ``--keep smallest_id``) is unchanged;
- any other string is hashed (BLAKE2b, 128 bits); such ids are ordered by that hash, not
  by the string, and their names travel separately (``compact_name``).
A 64-bit hash would not do: at 3 billion documents two ids would collide with
probability about 1 in 4; at 128 bits about 1 in 10**20.
"""
from __future__ import annotations

import hashlib
import re
from typing import Optional, Sequence

import numpy as np

U64 = np.uint64
_HEX = np.full(256, 255, dtype=np.uint8)
_HEX[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10, dtype=np.uint8)
_HEX[np.frombuffer(b"abcdef", np.uint8)] = np.arange(10, 16, dtype=np.uint8)
_NIBBLE_SHIFTS = (np.arange(15, -1, -1, dtype=U64) * U64(4))


_CANONICAL = re.compile(r"[0-9a-f]{32}")


def is_canonical_id(doc_id: str) -> bool:
    """Whether ``doc_id`` is 32 lowercase hex digits (what ``stable_id`` makes)."""
    return _CANONICAL.fullmatch(doc_id) is not None


def _hash128(doc_id: str) -> tuple[int, int]:
    d = hashlib.blake2b(doc_id.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    return int.from_bytes(d[:8], "big"), int.from_bytes(d[8:], "big")


def compact_ids(ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(hi, lo) uint64 arrays: the 128-bit compact id of each id (module docstring)."""
    n = len(ids)
    hi, lo = np.zeros(n, U64), np.zeros(n, U64)
    if n == 0:
        return hi, lo
    raw = "".join(ids).encode("utf-8", "surrogatepass")
    if len(raw) == 32 * n and max(map(len, ids)) == 32:  # every id 32 ASCII characters, none shorter
        digits = _HEX[np.frombuffer(raw, np.uint8)].reshape(n, 32)
        ok = (digits != 255).all(axis=1)
    else:  # some id is not 32 ASCII characters: look at each
        ok = np.fromiter((is_canonical_id(i) for i in ids), bool, n)
        digits = np.zeros((n, 32), np.uint8)
        if ok.any():
            sel = np.flatnonzero(ok)
            digits[sel] = _HEX[np.frombuffer("".join(ids[i] for i in sel).encode(), np.uint8)].reshape(-1, 32)
    d = digits.astype(U64)
    hi[:] = np.bitwise_or.reduce(d[:, :16] << _NIBBLE_SHIFTS, axis=1)
    lo[:] = np.bitwise_or.reduce(d[:, 16:] << _NIBBLE_SHIFTS, axis=1)
    for i in np.flatnonzero(~ok).tolist():
        hi[i], lo[i] = _hash128(ids[i])
    return hi, lo


def compact_int(doc_id: str) -> int:
    """The compact id of one id as a Python int (128 bits; ints order like the pairs)."""
    hi, lo = compact_ids([doc_id])
    return (int(hi[0]) << 64) | int(lo[0])


def compact_name(value: int, names: Optional[dict] = None) -> str:
    """The document id of a compact id: the hex digits back, or its name when the id was
    hashed (``names``: compact int -> id, for the ids that are not canonical)."""
    if names and value in names:
        return names[value]
    return format(value, "032x")


def as_ints(hi: np.ndarray, lo: np.ndarray) -> list[int]:
    return [(h << 64) | x for h, x in zip(hi.tolist(), lo.tolist())]


def partition_of(values: np.ndarray, partitions: int) -> np.ndarray:
    """Partition index of band hashes or of the low words of compact ids (both uniform)."""
    return (values % U64(partitions)).astype(np.int64)


def dense_ranks(hi: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distinct hi, distinct lo, rank of each input): ranks are 0..k-1 in id order."""
    order = np.lexsort((lo, hi))
    h, low = hi[order], lo[order]
    new = np.ones(h.size, bool)
    new[1:] = (h[1:] != h[:-1]) | (low[1:] != low[:-1])
    ranks = np.empty(h.size, np.int64)
    ranks[order] = np.cumsum(new) - 1
    return h[new], low[new], ranks


# ------------------------------------------------------------------------- band buckets
def bucket_star_edges(band: np.ndarray, key: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> dict:
    """Band buckets -> star edges, as the per-element job always made them.

    Entries ``(band index, band hash, id)``; a bucket is a run of equal (band, hash). In a
    bucket of >= 2 entries every member whose id differs from the smallest member id gets
    an edge (member, smallest); a bucket's whole connectivity in O(n) edges.

    Returns ``{"u_hi", "u_lo", "v_hi", "v_lo"}`` (distinct edges) and the counts of the
    old job: ``candidate_edges`` (with repeats across buckets), ``buckets_with_candidates``,
    ``largest_bucket`` (0 when no bucket has two entries).
    """
    if band.size < 2:
        return _no_star_edges()
    uh, ul, rank = dense_ranks(hi, lo)
    order = np.lexsort((rank, key, band))
    return _star_edges(band[order], key[order], rank[order], uh, ul)


def band_matrix_star_edges(bands: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> dict:
    """``bucket_star_edges`` of every entry (b, bands[i, b], id i) of a (documents x bands)
    matrix: the same result, sorted band by band. Each band holds a document once, so a
    stable sort of its keys over the documents in id order is the (key, id) order, and
    the ids are ranked once per document instead of once per entry: a few times faster
    than sorting the bands x documents entries on three keys."""
    n, nbands = bands.shape
    if n * nbands < 2:
        return _no_star_edges()
    uh, ul, rank = dense_ranks(hi, lo)
    by_rank = np.argsort(rank, kind="stable")
    rows = np.concatenate([by_rank[np.argsort(bands[by_rank, b], kind="stable")] for b in range(nbands)])
    band = np.repeat(np.arange(nbands, dtype=np.uint16), n)
    return _star_edges(band, bands[rows, band.astype(np.intp)], rank[rows], uh, ul)


def _no_star_edges() -> dict:
    empty = np.zeros(0, U64)
    return {"u_hi": empty, "u_lo": empty, "v_hi": empty, "v_lo": empty,
            "candidate_edges": 0, "buckets_with_candidates": 0, "largest_bucket": 0}


def _star_edges(b: np.ndarray, k: np.ndarray, r: np.ndarray, uh: np.ndarray, ul: np.ndarray) -> dict:
    """Entries sorted by (band, key, rank) -> ``bucket_star_edges``' result."""
    out = _no_star_edges()
    starts = np.ones(b.size, bool)
    starts[1:] = (b[1:] != b[:-1]) | (k[1:] != k[:-1])
    start_pos = np.flatnonzero(starts)
    sizes = np.diff(np.append(start_pos, b.size))
    big = sizes >= 2
    if not big.any():
        return out
    head = r[start_pos][np.cumsum(starts) - 1]  # smallest rank of each entry's bucket
    member = r != head
    u, v = r[member], head[member]
    out.update(candidate_edges=int(u.size), buckets_with_candidates=int(big.sum()),
               largest_bucket=int(sizes.max()))
    if u.size:
        pair = np.unique(u * np.int64(uh.size) + v)
        u, v = pair // uh.size, pair % uh.size
        out.update(u_hi=uh[u], u_lo=ul[u], v_hi=uh[v], v_lo=ul[v])
    return out


# ------------------------------------------------------------------------ verification
def lookup(hi: np.ndarray, lo: np.ndarray, table_hi: np.ndarray, table_lo: np.ndarray) -> np.ndarray:
    """Row of each (hi, lo) in a table of distinct ids, -1 where absent."""
    n = table_hi.size
    _, _, ranks = dense_ranks(np.concatenate([table_hi, hi]), np.concatenate([table_lo, lo]))
    row_of_rank = np.full(int(ranks.max(initial=-1)) + 1, -1, np.int64)
    row_of_rank[ranks[:n]] = np.arange(n)
    return row_of_rank[ranks[n:]]


def first_of_each_id(hi: np.ndarray, lo: np.ndarray, payload_bytes: Sequence[bytes] | None = None) -> np.ndarray:
    """Rows to keep so every id appears once. An id read twice (the same record in two
    files) keeps the copy with the smallest payload bytes, as the old join did."""
    _, _, ranks = dense_ranks(hi, lo)
    counts = np.bincount(ranks)
    if (counts == 1).all():
        return np.arange(hi.size)
    keep = {}
    for row, rk in enumerate(ranks.tolist()):
        best = keep.get(rk)
        if best is None or (payload_bytes is not None and payload_bytes[row] < payload_bytes[best]):
            keep[rk] = row
    return np.array(sorted(keep.values()), np.int64)


def signature_similarity(sig_u: np.ndarray, sig_v: np.ndarray) -> np.ndarray:
    """Share of equal values of each pair of signature rows: ``estimated_jaccard`` per row."""
    return (sig_u == sig_v).sum(axis=1) / sig_u.shape[1]


# --------------------------------------------------------------- components and summary
def connected_labels(u_hi, u_lo, v_hi, v_lo) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Connected components of the edges: (node hi, node lo, component index of each node),
    nodes in id order. SciPy's ``connected_components`` (a compiled BFS over a CSR graph)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    nh, nl, ranks = dense_ranks(np.concatenate([u_hi, v_hi]), np.concatenate([u_lo, v_lo]))
    m = u_hi.size
    graph = coo_matrix((np.ones(m, np.int8), (ranks[:m], ranks[m:])), shape=(nh.size, nh.size))
    _, comp = connected_components(graph, directed=True, connection="weak")
    return nh, nl, comp.astype(np.int64)


def cluster_summary(comp: np.ndarray, keep_sort: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per node (nodes in id order, ``comp`` their component): (row of its component's
    smallest node = the cluster id, component size, row of the node to keep). The kept node
    has the smallest keep key: ``keep_sort`` are its leading sort keys (``np.lexsort``
    order, last = most significant), the node's row (its id order) breaks ties."""
    n = comp.size
    rows = np.arange(n)
    sizes = np.bincount(comp)
    first = np.full(sizes.size, n, np.int64)
    np.minimum.at(first, comp, rows)
    order = np.lexsort((rows, *keep_sort, comp))
    starts = np.ones(n, bool)
    starts[1:] = comp[order][1:] != comp[order][:-1]
    keeper = np.empty(sizes.size, np.int64)
    keeper[comp[order][starts]] = order[starts]
    return first[comp], sizes[comp], keeper[comp]
