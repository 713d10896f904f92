"""python -m pipelines.run: one restartable run, killed at any step, ends with the same shards."""
from __future__ import annotations

import hashlib
import json
import pathlib
import time

import pytest
import yaml

from conftest import TEST_DATA, kill_group_when_printed, run_module
from pipelines import steps as run_steps
from pipelines.run import SettingsError, load_settings

SAMPLE = TEST_DATA / "sample.warc.gz"
SETTINGS = {"tokenizer": {"vocab_size": 1000, "no_eval": True}, "tokenize": {"shard_size_mb": 0.002}}


def _settings_file(tmp_path: pathlib.Path, settings: dict = SETTINGS) -> pathlib.Path:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path


def _run_args(out, config) -> list[str]:
    return ["--output", str(out), "--input", str(SAMPLE), "--config", str(config), "--no_train"]


def shard_digests(run_dir: pathlib.Path) -> dict[str, str]:
    """The token shards' bytes, and the manifest without the paths it records (the run's
    own folders: sources, tokenizer files)."""
    shards = run_dir / "shards"
    found = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(shards.glob("*.arrow"))}
    manifest = json.loads((shards / "manifest.json").read_text())
    for key in ("sources", "tokenizer_model", "tokenizer_json"):
        manifest.pop(key)
    found["manifest.json"] = json.dumps(manifest, sort_keys=True)
    return found


def step_lines(log: str) -> dict[str, str]:
    """{step: "running" | "skipped"} from the run's log."""
    found = {}
    for line in log.splitlines():
        for name in run_steps.ORDER:
            if f" {name}: running" in line and "step " in line:
                found[name] = "running"
            elif f" {name}: up to date, skipped" in line:
                found[name] = "skipped"
    return found


def kill_during(step: str, args: list[str], after_s: float) -> str:
    """Start pipelines.run in its own process group, SIGKILL the whole group ``after_s``
    seconds into ``step``, and return what it printed."""
    return kill_group_when_printed(["pipelines.run", *args], f" {step}: running", lambda: time.sleep(after_s))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run."""
    tmp = tmp_path_factory.mktemp("run_reference")
    out = tmp / "run"
    run_module("pipelines.run", *_run_args(out, _settings_file(tmp)), timeout=900)
    return out


@pytest.mark.slow
def test_an_uninterrupted_run_writes_every_step_and_a_report(reference):
    for folder in ("clean", "dedup", "tokenizer", "shards"):
        assert (reference / folder / "_SUCCESS").is_file(), folder
    assert shard_digests(reference)
    page = (reference / "report.html").read_text(encoding="utf-8")
    for step in ("clean", "dedup", "tokenizer", "tokenize"):
        assert f'data-step="{step}"' in page
    assert 'href="clean/report.html"' in page and 'href="dedup/report.html"' in page


@pytest.mark.slow
@pytest.mark.parametrize("step,after_s", [("clean", 4.0), ("dedup", 4.0), ("tokenize", 2.5)])
def test_killed_mid_step_then_rerun_gives_the_same_shards(reference, tmp_path, step, after_s):
    config = _settings_file(tmp_path)
    out = tmp_path / "run"
    printed = kill_during(step, _run_args(out, config), after_s)
    assert f"{step}: running" in printed
    folder = out / run_steps.FOLDERS[step]
    assert not (folder / "_SUCCESS").exists(), f"killed {step} must not look finished"
    assert not (out / "report.html").exists()
    rerun = run_module("pipelines.run", *_run_args(out, config), timeout=900)
    log = rerun.stdout + rerun.stderr
    states = step_lines(log)
    before = run_steps.ORDER[:run_steps.ORDER.index(step)]
    assert all(states[s] == "skipped" for s in before), states  # finished steps are not redone
    assert states[step] == "running"
    assert shard_digests(out) == shard_digests(reference)


@pytest.mark.slow
def test_a_rerun_skips_everything_and_a_changed_setting_reruns_from_that_step(tmp_path):
    config = _settings_file(tmp_path)
    out = tmp_path / "run"
    run_module("pipelines.run", *_run_args(out, config), timeout=900)
    again = run_module("pipelines.run", *_run_args(out, config), timeout=900)
    assert set(step_lines(again.stdout + again.stderr).values()) == {"skipped"}
    changed = _settings_file(tmp_path, {**SETTINGS, "dedup": {"num_perm": 128, "bands": 16, "rows": 8}})
    third = run_module("pipelines.run", *_run_args(out, changed), timeout=900)
    states = step_lines(third.stdout + third.stderr)
    assert states == {"clean": "skipped", "dedup": "running", "tokenizer": "running", "tokenize": "running"}


@pytest.mark.slow
def test_a_killed_rerun_leaves_no_stale_stats_or_marker_beside_new_output(reference, tmp_path):
    """A finished run's folder, rerun with another dedup setting and killed inside dedup: the
    old dedup stats.json, report.html and _SUCCESS are gone (they described the old
    documents), while clean's, finished before the kill, are there."""
    import shutil

    out = tmp_path / "run"
    shutil.copytree(reference, out)
    changed = _settings_file(tmp_path, {**SETTINGS, "dedup": {"num_perm": 128, "bands": 16, "rows": 8}})
    kill_during("dedup", _run_args(out, changed), after_s=3.0)
    for name in ("_SUCCESS", "stats.json", "report.html"):
        assert not (out / "dedup" / name).exists(), name
        assert (out / "clean" / name).exists(), name
    assert not (out / "_SUCCESS").exists() and not (out / "report.html").exists()


@pytest.mark.slow
def test_changed_training_settings_retrain_from_scratch(tmp_path):
    """The trainer resumes from its newest checkpoint; after a finished run whose training
    flags changed, that checkpoint belongs to another model (and was at max_steps, which
    once crashed the resumed run), so the run starts the train folder afresh."""
    train = {"config": "tiny", "max_steps": 4, "seq_len": 32, "batch_size": 4, "eval_every": 0, "ckpt_every": 2,
             "lr": 0.003}
    out = tmp_path / "run"
    args = ["--output", str(out), "--input", str(SAMPLE)]
    run_module("pipelines.run", *args, "--config", _settings_file(tmp_path, {**SETTINGS, "train": train}), timeout=900)
    first = json.loads((out / "train" / "_SUCCESS").read_text())
    changed = _settings_file(tmp_path, {**SETTINGS, "train": {**train, "lr": 0.001}})
    proc = run_module("pipelines.run", *args, "--config", changed, timeout=900)
    log = proc.stdout + proc.stderr
    assert "the training settings changed" in log and "starting it afresh" in log
    assert step_lines(log)["train"] == "running" and step_lines(log)["tokenize"] == "skipped"
    second = json.loads((out / "train" / "_SUCCESS").read_text())
    assert second["counts"]["steps"] == 4 and second["flags"]["lr"] == 0.001 and first["flags"]["lr"] == 0.003
    assert second["counts"]["final_loss"] != first["counts"]["final_loss"]


def test_settings_are_checked_by_each_jobs_parser_before_anything_runs(tmp_path):
    out = tmp_path / "run"
    bad = _settings_file(tmp_path, {"dedup": {"no_such_flag": 3}})
    proc = run_module("pipelines.run", *_run_args(out, bad), check=False, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "settings of step dedup: unknown flag(s) ['--no_such_flag']" in proc.stderr
    assert not (out / "clean").exists()
    bad = _settings_file(tmp_path, {"tokenizer": {"vocab_size": "many"}})
    proc = run_module("pipelines.run", *_run_args(out, bad), check=False, timeout=300)
    assert proc.returncode == 2 and "settings of step tokenizer" in proc.stderr and "many" in proc.stderr


def test_settings_file_errors(tmp_path):
    with pytest.raises(SettingsError, match="is a folder"):
        load_settings(str(tmp_path))
    with pytest.raises(SettingsError, match=r"unknown section\(s\) \['dedupe'\]"):
        load_settings(str(_settings_file(tmp_path, {"dedupe": {}})))
    path = tmp_path / "code.yaml"
    path.write_text("clean: !!python/object/apply:os.system ['touch pwned']\n")
    with pytest.raises(SettingsError, match="not valid YAML"):
        load_settings(str(path))  # safe_load: a settings file never runs code
    assert not (tmp_path / "pwned").exists()


def test_setting_flags_are_sorted_and_typed():
    assert run_steps.setting_flags({"stages": "minhash,substring", "keep_removed": True, "no_report": False,
                                    "languages": ["en", "de"], "seed": None}) == [
        "--keep_removed", "--languages", "en,de", "--stages", "minhash,substring"]


def test_wiring_flags_and_bad_counts_are_refused_and_yaml_beam_args_pass(tmp_path):
    with pytest.raises(SettingsError, match=r"clean\.output is set by the run itself"):
        load_settings(str(_settings_file(tmp_path, {"clean": {"output": "elsewhere"}})))
    out = tmp_path / "run"
    proc = run_module("pipelines.run", "--output", out, "--crawl", "CC-MAIN-2024-10", "--max_files", "0",
                      check=False, timeout=300)
    assert proc.returncode == 2 and "--max_files takes a number >= 1" in proc.stderr
    # Beam options in the YAML reach every Beam step and are not mistaken for unknown flags.
    planned = run_steps.plan(str(out), {"beam_args": ["--direct_num_workers=1"]}, inputs=[str(SAMPLE)], train=False)
    assert all("--direct_num_workers=1" in s.argv for s in planned if run_steps.STEPS[s.name][1])
    assert "--direct_num_workers=1" not in planned[2].argv  # the tokenizer is not a Beam job
    from pipelines.run import check_step

    for step in planned:
        check_step(step, run_steps.beam_args_of({"beam_args": ["--direct_num_workers=1"]}))
