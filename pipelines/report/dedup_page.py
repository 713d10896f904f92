"""The dedup page: a self-contained HTML report of a dedup run, for a person to judge what
was removed. Written by ``python -m pipelines.dedup`` at its end and by
``python -m pipelines.report DEDUP_OUTPUT`` (picked when stats.json lists dedup stages).

Reads what ``python -m pipelines.dedup`` wrote into the output folder:
  stats.json                    counts, the cluster-size histogram, per-stage figures
  documents/*.parquet           kept documents (to show the copy each duplicate was matched to)
  removed/minhash/*.parquet     removed near-duplicates with ``duplicate_of`` (``--keep_removed``)
and writes OUTPUT/report.html: summary cards, documents removed per stage, the cluster-size
histogram (clusters and documents per size range; each row carries ``data-*`` attributes),
substring, paragraph and decontamination figures, and sampled duplicate pairs side by side
with their MinHash Jaccard estimate, so a reader can see whether the threshold is right.

Memory bound: at most ``pairs`` removed documents are sampled (seeded, order-independent),
then only their kept counterparts are looked up by id, batch by batch.
"""
from __future__ import annotations

import dataclasses
import html
from typing import Any, Iterator, Optional

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.report.kit import (
    bar_table, by_count, cards, excerpt, fmt_bytes, fmt_int, notes_html, page, section, write_page,
)
from pipelines.report.reading import BottomK, StatsFile, iter_batches, match, read_stats, sample_key

# Cluster sizes grouped into ranges: a corpus has thousands of distinct sizes.
SIZE_RANGES = ((1, 1), (2, 2), (3, 3), (4, 5), (6, 10), (11, 20), (21, 50), (51, 100), (101, 1000), (1001, None))
TOP_EVAL_ITEMS = 20


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


# --------------------------------------------------------------------------- sampled pairs
@dataclasses.dataclass
class DuplicatePair:
    removed_id: str
    kept_id: str
    removed_url: str
    removed_text: str
    kept_url: str = ""
    kept_text: Optional[str] = None  # None: the kept copy was not found
    jaccard: Optional[float] = None


def _batches(path: str, columns: list[str], unreadable: list[str]) -> Iterator[Any]:
    """Record batches of one Parquet file; an unreadable file is noted, not fatal."""
    try:
        yield from iter_batches(path, columns)
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
    for path in match(f"{output_dir}/removed/minhash/*.parquet"):
        for batch in _batches(path, ["id", "url", "text", "duplicate_of"], unreadable):
            for row in batch.to_pylist():
                seen += 1
                sample.offer(sample_key(seed, row["id"]), row["id"], lambda r=row: DuplicatePair(
                    r["id"], r.get("duplicate_of") or "", r.get("url") or "", r.get("text") or ""))
    found = sample.items()
    if any(p.kept_id for p in found):
        _attach_kept_copies(found, input_files or match(f"{output_dir}/documents/*.parquet"), unreadable)
    _estimate_jaccard(found)
    return found, seen


def _attach_kept_copies(pairs: list[DuplicatePair], files: list[str], unreadable: list[str]) -> None:
    wanted = pa.array(sorted({p.kept_id for p in pairs if p.kept_id}), type=pa.string())
    kept = {}
    for path in files:
        for batch in _batches(path, ["id", "url", "text"], unreadable):
            hit = batch.filter(pc.is_in(batch.column("id"), value_set=wanted))
            kept.update((r["id"], r) for r in hit.to_pylist())
    for pair in pairs:
        if pair.kept_id in kept:
            pair.kept_url = kept[pair.kept_id].get("url") or ""
            pair.kept_text = kept[pair.kept_id].get("text") or ""


def _estimate_jaccard(pairs: list[DuplicatePair]) -> None:
    from pipelines.stages.minhash import MinHasher, estimated_jaccard

    complete = [p for p in pairs if p.kept_text is not None]
    if not complete:
        return
    sig, _ = MinHasher().signatures([t for p in complete for t in (p.removed_text, p.kept_text)])
    for i, pair in enumerate(complete):
        pair.jaccard = estimated_jaccard(sig[2 * i], sig[2 * i + 1])


# --------------------------------------------------------------------------- page sections
def summary_cards(stats: dict) -> str:
    docs_in, kept = stats.get("documents_in"), stats.get("documents_kept")
    clusters, substring = stats.get("clusters") or {}, stats.get("substring") or {}
    kept_share = f" ({100.0 * kept / docs_in:.1f}%)" if docs_in and kept is not None else ""
    return cards([("documents in", fmt_int(docs_in)), ("documents kept", fmt_int(kept) + kept_share),
                  ("removed", fmt_int(sum((stats.get("dropped") or {}).values()))),
                  ("duplicate clusters", fmt_int(clusters.get("duplicate_clusters"))),
                  ("substring bytes cut", fmt_bytes(substring.get("bytes_removed")))])


def removed_section(stats: dict) -> str:
    return section("drop-reasons", "Documents removed", '<p class="muted">share = of documents in</p>'
                   + bar_table(by_count(stats.get("dropped") or {}), stats.get("documents_in") or 0,
                               ("stage.reason", "documents"), "bar-drop"))


def clusters_section(stats: dict) -> str:
    clusters = stats.get("clusters") or {}
    rows = size_range_rows(clusters.get("size_histogram") or {})
    if not rows:
        return section("clusters", "Cluster sizes",
                       '<p class="note">No MinHash clusters in stats.json (the minhash stage did not run).</p>')
    body = ('<p class="muted">Near-duplicate clusters found by MinHash-LSH (size 1 = a document with no '
            'near-duplicate); one document per cluster is kept. Share = of all clusters.</p>'
            + _cluster_table(rows, clusters.get("count") or 0) + _minhash_line(stats.get("minhash") or {}))
    return section("clusters", "Cluster sizes", body)


def _cluster_table(rows: list[dict], total_clusters: int) -> str:
    """One table: clusters and documents per size range, the share of clusters, a bar."""
    top = max(r["clusters"] for r in rows) or 1
    body = "".join(
        f'<tr data-range="{r["range"]}" data-clusters="{r["clusters"]}" data-documents="{r["documents"]}">'
        f'<td class="name">size {r["range"]}</td><td class="num">{fmt_int(r["clusters"])}</td>'
        f'<td class="num">{fmt_int(r["documents"])}</td>'
        f'<td class="num">{100.0 * r["clusters"] / total_clusters if total_clusters else 0:.1f}%</td>'
        f'<td class="barcell"><div class="bar" style="width:{100.0 * r["clusters"] / top:.1f}%"></div></td></tr>'
        for r in rows)
    return ('<table id="cluster-data" class="bars"><thead><tr><th>cluster size</th><th class="num">clusters</th>'
            '<th class="num">documents</th><th class="num">share</th><th></th></tr></thead>'
            f"<tbody>{body}</tbody></table>")


def _minhash_line(minhash: dict) -> str:
    if not minhash:
        return ""
    verify = minhash.get("verify", "none")
    checked = (f'; candidate edges verified ({html.escape(str(verify))}, Jaccard &ge; '
               f'{minhash.get("verify_threshold")}): {fmt_int(minhash.get("edges_checked"))} checked, '
               f'{fmt_int(minhash.get("edges_rejected"))} rejected' if verify != "none" else "; edges not verified")
    return (f'<p class="muted">{minhash.get("bands")} bands x {minhash.get("rows")} rows '
            f'(S-curve midpoint Jaccard {minhash.get("threshold")}), {minhash.get("ngram")}-word shingles, '
            f'keep rule {html.escape(str(minhash.get("keep")))}, largest LSH bucket '
            f'{fmt_int(minhash.get("largest_bucket"))}{checked}.</p>')


def substring_section(substring: dict) -> str:
    return _figures_section("substring", "Exact repeated substrings", substring)


def paragraph_section(paragraph: dict) -> str:
    return _figures_section("paragraph", "Exact duplicate paragraphs (Bloom filter)", paragraph)


def _figures_section(anchor: str, title: str, figures: dict) -> str:
    """A stage's flat stats.json figures as a two-column table (nothing when absent)."""
    if not figures:
        return ""
    return section(anchor, title, "<table><tbody>"
                   + "".join(f'<tr><td class="name">{html.escape(k.replace("_", " "))}</td>'
                             f'<td class="num">{fmt_int(v) if isinstance(v, int) else html.escape(str(v))}</td></tr>'
                             for k, v in figures.items() if not isinstance(v, (dict, list)))
                   + "</tbody></table>")


def decontamination_section(decontam: dict) -> str:
    if not decontam:
        return ""
    items = decontam.get("matched_items") or []
    return section("decontamination", "Decontamination",
                   f'<p>{fmt_int(decontam.get("documents_contaminated"))} documents share an n-gram with '
                   f'{fmt_int(decontam.get("eval_items_matched"))} evaluation items (full list in '
                   'decontamination.json).</p>'
                   + bar_table([(f"{i.get('file')} #{i.get('item')}", i.get("documents", 0))
                                for i in items[:TOP_EVAL_ITEMS]],
                               decontam.get("documents_contaminated") or 0, ("evaluation item", "documents")))


def pairs_section(pairs: list[DuplicatePair], removed_seen: int) -> str:
    if not pairs:
        intro = ('<p class="note">No removed near-duplicates to show: run the dedup job with --keep_removed '
                 '(and the minhash stage) to see what was matched.</p>')
    else:
        intro = (f'<p class="muted">{len(pairs)} of {fmt_int(removed_seen)} removed documents (seeded sample), '
                 'each beside the kept document it duplicates, with the Jaccard similarity of their shingles '
                 'estimated from MinHash signatures. An estimate below the threshold can still be one cluster: '
                 'clusters are connected components, so A~B and B~C put A and C together even when A and C '
                 'themselves are less alike.</p>')
    return section("pairs", "Sampled near-duplicate pairs", intro + "".join(_pair_html(p) for p in pairs))


def _pair_html(p: DuplicatePair) -> str:
    jac = "" if p.jaccard is None else f"{p.jaccard:.2f}"
    kept_block = (excerpt(p.kept_text) if p.kept_text is not None
                  else "(kept copy not found in documents/: a later stage removed it)")
    return (f'<div class="pair" data-removed="{html.escape(p.removed_id)}" data-kept="{html.escape(p.kept_id)}"'
            f' data-jaccard="{jac}"><div class="meta">estimated Jaccard {jac or "–"}</div><div class="two">'
            f'<div class="sample"><div class="meta">removed · {html.escape(p.removed_url)}<br>id '
            f'{html.escape(p.removed_id)}</div><pre>{excerpt(p.removed_text)}</pre></div>'
            f'<div class="sample"><div class="meta">kept · {html.escape(p.kept_url)}<br>id '
            f'{html.escape(p.kept_id)}</div><pre>{kept_block}</pre></div></div></div>')


# --------------------------------------------------------------------------- the page
def render_dedup_report(output_dir: str, stats: dict, pairs: list[DuplicatePair], removed_seen: int,
                        notes: list[str]) -> str:
    body = [notes_html(notes), summary_cards(stats), removed_section(stats), clusters_section(stats),
            substring_section(stats.get("substring") or {}), paragraph_section(stats.get("paragraph") or {}),
            decontamination_section(stats.get("decontamination") or {}),
            pairs_section(pairs, removed_seen)]
    subtitle = f"{output_dir} · stages: {', '.join(stats.get('stages') or [])}"
    return page("Dedup run report", subtitle, "".join(body),
                written_by="<code>python -m pipelines.dedup</code> / <code>python -m pipelines.report</code>")


def _notes(output_dir: str, stats: StatsFile, stages: list[str], input_files: Optional[list[str]]) -> list[str]:
    notes = []
    if stats.error is not None:
        notes.append(f"stats.json is not valid JSON ({stats.error}): counts are missing.")
    if not match(f"{output_dir}/removed/minhash/*.parquet"):
        notes.append("No removed/minhash/ folder: the run did not keep removed documents (use --keep_removed).")
    if not input_files and "minhash" in stages and stages[-1] != "minhash":
        later = ", ".join(stages[stages.index("minhash") + 1:])
        notes.append(f"Kept copies are shown as written, after the later stages ({later}) changed them; "
                     "the dedup job itself compares the texts MinHash saw.")
    return notes


def write_dedup_report(output_dir: str, pairs: int = 8, seed: int = 0, input_files: Optional[list[str]] = None,
                       stats: Optional[StatsFile] = None) -> str:
    """Write ``output_dir``/report.html for a dedup run and return its path.

    ``input_files``: the job's input Parquet files, where the kept copies of sampled pairs
    are found as MinHash saw them (the dedup job passes them). ``stats``: the folder's
    stats.json when the caller has read it already.
    """
    output_dir = str(output_dir)
    stats = stats if stats is not None else read_stats(output_dir)
    data = stats.data or {}
    notes = _notes(output_dir, stats, data.get("stages") or [], input_files)
    unreadable: list[str] = []
    sampled, seen = sample_pairs(output_dir, pairs, seed, input_files, unreadable)
    notes += [f"Unreadable file skipped: {u}" for u in unreadable]
    return write_page(output_dir, render_dedup_report(output_dir, data, sampled, seen, notes))
