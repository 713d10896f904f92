"""The extractor choice (--extractor), the labelled extraction set, the extraction cascade
(trafilatura_fast, escalating where its text looks failed) and the language prefilter (a
cheap language check before the expensive extractor) on real pages."""
from __future__ import annotations

import collections
import pathlib
import sys

import pytest

from conftest import run_module
from pipelines.io.warc import iter_warc_outcomes
from pipelines.stages.base import Document, Drop
from pipelines.stages.charset import decode_html
from pipelines.stages.extract import (
    CASCADE_FLOOR_CHARS, CASCADE_STEPS, DEFAULT_EXTRACTOR, EXTRACTORS, Extract, cascade_steps, cheap_text,
    collapse_newlines, first_text_stands, looks_failed,
)
from pipelines.stages.langid import LanguageId
from pipelines.stages.language_prefilter import LanguagePrefilter

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "bench"))
import extraction_eval  # noqa: E402
import extraction_set  # noqa: E402

OPTIONS = extraction_eval.OPTIONS


@pytest.fixture(scope="module")
def labelled_pages(shared_data):
    """(label, decoded HTML, gold text) of every labelled page; the hashes must match."""
    pages = []
    for label in extraction_set.load_labels():
        url, html = extraction_set.page_html(label["warc"], label["id"])
        assert url == label["url"]
        pages.append((label, html, extraction_set.gold_text(label)))  # raises LabelDrift on a mismatch
    return pages


def test_labels_cover_enough_pages_languages_and_kinds(labelled_pages):
    labels = [label for label, _, _ in labelled_pages]
    assert len(labels) >= 60
    assert len({label["id"] for label in labels}) == len(labels)
    languages = collections.Counter(label["language"] for label in labels)
    assert {"en", "de", "zh"} <= set(languages) and len(languages) >= 6
    assert {"forum", "blog", "government"} <= {label["kind"] for label in labels}
    # A label is the text a reader keeps: never empty, never the whole page.
    for label, html, gold in labelled_pages:
        chosen = extraction_set.parse_ranges(label["main"])
        assert gold.strip() and len(chosen) < label["blocks"], label["url"]


def test_blocks_are_deterministic_and_visible_text_only():
    html = ("<html><head><title>T</title><style>p{}</style></head><body><nav>Home | About</nav>"
            "<article><h1>Headline</h1><p>First <b>bold</b> paragraph.</p><script>x=1</script>"
            "<p hidden>secret</p><div style='display: none'>gone</div><p>Second<br>line</p></article>"
            "<footer>© 2024</footer></body></html>")
    blocks = extraction_set.html_blocks(html)
    assert blocks == ["Home | About", "Headline", "First bold paragraph.", "Second line", "© 2024"]
    assert extraction_set.html_blocks(html) == blocks


def test_a_changed_page_is_detected_as_drift(labelled_pages):
    label, html, _ = labelled_pages[0]
    blocks = extraction_set.html_blocks(html)
    first = extraction_set.parse_ranges(label["main"])[0]
    blocks[first] = blocks[first] + " changed"
    with pytest.raises(extraction_set.LabelDrift):
        extraction_set.gold_text(label, blocks)


@pytest.mark.parametrize("name", list(EXTRACTORS))
def test_each_extractor_finds_the_labelled_main_text(name, labelled_pages):
    sample = labelled_pages[::10]  # every language group is spread over the file
    f1s = []
    for label, html, gold in sample:
        text = collapse_newlines(EXTRACTORS[name](html, OPTIONS) or "", 2)
        f1s.append(extraction_eval.prf(text, gold)[2])
    # A loose floor: every extractor finds most of the main text on most real pages.
    assert sum(f1 >= 0.5 for f1 in f1s) >= 0.7 * len(f1s), f1s


@pytest.mark.parametrize("name", list(EXTRACTORS))
def test_extract_stage_runs_the_named_extractor_in_its_child(name, labelled_pages):
    label, html, _ = labelled_pages[20]
    payload = html.encode("utf-8")
    expected = collapse_newlines(EXTRACTORS[name](decode_html(payload)[0], OPTIONS) or "", 2)
    stage = Extract(timeout_s=30, extractor=name)
    try:
        result = stage.process(Document(id="t", url=label["url"], payload=payload, content_type="text/html"))
    finally:
        stage.close()
    assert not isinstance(result, Drop) and result.text == expected


def test_default_extractor_is_a_named_one():
    assert DEFAULT_EXTRACTOR in EXTRACTORS
    assert Extract(timeout_s=0).extractor is EXTRACTORS[DEFAULT_EXTRACTOR]


def test_unknown_extractor_is_refused_at_construction():
    with pytest.raises(ValueError, match="--extractor: unknown extractor 'nope'; choose one of"):
        Extract(extractor="nope")


def test_bad_extractor_flag_is_one_line_before_any_work(tmp_path, test_data):
    out = tmp_path / "out"
    proc = run_module("pipelines.clean", "--input", str(test_data / "sample.warc.gz"), "--output", str(out),
                      "--extractor", "nope", timeout=300, check=False)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "--extractor" in errors[0] and "trafilatura_fast" in errors[0]
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_looks_failed_compares_with_the_cheap_text():
    assert looks_failed("", 0) and looks_failed("", 100)
    assert not looks_failed("some text", 0)  # nothing cheap to compare with: not a failure
    assert looks_failed("x" * 29, 100, 0.3) and not looks_failed("x" * 30, 100, 0.3)


def test_cascade_falls_back_to_the_cheap_text_only_for_a_stub(monkeypatch):
    from pipelines.stages import extract

    cheap = "word " * 400  # 2,000 characters of cheap text

    def steps(*texts):
        return tuple((f"step{i}", lambda html, options, t=t: t) for i, t in enumerate(texts))

    monkeypatch.setattr(extract, "CASCADE_STEPS", steps("", "x" * 300, "y" * 500))
    assert cascade_steps("<html></html>", OPTIONS, cheap) == ("y" * 500, 2)  # short, but no stub
    monkeypatch.setattr(extract, "CASCADE_STEPS", steps("", "", "z" * 150))
    assert cascade_steps("<html></html>", OPTIONS, cheap) == (cheap.strip(), 3)  # a stub: the cheap text
    monkeypatch.setattr(extract, "CASCADE_STEPS", steps("a" * 100, "b" * 900))
    assert cascade_steps("<html></html>", OPTIONS, cheap) == ("b" * 900, 1)  # the first step that passes


def test_a_first_text_over_the_floor_is_taken_without_the_cheap_text(monkeypatch):
    from pipelines.stages import extract

    calls = []
    monkeypatch.setitem(EXTRACTORS, "resiliparse", lambda html, options: calls.append(1) or "word " * 10_000)

    def steps(*texts):
        return tuple((f"step{i}", lambda html, options, t=t: t) for i, t in enumerate(texts))

    long, short = "x" * CASCADE_FLOOR_CHARS, "x" * (CASCADE_FLOOR_CHARS - 1)
    monkeypatch.setattr(extract, "CASCADE_STEPS", steps(long, "y" * 40_000))
    assert cascade_steps("<html></html>", OPTIONS) == (long, 0) and not calls  # 3,000 of 50,000: taken
    monkeypatch.setattr(extract, "CASCADE_STEPS", steps(short, "y" * 40_000))
    assert cascade_steps("<html></html>", OPTIONS) == ("y" * 40_000, 1) and len(calls) == 1  # checked: escalates
    # The floor is the first step's only: a later text that short of the cheap text still fails.
    monkeypatch.setattr(extract, "CASCADE_STEPS", steps("", long, "z" * 30_000))
    assert cascade_steps("<html></html>", OPTIONS)[1] == 2


def test_cascade_answers_with_the_first_step_that_does_not_look_failed(labelled_pages):
    for label, html, _ in labelled_pages[::7]:
        cheap = collapse_newlines(cheap_text(html, OPTIONS), 2)
        texts = [collapse_newlines(step(html, OPTIONS) or "", 2) for _, step in CASCADE_STEPS]
        text, index = cascade_steps(html, OPTIONS)
        first = 0 if first_text_stands(texts[0]) else next(
            (i for i, t in enumerate(texts) if not looks_failed(t, len(cheap))), len(texts))
        assert index == first, label["url"]
        assert text == (texts[index] if index < len(texts) else cheap), label["url"]


def test_variant_replay_is_the_cascade_for_the_default(labelled_pages):
    """bench/extraction_variants.py compares cascade variants by replaying them from every step's
    text: its "default" variant must give the cascade's own text and step, escalating pages included."""
    import extraction_variants

    chosen = [page for page in labelled_pages if cascade_steps(page[1], OPTIONS)[1] > 0] + labelled_pages[::15]
    assert len(chosen) > len(labelled_pages[::15])  # some labelled pages escalate
    measured = extraction_variants.measure([html for _, html, _ in chosen], rounds=1)
    for (label, html, _), page in zip(chosen, measured):
        text, step, cpu = extraction_variants.replay(extraction_variants.VARIANTS["default"], page)
        assert (text, step) == cascade_steps(html, OPTIONS), label["url"]
        assert cpu > 0


@pytest.mark.slow
def test_cascade_rescues_the_pages_where_trafilatura_fast_fails(labelled_pages):
    """On every labelled page where trafilatura_fast's text looks failed, the cascade's text
    is at least as good (F1 against the hand-labelled main text); elsewhere it is that text."""
    rescued = 0
    for label, html, gold in labelled_pages:
        fast = collapse_newlines(EXTRACTORS["trafilatura_fast"](html, OPTIONS) or "", 2)
        text, index = cascade_steps(html, OPTIONS)
        if index == 0:
            assert text == fast, label["url"]
            continue
        assert looks_failed(fast, len(collapse_newlines(cheap_text(html, OPTIONS), 2))), label["url"]
        fast_f1, f1 = extraction_eval.prf(fast, gold)[2], extraction_eval.prf(text, gold)[2]
        assert f1 >= fast_f1, (label["url"], fast_f1, f1)
        rescued += f1 >= fast_f1 + 0.5
    assert rescued >= 3, "trafilatura_fast loses whole bodies on a few labelled pages (juraforum.de, aoc.media)"


def test_extract_computes_the_cheap_text_once_and_records_the_cascade_step(labelled_pages, monkeypatch):
    label, html, _ = labelled_pages[20]
    calls = []
    resiliparse = EXTRACTORS["resiliparse"]
    monkeypatch.setitem(EXTRACTORS, "resiliparse", lambda h, o: calls.append(1) or resiliparse(h, o))
    prefilter = LanguagePrefilter(label["language"])
    for extractor, expect_step in (("cascade", True), ("trafilatura_fast", False)):
        calls.clear()
        stage = Extract(timeout_s=0, extractor=extractor, prefilter=prefilter)
        stage.setup()
        calls.clear()  # warm-up is not per-document work
        doc = stage.process(Document(id="t", url=label["url"], payload=html.encode("utf-8"),
                                     content_type="text/html"))
        assert not isinstance(doc, Drop) and len(calls) == 1, extractor
        assert ("extract_cascade_step" in doc.signals) == expect_step


def test_without_a_prefilter_the_cascade_computes_the_cheap_text_only_under_the_floor(labelled_pages, monkeypatch):
    calls = []
    resiliparse = EXTRACTORS["resiliparse"]
    monkeypatch.setitem(EXTRACTORS, "resiliparse", lambda h, o: calls.append(1) or resiliparse(h, o))
    stage = Extract(timeout_s=0)  # the default cascade, no language prefilter
    stage.setup()
    seen = collections.Counter()
    for label, html, _ in labelled_pages[::3]:
        fast = collapse_newlines(EXTRACTORS["trafilatura_fast"](html, OPTIONS) or "", 2)
        calls.clear()
        stage.process(Document(id=label["id"], url=label["url"], payload=html.encode("utf-8"),
                               content_type="text/html"))
        assert len(calls) == (0 if first_text_stands(fast) else 1), label["url"]
        seen[first_text_stands(fast)] += 1
    assert seen[True] and seen[False], "the sample should hold pages on both sides of the floor"


def _sample_documents(shared_data, per_file: int) -> list[Document]:
    docs = []
    for path in (shared_data / "warc" / "real-pages-00000.warc.gz", shared_data / "zh" / "zh-news-00000.warc.gz"):
        taken = 0
        for _, doc in iter_warc_outcomes(str(path)):
            if doc is not None and taken < per_file:
                docs.append(doc)
                taken += 1
    return docs


def _outcomes(stages, docs) -> dict[str, str]:
    out = {}
    for doc in docs:
        doc = Document(id=doc.id, url=doc.url, payload=doc.payload, http_charset=doc.http_charset,
                       content_type=doc.content_type)
        for stage in stages:
            doc = stage.process(doc)
            if isinstance(doc, Drop):
                out[doc.document.id] = f"{stage.name}.{doc.reason}"
                break
        else:
            out[doc.id] = "kept"
    return out


def test_cascade_keeps_what_the_plain_path_keeps_and_counts_its_drops(shared_data):
    docs = _sample_documents(shared_data, per_file=10)  # German/English pages, then Chinese ones
    plain = _outcomes([Extract(timeout_s=0), LanguageId(languages="de")], docs)
    prefilter = LanguagePrefilter("de")
    cascade = _outcomes([Extract(timeout_s=0, prefilter=prefilter), LanguageId(languages="de")], docs)
    assert {i for i, o in cascade.items() if o == "kept"} == {i for i, o in plain.items() if o == "kept"}
    changed = {i: (plain[i], cascade[i]) for i in plain if plain[i] != cascade[i]}
    assert changed, "the Chinese pages should be dropped before extraction"
    # Only the prefilter's own reason, and only where the plain path dropped the page too.
    assert all(c == "extract.prefilter_language" and p != "kept" for p, c in changed.values())


def test_prefilter_never_drops_a_page_it_cannot_read():
    prefilter = LanguagePrefilter("en")
    assert not prefilter.cannot_pass(cheap_text("<html><body></body></html>", OPTIONS))
    assert not prefilter.cannot_pass(cheap_text("<html><body><img src=x alt='Ein Bild'></body></html>", OPTIONS))
    german = ("<html><body><article><p>Dies ist ein langer deutscher Artikel über das Wetter von heute und "
              "morgen in Berlin und Hamburg.</p></article></body></html>")
    assert prefilter.cannot_pass(cheap_text(german, OPTIONS))
    assert not LanguagePrefilter("de,en").cannot_pass(cheap_text(german, OPTIONS))
    with pytest.raises(ValueError):
        LanguagePrefilter("")


@pytest.mark.parametrize(
    "flags, extractor, prefiltered",
    [
        ([], DEFAULT_EXTRACTOR, False),
        (["--languages", "de,en"], DEFAULT_EXTRACTOR, True),
        (["--languages", "de", "--no_language_prefilter"], DEFAULT_EXTRACTOR, False),
        (["--extractor", "trafilatura_fast", "--languages", "en"], "trafilatura_fast", True),
        (["--extractor", "resiliparse", "--languages", "en"], "resiliparse", False),  # the cheap text is the text
        (["--extractor", "cascade", "--languages", "en"], "cascade", True),
        (["--extractor", "trafilatura"], "trafilatura", False),
    ],
)
def test_clean_flags_choose_the_extractor_and_the_cascade(flags, extractor, prefiltered):
    from pipelines.clean import build_arg_parser, build_stages

    args = build_arg_parser().parse_args(["--input", "x", "--output", "y", *flags])
    extract = next(s for s in build_stages(args) if s.name == "extract")
    assert extract.extractor is EXTRACTORS[extractor]
    assert (extract.prefilter is not None) == prefiltered
