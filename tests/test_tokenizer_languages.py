"""Language shares of the tokenizer sample (--language_weights) and per-language fertility.

Fast tests use a small synthetic multi-language documents folder (seeded random words:
the sampler only looks at ids, languages and byte sizes); the slow one trains on real
Chinese and German/English pages from ../shared/data.
"""
from __future__ import annotations

import json
import random

import pytest

from pipelines.io.documents import document_to_row, write_parquet_file
from pipelines.stages.base import Document
from tests.shard_fixtures import REAL_PAGES, extract_real_pages, finish_like_a_job
from tokenizer_training import sample as S
from tokenizer_training.evaluate import evaluate_model
from tokenizer_training.train import main as train_main

# Per language: (documents, words per document, vocabulary). Chinese "words" are 1-3 Han
# characters from a small set, so a small vocabulary still covers every character.
HAN = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处理府研"
LANGUAGES = {"de": (60, 200, "und der die das ist nicht ein eine mit von auf für sich dem den zu".split()),
             "en": (30, 200, "the of and to in is that it for on with as was by at be this".split()),
             "fr": (10, 200, "le la les de des et un une est pas que qui dans pour sur au".split()),
             "zh": (20, 100, None)}


def _text(rng: random.Random, lang: str) -> str:
    _, n_words, vocab = LANGUAGES[lang]
    if vocab is None:  # Chinese: no spaces, short "words" of Han characters, lines of ~40 characters
        body = "".join("".join(rng.choice(HAN) for _ in range(rng.randint(1, 3))) for _ in range(n_words))
        return "\n".join(body[i:i + 40] + "。" for i in range(0, len(body), 40))
    return "\n".join(" ".join(rng.choice(vocab) for _ in range(20)) + "." for _ in range(n_words // 20))


@pytest.fixture(scope="module")
def multilingual_docs(tmp_path_factory):
    """A documents folder (two Parquet files, finished like a job): de 60 KB, en 27 KB,
    zh 12 KB (~11% of the bytes), fr 9 KB."""
    rng = random.Random(15)
    rows = [document_to_row(Document(id=f"{lang}-{i:03d}", text=_text(rng, lang), language=lang))
            for lang, (n, _, _) in LANGUAGES.items() for i in range(n)]
    out = tmp_path_factory.mktemp("multilingual")
    rng.shuffle(rows)
    write_parquet_file(str(out / "part-00000-of-00002.parquet"), rows[::2])
    write_parquet_file(str(out / "part-00001-of-00002.parquet"), rows[1::2])
    finish_like_a_job(out, "documents", {"documents": len(rows)})
    return out


def _bytes(sample: S.Sample) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in sample.train:
        out[d.language] = out.get(d.language, 0) + len(d.text.encode())
    return out


def test_weights_set_the_named_share_and_the_rest_follow_alpha(multilingual_docs):
    budget = 16_000
    sample = S.sample_documents([str(multilingual_docs)], max_bytes=budget, alpha=1.0, holdout_fraction=0.0,
                                language_weights={"zh": 0.5}, progress=False)
    got = _bytes(sample)
    largest_zh_doc = max(len(d.text.encode()) for d in sample.train if d.language == "zh")
    assert budget * 0.5 - largest_zh_doc <= got["zh"] <= budget * 0.5
    # Not named: de, en, fr share the other half in proportion to what was seen (alpha 1).
    seen = {lang: v["seen_bytes"] for lang, v in sample.stats["languages"].items()}
    rest = sum(seen[lang] for lang in ("de", "en", "fr"))
    for lang in ("de", "en", "fr"):
        expected = budget * 0.5 * seen[lang] / rest
        assert abs(got[lang] - expected) <= 1500, (lang, got[lang], expected)  # within about one document
    assert sample.stats["language_weights"] == {"zh": 0.5}
    assert sample.stats["languages"]["zh"]["share"] == pytest.approx(got["zh"] / sum(got.values()), abs=1e-4)
    # The natural mix of the same budget has much less Chinese.
    natural = S.sample_documents([str(multilingual_docs)], max_bytes=budget, alpha=1.0, holdout_fraction=0.0,
                                 progress=False)
    assert _bytes(natural)["zh"] < got["zh"] / 2


def test_share_zero_leaves_a_language_out_and_unfillable_shares_go_to_the_others(multilingual_docs):
    docs = [str(multilingual_docs)]
    sample = S.sample_documents(docs, max_bytes=40_000, alpha=1.0, holdout_fraction=0.0,
                                language_weights={"fr": 0.0, "en": 0.25}, progress=False)
    got = _bytes(sample)
    assert "fr" not in got and sample.stats["languages"]["fr"]["sampled_documents"] == 0
    assert 40_000 * 0.25 - 1500 <= got["en"] <= 40_000 * 0.25
    # zh asks for 90% of a budget larger than all its text: it takes all it has, the rest
    # is filled by the other languages (the budget is still used).
    zh_total = sum(len(r.text.encode()) for r in S.sample_documents(
        docs, max_bytes=1 << 30, alpha=1.0, holdout_fraction=0.0, progress=False).train if r.language == "zh")
    big = S.sample_documents(docs, max_bytes=2 * zh_total, alpha=1.0, holdout_fraction=0.0,
                             language_weights={"zh": 0.9}, progress=False)
    taken = _bytes(big)
    assert taken["zh"] == zh_total
    assert sum(taken.values()) >= 2 * zh_total - 1500


def test_allocate_budget_with_weights():
    available = {"de": 10_000, "en": 10_000, "zh": 10_000, "fr": 10_000}
    seen = {"de": 8000, "en": 4000, "zh": 2000, "fr": 2000}
    assert S.allocate_budget(available, seen, 8000, 1.0) == S.allocate_budget(available, seen, 8000, 1.0, None)
    b = S.allocate_budget(available, seen, 8000, 1.0, {"zh": 0.5, "fr": 0.0})
    assert b["zh"] == 4000 and b["fr"] == 0
    assert b["de"] == pytest.approx(2 * b["en"], abs=2) and sum(b.values()) == pytest.approx(8000, abs=2)
    # Shares summing to 1: languages not named get only what the named ones cannot fill.
    small = {"de": 10_000, "en": 10_000, "zh": 1000}
    b = S.allocate_budget(small, {"de": 1, "en": 1, "zh": 1}, 8000, 1.0, {"zh": 0.5, "de": 0.5})
    assert b == {"de": 4000, "zh": 1000, "en": 3000}
    # Nothing else left to sample: a named language exceeds its share rather than waste budget.
    b = S.allocate_budget({"de": 10_000, "zh": 1000}, {"de": 1, "zh": 1}, 8000, 1.0, {"de": 0.5})
    assert b == {"de": 7000, "zh": 1000}


@pytest.mark.parametrize("spec, says", [
    ("zh", "is not LANG=SHARE"),
    ("zh=abc", "is not a number"),
    ("zh=-0.1", "shares are fractions"),
    ("zh=nan", "shares are fractions"),
    ("zh=0.6,en=0.5", "sum to 1.1 > 1"),
    ("zh=0.1,zh=0.2", "named twice"),
    ("=0.3", "is not LANG=SHARE"),
    (",", "no shares"),
])
def test_bad_language_weights_are_one_line_before_any_work(spec, says, tmp_path, capsys):
    out = tmp_path / "never"
    rc = train_main(["--input", str(tmp_path / "missing"), "--output", str(out), "--vocab_size", "500",
                     "--language_weights", spec])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and says in err and len(err.splitlines()) == 1 and err.startswith("error: --language_weights")
    assert not out.exists()  # rejected before the input was even looked at


def test_train_records_weights_and_evaluation_reports_per_language_fertility(multilingual_docs, tmp_path):
    out = tmp_path / "tok"
    rc = train_main(["--input", str(multilingual_docs), "--output", str(out), "--vocab_size", "700",
                     "--sample_mb", "0.02", "--alpha", "1", "--language_weights", "zh=0.4,en=0.2",
                     "--holdout_fraction", "0.2", "--num_threads", "1", "--baseline", "no_digit_split"])
    assert rc == 0
    sample = json.loads((out / "sample.json").read_text())
    assert sample["language_weights"] == {"zh": 0.4, "en": 0.2}
    assert sample["languages"]["zh"]["share"] == pytest.approx(0.4, abs=0.03)
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert evaluation["evaluated_on"] == "heldout"
    for who in ("tokenizer", "baseline"):
        languages = evaluation[who]["languages"]
        assert set(languages) == set(LANGUAGES)
        for s in languages.values():
            assert s["tokens_per_char"] == pytest.approx(s["tokens"] / s["chars"])
            assert s["tokens_per_byte"] == pytest.approx(s["tokens"] / s["bytes"])
        # Per byte and per character differ exactly where a script is wider than one byte.
        assert languages["en"]["bytes"] == languages["en"]["chars"]
        assert languages["zh"]["tokens_per_byte"] < languages["zh"]["tokens_per_char"] / 2.5


@pytest.mark.slow  # extracts ~240 real pages and trains two tokenizers
def test_a_chinese_share_lowers_chinese_tokens_per_character_on_real_pages(shared_data, tmp_path):
    """Real Chinese news pages beside real German/English ones: with the same budget and
    the same held-out documents, zh at ~1/3 of the sample spends fewer tokens per held-out
    Chinese character than the natural mix (where zh is a few percent) and keeps round trip."""
    if not (shared_data / "zh").is_dir():
        pytest.skip(f"no Chinese pages at {shared_data / 'zh'}")
    docs = tmp_path / "docs"
    docs.mkdir()
    # 20 Chinese pages beside 221 mostly German/English ones: zh is ~10% of the natural mix.
    rows = extract_real_pages(shared_data, 20, files=("zh/zh-news-00000.warc.gz",))
    rows += extract_real_pages(shared_data, 221, files=(REAL_PAGES,))
    write_parquet_file(str(docs / "part-00000-of-00001.parquet"), rows)
    finish_like_a_job(docs, "documents", {"documents": len(rows)})
    zh_bytes = sum(len(r["text"].encode()) for r in rows if r["language"] == "zh")
    results = {}
    for name, extra in (("natural", []), ("zh_share", ["--language_weights", "zh=0.33"])):
        out = tmp_path / name
        assert train_main(["--input", str(docs), "--output", str(out), "--vocab_size", "8000", "--alpha", "1",
                           "--sample_mb", str(1.5 * zh_bytes / (1024 * 1024)), "--holdout_fraction", "0.3",
                           "--num_threads", "1", "--no_eval", *extra]) == 0
        results[name] = json.loads((out / "sample.json").read_text())
    heldout = S.sample_documents([str(docs)], max_bytes=1, holdout_fraction=0.3, progress=False).heldout
    assert sum(d.language == "zh" for d in heldout) >= 5
    assert results["zh_share"]["languages"]["zh"]["share"] > 2 * results["natural"]["languages"]["zh"]["share"]
    fertility = {name: evaluate_model(str(tmp_path / name / "tokenizer.model"), heldout) for name in results}
    assert all(f["round_trip_exact"] for f in fertility.values())
    zh = {name: f["languages"]["zh"]["tokens_per_char"] for name, f in fertility.items()}
    assert zh["zh_share"] < zh["natural"], zh
