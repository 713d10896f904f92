"""One WARC/ARC record -> an HTML-response Document, or the reason it is not one.

Outcomes (strings, as ``pipelines.stats`` spells them):
  ``OK``                            an HTML response; ``doc.payload`` holds the HTTP body
  ``dropped:warc.<reason>``         a record that is not an HTML page (``DROP_REASONS``)
  ``error:warc.<reason>``           breakage (``ERROR_REASONS``)

warcio parses the HTTP head only for http(s) target URIs; we also parse it for any
record whose WARC Content-Type says ``application/http`` (evaluation sets and some
crawlers use other URIs).

HTML detection needs both signals: the HTTP Content-Type (text/html or
application/xhtml+xml, or an unhelpful one: none, text/plain, octet-stream) and a
sniff of the first KiB of the payload (no binary magic number or NUL byte; for an
unhelpful type, an HTML tag at the start as in the WHATWG MIME sniffing standard).
The sniff reads text: a UTF-16 payload (a UTF-16 BOM, or a declared ``utf-16``,
``utf-16le`` or ``utf-16be`` charset and NUL bytes, as ``charset.utf16_codec`` decides)
is decoded first, so its NUL bytes do not make it binary.

Document ids: ``stable_id(WARC-Record-ID)``. ARC records have no record id (warcio
invents a random one), so theirs hash URL, date, file and record position.

Domain convention: ``doc.domain`` is the URL host, lowercased, without port and without
one leading ``www.`` (``www.Example.com:8080`` -> ``example.com``), matching how UT1
blocklists and per-domain statistics spell domains. Other subdomains are kept.
"""
from __future__ import annotations

import re
import urllib.parse
import zlib
from email.message import Message
from typing import Optional

from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeadersParser, StatusAndHeadersParserException

from pipelines import stats
from pipelines.stages.base import Document, stable_id
from pipelines.stages.charset import codec_for_label, utf16_codec

OK = stats.READ_OK
STAGE = "warc"
DROP_REASONS = (
    "warcinfo", "request", "metadata", "revisit", "resource", "conversion",
    "non_html", "empty_payload", "oversized", "http_status", "unknown_record_type",
)
ERROR_REASONS = ("unreadable_file", "truncated", "bad_record")
# What warcio (and our parsing of its records) raises on damaged data: caught per
# record, so one broken record never ends the file.
PARSE_ERRORS = (ArchiveLoadFailed, StatusAndHeadersParserException, ValueError, KeyError,
                IndexError, TypeError, UnicodeError, AttributeError, EOFError, zlib.error)

_CRAWL_RE = re.compile(r"CC-[A-Z]+-\d{4}-\d{2}")
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
_HTTP_PARSER = StatusAndHeadersParser(["HTTP/1.0", "HTTP/1.1"], verify=False)


def dropped(reason: str) -> str:
    return stats.dropped(f"{STAGE}.{reason}")


def errored(reason: str) -> str:
    return stats.error(f"{STAGE}.{reason}")


def infer_crawl(path: str) -> str:
    """``CC-MAIN-2020-34`` from a Common Crawl path such as ``.../CC-MAIN-2020-34/...``.

    When neither the caller nor the path names the crawl, the reader takes it from
    the ``isPartOf`` field of the file's warcinfo record (Common Crawl writes it).
    """
    match = _CRAWL_RE.search(path)
    return match.group(0) if match else ""


def crawl_from_warcinfo(record) -> str:
    """Common Crawl's warcinfo says ``isPartOf: CC-MAIN-2020-34``; '' when absent."""
    try:
        info = record.content_stream().read(1 << 16).decode("utf-8", "replace")
    except PARSE_ERRORS:
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


def sniff_head(payload: bytes, charset: str = "") -> bytes:
    """The bytes the HTML sniff reads: the payload's start, as UTF-8 when it is UTF-16
    (BOM, or ``charset`` declares UTF-16 and the payload has NUL bytes)."""
    if payload.startswith((b"\xff\xfe", b"\xfe\xff")):
        codec = "utf_16"  # the BOM tells the byte order; decoding drops it
    else:
        codec = utf16_codec(payload, codec_for_label(charset) if charset else None)
    if codec is None:
        return payload
    head = payload[:2 * _SNIFF_BYTES]
    return head[:len(head) & ~1].decode(codec, "replace").encode("utf-8")[:_SNIFF_BYTES]


def is_html(mime: str, payload: bytes, charset: str = "") -> bool:
    """Declared HTML must not be binary; an unhelpful type must look like HTML.
    ``charset``: the HTTP charset (a UTF-16 payload is sniffed as decoded text)."""
    payload = sniff_head(payload, charset)
    if mime in _HTML_TYPES:
        return not looks_binary(payload)
    if mime in _GENERIC_TYPES:
        return not looks_binary(payload) and looks_like_html(payload)
    return False


def has_valid_content_length(record) -> bool:
    """Content-Length is mandatory in WARC; warcio reads a record without one as empty."""
    return (record.rec_headers.get_header("Content-Length") or "").strip().isdigit()


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


def drain(record) -> bool:
    """Consume the rest of the record; False when the record is shorter than declared."""
    raw = record.raw_stream
    while raw.read(1 << 16):
        pass
    return getattr(raw, "limit", 0) <= 0


def classify(record, fmt: str, source_file: str, crawl: str, index: int,
             max_payload: int) -> tuple[str, Optional[Document]]:
    """``(OK, Document)`` for an HTML response, else ``(dropped/errored outcome, None)``.

    Reads the payload (at most ``max_payload`` + 1 bytes); raises one of
    ``PARSE_ERRORS`` when warcio cannot parse the record.
    """
    rec_type = record.rec_type
    if rec_type in ("warcinfo", "request", "metadata", "revisit", "resource", "conversion"):
        return dropped(rec_type), None
    if rec_type != "response":
        return dropped("unknown_record_type"), None
    if not has_valid_content_length(record):
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
    if not is_html(mime, payload, charset):
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
