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

Dev and test halves: a page is in the dev half when the SHA-1 of its document id (hex) is
an even number (``is_dev``); every line reports F1 on both halves. The cascade's line
also counts which step gave each page's text (``cascade_steps``). ``--choose_ratio``
chooses the cascade's ``CASCADE_MIN_RATIO`` on the dev half only: every step's text of
every page is computed once, the cascade is replayed for each ratio of the grid, and the
choice is the ratio with the fewest dev escalations among those whose dev F1 is within
the extractor rule's tolerance of the best dev F1 (the rule, applied to the threshold);
ties go to the middle ratio of the tied ones (the farthest from the pages that bound
them). The tolerance is the rule's 0.005 of mean F1 over all labelled pages, kept in
page units (0.005 x pages / dev pages): on half the pages one page moves the mean twice
as much. The test half is reported beside it, not used.
"""
from __future__ import annotations

import argparse
import collections
import hashlib
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

from extraction_set import checked_choice, gold_text, load_labels, page_html, shared_missing  # noqa: E402
from pipelines.stages.extract import (  # noqa: E402
    CASCADE_MIN_RATIO, CASCADE_STEPS, DEFAULT_EXTRACTOR, EXTRACTORS, cascade_extract, cascade_steps, cheap_text,
    collapse_newlines, pick_cascade_text,
)
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


def labelled_pages() -> list[tuple[dict, str, str]]:
    """(label, decoded HTML, gold text) of every labelled page (raises LabelDrift when a
    page no longer matches its label): the one loader of the bench scripts."""
    return [(label, page_html(label["warc"], label["id"])[1], gold_text(label)) for label in load_labels()]


def is_dev(label: dict) -> bool:
    """The dev half: pages whose document id's SHA-1 is even (about half, fixed by the ids)."""
    return int(hashlib.sha1(label["id"].encode()).hexdigest(), 16) % 2 == 0


def run(extractor, html: str, steps: list | None = None) -> str:
    try:
        if extractor is cascade_extract and steps is not None:  # the same work, and which step answered
            text, step = cascade_steps(html, OPTIONS)
            steps.append(step)
            return collapse_newlines(text, OPTIONS["max_newlines"])
        return collapse_newlines(extractor(html, OPTIONS) or "", OPTIONS["max_newlines"])
    except Exception:  # counted as an empty result, as the stage counts extract_error
        return ""


def step_names() -> list[str]:
    return [name for name, _ in CASCADE_STEPS] + ["resiliparse_text"]


def choose_ratio(pages, grid: list[float]) -> int:
    """Replay the cascade for each ratio of ``grid``; choose on the dev half (module doc)."""
    rows = []
    for _, html, _ in pages:
        cheap = collapse_newlines(cheap_text(html, OPTIONS), OPTIONS["max_newlines"])
        rows.append(([run(step, html) for _, step in CASCADE_STEPS], cheap))
    results = []
    for ratio in grid:
        result = {"min_ratio": ratio}
        for half, wanted in (("dev", True), ("test", False)):
            picked = [(pick_cascade_text(texts, cheap, ratio), gold) for (texts, cheap), (label, _, gold)
                      in zip(rows, pages) if is_dev(label) == wanted]
            result[half] = {"pages": len(picked),
                            "f1": round(statistics.mean(prf(text, gold)[2] for (text, _), gold in picked), 4),
                            "escalated": sum(1 for (_, step), _ in picked if step > 0),
                            "steps": dict(collections.Counter(step_names()[step] for (_, step), _ in picked))}
        results.append(result)
        print(json.dumps(result))
    best = max(r["dev"]["f1"] for r in results)
    tolerance = F1_TOLERANCE * len(pages) / results[0]["dev"]["pages"]
    eligible = [r for r in results if r["dev"]["f1"] >= best - tolerance]
    fewest = min(r["dev"]["escalated"] for r in eligible)
    tied = [r for r in eligible if r["dev"]["escalated"] == fewest]
    choice = tied[(len(tied) - 1) // 2]
    print(json.dumps({"chosen_min_ratio": choice["min_ratio"], "current": CASCADE_MIN_RATIO,
                      "rule": "fewest dev escalations with dev F1 >= best dev F1 - tolerance; ties: the middle ratio",
                      "tolerance": round(tolerance, 4), "tied": [r["min_ratio"] for r in tied],
                      "best_dev_f1": best, "dev_f1": choice["dev"]["f1"], "test_f1": choice["test"]["f1"],
                      "load_avg_1_5_15": [round(x, 2) for x in os.getloadavg()]}))
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--extractors", default=",".join(EXTRACTORS))
    p.add_argument("--per_page", action="store_true", help="also print each page's F1 per extractor")
    p.add_argument("--choose_ratio", action="store_true",
                   help="choose the cascade's CASCADE_MIN_RATIO on the dev half (no timing)")
    p.add_argument("--ratio_grid", default="0.1,0.15,0.2,0.25,0.3,0.35,0.4,0.45,0.5,0.55,0.6,0.65,0.7,0.8")
    args = p.parse_args(argv)
    names = checked_choice(p, "--extractors", args.extractors, EXTRACTORS, args.rounds)
    if shared_missing("the extraction set is rebuilt from the shared pages"):
        return 0
    pages = labelled_pages()
    if args.choose_ratio:
        return choose_ratio(pages, [float(x) for x in args.ratio_grid.split(",")])
    for name in names:  # imports and first-call setup outside the timing
        run(EXTRACTORS[name], pages[0][1])

    texts: dict[str, list[str]] = {}
    steps: dict[str, list[int]] = {}
    rates: dict[str, list[float]] = collections.defaultdict(list)
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            extractor = EXTRACTORS[name]
            steps[name] = []
            start = time.process_time()
            out = [run(extractor, html, steps[name]) for _, html, _ in pages]
            rates[name].append(len(pages) / (time.process_time() - start))
            texts[name] = out

    load = os.getloadavg()
    results = []
    for name in names:
        scores = [prf(text, gold) for text, (_, _, gold) in zip(texts[name], pages)]
        by_lang, by_half = collections.defaultdict(list), collections.defaultdict(list)
        for (label, _, _), (_, _, f1) in zip(pages, scores):
            by_lang[label["language"]].append(f1)
            by_half["dev" if is_dev(label) else "test"].append(f1)
        result = {
            "extractor": name,
            "pages": len(pages),
            "f1": round(statistics.mean(s[2] for s in scores), 4),
            "precision": round(statistics.mean(s[0] for s in scores), 4),
            "recall": round(statistics.mean(s[1] for s in scores), 4),
            "f1_by_half": {half: round(statistics.mean(v), 4) for half, v in sorted(by_half.items())},
            "f1_by_language": {lang: round(statistics.mean(v), 3) for lang, v in sorted(by_lang.items())},
            "empty_pages": sum(1 for t in texts[name] if not t),
            "docs_per_cpu_s": round(statistics.median(rates[name]), 1),
            "docs_per_cpu_s_rounds": [round(x, 1) for x in rates[name]],
        }
        if steps[name]:  # the cascade: which step gave the text, over the pages
            result["cascade_steps"] = {step_names()[i]: n for i, n in sorted(collections.Counter(steps[name]).items())}
            result["min_ratio"] = CASCADE_MIN_RATIO
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
