"""Opening a WARC/ARC file and telling from its first bytes what it holds.

A file is read as raw bytes (never gunzipped by Beam: warcio reads gzip member by
member, which the damage recovery in ``warc_recovery`` needs). The first 64 KiB are
peeked and handed back, so the format is known before warcio sees any of it.

The format is sniffed (``WARC/`` or an ARC header line) because warcio parses any text
line with five fields as an ARC record, so garbage would become "records".
"""
from __future__ import annotations

import io
import re
import urllib.request
import zlib
from typing import BinaryIO, Optional

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

HTTP_TIMEOUT_S = 60

GZIP_MAGIC = b"\x1f\x8b\x08"
# An ARC v1 record header line: URL, IP, 14-digit date, MIME type, length.
_ARC_HEADER_RE = re.compile(rb"^\S+ \S+ \d{14}\S* \S+ \S+\s*$")


def open_input(path: str) -> BinaryIO:
    """Open a local path, http(s) URL or Beam FileSystems path as a raw byte stream.

    Compression is deliberately NOT auto-detected here (Beam would gunzip ``.gz``
    on its own): warcio reads gzip member by member, which we need.
    """
    if path.startswith(("http://", "https://")):
        # The response object streams the body; nothing is held in memory whole.
        return urllib.request.urlopen(path, timeout=HTTP_TIMEOUT_S)
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


class PrefixedStream(io.RawIOBase):
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


class FailSafeReader(io.RawIOBase):
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


def peek(raw, size: int = 1 << 16) -> tuple[bytes, bytes, bool]:
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
            start = prefix.find(GZIP_MAGIC, start + 1)
            continue
        cut = got < size and not member.eof and not member.unconsumed_tail and len(head) < 4096
        return prefix, head, cut and start == 0
    return prefix, b"", False


def sniff_archive(first: bytes) -> Optional[str]:
    """'warc', 'arc' or None from the first decompressed bytes of a file."""
    head = first.lstrip(b"\r\n")
    if head.startswith(b"WARC/"):
        return "warc"
    line = head.split(b"\n", 1)[0]
    if head.startswith(b"filedesc://") or _ARC_HEADER_RE.match(line):
        return "arc"
    return None


def is_record_start(line: bytes, fmt: str) -> bool:
    """Can this line begin a record of format ``fmt`` ('warc' or 'arc')?"""
    if fmt == "warc":
        return line.startswith(b"WARC/")
    return bool(_ARC_HEADER_RE.match(line))
