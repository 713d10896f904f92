"""Train a causal LM on Arrow token shards with FSDP2.

    torchrun --nproc_per_node=N -m model.train --data SHARDS --config tiny --max_steps 100 --out RUN_DIR
    python -m model.train ...        # one process, no torchrun

Every hyperparameter is a flag. The run folder gets ``run_config.json``, ``metrics.jsonl``
(one JSON object per logged step / validation), ``loss.png`` and ``checkpoints/``.
Starting again with the same --out resumes from the newest complete checkpoint and
continues the exact same trajectory (same batches, same optimizer state, same RNG),
after checking its files against the checkpoint's manifest. One trainer per run folder:
rank 0 holds ``RUN/trainer.lock``; a second trainer, or a checkpoint that fails its
check, exits with status 2 and one ``error:`` line. Under torchrun, workers die with
their launcher. See docs/trainer.md, "Trust boundary".
"""
from __future__ import annotations

import os

# Read before anything slow (importing torch takes seconds): under torchrun, a worker whose
# launcher died during those seconds would otherwise adopt its new parent as "the launcher".
_PARENT_AT_START = os.getppid()

import argparse
import json
import logging
import math
import pathlib
import signal
import sys
import threading
import time
from typing import Optional

import torch
import torch.distributed as dist
import torch.nn.functional as F

from model import checkpoint as ckpt
from pipelines import completion, joblog
from model.config import ModelConfig, add_model_args, config_from_args
from model.metrics import (
    JsonlLog, device_peak_flops, flops_per_token, latest_by_step, mfu, perplexity, plot_losses, read_jsonl,
)
from model.parallel import DistInfo, build_model, init_distributed
from model.transformer import count_parameters, document_ids

log = logging.getLogger("model.train")
_EXIT_REFUSED = 2  # exit status when the run folder or a checkpoint is refused


def build_arg_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m model.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="token shard folder (with manifest.json) from pipelines.tokenize")
    p.add_argument("--out", required=True, help="run folder: logs, plot, checkpoints (resumes if it has any)")
    add_model_args(p)
    t = p.add_argument_group("training")
    t.add_argument("--seq_len", type=int, default=256)
    t.add_argument("--batch_size", type=int, default=8,
                   help="GLOBAL sequences per micro-step, split over ranks (must be divisible by the world size)")
    t.add_argument("--grad_accum", type=int, default=1, help="micro-steps per optimizer step")
    t.add_argument("--max_steps", type=int, default=1000)
    t.add_argument("--lr", type=float, default=3e-4, help="peak learning rate")
    t.add_argument("--min_lr_ratio", type=float, default=0.1, help="cosine decays to this fraction of --lr")
    t.add_argument("--warmup_steps", type=int, default=100, help="linear warmup (capped at max_steps)")
    t.add_argument("--weight_decay", type=float, default=0.1, help="applied to matrices only, not norms")
    t.add_argument("--beta1", type=float, default=0.9)
    t.add_argument("--beta2", type=float, default=0.95)
    t.add_argument("--eps", type=float, default=1e-8)
    t.add_argument("--grad_clip", type=float, default=1.0, help="max global grad norm; 0 disables clipping")
    t.add_argument("--seed", type=int, default=0, help="weights init and data order")
    t.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"),
                   help="cuda uses every GPU of the node (one rank each); auto = cuda if available")
    t.add_argument("--dtype", default="auto", help="auto (bf16 on GPU, fp32 on CPU) | bf16 | fp32")
    t.add_argument("--activation_checkpointing", action="store_true", help="recompute block activations in backward")
    t.add_argument("--compile", action="store_true", help="torch.compile each block")
    e = p.add_argument_group("evaluation, logging, checkpoints")
    e.add_argument("--eval_every", type=int, default=100, help="validation every N steps (and at the end); 0 = off")
    e.add_argument("--eval_batches", type=int, default=50,
                   help="validation batches per evaluation (the same ones each time); 0 = the whole split")
    e.add_argument("--log_every", type=int, default=1)
    e.add_argument("--ckpt_every", type=int, default=100, help="checkpoint every N steps (and at the end); 0 = end only")
    e.add_argument("--keep_checkpoints", type=int, default=3)
    e.add_argument("--no_resume", action="store_true", help="refuse to start if --out already has checkpoints")
    e.add_argument("--allow_incomplete_input", action="store_true",
                   help="train on a --data folder whose tokenize job did not finish (no _SUCCESS)")
    e.add_argument("--step_delay", type=float, default=0.0, help=argparse.SUPPRESS)  # tests only
    return p


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = build_arg_parser()
    args = p.parse_args(argv)
    for name in ("seq_len", "batch_size", "grad_accum", "max_steps"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1")
    return args


def lr_at(step: int, args: argparse.Namespace) -> float:
    """Multiplier of the peak LR: linear warmup, then cosine down to min_lr_ratio."""
    warmup = min(args.warmup_steps, args.max_steps)
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, args.max_steps - warmup)
    return args.min_lr_ratio + (1 - args.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def make_optimizer(model: torch.nn.Module, args: argparse.Namespace) -> torch.optim.AdamW:
    # Decay matrices (linear and embedding weights); never norm gains, whose scale is meaningful.
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=args.lr, betas=(args.beta1, args.beta2), eps=args.eps)


def _readers(args: argparse.Namespace, dist_info: DistInfo):
    from model.data import TokenWindowReader

    if args.batch_size % dist_info.world_size:
        raise SystemExit(f"--batch_size {args.batch_size} is the global batch; it must be divisible by the "
                         f"world size {dist_info.world_size}")
    per_rank = args.batch_size // dist_info.world_size
    kw = dict(seq_len=args.seq_len, batch_size=per_rank, rank=dist_info.rank, world_size=dist_info.world_size,
              seed=args.seed)
    try:
        train = TokenWindowReader(args.data, split="train", **kw)
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"--data {args.data}: {exc}") from exc
    val = None
    if args.eval_every > 0:
        try:
            val = TokenWindowReader(args.data, split="validation", **kw)
        except ValueError as exc:  # no validation shards, or too few tokens for one window
            log.warning("validation disabled: %s", exc)
    return train, val


def _loss(model, batch: torch.Tensor, cfg: ModelConfig, eos_id: int) -> torch.Tensor:
    inputs, targets = batch[:, :-1], batch[:, 1:]
    doc_ids = document_ids(inputs, eos_id) if cfg.document_mask else None
    logits = model(inputs, doc_ids)
    return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())


def _mean_over_ranks(value: torch.Tensor) -> float:
    value = value.detach().clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)  # gloo has no AVG
    return value.item() / dist.get_world_size()


@torch.no_grad()
def evaluate(model, reader, cfg: ModelConfig, device, max_batches: int) -> dict:
    """Mean token loss over the validation split (or its first max_batches batches)."""
    model.eval()
    total, count = torch.zeros((), device=device, dtype=torch.float64), 0
    for i, batch in enumerate(reader.iter_epoch_batches()):
        if max_batches and i >= max_batches:
            break
        batch = torch.from_numpy(batch).to(device)
        total += _loss(model, batch, cfg, reader.eos_id).double()
        count += 1
    model.train()
    loss = _mean_over_ranks(total) / max(count, 1)
    return {"loss": loss, "perplexity": perplexity(loss), "batches": count}


def _write_run_config(out: pathlib.Path, args, cfg: ModelConfig, reader, dist_info: DistInfo) -> None:
    record = {
        "model": cfg.to_dict(),
        "parameters": count_parameters(cfg),
        "flops_per_token": flops_per_token(cfg, args.seq_len),
        "train": {k: v for k, v in vars(args).items() if k != "step_delay"},
        "data": {"path": str(pathlib.Path(args.data).resolve()), "vocab_size": reader.vocab_size,
                 "eos_id": reader.eos_id, "bos_id": reader.bos_id, "tokenizer_sha256": reader.tokenizer_sha256,
                 # pins the tokenizer.json that model.export_hf may ship with this model
                 "tokenizer_json_sha256": reader.manifest.get("tokenizer_json_sha256")},
        "world_size": dist_info.world_size,
        "device": str(dist_info.device),
    }
    (out / "run_config.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- process lifetime
#
# torchrun starts each worker in its own session, so `kill -9` of torchrun's process group
# does not reach them: without the guards below they run on as orphans, still writing
# into the run folder. Workers therefore die with their launcher (PR_SET_PDEATHSIG, plus a
# watchdog thread that polls os.getppid()) and, on rank 0's host, with rank 0.

_PR_SET_PDEATHSIG = 1
_WATCH_PERIOD_S = 0.5
_watches: dict[str, tuple] = {}  # name -> (check returning True when we must exit, reason)
_watch_lock = threading.Lock()
_watch_thread: Optional[threading.Thread] = None


def _watchdog() -> None:
    while True:
        time.sleep(_WATCH_PERIOD_S)
        with _watch_lock:
            checks = list(_watches.values())
        for check, reason in checks:
            if check():
                try:
                    sys.stderr.write(f"model.train (PID {os.getpid()}): {reason}; exiting\n")
                    sys.stderr.flush()
                finally:
                    os._exit(1)


def _watch(name: str, check, reason: str) -> None:
    global _watch_thread
    with _watch_lock:
        _watches[name] = (check, reason)
        if _watch_thread is None:
            _watch_thread = threading.Thread(target=_watchdog, name="model.train-watchdog", daemon=True)
            _watch_thread.start()


def _unwatch(name: str) -> None:
    with _watch_lock:
        _watches.pop(name, None)


def exit_with_launcher(parent_pid: int) -> bool:
    """Under torchrun (TORCHELASTIC_RUN_ID set): SIGKILL this process when the launcher
    ``parent_pid`` dies. Returns whether the guard is on. A plain ``python -m model.train``
    is left alone (its parent is a shell; nohup'ed runs must survive it)."""
    if "TORCHELASTIC_RUN_ID" not in os.environ:
        return False
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
                log.warning("prctl(PR_SET_PDEATHSIG) failed (errno %d); relying on the watchdog", ctypes.get_errno())
        except (OSError, AttributeError) as exc:
            log.warning("prctl unavailable (%s); relying on the watchdog", exc)
    if os.getppid() != parent_pid:  # the launcher died before the guard was set
        sys.stderr.write(f"model.train: launcher PID {parent_pid} is already gone; exiting\n")
        os._exit(1)
    _watch("launcher", lambda: os.getppid() != parent_pid, f"launcher PID {parent_pid} is gone")
    return True


def _process_identity(pid: int) -> Optional[str]:
    """Start time of a live (non-zombie) process on this host, so a reused PID is not taken
    for it; None when it is gone. Linux /proc; elsewhere only 'exists'."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return "?"
    fields = stat[stat.rindex(")") + 2:].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def _watch_rank0(d: DistInfo) -> None:
    """Collective. Ranks on rank 0's host exit when rank 0 dies (rank 0 holds the run lock:
    once it is gone another trainer may start on the folder)."""
    if d.world_size == 1:
        return
    import socket

    try:  # same host name is not enough: containers may share one but not their PIDs
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = None
    me = (socket.gethostname(), namespace, os.getpid(), _process_identity(os.getpid()))
    everyone: list = [None] * d.world_size
    dist.all_gather_object(everyone, me)
    host, ns, pid, identity = everyone[0]
    if (d.rank != 0 and (host, ns) == me[:2] and identity not in (None, "?")
            and _process_identity(pid) == identity):
        _watch("rank0", lambda: _process_identity(pid) != identity, f"rank 0 (PID {pid}) is gone")


def _lock_run_folder(out: pathlib.Path, d: DistInfo) -> Optional[ckpt.RunLock]:
    """Collective. Rank 0 takes the run folder's lock for the whole run; every rank refuses
    to go on (RunFolderBusy) when another trainer holds it."""
    lock, error = None, None
    if d.is_main:
        try:
            out.mkdir(parents=True, exist_ok=True)
            lock = ckpt.RunLock(out).acquire()
        except ckpt.RunFolderBusy as exc:
            error = ("busy", str(exc))
        except OSError as exc:
            error = ("os", f"--out {out}: {exc}")
    error = ckpt.first_error_across_ranks(error)
    if error:
        kind, message = error
        raise ckpt.RunFolderBusy(message) if kind == "busy" else SystemExit(message)
    return lock


def train(args: argparse.Namespace) -> dict:
    exit_with_launcher(_PARENT_AT_START)
    dist_info = init_distributed(args.device)
    lock = None
    try:
        _watch_rank0(dist_info)
        lock = _lock_run_folder(pathlib.Path(args.out), dist_info)
        return _train(args, dist_info)
    finally:
        _unwatch("rank0")
        if lock is not None:
            lock.release()
        if dist_info.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def _train(args: argparse.Namespace, d: DistInfo) -> dict:
    out = pathlib.Path(args.out)
    if d.is_main:  # under the lock: a .tmp here is an interrupted save, not a live one
        for name in ckpt.remove_partial(out):
            log.warning("removed %s: an interrupted save", name)
    dist.barrier()
    unverifiable = ckpt.unverifiable_checkpoints(out)
    if unverifiable:
        raise ckpt.CheckpointError(
            f"{unverifiable[-1]} has no {ckpt.MANIFEST_NAME}: written by an older model.train, copied "
            "incompletely, or not written by model.train. It cannot be verified, so it is never loaded; move "
            f"{'it' if len(unverifiable) == 1 else 'them'} out of {ckpt.checkpoint_dir(out)} or pass a new --out")
    torch.manual_seed(args.seed)
    reader, val_reader = _readers(args, d)
    cfg = config_from_args(args)
    if cfg.vocab_size is None:
        cfg = cfg.with_vocab(reader.vocab_size)
    elif cfg.vocab_size < reader.vocab_size:
        raise SystemExit(f"--vocab_size {cfg.vocab_size} < the shards' vocabulary {reader.vocab_size}")
    if args.seq_len > cfg.max_seq_len:
        raise SystemExit(f"--seq_len {args.seq_len} > max_seq_len {cfg.max_seq_len} of --config {args.config}; "
                         "pass --max_seq_len")

    model = build_model(cfg, d, seed=args.seed, dtype=args.dtype,
                        activation_checkpointing=args.activation_checkpointing, compile=args.compile)
    optimizer = make_optimizer(model, args)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_at(step, args))

    start_step, resumed_from = 0, None
    latest = ckpt.latest_checkpoint(out)
    if latest is not None:
        if args.no_resume:
            raise SystemExit(f"{out} already has checkpoints ({latest.name}); drop --no_resume to continue it "
                             "or pass a new --out")
        state = ckpt.load(latest, model, optimizer)
        scheduler.load_state_dict(state["scheduler"])
        reader.load_state_dict(state["data"])
        start_step, resumed_from = state["step"], str(latest)
        if d.is_main:
            log.info("resumed from %s at step %d", latest, start_step)
    if d.is_main:
        _write_run_config(out, args, cfg, reader, d)
        log.info("model: %s, %.2fM parameters, world size %d, device %s", args.config, count_parameters(cfg) / 1e6,
                 d.world_size, d.device)

    metrics = JsonlLog(out / "metrics.jsonl", enabled=d.is_main)
    peak = device_peak_flops(torch.cuda.get_device_name(d.device) if d.device.type == "cuda" else None)
    tokens_per_step = args.batch_size * args.grad_accum * args.seq_len
    last_val: dict = {}

    def run_eval(step: int) -> None:
        nonlocal last_val
        if val_reader is None:
            return
        last_val = evaluate(model, val_reader, cfg, d.device, args.eval_batches)
        metrics.write({"type": "val", "step": step, **last_val})
        if d.is_main:
            log.info("step %d validation loss %.4f perplexity %.2f", step, last_val["loss"], last_val["perplexity"])

    if d.is_main:  # checkpoint verified and loaded: from here on the run is unfinished until it ends
        completion.begin(str(out))
    step = start_step
    loss_value = None  # stays None when a resumed run is already at max_steps
    model.train()
    while step < args.max_steps:
        t0 = time.perf_counter()
        loss_sum = torch.zeros((), device=d.device)
        for micro in range(args.grad_accum):
            # Reduce-scatter gradients only on the last micro-step; earlier ones accumulate locally.
            model.set_requires_gradient_sync(micro == args.grad_accum - 1)
            batch = torch.from_numpy(reader.next_batch()).to(d.device, non_blocking=True)
            loss = _loss(model, batch, cfg, reader.eos_id) / args.grad_accum
            loss.backward()
            loss_sum += loss.detach()
        max_norm = args.grad_clip if args.grad_clip > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        if hasattr(grad_norm, "full_tensor"):
            grad_norm = grad_norm.full_tensor()
        lr = scheduler.get_last_lr()[0]
        if args.step_delay:  # tests: hold the process mid-step (gradients computed, not applied) to kill it
            time.sleep(args.step_delay)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        loss_value = _mean_over_ranks(loss_sum)  # also a sync point, so the timing below is honest
        if d.device.type == "cuda":
            torch.cuda.synchronize(d.device)
        seconds = time.perf_counter() - t0
        if step % args.log_every == 0 or step == args.max_steps:
            tps = tokens_per_step / seconds
            record = {"type": "train", "step": step, "loss": loss_value, "lr": lr, "grad_norm": grad_norm.item(),
                      "tokens_per_s": tps, "tokens_seen": step * tokens_per_step,
                      "mfu": mfu(tps, cfg, args.seq_len, d.world_size, peak)}
            metrics.write(record)
            if d.is_main:
                log.info("step %d/%d loss %.4f lr %.2e grad_norm %.3f tokens/s %.0f", step, args.max_steps,
                         loss_value, lr, record["grad_norm"], tps)
        if args.eval_every > 0 and step % args.eval_every == 0 and step != args.max_steps:
            run_eval(step)
        if (args.ckpt_every > 0 and step % args.ckpt_every == 0) or step == args.max_steps:
            trainer_state = {"step": step, "scheduler": scheduler.state_dict(), "data": reader.state_dict()}
            ckpt.save(out, step, model, optimizer, trainer_state, keep=args.keep_checkpoints)

    if args.eval_every > 0:
        run_eval(step)
    if d.is_main:
        plot_losses(out / "metrics.jsonl", out / "loss.png")
        if loss_value is None:  # nothing trained in this process: the loss logged last
            logged = latest_by_step(read_jsonl(out / "metrics.jsonl"), "train")
            loss_value = logged[max(logged)]["loss"] if logged else None
        counts = {"steps": step, "tokens": step * tokens_per_step, "final_loss": loss_value}
        if last_val:
            counts["final_val_loss"] = last_val["loss"]
        completion.write_success(str(out), "train", dict(completion.jsonable_flags(args), argv=list(args.argv)),
                                 [str(args.data)], counts)
    # Tear the process group down together: a rank that destroyed its gloo group and
    # exited while rank 0 was still plotting once died with SIGABRT ("terminate called
    # without an active exception") on a loaded CI machine. Rank 0 may exit right after
    # this barrier: stop watching it first.
    _unwatch("rank0")
    dist.barrier()
    return {"step": step, "val": last_val, "resumed_from": resumed_from}


def main(argv: Optional[list[str]] = None) -> dict:
    """CLI entry. A refused run folder or checkpoint prints ``error: ...`` (rank 0) and
    exits with status 2, without a traceback."""
    joblog.setup()  # the pipeline's log format (joblog does not load Beam)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    args.argv = argv  # recorded in _SUCCESS, which pipelines.run compares
    try:
        completion.resolve_input(args.data, args.allow_incomplete_input, main_output="")
        return train(args)
    except (ckpt.CheckpointError, ckpt.RunFolderBusy, completion.IncompleteInputError) as exc:
        if os.environ.get("RANK", "0") == "0":
            print(f"error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(_EXIT_REFUSED) from None


if __name__ == "__main__":
    main()
