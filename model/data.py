"""The trainer's data: deterministic, resumable, rank-disjoint token windows over the
memory-mapped Arrow shards that ``python -m pipelines.tokenize`` writes (format:
:mod:`pipelines.io.shards`). Kept beside the trainer, as torchtitan keeps its dataloader.

Reader contract (``TokenWindowReader``)
---------------------------------------
* Each source's train shards, in manifest order, form one flat token stream. It is cut
  into windows of ``seq_len + 1`` tokens that run across document boundaries. The last
  ``< seq_len + 1`` tokens of each source's stream are never read (the documented
  remainder).
* Mixture: a source with weight ``w`` over ``N`` windows contributes
  ``C = floor(w * N + 0.5)`` windows to every epoch: ``C // N`` full passes plus
  ``C % N`` windows drawn without replacement (seeded by seed, epoch, source), so the
  proportions are exact window counts.
* Epoch ``e`` is a permutation of those window ids seeded by ``(seed, e)``: the GLOBAL
  window sequence depends on seed and epoch only, never on world size. Epochs are
  concatenated into one infinite sequence; global step ``k`` is windows
  ``[k*G, (k+1)*G)`` with ``G = batch_size * world_size``; rank ``r`` takes rows
  ``r*batch_size .. (r+1)*batch_size - 1``. A step may straddle an epoch boundary, so
  no window is skipped: every window is read exactly once per epoch (weight 1).
* State is the global window cursor, so a run saved with 2 ranks resumes exactly with
  1 rank (or 4), as long as the global batch of the new run is what the user wants.
* ``iter_epoch_batches()`` is one deterministic, unshuffled, unweighted pass (for
  validation); its last global batch is filled up by wrapping to the start (like
  ``DistributedSampler``), so every rank yields the same number of batches.
* No DataLoader workers: a batch is a few NumPy slices of memory-mapped files, so the
  reader runs in the training process. Memory: one int64 per window of an epoch for the
  permutation (1T tokens at seq_len 2048 -> ~4 GB), plus the page cache for the maps.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pyarrow as pa

from pipelines.io.shards import (
    FORMAT_VERSION, TRAIN, VALIDATION, read_manifest,
)


def mixture_window_count(weight: float, num_windows: int) -> int:
    """Windows a source contributes per epoch: weight * windows, rounded half up."""
    return int(math.floor(weight * num_windows + 0.5))


@dataclass
class _Source:
    name: str
    weight: float
    segments: list  # NumPy views over the memory-mapped values buffers
    starts: np.ndarray  # token offset of each segment in the source's flat stream
    num_windows: int


def _open_token_values(path: str) -> tuple[list[np.ndarray], dict]:
    """Memory-map one shard; return zero-copy views of its flat token values."""
    source = pa.memory_map(path, "r")
    reader = pa.ipc.open_file(source)
    views = []
    for i in range(reader.num_record_batches):
        column = reader.get_batch(i).column(0)
        # flatten() honours the list offsets (a sliced batch); values are never null.
        values = column.flatten()
        if len(values):
            views.append(values.to_numpy(zero_copy_only=True))
    return views, reader.schema.metadata or {}


class TokenWindowReader:
    """Deterministic, resumable, rank-disjoint windows over memory-mapped token shards."""

    def __init__(
        self,
        path: str,
        split: str = TRAIN,
        seq_len: int = 256,
        batch_size: int = 8,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
    ):
        if seq_len < 1 or batch_size < 1:
            raise ValueError("seq_len and batch_size must be >= 1")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size); got rank={rank} world_size={world_size}")
        if split not in (TRAIN, VALIDATION):
            raise ValueError(f"split must be {TRAIN!r} or {VALIDATION!r}, got {split!r}")
        self.path = path
        self.split = split
        self.seq_len = seq_len
        self.window = seq_len + 1
        self.batch_size = batch_size
        self.rank = rank
        self.world_size = world_size
        self.seed = int(seed)
        self.manifest = read_manifest(path)
        self.vocab_size = int(self.manifest["vocab_size"])
        self.eos_id = int(self.manifest["eos_id"])
        self.bos_id = int(self.manifest["bos_id"])
        self.pad_id = int(self.manifest.get("pad_id", -1))
        self.tokenizer_sha256 = self.manifest["tokenizer_sha256"]
        self.sources = self._open_sources()
        # Global window id of each source's first window (sources concatenated).
        counts = np.array([s.num_windows for s in self.sources], dtype=np.int64)
        self._bases = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        # Flat segment table over all sources, for batch-vectorised lookups.
        self._seg_views = [seg for src in self.sources for seg in src.segments]
        lengths = np.array([len(v) for v in self._seg_views], dtype=np.int64)
        self._seg_starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        source_tokens = np.array([int(src.starts[-1]) for src in self.sources], dtype=np.int64)
        self._token_base = np.concatenate([[0], np.cumsum(source_tokens)])[:-1].astype(np.int64)
        self.windows_per_epoch = self._epoch_window_count()
        if self.windows_per_epoch == 0:
            raise ValueError(
                f"split {split!r} of {path} has no window of seq_len+1={self.window} tokens: "
                "use a smaller seq_len, more data, or (validation) a larger --validation_fraction"
            )
        self.position = 0  # global window cursor over the infinite epoch sequence
        self._epoch_cache: dict[int, np.ndarray] = {}

    # ---- setup

    def _open_sources(self) -> list[_Source]:
        mixture = self.manifest.get("mixture") or {}
        by_source: dict[str, list[dict]] = {}
        for shard in self.manifest["shards"]:
            if shard["split"] == self.split:
                by_source.setdefault(shard["source"], []).append(shard)
        sources = []
        for name in sorted(by_source):
            segments: list[np.ndarray] = []
            for shard in by_source[name]:
                if shard["tokens"] == 0:
                    continue
                views, meta = _open_token_values(os.path.join(self.path, shard["path"]))
                if meta.get(b"tokenizer_sha256", b"").decode() != self.tokenizer_sha256:
                    raise ValueError(f"{shard['path']}: tokenizer_sha256 differs from the manifest's")
                segments.extend(views)
            lengths = np.array([len(s) for s in segments], dtype=np.int64)
            starts = np.zeros(len(segments) + 1, dtype=np.int64)
            np.cumsum(lengths, out=starts[1:])
            weight = float(mixture.get(name, {}).get("weight", 1.0)) if self.split == TRAIN else 1.0
            sources.append(_Source(name, weight, segments, starts, int(starts[-1]) // self.window))
        return sources

    def _weighted_count(self, src: _Source) -> int:
        return mixture_window_count(src.weight, src.num_windows)

    def _epoch_window_count(self) -> int:
        return sum(self._weighted_count(s) for s in self.sources)


    def epoch_windows(self, epoch: int) -> np.ndarray:
        """The global window ids of one epoch, in reading order (same for every rank)."""
        cached = self._epoch_cache.get(epoch)
        if cached is not None:
            return cached
        bases = self._bases
        parts = []
        for i, src in enumerate(self.sources):
            ids = np.arange(src.num_windows, dtype=np.int64) + bases[i]
            whole, extra = divmod(self._weighted_count(src), max(src.num_windows, 1))
            parts.extend([ids] * whole)
            if extra:
                rng = np.random.default_rng([self.seed, epoch, i, 1])
                parts.append(np.sort(rng.choice(ids, size=extra, replace=False)))
        order = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        # The permutation depends on (seed, epoch) only: never on rank or world size.
        order = order[np.random.default_rng([self.seed, epoch]).permutation(len(order))]
        # Keep two epochs: a step that straddles an epoch boundary needs both.
        self._epoch_cache = {e: w for e, w in self._epoch_cache.items() if e == epoch - 1}
        self._epoch_cache[epoch] = order
        return order

    # ---- window access

    def source_of(self, window_ids: np.ndarray) -> np.ndarray:
        """Index of the source each global window id belongs to."""
        return np.searchsorted(self._bases, window_ids, side="right") - 1

    def _read_into(self, window_ids: np.ndarray, out: np.ndarray) -> None:
        # All lookups vectorised for the whole batch in one global token coordinate space
        # (sources' streams laid end to end); then one slice copy per window, two when a
        # window straddles a shard boundary. The copy casts uint16/uint32 -> int64.
        window = self.window
        src_idx = self.source_of(window_ids)
        starts = self._token_base[src_idx] + (window_ids - self._bases[src_idx]) * window
        segs = np.searchsorted(self._seg_starts, starts, side="right") - 1
        los = (starts - self._seg_starts[segs]).tolist()
        views = self._seg_views
        for row, (seg, lo) in enumerate(zip(segs.tolist(), los)):
            view = views[seg]
            if lo + window <= len(view):
                out[row] = view[lo:lo + window]
                continue
            filled = 0
            while filled < window:
                view = views[seg]
                take = min(len(view) - lo, window - filled)
                out[row, filled:filled + take] = view[lo:lo + take]
                filled += take
                seg += 1
                lo = 0

    def _read_rows(self, window_ids: np.ndarray) -> np.ndarray:
        out = np.empty((len(window_ids), self.window), dtype=np.int64)
        self._read_into(np.asarray(window_ids, dtype=np.int64), out)
        return out

    def global_window_ids(self, start: int, count: int) -> np.ndarray:
        """Window ids at global positions [start, start+count) of the infinite sequence."""
        per_epoch = self.windows_per_epoch
        epoch, offset = divmod(start, per_epoch)
        if offset + count <= per_epoch:  # the common case: inside one epoch
            return self.epoch_windows(epoch)[offset:offset + count]
        out = []
        pos = start
        while pos < start + count:
            epoch, offset = divmod(pos, per_epoch)
            take = min(per_epoch - offset, start + count - pos)
            out.append(self.epoch_windows(epoch)[offset:offset + take])
            pos += take
        return np.concatenate(out)

    # ---- public API

    @property
    def epoch(self) -> int:
        """Epoch of the next window to be read."""
        return self.position // self.windows_per_epoch

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.world_size

    def next_window_ids(self) -> np.ndarray:
        """This rank's window ids of the next step (does not advance)."""
        first = self.position + self.rank * self.batch_size
        return self.global_window_ids(first, self.batch_size)

    def next_batch(self) -> np.ndarray:
        """int64 array (batch_size, seq_len + 1): inputs x[:, :-1], targets x[:, 1:]."""
        ids = self.next_window_ids()
        self.position += self.global_batch
        return self._read_rows(ids)

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            yield self.next_batch()

    def iter_epoch_batches(self) -> Iterator[np.ndarray]:
        """One deterministic pass over the split in storage order, unweighted (for
        validation). The last global batch wraps to the start so all ranks yield the
        same number of batches; every window is seen at least once."""
        total = sum(s.num_windows for s in self.sources)
        for step in range(self.epoch_batches_count()):
            first = step * self.global_batch + self.rank * self.batch_size
            ids = np.arange(first, first + self.batch_size, dtype=np.int64) % total
            yield self._read_rows(ids)

    def epoch_batches_count(self) -> int:
        return math.ceil(sum(s.num_windows for s in self.sources) / self.global_batch)

    def state_dict(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "position": int(self.position),
            "seed": self.seed,
            "seq_len": self.seq_len,
            "split": self.split,
            "tokenizer_sha256": self.tokenizer_sha256,
            "windows_per_epoch": int(self.windows_per_epoch),
        }

    def load_state_dict(self, state: dict) -> None:
        """Resume at the saved global cursor. batch_size / world_size may differ."""
        for key in ("seed", "seq_len", "split", "tokenizer_sha256", "windows_per_epoch"):
            mine = getattr(self, key, None) if key != "windows_per_epoch" else self.windows_per_epoch
            if key in state and state[key] != mine:
                raise ValueError(
                    f"cannot resume: saved {key}={state[key]!r} but this reader has {mine!r}; "
                    "resume with the same shards, seed and seq_len as the saved run"
                )
        self.position = int(state["position"])

    def describe(self) -> dict:
        """Per-source window counts of one epoch (what the mixture resolves to)."""
        return {
            s.name: {"weight": s.weight, "windows": s.num_windows, "windows_per_epoch": self._weighted_count(s)}
            for s in self.sources
        }
