"""The tokenizer's sample for an ablation: the same number of bytes from every variant.

    python -m pipelines.ablation.sample --group NAME=DOCS[,DOCS...] ... --mb_per_group 8 --output DIR

One tokenizer serves every variant, so that losses are comparable; drawing it equally
from each variant keeps it from fitting one variant's text better than another's. Each
group (a variant's documents, over all its sources) gives a seeded uniform sample of up
to ``--mb_per_group`` MiB: the bottom-k by ``hash(seed, id)`` of
``tokenizer_training.sample.BottomK``, so it depends on neither file order nor worker
count. Writes DIR/documents/part-00000-of-00001.parquet (ids prefixed ``NAME/``, so a
document two variants share is in the sample once per variant) and DIR/_SUCCESS.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Optional

from pipelines import completion, joblog
from pipelines.io.documents import document_to_row, expand_document_inputs, shard_path, write_parquet_file
from pipelines.io.shards import hash_unit
from pipelines.stages.base import Document
from tokenizer_training.sample import BottomK, iter_text_rows


def build_arg_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipelines.ablation.sample", description=__doc__.split("\n\n")[0])
    p.add_argument("--group", action="append", required=True, help="NAME=DOCS[,DOCS...] (repeatable)")
    p.add_argument("--mb_per_group", type=float, required=True, help="MiB of text drawn from each group")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", required=True)
    return p


def parse_groups(specs: list) -> dict:
    groups = {}
    for spec in specs:
        name, sep, paths = spec.partition("=")
        if not sep or not name or not paths:
            raise ValueError(f"--group {spec!r}: expected NAME=DOCS[,DOCS...]")
        if name in groups:
            raise ValueError(f"--group {name!r} given twice")
        groups[name] = [p for p in paths.split(",") if p]
    return groups


def draw(files: list, max_bytes: int, seed: int, name: str) -> tuple:
    """(rows of the group's sample, documents seen, bytes seen)."""
    pool = BottomK(max_bytes)
    # BottomK keeps (priority, id, text): the language is kept beside it, pruned to the
    # pool's ids as it grows, so the texts are read once, not again for their language.
    language_of = {}
    for doc_id, language, text in iter_text_rows(files):
        if text and text.strip():
            pool.offer(hash_unit(str(seed), doc_id), doc_id, text,
                       len(text.encode("utf-8", "surrogatepass")))
            language_of[doc_id] = language
            if len(language_of) > 2 * len(pool.heap) + 1024:
                language_of = {d: language_of[d] for _, d, _ in pool.heap}
    rows = [document_to_row(Document(id=f"{name}/{d.id}", text=d.text, language=language_of.get(d.id, "")))
            for d in pool.ordered("")]
    return rows, pool.seen_docs, pool.seen_bytes


def main(argv: Optional[list] = None) -> int:
    started = joblog.setup()
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_arg_parser()
    args = parser.parse_args(argv)
    try:
        groups = parse_groups(args.group)
        if args.mb_per_group <= 0:
            raise ValueError("--mb_per_group must be > 0")
        resolved = {name: completion.resolve_inputs(paths) for name, paths in groups.items()}
        files = {name: expand_document_inputs(reads) for name, (reads, _) in resolved.items()}
        completion.check_output(args.output)
    except (ValueError, FileNotFoundError) as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    completion.begin(args.output)
    rows, stats = [], {"groups": {}}
    for name in sorted(groups):
        drawn, seen_docs, seen_bytes = draw(files[name], int(args.mb_per_group * 1024 * 1024), args.seed, name)
        rows += drawn
        stats["groups"][name] = {"seen_documents": seen_docs, "seen_bytes": seen_bytes, "documents": len(drawn),
                                 "bytes": sum(len(r["text"].encode("utf-8", "surrogatepass")) for r in drawn)}
    os.makedirs(os.path.join(args.output, completion.MAIN_OUTPUT), exist_ok=True)
    write_parquet_file(shard_path(os.path.join(args.output, completion.MAIN_OUTPUT), 0, 1), rows)
    stats["documents"] = len(rows)
    with open(os.path.join(args.output, "stats.json"), "w", encoding="utf-8") as f:
        json.dump(stats, f, indent=2, sort_keys=True)
    roots = sorted({root for _, group_roots in resolved.values() for root in group_roots})
    completion.finish(args.output, "ablation.sample", dict(completion.jsonable_flags(args), argv=argv),
                      inputs=roots, started=started, stats=stats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
