"""The filter configuration: one YAML file describes every quality/PII stage.

``load_config(path)`` reads ``pipelines/resources/default_config.yaml`` and merges the
user's file over it (a user file holds only what it changes), then validates keys and
types so a typo fails at start-up with the file and key named, not hours into a job.
``build_filter_stages(config)`` returns the enabled stages in the configured order;
the clean job runs them after language id.
"""
from __future__ import annotations

import copy
import pathlib
from typing import Any, Optional

import yaml

from pipelines.stages.base import Stage
from pipelines.stages.c4 import C4Quality
from pipelines.stages.fineweb import FineWebQuality
from pipelines.stages.gopher import GopherQuality, GopherRepetition
from pipelines.stages.lines import LineCleanup
from pipelines.stages.pii import PiiScrubber
from pipelines.stages.quality_classifier import MODES, TRAIN_HINT, QualityClassifier


DEFAULT_CONFIG_PATH = pathlib.Path(__file__).parent / "resources" / "default_config.yaml"

# Stage name -> class; "pii" is imported lazily (another module, optional at build time).
STAGE_CLASSES: dict[str, type] = {cls.name: cls for cls in (LineCleanup, GopherRepetition, GopherQuality,
                                                             C4Quality, FineWebQuality, QualityClassifier)}
PII_PARAMS: dict[str, Any] = {"kinds": None, "placeholders": None, "phone_regions": None}
STAGE_NAMES = tuple(STAGE_CLASSES) + ("pii",)


class ConfigError(ValueError):
    """A config file with a wrong key or value; the message names the file and the key."""


def _defaults_of(stage: str) -> dict[str, Any]:
    return PII_PARAMS if stage == "pii" else STAGE_CLASSES[stage].DEFAULTS


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        # n-gram maps replace as a whole: merging {2: .2} into {2:.., 3:.., 4:..} would
        # make it impossible to switch an n off.
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in ("top_n_grams", "dup_n_grams"):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# Parameters that take a list of strings (or null), with what the error message asks for.
_STRING_LIST_KEYS = {
    "stop_words": "a list of strings or null",
    "kinds": "a list of PII kinds or null",
    "phone_regions": "a list of region codes (e.g. [US, DE]) or null",
}


# Numbers that are settings of a rule, not thresholds: null cannot mean "rule off" there.
_NOT_NULL_KEYS = {"nav_max_words", "min_uppercase_letters", "max_uppercase_frac", "short_line_length",
                  "pareto_alpha"}


def _check_value(where: str, key: str, value: Any, default: Any) -> None:
    """The value must have the default's kind; a numeric threshold may be null (rule off)."""
    if key == "model":  # quality_classifier: a model folder
        if not (value is None or (isinstance(value, str) and value)):
            raise ConfigError(f"{where}.{key}: expected the path of a model folder or null, got {value!r}")
        return
    if key == "mode":
        if value not in MODES:
            raise ConfigError(f"{where}.{key}: expected one of {list(MODES)}, got {value!r}")
        return
    if value is None and key in _NOT_NULL_KEYS:
        raise ConfigError(f"{where}.{key}: expected a non-negative number (it sets how a rule measures; "
                          "null cannot switch it off), got null")
    if key in _STRING_LIST_KEYS:
        ok = value is None or (isinstance(value, list) and all(isinstance(w, str) for w in value))
        expected = _STRING_LIST_KEYS[key]
    elif key == "placeholders":
        ok = value is None or (isinstance(value, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()))
        expected = "a mapping {kind: placeholder text} or null"
    elif isinstance(default, bool):
        ok, expected = isinstance(value, bool), "true or false"
    elif isinstance(default, dict):
        ok = value is None or (isinstance(value, dict) and all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 and _is_number(f) for n, f in value.items()))
        expected = "a mapping {n: fraction} with integer n > 0, or null"
    else:
        ok = value is None or (_is_number(value) and value >= 0)
        expected = "a non-negative number or null"
    if not ok:
        raise ConfigError(f"{where}.{key}: expected {expected}, got {value!r}")


def validate_config(config: Any, source: str = "<config>") -> dict[str, Any]:
    """Raise ConfigError naming the file and key of the first problem; return the config."""
    if not isinstance(config, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of stage names, 'order' and 'languages'")
    allowed_top = set(STAGE_NAMES) | {"order", "languages"}
    for key in config:
        if key not in allowed_top:
            raise ConfigError(f"{source}: unknown top-level key {key!r}; allowed: {sorted(allowed_top)}")
    order = config.get("order")
    if not isinstance(order, list) or not all(isinstance(s, str) for s in order):
        raise ConfigError(f"{source}: order: expected a list of stage names, got {order!r}")
    for name in order:
        if name not in STAGE_NAMES:
            raise ConfigError(f"{source}: order: unknown stage {name!r}; known stages: {list(STAGE_NAMES)}")
    if len(set(order)) != len(order):
        raise ConfigError(f"{source}: order: a stage is listed twice: {order}")
    for stage in STAGE_NAMES:
        section = config.get(stage, {})
        if not isinstance(section, dict):
            raise ConfigError(f"{source}: {stage}: expected a mapping of parameters, got {section!r}")
        defaults = _defaults_of(stage)
        for key, value in section.items():
            if key == "enabled":
                if not isinstance(value, bool):
                    raise ConfigError(f"{source}: {stage}.enabled: expected true or false, got {value!r}")
                continue
            if key not in defaults:
                raise ConfigError(f"{source}: {stage}.{key}: unknown parameter; allowed: "
                                  f"{['enabled'] + sorted(defaults)}")
            _check_value(f"{source}: {stage}", key, value, defaults[key])
    classifier = config.get(QualityClassifier.name) or {}
    if classifier.get("enabled") and QualityClassifier.name in order and not classifier.get("model"):
        raise ConfigError(f"{source}: {QualityClassifier.name} is enabled but model is null: set "
                          f"{QualityClassifier.name}.model: PATH to a model folder ({TRAIN_HINT})")
    languages = config.get("languages") or {}
    if not isinstance(languages, dict):
        raise ConfigError(f"{source}: languages: expected a mapping {{language: {{stage: {{...}}}}}}")
    for lang, stages in languages.items():
        if not isinstance(lang, str) or not isinstance(stages, dict):
            raise ConfigError(f"{source}: languages.{lang}: expected a mapping of stage names to parameters")
        for stage, section in stages.items():
            if stage not in STAGE_CLASSES:
                raise ConfigError(f"{source}: languages.{lang}.{stage}: unknown or not per-language stage; "
                                  f"allowed: {sorted(STAGE_CLASSES)}")
            if not isinstance(section, dict):
                raise ConfigError(f"{source}: languages.{lang}.{stage}: expected a mapping of parameters")
            defaults = STAGE_CLASSES[stage].DEFAULTS
            for key, value in section.items():
                if key not in defaults:
                    raise ConfigError(f"{source}: languages.{lang}.{stage}.{key}: unknown parameter; "
                                      f"allowed: {sorted(defaults)}")
                _check_value(f"{source}: languages.{lang}.{stage}", key, value, defaults[key])
    return config


def _read_yaml(path: pathlib.Path) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path} (pass an existing YAML file, or no path for "
                          f"the defaults in {DEFAULT_CONFIG_PATH})") from None
    except IsADirectoryError:
        raise ConfigError(f"config {path} is a folder: pass a YAML file") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None


def load_config(path: Optional[str] = None) -> dict[str, Any]:
    """The default config, with the file at ``path`` (if any) merged over it, validated."""
    config = _read_yaml(DEFAULT_CONFIG_PATH)
    validate_config(config, str(DEFAULT_CONFIG_PATH))
    if path is None:
        return config
    user = _read_yaml(pathlib.Path(path))
    if user is None:
        user = {}
    if not isinstance(user, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of stage names, 'order' and 'languages'")
    return validate_config(_deep_merge(config, user), str(path))


def build_filter_stages(config: dict[str, Any]) -> list[Stage]:
    """Instantiate the enabled stages in ``config['order']``, each with its per-language overrides."""
    validate_config(config)
    languages = config.get("languages") or {}
    stages: list[Stage] = []
    for name in config["order"]:
        section = dict(config.get(name) or {})
        if not section.pop("enabled", True):
            continue
        if name == "pii":
            stages.append(PiiScrubber(**section))
            continue
        per_language = {lang: dict(stages_cfg[name]) for lang, stages_cfg in languages.items() if name in stages_cfg}
        stages.append(STAGE_CLASSES[name](languages=per_language, **section))
    return stages
