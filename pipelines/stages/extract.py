"""Main-text extraction: HTTP payload bytes -> decoded HTML -> trafilatura -> plain text.

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
  5. detection with charset-normalizer; nothing decodable -> drop ``decode_error``.
Labels are mapped the way browsers do (WHATWG): iso-8859-1/ascii mean windows-1252,
gb2312/gbk mean gb18030, shift_jis means cp932, ...

Time limit: trafilatura (lxml, readability and justext fallbacks) can spend minutes on
a pathological page, and Beam may call ``process`` from any thread, where
``signal.alarm`` cannot interrupt anything. With ``timeout_s`` set, each Extract owns
one persistent child process (``subprocess``, not ``multiprocessing``: Dask worker
processes are daemonic and may not start multiprocessing children) that decodes and
extracts; when the child has spent ``timeout_s`` seconds of CPU on one document, the
parent kills it, counts the document as ``timeout`` and starts a fresh child for the
next one. CPU time, not wall time: on a busy machine (shared CI, an oversubscribed
worker) a wall-clock limit drops pages that were merely waiting for a core, so the
output would depend on the load; the CPU budget keeps reruns identical. A wall-clock
backstop (``wall_timeout_s``, default 10 x ``timeout_s``) catches a child that hangs
without computing. Where /proc is missing (macOS) the limit is wall-clock. The overhead
is a pickle round trip per document (no measurable cost in bench/clean.py) plus one
interpreter start (~0.3-1 s) per timeout.
"""
from __future__ import annotations

import codecs
import logging
import os
import pathlib
import pickle
import re
import select
import struct
import subprocess
import sys
import threading
import time
import weakref
from typing import Any, Callable, Optional

from pipelines.stages.base import Document, Stage, StageResult

log = logging.getLogger(__name__)

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
_HTML_CONTENT_TYPES = ("html", "xml")
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


def trafilatura_extract(html: str, options: dict[str, Any]) -> Optional[str]:
    """Plain text of the main content, or None. Deterministic: no dedup cache."""
    import trafilatura

    return trafilatura.extract(
        html,
        output_format="txt",
        favor_precision=options["favor_precision"],
        include_comments=options["include_comments"],
        include_tables=options["include_tables"],
        include_links=False,
        include_images=False,
        with_metadata=False,
        # trafilatura's deduplication keeps a process-wide LRU of seen text blocks, which
        # makes a document's text depend on the documents before it: never enable it.
        deduplicate=False,
    )


def collapse_newlines(text: str, max_newlines: int) -> str:
    """Strip trailing spaces on lines and keep at most ``max_newlines`` consecutive newlines."""
    text = re.sub(r"[ \t\r\f\v]+\n", "\n", text)
    if max_newlines > 0:
        text = re.sub(r"\n{%d,}" % (max_newlines + 1), "\n" * max_newlines, text)
    return text.strip()


def extract_payload(
    payload: bytes,
    http_charset: str,
    options: dict[str, Any],
    extractor: Optional[Callable[[str, dict], Optional[str]]] = None,
) -> tuple[Optional[str], str, dict[str, float]]:
    """Decode and extract one payload. Returns (drop reason or None, text, signals)."""
    signals: dict[str, float] = {"html_bytes": float(len(payload))}
    try:
        html, decode_signals = decode_html(payload, http_charset)
    except DecodeError:
        return "decode_error", "", signals
    signals.update(decode_signals)
    try:
        raw = (extractor or trafilatura_extract)(html, options)
    except Exception as exc:  # a bad page must not crash the worker: counted drop
        log.debug("extractor failed: %r", exc)
        return "extract_error", "", signals
    text = collapse_newlines(raw or "", options["max_newlines"])
    signals["text_chars"] = float(len(text))
    if not text:
        return "empty", "", signals
    return None, text, signals


# ------------------------------------------------------------------ child process
_FRAME = struct.Struct("<Q")
_STARTUP_TIMEOUT_S = 120.0  # interpreter start + imports on a busy machine; not per document
_POLL_S = 0.1  # how often a long-running document's CPU use is checked
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int) -> Optional[float]:
    """user+system CPU seconds of a process from /proc (None where /proc is missing)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # Fields after the parenthesised command name (which may contain spaces):
    # state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
    fields = stat[stat.rindex(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


class _Budget:
    """A document's allowance: CPU seconds of the child, plus a wall-clock backstop."""

    def __init__(self, pid: int, cpu_s: Optional[float], wall_s: float):
        self.pid = pid
        self.cpu_start = process_cpu_seconds(pid) if cpu_s is not None else None
        # Without a CPU reading the wall clock is the only limit, at the CPU budget.
        self.cpu_s = cpu_s if self.cpu_start is not None else None
        self.wall_deadline = time.monotonic() + (wall_s if self.cpu_s is not None else (cpu_s or wall_s))

    def wait_slice(self) -> float:
        left = self.wall_deadline - time.monotonic()
        return max(0.0, min(left, _POLL_S) if self.cpu_s is not None else left)

    def expired(self) -> bool:
        if time.monotonic() >= self.wall_deadline:
            return True
        if self.cpu_s is None:
            return False
        used = process_cpu_seconds(self.pid)
        return used is not None and used - self.cpu_start >= self.cpu_s


def _write_frame(stream, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_FRAME.pack(len(data)) + data)
    stream.flush()


def _read_frame_blocking(stream) -> Any:
    header = stream.read(_FRAME.size)
    if len(header) < _FRAME.size:
        raise EOFError
    (size,) = _FRAME.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


def _worker_main() -> None:
    """Child process loop: read (payload, charset) frames, answer with results."""
    protocol_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything a library prints goes to stderr, never into the protocol
    sys.stdout = sys.stderr
    logging.basicConfig(level=logging.WARNING)
    # trafilatura logs an ERROR for every unparsable page; our drop counters record them.
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    stdin = sys.stdin.buffer
    sys_path, extractor_blob, options = _read_frame_blocking(stdin)
    for entry in sys_path:  # lets a user's (or test's) extractor callable import
        if entry not in sys.path:
            sys.path.append(entry)
    extractor = pickle.loads(extractor_blob)
    if extractor is None:
        import trafilatura  # noqa: F401  (import before "ready": startup is not per-doc time)
    _write_frame(protocol_out, ("ready",))
    while True:
        try:
            payload, http_charset = _read_frame_blocking(stdin)
        except EOFError:
            return  # parent closed the pipe or died
        _write_frame(protocol_out, extract_payload(payload, http_charset, options, extractor))


class _ChildTimeout(Exception):
    pass


class _ExtractorChild:
    """One persistent child process; reads with a deadline on the raw pipe fd."""

    def __init__(self, options: dict[str, Any], extractor: Optional[Callable]):
        root = str(pathlib.Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from pipelines.stages.extract import _worker_main; _worker_main()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self._finalizer = weakref.finalize(self, _kill_process, self.proc)
        try:
            self.send((list(sys.path), pickle.dumps(extractor), options))
            reply = self.receive(_Budget(self.proc.pid, None, _STARTUP_TIMEOUT_S))
        except (_ChildTimeout, EOFError, OSError) as exc:
            self.close()
            raise RuntimeError(
                "the extraction child process did not start; run "
                f"`{sys.executable} -c 'import trafilatura'` to see the import error ({exc!r})"
            ) from exc
        assert reply == ("ready",), reply

    def send(self, obj: Any) -> None:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        self.proc.stdin.write(_FRAME.pack(len(data)) + data)
        self.proc.stdin.flush()

    def _read_exact(self, size: int, budget: _Budget) -> bytes:
        fd = self.proc.stdout.fileno()
        chunks, remaining = [], size
        while remaining:
            readable, _, _ = select.select([fd], [], [], budget.wait_slice())
            if not readable:
                if budget.expired():
                    raise _ChildTimeout
                continue
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                raise EOFError("extraction child exited")
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def receive(self, budget: _Budget) -> Any:
        (size,) = _FRAME.unpack(self._read_exact(_FRAME.size, budget))
        return pickle.loads(self._read_exact(size, budget))

    def close(self) -> None:
        self._finalizer()


def _kill_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for stream in (proc.stdin, proc.stdout):
        try:
            stream.close()
        except OSError:
            pass


class Extract(Stage):
    """Decode the payload and extract the main text with trafilatura.

    Args:
        timeout_s: per-document limit in CPU seconds; the work runs in a child process
            that is killed and replaced on timeout. ``None`` or ``0`` runs in-process
            without a limit.
        wall_timeout_s: wall-clock backstop per document (default 10 x timeout_s).
        favor_precision: trafilatura's precision mode (datatrove/FineWeb use it).
        max_newlines: keep at most this many consecutive newlines.
        include_comments: keep user comment sections (off, as in FineWeb).
        include_tables: keep table text.
        extractor: ``f(html: str, options: dict) -> str | None`` replacing trafilatura
            (must be importable by module path: it is pickled into the child).
    Drop reasons: ``not_html``, ``no_payload``, ``decode_error``, ``extract_error``,
    ``empty``, ``timeout``, ``extract_crash`` (the child died, e.g. out of memory).
    Signals: html_bytes, text_chars, charset_declared, charset_mismatch, charset_detected,
    charset_broken_chars.
    """

    name = "extract"

    def __init__(
        self,
        timeout_s: Optional[float] = 5.0,
        wall_timeout_s: Optional[float] = None,
        favor_precision: bool = True,
        max_newlines: int = 2,
        include_comments: bool = False,
        include_tables: bool = True,
        extractor: Optional[Callable[[str, dict], Optional[str]]] = None,
    ):
        if timeout_s is not None and timeout_s < 0:
            raise ValueError(f"timeout_s must be >= 0 (0 or None disables the limit), got {timeout_s}")
        self.timeout_s = timeout_s or None
        self.wall_timeout_s = wall_timeout_s or (10 * self.timeout_s if self.timeout_s else None)
        self.options = {
            "favor_precision": bool(favor_precision),
            "max_newlines": int(max_newlines),
            "include_comments": bool(include_comments),
            "include_tables": bool(include_tables),
        }
        self.extractor = extractor
        self._child: Optional[_ExtractorChild] = None
        self._lock = threading.Lock()
        self.restarts = 0

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_child"] = None
        state["_lock"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def setup(self) -> None:
        if self.timeout_s is None:
            if self.extractor is None:
                import trafilatura  # noqa: F401  (load once per worker)
            return
        with self._lock:
            if self._child is None:
                self._child = _ExtractorChild(self.options, self.extractor)

    def close(self) -> None:
        """Stop the child process (call from DoFn.teardown); setup() starts a new one."""
        with self._lock:
            if self._child is not None:
                self._child.close()
                self._child = None

    teardown = close  # the Beam wrapper calls stage.teardown() from DoFn.teardown

    def _run_isolated(self, payload: bytes, http_charset: str) -> tuple[Optional[str], str, dict]:
        with self._lock:
            if self._child is None:
                self._child = _ExtractorChild(self.options, self.extractor)
            child = self._child
            try:
                budget = _Budget(child.proc.pid, self.timeout_s, self.wall_timeout_s)
                child.send((payload, http_charset))
                return child.receive(budget)
            except _ChildTimeout:
                reason = "timeout"
            except (EOFError, OSError, pickle.UnpicklingError):
                reason = "extract_crash"
            # The child is stuck or dead: kill it; the next document gets a fresh one.
            child.close()
            self._child = None
            self.restarts += 1
            log.warning("extract: %s (limit %.1fs CPU), restarted the extraction process", reason, self.timeout_s)
            return reason, "", {"html_bytes": float(len(payload))}

    def process(self, doc: Document) -> StageResult:
        if doc.content_type and not any(t in doc.content_type.lower() for t in _HTML_CONTENT_TYPES):
            return self.drop(doc, "not_html")
        if not doc.payload:
            return self.drop(doc, "no_payload")
        if self.timeout_s is None:
            reason, text, signals = extract_payload(doc.payload, doc.http_charset, self.options, self.extractor)
        else:
            reason, text, signals = self._run_isolated(doc.payload, doc.http_charset)
        doc.signals.update(signals)
        doc.payload = b""  # the HTML is not needed downstream; free it early
        if reason is not None:
            return self.drop(doc, reason)
        doc.text = text
        return doc
