"""Export a trained run to a Hugging Face ``LlamaForCausalLM`` folder.

    python -m model.export_hf --run RUN_DIR --out HF_DIR [--tokenizer tokenizer.model]

Writes config.json + model.safetensors (+ the tokenizer files), loadable with
``transformers.AutoModelForCausalLM.from_pretrained(HF_DIR)``.
Our model already uses HF Llama's conventions (RoPE on split halves, nn.Linear
layouts, fp32 RMSNorm), so export is a renaming of tensors: no q/k permutation.

What it reads is checked (docs/trainer.md, "Trust boundary"): the checkpoint against its
manifest of SHA-256 digests before anything is loaded; ``tokenizer.model`` against the
SHA-256 the shards were tokenized with; ``tokenizer.json`` against the SHA-256 recorded
with the tokenizer in the shards' manifest (pinned in the run's run_config.json at
training time). Tokenizer files come only from the tokenizer's own folder, the folder of
its ``.model``. A refusal prints ``error: ...`` and exits with status 2.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import pathlib
import shutil
import sys
from typing import Iterable, Mapping, Optional

import torch

from model import checkpoint as ckpt
from model.config import ModelConfig
from model.transformer import Transformer

log = logging.getLogger("model.export_hf")

TOKENIZER_FILE_NAMES = ("tokenizer.model", "tokenizer.json")
_EXIT_REFUSED = 2


class TokenizerError(SystemExit):
    """A tokenizer file that must not be exported; the message names the file and why."""
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
                 tokenizer_data: Optional[Mapping[str, bytes]] = None,
                 dtype: torch.dtype = torch.float32) -> pathlib.Path:
    """Write the HF folder. ``tokenizer_files`` are copied as they are (the caller vouches
    for them); ``tokenizer_data`` (HF file name -> bytes, from :func:`read_verified_tokenizer`)
    is what the CLI passes: the bytes that were checked, so nothing is re-read after the check."""
    from safetensors.torch import save_file

    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(hf_state_dict(model, dtype), str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    (out_dir / "config.json").write_text(json.dumps(hf_config(model.cfg, bos_id, eos_id, dtype), indent=2) + "\n")
    # HF looks for these exact names, so e.g. sp.model is written as tokenizer.model.
    copied = [shutil.copy2(f, out_dir / ("tokenizer.model" if f.suffix == ".model" else "tokenizer.json"))
              for f in map(pathlib.Path, tokenizer_files)]
    for name, data in (tokenizer_data or {}).items():
        if name not in TOKENIZER_FILE_NAMES:
            raise ValueError(f"not a tokenizer file name: {name!r}")
        (out_dir / name).write_bytes(data)
        copied.append(out_dir / name)
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


def _shards_manifest(shards_dir: pathlib.Path) -> dict:
    path = pathlib.Path(shards_dir) / "manifest.json"
    if not path.exists():
        return {}
    manifest = json.loads(path.read_text(encoding="utf-8"))
    return manifest if isinstance(manifest, dict) else {}


def _manifest_path(shards_dir: pathlib.Path, value) -> Optional[pathlib.Path]:
    if not isinstance(value, str) or "://" in value:  # remote tokenizers are not fetched here
        return None
    path = pathlib.Path(value)
    return path if path.is_absolute() else pathlib.Path(shards_dir) / path


def find_tokenizer_files(shards_dir: pathlib.Path) -> list[pathlib.Path]:
    """The tokenizer the shard manifest names: its ``tokenizer_model`` and the
    ``tokenizer.json`` in the same folder (the tokenizer's own folder). Without a recorded
    model, the tokenizer files beside the shards. A ``tokenizer_json`` entry that points
    anywhere else is refused (TokenizerError): export copies nothing from outside the
    tokenizer's folder."""
    shards_dir = pathlib.Path(shards_dir)
    manifest = _shards_manifest(shards_dir)
    model = _manifest_path(shards_dir, manifest.get("tokenizer_model"))
    folder = model.parent if model is not None else shards_dir
    found = [model] if model is not None and model.is_file() and model.suffix == ".model" else []
    if not found and (folder / "tokenizer.model").is_file():
        found.append(folder / "tokenizer.model")
    hf_json = folder / "tokenizer.json"
    named = _manifest_path(shards_dir, manifest.get("tokenizer_json"))
    if named is not None and named.resolve() != hf_json.resolve():
        raise TokenizerError(f"{shards_dir / 'manifest.json'}: tokenizer_json names {named}, which is not the "
                             f"tokenizer.json of the tokenizer's folder {folder}; refusing to export it")
    if hf_json.is_file():
        found.append(hf_json)
    return found


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_verified_tokenizer(tokenizer_files: Iterable[pathlib.Path], expected_sha256: Optional[str],
                            expected_json_sha256: Optional[str]) -> dict[str, bytes]:
    """Read each tokenizer file once and check it: the ``.model`` against the SHA-256 the
    shards were tokenized with, ``tokenizer.json`` against the SHA-256 recorded with the
    tokenizer. All files must come from one folder; only a ``.model`` and a file named
    ``tokenizer.json`` are accepted. Returns HF file name -> verified bytes; raises
    TokenizerError naming the file."""
    files = [pathlib.Path(f) for f in tokenizer_files]
    folders = {f.resolve().parent for f in files}
    if len(folders) > 1:
        raise TokenizerError("tokenizer files from several folders (" + ", ".join(map(str, files)) + "): "
                             "export takes tokenizer.model and tokenizer.json from the tokenizer's own folder only")
    out: dict[str, bytes] = {}
    for f in files:
        if f.suffix == ".model":
            name, expected, what = "tokenizer.model", expected_sha256, "the shards were tokenized with"
        elif f.name == "tokenizer.json":
            name, expected, what = "tokenizer.json", expected_json_sha256, "was recorded for the tokenizer"
        else:
            raise TokenizerError(f"{f}: not a tokenizer file (expected a .model or tokenizer.json)")
        if name in out:
            raise TokenizerError(f"{f}: a second {name}")
        if not f.resolve().is_file():
            raise TokenizerError(f"{f}: not a regular file")
        data = f.read_bytes()
        if not expected:
            raise TokenizerError(
                f"{f}: no SHA-256 recorded for it (the shards' manifest predates tokenizer_json_sha256, or has "
                f"no tokenizer_sha256), so it cannot be checked; re-run pipelines.tokenize, or pass "
                "--tokenizer path/to/tokenizer.model to export without it")
        actual = _sha256(data)
        if actual != expected:
            raise TokenizerError(f"{f} has SHA-256 {actual[:12]}..., but {expected[:12]}... {what}: "
                                 f"refusing to export it; pass the {name} the shards were made with")
        out[name] = data
    return out


def check_tokenizer_matches(tokenizer_files: Iterable[pathlib.Path], expected_sha256: Optional[str],
                            expected_json_sha256: Optional[str] = None) -> None:
    """A SentencePiece model must be the one the shards were tokenized with (same SHA-256);
    a tokenizer.json the one recorded with it (see :func:`read_verified_tokenizer`)."""
    read_verified_tokenizer(tokenizer_files, expected_sha256, expected_json_sha256)


def load_run(run_dir: pathlib.Path, checkpoint: Optional[pathlib.Path] = None) -> tuple[Transformer, dict]:
    run_dir = pathlib.Path(run_dir)
    config_path = run_dir / "run_config.json"
    if not config_path.exists():
        raise SystemExit(f"{run_dir} has no run_config.json: pass the --out folder of model.train")
    run = json.loads(config_path.read_text(encoding="utf-8"))
    checkpoint = checkpoint or ckpt.latest_checkpoint(run_dir)
    if checkpoint is None:
        unverifiable = ckpt.unverifiable_checkpoints(run_dir)
        if unverifiable:  # let the manifest check explain why it is not loaded
            checkpoint = unverifiable[-1]
        else:
            raise SystemExit(f"{run_dir} has no complete checkpoint under checkpoints/; train first")
    model = Transformer(ModelConfig(**run["model"]))
    ckpt.load_model_weights(checkpoint, model)  # verifies it first (CheckpointError)
    model.reset_rope()
    return model.eval(), run


def main(argv: Optional[list[str]] = None) -> None:
    try:
        _main(argv)
    except (ckpt.CheckpointError, TokenizerError) as exc:
        print(f"error: {exc.code if isinstance(exc, SystemExit) else exc}", file=sys.stderr, flush=True)
        raise SystemExit(_EXIT_REFUSED) from None


def _main(argv: Optional[list[str]] = None) -> None:
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
    json_sha256 = run["data"].get("tokenizer_json_sha256")
    if json_sha256 is None:  # a run trained before the digest was pinned: the shards' record
        manifest = _shards_manifest(pathlib.Path(run["data"]["path"]))
        if manifest.get("tokenizer_sha256") == run["data"].get("tokenizer_sha256"):
            json_sha256 = manifest.get("tokenizer_json_sha256")
    tokenizer_data = read_verified_tokenizer(tokenizer_files, run["data"].get("tokenizer_sha256"), json_sha256)
    out = export_model(model, pathlib.Path(args.out), bos_id=run["data"]["bos_id"], eos_id=run["data"]["eos_id"],
                       tokenizer_data=tokenizer_data, dtype=getattr(torch, args.dtype))
    log.info("exported %s to %s", args.run, out)


if __name__ == "__main__":
    main()
