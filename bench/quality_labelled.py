"""Precision and recall of "keep" of a filter config on the labelled quality set (issue #15).

    .venv/bin/python bench/quality_labelled.py [--config PATH] [--split dev|test|holdout|holdout2|holdout3|all]
                                               [--documents DIR] [--json]

Labels: bench/quality_labels.jsonl (941 pages of ../shared/data/warc and ../shared/data/zh;
rule and splits in docs/quality.md, "The labelled set": dev 278 and test 142, labelled
together; holdout, holdout2 and holdout3, 152, 150 and 219 pages labelled later from the
German pages nobody had labelled, each scored once as a fresh set; the first two then
joined the calibration data). The page texts are not in the
repo (third-party data): they are rebuilt by running the clean job's front stages (WARC
reading, URL filter, trafilatura extraction, language id; every quality stage and PII
skipped) on the shared WARCs, into a temp folder reused by later runs; ``--documents``
reads an existing output instead. Ids are stable (from WARC-Record-ID).

Each labelled page then goes through the configured quality stages (PII left out: it
drops nothing), chained as in the clean job. "keep" is the positive class:
  precision = labelled keep among the pages the filters keep,
  recall    = pages the filters keep among the labelled keep.
Few pages are labelled drop (about 40), so counts are printed beside the ratios. Also
printed: drop reasons of labelled-keep pages (what costs recall), the labelled-drop
pages that pass (what costs precision), and two checks of the issue: the zh-news pages
kept (none may end in a related-headline list) and the spam pages of the Common Crawl
excerpt (all must be dropped).

Use ``--split dev`` while developing (bench/calibrate_cv.py estimates unseen-page recall from
folds of the calibration pages); test and holdout3 are scored at the end.
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import pathlib
import re
import resource
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
LABELS = REPO / "bench" / "quality_labels.jsonl"
SHARED = REPO.parent / "shared" / "data"
INPUTS = (SHARED / "warc" / "*.warc.gz", SHARED / "zh" / "*.warc.gz")
QUALITY_STAGES = "lines,gopher_repetition,gopher_quality,c4,fineweb,pii"
MAIN_LANGUAGES = ("en", "de", "zh")


def load_labels(path: pathlib.Path = LABELS) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def group_of(language: str) -> str:
    """en, de, zh on their own; every other language pooled as "other" (few pages each)."""
    return language if language in MAIN_LANGUAGES else "other"


def _extract(output: pathlib.Path) -> None:
    """The clean job's front stages on the shared WARCs (about a minute of CPU)."""
    missing = [str(p.parent) for p in INPUTS if not p.parent.is_dir()]
    if missing:
        sys.exit(f"shared data not found ({', '.join(missing)}): place ../shared/data beside the repo "
                 "or pass --documents DIR (a clean run with the quality stages skipped)")
    cmd = [sys.executable, "-m", "pipelines.clean", "--input", ",".join(str(p) for p in INPUTS),
           "--output", str(output), "--skip_stages", QUALITY_STAGES, "--no_report", "--num_shards", "1"]
    print("rebuilding the labelled texts:", " ".join(cmd[1:]), file=sys.stderr)
    subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL)


def documents_folder(documents: str | None = None) -> str:
    """The documents/ folder of the labelled texts: ``documents``, or the cached rebuild."""
    if documents is None:
        # One cached extraction per version of the front stages' code.
        front = [REPO / "pipelines" / "io" / "warc.py"] + [REPO / "pipelines" / "stages" / f"{name}.py" for name in
                                                          ("url_filter", "charset", "extract", "langid")]
        key = hashlib.sha256(b"".join(p.read_bytes() for p in front)).hexdigest()[:12]
        out = pathlib.Path(tempfile.gettempdir()) / f"quality_labelled_texts_{key}"
        if not (out / "_SUCCESS").exists():
            _extract(out)
        documents = str(out / "documents")
    return documents


def labelled_documents(labels: list[dict], documents: str | None = None) -> dict:
    """{id: Document} of the labelled pages, as the quality stages receive them."""
    from pipelines.io.documents import iter_parquet_documents
    documents = documents_folder(documents)
    wanted = {row["id"] for row in labels}
    docs = {}
    for path in sorted(pathlib.Path(documents).glob("*.parquet")):
        for doc in iter_parquet_documents(str(path)):
            if doc.id in wanted:
                docs[doc.id] = doc
    lost = wanted - set(docs)
    if lost:
        print(f"warning: {len(lost)} labelled pages not in {documents} (extraction changed?); "
              f"e.g. {sorted(lost)[:3]}", file=sys.stderr)
    return docs


def filter_stages(config_path: str | None):
    from pipelines.config import build_filter_stages, load_config
    return [s for s in build_filter_stages(load_config(config_path)) if s.name != "pii"]


def run_filters(stages, docs: dict, labels: list[dict]) -> dict:
    """{id: (kept Document or None, drop key or None)}."""
    from pipelines.stages.base import run_stages
    out = {}
    for row in labels:
        if row["id"] in docs:
            kept, key, _ = run_stages(stages, docs[row["id"]])
            out[row["id"]] = (kept, key)
    return out


def scores(labels: list[dict], verdicts: dict, split: str) -> dict:
    """{group: {tp, fp, fn, tn, precision, recall}} for the rows of ``split``."""
    counts: dict = collections.defaultdict(collections.Counter)
    for row in labels:
        if row["id"] not in verdicts or (split != "all" and row["split"] != split):
            continue
        kept = verdicts[row["id"]][0] is not None
        good = row["label"] == "keep"
        cell = "tp" if good and kept else "fn" if good else "fp" if kept else "tn"
        for group in (group_of(row["language"]), "all"):
            counts[group][cell] += 1
    result = {}
    for group, c in sorted(counts.items(), key=lambda kv: (kv[0] == "all", kv[0] == "other", kv[0])):
        tp, fp, fn, tn = c["tp"], c["fp"], c["fn"], c["tn"]
        result[group] = {"tp": tp, "fp": fp, "fn": fn, "tn": tn,
                         "precision": tp / (tp + fp) if tp + fp else None,
                         "recall": tp / (tp + fn) if tp + fn else None}
    return result


# A tail line of a headline list: a numbered item, or a short line without a sentence end.
_NUMBERED = re.compile(r"^\s*(?:[-*•]\s*)?[(（]?\d{1,3}\s*[.、．)）]")


def ends_in_headline_list(text: str) -> bool:
    """The check of the issue for kept zh pages: the last 3 lines are list items (numbered,
    bulleted or dates/counters) or short lines (<= 25 characters) without a sentence end."""
    from pipelines.stages.segmentation import ends_sentence_cjk
    lines = [line.strip() for line in text.splitlines() if line.strip()][-3:]
    if len(lines) < 3:
        return False
    return all(_NUMBERED.match(l) or l.startswith(("- ", "• ")) or (len(l) <= 25 and not ends_sentence_cjk(l))
               for l in lines)


def checks(labels: list[dict], docs: dict, verdicts: dict) -> dict:
    """zh-news pages kept (and which of them still end in a headline list); CC excerpt spam."""
    zh_news = [r for r in labels if "zh-news" in docs.get(r["id"], _NoDoc).source_file]
    kept = [r for r in zh_news if verdicts[r["id"]][0] is not None]
    tails = [r["id"] for r in kept if ends_in_headline_list(verdicts[r["id"]][0].text)]
    cc = [r for r in labels if "cc-main" in docs.get(r["id"], _NoDoc).source_file]
    cc_spam_kept = [r["url"] for r in cc if r["label"] == "drop" and verdicts[r["id"]][0] is not None]
    return {"zh_news_extracted": len(zh_news), "zh_news_kept": len(kept),
            "zh_news_kept_labelled_keep": sum(r["label"] == "keep" for r in kept),
            "zh_news_kept_ending_in_headline_list": tails,
            "cc_excerpt_pages": len(cc), "cc_excerpt_labelled_drop": sum(r["label"] == "drop" for r in cc),
            "cc_excerpt_drops_kept": cc_spam_kept}


class _NoDoc:
    source_file = ""


def _fmt(x) -> str:
    return "  -  " if x is None else f"{x:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=None, help="filter config YAML (default: the default config)")
    parser.add_argument("--split", choices=("dev", "test", "holdout", "holdout2", "holdout3", "all"), default="dev")
    parser.add_argument("--documents", default=None,
                        help="documents/ folder of a clean run with the quality stages skipped (default: rebuilt)")
    parser.add_argument("--json", action="store_true", help="one JSON line instead of tables")
    args = parser.parse_args()
    labels = load_labels()
    docs = labelled_documents(labels, args.documents)
    stages = filter_stages(args.config)
    cpu = time.process_time()
    verdicts = run_filters(stages, docs, labels)
    cpu = time.process_time() - cpu
    result = {"config": args.config or "default", "split": args.split, "scores": scores(labels, verdicts, args.split),
              "checks": checks(labels, docs, verdicts), "filter_cpu_s": round(cpu, 2),
              "docs_per_cpu_s": round(len(verdicts) / cpu, 1) if cpu else None,
              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
              "load_avg": os.getloadavg()[0]}
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return
    print(f"config {result['config']}, split {args.split}: {len(verdicts)} labelled pages filtered in "
          f"{cpu:.1f} CPU s; load average {result['load_avg']:.1f}\n")
    print(f"{'group':6s} {'keep ok':>7s} {'keep lost':>9s} {'drop kept':>9s} {'drop ok':>7s} {'precision':>9s} {'recall':>7s}")
    for group, s in result["scores"].items():
        print(f"{group:6s} {s['tp']:7d} {s['fn']:9d} {s['fp']:9d} {s['tn']:7d} {_fmt(s['precision']):>9s} "
              f"{_fmt(s['recall']):>7s}")
    lost = collections.Counter()
    for row in labels:
        if args.split in ("all", row["split"]) and row["label"] == "keep" and verdicts.get(row["id"], (1,))[0] is None:
            lost[(group_of(row["language"]), verdicts[row["id"]][1])] += 1
    print("\nlabelled keep, dropped (group, reason): " + ", ".join(f"{g} {k} x{n}" for (g, k), n in lost.most_common()))
    passed = [f"{row['language']} {row['url']}" for row in labels if args.split in ("all", row["split"])
              and row["label"] == "drop" and verdicts.get(row["id"], (None,))[0] is not None]
    print("labelled drop, kept: " + ("; ".join(passed) or "none"))
    print("\nchecks (all splits): " + json.dumps(result["checks"], ensure_ascii=False))


if __name__ == "__main__":
    main()
