"""HTML report: numbers match stats.json, self-contained, tolerant, deterministic; a
real run opened in headless Chromium."""
from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from pipelines.io.documents import document_to_row, write_parquet_file
from pipelines.report.cli import main as report_main
from pipelines.report.clean_page import write_report
from pipelines.stages.base import Document

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")


class PageFacts(HTMLParser):
    """Collects the funnel bars' data-* attributes, the embedded JSON and resource links."""

    def __init__(self):
        super().__init__()
        self.stages: list[dict] = []
        self.funnel_json = None
        self.ids: set[str] = set()
        self.external: list[str] = []
        self.scripts_with_code = 0
        self.reasons: list[str] = []
        self._in_json = False
        self._json_text = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "g" and "funnel-stage" in (a.get("class") or ""):
            self.stages.append(a)
        if tag == "details" and a.get("data-reason"):
            self.reasons.append(a["data-reason"])
        if tag == "script":
            if a.get("type") == "application/json" and a.get("id") == "funnel-data":
                self._in_json = True
            else:
                self.scripts_with_code += 1
        for key in ("src", "href"):
            value = a.get(key) or ""
            # Links to a dropped page's URL are for a person to click; anything loaded
            # automatically (src, stylesheets) would break "self-contained".
            if value and (key == "src" or tag == "link"):
                self.external.append(value)

    def handle_endtag(self, tag):
        if tag == "script" and self._in_json:
            self._in_json = False
            self.funnel_json = json.loads(self._json_text)

    def handle_data(self, data):
        if self._in_json:
            self._json_text += data


def parse_page(html_text: str) -> PageFacts:
    facts = PageFacts()
    facts.feed(html_text)
    return facts


def assert_funnel_matches(facts: PageFacts, stats: dict) -> None:
    assert facts.funnel_json == stats["funnel"]
    assert [s["data-stage"] for s in facts.stages] == [r["stage"] for r in stats["funnel"]]
    assert [int(s["data-documents"]) for s in facts.stages] == [r["documents"] for r in stats["funnel"]]
    assert [s["data-bytes"] for s in facts.stages] == ["" if r["bytes"] is None else str(r["bytes"])
                                                       for r in stats["funnel"]]


# --------------------------------------------------------------------------- a small run of our own
def _doc(i: int, text: str, lang: str, **signals) -> Document:
    return Document(id=f"doc-{i:03d}", url=f"https://example.org/{i}", text=text, language=lang,
                    language_score=0.9, signals=dict(signals), pii={"email": 1} if i % 4 == 0 else {})


@pytest.fixture
def small_run(tmp_path: pathlib.Path) -> pathlib.Path:
    """A clean-job-shaped output folder written with the project's own Parquet writer."""
    kept = [_doc(i, f"Kept document {i}. " * 20, "de" if i % 3 else "en", word_count=100 + i, mean_word_length=4.5)
            for i in range(30)]
    short = [(_doc(100 + i, "too short <b>", "en", word_count=5 + i), "gopher_quality.gopher_short_doc")
             for i in range(7)]
    lid = [(_doc(200 + i, "???", "", word_count=1), "langid.lid_low_score") for i in range(4)]
    (tmp_path / "documents").mkdir()
    write_parquet_file(str(tmp_path / "documents" / "part-00000-of-00002.parquet"),
                       [document_to_row(d) for d in kept[:15]])
    write_parquet_file(str(tmp_path / "documents" / "part-00001-of-00002.parquet"),
                       [document_to_row(d) for d in kept[15:]])
    for stage, rows in (("gopher_quality", short), ("langid", lid)):
        (tmp_path / "removed" / stage).mkdir(parents=True)
        write_parquet_file(str(tmp_path / "removed" / stage / "part-00000-of-00001.parquet"),
                           [document_to_row(d, why) for d, why in rows])
    kept_bytes = sum(len(d.text.encode()) for d in kept)
    stats = {
        "records_read": 45, "documents_kept": 30,
        "dropped": {"gopher_quality.gopher_short_doc": 7, "langid.lid_low_score": 4, "warc.not_html": 3},
        "errors": {"extract.timeout": 1},
        "funnel": [{"stage": "records", "documents": 45, "bytes": None},
                   {"stage": "warc", "documents": 41, "bytes": 900_000},
                   {"stage": "langid", "documents": 37, "bytes": kept_bytes + 400},
                   {"stage": "gopher_quality", "documents": 30, "bytes": kept_bytes}],
        "languages": {"de": 20, "en": 10}, "pii": {"email": 8},
        "by_language": {"de": {"documents": 20, "documents_kept": 20, "dropped": {}, "errors": {}},
                        "en": {"documents": 17, "documents_kept": 10,
                               "dropped": {"gopher_quality.gopher_short_doc": 7}, "errors": {}},
                        "unknown": {"documents": 5, "documents_kept": 0, "dropped": {"langid.lid_low_score": 4},
                                    "errors": {"extract.timeout": 1}}},
    }
    (tmp_path / "stats.json").write_text(json.dumps(stats))
    return tmp_path


def test_report_numbers_equal_stats_and_page_is_self_contained(small_run):
    path = write_report(str(small_run))
    page = pathlib.Path(path).read_text(encoding="utf-8")
    stats = json.loads((small_run / "stats.json").read_text())
    facts = parse_page(page)
    assert_funnel_matches(facts, stats)
    assert {"funnel-chart", "drop-reasons", "languages", "pii", "signals", "samples"} <= facts.ids
    assert facts.external == [] and facts.scripts_with_code == 0
    # Every reason with removed documents has samples, the largest reason first.
    assert facts.reasons == ["gopher_quality.gopher_short_doc", "langid.lid_low_score"]
    assert page.count('class="sample"') == 6  # 3 per reason by default
    # Histograms for the signals both groups carry.
    assert 'data-signal="word_count"' in page
    assert "warc.not_html" in page and "extract.timeout" in page


def test_headline_gives_both_keep_rates_and_scales_payload_and_text_bytes_apart(small_run):
    page = pathlib.Path(write_report(str(small_run))).read_text(encoding="utf-8")
    # 30 kept of 45 records, and of the 41 HTML pages that reached the filters.
    assert "kept of all records</div><div class=\"v\">66.7%" in page
    assert "kept of HTML pages</div><div class=\"v\">73.2%" in page
    # The funnel has no extract row here, so every byte row is payload; with one, payload
    # rows (900 kB) and text rows are each scaled to their own largest value.
    from pipelines.report.clean_page import funnel_svg

    funnel = [{"stage": "warc", "documents": 10, "bytes": 1_000_000}, {"stage": "extract", "documents": 9, "bytes": 50_000},
              {"stage": "langid", "documents": 8, "bytes": 25_000}]
    byte_bars = [float(w) for w in re.findall(r'width="([0-9.]+)" height="8"', funnel_svg(funnel))]
    assert byte_bars[0] == byte_bars[1] and byte_bars[2] == byte_bars[1] / 2  # each kind fills the bar at its max


def test_funnel_shows_cpu_seconds_per_stage_when_stats_has_them(small_run):
    stats = json.loads((small_run / "stats.json").read_text())
    cpu = {"records": None, "warc": None, "langid": 1.5, "gopher_quality": 0.5}
    for row in stats["funnel"]:
        row["cpu_s"] = cpu[row["stage"]]
    (small_run / "stats.json").write_text(json.dumps(stats))
    page = pathlib.Path(write_report(str(small_run))).read_text(encoding="utf-8")
    facts = parse_page(page)
    assert_funnel_matches(facts, stats)
    assert [s["data-cpu-s"] for s in facts.stages] == ["", "", "1.5", "0.5"]
    assert "share of stage CPU" in page
    assert '<td class="num">1.50</td><td class="num">75.0%</td>' in page  # 1.5 of the stages' 2.0 s
    assert "2.0 s in the stages" in page


def test_report_is_deterministic_and_seeded(small_run):
    first = pathlib.Path(write_report(str(small_run))).read_bytes()
    second = pathlib.Path(write_report(str(small_run))).read_bytes()
    assert first == second
    other_seed = pathlib.Path(write_report(str(small_run), seed=7)).read_bytes()
    ids = lambda b: re.findall(rb"id (doc-\d+)", b)  # noqa: E731
    assert ids(first) != ids(other_seed)  # another seed picks other samples (7 docs, 3 shown)


def test_report_tolerates_missing_parts(tmp_path):
    stats = {"records_read": 2, "documents_kept": 0, "dropped": {"warc.not_html": 2}, "errors": {},
             "funnel": [{"stage": "records", "documents": 2, "bytes": None},
                        {"stage": "warc", "documents": 0, "bytes": 0}]}
    (tmp_path / "stats.json").write_text(json.dumps(stats))
    page = pathlib.Path(write_report(str(tmp_path))).read_text()
    assert "No removed/ folder" in page and "No documents/*.parquet found" in page
    assert_funnel_matches(parse_page(page), stats)
    assert "no per-language outcomes" in page  # a stats.json written before they were counted


def _language_rows(page: str) -> list[tuple[str, int, int, str]]:
    """(language, pages, kept, reasons cell) of the per-language rows."""
    return [(m[0], int(m[1]), int(m[2]), m[3]) for m in re.findall(
        r'<tr class="language-outcome" data-language="([^"]*)" data-documents="(\d+)" data-kept="(\d+)">'
        r'(?:<td[^>]*>.*?</td>){4}<td class="name">(.*?)</td></tr>', page)]


def test_report_shows_keep_rate_and_top_drop_reasons_per_language(small_run):
    page = pathlib.Path(write_report(str(small_run))).read_text(encoding="utf-8")
    assert "language-outcomes" in parse_page(page).ids
    rows = _language_rows(page)
    assert [r[:3] for r in rows] == [("de", 20, 20), ("en", 17, 10), ("unknown", 5, 0)]
    assert "58.8%" in page  # en: 10 of 17 kept
    assert rows[1][3] == "gopher_quality.gopher_short_doc 7 (41.2%)"
    assert rows[2][3] == "langid.lid_low_score 4 (80.0%); error:extract.timeout 1 (20.0%)"


def test_small_languages_are_folded_into_one_row():
    from pipelines.report.clean_page import LANGUAGE_ROWS, fold_languages

    by_language = {f"l{i:02d}": {"documents": 100 - i, "documents_kept": 50, "dropped": {"c4.c4_curly_bracket": 50 - i},
                                 "errors": {}} for i in range(LANGUAGE_ROWS + 5)}
    rows = fold_languages(by_language)
    assert len(rows) == LANGUAGE_ROWS
    assert [name for name, _ in rows[:-1]] == [f"l{i:02d}" for i in range(LANGUAGE_ROWS - 1)]
    label, folded = rows[-1]
    rest = list(by_language.values())[LANGUAGE_ROWS - 1:]
    assert label == "other (6 languages)"
    assert folded["documents"] == sum(v["documents"] for v in rest)
    assert folded["documents_kept"] == 50 * len(rest)
    assert folded["dropped"] == {"c4.c4_curly_bracket": sum(v["dropped"]["c4.c4_curly_bracket"] for v in rest)}


def test_cli_explains_a_wrong_folder(tmp_path, capsys):
    assert report_main([str(tmp_path / "nope")]) == 2
    assert "pipelines.clean" in capsys.readouterr().err


def test_cli_writes_the_report(small_run, capsys):
    assert report_main([str(small_run), "--samples_per_reason", "1"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed.endswith("report.html") and pathlib.Path(printed).is_file()
    assert pathlib.Path(printed).read_text().count('class="sample"') == 2


# --------------------------------------------------------------------------- the real run, in a browser
def _chromium() -> str:
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("headless Chromium not found (apt-get install chromium) - browser check of report.html skipped")


def _browser(args: list[str], tmp_path: pathlib.Path) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'chromium-profile'}"]
    return subprocess.run([_chromium(), *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.slow  # clean_output: the clean job over every shared WARC
def test_real_run_report_in_headless_chromium(clean_output, tmp_path):
    stats = json.loads((clean_output / "stats.json").read_text())
    path = pathlib.Path(write_report(str(clean_output)))
    proc = _browser(["--dump-dom", path.as_uri()], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    facts = parse_page(dom)  # the DOM as the browser built it, not our source text
    assert "funnel-chart" in facts.ids
    assert_funnel_matches(facts, stats)
    assert facts.funnel_json[0]["stage"] == "records"
    assert facts.funnel_json[0]["documents"] == stats["records_read"]
    # The run kept removed documents, so the page shows samples for every drop reason
    # that has removed documents on disk.
    removed_reasons = set()
    import pyarrow.parquet as pq

    for f in (clean_output / "removed").glob("*/*.parquet"):
        removed_reasons.update(r for r in pq.read_table(f, columns=["drop_reason"]).column(0).to_pylist() if r)
    assert removed_reasons and set(facts.reasons) == removed_reasons
