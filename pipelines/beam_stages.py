"""Beam wrapper around the pure stage library.

``ApplyStages`` runs a list of :class:`~pipelines.stages.base.Stage` objects over each
document and emits, for every input record, exactly one outcome string (see
:mod:`pipelines.stats`). It never lets one bad document fail the job: an exception
inside a stage becomes the counted error ``<stage>.exception``.

Tagged outputs:
  main      kept documents
  outcome   one outcome string per record (kept / dropped:... / error:...)
  funnel    (stage name, bytes) each time a document leaves a stage alive
  removed   (stage name, document, "<stage>.<reason>") when ``keep_removed``
"""
from __future__ import annotations

import logging
import time
from typing import Iterable

import apache_beam as beam
from apache_beam import pvalue

from pipelines import stats
from pipelines.stages.base import Document, Drop, Stage

log = logging.getLogger(__name__)

OUTCOME = "outcome"
FUNNEL = "funnel"
REMOVED = "removed"
# Funnel names for what happens before the first stage.
RECORDS = "records"
HTML_RESPONSES = "warc"


def document_bytes(doc: Document) -> int:
    """Size of what a document currently carries: text once extracted, else payload."""
    if doc.text:
        return len(doc.text.encode("utf-8", "surrogatepass"))
    return len(doc.payload)


class ApplyStages(beam.DoFn):
    """Input: ``(outcome, Document | None)`` pairs from the WARC reader."""

    def __init__(self, stages: list[Stage], keep_removed: bool = False, progress_every: int = 500):
        self.stages = stages
        self.keep_removed = keep_removed
        self.progress_every = progress_every

    def setup(self):
        # Heavy resources (fastText model, blocklists, extraction worker) load here,
        # once per worker, never per element.
        for stage in self.stages:
            stage.setup()
        self._seen = 0
        self._started = time.monotonic()

    def teardown(self):
        for stage in self.stages:
            close = getattr(stage, "teardown", None)
            if close:
                close()

    def _emit(self, outcome: str):
        stats.count_metric(outcome)
        return pvalue.TaggedOutput(OUTCOME, outcome)

    def _progress(self):
        self._seen += 1
        if self._seen % self.progress_every == 0:
            rate = self._seen / max(time.monotonic() - self._started, 1e-9)
            log.info("clean: %d records processed by this worker (%.1f records/s)", self._seen, rate)

    def process(self, element) -> Iterable:
        outcome, doc = element
        self._progress()
        yield pvalue.TaggedOutput(FUNNEL, (RECORDS, 0))
        if outcome != "ok":
            yield self._emit(outcome)
            return
        yield pvalue.TaggedOutput(FUNNEL, (HTML_RESPONSES, document_bytes(doc)))
        for stage in self.stages:
            try:
                result = stage.process(doc)
            except Exception:  # one broken document must not fail the job
                log.exception("stage %s failed on %s (%s)", stage.name, doc.id, doc.url)
                yield self._emit(stats.error(f"{stage.name}.exception"))
                return
            if isinstance(result, Drop):
                key = f"{stage.name}.{result.reason}"
                if self.keep_removed:
                    removed = (result.document or doc).replace(payload=b"")
                    yield pvalue.TaggedOutput(REMOVED, (stage.name, removed, key))
                yield self._emit(stats.dropped(key))
                return
            doc = result
            yield pvalue.TaggedOutput(FUNNEL, (stage.name, document_bytes(doc)))
        yield self._emit(stats.KEPT)
        yield doc.replace(payload=b"")


class _CountAndSum(beam.CombineFn):
    """Per funnel stage: (documents, bytes)."""

    def create_accumulator(self):
        return (0, 0)

    def add_input(self, acc, n_bytes):
        return acc[0] + 1, acc[1] + n_bytes

    def merge_accumulators(self, accs):
        docs = sum(a[0] for a in accs)
        return docs, sum(a[1] for a in accs)

    def extract_output(self, acc):
        return acc


def funnel_rows(per_stage: dict, stage_order: list[str]) -> list[dict]:
    """Ordered funnel: documents and bytes left after each stage (0 when none left)."""
    rows = []
    for name in stage_order:
        docs, n_bytes = per_stage.get(name, (0, 0))
        # Bytes of non-response records are unknown (the reader does not size them).
        rows.append({"stage": name, "documents": docs, "bytes": None if name == RECORDS else n_bytes})
    return rows


class SummarizeFunnel(beam.PTransform):
    """(stage, bytes) pairs -> one ("funnel", [rows...]) pair for stats.json."""

    def __init__(self, stage_order: list[str]):
        super().__init__()
        self.stage_order = stage_order

    def expand(self, pairs):
        order = self.stage_order
        return (
            pairs
            | "CountAndSum" >> beam.CombinePerKey(_CountAndSum())
            | "ToDict" >> beam.combiners.ToDict()  # one entry per stage: bounded
            | "Rows" >> beam.Map(lambda d: ("funnel", funnel_rows(d, order)))
        )


class SummarizeKept(beam.PTransform):
    """Kept documents -> ("languages", {lang: n}) and ("pii", {kind: n})."""

    def expand(self, docs):
        languages = (
            docs
            | "Language" >> beam.Map(lambda d: d.language or "unknown")
            | "CountLanguages" >> beam.combiners.Count.PerElement()
            | "LanguagesDict" >> beam.combiners.ToDict()
            | "LanguagesPair" >> beam.Map(lambda d: ("languages", dict(sorted(d.items(), key=lambda kv: (-kv[1], kv[0])))))
        )
        pii = (
            docs
            | "PiiKinds" >> beam.FlatMap(lambda d: list(d.pii.items()))
            | "SumPii" >> beam.CombinePerKey(sum)
            | "PiiDict" >> beam.combiners.ToDict()
            | "PiiPair" >> beam.Map(lambda d: ("pii", dict(sorted(d.items()))))
        )
        return (languages, pii) | "MergeSummaries" >> beam.Flatten()
