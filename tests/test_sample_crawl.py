"""The bundled demo crawl (pipelines/resources/sample/sample-crawl.warc.gz).

Fast checks only (no Beam job): the committed file is exactly what
scripts/make_sample_crawl.py writes, and it holds the record kinds the demo relies on.
What the clean and dedup jobs make of it is described in
pipelines/resources/sample/README.md.
"""
from __future__ import annotations

import collections
import gzip
import importlib.util
import re

import pytest
from warcio.archiveiterator import ArchiveIterator

from pipelines.io.warc import iter_warc_outcomes
from pipelines.io.warc_records import OK
from pipelines.stages.charset import decode_html

from conftest import REPO

SAMPLE = REPO / "pipelines" / "resources" / "sample" / "sample-crawl.warc.gz"
SCRIPT = REPO / "scripts" / "make_sample_crawl.py"
BLOCKLIST = REPO / "pipelines" / "resources" / "blocklist" / "adult" / "domains"


@pytest.fixture(scope="module")
def generator():
    spec = importlib.util.spec_from_file_location("make_sample_crawl", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def records():
    """(rec_type, url, status, content type, body) per record, read with plain warcio."""
    out = []
    with open(SAMPLE, "rb") as f:
        for rec in ArchiveIterator(f):
            status = ctype = ""
            if rec.http_headers is not None and rec.rec_type in ("response", "revisit"):
                status = rec.http_headers.get_statuscode()
                ctype = (rec.http_headers.get_header("Content-Type") or "").split(";")[0].strip().lower()
            body = rec.content_stream().read()  # chunked/gzip transfer decoded
            out.append((rec.rec_type, rec.rec_headers.get_header("WARC-Target-URI") or "", status, ctype, body))
    return out


@pytest.fixture(scope="module")
def pages():
    """url -> decoded HTML of every response the pipeline's reader passes on to extraction."""
    docs = [d for o, d in iter_warc_outcomes(str(SAMPLE)) if o == OK]
    return {d.url: decode_html(d.payload, d.http_charset)[0] for d in docs}


def test_committed_file_is_reproduced_by_the_script(generator, tmp_path):
    rebuilt = generator.build(tmp_path / "sample-crawl.warc.gz").read_bytes()
    committed = SAMPLE.read_bytes()
    # The records, byte for byte; the gzip bytes around them depend on the zlib build, so
    # they are not compared.
    assert gzip.decompress(rebuilt) == gzip.decompress(committed), (
        "sample-crawl.warc.gz is stale: run .venv/bin/python scripts/make_sample_crawl.py")


def test_size_stays_small():
    assert SAMPLE.stat().st_size < 150 * 1024


def test_record_kinds(records):
    kinds = collections.Counter(r[0] for r in records)
    assert kinds["warcinfo"] == 1 and records[0][0] == "warcinfo"
    assert kinds["request"] >= 3 and kinds["metadata"] >= 3 and kinds["revisit"] >= 1
    responses = [r for r in records if r[0] == "response"]
    html_ok = [r for r in responses if r[3] == "text/html" and r[2] == "200" and r[4]]
    assert len(html_ok) >= 40
    non_html = {r[3] for r in responses if r[3] != "text/html"}
    assert {"image/png", "application/pdf", "application/json", "text/plain"} <= non_html
    assert {r[2] for r in responses if r[3] == "text/html"} >= {"200", "301", "404"}
    assert any(r[3] == "text/html" and not r[4] for r in responses)  # empty body


def test_record_ids_and_dates_are_fixed():
    with open(SAMPLE, "rb") as f:
        heads = [(r.rec_headers.get_header("WARC-Record-ID"), r.rec_headers.get_header("WARC-Date"))
                 for r in ArchiveIterator(f)]
    assert len({rid for rid, _ in heads}) == len(heads)
    assert all(date.startswith("2024-04-16T09:") for _, date in heads)


def test_languages_and_encodings(records, pages):
    langs = collections.Counter()
    for url, html in pages.items():
        m = re.search(r'<html[^>]*\blang="([a-zA-Z]+)', html)
        if m:
            langs[m.group(1).lower()] += 1
    assert langs["zh"] >= 4
    assert all(langs[lang] >= 2 for lang in ("en", "de", "fr", "es"))
    assert langs["en"] >= 5
    # Chinese pages in three encodings: UTF-8, GBK (declared in <meta> only) and Big5.
    raw = {r[1]: r[4] for r in records if r[0] == "response"}
    zh_urls = [u for u, h in pages.items() if re.search(r'lang="zh-TW"', h)]
    assert any(raw[u].decode("big5", "strict") for u in zh_urls)
    assert any(b'<meta charset="gbk">' in body for body in raw.values())
    # Every decoded page is clean text (no replacement characters from a wrong codec).
    assert not [u for u, h in pages.items() if "\ufffd" in h]


def test_near_duplicates_and_shared_boilerplate(generator, pages):
    g = generator
    # Each near-duplicate is a small edit of an article that is also in the file.
    for original, copy in ((g.EN_REPAIR, g.EN_REPAIR_DIGEST), (g.EN_REPAIR, g.EN_REPAIR_MOBILE),
                           (g.EN_DARKSKY, g.EN_DARKSKY_FORUM), (g.DE_FREIBAD, g.DE_FREIBAD_PORTAL),
                           (g.ZH_METRO, g.ZH_METRO_PORTAL), (g.ZH_METRO, g.ZH_METRO_MOBILE)):
        assert copy != original and len(copy) == len(original)
        assert sum(a != b for a, b in zip(original, copy)) <= 2
        assert any(copy[-1] in h for h in pages.values())
    # The boilerplate notices are repeated verbatim (>= 150 bytes) on 4+ pages.
    for note in (g.COURIER_NOTE, g.CHENGUANG_NOTE):
        assert len(note.encode("utf-8")) >= 150
        assert sum(note in h for h in pages.values()) >= 4


def test_junk_and_pii(records, pages):
    blocked = {line.strip() for line in BLOCKLIST.read_text().splitlines() if line.strip() and not line.startswith("#")}
    hosts = {re.sub(r"^www\d*\.", "", r[1].split("/")[2]) for r in records if r[0] == "response"}
    assert hosts & blocked, "no page on an embedded-blocklist domain"
    text = "\n".join(pages.values())
    assert "lorem ipsum" in text.lower()
    assert len(re.findall(r"[\w.-]+@[\w-]+\.example\b", text)) >= 2
    assert "93.184.216.34" in text  # a public IPv4 address
    assert "01632 960418" in text and "010-6552 9988" in text  # phone numbers
