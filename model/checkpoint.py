"""Checkpoints with torch.distributed.checkpoint (DCP): save sharded, resume exactly.

A checkpoint is a folder ``checkpoints/step_000040/`` holding
  - the DCP files: model and optimizer state, each rank writing only its own shards
    (resharding on load, so a run may resume on a different number of ranks);
  - ``trainer.pt``: step, LR-scheduler state, data-reader position (replicated, rank 0);
  - ``rng_rank{r}.pt``: each rank's CPU/CUDA RNG states.
It is written to ``step_N.tmp`` and renamed once every rank has finished, so a run
killed mid-save never leaves a folder that looks complete. Only the newest ``keep``
checkpoints are kept.
"""
from __future__ import annotations

import logging
import pathlib
import re
import shutil
from typing import Any, Optional

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

log = logging.getLogger(__name__)
_STEP_DIR = re.compile(r"^step_(\d+)$")


def checkpoint_dir(run_dir: pathlib.Path) -> pathlib.Path:
    return pathlib.Path(run_dir) / "checkpoints"


def list_checkpoints(run_dir: pathlib.Path) -> list[tuple[int, pathlib.Path]]:
    """Complete checkpoints, oldest first (a ``.tmp`` folder is an interrupted save)."""
    root = checkpoint_dir(run_dir)
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = _STEP_DIR.match(p.name)
        if m and (p / ".metadata").exists() and (p / "trainer.pt").exists():
            found.append((int(m.group(1)), p))
    return sorted(found)


def latest_checkpoint(run_dir: pathlib.Path) -> Optional[pathlib.Path]:
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


def remove_partial(run_dir: pathlib.Path) -> list[str]:
    """Delete ``step_N.tmp`` folders left by a run killed while saving; returns their names."""
    root = checkpoint_dir(run_dir)
    partial = sorted(p for p in root.glob("step_*.tmp") if p.is_dir()) if root.is_dir() else []
    for p in partial:
        shutil.rmtree(p, ignore_errors=True)
    return [p.name for p in partial]


def _rng_state() -> dict[str, Any]:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def save(run_dir: pathlib.Path, step: int, model, optimizer, trainer_state: dict, keep: int = 3) -> pathlib.Path:
    """Collective: every rank must call it. Returns the final checkpoint folder."""
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
    torch.save(_rng_state(), tmp / f"rng_rank{rank}.pt")
    if rank == 0:
        torch.save(trainer_state, tmp / "trainer.pt")
    dist.barrier()
    if rank == 0:
        if final.exists():  # re-saving a step after a resume
            shutil.rmtree(final)
        tmp.rename(final)
        for _, old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    dist.barrier()
    return final


def load(path: pathlib.Path, model, optimizer) -> dict:
    """Collective: restore model, optimizer and this rank's RNG in place; return the trainer state."""
    path = pathlib.Path(path)
    model_sd, optim_sd = get_state_dict(model, optimizer)
    state = {"model": model_sd, "optim": optim_sd}
    dcp.load(state, checkpoint_id=str(path))
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])
    rng_file = path / f"rng_rank{dist.get_rank()}.pt"
    if rng_file.exists():  # absent when resuming on more ranks than saved
        _set_rng_state(torch.load(rng_file, weights_only=False))
    return torch.load(path / "trainer.pt", weights_only=False)


def load_model_weights(path: pathlib.Path, model: torch.nn.Module) -> None:
    """Load only the model weights into a plain (unsharded) module, in one process, no process group."""
    import warnings

    state = {"model": model.state_dict()}
    with warnings.catch_warnings():  # DCP warns that it assumes a single process: that is the intent here
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        dcp.load(state, checkpoint_id=str(path), no_dist=not dist.is_initialized())
    model.load_state_dict(state["model"])
