"""The small HTML kit both report pages are built from: the inline CSS, the page shell,
notes, sections, summary cards, bar tables, number formatting and text excerpts.

Every function returns HTML text. Arguments named ``text``, ``label``, ``title`` or
``notes`` are plain text and escaped here; ``body`` and ``written_by`` are HTML already.
"""
from __future__ import annotations

import html
from typing import Iterable, Optional

from apache_beam.io.filesystems import FileSystems

REPORT_NAME = "report.html"
EXCERPT_CHARS = 700
KEPT_COLOR, DROPPED_COLOR, BYTES_COLOR = "#2f6db5", "#d9822b", "#8fb3de"

CSS = """
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


# --------------------------------------------------------------------------- formatting
def fmt_int(n: Optional[float]) -> str:
    return "–" if n is None else f"{int(n):,}"


def fmt_bytes(n: Optional[float]) -> str:
    if n is None:
        return "–"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000.0
    return str(n)


def by_count(counts: dict[str, int]) -> list[tuple[str, int]]:
    """(name, count) pairs, largest count first, ties by name: the order of every bar table."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def excerpt(text: str, total_chars: Optional[int] = None) -> str:
    """The first EXCERPT_CHARS characters of ``text``, escaped, with "…" when the text
    (``total_chars`` long when ``text`` is itself already an excerpt) goes on."""
    total = len(text) if total_chars is None else total_chars
    return html.escape(text[:EXCERPT_CHARS] + ("…" if total > EXCERPT_CHARS else ""))


# --------------------------------------------------------------------------- page pieces
def page(title: str, subtitle: str, body: str, written_by: str) -> str:
    """A whole self-contained HTML document: head with the inline CSS, a header with
    ``title`` and ``subtitle``, then ``body`` and a footer line naming ``written_by``."""
    title = html.escape(title)
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{title}</title><style>{CSS}</style></head><body>"
            f"<header><h1>{title}</h1><div class=\"sub\">{html.escape(subtitle)}</div></header><main>"
            f"{body}"
            f'<p class="muted">Written by {written_by}; self-contained, no scripts, nothing fetched.</p>'
            "</main></body></html>\n")


def notes_html(notes: Iterable[str]) -> str:
    """The page-level notes (what is missing or odd), one yellow box each."""
    return "".join(f'<div class="note">{html.escape(note)}</div>' for note in notes)


def section(section_id: Optional[str], title: str, body: str) -> str:
    opening = "<section>" if section_id is None else f'<section id="{html.escape(section_id)}">'
    return f"{opening}<h2>{html.escape(title)}</h2>{body}</section>"


def card(label: str, value: str) -> str:
    return f'<div class="card"><div class="k">{html.escape(label)}</div><div class="v">{html.escape(value)}</div></div>'


def cards(items: Iterable[tuple[str, str]]) -> str:
    """The row of summary cards: (label, formatted value) each."""
    return '<div class="cards">' + "".join(card(label, value) for label, value in items) + "</div>"


def bar_table(rows: list[tuple[str, int]], total: int, head: tuple[str, str], css: str = "bar") -> str:
    """A table of (name, count) rows with the share of ``total`` and a bar scaled to the
    largest count; ``css`` is the bar's class (bar, bar-drop, bar-err)."""
    if not rows:
        return '<p class="note">None.</p>'
    top = max(n for _, n in rows) or 1
    body = []
    for name, n in rows:
        pct = f"{100.0 * n / total:.1f}%" if total else ""
        body.append(
            f'<tr><td class="name">{html.escape(name)}</td><td class="num">{fmt_int(n)}</td><td class="num">{pct}</td>'
            f'<td class="barcell"><div class="{css}" style="width:{100.0 * n / top:.1f}%"></div></td></tr>'
        )
    return (f'<table class="bars"><thead><tr><th>{html.escape(head[0])}</th><th class="num">{html.escape(head[1])}</th>'
            f'<th class="num">share</th><th></th></tr></thead><tbody>{"".join(body)}</tbody></table>')


def write_page(output_dir: str, page_html: str) -> str:
    """Write ``page_html`` to ``output_dir``/report.html (any Beam filesystem); return its path."""
    path = FileSystems.join(output_dir, REPORT_NAME)
    with FileSystems.create(path) as f:
        f.write(page_html.encode("utf-8"))
    return path


def chart_style(salt: str) -> dict:
    """matplotlib rc settings of every report chart: text stays text (searchable, small) and
    element ids are seeded by ``salt``, so a rerun writes the same bytes."""
    return {"svg.hashsalt": salt, "svg.fonttype": "none", "font.size": 8,
            "axes.spines.top": False, "axes.spines.right": False}


def figure_svg(fig) -> str:
    """A matplotlib figure as inline SVG for an HTML page (no XML prolog, no date), closed."""
    import io

    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]
