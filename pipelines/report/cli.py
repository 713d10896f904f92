"""python -m pipelines.report OUTPUT_DIR: rewrite the report.html of a clean or dedup run
(recognised by its stats.json)."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Optional

from apache_beam.io.filesystems import FileSystems

from pipelines.report.clean_page import write_report
from pipelines.report.dedup_page import is_dedup_stats, write_dedup_report
from pipelines.report.reading import match, read_stats


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m pipelines.report", description=__doc__.split("\n")[0])
    ap.add_argument("output_dir", help="output folder of `python -m pipelines.clean` or `python -m pipelines.dedup` "
                                       "(holds stats.json); the report matches the job")
    ap.add_argument("--samples_per_reason", type=int, default=3, help="dropped documents shown per reason")
    ap.add_argument("--seed", type=int, default=0, help="seed of the document sample")
    return ap.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", force=True)
    logging.getLogger("apache_beam").setLevel(logging.WARNING)  # keep our progress lines readable
    stats = read_stats(args.output_dir)  # read once, handed to the page
    if not stats.found and not match(FileSystems.join(args.output_dir, "documents", "*.parquet")):
        print(f"error: {args.output_dir!r} holds neither stats.json nor documents/*.parquet; pass the --output "
              "folder of a `python -m pipelines.clean` run", file=sys.stderr)
        return 2
    if args.samples_per_reason < 0:
        print("error: --samples_per_reason must be >= 0", file=sys.stderr)
        return 2
    if is_dedup_stats(stats.data):
        path = write_dedup_report(args.output_dir, pairs=max(8, args.samples_per_reason), seed=args.seed, stats=stats)
    else:  # a clean run, or stats.json missing or broken: the clean page says what is wrong
        path = write_report(args.output_dir, args.samples_per_reason, args.seed, stats=stats)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
