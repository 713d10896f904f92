"""Main-text extraction: HTTP payload bytes -> decoded HTML -> trafilatura -> plain text.

Decoding is ours (``pipelines.stages.charset``), not trafilatura's, so that
mis-declared pages still decode and the choice is recorded; a payload nothing decodes
is dropped as ``decode_error``. A page that is UTF-8 but for a few bytes keeps its text,
those bytes become U+FFFD and are counted in ``signals["decode_replaced_bytes"]``.

Time limit: trafilatura (lxml, readability and justext fallbacks) can spend minutes on
a pathological page, and Beam may call ``process`` from any thread, where
``signal.alarm`` cannot interrupt anything. With ``timeout_s`` set, each Extract owns
one persistent child process (``pipelines.stages.child_process``) that decodes and
extracts; when the child has spent ``timeout_s`` seconds of CPU on one document, the
parent kills it, counts the document as ``timeout`` and starts a fresh child for the
next one. CPU time, not wall time, so that reruns on a loaded machine keep the same
pages; a wall-clock backstop (``wall_timeout_s``, default 10 x ``timeout_s``) catches a
child that hangs without computing. The overhead is a pickle round trip per document
(no measurable cost in bench/clean.py) plus one interpreter start (~0.3-1 s) per timeout.

Extractors (``EXTRACTORS``, chosen by name, ``--extractor`` in the clean job): trafilatura
in precision mode (``trafilatura``), the same without its fallback extractors
(``trafilatura_fast``: readability and justext are not tried when trafilatura's own
result looks poor), resiliparse's main-content heuristics (``resiliparse``), and the
extraction cascade (``cascade``): ``trafilatura_fast`` first; only where its text looks
failed against resiliparse's main-content text (empty, or shorter than
``CASCADE_MIN_RATIO`` of it: ``looks_failed``) does ``trafilatura`` with its fallbacks
run, then trafilatura in recall mode; where all three look failed and the last text is a
stub, the resiliparse text is the page's text (which step answered:
``signals["extract_cascade_step"]``). A ``trafilatura_fast`` text of ``CASCADE_FLOOR_CHARS``
or more is taken as it is, so without a language prefilter the resiliparse text is computed
only for pages whose first text is shorter (about half of the shared pages).
``DEFAULT_EXTRACTOR`` is the fastest whose F1 on the labelled extraction set is within
0.005 of the best (bench/extraction_eval.py; figures in docs/clean_stages.md).

Cheap text: resiliparse's main-content text is computed at most once per page, for the
cascade (only where its first text is shorter than the floor) and for the language
prefilter: with a ``LanguagePrefilter`` (``pipelines.stages.language_prefilter``), a page
whose cheap text is clearly in no wanted language is dropped as ``prefilter_language``
before the expensive extractor runs.
"""
from __future__ import annotations

import functools
import itertools
import logging
import re
import sys
import threading
from typing import Any, Callable, Iterable, Iterator, Optional, Union

from pipelines.stages.base import Document, Stage, StageResult
from pipelines.stages.charset import DecodeError, decode_html
from pipelines.stages.child_process import ChildDied, ChildTimeout, TimeLimitedChild
from pipelines.stages.language_prefilter import LanguagePrefilter

log = logging.getLogger(__name__)

_HTML_CONTENT_TYPES = ("html", "xml")


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


def trafilatura_fast_extract(html: str, options: dict[str, Any]) -> Optional[str]:
    """trafilatura as above, without its fallback extractors (readability, justext)."""
    import trafilatura

    return trafilatura.extract(
        html, output_format="txt", fast=True, favor_precision=options["favor_precision"],
        include_comments=options["include_comments"], include_tables=options["include_tables"],
        include_links=False, include_images=False, with_metadata=False, deduplicate=False,
    )


def resiliparse_extract(html: str, options: dict[str, Any]) -> Optional[str]:
    """resiliparse's main-content text, with our settings: no image alt texts (images are
    off for trafilatura too), no link targets, no list bullets, comments as configured."""
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(html, main_content=True, preserve_formatting=True, alt_texts=False, links=False,
                              list_bullets=False, comments=options["include_comments"], form_fields=False)


def trafilatura_recall_extract(html: str, options: dict[str, Any]) -> Optional[str]:
    """trafilatura in recall mode (``favor_recall``), without fallback extractors: the
    cascade's last trafilatura attempt, after the fallbacks have been tried in precision mode."""
    import trafilatura

    return trafilatura.extract(
        html, output_format="txt", fast=True, favor_recall=True,
        include_comments=options["include_comments"], include_tables=options["include_tables"],
        include_links=False, include_images=False, with_metadata=False, deduplicate=False,
    )


# The cascade's steps, cheapest first; a step runs only when every step before it looks
# failed (``looks_failed``); when all do, see CASCADE_STUB_RATIO. Recall mode alone as the
# escalation (without ``trafilatura``'s fallbacks) is 8.7 % cheaper at a labelled F1 0.0022
# lower, but loses good pages the fallbacks find (two of the zh-news articles of issue #15
# among them): measured, not taken (docs/clean_stages.md "Cascade variants").
CASCADE_STEPS: tuple[tuple[str, Callable[[str, dict], Optional[str]]], ...] = (
    ("trafilatura_fast", trafilatura_fast_extract),
    ("trafilatura", trafilatura_extract),
    ("trafilatura_recall", trafilatura_recall_extract),
)
# A step's text looks failed when it is empty or shorter than this share of the cheap
# (resiliparse main-content) text. Chosen on the dev half of the labelled extraction set
# (bench/extraction_eval.py --choose_ratio; docs/clean_stages.md "The extraction cascade").
CASCADE_MIN_RATIO = 0.35
# A first (trafilatura_fast) text of at least this many characters is taken without looking at
# the cheap text: the page's body was found, and a cheap text 3x longer is menus, teasers and
# publication lists. On the shared WARCs every page that escalated with a first text this long
# came back the same or worse (iass-potsdam.de: 3,158 -> 87,786 characters of dossier teasers);
# the first real rescue is below it (greator.com, 2,455 -> 7,022). Its point is cost: these
# pages skip the cheap text (docs/clean_stages.md). Later steps get no floor: they run only
# after a failure, where the cheap text is known anyway.
CASCADE_FLOOR_CHARS = 3000
# When every step looks failed, the last (recall) text still wins unless it is a stub: shorter
# than CASCADE_STUB_RATIO of the cheap text or than CASCADE_STUB_CHARS characters. Only then is
# the cheap text itself taken (a WeChat article: 102 of 1,807 characters; a gov.cn statute: 62
# of 363, only navigation). Chosen on the shared WARCs, where the cheap text of a page that
# trafilatura reads well can be 4-8x longer with menus and teasers (taz.de: 4,392 of 25,942):
# there the cheap text would replace a clean article (docs/clean_stages.md).
CASCADE_STUB_RATIO = 0.1
CASCADE_STUB_CHARS = 200


def looks_failed(text: str, cheap_chars: int, min_ratio: float = CASCADE_MIN_RATIO) -> bool:
    """True when an extraction (newlines collapsed) found nothing, or much less than the cheap
    main-content text of ``cheap_chars`` characters: trafilatura's precision mode then kept a
    title and a few boxes and missed the body."""
    return not text or len(text) < min_ratio * cheap_chars


def first_text_stands(text: str, floor: Optional[int] = None) -> bool:
    """True when the cascade's first text is long enough to be taken unchecked (the floor;
    ``None``: ``CASCADE_FLOOR_CHARS``)."""
    return len(text) >= (CASCADE_FLOOR_CHARS if floor is None else floor)


def pick_cascade_text(attempts: Iterable[str], cheap: str, min_ratio: float = CASCADE_MIN_RATIO,
                      floor: Optional[int] = None) -> tuple[str, int]:
    """The cascade's rule over the steps' texts (consumed lazily: a step runs only when the
    ones before it look failed), newlines collapsed, and the cheap text: the first text that
    is over the floor (``first_text_stands``; the first step only) or does not look failed;
    else the last one unless it is a stub; else the cheap text.
    Returns (text, index of the step that gave it; the number of steps for the cheap text)."""
    text, count = "", 0
    for index, text in enumerate(attempts):
        count = index + 1
        if (index == 0 and first_text_stands(text, floor)) or not looks_failed(text, len(cheap), min_ratio):
            return text, index
    if count and len(text) >= max(CASCADE_STUB_RATIO * len(cheap), CASCADE_STUB_CHARS):
        return text, count - 1  # short against the cheap text, but no stub
    return cheap, count


def cascade_steps(html: str, options: dict[str, Any], cheap: Optional[str] = None,
                  min_ratio: float = CASCADE_MIN_RATIO) -> tuple[str, int]:
    """The cascade's text (newlines collapsed) and the index of the step that gave it
    (``len(CASCADE_STEPS)``: the cheap text). ``cheap``: the cheap text when the caller has it
    already; else it is computed only when the first step's text is shorter than the floor."""

    def attempts() -> Iterator[str]:
        for name, step in CASCADE_STEPS:
            try:
                yield collapse_newlines(step(html, options) or "", options["max_newlines"])
            except Exception as exc:  # a failed step is a failed attempt: the next one tries
                log.debug("cascade step %s failed: %r", name, exc)
                yield ""

    steps = attempts()
    first = next(steps)
    if first_text_stands(first):  # taken whatever the cheap text: do not compute it
        return first, 0
    if cheap is None:
        cheap = cheap_text(html, options)
    return pick_cascade_text(itertools.chain([first], steps), collapse_newlines(cheap, options["max_newlines"]),
                             min_ratio)


def cascade_extract(html: str, options: dict[str, Any], cheap: Optional[str] = None) -> Optional[str]:
    """trafilatura without fallbacks; only where its text looks failed against resiliparse's
    main-content text, trafilatura with its fallbacks, then in recall mode, then that text."""
    return cascade_steps(html, options, cheap)[0]


# Name -> f(html, options) -> text | None. The one place an extractor is chosen by name.
EXTRACTORS: dict[str, Callable[[str, dict], Optional[str]]] = {
    "trafilatura": trafilatura_extract,
    "trafilatura_fast": trafilatura_fast_extract,
    "resiliparse": resiliparse_extract,
    "cascade": cascade_extract,
}
DEFAULT_EXTRACTOR = "cascade"
# The cascade's cheap extraction, on which the language prefilter decides.
CHEAP_EXTRACTOR = "resiliparse"
_WARM_UP_HTML = "<html><body><article><p>Warm-up text of a page.</p></article></body></html>"


def resolve_extractor(extractor: Union[None, str, Callable]) -> Callable[[str, dict], Optional[str]]:
    """A name in EXTRACTORS (None: the default) or a callable -> the extractor function."""
    if extractor is None:
        extractor = DEFAULT_EXTRACTOR
    if callable(extractor):
        return extractor
    if extractor not in EXTRACTORS:
        raise ValueError(f"--extractor: unknown extractor {extractor!r}; choose one of {', '.join(EXTRACTORS)}")
    return EXTRACTORS[extractor]


def warm_up(extractor: Callable) -> None:
    """Import a named extractor's library (startup is not per-document time)."""
    if extractor in EXTRACTORS.values():
        extractor(_WARM_UP_HTML, {"favor_precision": True, "include_comments": False, "include_tables": True,
                                  "max_newlines": 2})


def cheap_text(html: str, options: dict[str, Any]) -> str:
    """The cascade's cheap extraction; "" when it fails (then the page is not prefiltered)."""
    try:
        return EXTRACTORS[CHEAP_EXTRACTOR](html, options) or ""
    except Exception as exc:  # no cheap answer: the expensive extractor decides
        log.debug("cheap extraction failed: %r", exc)
        return ""


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
    prefilter: Optional[LanguagePrefilter] = None,
) -> tuple[Optional[str], str, dict[str, float]]:
    """Decode and extract one payload. Returns (drop reason or None, text, signals)."""
    signals: dict[str, float] = {"html_bytes": float(len(payload))}
    try:
        html, decode_signals = decode_html(payload, http_charset)
    except DecodeError:
        return "decode_error", "", signals
    signals.update(decode_signals)
    extractor = resolve_extractor(extractor)
    # The cheap text is computed at most once: here for the language prefilter (the cascade
    # then reuses it), else by the cascade itself and only where it needs it.
    cheap = cheap_text(html, options) if prefilter is not None else None
    if prefilter is not None and prefilter.cannot_pass(cheap):
        return "prefilter_language", "", signals
    try:
        if extractor is cascade_extract:
            text, step = cascade_steps(html, options, cheap)  # newlines collapsed already
            signals["extract_cascade_step"] = float(step)
        else:
            text = collapse_newlines(extractor(html, options) or "", options["max_newlines"])
    except Exception as exc:  # a bad page must not crash the worker: counted drop
        log.debug("extractor failed: %r", exc)
        return "extract_error", "", signals
    signals["text_chars"] = float(len(text))
    if not text:
        return "empty", "", signals
    return None, text, signals


def _start_extraction(options: dict[str, Any], extractor: Callable,
                      prefilter: Optional[LanguagePrefilter] = None) -> Callable:
    """Runs once in the child process: returns its handler for ``(payload, http_charset)``."""
    # trafilatura logs an ERROR for every unparsable page; our drop counters record them.
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    warm_up(extractor)  # before "ready": startup is not per-doc time
    if prefilter is not None:
        prefilter.setup()
        warm_up(EXTRACTORS[CHEAP_EXTRACTOR])
    return functools.partial(_extract_request, options, extractor, prefilter)


def _extract_request(options: dict[str, Any], extractor: Callable, prefilter: Optional[LanguagePrefilter],
                     request: tuple[bytes, str]) -> tuple[Optional[str], str, dict[str, float]]:
    payload, http_charset = request
    return extract_payload(payload, http_charset, options, extractor, prefilter)


class Extract(Stage):
    """Decode the payload and extract the main text (trafilatura, resiliparse or the cascade).

    Args:
        timeout_s: per-document limit in CPU seconds; the work runs in a child process
            that is killed and replaced on timeout. ``None`` or ``0`` runs in-process
            without a limit.
        wall_timeout_s: wall-clock backstop per document (default 10 x timeout_s).
        favor_precision: trafilatura's precision mode (datatrove/FineWeb use it).
        max_newlines: keep at most this many consecutive newlines.
        include_comments: keep user comment sections (off, as in FineWeb).
        include_tables: keep table text.
        extractor: a name in ``EXTRACTORS`` (default ``DEFAULT_EXTRACTOR``) or a function
            ``f(html: str, options: dict) -> str | None`` (importable by module path: it
            is pickled into the child).
        prefilter: a ``LanguagePrefilter``: pages whose cheap extraction is clearly in no
            wanted language are dropped before the extractor runs.
    Drop reasons: ``not_html``, ``no_payload``, ``decode_error``, ``extract_error``,
    ``empty``, ``timeout``, ``extract_crash`` (the child died, e.g. out of memory),
    ``prefilter_language`` (only with a prefilter).
    Signals: html_bytes, text_chars, extract_cascade_step (only with the cascade: 0
    trafilatura_fast, 1 trafilatura, 2 trafilatura in recall mode, 3 the resiliparse text),
    charset_declared, charset_mismatch, charset_detected, charset_broken_chars,
    decode_replaced_bytes (bytes of the payload decoded as U+FFFD; only present when > 0).
    See ``pipelines.stages.charset``.
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
        extractor: Union[None, str, Callable[[str, dict], Optional[str]]] = None,
        prefilter: Optional[LanguagePrefilter] = None,
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
        self.extractor = resolve_extractor(extractor)  # a bad name fails here, before any work
        self.prefilter = prefilter
        self._child: Optional[TimeLimitedChild] = None
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
            warm_up(self.extractor)  # load once per worker
            if self.prefilter is not None:
                self.prefilter.setup()
                warm_up(EXTRACTORS[CHEAP_EXTRACTOR])
            return
        with self._lock:
            if self._child is None:
                self._child = self._start_child()

    def close(self) -> None:
        """Stop the child process (call from DoFn.teardown); setup() starts a new one."""
        with self._lock:
            if self._child is not None:
                self._child.close()
                self._child = None

    teardown = close  # the Beam wrapper calls stage.teardown() from DoFn.teardown

    def _start_child(self) -> TimeLimitedChild:
        return TimeLimitedChild(
            _start_extraction, (self.options, self.extractor, self.prefilter), name="extraction",
            on_start_failure=f"run `{sys.executable} -c 'import trafilatura, resiliparse'` to see the import error",
        )

    def _run_isolated(self, payload: bytes, http_charset: str) -> tuple[Optional[str], str, dict]:
        with self._lock:
            if self._child is None:
                self._child = self._start_child()
            child = self._child
            try:
                return child.ask((payload, http_charset), self.timeout_s, self.wall_timeout_s)
            except ChildTimeout:
                reason = "timeout"
            except ChildDied:
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
            reason, text, signals = extract_payload(doc.payload, doc.http_charset, self.options, self.extractor,
                                                    self.prefilter)
        else:
            reason, text, signals = self._run_isolated(doc.payload, doc.http_charset)
        doc.signals.update(signals)
        doc.payload = b""  # the HTML is not needed downstream; free it early
        if reason is not None:
            return self.drop(doc, reason)
        doc.text = text
        return doc
