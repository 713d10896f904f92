"""Export to Hugging Face Llama: transformers loads it and computes the same logits as our model."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from conftest import tokenizer_dir_of
from model.config import CONFIGS
from model.export_hf import export_model, load_run, main
from model.transformer import Transformer

VOCAB = 211


def _hf_logits(folder, tokens: torch.Tensor) -> torch.Tensor:
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    assert type(hf).__name__ == "LlamaForCausalLM"
    with torch.no_grad():
        return hf(tokens).logits


@pytest.mark.parametrize("changes", [
    dict(tie_embeddings=False, n_kv_heads=2),            # GQA, separate output projection
    dict(tie_embeddings=True, n_kv_heads=None),          # MHA, tied embeddings
    dict(rope_theta=500000.0, n_heads=8, ffn_dim=100),   # other RoPE base, head_dim 8, explicit FFN width
])
def test_exported_model_gives_the_same_logits_in_transformers(tmp_path, changes):
    cfg = dataclasses.replace(CONFIGS["tiny"], vocab_size=VOCAB, **changes)
    model = Transformer(cfg)
    model.init_weights(seed=3)
    # Random (not initial) norm gains, so a swapped or dropped norm weight cannot go unnoticed.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.uniform_(0.5, 1.5)
    model.eval()
    export_model(model, tmp_path, bos_id=1, eos_id=2)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["num_key_value_heads"] == cfg.kv_heads and config["tie_word_embeddings"] == cfg.tie_embeddings
    tokens = torch.randint(0, VOCAB, (2, 48), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = model(tokens)
    # Positions up to 48 exercise every RoPE frequency; a wrong rotation convention
    # (interleaved pairs vs split halves) or a transposed weight breaks this by far.
    torch.testing.assert_close(_hf_logits(tmp_path, tokens), ours, rtol=1e-4, atol=1e-4)


@pytest.mark.slow  # trainer_shards runs the clean job over every shared WARC; then it trains
def test_cli_exports_a_trained_run_with_its_tokenizer(trainer_shards, tmp_path):
    from transformers import AutoTokenizer

    from model.train import main as train_main

    shards = trainer_shards
    run = tmp_path / "run"
    train_main(["--data", str(shards), "--out", str(run), "--config", "tiny", "--seq_len", "32", "--batch_size", "2",
                "--max_steps", "2", "--eval_every", "0", "--lr", "1e-2", "--warmup_steps", "1", "--document_mask"])
    out = tmp_path / "hf"
    main(["--run", str(run), "--out", str(out), "--tokenizer", str(tokenizer_dir_of(shards))])
    assert {"config.json", "model.safetensors", "tokenizer.model", "tokenizer.json"} <= {p.name for p in out.iterdir()}

    ours, run_config = load_run(run)
    tokenizer = AutoTokenizer.from_pretrained(out)
    text = "Die Bundesregierung hat neue Regeln beschlossen. The committee met on Monday."
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(tokenizer_dir_of(shards) / "tokenizer.model"))
    ids = tokenizer.encode(text)
    assert ids == sp.encode(text)  # same ids as the tokenizer the shards were made with
    assert tokenizer.eos_token_id == run_config["data"]["eos_id"]
    # One document (no EOS inside), so our document mask equals HF's plain causal mask.
    tokens = torch.tensor([ids])
    assert run_config["model"]["document_mask"] and run_config["data"]["eos_id"] not in ids
    with torch.no_grad():
        torch.testing.assert_close(_hf_logits(out, tokens), ours(tokens), rtol=1e-4, atol=1e-4)
    hf_config = json.loads((out / "config.json").read_text())
    assert hf_config["vocab_size"] == 1000 and hf_config["eos_token_id"] == run_config["data"]["eos_id"]


def test_cli_refuses_a_tokenizer_the_shards_were_not_made_with(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(SystemExit, match="run_config.json"):
        main(["--run", str(run), "--out", str(tmp_path / "hf")])
    from model.export_hf import check_tokenizer_matches

    other = tmp_path / "tokenizer.model"
    other.write_bytes(b"not the tokenizer")
    with pytest.raises(SystemExit, match="SHA-256"):
        check_tokenizer_matches([other], "0" * 64)
    import hashlib

    check_tokenizer_matches([other], hashlib.sha256(b"not the tokenizer").hexdigest())  # the right one passes
