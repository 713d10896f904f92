"""Extraction quality and cost of each extractor on the hand-labelled extraction set.

    .venv/bin/python bench/extraction_eval.py              # every labelled page, 3 timing rounds
    .venv/bin/python bench/extraction_eval.py --rounds 1   # quick look

The labels (bench/extraction_labels.jsonl, made with bench/extraction_set.py) say which
visible text blocks of each shared page are its main content; the gold text is rebuilt
from ../shared at run time. Every extractor of ``pipelines.stages.extract.EXTRACTORS``
gets the same decoded HTML (our decoder, as in the clean job) and the same options.

Quality: bag-of-words F1 against the gold text, per page, then the mean over pages
(and per language). Words: NFKC, case-folded, soft hyphens and zero-width characters
removed, then ``pipelines.stages.segmentation.words``: ``\\w+`` runs, and each character
of a script written without spaces (Chinese, Japanese, Thai, ...) is one word. Bags are
multisets: a word counted twice in the gold must be found twice.

Cost: documents per CPU-second of this process (``time.process_time``; the extractors
run in-process, no children), per round; the rounds are interleaved (each round runs
every extractor over every page, in a rotating order) so that load from other work on a
shared machine falls on all extractors alike; the median round is reported. The
decoding is done once before timing (it is the same for every extractor).

Prints one JSON line per extractor and a ``choice`` line: the fastest extractor whose
mean F1 is within 0.005 of the best, the rule for ``DEFAULT_EXTRACTOR``.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import pathlib
import resource
import statistics
import sys
import time
import unicodedata

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from extraction_set import SHARED, gold_text, load_labels, page_html  # noqa: E402
from pipelines.stages.extract import DEFAULT_EXTRACTOR, EXTRACTORS, collapse_newlines  # noqa: E402
from pipelines.stages.segmentation import words  # noqa: E402

OPTIONS = {"favor_precision": True, "max_newlines": 2, "include_comments": False, "include_tables": True}
F1_TOLERANCE = 0.005
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"))


def bag(text: str) -> collections.Counter:
    return collections.Counter(words(unicodedata.normalize("NFKC", text).casefold().translate(_INVISIBLE)))


def prf(predicted: str, gold: str) -> tuple[float, float, float]:
    got, want = bag(predicted), bag(gold)
    common = sum((got & want).values())
    precision = common / sum(got.values()) if got else 0.0
    recall = common / sum(want.values()) if want else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def run(extractor, html: str) -> str:
    try:
        return collapse_newlines(extractor(html, OPTIONS) or "", OPTIONS["max_newlines"])
    except Exception:  # counted as an empty result, as the stage counts extract_error
        return ""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--extractors", default=",".join(EXTRACTORS))
    p.add_argument("--per_page", action="store_true", help="also print each page's F1 per extractor")
    args = p.parse_args(argv)
    if not SHARED.is_dir():
        print(json.dumps({"skipped": f"{SHARED} is missing: the extraction set is rebuilt from the shared pages"}))
        return 0
    names = args.extractors.split(",")
    labels = load_labels()
    pages = []
    for label in labels:
        url, html = page_html(label["warc"], label["id"])
        pages.append((label, html, gold_text(label)))
    for name in names:  # imports and first-call setup outside the timing
        run(EXTRACTORS[name], pages[0][1])

    texts: dict[str, list[str]] = {}
    rates: dict[str, list[float]] = collections.defaultdict(list)
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            extractor = EXTRACTORS[name]
            start = time.process_time()
            out = [run(extractor, html) for _, html, _ in pages]
            rates[name].append(len(pages) / (time.process_time() - start))
            texts[name] = out

    load = os.getloadavg()
    results = []
    for name in names:
        scores = [prf(text, gold) for text, (_, _, gold) in zip(texts[name], pages)]
        by_lang = collections.defaultdict(list)
        for (label, _, _), (_, _, f1) in zip(pages, scores):
            by_lang[label["language"]].append(f1)
        result = {
            "extractor": name,
            "pages": len(pages),
            "f1": round(statistics.mean(s[2] for s in scores), 4),
            "precision": round(statistics.mean(s[0] for s in scores), 4),
            "recall": round(statistics.mean(s[1] for s in scores), 4),
            "f1_by_language": {lang: round(statistics.mean(v), 3) for lang, v in sorted(by_lang.items())},
            "empty_pages": sum(1 for t in texts[name] if not t),
            "docs_per_cpu_s": round(statistics.median(rates[name]), 1),
            "docs_per_cpu_s_rounds": [round(x, 1) for x in rates[name]],
        }
        results.append(result)
        print(json.dumps(result, ensure_ascii=False))
        if args.per_page:
            for (label, _, _), (_, _, f1) in zip(pages, scores):
                print(json.dumps({"extractor": name, "url": label["url"], "language": label["language"],
                                  "f1": round(f1, 3)}, ensure_ascii=False))
    best = max(r["f1"] for r in results)
    eligible = [r for r in results if r["f1"] >= best - F1_TOLERANCE]
    choice = max(eligible, key=lambda r: r["docs_per_cpu_s"])
    print(json.dumps({"choice": choice["extractor"], "rule": f"fastest with F1 >= best - {F1_TOLERANCE}",
                      "best_f1": best, "current_default": DEFAULT_EXTRACTOR,
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                      "load_avg_1_5_15": [round(x, 2) for x in load], "cpus": os.cpu_count(),
                      "date": time.strftime("%Y-%m-%d")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
