"""Train the corpus tokenizer: SentencePiece BPE on a stratified sample of documents.

    python -m tokenizer_training.train --input DOCS --output DIR --vocab_size 32000

DOCS is a Parquet documents folder (``python -m pipelines.clean`` writes one in
``OUTPUT/documents``), a glob or a file; repeat --input for several. DIR receives:

* ``tokenizer.model`` / ``tokenizer.vocab``  SentencePiece model and vocabulary
* ``tokenizer.json``                           the same tokenizer for Hugging Face ``tokenizers``
* ``sample.json``                              what was sampled (per language), seed, trainer flags
* ``evaluation.json``                          round trip + fertility vs a baseline tokenizer

Special tokens have FIXED ids: ``<pad>``=0, ``<unk>``=1, ``<s>``=2 (BOS), ``</s>``=3 (EOS);
then user-defined symbols, then the 256 byte-fallback pieces ``<0x00>..<0xFF>``.

Settings and why: BPE (what LLaMA-family models use); byte fallback so no input is ever
``<unk>``; digits split into single tokens (better arithmetic, no number memorisation);
whitespace preserved (``remove_extra_whitespaces=False``, whitespace-only pieces allowed,
code indentation survives); ``identity`` normalisation so decode(encode(x)) == x exactly
(NFKC would rewrite full-width CJK punctuation); ``character_coverage`` 0.9995 so the rare
tail of a Chinese-heavy corpus goes to byte fallback instead of eating the vocabulary.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Iterable, Optional

from apache_beam.io.filesystems import FileSystems
import sentencepiece as spm

from pipelines import completion, joblog
from tokenizer_training.evaluate import evaluate_against_baseline, format_table
from tokenizer_training.sample import Sample, parse_language_weights, sample_documents, training_lines
from tokenizer_training.sentencepiece_trainer import (
    EOS_ID, MAX_LINE_BYTES, SPECIAL_PIECES, train_sentencepiece, trainer_options, write_json,
)

log = logging.getLogger("tokenizer_training.train")

def export_hf_tokenizer(model_path: str, out_path: str) -> str:
    """Write ``tokenizer.json`` for the Hugging Face ``tokenizers`` library.

    Why not transformers' ``LlamaConverter``: in the installed transformers (5.x) it
    parses the model with sentencepiece's protobuf module, which refuses to load under
    the protobuf runtime Apache Beam pins, and it hard-codes LLaMA's special ids. So the
    same construction is done here with ``tokenizers`` directly: the BPE merges are
    derived from the vocabulary and piece scores by transformers' own
    ``generate_merges`` (SentencePiece BPE ranks merges by piece score), byte fallback
    on, spaces mapped to U+2581 (the model has no dummy prefix, see trainer_options).
    A test checks identical ids on real text.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers
    from transformers.tokenization_utils_base import generate_merges

    sp = spm.SentencePieceProcessor(model_file=model_path)
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    vocab = {piece: i for i, piece in enumerate(pieces)}
    # Control, unknown, user-defined and byte pieces are never the result of a merge.
    not_merged = {p for i, p in enumerate(pieces) if sp.is_control(i) or sp.is_unknown(i) or sp.is_byte(i)
                  or sp.is_unused(i)}
    user_symbols = [p for i, p in enumerate(pieces) if _is_user_defined(sp, i)]
    not_merged.update(user_symbols)
    scores = {p: sp.get_score(i) for i, p in enumerate(pieces) if p not in not_merged}
    merges = generate_merges(vocab, vocab_scores=scores, skip_tokens=not_merged)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token=SPECIAL_PIECES["unk"],
                                     fuse_unk=True, byte_fallback=True))
    # SentencePiece with identity normalisation only maps spaces to U+2581; the whole text
    # is then one BPE "word" (SentencePiece does not pre-split at encode time either).
    tokenizer.normalizer = normalizers.Replace(" ", "\u2581")
    tokenizer.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()])
    tokenizer.add_special_tokens([AddedToken(SPECIAL_PIECES[k], special=True, normalized=False)
                                  for k in ("pad", "unk", "bos", "eos")])
    if user_symbols:
        tokenizer.add_tokens([AddedToken(p, special=False, normalized=False) for p in user_symbols])
    assert tokenizer.token_to_id(SPECIAL_PIECES["eos"]) == sp.eos_id() == EOS_ID
    tokenizer.save(out_path)
    return out_path


def _is_user_defined(sp: spm.SentencePieceProcessor, i: int) -> bool:
    # sentencepiece exposes no is_user_defined(); such pieces are the non-control,
    # non-byte pieces whose score is exactly 0 placed before the byte pieces.
    return (not sp.is_control(i) and not sp.is_byte(i) and not sp.is_unknown(i)
            and sp.get_score(i) == 0.0 and i < sp.piece_to_id("<0x00>"))


def copy_folder(local_dir: str, remote_dir: str) -> None:
    """Copy the files of ``local_dir`` into ``remote_dir`` (any Beam filesystem)."""
    import shutil

    for name in sorted(os.listdir(local_dir)):
        source = os.path.join(local_dir, name)
        if os.path.isfile(source):
            with open(source, "rb") as src, FileSystems.create(FileSystems.join(remote_dir, name)) as dst:
                shutil.copyfileobj(src, dst)


def train_tokenizer(
    inputs: list[str],
    output: str,
    vocab_size: int,
    *,
    sample_mb: float = 256,
    seed: int = 0,
    alpha: float = 0.3,
    language_weights: Optional[dict[str, float]] = None,
    holdout_fraction: float = 0.02,
    character_coverage: float = 0.9995,
    user_defined_symbols: Iterable[str] = (),
    num_threads: int = 1,
    evaluate: bool = True,
    baseline: str = "unigram",
    progress: bool = True,
    sample: Optional[Sample] = None,
) -> dict:
    """Sample, train, export and (optionally) evaluate. Returns a summary dict.

    ``output`` may be a local folder or any Beam filesystem path (``gs://``, ``s3://``):
    SentencePiece writes local files, so a remote output is trained in a temporary folder
    that is then copied over.
    """
    import shutil
    import tempfile

    remote = "://" in output
    work = tempfile.mkdtemp(prefix="tokenizer-") if remote else output
    try:
        summary = _train_into(work, inputs, vocab_size, sample_mb=sample_mb, seed=seed, alpha=alpha,
                              language_weights=language_weights, holdout_fraction=holdout_fraction,
                              character_coverage=character_coverage,
                              user_defined_symbols=user_defined_symbols, num_threads=num_threads,
                              evaluate=evaluate, baseline=baseline, progress=progress, sample=sample)
        if remote:
            copy_folder(work, output)
            summary["model"] = FileSystems.join(output, os.path.basename(summary["model"]))
        return summary
    finally:
        if remote:
            shutil.rmtree(work, ignore_errors=True)


def _train_into(output: str, inputs: list[str], vocab_size: int, *, sample_mb, seed, alpha, language_weights,
                holdout_fraction, character_coverage, user_defined_symbols, num_threads, evaluate, baseline,
                progress, sample) -> dict:
    """train_tokenizer's work, into a local folder."""
    os.makedirs(output, exist_ok=True)
    if sample is None:
        sample = sample_documents(inputs, max_bytes=int(sample_mb * 1024 * 1024), seed=seed, alpha=alpha,
                                  holdout_fraction=holdout_fraction, progress=progress,
                                  language_weights=language_weights)
    lines = list(training_lines(sample.train, MAX_LINE_BYTES))
    symbols = [s for s in user_defined_symbols if s]
    options = trainer_options(vocab_size, character_coverage=character_coverage,
                              user_defined_symbols=symbols, num_threads=num_threads)
    # Everything needed to reproduce the model: the sample's seed/sizes and the trainer flags.
    write_json(os.path.join(output, "sample.json"),
               {**sample.stats, "training_lines": len(lines), "trainer_options": options})
    model_path = train_sentencepiece(lines, os.path.join(output, "tokenizer"), options)
    export_hf_tokenizer(model_path, os.path.join(output, "tokenizer.json"))
    summary = {"model": model_path, "vocab_size": vocab_size, "training_lines": len(lines),
               "training_documents": len(sample.train), "heldout_documents": len(sample.heldout)}
    if evaluate:
        # Without held-out documents (tiny corpus, --holdout_fraction 0) the evaluation falls
        # back to training documents and says so in evaluation.json ("evaluated_on").
        docs, evaluated_on = (sample.heldout, "heldout") if sample.heldout else (sample.train[:50], "training_sample")
        if evaluated_on != "heldout":
            log.warning("no held-out documents: evaluating on training documents (raise --holdout_fraction)")
        summary["evaluation"] = evaluate_against_baseline(
            model_path, lines, docs, options, baseline=baseline, out_dir=output,
            evaluated_on=evaluated_on)
    return summary


def build_arg_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tokenizer_training.train",
        description="Train a SentencePiece BPE tokenizer on a stratified sample of Parquet documents.",
    )
    p.add_argument("--input", action="append", required=True,
                   help="documents folder/glob/.parquet (e.g. CLEAN_OUTPUT/documents); repeatable")
    p.add_argument("--output", required=True, help="folder for tokenizer.model/.vocab/.json and reports")
    p.add_argument("--vocab_size", type=int, default=32000, help="total vocabulary incl. specials and 256 bytes")
    p.add_argument("--sample_mb", type=float, default=256, help="training sample size in MiB of text")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (recorded in sample.json)")
    p.add_argument("--alpha", type=float, default=0.3, help="language stratification exponent (1 = natural mix)")
    p.add_argument("--language_weights", default="",
                   help="explicit shares of the sample per language, e.g. 'zh=0.33,en=0.3' (sum <= 1); the "
                        "languages not named share the rest by --alpha; a share a language cannot fill goes "
                        "to the others; 0 leaves a language out")
    p.add_argument("--holdout_fraction", type=float, default=0.02, help="documents held out for the evaluation")
    p.add_argument("--character_coverage", type=float, default=0.9995, help="0.9995 suits CJK-heavy corpora")
    p.add_argument("--user_defined_symbols", default="",
                   help="comma-separated pieces that are always one token (e.g. '<|im_start|>,<|im_end|>')")
    p.add_argument("--num_threads", type=int, default=os.cpu_count() or 1, help="SentencePiece trainer threads")
    p.add_argument("--baseline", choices=["unigram", "no_digit_split", "low_coverage"], default="unigram",
                   help="baseline tokenizer the evaluation compares against (same sample, same vocab size)")
    p.add_argument("--no_eval", action="store_true", help="skip the evaluation")
    p.add_argument("--allow_incomplete_input", action="store_true",
                   help="read an input folder whose job did not finish (no _SUCCESS); off by default")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    started = joblog.setup()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_arg_parser().parse_args(argv)
    if args.vocab_size < 300:
        print("error: --vocab_size must be >= 300 (4 specials + 256 byte pieces + merges)", file=sys.stderr)
        return 2
    if not 0 < args.character_coverage <= 1:
        print("error: --character_coverage must be in (0, 1]", file=sys.stderr)
        return 2
    try:
        language_weights = parse_language_weights(args.language_weights) if args.language_weights else None
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        # An output root reads its documents/; an unfinished one is refused.
        inputs, roots = completion.resolve_inputs(args.input, args.allow_incomplete_input)
        completion.check_output(args.output)
        completion.check_not_inside_inputs(args.output, roots)
        completion.begin(args.output, extra=("evaluation.json",))
        summary = train_tokenizer(
            inputs, args.output, args.vocab_size, sample_mb=args.sample_mb, seed=args.seed, alpha=args.alpha,
            language_weights=language_weights,
            holdout_fraction=args.holdout_fraction, character_coverage=args.character_coverage,
            user_defined_symbols=args.user_defined_symbols.split(","), num_threads=args.num_threads,
            evaluate=not args.no_eval, baseline=args.baseline)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # SentencePiece reports bad settings as RuntimeError
        hint = ""
        if "required_chars" in str(exc):
            hint = ("\nhint: the sample has more distinct characters (at --character_coverage) than "
                    "--vocab_size allows; raise --vocab_size or lower --character_coverage")
        print(f"error: SentencePiece training failed: {exc}{hint}", file=sys.stderr)
        return 2
    if "evaluation" in summary:
        print(format_table(summary["evaluation"]))
    print(f"wrote {summary['model']} (+ .vocab, tokenizer.json) to {args.output}")
    headline = {k: summary[k] for k in ("vocab_size", "training_documents", "training_lines")}
    completion.finish(args.output, "tokenizer", dict(completion.jsonable_flags(args), argv=argv),
                      inputs=roots, started=started, stats=headline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
