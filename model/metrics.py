"""Training figures: FLOPs per token, MFU against the device's peak, JSON-lines logs, loss plot."""
from __future__ import annotations

import json
import math
import pathlib
from typing import Optional

from model.config import ModelConfig
from model.transformer import count_parameters

# Dense (no sparsity) bf16 tensor-core peaks from the vendors' data sheets, in FLOP/s.
# Matched by substring of torch.cuda.get_device_name(), most specific first.
PEAK_BF16_FLOPS: list[tuple[str, float]] = [
    ("GH200", 989e12),
    ("H200", 989e12),
    ("H100 NVL", 835e12),
    ("H100 PCIe", 756e12),
    ("H100", 989e12),  # SXM
    ("H800", 989e12),
    ("B200", 2250e12),
    ("A100", 312e12),
    ("A800", 312e12),
    ("L40S", 362e12),
    ("L4", 121e12),
    ("MI300X", 1307e12),
    ("MI250X", 383e12),
]


def device_peak_flops(device_name: Optional[str]) -> Optional[float]:
    """bf16 dense peak for a GPU name, or None (CPU, unknown GPU): then no MFU is reported."""
    if not device_name:
        return None
    for key, peak in PEAK_BF16_FLOPS:
        if key.lower() in device_name.lower():
            return peak
    return None


def flops_per_token(cfg: ModelConfig, seq_len: int) -> float:
    """Training FLOPs per token (forward + backward), PaLM appendix B convention.

    6 N for every weight matmul (N excludes the input embedding, a lookup, but includes
    the output projection even when tied) plus 12 * layers * dim * seq for the attention
    score and value matmuls (QK^T and AV, counted without the causal half: the usual
    MFU convention, so our figures compare with published ones).
    """
    n = count_parameters(cfg)
    if not cfg.tie_embeddings:
        n -= cfg.vocab_size * cfg.dim
    return 6.0 * n + 12.0 * cfg.n_layers * cfg.dim * seq_len


def mfu(tokens_per_s: float, cfg: ModelConfig, seq_len: int, world_size: int, peak: Optional[float]) -> Optional[float]:
    if not peak:
        return None
    return tokens_per_s * flops_per_token(cfg, seq_len) / (peak * world_size)


class JsonlLog:
    """Append-only JSON lines; a resumed run keeps appending to the same file."""

    def __init__(self, path: pathlib.Path, enabled: bool = True):
        self.path = pathlib.Path(path)
        self.enabled = enabled

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")


def read_jsonl(path: pathlib.Path) -> list[dict]:
    records = []
    for line in pathlib.Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            records.append(json.loads(line))
    return records


def latest_by_step(records: list[dict], kind: str) -> dict[int, dict]:
    """One record per step (the last written): a resumed run re-logs the steps after its checkpoint."""
    out: dict[int, dict] = {}
    for r in records:
        if r.get("type") == kind:
            out[r["step"]] = r
    return dict(sorted(out.items()))


def plot_losses(metrics_path: pathlib.Path, png_path: pathlib.Path) -> None:
    """Training and validation loss against step, written as a PNG next to the logs."""
    import matplotlib

    matplotlib.use("Agg")  # headless: training nodes have no display
    import matplotlib.pyplot as plt

    records = read_jsonl(metrics_path)
    train = latest_by_step(records, "train")
    val = latest_by_step(records, "val")
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot(list(train), [r["loss"] for r in train.values()], label="train loss")
    if val:
        ax.plot(list(val), [r["loss"] for r in val.values()], "o-", label="validation loss")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)


def perplexity(loss: float) -> float:
    return math.exp(min(loss, 50.0))  # cap: exp overflows long before a loss this high matters
