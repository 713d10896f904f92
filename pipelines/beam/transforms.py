"""Small transforms every job uses. Why they look the way they do: the Dask runner's
limits, listed once in :mod:`pipelines.beam.runner`."""
from __future__ import annotations

import logging

import apache_beam as beam

from pipelines.beam.runner import is_dask_pipeline


class SplitByKind(beam.PTransform):
    """(kind, payload) pairs -> {kind: PCollection of payloads} for the given kinds.

    The multi-output step of every job (Dask limit 1: no tagged outputs)."""

    def __init__(self, kinds: list[str]):
        super().__init__()
        self.kinds = kinds

    def expand(self, pairs):
        return {
            kind: pairs
            | f"Only_{kind}" >> beam.Filter(lambda kv, kind=kind: kv[0] == kind)
            | f"Payload_{kind}" >> beam.Map(lambda kv: kv[1])
            for kind in self.kinds
        }


class JoinSinks(beam.PTransform):
    """One last step that depends on every sink's output (written paths), so every
    runner writes every sink (Dask limit 2)."""

    def __init__(self, job: str):
        super().__init__()
        self.job = job

    def expand(self, written: tuple):
        job = self.job
        return (
            written
            | "AllWritten" >> beam.Flatten()
            | "CountWritten" >> beam.combiners.Count.Globally()
            | "LogWritten" >> beam.Map(lambda n: logging.getLogger("pipelines").info("%s: wrote %d files", job, n))
        )


class BatchDocuments(beam.PTransform):
    """``beam.BatchElements`` (lists of up to ``max_batch_size`` elements), on every runner.

    On Dask every element becomes its own batch (Dask limit 4: the last batch would
    vanish); same results, less vectorization. The runner is read from the pipeline's
    options, so jobs need no runner plumbing.
    """

    def __init__(self, min_batch_size: int, max_batch_size: int):
        super().__init__()
        self.min_batch_size, self.max_batch_size = min_batch_size, max_batch_size

    def expand(self, pcoll):
        if is_dask_pipeline(pcoll.pipeline):
            return pcoll | "OneElementBatches" >> beam.Map(lambda element: [element])
        return pcoll | "BatchElements" >> beam.BatchElements(min_batch_size=self.min_batch_size,
                                                             max_batch_size=self.max_batch_size)


class SumTuples(beam.CombineFn):
    """Element-wise sum of equal-length tuples of numbers: ``(docs, bytes)`` and the like.

    The one summing combiner of the project: the accumulator is small and fixed, so a
    global combine over a corpus stays bounded."""

    def __init__(self, width: int):
        self.width = width

    def create_accumulator(self):
        return (0,) * self.width

    def add_input(self, acc, values):
        return tuple(a + v for a, v in zip(acc, values))

    def merge_accumulators(self, accs):
        out = self.create_accumulator()
        for acc in accs:
            out = self.add_input(out, acc)
        return out

    def extract_output(self, acc):
        return acc


class MergeNamedNumbers(beam.CombineFn):
    """(name, number) pairs -> {name: number}, sorted by name; summed, or maxed when the
    name starts with ``max:`` (the prefix is dropped from the output). Bounded as long
    as the names are few (outcome keys, metric names)."""

    def create_accumulator(self):
        return {}

    def add_input(self, acc, element):
        name, value = element
        if name.startswith("max:"):
            acc[name] = max(acc.get(name, value), value)
        else:
            acc[name] = acc.get(name, 0) + value
        return acc

    def merge_accumulators(self, accs):
        out: dict = {}
        for acc in accs:
            for item in acc.items():
                self.add_input(out, item)
        return out

    def extract_output(self, acc):
        return {k.removeprefix("max:"): v for k, v in sorted(acc.items())}
