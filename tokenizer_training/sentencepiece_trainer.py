"""SentencePiece training with our fixed settings: the part shared by the tokenizer job
(``tokenizer_training.train``) and its evaluation's baseline (``tokenizer_training.evaluate``).

Why these settings: see the docstring of :mod:`tokenizer_training.train`.
"""
from __future__ import annotations

import io
import json
import logging
import threading
import time
from typing import Iterable

import sentencepiece as spm
from tqdm import tqdm

log = logging.getLogger("tokenizer_training.train")

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
SPECIAL_PIECES = {"pad": "<pad>", "unk": "<unk>", "bos": "<s>", "eos": "</s>"}
MAX_LINE_BYTES = 16384


def trainer_options(
    vocab_size: int,
    *,
    model_type: str = "bpe",
    character_coverage: float = 0.9995,
    split_digits: bool = True,
    byte_fallback: bool = True,
    user_defined_symbols: Iterable[str] = (),
    num_threads: int = 1,
) -> dict:
    """SentencePiece trainer arguments for our tokenizer (see module docstring)."""
    return dict(
        model_type=model_type,
        vocab_size=vocab_size,
        character_coverage=character_coverage,
        byte_fallback=byte_fallback,
        split_digits=split_digits,
        allow_whitespace_only_pieces=True,
        remove_extra_whitespaces=False,
        normalization_rule_name="identity",
        split_by_whitespace=True,
        # No dummy prefix: SentencePiece would add one U+2581 at the start of every text
        # (but not after a user-defined symbol), which the Hugging Face pre-tokenizers cannot
        # reproduce for texts starting with a space. Without it, both agree id for id, and
        # a document's first word is a no-space piece (as in GPT-2 / Llama 3 tokenizers).
        add_dummy_prefix=False,
        max_sentence_length=MAX_LINE_BYTES,
        # The sample is already size-capped and shuffled by hash; SentencePiece must use
        # all of it (its own sub-sampling would depend on its RNG).
        input_sentence_size=0,
        shuffle_input_sentence=False,
        pad_id=PAD_ID, unk_id=UNK_ID, bos_id=BOS_ID, eos_id=EOS_ID,
        pad_piece=SPECIAL_PIECES["pad"], unk_piece=SPECIAL_PIECES["unk"],
        bos_piece=SPECIAL_PIECES["bos"], eos_piece=SPECIAL_PIECES["eos"],
        user_defined_symbols=list(user_defined_symbols),
        num_threads=num_threads,
        minloglevel=2,  # our own progress bar replaces SentencePiece's verbose log
    )


def _progress_while(label: str, fn):
    """Run ``fn`` showing elapsed time (SentencePiece's C++ trainer reports nothing we can hook)."""
    done = threading.Event()
    result: dict = {}

    def work():
        try:
            result["value"] = fn()
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc
        finally:
            done.set()

    thread = threading.Thread(target=work, daemon=True)
    start = time.monotonic()
    thread.start()
    with tqdm(desc=label, bar_format="{desc}: {elapsed} elapsed") as bar:
        while not done.wait(1.0):
            bar.update(0)
            bar.refresh()
    if "error" in result:
        raise result["error"]
    log.info("%s took %.1fs", label, time.monotonic() - start)
    return result.get("value")


def train_sentencepiece(lines: list[str], model_prefix: str, options: dict, label: str = "training tokenizer") -> str:
    """Train from in-memory lines (the already size-capped sample). Returns the .model path.

    The model comes back through ``model_writer`` and is written here, with its .vocab:
    given a ``model_prefix``, SentencePiece records that path inside the model, so the same
    tokenizer trained into two folders would be two different files (and every token shard
    records the tokenizer's SHA-256).
    """
    if not lines:
        raise ValueError("no training text: the input documents are empty")
    writer = io.BytesIO()

    def run():
        spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=writer, **options)

    _progress_while(label, run)
    model = writer.getvalue()
    with open(model_prefix + ".model", "wb") as f:
        f.write(model)
    write_vocab(model, model_prefix + ".vocab")
    return model_prefix + ".model"


def write_vocab(model: bytes, path: str) -> None:
    """SentencePiece's .vocab file: "piece<TAB>score" per id, scores as its C++ writer
    prints them (six significant digits)."""
    sp = spm.SentencePieceProcessor(model_proto=model)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(sp.get_piece_size()):
            f.write(f"{sp.id_to_piece(i)}\t{sp.get_score(i):g}\n")


def write_json(path: str, obj: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
