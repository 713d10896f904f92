"""Throughput of our quality stages vs datatrove's filters on the same real texts.

    .venv/bin/python bench/quality.py [--max-docs N] [--english-only]

Input: trafilatura main text of ../shared/data/warc/real-pages-*.warc.gz (extraction is
cached in a temp file by bench/quality_agreement.py's loader, so it is not timed).
Each filter runs alone over all texts on one core (documents/s and MB/s of text), then
the four filters chained per document as a pipeline would run them. datatrove gets the
page's language for its spaCy tokenizer (English where it has none), as a real
multilingual datatrove run would be configured; a spaCy warm-up call is not timed.
Peak memory (ru_maxrss) of the whole process is printed at the end.
"""
from __future__ import annotations

import argparse
import pathlib
import resource
import sys
import time
import warnings

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from quality_agreement import DEFAULT_WARCS, datatrove_filters, load_texts, our_filters  # noqa: E402


def time_ours(stage, rows) -> float:
    from pipelines.stages.base import Document
    start = time.process_time()
    for row in rows:
        stage.process(Document(id=row["url"], text=row["text"], language=row["language"]))
    return time.process_time() - start


def time_datatrove(filters_by_lang, name, rows) -> float:
    from datatrove.data import Document as DTDocument
    start = time.process_time()
    for row in rows:
        filters_by_lang(row["language"])[name].filter(DTDocument(text=row["text"], id=row["url"], metadata={}))
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warcs", default=DEFAULT_WARCS)
    parser.add_argument("--max-docs", type=int, default=None)
    parser.add_argument("--english-only", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    rows = load_texts(args.warcs, args.max_docs)
    if args.english_only:
        rows = [r for r in rows if r["language"] == "en"]

    from datatrove.utils.word_tokenizers import load_tokenizer_assignments
    known = load_tokenizer_assignments()
    cache: dict[str, dict] = {}

    def filters_for(lang: str) -> dict:
        if lang not in cache:
            filters = datatrove_filters(lang)
            try:  # warm-up: loads spaCy for this language (not timed); some need extra packages
                from datatrove.data import Document as DTDocument
                filters["gopher_quality"].filter(DTDocument(text="Warm up text.", id="w", metadata={}))
            except ImportError:
                filters = filters_for("en") if lang != "en" else filters
            cache[lang] = filters
        return cache[lang]

    for row in rows:  # warm every language before timing
        row["language"] = row["language"] if row["language"] in known else "en"
        filters_for(row["language"])
    megabytes = sum(len(r["text"].encode("utf-8")) for r in rows) / 1e6
    n = len(rows)
    print(f"{n} documents, {megabytes:.1f} MB of text; CPU time on one core (time.process_time)\n")
    print(f"{'filter':18s} {'ours docs/s':>12s} {'datatrove docs/s':>17s} {'speed-up':>9s} {'ours MB/s':>10s}")
    ours = our_filters()
    for name, stage in ours.items():
        t_ours = time_ours(stage, rows)
        t_dt = time_datatrove(filters_for, name, rows)
        print(f"{name:18s} {n / t_ours:12.0f} {n / t_dt:17.0f} {t_dt / t_ours:8.1f}x {megabytes / t_ours:10.2f}")

    # Chained, as a pipeline runs them: ours re-tokenizes per stage; datatrove's
    # split_into_words is lru-cached per text, so later filters reuse spaCy's tokens.
    from datatrove.data import Document as DTDocument
    from pipelines.stages.base import Document, run_stages
    stages = list(ours.values())
    start = time.process_time()
    for row in rows:
        run_stages(stages, Document(id=row["url"], text=row["text"], language=row["language"]))
    t_ours = time.process_time() - start
    start = time.process_time()
    for row in rows:
        doc = DTDocument(text=row["text"], id=row["url"], metadata={})
        for flt in filters_for(row["language"]).values():
            if flt.filter(doc) is not True:
                break
    t_dt = time.process_time() - start
    print(f"{'chained (4)':18s} {n / t_ours:12.0f} {n / t_dt:17.0f} {t_dt / t_ours:8.1f}x {megabytes / t_ours:10.2f}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of this process (both libraries, spaCy models loaded): {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
