"""End-to-end tests of `python -m pipelines.clean` on real WARCs."""
from __future__ import annotations

import collections
import pathlib
import json
import unicodedata

import pyarrow.parquet as pq
import pytest

from conftest import read_documents, run_clean_job, run_module, tree_digest


def han_fraction(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for c in letters if "CJK UNIFIED" in unicodedata.name(c, "")) / len(letters)


@pytest.mark.slow
def test_every_record_is_accounted_for(clean_output, shared_data):
    from pipelines.io.inputs import resolve_inputs
    from pipelines.io.warc import iter_warc_outcomes

    stats = json.loads((clean_output / "stats.json").read_text())
    dropped, errors = stats["dropped"], stats["errors"]
    assert stats["records_read"] == stats["documents_kept"] + sum(dropped.values()) + sum(errors.values())
    assert stats["documents_kept"] == len(read_documents(clean_output / "documents"))
    # The job's reader outcomes are exactly those of reading each input file on its own.
    reader = collections.Counter(o for f in resolve_inputs(str(shared_data / "warc")) for o, _ in iter_warc_outcomes(f))
    assert stats["records_read"] == sum(reader.values())
    for outcome, n in reader.items():
        if outcome.startswith("dropped:"):
            assert dropped[outcome[len("dropped:"):]] == n, outcome
        elif outcome.startswith("error:"):
            assert errors[outcome[len("error:"):]] == n, outcome
    # Non-HTML and revisit records are drops with their own reasons (iana crawl has both);
    # broken files are counted errors, not crashes.
    for key in ("warc.revisit", "warc.non_html", "warc.request"):
        assert dropped[key] > 0, key
    assert dropped["warc.revisit"] >= 123
    assert errors["warc.truncated"] >= 1 and errors["warc.unreadable_file"] >= 1
    # edge/truncated.warc.gz is a cut copy of real-pages-00001: its records are repeats.
    assert dropped["warc.duplicate_record"] >= 1
    # The funnel starts at all records and never grows; HTML responses are counted once.
    docs_left = [row["documents"] for row in stats["funnel"]]
    assert docs_left[1] == reader["ok"] - dropped["warc.duplicate_record"]
    assert docs_left[0] == stats["records_read"]
    assert docs_left == sorted(docs_left, reverse=True)
    assert docs_left[-1] == stats["documents_kept"]
    assert sum(stats["languages"].values()) == stats["documents_kept"]


@pytest.mark.slow
def test_removed_documents_are_written_with_reasons(clean_output):
    stats = json.loads((clean_output / "stats.json").read_text())
    stage_drops: dict[str, int] = {}
    for key, n in stats["dropped"].items():
        stage = key.split(".", 1)[0]
        if stage != "warc":  # the reader's drops carry no document
            stage_drops[stage] = stage_drops.get(stage, 0) + n
    assert stage_drops, "expected some documents dropped by the stages"
    for stage, n in stage_drops.items():
        rows = read_documents(clean_output / "removed" / stage)
        assert len(rows) == n, stage
        assert all(r["drop_reason"].startswith(stage + ".") for r in rows)


@pytest.mark.slow
def test_language_tags_agree_with_the_script_and_the_site(clean_output):
    docs = read_documents(clean_output / "documents")
    assert docs
    # Pages written mostly in Han characters must be tagged Chinese.
    han_docs = [d for d in docs if han_fraction(d["text"]) > 0.5]
    assert han_docs, "the Common Crawl excerpt has Chinese pages"
    assert all(d["language"] == "zh" for d in han_docs)
    # Real pages from German sites (.de) are overwhelmingly German, the others English.
    de_site = [d for d in docs if d["domain"].endswith(".de")]
    assert len(de_site) > 20
    assert sum(d["language"] == "de" for d in de_site) / len(de_site) > 0.9
    langs = {d["language"] for d in docs}
    assert {"de", "en", "zh"} <= langs
    assert all(d["language_score"] >= 0.65 for d in docs)


@pytest.mark.slow
def test_documents_have_the_documented_schema(clean_output):
    from pipelines.io.documents import DOCUMENT_SCHEMA

    for f in sorted((clean_output / "documents").glob("part-*.parquet")):
        assert pq.read_schema(f).remove_metadata().equals(DOCUMENT_SCHEMA)
    docs = read_documents(clean_output / "documents")
    ids = [d["id"] for d in docs]
    assert len(ids) == len(set(ids)), "document ids must be unique"
    assert all(d["text"].strip() for d in docs)
    assert all("\n\n\n" not in d["text"] for d in docs)


@pytest.mark.slow
def test_rerun_is_byte_identical(shared_data, test_data, tmp_path):
    inputs = f"{shared_data / 'warc' / 'cc-main-2020-34-excerpt.warc.gz'},{test_data / 'sample.warc.gz'}"
    run_clean_job(["--input", inputs, "--output", str(tmp_path / "a"), "--no_report"])
    run_clean_job(["--input", inputs, "--output", str(tmp_path / "b"), "--no_report", "--num_shards", "4"])
    a, b = tree_digest(tmp_path / "a"), tree_digest(tmp_path / "b")
    assert a and a == b


def test_bundled_sample_runs_in_one_process_and_metrics_mirror_stats(tmp_path, test_data):
    """Run in-process on the single-worker DirectRunner to query Beam's metrics."""
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter

    from pipelines import clean
    from pipelines.io.inputs import resolve_inputs

    args, _ = clean.build_arg_parser().parse_known_args(
        ["--input", str(test_data / "sample.warc.gz"), "--output", str(tmp_path)]
    )
    stages = clean.build_stages(args)
    p = beam.Pipeline(options=beam.options.pipeline_options.PipelineOptions(["--direct_num_workers=1"]))
    clean.build_pipeline(p, resolve_inputs(args.input), stages, args)
    result = p.run()
    result.wait_until_finish()
    stats = json.loads((tmp_path / "stats.json").read_text())
    counters = {
        (c.key.metric.namespace, c.key.metric.name): c.committed
        for c in result.metrics().query(MetricsFilter())["counters"]
    }
    assert counters[("pipeline", "documents_kept")] == stats["documents_kept"] > 0
    # CPU seconds per stage: every stage row is timed (extraction's child included), the
    # rows before the first stage are not.
    assert [r["cpu_s"] for r in stats["funnel"][:2]] == [None, None]
    assert all(r["cpu_s"] >= 0 for r in stats["funnel"][2:]) and {r["stage"]: r["cpu_s"] for r in stats["funnel"]}["extract"] > 0
    for key, n in stats["dropped"].items():
        stage, reason = key.split(".", 1)
        assert counters[(f"dropped.{stage}", reason)] == n


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--input", "/nonexistent/warcs/*.warc.gz", "--output", "OUT"], "no"),
        (["--output", "OUT"], "--input"),
        (["--input", "tests/data/sample.warc.gz", "--output", "OUT", "--skip_stages", "nope"], "unknown stage"),
        (["--input", "tests/data/sample.warc.gz", "--output", "OUT", "--num_shards", "0"], "--num_shards"),
    ],
)
def test_bad_flags_exit_with_a_message(flags, message, tmp_path):
    flags = [str(tmp_path / "out") if f == "OUT" else f for f in flags]
    proc = run_module("pipelines.clean", *flags, timeout=300, check=False)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_record_read_from_two_files_is_kept_once(tmp_path, test_data):
    copy = tmp_path / "copy-of-sample.warc.gz"
    copy.write_bytes((test_data / "sample.warc.gz").read_bytes())
    single, double = tmp_path / "single", tmp_path / "double"
    run_clean_job(["--input", str(test_data / "sample.warc.gz"), "--output", str(single), "--no_report"])
    run_clean_job(["--input", f"{test_data / 'sample.warc.gz'},{copy}", "--output", str(double), "--no_report"])
    one = json.loads((single / "stats.json").read_text())
    two = json.loads((double / "stats.json").read_text())
    assert two["records_read"] == 2 * one["records_read"]
    assert two["documents_kept"] == one["documents_kept"] > 0
    assert two["dropped"]["warc.duplicate_record"] == one["documents_kept"]
    assert [d["id"] for d in read_documents(double / "documents")] == [d["id"] for d in read_documents(single / "documents")]


def _write_junk_warc(path) -> None:
    """Three HTML pages that reach the filters and are dropped: a German and an English
    page of one repeated sentence (dropped after language id, under their language) and a
    page with no text (dropped at extraction, before language id: language "unknown")."""
    import sys
    import uuid

    from warcio.warcwriter import WARCWriter

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "scripts"))
    from warc_fixtures import record_writer

    def page(lang: str, sentence: str) -> bytes:
        body = "".join(f"<p>{sentence}</p>" for _ in range(12))
        return f"<html lang='{lang}'><body><main><article>{body}</article></main></body></html>".encode()

    http = ("200 OK", [("Content-Type", "text/html; charset=UTF-8")])
    with open(path, "wb") as f:
        minute = iter(range(60))
        write = record_writer(WARCWriter(f, gzip=True), uuid.UUID(int=7), lambda: f"2024-03-05T11:{next(minute):02d}:00Z")
        write("https://spam.example.de/a", "response", page("de", "Die Gemeinde hat am Montag beschlossen, die alte "
              "Brücke über den Fluss im nächsten Sommer zu erneuern."), http=http)
        write("https://spam.example.com/b", "response", page("en", "Cheap shoes online today with the best price and "
              "free shipping for every single order you place."), http=http)
        write("https://empty.example.com/c", "response", b"<html><body><script>var x = 1;</script></body></html>",
              http=http)


@pytest.mark.slow  # one clean job run (~10 CPU s, more on a loaded machine)
def test_outcomes_per_language_add_up_and_the_report_shows_them(tmp_path, test_data):
    """The bundled sample (en, de, zh, fr pages, all kept) plus three dropped pages: the
    per-language counts of stats.json add up to the job's totals, drops are counted under
    the language language id found, and the report shows each language's keep rate."""
    from html.parser import HTMLParser

    junk = tmp_path / "junk.warc.gz"
    _write_junk_warc(junk)
    out = tmp_path / "out"
    run_clean_job(["--input", f"{test_data / 'sample.warc.gz'},{junk}", "--output", str(out)])
    stats = json.loads((out / "stats.json").read_text())
    by_language = stats["by_language"]
    html_pages = {r["stage"]: r["documents"] for r in stats["funnel"]}["warc"]
    assert sum(v["documents"] for v in by_language.values()) == html_pages
    assert sum(v["documents_kept"] for v in by_language.values()) == stats["documents_kept"]
    assert {k: v["documents_kept"] for k, v in by_language.items() if v["documents_kept"]} == stats["languages"]
    for lang, v in by_language.items():
        assert v["documents"] == v["documents_kept"] + sum(v["dropped"].values()) + sum(v["errors"].values()), lang
    # Every stage drop is under exactly one language; reader drops (non-HTML...) are not pages.
    per_reason = collections.Counter()
    for v in by_language.values():
        per_reason.update(v["dropped"])
    assert all(stats["dropped"][k] == n for k, n in per_reason.items())
    assert all(k in per_reason for k in stats["dropped"] if not k.startswith("warc."))
    # The two repeated-sentence pages are dropped under their language, the empty page before language id.
    assert by_language["de"]["documents"] - by_language["de"]["documents_kept"] == 1
    assert by_language["en"]["documents"] - by_language["en"]["documents_kept"] == 1
    assert by_language["unknown"] == {"documents": 1, "documents_kept": 0, "dropped": {"extract.empty": 1}, "errors": {}}
    assert list(by_language) == sorted(by_language, key=lambda k: (-by_language[k]["documents"], k))

    rows = []

    class Rows(HTMLParser):
        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "tr" and "language-outcome" in (a.get("class") or ""):
                rows.append((a["data-language"], int(a["data-documents"]), int(a["data-kept"])))

    Rows().feed((out / "report.html").read_text(encoding="utf-8"))
    assert rows == [(k, v["documents"], v["documents_kept"]) for k, v in by_language.items()]
