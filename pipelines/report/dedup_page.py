"""A self-contained HTML report of a dedup run, for a person to judge what was removed.

    python -m pipelines.report DEDUP_OUTPUT   (picks this report when stats.json lists dedup stages)

Reads what ``python -m pipelines.dedup`` wrote into the output folder:
  stats.json                    counts, the cluster-size histogram, per-stage figures
  documents/*.parquet           kept documents (to show the copy each duplicate was matched to)
  removed/minhash/*.parquet     removed near-duplicates with ``duplicate_of`` (``--keep_removed``)
and writes OUTPUT/report.html: summary cards, documents removed per stage, the cluster-size
histogram (clusters and documents per size range; each row carries ``data-*`` attributes),
substring and decontamination figures, and sampled duplicate pairs side by side with their
MinHash Jaccard estimate, so a reader can see whether the threshold is right.

Memory bound: at most ``pairs`` removed documents are sampled (seeded, order-independent),
then only their kept counterparts are looked up by id, batch by batch.
"""
from __future__ import annotations

import dataclasses
import html
import json
from typing import Optional

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.report.clean_page import (
    _CSS, EXCERPT_CHARS, REPORT_NAME, BottomK, _bar_table, _card, _fmt_bytes, _fmt_int, _iter_batches, _match,
    _read_text, _sample_key,
)

# Cluster sizes grouped into ranges: a corpus has thousands of distinct sizes.
SIZE_RANGES = ((1, 1), (2, 2), (3, 3), (4, 5), (6, 10), (11, 20), (21, 50), (51, 100), (101, 1000), (1001, None))


def is_dedup_stats(stats: Optional[dict]) -> bool:
    """Whether a stats.json was written by the dedup job (it lists its stages)."""
    return bool(stats) and "stages" in stats and "documents_in" in stats


def size_range_rows(histogram: dict) -> list[dict]:
    """[{"range", "clusters", "documents"}] per SIZE_RANGES entry that has clusters."""
    rows = []
    for lo, hi in SIZE_RANGES:
        sizes = [(int(s), n) for s, n in histogram.items() if int(s) >= lo and (hi is None or int(s) <= hi)]
        if not sizes:
            continue
        label = str(lo) if lo == hi else (f"{lo}-{hi}" if hi else f">{lo - 1}")
        rows.append({"range": label, "clusters": sum(n for _, n in sizes),
                     "documents": sum(s * n for s, n in sizes)})
    return rows


@dataclasses.dataclass
class DuplicatePair:
    removed_id: str
    kept_id: str
    removed_url: str
    removed_text: str
    kept_url: str = ""
    kept_text: Optional[str] = None  # None: the kept copy was not found
    jaccard: Optional[float] = None


def _batches(path: str, columns: list[str], unreadable: list[str]):
    """Record batches of one Parquet file; an unreadable file is noted, not fatal."""
    try:
        yield from _iter_batches(path, columns)
    except Exception as e:  # a broken file must not lose the whole report
        unreadable.append(f"{path}: {e}")


def sample_pairs(output_dir: str, pairs: int, seed: int, input_files: Optional[list[str]] = None,
                 unreadable: Optional[list[str]] = None) -> tuple[list[DuplicatePair], int]:
    """(seeded sample of removed near-duplicates with their kept copy, removed documents seen).

    The kept copy is looked up in ``input_files`` (the job's input: the text MinHash
    compared) when given, else in ``documents/`` (after any later stage changed it).
    Files that cannot be read are appended to ``unreadable``.
    """
    unreadable = unreadable if unreadable is not None else []
    sample, seen = BottomK(pairs), 0
    for path in _match(f"{output_dir}/removed/minhash/*.parquet"):
        for batch in _batches(path, ["id", "url", "text", "duplicate_of"], unreadable):
            for row in batch.to_pylist():
                seen += 1
                sample.offer(_sample_key(seed, row["id"]), row["id"], lambda r=row: DuplicatePair(
                    r["id"], r.get("duplicate_of") or "", r.get("url") or "", r.get("text") or ""))
    found = sample.items()
    wanted = pa.array(sorted({p.kept_id for p in found if p.kept_id}), type=pa.string())
    kept = {}
    if len(wanted):
        for path in input_files or _match(f"{output_dir}/documents/*.parquet"):
            for batch in _batches(path, ["id", "url", "text"], unreadable):
                hit = batch.filter(pc.is_in(batch.column("id"), value_set=wanted))
                kept.update((r["id"], r) for r in hit.to_pylist())
    for pair in found:
        if pair.kept_id in kept:
            pair.kept_url = kept[pair.kept_id].get("url") or ""
            pair.kept_text = kept[pair.kept_id].get("text") or ""
    _estimate_jaccard(found)
    return found, seen


def _estimate_jaccard(pairs: list[DuplicatePair]) -> None:
    from pipelines.stages.minhash import MinHasher, estimated_jaccard

    complete = [p for p in pairs if p.kept_text is not None]
    if not complete:
        return
    sig, _ = MinHasher().signatures([t for p in complete for t in (p.removed_text, p.kept_text)])
    for i, pair in enumerate(complete):
        pair.jaccard = estimated_jaccard(sig[2 * i], sig[2 * i + 1])


def _excerpt(text: str) -> str:
    return html.escape(text[:EXCERPT_CHARS] + ("…" if len(text) > EXCERPT_CHARS else ""))


def render_dedup_report(output_dir: str, stats: dict, pairs: list[DuplicatePair], removed_seen: int,
                        notes: list[str]) -> str:
    docs_in, kept = stats.get("documents_in"), stats.get("documents_kept")
    dropped = stats.get("dropped") or {}
    clusters = stats.get("clusters") or {}
    substring = stats.get("substring") or {}
    decontam = stats.get("decontamination") or {}
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
             f"<title>Dedup run report</title><style>{_CSS}</style></head><body>"
             f"<header><h1>Dedup run report</h1><div class=\"sub\">{html.escape(output_dir)} · stages: "
             f"{html.escape(', '.join(stats.get('stages') or []))}</div></header><main>"]
    parts += [f'<div class="note">{html.escape(n)}</div>' for n in notes]
    kept_share = f" ({100.0 * kept / docs_in:.1f}%)" if docs_in and kept is not None else ""
    parts.append('<div class="cards">' + _card("documents in", _fmt_int(docs_in))
                 + _card("documents kept", _fmt_int(kept) + kept_share)
                 + _card("removed", _fmt_int(sum(dropped.values())))
                 + _card("duplicate clusters", _fmt_int(clusters.get("duplicate_clusters")))
                 + _card("substring bytes cut", _fmt_bytes(substring.get("bytes_removed"))) + "</div>")

    reasons = sorted(dropped.items(), key=lambda kv: (-kv[1], kv[0]))
    parts.append('<section id="drop-reasons"><h2>Documents removed</h2><p class="muted">share = of documents in</p>'
                 + _bar_table(reasons, docs_in or 0, ("stage.reason", "documents"), "bar-drop") + "</section>")

    rows = size_range_rows(clusters.get("size_histogram") or {})
    parts.append('<section id="clusters"><h2>Cluster sizes</h2>')
    if rows:
        parts.append('<p class="muted">Near-duplicate clusters found by MinHash-LSH (size 1 = a document with no '
                     'near-duplicate); one document per cluster is kept. Share = of all clusters.</p>')
        parts.append(_bar_table([(f"size {r['range']}", r["clusters"]) for r in rows], clusters.get("count") or 0,
                                ("cluster size", "clusters")))
        parts.append('<table id="cluster-data"><thead><tr><th>size</th><th class="num">clusters</th>'
                     '<th class="num">documents</th></tr></thead><tbody>'
                     + "".join(f'<tr data-range="{r["range"]}" data-clusters="{r["clusters"]}" '
                               f'data-documents="{r["documents"]}"><td>{r["range"]}</td>'
                               f'<td class="num">{_fmt_int(r["clusters"])}</td>'
                               f'<td class="num">{_fmt_int(r["documents"])}</td></tr>' for r in rows)
                     + "</tbody></table>")
        minhash = stats.get("minhash") or {}
        if minhash:
            parts.append(f'<p class="muted">{minhash.get("bands")} bands x {minhash.get("rows")} rows '
                         f'(S-curve midpoint Jaccard {minhash.get("threshold")}), {minhash.get("ngram")}-word shingles, '
                         f'keep rule {html.escape(str(minhash.get("keep")))}, largest LSH bucket '
                         f'{_fmt_int(minhash.get("largest_bucket"))}.</p>')
    else:
        parts.append('<p class="note">No MinHash clusters in stats.json (the minhash stage did not run).</p>')
    parts.append("</section>")

    if substring:
        parts.append('<section id="substring"><h2>Exact repeated substrings</h2><table><tbody>'
                     + "".join(f'<tr><td class="name">{html.escape(k.replace("_", " "))}</td>'
                               f'<td class="num">{_fmt_int(v) if isinstance(v, int) else html.escape(str(v))}</td></tr>'
                               for k, v in substring.items() if not isinstance(v, (dict, list)))
                     + "</tbody></table></section>")
    if decontam:
        items = decontam.get("matched_items") or []
        parts.append('<section id="decontamination"><h2>Decontamination</h2>'
                     f'<p>{_fmt_int(decontam.get("documents_contaminated"))} documents share an n-gram with '
                     f'{_fmt_int(decontam.get("eval_items_matched"))} evaluation items (full list in decontamination.json).</p>'
                     + _bar_table([(f"{i.get('file')} #{i.get('item')}", i.get("documents", 0)) for i in items[:20]],
                                  decontam.get("documents_contaminated") or 0, ("evaluation item", "documents"))
                     + "</section>")

    parts.append('<section id="pairs"><h2>Sampled near-duplicate pairs</h2>')
    if not pairs:
        parts.append('<p class="note">No removed near-duplicates to show: run the dedup job with --keep_removed '
                     '(and the minhash stage) to see what was matched.</p>')
    else:
        parts.append(f'<p class="muted">{len(pairs)} of {_fmt_int(removed_seen)} removed documents (seeded sample), '
                     'each beside the kept document it duplicates, with the Jaccard similarity of their shingles '
                     'estimated from MinHash signatures.</p>')
    for p in pairs:
        jac = "" if p.jaccard is None else f"{p.jaccard:.2f}"
        kept_block = (_excerpt(p.kept_text) if p.kept_text is not None
                      else "(kept copy not found in documents/: a later stage removed it)")
        parts.append(f'<div class="pair" data-removed="{html.escape(p.removed_id)}" data-kept="{html.escape(p.kept_id)}"'
                     f' data-jaccard="{jac}"><div class="meta">estimated Jaccard {jac or "–"}</div><div class="two">'
                     f'<div class="sample"><div class="meta">removed · {html.escape(p.removed_url)}<br>id '
                     f'{html.escape(p.removed_id)}</div><pre>{_excerpt(p.removed_text)}</pre></div>'
                     f'<div class="sample"><div class="meta">kept · {html.escape(p.kept_url)}<br>id '
                     f'{html.escape(p.kept_id)}</div><pre>{kept_block}</pre></div></div></div>')
    parts.append("</section>")
    parts.append('<p class="muted">Written by <code>python -m pipelines.dedup</code> / <code>python -m pipelines.report'
                 '</code>; self-contained, no scripts, nothing fetched.</p></main></body></html>\n')
    return "".join(parts)


def write_dedup_report(output_dir: str, pairs: int = 8, seed: int = 0,
                       input_files: Optional[list[str]] = None) -> str:
    """Write ``output_dir``/report.html for a dedup run and return its path.

    ``input_files``: the job's input Parquet files, where the kept copies of sampled pairs
    are found as MinHash saw them (the dedup job passes them).
    """
    from apache_beam.io.filesystems import FileSystems

    output_dir = str(output_dir)
    notes = []
    try:
        stats = json.loads(_read_text(FileSystems.join(output_dir, "stats.json")) or "{}")
    except json.JSONDecodeError as e:
        stats = {}
        notes.append(f"stats.json is not valid JSON ({e}): counts are missing.")
    if not _match(f"{output_dir}/removed/minhash/*.parquet"):
        notes.append("No removed/minhash/ folder: the run did not keep removed documents (use --keep_removed).")
    stages = stats.get("stages") or []
    if not input_files and "minhash" in stages and stages[-1] != "minhash":
        later = ", ".join(stages[stages.index("minhash") + 1:])
        notes.append(f"Kept copies are shown as written, after the later stages ({later}) changed them; "
                     "the dedup job itself compares the texts MinHash saw.")
    unreadable: list[str] = []
    sampled, seen = sample_pairs(output_dir, pairs, seed, input_files, unreadable)
    notes += [f"Unreadable file skipped: {u}" for u in unreadable]
    page = render_dedup_report(output_dir, stats, sampled, seen, notes)
    path = FileSystems.join(output_dir, REPORT_NAME)
    with FileSystems.create(path) as f:
        f.write(page.encode("utf-8"))
    return path
