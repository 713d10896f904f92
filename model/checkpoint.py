"""Checkpoints with torch.distributed.checkpoint (DCP): save sharded, verify, resume exactly.

A checkpoint is a folder ``checkpoints/step_000040/`` holding
  - the DCP files: model and optimizer state, each rank writing only its own shards
    (resharding on load, so a run may resume on a different number of ranks);
  - ``trainer.pt``: step, LR-scheduler state, data-reader position (plain Python data,
    rank 0);
  - ``rng_rank{r}.pt``: each rank's CPU/CUDA RNG states (tensors);
  - ``manifest.json``: the SHA-256 and size of every other file, written last.
It is written to ``step_N.tmp`` and renamed once every rank has finished, so a run
killed mid-save never leaves a folder that looks complete. Only the newest ``keep``
checkpoints are kept.

Loading reads data, never code (see docs/trainer.md, "Trust boundary"): every file is
checked against ``manifest.json`` before anything is unpickled; ``trainer.pt`` and the
RNG files load with ``torch.load(weights_only=True)``; DCP's ``.metadata`` (a pickle by
design) goes through an unpickler that only builds DCP's own metadata classes; DCP's
non-tensor items load with ``weights_only=True`` too. A mismatch raises
:class:`CheckpointError`, naming the file.

The run folder itself is guarded by :class:`RunLock`: one trainer per ``--out``.
"""
from __future__ import annotations

import fcntl
import hashlib
import io
import json
import logging
import os
import pathlib
import pickle
import re
import shutil
import socket
import time
from typing import Any, Optional

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint import FileSystemReader
from torch.distributed.checkpoint.api import CheckpointException  # a BaseException, not an Exception
from torch.distributed.checkpoint.default_planner import DefaultLoadPlanner
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

log = logging.getLogger(__name__)
_STEP_DIR = re.compile(r"^step_(\d+)$")
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "model.checkpoint/1"
LOCK_NAME = "trainer.lock"
_SAFE_FILE_NAME = re.compile(r"^(?!\.\.?$)[A-Za-z0-9_.][A-Za-z0-9_.-]*$")  # plain names: no '/', not '.' or '..'
_BLOCK = 1 << 20


class CheckpointError(Exception):
    """A checkpoint (or run folder) that must not be loaded: the message names the file and why."""


class RunFolderBusy(Exception):
    """Another trainer holds the run folder's lock; the message names its PID."""


# --------------------------------------------------------------------------- listing


def checkpoint_dir(run_dir: pathlib.Path) -> pathlib.Path:
    return pathlib.Path(run_dir) / "checkpoints"


def _step_folders(run_dir: pathlib.Path) -> list[tuple[int, pathlib.Path]]:
    root = checkpoint_dir(run_dir)
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = _STEP_DIR.match(p.name)
        if m and p.is_dir():
            found.append((int(m.group(1)), p))
    return sorted(found)


def list_checkpoints(run_dir: pathlib.Path) -> list[tuple[int, pathlib.Path]]:
    """Complete checkpoints (with their manifest), oldest first. A ``.tmp`` folder is an
    interrupted save; a ``step_N`` folder without ``manifest.json`` is not complete either
    (see :func:`unverifiable_checkpoints`)."""
    return [(s, p) for s, p in _step_folders(run_dir) if (p / MANIFEST_NAME).is_file()]


def unverifiable_checkpoints(run_dir: pathlib.Path) -> list[pathlib.Path]:
    """``step_N`` folders without a manifest: written by an older trainer, copied partly, or
    not written by model.train at all. They are never loaded (nothing to verify them against)."""
    return [p for _, p in _step_folders(run_dir) if not (p / MANIFEST_NAME).is_file()]


def latest_checkpoint(run_dir: pathlib.Path) -> Optional[pathlib.Path]:
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


def remove_partial(run_dir: pathlib.Path) -> list[str]:
    """Delete ``step_N.tmp`` folders left by a run killed while saving; returns their names.
    Only call it while holding the run folder's :class:`RunLock` (another live trainer's
    save in progress looks exactly like this)."""
    root = checkpoint_dir(run_dir)
    partial = sorted(p for p in root.glob("step_*.tmp") if p.is_dir()) if root.is_dir() else []
    for p in partial:
        shutil.rmtree(p, ignore_errors=True)
    return [p.name for p in partial]


# --------------------------------------------------------------------------- digests


def file_digest(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            h.update(block)
    return h.hexdigest()


def _describe(path: pathlib.Path) -> dict:
    return {"sha256": file_digest(path), "bytes": path.stat().st_size}


def write_manifest(folder: pathlib.Path, step: int, known: Optional[dict[str, dict]] = None) -> dict:
    """Record every file of ``folder`` (SHA-256, size) in ``manifest.json``; written last.

    ``known``: digests already computed (by the ranks that wrote those files); the rest
    are computed here.
    """
    folder = pathlib.Path(folder)
    known = dict(known or {})
    files = {}
    for p in sorted(folder.iterdir()):
        if p.name == MANIFEST_NAME:
            continue
        if not p.is_file() or not _SAFE_FILE_NAME.match(p.name):
            raise CheckpointError(f"{p}: unexpected entry in a checkpoint being saved")
        files[p.name] = known.get(p.name) or _describe(p)
    manifest = {"format": MANIFEST_FORMAT, "step": int(step), "algorithm": "sha256", "files": files}
    tmp = folder / (MANIFEST_NAME + ".part")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    tmp.rename(folder / MANIFEST_NAME)
    return manifest


def read_manifest(folder: pathlib.Path) -> dict:
    """Parse and sanity-check ``manifest.json`` (JSON: data only). Raises CheckpointError."""
    folder = pathlib.Path(folder)
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise CheckpointError(
            f"{folder} has no {MANIFEST_NAME}: the save did not finish, or the folder was written by an "
            "older model.train or by something else. It cannot be verified, so it is not loaded; move it "
            "out of the run folder (or pass a new --out)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc}): refusing to load {folder}") from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if (not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT
            or manifest.get("algorithm") != "sha256" or not isinstance(files, dict) or not files):
        raise CheckpointError(f"{path} is not a {MANIFEST_FORMAT} manifest: refusing to load {folder}")
    for name, entry in files.items():
        if (not isinstance(name, str) or not _SAFE_FILE_NAME.match(name) or name == MANIFEST_NAME
                or not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str)
                or not isinstance(entry.get("bytes"), int)):
            raise CheckpointError(f"{path}: bad entry {name!r}: refusing to load {folder}")
    return manifest


def verify_checkpoint(folder: pathlib.Path, part: tuple[int, int] = (0, 1)) -> dict:
    """Check the files of a checkpoint folder against its manifest before anything reads them.

    Every file must be listed, every listed file present with the recorded size and
    SHA-256. ``part=(i, n)`` hashes only every n-th file starting at i (the ranks of a
    run split the work); the listing and sizes are always checked in full.
    Returns the manifest; raises CheckpointError naming the first bad file.
    """
    folder = pathlib.Path(folder)
    manifest = read_manifest(folder)
    files = manifest["files"]
    present = {p.name for p in folder.iterdir()} - {MANIFEST_NAME}
    unexpected = sorted(present - set(files))
    if unexpected:
        raise CheckpointError(f"{folder / unexpected[0]} is not in the checkpoint's {MANIFEST_NAME}: something "
                              "wrote into the folder after the save; refusing to load it")
    if folder.is_symlink() or folder.parent.is_symlink():
        raise CheckpointError(f"{folder} is a symbolic link (or inside one): a checkpoint is loaded only from "
                              "its own folder")
    for name in sorted(files):
        path = folder / name
        if path.is_symlink():  # its target could change between the check and the load
            raise CheckpointError(f"{path} is a symbolic link: a checkpoint holds plain files only")
        if not path.is_file():
            raise CheckpointError(f"{path} is missing (listed in {MANIFEST_NAME}): incomplete checkpoint")
        size = path.stat().st_size
        if size != files[name]["bytes"]:
            raise CheckpointError(f"{path} is {size} bytes, but {MANIFEST_NAME} records {files[name]['bytes']}: "
                                  "truncated or replaced after the save; refusing to load it")
    index, count = part
    for name in sorted(files)[index::count]:
        actual = file_digest(folder / name)
        if actual != files[name]["sha256"]:
            raise CheckpointError(f"{folder / name} has SHA-256 {actual[:16]}..., but {MANIFEST_NAME} records "
                                  f"{files[name]['sha256'][:16]}...: the file changed after the save (corruption "
                                  "or tampering); refusing to load it")
    return manifest


def _remove_checkpoint(folder: pathlib.Path) -> None:
    """Rename to ``step_N.tmp`` first (atomic), then delete: a kill half-way through the
    delete leaves a .tmp folder, which the next start removes, never a step folder without
    its manifest, which the next start would refuse."""
    doomed = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(doomed, ignore_errors=True)
    folder.rename(doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def first_error_across_ranks(error: Any) -> Any:
    """Collective: every rank's error (or None) -> the first one (by rank), on every rank."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return error
    gathered: list = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, error)  # our own processes' strings
    return next((e for e in gathered if e), None)


def verify_checkpoint_collective(folder: pathlib.Path) -> None:
    """Every rank hashes its share of the files; all ranks raise the same CheckpointError."""
    error = None
    try:
        verify_checkpoint(folder, part=(dist.get_rank(), dist.get_world_size()))
    except CheckpointError as exc:
        error = str(exc)
    error = first_error_across_ranks(error)
    if error:
        raise CheckpointError(error)


# --------------------------------------------------------------------------- data-only loading

# DCP's .metadata is a pickle. It is verified against the manifest first; this unpickler
# is the second line: it only builds DCP's metadata classes and a few plain torch types,
# so even a metadata file that matches a rewritten manifest cannot run code.
_METADATA_MODULES = ("torch.distributed.checkpoint.metadata",)
_METADATA_GLOBALS = {
    ("torch.distributed.checkpoint.filesystem", "_StorageInfo"),
    ("torch.serialization", "_get_layout"),
    ("torch", "Size"),
    ("collections", "OrderedDict"),
    ("pathlib", "Path"), ("pathlib", "PosixPath"), ("pathlib", "WindowsPath"),
    ("pathlib", "PurePosixPath"), ("pathlib", "PureWindowsPath"),
}


class _MetadataUnpickler(pickle._Unpickler):
    """Builds only DCP's metadata classes and a few plain types. The pure-Python unpickler
    (not the C one) so BUILD can be checked: pickle's BUILD sets attributes on whatever is
    on the stack, and on a class (rather than an instance) it would change that class for
    the whole process (e.g. every pathlib.Path)."""

    def load_build(self):
        if isinstance(self.stack[-2], type):
            raise pickle.UnpicklingError("BUILD on a class is not allowed in DCP metadata")
        super().load_build()

    dispatch = dict(pickle._Unpickler.dispatch)
    dispatch[pickle.BUILD[0]] = load_build

    def find_class(self, module: str, name: str):
        if "." not in name:
            if module in _METADATA_MODULES:
                obj = super().find_class(module, name)
                if isinstance(obj, type) and obj.__module__ == module:  # classes defined there, not imports
                    return obj
            elif (module, name) in _METADATA_GLOBALS:
                return super().find_class(module, name)
            elif module == "torch" and isinstance(getattr(torch, name, None), (torch.dtype, torch.memory_format)):
                return getattr(torch, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in DCP metadata")


def read_dcp_metadata(path: pathlib.Path):
    """DCP's ``.metadata`` through :class:`_MetadataUnpickler`; its storage entries may only
    name plain files inside the checkpoint folder. Raises CheckpointError."""
    from torch.distributed.checkpoint.metadata import Metadata

    path = pathlib.Path(path)
    try:
        with open(path, "rb") as f:
            metadata = _MetadataUnpickler(f).load()
    except OSError as exc:
        raise CheckpointError(f"{path}: {exc.strerror or exc}") from None
    except Exception as exc:  # a pickle error of any kind: not DCP's own metadata
        raise CheckpointError(f"{path}: refused while unpickling ({exc})") from None
    if not isinstance(metadata, Metadata) or not isinstance(metadata.state_dict_metadata, dict):
        raise CheckpointError(f"{path} does not hold DCP metadata")
    for info in (metadata.storage_data or {}).values():
        relative = getattr(info, "relative_path", None)
        if not isinstance(relative, str) or not _SAFE_FILE_NAME.match(relative):
            raise CheckpointError(f"{path} names {relative!r}, not a file in the checkpoint folder")
    return metadata


class DataOnlyReader(FileSystemReader):
    """FileSystemReader whose ``.metadata`` is read by :func:`read_dcp_metadata`."""

    def read_metadata(self, *args: Any, **kwargs: Any):
        from torch.distributed.checkpoint.metadata import StorageMeta

        rank = kwargs.get("rank")
        metadata = read_dcp_metadata(pathlib.Path(self.path) / (".metadata" if rank is None else f"__{rank}.metadata"))
        if getattr(metadata, "storage_meta", None) is None:
            metadata.storage_meta = StorageMeta()
        metadata.storage_meta.load_id = self.load_id
        return metadata


class DataOnlyLoadPlanner(DefaultLoadPlanner):
    """DCP stores non-tensor values (optimizer hyperparameters) with torch.save and loads
    them with ``weights_only=False``; this planner loads them with ``weights_only=True``."""

    def load_bytes(self, read_item, value: io.BytesIO) -> None:
        from torch.distributed.checkpoint._traverse import set_element

        obj = torch.load(value, weights_only=True)
        if self.flatten_state_dict:
            set_element(self.original_state_dict, self.mappings[read_item.dest_index.fqn], obj)
        else:
            self.state_dict[read_item.dest_index.fqn] = obj


def _dcp_load(state: dict, path: pathlib.Path, **kwargs) -> None:
    # Checked here first: inside dcp.load a failed read is logged with tracebacks and retried
    # as per-rank metadata before it surfaces.
    read_dcp_metadata(path / ".metadata")
    try:
        dcp.load(state, storage_reader=DataOnlyReader(path), planner=DataOnlyLoadPlanner(), **kwargs)
    except CheckpointError:
        raise
    except (Exception, CheckpointException) as exc:  # per-rank failures with tracebacks: keep the messages
        failures = getattr(exc, "failures", None)
        if isinstance(failures, dict):
            errors = [f[0] if isinstance(f, tuple) else f for f in failures.values()]
            message = "; ".join(f"{type(e).__name__}: {e}" for e in errors)
        else:
            message = f"{type(exc).__name__}: {exc}"
        raise CheckpointError(f"{path}: loading the DCP state failed: {message}") from None


def _load_data(path: pathlib.Path) -> Any:
    """torch.load of plain data and tensors only (never arbitrary pickled objects)."""
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:
        raise CheckpointError(f"{path}: refused by torch.load(weights_only=True): "
                              f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


# --------------------------------------------------------------------------- save / load


def _rng_state() -> dict[str, Any]:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def _set_rng_state(state: Any, path: pathlib.Path) -> None:
    if not isinstance(state, dict) or not isinstance(state.get("cpu"), torch.Tensor):
        raise CheckpointError(f"{path} does not hold RNG states")
    torch.set_rng_state(state["cpu"])
    if isinstance(state.get("cuda"), torch.Tensor) and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def save(run_dir: pathlib.Path, step: int, model, optimizer, trainer_state: dict, keep: int = 3) -> pathlib.Path:
    """Collective: every rank must call it. Returns the final checkpoint folder.

    ``trainer_state`` must be plain data (dict/list/str/int/float/bool/None, tensors): it is
    loaded back with ``weights_only=True``.
    """
    rank = dist.get_rank()
    root = checkpoint_dir(run_dir)
    final = root / f"step_{step:06d}"
    tmp = root / f"step_{step:06d}.tmp"
    if rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    dist.barrier()
    model_sd, optim_sd = get_state_dict(model, optimizer)
    dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=str(tmp))
    rng_file = tmp / f"rng_rank{rank}.pt"
    torch.save(_rng_state(), rng_file)
    # Each rank hashes the files it wrote (still in the page cache); rank 0 the rest.
    mine = {p.name: _describe(p) for p in [rng_file, *tmp.glob(f"__{rank}_*.distcp")]}
    if rank == 0:
        torch.save(trainer_state, tmp / "trainer.pt")
    digests: list[Optional[dict]] = [None] * dist.get_world_size()
    if dist.get_world_size() > 1:
        dist.all_gather_object(digests, mine)
    else:
        digests = [mine]
    if rank == 0:
        write_manifest(tmp, step, {k: v for d in digests for k, v in (d or {}).items()})
        if final.exists():  # re-saving a step after a resume
            _remove_checkpoint(final)
        tmp.rename(final)
        for _, old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
            _remove_checkpoint(old)
    dist.barrier()
    return final


def load(path: pathlib.Path, model, optimizer) -> dict:
    """Collective: verify the checkpoint, restore model, optimizer and this rank's RNG in
    place; return the trainer state. Raises CheckpointError (on every rank) if any file
    does not match the manifest."""
    path = pathlib.Path(path)
    verify_checkpoint_collective(path)
    model_sd, optim_sd = get_state_dict(model, optimizer)
    state = {"model": model_sd, "optim": optim_sd}
    _dcp_load(state, path)
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])
    trainer_state, error = None, None
    try:
        rng_file = path / f"rng_rank{dist.get_rank()}.pt"
        if rng_file.exists():  # absent when resuming on more ranks than saved
            _set_rng_state(_load_data(rng_file), rng_file)
        trainer_state = _load_data(path / "trainer.pt")
        if not isinstance(trainer_state, dict) or not {"step", "scheduler", "data"} <= set(trainer_state):
            raise CheckpointError(f"{path / 'trainer.pt'} does not hold a trainer state")
    except CheckpointError as exc:
        error = str(exc)
    error = first_error_across_ranks(error)  # a bad rng_rank1.pt stops rank 0 too
    if error:
        raise CheckpointError(error)
    return trainer_state


def load_model_weights(path: pathlib.Path, model: torch.nn.Module) -> None:
    """Verify the checkpoint, then load only the model weights into a plain (unsharded)
    module, in one process, no process group. Raises CheckpointError."""
    import warnings

    path = pathlib.Path(path)
    verify_checkpoint(path)
    state = {"model": model.state_dict()}
    with warnings.catch_warnings():  # DCP warns that it assumes a single process: that is the intent here
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        _dcp_load(state, path, no_dist=not dist.is_initialized())
    model.load_state_dict(state["model"])


# --------------------------------------------------------------------------- run folder lock


class RunLock:
    """An exclusive ``flock`` on ``RUN/trainer.lock``: one trainer per run folder.

    The holder writes its PID (host, start time) into the file. The OS drops the lock
    when the holding process dies, however it dies, so a stale file never blocks a run.
    The file is never deleted (deleting a lock file lets two processes lock two
    different files). flock works on local file systems; on NFS it depends on the
    server (Linux clients map it to POSIX locks).
    """

    def __init__(self, run_dir: pathlib.Path):
        self.path = pathlib.Path(run_dir) / LOCK_NAME
        self._fd: Optional[int] = None

    def acquire(self) -> "RunLock":
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(self.path, flags, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (BlockingIOError, PermissionError):
            holder = self._read(fd)
            os.close(fd)
            raise RunFolderBusy(
                f"{self.path.parent} is in use by another trainer ({holder}), which holds {self.path}. "
                "Two trainers on one run folder overwrite each other's checkpoints and metrics: wait for it "
                "to finish, stop it, or pass a different --out") from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        self._fd = fd
        return self

    @staticmethod
    def _read(fd: int) -> str:
        try:
            record = json.loads(os.pread(fd, 4096, 0).decode("utf-8", "replace") or "{}")
        except ValueError:
            record = {}
        if not isinstance(record, dict) or "pid" not in record:
            return "PID unknown: it is just starting"
        return f"PID {record['pid']} on {record.get('host', '?')}, since {record.get('started', '?')}"

    def holder(self) -> Optional[dict]:
        """The lock file's record (for messages and tests); None when empty or unreadable."""
        try:
            record = json.loads(self.path.read_text(encoding="utf-8") or "null")
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
