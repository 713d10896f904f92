"""Beam stage of the dedup job: paragraph-level exact dedup with Bloom filters, Dolma's
cheap alternative to suffix arrays (the logic lives in ``pipelines.stages.paragraph_dedup``;
semantics, flags and figures in docs/paragraph_dedup.md).

Flow (one shuffle, of hashes only; the text is read once and never shuffled):
  docs --ParDo--> (partition, ParagraphShare)   line numbers + 64-bit keys, per partition
       --GroupByKey(partition)--> sort by (id, line), one Bloom filter per partition
       --> (doc id, (text hash, removed lines))                 only documents with repeats
  docs --ParDo(side input: those removals by id)--> cut lines, drop too-short documents

All copies of a paragraph share a key, hence a partition, so the partitions together
give the answer of one filter walked over the whole corpus in (id, line) order.

Memory per worker: hashing holds one document; a partition holds its shares (12 bytes
per paragraph plus ~350 bytes per (document, partition) pair, measured) and its check
(3.4 bytes per paragraph at fp 1e-4: the filter's 1.44 * log2(1 / fp_rate) bits and a
mask; 42 with --paragraph_fp_rate 0); every worker of the cut step holds the removals (an
id and a few line numbers per *changed* document). On the real pages a document has ~10
shares at 16 partitions for ~26 paragraphs, so a partition costs ~150 bytes per paragraph
of the corpus divided by the partition count. Rule of thumb: --paragraph_partitions ~
150 x paragraphs / worker memory.
"""
from __future__ import annotations

import argparse
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from pipelines.beam.transforms import SplitByKind, SumTuples
from pipelines.progress import Progress
from pipelines.stages import paragraph_dedup as para
from pipelines.stages.base import Document
from pipelines.stages.substring import encode

STAGE = "paragraph"
TOO_SHORT = "too_short_after_removal"

# Every stats producer emits a full-width tuple (zeros where it has nothing to say).
STATS_FIELDS = ("paragraphs_seen", "paragraphs_removed", "bytes_removed", "documents_changed",
                "documents_dropped", "filter_bits")

# One output of (kind, value) pairs, split by SplitByKind (Dask limit 1 in pipelines.beam.runner).
SHARE, REMOVAL, KEPT, REMOVED, STATS = "share", "removal", "kept", "removed", "stats"


def _stats(**figures) -> tuple:
    return tuple(figures.get(name, 0) for name in STATS_FIELDS)


class _HashDoFn(beam.DoFn):
    def __init__(self, partitions: int, min_chars: int):
        self.partitions, self.min_chars = partitions, min_chars
        self._seen = Metrics.counter(STAGE, "paragraphs_seen")

    def setup(self):
        self._progress = Progress(STAGE, "documents hashed", 20_000)

    def process(self, doc: Document):
        self._progress.add()
        seen, shares = para.document_shares(doc.id, doc.text or "", self.partitions, self.min_chars)
        self._seen.inc(seen)
        yield STATS, _stats(paragraphs_seen=seen)
        for pair in shares:
            yield SHARE, pair


class _PartitionDoFn(beam.DoFn):
    def __init__(self, fp_rate: float):
        self.fp_rate = fp_rate

    def process(self, element):
        _, shares = element
        result = para.partition_removals(shares, self.fp_rate)
        yield STATS, _stats(filter_bits=result.bits)
        for doc_id, th, lines in result.removals:
            yield REMOVAL, (doc_id, (th, lines))


class _CutDoFn(beam.DoFn):
    """Cut a document's removed lines (looked up by id in the side input)."""

    def __init__(self, min_doc_chars_after: int):
        self.min_doc_chars_after = min_doc_chars_after
        self._removed = Metrics.counter(STAGE, "paragraphs_removed")
        self._bytes = Metrics.counter(STAGE, "bytes_removed")

    def process(self, doc: Document, removals):
        found = removals[doc.id]  # a MultiMap: [] when the id has no entry
        if not found:
            yield KEPT, doc
            return
        text = doc.text or ""
        th = para.text_hash(text)
        # Several entries: one per partition, or documents that share an id (told apart by text).
        lines = [ln for h, ln in found if h == th]
        if not lines:
            yield KEPT, doc
            return
        lines = np.concatenate(lines)
        new_text, spans, removed = para.removal_plan(text, lines)
        self._removed.inc(len(lines))
        self._bytes.inc(removed)
        changed = doc.replace(text=new_text, removed_spans=list(doc.removed_spans) + spans)
        changed.signals = dict(doc.signals, paragraph_removed_fraction=removed / max(1, len(encode(text))))
        dropped = len(new_text.strip()) < self.min_doc_chars_after
        yield STATS, _stats(paragraphs_removed=len(lines), bytes_removed=removed, documents_changed=1,
                            documents_dropped=int(dropped))
        if dropped:
            yield REMOVED, (changed, TOO_SHORT)
        else:
            yield KEPT, changed


class ParagraphDedup(beam.PTransform):
    """Paragraph-level exact dedup (Bloom filter over paragraph hashes) as a dedup-job stage.

    expand(docs) -> {"kept": docs, "removed": (doc, reason), "stats": (key, value)}.
    """

    def __init__(self, fp_rate: float = para.DEFAULT_FP_RATE, min_chars: int = para.DEFAULT_MIN_CHARS,
                 partitions: int = para.DEFAULT_PARTITIONS, min_doc_chars_after: int = 200):
        super().__init__()
        if not 0 <= fp_rate < 0.5:
            raise ValueError(f"--paragraph_fp_rate must be in [0, 0.5) (got {fp_rate}); "
                             "e.g. 1e-4, or 0 for an exact set")
        if min_chars < 1:
            raise ValueError(f"--paragraph_min_chars must be >= 1 (got {min_chars}); "
                             "empty lines are never paragraphs")
        if partitions < 1:
            raise ValueError(f"--paragraph_partitions must be >= 1 (got {partitions})")
        self.fp_rate, self.min_chars, self.partitions = fp_rate, min_chars, partitions
        self.min_doc_chars_after = min_doc_chars_after

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        g = parser.add_argument_group("paragraph dedup (Bloom filter over paragraph hashes)")
        g.add_argument("--paragraph_fp_rate", type=float, default=para.DEFAULT_FP_RATE,
                       help="false-positive rate of each partition's Bloom filter (sized from its own "
                            "paragraph count); 0 = exact set, no false positives (default 1e-4)")
        g.add_argument("--paragraph_min_chars", type=int, default=para.DEFAULT_MIN_CHARS,
                       help="lines shorter than this (stripped) are not paragraphs: never keys, never "
                            f"removed (default {para.DEFAULT_MIN_CHARS})")
        g.add_argument("--paragraph_partitions", type=int, default=para.DEFAULT_PARTITIONS,
                       help="hash partitions, one filter each; ~ 150 x paragraphs / worker memory (default 16)")
        g.add_argument("--paragraph_min_doc_chars_after", type=int, default=200,
                       help="drop a changed document left with fewer characters (reason too_short_after_removal)")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "ParagraphDedup":
        return cls(fp_rate=args.paragraph_fp_rate, min_chars=args.paragraph_min_chars,
                   partitions=args.paragraph_partitions,
                   min_doc_chars_after=args.paragraph_min_doc_chars_after)

    def expand(self, docs) -> dict[str, Any]:
        hashed = (docs
                  | "HashParagraphs" >> beam.ParDo(_HashDoFn(self.partitions, self.min_chars))
                  | "SplitHashed" >> SplitByKind([SHARE, STATS]))
        found = (hashed[SHARE]
                 | "GroupByPartition" >> beam.GroupByKey()
                 | "BloomPerPartition" >> beam.ParDo(_PartitionDoFn(self.fp_rate))
                 | "SplitFound" >> SplitByKind([REMOVAL, STATS]))
        cut = (docs
               | "CutLines" >> beam.ParDo(_CutDoFn(self.min_doc_chars_after),
                                          removals=beam.pvalue.AsMultiMap(found[REMOVAL]))
               | "SplitCut" >> SplitByKind([KEPT, REMOVED, STATS]))
        config = {"fp_rate": self.fp_rate, "min_chars": self.min_chars, "partitions": self.partitions}
        stats = (
            (hashed[STATS], found[STATS], cut[STATS])
            | "AllParagraphStats" >> beam.Flatten()
            | "SumStats" >> beam.CombineGlobally(SumTuples(len(STATS_FIELDS)))
            | "StatsPair" >> beam.Map(lambda sums: (STAGE, dict(zip(STATS_FIELDS, sums), **config)))
        )
        return {"kept": cut[KEPT], "removed": cut[REMOVED], "stats": stats}
