"""Beam stage of the dedup job: exact substring dedup, partitioned so no worker holds
the corpus (the suffix-array logic lives in ``pipelines.stages.substring``).

Flow (few and large elements: per-element overhead dominates Beam's cost), with the
default ``--substring_rounds 2``:
  docs --BatchDocuments--> batches of documents, keyed by a hash of their ids
       --Map--> (fingerprint bucket, FingerprintShare): 4 bytes per winnowed anchor
                                       [+ (batch key, documents), (batch key, BatchText)]
       --GroupByKey(fingerprint bucket)--> count fingerprints
       --> (batch key, RepeatedMask: one bit per anchor, "seen twice", + the hot fingerprints)
  (batch key, BatchText: ids + zstd texts) + masks --CoGroupByKey--> (bucket, BucketShare) per (batch,
                bucket): the bytes of the windows owned by repeated anchors, zstd (a hot
                fingerprint's contexts to the k buckets of their group's pairs)
       --GroupByKey(bucket)--> suffix array over the bucket's repeated-anchor contexts
       --> (batch key, BatchSpans: slots and byte spans, two arrays)
  (batch key, documents) + (batch key, spans) --CoGroupByKey--> cut spans, drop short docs
With ``--substring_rounds 1`` the first step ships every anchor's context directly
(no fingerprint round and no join of the batches' texts with the masks; 3-4x more
bytes through the bucket shuffle unless most anchors repeat: docs/substring.md).

Memory per worker (defaults: min_span 100, anchor 32 bytes; see docs/substring.md):
  - anchoring: one batch (``--substring_batch_docs`` documents) and ~10 bytes per byte
    of temporaries;
  - a bucket: its shares (~1.3 bytes per input byte / buckets, compressed) and, while
    searching, ~25 bytes per input byte / buckets (decompressed contexts, suffix array
    over the distinct ones). The number of buckets is the larger of
    ``--substring_partitions`` and what keeps that under ``--substring_worker_mb``,
    computed from the corpus size before anchoring, so a bucket's memory does not
    grow with the corpus; with two rounds a fingerprint seen more often than a quarter
    of a bucket's mean (the budget) is split over pair buckets, so one boilerplate
    string cannot fill a bucket (up to ~budget x sqrt(buckets / 2) copies:
    docs/substring.md);
  - a fingerprint bucket (round 1): ~35 bytes per anchor it receives (its 4-byte
    fingerprints and the counting), ~1 byte per input byte / fingerprint buckets, whose
    number keeps that under ``--substring_worker_mb`` too;
  - the mask join (round 2): one batch's compressed texts and masks, then anchoring;
  - the final join: one batch of documents and its spans.
"""
from __future__ import annotations

import argparse
import hashlib
import math
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from pipelines.beam.transforms import BatchDocuments, SplitByKind, SumTuples
from pipelines.progress import Progress
from pipelines.stages import substring as sub

STAGE = "substring"
TOO_SHORT = "too_short_after_removal"
# Peak bytes of a bucket search per input byte sent to it, from the benchmark's measured
# ratios (docs/substring.md: shares 1.3 + context text 3.4 + 9 x ~2.2 of distinct
# segments sorted); the number of buckets is sized with it.
BUCKET_BYTES_PER_INPUT_BYTE = 25
# Round 1 (fingerprint counting): 4 bytes per anchor shipped, ~35 per anchor while
# counting (np.unique's temporaries), ~28 anchors per KB: ~1 byte per input byte; 2 for
# headroom. Far fewer buckets than round 2, so each (batch, bucket) element stays large.
FINGERPRINT_BYTES_PER_INPUT_BYTE = 2


def batch_key(doc_ids: list[str]) -> str:
    """Deterministic key of a batch (its documents' ids): retries rebuild the same key."""
    return hashlib.blake2b("\0".join(doc_ids).encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


def bucket_count(total_bytes: int, partitions: int, worker_mb: int,
                 bytes_per_input_byte: float = BUCKET_BYTES_PER_INPUT_BYTE) -> int:
    """Buckets so that one bucket's search stays under ``worker_mb`` (and >= partitions)."""
    need = math.ceil(total_bytes * bytes_per_input_byte / (worker_mb * 2**20))
    return max(partitions, need)


def fingerprint_bucket_count(total_bytes: int, partitions: int, worker_mb: int) -> int:
    """Round-1 buckets: so that counting one bucket's fingerprints stays under ``worker_mb``."""
    return bucket_count(total_bytes, partitions, worker_mb, FINGERPRINT_BYTES_PER_INPUT_BYTE)


class _AnchorDoFn(beam.DoFn):
    """A batch of documents -> ("share", (bucket, share)) pairs and ("batch", (key, docs)).

    ``rounds=2``: the shares are round 1's (fingerprint bucket, FingerprintShare)."""

    SHARE = "share"
    BATCH = "batch"
    TEXT = "text"  # rounds=2: (key, BatchText), compressed texts for the join with the masks

    def __init__(self, partitions: int, worker_mb: int, min_span: int, anchor_bytes: int, rounds: int = 1):
        self.partitions, self.worker_mb = partitions, worker_mb
        self.min_span, self.anchor_bytes, self.rounds = min_span, anchor_bytes, rounds
        self._docs = Metrics.counter(STAGE, "documents_anchored")

    def setup(self):
        self._progress = Progress("substring", "documents anchored", 20_000)

    def process(self, docs, total_bytes):
        docs = list(docs)
        self._docs.inc(len(docs))
        self._progress.add(len(docs))
        key = batch_key([d.id for d in docs])
        pairs = [(d.id, sub.encode(d.text or "")) for d in docs]
        if self.rounds == 2:
            shares = sub.batch_fingerprints(key, pairs, fingerprint_bucket_count(
                total_bytes, self.partitions, self.worker_mb), self.min_span, self.anchor_bytes)
        else:
            shares = sub.batch_bucket_shares(key, pairs, bucket_count(total_bytes, self.partitions, self.worker_mb),
                                             self.min_span, self.anchor_bytes)
        for bucket, share in shares:
            yield self.SHARE, (bucket, share)
        yield self.BATCH, (key, docs)
        if self.rounds == 2:
            yield self.TEXT, (key, sub.BatchText.pack(pairs))


class _RepeatedMasksDoFn(beam.DoFn):
    """Round 1 in one fingerprint bucket -> (batch key, RepeatedMask), with the hot
    fingerprints to split over pair buckets in round 2."""

    def __init__(self, partitions: int, worker_mb: int, hot_contexts: float):
        self.partitions, self.worker_mb, self.hot_contexts = partitions, worker_mb, hot_contexts

    def process(self, element, total_bytes):
        bucket, shares = element
        yield from sub.bucket_repeated_masks(
            bucket, shares, bucket_count(total_bytes, self.partitions, self.worker_mb),
            fingerprint_bucket_count(total_bytes, self.partitions, self.worker_mb), self.hot_contexts)


class _RepeatedContextsDoFn(beam.DoFn):
    """Round 2: a batch's texts and its masks -> (bucket, BucketShare) for its repeated anchors."""

    def __init__(self, partitions: int, worker_mb: int, min_span: int, anchor_bytes: int):
        self.partitions, self.worker_mb = partitions, worker_mb
        self.min_span, self.anchor_bytes = min_span, anchor_bytes

    def process(self, element, total_bytes):
        key, grouped = element
        masks = list(grouped["masks"])
        if not masks:
            return  # no anchor of this batch is seen twice: nothing to search
        num_buckets = bucket_count(total_bytes, self.partitions, self.worker_mb)
        fp_buckets = fingerprint_bucket_count(total_bytes, self.partitions, self.worker_mb)
        for text in grouped["text"]:  # one batch per key
            yield from sub.batch_bucket_shares(key, text.documents(), num_buckets, self.min_span,
                                               self.anchor_bytes, masks, fp_buckets)


class _BucketSpansDoFn(beam.DoFn):
    def __init__(self, min_span: int, anchor_bytes: int, keep_first: bool):
        self.min_span, self.anchor_bytes, self.keep_first = min_span, anchor_bytes, keep_first
        self._buckets = Metrics.counter(STAGE, "buckets_searched")

    def process(self, element):
        _, shares = element
        self._buckets.inc()
        yield from sub.bucket_repeated_spans(shares, self.min_span, self.anchor_bytes, self.keep_first)


class _ApplyRemovalDoFn(beam.DoFn):
    """Cut the spans found for a batch's documents; route drops and per-batch stats."""

    # One output of (kind, value) pairs, split by SplitByKind (Dask limit 1 in
    # pipelines.beam.runner).
    KEPT = "kept"
    REMOVED = "removed"
    STATS = "stats"

    def __init__(self, min_doc_chars_after: int, snap_words: bool):
        self.min_doc_chars_after, self.snap_words = min_doc_chars_after, snap_words
        self._changed = Metrics.counter(STAGE, "documents_changed")
        self._bytes = Metrics.counter(STAGE, "bytes_removed")

    def process(self, element):
        _, grouped = element
        per_slot: dict[int, list[np.ndarray]] = {}
        for found in grouped["spans"]:
            for slot, spans in found.by_slot():
                per_slot.setdefault(slot, []).append(spans)
        totals = [0, 0, 0, 0]
        for docs in grouped["docs"]:  # one batch per key (a repeated key only if a batch repeats)
            for slot, doc in enumerate(docs):
                spans = per_slot.get(slot)
                if not spans:
                    yield self.KEPT, doc
                    continue
                new_text, char_spans, removed = sub.removal_plan(doc.text or "", np.concatenate(spans),
                                                                 self.snap_words)
                if not char_spans:
                    yield self.KEPT, doc
                    continue
                self._changed.inc()
                self._bytes.inc(removed)
                changed = doc.replace(text=new_text, removed_spans=list(doc.removed_spans) + char_spans)
                changed.signals = dict(doc.signals,
                                       substring_removed_fraction=removed / max(1, len(sub.encode(doc.text))))
                dropped = len(new_text.strip()) < self.min_doc_chars_after
                totals = [totals[0] + len(char_spans), totals[1] + removed, totals[2] + dropped, totals[3] + 1]
                if dropped:
                    yield self.REMOVED, (changed, TOO_SHORT)
                else:
                    yield self.KEPT, changed
        yield self.STATS, tuple(totals)


STATS_FIELDS = ("spans", "bytes_removed", "documents_dropped", "documents_changed")


class SubstringDedup(beam.PTransform):
    """Exact substring dedup (Lee et al.) as a dedup-job stage.

    expand(docs) -> {"kept": docs, "removed": (doc, reason), "stats": (key, value)}.
    """

    def __init__(self, min_span: int = sub.DEFAULT_MIN_SPAN, strike_all: bool = False,
                 min_doc_chars_after: int = 200, substring_partitions: int = 16,
                 anchor_bytes: int = sub.DEFAULT_ANCHOR_BYTES, snap_words: bool = True,
                 worker_mb: int = 2048, batch_docs: int = 5000, rounds: int = 2, hot_contexts: float = 0.0):
        super().__init__()
        if min_span < 2:
            raise ValueError(f"--min_span must be >= 2 bytes (got {min_span}); Lee et al. use ~100")
        if not 1 <= anchor_bytes <= min_span:
            raise ValueError(f"--substring_anchor_bytes must be in [1, --min_span={min_span}] (got {anchor_bytes})")
        if substring_partitions < 1:
            raise ValueError("--substring_partitions must be >= 1")
        if worker_mb < 1:
            raise ValueError(f"--substring_worker_mb must be >= 1 (got {worker_mb}); e.g. 2048 for 2 GiB per bucket")
        if batch_docs < 1:
            raise ValueError(f"--substring_batch_docs must be >= 1 (got {batch_docs})")
        if rounds not in (1, 2):
            raise ValueError(f"--substring_rounds must be 1 or 2 (got {rounds})")
        if not (hot_contexts == 0 or hot_contexts >= 1):  # also rejects nan, which would silently never split
            # (below 1 every fingerprint, unique ones too, would count as hot)
            raise ValueError(f"--substring_hot_contexts must be 0 (estimated) or >= 1 (got {hot_contexts})")
        if hot_contexts and rounds == 1:
            raise ValueError("--substring_hot_contexts needs --substring_rounds 2 (one round splits nothing)")
        self.min_span, self.strike_all = min_span, strike_all
        self.min_doc_chars_after = min_doc_chars_after
        self.partitions, self.anchor_bytes, self.snap_words = substring_partitions, anchor_bytes, snap_words
        self.worker_mb, self.batch_docs, self.rounds = worker_mb, batch_docs, rounds
        self.hot_contexts = hot_contexts

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        g = parser.add_argument_group("exact substring dedup (suffix arrays)")
        g.add_argument("--min_span", type=int, default=sub.DEFAULT_MIN_SPAN,
                       help="remove byte spans of at least this length that occur twice (default 100 ~ 50 tokens)")
        g.add_argument("--strike_all", action="store_true",
                       help="remove every copy of a repeated span (Lee et al.); default keeps the first "
                            "copy in (document id, offset) order")
        g.add_argument("--min_doc_chars_after", type=int, default=200,
                       help="drop a changed document left with fewer characters (reason too_short_after_removal)")
        g.add_argument("--substring_partitions", type=int, default=16,
                       help="minimum number of anchor buckets, each searched with its own suffix array")
        g.add_argument("--substring_worker_mb", type=int, default=2048,
                       help="memory one bucket search may use; more buckets are made as the corpus grows "
                            "(docs/substring.md)")
        g.add_argument("--substring_batch_docs", type=int, default=5000,
                       help="documents anchored together: one shuffle element per (batch, bucket)")
        g.add_argument("--substring_rounds", type=int, default=2, choices=(1, 2),
                       help="2 (default): count anchor fingerprints first, ship contexts only for anchors "
                            "seen twice; 1: ship every anchor's context (fewer steps, more shuffle bytes "
                            "unless nearly everything repeats)")
        g.add_argument("--substring_hot_contexts", type=float, default=0,
                       help="two rounds: a fingerprint seen more often is split over pair buckets (exact, its "
                            "contexts ship ~k times); default 0: a quarter of the mean number of repeated "
                            "anchors per bucket, estimated in round 1 (docs/substring.md)")
        g.add_argument("--substring_anchor_bytes", type=int, default=sub.DEFAULT_ANCHOR_BYTES,
                       help="winnowing gram length (< min_span); smaller = fewer anchors, bigger groups")
        g.add_argument("--substring_no_word_snap", action="store_true",
                       help="snap removed spans to characters only (default also shrinks them to word boundaries)")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "SubstringDedup":
        return cls(min_span=args.min_span, strike_all=args.strike_all,
                   min_doc_chars_after=args.min_doc_chars_after,
                   substring_partitions=args.substring_partitions,
                   anchor_bytes=args.substring_anchor_bytes,
                   snap_words=not args.substring_no_word_snap,
                   worker_mb=args.substring_worker_mb, batch_docs=args.substring_batch_docs,
                   rounds=args.substring_rounds, hot_contexts=args.substring_hot_contexts)

    def expand(self, docs) -> dict[str, Any]:
        total_bytes = (
            docs
            | "TextBytes" >> beam.Map(lambda d: len(sub.encode(d.text or "")))
            | "CorpusBytes" >> beam.CombineGlobally(sum)
        )
        anchored = (
            docs
            | "Batch" >> BatchDocuments(self.batch_docs, self.batch_docs)
            | "Anchors" >> beam.ParDo(_AnchorDoFn(self.partitions, self.worker_mb, self.min_span, self.anchor_bytes,
                                                  self.rounds),
                                      beam.pvalue.AsSingleton(total_bytes))
            | "SplitAnchors" >> SplitByKind([_AnchorDoFn.SHARE, _AnchorDoFn.BATCH, _AnchorDoFn.TEXT])
        )
        shares = anchored[_AnchorDoFn.SHARE]
        if self.rounds == 2:
            masks = (
                shares
                | "GroupByFingerprintBucket" >> beam.GroupByKey()
                | "CountFingerprints" >> beam.ParDo(_RepeatedMasksDoFn(self.partitions, self.worker_mb,
                                                                       self.hot_contexts),
                                                    beam.pvalue.AsSingleton(total_bytes))
            )
            shares = (
                {"text": anchored[_AnchorDoFn.TEXT], "masks": masks}
                | "JoinMasks" >> beam.CoGroupByKey()
                | "RepeatedContexts" >> beam.ParDo(
                    _RepeatedContextsDoFn(self.partitions, self.worker_mb, self.min_span, self.anchor_bytes),
                    beam.pvalue.AsSingleton(total_bytes))
            )
        spans = (
            shares
            | "GroupByBucket" >> beam.GroupByKey()
            | "SuffixArrayPerBucket" >> beam.ParDo(_BucketSpansDoFn(self.min_span, self.anchor_bytes,
                                                                     not self.strike_all))
        )
        results = (
            {"docs": anchored[_AnchorDoFn.BATCH], "spans": spans}
            | "JoinSpans" >> beam.CoGroupByKey()
            | "CutSpans" >> beam.ParDo(_ApplyRemovalDoFn(self.min_doc_chars_after, self.snap_words))
            | "SplitCut" >> SplitByKind([_ApplyRemovalDoFn.KEPT, _ApplyRemovalDoFn.REMOVED, _ApplyRemovalDoFn.STATS])
        )
        stats = (
            results[_ApplyRemovalDoFn.STATS]
            | "SumStats" >> beam.CombineGlobally(SumTuples(len(STATS_FIELDS)))
            | "StatsPair" >> beam.Map(lambda sums: (STAGE, dict(zip(STATS_FIELDS, sums))))
        )
        return {"kept": results[_ApplyRemovalDoFn.KEPT], "removed": results[_ApplyRemovalDoFn.REMOVED], "stats": stats}
