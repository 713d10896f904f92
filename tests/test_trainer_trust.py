"""Untrusted inputs and run folders: resume and export load data, never code.

Each attack below is a real payload: a pickle whose ``__reduce__`` creates a marker file
when unpickled. Where it helps, a control shows that plain ``torch.load`` / ``dcp.load``
would have run it; then the test checks that ``model.train`` (resume) and
``model.export_hf`` refuse the file with exit status 2 and a message naming it, and that
the marker does not exist. Also: the tokenizer files export copies, the run folder lock,
and (slow) a ``kill -9`` of torchrun's process group leaving no orphan workers.

The token shards are ``tests.shard_fixtures.cached_test_shards`` (40 real pages from
../shared/data, a 1000-piece tokenizer): seconds, not the full clean job.
"""
from __future__ import annotations

import json
import os
import pathlib
import pickle
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import REPO, repo_env, run_module
from model import checkpoint as ckpt
from model.metrics import latest_by_step, read_jsonl

RUN_ARGS = ["--config", "tiny", "--seq_len", "32", "--batch_size", "2", "--warmup_steps", "1", "--lr", "3e-3",
            "--eval_every", "0"]
REFUSED = 2


class Payload:
    """Unpickling this creates ``marker``: the stand-in for 'ran a shell command'."""

    def __init__(self, marker: pathlib.Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def shards(shared_data) -> pathlib.Path:
    from tests.shard_fixtures import cached_test_shards

    return cached_test_shards(shared_data)


@pytest.fixture(scope="module")
def trained_run(shards, tmp_path_factory) -> pathlib.Path:
    """A 2-step run with its step-2 checkpoint; tests tamper with copies of it."""
    from model.train import main

    run = tmp_path_factory.mktemp("trust") / "run"
    main(["--data", str(shards), "--out", str(run), *RUN_ARGS, "--max_steps", "2", "--ckpt_every", "2"])
    assert [s for s, _ in ckpt.list_checkpoints(run)] == [2]
    return run


@pytest.fixture
def run_copy(trained_run, tmp_path) -> pathlib.Path:
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    return copy


def _step_dir(run: pathlib.Path) -> pathlib.Path:
    return run / "checkpoints" / "step_000002"


def _resume(shards: pathlib.Path, run: pathlib.Path, capsys) -> tuple[int, str]:
    """model.train on ``run`` (it resumes); returns (exit status, stderr)."""
    from model.train import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["--data", str(shards), "--out", str(run), *RUN_ARGS, "--max_steps", "3", "--ckpt_every", "2"])
    return exc.value.code, capsys.readouterr().err


def _export(run: pathlib.Path, out: pathlib.Path, capsys, *extra) -> tuple[int, str]:
    from model.export_hf import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["--run", str(run), "--out", str(out), *extra])
    return exc.value.code, capsys.readouterr().err


def _error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    return lines[0]


def _assert_refused(shards, run, tmp_path, capsys, names: str, marker=None, export=True) -> None:
    """Resume and export both refuse with status 2, naming ``names``; the marker stays absent."""
    metrics_before = (run / "metrics.jsonl").read_bytes()
    code, err = _resume(shards, run, capsys)
    assert code == REFUSED, err[-3000:]
    assert names in _error_line(err)
    assert (run / "metrics.jsonl").read_bytes() == metrics_before  # it did not train
    if export:
        code, err = _export(run, tmp_path / "hf", capsys)
        assert code == REFUSED, err[-3000:]
        assert names in _error_line(err)
        assert not (tmp_path / "hf").exists()
    if marker is not None:
        assert not marker.exists(), "the payload ran"


# ---------------------------------------------------------------- checkpoints


def test_untampered_checkpoint_verifies_and_resumes(shards, run_copy, tmp_path):
    from model.export_hf import main as export_main
    from model.train import main

    manifest = ckpt.verify_checkpoint(_step_dir(run_copy))
    assert set(manifest["files"]) == {".metadata", "__0_0.distcp", "rng_rank0.pt", "trainer.pt"}
    assert manifest["step"] == 2
    result = main(["--data", str(shards), "--out", str(run_copy), *RUN_ARGS, "--max_steps", "3", "--ckpt_every", "2"])
    assert result["resumed_from"] == str(_step_dir(run_copy)) and result["step"] == 3
    export_main(["--run", str(run_copy), "--out", str(tmp_path / "hf")])
    assert (tmp_path / "hf" / "model.safetensors").exists()


def test_malicious_trainer_pt_is_refused_and_never_unpickled(shards, run_copy, tmp_path, capsys):
    marker = tmp_path / "pwned"
    trainer_pt = _step_dir(run_copy) / "trainer.pt"
    torch.save({"step": Payload(marker), "scheduler": {}, "data": {}}, trainer_pt)
    _assert_refused(shards, run_copy, tmp_path, capsys, "trainer.pt", marker)
    assert ckpt.MANIFEST_NAME in _error_line(_resume(shards, run_copy, capsys)[1])  # size or digest differs

    # An attacker who can also rewrite the manifest: the digests match again, but
    # trainer.pt is loaded with weights_only=True, which refuses the payload.
    ckpt.write_manifest(_step_dir(run_copy), 2)
    code, err = _resume(shards, run_copy, capsys)
    assert code == REFUSED and "trainer.pt" in _error_line(err) and "weights_only" in _error_line(err)
    assert not marker.exists(), "the payload ran"

    # Control: the old torch.load(weights_only=False) would have run it.
    torch.load(trainer_pt, weights_only=False)
    assert marker.exists()


@pytest.mark.filterwarnings("ignore:torch.distributed is disabled")
def test_malicious_dcp_metadata_is_refused_and_never_unpickled(shards, run_copy, tmp_path, capsys):
    marker = tmp_path / "pwned"
    metadata = _step_dir(run_copy) / ".metadata"
    metadata.write_bytes(pickle.dumps(Payload(marker)))
    _assert_refused(shards, run_copy, tmp_path, capsys, ".metadata", marker)

    # With a rewritten manifest, DCP's pickled metadata goes through an unpickler that
    # only builds DCP's metadata classes: refused, not run.
    ckpt.write_manifest(_step_dir(run_copy), 2)
    code, err = _resume(shards, run_copy, capsys)
    assert code == REFUSED and ".metadata" in _error_line(err) and "not allowed" in _error_line(err)
    code, err = _export(run_copy, tmp_path / "hf", capsys)
    assert code == REFUSED and ".metadata" in _error_line(err)
    assert not marker.exists(), "the payload ran"

    # Control: plain dcp.load unpickles .metadata and runs the payload.
    import torch.distributed.checkpoint as dcp

    try:
        dcp.load({"x": torch.zeros(1)}, checkpoint_id=str(_step_dir(run_copy)), no_dist=True)
    except BaseException:  # DCP's CheckpointException is a BaseException
        pass  # after it ran the payload, DCP notices the result is no Metadata
    assert marker.exists()


def test_malicious_rng_state_is_refused(shards, run_copy, tmp_path, capsys):
    marker = tmp_path / "pwned"
    torch.save({"cpu": Payload(marker)}, _step_dir(run_copy) / "rng_rank0.pt")
    ckpt.write_manifest(_step_dir(run_copy), 2)  # even with a matching manifest
    code, err = _resume(shards, run_copy, capsys)
    assert code == REFUSED and "rng_rank0.pt" in _error_line(err)
    assert not marker.exists(), "the payload ran"


@pytest.mark.parametrize("damage", ["flip_byte", "truncate", "delete", "extra_file", "no_manifest", "symlink",
                                    "bad_manifest"])
def test_tampered_or_incomplete_checkpoint_is_refused(shards, run_copy, tmp_path, capsys, damage):
    step = _step_dir(run_copy)
    shard = step / "__0_0.distcp"
    if damage == "flip_byte":  # same size, one bit different: only the digest can tell
        data = bytearray(shard.read_bytes())
        data[len(data) // 2] ^= 0x01
        shard.write_bytes(bytes(data))
        names = "__0_0.distcp"
    elif damage == "truncate":
        shard.write_bytes(shard.read_bytes()[:-100])
        names = "__0_0.distcp"
    elif damage == "delete":
        shard.unlink()
        names = "__0_0.distcp"
    elif damage == "extra_file":
        (step / "__1_0.distcp").write_bytes(b"\0" * 64)
        names = "__1_0.distcp"
    elif damage == "no_manifest":  # e.g. a checkpoint copied without its last file
        (step / ckpt.MANIFEST_NAME).unlink()
        names = "step_000002"
    elif damage == "symlink":  # a link's target could change between the check and the load
        target = tmp_path / "outside.distcp"
        target.write_bytes(shard.read_bytes())
        shard.unlink()
        shard.symlink_to(target)
        names = "__0_0.distcp"
    else:  # a well-formed manifest whose entry names a file outside the folder
        manifest = json.loads((step / ckpt.MANIFEST_NAME).read_text())
        manifest["files"]["../../x"] = {"bytes": 1, "sha256": "0" * 64}
        (step / ckpt.MANIFEST_NAME).write_text(json.dumps(manifest))
        names = "bad entry '../../x'"
    _assert_refused(shards, run_copy, tmp_path, capsys, names)
    with pytest.raises(ckpt.CheckpointError, match=re.escape(names)):
        ckpt.verify_checkpoint(step)


def test_metadata_that_would_rewrite_a_class_is_refused(tmp_path):
    """pickle's BUILD on a class object (not an instance) would set attributes on that class
    for the whole process: here every pathlib.PosixPath would point at /etc/passwd."""
    payload = b"cpathlib\nPosixPath\nN}X\x04\x00\x00\x00_strX\x0b\x00\x00\x00/etc/passwds\x86b."
    path = tmp_path / ".metadata"
    path.write_bytes(payload)
    with pytest.raises(ckpt.CheckpointError, match="BUILD on a class"):
        ckpt.read_dcp_metadata(path)
    assert str(pathlib.PosixPath("/tmp/x")) == "/tmp/x"


def test_manifest_is_written_last(monkeypatch, tmp_path):
    """A save killed before the manifest leaves a folder list_checkpoints does not count."""
    step = tmp_path / "checkpoints" / "step_000007"
    step.mkdir(parents=True)
    (step / "trainer.pt").write_bytes(b"x")
    (step / ".metadata").write_bytes(b"y")
    assert ckpt.list_checkpoints(tmp_path) == [] and ckpt.unverifiable_checkpoints(tmp_path) == [step]
    manifest = ckpt.write_manifest(step, 7)
    assert ckpt.list_checkpoints(tmp_path) == [(7, step)] and ckpt.unverifiable_checkpoints(tmp_path) == []
    assert set(manifest["files"]) == {"trainer.pt", ".metadata"}
    assert not (step / (ckpt.MANIFEST_NAME + ".part")).exists()


# ---------------------------------------------------------------- tokenizer files


@pytest.fixture
def export_setup(run_copy, shards, tmp_path):
    """The run, pointed at a writable copy of its shards' manifest and tokenizer folder."""
    tok = tmp_path / "tokenizer"
    shutil.copytree(shards.parent / "tokenizer", tok)
    data = tmp_path / "shards"
    data.mkdir()
    manifest = json.loads((shards / "manifest.json").read_text())
    manifest.update(tokenizer_model=str(tok / "tokenizer.model"), tokenizer_json=str(tok / "tokenizer.json"))
    (data / "manifest.json").write_text(json.dumps(manifest))
    config = json.loads((run_copy / "run_config.json").read_text())
    config["data"]["path"] = str(data)
    (run_copy / "run_config.json").write_text(json.dumps(config))
    return run_copy, data, tok


def _edit_manifest(data: pathlib.Path, **changes) -> None:
    manifest = json.loads((data / "manifest.json").read_text())
    manifest.update(changes)
    (data / "manifest.json").write_text(json.dumps(manifest))


def test_shards_manifest_and_run_config_record_the_tokenizer_json_digest(shards, trained_run):
    import hashlib

    manifest = json.loads((shards / "manifest.json").read_text())
    digest = hashlib.sha256(pathlib.Path(manifest["tokenizer_json"]).read_bytes()).hexdigest()
    assert manifest["tokenizer_json_sha256"] == digest
    assert json.loads((trained_run / "run_config.json").read_text())["data"]["tokenizer_json_sha256"] == digest


def test_export_copies_the_verified_tokenizer(export_setup, tmp_path):
    from model.export_hf import main

    run, _, tok = export_setup
    main(["--run", str(run), "--out", str(tmp_path / "hf")])
    for name in ("tokenizer.json", "tokenizer.model"):
        assert (tmp_path / "hf" / name).read_bytes() == (tok / name).read_bytes()


def test_export_refuses_a_tokenizer_json_outside_the_tokenizer_folder(export_setup, tmp_path, capsys):
    run, data, tok = export_setup
    secret = tmp_path / "elsewhere" / "secret.json"
    secret.parent.mkdir()
    secret.write_text('{"api_key": "do not ship me"}')
    _edit_manifest(data, tokenizer_json=str(secret))
    code, err = _export(run, tmp_path / "hf", capsys)
    assert code == REFUSED and str(secret) in _error_line(err) and "tokenizer's folder" in _error_line(err)
    assert not (tmp_path / "hf" / "tokenizer.json").exists()
    # A file named tokenizer.json in another folder is refused the same way.
    (secret.parent / "tokenizer.json").write_text(secret.read_text())
    _edit_manifest(data, tokenizer_json=str(secret.parent / "tokenizer.json"))
    code, err = _export(run, tmp_path / "hf", capsys)
    assert code == REFUSED and "tokenizer's folder" in _error_line(err)
    # So is a tokenizer.json passed beside a .model from another folder.
    code, err = _export(run, tmp_path / "hf", capsys, "--tokenizer", str(tok / "tokenizer.model"),
                        "--tokenizer", str(secret.parent / "tokenizer.json"))
    assert code == REFUSED and "several folders" in _error_line(err)
    assert not (tmp_path / "hf" / "tokenizer.json").exists()


def test_export_refuses_a_changed_tokenizer_json(export_setup, tmp_path, capsys):
    import hashlib

    run, data, tok = export_setup
    swapped = b'{"version": "1.0", "model": {"type": "WordLevel", "vocab": {}}}'
    (tok / "tokenizer.json").write_bytes(swapped)
    code, err = _export(run, tmp_path / "hf", capsys)
    assert code == REFUSED and "tokenizer.json" in _error_line(err) and "SHA-256" in _error_line(err)
    # Rewriting the digest in the shards' manifest does not help: the run pinned it at training time.
    _edit_manifest(data, tokenizer_json_sha256=hashlib.sha256(swapped).hexdigest())
    code, err = _export(run, tmp_path / "hf", capsys)
    assert code == REFUSED and "tokenizer.json" in _error_line(err)
    # Nor does passing it explicitly.
    code, err = _export(run, tmp_path / "hf", capsys, "--tokenizer", str(tok))
    assert code == REFUSED and "tokenizer.json" in _error_line(err)
    assert not (tmp_path / "hf" / "tokenizer.json").exists()


# ---------------------------------------------------------------- one trainer per run folder


def test_second_trainer_on_a_locked_run_folder_exits_at_once_naming_the_holder(shards, tmp_path, capsys):
    from model.train import main

    run = tmp_path / "run"
    run.mkdir()
    with ckpt.RunLock(run) as lock:  # this process plays the running trainer
        assert lock.holder()["pid"] == os.getpid()
        capsys.readouterr()
        start = time.monotonic()
        with pytest.raises(SystemExit) as exc:
            main(["--data", str(shards), "--out", str(run), *RUN_ARGS, "--max_steps", "2"])
        elapsed = time.monotonic() - start
        err = capsys.readouterr().err
        assert exc.value.code == REFUSED
        line = _error_line(err)
        assert f"PID {os.getpid()}" in line and ckpt.LOCK_NAME in line
        assert elapsed < 10, elapsed
        assert sorted(p.name for p in run.iterdir()) == [ckpt.LOCK_NAME]  # it wrote nothing
    # Released: the next trainer gets the folder.
    with ckpt.RunLock(run):
        pass


def test_launcher_guard_is_off_outside_torchrun(monkeypatch):
    from model.train import exit_with_launcher

    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    assert exit_with_launcher(os.getppid()) is False


# ---------------------------------------------------------------- killed torchrun: no orphans


MAX_STEPS = 12
KILL_ARGS = ["--config", "tiny", "--seq_len", "64", "--batch_size", "4", "--max_steps", str(MAX_STEPS),
             "--warmup_steps", "2", "--lr", "3e-3", "--eval_every", "6", "--eval_batches", "2", "--ckpt_every", "4"]
PROCESS_TIMEOUT = 400


def _torchrun(shards: pathlib.Path, out: pathlib.Path, extra=()) -> list[str]:
    """What follows ``python -m``: a 2-process torchrun of model.train."""
    return ["torch.distributed.run", "--standalone", "--nproc_per_node=2",
            "-m", "model.train", "--data", str(shards), "--out", str(out), *KILL_ARGS, *extra]


def _children(pid: int) -> list[int]:
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:].split()[0] not in ("Z", "X")


def _losses(run: pathlib.Path, kind: str = "train") -> dict[int, float]:
    return {step: r["loss"] for step, r in latest_by_step(read_jsonl(run / "metrics.jsonl"), kind).items()}


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killed_torchrun_leaves_no_orphans_and_a_restart_continues_exactly(shards, tmp_path, capsys):
    from model.train import main

    reference, run = tmp_path / "reference", tmp_path / "run"
    run_module(*_torchrun(shards, reference), env=repo_env(), timeout=PROCESS_TIMEOUT)

    # The victim: slowed down (a sleep between backward and the optimizer step), in its own
    # process group, as a shell would start it.
    log = open(tmp_path / "victim.log", "w")  # a file, not a pipe nobody reads
    victim = subprocess.Popen([sys.executable, "-m", *_torchrun(shards, run, ["--step_delay", "1.0"])], cwd=REPO,
                              env=repo_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + PROCESS_TIMEOUT
        while not any(step >= 4 for step, _ in ckpt.list_checkpoints(run)):
            assert victim.poll() is None, (tmp_path / "victim.log").read_text()[-4000:]
            assert time.monotonic() < deadline, "no checkpoint appeared in time"
            time.sleep(0.05)
        workers = _children(victim.pid)
        assert len(workers) == 2, workers
        holder = ckpt.RunLock(run).holder()
        assert holder and holder["pid"] in workers  # rank 0 holds the lock and named itself

        # A second trainer on the same folder exits at once, naming the holder.
        capsys.readouterr()
        start = time.monotonic()
        with pytest.raises(SystemExit) as exc:
            main(["--data", str(shards), "--out", str(run), *KILL_ARGS])
        assert exc.value.code == REFUSED and time.monotonic() - start < 10
        assert f"PID {holder['pid']}" in _error_line(capsys.readouterr().err)

        # kill -9 of torchrun's process group: the workers are in their own sessions, so
        # only their launcher guard can take them down with it.
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=30)
        deadline = time.monotonic() + 5
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in workers if _alive(pid)], "orphaned workers survived their launcher"
    finally:
        if victim.poll() is None:
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait()
        # The workers seen before the kill: once the launcher is reaped, survivors have
        # another parent and _children(victim.pid) would no longer find them.
        for pid in [*workers, *_children(victim.pid)]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        log.close()
    logged = max(latest_by_step(read_jsonl(run / "metrics.jsonl"), "train"))
    assert 4 <= logged < MAX_STEPS, logged  # killed mid-run

    # Restart on the same folder: the lock is free again, and the run continues exactly.
    done = run_module(*_torchrun(shards, run), env=repo_env(), timeout=PROCESS_TIMEOUT)
    assert "resumed from" in done.stderr
    assert sorted(_losses(run)) == list(range(1, MAX_STEPS + 1))
    assert _losses(run) == _losses(reference)  # bitwise on CPU
    assert _losses(run, "val") == _losses(reference, "val")
