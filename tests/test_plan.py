"""Chinchilla planning helper: the compute-optimal split and the CLI."""
from __future__ import annotations

import json
import math

import pytest

from model.config import CONFIGS
from model.plan import ScalingLaw, main, plan
from model.transformer import count_parameters

LAW = ScalingLaw()


@pytest.mark.parametrize("flops", [1e18, 1e21, 5.76e23])
def test_optimum_spends_the_budget_and_is_a_minimum(flops):
    n, d = LAW.optimal_for_compute(flops)
    assert 6 * n * d == pytest.approx(flops)
    best = LAW.loss(n, d)
    for factor in (0.5, 0.8, 1.25, 2.0):  # same compute, other splits: strictly worse
        assert LAW.loss(n * factor, d / factor) > best
    assert best > LAW.E


def test_tokens_and_params_inputs_invert_the_optimum():
    result = plan(LAW, tokens=2e9)
    assert result["tokens"] == pytest.approx(2e9, rel=1e-9)
    n = plan(LAW, params=125e6)["params"]
    assert n == pytest.approx(125e6, rel=1e-9)
    # More data -> a bigger optimal model and a lower expected loss.
    bigger = plan(LAW, tokens=2e10)
    assert bigger["params"] > result["params"] and bigger["expected_loss"] < result["expected_loss"]


def test_cli_prints_a_plan_and_json(capsys):
    main(["--tokens", "2e9"])
    text = capsys.readouterr().out
    assert "expected loss" in text and "--config" in text
    main(["--compute", "1e20", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["compute_flops"] == 1e20
    assert {p["config"] for p in data["presets"]} >= {"tiny", "1b"}
    nearest = min(data["presets"], key=lambda p: abs(math.log(p["params"] / data["params"])))
    assert data["closest_preset"] == nearest["config"]


def test_closest_preset_of_a_preset_size_is_that_preset():
    for name, cfg in CONFIGS.items():
        assert plan(LAW, params=count_parameters(cfg.with_vocab(32000)))["closest_preset"] == name


def test_cli_rejects_bad_input(capsys):
    with pytest.raises(SystemExit):
        main(["--tokens", "-5"])
    assert "must be positive" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([])
