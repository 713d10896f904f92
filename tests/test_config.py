"""The YAML filter config: defaults, merging a user file, validation messages, stage building."""
from __future__ import annotations

import pytest
import yaml

from pipelines.config import DEFAULT_CONFIG_PATH, ConfigError, build_filter_stages, load_config
from pipelines.stages.base import Document, Drop
from pipelines.stages.gopher import GopherQuality, GopherRepetition


def write(tmp_path, content: dict | str, name: str = "filters.yaml"):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content), encoding="utf-8")
    return str(path)


def build(config):
    return build_filter_stages(config)


def test_default_config_is_the_fineweb_recipe():
    config = load_config(None)
    assert config["order"] == ["lines", "gopher_repetition", "gopher_quality", "c4", "fineweb", "quality_classifier", "pii"]
    names = [s.name for s in build(config)]
    # Line cleanup first (on since issue #15, calibrated per language), then FineWeb's order.
    assert names[:5] == ["lines", "gopher_repetition", "gopher_quality", "c4", "fineweb"]
    # The YAML repeats every stage default, so the file documents them all and stays in sync.
    for stage in build(config)[:5]:
        assert {k: v for k, v in config[stage.name].items() if k != "enabled"} == stage.DEFAULTS
    assert config["c4"]["filter_no_terminal_punct"] is False


def test_user_file_overrides_only_what_it_sets(tmp_path):
    path = write(tmp_path, {
        "lines": {"enabled": True},
        "gopher_quality": {"min_doc_words": 80},
        "gopher_repetition": {"top_n_grams": {2: 0.25}},
        "order": ["gopher_quality", "lines", "gopher_repetition"],
        "languages": {"zh": {"gopher_quality": {"min_doc_words": 300}}},
    })
    config = load_config(path)
    assert config["gopher_quality"]["min_doc_words"] == 80
    assert config["gopher_quality"]["max_doc_words"] == 100_000  # kept from the defaults
    assert config["gopher_repetition"]["top_n_grams"] == {2: 0.25}  # maps replace, not merge
    stages = build(config)
    assert [s.name for s in stages] == ["gopher_quality", "lines", "gopher_repetition"]
    quality = stages[0]
    assert isinstance(quality, GopherQuality)
    assert quality.settings(Document(id="a", language="en"))[1]["min_doc_words"] == 80
    assert quality.settings(Document(id="b", language="zh"))[1]["min_doc_words"] == 300
    assert isinstance(stages[2], GopherRepetition)


def test_per_language_override_changes_verdicts(tmp_path, test_data):
    article = (test_data / "quality_en_article.txt").read_text(encoding="utf-8")
    path = write(tmp_path, {"languages": {"en": {"gopher_quality": {"min_doc_words": 5000}}}})
    stages = {s.name: s for s in build(load_config(path))}
    result = stages["gopher_quality"].process(Document(id="x", text=article, language="en"))
    assert isinstance(result, Drop) and result.reason == "gopher_short_doc"
    result = stages["gopher_quality"].process(Document(id="y", text=article, language="hu"))
    assert not isinstance(result, Drop)


def test_disabling_a_rule_with_null(tmp_path):
    path = write(tmp_path, "gopher_quality:\n  min_doc_words: null\n")
    stage = {s.name: s for s in build(load_config(path))}["gopher_quality"]
    short = Document(id="s", text="The cat and the dog of the house with the hat sat.", language="en")
    assert not isinstance(stage.process(short), Drop)


@pytest.mark.parametrize("stage,key", [("lines", "nav_max_words"), ("lines", "min_uppercase_letters"),
                                       ("lines", "max_uppercase_frac"), ("fineweb", "short_line_length")])
def test_null_is_refused_where_it_cannot_switch_a_rule_off(tmp_path, stage, key):
    """These numbers say how a rule measures; a null used to pass the check and then crash
    the stage on every document."""
    with pytest.raises(ConfigError, match=rf"{stage}\.{key}: expected a non-negative number .* got null"):
        load_config(write(tmp_path, {stage: {key: None}}))


@pytest.mark.parametrize("content,expected", [
    ({"gopher_quality": {"min_doc_wrds": 3}}, r"gopher_quality\.min_doc_wrds: unknown parameter"),
    ({"gopher_qualty": {}}, r"unknown top-level key 'gopher_qualty'"),
    ({"c4": {"filter_javascript": "yes"}}, r"c4\.filter_javascript: expected true or false"),
    ({"fineweb": {"short_line_thr": "high"}}, r"fineweb\.short_line_thr: expected a non-negative number"),
    ({"gopher_repetition": {"top_n_grams": [2, 0.2]}}, r"gopher_repetition\.top_n_grams: expected a mapping"),
    ({"lines": {"enabled": 1}}, r"lines\.enabled: expected true or false"),
    ({"order": ["gopher_quality", "quality"]}, r"order: unknown stage 'quality'"),
    ({"languages": {"zh": {"gopher_quality": {"min_words": 1}}}}, r"languages\.zh\.gopher_quality\.min_words"),
    ({"languages": {"zh": {"pii": {"kinds": None}}}}, r"languages\.zh\.pii: unknown or not per-language"),
    ({"gopher_quality": {"stop_words": "the and"}}, r"gopher_quality\.stop_words: expected a list of strings"),
])
def test_bad_config_names_file_and_key(tmp_path, content, expected):
    path = write(tmp_path, content)
    with pytest.raises(ConfigError, match=expected) as info:
        load_config(path)
    assert path in str(info.value)


def test_missing_or_broken_file_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="config file not found.*no path for the defaults"):
        load_config(str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "gopher_quality: [unclosed\n"))
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(write(tmp_path, "- a list\n"))
    assert load_config(write(tmp_path, "")) == load_config(None)  # empty file: the defaults


def test_pii_stage_is_last_and_can_be_switched_off():
    config = load_config(None)
    assert build_filter_stages(config)[-1].name == "pii"
    config["pii"]["enabled"] = False
    assert "pii" not in [s.name for s in build(config)]


def test_default_config_file_is_packaged_next_to_the_code():
    assert DEFAULT_CONFIG_PATH.is_file()
    assert DEFAULT_CONFIG_PATH.parent.name == "resources"


def test_built_stages_pickle_for_beam_workers(test_data):
    import pickle

    config = load_config(None)
    config["lines"]["enabled"] = True
    config["pii"]["enabled"] = False
    stages = build(config)
    text = (test_data / "quality_zh_news.txt").read_text(encoding="utf-8")
    for stage in stages:
        stage.process(Document(id="warm", text=text, language="zh"))  # fills the per-language cache
        clone = pickle.loads(pickle.dumps(stage))
        a = stage.process(Document(id="a", text=text, language="zh"))
        b = clone.process(Document(id="a", text=text, language="zh"))
        assert type(a) is type(b) and a.signals == b.signals


def test_pii_section_passes_placeholders_and_phone_regions(tmp_path):
    from pipelines.config import ConfigError, build_filter_stages, load_config
    from pipelines.stages.base import Document

    path = tmp_path / "pii.yaml"
    path.write_text('pii: {placeholders: {email: "[EMAIL]"}, phone_regions: [DE]}\n')
    pii = [s for s in build_filter_stages(load_config(str(path))) if s.name == "pii"][0]
    out = pii.process(Document(id="x", text="Mail an max.mustermann@example.de bitte.", language="de"))
    assert "[EMAIL]" in out.text and "example.de" not in out.text
    assert pii.phone_regions == ("DE",)  # not the defaults (which also contain DE)
    path.write_text("pii: {phone_regions: DE}\n")
    with pytest.raises(ConfigError, match="pii.phone_regions"):
        load_config(str(path))
