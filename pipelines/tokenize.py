"""The tokenize job: Parquet documents -> shuffled Arrow token shards + manifest.json.

    python -m pipelines.tokenize --input DOCS --tokenizer tokenizer.model --output SHARDS \
        [--shard_size_mb 256] [--validation_fraction 0.01] [--seed 0] [--bos]
    python -m pipelines.tokenize --source web=CLEAN/documents:1.0 --source books=BOOKS:2.0 ...

A mixture source is ``NAME=PATH[:WEIGHT]``: WEIGHT is the number of passes over that
source per reader epoch (1.5 = every window once plus a seeded half again). The weights
are recorded in the manifest and applied by ``TokenWindowReader`` (the shards hold every
document exactly once, so weights can be changed later by editing the manifest).

How it is computed (see pipelines/io/shards.py for the format):
* documents are encoded in batches (SentencePiece loaded once per worker in setup()),
  EOS appended (BOS prepended with --bos); empty documents are counted skips;
* split: hash(document id) < validation_fraction -> validation (seed independent);
* global shuffle: key = hash(seed, source, id); shard i of n holds keys in [i/n,(i+1)/n)
  sorted by key, so the shards in order are one global shuffle, and n = ceil(tokens *
  itemsize / shard_size) per (source, split) comes from an in-pipeline sum;
* memory bound: one shard's documents are grouped on one worker (~shard_size_mb).
Byte-identical reruns: everything above is a function of the input, seed and sizes.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import sys
from typing import Optional

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.io.documents import ReadDocuments, expand_document_inputs
from pipelines.io.shards import (
    MANIFEST_NAME, TRAIN, VALIDATION, assign_shard, build_manifest, is_validation, manifest_json,
    num_shards_for, remove_stale_shards, shard_file_name, shard_schema, shuffle_key, token_dtype,
    tokens_to_table, write_shard_bytes,
)
from pipelines.progress import Progress
from pipelines.beam.runner import add_runner_defaults, check_beam_flags
from pipelines.beam.transforms import BatchDocuments, JoinSinks
from pipelines import completion, joblog
from pipelines.stats import KEPT, WriteStats, count_metric, dropped, error

log = logging.getLogger("pipelines.tokenize")

SOURCE_NAME = re.compile(r"^[A-Za-z0-9_]+$")


class SentencePieceEncoder:
    """Picklable SentencePiece wrapper: carries the model bytes, loads in setup().

    Carrying the serialized model (~1 MB) means remote workers need no shared file.
    """

    def __init__(self, model_path: str, bos: bool = False):
        with FileSystems.open(model_path) as f:
            self.model_bytes = f.read()
        self.sha256 = hashlib.sha256(self.model_bytes).hexdigest()
        self.bos = bos
        self._sp = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_sp"] = None
        return state

    def setup(self) -> None:
        import sentencepiece as spm

        self._sp = spm.SentencePieceProcessor(model_proto=self.model_bytes)
        if self._sp.eos_id() < 0 or (self.bos and self._sp.bos_id() < 0):
            raise ValueError("the tokenizer has no EOS (or BOS) piece; train it with tokenizer_training.train")
        self.vocab_size = self._sp.get_piece_size()
        self.dtype = np.dtype(token_dtype(self.vocab_size))

    @property
    def sp(self):
        if self._sp is None:
            self.setup()
        return self._sp

    def encode(self, texts: list[str]) -> list[np.ndarray]:
        """Token ids per text, EOS appended (BOS prepended when asked), as compact arrays."""
        sp = self.sp
        prefix = [sp.bos_id()] if self.bos else []
        eos = [sp.eos_id()]
        # num_threads=1: a Beam worker already runs one DoFn thread per core; SentencePiece's
        # own thread pool on top would oversubscribe the cores.
        return [np.array(prefix + ids + eos, dtype=self.dtype) for ids in sp.encode(texts, num_threads=1)]

    def manifest_fields(self) -> dict:
        sp = self.sp
        return {"tokenizer_sha256": self.sha256, "vocab_size": sp.get_piece_size(), "bos_id": sp.bos_id(),
                "eos_id": sp.eos_id(), "pad_id": sp.pad_id()}

    def schema(self):
        return shard_schema(**self.manifest_fields())


class EncodeBatch(beam.DoFn):
    """A batch of Documents -> (outcome, record) with record = (source, split, key, id, tokens)."""

    def __init__(self, encoder: SentencePieceEncoder, source: str, seed: int, validation_fraction: float):
        self.encoder = encoder
        self.source = source
        self.seed = seed
        self.validation_fraction = validation_fraction

    def setup(self):
        self.encoder.setup()
        self._progress = Progress(f"tokenize[{self.source}]", "documents encoded", 20_000)

    def process(self, docs):
        self._progress.add(len(docs))
        keep = [d for d in docs if d.text and d.text.strip()]
        for _ in range(len(docs) - len(keep)):
            yield dropped("tokenize.empty_text"), None
        if not keep:
            return
        try:
            token_lists = self.encoder.encode([d.text for d in keep])
        except Exception:  # one bad text must not lose the batch: retry one by one
            token_lists = []
            for d in keep:
                try:
                    token_lists.append(self.encoder.encode([d.text])[0])
                except Exception:
                    token_lists.append(None)
        for doc, tokens in zip(keep, token_lists):
            if tokens is None:
                yield error("tokenize.encode_failed"), None
                continue
            split = VALIDATION if is_validation(doc.id, self.validation_fraction) else TRAIN
            yield KEPT, (self.source, split, shuffle_key(self.seed, self.source, doc.id), doc.id, tokens)


def _count(outcome_and_record):
    outcome = outcome_and_record[0]
    count_metric(outcome)
    return outcome


class WriteShard(beam.DoFn):
    """All documents of one shard -> one Arrow IPC file, rows sorted by shuffle key."""

    def __init__(self, output: str, schema_bytes: bytes):
        self.output = output
        self.schema_bytes = schema_bytes

    def process(self, element):
        import pyarrow as pa

        (source, split, index, num_shards), records = element
        records = sorted(records, key=lambda r: (r[2], r[3]))  # key, then id: total order
        schema = pa.ipc.read_schema(pa.py_buffer(self.schema_bytes))
        table = tokens_to_table([r[4] for r in records], schema)
        name = shard_file_name(source, split, index, num_shards)
        with FileSystems.create(FileSystems.join(self.output, name)) as f:
            f.write(write_shard_bytes(table))
        yield {"path": name, "split": split, "source": source, "documents": len(records),
               "tokens": int(sum(len(r[4]) for r in records))}


def parse_sources(inputs: list[str], sources: list[str]) -> dict[str, tuple[str, float]]:
    """--input DIR is the source 'web' with weight 1; --source NAME=PATH[:WEIGHT]."""
    parsed: dict[str, tuple[str, float]] = {}
    for spec in sources:
        name, sep, rest = spec.partition("=")
        if not sep or not SOURCE_NAME.match(name):
            raise ValueError(f"--source {spec!r}: expected NAME=PATH[:WEIGHT] with NAME of letters, digits, _")
        path, weight = rest, 1.0
        head, colon, tail = rest.rpartition(":")
        if colon and re.fullmatch(r"[0-9]*\.?[0-9]+", tail):
            path, weight = head, float(tail)
        if weight < 0:
            raise ValueError(f"--source {spec!r}: weight must be >= 0")
        if name in parsed:
            raise ValueError(f"--source {name!r} given twice")
        parsed[name] = (path, weight)
    for path in inputs:
        if "web" in parsed:
            raise ValueError("--input is the source 'web'; with --source web=..., drop --input")
        parsed["web"] = (path, 1.0)
    if not parsed:
        raise ValueError("give --input DOCS or at least one --source NAME=PATH[:WEIGHT]")
    return parsed


def tokenizer_paths(model_path: str) -> dict:
    """Where the tokenizer lives, recorded in the manifest so tools (e.g. model.export_hf)
    can find the files the shards were made with; the sha256 says whether they still match."""
    paths = {"tokenizer_model": model_path}
    hf_json = FileSystems.join(os.path.dirname(model_path) or ".", "tokenizer.json")
    if FileSystems.exists(hf_json):
        paths["tokenizer_json"] = hf_json
        with FileSystems.open(hf_json) as f:  # model.export_hf ships tokenizer.json only if it still matches
            paths["tokenizer_json_sha256"] = hashlib.sha256(f.read()).hexdigest()
    return paths


def build_pipeline(p: beam.Pipeline, sources: dict[str, tuple[str, float]], files: dict[str, list[str]],
                   encoder: SentencePieceEncoder, output: str, *, seed: int, validation_fraction: float,
                   shard_size_mb: float, encode_batch_size: int = 256, manifest_extra: Optional[dict] = None) -> None:
    """``sources``: name -> (path as given, weight); ``files``: name -> its Parquet files."""
    schema = encoder.schema()
    itemsize = np.dtype(schema.metadata[b"dtype"].decode()).itemsize
    shard_bytes = int(shard_size_mb * 1024 * 1024)
    outcomes, records = [], []
    for name in sorted(sources):
        encoded = (
            p
            | f"Read[{name}]" >> ReadDocuments(files[name])
            | f"Batch[{name}]" >> BatchDocuments(min_batch_size=8, max_batch_size=encode_batch_size)
            | f"Encode[{name}]" >> beam.ParDo(EncodeBatch(encoder, name, seed, validation_fraction))
        )
        outcomes.append(encoded | f"Outcome[{name}]" >> beam.Map(_count))
        records.append(encoded | f"Kept[{name}]" >> beam.FlatMap(lambda o: [o[1]] if o[0] == KEPT else []))
    all_records = records | "AllSources" >> beam.Flatten()
    stats_written = (outcomes | "AllOutcomes" >> beam.Flatten()
                     | "Stats" >> WriteStats(FileSystems.join(output, "stats.json")))

    # Shard count per (source, split) from the total token bytes: a bounded global sum.
    totals = (all_records
              | "TokenBytes" >> beam.Map(lambda r: ((r[0], r[1]), len(r[4]) * itemsize))
              | "SumPerSplit" >> beam.CombinePerKey(sum))

    def to_shard(record, totals_by_split):
        n = num_shards_for(totals_by_split[(record[0], record[1])], shard_bytes)
        return (record[0], record[1], assign_shard(record[2], n), n), record

    shard_meta = (
        all_records
        | "AssignShard" >> beam.Map(to_shard, totals_by_split=beam.pvalue.AsDict(totals))
        | "GroupShard" >> beam.GroupByKey()
        | "WriteShard" >> beam.ParDo(WriteShard(output, schema.serialize().to_pybytes()))
    )
    fields = encoder.manifest_fields()
    mixture = {name: weight for name, (_, weight) in sources.items()}
    extra = {"sources": {name: path for name, (path, _) in sorted(sources.items())}, **(manifest_extra or {})}

    def write_manifest(shards: list[dict]):
        manifest = build_manifest(shards, seed=seed, validation_fraction=validation_fraction, mixture=mixture,
                                  extra=extra, **fields)
        with FileSystems.create(FileSystems.join(output, MANIFEST_NAME)) as f:
            f.write(manifest_json(manifest).encode())
        return manifest["totals"]

    # One small dict per shard (not per document): collecting them is bounded.
    manifest_written = (shard_meta
                        | "ShardList" >> beam.combiners.ToList()
                        | "WriteManifest" >> beam.Map(write_manifest))
    (stats_written, manifest_written) | "JoinSinks" >> JoinSinks("tokenize")


def build_arg_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m pipelines.tokenize",
        description="Parquet documents -> shuffled Arrow token shards (+ manifest.json, stats.json).",
        epilog="Any other flag is passed to Apache Beam (e.g. --runner, --direct_num_workers).",
    )
    p.add_argument("--input", action="append", default=[], help="documents folder/glob: the source 'web' (weight 1)")
    p.add_argument("--source", action="append", default=[],
                   help="mixture source NAME=PATH[:WEIGHT], WEIGHT = passes per epoch (repeatable)")
    p.add_argument("--tokenizer", required=True, help="tokenizer.model from python -m tokenizer_training.train")
    p.add_argument("--output", required=True, help="shards folder (gets *.arrow, manifest.json, stats.json)")
    p.add_argument("--shard_size_mb", type=float, default=256, help="target shard size in MiB of tokens")
    p.add_argument("--validation_fraction", type=float, default=0.01, help="documents held out, by id hash")
    p.add_argument("--seed", type=int, default=0, help="shuffle seed (recorded in the manifest)")
    p.add_argument("--bos", action="store_true", help="prepend BOS to every document (EOS is always appended)")
    p.add_argument("--encode_batch_size", type=int, default=256, help="documents per SentencePiece call")
    p.add_argument("--allow_incomplete_input", action="store_true",
                   help="read an input folder whose job did not finish (no _SUCCESS); off by default")
    return p


def run(argv: Optional[list[str]] = None) -> int:
    started = joblog.setup()
    argv = list(sys.argv[1:] if argv is None else argv)
    args, beam_args = build_arg_parser().parse_known_args(argv)
    try:
        check_beam_flags(beam_args)
        sources = parse_sources(args.input, args.source)
        # An output root reads its documents/; an unfinished one is refused.
        resolved = {name: completion.resolve_input(path, args.allow_incomplete_input) for name, (path, _) in sources.items()}
        roots = sorted({root for _, root in resolved.values() if root})
        # The tokenizer's folder is a job output too: an unfinished one is refused.
        tokenizer_root = completion.resolve_input(os.path.dirname(args.tokenizer) or ".", args.allow_incomplete_input,
                                                  main_output="")[1]
        roots += [tokenizer_root] if tokenizer_root else []
        # Listed (and footers checked) once, before the pipeline: bad paths fail here.
        files = {name: expand_document_inputs([read]) for name, (read, _) in resolved.items()}
        if not FileSystems.exists(args.tokenizer):
            raise FileNotFoundError(f"no tokenizer at {args.tokenizer!r}: train one with "
                                    "python -m tokenizer_training.train --input DOCS --output DIR")
        if not 0 <= args.validation_fraction < 1:
            raise ValueError("--validation_fraction must be in [0, 1)")
        if args.shard_size_mb <= 0:
            raise ValueError("--shard_size_mb must be > 0")
        completion.check_output(args.output)
        completion.check_not_inside_inputs(args.output, roots)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    encoder = SentencePieceEncoder(args.tokenizer, bos=args.bos)
    encoder.setup()
    if not FileSystems.exists(args.output):
        FileSystems.mkdirs(args.output)
    completion.begin(args.output)
    remove_stale_shards(args.output)
    log.info("tokenizing %s -> %s (seed %d, validation %.3f)", sorted(sources), args.output, args.seed,
             args.validation_fraction)
    with beam.Pipeline(options=PipelineOptions(add_runner_defaults(beam_args))) as p:
        build_pipeline(p, sources, files, encoder, args.output, seed=args.seed,
                       validation_fraction=args.validation_fraction, shard_size_mb=args.shard_size_mb,
                       encode_batch_size=args.encode_batch_size,
                       manifest_extra=tokenizer_paths(args.tokenizer))
    with FileSystems.open(FileSystems.join(args.output, MANIFEST_NAME)) as f:
        totals = json.loads(f.read().decode("utf-8"))["totals"]
    stats = dict(completion.read_stats(args.output) or {}, tokens=totals["tokens"], documents=totals["documents"])
    completion.finish(args.output, "tokenize", dict(completion.jsonable_flags(args, beam_args), argv=argv),
                      inputs=roots, started=started, stats=stats)
    return 0


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
