"""Beam wrapper around the pure stage library.

``ApplyStages`` runs a list of :class:`~pipelines.stages.base.Stage` objects over each
document and emits, for every input record, exactly one outcome string (see
:mod:`pipelines.stats`). It never lets one bad document fail the job: an exception
inside a stage becomes the counted error ``<stage>.exception``.

It has ONE output of ``(kind, payload)`` pairs, split afterwards by :class:`SplitByKind`:
  kept      kept documents
  outcome   one outcome string per record (kept / dropped:... / error:...)
  funnel    (stage name, bytes) each time a document leaves a stage alive
  removed   (stage name, (document, "<stage>.<reason>")) when ``keep_removed``
  summary   (section, key, n) for kept documents: ("languages", "de", 1), ("pii", "email", 3)
Why not tagged outputs (``with_outputs``)? Beam's Dask runner (2.77) mixes up the
outputs of multi-output ParDos (and so beam.Partition); plain Filters work everywhere
and fuse into the same stage on every runner.
"""
from __future__ import annotations

import logging
from typing import Iterable

import apache_beam as beam

from pipelines import stats
from pipelines.progress import Progress
from pipelines.stages.base import Document, Drop, Stage

log = logging.getLogger(__name__)

KEPT = "kept"
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
        if outcome != "ok":
            yield self._emit(outcome)
            return
        yield (FUNNEL, (HTML_RESPONSES, document_bytes(doc)))
        doc = doc.copy()  # stages may change it in place; the input element must stay intact
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
                    yield REMOVED, (stage.name, (removed, key))
                yield self._emit(stats.dropped(key))
                return
            doc = result
            yield (FUNNEL, (stage.name, document_bytes(doc)))
        yield self._emit(stats.KEPT)
        yield SUMMARY, ("languages", doc.language or "unknown", 1)
        for kind, n in sorted(doc.pii.items()):
            yield SUMMARY, ("pii", kind, n)
        yield KEPT, doc.replace(payload=b"")


class SplitByKind(beam.PTransform):
    """(kind, payload) pairs -> {kind: PCollection of payloads} for the given kinds."""

    def __init__(self, kinds: list[str]):
        super().__init__()
        self.kinds = kinds

    def expand(self, pairs):
        return {
            kind: pairs
            | f"Only_{kind}" >> beam.Filter(lambda kv, kind=kind: kv[0] == kind)
            | f"Payload_{kind}" >> beam.Map(lambda kv: kv[1])
            for kind in self.kinds
        }


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
