"""Export a trained run to a Hugging Face ``LlamaForCausalLM`` folder.

    python -m model.export_hf --run RUN_DIR --out HF_DIR [--tokenizer tokenizer.model]

Writes config.json + model.safetensors (+ the tokenizer files), loadable with
``transformers.AutoModelForCausalLM.from_pretrained(HF_DIR)``.
Our model already uses HF Llama's conventions (RoPE on split halves, nn.Linear
layouts, fp32 RMSNorm), so export is a renaming of tensors: no q/k permutation.
"""
from __future__ import annotations

import argparse
import json
import logging
import pathlib
import shutil
import sys
from typing import Iterable, Optional

import torch

from model import checkpoint as ckpt
from model.config import ModelConfig
from model.transformer import Transformer

log = logging.getLogger("model.export_hf")

TOKENIZER_FILE_NAMES = ("tokenizer.model", "tokenizer.json")
_LAYER_NAMES = {
    "attention_norm.weight": "input_layernorm.weight",
    "attention.wq.weight": "self_attn.q_proj.weight",
    "attention.wk.weight": "self_attn.k_proj.weight",
    "attention.wv.weight": "self_attn.v_proj.weight",
    "attention.wo.weight": "self_attn.o_proj.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "feed_forward.w1.weight": "mlp.gate_proj.weight",
    "feed_forward.w3.weight": "mlp.up_proj.weight",
    "feed_forward.w2.weight": "mlp.down_proj.weight",
}


def hf_config(cfg: ModelConfig, bos_id: Optional[int], eos_id: Optional[int], dtype: torch.dtype) -> dict:
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.dim,
        "intermediate_size": cfg.hidden_dim,
        "num_hidden_layers": cfg.n_layers,
        "num_attention_heads": cfg.n_heads,
        "num_key_value_heads": cfg.kv_heads,
        "head_dim": cfg.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": cfg.max_seq_len,
        "rms_norm_eps": cfg.norm_eps,
        # Both spellings: transformers >= 5 reads rope_parameters, 4.x reads rope_theta.
        "rope_theta": cfg.rope_theta,
        "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_theta},
        "tie_word_embeddings": cfg.tie_embeddings,
        "attention_bias": False,
        "mlp_bias": False,
        "initializer_range": cfg.init_std,
        "bos_token_id": bos_id,
        "eos_token_id": eos_id,
        "torch_dtype": str(dtype).replace("torch.", ""),
        "use_cache": True,
    }


def hf_state_dict(model: Transformer, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Our parameter names -> HF Llama names (contiguous copies; a tied output is not written)."""
    out = {"model.embed_tokens.weight": model.tok_embeddings.weight, "model.norm.weight": model.norm.weight}
    for i, layer in enumerate(model.layers):
        for ours, theirs in _LAYER_NAMES.items():
            out[f"model.layers.{i}.{theirs}"] = layer.get_parameter(ours)
    if not model.cfg.tie_embeddings:
        out["lm_head.weight"] = model.output.weight
    return {k: v.detach().to(dtype).contiguous().clone() for k, v in out.items()}


def export_model(model: Transformer, out_dir: pathlib.Path, *, bos_id: Optional[int] = None,
                 eos_id: Optional[int] = None, tokenizer_files: Iterable[pathlib.Path] = (),
                 dtype: torch.dtype = torch.float32) -> pathlib.Path:
    from safetensors.torch import save_file

    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(hf_state_dict(model, dtype), str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    (out_dir / "config.json").write_text(json.dumps(hf_config(model.cfg, bos_id, eos_id, dtype), indent=2) + "\n")
    # HF looks for these exact names, so e.g. sp.model is written as tokenizer.model.
    copied = [shutil.copy2(f, out_dir / ("tokenizer.model" if f.suffix == ".model" else "tokenizer.json"))
              for f in map(pathlib.Path, tokenizer_files)]
    if copied:
        _write_tokenizer_config(out_dir, bos_id, eos_id)
    return out_dir


def _write_tokenizer_config(out_dir: pathlib.Path, bos_id: Optional[int], eos_id: Optional[int]) -> None:
    """Minimal tokenizer_config.json so AutoTokenizer picks the Llama (SentencePiece) tokenizer."""
    # tokenizer.json (HF tokenizers) loads as-is; a bare tokenizer.model needs transformers'
    # SentencePiece conversion (sentencepiece + a matching protobuf), so it is the fallback.
    config: dict = {"tokenizer_class": "PreTrainedTokenizerFast" if (out_dir / "tokenizer.json").exists()
                    else "LlamaTokenizer",
                    "add_bos_token": False, "add_eos_token": False}
    model_file = out_dir / "tokenizer.model"
    if model_file.exists():
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_file=str(model_file))
        if bos_id is not None and 0 <= bos_id < sp.get_piece_size():
            config["bos_token"] = sp.id_to_piece(bos_id)
        if eos_id is not None and 0 <= eos_id < sp.get_piece_size():
            config["eos_token"] = sp.id_to_piece(eos_id)
        if sp.unk_id() >= 0:
            config["unk_token"] = sp.id_to_piece(sp.unk_id())
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")


def find_tokenizer_files(shards_dir: pathlib.Path) -> list[pathlib.Path]:
    """Tokenizer files named by the shard manifest (any *tokenizer* path key), else beside the shards."""
    shards_dir = pathlib.Path(shards_dir)
    found: list[pathlib.Path] = []
    manifest_path = shards_dir / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        for key, value in sorted(manifest.items()):
            if "tokenizer" in key and isinstance(value, str) and not key.endswith("sha256"):
                path = pathlib.Path(value)
                path = path if path.is_absolute() else shards_dir / path
                if path.is_file() and path.name.endswith((".model", ".json")):
                    found.append(path)
    for name in TOKENIZER_FILE_NAMES:
        if not any(f.name == name for f in found) and (shards_dir / name).is_file():
            found.append(shards_dir / name)
    return found


def check_tokenizer_matches(tokenizer_files: Iterable[pathlib.Path], expected_sha256: Optional[str]) -> None:
    """A SentencePiece model must be the one the shards were tokenized with (same SHA-256)."""
    from pipelines.io.shards import file_sha256

    for f in tokenizer_files:
        if f.suffix == ".model" and expected_sha256:
            actual = file_sha256(str(f))
            if actual != expected_sha256:
                raise SystemExit(f"{f} has SHA-256 {actual[:12]}..., but the shards were tokenized with "
                                 f"{expected_sha256[:12]}...: pass the tokenizer.model the shards were made with")


def load_run(run_dir: pathlib.Path, checkpoint: Optional[pathlib.Path] = None) -> tuple[Transformer, dict]:
    run_dir = pathlib.Path(run_dir)
    config_path = run_dir / "run_config.json"
    if not config_path.exists():
        raise SystemExit(f"{run_dir} has no run_config.json: pass the --out folder of model.train")
    run = json.loads(config_path.read_text(encoding="utf-8"))
    checkpoint = checkpoint or ckpt.latest_checkpoint(run_dir)
    if checkpoint is None:
        raise SystemExit(f"{run_dir} has no complete checkpoint under checkpoints/; train first")
    model = Transformer(ModelConfig(**run["model"]))
    ckpt.load_model_weights(checkpoint, model)
    model.reset_rope()
    return model.eval(), run


def main(argv: Optional[list[str]] = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="run folder of model.train")
    p.add_argument("--out", required=True, help="folder to write the Hugging Face model into")
    p.add_argument("--checkpoint", default=None, help="a specific checkpoints/step_N folder (default: newest)")
    p.add_argument("--tokenizer", action="append", default=None,
                   help="tokenizer.model / tokenizer.json, or a folder holding them (repeatable; default: found via the "
                        "shard folder's manifest or beside the shards)")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    args = p.parse_args(argv)
    model, run = load_run(pathlib.Path(args.run), pathlib.Path(args.checkpoint) if args.checkpoint else None)
    if args.tokenizer:
        tokenizer_files = []
        for t in map(pathlib.Path, args.tokenizer):  # a folder stands for the tokenizer files in it
            tokenizer_files += [t / n for n in TOKENIZER_FILE_NAMES if (t / n).is_file()] if t.is_dir() else [t]
        missing = [str(t) for t in tokenizer_files if not t.is_file()]
        if missing:
            raise SystemExit(f"--tokenizer file(s) not found: {', '.join(missing)}")
    else:
        tokenizer_files = find_tokenizer_files(pathlib.Path(run["data"]["path"]))
        if not tokenizer_files:
            log.warning("no tokenizer found beside the shards; pass --tokenizer to include one")
    check_tokenizer_matches(tokenizer_files, run["data"].get("tokenizer_sha256"))
    out = export_model(model, pathlib.Path(args.out), bos_id=run["data"]["bos_id"], eos_id=run["data"]["eos_id"],
                       tokenizer_files=tokenizer_files, dtype=getattr(torch, args.dtype))
    log.info("exported %s to %s", args.run, out)


if __name__ == "__main__":
    main()
