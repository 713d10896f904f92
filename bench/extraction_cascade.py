"""The extraction cascade on the shared WARCs: what the cheap language check drops, whether
the plain path would have kept any of it, and what it saves.

    .venv/bin/python bench/extraction_cascade.py --languages en
    .venv/bin/python bench/extraction_cascade.py --languages de --limit 200

For every HTML response of the inputs (default: every shared WARC and zh/): the plain
path (``Extract`` with the default extractor, then ``LanguageId``) and the cascade (the
same with a ``LanguagePrefilter``), both in-process, in the same run, interleaved page by
page. Prints, as JSON lines: each page the two paths treat differently, the lowest
wanted-language score on the cheap text among pages the plain path keeps (the margin
``DEFAULT_MIN_WANTED_SCORE`` must stay well below it), how many pages each margin in
``--margins`` would drop, and CPU seconds of both paths (``time.process_time``).
"""
from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import pathlib
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines.io.warc import iter_warc_outcomes  # noqa: E402
from pipelines.stages.base import Document, Drop  # noqa: E402
from pipelines.stages.charset import DecodeError, decode_html  # noqa: E402
from pipelines.stages.extract import DEFAULT_EXTRACTOR, Extract, cheap_text  # noqa: E402
from pipelines.stages.langid import LanguageId  # noqa: E402
from pipelines.stages.language_prefilter import DEFAULT_MIN_WANTED_SCORE, LanguagePrefilter  # noqa: E402

SHARED = REPO.parent / "shared" / "data"


def default_inputs() -> list[str]:
    return sorted(glob.glob(str(SHARED / "warc" / "*.warc.gz"))) + sorted(glob.glob(str(SHARED / "zh" / "*.warc.gz")))


def copy(doc: Document) -> Document:
    return Document(id=doc.id, url=doc.url, payload=doc.payload, http_charset=doc.http_charset,
                    content_type=doc.content_type)


def outcome(stages, doc) -> str:
    for stage in stages:
        doc = stage.process(doc)
        if isinstance(doc, Drop):
            return f"{stage.name}.{doc.reason}"
    return "kept"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--languages", required=True)
    p.add_argument("--extractor", default=DEFAULT_EXTRACTOR)
    p.add_argument("--inputs", help="comma-separated WARCs (default: every shared WARC and zh/)")
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--margins", default="0.005,0.01,0.02,0.05,0.1,0.2")
    args = p.parse_args(argv)
    inputs = args.inputs.split(",") if args.inputs else default_inputs()
    if not inputs:
        print(json.dumps({"skipped": f"no WARCs under {SHARED}"}))
        return 0

    prefilter = LanguagePrefilter(args.languages)
    plain = [Extract(timeout_s=0, extractor=args.extractor), LanguageId(languages=args.languages)]
    cascade = [Extract(timeout_s=0, extractor=args.extractor, prefilter=prefilter),
               LanguageId(languages=args.languages)]
    for stage in plain + cascade:
        stage.setup()

    cpu = {"plain": 0.0, "cascade": 0.0}
    pages, differ, kept_scores, all_scores = 0, [], [], []
    for path in inputs:
        for _, doc in iter_warc_outcomes(path):
            if doc is None:
                continue
            pages += 1
            t0 = time.process_time()
            plain_out = outcome(plain, copy(doc))
            t1 = time.process_time()
            cascade_out = outcome(cascade, copy(doc))
            t2 = time.process_time()
            cpu["plain"] += t1 - t0
            cpu["cascade"] += t2 - t1
            # The cheap text's wanted-language score, outside the timing.
            try:
                cheap = cheap_text(decode_html(doc.payload, doc.http_charset)[0], plain[0].options)
            except DecodeError:
                cheap = ""
            score = prefilter.wanted_score(cheap) if cheap.strip() else None
            if score is not None:
                all_scores.append(score)
                if plain_out == "kept":
                    kept_scores.append((score, doc.url))
            if plain_out != cascade_out:
                differ.append({"url": doc.url, "plain": plain_out, "cascade": cascade_out, "cheap_score": score})
            if args.limit and pages >= args.limit:
                break
        if args.limit and pages >= args.limit:
            break

    # Pages kept by one path only (after extract + langid; later stages may still drop them).
    kept_by_one = [d for d in differ if "kept" in (d["plain"], d["cascade"])]
    for d in kept_by_one:
        print(json.dumps(d, ensure_ascii=False))
    changes = collections.Counter(f"{d['plain']} -> {d['cascade']}" for d in differ)
    lowest = sorted(kept_scores)[:5]
    print(json.dumps({
        "languages": args.languages, "extractor": args.extractor, "pages": pages,
        "kept_plain": len(kept_scores), "kept_by_one_path_only": len(kept_by_one),
        "outcome_changes": dict(changes.most_common()),
        "dropped_by_prefilter": sum(1 for d in differ if d["cascade"] == "extract.prefilter_language"),
        "margin": DEFAULT_MIN_WANTED_SCORE,
        "lowest_cheap_scores_of_kept_pages": [[round(s, 4), u] for s, u in lowest],
        "pages_dropped_at_margin": {m: sum(1 for s in all_scores if s < float(m)) for m in args.margins.split(",")},
        "cpu_s": {k: round(v, 2) for k, v in cpu.items()},
        "docs_per_cpu_s": {k: round(pages / v, 1) for k, v in cpu.items() if v},
        "cascade_saves": f"{100 * (1 - cpu['cascade'] / cpu['plain']):.0f}%" if cpu["plain"] else None,
        "load_avg_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
