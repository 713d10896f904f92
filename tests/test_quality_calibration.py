"""The labelled quality set (bench/quality_labels.jsonl) and the calibration's own machinery
(bench/calibrate_languages.py, bench/calibrate_cv.py): splits, folds, how a limit is widened."""
from __future__ import annotations

import collections
import math
import pathlib
import sys

import pytest

from pipelines.stages.c4 import C4Quality
from pipelines.stages.fineweb import FineWebQuality
from pipelines.stages.gopher import GopherQuality, GopherRepetition

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "bench"))
import calibrate_cv  # noqa: E402
import calibrate_languages  # noqa: E402
import quality_labelled  # noqa: E402


@pytest.fixture(scope="module")
def labels():
    return quality_labelled.load_labels()


def test_labelled_set_is_whole_and_its_splits_are_disjoint(labels):
    ids = [r["id"] for r in labels]
    assert len(ids) == len(set(ids)) >= 300
    assert {r["label"] for r in labels} == {"keep", "drop"}
    splits = collections.Counter(r["split"] for r in labels)
    assert set(splits) == {"dev", "test", "holdout", "holdout2", "holdout3"}
    # The held-aside third: test is a third of the pages labelled together with dev.
    assert abs(splits["test"] / (splits["dev"] + splits["test"]) - 1 / 3) < 0.02
    languages = collections.Counter(r["language"] for r in labels if r["split"] in ("dev", "test"))
    assert min(languages["en"], languages["de"], languages["zh"]) >= 70
    for r in labels:
        assert "http" in r["url"] and r["note"].strip() and r["kind"], r  # one real URL is "xhttps://…"


def test_calibration_never_reads_the_final_held_out_splits(labels):
    rows = calibrate_languages.calibration_rows()
    assert rows and {r["split"] for r in rows} == {"dev", "holdout", "holdout2"}
    assert len(rows) == sum(r["split"] in ("dev", "holdout", "holdout2") for r in labels)
    assert not {r["id"] for r in rows} & {r["id"] for r in labels if r["split"] in ("test", "holdout3")}


def test_cross_validation_folds_are_stratified_disjoint_and_stable():
    rows = [r for r in calibrate_languages.calibration_rows() if r["language"] != "ja"]
    folds = calibrate_cv.folds(rows, 5)
    flat = [r["id"] for fold in folds for r in fold]
    assert sorted(flat) == sorted(r["id"] for r in rows)  # every page in exactly one fold
    assert [{r["id"] for r in f} for f in calibrate_cv.folds(list(reversed(rows)), 5)] == \
        [{r["id"] for r in f} for f in folds]  # independent of input order
    strata = collections.Counter((quality_labelled.group_of(r["language"]), r["label"]) for r in rows)
    for fold in folds:
        counts = collections.Counter((quality_labelled.group_of(r["language"]), r["label"]) for r in fold)
        for stratum, n in strata.items():
            assert abs(counts[stratum] - n / 5) < 1, (stratum, counts[stratum], n)


def _rule(stage, signal):
    return next(r for r in stage.RULES if r.signal == signal)


def test_widened_limits_are_written_as_what_they_do():
    words = _rule(GopherQuality, "gopher_words")  # a count, minimum
    assert calibrate_languages.widen(33, words, 0.1) == 30.0  # 29.7 words means 30
    sentences = _rule(C4Quality, "c4_sentences")
    assert calibrate_languages.widen(5, sentences, 0.1) == 5.0  # 4.5 sentences means 5: no change
    dup_lines = _rule(GopherRepetition, "gopher_dup_line_frac")  # a share, maximum
    assert calibrate_languages.widen(0.36, dup_lines, 0.1) == 0.4  # 0.396, rounded outward
    assert calibrate_languages.widen(1.0, _rule(GopherQuality, "gopher_bullet_lines_ratio"), 0.1) == 1.0
    alpha = _rule(GopherQuality, "gopher_alpha_words_ratio")  # a share, minimum
    assert calibrate_languages.widen(0.61, alpha, 0.1) == 0.54  # 0.549 rounded down
    punct = _rule(FineWebQuality, "fineweb_line_punct_ratio")
    assert calibrate_languages.widen(0.12, punct, 0.0) == 0.12  # no margin: the value itself
    assert all(math.isfinite(calibrate_languages.widen(v, dup_lines, 0.1)) for v in (0.0, 0.5, 2.0))


def test_a_bad_cross_validation_setting_is_one_line():
    with pytest.raises(SystemExit, match="not one of"):
        calibrate_cv.parse_setting("x:tail_margn=0.5")
    with pytest.raises(SystemExit, match="must be a number"):
        calibrate_cv.parse_setting("x:tail_margin=wide")
    assert calibrate_cv.parse_setting("wide:tail_margin=0.5,recall_target=1") == \
        ("wide", {"tail_margin": 0.5, "recall_target": 1.0})


def test_cross_validation_chart_names_every_setting(tmp_path):
    scores = {"en": {"precision": 0.99, "recall": 0.9}, "all": {"precision": 0.98, "recall": None}}
    path = tmp_path / "cv.svg"
    calibrate_cv.plot({"final": {"scores": scores}, "no tail margin": {"scores": scores}}, str(path))
    svg = path.read_text()
    assert svg.startswith("<?xml") and "final" in svg and "no tail margin" in svg and "out-of-fold recall" in svg
