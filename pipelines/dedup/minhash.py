"""MinHash-LSH fuzzy deduplication as Beam transforms (a stage of ``pipelines.dedup``).

Steps (every one keyed and bounded; no step collects the corpus):
1. ``ComputeBandKeys``: documents in batches -> ``(band key, doc id)`` pairs. The band key
   is 10 bytes: band index (2) + 64-bit hash of the band's rows (8).
2. ``BucketsToEdges``: group by band key; each bucket with >= 2 members becomes a star of
   edges to its smallest id. That is O(n) edges for an n-member bucket (not n^2 pairs)
   and keeps exactly the connectivity of the bucket. The bucket iterable is streamed twice
   (min, then emit): a huge bucket (boilerplate pages) costs time, not memory.
3. Connected components (``pipelines.dedup.components``): distributed large-star/small-star,
   or union-find on one worker for small inputs.
4. Keep rule: one document per cluster, chosen by (--keep) smallest_id, longest_text or
   earliest_date, ties broken by id; the cluster id is the smallest member id.
5. Join back to the documents by id: kept ones get ``minhash_cluster`` and
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
    DEFAULT_ROWS,
    DEFAULT_SEED,
    MinHashConfig,
    MinHasher,
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
MAIN, METRIC, REMOVED = "main", "metric", "removed"


class ComputeBandKeys(beam.DoFn):
    """Batch of documents -> (band key bytes, doc id); counts documents without shingles."""

    def __init__(self, config: MinHashConfig):
        self.config = config
        self.hasher: Optional[MinHasher] = None

    def setup(self):
        self.hasher = MinHasher(self.config)
        _ = self.hasher.permutations  # draw the permutations once per worker
        self.no_shingles = Metrics.counter(STAGE, "documents_without_shingles")
        self.progress = Progress("minhash", "documents hashed", 50_000)

    def process(self, batch: list[Document]) -> Iterator:
        keys, n_sh = self.hasher.band_keys([d.text for d in batch])
        self.progress.add(len(batch))
        for doc, row, n in zip(batch, keys, n_sh):
            if n == 0:
                # Nothing to compare: such a document is its own cluster.
                self.no_shingles.inc()
                yield METRIC, ("documents_without_shingles", 1)
                continue
            for band, value in enumerate(row.tolist()):
                yield MAIN, (band.to_bytes(2, "big") + value.to_bytes(8, "big"), doc.id)


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
        # Same id twice in the input (e.g. the same record read from two files).
        dup = doc.replace(minhash_cluster=cluster, minhash_cluster_size=size, duplicate_of=first.id)
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
        g.add_argument("--num_perm", type=int, default=DEFAULT_BANDS * DEFAULT_ROWS,
                       help="number of MinHash permutations (default 112)")
        g.add_argument("--bands", type=int, default=None, help="LSH bands (default 14)")
        g.add_argument("--rows", type=int, default=None, help="rows per band (default 8)")
        g.add_argument("--threshold", type=float, default=None,
                       help="Jaccard threshold; derives --bands/--rows like datasketch's MinHashLSH "
                            "(cannot be combined with --bands/--rows)")
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
        if args.threshold is not None:
            if args.bands is not None or args.rows is not None:
                raise ValueError("give either --threshold or --bands/--rows, not both")
            config = MinHashConfig.from_threshold(args.threshold, num_perm=args.num_perm,
                                                  ngram=args.ngram, seed=args.minhash_seed)
        else:
            config = MinHashConfig(num_perm=args.num_perm,
                                   bands=args.bands if args.bands is not None else DEFAULT_BANDS,
                                   rows=args.rows if args.rows is not None else DEFAULT_ROWS,
                                   ngram=args.ngram, seed=args.minhash_seed)
        mode = args.components
        if mode == "auto":
            # dedup.py counts the input rows from Parquet footers (cheap) before building the graph.
            n = getattr(args, "input_documents", None)
            mode = "local" if n is not None and n <= args.local_components_max_docs else "distributed"
        return cls(config=config, keep=args.keep, components=mode, max_rounds=args.max_rounds)

    # ---------------------------------------------------------------------- pipeline
    def expand(self, docs):
        config, keep = self.config, self.keep
        bands = (
            docs
            | "Batch" >> BatchDocuments(min_batch_size=16, max_batch_size=self.batch_size)
            | "BandKeys" >> beam.ParDo(ComputeBandKeys(config))
            | "BandKeysOut" >> SplitByKind([MAIN, METRIC])
        )
        buckets = (
            bands[MAIN]
            | "GroupBuckets" >> beam.GroupByKey()
            | "BucketEdges" >> beam.ParDo(BucketsToEdges())
            | "BucketEdgesOut" >> SplitByKind([MAIN, METRIC])
        )
        edges = buckets[MAIN]
        metric_pcolls = [bands[METRIC], buckets[METRIC],
                         edges | "CountEdges" >> beam.Map(lambda _: ("candidate_edges", 1))]

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
            "keep": keep,
        }
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
    labels = list(joined["label"])
    # No label: no duplicate candidate, a singleton handled at the final join.
    return [(labels[0], (key, doc_id)) for key in joined["key"]] if labels else []


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
