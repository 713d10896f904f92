"""Tokenizer evaluation: exact round trip and fertility per language, vs a baseline.

    python -m tokenizer_training.evaluate --tokenizer DIR/tokenizer.model --input DOCS \
        [--baseline OTHER.model] [--max_docs 2000]

Metrics per language on held-out documents (never in the training sample):
  tokens_per_char   lower = more text per context window (the number that matters for
                    CJK, where "words" are characters)
  tokens_per_word   words from pipelines.stages.segmentation.words (script aware)
  tokens_per_byte   tokens per UTF-8 byte: comparable across scripts of different byte widths
  bytes_per_token   UTF-8 bytes per token (compression; 1 / tokens_per_byte)
  byte_fallback     share of tokens that are byte-fallback pieces (rare characters)
  round_trip_exact  decode(encode(text)) == text for every document
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
from typing import Iterable, Optional

import numpy as np
import sentencepiece as spm

from pipelines.stages.segmentation import words
from tokenizer_training.sample import SampledDocument, sample_documents
from tokenizer_training.sentencepiece_trainer import train_sentencepiece, write_json

BASELINES = {
    # Same sample, same vocabulary size, one setting changed: shows what our choice buys.
    "unigram": {"model_type": "unigram"},
    "no_digit_split": {"split_digits": False},
    "low_coverage": {"character_coverage": 0.98},
}


def evaluate_model(model_path: str, docs: Iterable[SampledDocument]) -> dict:
    sp = spm.SentencePieceProcessor(model_file=model_path)
    per_lang: dict[str, dict] = {}
    failures = []
    docs = list(docs)
    # Per-id lookups built once, counted with NumPy instead of a Python call per token.
    is_byte = np.array([sp.is_byte(i) for i in range(sp.get_piece_size())], dtype=bool)
    unk_id = sp.unk_id()
    # Batch encode: SentencePiece's list API is the fast path.
    encoded = sp.encode([d.text for d in docs])
    for doc, ids in zip(docs, encoded):
        stats = per_lang.setdefault(doc.language, {"documents": 0, "chars": 0, "words": 0, "bytes": 0,
                                                   "tokens": 0, "byte_tokens": 0, "unk_tokens": 0})
        stats["documents"] += 1
        stats["chars"] += len(doc.text)
        stats["words"] += len(words(doc.text))
        stats["bytes"] += len(doc.text.encode("utf-8", "surrogatepass"))
        stats["tokens"] += len(ids)
        arr = np.asarray(ids, dtype=np.int64)
        stats["byte_tokens"] += int(np.count_nonzero(is_byte[arr]))
        stats["unk_tokens"] += int(np.count_nonzero(arr == unk_id))
        if sp.decode(ids) != doc.text:
            failures.append(doc.id)
    languages = {}
    for lang, s in sorted(per_lang.items()):
        languages[lang] = {
            **s,
            "tokens_per_char": s["tokens"] / max(s["chars"], 1),
            "tokens_per_word": s["tokens"] / max(s["words"], 1),
            "tokens_per_byte": s["tokens"] / max(s["bytes"], 1),
            "bytes_per_token": s["bytes"] / max(s["tokens"], 1),
            "byte_fallback": s["byte_tokens"] / max(s["tokens"], 1),
        }
    return {
        "model": model_path,
        "vocab_size": sp.get_piece_size(),
        "documents": len(docs),
        "round_trip_exact": not failures,
        "round_trip_failures": failures[:20],
        "languages": languages,
    }


def evaluate_against_baseline(model_path: str, lines: list[str], heldout: list[SampledDocument],
                              options: dict, *, baseline: str = "unigram", out_dir: str,
                              evaluated_on: str = "heldout") -> dict:
    """Train the baseline on the same lines, evaluate both, write evaluation.json."""
    base_options = copy.deepcopy(options)
    base_options.update(BASELINES[baseline])
    base_dir = os.path.join(out_dir, "baseline")
    os.makedirs(base_dir, exist_ok=True)
    base_path = train_sentencepiece(lines, os.path.join(base_dir, f"{baseline}"), base_options,
                                    label=f"training baseline ({baseline})")
    result = {
        "evaluated_on": evaluated_on,
        "baseline_setting": {baseline: BASELINES[baseline]},
        "tokenizer": evaluate_model(model_path, heldout),
        "baseline": evaluate_model(base_path, heldout),
    }
    write_json(os.path.join(out_dir, "evaluation.json"), result)
    return result


def format_table(evaluation: dict, languages: Optional[list[str]] = None) -> str:
    """Plain-text/markdown table: one row per language, ours vs baseline."""
    ours, base = evaluation["tokenizer"], evaluation.get("baseline")
    langs = languages or sorted(ours["languages"], key=lambda l: -ours["languages"][l]["chars"])
    name = next(iter(evaluation.get("baseline_setting", {"baseline": 0})))
    header = "| lang | docs | chars | tok/char | tok/word | bytes/tok | byte fallback |"
    if base:
        header += f" tok/char ({name}) | tok/word ({name}) |"
    rows = [header, "|" + "---|" * (header.count("|") - 1)]
    for lang in langs:
        s = ours["languages"].get(lang)
        if not s:
            continue
        row = (f"| {lang} | {s['documents']} | {s['chars']} | {s['tokens_per_char']:.3f} | {s['tokens_per_word']:.3f} "
               f"| {s['bytes_per_token']:.2f} | {s['byte_fallback']:.2%} |")
        if base and lang in base["languages"]:
            b = base["languages"][lang]
            row += f" {b['tokens_per_char']:.3f} | {b['tokens_per_word']:.3f} |"
        rows.append(row)
    rows.append(f"round trip exact: ours={ours['round_trip_exact']}"
                + (f", {name}={base['round_trip_exact']}" if base else "")
                + f" ({ours['documents']} {'training' if evaluation.get('evaluated_on') == 'training_sample' else 'held-out'} documents)")
    return "\n".join(rows)


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tokenizer_training.evaluate",
                                description="Round trip and fertility per language of SentencePiece models.")
    p.add_argument("--tokenizer", required=True, help="tokenizer.model to evaluate")
    p.add_argument("--input", action="append", required=True, help="documents folder/glob (repeatable)")
    p.add_argument("--baseline", help="another .model to compare against")
    p.add_argument("--holdout_fraction", type=float, default=0.02,
                   help="evaluate on the documents train.py held out with this fraction")
    p.add_argument("--output", help="write the evaluation JSON here")
    args = p.parse_args(argv)
    for path in filter(None, [args.tokenizer, args.baseline]):
        if not os.path.isfile(path):
            print(f"error: no tokenizer model at {path!r} (train one with python -m tokenizer_training.train)",
                  file=sys.stderr)
            return 2
    sample = sample_documents(args.input, max_bytes=1, holdout_fraction=args.holdout_fraction)
    docs = sample.heldout
    if not docs:
        print("error: no held-out documents; raise --holdout_fraction", file=sys.stderr)
        return 2
    result = {"tokenizer": evaluate_model(args.tokenizer, docs)}
    if args.baseline:
        result["baseline"] = evaluate_model(args.baseline, docs)
        result["baseline_setting"] = {os.path.basename(args.baseline): {}}
    print(format_table(result))
    if args.output:
        write_json(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
