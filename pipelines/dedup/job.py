"""The dedup job: documents -> fuzzy (MinHash-LSH) and exact-substring dedup -> documents.

    python -m pipelines.dedup --input RUN/documents --output OUT \\
        [--stages minhash,substring] [--num_shards 8] [--keep_removed] [stage flags] \\
        [Beam options, e.g. --runner=DirectRunner --direct_num_workers=2]

Writes OUT/documents/part-*.parquet (fixed shard count, rows sorted by id: reruns are
byte-identical), OUT/removed/<stage>/ with --keep_removed, and OUT/stats.json::

    {"documents_in": N, "documents_kept": N, "dropped": {"minhash.duplicate": N, ...},
     "clusters": {...}, "minhash": {...}, <other stages' keys>}

with documents_in == documents_kept + sum(dropped) (documents_in is counted separately).

STAGE INTERFACE. A dedup stage is a ``beam.PTransform`` class listed in ``STAGES`` below
(``register_stage`` adds one from outside the package). The class provides:

* ``@staticmethod add_arguments(parser)``: its own flags (every registered stage's flags
  are always accepted, so ``--help`` lists them all);
* ``@classmethod from_args(args) -> stage``: build it from the parsed flags. ``args`` also
  carries ``input_documents`` (row count from the Parquet footers) for stages
  that choose a strategy by input size;
* ``expand(docs: PCollection[Document]) -> dict`` with
  ``"kept"``: PCollection[Document] (input of the next stage),
  ``"removed"``: PCollection[tuple[Document, reason]] (reason is a short stable string;
  it is counted as ``dropped["<stage>.<reason>"]``),
  ``"stats"``: PCollection[tuple[str, json-able]], merged as top-level keys of
  stats.json (keep them few and bounded: they are collected in one place).
Every input document must come out exactly once, either kept or removed.

A stage class with ``document_tables = True`` (the MinHash stage) takes and gives Arrow
tables of documents instead (``pipelines.io.documents``, "DOCUMENT TABLES": one element
per batch, ``"removed"`` rows carry their reason in ``drop_reason``); the job reads
tables and converts between the two kinds where consecutive stages differ, so a chain of
table stages never makes a Python object per document.
"""
from __future__ import annotations

import argparse
import functools
import logging
import resource
import sys
from typing import Optional

import apache_beam as beam
import pyarrow.compute as pc
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import completion, joblog, stats
from pipelines.beam.runner import add_runner_defaults, check_beam_flags
from pipelines.beam.transforms import JoinSinks
from pipelines.dedup.decontaminate import Decontaminate
from pipelines.dedup.minhash import MinhashDedup
from pipelines.dedup.paragraph import ParagraphDedup
from pipelines.dedup.substring import SubstringDedup
from pipelines.io.documents import (
    ReadDocumentTables,
    ToDocumentTables,
    WriteDocuments,
    clear_shards,
    expand_document_inputs_with_rows,
    load_table,
    num_rows,
    table_to_documents,
)
from pipelines.stats import KEPT, WriteStats, count_metric, dropped

log = logging.getLogger("pipelines.dedup")

STAGES: dict[str, type] = {
    "minhash": MinhashDedup,
    "substring": SubstringDedup,
    "decontaminate": Decontaminate,
    "paragraph": ParagraphDedup,
}


def register_stage(name: str, stage_class: type) -> None:
    """Add a dedup stage ``name`` implemented by ``stage_class`` (see STAGE INTERFACE)."""
    STAGES[name] = stage_class


def build_parser(stage_classes: dict) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m pipelines.dedup",
        description="Fuzzy (MinHash-LSH) and exact-substring dedup of Parquet documents.",
    )
    p.add_argument("--input", required=True, action="append",
                   help="folder, glob or .parquet file of documents (e.g. a clean run's documents/); repeatable")
    p.add_argument("--output", required=True, help="output folder (documents/, removed/, stats.json)")
    p.add_argument("--stages", default="minhash",
                   help=f"comma-separated stages to run in order (available: {', '.join(STAGES)})")
    p.add_argument("--num_shards", type=int, default=4, help="fixed number of output Parquet shards")
    p.add_argument("--no_report", action="store_true", help="skip writing OUTPUT/report.html")
    p.add_argument("--allow_incomplete_input", action="store_true",
                   help="read an input folder whose job did not finish (no _SUCCESS); off by default")
    p.add_argument("--keep_removed", action="store_true",
                   help="also write removed documents to OUTPUT/removed/<stage>/ with their reason")
    for cls in stage_classes.values():
        cls.add_arguments(p)
    return p


def _outcome(key: str) -> str:
    count_metric(key)
    return key


# Outcomes go to WriteStats as one string per document. They are made as (outcome,
# count) per element and spelled out after the Flatten of all outcomes: the DirectRunner
# materializes a Flatten of several inputs, so strings made before it would be copied
# one by one.
def _outcomes(element, outcome: str, metric: bool = True) -> list:
    """(``outcome``, documents of the element: a document table or one document),
    mirrored to its Beam counter unless ``metric`` is false."""
    n = num_rows(element)
    if metric:
        for _ in range(n):
            count_metric(outcome)
    return [(outcome, n)]


def _removed_outcomes(element, stage: str) -> list:
    """(``dropped:<stage>.<reason>``, count) of removed documents: a table (reasons in
    its ``drop_reason`` column) or a (Document, reason) pair."""
    if isinstance(element, tuple):
        return [(_outcome(dropped(f"{stage}.{element[1]}")), 1)]
    element = load_table(element, ["drop_reason"])
    out = []
    for count in pc.value_counts(element.column("drop_reason")).to_pylist():
        key = dropped(f"{stage}.{count['values']}")
        for _ in range(count["counts"]):
            count_metric(key)
        out.append((key, count["counts"]))
    return out


def _convert(docs, stage_name: str, tables: bool, want_tables: bool):
    """``docs`` as the element kind the next stage takes (tables or Documents). A table
    stage may also give Documents (the MinHash stage's joined path); both convert."""
    if want_tables and not tables:
        return docs | f"ToTables_{stage_name}" >> ToDocumentTables()
    if tables and not want_tables:
        return docs | f"ToDocuments_{stage_name}" >> beam.FlatMap(table_to_documents)
    return docs


def build_pipeline(pipeline: beam.Pipeline, files: list[str], output: str, stages: list[tuple[str, beam.PTransform]],
                   num_shards: int, keep_removed: bool) -> None:
    docs, tables = pipeline | "Read" >> ReadDocumentTables(files), True
    outcomes = [docs | "CountIn" >> beam.FlatMap(_outcomes, stats.DOCUMENTS_IN, False)]
    stats_parts, written = [], []
    for name, stage in stages:
        want_tables = bool(getattr(stage, "document_tables", False))
        docs, tables = _convert(docs, name, tables, want_tables), want_tables
        result = docs | f"Stage_{name}" >> stage
        removed = result["removed"]
        outcomes.append(removed | f"Outcome_{name}" >> beam.FlatMap(_removed_outcomes, name))
        if keep_removed:
            removed_dir = FileSystems.join(output, "removed", name)
            written.append(removed | f"WriteRemoved_{name}" >> WriteDocuments(removed_dir, num_shards))
        stats_parts.append(result["stats"])
        docs = result["kept"]
    documents_dir = FileSystems.join(output, "documents")
    written.append(docs | "WriteDocuments" >> WriteDocuments(documents_dir, num_shards))
    outcomes.append(docs | "OutcomeKept" >> beam.FlatMap(_outcomes, KEPT))
    extras = (
        stats_parts | "AllStageStats" >> beam.Flatten()
        if stats_parts else pipeline | "NoStageStats" >> beam.Create([])
    )
    written.append(
        outcomes
        | "AllOutcomes" >> beam.Flatten()
        | "OnePerDocument" >> beam.FlatMap(lambda outcome_count: [outcome_count[0]] * outcome_count[1])
        | "WriteStats" >> WriteStats(FileSystems.join(output, "stats.json"),
                                     shape=functools.partial(stats.document_counts_to_stats,
                                                             stages=[n for n, _ in stages]),
                                     extras=extras)
    )
    tuple(written) | "JoinSinks" >> JoinSinks("dedup")


def _peak_memory() -> str:
    """Peak RSS of this process and of its largest finished child (the DirectRunner's
    worker processes with --direct_running_mode=multi_processing), for the log."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    return f"{own:,} MB (this process)" + (f", {child:,} MB (largest worker process)" if child else "")


def main(argv: Optional[list[str]] = None) -> int:
    started = joblog.setup()
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(STAGES)
    args, beam_args = parser.parse_known_args(argv)
    names = [s.strip() for s in args.stages.split(",") if s.strip()]
    if not names:
        parser.error("--stages is empty: name at least one of " + ", ".join(STAGES))
    for name in names:
        if name not in STAGES:
            parser.error(f"unknown dedup stage {name!r}: choose from {', '.join(STAGES)}")
    if args.num_shards < 1:
        parser.error("--num_shards must be >= 1")
    try:
        check_beam_flags(beam_args)
        specs, roots = completion.resolve_inputs(args.input, args.allow_incomplete_input)
        files, input_documents = expand_document_inputs_with_rows(specs)
        completion.check_output(args.output)
        completion.check_not_inside_inputs(args.output, roots)
    except (FileNotFoundError, ValueError) as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")  # one line, no usage dump: the message says what to do
    args.input_documents = input_documents
    stages = []
    for name in names:
        cls = STAGES[name]
        try:
            # after the inputs: MinhashDedup sizes itself from their row count
            stages.append((name, cls.from_args(args)))
        except ValueError as e:  # one line, exit 2, before any output is touched
            parser.exit(2, f"{parser.prog}: error: stage {name}: {e}\n")
    log.info("dedup: %d input files (%d documents), stages %s", len(files), input_documents, names)
    completion.begin(args.output)
    # Stale shards go, removed/ too even without --keep_removed: the report would read them.
    clear_shards(FileSystems.join(args.output, "documents"))
    clear_shards(FileSystems.join(args.output, "removed"), ("*/part-*.parquet", "*/_spill/*"))
    options = PipelineOptions(add_runner_defaults(beam_args))
    with beam.Pipeline(options=options) as pipeline:
        build_pipeline(pipeline, files, args.output, stages, args.num_shards, args.keep_removed)
    log.info("dedup: peak memory %s", _peak_memory())
    if not args.no_report:
        from pipelines.report.dedup_page import write_dedup_report

        try:
            log.info("dedup: report in %s", write_dedup_report(args.output, input_files=files))
        except Exception:  # the data is written; a report failure must not fail the job
            log.exception("writing report.html failed")
    completion.finish(args.output, "dedup", dict(completion.jsonable_flags(args, beam_args), argv=argv),
                      inputs=roots, started=started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
