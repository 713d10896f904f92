"""Read WARC and ARC files into HTML-response Documents, with one outcome per record.

``iter_warc_outcomes(path)`` yields, for EVERY record it reads, exactly one
``(outcome, Document | None)`` pair, so the clean job can keep the accounting
invariant ``records read = kept + dropped + errors``:

  ``("ok", doc)``                  an HTML response; ``doc.payload`` holds the HTTP body
  ``("dropped:warc.<reason>", None)`` a record that is not an HTML page (see ``DROP_REASONS``)
  ``("error:warc.<reason>", None)``   breakage: ``unreadable_file`` (once per file),
                                   ``truncated`` (once, after the records before the cut),
                                   ``bad_record`` (a record we skip, then read on)

Parsing is warcio's. What we add around it, and why:
- warcio's gzip reader is subclassed (``_TrackingReader``) because it silently stops
  at a gzip member cut short (a truncated file would look complete) or rejected by
  zlib; we report both. Its iterator is subclassed (``_RecordIterator``) to read
  gzip files that are not one-member-per-record and to keep the next record when a
  Content-Length is too long.
- the first bytes are sniffed (``WARC/`` or an ARC header line) because warcio parses
  any text line with five fields as an ARC record, so garbage would become "records".
- after a record warcio cannot parse we scan forward to the next record header line
  (or gzip member) and start a fresh iterator there, instead of losing the rest of
  the file; a corrupt gzip member is skipped to the next member.
- warcio parses the HTTP head only for http(s) target URIs; we also parse it for any
  record whose WARC Content-Type says ``application/http`` (evaluation sets and
  some crawlers use other URIs).

HTML detection needs both signals: the HTTP Content-Type (text/html or
application/xhtml+xml, or an unhelpful one: none, text/plain, octet-stream) and a
sniff of the first KiB of the payload (no binary magic number or NUL byte; for an
unhelpful type, an HTML tag at the start as in the WHATWG MIME sniffing standard).

Document ids: ``stable_id(WARC-Record-ID)``. ARC records have no record id (warcio
invents a random one), so theirs hash URL, date, file and record position.

Domain convention: ``doc.domain`` is the URL host, lowercased, without port and without
one leading ``www.`` (``www.Example.com:8080`` -> ``example.com``), matching how UT1
blocklists and per-domain statistics spell domains. Other subdomains are kept.
"""
from __future__ import annotations

import io
import logging
import re
import time
import urllib.parse
import urllib.request
import zlib
from email.message import Message
from typing import BinaryIO, Iterator, Optional

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import DecompressingBufferedReader
from warcio.utils import BUFF_SIZE
from warcio.exceptions import ArchiveLoadFailed
from warcio.recordloader import ArcWarcRecordLoader
from warcio.statusandheaders import StatusAndHeadersParser, StatusAndHeadersParserException

from pipelines import stats
from pipelines.progress import Progress
from pipelines.stages.base import Document, stable_id

log = logging.getLogger(__name__)

DEFAULT_MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
HTTP_TIMEOUT_S = 60

OK = stats.READ_OK
STAGE = "warc"
DROP_REASONS = (
    "warcinfo", "request", "metadata", "revisit", "resource", "conversion",
    "non_html", "empty_payload", "oversized", "http_status", "unknown_record_type",
)
ERROR_REASONS = ("unreadable_file", "truncated", "bad_record")

_CRAWL_RE = re.compile(r"CC-[A-Z]+-\d{4}-\d{2}")
# An ARC v1 record header line: URL, IP, 14-digit date, MIME type, length.
_ARC_HEADER_RE = re.compile(rb"^\S+ \S+ \d{14}\S* \S+ \S+\s*$")
_HTML_TYPES = ("text/html", "application/xhtml+xml")
# Types that say nothing about the body: the payload sniff decides.
_GENERIC_TYPES = ("", "application/octet-stream", "binary/octet-stream", "text/plain",
                  "application/unknown", "unknown/unknown", "*/*", "application/x-unknown")
# WHATWG MIME sniffing, "HTML" patterns: after whitespace, one of these tags followed
# by a space or '>' (https://mimesniff.spec.whatwg.org/#identifying-a-resource-with-an-unknown-mime-type).
_HTML_SNIFF_RE = re.compile(
    rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|script|iframe|h1|div|font|"
    rb"table|a|style|title|b|body|br|p|meta|link|!--)[\s>/]",
    re.IGNORECASE | re.DOTALL,
)
_BINARY_MAGIC = (b"\x89PNG", b"GIF87a", b"GIF89a", b"\xff\xd8\xff", b"%PDF", b"PK\x03\x04",
                 b"\x1f\x8b", b"RIFF", b"OggS", b"\x00\x00\x01\x00", b"wOFF", b"wOF2",
                 b"\x00\x01\x00\x00", b"OTTO", b"ID3", b"\x1aE\xdf\xa3", b"fLaC")
_SNIFF_BYTES = 1024


def dropped(reason: str) -> str:
    return stats.dropped(f"{STAGE}.{reason}")


def errored(reason: str) -> str:
    return stats.error(f"{STAGE}.{reason}")


# --------------------------------------------------------------------------- opening

def open_input(path: str) -> BinaryIO:
    """Open a local path, http(s) URL or Beam FileSystems path as a raw byte stream.

    Compression is deliberately NOT auto-detected here (Beam would gunzip ``.gz``
    on its own): warcio reads gzip member by member, which we need.
    """
    if path.startswith(("http://", "https://")):
        # The response object streams the body; nothing is held in memory whole.
        return urllib.request.urlopen(path, timeout=HTTP_TIMEOUT_S)
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


class _Prefixed(io.RawIOBase):
    """``prefix`` followed by ``stream``: lets us peek at bytes and hand them back."""

    def __init__(self, prefix: bytes, stream):
        super().__init__()
        self._prefix = prefix
        self._stream = stream

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._prefix:
            if size is None or size < 0:
                data, self._prefix = self._prefix + self._stream.read(), b""
                return data
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            return data
        return self._stream.read(size if size is not None else -1)


class _FailSafeReader(io.RawIOBase):
    """Pass-through that turns a mid-stream I/O failure (network reset) into EOF + flag."""

    def __init__(self, stream):
        super().__init__()
        self._stream = stream
        self.failed: Optional[str] = None

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.failed:
            return b""
        try:
            return self._stream.read(size)
        except Exception as exc:  # OSError, http.client.HTTPException (IncompleteRead), ...
            self.failed = f"{type(exc).__name__}: {exc}"
            return b""

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            super().close()


def _sniff_archive(first: bytes) -> Optional[str]:
    """'warc', 'arc' or None from the first decompressed bytes of a file."""
    head = first.lstrip(b"\r\n")
    if head.startswith(b"WARC/"):
        return "warc"
    line = head.split(b"\n", 1)[0]
    if head.startswith(b"filedesc://") or _ARC_HEADER_RE.match(line):
        return "arc"
    return None


def _is_record_start(line: bytes, fmt: str) -> bool:
    if fmt == "warc":
        return line.startswith(b"WARC/")
    return bool(_ARC_HEADER_RE.match(line))


# --------------------------------------------------------------------------- records

def infer_crawl(path: str) -> str:
    """``CC-MAIN-2020-34`` from a Common Crawl path such as ``.../CC-MAIN-2020-34/...``.

    When neither the caller nor the path names the crawl, the reader takes it from
    the ``isPartOf`` field of the file's warcinfo record (Common Crawl writes it).
    """
    match = _CRAWL_RE.search(path)
    return match.group(0) if match else ""


def _crawl_from_warcinfo(record) -> str:
    """Common Crawl's warcinfo says ``isPartOf: CC-MAIN-2020-34``; '' when absent."""
    try:
        info = record.content_stream().read(1 << 16).decode("utf-8", "replace")
    except _PARSE_ERRORS:
        return ""
    match = re.search(r"^isPartOf:\s*(" + _CRAWL_RE.pattern + r")\s*$", info, re.MULTILINE)
    return match.group(1) if match else ""


def domain_of(url: str) -> str:
    try:
        host = urllib.parse.urlsplit(url).hostname or ""
    except ValueError:
        return ""
    host = host.lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


def parse_content_type(value: Optional[str]) -> tuple[str, str]:
    """(mime type, charset) from a Content-Type header value, both lowercased."""
    if not value:
        return "", ""
    msg = Message()
    msg["Content-Type"] = value
    mime = value.split(";", 1)[0].strip().lower()
    charset = msg.get_param("charset")
    if isinstance(charset, tuple):  # RFC 2231 form
        charset = charset[2]
    return mime, (str(charset).strip().strip("'\"").lower() if charset else "")


def looks_binary(head: bytes) -> bool:
    if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):  # text BOMs
        return False
    return head.startswith(_BINARY_MAGIC) or b"\x00" in head[:_SNIFF_BYTES]


def looks_like_html(head: bytes) -> bool:
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    return bool(_HTML_SNIFF_RE.match(head[:_SNIFF_BYTES]))


def is_html(mime: str, payload: bytes) -> bool:
    """Declared HTML must not be binary; an unhelpful type must look like HTML."""
    if mime in _HTML_TYPES:
        return not looks_binary(payload)
    if mime in _GENERIC_TYPES:
        return not looks_binary(payload) and looks_like_html(payload)
    return False


_HTTP_PARSER = StatusAndHeadersParser(["HTTP/1.0", "HTTP/1.1"], verify=False)


def _declares_http(record) -> bool:
    block_type = (record.rec_headers.get_header("Content-Type") or "").lower()
    return block_type.startswith("application/http") and "request" not in block_type


def _read_capped(stream, cap: int) -> bytes:
    """Read at most cap + 1 bytes so an oversized payload is detected without loading it."""
    parts, left = [], cap + 1
    while left > 0:
        data = stream.read(min(left, 1 << 16))
        if not data:
            break
        parts.append(data)
        left -= len(data)
    return b"".join(parts)


def _drain(record) -> bool:
    """Consume the rest of the record; False when the record is shorter than declared."""
    raw = record.raw_stream
    while raw.read(1 << 16):
        pass
    return getattr(raw, "limit", 0) <= 0


def _classify(record, fmt: str, source_file: str, crawl: str, index: int, max_payload: int) -> tuple[str, Optional[Document]]:
    rec_type = record.rec_type
    if rec_type in ("warcinfo", "request", "metadata", "revisit", "resource", "conversion"):
        return dropped(rec_type), None
    if rec_type != "response":
        return dropped("unknown_record_type"), None
    declared = (record.rec_headers.get_header("Content-Length") or "").strip()
    if not declared.isdigit():
        # warcio reads such a record as empty and goes on; it is broken, not empty.
        return errored("bad_record"), None

    http = record.http_headers
    if http is None and fmt == "warc" and _declares_http(record):
        # warcio parses the HTTP head only for http(s) target URIs; some archives
        # (e.g. evaluation sets keyed by page name) use other URIs for real responses.
        http = record.http_headers = _HTTP_PARSER.parse(record.raw_stream)
    if http is not None:
        status = (http.get_statuscode() or "").strip()
        if not status:
            return errored("bad_record"), None  # no HTTP status line at all
        if not (len(status) == 3 and status.startswith("2")):
            return dropped("http_status"), None
        mime, charset = parse_content_type(http.get_header("Content-Type"))
    else:  # ARC records without an HTTP head: the ARC header's type is all we have
        mime, charset = parse_content_type(record.rec_headers.get_header("Content-Type"))
        if mime.startswith("application/http"):
            mime, charset = "", ""
    if mime not in _HTML_TYPES and mime not in _GENERIC_TYPES:
        return dropped("non_html"), None

    payload = _read_capped(record.content_stream(), max_payload)
    if not payload.strip():
        return dropped("empty_payload"), None
    if len(payload) > max_payload:
        return dropped("oversized"), None
    if not is_html(mime, payload):
        return dropped("non_html"), None

    headers = record.rec_headers
    url = headers.get_header("WARC-Target-URI") or ""
    date = headers.get_header("WARC-Date") or ""
    record_id = headers.get_header("WARC-Record-ID")
    if fmt == "warc" and record_id:
        doc_id = stable_id(record_id)
    else:
        # warcio invents a random WARC-Record-ID for ARC records; use what is stable.
        doc_id = stable_id(url, date, source_file, str(index))
    doc = Document(
        id=doc_id, url=url, domain=domain_of(url), crawl=crawl, warc_date=date,
        source_file=source_file, payload=payload, content_type=mime, http_charset=charset,
    )
    return OK, doc


_GZIP_MAGIC = b"\x1f\x8b\x08"


class _SkippedMember:
    """Stands in for the zlib object of a corrupt gzip member.

    It ends that member and passes the bytes from the next gzip header on as
    ``unused_data``, which warcio's ``read_next_member()`` resumes from: the records
    after a corrupt one are still read.
    """

    eof = True

    def __init__(self):
        self.unused_data = b""
        self._tail = b""

    def decompress(self, data: bytes) -> bytes:
        if self.unused_data:
            self.unused_data += data
            return b""
        buf = self._tail + data
        at = buf.find(_GZIP_MAGIC)
        if at >= 0:
            self.unused_data, self._tail = buf[at:], b""
        else:
            self._tail = buf[-(len(_GZIP_MAGIC) - 1):]
        return b""

    def flush(self) -> bytes:
        return b""


class _TrackingReader(DecompressingBufferedReader):
    """warcio's member-aware gzip reader, plus a record of how the data ended.

    warcio reads one gzip member per record, which keeps a record with a wrong
    Content-Length from bleeding into the next one. But it hides two failures: data
    that ends inside a gzip member (a cut file looks complete), and a member zlib
    rejects (warcio prints to stderr and the rest of the file vanishes, or it
    decides the file "is not compressed"). We flag the first and skip the second
    to the next member, counting it.
    """

    def __init__(self, stream, gzipped: bool):
        super().__init__(stream, block_size=BUFF_SIZE, decomp_type="gzip" if gzipped else None)
        self.cut_inside_member = False
        self.corrupt_members = 0
        self.corrupt_before_record = 0
        self.lost_records = 0  # record headers found only as leftovers (see _consume_blanklines)

    def _init_decomp(self, decomp_type):
        super()._init_decomp(decomp_type)
        self.member_fed = False  # bytes of the current gzip member given to zlib

    def _decompress(self, data):
        if self.decompressor is None or not data:
            return data
        self.member_fed = True
        try:
            return self.decompressor.decompress(data)
        except zlib.error:
            # Not warcio's "first block failed, so not compressed": the file was
            # sniffed as gzip, so this member is corrupt.
            self.corrupt_members += 1
            self.decompressor = _SkippedMember()
            return self.decompressor.decompress(data[1:])

    def close_decompressor(self):
        d = self.decompressor
        if d is not None and not d.eof and self.member_fed:
            self.cut_inside_member = True
        super().close_decompressor()


class _Loader(ArcWarcRecordLoader):
    def load_http_headers(self, rec_type, uri, stream, length):
        # A WARC record without Content-Length is broken; parsing an HTTP head out
        # of what follows would eat the next record's header. (uri None: broken too.)
        if length is None or uri is None:
            return None
        return super().load_http_headers(rec_type, uri, stream, length)


class _RecordIterator(ArchiveIterator):
    """warcio's ArchiveIterator, adjusted for reading damaged files front to back:
    parse only the sniffed format, report a cut inside a header block, accept gzip
    files that are not one member per record, and never swallow a record header."""

    def __init__(self, stream, fmt: str, gzipped: bool, next_line: Optional[bytes] = None,
                 reader: Optional[_TrackingReader] = None):
        super().__init__(stream, arc2warc=True)
        self.reader = reader or _TrackingReader(self.fh, gzipped)
        self.loader = _Loader(verify_http=False, arc2warc=True)
        # Parse only as the sniffed format: in mixed mode warcio accepts any
        # five-field text line as an ARC record header, turning garbage into records.
        self.known_format = fmt
        self.next_line = next_line
        self.skipped_lines = 0
        self.cut_in_header = False

    def _next_record(self, next_line):
        # warcio treats EOFError while parsing a record as "no more records", so a file
        # cut inside a record's header block would end silently. We read the first
        # line ourselves: once a record has started, running out of data is a cut.
        while not next_line or not next_line.strip():
            next_line = self.reader.readline()
            if not next_line and not self.reader.read_next_member():
                raise EOFError()
        # Members skipped as corrupt up to here held earlier records, not this one.
        self.reader.corrupt_before_record = self.reader.corrupt_members
        try:
            return super()._next_record(next_line)
        except EOFError:
            self.cut_in_header = True
            raise

    def _raise_invalid_gzip_err(self):
        # One gzip member holding many records cannot be seeked into by offset (why
        # warcio refuses it), but reads fine front to back, which is all we do.
        return None

    def _consume_blanklines(self):
        # warcio swallows the first non-blank line after a record (to step over a
        # record whose Content-Length was a few bytes short). When Content-Length was
        # too LONG that line is the next record's "WARC/1.0", and the next record is
        # lost. We skip only lines that cannot start a record, and count a record as
        # lost when the skipped lines include WARC header fields.
        empty_size = 0
        skipped_here = overrun = False
        while True:
            line = self.reader.readline()
            if not line or (line.strip() and _is_record_start(line, self.known_format)):
                if overrun:
                    self.reader.lost_records += 1
                if not line and skipped_here and self.reader.decompressor is None:
                    # Uncompressed data ending in a partial line ("WAR"): a cut.
                    self.cut_in_header = True
                return (line or None), empty_size
            if line.strip():
                self.skipped_lines += 1
                skipped_here = True
                overrun = overrun or (self.known_format == "warc" and _WARC_FIELD_RE.match(line) is not None)
            empty_size += len(line)


_WARC_FIELD_RE = re.compile(rb"^WARC-[A-Za-z-]+:")
_PARSE_ERRORS = (ArchiveLoadFailed, StatusAndHeadersParserException, ValueError, KeyError,
                 IndexError, TypeError, UnicodeError, AttributeError, EOFError, zlib.error)


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
        raw = _FailSafeReader(open_input(path))
    except Exception as exc:  # missing file, HTTP error, permission, unknown scheme ...
        log.warning("cannot open %s: %s", path, exc)
        yield emit(errored("unreadable_file"))
        return
    try:
        yield from _iter_open(path, raw, max_payload_bytes, crawl, emit)
    finally:
        raw.close()
        log.info("read %s in %.1fs: %s", path, time.monotonic() - started,
                 ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))


def _peek(raw, size: int = 1 << 16) -> tuple[bytes, bytes, bool]:
    """(raw prefix, first decompressed bytes, whole file is one cut gzip member)."""
    parts, got = [], 0
    while got < size:
        data = raw.read(size - got)
        if not data:
            break
        parts.append(data)
        got += len(data)
    prefix = b"".join(parts)
    if not prefix.startswith(b"\x1f\x8b"):
        return prefix, prefix, False
    start = 0
    while start >= 0:  # a corrupt first member: look at the next one
        member = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            head = member.decompress(prefix[start:], 4096)
        except zlib.error:
            start = prefix.find(_GZIP_MAGIC, start + 1)
            continue
        cut = got < size and not member.eof and not member.unconsumed_tail and len(head) < 4096
        return prefix, head, cut and start == 0
    return prefix, b"", False


def _iter_open(path, raw, max_payload, crawl, emit):
    prefix, head, cut_gzip = _peek(raw)
    fmt = _sniff_archive(head)
    if fmt is None and cut_gzip and b"WARC/".startswith(head[:5]):
        log.warning("%s ends inside its first gzip member (truncated file)", path)
        yield emit(errored("truncated"))
        return
    if fmt is None:
        log.warning("%s is not a WARC or ARC file (it starts with %r): skipped", path, head[:32])
        yield emit(errored("unreadable_file"))
        return
    gzipped = prefix.startswith(b"\x1f\x8b")
    iterator = _RecordIterator(_Prefixed(prefix, raw), fmt, gzipped)
    reader = iterator.reader
    index, cut = 0, False
    accounted = 0  # corrupt gzip members already reported as bad_record

    def unreported(upto: int):
        nonlocal accounted
        for _ in range(upto - accounted):
            log.warning("%s: a corrupt gzip member was skipped", path)
            yield emit(errored("bad_record"))
        accounted = max(accounted, upto)

    lost_reported = 0

    def lost():
        nonlocal lost_reported
        for _ in range(reader.lost_records - lost_reported):
            log.warning("%s: a record header was overrun by the previous record's Content-Length", path)
            yield emit(errored("bad_record"))
        lost_reported = reader.lost_records

    while True:
        try:
            record = next(iterator)
        except StopIteration:
            cut = iterator.cut_in_header
            break
        except _PARSE_ERRORS as exc:
            if raw.failed:
                break
            resumed = _resync(reader, fmt, gzipped)
            if resumed is None and reader.corrupt_members == accounted:
                # Nothing readable after the broken header: the data ended inside it.
                cut = True
                break
            log.warning("%s: skipping a record warcio cannot parse: %s", path, str(exc)[:200])
            yield emit(errored("bad_record"))
            accounted = max(accounted, reader.corrupt_members - 1)
            yield from unreported(reader.corrupt_members)
            if resumed is None:
                break
            iterator = resumed
            continue
        yield from unreported(reader.corrupt_before_record)
        yield from lost()
        index += 1
        if fmt == "warc" and not (record.rec_headers.get_header("Content-Length") or "").strip().isdigit():
            # Content-Length is mandatory. Either the data ended inside this header
            # block (a cut), or the record is broken and we read on after it.
            resumed = _resync(reader, fmt, gzipped)
            if resumed is None:
                cut = True
                break
            log.warning("%s: record #%d has no valid Content-Length; skipped", path, index)
            yield emit(errored("bad_record"))
            iterator = resumed
            continue
        if not crawl and record.rec_type == "warcinfo":
            crawl = _crawl_from_warcinfo(record)
        try:
            outcome, doc = _classify(record, fmt, path, crawl, index, max_payload)
            complete = _drain(record)
            # Read on to the end of the record's gzip member, where zlib checks the
            # CRC, so a corrupt member is known before its record is handed out.
            iterator.read_to_end()
        except _PARSE_ERRORS as exc:
            log.warning("%s: bad record #%d: %s", path, index, str(exc)[:200])
            outcome, doc, complete = errored("bad_record"), None, True
        if reader.corrupt_members > accounted:
            # zlib rejected part of this record's gzip member: its bytes are lost.
            log.warning("%s: record #%d is in a corrupt gzip member; skipped", path, index)
            outcome, doc, complete = errored("bad_record"), None, True
            accounted += 1
        if not complete and not raw.failed and _more_data(iterator, reader):
            # Shorter than its Content-Length, yet the file goes on (the gzip member
            # ended early): a broken record, not a cut file.
            log.warning("%s: record #%d is shorter than its Content-Length; skipped", path, index)
            outcome, doc, complete = errored("bad_record"), None, True
        if not complete or raw.failed:
            # The data ended inside this record: count the cut once (below), not the record.
            cut = True
            break
        yield emit(outcome, doc)
    yield from unreported(reader.corrupt_members)
    yield from lost()
    if cut or reader.cut_inside_member or raw.failed:
        if raw.failed:
            log.warning("reading %s failed: %s", path, raw.failed)
        log.warning("%s ends inside a record (truncated file)", path)
        yield emit(errored("truncated"))


def _more_data(iterator: _RecordIterator, reader: _TrackingReader) -> bool:
    """Is there data after the current record? (Only asked after a short record.)"""
    if iterator.next_line:
        return True
    member = reader.decompressor
    if member is None or not member.eof:
        return False  # uncompressed, or inside a member: a short record ran into EOF
    if member.unused_data:
        return True
    extra = reader.stream.read(BUFF_SIZE)
    if not extra:
        return False
    # Hand the bytes back as the start of the next member, as read_next_member() does.
    reader.starting_data = extra
    reader._init_decomp(reader.decomp_type)
    return True


def _resync(reader: _TrackingReader, fmt: str, gzipped: bool) -> Optional[_RecordIterator]:
    """Scan past a broken record to the next record header line (crossing gzip
    members); a fresh iterator continues there. None at the end of the data."""
    while True:
        line = reader.readline()
        if not line:
            if reader.read_next_member():
                continue
            return None
        if _is_record_start(line, fmt):
            return _RecordIterator(reader.stream, fmt, gzipped, next_line=line, reader=reader)


# --------------------------------------------------------------------------- Beam

class ReadWarcOutcomes(beam.PTransform):
    """files -> (outcome, Document | None) for every record.

    Common Crawl WARCs are ~1 GB each and a job often reads only a few of them, so a
    file is a poor unit of parallelism: two files would keep two workers busy while
    fourteen idle. The first Reshuffle spreads files over workers (Create alone
    would keep them on one); the second redistributes the records read from one file
    so that the expensive stages after it (extraction, langid) run on all workers.
    ``spread_records=False`` skips that second shuffle for a caller whose next step is a
    shuffle anyway (the clean job groups HTML responses by id), so payloads move once.
    """

    def __init__(self, files: list[str], max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
                 crawl: str = "", spread_records: bool = True):
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
        return records | "SpreadRecords" >> beam.Reshuffle() if self.spread_records else records
