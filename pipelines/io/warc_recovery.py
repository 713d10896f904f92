"""Reading a damaged WARC/ARC file front to back without losing the records after the damage.

Parsing is warcio's. What we add around it, and why:
- warcio's gzip reader is subclassed (``TrackingReader``) because it silently stops
  at a gzip member cut short (a truncated file would look complete) or rejected by
  zlib; we report both. Its iterator is subclassed (``RecordIterator``) to read
  gzip files that are not one-member-per-record and to keep the next record when a
  Content-Length is too long.
- after a record warcio cannot parse we scan forward to the next record header line
  (or gzip member) and start a fresh iterator there (``resync``), instead of losing
  the rest of the file; a corrupt gzip member is skipped to the next member.

The reader only counts what it saw (``corrupt_members``, ``lost_records``,
``cut_inside_member``, ``cut_in_header``); turning those counts into outcomes is the
reading loop's job (``pipelines.io.warc``).
"""
from __future__ import annotations

import re
import zlib
from typing import Optional

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import DecompressingBufferedReader
from warcio.recordloader import ArcWarcRecordLoader
from warcio.utils import BUFF_SIZE

from pipelines.io.warc_open import GZIP_MAGIC, is_record_start

_WARC_FIELD_RE = re.compile(rb"^WARC-[A-Za-z-]+:")


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
        at = buf.find(GZIP_MAGIC)
        if at >= 0:
            self.unused_data, self._tail = buf[at:], b""
        else:
            self._tail = buf[-(len(GZIP_MAGIC) - 1):]
        return b""

    def flush(self) -> bytes:
        return b""


class TrackingReader(DecompressingBufferedReader):
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


class RecordIterator(ArchiveIterator):
    """warcio's ArchiveIterator, adjusted for reading damaged files front to back:
    parse only the sniffed format, report a cut inside a header block, accept gzip
    files that are not one member per record, and never swallow a record header."""

    def __init__(self, stream, fmt: str, gzipped: bool, next_line: Optional[bytes] = None,
                 reader: Optional[TrackingReader] = None):
        super().__init__(stream, arc2warc=True)
        self.reader = reader or TrackingReader(self.fh, gzipped)
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
            if not line or (line.strip() and is_record_start(line, self.known_format)):
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


def more_data(iterator: RecordIterator, reader: TrackingReader) -> bool:
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


def resync(reader: TrackingReader, fmt: str, gzipped: bool) -> Optional[RecordIterator]:
    """Scan past a broken record to the next record header line (crossing gzip
    members); a fresh iterator continues there. None at the end of the data."""
    while True:
        line = reader.readline()
        if not line:
            if reader.read_next_member():
                continue
            return None
        if is_record_start(line, fmt):
            return RecordIterator(reader.stream, fmt, gzipped, next_line=line, reader=reader)
