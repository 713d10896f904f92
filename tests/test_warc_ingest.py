"""WARC/ARC ingest: one outcome per record, on real files, edge files and our sample.

Expected numbers are derived in the test from an independent plain-warcio pass (or
from how tests/data/make_sample_warc.py builds the sample), never pasted from a run.
"""
from __future__ import annotations

import collections
import gzip
import hashlib
import importlib.util
import io
import json
import zlib

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipelines.io.warc import (
    CONFLICTING_RECORD_ID, NOTES, DropRepeatedRecords, ReadWarcOutcomes, conflict_id, iter_warc_outcomes,
)
from pipelines.io.warc_records import OK, domain_of, infer_crawl, is_html, parse_content_type
from pipelines.stages.base import stable_id
from pipelines.stages.charset import decode_html

DROP_KINDS = {"warcinfo", "request", "metadata", "revisit", "resource", "conversion", "non_html",
              "empty_payload", "oversized", "http_status", "unknown_record_type"}
ERROR_KINDS = {"unreadable_file", "truncated", "bad_record"}


def outcomes_of(path, **kwargs):
    return list(iter_warc_outcomes(str(path), **kwargs))


def counts_of(outcomes):
    return collections.Counter(o for o, _ in outcomes)


def plain_warcio_pass(path):
    """Independent reference: record types, and (status, mime, url) of responses."""
    types, responses = collections.Counter(), []
    with open(path, "rb") as f:
        for record in ArchiveIterator(f, arc2warc=True):
            types[record.rec_type] += 1
            if record.rec_type == "response" and record.http_headers is not None:
                mime = (record.http_headers.get_header("Content-Type") or "").split(";")[0].strip().lower()
                responses.append((record.http_headers.get_statuscode(), mime,
                                  record.rec_headers.get_header("WARC-Target-URI")))
    return types, responses


def all_shared_files(shared_data):
    files = sorted((shared_data / "warc").glob("*.warc.gz")) + sorted((shared_data / "warc" / "edge").iterdir())
    assert len(files) >= 15, "expected the shared WARC and edge files"
    return files


# ----------------------------------------------------------------------------- all files

def test_every_shared_file_reads_without_raising_and_accounts_every_record(shared_data):
    for path in all_shared_files(shared_data):
        outcomes = outcomes_of(path)
        assert outcomes, f"{path.name}: no outcome at all"
        for outcome, doc in outcomes:
            if outcome == OK:
                assert doc is not None and doc.payload and doc.url is not None and doc.id
                assert doc.source_file == str(path)
            else:
                kind, _, reason = outcome.partition(":warc.")
                assert doc is None
                assert (kind == "dropped" and reason in DROP_KINDS) or (kind == "error" and reason in ERROR_KINDS), outcome
        counts = counts_of(outcomes)
        assert counts["error:warc.unreadable_file"] <= 1 and counts["error:warc.truncated"] <= 1, path.name
        ids = [d.id for _, d in outcomes if d is not None]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate document ids"


@pytest.mark.parametrize("name", [
    "cc-main-2020-34-excerpt.warc.gz", "iana-crawl.warc.gz", "real-pages-00000.warc.gz",
    "edge/dupes.warc.gz", "edge/wget-1-14.warc.gz", "edge/wpull.warc.gz", "edge/revisit-only.warc.gz",
    "edge/block-sized-records.warc.gz", "edge/clueweb-quirk.warc.gz", "edge/missing-status-text.warc",
])
def test_well_formed_files_match_an_independent_warcio_pass(shared_data, name):
    path = shared_data / "warc" / name
    types, _ = plain_warcio_pass(path)
    counts = counts_of(outcomes_of(path))
    assert sum(counts.values()) == sum(types.values())
    for rec_type in ("warcinfo", "request", "metadata", "revisit", "resource"):
        assert counts[f"dropped:warc.{rec_type}"] == types[rec_type], rec_type
    response_outcomes = sum(v for k, v in counts.items() if k == OK or k.split(".")[-1] in
                            {"non_html", "empty_payload", "oversized", "http_status", "bad_record"})
    assert response_outcomes == types["response"]
    assert not any(k.startswith("error:") and not k.endswith("bad_record") for k in counts)


def test_iana_crawl_keeps_html_and_drops_revisits_and_assets(shared_data):
    path = shared_data / "warc" / "iana-crawl.warc.gz"
    types, responses = plain_warcio_pass(path)
    outcomes = outcomes_of(path)
    counts = counts_of(outcomes)
    assert counts["dropped:warc.revisit"] == types["revisit"] > 100
    html_urls = {url for status, mime, url in responses if status.startswith("2") and mime == "text/html"}
    kept_urls = {doc.url for outcome, doc in outcomes if outcome == OK}
    assert kept_urls == html_urls and kept_urls
    assets = [r for r in responses if r[0].startswith("2") and
              (r[1].startswith("image/") or r[1] in ("text/css", "application/javascript", "application/x-javascript"))]
    assert assets and counts["dropped:warc.non_html"] >= len(assets)
    assert counts["dropped:warc.http_status"] == sum(1 for r in responses if not r[0].startswith("2"))


def test_cc_excerpt_documents_carry_common_crawl_metadata(shared_data):
    path = shared_data / "warc" / "cc-main-2020-34-excerpt.warc.gz"
    types, responses = plain_warcio_pass(path)
    docs = [d for o, d in outcomes_of(path) if o == OK]
    assert len(docs) == types["response"] == len(responses)
    for doc in docs:
        assert doc.crawl == "CC-MAIN-2020-34"  # inferred: the file name carries the crawl id
        assert doc.warc_date.startswith("2020-") and doc.url.startswith("http")
        assert doc.domain and ":" not in doc.domain and not doc.domain.startswith("www.")
        assert doc.domain == doc.domain.lower()
        assert doc.content_type == "text/html"
    assert {d.http_charset for d in docs} >= {"gb2312", "utf-8"}
    # ids are stable: a second read gives the same ids (hash of WARC-Record-ID).
    assert [d.id for d in docs] == [d.id for o, d in outcomes_of(path) if o == OK]
    assert all(d.crawl == "CC-MAIN-2099-01" for o, d in outcomes_of(path, crawl="CC-MAIN-2099-01") if d)


def test_truncated_file_yields_the_complete_records_then_one_truncated_error(shared_data):
    path = shared_data / "warc" / "edge" / "truncated.warc.gz"
    # Independent: decompress every byte zlib can, count records complete in it.
    data, parts = path.read_bytes(), []
    while data:
        member = zlib.decompressobj(16 + zlib.MAX_WBITS)
        parts.append(member.decompress(data))
        if not member.eof:
            break  # the cut member
        data = member.unused_data
    assert data, "the file should end inside a gzip member"
    complete = 0
    for record in ArchiveIterator(io.BytesIO(b"".join(parts))):
        raw = record.raw_stream
        while raw.read(1 << 16):
            pass
        complete += raw.limit == 0
    outcomes = outcomes_of(path)
    assert [o for o, _ in outcomes].count("error:warc.truncated") == 1
    assert outcomes[-1][0] == "error:warc.truncated"
    assert len(outcomes) - 1 == complete > 0


def test_not_a_warc_is_one_unreadable_file_error(shared_data):
    assert outcomes_of(shared_data / "warc" / "edge" / "not-a-warc.warc.gz") == [("error:warc.unreadable_file", None)]


def test_missing_file_and_empty_file_are_unreadable(tmp_path):
    assert outcomes_of(tmp_path / "nope.warc.gz") == [("error:warc.unreadable_file", None)]
    (tmp_path / "empty.warc").write_bytes(b"")
    assert outcomes_of(tmp_path / "empty.warc") == [("error:warc.unreadable_file", None)]


def test_bad_arc_reads_every_record_and_flags_the_malformed_ones(shared_data):
    path = shared_data / "warc" / "edge" / "bad.arc"
    header_lines = [line for line in path.read_bytes().splitlines() if line.startswith((b"http://", b"filedesc://"))]
    counts = counts_of(outcomes_of(path))
    assert sum(counts.values()) == len(header_lines)
    assert counts["dropped:warc.warcinfo"] == 1  # the filedesc:// header
    assert counts["error:warc.bad_record"] >= 1  # Archive-length "abc" / "-1"


# ----------------------------------------------------------------------------- sample WARC

def test_sample_warc_outcomes_follow_its_construction(test_data):
    outcomes = outcomes_of(test_data / "sample.warc.gz")
    counts = counts_of(outcomes)
    assert counts == {
        OK: 8,                              # en x3 (one XHTML), de x2, zh x2, fr
        "dropped:warc.warcinfo": 1,
        "dropped:warc.request": 1,
        "dropped:warc.metadata": 1,
        "dropped:warc.revisit": 1,
        "dropped:warc.non_html": 3,         # image/png, PNG labelled text/html, JSON
        "dropped:warc.http_status": 1,      # 404
        "dropped:warc.empty_payload": 1,
    }
    docs = {d.url: d for o, d in outcomes if o == OK}
    french = docs["https://www.village-vallee.example/vie-locale/marche-du-samedi"]
    # Sent gzip-compressed and chunked: the payload is the decoded HTML.
    assert french.payload.lstrip().startswith(b"<!DOCTYPE html>") and "marché".encode() in french.payload
    assert docs["https://www.taltal-bote.example/region/talbahn"].http_charset == "iso-8859-1"
    assert docs["http://www.laojie-wenhua.example/bookstore.html"].http_charset == "big5"
    assert docs["https://riverside-gazette.example/culture/late-library"].content_type == ""  # sniffed
    assert docs["https://rivers.example.org/guides/reading-river-levels"].content_type == "application/xhtml+xml"
    gbk = docs["http://news.dongcheng-shequ.example/2024/03/caiyuan.html"]
    assert gbk.http_charset == "" and "社区菜园" in gbk.payload.decode("gbk")
    assert {d.domain for d in docs.values()} >= {"riverside-gazette.example", "taltal-bote.example"}
    assert all(d.crawl == "" and d.warc_date.startswith("2024-03-05T") for d in docs.values())


def test_sample_warc_is_reproduced_by_its_generator(test_data, tmp_path):
    spec = importlib.util.spec_from_file_location("make_sample_warc", test_data / "make_sample_warc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rebuilt = module.build(tmp_path / "sample.warc.gz")
    assert rebuilt.read_bytes() == (test_data / "sample.warc.gz").read_bytes()


def test_oversized_payloads_are_dropped_reading_only_up_to_the_cap(test_data):
    cap = 2000
    full = [d for o, d in outcomes_of(test_data / "sample.warc.gz") if o == OK]
    counts = counts_of(outcomes_of(test_data / "sample.warc.gz", max_payload_bytes=cap))
    big = sum(1 for d in full if len(d.payload) > cap)
    assert 0 < big < len(full)
    assert counts["dropped:warc.oversized"] == big and counts[OK] == len(full) - big


# ----------------------------------------------------------------------------- crafted breakage

def _write_warc(records, gz=True, record_ids=None) -> bytes:
    """records: list of (url, status, content_type, body); record_ids: one per record
    (default: distinct ids by position)."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=gz)
    for i, (url, status, ctype, body) in enumerate(records):
        http = StatusAndHeaders(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))], protocol="HTTP/1.1")
        record_id = record_ids[i] if record_ids else f"<urn:uuid:00000000-0000-0000-0000-{i:012d}>"
        record = writer.create_warc_record(url, "response", payload=io.BytesIO(body), length=len(body), http_headers=http,
                                           warc_headers_dict={"WARC-Record-ID": record_id,
                                                              "WARC-Date": "2024-01-01T00:00:00Z"})
        writer.write_record(record)
    return out.getvalue()


def _pages(n=4):
    return [(f"http://site{i}.example/", "200 OK", "text/html",
             f"<html><body><p>page {i} " .encode() + b"text " * 200 + b"</p></body></html>") for i in range(n)]


def test_uncompressed_warc_cut_anywhere_never_raises(tmp_path):
    data = _write_warc(_pages(), gz=False)
    starts = [i for i in range(len(data)) if data.startswith(b"WARC/1.0\r\n", i)]
    cuts = list(range(50, len(data) - 5, 97)) + [s + 3 for s in starts[1:]]
    for cut in cuts:
        path = tmp_path / "cut.warc"
        path.write_bytes(data[:cut])
        outcomes = outcomes_of(path)
        whole_records_before = sum(1 for s in starts[1:] if s <= cut)
        names = [o for o, _ in outcomes]
        assert names[-1] == "error:warc.truncated", (cut, names)
        assert names.count(OK) == whole_records_before, (cut, names)
        assert all(n == OK for n in names[:-1])


def test_gzip_member_cut_anywhere_never_raises(tmp_path):
    data = _write_warc(_pages(), gz=True)
    starts = [i for i in range(len(data)) if data.startswith(b"\x1f\x8b\x08", i)]  # one member per record
    members = [data[a:b] for a, b in zip(starts, starts[1:] + [len(data)])]

    def whole_records_in(prefix: bytes) -> int:
        """Records whose whole content zlib can inflate from the prefix (gzip trailer may be cut)."""
        return sum(1 for a, m in zip(starts, members)
                   if zlib.decompressobj(31).decompress(prefix[a:a + len(m)]) == gzip.decompress(m))

    for cut in range(10, len(data) - 1, 53):
        path = tmp_path / "cut.warc.gz"
        path.write_bytes(data[:cut])
        names = [o for o, _ in outcomes_of(path)]
        assert names[-1] in ("error:warc.truncated", "error:warc.unreadable_file"), (cut, names)
        # The records before the cut are read, and nothing else is.
        assert names[:-1] == [OK] * whole_records_in(data[:cut]), (cut, names)


def test_garbage_between_records_is_one_bad_record_and_reading_goes_on(tmp_path):
    pages = _pages()
    first, rest = _write_warc(pages[:1], gz=False), _write_warc(pages[1:], gz=False)
    junk = b"WARC/1.0\r\nthis header block is broken\r\n\x00\x01\r\n\r\nnot a record\r\n\r\n"
    path = tmp_path / "junk.warc"
    path.write_bytes(first + junk + rest)
    counts = counts_of(outcomes_of(path))
    assert counts == {OK: len(pages), "error:warc.bad_record": 1}


@pytest.mark.parametrize("which", [0, 2, -1])
def test_a_corrupt_gzip_member_is_one_bad_record_and_the_rest_is_read(tmp_path, which):
    pages = _pages(5)
    data = bytearray(_write_warc(pages, gz=True))
    members = [i for i in range(len(data)) if data.startswith(b"\x1f\x8b\x08", i)]
    assert len(members) == len(pages)
    at = members[which] + 40  # inside the deflate stream of that member
    data[at:at + 8] = b"\xff" * 8
    path = tmp_path / "corrupt.warc.gz"
    path.write_bytes(bytes(data))
    outcomes = outcomes_of(path)
    assert counts_of(outcomes) == {OK: len(pages) - 1, "error:warc.bad_record": 1}
    lost = pages[which][0]
    assert lost not in {d.url for _, d in outcomes if d is not None}


@pytest.mark.parametrize("extra", [14, 16, 60])
def test_a_too_long_content_length_costs_one_counted_record(tmp_path, extra):
    pages = _pages(4)
    data = _write_warc(pages, gz=False)
    second = data.index(b"WARC/1.0\r\n", 1)
    header_end = data.index(b"\r\n\r\n", second)
    length_at = data.index(b"Content-Length: ", second) + len(b"Content-Length: ")
    length_end = data.index(b"\r\n", length_at)
    too_long = str(int(data[length_at:length_end]) + extra).encode()  # runs into record 3
    assert length_end <= header_end
    path = tmp_path / "overrun.warc"
    path.write_bytes(data[:length_at] + too_long + data[length_end:])
    outcomes = outcomes_of(path)
    assert counts_of(outcomes) == {OK: len(pages) - 1, "error:warc.bad_record": 1}
    assert pages[2][0] not in {d.url for _, d in outcomes if d is not None}


def test_too_long_content_length_in_a_gzip_member_is_one_bad_record(tmp_path):
    pages = _pages(4)
    members = []
    for i, page in enumerate(pages):
        plain = _write_warc([page], gz=False)
        if i == 1:
            plain = plain.replace(b"Content-Length: %d\r\n\r\nHTTP" % (len(plain.split(b"\r\n\r\n", 1)[1]) - 4),
                                  b"Content-Length: 99999\r\n\r\nHTTP")
            assert b"99999" in plain
        members.append(gzip.compress(plain, mtime=0))
    path = tmp_path / "long.warc.gz"
    path.write_bytes(b"".join(members))
    outcomes = outcomes_of(path)
    assert counts_of(outcomes) == {OK: len(pages) - 1, "error:warc.bad_record": 1}
    assert [o for o, _ in outcomes][1] == "error:warc.bad_record"


def test_single_gzip_member_warc_reads_like_a_per_record_one(tmp_path):
    per_record = tmp_path / "chunked.warc.gz"
    per_record.write_bytes(_write_warc(_pages(), gz=True))
    whole = tmp_path / "whole.warc.gz"
    whole.write_bytes(gzip.compress(_write_warc(_pages(), gz=False)))
    assert [(o, d.id) for o, d in outcomes_of(per_record)] == [(o, d.id) for o, d in outcomes_of(whole)]


# ----------------------------------------------------------------------------- helpers

def test_html_detection_uses_header_and_payload_sniff():
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 20
    assert not is_html("text/html", png)
    assert is_html("text/html", b"<html><body>hi</body></html>")
    assert is_html("application/octet-stream", b"\n  <!DOCTYPE html><html></html>")
    assert is_html("", b"\xef\xbb\xbf<html lang=en><p>x</p></html>")
    assert is_html("text/plain", b"<?xml version='1.0'?>\n<html xmlns='http://www.w3.org/1999/xhtml'>")
    assert not is_html("text/plain", b"Just some plain prose, no markup here.")
    assert not is_html("application/json", b"<html></html>")
    assert not is_html("", png)


def test_metadata_helpers():
    assert domain_of("https://WWW.Example.COM:8443/a?b") == "example.com"
    assert domain_of("http://news.bbc.co.uk/x") == "news.bbc.co.uk"
    assert domain_of("hard::not-a-url") == ""
    assert infer_crawl("s3://commoncrawl/crawl-data/CC-MAIN-2024-10/segments/x.warc.gz") == "CC-MAIN-2024-10"
    assert infer_crawl("/data/my.warc.gz") == ""
    assert parse_content_type('text/html; Charset="ISO-8859-1"') == ("text/html", "iso-8859-1")
    assert parse_content_type(None) == ("", "")


# ----------------------------------------------------------------------------- Beam

def test_read_warc_outcomes_transform_matches_the_plain_reader(test_data, shared_data):
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    files = [str(test_data / "sample.warc.gz"), str(shared_data / "warc" / "edge" / "not-a-warc.warc.gz"),
             str(shared_data / "warc" / "edge" / "truncated.warc.gz")]
    expected = collections.Counter()
    expected_ids = []
    for f in files:
        for outcome, doc in iter_warc_outcomes(f):
            expected[outcome] += 1
            if doc is not None:
                expected_ids.append(doc.id)
    with TestPipeline() as p:
        read = p | ReadWarcOutcomes(files + files[:1])  # a repeated file is read once
        counts = read | beam.Map(lambda od: od[0]) | beam.combiners.Count.PerElement()
        ids = read | beam.Filter(lambda od: od[1] is not None) | beam.Map(lambda od: od[1].id)
        assert_that(counts, equal_to(list(expected.items())), label="counts")
        assert_that(ids, equal_to(expected_ids), label="ids")



# ----------------------------------------------------------------------------- UTF-16 pages

UTF16_PAGE = "<!DOCTYPE html><html><head><title>Menu</title></head><body><p>Café crème</p></body></html>"


@pytest.mark.parametrize("ctype, codec", [
    ("text/html; charset=utf-16le", "utf-16-le"), ("text/html; charset=UTF-16BE", "utf-16-be"),
    ("text/html; charset=utf-16", "utf-16-le"), ("text/plain; charset=utf-16le", "utf-16-le"),
    ("", "utf-16"),  # with a BOM, no charset needed
])
def test_a_utf16_page_is_html_and_decodes(tmp_path, ctype, codec):
    body = UTF16_PAGE.encode(codec)
    assert b"\x00" in body[:64]
    path = tmp_path / "utf16.warc.gz"
    path.write_bytes(_write_warc([("http://menu.example/", "200 OK", ctype, body)]))
    [(outcome, doc)] = outcomes_of(path)
    assert outcome == OK, ctype  # not dropped:warc.non_html for its NUL bytes
    assert doc.payload == body
    text, signals = decode_html(doc.payload, doc.http_charset)
    assert text == UTF16_PAGE and "Café crème" in text and signals["charset_mismatch"] == 0.0


def test_utf16_sniffing_still_rejects_binary_and_wrong_declarations():
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 20
    assert not is_html("text/html", png, "utf-16le")
    assert not is_html("text/html", UTF16_PAGE.encode("utf-16-le"))  # no declaration: NUL bytes are binary
    assert is_html("text/html", UTF16_PAGE.encode("utf-8"), "utf-16le")  # no NUL byte: sniffed as bytes
    assert not is_html("text/html", "plain text, no markup".encode("utf-16-le") + b"\x00\x00", "utf-16le")


# ----------------------------------------------------------------------------- record ids are not content

SHARED_ID = "<urn:uuid:11111111-2222-3333-4444-555555555555>"
COPIED_ID = "<urn:uuid:99999999-8888-7777-6666-555555555555>"


def _page(i: int) -> tuple:
    return (f"http://site{i}.example/", "200 OK", "text/html",
            f"<html><body><p>page number {i}: ".encode() + b"text " * 50 + b"</p></body></html>")


def _dedup_in_beam(files, counts: dict, docs: list, notes: list) -> int:
    """Run ReadWarcOutcomes | DropRepeatedRecords() on the DirectRunner and
    assert its outcome counts, kept documents as (id, url) and notes; returns the
    conflict counter."""
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    p = TestPipeline()
    records, record_notes = p | ReadWarcOutcomes([str(f) for f in files]) | DropRepeatedRecords()
    outcomes = records | "Outcome" >> beam.Map(lambda od: od[0]) | beam.combiners.Count.PerElement()
    kept = records | "Kept" >> beam.Filter(lambda od: od[1] is not None) | "Doc" >> beam.Map(lambda od: (od[1].id, od[1].url))
    assert_that(outcomes, equal_to(list(counts.items())), label="counts")
    assert_that(kept, equal_to(docs), label="docs")
    assert_that(record_notes, equal_to(notes), label="notes")
    result = p.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_namespace("notes.warc").with_name("conflicting_record_id"))
    return sum(c.committed for c in counters["counters"])


def _conflict_id(record_id: str, page: tuple) -> str:
    return conflict_id(stable_id(record_id), hashlib.sha256(page[3]).hexdigest())


def test_different_pages_with_one_record_id_are_all_kept(tmp_path):
    pages = [_page(i) for i in range(5)]
    path = tmp_path / "shared-id.warc.gz"
    path.write_bytes(_write_warc(pages, record_ids=[SHARED_ID] * 5))
    # The reader hands all five on under the id of their record id.
    assert [(o, d.id) for o, d in outcomes_of(path)] == [(OK, stable_id(SHARED_ID))] * 5
    expected = [(_conflict_id(SHARED_ID, page), page[0]) for page in pages]
    assert len({doc_id for doc_id, _ in expected}) == 5 and stable_id(SHARED_ID) not in dict(expected)
    conflicts = _dedup_in_beam([path], counts={OK: 5},  # no warc.duplicate_record: they differ
                               docs=expected, notes=[(NOTES, {CONFLICTING_RECORD_ID: 4})])
    assert conflicts == 4


def test_identical_copies_of_a_record_are_kept_once(tmp_path):
    page = _page(0)
    one, two = tmp_path / "a.warc.gz", tmp_path / "b.warc.gz"
    one.write_bytes(_write_warc([page], record_ids=[COPIED_ID]))
    two.write_bytes(_write_warc([page], record_ids=[COPIED_ID]))
    conflicts = _dedup_in_beam([one, two], counts={OK: 1, "dropped:warc.duplicate_record": 1},
                               docs=[(stable_id(COPIED_ID), page[0])], notes=[])  # the ordinary id, unchanged
    assert conflicts == 0


def test_repeats_and_conflicts_of_one_record_id_together(tmp_path):
    first, other, alone = _page(1), _page(2), _page(3)
    one, two = tmp_path / "a.warc.gz", tmp_path / "b.warc.gz"
    one.write_bytes(_write_warc([first, alone], record_ids=[SHARED_ID, COPIED_ID]))
    two.write_bytes(_write_warc([first, other], record_ids=[SHARED_ID, SHARED_ID]))
    conflicts = _dedup_in_beam(
        [one, two], counts={OK: 3, "dropped:warc.duplicate_record": 1},
        docs=[(_conflict_id(SHARED_ID, first), first[0]), (_conflict_id(SHARED_ID, other), other[0]),
              (stable_id(COPIED_ID), alone[0])],  # not involved in the conflict: its id is unchanged
        notes=[(NOTES, {CONFLICTING_RECORD_ID: 1})])
    assert conflicts == 1


def test_clean_job_keeps_different_pages_that_share_a_record_id(tmp_path, test_data):
    """End to end: five real-looking pages under one WARC-Record-ID and one page twice
    under another -> six kept documents with six ids, one warc.duplicate_record."""
    from conftest import read_documents, run_clean_job

    pages = [d for o, d in outcomes_of(test_data / "sample.warc.gz") if o == OK][:6]
    records = [(d.url, "200 OK", d.content_type + (f"; charset={d.http_charset}" if d.http_charset else ""),
                d.payload) for d in pages]
    path = tmp_path / "shared-ids.warc.gz"
    path.write_bytes(_write_warc(records[:5] + [records[5], records[5]],
                                 record_ids=[SHARED_ID] * 5 + [COPIED_ID] * 2))
    out = tmp_path / "out"
    run_clean_job(["--input", str(path), "--output", str(out), "--no_report"])
    stats = json.loads((out / "stats.json").read_text())
    assert stats["records_read"] == 7 and stats["documents_kept"] == 6
    assert stats["dropped"] == {"warc.duplicate_record": 1} and stats["errors"] == {}
    docs = read_documents(out / "documents")
    assert len({d["id"] for d in docs}) == 6
    expected = {conflict_id(stable_id(SHARED_ID), hashlib.sha256(p.payload).hexdigest()) for p in pages[:5]}
    assert {d["id"] for d in docs} == expected | {stable_id(COPIED_ID)}
