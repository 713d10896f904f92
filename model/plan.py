"""Plan a training run with the Chinchilla scaling law (Hoffmann et al. 2022, approach 3).

    python -m model.plan --tokens 2e9          # data you have -> model size that uses it best
    python -m model.plan --compute 1e20        # FLOPs you have -> model size and tokens
    python -m model.plan --params 125e6        # a model size -> how many tokens it deserves

Fit: L(N, D) = E + A / N^alpha + B / D^beta, with compute C = 6 N D. Minimising L at a
fixed C gives N_opt = G (C/6)^(beta/(alpha+beta)) and D_opt = (C/6) / N_opt with
G = (alpha A / (beta B))^(1/(alpha+beta)). The loss is in nats per token on the
paper's data and tokenizer: read it as a relative guide, not a promise for your corpus.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from typing import Optional

from model.config import CONFIGS
from model.transformer import count_parameters


@dataclasses.dataclass(frozen=True)
class ScalingLaw:
    E: float = 1.69
    A: float = 406.4
    B: float = 410.7
    alpha: float = 0.34
    beta: float = 0.28

    @property
    def G(self) -> float:
        return (self.alpha * self.A / (self.beta * self.B)) ** (1.0 / (self.alpha + self.beta))

    def loss(self, params: float, tokens: float) -> float:
        return self.E + self.A / params**self.alpha + self.B / tokens**self.beta

    def optimal_for_compute(self, flops: float) -> tuple[float, float]:
        """(N_opt, D_opt) minimising the loss at C = 6 N D."""
        n = self.G * (flops / 6.0) ** (self.beta / (self.alpha + self.beta))
        return n, flops / (6.0 * n)

    def compute_for_tokens(self, tokens: float) -> float:
        """The budget whose optimal token count is ``tokens`` (inverts D_opt(C))."""
        # D_opt = (C/6)^(alpha/(alpha+beta)) / G  =>  C/6 = (G D)^((alpha+beta)/alpha)
        return 6.0 * (self.G * tokens) ** ((self.alpha + self.beta) / self.alpha)

    def compute_for_params(self, params: float) -> float:
        return 6.0 * (params / self.G) ** ((self.alpha + self.beta) / self.beta)


def plan(law: ScalingLaw, *, tokens: Optional[float] = None, compute: Optional[float] = None,
         params: Optional[float] = None, vocab_size: int = 32000) -> dict:
    given = [x is not None for x in (tokens, compute, params)]
    if sum(given) != 1:
        raise ValueError("give exactly one of tokens, compute, params")
    if tokens is not None:
        compute = law.compute_for_tokens(tokens)
    elif params is not None:
        compute = law.compute_for_params(params)
    if compute <= 0:
        raise ValueError("the budget must be positive")
    n_opt, d_opt = law.optimal_for_compute(compute)
    presets = []
    for name, cfg in CONFIGS.items():
        n = count_parameters(cfg.with_vocab(vocab_size))
        # Same budget spent on this preset: the tokens it can see and the loss it would reach.
        d = compute / (6.0 * n)
        presets.append({"config": name, "params": n, "tokens": d, "tokens_per_param": d / n,
                        "expected_loss": law.loss(n, d)})
    closest = min(presets, key=lambda p: abs(math.log(p["params"] / n_opt)))  # nearest on a log scale
    return {"compute_flops": compute, "params": n_opt, "tokens": d_opt, "tokens_per_param": d_opt / n_opt,
            "expected_loss": law.loss(n_opt, d_opt), "closest_preset": closest["config"], "presets": presets}


def _fmt(x: float) -> str:
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


def main(argv: Optional[list[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--tokens", type=float, help="training tokens available (e.g. 2e9)")
    g.add_argument("--compute", type=float, help="training FLOPs available (e.g. 1e20)")
    g.add_argument("--params", type=float, help="model parameters (e.g. 125e6)")
    p.add_argument("--vocab_size", type=int, default=32000, help="for the presets' parameter counts")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = p.parse_args(argv)
    for name in ("tokens", "compute", "params"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            p.error(f"--{name} must be positive")
    result = plan(ScalingLaw(), tokens=args.tokens, compute=args.compute, params=args.params,
                  vocab_size=args.vocab_size)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
        return
    print(f"compute budget     {result['compute_flops']:.3g} FLOPs (C = 6 N D)")
    print(f"optimal model      {_fmt(result['params'])} parameters  (closest preset: --config {result['closest_preset']})")
    print(f"optimal tokens     {_fmt(result['tokens'])}  ({result['tokens_per_param']:.1f} tokens/parameter)")
    print(f"expected loss      {result['expected_loss']:.3f} nats/token (Chinchilla fit, its data and tokenizer)")
    print("\nthe same budget on each preset:")
    print(f"  {'config':8s} {'params':>8s} {'tokens':>8s} {'tok/param':>9s} {'loss':>6s}")
    for r in result["presets"]:
        print(f"  {r['config']:8s} {_fmt(r['params']):>8s} {_fmt(r['tokens']):>8s} {r['tokens_per_param']:9.1f}"
              f" {r['expected_loss']:6.3f}")


if __name__ == "__main__":
    main()
