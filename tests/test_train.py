"""End-to-end trainer runs on real token shards: ../shared/data/warc -> clean job -> tokenizer -> shards.

One module-scoped set of runs serves several tests, because every process start costs
seconds: a 2-process torchrun (gloo), the same run in 1 process, and a 1-process run
that is SIGKILLed mid-step after a checkpoint and then resumed. The 1-process runs
that need no killing run inside the test process (``model.train.main``), which saves
two interpreter start-ups; the training code path is the same (a one-rank gloo group).
"""
from __future__ import annotations

import json
import math
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, repo_env, run_module
from model.checkpoint import list_checkpoints
from model.metrics import latest_by_step, read_jsonl

MAX_STEPS = 16
RUN_ARGS = ["--config", "tiny", "--seq_len", "64", "--batch_size", "4", "--max_steps", str(MAX_STEPS),
            "--warmup_steps", "2", "--lr", "3e-3", "--eval_every", "8", "--eval_batches", "4", "--ckpt_every", "8"]
PROCESS_TIMEOUT = 300


def _train_args(shards: pathlib.Path, out: pathlib.Path, extra=()) -> list[str]:
    return ["--data", str(shards), "--out", str(out), *RUN_ARGS, *extra]


def _train_module(shards: pathlib.Path, out: pathlib.Path, nproc: int, extra=()) -> list[str]:
    """What follows ``python -m``: model.train, under torchrun when nproc > 1."""
    launcher = ["torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", "-m"] if nproc > 1 else []
    return [*launcher, "model.train", *_train_args(shards, out, extra)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, trainer_shards):
    shards = trainer_shards
    root = tmp_path_factory.mktemp("train_runs")
    two, one, killed = root / "two_procs", root / "one_proc", root / "killed"
    run_module(*_train_module(shards, two, nproc=2), env=repo_env(), timeout=PROCESS_TIMEOUT)
    from model.train import main

    main(_train_args(shards, one))
    # Same global batch as two half-size micro-steps, with activations recomputed in backward.
    accum = root / "accum_recompute"
    main(_train_args(shards, accum, ["--batch_size", "2", "--grad_accum", "2", "--activation_checkpointing"]))

    # Slow steps down (a sleep between backward and the optimizer step) so the kill lands
    # mid-step, right after the step-4 checkpoint became visible.
    slowed = _train_module(shards, killed, 1, ["--ckpt_every", "4", "--step_delay", "0.5"])
    victim = subprocess.Popen([sys.executable, "-m", *slowed],
                              cwd=REPO, env=repo_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + PROCESS_TIMEOUT
    while not any(step >= 4 for step, _ in list_checkpoints(killed)):
        assert victim.poll() is None, f"run ended before its first checkpoint:\n{victim.stderr.read()[-4000:]}"
        assert time.monotonic() < deadline, "no checkpoint appeared in time"
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=60)
    victim.stderr.close()
    killed_at = max(step for step, _ in list_checkpoints(killed))
    steps_logged_before_kill = max(latest_by_step(read_jsonl(killed / "metrics.jsonl"), "train"))
    resumed = main(_train_args(shards, killed))
    # The 2-process run's step-8 checkpoint, continued by 1 process (DCP reshards on load).
    regrouped = root / "two_then_one"
    shutil.copytree(two / "checkpoints" / "step_000008", regrouped / "checkpoints" / "step_000008")
    main(_train_args(shards, regrouped))
    return {"shards": shards, "two": two, "one": one, "accum": accum, "killed": killed, "regrouped": regrouped, "victim_rc": victim.returncode,
            "killed_at": killed_at, "logged_before_kill": steps_logged_before_kill, "resumed": resumed}


def _losses(run_dir: pathlib.Path, kind: str = "train") -> dict[int, float]:
    return {step: r["loss"] for step, r in latest_by_step(read_jsonl(run_dir / "metrics.jsonl"), kind).items()}


@pytest.mark.slow
def test_two_process_run_learns_and_reports_validation(runs):
    run = runs["two"]
    records = latest_by_step(read_jsonl(run / "metrics.jsonl"), "train")
    assert sorted(records) == list(range(1, MAX_STEPS + 1))
    losses = [records[s]["loss"] for s in sorted(records)]
    assert losses[0] == pytest.approx(math.log(1000), abs=0.3)  # a fresh model is near-uniform over the vocab
    assert sum(losses[-4:]) / 4 < losses[0] - 0.3, losses
    for r in records.values():
        assert r["tokens_per_s"] > 0 and r["grad_norm"] > 0 and r["mfu"] is None  # CPU: no MFU
        assert r["tokens_seen"] == r["step"] * 4 * 64
    # Warmup then cosine: peak at the end of warmup, decaying towards 10% of peak.
    assert records[2]["lr"] == pytest.approx(3e-3) and records[MAX_STEPS]["lr"] < records[8]["lr"] < 3e-3
    val = latest_by_step(read_jsonl(run / "metrics.jsonl"), "val")
    assert sorted(val) == [8, MAX_STEPS]
    for r in val.values():
        assert r["perplexity"] == pytest.approx(math.exp(r["loss"])) and r["batches"] == 4
    assert val[MAX_STEPS]["loss"] < val[8]["loss"] < math.log(1000)
    config = json.loads((run / "run_config.json").read_text())
    assert config["world_size"] == 2 and config["model"]["vocab_size"] == 1000
    assert (run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [s for s, _ in list_checkpoints(run)] == [8, MAX_STEPS]


@pytest.mark.slow
def test_one_process_gives_the_same_loss_curve_as_two(runs):
    two, one = _losses(runs["two"]), _losses(runs["one"])
    assert sorted(one) == sorted(two)
    for step in two:
        assert one[step] == pytest.approx(two[step], rel=1e-4, abs=1e-5), step
    val_two, val_one = _losses(runs["two"], "val"), _losses(runs["one"], "val")
    assert val_one == pytest.approx(val_two, rel=1e-4)


@pytest.mark.slow
def test_gradient_accumulation_with_activation_checkpointing_matches_one_big_batch(runs):
    one, accum = _losses(runs["one"]), _losses(runs["accum"])
    assert sorted(accum) == sorted(one)
    for step in one:
        assert accum[step] == pytest.approx(one[step], rel=1e-4, abs=1e-5), step


@pytest.mark.slow
def test_sigkilled_run_resumes_on_the_exact_same_trajectory(runs):
    assert runs["victim_rc"] == -signal.SIGKILL
    assert 4 <= runs["killed_at"] < MAX_STEPS
    assert runs["resumed"]["resumed_from"] == str(runs["killed"] / "checkpoints" / f"step_{runs['killed_at']:06d}")
    reference, resumed = _losses(runs["one"]), _losses(runs["killed"])
    assert sorted(resumed) == list(range(1, MAX_STEPS + 1))
    # Bitwise on CPU: same batches, same optimizer state and schedule, same weights.
    assert resumed == reference
    assert _losses(runs["killed"], "val") == _losses(runs["one"], "val")


@pytest.mark.slow
def test_two_process_checkpoint_resumes_in_one_process(runs):
    two, regrouped = _losses(runs["two"]), _losses(runs["regrouped"])
    assert sorted(regrouped) == list(range(9, MAX_STEPS + 1))  # only the steps after the checkpoint
    for step in regrouped:
        assert regrouped[step] == pytest.approx(two[step], rel=1e-4, abs=1e-5), step


def test_lr_schedule_is_warmup_then_cosine_to_ten_percent():
    from model.train import lr_at, parse_args

    args = parse_args(["--data", "x", "--out", "y", "--max_steps", "100", "--warmup_steps", "10"])
    factors = [lr_at(s, args) for s in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(factors[:9], factors[1:10]))
    assert all(a >= b for a, b in zip(factors[10:], factors[11:]))
    assert lr_at(100, args) == pytest.approx(0.1)


def test_weight_decay_applies_to_matrices_only():
    import dataclasses

    from model.config import CONFIGS
    from model.train import make_optimizer, parse_args
    from model.transformer import Transformer

    model = Transformer(dataclasses.replace(CONFIGS["tiny"], vocab_size=50))
    opt = make_optimizer(model, parse_args(["--data", "x", "--out", "y"]))
    decayed, plain = opt.param_groups
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert all(p.ndim == 2 for p in decayed["params"]) and all(p.ndim == 1 for p in plain["params"])
    assert opt.defaults["betas"] == (0.9, 0.95) and opt.defaults["eps"] == 1e-8


def test_bad_paths_and_flags_give_actionable_errors(tmp_path, capsys):
    from model.train import main

    with pytest.raises(SystemExit) as exc:
        main(["--data", str(tmp_path / "missing"), "--out", str(tmp_path / "run")])
    assert "manifest.json" in str(exc.value) and "pipelines.tokenize" in str(exc.value)
    with pytest.raises(SystemExit):
        main(["--data", "x", "--out", "y", "--max_steps", "0"])
    assert "--max_steps must be >= 1" in capsys.readouterr().err
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(SystemExit, match="no CUDA device"):
            main(["--data", "x", "--out", str(tmp_path / "run"), "--device", "cuda"])
