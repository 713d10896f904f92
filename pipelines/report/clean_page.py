"""A self-contained HTML report of a clean run, for a person to judge the filters.

    python -m pipelines.report OUTPUT_DIR [--samples_per_reason 3] [--seed 0]

(For the output of ``python -m pipelines.dedup`` the same command writes the dedup report
of ``pipelines.dedup_report``; it is recognised by its stats.json.)

Reads what ``python -m pipelines.clean`` wrote into OUTPUT_DIR:
  stats.json                   counts, the funnel, languages and PII of kept documents
  documents/*.parquet          kept documents (signals map column)
  removed/<stage>/*.parquet    dropped documents with ``drop_reason`` (``--keep_removed``)
and writes OUTPUT_DIR/report.html: the funnel (documents and bytes left after each
stage; chart bars carry ``data-*`` attributes and the numbers are also embedded as JSON
in ``<script type="application/json" id="funnel-data">``), top drop reasons, errors,
languages, PII counts, histograms of the main signals for kept vs dropped documents,
and a few sampled dropped documents per reason.

Self-contained: inline CSS and inline SVG (matplotlib), no JavaScript, nothing fetched.
Missing parts (no removed/ folder, no stats.json, an empty corpus) give a note in the
page instead of an error.

Memory bound: documents are streamed batch by batch; the report keeps at most
``MAX_SIGNAL_DOCS`` signal rows per group (kept / dropped) and ``samples_per_reason``
excerpts per reason. Sampling is deterministic: a document is chosen when the hash of
(seed, id) is among the smallest, so the choice does not depend on file or row order.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import heapq
import html
import io
import json
import logging
import math
import sys
from typing import Any, Iterator, Optional

import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

log = logging.getLogger(__name__)

REPORT_NAME = "report.html"
MAX_SIGNAL_DOCS = 20_000   # per group; bounds memory on large corpora
MAX_HISTOGRAMS = 12
MIN_GROUP_FOR_KS = 20
EXCERPT_CHARS = 700
TOP_LANGUAGES = 25
KEPT_COLOR, DROPPED_COLOR, BYTES_COLOR = "#2f6db5", "#d9822b", "#8fb3de"


# --------------------------------------------------------------------------- reading
def _match(pattern: str) -> list[str]:
    try:
        return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    except Exception:  # a missing folder is "no files", not an error
        return []


def _read_text(path: str) -> Optional[str]:
    try:
        with FileSystems.open(path) as f:
            return f.read().decode("utf-8")
    except Exception:
        return None


def _sample_key(seed: int, doc_id: str) -> int:
    """Order-independent pseudo-random rank of a document for seeded sampling."""
    return int.from_bytes(hashlib.sha1(f"{seed}\x1f{doc_id}".encode("utf-8", "surrogatepass")).digest()[:8], "big")


class BottomK:
    """Keep the ``k`` items with the smallest keys (a bounded, deterministic sample)."""

    def __init__(self, k: int):
        self.k = k
        self._heap: list[tuple[int, str, Any]] = []  # (-key, id, item): max-heap on key

    def offer(self, key: int, doc_id: str, make_item) -> None:
        if self.k <= 0:
            return
        if len(self._heap) < self.k:
            heapq.heappush(self._heap, (-key, doc_id, make_item()))
        elif -key > self._heap[0][0] or (-key == self._heap[0][0] and doc_id < self._heap[0][1]):
            heapq.heapreplace(self._heap, (-key, doc_id, make_item()))

    def items(self) -> list[Any]:
        return [item for _, _, item in sorted(self._heap, key=lambda t: (-t[0], t[1]))]


@dataclasses.dataclass
class DroppedSample:
    doc_id: str
    url: str
    reason: str
    language: str
    chars: int
    excerpt: str
    signals: dict[str, float]


@dataclasses.dataclass
class Corpus:
    """What the report learned from the Parquet files."""

    kept_files: int = 0
    removed_files: int = 0
    kept_docs: int = 0
    removed_docs: int = 0
    kept_signals: BottomK = dataclasses.field(default_factory=lambda: BottomK(MAX_SIGNAL_DOCS))
    dropped_signals: BottomK = dataclasses.field(default_factory=lambda: BottomK(MAX_SIGNAL_DOCS))
    languages: dict[str, int] = dataclasses.field(default_factory=dict)
    pii: dict[str, int] = dataclasses.field(default_factory=dict)
    removed_by_reason: dict[str, int] = dataclasses.field(default_factory=dict)
    samples: dict[str, BottomK] = dataclasses.field(default_factory=dict)
    unreadable: list[str] = dataclasses.field(default_factory=list)


def _iter_batches(path: str, columns: list[str]) -> Iterator[Any]:
    with FileSystems.open(path) as f:
        pf = pq.ParquetFile(f)
        present = [c for c in columns if c in pf.schema_arrow.names]
        for batch in pf.iter_batches(batch_size=1024, columns=present):
            yield batch


def _row_signals(row: dict, chars: int) -> dict[str, float]:
    signals = {k: float(v) for k, v in (row.get("signals") or []) if v is not None and math.isfinite(v)}
    # Two signals every document has, useful when a stage stored none.
    signals.setdefault("language_score", float(row.get("language_score") or 0.0))
    signals.setdefault("text_chars", float(chars))
    return signals


def read_corpus(output_dir: str, samples_per_reason: int, seed: int) -> Corpus:
    corpus = Corpus()
    kept_files = _match(FileSystems.join(output_dir, "documents", "*.parquet"))
    removed_files = _match(FileSystems.join(output_dir, "removed", "*", "*.parquet"))
    corpus.kept_files, corpus.removed_files = len(kept_files), len(removed_files)
    log.info("report: reading %d kept and %d removed Parquet files", len(kept_files), len(removed_files))
    for path in kept_files:
        try:
            for batch in _iter_batches(path, ["id", "language", "language_score", "signals", "pii", "text"]):
                chars = pc.utf8_length(batch.column("text")).to_pylist() if "text" in batch.schema.names else None
                batch = batch.drop_columns(["text"]) if "text" in batch.schema.names else batch
                for i, row in enumerate(batch.to_pylist()):
                    corpus.kept_docs += 1
                    lang = row.get("language") or "unknown"
                    corpus.languages[lang] = corpus.languages.get(lang, 0) + 1
                    for kind, n in row.get("pii") or []:
                        corpus.pii[kind] = corpus.pii.get(kind, 0) + int(n)
                    n_chars = (chars[i] or 0) if chars else 0
                    corpus.kept_signals.offer(_sample_key(seed, row["id"]), row["id"],
                                              lambda r=row, c=n_chars: _row_signals(r, c))
        except Exception as e:  # a damaged shard is reported, not fatal
            log.warning("report: cannot read %s: %s", path, e)
            corpus.unreadable.append(f"{path}: {e}")
    for path in removed_files:
        stage = path.rstrip("/").split("/")[-2]
        try:
            for batch in _iter_batches(path, ["id", "url", "text", "language", "language_score", "signals", "drop_reason"]):
                for row in batch.to_pylist():
                    corpus.removed_docs += 1
                    reason = row.get("drop_reason") or f"{stage}.unknown"
                    corpus.removed_by_reason[reason] = corpus.removed_by_reason.get(reason, 0) + 1
                    text = row.get("text") or ""
                    key = _sample_key(seed, row["id"])
                    corpus.dropped_signals.offer(key, row["id"], lambda r=row, c=len(text): _row_signals(r, c))
                    sampler = corpus.samples.setdefault(reason, BottomK(samples_per_reason))
                    sampler.offer(key, row["id"], lambda r=row, t=text, why=reason: DroppedSample(
                        doc_id=r["id"], url=r.get("url") or "", reason=why, language=r.get("language") or "",
                        chars=len(t), excerpt=t[:EXCERPT_CHARS], signals=_row_signals(r, len(t))))
        except Exception as e:
            log.warning("report: cannot read %s: %s", path, e)
            corpus.unreadable.append(f"{path}: {e}")
    return corpus


# --------------------------------------------------------------------------- charts
def _fmt_int(n: Optional[float]) -> str:
    return "–" if n is None else f"{int(n):,}"


def _fmt_bytes(n: Optional[float]) -> str:
    if n is None:
        return "–"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000.0
    return str(n)


def funnel_svg(funnel: list[dict]) -> str:
    """Horizontal bars: documents (dark) and bytes (light) left after each stage.

    Each stage row is a ``<g class="funnel-stage">`` carrying ``data-stage``,
    ``data-documents`` and ``data-bytes`` so tools (and tests) can read the numbers.
    """
    label_w, bar_w, row_h, pad = 150, 560, 34, 8
    width, height = label_w + bar_w + 170, pad * 2 + row_h * len(funnel) + 22
    max_docs = max([r.get("documents") or 0 for r in funnel] + [1])
    max_bytes = max([r.get("bytes") or 0 for r in funnel] + [1])
    first_docs = (funnel[0].get("documents") or 0) if funnel else 0
    out = [f'<svg id="funnel-chart" class="chart" role="img" aria-label="Funnel: documents and bytes left after each stage" '
           f'xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%">']
    out.append(f'<text x="{label_w}" y="14" class="legend"><tspan fill="{KEPT_COLOR}">■</tspan> documents left'
               f'   <tspan fill="{BYTES_COLOR}">■</tspan> bytes left (HTTP payload before extraction, text after)</text>')
    for i, row in enumerate(funnel):
        docs, n_bytes = row.get("documents") or 0, row.get("bytes")
        y = 22 + pad + i * row_h
        w_docs = bar_w * docs / max_docs
        w_bytes = bar_w * (n_bytes or 0) / max_bytes
        share = f"{100.0 * docs / first_docs:.1f}%" if first_docs else ""
        stage = html.escape(str(row.get("stage", "")))
        out.append(
            f'<g class="funnel-stage" data-stage="{stage}" data-documents="{docs}" '
            f'data-bytes="{"" if n_bytes is None else int(n_bytes)}">'
            f'<title>{stage}: {_fmt_int(docs)} documents, {_fmt_bytes(n_bytes)}</title>'
            f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" class="label">{stage}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w_docs:.1f}" height="16" rx="2" fill="{KEPT_COLOR}"/>'
            f'<rect x="{label_w}" y="{y + 18}" width="{w_bytes:.1f}" height="8" rx="2" fill="{BYTES_COLOR}"/>'
            f'<text x="{label_w + max(w_docs, w_bytes) + 6:.1f}" y="{y + 13}" class="value">{_fmt_int(docs)} docs'
            f'{" · " + share if share else ""}</text>'
            f'<text x="{label_w + max(w_docs, w_bytes) + 6:.1f}" y="{y + 26}" class="value small">{_fmt_bytes(n_bytes)}</text>'
            f"</g>"
        )
    out.append("</svg>")
    return "".join(out)


def _bar_table(rows: list[tuple[str, int]], total: int, head: tuple[str, str], css: str = "bar") -> str:
    if not rows:
        return '<p class="note">None.</p>'
    top = max(n for _, n in rows) or 1
    body = []
    for name, n in rows:
        pct = f"{100.0 * n / total:.1f}%" if total else ""
        body.append(
            f'<tr><td class="name">{html.escape(name)}</td><td class="num">{_fmt_int(n)}</td><td class="num">{pct}</td>'
            f'<td class="barcell"><div class="{css}" style="width:{100.0 * n / top:.1f}%"></div></td></tr>'
        )
    return (f'<table class="bars"><thead><tr><th>{html.escape(head[0])}</th><th class="num">{html.escape(head[1])}</th>'
            f'<th class="num">share</th><th></th></tr></thead><tbody>{"".join(body)}</tbody></table>')


def ks_distance(a: list[float], b: list[float]) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between the two empirical CDFs."""
    if not a or not b:
        return 0.0
    a, b = sorted(a), sorted(b)
    i = j = 0
    best = 0.0
    while i < len(a) and j < len(b):
        x = min(a[i], b[j])
        while i < len(a) and a[i] <= x:
            i += 1
        while j < len(b) and b[j] <= x:
            j += 1
        best = max(best, abs(i / len(a) - j / len(b)))
    return best


def choose_signals(kept: list[dict], dropped: list[dict], limit: int = MAX_HISTOGRAMS) -> list[str]:
    """Signals worth a histogram, most informative first.

    Signals that take fewer than 3 distinct values (flags, unused scores) say little as a
    histogram. Among the rest, those that separate kept from dropped documents best (KS
    distance) come first: they show what the filters act on. Signals seen in only one
    group follow, by how many documents carry them.
    """
    names = sorted({k for rows in (kept, dropped) for signals in rows for k in signals})
    scored = []
    for name in names:
        k_vals = [s[name] for s in kept if name in s]
        d_vals = [s[name] for s in dropped if name in s]
        if len(set(k_vals) | set(d_vals)) < 3:
            continue
        # A KS distance on a handful of documents is noise: compare groups of a fair size.
        comparable = min(len(k_vals), len(d_vals)) >= MIN_GROUP_FOR_KS
        separation = ks_distance(k_vals, d_vals) if comparable else 0.0
        scored.append((not comparable, -separation, -(len(k_vals) + len(d_vals)), name))
    return [name for *_, name in sorted(scored)[:limit]]


def _quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    idx = min(len(sorted_values) - 1, max(0, int(round(q * (len(sorted_values) - 1)))))
    return sorted_values[idx]


def histogram_svg(name: str, kept: list[float], dropped: list[float]) -> str:
    """Share-of-documents histograms (kept vs dropped) on shared bins, as inline SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    both = sorted(kept + dropped)
    lo, hi = _quantile(both, 0.01), _quantile(both, 0.99)  # outliers would squash the rest
    if hi <= lo:
        lo, hi = both[0] - 0.5, both[-1] + 0.5  # both has >= 3 distinct values (choose_signals)
    bins = [lo + (hi - lo) * i / 30 for i in range(31)]

    def clip(vs):
        return [min(max(v, lo), hi) for v in vs]

    with matplotlib.rc_context({"svg.hashsalt": "pipelines.report", "svg.fonttype": "none",
                                "font.size": 8, "axes.spines.top": False, "axes.spines.right": False}):
        fig, ax = plt.subplots(figsize=(3.6, 2.3), dpi=100)
        for values, color, label in ((kept, KEPT_COLOR, "kept"), (dropped, DROPPED_COLOR, "dropped")):
            if values:
                clipped, weights = clip(values), [1.0 / len(values)] * len(values)
                ax.hist(clipped, bins=bins, weights=weights, histtype="stepfilled",
                        alpha=0.35, color=color, label=f"{label} (n={len(values):,})")
                ax.hist(clipped, bins=bins, weights=weights, histtype="step", color=color, linewidth=1.2)
        ax.locator_params(axis="x", nbins=5)  # long decimal ticks must not collide
        ax.set_title(name, fontsize=9)
        ax.set_ylabel("share of documents")
        ax.legend(frameon=False, fontsize=7)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
        plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]  # drop the XML prolog and doctype: inline SVG in HTML


# --------------------------------------------------------------------------- page
_CSS = """
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:0;color:#1d2733;background:#f5f7fa}
header{background:#1f3a5f;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:22px}
header .sub{opacity:.8;font-size:13px;margin-top:4px;word-break:break-all}
main{max-width:1180px;margin:0 auto;padding:16px 32px 48px}
section{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.08);padding:16px 20px;margin:16px 0}
h2{font-size:17px;margin:0 0 10px}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{flex:1 1 150px;background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.08);padding:12px 16px}
.card .v{font-size:24px;font-weight:600}.card .k{font-size:12px;color:#5b6b7d;text-transform:uppercase;letter-spacing:.04em}
.chart text.label{font-size:12px;fill:#1d2733}.chart text.value{font-size:11px;fill:#3b4a5a}
.chart text.small{font-size:10px;fill:#6b7a8a}.chart text.legend{font-size:11px;fill:#3b4a5a}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:4px 8px;border-bottom:1px solid #eef1f4;text-align:left;vertical-align:top}
th{color:#5b6b7d;font-weight:600}
td.num,th.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td.name{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
td.barcell{width:40%}
.bar,.bar-drop,.bar-err{height:12px;border-radius:2px;background:#2f6db5}
.bar-drop{background:#d9822b}.bar-err{background:#c0392b}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:8px}
.grid svg{width:100%;height:auto}
.two{display:grid;grid-template-columns:1fr 1fr;gap:16px}
.note{background:#fff8e1;border-left:4px solid #f0b429;padding:8px 12px;font-size:13px;margin:8px 0}
details{border:1px solid #e3e8ee;border-radius:6px;margin:8px 0;padding:6px 10px}
summary{cursor:pointer;font-weight:600;font-size:14px}
summary .count{color:#5b6b7d;font-weight:400}
.sample{border-top:1px solid #eef1f4;padding:8px 0}
.sample .meta{font-size:12px;color:#5b6b7d;word-break:break-all}
.sample pre{white-space:pre-wrap;word-break:break-word;background:#f7f9fb;border-radius:4px;padding:8px;
font-size:12px;max-height:220px;overflow:auto;margin:6px 0 0}
.muted{color:#6b7a8a;font-size:12px}
@media (max-width:800px){.two{grid-template-columns:1fr}}
"""


def _card(label: str, value: str) -> str:
    return f'<div class="card"><div class="k">{html.escape(label)}</div><div class="v">{html.escape(value)}</div></div>'


def _signals_line(signals: dict[str, float], reason: str, limit: int = 8) -> str:
    """The sample's signals a reader needs to judge the drop: those of the dropping
    stage's family first (``gopher_*`` for ``gopher_quality.*``), non-zero first."""
    family = reason.split(".", 1)[0].split("_", 1)[0]
    ranked = sorted(signals.items(), key=lambda kv: (not kv[0].startswith(family), kv[1] == 0, kv[0]))
    return html.escape(", ".join(f"{k}={v:.3g}" for k, v in ranked[:limit]))


def render_report(output_dir: str, stats: Optional[dict], corpus: Corpus, notes: list[str]) -> str:
    stats = stats or {}
    records = stats.get("records_read")
    kept = stats.get("documents_kept", corpus.kept_docs if not stats else None)
    dropped = stats.get("dropped") or {}
    errors = stats.get("errors") or {}
    funnel = stats.get("funnel") or []
    languages = stats.get("languages") or corpus.languages
    pii = stats.get("pii") if stats.get("pii") is not None else corpus.pii
    n_dropped, n_errors = sum(dropped.values()), sum(errors.values())

    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
             f"<title>Clean run report</title><style>{_CSS}</style></head><body>"
             f"<header><h1>Clean run report</h1><div class=\"sub\">{html.escape(output_dir)}</div></header><main>"]
    for note in notes:
        parts.append(f'<div class="note">{html.escape(note)}</div>')

    kept_share = f" ({100.0 * kept / records:.1f}%)" if records and kept is not None else ""
    parts.append('<div class="cards">' + _card("records read", _fmt_int(records))
                 + _card("documents kept", _fmt_int(kept) + kept_share) + _card("dropped", _fmt_int(n_dropped))
                 + _card("errors", _fmt_int(n_errors))
                 + _card("kept text", _fmt_bytes(funnel[-1].get("bytes") if funnel else None)) + "</div>")

    # Funnel.
    parts.append('<section id="funnel"><h2>Funnel: what is left after each stage</h2>')
    if funnel:
        parts.append(funnel_svg(funnel))
        # Machine-readable copy; "</" is escaped so the JSON cannot close the script tag.
        parts.append('<script type="application/json" id="funnel-data">'
                     + json.dumps(funnel, ensure_ascii=False).replace("</", "<\\/") + "</script>")
        rows = []
        prev = None
        for r in funnel:
            d = r.get("documents") or 0
            lost = "" if prev is None else _fmt_int(prev - d)
            rows.append(f'<tr><td class="name">{html.escape(str(r.get("stage")))}</td><td class="num">{_fmt_int(d)}</td>'
                        f'<td class="num">{lost}</td><td class="num">{_fmt_bytes(r.get("bytes"))}</td></tr>')
            prev = d
        parts.append('<table><thead><tr><th>stage</th><th class="num">documents left</th>'
                     '<th class="num">removed here</th><th class="num">bytes left</th></tr></thead>'
                     f'<tbody>{"".join(rows)}</tbody></table>')
    else:
        parts.append('<p class="note">stats.json has no funnel.</p>')
    parts.append("</section>")

    # Drop reasons and errors.
    reasons = sorted(dropped.items(), key=lambda kv: (-kv[1], kv[0]))
    parts.append('<section id="drop-reasons"><h2>Top drop reasons</h2>'
                 '<p class="muted">share = of all records read</p>'
                 + _bar_table(reasons[:30], records or 0, ("stage.reason", "documents"), "bar-drop"))
    if len(reasons) > 30:
        parts.append(f'<p class="muted">… and {len(reasons) - 30} more reasons.</p>')
    parts.append("</section>")
    if errors:
        parts.append('<section id="errors"><h2>Errors</h2>'
                     + _bar_table(sorted(errors.items(), key=lambda kv: (-kv[1], kv[0])), records or 0,
                                  ("reason", "records"), "bar-err") + "</section>")

    # Languages and PII.
    langs = sorted(languages.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = langs[:TOP_LANGUAGES]
    if len(langs) > TOP_LANGUAGES:
        shown.append((f"other ({len(langs) - TOP_LANGUAGES} languages)", sum(n for _, n in langs[TOP_LANGUAGES:])))
    pii_rows = sorted(pii.items(), key=lambda kv: (-kv[1], kv[0]))
    parts.append('<div class="two"><section id="languages"><h2>Languages of kept documents</h2>'
                 + _bar_table(shown, sum(languages.values()), ("language", "documents"))
                 + '</section><section id="pii"><h2>PII replaced in kept documents</h2>'
                 + _bar_table(pii_rows, sum(pii.values()), ("kind", "replacements"))
                 + "</section></div>")

    # Signal histograms.
    parts.append('<section id="signals"><h2>Signals: kept vs dropped documents</h2>')
    kept_rows, dropped_rows = corpus.kept_signals.items(), corpus.dropped_signals.items()
    if not kept_rows and not dropped_rows:
        parts.append('<p class="note">No documents to plot.</p>')
    else:
        if not dropped_rows:
            parts.append('<p class="note">Only kept documents are shown: run the clean job with --keep_removed '
                         'to compare with dropped ones.</p>')
        parts.append(f'<p class="muted">Each panel shows the share of documents per bin (1st–99th percentile range; '
                     f'outliers are put in the edge bins), the signals that best separate kept from dropped first. Up to {MAX_SIGNAL_DOCS:,} documents per group, '
                     f'seeded sample. Dropped documents only carry the signals computed before the stage that '
                     f'dropped them.</p><div class="grid">')
        for name in choose_signals(kept_rows, dropped_rows):
            k_vals = [s[name] for s in kept_rows if name in s]
            d_vals = [s[name] for s in dropped_rows if name in s]
            parts.append(f'<div class="hist" data-signal="{html.escape(name)}">{histogram_svg(name, k_vals, d_vals)}</div>')
        parts.append("</div>")
    parts.append("</section>")

    # Samples of dropped documents.
    parts.append('<section id="samples"><h2>Sampled dropped documents</h2>')
    if not corpus.samples:
        parts.append('<p class="note">No removed documents found: run the clean job with --keep_removed '
                     'to see samples of what each filter dropped.</p>')
    for rank, reason in enumerate(sorted(corpus.samples, key=lambda r: (-corpus.removed_by_reason.get(r, 0), r))):
        samples = corpus.samples[reason].items()
        opened = " open" if rank < 3 else ""  # the biggest reasons, unfolded
        parts.append(f'<details class="reason"{opened} data-reason="{html.escape(reason)}"><summary>{html.escape(reason)} '
                     f'<span class="count">— {_fmt_int(corpus.removed_by_reason.get(reason, 0))} dropped, '
                     f'{len(samples)} shown</span></summary>')
        for s in samples:
            url = html.escape(s.url)
            link = f'<a href="{url}" rel="noreferrer nofollow">{url}</a>' if s.url.startswith(("http://", "https://")) else url
            excerpt = s.excerpt + ("…" if s.chars > len(s.excerpt) else "")
            parts.append(f'<div class="sample"><div class="meta">{link}<br>id {html.escape(s.doc_id)} · '
                         f'language {html.escape(s.language or "?")} · {s.chars:,} chars · '
                         f'{_signals_line(s.signals, s.reason)}</div>'
                         f'<pre>{html.escape(excerpt) if excerpt else "(no text: dropped before extraction)"}</pre></div>')
        parts.append("</details>")
    parts.append("</section>")

    if corpus.unreadable:
        parts.append('<section><h2>Unreadable files</h2><ul>'
                     + "".join(f"<li>{html.escape(u)}</li>" for u in corpus.unreadable) + "</ul></section>")
    parts.append('<p class="muted">Written by <code>python -m pipelines.report</code>; self-contained, '
                 "no scripts, nothing fetched.</p></main></body></html>\n")
    return "".join(parts)


def write_report(output_dir: str, samples_per_reason: int = 3, seed: int = 0) -> str:
    """Write ``output_dir``/report.html and return its path."""
    output_dir = str(output_dir)
    notes: list[str] = []
    stats_text = _read_text(FileSystems.join(output_dir, "stats.json"))
    stats = None
    if stats_text is None:
        notes.append("No stats.json found: counts below come from the Parquet files only.")
    else:
        try:
            stats = json.loads(stats_text)
        except json.JSONDecodeError as e:
            notes.append(f"stats.json is not valid JSON ({e}); counts below come from the Parquet files only.")
    corpus = read_corpus(output_dir, samples_per_reason, seed)
    if not corpus.kept_files:
        notes.append("No documents/*.parquet found.")
    elif corpus.kept_docs == 0:
        notes.append("The corpus is empty: no document was kept.")
    if not corpus.removed_files:
        notes.append("No removed/ folder: the run did not keep dropped documents (use --keep_removed).")
    page = render_report(output_dir, stats, corpus, notes)
    path = FileSystems.join(output_dir, REPORT_NAME)
    with FileSystems.create(path) as f:
        f.write(page.encode("utf-8"))
    return path
