"""Chinese fertility: a tokenizer trained on the natural language mix vs one with zh at a set share.

    .venv/bin/python -m pipelines.clean --input "../shared/data/warc/*.warc.gz,../shared/data/zh/*.warc.gz" \
        --output /tmp/tok15/clean
    .venv/bin/python bench/tokenizer_languages.py --input /tmp/tok15/clean/documents --out /tmp/tok15/bench \
        [--vocab_size 32000] [--zh_share 0.333] [--holdout_fraction 0.3]

Three tokenizers, each trained by the real command (``python -m tokenizer_training.train``):
  natural        --alpha 1, no weights, the same byte budget as zh_share (controlled comparison)
  zh_share       --alpha 1 --language_weights zh=W, W chosen so that zh is ``--zh_share`` of the
                 sample actually drawn (the sampler takes at least one document per language,
                 which overshoots tiny budgets, so W is a little above the target share)
  alpha_0.3      --alpha 0.3 (the trainer's default temperature sampling), same budget
  natural_all    --alpha 1, the whole corpus (what the default budget would take here)
The budget is what zh can fill at its share: the sample is drawn without replacement, so
Chinese can only be a third of a sample three times the Chinese text there is.

All are evaluated with ``tokenizer_training.evaluate.evaluate_model`` (what evaluation.json
holds) on the SAME held-out documents: ``hash("tokenizer-heldout", id) < --holdout_fraction``,
which train.py never samples. Per language: tokens per character and per UTF-8 byte; for zh
also a 95% bootstrap interval over held-out documents, since the held-out Chinese is small.
Prints JSON lines; CPU seconds are of the training subprocesses (getrusage children),
not wall time, because the machine is shared.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import resource
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import sentencepiece as spm  # noqa: E402

from tokenizer_training.evaluate import evaluate_model  # noqa: E402
from tokenizer_training.sample import sample_documents  # noqa: E402

LANG = "zh"
BIG = 1 << 40  # a budget larger than any corpus here: take everything


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def share_of(stats: dict, lang: str) -> float:
    return stats["languages"].get(lang, {}).get("share", 0.0)


def weight_for_share(inputs: list[str], target: float, holdout: float, seed: int) -> tuple[float, int, dict]:
    """(weight, budget bytes, sample stats) such that the drawn sample is ~``target`` zh by bytes."""
    everything = sample_documents(inputs, max_bytes=BIG, alpha=1.0, holdout_fraction=holdout, seed=seed,
                                  progress=False)
    if LANG not in everything.stats["languages"]:
        sys.exit(f"error: no {LANG} training documents in {inputs}; clean ../shared/data/zh/*.warc.gz too")
    available = everything.stats["languages"][LANG]["seen_bytes"]
    weight = target
    for _ in range(12):
        budget = math.ceil(available / weight)  # zh's share (rounded down by the sampler) still takes all zh has
        stats = sample_documents(inputs, max_bytes=budget, alpha=1.0, language_weights={LANG: weight},
                                 holdout_fraction=holdout, seed=seed, progress=False).stats
        got = share_of(stats, LANG)
        if abs(got - target) < 0.005 or weight >= 0.95:
            break
        weight = round(min(0.95, weight * target / max(got, 1e-6)), 4)  # as written on the command line
    return weight, budget, stats


def train(name: str, inputs: list[str], out: pathlib.Path, vocab_size: int, budget: int, holdout: float,
          seed: int, threads: int, extra: list[str], alpha: float = 1.0) -> dict:
    folder = out / name
    # + 0.5 byte: train.py truncates --sample_mb * MiB to whole bytes, a float a hair low would lose one.
    cmd = [sys.executable, "-m", "tokenizer_training.train", "--output", str(folder), "--vocab_size", str(vocab_size),
           "--sample_mb", repr((budget + 0.5) / (1024 * 1024)), "--alpha", str(alpha), "--holdout_fraction", str(holdout),
           "--seed", str(seed), "--num_threads", str(threads), "--no_eval", *extra]
    for path in inputs:
        cmd += ["--input", path]
    before = children_cpu()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    cpu = children_cpu() - before
    if proc.returncode != 0:
        error = [line for line in proc.stderr.splitlines() if line.startswith(("error", "hint"))]
        return {"name": name, "ok": False, "cpu_s": round(cpu, 2), "error": " ".join(error) or proc.stderr[-500:]}
    sample = json.loads((folder / "sample.json").read_text())
    return {"name": name, "ok": True, "cpu_s": round(cpu, 2), "model": str(folder / "tokenizer.model"),
            "sample_bytes": sum(v["sampled_bytes"] for v in sample["languages"].values()),
            "sample_shares": {k: v["share"] for k, v in sample["languages"].items() if v["share"] >= 0.01},
            "language_weights": sample["language_weights"]}


def is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def han_pieces(model: str) -> dict:
    """How much of the vocabulary is Chinese: pieces holding a Han character, and those
    of two or more characters (words, which is what lowers tokens per character)."""
    sp = spm.SentencePieceProcessor(model_file=model)
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    han = [p for p in pieces if any(is_han(c) for c in p)]
    return {"han_pieces": len(han), "han_multichar_pieces": sum(sum(map(is_han, p)) >= 2 for p in han)}


def bootstrap_tokens_per_char(model: str, docs: list, rounds: int = 2000, seed: int = 0) -> list[float]:
    sp = spm.SentencePieceProcessor(model_file=model)
    tokens = np.array([len(ids) for ids in sp.encode([d.text for d in docs])], dtype=float)
    chars = np.array([len(d.text) for d in docs], dtype=float)
    picks = np.random.default_rng(seed).integers(0, len(docs), size=(rounds, len(docs)))
    ratios = tokens[picks].sum(axis=1) / chars[picks].sum(axis=1)
    return [round(float(np.percentile(ratios, 2.5)), 3), round(float(np.percentile(ratios, 97.5)), 3)]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--input", action="append", required=True, help="documents folder (the clean job's documents/)")
    p.add_argument("--out", required=True, help="folder for the tokenizers")
    p.add_argument("--vocab_size", type=int, default=32000)
    p.add_argument("--zh_share", type=float, default=0.333, help="target share of zh in the sample (UTF-8 bytes)")
    p.add_argument("--holdout_fraction", type=float, default=0.3,
                   help="held out of every language, the same documents for every tokenizer")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num_threads", type=int, default=1)
    p.add_argument("--languages", default="zh,en,de", help="languages to print")
    args = p.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    languages = args.languages.split(",")
    print(json.dumps({"load_average": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count()}), flush=True)

    weight, budget, _ = weight_for_share(args.input, args.zh_share, args.holdout_fraction, args.seed)
    heldout = sample_documents(args.input, max_bytes=1, holdout_fraction=args.holdout_fraction,
                               heldout_max_bytes=BIG, progress=False).heldout
    common = dict(inputs=args.input, out=out, vocab_size=args.vocab_size, holdout=args.holdout_fraction,
                  seed=args.seed, threads=args.num_threads)
    runs = [train("natural", budget=budget, extra=[], **common),
            train(f"{LANG}_share", budget=budget, extra=["--language_weights", f"{LANG}={weight}"], **common),
            train("alpha_0.3", budget=budget, extra=[], alpha=0.3, **common),  # the trainer's default temperature
            train("natural_all", budget=BIG, extra=[], **common)]
    zh_docs = [d for d in heldout if d.language == LANG]
    for run in runs:
        if run["ok"]:
            result = evaluate_model(run.pop("model"), heldout)
            run["vocab_size"] = result["vocab_size"]
            run["round_trip_exact"] = result["round_trip_exact"]
            run.update(han_pieces(str(out / run["name"] / "tokenizer.model")))
            run["heldout"] = {
                lang: {k: (round(v, 4) if isinstance(v, float) else v) for k, v in result["languages"][lang].items()
                       if k in ("documents", "chars", "bytes", "tokens", "tokens_per_char", "tokens_per_byte",
                                "byte_fallback")}
                for lang in languages if lang in result["languages"]}
            if zh_docs:
                run["heldout"][LANG]["tokens_per_char_95ci"] = bootstrap_tokens_per_char(
                    str(out / run["name"] / "tokenizer.model"), zh_docs)
        print(json.dumps(run, ensure_ascii=False), flush=True)
    print(json.dumps({"load_average": [round(x, 2) for x in os.getloadavg()]}), flush=True)
    return 0 if all(r["ok"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
