"""python -m pipelines.report OUTPUT_DIR: rewrite the report.html of a clean or dedup run
(recognised by its stats.json)."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Optional

from apache_beam.io.filesystems import FileSystems

from pipelines.report.clean_page import _match, _read_text, write_report
from pipelines.report.dedup_page import is_dedup_stats, write_dedup_report


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipelines.report", description=__doc__.split("\n")[0])
    ap.add_argument("output_dir", help="output folder of `python -m pipelines.clean` or `python -m pipelines.dedup` "
                                       "(holds stats.json); the report matches the job")
    ap.add_argument("--samples_per_reason", type=int, default=3, help="dropped documents shown per reason")
    ap.add_argument("--seed", type=int, default=0, help="seed of the document sample")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", force=True)
    logging.getLogger("apache_beam").setLevel(logging.WARNING)  # keep our progress lines readable
    has_stats = FileSystems.exists(FileSystems.join(args.output_dir, "stats.json"))
    has_docs = bool(_match(FileSystems.join(args.output_dir, "documents", "*.parquet")))
    if not has_stats and not has_docs:
        print(f"error: {args.output_dir!r} holds neither stats.json nor documents/*.parquet; pass the --output "
              "folder of a `python -m pipelines.clean` run", file=sys.stderr)
        return 2
    if args.samples_per_reason < 0:
        print("error: --samples_per_reason must be >= 0", file=sys.stderr)
        return 2
    stats_text = _read_text(FileSystems.join(args.output_dir, "stats.json")) if has_stats else None
    try:
        dedup_run = is_dedup_stats(json.loads(stats_text)) if stats_text else False
    except json.JSONDecodeError:
        dedup_run = False  # write_report says what is wrong with stats.json
    if dedup_run:
        path = write_dedup_report(args.output_dir, pairs=max(8, args.samples_per_reason), seed=args.seed)
    else:
        path = write_report(args.output_dir, args.samples_per_reason, args.seed)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
