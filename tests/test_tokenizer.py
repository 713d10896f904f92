"""Tokenizer training on real extracted pages: settings, HF export, evaluation, sampling."""
from __future__ import annotations

import json
import pathlib
import re

import pytest
import sentencepiece as spm

from tests.shard_fixtures import cached_test_documents
from tokenizer_training import sample as S
from tokenizer_training.evaluate import evaluate_model, format_table, main as evaluate_main
from tokenizer_training.sentencepiece_trainer import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from tokenizer_training.train import main as train_main

SYMBOLS = ["<|im_start|>", "<|im_end|>"]


@pytest.fixture(scope="module")
def trained(shared_data, tmp_path_factory):
    docs = cached_test_documents(shared_data)
    out = tmp_path_factory.mktemp("tokenizer")
    rc = train_main(["--input", str(docs), "--output", str(out), "--vocab_size", "3000", "--num_threads", "1",
                     "--holdout_fraction", "0.2", "--baseline", "no_digit_split",
                     "--user_defined_symbols", ",".join(SYMBOLS)])
    assert rc == 0
    return docs, out


def _texts(docs_dir):
    from pipelines.io.documents import expand_document_inputs, iter_parquet_documents

    return [d for f in expand_document_inputs([str(docs_dir)]) for d in iter_parquet_documents(f)]


def test_outputs_and_fixed_special_ids(trained):
    _, out = trained
    for name in ("tokenizer.model", "tokenizer.vocab", "tokenizer.json", "evaluation.json", "sample.json"):
        assert (out / name).is_file(), name
    sp = spm.SentencePieceProcessor(model_file=str(out / "tokenizer.model"))
    assert sp.get_piece_size() == 3000
    assert (sp.pad_id(), sp.unk_id(), sp.bos_id(), sp.eos_id()) == (PAD_ID, UNK_ID, BOS_ID, EOS_ID) == (0, 1, 2, 3)
    assert [sp.id_to_piece(i) for i in range(4)] == ["<pad>", "<unk>", "<s>", "</s>"]
    assert [sp.id_to_piece(i) for i in (4, 5)] == SYMBOLS
    assert sp.is_byte(sp.piece_to_id("<0x0A>"))
    vocab_lines = (out / "tokenizer.vocab").read_text(encoding="utf-8").splitlines()
    assert len(vocab_lines) == 3000


def test_settings_digits_whitespace_symbols_and_exact_round_trip(trained):
    docs, out = trained
    sp = spm.SentencePieceProcessor(model_file=str(out / "tokenizer.model"))
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    assert not [p for i, p in enumerate(pieces) if re.search(r"\d\d", p) and not sp.is_byte(i)], "digits must be split into single tokens"
    assert any(set(p) == {"\u2581"} and len(p) > 1 for p in pieces), "whitespace-only pieces expected"
    text = "  indented\n\n\tcode:   x = 12345 ，全角标点。 <|im_start|>user<|im_end|> 😀"
    ids = sp.encode(text)
    assert sp.decode(ids) == text  # identity normalisation + byte fallback
    assert sp.piece_to_id("<|im_start|>") in ids and sp.piece_to_id("<|im_end|>") in ids
    assert [sp.id_to_piece(i) for i in sp.encode("12345")] == ["1", "2", "3", "4", "5"]
    assert sp.unk_id() not in sp.encode("\u0378 \U0001F9EA rare chars")  # byte fallback, never <unk>
    for doc in _texts(docs):
        assert sp.decode(sp.encode(doc.text)) == doc.text


def test_hugging_face_tokenizer_encodes_identically(trained):
    tokenizers = pytest.importorskip("tokenizers")
    docs, out = trained
    sp = spm.SentencePieceProcessor(model_file=str(out / "tokenizer.model"))
    hf = tokenizers.Tokenizer.from_file(str(out / "tokenizer.json"))
    texts = [d.text for d in _texts(docs)] + [
        " leading space", "trailing   ", "a<|im_start|>b <|im_end|> c", "数字123和空格  x", "\n\n\t", ""]
    for text in texts:
        ids = sp.encode(text)
        assert hf.encode(text, add_special_tokens=False).ids == ids, text[:80]
        assert hf.decode(ids, skip_special_tokens=False) == text
    assert hf.token_to_id("</s>") == EOS_ID and hf.token_to_id("<pad>") == PAD_ID


def test_evaluation_compares_with_baseline_per_language(trained):
    _, out = trained
    evaluation = json.loads((out / "evaluation.json").read_text())
    ours, base = evaluation["tokenizer"], evaluation["baseline"]
    assert ours["round_trip_exact"] and ours["documents"] > 0
    assert set(ours["languages"]) == set(base["languages"]) and ours["languages"]
    for lang, s in ours["languages"].items():
        assert s["tokens"] > 0 and 0 < s["tokens_per_char"] < 4
        assert s["tokens_per_char"] == pytest.approx(s["tokens"] / s["chars"])
    # Splitting digits costs tokens on numbers, never saves them.
    assert sum(s["tokens"] for s in ours["languages"].values()) >= sum(
        s["tokens"] for s in base["languages"].values()) * 0.9
    table = format_table(evaluation)
    assert "round trip exact: ours=True" in table
    for lang in ours["languages"]:
        assert f"| {lang} |" in table
    # The held-out documents really were not in the training sample.
    sampled = json.loads((out / "sample.json").read_text())
    assert sum(v["sampled_documents"] for v in sampled["languages"].values()) + ours["documents"] <= 40


def test_sample_is_seeded_order_independent_and_stratified(shared_data, tmp_path):
    docs = cached_test_documents(shared_data)
    files = sorted(str(p) for p in docs.glob("*.parquet"))
    a = S.sample_documents(files, max_bytes=60_000, seed=1, alpha=0.3, holdout_fraction=0.1, progress=False)
    b = S.sample_documents(list(reversed(files)), max_bytes=60_000, seed=1, alpha=0.3, holdout_fraction=0.1,
                           progress=False)
    c = S.sample_documents(files, max_bytes=60_000, seed=2, alpha=0.3, holdout_fraction=0.1, progress=False)
    ids = lambda s: sorted(d.id for d in s.train)  # noqa: E731
    assert ids(a) == ids(b), "file order must not change the sample"
    assert ids(a) != ids(c), "another seed gives another sample"
    assert not set(ids(a)) & {d.id for d in a.heldout}
    total = sum(len(d.text.encode()) for d in a.train)
    assert total <= 60_000 + max(len(d.text.encode()) for d in a.train)
    # alpha < 1 flattens the language mix: the largest language's share shrinks.
    natural = S.sample_documents(files, max_bytes=60_000, seed=1, alpha=1.0, holdout_fraction=0.1, progress=False)
    share = lambda s, lang: sum(len(d.text) for d in s.train if d.language == lang) / sum(  # noqa: E731
        len(d.text) for d in s.train)
    top = max(a.stats["languages"], key=lambda l: a.stats["languages"][l]["seen_bytes"])
    assert share(a, top) < share(natural, top)


def test_budget_allocation_water_fills():
    budget = S.allocate_budget({"de": 1000, "zh": 5, "en": 1000}, {"de": 1000, "zh": 1000, "en": 1000}, 900, 1.0)
    assert budget["zh"] == 5  # capped by what its reservoir holds; the rest goes to the others
    assert abs(budget["de"] - budget["en"]) <= 1 and budget["de"] > 300
    assert 895 <= sum(budget.values()) <= 900
    skewed = S.allocate_budget({"de": 10**6, "en": 10**6}, {"de": 8000, "en": 1000}, 1000, 0.3)
    assert skewed["de"] > skewed["en"] > 1000 * 1000 / 9000  # alpha < 1 lifts the small one


def test_training_lines_never_cut_inside_a_character():
    doc = S.SampledDocument("x", "zh", "汉字" * 50 + "\n\n" + "short line", 0.0)
    lines = list(S.training_lines([doc], max_line_bytes=16))
    assert "".join(lines[:-1]) == "汉字" * 50 and lines[-1] == "short line"
    assert all(len(line.encode()) <= 16 and "\ufffd" not in line for line in lines)


def test_evaluate_model_reports_round_trip_failures_as_data(trained):
    _, out = trained
    docs = [S.SampledDocument("d1", "en", "Hello world 2024!", 0.0)]
    result = evaluate_model(str(out / "tokenizer.model"), docs)
    assert result["round_trip_exact"] and result["languages"]["en"]["chars"] == 17
    # Byte-fallback and <unk> counts: rare characters become byte pieces, counted per token.
    rare = "\u0378 \U0001F9EA rare"
    sp = spm.SentencePieceProcessor(model_file=str(out / "tokenizer.model"))
    expected_bytes = sum(sp.is_byte(i) for i in sp.encode(rare))
    assert expected_bytes >= 4  # U+1F9EA alone is 4 UTF-8 bytes
    stats = evaluate_model(str(out / "tokenizer.model"), [S.SampledDocument("d2", "xx", rare, 0.0)])
    assert stats["languages"]["xx"]["byte_tokens"] == expected_bytes
    assert stats["languages"]["xx"]["unk_tokens"] == 0


def test_bad_input_is_an_error_message_not_a_crash(tmp_path, capsys):
    rc = train_main(["--input", str(tmp_path / "missing"), "--output", str(tmp_path / "o"), "--vocab_size", "500"])
    assert rc == 2 and "pipelines.clean" in capsys.readouterr().err
    assert train_main(["--input", str(tmp_path), "--output", str(tmp_path / "o"), "--vocab_size", "10"]) == 2


@pytest.mark.slow  # clean_output: the clean job over every shared WARC
def test_tokenizer_on_the_clean_output_of_all_shared_warcs(clean_output, tmp_path):
    """The tokenizer the docs report: trained on the clean job's documents, evaluated on
    held-out clean documents and on the documents the clean job removed (never sampled),
    which is where most of the shared corpus's Chinese and Japanese text ends up."""
    out = tmp_path / "tok"
    rc = train_main(["--input", str(clean_output / "documents"), "--output", str(out), "--vocab_size", "2000",
                     "--sample_mb", "1", "--holdout_fraction", "0.05", "--num_threads", "2",
                     "--baseline", "no_digit_split"])
    assert rc == 0
    evaluation = json.loads((out / "evaluation.json").read_text())
    ours = evaluation["tokenizer"]
    assert ours["round_trip_exact"] and {"de", "en"} <= set(ours["languages"])
    # German is the bulk of the shared corpus: it must compress best among the big ones.
    assert ours["languages"]["de"]["tokens_per_char"] < 0.5
    removed = S.sample_documents([str(clean_output / "removed")], max_bytes=1, holdout_fraction=1.0,
                                 heldout_max_bytes=100_000, progress=False)
    on_removed = evaluate_model(str(out / "tokenizer.model"), removed.heldout)
    assert on_removed["round_trip_exact"]
    assert {"zh", "de", "en"} <= set(on_removed["languages"])
    for lang in ("zh", "de", "en"):
        assert on_removed["languages"][lang]["unk_tokens"] == 0  # byte fallback, never <unk>


def test_too_small_vocabulary_for_the_characters_is_a_hint(shared_data, tmp_path, capsys):
    docs = cached_test_documents(shared_data)  # holds Chinese pages: ~2,000 distinct characters
    rc = train_main(["--input", str(docs), "--output", str(tmp_path), "--vocab_size", "400", "--no_eval",
                     "--num_threads", "1"])
    assert rc == 2 and "raise --vocab_size or lower --character_coverage" in capsys.readouterr().err


def test_evaluate_cli_on_documents(trained, tmp_path, capsys):
    docs, out = trained
    result_path = tmp_path / "eval.json"
    rc = evaluate_main(["--tokenizer", str(out / "tokenizer.model"), "--input", str(docs),
                        "--holdout_fraction", "1.0", "--output", str(result_path)])
    assert rc == 0
    result = json.loads(result_path.read_text())
    assert result["tokenizer"]["round_trip_exact"] and result["tokenizer"]["documents"] == 40
    assert "| de |" in capsys.readouterr().out
    assert evaluate_main(["--tokenizer", str(tmp_path / "missing.model"), "--input", str(docs)]) == 2


def test_remote_output_is_trained_locally_then_copied(trained, tmp_path, monkeypatch):
    """--output gs://... or s3://...: SentencePiece writes local files, so the folder is
    trained in a temporary place and copied through Beam's filesystem layer (here a fake
    'mem://' filesystem backed by tmp_path)."""
    from apache_beam.io.filesystems import FileSystems

    from tokenizer_training.train import train_tokenizer

    bucket = tmp_path / "bucket"

    def local(path):
        assert path.startswith("mem://"), path
        return bucket / path[len("mem://"):]

    def create(path, *args, **kwargs):
        local(path).parent.mkdir(parents=True, exist_ok=True)
        return open(local(path), "wb")

    monkeypatch.setattr(FileSystems, "create", staticmethod(create))
    monkeypatch.setattr(FileSystems, "join", staticmethod(lambda base, *parts: "/".join([base.rstrip("/"), *parts])))
    docs, local_out = trained
    summary = train_tokenizer([str(docs)], "mem://tok", 3000, num_threads=1, holdout_fraction=0.2, evaluate=False,
                              progress=False, user_defined_symbols=SYMBOLS)
    assert summary["model"] == "mem://tok/tokenizer.model"
    assert {p.name for p in (bucket / "tok").iterdir()} >= {"tokenizer.model", "tokenizer.vocab", "tokenizer.json",
                                                            "sample.json"}
    # Same data, same settings: the copied model has the locally trained one's vocabulary
    # (the files differ only in the training paths SentencePiece records).
    copied = spm.SentencePieceProcessor(model_file=str(bucket / "tok" / "tokenizer.model"))
    reference = spm.SentencePieceProcessor(model_file=str(local_out / "tokenizer.model"))
    assert copied.get_piece_size() == reference.get_piece_size() == 3000
    assert [copied.id_to_piece(i) for i in range(3000)] == [reference.id_to_piece(i) for i in range(3000)]
    assert not (tmp_path / "mem:").exists() and not pathlib.Path("mem:").exists()
