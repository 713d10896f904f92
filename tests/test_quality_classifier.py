"""The learned quality classifier: training CLI, model files (data only, checked on load),
GPT-3's Pareto rule, the clean-job stage (off by default; on through the config)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml

from conftest import read_documents, run_module
from pipelines.config import build_filter_stages, load_config
from pipelines.io.training_texts import read_texts
from pipelines.stages.base import Document, Drop
from pipelines.stages.quality_classifier import (
    SIGNAL, WEIGHTS_FILE, ModelError, QualityClassifier, load_model, pareto_keep_probability, pareto_keeps,
)

FIXTURES = "tests/data/quality_classifier"


@pytest.fixture(scope="module")
def fixture_model(tmp_path_factory):
    """A model trained through the CLI on the small fixtures (30 trusted vs 30 spam lines)."""
    out = tmp_path_factory.mktemp("qc") / "model"
    proc = run_module("pipelines.quality_classifier", "train", "--positive", f"{FIXTURES}/positive.txt",
                      "--negative", f"{FIXTURES}/negative.jsonl", "--output", out, "--held_out", "0.3",
                      "--C", "16", timeout=300)
    return out, proc


# ---------------------------------------------------------------- Pareto rule

@pytest.mark.parametrize("score", [0.0, 0.3, 0.5, 0.8, 0.95, 1.0])
def test_pareto_keep_rate_matches_its_formula(score):
    # P(keep) = P(pareto(alpha) > 1 - s); NumPy's pareto is Lomax: P(X > x) = (1 + x)^-alpha.
    alpha, n = 9.0, 8000
    expected = (2.0 - score) ** -alpha
    assert math.isclose(float(pareto_keep_probability(score, alpha)), expected)
    kept = sum(pareto_keeps(f"doc-{i}", score, alpha) for i in range(n))
    sigma = math.sqrt(expected * (1 - expected) / n)
    assert abs(kept / n - expected) <= 4 * sigma + 1e-12, (kept / n, expected)


def test_pareto_formula_is_numpys_lomax():
    # The formula against NumPy's own sampler (unseeded ids aside): the same tail.
    rng = np.random.default_rng(0)
    x = rng.pareto(9.0, 200_000)
    for s in (0.2, 0.6, 0.9):
        assert abs((x > 1 - s).mean() - pareto_keep_probability(s, 9.0)) < 0.003


def test_pareto_decisions_repeat_and_ignore_order():
    ids = [f"id-{i}" for i in range(300)]
    first = {i: pareto_keeps(i, 0.7, 9) for i in ids}
    again = {i: pareto_keeps(i, 0.7, 9) for i in reversed(ids)}
    assert first == again
    assert 0 < sum(first.values()) < len(ids)  # a real draw, not all-or-nothing


# ---------------------------------------------------------------- training and model files

def test_train_on_fixtures_reports_held_out_precision_recall(fixture_model):
    folder, proc = fixture_model
    assert "held out" in proc.stderr and "precision" in proc.stderr and "recall" in proc.stderr
    assert "bad_json_lines 2" in proc.stderr  # the fixture's two broken lines: counted, not fatal
    evaluation = json.loads((folder / "evaluation.json").read_text())
    meta = json.loads((folder / "model.json").read_text())
    assert meta["training"]["held_out"] == evaluation
    assert meta["training"]["positives"] == 30 and meta["training"]["negatives"] == 30
    assert evaluation["roc_auc"] >= 0.9
    assert evaluation["precision"] > evaluation["chance_precision"] and evaluation["recall"] >= 0.6
    model = load_model(folder)
    good, spam = model.scores(["The abbey was founded in the twelfth century on the bank of the river.",
                               "click here buy now cheap pills free shipping best price"])
    assert good > 0.5 > spam


def test_model_is_data_only(fixture_model):
    folder, _ = fixture_model
    assert sorted(p.name for p in folder.iterdir()) == ["evaluation.json", "model.json", WEIGHTS_FILE]
    with np.load(folder / WEIGHTS_FILE, allow_pickle=False) as z:
        assert sorted(z.files) == ["coef", "intercept"]
        assert z["coef"].dtype == np.float32 and z["coef"].shape == (2 ** 18,)
    json.loads((folder / "model.json").read_text())  # plain JSON
    assert (folder / WEIGHTS_FILE).read_bytes()[:2] == b"PK"  # a zip of .npy arrays, not a pickle


def _copy(folder, tmp_path):
    dst = tmp_path / "copy"
    dst.mkdir(parents=True)
    for p in folder.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


def test_tampered_or_mismatched_model_is_refused(fixture_model, tmp_path):
    folder, _ = fixture_model
    # Weights changed after training: the SHA-256 in model.json no longer matches.
    bad = _copy(folder, tmp_path / "a")
    with np.load(bad / WEIGHTS_FILE) as z:
        coef = z["coef"] * 2
    np.savez_compressed(bad / WEIGHTS_FILE, coef=coef, intercept=np.float64(0))
    with pytest.raises(ModelError, match="SHA-256"):
        load_model(bad)
    # A pickled object array with a matching hash is still refused (allow_pickle=False).
    import hashlib
    np.savez(bad / WEIGHTS_FILE, coef=np.array([object()] * 3, dtype=object), intercept=np.float64(0))
    meta = json.loads((bad / "model.json").read_text())
    meta["weights"]["sha256"] = hashlib.sha256((bad / WEIGHTS_FILE).read_bytes()).hexdigest()
    (bad / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="unreadable weights"):
        load_model(bad)
    # Settings that do not match the weights, or a hashing that changed.
    for n, (edit, message) in enumerate(((lambda m: m["features"].update(n_features=2 ** 10), "do not match"),
                          (lambda m: m["probe"].update(buckets=[1, 2, 3]), "hashes text differently"),
                          (lambda m: m.update(format="something else"), "not a"),
                          (lambda m: m["features"].update(tokenizer="my.module.func"), "unknown entry"))):
        other = _copy(folder, tmp_path / f"b{n}")
        meta = json.loads((other / "model.json").read_text())
        edit(meta)
        (other / "model.json").write_text(json.dumps(meta))
        with pytest.raises(ModelError, match=message):
            load_model(other)
    with pytest.raises(ModelError, match="no model.json"):
        load_model(tmp_path / "nowhere")


def test_train_flags_checked_before_work(tmp_path):
    proc = run_module("pipelines.quality_classifier", "train", "--positive", "no/such/file.txt",
                      "--negative", f"{FIXTURES}/negative.jsonl", "--output", tmp_path / "m", check=False)
    assert proc.returncode == 2 and "no input files at 'no/such/file.txt'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------- input readers

def test_wikitext_is_split_into_sections_and_unmarked(shared_data):
    texts, counts = read_texts([str(shared_data / "reference" / "wikitext-2" / "valid.txt")])
    assert counts["text_files_wikitext"] == 1
    assert len(texts) == 360  # 60 article leads + 301 sections, one of them empty
    joined = "\n".join(texts)
    assert "<unk>" not in joined and " @-@ " not in joined and " = = " not in joined
    assert texts[0].startswith("Homarus gammarus\nHomarus gammarus , known as the European lobster")


def test_folders_read_only_known_kinds(tmp_path):
    (tmp_path / "stats.json").write_text('{"records_read": 3}')
    (tmp_path / "docs.txt").write_text("one\n\ntwo\nthree\n")
    texts, counts = read_texts([str(tmp_path)])
    assert texts == ["one", "two", "three"] and counts["empty_documents"] == 1
    texts, _ = read_texts([str(tmp_path / "docs.txt")], text_split="blank")
    assert texts == ["one", "two\nthree"]


# ---------------------------------------------------------------- the stage and the clean job

def test_stage_is_off_by_default():
    config = load_config()
    assert config["quality_classifier"]["enabled"] is False and config["quality_classifier"]["model"] is None
    assert "quality_classifier" not in [s.name for s in build_filter_stages(config)]


def test_stage_threshold_and_pareto_modes(fixture_model):
    folder, _ = fixture_model
    spam = Document(id="s1", text="click here buy now cheap pills free shipping best price", language="en")
    good = Document(id="g1", text="The abbey was founded in the twelfth century on the bank of the river.",
                    language="en")
    stage = QualityClassifier(model=str(folder), threshold=0.5)
    dropped = stage.process(spam.copy())
    assert isinstance(dropped, Drop) and dropped.reason == "low_score"
    kept = stage.process(good.copy())
    assert isinstance(kept, Document) and kept.signals[SIGNAL] > 0.5
    # threshold null: score only; a per-language threshold overrides the stage's.
    assert isinstance(QualityClassifier(model=str(folder), threshold=None).process(spam.copy()), Document)
    strict_en = QualityClassifier(model=str(folder), languages={"en": {"threshold": 0.9999}})
    assert isinstance(strict_en.process(good.copy()), Drop)
    pareto = QualityClassifier(model=str(folder), mode="pareto", pareto_alpha=9)
    results = [pareto.process(spam.replace(id=f"s{i}", signals={})) for i in range(200)]
    score = load_model(folder).scores([spam.text])[0]
    kept_share = sum(isinstance(r, Document) for r in results) / 200
    assert all(r.reason == "pareto" for r in results if isinstance(r, Drop))
    assert abs(kept_share - pareto_keep_probability(score, 9)) <= 4 * math.sqrt(0.25 / 200)


def test_enabling_without_model_says_what_to_do(tmp_path, test_data):
    config = tmp_path / "on.yaml"
    config.write_text(yaml.safe_dump({"quality_classifier": {"enabled": True}}))
    proc = run_module("pipelines.clean", "--input", test_data / "sample.warc.gz", "--output", tmp_path / "out",
                      "--config", config, check=False, timeout=300)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "quality_classifier.model: PATH" in proc.stderr and "pipelines.quality_classifier train" in proc.stderr
    assert not (tmp_path / "out").exists()  # refused before any work


@pytest.mark.slow
def test_clean_job_with_stage_on_stores_scores_and_counts_drops(fixture_model, tmp_path, test_data):
    folder, _ = fixture_model
    config = tmp_path / "on.yaml"
    config.write_text(yaml.safe_dump({"quality_classifier": {"enabled": True, "model": str(folder),
                                                             "threshold": 0.5}}))
    out = tmp_path / "out"
    # Other quality stages skipped so every extracted page reaches the classifier.
    run_module("pipelines.clean", "--input", test_data / "sample.warc.gz", "--output", out, "--config", config,
               "--skip_stages", "lines,gopher_repetition,gopher_quality,c4,fineweb", "--keep_removed",
               "--no_report", timeout=600)
    kept = read_documents(out / "documents")
    removed = read_documents(out / "removed" / "quality_classifier")
    stats = json.loads((out / "stats.json").read_text())
    assert kept or removed
    assert all(dict(d["signals"])[SIGNAL] >= 0.5 for d in kept)
    assert all(dict(d["signals"])[SIGNAL] < 0.5 and d["drop_reason"] == "quality_classifier.low_score"
               for d in removed)
    assert stats["dropped"].get("quality_classifier.low_score", 0) == len(removed)


@pytest.mark.slow
def test_real_wikitext_vs_unfiltered_crawl(shared_data, tmp_path):
    """WikiText sections vs one shared WARC's pages through the clean job with the quality
    stages skipped: the held-out split must be far above chance."""
    crawl = tmp_path / "crawl"
    run_module("pipelines.clean", "--input", shared_data / "warc" / "real-pages-00000.warc.gz", "--output", crawl,
               "--skip_stages", "url_filter,lines,gopher_repetition,gopher_quality,c4,fineweb,pii", "--no_report",
               timeout=600)
    model = tmp_path / "model"
    run_module("pipelines.quality_classifier", "train", "--positive",
               shared_data / "reference" / "wikitext-2" / "valid.txt", "--negative", crawl, "--output", model,
               "--C", "64", timeout=600)  # a fixed C: the default's cross-validation costs 25 more fits
    evaluation = json.loads((model / "evaluation.json").read_text())
    assert evaluation["roc_auc"] >= 0.9
    assert evaluation["precision"] >= evaluation["chance_precision"] + 0.3
    assert evaluation["recall"] >= 0.7
