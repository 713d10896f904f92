"""Pieces both hand-written WARC generators share (scripts/make_sample_crawl.py for the
bundled sample crawl, tests/data/make_sample_warc.py for the test WARC): stable record
ids, a tiny PNG, chunked transfer coding, and the record writer. Both files must stay
byte-identical on every run, so everything here is deterministic."""
from __future__ import annotations

import io
import struct
import uuid
import zlib
from typing import Callable

from warcio.statusandheaders import StatusAndHeaders


def record_id(namespace: uuid.UUID, key: str) -> str:
    return f"<urn:uuid:{uuid.uuid5(namespace, key)}>"


def tiny_png(rgb: bytes = b"\xff\x00\x00") -> bytes:
    """A valid 1x1 PNG of colour ``rgb`` (signature, IHDR, IDAT, IEND)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" + rgb)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def chunked(data: bytes, size: int = 700) -> bytes:
    out = b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + size]), data[i:i + size]) for i in range(0, len(data), size))
    return out + b"0\r\n\r\n"


def record_writer(writer, namespace: uuid.UUID, next_date: Callable[[], str]):
    """``write(uri, rec_type, payload, http=(status, fields), extra, key)`` for ``writer``
    (a warcio WARCWriter): a fixed record id from ``key`` (or type and URI) and the next
    fixed date, so the file comes out the same on every run."""
    def write(uri, rec_type, payload=b"", http=None, extra=None, key=None):
        headers = {"WARC-Record-ID": record_id(namespace, key or f"{rec_type} {uri}"), "WARC-Date": next_date()}
        headers.update(extra or {})
        if http is not None:
            status, fields = http
            is_request = rec_type == "request"
            http_headers = StatusAndHeaders(status + (" HTTP/1.1" if is_request else ""),
                                            fields + [("Content-Length", str(len(payload)))],
                                            protocol="" if is_request else "HTTP/1.1")
        else:
            http_headers = None
        record = writer.create_warc_record(uri, rec_type, payload=io.BytesIO(payload), length=len(payload),
                                           http_headers=http_headers, warc_headers_dict=headers)
        writer.write_record(record)
        return record

    return write
