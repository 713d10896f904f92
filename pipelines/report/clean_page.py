"""The clean page: a self-contained HTML report of a clean run, for a person to judge the
filters. Written by ``python -m pipelines.clean`` at its end and by
``python -m pipelines.report OUTPUT_DIR [--samples_per_reason 3] [--seed 0]``.

Reads what ``python -m pipelines.clean`` wrote into OUTPUT_DIR:
  stats.json                   counts, the funnel, languages and PII of kept documents
  documents/*.parquet          kept documents (signals map column)
  removed/<stage>/*.parquet    dropped documents with ``drop_reason`` (``--keep_removed``)
and writes OUTPUT_DIR/report.html: the funnel (documents and bytes left after each
stage; chart bars carry ``data-*`` attributes and the numbers are also embedded as JSON
in ``<script type="application/json" id="funnel-data">``), top drop reasons, errors,
keep rate and top drop reasons per language, languages, PII counts, histograms of the main signals for kept vs dropped documents,
and a few sampled dropped documents per reason.

Self-contained: inline CSS and inline SVG (matplotlib), no JavaScript, nothing fetched.
Missing parts (no removed/ folder, no stats.json, an empty corpus) give a note in the
page instead of an error.

Memory bound: documents are streamed batch by batch; the report keeps at most
``MAX_SIGNAL_DOCS`` signal rows per group (kept / dropped) and ``samples_per_reason``
excerpts per reason, chosen by the seeded sample of ``pipelines.report.reading``.
"""
from __future__ import annotations

import dataclasses
import html
import json
import logging
import math
from typing import Callable, Optional

import pyarrow.compute as pc
from apache_beam.io.filesystems import FileSystems

from pipelines.report.kit import (
    BYTES_COLOR, DROPPED_COLOR, EXCERPT_CHARS, KEPT_COLOR, bar_table, by_count, cards, chart_style, excerpt, figure_svg,
    fmt_bytes, fmt_int, notes_html, page, section, write_page,
)
from pipelines.report.reading import BottomK, StatsFile, iter_batches, match, read_stats, sample_key

log = logging.getLogger(__name__)

MAX_SIGNAL_DOCS = 20_000   # per group; bounds memory on large corpora
MAX_HISTOGRAMS = 12
MIN_GROUP_FOR_KS = 20
TOP_LANGUAGES = 25
LANGUAGE_ROWS = 12         # per-language outcome rows shown; the smaller languages are folded into one
REASONS_PER_LANGUAGE = 3
TOP_REASONS = 30
KEPT_COLUMNS = ["id", "language", "language_score", "signals", "pii", "text"]
REMOVED_COLUMNS = ["id", "url", "text", "language", "language_score", "signals", "drop_reason"]


# --------------------------------------------------------------------------- reading
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


def row_signals(row: dict, chars: int) -> dict[str, float]:
    signals = {k: float(v) for k, v in (row.get("signals") or []) if v is not None and math.isfinite(v)}
    # Two signals every document has, useful when a stage stored none.
    signals.setdefault("language_score", float(row.get("language_score") or 0.0))
    signals.setdefault("text_chars", float(chars))
    return signals


def read_corpus(output_dir: str, samples_per_reason: int, seed: int) -> Corpus:
    corpus = Corpus()
    kept_files = match(FileSystems.join(output_dir, "documents", "*.parquet"))
    removed_files = match(FileSystems.join(output_dir, "removed", "*", "*.parquet"))
    corpus.kept_files, corpus.removed_files = len(kept_files), len(removed_files)
    log.info("report: reading %d kept and %d removed Parquet files", len(kept_files), len(removed_files))
    for path in kept_files:
        _read_file(corpus, path, lambda p: _read_kept(corpus, p, seed))
    for path in removed_files:
        _read_file(corpus, path, lambda p: _read_removed(corpus, p, samples_per_reason, seed))
    return corpus


def _read_file(corpus: Corpus, path: str, read: Callable[[str], None]) -> None:
    try:
        read(path)
    except Exception as e:  # a damaged shard is reported, not fatal
        log.warning("report: cannot read %s: %s", path, e)
        corpus.unreadable.append(f"{path}: {e}")


def _read_kept(corpus: Corpus, path: str, seed: int) -> None:
    for batch in iter_batches(path, KEPT_COLUMNS):
        has_text = "text" in batch.schema.names
        chars = pc.utf8_length(batch.column("text")).to_pylist() if has_text else None
        batch = batch.drop_columns(["text"]) if has_text else batch
        for i, row in enumerate(batch.to_pylist()):
            _count_kept(corpus, row)
            n_chars = (chars[i] or 0) if chars else 0
            corpus.kept_signals.offer(sample_key(seed, row["id"]), row["id"],
                                      lambda r=row, c=n_chars: row_signals(r, c))


def _count_kept(corpus: Corpus, row: dict) -> None:
    corpus.kept_docs += 1
    lang = row.get("language") or "unknown"
    corpus.languages[lang] = corpus.languages.get(lang, 0) + 1
    for kind, n in row.get("pii") or []:
        corpus.pii[kind] = corpus.pii.get(kind, 0) + int(n)


def _read_removed(corpus: Corpus, path: str, samples_per_reason: int, seed: int) -> None:
    stage = path.rstrip("/").split("/")[-2]
    for batch in iter_batches(path, REMOVED_COLUMNS):
        for row in batch.to_pylist():
            corpus.removed_docs += 1
            reason = row.get("drop_reason") or f"{stage}.unknown"
            corpus.removed_by_reason[reason] = corpus.removed_by_reason.get(reason, 0) + 1
            text = row.get("text") or ""
            key = sample_key(seed, row["id"])
            corpus.dropped_signals.offer(key, row["id"], lambda r=row, c=len(text): row_signals(r, c))
            sampler = corpus.samples.setdefault(reason, BottomK(samples_per_reason))
            sampler.offer(key, row["id"], lambda r=row, t=text, why=reason: _dropped_sample(r, t, why))


def _dropped_sample(row: dict, text: str, reason: str) -> DroppedSample:
    return DroppedSample(doc_id=row["id"], url=row.get("url") or "", reason=reason, language=row.get("language") or "",
                         chars=len(text), excerpt=text[:EXCERPT_CHARS], signals=row_signals(row, len(text)))


# --------------------------------------------------------------------------- charts
FUNNEL_LABEL_W, FUNNEL_BAR_W, FUNNEL_ROW_H, FUNNEL_PAD = 150, 560, 34, 8


def funnel_svg(funnel: list[dict]) -> str:
    """Horizontal bars: documents (dark) and bytes (light) left after each stage.

    Each stage row is a ``<g class="funnel-stage">`` carrying ``data-stage``,
    ``data-documents``, ``data-bytes`` and ``data-cpu-s`` (the stage's CPU seconds, empty
    when not timed) so tools (and tests) can read the numbers.
    """
    width = FUNNEL_LABEL_W + FUNNEL_BAR_W + 170
    height = FUNNEL_PAD * 2 + FUNNEL_ROW_H * len(funnel) + 22
    max_docs = max([r.get("documents") or 0 for r in funnel] + [1])
    # HTTP payload bytes (before extraction) and text bytes (after) are not on one scale:
    # each kind of row is scaled to its own largest value.
    stages = [r.get("stage") for r in funnel]
    first_text = stages.index("extract") if "extract" in stages else len(funnel)
    max_payload = max([r.get("bytes") or 0 for r in funnel[:first_text]] + [1])
    max_text = max([r.get("bytes") or 0 for r in funnel[first_text:]] + [1])
    first_docs = (funnel[0].get("documents") or 0) if funnel else 0
    out = [f'<svg id="funnel-chart" class="chart" role="img" aria-label="Funnel: documents and bytes left after each stage" '
           f'xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%">',
           f'<text x="{FUNNEL_LABEL_W}" y="14" class="legend"><tspan fill="{KEPT_COLOR}">■</tspan> documents left'
           f'   <tspan fill="{BYTES_COLOR}">■</tspan> bytes left (HTTP payload before extraction, text after; '
           f'each scaled on its own)</text>']
    for i, row in enumerate(funnel):
        max_bytes = max_payload if i < first_text else max_text
        out.append(_funnel_bar(row, 22 + FUNNEL_PAD + i * FUNNEL_ROW_H, max_docs, max_bytes, first_docs))
    out.append("</svg>")
    return "".join(out)


def _funnel_bar(row: dict, y: int, max_docs: int, max_bytes: int, first_docs: int) -> str:
    docs, n_bytes = row.get("documents") or 0, row.get("bytes")
    label_w = FUNNEL_LABEL_W
    w_docs = FUNNEL_BAR_W * docs / max_docs
    w_bytes = FUNNEL_BAR_W * (n_bytes or 0) / max_bytes
    share = f"{100.0 * docs / first_docs:.1f}%" if first_docs else ""
    stage = html.escape(str(row.get("stage", "")))
    cpu = "" if row.get("cpu_s") is None else f", {row['cpu_s']:,.2f} CPU s"
    return (
        f'<g class="funnel-stage" data-stage="{stage}" data-documents="{docs}" '
        f'data-bytes="{"" if n_bytes is None else int(n_bytes)}" data-cpu-s="{"" if row.get("cpu_s") is None else row["cpu_s"]}">'
        f'<title>{stage}: {fmt_int(docs)} documents, {fmt_bytes(n_bytes)}{cpu}</title>'
        f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" class="label">{stage}</text>'
        f'<rect x="{label_w}" y="{y}" width="{w_docs:.1f}" height="16" rx="2" fill="{KEPT_COLOR}"/>'
        f'<rect x="{label_w}" y="{y + 18}" width="{w_bytes:.1f}" height="8" rx="2" fill="{BYTES_COLOR}"/>'
        f'<text x="{label_w + max(w_docs, w_bytes) + 6:.1f}" y="{y + 13}" class="value">{fmt_int(docs)} docs'
        f'{" · " + share if share else ""}</text>'
        f'<text x="{label_w + max(w_docs, w_bytes) + 6:.1f}" y="{y + 26}" class="value small">{fmt_bytes(n_bytes)}</text>'
        f"</g>"
    )


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


def _histogram_range(kept: list[float], dropped: list[float]) -> tuple[float, float, list[float]]:
    """(lo, hi, 30 shared bins) over the 1st-99th percentile range (outliers would squash the rest)."""
    both = sorted(kept + dropped)
    lo, hi = _quantile(both, 0.01), _quantile(both, 0.99)
    if hi <= lo:
        lo, hi = both[0] - 0.5, both[-1] + 0.5  # both has >= 3 distinct values (choose_signals)
    return lo, hi, [lo + (hi - lo) * i / 30 for i in range(31)]


def histogram_svg(name: str, kept: list[float], dropped: list[float]) -> str:
    """Share-of-documents histograms (kept vs dropped) on shared bins, as inline SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lo, hi, bins = _histogram_range(kept, dropped)
    with matplotlib.rc_context(chart_style("pipelines.report")):
        fig, ax = plt.subplots(figsize=(3.6, 2.3), dpi=100)
        for values, color, label in ((kept, KEPT_COLOR, "kept"), (dropped, DROPPED_COLOR, "dropped")):
            if values:
                clipped, weights = [min(max(v, lo), hi) for v in values], [1.0 / len(values)] * len(values)
                ax.hist(clipped, bins=bins, weights=weights, histtype="stepfilled",
                        alpha=0.35, color=color, label=f"{label} (n={len(values):,})")
                ax.hist(clipped, bins=bins, weights=weights, histtype="step", color=color, linewidth=1.2)
        ax.locator_params(axis="x", nbins=5)  # long decimal ticks must not collide
        ax.set_title(name, fontsize=9)
        ax.set_ylabel("share of documents")
        ax.legend(frameon=False, fontsize=7)
        fig.tight_layout()
        return figure_svg(fig)


# --------------------------------------------------------------------------- page sections
def summary_cards(stats: dict, corpus: Corpus) -> str:
    """Counts, and two keep rates: among all records (most drops there are record types:
    requests, metadata, non-HTML) and among the HTML pages that reached the filters (the
    rate the quality decisions are responsible for)."""
    records = stats.get("records_read")
    kept = stats.get("documents_kept", corpus.kept_docs if not stats else None)
    funnel = stats.get("funnel") or []
    html_pages = next((r.get("documents") for r in funnel if r.get("stage") == "warc"), None)

    def rate(n):
        return f"{100.0 * kept / n:.1f}%" if n and kept is not None else "–"

    return cards([("records read", fmt_int(records)), ("documents kept", fmt_int(kept)),
                  ("kept of all records", rate(records)), ("kept of HTML pages", rate(html_pages)),
                  ("dropped", fmt_int(sum((stats.get("dropped") or {}).values()))),
                  ("errors", fmt_int(sum((stats.get("errors") or {}).values()))),
                  ("kept text", fmt_bytes(funnel[-1].get("bytes") if funnel else None))])


def funnel_section(funnel: list[dict]) -> str:
    if not funnel:
        body = '<p class="note">stats.json has no funnel.</p>'
    else:
        # Machine-readable copy; "</" is escaped so the JSON cannot close the script tag.
        body = (funnel_svg(funnel) + '<script type="application/json" id="funnel-data">'
                + json.dumps(funnel, ensure_ascii=False).replace("</", "<\\/") + "</script>" + _funnel_table(funnel))
    return section("funnel", "Funnel: what is left after each stage", body)


def _funnel_table(funnel: list[dict]) -> str:
    """Documents and bytes left after each stage and, where stats.json has them (runs
    since per-stage timing), the CPU seconds each stage spent and their share: where
    the money goes."""
    timed = [r.get("cpu_s") for r in funnel if r.get("cpu_s") is not None]
    total_cpu = sum(timed)
    rows = []
    prev = None
    for r in funnel:
        d = r.get("documents") or 0
        lost = "" if prev is None else fmt_int(prev - d)
        cpu = r.get("cpu_s")
        cpu_cells = ""
        if timed:
            share = f"{100.0 * cpu / total_cpu:.1f}%" if cpu is not None and total_cpu else ""
            cpu_cells = (f'<td class="num">{"" if cpu is None else f"{cpu:,.2f}"}</td>'
                         f'<td class="num">{share}</td>')
        rows.append(f'<tr><td class="name">{html.escape(str(r.get("stage")))}</td><td class="num">{fmt_int(d)}</td>'
                    f'<td class="num">{lost}</td><td class="num">{fmt_bytes(r.get("bytes"))}</td>{cpu_cells}</tr>')
        prev = d
    cpu_head = '<th class="num">CPU s</th><th class="num">share of stage CPU</th>' if timed else ""
    note = ('<p class="muted">CPU s: CPU seconds the stage spent on every document that entered it, '
            'all workers together (its thread, plus the helper process it owns, e.g. extraction); '
            f'{total_cpu:,.1f} s in the stages. Reading the WARC files and Beam itself are not in it.</p>'
            if timed else "")
    return ('<table><thead><tr><th>stage</th><th class="num">documents left</th>'
            f'<th class="num">removed here</th><th class="num">bytes left</th>{cpu_head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>{note}')


def drops_section(dropped: dict[str, int], records: int) -> str:
    reasons = by_count(dropped)
    body = ('<p class="muted">share = of all records read</p>'
            + bar_table(reasons[:TOP_REASONS], records, ("stage.reason", "documents"), "bar-drop"))
    if len(reasons) > TOP_REASONS:
        body += f'<p class="muted">… and {len(reasons) - TOP_REASONS} more reasons.</p>'
    return section("drop-reasons", "Top drop reasons", body)


def errors_section(errors: dict[str, int], records: int) -> str:
    if not errors:
        return ""
    return section("errors", "Errors", bar_table(by_count(errors), records, ("reason", "records"), "bar-err"))


def languages_section(languages: dict[str, int]) -> str:
    langs = by_count(languages)
    shown = langs[:TOP_LANGUAGES]
    if len(langs) > TOP_LANGUAGES:
        shown.append((f"other ({len(langs) - TOP_LANGUAGES} languages)", sum(n for _, n in langs[TOP_LANGUAGES:])))
    return section("languages", "Languages of kept documents",
                   bar_table(shown, sum(languages.values()), ("language", "documents")))


def fold_languages(by_language: dict[str, dict], rows: int = LANGUAGE_ROWS) -> list[tuple[str, dict]]:
    """(label, outcomes) per language, the most documents first; past ``rows`` languages
    the rest are summed into one "other (N languages)" row."""
    ordered = sorted(by_language.items(), key=lambda kv: (-(kv[1].get("documents") or 0), kv[0]))
    if len(ordered) <= rows:
        return ordered
    shown, rest = ordered[:rows - 1], ordered[rows - 1:]
    folded: dict = {"documents": 0, "documents_kept": 0, "dropped": {}, "errors": {}}
    for _, outcome in rest:
        folded["documents"] += outcome.get("documents") or 0
        folded["documents_kept"] += outcome.get("documents_kept") or 0
        for part in ("dropped", "errors"):
            for key, n in (outcome.get(part) or {}).items():
                folded[part][key] = folded[part].get(key, 0) + n
    return shown + [(f"other ({len(rest)} languages)", folded)]


def language_outcomes_section(by_language: Optional[dict]) -> str:
    """Keep rate and top drop reasons per language: which filters a language pays for
    (a language whose keep rate is far below the others' may need its own thresholds)."""
    title = "Keep rate and drop reasons per language"
    if not by_language:
        return section("language-outcomes", title, '<p class="note">stats.json has no per-language outcomes '
                       '(a run before they were counted): rerun the clean job.</p>')
    rows = []
    for label, outcome in fold_languages(by_language):
        docs, kept = outcome.get("documents") or 0, outcome.get("documents_kept") or 0
        rate = kept / docs if docs else 0.0
        losses = by_count({**(outcome.get("dropped") or {}),
                           **{f"error:{k}": n for k, n in (outcome.get("errors") or {}).items()}})
        reasons = "; ".join(f"{name} {fmt_int(n)} ({100.0 * n / docs:.1f}%)" for name, n in losses[:REASONS_PER_LANGUAGE])
        if len(losses) > REASONS_PER_LANGUAGE:
            reasons += f"; … {len(losses) - REASONS_PER_LANGUAGE} more"
        rows.append(f'<tr class="language-outcome" data-language="{html.escape(label)}" data-documents="{docs}" '
                    f'data-kept="{kept}"><td class="name">{html.escape(label)}</td><td class="num">{fmt_int(docs)}</td>'
                    f'<td class="num">{fmt_int(kept)}</td><td class="num">{100.0 * rate:.1f}%</td>'
                    f'<td class="barcell"><div class="bar" style="width:{100.0 * rate:.1f}%"></div></td>'
                    f'<td class="name">{html.escape(reasons) or "–"}</td></tr>')
    body = ('<p class="muted">Pages that reached the filters (HTML responses), by the language found by '
            'language id ("unknown": the page left before it, e.g. blocked URL or no text); share = of the '
            'language\'s pages.</p><table><thead><tr><th>language</th><th class="num">pages</th>'
            '<th class="num">kept</th><th class="num">keep rate</th><th></th><th>top drop reasons</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')
    return section("language-outcomes", title, body)


def pii_section(pii: dict[str, int]) -> str:
    return section("pii", "PII replaced in kept documents",
                   bar_table(by_count(pii), sum(pii.values()), ("kind", "replacements")))


def histograms_section(corpus: Corpus) -> str:
    kept_rows, dropped_rows = corpus.kept_signals.items(), corpus.dropped_signals.items()
    if not kept_rows and not dropped_rows:
        return section("signals", "Signals: kept vs dropped documents", '<p class="note">No documents to plot.</p>')
    parts = []
    if not dropped_rows:
        parts.append('<p class="note">Only kept documents are shown: run the clean job with --keep_removed '
                     'to compare with dropped ones.</p>')
    parts.append(f'<p class="muted">Each panel shows the share of documents per bin (1st–99th percentile range; '
                 f'outliers are put in the edge bins), the signals that best separate kept from dropped first. '
                 f'Up to {MAX_SIGNAL_DOCS:,} documents per group, seeded sample. Dropped documents only carry the '
                 f'signals computed before the stage that dropped them.</p><div class="grid">')
    for name in choose_signals(kept_rows, dropped_rows):
        k_vals = [s[name] for s in kept_rows if name in s]
        d_vals = [s[name] for s in dropped_rows if name in s]
        parts.append(f'<div class="hist" data-signal="{html.escape(name)}">{histogram_svg(name, k_vals, d_vals)}</div>')
    parts.append("</div>")
    return section("signals", "Signals: kept vs dropped documents", "".join(parts))


def samples_section(corpus: Corpus) -> str:
    parts = []
    if not corpus.samples:
        parts.append('<p class="note">No removed documents found: run the clean job with --keep_removed '
                     'to see samples of what each filter dropped.</p>')
    reasons = sorted(corpus.samples, key=lambda r: (-corpus.removed_by_reason.get(r, 0), r))
    for rank, reason in enumerate(reasons):
        # The biggest reasons are unfolded.
        parts.append(_reason_details(reason, corpus.samples[reason].items(), corpus.removed_by_reason.get(reason, 0),
                                     opened=rank < 3))
    return section("samples", "Sampled dropped documents", "".join(parts))


def _reason_details(reason: str, samples: list[DroppedSample], removed: int, opened: bool) -> str:
    return (f'<details class="reason"{" open" if opened else ""} data-reason="{html.escape(reason)}"><summary>'
            f'{html.escape(reason)} <span class="count">— {fmt_int(removed)} dropped, {len(samples)} shown</span>'
            f'</summary>{"".join(_sample_html(s) for s in samples)}</details>')


def _sample_html(s: DroppedSample) -> str:
    url = html.escape(s.url)
    link = f'<a href="{url}" rel="noreferrer nofollow">{url}</a>' if s.url.startswith(("http://", "https://")) else url
    text = excerpt(s.excerpt, s.chars) if s.excerpt else "(no text: dropped before extraction)"
    return (f'<div class="sample"><div class="meta">{link}<br>id {html.escape(s.doc_id)} · '
            f'language {html.escape(s.language or "?")} · {s.chars:,} chars · '
            f'{_signals_line(s.signals, s.reason)}</div><pre>{text}</pre></div>')


def _signals_line(signals: dict[str, float], reason: str, limit: int = 8) -> str:
    """The sample's signals a reader needs to judge the drop: those of the dropping
    stage's family first (``gopher_*`` for ``gopher_quality.*``), non-zero first."""
    family = reason.split(".", 1)[0].split("_", 1)[0]
    ranked = sorted(signals.items(), key=lambda kv: (not kv[0].startswith(family), kv[1] == 0, kv[0]))
    return html.escape(", ".join(f"{k}={v:.3g}" for k, v in ranked[:limit]))


def unreadable_section(unreadable: list[str]) -> str:
    if not unreadable:
        return ""
    return section(None, "Unreadable files", "<ul>" + "".join(f"<li>{html.escape(u)}</li>" for u in unreadable) + "</ul>")


# --------------------------------------------------------------------------- the page
def render_report(output_dir: str, stats: Optional[dict], corpus: Corpus, notes: list[str]) -> str:
    stats = stats or {}
    records = stats.get("records_read") or 0
    languages = stats.get("languages") or corpus.languages
    pii = stats.get("pii") if stats.get("pii") is not None else corpus.pii
    body = [notes_html(notes), summary_cards(stats, corpus), funnel_section(stats.get("funnel") or []),
            drops_section(stats.get("dropped") or {}, records), errors_section(stats.get("errors") or {}, records),
            language_outcomes_section(stats.get("by_language")),
            '<div class="two">', languages_section(languages), pii_section(pii), "</div>",
            histograms_section(corpus), samples_section(corpus), unreadable_section(corpus.unreadable)]
    return page("Clean run report", output_dir, "".join(body), written_by="<code>python -m pipelines.report</code>")


def _notes(stats: StatsFile, corpus: Corpus) -> list[str]:
    notes = []
    if not stats.found:
        notes.append("No stats.json found: counts below come from the Parquet files only.")
    elif stats.error is not None:
        notes.append(f"stats.json is not valid JSON ({stats.error}); counts below come from the Parquet files only.")
    if not corpus.kept_files:
        notes.append("No documents/*.parquet found.")
    elif corpus.kept_docs == 0:
        notes.append("The corpus is empty: no document was kept.")
    if not corpus.removed_files:
        notes.append("No removed/ folder: the run did not keep dropped documents (use --keep_removed).")
    return notes


def write_report(output_dir: str, samples_per_reason: int = 3, seed: int = 0,
                 stats: Optional[StatsFile] = None) -> str:
    """Write ``output_dir``/report.html and return its path. ``stats``: the folder's
    stats.json when the caller has read it already."""
    output_dir = str(output_dir)
    stats = stats if stats is not None else read_stats(output_dir)
    corpus = read_corpus(output_dir, samples_per_reason, seed)
    return write_page(output_dir, render_report(output_dir, stats.data, corpus, _notes(stats, corpus)))
