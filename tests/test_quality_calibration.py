"""The labelled quality set (bench/quality_labels.jsonl) and the calibration's own machinery
(bench/calibrate_languages.py, bench/calibrate_cv.py): splits, folds, how a limit is widened."""
from __future__ import annotations

import collections
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


def test_widened_shares_stay_shares():
    for signal in ("fineweb_short_line_ratio", "fineweb_char_dup_ratio", "gopher_dup_line_frac"):
        rule = next(r for stage in (FineWebQuality, GopherRepetition) for r in stage.RULES if r.signal == signal)
        assert calibrate_languages.widen(0.96, rule, 0.5) == 1.0, signal  # 1.44 of a page is no limit
    assert calibrate_languages.widen(0.4, _rule(FineWebQuality, "fineweb_new_line_ratio"), 0.5) == 0.6  # not a share


def test_row_limit_quantile_margin_drop_guard_and_cap():
    dup = _rule(FineWebQuality, "fineweb_char_dup_ratio")  # a maximum, FineWeb's 0.01
    good = [0.0] * 45 + [0.02, 0.03, 0.04, 0.05, 0.30]  # 50 good pages, one extreme
    # The 0.98 quantile of 50 pages is the 49th best (0.05), 10% further out: 0.06; the
    # worst page does not set it, so no cap.
    assert calibrate_languages.row_limit(good, [], 0.01, 0.98, dup, 0.1, 1.0) == 0.06
    # A drop page at 0.055 is let through by 0.06 but not by 0.05: the margin is not taken.
    assert calibrate_languages.row_limit(good, [0.055], 0.01, 0.98, dup, 0.1, 1.0) == 0.05
    # The worst page sets the limit (target 1): capped at the current value doubled.
    assert calibrate_languages.row_limit(good, [], 0.01, 1.0, dup, 0.1, 1.0) == 0.02
    assert calibrate_languages.row_limit(good, [], 0.01, 1.0, dup, 0.1, 100.0) == 0.33
    words = _rule(GopherQuality, "gopher_words")  # a minimum, a count
    assert calibrate_languages.row_limit([33.0] + [200.0] * 9, [], 50, 1.0, words, 0.1, 1.0) == 30.0


def test_a_bad_cross_validation_setting_is_one_line():
    with pytest.raises(ValueError, match="not one of"):
        calibrate_cv.parse_setting("x:tail_margn=0.5")
    with pytest.raises(ValueError, match="must be a number"):
        calibrate_cv.parse_setting("x:tail_margin=wide")
    with pytest.raises(ValueError, match="pool_spaced must be 0 or 1"):
        calibrate_cv.parse_setting("x:pool_spaced=nan")
    for bad in ("x:tail_margin=nan", "x:tail_margin=-1", "x:recall_target=2"):
        with pytest.raises(ValueError, match="must be a number in"):
            calibrate_cv.parse_setting(bad)
    for nameless in ("tail_margin=0.5", "bad", ":tail_margin=0.5"):
        with pytest.raises(ValueError, match="give NAME:"):
            calibrate_cv.parse_setting(nameless)
    assert calibrate_cv.parse_setting("final:") == ("final", {})
    assert calibrate_cv.parse_setting("wide:tail_margin=0.5,recall_target=1") == \
        ("wide", {"tail_margin": 0.5, "recall_target": 1.0})


def test_cross_validation_chart_names_every_setting(tmp_path):
    scores = {"en": {"precision": 0.99, "recall": 0.9}, "all": {"precision": 0.98, "recall": None}}
    path = tmp_path / "cv.svg"
    calibrate_cv.plot({"final": {"scores": scores}, "no tail margin": {"scores": scores}}, str(path))
    svg = path.read_text()
    assert svg.startswith("<?xml") and "final" in svg and "no tail margin" in svg and "out-of-fold recall" in svg
