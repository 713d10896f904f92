"""Paragraph-level exact dedup (Bloom filter over paragraph hashes): first copy kept,
later copies cut as character spans, order-independent, the false-positive flag
respected; the Beam stage equals the pure driver; the dedup job runs it end to end."""
from __future__ import annotations

import argparse
import json
import random

import numpy as np
import pytest

from conftest import run_module
from dedup_helpers import extracted_pages, run_dedup_stage
from pipelines.dedup import job as dedup
from pipelines.dedup.paragraph import TOO_SHORT, ParagraphDedup
from pipelines.io.documents import document_to_row, iter_parquet_documents, write_parquet_file
from pipelines.stages import paragraph_dedup as para
from pipelines.stages.base import Document, stable_id
from pipelines.stages.substring import encode, remove_char_spans

SHARED = "The committee met on Tuesday to discuss the new budget for the year."
FOOTER = "Copyright 2024 Example News. All rights reserved worldwide."
ZH = "北京时间今天上午，国家统计局发布了最新的经济数据，显示消费持续回暖。"


def fixture_docs() -> list[Document]:
    return [
        Document(id="b", text=f"Intro line of document b, long enough.\n{SHARED}\n\nok\n{FOOTER}"),
        Document(id="a", text=f"{SHARED}\nA unique line only document a has here.\nok\n{FOOTER}"),
        Document(id="c", text=f"第一段：这是一篇只有文档c才有的新闻报道的开头。\n{ZH}\n{SHARED}\n结尾：这一段也只属于文档c，没有别的文档有它。"),
        Document(id="d", text=f"{ZH}\n第二篇中文报道的独有段落，内容与其他文档完全不同。"),
    ]


def removals(docs, **kw) -> dict:
    return {k: v.tolist() for k, v in para.find_removals([(d.id, d.text) for d in docs], **kw).items()}


# ----------------------------------------------------------------------------- pure logic

def test_first_copy_kept_later_copies_removed_whatever_the_partitions_and_order():
    docs = fixture_docs()
    # Order (id, line): a has SHARED and FOOTER first; c has ZH before d.
    expected = {"b": [1, 4], "c": [2], "d": [0]}
    for partitions in (1, 3, 16):
        for fp in (0.0, 1e-4):
            assert removals(docs, partitions=partitions, fp_rate=fp) == expected
            shuffled = docs[:]
            random.Random(partitions).shuffle(shuffled)
            assert removals(shuffled, partitions=partitions, fp_rate=fp) == expected


def test_removed_spans_are_character_offsets_with_cjk_text():
    doc = fixture_docs()[2]
    new_text, spans, nbytes = para.removal_plan(doc.text, [1, 2])
    (s, e), = spans  # two touching lines merge into one span
    assert doc.text[s:e] == f"{ZH}\n{SHARED}\n"
    assert new_text == remove_char_spans(doc.text, spans)
    assert new_text.splitlines() == [doc.text.splitlines()[0], doc.text.splitlines()[3]]
    assert nbytes == len(encode(ZH)) + len(encode(SHARED)) + 2 > e - s  # bytes, not characters
    # The last line takes the line break before it: no empty line is left at the end.
    new_text, spans, _ = para.removal_plan("first line\nsecond line\n第三行", [2])
    assert new_text == "first line\nsecond line" and spans == [(22, 26)]
    assert para.removal_plan("only line", [0])[0] == ""


def test_tiny_paragraphs_are_skipped():
    docs = [Document(id="x", text="ok\n\n   \n—\nA long enough line that is unique to x."),
            Document(id="y", text="ok\n\n   \n—\nAnother long line, unique to document y.")]
    assert removals(docs) == {}  # default min_chars 20
    # With min_chars 1, "ok" and "—" repeat; empty and blank lines are never paragraphs.
    assert removals(docs, min_chars=1) == {"y": [0, 3]}
    lines, keys = para.paragraph_keys("  padded paragraph, twenty+ chars  \n\t\n" + SHARED, 20)
    assert lines.tolist() == [0, 2] and keys[0] == para.paragraph_hash("padded paragraph, twenty+ chars")


def test_same_document_twice_gets_the_same_answer_and_ids_collide_by_text():
    a = Document(id="a", text=f"{SHARED}\nA line of a that nobody else has got.")
    a_again = Document(id="a", text=a.text)
    other_a = Document(id="a", text=f"{SHARED}\nA different document that reuses id a.")
    shares = [s for d in (a, a_again, other_a) for _, s in para.document_shares(d.id, d.text, 1)[1]]
    result = para.partition_removals(shares, 0.0)
    # a and its second reading are one document; other_a sorts after it by text hash or before.
    (doc_id, th, lines), = result.removals
    first = min((para.text_hash(a.text), para.text_hash(other_a.text)))
    assert doc_id == "a" and th != first and lines.tolist() == [0]


def test_false_positive_rate_follows_the_flag():
    """Unique paragraphs: every removal is a false positive. Loose statistical bounds."""
    n = 40_000
    keys = para.paragraph_keys("\n".join(f"Unique synthetic paragraph number {i:06d}." for i in range(n)), 20)[1]
    assert len(np.unique(keys)) == n
    inserted, queried = keys[: n // 2], keys[n // 2:]
    for rate in (1e-2, 1e-3):
        bloom = para.BloomFilter(len(inserted), rate)
        walk = bloom.seen_before(inserted)  # the stage's one pass: fill grows, so rate < flag
        at_capacity = bloom.contains(queried).mean()  # a full filter: ~ the flag
        assert walk.mean() <= rate
        assert rate / 3 <= at_capacity <= 3 * rate
    assert para.BloomFilter(1000, 1e-4).bits > para.BloomFilter(1000, 1e-2).bits
    assert not para.seen_before(inserted, 0.0)[0].any()  # exact: no false positive at all


# ----------------------------------------------------------------------------- Beam stage

def test_beam_stage_cuts_spans_and_counts(tmp_path):
    docs = fixture_docs()
    kept, removed, stats = run_dedup_stage(ParagraphDedup(min_doc_chars_after=40), docs, tmp_path)
    out = {d.id: d for d in kept} | {d.id: d for d, _ in removed}
    assert [(d.id, r) for d, r in removed] == [("d", TOO_SHORT)]  # 26 characters left
    originals = {d.id: d for d in docs}
    for doc_id, lines in {"b": [1, 4], "c": [2], "d": [0]}.items():
        text, spans, nbytes = para.removal_plan(originals[doc_id].text, lines)
        assert out[doc_id].text == text and out[doc_id].removed_spans == spans
        assert out[doc_id].signals["paragraph_removed_fraction"] == nbytes / len(encode(originals[doc_id].text))
    assert out["a"].text == originals["a"].text and not out["a"].removed_spans
    figures = stats["paragraph"]
    assert figures["paragraphs_seen"] == 12 and figures["paragraphs_removed"] == 4
    assert figures["documents_changed"] == 3 and figures["documents_dropped"] == 1
    assert figures["bytes_removed"] == sum(len(encode(t)) + 1 for t in (SHARED, FOOTER, SHARED, ZH))
    assert figures["fp_rate"] == para.DEFAULT_FP_RATE and figures["filter_bits"] > 0


def test_flags_parse_and_bad_values_explain_themselves(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    ParagraphDedup.add_arguments(parser)
    stage = ParagraphDedup.from_args(parser.parse_args(["--paragraph_fp_rate", "0", "--paragraph_min_chars", "5"]))
    assert stage.fp_rate == 0 and stage.min_chars == 5
    with pytest.raises(ValueError, match="--paragraph_fp_rate"):
        ParagraphDedup(fp_rate=1.5)
    with pytest.raises(ValueError, match="--paragraph_min_chars"):
        ParagraphDedup(min_chars=0)
    write_parquet_file(str(tmp_path / "in" / "part-0.parquet"), [document_to_row(d) for d in fixture_docs()])
    with pytest.raises(SystemExit):
        dedup.main(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "o"), "--stages", "paragraph",
                    "--paragraph_fp_rate", "-1"])
    assert "stage paragraph: --paragraph_fp_rate must be in [0, 0.5)" in capsys.readouterr().err
    assert not (tmp_path / "o" / "stats.json").exists()


def test_dedup_job_entry_point_runs_the_paragraph_stage(tmp_path):
    """`python -m pipelines.dedup --stages paragraph` on the DirectRunner, as a user runs it."""
    docs = fixture_docs()
    write_parquet_file(str(tmp_path / "in" / "part-0.parquet"), [document_to_row(d) for d in docs])
    run_module("pipelines.dedup", "--input", tmp_path / "in", "--output", tmp_path / "out", "--stages", "paragraph",
               "--paragraph_min_doc_chars_after", "40", "--num_shards", "1", "--keep_removed",
               "--direct_num_workers=1", timeout=300)
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["documents_in"] == 4 and stats["documents_kept"] == 3
    assert stats["dropped"] == {"paragraph.too_short_after_removal": 1}
    assert stats["paragraph"]["paragraphs_removed"] == 4
    kept = {d.id: d for p in (tmp_path / "out" / "documents").glob("*.parquet") for d in iter_parquet_documents(str(p))}
    assert sorted(kept) == ["a", "b", "c"]
    assert kept["c"].removed_spans == para.removal_plan(docs[2].text, [2])[1]
    assert 'id="paragraph"' in (tmp_path / "out" / "report.html").read_text()


# ----------------------------------------------------------------------------- real pages

@pytest.fixture(scope="module")
def real_docs(shared_data):
    """Real pages (German/English and Chinese) extracted with trafilatura, plus documents
    re-assembled from their lines (how boilerplate and quotes repeat across a crawl)."""
    pytest.importorskip("trafilatura")
    docs = extracted_pages(shared_data / "warc" / "real-pages-00000.warc.gz", 60, keep=bool)
    docs += extracted_pages(shared_data / "zh" / "zh-news-00000.warc.gz", 20, keep=bool)
    lines = [ln for d in docs for ln in d.text.split("\n") if len(ln) > 30]
    rng = random.Random(5)
    for i in range(30):
        picked = [rng.choice(lines) for _ in range(rng.randint(2, 6))] + [f"Unique closing line number {i}."]
        rng.shuffle(picked)
        docs.append(Document(id=stable_id("synthetic", str(i)), text="\n".join(picked)))
    return docs


def test_beam_stage_equals_the_pure_driver_on_real_pages(real_docs, tmp_path):
    pairs = [(d.id, d.text) for d in real_docs]
    exact = para.find_removals(pairs, fp_rate=0.0)
    assert len(exact) >= 20, "re-assembled documents repeat real lines; the exact check must find them"
    bloom = para.find_removals(pairs, fp_rate=1e-4, partitions=4)
    for doc_id, lines in exact.items():  # a Bloom filter only ever adds (false positives)
        assert set(lines.tolist()) <= set(bloom[doc_id].tolist())
    kept, removed, stats = run_dedup_stage(ParagraphDedup(partitions=4), real_docs, tmp_path)
    out = {d.id: d for d in kept} | {d.id: d for d, _ in removed}
    assert set(out) == {d.id for d in real_docs}  # nothing disappears
    total = 0
    for doc in real_docs:
        text, spans, nbytes = para.removal_plan(doc.text, bloom.get(doc.id, []))
        assert out[doc.id].text == text and out[doc.id].removed_spans == spans
        total += nbytes
    assert stats["paragraph"]["bytes_removed"] == total > 0
    assert stats["paragraph"]["documents_changed"] == len(bloom)
    # A second pass over the output finds no repeated paragraph left.
    assert para.find_removals([(d.id, d.text) for d in kept], fp_rate=0.0) == {}
