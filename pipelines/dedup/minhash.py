"""MinHash-LSH fuzzy deduplication as Beam transforms (a stage of ``pipelines.dedup``).

Elements are batches and partitions of NumPy arrays, not documents, bands or edges: the
old job moved one Beam element per band key, per edge and per document through every
step, and that overhead was most of its cost (docs/dedup.md, "Speed"). The array work
lives in ``pipelines.stages.minhash_graph``; ids inside the stage are 128-bit compact ids
(two uint64 arrays), exact and order-preserving for ``stable_id`` ids (see there).

Steps (every one keyed and bounded; ``P`` = ``--minhash_partitions``, by default one
partition per ``DOCS_PER_PARTITION`` input documents):
1. ``SketchBatch``: a batch of documents -> one element of arrays: compact ids, band
   hashes (documents x bands), keep-key columns, and with verification the payloads
   (whole signatures, or with ``--verify exact`` the shingle sets).
2. Buckets: each batch's band entries are split into ``P`` partitions by band hash; a
   partition's entries (every entry of its buckets) are grouped on one worker, sorted,
   and every bucket of >= 2 members becomes a star of edges to its smallest id
   (``bucket_star_edges``): O(n) edges per bucket, the bucket's whole connectivity.
3. Endpoints (``EdgeEnds``): two joins by partition of id bring each distinct edge its
   two documents' payloads and keep keys; with verification on, an edge is kept only if
   the two documents' Jaccard (estimated from all num_perm values, or exact) reaches
   ``--verify_threshold``; the others are counted (``edges_rejected``). Without the check
   a chain of weak edges (A~B, B~C, ...) merges unrelated documents into one cluster.
   The first join also finds ids read twice.
4. Clusters: ``local``: every kept edge on one worker, SciPy's connected components,
   cluster size and kept document per cluster on arrays. ``distributed``: large-star /
   small-star rounds (``pipelines.dedup.components``) on 128-bit ints, then the summary by
   cluster with combiners. Cluster id = smallest member id; kept = smallest keep key
   (--keep smallest_id, longest_text or earliest_date; ties by id).
5. Annotate: kept documents get ``minhash_cluster`` / ``minhash_cluster_size``, the others
   are removed with ``duplicate_of`` = the kept id. ``local`` hands the cluster of every
   clustered document to one ParDo over the document tables as a side input (bounded like
   the union-find: one entry per document that has a near-duplicate; no document text),
   which sets the three columns of a whole table and splits it into kept and removed rows,
   so documents are not shuffled; only rows of an id read twice are grouped.
   ``distributed`` (and the Dask runner, which recomputes side inputs:
   ``pipelines.beam.runner``) joins by id.

DOCUMENT TABLES. The stage takes and gives Arrow tables of documents
(``pipelines.io.documents``, "DOCUMENT TABLES"; ``document_tables = True`` tells the
dedup job): the sketch reads the id and text columns, the annotation writes three
columns, and no step makes a ``Document`` per row (except for ids read twice and on the
joined path).
"""
from __future__ import annotations

import argparse
import logging
import math
from typing import Iterator, Optional

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.metrics import Metrics

from pipelines.beam.runner import is_dask_pipeline
from pipelines.beam.transforms import BatchDocuments, MergeNamedNumbers, SplitByKind
from pipelines.dedup.components import DEFAULT_MAX_ROUNDS, DistributedComponents
from pipelines.io.documents import (
    documents_to_table,
    load_table,
    table_to_documents,
    with_drop_reason,
)
from pipelines.progress import Progress
from pipelines.stages import minhash_graph as graph
from pipelines.stages.base import Document
from pipelines.stages.minhash import (
    DEFAULT_BANDS,
    DEFAULT_NGRAM,
    DEFAULT_NUM_PERM,
    DEFAULT_ROWS,
    DEFAULT_SEED,
    DEFAULT_VERIFY,
    DEFAULT_VERIFY_THRESHOLD,
    VERIFY_MODES,
    MinHashConfig,
    MinHasher,
    band_keys,
    exact_jaccard,
)

STAGE = "minhash"
KEEP_RULES = ("smallest_id", "longest_text", "earliest_date")
COMPONENT_MODES = ("auto", "distributed", "local")
# --components=auto uses the single-worker components up to this many input documents.
DEFAULT_LOCAL_MAX_DOCS = 1_000_000
# Documents per partition of the bucket and endpoint joins when --minhash_partitions is
# not given: ~1 KB of band entries (37 x 26 bytes) and ~0.9 KB of signature per document,
# so a partition holds ~200 MB of arrays on one worker.
DOCS_PER_PARTITION = 100_000
DEFAULT_BATCH_SIZE = 2048

log = logging.getLogger(__name__)

U64 = np.uint64


def keep_key(doc: Document, rule: str) -> tuple:
    """Sort key: the smallest key in a cluster is the document we keep."""
    if rule == "longest_text":
        return (-len(doc.text), doc.id)
    if rule == "earliest_date":
        # Documents without a date sort after dated ones.
        return (0 if doc.warc_date else 1, doc.warc_date, doc.id)
    return (doc.id,)


# Multi-output steps yield (tag, value) and are split with SplitByKind (Dask limit 1 in
# pipelines.beam.runner).
MAIN, METRIC, REMOVED, DUP = "main", "metric", "removed", "dup"


def _take(arrays: dict, rows: np.ndarray) -> dict:
    """The rows of every per-document column (None columns stay None)."""
    out = {}
    for name, col in arrays.items():
        if col is None:
            out[name] = None
        elif isinstance(col, list):
            out[name] = [col[i] for i in rows.tolist()]
        else:
            out[name] = col[rows]
    return out


def _concat(parts: list[dict]) -> dict:
    """Columns of several array dicts, concatenated (list columns joined)."""
    out = {}
    for name in parts[0]:
        cols = [p[name] for p in parts]
        if cols[0] is None:
            out[name] = None
        elif isinstance(cols[0], list):
            out[name] = [x for c in cols for x in c]
        else:
            out[name] = np.concatenate(cols)
    return out


# ------------------------------------------------------------------------ 1. sketches
class SketchBatch(beam.DoFn):
    """Document table (or list of documents) -> one dict of arrays (documents with shingles only):
    ``hi``/``lo`` compact ids, ``bands`` (n x bands band hashes), ``length`` (characters,
    for --keep longest_text), ``date`` (for --keep earliest_date, else None), ``payload``
    (signature rows, a list of shingle sets, or None); ``no_shingles``: how many documents
    of the batch had no word (each its own cluster)."""

    def __init__(self, config: MinHashConfig, keep: str):
        self.config, self.keep = config, keep
        self.hasher: Optional[MinHasher] = None

    def setup(self):
        self.hasher = MinHasher(self.config)
        _ = self.hasher.permutations  # draw the permutations once per worker
        self.no_shingles = Metrics.counter(STAGE, "documents_without_shingles")
        self.progress = Progress("minhash", "documents hashed", 50_000)

    def process(self, batch) -> Iterator[dict]:
        if not isinstance(batch, list):  # a document-table element: read the columns needed
            table = load_table(batch, ["id", "text"] + (["warc_date"] if self.keep == "earliest_date" else []))
            texts = table.column("text").to_pylist()
            ids = table.column("id").to_pylist()
            dates = table.column("warc_date").to_pylist() if self.keep == "earliest_date" else None
        else:
            texts, ids = [d.text for d in batch], [d.id for d in batch]
            dates = [d.warc_date for d in batch] if self.keep == "earliest_date" else None
        if not texts:
            return
        sig, n_sh = self.hasher.signatures(texts)
        rows = np.flatnonzero(n_sh > 0)
        self.progress.add(len(texts))
        if rows.size < len(texts):
            self.no_shingles.inc(len(texts) - rows.size)
        hi, lo = graph.compact_ids([ids[i] for i in rows.tolist()])
        payload = None
        if self.config.verify == "signature":
            payload = sig[rows]
        elif self.config.verify == "exact":
            payload = self.hasher.shingle_sets([texts[i] for i in rows.tolist()])
        yield {
            "hi": hi, "lo": lo,
            "bands": band_keys(sig[rows], self.config.bands, self.config.rows),
            "length": np.fromiter((len(texts[i]) for i in rows.tolist()), np.int64, rows.size),
            "date": ([dates[i] or "" for i in rows.tolist()] if dates is not None else None),
            "payload": payload,
            "no_shingles": len(texts) - int(rows.size),
        }


def _node_columns(sketch: dict) -> dict:
    return {k: sketch[k] for k in ("hi", "lo", "length", "date", "payload")}


def _by_partition(values: np.ndarray, partitions: int) -> list[tuple[int, np.ndarray]]:
    """(partition, rows) for every partition that has rows."""
    if partitions == 1:
        return [(0, np.arange(values.size))] if values.size else []
    part = graph.partition_of(values, partitions)
    order = np.argsort(part, kind="stable")
    bounds = np.searchsorted(part[order], np.arange(partitions + 1))
    return [(p, order[bounds[p]:bounds[p + 1]]) for p in range(partitions) if bounds[p + 1] > bounds[p]]


# ------------------------------------------------------------------------- 2. buckets
def _band_entries(sketch: dict, partitions: int) -> list:
    """A batch's band entries, one (partition, arrays) element per partition."""
    n, bands = sketch["bands"].shape
    if n == 0:
        return []
    key = sketch["bands"].ravel()
    entries = {"band": np.tile(np.arange(bands, dtype=np.uint16), n), "key": key,
               "hi": np.repeat(sketch["hi"], bands), "lo": np.repeat(sketch["lo"], bands)}
    return [(p, _take(entries, rows)) for p, rows in _by_partition(key, partitions)]


def _star_metrics(star: dict) -> list:
    """Only counts that are not zero, as when every bucket and edge was an element."""
    out = [(METRIC, (name, star[name])) for name in ("candidate_edges", "buckets_with_candidates") if star[name]]
    if star["largest_bucket"]:
        out.append((METRIC, ("max:largest_bucket", star["largest_bucket"])))
    return out


def _bucket_edges(element, partitions: int) -> list:
    """One partition of band entries -> its star edges, keyed by the partition of their
    first end (the next join's key), and its counts."""
    _, parts = element
    e = _concat(list(parts))
    star = graph.bucket_star_edges(e["band"], e["key"], e["hi"], e["lo"])
    out = _star_metrics(star)
    edges = {k: star[k] for k in ("u_hi", "u_lo", "v_hi", "v_lo")}
    out += [(MAIN, (p, ("edges", _take(edges, rows)))) for p, rows in _by_partition(edges["u_lo"], partitions)]
    return out


def _no_shingles(sketch: dict) -> list:
    return [("documents_without_shingles", sketch["no_shingles"])] if sketch["no_shingles"] else []


class CandidateEdges(beam.PTransform):
    """Documents -> {MAIN: (partition of u, ("edges", distinct star edges u -> smallest
    member v as compact-id arrays)), METRIC: (name, number), "sketches": the batches}."""

    def __init__(self, config: MinHashConfig, keep: str = "smallest_id", partitions: int = 1,
                 batch_size: int = DEFAULT_BATCH_SIZE, tables: bool = False):
        super().__init__()
        self.config, self.keep, self.partitions, self.batch_size = config, keep, partitions, batch_size
        self.tables = tables

    def expand(self, docs):
        """``docs``: document tables (one sketch per table), or with ``tables=False``
        Documents, batched here."""
        parts = self.partitions
        if not self.tables:
            docs = docs | "Batch" >> BatchDocuments(min_batch_size=min(64, self.batch_size),
                                                    max_batch_size=self.batch_size)
        sketches = docs | "Sketch" >> beam.ParDo(SketchBatch(self.config, self.keep))
        buckets = (
            sketches
            | "BandEntries" >> beam.FlatMap(_band_entries, parts)
            | "GroupBuckets" >> beam.GroupByKey()
            | "BucketEdges" >> beam.FlatMap(_bucket_edges, parts)
            | "BucketEdgesOut" >> SplitByKind([MAIN, METRIC])
        )
        no_shingles = sketches | "NoShingles" >> beam.FlatMap(_no_shingles)
        metrics = (buckets[METRIC], no_shingles) | "CandidateMetrics" >> beam.Flatten()
        return {MAIN: buckets[MAIN], METRIC: metrics, "sketches": sketches}


# --------------------------------------------------------------------- 3. edge ends
def _nodes(sketch: dict, partitions: int) -> list:
    """A batch's documents (ids, keep-key columns, payloads) by partition of id."""
    cols = _node_columns(sketch)
    return [(p, ("nodes", _take(cols, rows))) for p, rows in _by_partition(cols["lo"], partitions)]


def _payload_bytes(payload, rows: np.ndarray) -> list[bytes]:
    return [payload[i].tobytes() for i in rows.tolist()]


def _distinct_nodes(nodes: list[dict]) -> tuple[dict, list[int]]:
    """One row per id (an id read twice keeps the copy with the smallest payload, as the
    old join did; its keep key is the smallest of its copies) and the ids read twice."""
    cols = _concat(nodes)
    n = cols["hi"].size
    _, _, ranks = graph.dense_ranks(cols["hi"], cols["lo"])
    if np.bincount(ranks, minlength=1).max(initial=1) <= 1:
        return cols, []
    payload = _payload_bytes(cols["payload"], np.arange(n)) if cols["payload"] is not None else None
    rows = graph.first_of_each_id(cols["hi"], cols["lo"], payload)
    counts = np.bincount(ranks)
    twice = np.flatnonzero(counts[ranks] > 1)
    out = _take(cols, rows)
    # Keep key of an id read twice: the smallest of its copies (longest text, earliest date).
    for r in np.flatnonzero(counts[ranks[rows]] > 1).tolist():
        copies = twice[ranks[twice] == ranks[rows[r]]]
        out["length"][r] = cols["length"][copies].max()
        if out["date"] is not None:
            dates = [cols["date"][i] for i in copies.tolist()]
            out["date"][r] = min(dates, key=lambda d: (0 if d else 1, d))
    dup = sorted(set(graph.as_ints(cols["hi"][twice], cols["lo"][twice])))
    return out, dup


def _group(parts) -> tuple[list[dict], list[dict]]:
    nodes, other = [], []
    for kind, arrays in parts:
        (nodes if kind == "nodes" else other).append(arrays)
    return nodes, other


_END_COLUMNS = ("length", "date", "payload")


def _first_ends(element, partitions: int) -> list:
    """Partition of ids: its documents and the edges whose first end u is here -> each
    distinct edge with u's columns, keyed by the partition of v; and the ids read twice."""
    _, parts = element
    nodes, edges = _group(parts)
    if not nodes:
        return []  # not reached: every edge end has shingles, hence a node row
    cols, dup = _distinct_nodes(nodes)
    out = [(DUP, dup)] if dup else []
    if not edges:
        return out
    e = _concat(edges)
    pair = np.unique(np.stack([e["u_hi"], e["u_lo"], e["v_hi"], e["v_lo"]], axis=1), axis=0)
    e = {"u_hi": pair[:, 0], "u_lo": pair[:, 1], "v_hi": pair[:, 2], "v_lo": pair[:, 3]}
    at = graph.lookup(e["u_hi"], e["u_lo"], cols["hi"], cols["lo"])
    e.update({f"u_{c}": _take({c: cols[c]}, at)[c] for c in _END_COLUMNS})
    out += [(MAIN, (p, ("half", _take(e, rows)))) for p, rows in _by_partition(e["v_lo"], partitions)]
    return out


def _second_ends(element, mode: str, threshold: float) -> list:
    """Partition of ids: its documents and the half-edges whose v is here -> edges with
    both ends' keep columns; with verification, only the edges similar enough (counted)."""
    _, parts = element
    nodes, halves = _group(parts)
    if not halves or not nodes:
        return []
    cols, _ = _distinct_nodes(nodes)
    e = _concat(halves)
    at = graph.lookup(e["v_hi"], e["v_lo"], cols["hi"], cols["lo"])
    e.update({f"v_{c}": _take({c: cols[c]}, at)[c] for c in _END_COLUMNS})
    out = []
    if mode != "none":
        if mode == "exact":
            sim = np.array([exact_jaccard(a, b) for a, b in zip(e["u_payload"], e["v_payload"])])
        else:
            sim = graph.signature_similarity(e["u_payload"], e["v_payload"])
        ok = sim >= threshold
        Metrics.counter(STAGE, "edges_checked").inc(int(ok.size))
        Metrics.counter(STAGE, "edges_rejected").inc(int((~ok).sum()))
        out += [(METRIC, ("edges_checked", int(ok.size))), (METRIC, ("edges_rejected", int((~ok).sum())))]
        e = _take(e, np.flatnonzero(ok))
    e.pop("u_payload"), e.pop("v_payload")
    if e["u_hi"].size:
        out.append((MAIN, e))
    return out


class EdgeEnds(beam.PTransform):
    """{"edges": CandidateEdges' MAIN, "sketches"} -> {MAIN: edge arrays with both ends'
    keep columns (verified unless mode "none"), METRIC, DUP: lists of ids read twice}.

    Why two joins by partition of id and not a check inside the band bucket: a bucket
    only knows ids, and carrying every payload with every band entry would shuffle
    ``bands`` copies of it (37 x 896 bytes per document at the default) instead of two.
    """

    def __init__(self, mode: str, threshold: float, partitions: int):
        super().__init__()
        if mode not in VERIFY_MODES:
            raise ValueError(f"verify mode must be one of {VERIFY_MODES}, got {mode!r}")
        self.mode, self.threshold, self.partitions = mode, threshold, partitions

    def expand(self, inputs):
        parts = self.partitions
        nodes = inputs["sketches"] | "Nodes" >> beam.FlatMap(_nodes, parts)
        first = (
            (nodes, inputs["edges"])
            | "FirstEndInputs" >> beam.Flatten()
            | "GroupFirstEnds" >> beam.GroupByKey()
            | "FirstEnds" >> beam.FlatMap(_first_ends, parts)
            | "FirstEndsOut" >> SplitByKind([MAIN, DUP])
        )
        second = (
            (nodes, first[MAIN])
            | "SecondEndInputs" >> beam.Flatten()
            | "GroupSecondEnds" >> beam.GroupByKey()
            | "SecondEnds" >> beam.FlatMap(_second_ends, self.mode, self.threshold)
            | "SecondEndsOut" >> SplitByKind([MAIN, METRIC])
        )
        return {MAIN: second[MAIN], METRIC: second[METRIC], DUP: first[DUP]}


# ------------------------------------------------- 2. + 3. on one partition, one group
def _one_partition(element, mode: str, threshold: float) -> list:
    """Steps 2 and 3 with one partition: every sketch in one group -> what
    ``CandidateEdges`` and ``EdgeEnds`` give (their functions, in order, on the group).
    With one partition every join of those steps has one key, so grouping the sketches
    once replaces three shuffles (band entries, documents twice, half edges) by one of
    the sketches, which are smaller than the band entries made from them."""
    _, sketches = element
    sketches = [s for s in sketches if s["hi"].size]
    if not sketches:
        return []
    cols = _concat([{k: s[k] for k in ("bands", "hi", "lo")} for s in sketches])
    star = graph.band_matrix_star_edges(cols["bands"], cols["hi"], cols["lo"])
    out = _star_metrics(star)
    nodes = [("nodes", _node_columns(sketch)) for sketch in sketches]
    edges = [("edges", {k: star[k] for k in ("u_hi", "u_lo", "v_hi", "v_lo")})] if star["u_hi"].size else []
    first = _first_ends((0, nodes + edges), 1)
    out += [item for item in first if item[0] == DUP]
    halves = [value[1] for kind, value in first if kind == MAIN]
    return out + _second_ends((0, nodes + halves), mode, threshold)


class OnePartitionEdges(beam.PTransform):
    """Sketches -> {MAIN, METRIC, DUP} as ``EdgeEnds`` gives them (plus the candidate
    metrics), for ``--minhash_partitions 1``: ``_one_partition``."""

    def __init__(self, mode: str, threshold: float):
        super().__init__()
        self.mode, self.threshold = mode, threshold

    def expand(self, sketches):
        return (
            sketches
            | "ToOne" >> beam.Map(lambda s: (0, s))
            | "GroupSketches" >> beam.GroupByKey()
            | "BucketsAndEnds" >> beam.FlatMap(_one_partition, self.mode, self.threshold)
            | "BucketsAndEndsOut" >> SplitByKind([MAIN, METRIC, DUP])
        )


# ------------------------------------------------------------------------ 4. clusters
def _keep_sort(keep: str, length: np.ndarray, date) -> list[np.ndarray]:
    """np.lexsort keys (least significant first) of the keep rule, before the id."""
    if keep == "longest_text":
        return [-length]
    if keep == "earliest_date":
        dates = np.array(date, dtype=str) if len(date) else np.zeros(0, dtype=str)
        return [dates, (dates == "").astype(np.int8)]
    return []


def _node_table(e: dict) -> tuple:
    """Edges with end columns -> (node hi, lo, length, date) of each distinct node, id order."""
    hi = np.concatenate([e["u_hi"], e["v_hi"]])
    lo = np.concatenate([e["u_lo"], e["v_lo"]])
    nh, nl, ranks = graph.dense_ranks(hi, lo)
    first = np.full(nh.size, hi.size, np.int64)
    np.minimum.at(first, ranks, np.arange(hi.size))
    length = np.concatenate([e["u_length"], e["v_length"]])[first]
    date = None
    if e["u_date"] is not None:
        both = list(e["u_date"]) + list(e["v_date"])
        date = [both[i] for i in first.tolist()]
    return nh, nl, length, date


def _local_clusters(element, keep: str, names: dict) -> dict:
    """Every kept edge and every id read twice on one worker -> {"info": {document id:
    (cluster id, size, kept id)} for documents in clusters, "twice": ids read twice}."""
    _, parts = element
    edges, twice = [], set()
    for kind, value in parts:
        if kind == "edges":
            edges.append(value)
        else:
            twice.update(value)
    info = {}
    if edges:
        e = _concat(edges)
        nh, nl, comp = graph.connected_labels(e["u_hi"], e["u_lo"], e["v_hi"], e["v_lo"])
        th, tl, length, date = _node_table(e)
        assert np.array_equal(nh, th) and np.array_equal(nl, tl)
        cluster, size, keeper = graph.cluster_summary(comp, _keep_sort(keep, length, date))
        ids = [graph.compact_name(i, names) for i in graph.as_ints(nh, nl)]
        for i, c, s, k in zip(ids, cluster.tolist(), size.tolist(), keeper.tolist()):
            info[i] = (ids[c], s, ids[k])
    return {"info": info, "twice": {graph.compact_name(i, names) for i in twice}}


class LocalClusters(beam.PTransform):
    """{MAIN: kept edges, DUP: ids read twice} -> one dict (``_local_clusters``)."""

    def __init__(self, keep: str):
        super().__init__()
        self.keep = keep

    def expand(self, inputs):
        edges = inputs[MAIN] | "EdgesToOne" >> beam.Map(lambda e: (0, ("edges", e)))
        twice = inputs[DUP] | "TwiceToOne" >> beam.Map(lambda d: (0, ("twice", d)))
        seed = inputs[MAIN].pipeline | "Nothing" >> beam.Create([(0, ("twice", []))])  # an empty input still gives a dict
        return (
            (edges, twice, seed)
            | "AllToOne" >> beam.Flatten()
            | "OneWorker" >> beam.GroupByKey()
            | "Clusters" >> beam.Map(_local_clusters, self.keep, beam.pvalue.AsDict(inputs["names"]))
        )


def _edge_ints(e: dict, keep: str) -> list:
    """Edge arrays -> ("edge", (u, v)) and ("key", (node, keep key)) elements, ints."""
    u, v = graph.as_ints(e["u_hi"], e["u_lo"]), graph.as_ints(e["v_hi"], e["v_lo"])
    out = [("edge", (a, b)) for a, b in zip(u, v)]
    for end, ids in (("u", u), ("v", v)):
        length = e[f"{end}_length"].tolist()
        date = e[f"{end}_date"]
        for i, node in enumerate(ids):
            if keep == "longest_text":
                key = (-length[i], node)
            elif keep == "earliest_date":
                key = (0 if date[i] else 1, date[i], node)
            else:
                key = (node,)
            out.append(("key", (node, key)))
    return out


class DistributedClusters(beam.PTransform):
    """{MAIN: kept edges} -> {"info": (document id, (cluster id, size, kept id)) for every
    document in a cluster, "stats": the components' round stats}; no worker holds more
    than one node's neighbours or one cluster's accumulator."""

    def __init__(self, keep: str, max_rounds: int):
        super().__init__()
        self.keep, self.max_rounds = keep, max_rounds

    def expand(self, inputs):
        ints = inputs[MAIN] | "EdgeInts" >> beam.FlatMap(_edge_ints, self.keep) | "EdgeIntsOut" >> SplitByKind(["edge", "key"])
        comp = ints["edge"] | "Components" >> DistributedComponents(self.max_rounds)
        keys = ints["key"] | "KeepKeyPerNode" >> beam.CombinePerKey(min)
        members = (
            {"label": comp["labels"], "key": keys}
            | "JoinKeepKeys" >> beam.CoGroupByKey()
            | "MemberOfCluster" >> beam.FlatMap(_member_of_cluster)
        )
        summaries = members | "ClusterSummary" >> beam.CombinePerKey(_ClusterSummary())
        info = (
            {"summary": summaries, "member": members}
            | "JoinSummary" >> beam.CoGroupByKey()
            | "InfoPerMember" >> beam.FlatMap(_info_per_member, beam.pvalue.AsDict(inputs["names"]))
        )
        return {"info": info, "stats": comp["stats"]}


def _member_of_cluster(element) -> list:
    node, joined = element
    labels, keys = list(joined["label"]), list(joined["key"])
    return [(labels[0], (min(keys), node))] if labels and keys else []


class _ClusterSummary(beam.CombineFn):
    """(keep key, id) members -> (size, id of the member with the smallest keep key)."""

    def create_accumulator(self):
        return (0, None)

    def add_input(self, acc, member):
        n, best = acc
        return n + 1, member if best is None or member < best else best

    def merge_accumulators(self, accs):
        n, best = 0, None
        for m, b in accs:
            n += m
            if b is not None and (best is None or b < best):
                best = b
        return n, best

    def extract_output(self, acc):
        n, best = acc
        return n, best[1]


def _info_per_member(element, names: dict) -> list:
    cluster, joined = element
    summary = list(joined["summary"])
    if not summary:
        return []
    size, keeper = summary[0]
    c, k = graph.compact_name(cluster, names), graph.compact_name(keeper, names)
    return [(graph.compact_name(node, names), (c, size, k)) for _, node in joined["member"]]


def _non_canonical_in_table(element) -> list:
    """(compact int, id) of every id of a document table that is hashed, not hex-decoded
    (module docstring); a table whose ids are all 32 hex digits has none."""
    ids = load_table(element, ["id"]).column("id")
    if pc.all(pc.match_substring_regex(ids, "^[0-9a-f]{32}$")).as_py() is not False:
        return []
    return [(graph.compact_int(i), i) for i in ids.to_pylist() if not graph.is_canonical_id(i)]


# ------------------------------------------------------------------------ 5. annotate
def _annotate_one(doc: Document, info: tuple) -> list:
    cluster, size, keeper = info
    if keeper == doc.id:
        return [(MAIN, doc.replace(minhash_cluster=cluster, minhash_cluster_size=size, duplicate_of=None))]
    return [(REMOVED, (doc.replace(minhash_cluster=cluster, minhash_cluster_size=size, duplicate_of=keeper),
                       "duplicate"))]


def _annotate_rows(doc_id: str, docs: list, infos: list) -> list:
    """All rows of one id and its cluster (if any): the first row by (text, url, date) is
    annotated, every other row is removed as ``duplicate_id``, pointing to the document its
    cluster keeps. (FlatMap functions here return lists, not generators with an early
    ``return``: Beam warns about "yield and return" in every run otherwise.)"""
    docs = sorted(docs, key=lambda d: (d.text, d.url, d.warc_date))
    if not docs:
        return []
    first, extra = docs[0], docs[1:]
    info = infos[0] if infos else (first.id, 1, first.id)
    out = _annotate_one(first, info)
    cluster, size, keeper = info
    for doc in extra:
        dup = doc.replace(minhash_cluster=cluster, minhash_cluster_size=size, duplicate_of=keeper)
        out.append((REMOVED, (dup, "duplicate_id")))
    return out


def _annotate_joined(element) -> list:
    doc_id, joined = element
    return _annotate_rows(doc_id, list(joined["doc"]), list(joined["info"]))


def _annotate_twice(element, clusters: dict) -> list:
    doc_id, docs = element
    info = clusters["info"].get(doc_id)
    return _annotate_rows(doc_id, list(docs), [info] if info else [])


def _set_columns(table: pa.Table, columns: dict) -> pa.Table:
    for name, values in columns.items():
        table = table.set_column(table.schema.get_field_index(name), table.schema.field(name), values)
    return table


class _TwiceRows(beam.DoFn):
    """Document table + the local clusters (side input) -> (id, Document) of every row
    whose id was read twice (reads the id column; the rows only where one matches)."""

    def process(self, element, clusters: dict) -> Iterator:
        twice = clusters["twice"]
        if not twice:
            return
        rows = [i for i, doc_id in enumerate(load_table(element, ["id"]).column("id").to_pylist()) if doc_id in twice]
        if rows:
            for doc in table_to_documents(load_table(element).take(rows)):
                yield doc.id, doc


class _AnnotateTable(beam.DoFn):
    """Document table + the local clusters (side input) -> MAIN: its kept rows, REMOVED:
    its duplicates (``drop_reason`` "duplicate"), each with the three cluster columns as
    ``_annotate_one`` sets them; rows of an id read twice are left out. Or (id, rows
    read under that id) from ``_TwiceRows`` -> ``_annotate_rows``' outcome as tables."""

    def process(self, element, clusters: dict) -> Iterator:
        if isinstance(element, tuple):
            out = _annotate_twice(element, clusters)
            kept = [value for kind, value in out if kind == MAIN]
            removed = [value for kind, value in out if kind == REMOVED]
            if kept:
                yield MAIN, documents_to_table(kept)
            if removed:
                yield REMOVED, documents_to_table(removed)
            return
        table = load_table(element)
        info, twice = clusters["info"], clusters["twice"]
        ids = table.column("id").to_pylist()
        cluster, size, duplicate_of = list(ids), [1] * len(ids), [None] * len(ids)
        removed = np.zeros(len(ids), bool)
        dup_rows = []
        for i, doc_id in enumerate(ids):
            if doc_id in twice:
                dup_rows.append(i)
                continue
            found = info.get(doc_id)
            if found is not None:
                cluster[i], size[i], keeper = found
                if keeper != doc_id:
                    duplicate_of[i] = keeper
                    removed[i] = True
        table = _set_columns(table, {"minhash_cluster": pa.array(cluster, pa.string()),
                                     "minhash_cluster_size": pa.array(size, pa.int64()),
                                     "duplicate_of": pa.array(duplicate_of, pa.string())})
        kept = ~removed
        kept[dup_rows] = False
        if kept.all():
            yield MAIN, table
            return
        if kept.any():
            yield MAIN, table.filter(pa.array(kept))
        if removed.any():
            yield REMOVED, with_drop_reason(table.filter(pa.array(removed)), "duplicate")


def _size_counts(table) -> list:
    """(cluster size as a string, documents) of a table of kept documents (or of one)."""
    if isinstance(table, Document):
        return [(str(table.minhash_cluster_size), 1)]
    counts = pc.value_counts(table.column("minhash_cluster_size")).to_pylist()
    return [(str(c["values"]), c["counts"]) for c in counts]


class MinhashDedup(beam.PTransform):
    """The ``minhash`` dedup stage: see the module docstring and ``pipelines.dedup``."""

    name_in_stats = STAGE
    # expand takes and gives document tables (pipelines.io.documents; the job converts).
    document_tables = True

    def __init__(self, config: MinHashConfig = MinHashConfig(), keep: str = "smallest_id",
                 components: str = "distributed", max_rounds: int = DEFAULT_MAX_ROUNDS,
                 batch_size: int = DEFAULT_BATCH_SIZE, partitions: int = 1):
        super().__init__()
        if keep not in KEEP_RULES:
            raise ValueError(f"--keep must be one of {', '.join(KEEP_RULES)}, got {keep!r}")
        if components not in ("distributed", "local"):
            raise ValueError("components must be resolved to 'distributed' or 'local' (see from_args)")
        self.config = config
        self.keep = keep
        self.components = components
        self.max_rounds = max_rounds
        self.batch_size = batch_size
        if partitions < 1:
            raise ValueError("--minhash_partitions must be >= 1")
        self.partitions = partitions

    # ------------------------------------------------------------------ command line
    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        g = parser.add_argument_group("minhash stage")
        g.add_argument("--num_perm", type=int, default=DEFAULT_NUM_PERM,
                       help=f"number of MinHash permutations (default {DEFAULT_NUM_PERM})")
        g.add_argument("--bands", type=int, default=None, help=f"LSH bands (default {DEFAULT_BANDS})")
        g.add_argument("--rows", type=int, default=None, help=f"rows per band (default {DEFAULT_ROWS})")
        g.add_argument("--threshold", type=float, default=None,
                       help="Jaccard threshold; derives --bands/--rows like datasketch's MinHashLSH "
                            "(cannot be combined with --bands/--rows)")
        g.add_argument("--verify", choices=VERIFY_MODES, default=DEFAULT_VERIFY,
                       help="check every LSH candidate edge before clustering: on the whole signatures "
                            "(estimated Jaccard), on the exact shingle sets, or not at all "
                            f"(default {DEFAULT_VERIFY})")
        g.add_argument("--verify_threshold", type=float, default=DEFAULT_VERIFY_THRESHOLD,
                       help="a candidate edge is kept when its Jaccard reaches this "
                            f"(default {DEFAULT_VERIFY_THRESHOLD}, measured: docs/dedup.md)")
        g.add_argument("--ngram", type=int, default=DEFAULT_NGRAM, help="words per shingle (default 5)")
        g.add_argument("--minhash_seed", type=int, default=DEFAULT_SEED,
                       help="seed of the permutations (datasketch's MinHash seed)")
        g.add_argument("--keep", choices=KEEP_RULES, default="smallest_id",
                       help="which document of a duplicate cluster survives")
        g.add_argument("--components", choices=COMPONENT_MODES, default="auto",
                       help="connected components: union-find on one worker (local), "
                            "large-star/small-star rounds (distributed), or auto by input size")
        g.add_argument("--local_components_max_docs", type=int, default=DEFAULT_LOCAL_MAX_DOCS,
                       help="--components=auto picks local up to this many input documents")
        g.add_argument("--max_rounds", type=int, default=DEFAULT_MAX_ROUNDS,
                       help="rounds unrolled for distributed components (stats say if they converged)")
        g.add_argument("--minhash_partitions", type=int, default=None,
                       help="partitions of the band buckets and of the edge checks, each grouped on one "
                            f"worker (default: one per {DOCS_PER_PARTITION:,} input documents)")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "MinhashDedup":
        verification = {"verify": args.verify, "verify_threshold": args.verify_threshold}
        if args.threshold is not None:
            if args.bands is not None or args.rows is not None:
                raise ValueError("give either --threshold or --bands/--rows, not both")
            config = MinHashConfig.from_threshold(args.threshold, num_perm=args.num_perm,
                                                  ngram=args.ngram, seed=args.minhash_seed, **verification)
        else:
            config = MinHashConfig(num_perm=args.num_perm,
                                   bands=args.bands if args.bands is not None else DEFAULT_BANDS,
                                   rows=args.rows if args.rows is not None else DEFAULT_ROWS,
                                   ngram=args.ngram, seed=args.minhash_seed, **verification)
        mode = args.components
        if mode == "auto":
            # dedup.py counts the input rows from Parquet footers (cheap) before building the graph.
            n = getattr(args, "input_documents", None)
            mode = "local" if n is not None and n <= args.local_components_max_docs else "distributed"
        partitions = getattr(args, "minhash_partitions", None)
        if partitions is None:
            n = getattr(args, "input_documents", None) or 0
            partitions = max(1, math.ceil(n / DOCS_PER_PARTITION))
        return cls(config=config, keep=args.keep, components=mode, max_rounds=args.max_rounds,
                   partitions=partitions)

    # ---------------------------------------------------------------------- pipeline
    def expand(self, docs):
        config, keep = self.config, self.keep
        verify = config.verify != "none"
        names = docs | "NonCanonicalIds" >> beam.FlatMap(_non_canonical_in_table)
        if self.partitions == 1:
            sketches = docs | "Sketch" >> beam.ParDo(SketchBatch(config, keep))
            ends = sketches | "EdgeEnds" >> OnePartitionEdges(config.verify, config.verify_threshold)
            no_shingles = sketches | "NoShingles" >> beam.FlatMap(_no_shingles)
            metric_pcolls = [no_shingles, ends[METRIC]]
        else:
            candidates = docs | "Candidates" >> CandidateEdges(config, keep, self.partitions, self.batch_size,
                                                               tables=True)
            ends = ({"edges": candidates[MAIN], "sketches": candidates["sketches"]}
                    | "EdgeEnds" >> EdgeEnds(config.verify, config.verify_threshold, self.partitions))
            metric_pcolls = [candidates[METRIC], ends[METRIC]]

        if self.components == "local":
            clusters = {MAIN: ends[MAIN], DUP: ends[DUP], "names": names} | "Clusters" >> LocalClusters(keep)
            comp_stats = docs.pipeline | "ComponentStats" >> beam.Create([{"mode": "local"}])
        else:
            comp = {MAIN: ends[MAIN], "names": names} | "Clusters" >> DistributedClusters(keep, self.max_rounds)
            comp_stats = (
                comp["stats"]
                | "ComponentStatsDict" >> beam.combiners.ToDict()
                | "AddMode" >> beam.Map(lambda d: {"mode": "distributed", **d})
            )

        if self.components == "local" and not is_dask_pipeline(docs.pipeline):
            # Documents are not shuffled: each looks its cluster up in the side input.
            # Rows of an id read twice are grouped by id first and join the document
            # tables at the annotation's input, so kept and removed each come out of one
            # step: the DirectRunner materializes every Flatten of several inputs, and a
            # Flatten of the outputs would copy every annotated document once more.
            side = beam.pvalue.AsSingleton(clusters)
            twice = (
                docs
                | "TwiceRows" >> beam.ParDo(_TwiceRows(), side)
                | "GroupTwice" >> beam.GroupByKey()
            )
            annotated = (
                (docs, twice)
                | "TablesAndTwice" >> beam.Flatten()
                | "Annotate" >> beam.ParDo(_AnnotateTable(), side)
                | "AnnotateOut" >> SplitByKind([MAIN, REMOVED])
            )
            kept, removed = annotated[MAIN], annotated[REMOVED]
        else:
            info = (clusters | "InfoItems" >> beam.FlatMap(lambda c: sorted(c["info"].items()))
                    if self.components == "local" else comp["info"])
            keyed = docs | "KeyById" >> beam.FlatMap(lambda t: [(d.id, d) for d in table_to_documents(t)])
            joined = (
                {"doc": keyed, "info": info}
                | "JoinDocs" >> beam.CoGroupByKey()
                | "Annotate" >> beam.FlatMap(_annotate_joined)
                | "AnnotateOut" >> SplitByKind([MAIN, REMOVED])
            )
            # Documents and (Document, reason) pairs, which the job's writer and the next
            # stage take as they are (batching them into tables would make one-row tables
            # on Dask, limit 4 in pipelines.beam.runner).
            kept, removed = joined[MAIN], joined[REMOVED]

        histogram = (
            kept
            | "ClusterSizes" >> beam.FlatMap(_size_counts)
            | "CountSizes" >> beam.CombinePerKey(sum)
            | "SizeHistogram" >> beam.combiners.ToDict()  # one entry per distinct size: bounded
            | "ClusterStats" >> beam.Map(_cluster_stats)
        )
        params = {
            "num_perm": config.num_perm, "bands": config.bands, "rows": config.rows,
            "ngram": config.ngram, "seed": config.seed, "threshold": round(config.threshold, 4),
            "keep": keep, "verify": config.verify,
        }
        if verify:
            # Counted even when no edge was checked (metrics only exist once emitted).
            params.update(verify_threshold=config.verify_threshold, edges_checked=0, edges_rejected=0)
        minhash_stats = (
            metric_pcolls
            | "AllMetrics" >> beam.Flatten()
            | "MergeMetrics" >> beam.CombineGlobally(MergeNamedNumbers())
            | "MinhashStats" >> beam.Map(
                lambda m, comp: ("minhash", {**params, **m, "components": comp}),
                comp=beam.pvalue.AsSingleton(comp_stats))
        )
        stats = (histogram, minhash_stats) | "Stats" >> beam.Flatten()
        return {"kept": kept, "removed": removed, "stats": stats}


def _cluster_stats(histogram: dict) -> tuple:
    sizes = {int(k): v for k, v in histogram.items()}
    return "clusters", {
        "count": sum(sizes.values()),
        "duplicate_clusters": sum(v for k, v in sizes.items() if k > 1),
        "size_histogram": {str(k): sizes[k] for k in sorted(sizes)},
    }
