"""Digests of every job's data files on the shared WARCs: proof that a refactor changed no byte.

    python scripts/output_digests.py --work /tmp/digests --save before.json     # on the old code
    rm -r /tmp/digests
    python scripts/output_digests.py --work /tmp/digests --compare before.json  # on the new code

Use the same --work path both times: the token shards' manifest records the paths of its
sources and of the tokenizer.

Runs, as a user would (``python -m ...`` subprocesses of this interpreter):
clean (every WARC under ../shared/data/warc, --keep_removed) -> dedup (minhash,substring,
--keep_removed) -> tokenizer training (single thread, so SentencePiece is deterministic)
-> tokenize. Digests cover the data files (.parquet, .arrow, .json, tokenizer.model);
report.html is left out, as it names its output folder. Exit 1 when any digest differs.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # pipelines.stats.data_digest
SHARED_WARC = pathlib.Path(os.environ.get("SHARED_DATA", REPO.parent / "shared" / "data")) / "warc"
DATA_SUFFIXES = (".parquet", ".arrow", ".json", ".model")
# Written by the tokenizer evaluation and by run bookkeeping: times and paths, not data.
VOLATILE = ("evaluation.json",)


def tree_digest(directory: pathlib.Path) -> dict[str, str]:
    from pipelines.stats import data_digest  # .json files without their CPU timings

    return {
        str(p.relative_to(directory)): data_digest(p)
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.suffix in DATA_SUFFIXES and p.name not in VOLATILE
    }


def run(module: str, *args: str) -> None:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{module} failed (rc={proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    print(f"  {module}: {time.monotonic() - started:.0f} s", file=sys.stderr)


def digests(work: pathlib.Path) -> dict[str, dict[str, str]]:
    clean, dedup, tok, shards = (work / n for n in ("clean", "dedup", "tokenizer", "shards"))
    run("pipelines.clean", "--input", str(SHARED_WARC), "--output", str(clean), "--keep_removed", "--no_report")
    run("pipelines.dedup", "--input", str(clean / "documents"), "--output", str(dedup),
        "--stages", "minhash,substring", "--keep_removed", "--no_report")
    run("tokenizer_training.train", "--input", str(dedup / "documents"), "--output", str(tok),
        "--vocab_size", "2000", "--num_threads", "1", "--no_eval")
    run("pipelines.tokenize", "--input", str(dedup / "documents"), "--tokenizer", str(tok / "tokenizer.model"),
        "--output", str(shards), "--shard_size_mb", "0.5")
    return {name: tree_digest(work / name) for name in ("clean", "dedup", "tokenizer", "shards")}


def compare(before: dict, after: dict) -> list[str]:
    problems = []
    for job in sorted(set(before) | set(after)):
        b, a = before.get(job, {}), after.get(job, {})
        for path in sorted(set(b) | set(a)):
            if b.get(path) != a.get(path):
                what = "missing now" if path not in a else "new" if path not in b else "differs"
                problems.append(f"{job}/{path}: {what}")
    return problems


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True, help="empty folder for the four outputs")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--save", help="write the digests to this JSON file")
    group.add_argument("--compare", help="compare with digests saved earlier; exit 1 on any difference")
    args = p.parse_args()
    if not SHARED_WARC.is_dir():
        p.error(f"shared WARCs not found at {SHARED_WARC}: set SHARED_DATA or place shared/ beside the repo")
    work = pathlib.Path(args.work)
    if work.exists() and any(work.iterdir()):
        p.error(f"--work {work} is not empty: give a new folder")
    found = digests(work)
    files = sum(len(v) for v in found.values())
    if args.save:
        pathlib.Path(args.save).write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
        print(f"saved digests of {files} files to {args.save}")
        return 0
    problems = compare(json.loads(pathlib.Path(args.compare).read_text()), found)
    for line in problems:
        print(line)
    print(f"{files} files compared: " + ("identical" if not problems else f"{len(problems)} differ"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
