"""The stage contract shared by every processing step.

A stage is a small object built from plain arguments. ``process(doc)`` returns either
the (possibly changed) document or a :class:`Drop` carrying a short, stable reason
string. Stages know nothing of Beam: the job modules wrap them, turn drops into
counters ``<stage>.<reason>`` and route dropped documents to ``removed/<stage>/``.

Stages store the signals they compute on ``doc.signals`` so thresholds can be
changed later without re-running extraction.

A stage may change the document it is given in place: the runner (``run_stages``,
the Beam wrapper) hands the chain a private copy, because Beam forbids mutating an
input element (runners such as Dask re-use it when they recompute a branch).
"""
from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, Callable, Optional, Union


def _column(kind: str, default: Any = dataclasses.MISSING, factory: Any = dataclasses.MISSING) -> Any:
    """A persisted field: ``kind`` names its Parquet column type and conversion (the
    codecs live in :mod:`pipelines.io.documents`, which derives the schema from here)."""
    return dataclasses.field(default=default, default_factory=factory, metadata={"column": kind})


@dataclasses.dataclass
class Document:
    """One web document on its way through the pipeline.

    THE document schema: every field made with ``_column`` is a Parquet column, in this
    order (``pipelines.io.documents.DOCUMENT_SCHEMA`` is derived from it, plus
    ``drop_reason`` for removed documents). ``payload``/``content_type``/``http_charset``
    hold the raw HTTP body until the extraction stage turns it into ``text``; they are
    never written to Parquet.
    """

    id: str = _column("string")  # required
    url: str = _column("string", "")
    domain: str = _column("string", "")
    crawl: str = _column("string", "")
    warc_date: str = _column("string", "")
    source_file: str = _column("string", "")
    text: str = _column("large_string", "")
    language: str = _column("string", "")
    language_score: float = _column("float", 0.0)
    # Signals differ per stage configuration; a map keeps the schema stable while
    # staying readable by pandas, DuckDB, Spark and HF datasets.
    signals: dict[str, float] = _column("float_map", factory=dict)
    pii: dict[str, int] = _column("int_map", factory=dict)
    minhash_cluster: Optional[str] = _column("optional_string", None)
    minhash_cluster_size: Optional[int] = _column("optional_int", None)
    duplicate_of: Optional[str] = _column("optional_string", None)
    removed_spans: list[tuple[int, int]] = _column("spans", factory=list)
    # Transient fields (not persisted).
    payload: bytes = b""
    content_type: str = ""
    http_charset: str = ""

    def replace(self, **changes: Any) -> "Document":
        return dataclasses.replace(self, **changes)

    def copy(self) -> "Document":
        """A copy whose mutable fields (signals, pii, removed_spans) are not shared."""
        return dataclasses.replace(
            self, signals=dict(self.signals), pii=dict(self.pii), removed_spans=list(self.removed_spans)
        )


@dataclasses.dataclass(frozen=True)
class Drop:
    """A stage's decision to remove a document, with a stable reason string."""

    reason: str
    document: Optional[Document] = None


StageResult = Union[Document, Drop]


class Stage:
    """Base class: subclasses set ``name`` and implement ``process``.

    ``setup()`` loads heavy resources (models, lists) once per worker; the Beam
    wrapper calls it from ``DoFn.setup``. Constructors must stay cheap and picklable.
    """

    name: str = "stage"

    def setup(self) -> None:  # pragma: no cover - default is a no-op
        pass

    def teardown(self) -> None:  # pragma: no cover - default is a no-op
        """Release what setup() acquired (child processes, files); called once per worker."""

    def process(self, doc: Document) -> StageResult:
        raise NotImplementedError

    def drop(self, doc: Document, reason: str) -> Drop:
        return Drop(reason=reason, document=doc)


class StageFailed(Exception):
    """A stage raised; ``stage`` names it (the original exception is the ``__cause__``)."""

    def __init__(self, stage: str):
        super().__init__(f"stage {stage} failed")
        self.stage = stage


def run_stages(stages: list[Stage], doc: Document,
               after_stage: Optional[Callable[[str, Document], None]] = None,
               ) -> tuple[Optional[Document], Optional[str], Optional[Document]]:
    """Apply stages in order to a private copy of ``doc``: the one loop every runner uses.

    Returns (kept_doc, drop_key, dropped_doc); ``drop_key`` is ``"<stage>.<reason>"``.
    ``after_stage(name, doc)`` is called each time the document leaves a stage alive (the
    Beam wrapper sizes it for the funnel). An exception inside a stage is raised as
    :class:`StageFailed` naming the stage: the caller decides whether it is an error to
    count (the Beam wrapper does).
    """
    doc = doc.copy()
    for stage in stages:
        try:
            result = stage.process(doc)
        except Exception as e:
            raise StageFailed(stage.name) from e
        if isinstance(result, Drop):
            return None, f"{stage.name}.{result.reason}", result.document or doc
        doc = result
        if after_stage is not None:
            after_stage(stage.name, doc)
    return doc, None, None


def stable_id(*parts: str) -> str:
    """A stable 32-hex-char document id from identifying strings (e.g. WARC-Record-ID)."""
    h = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return h[:32]
