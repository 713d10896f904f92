"""Derive the per-language thresholds of the quality stages from the labelled DEV split.

    .venv/bin/python bench/calibrate_languages.py [--min-keep-share 0.98] [--write]
                                                  [--documents DIR]

FineWeb-2's approach (Penedo et al. 2025): a threshold of a language keeps the same
share of that language's clean reference text as the English threshold keeps of English.
Reference text here: the DEV pages labelled "keep" of the language (en, de, zh on their
own; the other languages, a few pages each, pooled and written for each of them). The
test split is never read.

For each threshold row of each stage (the stages' ``RULES`` tables, n-gram rows
included), with the signals of the reference pages computed in chain order with every
threshold switched off:
  * anchor share = share of the English reference the English (FineWeb) value keeps;
  * target share = max(anchor share, --min-keep-share): where FineWeb's English value
    itself drops more than that share of good English pages (gopher_alpha_words), the
    English value is recalibrated too, to the same target;
  * a language keeps its current value (stage default + language table row) when that
    keeps at least the target share of its reference; otherwise the value becomes the
    quantile of its reference at the target share (rounded outward to 2 decimals). Values
    are only loosened, never tightened: with 35-90 reference pages the tail quantile is
    the extreme page, and tightening to it would drop the next unseen good page.
The cost in precision is printed per change: the DEV pages labelled "drop" that the new
value lets through that the old one stopped.

``--write`` replaces the ``languages:`` table at the end of
pipelines/resources/default_config.yaml with the result.
"""
from __future__ import annotations

import argparse
import collections
import math
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from quality_labelled import group_of, labelled_documents, load_labels  # noqa: E402

CONFIG_PATH = REPO / "pipelines" / "resources" / "default_config.yaml"
MARKER = "# --- calibrated per-language thresholds"
# Languages written with the pooled "other" result: those of the labelled set written with
# spaces (a no-space language gets the character rules of the language table instead).
SPACED_OTHER = ("es", "fr", "pl", "pt", "it", "ru", "nl", "fi", "hu", "no", "el", "ar", "bn")


def rows_of(stage, params: dict) -> list:
    """The threshold rows of a stage for one language's params."""
    rules = list(stage.RULES)
    if hasattr(stage, "ngram_rules"):
        rules += list(stage.ngram_rules(params))
    return rules


def permissive(params: dict, stage) -> dict:
    """params with every threshold row switched off (signals are still computed)."""
    off = dict(params)
    for rule in rows_of(stage, params):
        if rule.key is None:
            off[rule.param] = None
        else:  # n-gram rows: the n's stay (they say which signals exist), the limits go
            off[rule.param] = {n: math.inf for n in params[rule.param]}
    return off


def reference_signals(stages, docs: list) -> list[dict]:
    """Signals of each document through the chain with every threshold off."""
    from pipelines.stages.base import Drop
    out = []
    for doc in docs:
        doc = doc.copy()
        signals: dict = {}
        for stage in stages:
            profile, params = stage.settings(doc)
            saved = stage.settings
            stage.settings = lambda d, _p=profile, _q=permissive(params, stage): (_p, _q)
            try:
                result = stage.process(doc)
            finally:
                stage.settings = saved
            if isinstance(result, Drop):
                doc = result.document or doc
            else:
                doc = result
            signals.update(doc.signals)
        out.append(signals)
    return out


def keep_share(values: list[float], limit, bound: str) -> float:
    if limit is None or not values:
        return 1.0
    return sum((v >= limit) if bound == "min" else (v <= limit) for v in values) / len(values)


def quantile_limit(values: list[float], share: float, bound: str) -> float:
    """The loosest-needed limit keeping ``share`` of ``values``, rounded outward."""
    ordered = sorted(values, reverse=(bound == "min"))  # best pages first
    k = max(math.ceil(share * len(ordered)), 1) - 1
    v = ordered[k]
    v = round(v * 100, 6)  # 0.29 must not become 0.2900000001 and round up to 0.30
    return math.floor(v) / 100 if bound == "min" else math.ceil(v) / 100


def calibrate(min_keep_share: float, max_keep_share: float, documents: str | None, verbose: bool = True) -> dict:
    from pipelines.config import STAGE_CLASSES, build_filter_stages, load_config
    config = load_config()
    config = {**config, "languages": {}, "lines": {**config["lines"], "enabled": True}}
    stages = [s for s in build_filter_stages(config) if s.name != "pii"]
    labels = [r for r in load_labels() if r["split"] == "dev"]  # never the test split
    docs = labelled_documents(labels, documents)
    groups: dict = collections.defaultdict(lambda: {"keep": [], "drop": []})
    for row in labels:
        if row["id"] in docs and row["language"] not in ("ja",):
            groups[group_of(row["language"])][row["label"]].append(docs[row["id"]])
    signals = {g: {k: reference_signals(stages, v) for k, v in d.items()} for g, d in groups.items()}
    english = signals["en"]["keep"]
    tables: dict = {}
    for group in ("en", "de", "zh", "other"):
        sample = groups[group]["keep"][0]
        for stage in stages:
            _, params = stage.settings(sample)
            _, en_params = stage.settings(groups["en"]["keep"][0])
            for rule in rows_of(stage, params):
                current = rule.limit(params)
                # A signal at the row's "not measured" value says nothing about the limit:
                # -1 stop words (no list for the page's language), and a line-punctuation
                # ratio of exactly 0 (no punctuated line at all: a table-only page, which
                # FineWeb's exclude_zero option treats apart) whether or not that option is on.
                ref = [s[rule.signal] for s in signals[group]["keep"] if rule.signal in s
                       and (rule.exempt is None or s[rule.signal] != rule.exempt)]
                if current is None or not ref:
                    continue
                en_rule_limit = rule.limit(en_params) if rule.key is None or rule.key in (en_params[rule.param] or {}) \
                    else None
                en_values = [s[rule.signal] for s in english if rule.signal in s]
                anchor = keep_share(en_values, en_rule_limit, rule.bound) if en_rule_limit is not None else 1.0
                # Finite sample: a share above 1 - 1/n makes the single extreme page the
                # limit; --max-keep-share 1 allows that, lower values leave it out.
                target = min(max(anchor, min_keep_share), max(max_keep_share, 1 - 1 / len(ref)))
                share = keep_share(ref, current, rule.bound)
                if share >= target:
                    continue
                new = quantile_limit(ref, target, rule.bound)
                if (rule.bound == "min" and new >= current) or (rule.bound == "max" and new <= current):
                    continue
                bad = [s.get(rule.signal) for s in signals[group]["drop"]]
                let_through = sum(1 for v in bad if v is not None
                                  and keep_share([v], current, rule.bound) == 0 and keep_share([v], new, rule.bound) == 1)
                section = tables.setdefault(group, {}).setdefault(stage.name, {})
                if rule.key is None:
                    section[rule.param] = new
                else:
                    section.setdefault(rule.param, dict(params[rule.param]))[rule.key] = new
                if verbose:
                    print(f"{group:5s} {stage.name}.{rule.param}{'' if rule.key is None else f'[{rule.key}]'}: "
                          f"{current} -> {new}  (reference {len(ref)} pages: keeps {share:.3f} -> "
                          f"{keep_share(ref, new, rule.bound):.3f}; English anchor {anchor:.3f}, target {target:.3f}; "
                          f"dev drop pages let through by this row alone: {let_through} of {len(bad)})")
    assert set(STAGE_CLASSES) >= {s for t in tables.values() for s in t}
    return tables


def render(tables: dict, min_keep_share: float) -> str:
    """The ``languages:`` YAML block, one language per entry, stable order."""
    import yaml
    languages = {}
    for group, stages in tables.items():
        for lang in (SPACED_OTHER if group == "other" else (group,)):
            languages[lang] = stages
    class NoAliases(yaml.SafeDumper):  # the pooled languages share one table: write it out each time
        def ignore_aliases(self, data):
            return True

    body = yaml.dump({"languages": languages}, Dumper=NoAliases, sort_keys=True, allow_unicode=True,
                     default_flow_style=None, width=110)
    return (f"{MARKER} (bench/calibrate_languages.py --min-keep-share {min_keep_share} --write;\n"
            f"# do not edit by hand: rerun it). From the DEV split of bench/quality_labels.jsonl:\n"
            f"# en, de, zh from their own pages, the other languages from their pooled pages.\n{body}")


def write(block: str) -> None:
    text = CONFIG_PATH.read_text(encoding="utf-8")
    head = text[:text.index(MARKER)] if MARKER in text else text[:text.rindex("languages:")]
    CONFIG_PATH.write_text(head + block, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--min-keep-share", type=float, default=0.98,
                        help="share of a language's good dev pages each threshold row must keep at least")
    parser.add_argument("--max-keep-share", type=float, default=0.0,
                        help="cap of the target share (default: 1 - 1/n of the n reference pages, so the "
                             "single worst page never sets a limit); 1 lets the worst page set it")
    parser.add_argument("--documents", default=None, help="as in bench/quality_labelled.py")
    parser.add_argument("--write", action="store_true", help="write the languages: table into the default config")
    args = parser.parse_args()
    tables = calibrate(args.min_keep_share, args.max_keep_share, args.documents)
    block = render(tables, args.min_keep_share)
    print("\n" + block)
    if args.write:
        write(block)
        print(f"written to {CONFIG_PATH}")


if __name__ == "__main__":
    main()
