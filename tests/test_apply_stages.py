"""ApplyStages: CPU seconds per stage (its thread plus the helper process it owns), and
the record-id dedup applied after the stages (results shuffled, never HTML)."""
from __future__ import annotations

import hashlib
import subprocess
import sys

import apache_beam as beam
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines import stats
from pipelines.beam.apply_stages import (
    FUNNEL, OUTCOME, RECORDS, REMOVED, STAGED_RECORDS, ApplyStages, record_items,
)
from pipelines.io.warc import DropRepeatedRecords, ReadWarcOutcomes, conflict_id
from pipelines.stages.base import Document, Stage
from pipelines.stages.child_process import process_cpu_seconds

# A helper process that burns CPU for each line it is sent, then answers.
_BUSY_CHILD = "import sys\nfor line in sys.stdin:\n    sum(range(3_000_000))\n    print('done', flush=True)\n"


class HelperStage(Stage):
    """Does its work in a child process it starts in setup(), like Extract."""

    name = "helper"

    def setup(self):
        self.proc = subprocess.Popen([sys.executable, "-c", _BUSY_CHILD], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def teardown(self):
        self.proc.stdin.close()
        self.proc.wait()

    def process(self, doc):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline() == "done\n"
        return doc


class InThreadStage(Stage):
    name = "in_thread"

    def process(self, doc):
        sum(range(300_000))
        return doc


class DropEverything(Stage):
    name = "judge"

    def process(self, doc):
        return self.drop(doc, "no")


def _doc(doc_id: str, payload: bytes, source: str = "a.warc.gz") -> Document:
    return Document(id=doc_id, url=f"https://example.org/{doc_id}", source_file=source, payload=payload)


def test_a_stage_is_charged_the_cpu_of_the_helper_process_it_owns():
    fn = ApplyStages([InThreadStage(), HelperStage()])
    fn.setup()
    try:
        helper_pid = fn.stages[1].proc.pid
        assert fn._clock.helpers == {"helper": {helper_pid}}  # claimed at setup; the in-thread stage has none
        child_before = process_cpu_seconds(helper_pid)
        [(outcome, record)] = list(fn.process((stats.READ_OK, _doc("d1", b"<p>x</p>"))))
        child_used = process_cpu_seconds(helper_pid) - child_before
    finally:
        fn.teardown()
    assert outcome == stats.READ_OK
    cpu = {payload[0]: payload[2] for kind, payload in record.items if kind == FUNNEL}
    assert child_used > 0
    # /proc counts in clock ticks (10 ms): the helper's share is all there, up to one tick.
    assert cpu["helper"] >= child_used - 0.011
    assert cpu["in_thread"] > 0 and cpu[RECORDS] == 0.0


def test_repeated_records_are_dropped_after_the_stages_with_their_ids_and_counts():
    """Three records of one WARC id: two copies of one payload, one other payload. The
    removed documents (keep_removed) carry the conflict ids; the repeat counts once as
    warc.duplicate_record and enters no stage of the funnel."""
    first, other = b"<html>first</html>", b"<html>other</html>"
    records = [(stats.READ_OK, _doc("shared", first, "a.warc.gz")), (stats.READ_OK, _doc("shared", first, "b.warc.gz")),
               (stats.READ_OK, _doc("shared", other, "a.warc.gz")), ("dropped:warc.request", None)]
    p = test_pipeline.TestPipeline()
    staged, notes = (p | beam.Create(records) | beam.ParDo(ApplyStages([DropEverything()], keep_removed=True))
                     | DropRepeatedRecords(STAGED_RECORDS))
    items = staged | beam.FlatMap(record_items)
    outcomes = items | "Outcomes" >> beam.Filter(lambda kv: kv[0] == OUTCOME) | beam.Map(lambda kv: kv[1])
    removed = (items | "Removed" >> beam.Filter(lambda kv: kv[0] == REMOVED)
               | beam.Map(lambda kv: (kv[1][1][0].id, kv[1][1][0].source_file, kv[1][1][1])))
    entered = (items | "Funnel" >> beam.Filter(lambda kv: kv[0] == FUNNEL)
               | beam.Map(lambda kv: kv[1][0]) | "Count" >> beam.combiners.Count.PerElement())
    assert_that(outcomes, equal_to(["dropped:judge.no", "dropped:judge.no", "dropped:warc.duplicate_record",
                                    "dropped:warc.request"]), label="outcomes")
    assert_that(removed, equal_to([(conflict_id("shared", hashlib.sha256(first).hexdigest()), "a.warc.gz", "judge.no"),
                                   (conflict_id("shared", hashlib.sha256(other).hexdigest()), "a.warc.gz", "judge.no")]),
                label="removed")
    assert_that(entered, equal_to([(RECORDS, 4), ("warc", 2), ("judge", 2)]), label="funnel")
    assert_that(notes, equal_to([(stats.NOTES, {stats.CONFLICTING_RECORD_ID: 1})]), label="notes")
    p.run().wait_until_finish()


def _labels(pipeline) -> list[str]:
    labels = []

    class Visitor(beam.pipeline.PipelineVisitor):
        def enter_composite_transform(self, node):
            labels.append(node.full_label)

    pipeline.visit(Visitor())
    return labels


def test_records_are_spread_only_while_files_are_fewer_than_two_per_worker():
    def spreads(n_files: int, workers: int) -> bool:
        p = beam.Pipeline(options=beam.options.pipeline_options.PipelineOptions([f"--direct_num_workers={workers}"]))
        p | ReadWarcOutcomes([f"f{i}.warc.gz" for i in range(n_files)], spread_records=None)
        return any(label.endswith("SpreadRecords") for label in _labels(p))

    assert spreads(3, 2) and not spreads(4, 2) and not spreads(4, 1) and spreads(1, 1)


def test_two_runs_differing_only_in_cpu_seconds_have_one_data_digest(tmp_path):
    import hashlib
    import json

    from pipelines.stats import data_digest

    rows = [{"stage": "records", "documents": 3, "bytes": None, "cpu_s": None},
            {"stage": "extract", "documents": 2, "bytes": 10, "cpu_s": 1.25}]
    one, two, plain = tmp_path / "one.json", tmp_path / "two.json", tmp_path / "plain.json"
    one.write_text(json.dumps({"records_read": 3, "funnel": rows}))
    two.write_text(json.dumps({"records_read": 3, "funnel": [dict(r, cpu_s=r["cpu_s"] and 2.5) for r in rows]}))
    assert data_digest(one) == data_digest(two)
    two.write_text(json.dumps({"records_read": 4, "funnel": rows}))
    assert data_digest(one) != data_digest(two)  # the data still counts
    plain.write_text('{"a": 1}')  # no timings: the file's own bytes, as before
    assert data_digest(plain) == hashlib.sha256(b'{"a": 1}').hexdigest()


def test_outcomes_per_language_are_shaped_like_the_job_totals():
    from pipelines import stats

    counts = {("de", stats.KEPT): 3, ("de", stats.dropped("c4.c4_curly_bracket")): 1,
              ("en", stats.KEPT): 1, (stats.UNKNOWN_LANGUAGE, stats.dropped("extract.empty")): 2,
              ("en", stats.error("gopher_quality.exception")): 1, ("zh", stats.dropped("c4.c4_curly_bracket")): 2}
    shaped = stats.language_outcomes_to_stats(counts)
    assert list(shaped) == ["de", "en", "unknown", "zh"]  # most pages first, ties by name
    assert shaped["de"] == {"documents": 4, "documents_kept": 3, "dropped": {"c4.c4_curly_bracket": 1}, "errors": {}}
    assert shaped["en"] == {"documents": 2, "documents_kept": 1, "dropped": {},
                            "errors": {"gopher_quality.exception": 1}}
