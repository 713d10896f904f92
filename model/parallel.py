"""Distribution: process group, FSDP2 sharding, mixed precision, activation checkpointing, compile.

Kept apart from the model (torchtitan style) so model/transformer.py stays plain PyTorch.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from typing import Optional

import torch
import torch.distributed as dist
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
from torch.distributed.tensor import DTensor, distribute_tensor

from model.config import ModelConfig
from model.transformer import Transformer

log = logging.getLogger(__name__)


@dataclasses.dataclass
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    owns_group: bool  # we created the process group, so we destroy it

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str = "auto") -> DistInfo:
    """Join torchrun's process group, or make a one-rank group when run as a plain process.

    A one-rank group keeps a single code path: FSDP2, DCP checkpoints and all-reduces
    behave the same for 1 and N processes. GPUs use NCCL, CPUs gloo.
    """
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cuda", "cpu"):
        raise SystemExit(f"--device must be auto, cuda or cpu, not {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda, but PyTorch sees no CUDA device: use --device cpu (or auto)")
    backend = "nccl" if device == "cuda" else "gloo"
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = torch.device("cuda", local_rank) if device == "cuda" else torch.device("cpu")
    if device == "cuda":
        torch.cuda.set_device(dev)
    owns = False
    if not dist.is_initialized():
        owns = True
        if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
            dist.init_process_group(backend=backend, device_id=dev if device == "cuda" else None)
        else:
            dist.init_process_group(backend=backend, store=dist.HashStore(), rank=0, world_size=1)
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, dev, owns)


def mixed_precision_policy(dtype: str, device: torch.device) -> Optional[MixedPrecisionPolicy]:
    """bf16 compute with fp32 master weights and fp32 gradient reduction on GPU.

    CPU stays fp32: CPU bf16 matmuls are slow and the tests compare losses exactly.
    """
    if dtype == "auto":
        dtype = "bf16" if device.type == "cuda" else "fp32"
    if dtype == "fp32":
        return None
    if dtype == "bf16":
        return MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    raise SystemExit(f"--dtype must be auto, bf16 or fp32, not {dtype!r}")


def build_model(cfg: ModelConfig, dist_info: DistInfo, *, seed: int, dtype: str = "auto",
                activation_checkpointing: bool = False, compile: bool = False) -> Transformer:
    """Build on the meta device, shard, then allocate only each rank's shard and initialise it.

    The full model never exists on one rank, so sizes beyond one device's memory work.
    """
    with torch.device("meta"):
        model = Transformer(cfg)
    for block in model.layers:
        block.checkpoint_activations = activation_checkpointing
        if compile:
            # Per block, in place: parameter names (and so checkpoints) stay the same.
            block.compile()
    mp = mixed_precision_policy(dtype, dist_info.device)
    kwargs = {"mp_policy": mp} if mp is not None else {}
    for i, block in enumerate(model.layers):
        # The last block's parameters are needed right away by backward, so keep them
        # gathered after forward instead of freeing and re-gathering them.
        fully_shard(block, reshard_after_forward=i < len(model.layers) - 1, **kwargs)
    fully_shard(model, **kwargs)  # root: embeddings, final norm, output projection
    model.to_empty(device=dist_info.device)
    init_sharded_weights(model, seed)
    return model


@torch.no_grad()
def init_sharded_weights(model: Transformer, seed: int) -> None:
    """Give each rank its shard of the same full initial weights, whatever the world size.

    Each parameter's full value is drawn on CPU from its own seeded generator (one
    parameter at a time, so the peak is the largest single matrix, not the model).
    """
    for name, param in model.named_parameters():
        full = model.initial_value(name, param.shape, seed)
        if isinstance(param, DTensor):
            # Every rank holds the same `full`, so no broadcast is needed (src_data_rank=None).
            shard = distribute_tensor(full.to(param.device), param.device_mesh, param.placements, src_data_rank=None)
            param.to_local().copy_(shard.to_local())
        else:
            param.copy_(full)
    model.reset_rope()
