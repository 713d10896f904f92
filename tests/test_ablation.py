"""python -m pipelines.ablate: variants share what is equal, train on equal tokens, give the
same results on a rerun, and a killed run redoes only what was unfinished."""
from __future__ import annotations

import json
import math
import pathlib
import time

import pytest
import yaml

from conftest import REPO, SHARED_DATA, kill_group_when_printed, run_module
from pipelines.ablation import report as ablation_report
from pipelines.ablation.evaluate import evaluate_texts, windows
from pipelines.ablation.spec import TOP_KEYS, SpecError, parse_spec
from pipelines.ablation.variants import plan

SAMPLE_CRAWL = REPO / "pipelines" / "resources" / "sample" / "sample-crawl.warc.gz"
FILTERS = "lines,gopher_repetition,gopher_quality,c4,fineweb"


def small_spec(tmp_path: pathlib.Path, **changes) -> dict:
    """Two variants of the bundled sample crawl (about 40 KB of text), a 2,000-piece
    tokenizer and the tiny model on 32-token windows: a whole ablation in a few minutes."""
    eval_text = tmp_path / "eval.txt"
    eval_text.write_text("The quick brown fox jumps over the lazy dog.\n\nA second document, about a river.\n",
                         encoding="utf-8")
    spec = {
        "inputs": [str(SAMPLE_CRAWL)],
        "baseline": "raw",
        "tokenizer": {"vocab_size": 2000, "no_eval": True},
        "tokenizer_sample_mb": 1,
        "tokenize": {"validation_fraction": 0.2, "shard_size_mb": 0.01},
        "train": {"config": "tiny", "seq_len": 32, "batch_size": 4, "lr": 0.003, "warmup_steps": 2,
                  "eval_every": 2, "eval_batches": 2, "ckpt_every": 2, "log_every": 1},
        "eval_sets": {"tiny": str(eval_text)},
        "clean": {"num_shards": 1},
        "beam_args": ["--direct_num_workers=1"],
        "variants": {"raw": {"clean": {"skip_stages": FILTERS}},
                     "filtered_dedup": {"dedup": {"num_shards": 1}}},
    }
    spec.update(changes)
    return spec


def write_spec(tmp_path: pathlib.Path, spec: dict) -> pathlib.Path:
    path = tmp_path / "ablation.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")  # variants run in the spec's order
    return path


# ----------------------------------------------------------------------------- spec


@pytest.mark.parametrize("change,message", [
    ({"variantz": {}}, "unknown top-level key 'variantz'"),
    ({"variants": {"a": {"clean_cfg": {}}}}, "unknown key in variants.a 'clean_cfg'"),
    ({"baseline": "nope"}, "baseline: 'nope' is not a variant"),
    ({"train": {"seed": 3}}, "train.seed is set by the ablation itself (use --seeds)"),
    ({"train": {"max_steps": 3}}, "train.max_steps is set by the ablation itself (use --tokens)"),
    ({"variants": {"a": {"mixture": {"books": 1}}}}, "'books' is not a source"),
    ({"eval_sets": {"wiki": "/no/such/file.txt"}}, "eval_sets.wiki: '/no/such/file.txt' is not a file"),
    ({"inputs": ["/no/such/warcs"]}, "inputs: /no/such/warcs does not exist"),
    ({"tokens": 0}, "tokens: expected a whole number >= 1"),
])
def test_spec_errors_name_the_key_in_one_line(tmp_path, change, message):
    spec = {**small_spec(tmp_path), **change}
    with pytest.raises(SpecError) as err:
        parse_spec(spec, "s.yaml")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_bad_spec_stops_the_command_before_any_work(tmp_path):
    out = tmp_path / "out"
    bad = write_spec(tmp_path, {**small_spec(tmp_path), "tokenizerr": {}})
    proc = run_module("pipelines.ablate", "--spec", bad, "--output", out, "--tokens", 1000, check=False, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].endswith("unknown top-level key 'tokenizerr'; allowed: "
                                                        + ", ".join(TOP_KEYS))
    assert not out.exists()


@pytest.mark.slow  # loads every job's parser, torch included: ~30 s on a loaded 2-core machine
def test_a_bad_job_flag_stops_the_command_before_any_step_runs(tmp_path):
    out = tmp_path / "out"
    spec = small_spec(tmp_path)
    spec["variants"]["filtered_dedup"]["dedup"] = {"no_such_flag": 1}
    proc = run_module("pipelines.ablate", "--spec", write_spec(tmp_path, spec), "--output", out, "--tokens", 1000,
                      check=False, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "settings of step dedup: unknown flag(s) ['--no_such_flag']" in proc.stderr
    assert not (out / "steps").exists()


# ----------------------------------------------------------------------------- plan


def _folders(planned, kind):
    return sorted({t.step.output for t in planned.tasks if t.step.name == kind})


def test_variants_with_equal_clean_settings_share_one_clean_step(tmp_path):
    spec = small_spec(tmp_path)
    spec["variants"] = {"raw": {"clean": {"skip_stages": FILTERS}}, "filtered": {},
                        "filtered_dedup": {"dedup": {}},
                        "stricter": {"clean_config": {"c4": {"min_num_sentences": 8}}, "dedup": {}}}
    planned = plan(parse_spec(spec), str(tmp_path / "out"), max_steps=4, seeds=2)
    assert len(_folders(planned, "clean")) == 3  # filtered and filtered_dedup share theirs
    assert planned.cleans["filtered"] == planned.cleans["filtered_dedup"]
    assert planned.cleans["stricter"] != planned.cleans["filtered"]
    assert len(_folders(planned, "dedup")) == 2 and len(_folders(planned, "tokenizer")) == 1
    assert len(_folders(planned, "train")) == 8 and len(_folders(planned, "evaluate")) == 8
    # Every step comes after the steps it reads.
    seen = set()
    for task in planned.tasks:
        assert all(folder in seen for folder in task.step.inputs), task.label
        seen.add(task.step.output)


def test_an_edit_gives_new_folders_only_to_the_steps_it_changes(tmp_path):
    spec = small_spec(tmp_path)
    out = str(tmp_path / "out")
    before = plan(parse_spec(spec), out, max_steps=4, seeds=2)
    spec["train"] = {**spec["train"], "lr": 0.001}
    after = plan(parse_spec(spec), out, max_steps=4, seeds=2)
    for kind in ("clean", "dedup", "sample", "tokenizer", "tokenize"):
        assert _folders(before, kind) == _folders(after, kind), kind
    for kind in ("train", "evaluate"):
        assert not set(_folders(before, kind)) & set(_folders(after, kind)), kind
    # The variants' order in the spec changes nothing (the tokenizer's sample is sorted by name).
    spec["variants"] = dict(reversed(list(spec["variants"].items())))
    reordered = plan(parse_spec(spec), out, max_steps=4, seeds=2)
    assert _folders(reordered, "tokenizer") == _folders(after, "tokenizer")


def test_mixture_weights_reach_the_tokenize_step(tmp_path):
    spec = small_spec(tmp_path, baseline="even")
    del spec["inputs"]
    spec["sources"] = {"web": [str(SAMPLE_CRAWL)], "more": [str(SAMPLE_CRAWL)]}
    spec["variants"] = {"even": {}, "web_twice": {"mixture": {"web": 2, "more": 0.5}}, "web_only": {"mixture": {"more": 0}}}
    planned = plan(parse_spec(spec), str(tmp_path / "out"), max_steps=4, seeds=1)
    tokenize = {t.variants[0]: t.step.argv for t in planned.tasks if t.step.name == "tokenize"}
    sources = {v: [a.split("=")[0] + ":" + a.rsplit(":", 1)[1] for a in argv if "=" in a and not a.startswith("--")] for v, argv in tokenize.items()}
    assert sources == {"even": ["more:1", "web:1"], "web_twice": ["more:0.5", "web:2"], "web_only": ["web:1"]}
    assert set(planned.cleans["web_only"]) == {"web"}  # a source with weight 0 is not built


# ----------------------------------------------------------------------------- measures


class _Uniform:
    """A 'model' that predicts every token with probability 1/vocab."""

    def __init__(self, vocab: int):
        self.vocab = vocab

    def __call__(self, inputs, doc_ids=None):
        import torch

        return torch.zeros((*inputs.shape, self.vocab))


class _Chars:
    """Stand-in SentencePiece: one token per character."""

    def encode(self, texts):
        return [[4 + (ord(c) % 50) for c in t] for t in texts]


def test_windows_predict_every_token_once():
    import numpy as np

    for n, seq_len in ((1, 4), (2, 4), (5, 4), (9, 4), (10, 4), (100, 7)):
        spans = list(windows(np.zeros(n), seq_len))
        targets = [i for s, e in spans for i in range(s + 1, e)]
        assert targets == list(range(1, n)), (n, seq_len)
        assert all(e - s <= seq_len + 1 for s, e in spans)


def test_bits_per_byte_is_total_nll_over_the_texts_bytes():
    import torch

    texts = ["abc", "héllo wörld", "中文"]
    result = evaluate_texts(_Uniform(64), texts, _Chars(), seq_len=4, batch_size=3, device=torch.device("cpu"),
                            eos_id=3)
    tokens = sum(len(t) + 1 for t in texts)  # every character and every document's EOS
    n_bytes = sum(len(t.encode("utf-8")) + 1 for t in texts)
    assert result["tokens"] == tokens and result["bytes"] == n_bytes
    assert result["loss"] == pytest.approx(math.log(64))
    assert result["bits_per_byte"] == pytest.approx(tokens * math.log(64) / math.log(2) / n_bytes)


def test_paired_comparison_and_the_spread_line():
    d = ablation_report.paired([1.0, 1.5, 0.5], [1.25, 1.75, 0.75])  # exact in binary: equal differences
    assert d["per_seed"] == [-0.25] * 3 and d["mean"] == -0.25 and d["std"] == 0.0
    assert d["lower_in"] == 3 and d["p"] == 0.0 and d["t"] == -math.inf
    d = ablation_report.paired([1.0, 1.3, 0.9], [1.1, 1.1, 1.1])
    assert d["lower_in"] == 2 and 0 < d["p"] < 1
    results = {"baseline": "a", "spread_factor": 2.0, "comparison": {"wiki": {
        "a": {}, "b": {"vs_baseline": {"mean": -0.3, "exceeds_spread": True}},
        "c": {"vs_baseline": {"mean": 0.01, "exceeds_spread": False}}}}}
    assert ablation_report.verdict_lines(results) == [
        "wiki: b -0.3000 (better) bits/byte vs a exceeds 2x the seed-to-seed spread"]


# ----------------------------------------------------------------------------- end to end


ARGS = ("--tokens", 512, "--seeds", 2)


def _run_args(spec_path, out) -> list:
    return ["--spec", spec_path, "--output", out, *ARGS]


def step_states(log: str) -> dict:
    """{"train seed 0 [raw]": "running" | "skipped", ...} from the command's log."""
    states = {}
    for line in log.splitlines():
        if "ablate: step " not in line:
            continue
        head = line.split("ablate: step ", 1)[1].split(" ", 1)[1]
        if head.endswith(": up to date, skipped"):
            states[head[:-len(": up to date, skipped")]] = "skipped"
        elif ": running (" in head:
            states[head.split(": running (")[0]] = "running"
    return states


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ablation_reference")
    spec_path = write_spec(tmp, small_spec(tmp))
    out = tmp / "out"
    proc = run_module("pipelines.ablate", *_run_args(spec_path, out), timeout=1800)
    return {"tmp": tmp, "spec": spec_path, "out": out, "log": proc.stdout + proc.stderr}


@pytest.mark.slow
def test_every_model_trains_on_the_same_tokens_and_the_report_has_the_table(reference):
    out = reference["out"]
    results = json.loads((out / "results.json").read_text())
    assert results["tokens_per_model"] == 512 == results["max_steps"] * results["tokens_per_step"]
    trained = {}
    for folder in sorted((out / "steps").glob("train-*")):
        done = json.loads((folder / "_SUCCESS").read_text())
        trained[folder.name] = done["counts"]["tokens"]
    assert len(trained) == 4 and set(trained.values()) == {512}
    assert {(r["variant"], r["seed"]) for r in results["runs"]} == {(v, s) for v in ("raw", "filtered_dedup")
                                                                    for s in (0, 1)}
    assert set(results["eval_sets"]) == {"tiny", "val_raw", "val_filtered_dedup"}
    for r in results["runs"]:
        assert r["bits_per_byte"] > 0 and r["loss"] > 0
    # the same text for every model: equal bytes per evaluation set
    for name in results["eval_sets"]:
        assert len({r["bytes"] for r in results["runs"] if r["eval_set"] == name}) == 1
    raw, filtered = results["variants"]["raw"], results["variants"]["filtered_dedup"]
    assert raw["documents"] > filtered["documents"] and 0 < filtered["kept_share"] < raw["kept_share"] <= 1
    page = (out / "report.html").read_text()
    assert 'data-variant="filtered_dedup"' in page and "exceeds" in page and "<svg" in page
    assert "filtered_dedup" in ablation_report.markdown_table(results)


@pytest.mark.slow
def test_a_rerun_skips_every_step_and_writes_identical_results(reference):
    before = (reference["out"] / "results.json").read_bytes()
    proc = run_module("pipelines.ablate", *_run_args(reference["spec"], reference["out"]), timeout=600)
    states = step_states(proc.stdout + proc.stderr)
    assert states and set(states.values()) == {"skipped"}, states
    assert (reference["out"] / "results.json").read_bytes() == before


@pytest.mark.slow
def test_too_few_tokens_stops_with_how_many_the_variant_has(reference):
    results = (reference["out"] / "results.json").read_bytes()
    proc = run_module("pipelines.ablate", "--spec", reference["spec"], "--output", reference["out"],
                      "--tokens", 10_000_000, "--seeds", 2, check=False, timeout=600)
    assert proc.returncode == 2
    line = next(l for l in (proc.stdout + proc.stderr).splitlines() if "training tokens (train split" in l)
    assert "variant filtered_dedup has" in line and "Lower --tokens to at most" in line
    assert not any(s == "running" for s in step_states(proc.stdout + proc.stderr).values())
    assert not (reference["out"] / "results.json").exists()  # stopped: nothing stale looks finished
    run_module("pipelines.ablate", *_run_args(reference["spec"], reference["out"]), timeout=600)
    assert (reference["out"] / "results.json").read_bytes() == results


def _unfinished_training_has_a_checkpoint(out: pathlib.Path) -> bool:
    return any(not (d / "_SUCCESS").exists() and any((d / "checkpoints").glob("*"))
               for d in (out / "steps").glob("train-*") if (d / "checkpoints").is_dir())


def kill_during(args: list, marker: str, out: pathlib.Path) -> str:
    """Once ``marker`` is printed, SIGKILL the ablation's process group as soon as the
    unfinished trainer has written a checkpoint (mid-training, not after: a fixed sleep let
    a fast trainer finish first)."""
    def until_checkpoint():
        deadline = time.monotonic() + 120
        while not _unfinished_training_has_a_checkpoint(out) and time.monotonic() < deadline:
            time.sleep(0.02)

    return kill_group_when_printed(["pipelines.ablate", *args], marker, until_checkpoint)


@pytest.mark.slow
def test_a_killed_run_redoes_only_the_unfinished_variant_and_gives_the_same_results(reference, tmp_path):
    spec_path = write_spec(tmp_path, small_spec(reference["tmp"]))  # same spec, new folder
    out = tmp_path / "out"
    printed = kill_during(_run_args(spec_path, out), "train seed 0 [filtered_dedup]: running", out)
    assert "train seed 0 [filtered_dedup]: running" in printed
    assert not (out / "results.json").exists()
    proc = run_module("pipelines.ablate", *_run_args(spec_path, out), timeout=1800)
    states = step_states(proc.stdout + proc.stderr)
    for seed in (0, 1):
        assert states[f"train seed {seed} [raw]"] == "skipped" and states[f"evaluate seed {seed} [raw]"] == "skipped"
        assert states[f"train seed {seed} [filtered_dedup]"] == "running"
    assert all(s == "skipped" for k, s in states.items() if not k.startswith(("train", "evaluate"))), states
    # Deterministic on CPU: the same results as the uninterrupted run in another folder.
    assert (out / "results.json").read_bytes() == (reference["out"] / "results.json").read_bytes()


def test_wikitext_evaluation_reads_one_document_per_line():
    path = SHARED_DATA / "reference" / "wikitext-2" / "valid.txt"
    if not path.is_file():
        pytest.skip(f"shared test data not found at {path}")
    from pipelines.ablation.evaluate import read_texts

    skipped = {}
    texts = read_texts("text", "text", str(path), skipped)
    lines = [l for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]
    assert texts == lines and not skipped


def test_train_settings_that_would_fail_after_the_data_steps_stop_before_them():
    from pipelines.ablate import AblationError, training_shape

    with pytest.raises(AblationError, match="--batch_size must be >= 1"):
        training_shape({"batch_size": 0}, None)  # was a ZeroDivisionError traceback
    for device in ("gpu", "cuda:1", "mps"):  # the trainer takes auto, cuda (every GPU of the node) or cpu
        with pytest.raises(AblationError, match=f"--device: invalid choice: '{device}'"):
            training_shape({}, None, device)
    assert training_shape({"batch_size": 2, "seq_len": 8}, None, "cpu")["tokens_per_step"] == 16


def test_an_evaluation_set_without_documents_stops_the_command_before_any_work(tmp_path):
    wrong_field = tmp_path / "eval.jsonl"
    wrong_field.write_text('{"txt": "a document under another key"}\n', encoding="utf-8")
    out = tmp_path / "out"
    bad = write_spec(tmp_path, small_spec(tmp_path, eval_sets={"wiki": str(wrong_field)}))
    proc = run_module("pipelines.ablate", "--spec", bad, "--output", out, "--tokens", 1000, check=False, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].endswith(
        f"eval_sets.wiki: {wrong_field} has no jsonl documents (skipped: {{'missing_text_field': 1}}; "
        "is field 'text' right?)")
    assert not out.exists()


def test_gzipped_jsonl_evaluation_sets_are_read(tmp_path):
    import gzip

    from pipelines.ablation.evaluate import read_texts

    path = tmp_path / "eval.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write('{"text": "first document"}\nnot json\n{"text": "second"}\n')
    skipped = {}
    spec = parse_spec(small_spec(tmp_path, eval_sets={"gz": str(path)}))
    assert spec.eval_sets[0].format == "jsonl"
    assert read_texts("jsonl", "text", str(path), skipped) == ["first document", "second"]
    assert skipped == {"bad_json_line": 1}


def test_evaluate_refuses_a_model_of_another_tokenizer_before_writing_anything(tmp_path):
    from pipelines import completion

    model = tmp_path / "model"
    model.mkdir()
    (model / "run_config.json").write_text(json.dumps({"data": {"tokenizer_sha256": "0" * 64}}), encoding="utf-8")
    completion.write_success(str(model), "model.train", {}, [], {})
    (tmp_path / "tok").mkdir()
    tokenizer = tmp_path / "tok" / "tokenizer.model"
    tokenizer.write_bytes(b"not the tokenizer the model was trained with")
    completion.write_success(str(tmp_path / "tok"), "tokenizer_training.train", {}, [], {})
    eval_text = tmp_path / "eval.txt"
    eval_text.write_text("one document\n", encoding="utf-8")
    out = tmp_path / "out"
    proc = run_module("pipelines.ablation.evaluate", "--model", model, "--tokenizer", tokenizer,
                      "--eval", f"tiny=text::{eval_text}", "--output", out, check=False)
    assert proc.returncode == 2
    assert "was trained with another tokenizer" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists() or not any(out.iterdir())  # nothing begun, nothing that looks finished


def test_evaluation_lines_end_only_at_newlines(tmp_path):
    """A JSON string may hold U+2028 unescaped, and text a form feed: str.splitlines() would
    cut those documents in pieces (and turn a JSON line into two bad ones)."""
    from pipelines.ablation.evaluate import read_texts

    path = tmp_path / "eval.jsonl"
    path.write_text('{"text": "one\u2028line"}\r\n{"text": "two\u0085"}\n', encoding="utf-8")
    skipped = {}
    assert read_texts("jsonl", "text", str(path), skipped) == ["one\u2028line", "two\u0085"] and not skipped
    plain = tmp_path / "eval.txt"
    plain.write_text("page one\x0cstill page one\nsecond\n", encoding="utf-8")
    assert read_texts("text", "text", str(plain), {}) == ["page one\x0cstill page one", "second"]
