"""Beam wrapper around the pure stage library.

``ApplyStages`` runs a list of :class:`~pipelines.stages.base.Stage` objects over each
document and emits, for every input record, exactly one outcome string (see
:mod:`pipelines.stats`). It never lets one bad document fail the job: an exception
inside a stage becomes the counted error ``<stage>.exception``.

It has ONE output of ``(kind, payload)`` pairs, split afterwards by ``SplitByKind``
(Dask limit 1 in :mod:`pipelines.beam.runner`):
  document  kept documents
  outcome   one outcome string per record (kept / dropped:... / error:...)
  funnel    (stage name, bytes) each time a document leaves a stage alive
  removed   (stage name, (document, "<stage>.<reason>")) when ``keep_removed``
  summary   (section, key, n) for kept documents: ("languages", "de", 1), ("pii", "email", 3)
"""
from __future__ import annotations

import logging
from typing import Iterable

import apache_beam as beam

from pipelines import stats
from pipelines.progress import Progress
from pipelines.beam.transforms import SumTuples
from pipelines.stages.base import Document, Stage, StageFailed, run_stages

log = logging.getLogger(__name__)

DOCUMENT = "document"  # a kept document (its outcome string is stats.KEPT)
OUTCOME = "outcome"
FUNNEL = "funnel"
REMOVED = "removed"
SUMMARY = "summary"
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
        self._progress = Progress("clean", "records processed", self.progress_every)

    def teardown(self):
        for stage in self.stages:
            stage.teardown()

    def _emit(self, outcome: str):
        stats.count_metric(outcome)
        return OUTCOME, outcome

    def process(self, element) -> Iterable:
        outcome, doc = element
        self._progress.add()
        yield (FUNNEL, (RECORDS, 0))
        if outcome != stats.READ_OK:
            yield self._emit(outcome)
            return
        yield (FUNNEL, (HTML_RESPONSES, document_bytes(doc)))
        passed: list = []  # funnel entries, emitted as the document leaves each stage alive
        try:
            kept, drop_key, dropped = run_stages(
                self.stages, doc, after_stage=lambda name, d: passed.append((FUNNEL, (name, document_bytes(d)))))
        except StageFailed as failure:  # one broken document must not fail the job
            log.exception("stage %s failed on %s (%s)", failure.stage, doc.id, doc.url)
            yield from passed
            yield self._emit(stats.error(f"{failure.stage}.exception"))
            return
        yield from passed
        if drop_key is not None:
            if self.keep_removed:
                yield REMOVED, (drop_key.partition(".")[0], (dropped.replace(payload=b""), drop_key))
            yield self._emit(stats.dropped(drop_key))
            return
        yield self._emit(stats.KEPT)
        yield SUMMARY, ("languages", kept.language or "unknown", 1)
        for kind, n in sorted(kept.pii.items()):
            yield SUMMARY, ("pii", kind, n)
        yield DOCUMENT, kept.replace(payload=b"")


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
            | "OneDocument" >> beam.MapTuple(lambda stage, n_bytes: (stage, (1, n_bytes)))
            | "CountAndSum" >> beam.CombinePerKey(SumTuples(2))
            | "ToDict" >> beam.combiners.ToDict()  # one entry per stage: bounded
            | "Rows" >> beam.Map(lambda d: ("funnel", funnel_rows(d, order)))
        )


def _summary_sections(totals: dict) -> list[tuple[str, dict]]:
    """{(section, key): n} -> [("languages", {...}), ("pii", {...})], both always present."""
    sections: dict[str, dict] = {"languages": {}, "pii": {}}
    for (section, key), n in totals.items():
        sections.setdefault(section, {})[key] = n
    # Most frequent language first; PII kinds alphabetically.
    sections["languages"] = dict(sorted(sections["languages"].items(), key=lambda kv: (-kv[1], kv[0])))
    sections["pii"] = dict(sorted(sections["pii"].items()))
    return sorted(sections.items())


class SummarizeKept(beam.PTransform):
    """(section, key, n) triples -> ("languages", {lang: n}) and ("pii", {kind: n}) pairs."""

    def expand(self, triples):
        return (
            triples
            | "Keyed" >> beam.Map(lambda t: ((t[0], t[1]), t[2]))
            | "Sum" >> beam.CombinePerKey(sum)
            | "ToDict" >> beam.combiners.ToDict()  # distinct languages + PII kinds: bounded
            | "Sections" >> beam.FlatMap(_summary_sections)
        )
