"""The ablation spec: a YAML file read as plain data (``yaml.safe_load``) and checked here,
key by key, before any work, so a typo costs one line of error and no compute.

    inputs: [../shared/data/warc, ../shared/data/zh]   # one source "web"; or:
    # sources: {web: [../shared/data/warc], zh: [../shared/data/zh]}
    baseline: extraction_only           # default: the first variant
    tokens: 400000                      # default of --tokens
    tokenizer: {vocab_size: 8000, no_eval: true}
    tokenizer_sample_mb: 4              # MiB of text drawn from EACH variant for the tokenizer
    tokenize: {validation_fraction: 0.05}
    train: {config: tiny, seq_len: 128, batch_size: 16, lr: 0.003}
    eval_sets: {wikitext: ../shared/data/reference/wikitext-2/valid.txt}
    clean: {num_shards: 2}              # clean flags every variant shares
    beam_args: [--direct_num_workers=2]
    variants:
      extraction_only: {clean: {skip_stages: ...}}
      filtered: {}
      filtered_dedup: {dedup: {stages: minhash}}
      weighted: {dedup: {}, mixture: {web: 1.0, zh: 2.0}, clean_config: {c4: {min_num_sentences: 3}}}

A variant holds ``clean`` (flags of ``pipelines.clean``, over the shared ``clean``),
``clean_config`` (a filter config merged over pipelines/resources/default_config.yaml, as
``pipelines.clean --config`` reads it), ``dedup`` (flags of ``pipelines.dedup``; absent or
null = no dedup step), ``mixture`` (source -> weight, passes per epoch as in
``pipelines.tokenize --source``) and ``description``. Section flags are checked by each
job's own parser before anything runs (``pipelines.run.check_step``). Relative paths are
read from the current directory, as every flag is.
"""
from __future__ import annotations

import dataclasses
import glob
import os
import re
from typing import Any, Optional

import yaml

from pipelines import steps as run_steps


class SpecError(ValueError):
    """A spec that cannot work; the one-line message names the key and what to do."""


NAME = re.compile(r"^[A-Za-z0-9_]+$")  # variant, source and evaluation set names: safe in flags and folders
TOP_KEYS = ("description", "inputs", "sources", "baseline", "tokens", "seeds", "tokenizer", "tokenizer_sample_mb",
            "tokenize", "train", "clean", "eval_sets", "beam_args", "variants")
VARIANT_KEYS = ("description", "clean", "clean_config", "dedup", "mixture")
EVAL_KEYS = ("path", "format", "field")
EVAL_FORMATS = ("text", "jsonl", "parquet")
# Flags the ablation sets itself, per job section (beyond the run's wiring flags).
OWN_FLAGS = {
    "clean": {"config"},  # clean_config says it per variant
    "dedup": set(),
    "tokenizer": {"sample_mb"},  # tokenizer_sample_mb x variants
    "tokenize": {"source"},
    "train": {"seed", "max_steps"},  # --seeds and --tokens
}


@dataclasses.dataclass(frozen=True)
class EvalSet:
    name: str
    path: str
    format: str  # text (one document per non-empty line), jsonl or parquet (one per row)
    field: str = "text"


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    clean: dict
    clean_config: Optional[dict]
    dedup: Optional[dict]  # None: no dedup step
    mixture: dict  # source -> weight, every source named
    description: str = ""


@dataclasses.dataclass(frozen=True)
class Spec:
    path: str
    sources: dict  # source name -> [input paths]
    variants: tuple  # of Variant, in the spec's order
    baseline: str
    tokens: Optional[int]
    seeds: Optional[int]
    tokenizer: dict
    tokenizer_sample_mb: float
    tokenize: dict
    train: dict
    eval_sets: tuple  # of EvalSet
    beam_args: tuple
    description: str = ""

    def variant(self, name: str) -> Variant:
        return next(v for v in self.variants if v.name == name)


def load_spec(path: str) -> Spec:
    """Read and check ``path``; raises SpecError with one line naming the problem."""
    if not os.path.isfile(path):
        raise SpecError(f"--spec {path}: no such file (give the ablation YAML, e.g. bench/ablation.yaml)")
    with open(path, encoding="utf-8") as f:
        try:
            data = yaml.safe_load(f)  # plain data only: a spec never constructs objects
        except yaml.YAMLError as e:
            raise SpecError(f"{path}: not valid YAML: {' '.join(str(e).split())}") from None
    return parse_spec(data, path)


def parse_spec(data: Any, path: str = "<spec>") -> Spec:
    where = path
    _mapping(data, where, "the top level")
    _known(data, TOP_KEYS, where, "top-level key")
    sources = _sources(data, where)
    common_clean = _flags(data.get("clean"), where, "clean")
    variants_data = data.get("variants")
    if not isinstance(variants_data, dict) or not variants_data:
        raise SpecError(f"{where}: variants: expected a mapping of variant names to settings (at least one)")
    variants = tuple(_variant(name, v, where, sources, common_clean) for name, v in variants_data.items())
    baseline = data.get("baseline", variants[0].name)
    if baseline not in {v.name for v in variants}:
        raise SpecError(f"{where}: baseline: {baseline!r} is not a variant; variants: {[v.name for v in variants]}")
    sample_mb = data.get("tokenizer_sample_mb", 8)
    if not _number(sample_mb) or sample_mb <= 0:
        raise SpecError(f"{where}: tokenizer_sample_mb: expected a number of MiB > 0, got {sample_mb!r}")
    beam_args = data.get("beam_args") or []
    if not isinstance(beam_args, list) or not all(isinstance(a, str) for a in beam_args):
        raise SpecError(f"{where}: beam_args: expected a list of flags, e.g. [--direct_num_workers=2]")
    return Spec(
        path=path, sources=sources, variants=variants, baseline=baseline,
        tokens=_positive_int(data.get("tokens"), where, "tokens"),
        seeds=_positive_int(data.get("seeds"), where, "seeds"),
        tokenizer=_flags(data.get("tokenizer"), where, "tokenizer"),
        tokenizer_sample_mb=float(sample_mb),
        tokenize=_flags(data.get("tokenize"), where, "tokenize"),
        train=_flags(data.get("train"), where, "train"),
        eval_sets=_eval_sets(data.get("eval_sets"), where),
        beam_args=tuple(beam_args),
        description=str(data.get("description") or ""),
    )


# ----------------------------------------------------------------------------- pieces


def _mapping(value: Any, where: str, what: str) -> dict:
    if not isinstance(value, dict):
        raise SpecError(f"{where}: {what}: expected a mapping, got {type(value).__name__}")
    return value


def _known(data: dict, allowed: tuple, where: str, what: str) -> None:
    unknown = [k for k in data if k not in allowed]
    if unknown:
        raise SpecError(f"{where}: unknown {what} {unknown[0]!r}; allowed: {', '.join(allowed)}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _positive_int(value: Any, where: str, key: str) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 4e5 in YAML is a float
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise SpecError(f"{where}: {key}: expected a whole number >= 1, got {value!r}")
    return value


def _flags(section: Any, where: str, name: str) -> dict:
    """A section of job flags: {flag: scalar or list}; the job's parser checks the values."""
    if section is None:
        return {}
    section = _mapping(section, where, name)
    for key, value in section.items():
        if not isinstance(key, str):
            raise SpecError(f"{where}: {name}: flag names are strings, got {key!r}")
        if key in run_steps.WIRING_FLAGS or key in OWN_FLAGS.get(name, ()):
            hint = {"config": "use the variant's clean_config", "sample_mb": "use tokenizer_sample_mb",
                    "seed": "use --seeds", "max_steps": "use --tokens"}.get(key, "the ablation wires it")
            raise SpecError(f"{where}: {name}.{key} is set by the ablation itself ({hint}); remove it")
        if isinstance(value, (dict,)):
            raise SpecError(f"{where}: {name}.{key}: expected a flag value (number, string, true/false or a list)")
    return dict(section)


def _local_path_missing(path: str) -> bool:
    if "://" in path or any(ch in path for ch in "*?["):
        return "://" not in path and not glob.glob(path)
    return not os.path.exists(path)


def _paths(value: Any, where: str, key: str) -> list:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(p, str) and p for p in items):
        raise SpecError(f"{where}: {key}: expected a WARC path or a list of paths")
    for p in items:
        if _local_path_missing(p):
            raise SpecError(f"{where}: {key}: {p} does not exist (relative paths are read from {os.getcwd()})")
    return [p if "://" in p else os.path.abspath(p) for p in items]


def _sources(data: dict, where: str) -> dict:
    if ("inputs" in data) == ("sources" in data):
        raise SpecError(f"{where}: give inputs (one source 'web') or sources (name -> paths), exactly one of them")
    if "inputs" in data:
        return {"web": _paths(data["inputs"], where, "inputs")}
    sources = _mapping(data["sources"], where, "sources")
    if not sources:
        raise SpecError(f"{where}: sources: name at least one source")
    out = {}
    for name, paths in sources.items():
        if not isinstance(name, str) or not NAME.match(name):
            raise SpecError(f"{where}: sources: {name!r}: names are letters, digits and _")
        out[name] = _paths(paths, where, f"sources.{name}")
    return out


def _variant(name: Any, data: Any, where: str, sources: dict, common_clean: dict) -> Variant:
    if not isinstance(name, str) or not NAME.match(name):
        raise SpecError(f"{where}: variants: {name!r}: names are letters, digits and _")
    at = f"variants.{name}"
    data = {} if data is None else _mapping(data, where, at)
    _known(data, VARIANT_KEYS, where, f"key in {at}")
    clean = {**common_clean, **_flags(data.get("clean"), where, "clean")}
    clean_config = data.get("clean_config")
    if clean_config is not None:
        _mapping(clean_config, where, f"{at}.clean_config")
    dedup = data.get("dedup")
    dedup = None if dedup is None or dedup is False else _flags({} if dedup is True else dedup, where, "dedup")
    mixture_data = data.get("mixture") or {}
    _mapping(mixture_data, where, f"{at}.mixture")
    for source, weight in mixture_data.items():
        if source not in sources:
            raise SpecError(f"{where}: {at}.mixture: {source!r} is not a source; sources: {sorted(sources)}")
        if not _number(weight) or weight < 0:
            raise SpecError(f"{where}: {at}.mixture.{source}: expected a weight >= 0, got {weight!r}")
    mixture = {s: float(mixture_data.get(s, 1.0)) for s in sources}
    if not any(mixture.values()):
        raise SpecError(f"{where}: {at}.mixture: every weight is 0; the variant would have no training data")
    return Variant(name, clean, clean_config, dedup, mixture, str(data.get("description") or ""))


def _eval_sets(value: Any, where: str) -> tuple:
    from pipelines.io.eval_sets import eval_format_of  # the decontamination reader's rule (imports Beam)

    if value is None:
        return ()
    value = _mapping(value, where, "eval_sets")
    sets = []
    for name, entry in value.items():
        if not isinstance(name, str) or not NAME.match(name):
            raise SpecError(f"{where}: eval_sets: {name!r}: names are letters, digits and _")
        if name.startswith("val_"):
            raise SpecError(f"{where}: eval_sets: {name!r}: val_<variant> names the variants' own validation "
                            "splits (evaluated anyway); choose another name")
        entry = {"path": entry} if isinstance(entry, str) else _mapping(entry, where, f"eval_sets.{name}")
        _known(entry, EVAL_KEYS, where, f"key in eval_sets.{name}")
        path = entry.get("path")
        if not isinstance(path, str) or not os.path.isfile(path):
            raise SpecError(f"{where}: eval_sets.{name}: {path!r} is not a file (plain text, JSONL or Parquet; "
                            f"relative paths are read from {os.getcwd()})")
        fmt = entry.get("format") or eval_format_of(path)
        if fmt not in EVAL_FORMATS:
            raise SpecError(f"{where}: eval_sets.{name}.format: {fmt!r}; known: {', '.join(EVAL_FORMATS)}")
        field = entry.get("field", "text")
        if not isinstance(field, str) or not field:
            raise SpecError(f"{where}: eval_sets.{name}.field: expected a column or key name")
        sets.append(EvalSet(name, os.path.abspath(path), fmt, field))
    return tuple(sets)
