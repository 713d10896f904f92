"""Decontamination: n-gram overlap with eval sets (txt / JSONL / Parquet), remove or flag,
report of matched items; checked against a plain set-intersection reference."""
from __future__ import annotations

import argparse
import json
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dedup_helpers import extracted_pages, run_dedup_stage
from pipelines.dedup.decontaminate import Decontaminate
from pipelines.stages.base import Document, Drop
from pipelines.io.eval_sets import build_eval_index
from pipelines.stages.decontaminate import Decontaminator, EvalIndex, EvalItem, ngram_keys
from pipelines.stages.minhash import tokenize_reference as normalized_words


@pytest.fixture(scope="module")
def pages(shared_data):
    pytest.importorskip("trafilatura")
    return extracted_pages(shared_data / "warc" / "real-pages-00001.warc.gz", 40,
                           keep=lambda text: len(normalized_words(text)) > 60)


def _eval_sets(pages, folder):
    """Eval items quoting real training pages (re-cased, re-punctuated) and pages that
    are not in the training slice, in the three supported formats."""
    rng = random.Random(5)
    quoted = []
    for doc in pages[:8]:
        words = doc.text.split()
        start = rng.randint(0, len(words) - 30)
        quoted.append(" ".join(words[start:start + 30]).upper().replace(".", " ;"))
    outside = [" ".join(d.text.split()[:40]) for d in pages[30:36]]
    (folder / "quoted.txt").write_text("\n".join(quoted[:4]) + "\n\nshort item only\n", encoding="utf-8")
    lines = [json.dumps({"id": f"q{i}", "question": t}) for i, t in enumerate(quoted[4:])]
    lines += [json.dumps({"id": "bad", "other": 1}), "{not json"]
    (folder / "quoted.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    pq.write_table(pa.table({"question": outside, "id": [f"o{i}" for i in range(len(outside))]}),
                   folder / "outside.parquet")
    return [str(folder / "quoted.txt"), str(folder / "quoted.jsonl"), str(folder / "outside.parquet")], quoted, outside


def reference_contaminated(docs, items, n):
    """Plain set intersection of word n-gram tuples (no hashing)."""
    grams = set()
    for text in items:
        w = normalized_words(text)
        grams.update(tuple(w[i:i + n]) for i in range(len(w) - n + 1))
    hit = set()
    for doc in docs:
        w = normalized_words(doc.text)
        if any(tuple(w[i:i + n]) in grams for i in range(len(w) - n + 1)):
            hit.add(doc.id)
    return hit


def _run(docs, tmp_path, **kwargs):
    return run_dedup_stage(Decontaminate(**kwargs), docs, tmp_path)


def test_remove_matches_reference_and_reports_items(pages, tmp_path):
    training = pages[:30]
    paths, quoted, outside = _eval_sets(pages, tmp_path)
    report = tmp_path / "decontamination.json"
    kept, removed, stats = _run(training, tmp_path, paths=paths, text_field="question", report_path=str(report))
    expected = reference_contaminated(training, quoted + outside, 13)
    assert {d.id for d, _ in removed} == expected
    assert {d.id for d in training[:8]} <= expected  # every quoted page is caught
    assert all(reason == "contaminated" for _, reason in removed)
    assert {d.id for d in kept} == {d.id for d in training} - expected
    summary = stats["decontamination"]
    assert summary.pop("report") == str(report)
    assert summary == json.loads(report.read_text())  # fewer than 50 items: same list
    assert summary["documents_checked"] == 30 and summary["documents_contaminated"] == len(expected)
    assert summary["eval_items_too_short"] == 1  # "short item only"
    assert summary["eval_lines_skipped"] == {"bad_json_line": 1, "missing_text_field": 1}
    matched = {(m["file"], m["item"]) for m in summary["matched_items"]}
    assert {("quoted.txt", str(i)) for i in (1, 2, 3, 4)} <= matched  # txt ids = line numbers
    assert {("quoted.jsonl", f"q{i}") for i in range(4)} <= matched
    assert summary["eval_items_matched"] == len(matched)


def test_flag_keeps_documents_with_signals(pages, tmp_path):
    training = pages[:12]
    paths, _, _ = _eval_sets(pages, tmp_path)
    kept, removed, stats = _run(training, tmp_path, paths=paths, text_field="question", action="flag")
    assert removed == [] and len(kept) == 12
    flagged = [d for d in kept if "decontam_ngram_hits" in d.signals]
    assert len(flagged) == stats["decontamination"]["documents_contaminated"] >= 8
    assert all(d.signals["decontam_ngram_hits"] >= 1 and d.signals["decontam_items"] >= 1 for d in flagged)


def test_chinese_ngrams_are_characters(tmp_path):
    item = "中华人民共和国是一个位于东亚的国家首都是北京"
    (tmp_path / "zh.txt").write_text(item + "\n", encoding="utf-8")
    index = build_eval_index([str(tmp_path / "zh.txt")], 13)
    hits, items = index.matches("新闻：" + item[3:17] + "。其他内容")  # 14 shared characters
    assert hits == 2 and items == {0}
    assert index.matches("新闻：" + item[3:14] + "。")[0] == 0  # 11 characters: too few


def test_bad_inputs_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="--decontaminate"):
        build_eval_index([str(tmp_path / "missing.jsonl")])
    with pytest.raises(ValueError, match="--decontam_action"):
        Decontaminate([str(tmp_path / "x.txt")], action="delete")
    parser = argparse.ArgumentParser()
    parser.add_argument("--output")
    Decontaminate.add_arguments(parser)
    stage = Decontaminate.from_args(parser.parse_args(
        ["--decontaminate", "a.txt, b.jsonl", "--decontam_ngram", "8", "--output", "out"]))
    assert stage.paths == ["a.txt", "b.jsonl"] and stage.ngram == 8
    assert stage.report_path.endswith("decontamination.json")
    index = EvalIndex(3)
    index.add(EvalItem("f", "1", "See here, at all!"))
    assert isinstance(Decontaminator(index, "remove").process(Document(id="x", text="nothing to see here at all")), Drop)


def test_shared_ngram_belongs_to_the_first_item_and_index_grows_after_pickling():
    import pickle

    index = EvalIndex(3)
    index.add(EvalItem("a", "1", "the quick brown fox jumps"))
    index.add(EvalItem("a", "2", "a quick brown fox sleeps"))  # shares "quick brown fox"
    assert index.matches("so quick brown fox indeed") == (1, {0})
    assert index.matches("brown fox sleeps now") == (1, {1})
    clone = pickle.loads(pickle.dumps(index))
    clone.add(EvalItem("b", "3", "entirely different words here"))
    assert clone.matches("entirely different words") == (1, {2})
    assert clone.matches("the quick brown fox sleeps") == (3, {0, 1})
    assert clone.summary()["eval_ngrams"] == 3 + 2 + 2


def test_ngram_keys_of_a_batch_equal_each_text_alone():
    texts = ["one two three four", "zu kurz", "", "Ein Satz mit sechs Wörtern hier", "中文字符串测试"]
    keys, per_text = ngram_keys(texts, 3)
    assert per_text.tolist() == [2, 0, 0, 4, 5]
    alone = [ngram_keys([t], 3)[0] for t in texts]
    assert np.array_equal(keys, np.concatenate(alone))
    assert len(set(keys.tolist())) == keys.size  # no collision among distinct n-grams


def test_several_fields_make_one_item_so_boundary_ngrams_count(tmp_path):
    """question,answer: a training text quoting the end of a question and the start of its
    answer shares no 13-gram with either field alone, only with the two joined."""
    question = "In which year did the first crewed landing on the moon take place according to the records"
    answer = "it happened in the summer of the year nineteen sixty nine with two astronauts"
    rows = [{"id": "q1", "question": question, "answer": answer, "choices": ["one", "two"]},
            {"id": "q2", "question": "", "answer": None}]
    (tmp_path / "qa.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "qa.parquet")
    spanning = "blog post: landing on the moon take place according to the records it happened in the summer"
    for name in ("qa.jsonl", "qa.parquet"):
        path = str(tmp_path / name)
        assert build_eval_index([path], 13, text_field="question").matches(spanning)[0] == 0
        assert build_eval_index([path], 13, text_field="answer").matches(spanning)[0] == 0
        joined = build_eval_index([path], 13, text_field="question, answer")
        hits, items = joined.matches(spanning)
        assert hits > 0 and items == {0}
        assert joined.items == [(name, "q1")]  # the row with no text in its fields is skipped
    with pytest.raises(ValueError, match="'missing'"):
        build_eval_index([str(tmp_path / "qa.parquet")], 13, text_field="question,missing")
