"""Beam wrapper around the pure stage library.

``ApplyStages`` runs a list of :class:`~pipelines.stages.base.Stage` objects over each
record and emits ONE element per record: ``(outcome, None)`` for a record the reader
already decided (not HTML, broken), ``(READ_OK, StagedRecord)`` for an HTML response,
holding everything the record will emit once it is known to be the first copy of its
WARC record (``pipelines.io.warc.DropRepeatedRecords`` with ``STAGED_RECORDS``, applied
after this step so that the record id dedup shuffles results, not HTML; HTML moves only
when the reader spreads records over workers, with fewer than two files per worker).
``record_items`` then expands each record into ``(kind, payload)`` pairs, split by
``SplitByKind`` (Dask limit 1 in :mod:`pipelines.beam.runner`):
  document  kept documents
  outcome   one outcome string per record (kept / dropped:... / error:...)
  funnel    (stage name, bytes or None, CPU seconds) for each stage a document entered:
            bytes it carries as it leaves the stage alive, None when the stage dropped it
  removed   (stage name, (document, "<stage>.<reason>")) when ``keep_removed``
  summary   (section, key, n) for kept documents: ("languages", "de", 1), ("pii", "email", 3);
            and for every document that entered the stages, its language and outcome:
            ("by_language", ("de", "dropped:c4.c4_curly_bracket"), 1) (language "unknown"
            when it left before language id)
It never lets one bad document fail the job: an exception inside a stage becomes the
counted error ``<stage>.exception``.

CPU seconds per stage (``StageClock``): the CPU time of the thread running the stage,
not of the process, because Beam may run several bundles at once on threads of one
worker; plus the CPU time of the helper processes a stage owns (extraction runs in a
child process per worker, found as the children its ``setup()`` started).
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import threading
import time
from typing import Iterable, Optional

import apache_beam as beam

from pipelines import stats
from pipelines.progress import Progress
from pipelines.beam.transforms import SumTuples
from pipelines.stages.base import Document, Stage, StageFailed, run_stages
from pipelines.stages.child_process import process_cpu_seconds

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


@dataclasses.dataclass
class StagedRecord:
    """One HTML response after the stages: its identity (id, payload digest taken before
    extraction, copy order) and the ``(kind, payload)`` items it emits if it is kept."""

    id: str
    payload_sha256: str
    order: tuple
    items: list


class StagedIdentity:
    """``DropRepeatedRecords``' view of a StagedRecord (see ``pipelines.io.warc.RecordIdentity``)."""

    def record_id(self, record: StagedRecord) -> str:
        return record.id

    def payload_sha256(self, record: StagedRecord) -> str:
        return record.payload_sha256

    def order(self, record: StagedRecord) -> tuple:
        return record.order

    def renamed(self, record: StagedRecord, new_id: str) -> StagedRecord:
        """The record under a conflict id: its kept or removed document carries it."""
        items = []
        for kind, payload in record.items:
            if kind == DOCUMENT:
                payload = payload.replace(id=new_id)
            elif kind == REMOVED:
                stage, (doc, key) = payload
                payload = (stage, (doc.replace(id=new_id), key))
            items.append((kind, payload))
        return dataclasses.replace(record, id=new_id, items=items)


STAGED_RECORDS = StagedIdentity()


def record_items(record) -> Iterable:
    """``(outcome, StagedRecord | None)`` after deduplication -> its ``(kind, payload)`` items.
    Counters are mirrored here, after the dedup, so they agree with stats.json."""
    outcome, staged = record
    if staged is None:  # decided by the reader, or a repeated copy of a WARC record
        stats.count_metric(outcome)
        yield FUNNEL, (RECORDS, 0, 0.0)
        yield OUTCOME, outcome
        return
    for kind, payload in staged.items:
        if kind == OUTCOME:
            stats.count_metric(payload)
        yield kind, payload


# Helper processes are told apart by the DoFn instance whose stage started them; this
# lock keeps two instances' setups in one worker process from claiming each other's.
_HELPERS_LOCK = threading.Lock()
_CLAIMED_HELPERS: set[int] = set()


def _child_pids() -> set[int]:
    """Pids of this process's children (from /proc; empty where it is missing)."""
    me, pids = str(os.getpid()), set()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return pids
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        if stat[stat.rindex(b")") + 2:].split()[1].decode() == me:  # field 4: ppid
            pids.add(int(entry))
    return pids


class StageClock:
    """CPU seconds per stage for one worker's ApplyStages (see the module doc).

    ``start()`` before the first stage, ``lap(name)`` when stage ``name`` ends (kept or
    dropped the document) returns its CPU seconds and starts the next stage's. Helper
    processes are read only around the stage that owns them (one /proc read at each
    end). A helper that died (a timed-out extraction is killed and replaced) loses its
    last CPU reading; its replacement is claimed when first seen.
    """

    SEEK_DOCUMENTS = 3

    def __init__(self, order: list[str]):
        self.order = order
        self.helpers: dict[str, set[int]] = {}  # stage name -> pids it owns
        self._thread = 0.0
        self._at_start: dict[int, float] = {}
        self._seeking: dict[str, int] = {}  # stage -> documents left to find its new helper

    def setup_stage(self, stage: Stage) -> None:
        """Run ``stage.setup()`` and claim the child processes it started."""
        with _HELPERS_LOCK:
            before = _child_pids()
            stage.setup()
            started = _child_pids() - before - _CLAIMED_HELPERS
            _CLAIMED_HELPERS.update(started)
        if started:
            self.helpers[stage.name] = started

    def release(self) -> None:
        with _HELPERS_LOCK:
            for pids in self.helpers.values():
                _CLAIMED_HELPERS.difference_update(pids)

    def _helpers_cpu(self, name: str) -> dict[int, Optional[float]]:
        return {pid: process_cpu_seconds(pid) for pid in self.helpers.get(name, ())}

    def start(self) -> None:
        self._thread = time.thread_time()
        self._at_start = self._helpers_cpu(self.order[0]) if self.order else {}

    def lap(self, name: str) -> float:
        now = time.thread_time()
        cpu, self._thread = now - self._thread, now
        if name in self.helpers:
            dead = False
            for pid, cpu_now in self._helpers_cpu(name).items():
                began = self._at_start.get(pid)
                if cpu_now is None:
                    dead = True
                elif began is not None:
                    cpu += cpu_now - began
            if dead or self._seeking.get(name):
                self._claim_replacements(name)
        following = self.order.index(name) + 1 if name in self.order else len(self.order)
        self._at_start = self._helpers_cpu(self.order[following]) if following < len(self.order) else {}
        return cpu

    def _claim_replacements(self, name: str) -> None:
        """Forget dead helpers of ``name`` and claim the children started since. A stage
        restarts its helper lazily (on its next document), so the search goes on for a
        few more documents (a /proc scan each), then gives up."""
        with _HELPERS_LOCK:
            pids = self.helpers[name]
            alive = {pid for pid in pids if process_cpu_seconds(pid) is not None}
            _CLAIMED_HELPERS.difference_update(pids - alive)
            if len(alive) < len(pids):
                self._seeking[name] = self.SEEK_DOCUMENTS
            new = _child_pids() - _CLAIMED_HELPERS
            _CLAIMED_HELPERS.update(new)
            self.helpers[name] = alive | new
        self._seeking[name] -= 1
        if new or self._seeking[name] <= 0:
            del self._seeking[name]


class ApplyStages(beam.DoFn):
    """Input: ``(outcome, Document | None)`` pairs from the WARC reader; output: one
    ``(outcome, StagedRecord | None)`` per record (see the module doc)."""

    def __init__(self, stages: list[Stage], keep_removed: bool = False, progress_every: int = 500):
        self.stages = stages
        self.keep_removed = keep_removed
        self.progress_every = progress_every

    def setup(self):
        # Heavy resources (fastText model, blocklists, extraction worker) load here,
        # once per worker, never per element.
        self._clock = StageClock([s.name for s in self.stages])
        for stage in self.stages:
            self._clock.setup_stage(stage)
        self._progress = Progress("clean", "records processed", self.progress_every)

    def teardown(self):
        for stage in self.stages:
            stage.teardown()
        self._clock.release()

    def process(self, element) -> Iterable:
        outcome, doc = element
        self._progress.add()
        if outcome != stats.READ_OK:
            yield outcome, None
            return
        record = StagedRecord(doc.id, hashlib.sha256(doc.payload).hexdigest(),
                              (doc.source_file, doc.warc_date, doc.url), list(self._items(doc)))
        yield stats.READ_OK, record

    def _items(self, doc: Document) -> Iterable:
        yield FUNNEL, (RECORDS, 0, 0.0)
        yield FUNNEL, (HTML_RESPONSES, document_bytes(doc), 0.0)
        clock = self._clock
        passed: list = []  # funnel entries, emitted as the document leaves each stage alive
        latest = [doc]  # the document as the last stage it passed left it (its language, once known)

        def after_stage(name, d):
            passed.append((FUNNEL, (name, document_bytes(d), clock.lap(name))))
            latest[0] = d

        clock.start()
        try:
            kept, drop_key, dropped = run_stages(self.stages, doc, after_stage=after_stage)
        except StageFailed as failure:  # one broken document must not fail the job
            log.exception("stage %s failed on %s (%s)", failure.stage, doc.id, doc.url)
            yield from passed
            yield FUNNEL, (failure.stage, None, clock.lap(failure.stage))
            outcome = stats.error(f"{failure.stage}.exception")
            yield OUTCOME, outcome
            yield SUMMARY, language_outcome(latest[0], outcome)
            return
        yield from passed
        if drop_key is not None:
            stage = drop_key.partition(".")[0]
            yield FUNNEL, (stage, None, clock.lap(stage))
            if self.keep_removed:
                yield REMOVED, (stage, (dropped.replace(payload=b""), drop_key))
            yield OUTCOME, stats.dropped(drop_key)
            yield SUMMARY, language_outcome(dropped, stats.dropped(drop_key))
            return
        yield OUTCOME, stats.KEPT
        yield SUMMARY, language_outcome(kept, stats.KEPT)
        yield SUMMARY, ("languages", kept.language or "unknown", 1)
        for kind, n in sorted(kept.pii.items()):
            yield SUMMARY, ("pii", kind, n)
        yield DOCUMENT, kept.replace(payload=b"")


def language_outcome(doc: Document, outcome: str) -> tuple:
    """The summary item counting ``outcome`` under the document's language."""
    return stats.BY_LANGUAGE, (doc.language or stats.UNKNOWN_LANGUAGE, outcome), 1


def funnel_rows(per_stage: dict, stage_order: list[str]) -> list[dict]:
    """Ordered funnel: documents and bytes left after each stage (0 when none left), and
    the CPU seconds the stage spent on every document that entered it (None for the rows
    before the first stage: reading is not timed here)."""
    rows = []
    for name in stage_order:
        docs, n_bytes, cpu_s = per_stage.get(name, (0, 0, 0.0))
        # Bytes of non-response records are unknown (the reader does not size them).
        rows.append({"stage": name, "documents": docs, "bytes": None if name == RECORDS else n_bytes,
                     "cpu_s": None if name in (RECORDS, HTML_RESPONSES) else round(cpu_s, 3)})
    return rows


class SummarizeFunnel(beam.PTransform):
    """(stage, bytes | None, cpu_s) triples -> one ("funnel", [rows...]) pair for stats.json."""

    def __init__(self, stage_order: list[str]):
        super().__init__()
        self.stage_order = stage_order

    def expand(self, entries):
        order = self.stage_order
        return (
            entries
            | "PerDocument" >> beam.Map(
                lambda e: (e[0], (0 if e[1] is None else 1, e[1] or 0, e[2])))  # None: dropped here
            | "CountAndSum" >> beam.CombinePerKey(SumTuples(3))
            | "ToDict" >> beam.combiners.ToDict()  # one entry per stage: bounded
            | "Rows" >> beam.Map(lambda d: ("funnel", funnel_rows(d, order)))
        )


def _summary_sections(totals: dict) -> list[tuple[str, dict]]:
    """{(section, key): n} -> [("by_language", {...}), ("languages", {...}), ("pii", {...})],
    all always present."""
    sections: dict[str, dict] = {"languages": {}, "pii": {}}
    outcomes: dict = {}
    for (section, key), n in totals.items():
        if section == stats.BY_LANGUAGE:
            outcomes[key] = n
        else:
            sections.setdefault(section, {})[key] = n
    sections[stats.BY_LANGUAGE] = stats.language_outcomes_to_stats(outcomes)
    # Most frequent language first; PII kinds alphabetically.
    sections["languages"] = dict(sorted(sections["languages"].items(), key=lambda kv: (-kv[1], kv[0])))
    sections["pii"] = dict(sorted(sections["pii"].items()))
    return sorted(sections.items())


class SummarizeKept(beam.PTransform):
    """(section, key, n) triples -> ("languages", {lang: n}), ("pii", {kind: n}) and
    ("by_language", {lang: {documents, documents_kept, dropped, errors}}) pairs."""

    def expand(self, triples):
        return (
            triples
            | "Keyed" >> beam.Map(lambda t: ((t[0], t[1]), t[2]))
            | "Sum" >> beam.CombinePerKey(sum)
            # distinct languages x outcome keys + PII kinds: bounded
            | "ToDict" >> beam.combiners.ToDict()
            | "Sections" >> beam.FlatMap(_summary_sections)
        )
