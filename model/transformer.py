"""A LLaMA-style decoder-only transformer, readable in one sitting.

pre-RMSNorm blocks, rotary position embeddings (RoPE), SwiGLU feed-forward, optional
grouped-query attention, tied or untied embeddings. Attention goes through
``F.scaled_dot_product_attention`` (flash / memory-efficient kernels on GPU), causal,
optionally restricted to the token's own document inside a packed window.

Conventions are Hugging Face Llama's on purpose, so export is a plain copy of weights:
RoPE rotates the two *halves* of each head (``rotate_half``), not interleaved pairs;
RMSNorm normalises in float32 and casts back before applying its gain; weight shapes
are ``nn.Linear``'s (out_features, in_features).
"""
from __future__ import annotations

import zlib
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from model.config import ModelConfig


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # float32 statistics even under bf16: the mean of squares overflows/underflows easily.
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(x.dtype)


def rope_tables(head_dim: int, max_len: int, theta: float, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables of shape (max_len, head_dim), each frequency repeated for both halves."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    angles = torch.outer(torch.arange(max_len, device=device, dtype=torch.float32), inv_freq)
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x: (batch, heads, seq, head_dim); cos/sin: (seq, head_dim)."""
    return (x * cos + rotate_half(x) * sin).to(x.dtype)


def document_ids(tokens: torch.Tensor, eos_id: int) -> torch.Tensor:
    """Index of the document each position belongs to; an EOS belongs to the document it ends."""
    is_eos = (tokens == eos_id).to(torch.int32)
    return torch.cumsum(is_eos, dim=-1) - is_eos


def document_causal_mask(doc_ids: torch.Tensor) -> torch.Tensor:
    """Boolean (batch, 1, seq, seq) mask, True where attention is allowed: same document and not in the future."""
    seq = doc_ids.shape[-1]
    causal = torch.ones(seq, seq, dtype=torch.bool, device=doc_ids.device).tril()
    same_doc = doc_ids[:, :, None] == doc_ids[:, None, :]
    return (same_doc & causal)[:, None]


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = cfg.n_heads, cfg.kv_heads, cfg.head_dim
        self.wq = nn.Linear(cfg.dim, cfg.n_heads * cfg.head_dim, bias=False)
        self.wk = nn.Linear(cfg.dim, cfg.kv_heads * cfg.head_dim, bias=False)
        self.wv = nn.Linear(cfg.dim, cfg.kv_heads * cfg.head_dim, bias=False)
        self.wo = nn.Linear(cfg.n_heads * cfg.head_dim, cfg.dim, bias=False)

    def forward(self, x, cos, sin, mask: Optional[torch.Tensor]) -> torch.Tensor:
        bsz, seq, _ = x.shape
        q = self.wq(x).view(bsz, seq, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.wk(x).view(bsz, seq, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.wv(x).view(bsz, seq, self.n_kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        gqa = self.n_kv_heads != self.n_heads
        if mask is None:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=gqa)
        return self.wo(out.transpose(1, 2).reshape(bsz, seq, -1))


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(w1 x) * w3 x)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.w1 = nn.Linear(cfg.dim, cfg.hidden_dim, bias=False)  # gate
        self.w3 = nn.Linear(cfg.dim, cfg.hidden_dim, bias=False)  # up
        self.w2 = nn.Linear(cfg.hidden_dim, cfg.dim, bias=False)  # down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.attention_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.attention = Attention(cfg)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.feed_forward = FeedForward(cfg)
        # Set by model.parallel; recomputes this block's activations in backward
        # instead of storing them (kept as a flag so parameter names never change).
        self.checkpoint_activations = False

    def _forward(self, x, cos, sin, mask):
        x = x + self.attention(self.attention_norm(x), cos, sin, mask)
        return x + self.feed_forward(self.ffn_norm(x))

    def forward(self, x, cos, sin, mask=None):
        if self.checkpoint_activations and torch.is_grad_enabled():
            return checkpoint(self._forward, x, cos, sin, mask, use_reentrant=False)
        return self._forward(x, cos, sin, mask)


class Transformer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if not cfg.vocab_size:
            raise ValueError("ModelConfig.vocab_size is not set (it normally comes from the token shards)")
        self.cfg = cfg
        self.tok_embeddings = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.output = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.output.weight = self.tok_embeddings.weight
        # Derived tables, not state: never checkpointed, rebuilt after meta-device init.
        self.register_buffer("rope_cos", torch.empty(0), persistent=False)
        self.register_buffer("rope_sin", torch.empty(0), persistent=False)
        self.reset_rope()

    def reset_rope(self) -> None:
        device = self.tok_embeddings.weight.device
        if device.type == "meta":
            return
        self.rope_cos, self.rope_sin = rope_tables(self.cfg.head_dim, self.cfg.max_seq_len, self.cfg.rope_theta, device)

    def forward(self, tokens: torch.Tensor, doc_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
        """tokens: (batch, seq) int64 -> logits (batch, seq, vocab).

        ``doc_ids`` (from :func:`document_ids`) restricts attention to each token's own document.
        """
        seq = tokens.shape[1]
        if seq > self.cfg.max_seq_len:
            raise ValueError(f"sequence length {seq} > max_seq_len {self.cfg.max_seq_len}; raise --max_seq_len")
        cos, sin = self.rope_cos[:seq], self.rope_sin[:seq]
        mask = document_causal_mask(doc_ids) if doc_ids is not None else None
        h = self.tok_embeddings(tokens)
        for layer in self.layers:
            h = layer(h, cos, sin, mask)
        return self.output(self.norm(h))

    # ---- initialisation -------------------------------------------------------------
    def initial_value(self, name: str, shape: torch.Size, seed: int) -> torch.Tensor:
        """The initial value of parameter ``name`` (a float32 CPU tensor).

        Each parameter draws from its own generator seeded by (seed, name), so the full
        initial weights are the same whatever the number of ranks or the sharding.
        Residual-branch output projections get std / sqrt(2 * n_layers) (GPT-2), which
        keeps the residual stream's variance flat in depth.
        """
        if name.endswith("norm.weight"):
            return torch.ones(shape)
        std = self.cfg.init_std
        if name.endswith(("attention.wo.weight", "feed_forward.w2.weight")):
            std = std / (2 * self.cfg.n_layers) ** 0.5
        gen = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
        return torch.empty(shape).normal_(0.0, std, generator=gen)

    @torch.no_grad()
    def init_weights(self, seed: int = 0) -> None:
        """Initialise unsharded parameters in place (model.parallel handles sharded ones)."""
        for name, param in self.named_parameters():
            param.copy_(self.initial_value(name, param.shape, seed))
        self.reset_rope()


def count_parameters(model_or_cfg) -> int:
    """Unique trainable parameters (a tied embedding counts once)."""
    if isinstance(model_or_cfg, ModelConfig):
        cfg = model_or_cfg
        attn = cfg.dim * cfg.head_dim * (2 * cfg.n_heads + 2 * cfg.kv_heads)
        ffn = 3 * cfg.dim * cfg.hidden_dim
        per_layer = attn + ffn + 2 * cfg.dim
        emb = cfg.vocab_size * cfg.dim * (1 if cfg.tie_embeddings else 2)
        return cfg.n_layers * per_layer + emb + cfg.dim
    return sum(p.numel() for p in model_or_cfg.parameters())
