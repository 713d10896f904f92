"""Model shapes: named presets from ``tiny`` (tests) to ``1b``, and flags to override any field.

A preset fixes the architecture; the vocabulary size normally comes from the token
shards (``vocab_size=None`` means "ask the data reader"), so one preset works with any
tokenizer.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
from typing import Optional


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    dim: int = 64
    n_layers: int = 2
    n_heads: int = 4
    # Fewer key/value heads than query heads = grouped-query attention (GQA);
    # None means plain multi-head attention (n_kv_heads == n_heads).
    n_kv_heads: Optional[int] = None
    # SwiGLU hidden size; None = LLaMA's rule (8/3 * dim rounded up to ffn_multiple_of).
    ffn_dim: Optional[int] = None
    ffn_multiple_of: int = 256
    vocab_size: Optional[int] = None
    max_seq_len: int = 2048
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    tie_embeddings: bool = False
    # Block attention across document boundaries (EOS tokens) inside a packed window.
    document_mask: bool = False
    init_std: float = 0.02

    def __post_init__(self) -> None:
        if self.dim % self.n_heads:
            raise ValueError(f"dim={self.dim} must be divisible by n_heads={self.n_heads}")
        if (self.dim // self.n_heads) % 2:
            raise ValueError(f"head dim {self.dim // self.n_heads} must be even for RoPE; change --dim or --n_heads")
        if self.n_heads % self.kv_heads:
            raise ValueError(f"n_heads={self.n_heads} must be a multiple of n_kv_heads={self.kv_heads}")

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def hidden_dim(self) -> int:
        if self.ffn_dim:
            return self.ffn_dim
        raw = int(2 * 4 * self.dim / 3)
        return self.ffn_multiple_of * math.ceil(raw / self.ffn_multiple_of)

    def with_vocab(self, vocab_size: int) -> "ModelConfig":
        return dataclasses.replace(self, vocab_size=vocab_size)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# Shapes follow the usual GPT-3 / LLaMA ladder; "1b" is the Llama-3.2-1B shape
# (GQA 32/8, tied embeddings). Parameter counts in the comments assume a 32k vocabulary.
CONFIGS: dict[str, ModelConfig] = {
    "tiny": ModelConfig(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, ffn_multiple_of=32, max_seq_len=512),  # 4.2M with a 32k vocab (tests use a tiny vocab)
    "small": ModelConfig(dim=256, n_layers=4, n_heads=4, ffn_multiple_of=64, max_seq_len=1024),  # 19.6M
    "50m": ModelConfig(dim=512, n_layers=8, n_heads=8),  # 60M
    "125m": ModelConfig(dim=768, n_layers=12, n_heads=12, tie_embeddings=True),  # 110M
    "350m": ModelConfig(dim=1024, n_layers=24, n_heads=16, tie_embeddings=True),  # 341M
    "760m": ModelConfig(dim=1536, n_layers=24, n_heads=16, n_kv_heads=8, tie_embeddings=True),  # 672M
    "1b": ModelConfig(dim=2048, n_layers=16, n_heads=32, n_kv_heads=8, ffn_dim=8192, rope_theta=500000.0,
                      tie_embeddings=True),  # 1.04B (1.24B with Llama 3's 128k vocab)
}

_SHAPE_FIELDS = ("dim", "n_layers", "n_heads", "n_kv_heads", "ffn_dim", "ffn_multiple_of", "vocab_size",
                 "max_seq_len", "rope_theta", "norm_eps", "init_std")


def add_model_args(parser: argparse.ArgumentParser) -> None:
    """--config NAME plus one flag per field; a given flag overrides the preset."""
    g = parser.add_argument_group("model shape")
    g.add_argument("--config", default="tiny", choices=sorted(CONFIGS), help="named model preset")
    for name in _SHAPE_FIELDS:
        default = ModelConfig.__dataclass_fields__[name]
        kind = float if default.type in ("float", float) else int
        g.add_argument(f"--{name}", type=kind, default=None, help=f"override the preset's {name}")
    g.add_argument("--tie_embeddings", action=argparse.BooleanOptionalAction, default=None,
                   help="share the input embedding and output projection")
    g.add_argument("--document_mask", action=argparse.BooleanOptionalAction, default=None,
                   help="tokens attend only within their own document (boundaries = EOS tokens)")


def config_from_args(args: argparse.Namespace) -> ModelConfig:
    base = CONFIGS[args.config]
    overrides = {name: getattr(args, name) for name in _SHAPE_FIELDS + ("tie_embeddings", "document_mask")
                 if getattr(args, name, None) is not None}
    return dataclasses.replace(base, **overrides)
