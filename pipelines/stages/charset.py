"""Decoding an HTML payload to text: which charset, and how sure we are.

Decoding is ours, not trafilatura's, so that mis-declared pages still decode and the
choice is recorded. Order:
  1. a byte-order mark;
  2. bytes that are valid UTF-8 (and not pure ASCII) are UTF-8, whatever the page
     declares: legacy pages relabelled by a CMS as ISO-8859-1 are the most common
     mislabel on the web, a strict latin-1 decode never fails, and non-ASCII text in
     any legacy encoding is practically never valid UTF-8 by accident;
  3. the charset of the HTTP Content-Type header;
  4. the ``<meta charset>`` / ``http-equiv`` / XML declaration in the first 4 KiB;
     a declared charset is accepted when at most 5% of the non-ASCII characters fail to
     decode (those become U+FFFD, as in a browser); more means the declaration is wrong;
  5. detection with charset-normalizer; nothing decodable -> ``DecodeError``.
Labels are mapped the way browsers do (WHATWG): iso-8859-1/ascii mean windows-1252,
gb2312/gbk mean gb18030, shift_jis means cp932, ...
"""
from __future__ import annotations

import codecs
import re
from typing import Optional

_PRESCAN_BYTES = 4096
_META_CHARSET = re.compile(
    rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([a-z0-9_:.\-]+)"""  # <meta charset> and http-equiv
    rb"""|<\?xml[^>]{0,100}?encoding\s*=\s*["']([a-z0-9_:.\-]+)""",
    re.IGNORECASE,
)
# WHATWG Encoding Standard: labels that browsers decode with a superset codec.
_WHATWG_SUPERSETS = {
    "latin_1": "cp1252", "iso8859_1": "cp1252", "ascii": "cp1252",
    "iso8859_9": "cp1254", "iso8859_11": "cp874", "tis_620": "cp874",
    "gb2312": "gb18030", "gbk": "gb18030",
    "shift_jis": "cp932", "euc_kr": "cp949", "big5": "big5hkscs",
}
# Share of non-ASCII characters that may fail to decode under the declared charset
# before we call the declaration wrong (measured on the real pages: 0.2%..3.8% for
# UTF-8 pages with a few broken bytes; a wrong declaration breaks ~100%).
_MAX_BROKEN_FRACTION = 0.05


class DecodeError(ValueError):
    """No encoding decodes the payload."""


def codec_for_label(label: str) -> Optional[str]:
    """Python codec name for a declared charset label, None if unknown or unsafe."""
    try:
        name = codecs.lookup(label.strip().strip("\"'").lower()).name.replace("-", "_")
    except (LookupError, ValueError):
        return None
    if name == "utf_7":  # never honour UTF-7 declarations (browsers don't either: XSS vector)
        return None
    return _WHATWG_SUPERSETS.get(name, name)


def declared_charsets(payload: bytes, http_charset: str) -> list[str]:
    """Codecs declared for this payload: HTTP header first, then the HTML prescan."""
    found = []
    if http_charset:
        found.append(codec_for_label(http_charset))
    match = _META_CHARSET.search(payload[:_PRESCAN_BYTES])
    if match:
        found.append(codec_for_label((match.group(1) or match.group(2)).decode("ascii", "replace")))
    return [c for c in found if c]


def decode_html(payload: bytes, http_charset: str = "") -> tuple[str, dict[str, float]]:
    """Decode an HTML payload; returns the text and signals about how it was decoded."""
    for bom, codec in ((codecs.BOM_UTF8, "utf_8_sig"), (codecs.BOM_UTF16_LE, "utf_16"), (codecs.BOM_UTF16_BE, "utf_16")):
        if payload.startswith(bom):
            return payload.decode(codec, errors="replace"), {"charset_declared": 1.0, "charset_mismatch": 0.0}
    declared = declared_charsets(payload, http_charset)
    signals = {"charset_declared": float(bool(declared)), "charset_mismatch": 0.0}
    # UTF-16 without BOM has ASCII-range NUL bytes that would pass as valid UTF-8.
    if declared and declared[0].startswith("utf_16"):
        try:
            return payload.decode(declared[0]), signals
        except UnicodeDecodeError:
            pass
    if not payload.isascii():
        try:
            text = payload.decode("utf-8")
            if declared and not declared[0].startswith("utf_8"):
                signals["charset_mismatch"] = 1.0
            return text, signals
        except UnicodeDecodeError:
            pass
    for codec in declared:
        try:
            text = payload.decode(codec)
            signals["charset_mismatch"] = float(codec != declared[0])
            return text, signals
        except UnicodeDecodeError:
            pass
        # A right declaration with a few broken bytes (a truncated multi-byte character,
        # a stray legacy byte): keep it with U+FFFD, as browsers do. Detection would
        # re-decode the whole page in some other code page. A wrong declaration breaks
        # most non-ASCII characters, far above the tolerance.
        text = payload.decode(codec, errors="replace")
        broken = text.count("\ufffd")
        non_ascii = len(text) - len(text.encode("ascii", "ignore"))
        if broken <= _MAX_BROKEN_FRACTION * non_ascii:
            signals["charset_mismatch"] = float(codec != declared[0])
            signals["charset_broken_chars"] = float(broken)
            return text, signals
    if payload.isascii():  # and nothing (usable) declared: ASCII is its own answer
        return payload.decode("ascii"), signals
    if declared:
        signals["charset_mismatch"] = 1.0
    from charset_normalizer import from_bytes  # imported lazily: detection is the rare path

    best = from_bytes(payload).best()
    if best is None:
        raise DecodeError("no encoding decodes the payload")
    signals["charset_detected"] = 1.0
    return str(best), signals
