"""Trainer throughput: tokens/s (per core on CPU), MFU on GPU, peak memory; vs HF transformers' Llama.

    python bench/train.py --configs tiny,small --seq_len 256 --batch_size 8 --steps 10
    python bench/train.py --configs 125m,350m,1b --seq_len 2048 --batch_size 8 --compile   # on a GPU

For each config the same training step (forward, causal-LM loss, backward, grad clip,
AdamW) runs on the same token batches twice:
  ours: model.parallel.build_model (FSDP2 with one rank, meta init, bf16 mixed precision
        on GPU / fp32 on CPU, optional activation checkpointing and compile);
  ref:  transformers' LlamaForCausalLM of the identical shape and weights (our export),
        SDPA attention, bf16 autocast on GPU / fp32 on CPU.
Both use the FLOPs/token of model.metrics (6N + 12 L d T), so MFU figures compare.
tok/CPU-s divides tokens by the process CPU time (all threads): on a shared machine it
moves much less with other load than wall-clock tokens/s.
Batches come from --data token shards when given, else random ids (throughput does not
depend on the ids). Printed figures are medians over the timed steps after warmup.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import pathlib
import resource
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from model.config import CONFIGS  # noqa: E402
from model.metrics import device_peak_flops, flops_per_token, mfu  # noqa: E402
from model.parallel import build_model, init_distributed  # noqa: E402
from model.transformer import count_parameters  # noqa: E402


def batches(args, vocab_size: int, n: int) -> list[torch.Tensor]:
    if args.data:
        from model.data import TokenWindowReader

        reader = TokenWindowReader(args.data, seq_len=args.seq_len, batch_size=args.batch_size, seed=0)
        return [torch.from_numpy(reader.next_batch()) for _ in range(n)]
    rng = np.random.default_rng(0)
    return [torch.from_numpy(rng.integers(0, vocab_size, (args.batch_size, args.seq_len + 1))) for _ in range(n)]


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux; process-wide peak so far


def time_steps(model, data, device, autocast_dtype, forward) -> tuple[list[float], list[float]]:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    times, cpu_times = [], []
    for batch in data:
        batch = batch.to(device)
        t0, c0 = time.perf_counter(), time.process_time()
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            logits = forward(model, batch[:, :-1])
        loss = F.cross_entropy(logits.float().flatten(0, 1), batch[:, 1:].flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)  # all threads of this process: robust to a shared machine
    return times, cpu_times


def report(label, cfg, args, timings, device, peak, cores) -> dict:
    times, cpu_times = timings
    step = statistics.median(times[args.warmup:])
    tokens_per_cpu_s = args.batch_size * args.seq_len / statistics.median(cpu_times[args.warmup:])
    tps = args.batch_size * args.seq_len / step
    fpt = flops_per_token(cfg, args.seq_len)
    row = {"impl": label, "tokens_per_s": tps, "tokens_per_s_per_core": tps / cores if device.type == "cpu" else None,
           "tokens_per_cpu_s": tokens_per_cpu_s,
           "achieved_tflops": tps * fpt / 1e12, "mfu": mfu(tps, cfg, args.seq_len, 1, peak),
           "peak_mem_mb": peak_memory_mb(device), "step_s": step}
    mfu_text = f"{row['mfu'] * 100:5.1f}%" if row["mfu"] is not None else "  n/a"
    per_core = f"{row['tokens_per_s_per_core']:10.0f}" if row["tokens_per_s_per_core"] is not None else "       n/a"
    print(f"  {label:5s} {tps:12.0f} {per_core} {tokens_per_cpu_s:10.0f} {row['achieved_tflops']:9.3f} {mfu_text:>6s} "
          f"{row['peak_mem_mb']:10.0f} {step * 1e3:9.1f}")
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", default="tiny,small", help="comma-separated presets from model.config")
    p.add_argument("--data", default=None, help="token shard folder (default: random ids)")
    p.add_argument("--vocab_size", type=int, default=32000, help="when --data is not given")
    p.add_argument("--seq_len", type=int, default=256)
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument("--steps", type=int, default=8, help="timed steps (after --warmup)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--activation_checkpointing", action="store_true")
    p.add_argument("--no_reference", action="store_true", help="skip the transformers comparison")
    args = p.parse_args()

    info = init_distributed("auto")
    device = info.device
    peak = device_peak_flops(torch.cuda.get_device_name(device) if device.type == "cuda" else None)
    cores = torch.get_num_threads()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {cores} threads"
    print(f"device: {name}; peak bf16 {peak / 1e12 if peak else 'n/a'} TFLOP/s; seq_len {args.seq_len}, "
          f"batch {args.batch_size}, {args.steps} timed steps after {args.warmup} warmup")
    autocast = torch.bfloat16 if device.type == "cuda" else None
    vocab = args.vocab_size
    if args.data:
        from pipelines.io.shards import read_manifest

        vocab = read_manifest(args.data)["vocab_size"]
    for config in args.configs.split(","):
        cfg = CONFIGS[config].with_vocab(vocab)
        if args.seq_len > cfg.max_seq_len:
            cfg = dataclasses.replace(cfg, max_seq_len=args.seq_len)
        data = batches(args, cfg.vocab_size, args.warmup + args.steps)
        print(f"\n{config}: {count_parameters(cfg) / 1e6:.1f}M params, {flops_per_token(cfg, args.seq_len) / 1e6:.1f} "
              f"MFLOPs/token")
        print(f"  {'impl':5s} {'tokens/s':>12s} {'tok/s/core':>10s} {'tok/CPU-s':>10s} {'TFLOP/s':>9s} {'MFU':>6s} {'peak MB':>10s} "
              f"{'step ms':>9s}")
        ours = build_model(cfg, info, seed=0, activation_checkpointing=args.activation_checkpointing,
                           compile=args.compile)
        # FSDP2 with mixed precision casts inside; no autocast needed for ours.
        report("ours", cfg, args, time_steps(ours, data, device, None, lambda m, x: m(x)), device, peak, cores)
        if args.no_reference:
            continue
        ref = hf_reference(ours, cfg, device, args.compile)
        del ours
        report("ref", cfg, args, time_steps(ref, data, device, autocast, lambda m, x: m(x).logits), device, peak,
               cores)
        del ref
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
    if info.owns_group:
        dist.destroy_process_group()


def hf_reference(ours, cfg, device, compile: bool):
    """transformers' LlamaForCausalLM with our (gathered) weights: same shape, same FLOPs."""
    import tempfile

    from transformers import AutoModelForCausalLM

    from model.export_hf import export_model
    from model.transformer import Transformer

    plain = Transformer(cfg)
    plain.load_state_dict({k: v.full_tensor() if hasattr(v, "full_tensor") else v for k, v in ours.state_dict().items()})
    with tempfile.TemporaryDirectory() as tmp:
        export_model(plain, pathlib.Path(tmp))
        ref = AutoModelForCausalLM.from_pretrained(tmp, dtype=torch.float32, attn_implementation="sdpa").to(device)
    ref.train()
    if compile:
        ref = torch.compile(ref)
    return ref


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
