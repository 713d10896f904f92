"""MinHash-LSH fuzzy deduplication as Beam transforms (a stage of ``pipelines.dedup``).

Steps (every one keyed and bounded; no step collects the corpus):
1. ``ComputeBandKeys``: documents in batches -> ``(band key, doc id)`` pairs (a list per
   document, unpacked after the split). The band key
   is 10 bytes: band index (2) + 64-bit hash of the band's rows (8). With verification on,
   also ``(doc id, payload)``: the document's whole signature (num_perm uint64 values as
   bytes) or, with ``--verify exact``, its sorted shingle hashes.
2. ``BucketsToEdges``: group by band key; each bucket with >= 2 members becomes a star of
   edges to its smallest id. That is O(n) edges for an n-member bucket (not n^2 pairs)
   and keeps exactly the connectivity of the bucket. The bucket iterable is streamed twice
   (min, then emit): a huge bucket (boilerplate pages) costs time, not memory.
3. ``VerifyEdges`` (unless ``--verify none``): every distinct candidate edge is checked on
   its two documents' payloads and kept only if their Jaccard (estimated from all
   num_perm values, or exact) reaches ``--verify_threshold``; the others are counted
   (``edges_rejected``). Without it a chain of weak edges (A~B, B~C, ... each sharing one
   band by chance or by a shared paragraph) merges unrelated documents into one cluster.
4. Connected components (``pipelines.dedup.components``): distributed large-star/small-star,
   or union-find on one worker for small inputs.
5. Keep rule: one document per cluster, chosen by (--keep) smallest_id, longest_text or
   earliest_date, ties broken by id; the cluster id is the smallest member id.
6. Join back to the documents by id: kept ones get ``minhash_cluster`` and
   ``minhash_cluster_size``; the others are removed with ``duplicate_of`` = kept id.
"""
from __future__ import annotations

import argparse
import logging
from typing import Iterator, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipelines.beam.transforms import BatchDocuments, MergeNamedNumbers, SplitByKind
from pipelines.dedup.components import DEFAULT_MAX_ROUNDS, DistributedComponents, LocalComponents
from pipelines.progress import Progress
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
    edge_similarity,
)

STAGE = "minhash"
KEEP_RULES = ("smallest_id", "longest_text", "earliest_date")
COMPONENT_MODES = ("auto", "distributed", "local")
# --components=auto uses the single-worker union-find up to this many input documents.
DEFAULT_LOCAL_MAX_DOCS = 1_000_000

log = logging.getLogger(__name__)


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
MAIN, METRIC, REMOVED, PAYLOAD = "main", "metric", "removed", "payload"


class ComputeBandKeys(beam.DoFn):
    """Batch of documents -> per document (MAIN, [(band key bytes, doc id), ...]), and with
    verification on (PAYLOAD, (doc id, payload bytes)); counts documents without shingles."""

    def __init__(self, config: MinHashConfig):
        self.config = config
        self.hasher: Optional[MinHasher] = None

    def setup(self):
        self.hasher = MinHasher(self.config)
        _ = self.hasher.permutations  # draw the permutations once per worker
        self.no_shingles = Metrics.counter(STAGE, "documents_without_shingles")
        self.progress = Progress("minhash", "documents hashed", 50_000)

    def process(self, batch: list[Document]) -> Iterator:
        texts = [d.text for d in batch]
        sig, n_sh = self.hasher.signatures(texts)
        keys = band_keys(sig, self.config.bands, self.config.rows)
        payloads = self.hasher.verify_payloads(texts, sig) if self.config.verify != "none" else None
        self.progress.add(len(batch))
        for i, (doc, row, n) in enumerate(zip(batch, keys, n_sh)):
            if n == 0:
                # Nothing to compare: such a document is its own cluster.
                self.no_shingles.inc()
                yield METRIC, ("documents_without_shingles", 1)
                continue
            # One element per document, not per band: every element of this step passes
            # each filter of SplitByKind, and one element per band cost 7-10 % of the job
            # (docs/dedup.md). "OneKeyPerBand" unpacks the list after the split.
            yield MAIN, [(band.to_bytes(2, "big") + value.to_bytes(8, "big"), doc.id)
                         for band, value in enumerate(row.tolist())]
            if payloads is not None:
                yield PAYLOAD, (doc.id, payloads[i])


class BucketsToEdges(beam.DoFn):
    """(band key, member ids) -> (member, smallest member) for every other member."""

    def process(self, element) -> Iterator:
        _, members = element
        smallest, size = None, 0
        for m in members:
            size += 1
            if smallest is None or m < smallest:
                smallest = m
        if size < 2:
            return
        yield METRIC, ("buckets_with_candidates", 1)
        yield METRIC, ("max:largest_bucket", size)
        for m in members:
            if m != smallest:
                yield MAIN, (m, smallest)


class CandidateEdges(beam.PTransform):
    """Documents -> {MAIN: LSH candidate edges (member, smallest member) of every band
    bucket, one per bucket shared (repeats kept, as the unverified job always had them),
    METRIC: (name, number) pairs, and with verification on PAYLOAD: (id, payload)}."""

    def __init__(self, config: MinHashConfig, batch_size: int = 256):
        super().__init__()
        self.config, self.batch_size = config, batch_size

    def expand(self, docs):
        kinds = [MAIN, METRIC, PAYLOAD] if self.config.verify != "none" else [MAIN, METRIC]
        bands = (
            docs
            | "Batch" >> BatchDocuments(min_batch_size=16, max_batch_size=self.batch_size)
            | "BandKeys" >> beam.ParDo(ComputeBandKeys(self.config))
            | "BandKeysOut" >> SplitByKind(kinds)
        )
        buckets = (
            bands[MAIN]
            | "OneKeyPerBand" >> beam.FlatMap(lambda keys: keys)
            | "GroupBuckets" >> beam.GroupByKey()
            | "BucketEdges" >> beam.ParDo(BucketsToEdges())
            | "BucketEdgesOut" >> SplitByKind([MAIN, METRIC])
        )
        edges = buckets[MAIN]
        metrics = (
            (bands[METRIC], buckets[METRIC], edges | "CountEdges" >> beam.Map(lambda _: ("candidate_edges", 1)))
            | "CandidateMetrics" >> beam.Flatten()
        )
        return {MAIN: edges, METRIC: metrics, **({PAYLOAD: bands[PAYLOAD]} if PAYLOAD in kinds else {})}


class VerifyEdges(beam.PTransform):
    """{"edges": (u, v) candidate edges, "payloads": (id, payload)} -> {MAIN: (u, v) edges
    that pass, METRIC: ("edges_checked" | "edges_rejected", 1)}.

    Why a join by id and not a check inside the band bucket: a bucket only knows ids, and
    carrying every signature with every band key would shuffle ``bands`` copies of each
    signature (37 x 896 bytes per document at the default) instead of one; and a bucket's
    star offers only (member, smallest) pairs anyway. Here each document's payload is
    shuffled once, to its own id, next to its neighbour ids: the repeated candidate edges
    (one per shared band) are made distinct, one CoGroupByKey on ids sends the payload to
    every edge of the document, then a GroupByKey on the edge (smaller id, larger id)
    brings its two payloads together. Bounds: one document's neighbour ids,
    then two payloads per edge; no signature is held per bucket, so a huge bucket of
    boilerplate pages still costs time, not memory.
    """

    def __init__(self, mode: str, threshold: float):
        super().__init__()
        if mode not in VERIFY_MODES or mode == "none":
            raise ValueError(f"VerifyEdges needs mode 'signature' or 'exact', got {mode!r}")
        self.mode, self.threshold = mode, threshold

    def expand(self, inputs):
        # A pair of near-duplicates shares most bands, so most candidate edges are repeats
        # (11 per distinct edge on the 20k benchmark). Distinct combines them before the
        # shuffle (combiner lifting), which costs less than carrying them through the join.
        # Star edges are (member, smallest member): one orientation per pair.
        distinct = inputs["edges"] | "DistinctEdges" >> beam.Distinct()
        ends = (
            {"payload": inputs["payloads"],
             "neighbour": distinct | "BothEnds" >> beam.FlatMap(lambda e: [e, (e[1], e[0])])}
            | "JoinPayloads" >> beam.CoGroupByKey()
            | "PayloadPerEdge" >> beam.FlatMap(_payload_per_edge)
        )
        return (
            ends
            | "GroupEdgeEnds" >> beam.GroupByKey()
            | "CheckEdges" >> beam.ParDo(_CheckEdge(self.mode, self.threshold))
            | "CheckEdgesOut" >> SplitByKind([MAIN, METRIC])
        )


def _payload_per_edge(element) -> list:
    """One document's payload -> ((smaller id, larger id), payload) for each distinct neighbour."""
    doc_id, joined = element
    payloads = list(joined["payload"])
    if not payloads:
        return []  # not reached: every id in an edge has shingles, hence a payload
    # An id read twice (duplicate input rows) has two payloads: take a fixed one.
    payload = min(payloads)
    return [((min(doc_id, n), max(doc_id, n)), payload) for n in sorted(set(joined["neighbour"]))]


class _CheckEdge(beam.DoFn):
    """((u, v), [payload_u, payload_v]) -> MAIN (u, v) if similar enough; counts every edge."""

    def __init__(self, mode: str, threshold: float):
        self.mode, self.threshold = mode, threshold

    def setup(self):
        self.rejected = Metrics.counter(STAGE, "edges_rejected")
        self.checked = Metrics.counter(STAGE, "edges_checked")

    def process(self, element) -> Iterator:
        edge, payloads = element
        ends = list(payloads)
        self.checked.inc()
        yield METRIC, ("edges_checked", 1)
        if len(ends) == 2 and edge_similarity(ends[0], ends[1], self.mode) >= self.threshold:
            yield MAIN, edge
        else:
            self.rejected.inc()
            yield METRIC, ("edges_rejected", 1)


def _annotate(element) -> list:
    """Join of one id: its document(s) and, if it has duplicate candidates, its cluster.

    (FlatMap functions here return lists, not generators with an early ``return``: Beam
    warns about "yield and return" in every run otherwise.)
    """
    doc_id, joined = element
    docs = sorted(joined["doc"], key=lambda d: (d.text, d.url, d.warc_date))
    infos = list(joined["info"])
    if not docs:
        return []
    first, extra = docs[0], docs[1:]
    if infos:
        cluster, size, keeper = infos[0]
    else:
        cluster, size, keeper = first.id, 1, first.id
    if keeper == first.id:
        out = [(MAIN, first.replace(minhash_cluster=cluster, minhash_cluster_size=size, duplicate_of=None))]
    else:
        removed = first.replace(minhash_cluster=cluster, minhash_cluster_size=size, duplicate_of=keeper)
        out = [(REMOVED, (removed, "duplicate"))]
    for doc in extra:
        # Same id twice in the input (e.g. the same record read from two files). It points
        # to the document its cluster keeps, like every removed row (that is the id itself
        # unless the first row is a near-duplicate removed in favour of another document).
        dup = doc.replace(minhash_cluster=cluster, minhash_cluster_size=size, duplicate_of=keeper)
        out.append((REMOVED, (dup, "duplicate_id")))
    return out


class MinhashDedup(beam.PTransform):
    """The ``minhash`` dedup stage: see the module docstring and ``pipelines.dedup``."""

    name_in_stats = STAGE

    def __init__(self, config: MinHashConfig = MinHashConfig(), keep: str = "smallest_id",
                 components: str = "distributed", max_rounds: int = DEFAULT_MAX_ROUNDS,
                 batch_size: int = 256):
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
        return cls(config=config, keep=args.keep, components=mode, max_rounds=args.max_rounds)

    # ---------------------------------------------------------------------- pipeline
    def expand(self, docs):
        config, keep = self.config, self.keep
        verify = config.verify != "none"
        candidates = docs | "Candidates" >> CandidateEdges(config, self.batch_size)
        edges = candidates[MAIN]
        metric_pcolls = [candidates[METRIC]]
        if verify:
            checked = ({"edges": edges, "payloads": candidates[PAYLOAD]}
                       | "VerifyEdges" >> VerifyEdges(config.verify, config.verify_threshold))
            edges = checked[MAIN]
            metric_pcolls.append(checked[METRIC])

        if self.components == "local":
            labels = edges | "Components" >> LocalComponents()
            comp_stats = docs.pipeline | "ComponentStats" >> beam.Create([{"mode": "local"}])
        else:
            comp = edges | "Components" >> DistributedComponents(self.max_rounds)
            labels = comp["labels"]
            comp_stats = (
                comp["stats"]
                | "ComponentStatsDict" >> beam.combiners.ToDict()
                | "AddMode" >> beam.Map(lambda d: {"mode": "distributed", **d})
            )

        # Cluster of each node: size and the document to keep.
        keyed_docs = docs | "KeyById" >> beam.Map(lambda d: (d.id, d))
        keys = docs | "KeepKeys" >> beam.Map(lambda d: (d.id, keep_key(d, keep)))
        members = (
            {"label": labels, "key": keys}
            | "JoinKeepKeys" >> beam.CoGroupByKey()
            | "MemberOfCluster" >> beam.FlatMap(_member_of_cluster)
        )
        summaries = members | "ClusterSummary" >> beam.CombinePerKey(_ClusterSummary())
        info = (
            {"summary": summaries, "member": members}
            | "JoinSummary" >> beam.CoGroupByKey()
            | "InfoPerMember" >> beam.FlatMap(_info_per_member)
        )
        annotated = (
            {"doc": keyed_docs, "info": info}
            | "JoinDocs" >> beam.CoGroupByKey()
            | "Annotate" >> beam.FlatMap(_annotate)
            | "AnnotateOut" >> SplitByKind([MAIN, REMOVED])
        )
        kept, removed = annotated[MAIN], annotated[REMOVED]

        histogram = (
            kept
            | "ClusterSizes" >> beam.Map(lambda d: (str(d.minhash_cluster_size), 1))
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


def _member_of_cluster(element) -> list:
    doc_id, joined = element
    labels, keys = list(joined["label"]), list(joined["key"])
    # No label: no duplicate candidate, a singleton handled at the final join. One member
    # per id, so an id read twice counts once in its cluster's size (the second row is
    # removed as duplicate_id).
    return [(labels[0], (min(keys), doc_id))] if labels and keys else []


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


def _info_per_member(element) -> list:
    cluster, joined = element
    summary = list(joined["summary"])
    if not summary:
        return []
    size, keeper = summary[0]
    return [(doc_id, (cluster, size, keeper)) for _, doc_id in joined["member"]]


def _cluster_stats(histogram: dict) -> tuple:
    sizes = {int(k): v for k, v in histogram.items()}
    return "clusters", {
        "count": sum(sizes.values()),
        "duplicate_clusters": sum(v for k, v in sizes.items() if k > 1),
        "size_histogram": {str(k): sizes[k] for k in sorted(sizes)},
    }
