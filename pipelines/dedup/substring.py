"""Beam stage of the dedup job: exact substring dedup, partitioned so no worker holds
the corpus (the suffix-array logic lives in ``pipelines.stages.substring``).

Flow (three shuffles, every group bounded):
  docs --Map--> (bucket, AnchorShare)         winnowed anchors + their context bytes
       --GroupByKey(bucket)--> suffix array over the bucket's repeated-anchor contexts
       --> (doc id, byte spans)
  (doc id, doc) + (doc id, spans) --CoGroupByKey--> cut spans, drop too-short docs

Memory per worker (defaults: min_span 100, anchor 32 bytes; see docs/substring.md):
  - anchoring: one document (+ ~40 bytes per byte of numpy temporaries);
  - a bucket: its shares, ~4.1 x corpus bytes / substring_partitions (anchors at ~2.8%
    of positions, each with <= 168 context bytes, merged per document), plus 13
    (strike_all) to 22 (keep-first) bytes per byte of the contexts whose anchor
    repeats. Rule of thumb: substring_partitions ~ 100 x corpus bytes / worker memory.
  - the final join: one document and its spans.
"""
from __future__ import annotations

import argparse
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from pipelines.beam.transforms import SplitByKind, SumTuples
from pipelines.progress import Progress
from pipelines.stages.base import Document
from pipelines.stages import substring as sub

STAGE = "substring"
TOO_SHORT = "too_short_after_removal"


class _AnchorDoFn(beam.DoFn):
    def __init__(self, num_buckets: int, min_span: int, anchor_bytes: int):
        self.num_buckets, self.min_span, self.anchor_bytes = num_buckets, min_span, anchor_bytes
        self._docs = Metrics.counter(STAGE, "documents_anchored")

    def setup(self):
        self._progress = Progress("substring", "documents anchored", 20_000)

    def process(self, doc: Document):
        self._docs.inc()
        self._progress.add()
        data = sub.encode(doc.text or "")
        yield from sub.document_anchor_shares(doc.id, data, self.num_buckets,
                                              self.min_span, self.anchor_bytes)


class _BucketSpansDoFn(beam.DoFn):
    def __init__(self, min_span: int, anchor_bytes: int, keep_first: bool):
        self.min_span, self.anchor_bytes, self.keep_first = min_span, anchor_bytes, keep_first
        self._buckets = Metrics.counter(STAGE, "buckets_searched")

    def process(self, element):
        _, shares = element
        self._buckets.inc()
        yield from sub.bucket_repeated_spans(shares, self.min_span, self.anchor_bytes, self.keep_first)


class _ApplyRemovalDoFn(beam.DoFn):
    """Cut the spans found for a document; route drops and per-document stats."""

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
        spans = list(grouped["spans"])
        byte_spans = np.concatenate(spans) if spans else None  # removal_plan merges them
        for doc in grouped["doc"]:  # one per id; several if ids collide (kept as-is)
            new_text, char_spans, removed = sub.removal_plan(doc.text or "", byte_spans, self.snap_words)
            if not char_spans:
                yield self.STATS, (0, 0, 0, 0)
                yield self.KEPT, doc
                continue
            self._changed.inc()
            self._bytes.inc(removed)
            changed = doc.replace(text=new_text, removed_spans=list(doc.removed_spans) + char_spans)
            changed.signals = dict(doc.signals, substring_removed_fraction=removed / max(1, len(sub.encode(doc.text))))
            if len(new_text.strip()) < self.min_doc_chars_after:
                yield self.STATS, (len(char_spans), removed, 1, 1)
                yield self.REMOVED, (changed, TOO_SHORT)
                continue
            yield self.STATS, (len(char_spans), removed, 0, 1)
            yield self.KEPT, changed


STATS_FIELDS = ("spans", "bytes_removed", "documents_dropped", "documents_changed")


class SubstringDedup(beam.PTransform):
    """Exact substring dedup (Lee et al.) as a dedup-job stage.

    expand(docs) -> {"kept": docs, "removed": (doc, reason), "stats": (key, value)}.
    """

    def __init__(self, min_span: int = sub.DEFAULT_MIN_SPAN, strike_all: bool = False,
                 min_doc_chars_after: int = 200, substring_partitions: int = 16,
                 anchor_bytes: int = sub.DEFAULT_ANCHOR_BYTES, snap_words: bool = True):
        super().__init__()
        if min_span < 2:
            raise ValueError(f"--min_span must be >= 2 bytes (got {min_span}); Lee et al. use ~100")
        if not 1 <= anchor_bytes <= min_span:
            raise ValueError(f"--substring_anchor_bytes must be in [1, --min_span={min_span}] (got {anchor_bytes})")
        if substring_partitions < 1:
            raise ValueError("--substring_partitions must be >= 1")
        self.min_span, self.strike_all = min_span, strike_all
        self.min_doc_chars_after = min_doc_chars_after
        self.partitions, self.anchor_bytes, self.snap_words = substring_partitions, anchor_bytes, snap_words

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
                       help="anchor buckets, each searched with its own suffix array; "
                            "use ~ 100 x corpus bytes / worker memory (docs/substring.md)")
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
                   snap_words=not args.substring_no_word_snap)

    def expand(self, docs) -> dict[str, Any]:
        spans = (
            docs
            | "Anchors" >> beam.ParDo(_AnchorDoFn(self.partitions, self.min_span, self.anchor_bytes))
            | "GroupByBucket" >> beam.GroupByKey()
            | "SuffixArrayPerBucket" >> beam.ParDo(_BucketSpansDoFn(self.min_span, self.anchor_bytes,
                                                                     not self.strike_all))
        )
        keyed = docs | "KeyById" >> beam.Map(lambda d: (d.id, d))
        results = (
            {"doc": keyed, "spans": spans}
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
