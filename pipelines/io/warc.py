"""Read WARC and ARC files into HTML-response Documents, with one outcome per record.

``iter_warc_outcomes(path)`` yields, for EVERY record it reads, exactly one
``(outcome, Document | None)`` pair, so the clean job can keep the accounting
invariant ``records read = kept + dropped + errors``:

  ``("ok", doc)``                  an HTML response; ``doc.payload`` holds the HTTP body
  ``("dropped:warc.<reason>", None)`` a record that is not an HTML page
                                   (``warc_records.DROP_REASONS``)
  ``("error:warc.<reason>", None)``   breakage: ``unreadable_file`` (once per file),
                                   ``truncated`` (once, after the records before the cut),
                                   ``bad_record`` (a record we skip, then read on)

Record identity (``DropRepeatedRecords``): one WARC record read twice (from a file and
a cut copy of it) is kept once, the other copy counted as ``warc.duplicate_record``.
A WARC-Record-ID is not content, though: records that share an id but differ in payload
are all kept, each under an id derived from the record id and its payload digest
(``conflict_id``), and counted as a note ``warc.conflicting_record_id``, not as an
outcome: each of them is a document with its own outcome. The clean job applies it after
its stages, to what each record became, so that no HTML payload is shuffled.

This module is the reading loop and its Beam transforms. The parts it calls:
  ``warc_open``      opening a path or URL, sniffing gzip and WARC vs ARC
  ``warc_records``   one record -> Document or drop outcome (HTML detection, ids, domains)
  ``warc_recovery``  warcio adjusted to read on past cuts, corrupt gzip members and
                     broken records, counting what it skipped
"""
from __future__ import annotations

import hashlib
import logging
import time
from typing import Iterable, Iterator, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipelines import stats
from pipelines.io.warc_open import FailSafeReader, PrefixedStream, open_input, peek, sniff_archive
from pipelines.io.warc_records import (
    PARSE_ERRORS,
    classify,
    crawl_from_warcinfo,
    drain,
    errored,
    has_valid_content_length,
    infer_crawl,
)
from pipelines.io.warc_recovery import RecordIterator, more_data, resync
from pipelines.progress import Progress
from pipelines.stages.base import Document, stable_id

log = logging.getLogger(__name__)

DEFAULT_MAX_PAYLOAD_BYTES = 10 * 1024 * 1024


def iter_warc_outcomes(path: str, max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
                       crawl: str = "") -> Iterator[tuple[str, Optional[Document]]]:
    """Yield one ``(outcome, Document | None)`` per record of the WARC/ARC at ``path``.

    Never raises for bad data: an unopenable file, garbage, a cut or a broken record
    becomes an ``error:warc.*`` outcome (and a log line saying what happened).
    """
    crawl = crawl or infer_crawl(path)
    started, counts = time.monotonic(), {}
    progress = Progress(path, "records read", 10_000)

    def emit(outcome, doc=None):
        counts[outcome] = counts.get(outcome, 0) + 1
        progress.add()
        return outcome, doc

    try:
        raw = FailSafeReader(open_input(path))
    except Exception as exc:  # missing file, HTTP error, permission, unknown scheme ...
        log.warning("cannot open %s: %s", path, exc)
        yield emit(errored("unreadable_file"))
        return
    try:
        yield from _read_opened(path, raw, max_payload_bytes, crawl, emit)
    finally:
        raw.close()
        log.info("read %s in %.1fs: %s", path, time.monotonic() - started,
                 ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))


def _read_opened(path, raw, max_payload, crawl, emit):
    prefix, head, cut_gzip = peek(raw)
    fmt = sniff_archive(head)
    if fmt is None:
        yield emit(errored(_why_unreadable(path, head, cut_gzip)))
        return
    yield from _ArchiveReading(path, raw, prefix, fmt, max_payload, crawl, emit).outcomes()


def _why_unreadable(path: str, head: bytes, cut_gzip: bool) -> str:
    """The error reason for a file that sniffs as neither WARC nor ARC."""
    if cut_gzip and b"WARC/".startswith(head[:5]):
        log.warning("%s ends inside its first gzip member (truncated file)", path)
        return "truncated"
    log.warning("%s is not a WARC or ARC file (it starts with %r): skipped", path, head[:32])
    return "unreadable_file"


class _ArchiveReading:
    """The records of one sniffed archive as outcomes, read on past damage.

    What lives across records: the iterator (replaced by a fresh one after each
    resync), the record index, whether the data was cut, and how many corrupt gzip
    members and overrun record headers were already reported; each of those becomes
    exactly one ``bad_record``, in file order, so the counters need the bookkeeping.
    """

    def __init__(self, path: str, raw: FailSafeReader, prefix: bytes, fmt: str,
                 max_payload: int, crawl: str, emit):
        self.path, self.raw, self.fmt = path, raw, fmt
        self.max_payload, self.crawl, self.emit = max_payload, crawl, emit
        self.gzipped = prefix.startswith(b"\x1f\x8b")
        self.iterator = RecordIterator(PrefixedStream(prefix, raw), fmt, self.gzipped)
        self.reader = self.iterator.reader
        self.index = 0
        self.cut = False
        self.corrupt_reported = 0  # corrupt gzip members already reported as bad_record
        self.lost_reported = 0  # overrun record headers already reported as bad_record

    def outcomes(self):
        while True:
            try:
                record = next(self.iterator)
            except StopIteration:
                self.cut = self.iterator.cut_in_header
                break
            except PARSE_ERRORS as exc:
                if (yield from self._read_on_after_unparsable(exc)):
                    continue
                break
            yield from self._report_corrupt_members(self.reader.corrupt_before_record)
            yield from self._report_lost_records()
            self.index += 1
            if self.fmt == "warc" and not has_valid_content_length(record):
                if (yield from self._read_on_after_lengthless()):
                    continue
                break
            outcome, doc, complete = self._read_record(record)
            if not complete or self.raw.failed:
                # The data ended inside this record: count the cut once (below), not the record.
                self.cut = True
                break
            yield self.emit(outcome, doc)
        yield from self._report_end()

    def _read_on_after_unparsable(self, exc: Exception):
        """A record warcio cannot parse: report it and resync. Returns whether to go on."""
        if self.raw.failed:
            return False
        resumed = resync(self.reader, self.fmt, self.gzipped)
        if resumed is None and self.reader.corrupt_members == self.corrupt_reported:
            # Nothing readable after the broken header: the data ended inside it.
            self.cut = True
            return False
        log.warning("%s: skipping a record warcio cannot parse: %s", self.path, str(exc)[:200])
        yield self.emit(errored("bad_record"))
        # The member that broke this record is the bad_record just reported.
        self.corrupt_reported = max(self.corrupt_reported, self.reader.corrupt_members - 1)
        yield from self._report_corrupt_members(self.reader.corrupt_members)
        if resumed is None:
            return False
        self.iterator = resumed
        return True

    def _read_on_after_lengthless(self):
        """A WARC record without a valid Content-Length. Returns whether to go on.

        Content-Length is mandatory. Either the data ended inside this header block
        (a cut), or the record is broken and we read on after it.
        """
        resumed = resync(self.reader, self.fmt, self.gzipped)
        if resumed is None:
            self.cut = True
            return False
        log.warning("%s: record #%d has no valid Content-Length; skipped", self.path, self.index)
        yield self.emit(errored("bad_record"))
        self.iterator = resumed
        return True

    def _read_record(self, record) -> tuple[str, Optional[Document], bool]:
        """(outcome, Document | None, record complete) for a record with a parsed header."""
        if not self.crawl and record.rec_type == "warcinfo":
            self.crawl = crawl_from_warcinfo(record)
        try:
            outcome, doc = classify(record, self.fmt, self.path, self.crawl, self.index, self.max_payload)
            complete = drain(record)
            # Read on to the end of the record's gzip member, where zlib checks the
            # CRC, so a corrupt member is known before its record is handed out.
            self.iterator.read_to_end()
        except PARSE_ERRORS as exc:
            log.warning("%s: bad record #%d: %s", self.path, self.index, str(exc)[:200])
            outcome, doc, complete = errored("bad_record"), None, True
        if self.reader.corrupt_members > self.corrupt_reported:
            # zlib rejected part of this record's gzip member: its bytes are lost.
            log.warning("%s: record #%d is in a corrupt gzip member; skipped", self.path, self.index)
            outcome, doc, complete = errored("bad_record"), None, True
            self.corrupt_reported += 1
        if not complete and not self.raw.failed and more_data(self.iterator, self.reader):
            # Shorter than its Content-Length, yet the file goes on (the gzip member
            # ended early): a broken record, not a cut file.
            log.warning("%s: record #%d is shorter than its Content-Length; skipped", self.path, self.index)
            outcome, doc, complete = errored("bad_record"), None, True
        return outcome, doc, complete

    def _report_corrupt_members(self, upto: int):
        for _ in range(upto - self.corrupt_reported):
            log.warning("%s: a corrupt gzip member was skipped", self.path)
            yield self.emit(errored("bad_record"))
        self.corrupt_reported = max(self.corrupt_reported, upto)

    def _report_lost_records(self):
        for _ in range(self.reader.lost_records - self.lost_reported):
            log.warning("%s: a record header was overrun by the previous record's Content-Length", self.path)
            yield self.emit(errored("bad_record"))
        self.lost_reported = self.reader.lost_records

    def _report_end(self):
        """Damage not yet reported, then ``truncated`` once if the data was cut."""
        yield from self._report_corrupt_members(self.reader.corrupt_members)
        yield from self._report_lost_records()
        if self.cut or self.reader.cut_inside_member or self.raw.failed:
            if self.raw.failed:
                log.warning("reading %s failed: %s", self.path, self.raw.failed)
            log.warning("%s ends inside a record (truncated file)", self.path)
            yield self.emit(errored("truncated"))


class ReadWarcOutcomes(beam.PTransform):
    """files -> (outcome, Document | None) for every record.

    Common Crawl WARCs are ~1 GB each and a job often reads only a few of them, so a
    file is a poor unit of parallelism then: two files would keep two workers busy
    while fourteen idle. The first Reshuffle spreads files over workers (Create alone
    would keep them on one); the second redistributes the records read from one file
    so that the expensive stages after it (extraction, langid) run on all workers.
    That second shuffle moves every HTML payload (~150 KB a page, ten times its text),
    so it is worth it only while files are scarce: ``spread_records=None`` (auto)
    spreads records when there are fewer than ``SPREAD_BELOW_FILES_PER_WORKER`` files
    per worker (workers read from the pipeline's options: ``direct_num_workers``,
    ``num_workers``, ``max_num_workers``; 1 when none is given). A snapshot (~90,000
    files) never spreads records; ``True``/``False`` force it.
    """

    def __init__(self, files: list[str], max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
                 crawl: str = "", spread_records: Optional[bool] = True):
        super().__init__()
        if max_payload_bytes < 1:
            raise ValueError("max_payload_bytes must be >= 1")
        self.files = sorted(set(files))
        self.max_payload_bytes = max_payload_bytes
        self.crawl = crawl
        self.spread_records = spread_records

    def expand(self, pbegin):
        records = (
            pbegin
            | "WarcFiles" >> beam.Create(self.files)
            | "SpreadFiles" >> beam.Reshuffle()
            | "ReadRecords" >> beam.FlatMap(iter_warc_outcomes, max_payload_bytes=self.max_payload_bytes,
                                            crawl=self.crawl)
        )
        spread = self.spread_records
        if spread is None:
            spread = len(self.files) < SPREAD_BELOW_FILES_PER_WORKER * _workers(pbegin.pipeline.options)
        return records | "SpreadRecords" >> beam.Reshuffle() if spread else records


# With at least this many files per worker, whole files balance the work well enough
# (Common Crawl's WARCs are all ~1 GB): records are not shuffled.
SPREAD_BELOW_FILES_PER_WORKER = 2


def _workers(options) -> int:
    """The most workers the pipeline's options name (1 when they name none)."""
    if options is None:
        return 1
    values = options.get_all_options(retain_unknown_options=True)
    named = [values.get(k) for k in ("direct_num_workers", "num_workers", "max_num_workers")]
    return max([int(n) for n in named if n] + [1])


# The stats.json section for counts that are not outcomes, and its key for records that
# share a WARC-Record-ID with a different payload (also the Beam counter notes.warc /
# conflicting_record_id).
NOTES, CONFLICTING_RECORD_ID = stats.NOTES, stats.CONFLICTING_RECORD_ID
_CONFLICTS = "conflicts"  # _first_copy's count of conflicting records, beside its outcomes


def conflict_id(doc_id: str, payload_digest: str) -> str:
    """The id of a record whose WARC-Record-ID (``doc_id`` is its hash) is shared by
    records with other payloads: the record id and the payload's sha256, hashed."""
    return stable_id(doc_id, "sha256:" + payload_digest)


class RecordIdentity:
    """How ``DropRepeatedRecords`` sees the values it groups; this default reads a
    Document straight from the reader. A caller that groups something else (the clean
    job groups each record's stage results, so that no HTML is shuffled) passes an
    object with the same four methods."""

    def record_id(self, value) -> str:
        return value.id

    def payload_sha256(self, value) -> str:
        """Called only for ids read more than once: the common case hashes nothing."""
        return hashlib.sha256(value.payload).hexdigest()

    def order(self, value) -> tuple:
        """Which copy of a payload is the first: deterministic, whatever the read order."""
        return value.source_file, value.warc_date, value.url

    def renamed(self, value, new_id: str):
        return value.replace(id=new_id)


def _by_payload(values: list, identity) -> dict[str, list]:
    """The records of one id, by payload sha256; their order is deterministic."""
    groups: dict[str, list] = {}
    for value in values:
        groups.setdefault(identity.payload_sha256(value), []).append(value)
    return {digest: sorted(copies, key=identity.order) for digest, copies in sorted(groups.items())}


def _first_copy(keyed, identity) -> Iterator[tuple[str, Optional[object]]]:
    """Keep one copy of each distinct payload among the records of one id (deterministically).

    One payload (the common case): its first copy keeps its id; repeats are
    ``warc.duplicate_record``. Several payloads: each payload's first copy is kept under
    ``conflict_id``, so no two documents share an id; repeats of a payload are
    duplicates as before.
    """
    doc_id, values = keyed
    values = list(values)
    if len(values) == 1:  # the common case: no hashing
        yield stats.READ_OK, values[0]
        return
    groups = _by_payload(values, identity)
    conflicting = len(groups) > 1
    if conflicting:  # counted here, where the payloads are hashed anyway
        Metrics.counter(f"{NOTES}.warc", "conflicting_record_id").inc(len(groups) - 1)
        yield _CONFLICTS, len(groups) - 1
    for digest, copies in groups.items():
        first = copies[0]
        yield stats.READ_OK, identity.renamed(first, conflict_id(doc_id, digest)) if conflicting else first
        for _ in copies[1:]:
            yield stats.dropped("warc.duplicate_record"), None


def _notes(conflicts: int) -> Iterable[tuple[str, dict]]:
    if conflicts:  # no key at all when there is nothing to note
        yield NOTES, {CONFLICTING_RECORD_ID: conflicts}


class DropRepeatedRecords(beam.PTransform):
    """(outcome, value | None) -> the same, each WARC record kept once.

    The same WARC record (same WARC-Record-ID, hence the same document id) can be
    read from two input files, e.g. a file and a cut copy of it. Without this the
    output would hold two rows with one id. Records of one id are compared by payload
    digest (``_first_copy``): identical payloads are repeats (``warc.duplicate_record``),
    different payloads are different documents that all stay. Memory: one id's copies.

    Values are the reader's Documents by default; ``identity`` (see ``RecordIdentity``)
    lets a caller group what its records became instead. Grouping by id is a shuffle of
    every value: the clean job applies this AFTER its stages, to each record's results
    (its text, about a tenth of the HTML, or only its outcome when a stage dropped it)
    with the payload's digest taken before extraction, so the HTML never moves (unless the
    reader spreads records because there are fewer than two files per worker).

    Returns ``(records, notes)``: ``notes`` holds at most one
    ``("notes", {"warc.conflicting_record_id": n})`` pair, none when no id is shared by
    different payloads, for ``stats.WriteStats(extras=...)``. Outside the accounting
    invariant: each conflicting record is also a kept (or later dropped) document.
    """

    def __init__(self, identity=None):
        super().__init__()
        self.identity = identity or RecordIdentity()

    def expand(self, records):
        identity = self.identity
        # Filters rather than beam.Partition (Dask limit 1 in pipelines.beam.runner).
        ok = records | "HtmlResponses" >> beam.Filter(lambda r: r[0] == stats.READ_OK)
        other = records | "OtherOutcomes" >> beam.Filter(lambda r: r[0] != stats.READ_OK)
        groups = (
            ok
            | "KeyById" >> beam.Map(lambda r: (identity.record_id(r[1]), r[1]))
            | "GroupById" >> beam.GroupByKey()
        )
        first_copies = groups | "FirstCopy" >> beam.FlatMap(_first_copy, identity)
        unique = first_copies | "Outcomes" >> beam.Filter(lambda r: r[0] != _CONFLICTS)
        kept = (unique, other) | "Rejoin" >> beam.Flatten()
        notes = (
            first_copies
            | "ConflictCounts" >> beam.Filter(lambda r: r[0] == _CONFLICTS)
            | "Counts" >> beam.Map(lambda r: r[1])
            | "SumConflicts" >> beam.CombineGlobally(sum)
            | "Notes" >> beam.FlatMap(_notes)
        )
        return kept, notes
