"""Loss and bits per byte of a trained model on evaluation texts.

    python -m pipelines.ablation.evaluate --model TRAIN_DIR --tokenizer tokenizer.model \
        --eval NAME=FORMAT:FIELD:PATH ... [--shards NAME=SHARDS ...] --output DIR [--device auto]

``--eval``: a file of documents, FORMAT ``text`` (one document per non-empty line),
``jsonl`` (the FIELD of each JSON line) or ``parquet`` (the FIELD column). ``--shards``:
the validation split of a token shard folder, decoded back to its text (the tokenizer
round-trips exactly: byte fallback, identity normalisation). Writes DIR/evaluation.json
and DIR/_SUCCESS.

How it is measured, the same way for every model and every text:
* every document is encoded with the one tokenizer and ends with EOS; the stream starts
  with an EOS, so every token of every document is predicted (EOS stands for the
  boundary, as in training);
* the stream is cut into windows of ``seq_len + 1`` tokens that overlap by one token
  (each token is a target exactly once); a window's first token is its only context;
* ``loss`` = total negative log-likelihood (nats) / tokens predicted;
  ``bits_per_byte`` = total NLL / ln 2 / UTF-8 bytes of the text (each document's bytes
  plus one for its boundary). Per byte, so a tokenizer that cuts a text into fewer,
  harder tokens cannot flatter a model: the text, not the token count, is fixed.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from typing import Iterator, Optional

from pipelines import completion, joblog
from pipelines.io.shards import file_sha256

log = logging.getLogger("pipelines.ablation.evaluate")


def build_arg_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipelines.ablation.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="run folder of model.train (finished: with _SUCCESS)")
    p.add_argument("--tokenizer", required=True, help="the tokenizer.model the model was trained with")
    p.add_argument("--eval", action="append", default=[], help="NAME=FORMAT:FIELD:PATH (repeatable)")
    p.add_argument("--shards", action="append", default=[], help="NAME=SHARDS: that folder's validation split")
    p.add_argument("--output", required=True)
    p.add_argument("--device", default="auto", help="auto | cuda | cpu")
    # Per forward pass: small batches cost more in call overhead than in arithmetic on CPU
    # (8x fewer CPU seconds at 8,192 tokens than at 512, measured on the tiny model); the
    # logits of one batch take batch_tokens x vocabulary x 4 bytes.
    p.add_argument("--batch_tokens", type=int, default=8192, help="tokens per forward pass")
    p.add_argument("--seq_len", type=int, default=None, help="window length (default: the model's training seq_len)")
    return p


# ----------------------------------------------------------------------------- texts


class EvalInputError(ValueError):
    """An evaluation input that cannot be read; the message says which and why."""


def parse_eval(spec: str) -> tuple:
    """NAME=FORMAT:FIELD:PATH -> (name, format, field, path)."""
    name, sep, rest = spec.partition("=")
    parts = rest.split(":", 2)
    if not sep or not name or len(parts) != 3 or parts[0] not in ("text", "jsonl", "parquet"):
        raise EvalInputError(f"--eval {spec!r}: expected NAME=FORMAT:FIELD:PATH with FORMAT text, jsonl or parquet")
    return (name, *parts)


def read_texts(fmt: str, field: str, path: str, skipped: dict) -> list:
    """The documents of one evaluation file (``pipelines.io.eval_sets.read_eval_items``, the
    reader decontamination uses: text, JSONL or Parquet, gzip unpacked); lines that are not
    documents are counted in ``skipped`` (reason -> count), never fatal."""
    from pipelines.io.eval_sets import read_eval_items

    if not os.path.isfile(path):
        raise EvalInputError(f"{path}: no such file")
    try:
        return [item.text for item in read_eval_items(path, field, skipped=skipped, kind=fmt)]
    except (ValueError, OSError) as e:  # a Parquet file without the column, an unreadable file
        raise EvalInputError(f"{path}: {e}") from None


def validation_texts(shards_dir: str, sp) -> list:
    """The validation split of a shard folder as text (BOS/EOS dropped, then decoded)."""
    from pipelines.io.shards import VALIDATION, iter_shard_documents, read_manifest, shard_paths

    manifest = read_manifest(shards_dir)
    specials = {int(manifest["eos_id"]), int(manifest["bos_id"])}
    texts = []
    for path in shard_paths(shards_dir, VALIDATION):
        for ids in iter_shard_documents(path):
            text = sp.decode([int(i) for i in ids if int(i) not in specials])
            if text.strip():
                texts.append(text)
    return texts


# ----------------------------------------------------------------------------- scoring


def token_stream(texts: list, sp, eos_id: int) -> tuple:
    """(token ids with an EOS before every document and after the last, UTF-8 bytes)."""
    import numpy as np

    ids, n_bytes = [eos_id], 0
    for text, encoded in zip(texts, sp.encode(texts)):
        ids += encoded
        ids.append(eos_id)
        n_bytes += len(text.encode("utf-8", "surrogatepass")) + 1
    return np.asarray(ids, dtype=np.int64), n_bytes


def windows(stream, seq_len: int) -> Iterator[tuple]:
    """(start, end) of windows of up to seq_len + 1 tokens overlapping by one token."""
    start = 0
    while start < len(stream) - 1:
        end = min(start + seq_len + 1, len(stream))
        yield start, end
        start = end - 1


def score(model, stream, seq_len: int, batch_size: int, device, eos_id: int, document_mask: bool) -> float:
    """Total NLL in nats of every token of ``stream`` after the first."""
    import torch
    import torch.nn.functional as F

    from model.transformer import document_ids

    spans = list(windows(stream, seq_len))
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(spans), batch_size):
            chunk = spans[i:i + batch_size]
            width = max(e - s for s, e in chunk)
            batch = torch.full((len(chunk), width), eos_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width - 1), dtype=torch.bool)
            for row, (s, e) in enumerate(chunk):
                batch[row, :e - s] = torch.from_numpy(stream[s:e])
                mask[row, :e - s - 1] = True
            batch, mask = batch.to(device), mask.to(device)
            inputs, targets = batch[:, :-1], batch[:, 1:]
            logits = model(inputs, document_ids(inputs, eos_id) if document_mask else None)
            nll = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="none")
            total += float(nll.double()[mask.flatten()].sum())
    return total


def evaluate_texts(model, texts: list, sp, *, seq_len: int, batch_size: int, device, eos_id: int,
                   document_mask: bool = False) -> dict:
    stream, n_bytes = token_stream(texts, sp, eos_id)
    nll = score(model, stream, seq_len, batch_size, device, eos_id, document_mask)
    predicted = len(stream) - 1
    return {"documents": len(texts), "tokens": predicted, "bytes": n_bytes,
            "loss": nll / max(predicted, 1), "bits_per_byte": nll / math.log(2) / max(n_bytes, 1)}


def main(argv: Optional[list] = None) -> int:
    started = joblog.setup()
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_arg_parser()
    args = parser.parse_args(argv)
    try:
        sets = [parse_eval(s) for s in args.eval]
        shards = []
        for spec in args.shards:
            name, sep, path = spec.partition("=")
            if not sep or not name or not path:
                raise EvalInputError(f"--shards {spec!r}: expected NAME=SHARDS")
            shards.append((name, completion.resolve_input(path, main_output="")[0]))
        if not sets and not shards:
            raise EvalInputError("give at least one --eval or --shards")
        model_dir = completion.resolve_input(args.model, main_output="")[0]
        tokenizer_root = completion.resolve_input(os.path.dirname(args.tokenizer) or ".", main_output="")[1]
        if not os.path.isfile(args.tokenizer):
            raise EvalInputError(f"--tokenizer {args.tokenizer}: no such file")
        # Before begin(): a model trained with another tokenizer is a bad flag, not a half-run.
        with open(os.path.join(model_dir, "run_config.json"), encoding="utf-8") as f:
            trained_with = json.load(f).get("data", {}).get("tokenizer_sha256")
        if trained_with and trained_with != file_sha256(args.tokenizer):
            raise EvalInputError(f"{args.model} was trained with another tokenizer than {args.tokenizer}")
        completion.check_output(args.output)
    except (ValueError, OSError) as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")

    import sentencepiece as spm
    import torch

    from model.export_hf import load_run

    completion.begin(args.output, extra=("evaluation.json",))
    sp = spm.SentencePieceProcessor(model_file=args.tokenizer)
    model, run = load_run(model_dir)
    device = torch.device(args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    model.to(device)
    seq_len = args.seq_len or int(run["train"]["seq_len"])
    eos_id = int(run["data"]["eos_id"])
    results, skipped = {}, {}

    def measure(name: str, texts: list) -> None:
        if not texts:
            log.warning("evaluation set %s has no documents; left out", name)
            return
        results[name] = evaluate_texts(model, texts, sp, seq_len=seq_len, batch_size=max(1, args.batch_tokens // seq_len),
                                       device=device, eos_id=eos_id, document_mask=bool(run["model"].get("document_mask")))
        log.info("%s: %d documents, %d tokens, loss %.4f, %.4f bits/byte", name, results[name]["documents"],
                 results[name]["tokens"], results[name]["loss"], results[name]["bits_per_byte"])

    for name, fmt, field, path in sets:
        measure(name, read_texts(fmt, field, path, skipped.setdefault(name, {})))
    for name, path in shards:
        measure(f"val_{name}", validation_texts(path, sp))
    record = {"model": {"seed": run["train"]["seed"], "steps": run["train"]["max_steps"],
                        "parameters": run["parameters"], "config": run["train"]["config"]},
              "seq_len": seq_len, "sets": results, "skipped": {k: v for k, v in skipped.items() if v}}
    with open(os.path.join(args.output, "evaluation.json"), "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2, sort_keys=True)
    inputs = [model_dir] + ([tokenizer_root] if tokenizer_root else []) + [p for _, p in shards]
    completion.finish(args.output, "ablation.evaluate", dict(completion.jsonable_flags(args), argv=argv),
                      inputs=inputs, started=started, stats={"sets": len(results)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
