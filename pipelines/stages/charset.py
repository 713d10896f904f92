"""Decoding an HTML payload to text: which charset, and how sure we are.

Decoding is ours, not trafilatura's, so that mis-declared pages still decode and the
choice is recorded. Order:
  1. a byte-order mark;
  2. a declared UTF-16 (``utf-16``, ``utf-16le``, ``utf-16be``) without BOM, when the
     payload has NUL bytes (ASCII-range markup in UTF-16 always has them; a page
     without any is not UTF-16, whatever it says). Plain ``utf-16`` is read in the byte
     order its NUL bytes show (little-endian when unclear, as browsers do);
  3. bytes that are valid UTF-8 (and not pure ASCII) are UTF-8, whatever the page
     declares: legacy pages relabelled by a CMS as ISO-8859-1 are the most common
     mislabel on the web, a strict latin-1 decode never fails, and non-ASCII text in
     any legacy encoding is practically never valid UTF-8 by accident;
  4. bytes that are UTF-8 except for a few (a stray legacy byte, a character cut in
     half) are UTF-8 with those bytes replaced by U+FFFD, whatever the page declares
     (``nearly_utf8``): the writer's text is kept, instead of re-detecting the whole
     page into some other code page;
  5. the charset of the HTTP Content-Type header;
  6. the ``<meta charset>`` / ``http-equiv`` / XML declaration in the first 4 KiB;
     a declared charset is accepted when at most 5% of the non-ASCII characters fail to
     decode (those become U+FFFD, as in a browser); more means the declaration is wrong;
  7. detection with charset-normalizer; where it cannot tell code pages apart (same
     chaos and coherence, e.g. windows-1250 and windows-1252 for "Café crème"), the
     browsers' default windows-1252 wins; nothing decodable -> ``DecodeError``.
Labels are mapped the way browsers do (WHATWG): iso-8859-1/ascii mean windows-1252,
gb2312/gbk mean gb18030, shift_jis means cp932, ...

Signals: ``charset_declared``, ``charset_mismatch`` (the declaration was not used),
``charset_detected`` (step 7), ``charset_broken_chars`` (U+FFFD in the text after a
tolerant decode of steps 4-6) and ``decode_replaced_bytes`` (bytes of the payload
replaced by U+FFFD; only present when > 0).
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
# "Nearly UTF-8" (step 4): at least as many valid non-ASCII UTF-8 characters as
# invalid bytes. Legacy encodings are far below it: on the shared real pages,
# windows-1250/1251/1252 and ISO-8859-2 give 0..0.06 valid characters per invalid byte
# (a letter followed by ASCII is never valid UTF-8), GB18030 and EUC-JP 0.23..0.30;
# UTF-8 pages with a few broken bytes give 25..500. A page with no valid non-ASCII
# character and one odd byte may as well be windows-1252 with one "é": detection.
_MIN_VALID_PER_INVALID = 1
# ... and at most this share of the payload's bytes invalid (but always a few bytes):
# a page that is broken throughout goes on to the declared charset and detection.
_MAX_INVALID_SHARE = 0.01
_FEW_INVALID_BYTES = 4
_UTF16 = ("utf_16", "utf_16_le", "utf_16_be")
# Browsers' default for unlabelled Western pages, and the most common legacy encoding.
_DEFAULT_LEGACY = "cp1252"


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


def utf16_codec(payload: bytes, declared: Optional[str]) -> Optional[str]:
    """The UTF-16 codec for a payload declared (``declared``: a codec name) UTF-16
    without a BOM, or None when the declaration is not UTF-16 or the payload has no NUL
    byte in its first 4 KiB (then it is not UTF-16, whatever it says).

    ``utf_16`` names no byte order: the side of the NUL bytes decides (ASCII-range
    characters have their zero byte second in little-endian), little-endian on a tie.
    """
    if declared not in _UTF16:
        return None
    head = payload[:_PRESCAN_BYTES]
    if b"\x00" not in head:
        return None
    if declared != "utf_16":
        return declared
    odd_nuls = head[1::2].count(0)
    return "utf_16_be" if head[0::2].count(0) > odd_nuls else "utf_16_le"


def _mark_bad_bytes(exc: UnicodeDecodeError) -> tuple[str, int]:
    """Decode error handler: one U+DC80 per undecodable byte (no codec decodes to a lone
    surrogate, so they count exactly the bytes that ``errors="replace"`` replaces)."""
    return "\udc80" * (exc.end - exc.start), exc.end


_MARK_BAD_BYTES = "pipelines.charset.mark_bad_bytes"
codecs.register_error(_MARK_BAD_BYTES, _mark_bad_bytes)


def decode_counting(payload: bytes, codec: str) -> tuple[str, int]:
    """``payload.decode(codec, errors="replace")`` and how many bytes were replaced."""
    text = payload.decode(codec, errors="replace")
    if "\ufffd" not in text:
        return text, 0
    return text, payload.decode(codec, errors=_MARK_BAD_BYTES).count("\udc80")


def nearly_utf8(payload: bytes) -> Optional[tuple[str, int]]:
    """(text, replaced bytes) when the payload is UTF-8 but for a few invalid bytes
    (see ``_MIN_VALID_PER_INVALID`` and ``_MAX_INVALID_SHARE``), else None."""
    marked = payload.decode("utf-8", errors=_MARK_BAD_BYTES)
    invalid = marked.count("\udc80")
    if invalid == 0 or invalid > max(_FEW_INVALID_BYTES, _MAX_INVALID_SHARE * len(payload)):
        return None
    valid_non_ascii = len(marked) - invalid - len(marked.encode("ascii", errors="ignore"))
    if valid_non_ascii < _MIN_VALID_PER_INVALID * invalid:
        return None
    return payload.decode("utf-8", errors="replace"), invalid


def _tolerant(signals: dict[str, float], text: str, replaced: int) -> None:
    signals["charset_broken_chars"] = float(text.count("\ufffd"))
    if replaced:
        signals["decode_replaced_bytes"] = float(replaced)


def decode_html(payload: bytes, http_charset: str = "") -> tuple[str, dict[str, float]]:
    """Decode an HTML payload; returns the text and signals about how it was decoded."""
    for bom, codec in ((codecs.BOM_UTF8, "utf_8_sig"), (codecs.BOM_UTF16_LE, "utf_16"), (codecs.BOM_UTF16_BE, "utf_16")):
        if payload.startswith(bom):
            text, replaced = decode_counting(payload, codec)
            signals = {"charset_declared": 1.0, "charset_mismatch": 0.0}
            if replaced:
                signals["decode_replaced_bytes"] = float(replaced)
            return text, signals
    declared = declared_charsets(payload, http_charset)
    signals = {"charset_declared": float(bool(declared)), "charset_mismatch": 0.0}
    # UTF-16 without BOM has ASCII-range NUL bytes that would pass as valid UTF-8.
    utf16 = utf16_codec(payload, declared[0] if declared else None)
    if utf16:
        text, replaced = decode_counting(payload, utf16)
        if replaced:
            _tolerant(signals, text, replaced)
        return text, signals
    # A UTF-16 label on a page without NUL bytes is not UTF-16, whatever it says (and
    # WHATWG reads such a <meta> label as UTF-8): never decode it as UTF-16 below.
    if declared and declared[0].startswith("utf_16"):
        signals["charset_mismatch"] = 1.0
    declared = [c for c in declared if not c.startswith("utf_16")]
    if not payload.isascii():
        try:
            text = payload.decode("utf-8")
            if declared and not declared[0].startswith("utf_8"):
                signals["charset_mismatch"] = 1.0
            return text, signals
        except UnicodeDecodeError:
            pass
        nearly = nearly_utf8(payload)
        if nearly is not None:
            text, replaced = nearly
            if declared and not declared[0].startswith("utf_8"):
                signals["charset_mismatch"] = 1.0
            _tolerant(signals, text, replaced)
            return text, signals
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
        text, replaced = decode_counting(payload, codec)
        broken = text.count("\ufffd")
        non_ascii = len(text) - len(text.encode("ascii", "ignore"))
        if broken <= _MAX_BROKEN_FRACTION * non_ascii:
            signals["charset_mismatch"] = float(codec != declared[0])
            _tolerant(signals, text, replaced)
            return text, signals
    if payload.isascii():  # and nothing (usable) declared: ASCII is its own answer
        return payload.decode("ascii"), signals
    if declared:
        signals["charset_mismatch"] = 1.0
    signals["charset_detected"] = 1.0
    return detect(payload), signals


def detect(payload: bytes) -> str:
    """The payload decoded in the charset charset-normalizer finds; among equally good
    answers (same chaos and coherence) windows-1252, the browsers' default."""
    from charset_normalizer import from_bytes  # imported lazily: detection is the rare path

    matches = from_bytes(payload)
    best = matches.best()
    if best is None:
        raise DecodeError("no encoding decodes the payload")
    if _DEFAULT_LEGACY not in best.could_be_from_charset:
        for match in matches:
            if (match.chaos, match.coherence) != (best.chaos, best.coherence):
                continue
            if _DEFAULT_LEGACY in match.could_be_from_charset:
                return str(match)
    return str(best)
