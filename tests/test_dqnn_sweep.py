"""DQNN sweep points: the shard path of `model: dqnn` points, Sharma et al.'s E2 exact values."""

from __future__ import annotations

import pytest
import torch

from qnnscope.gradients.evaluate import compute, validate
from qnnscope.gradients.point import GradientPoint
from qnnscope.models import dqnn, training
from test_variance_exact import assert_matches


def point(n, cost, layers=1, **kw) -> GradientPoint:
    widths = "-".join([str(n)] * (layers + 1))
    if not kw:
        return GradientPoint("local1", n, layers, cost=cost, model="dqnn", dtype="complex128",
                             options={"widths": widths, "data": "zero", "pairs": 1})
    options = {"widths": widths} | {k: kw.pop(k) for k in ("data", "pairs") if k in kw}
    return GradientPoint(kw.pop("ansatz", "local1"), n, layers, cost=cost, model="dqnn", dtype="complex128",
                         options=options, **kw)


@pytest.mark.parametrize("cost", ["global", "local"])
def test_chain_factorisation_equals_the_full_simulation(cost):
    net = dqnn.DQNN((3, 3, 3), "local", locality=1)
    theta = torch.tensor(dqnn.draw(net, 4, seed=2))
    ins, outs = training.product_factors("product", net.widths, 2, seed=5)
    chains = dqnn.chain_costs(net, theta, ins, outs, cost)
    x, y = training.training_pairs("product", net.widths, 2, seed=5)
    out = dqnn.run(net, theta, x.repeat(4, 1), mode="density")
    full = (dqnn.global_cost if cost == "global" else dqnn.local_cost)(out, y.repeat(4, 1), per_sample=2)
    assert torch.allclose(chains, full, atol=1e-12)


@pytest.mark.parametrize("n", [2, 4, 8])
def test_sharma_e2_local_perceptrons_global_cost_variance(n):
    # SWAP then RY per perceptron on |0…0⟩ with target |0…0⟩: C_G = 1 − Π_j cos²(θ_j/2) with
    # θ_j the chain's angle sum, so Var[∂C_G/∂θ_1] = (1/8)(3/8)^(n−1) (heavy-tailed: 400k draws at n = 8)
    shard = compute(point(n, "global", layers=2), 400000 if n == 8 else 40000, base_seed=7, progress=False)
    assert (shard["param_index"] == 0).all() and (shard["param_layer"] == 1).all()
    assert_matches(shard["grad"].to_numpy(), (1 / 8) * (3 / 8) ** (n - 1))


@pytest.mark.parametrize("n", [2, 4, 8])
def test_sharma_e2_local_perceptrons_local_cost_variance(n):
    shard = compute(point(n, "local", layers=2), 20000, base_seed=7, progress=False)
    assert_matches(shard["grad"].to_numpy(), 1 / (8 * n**2))


def test_dqnn_shards_carry_the_architecture():
    p = point(3, "global", layers=2, ansatz="deep2", data="unitary", pairs=2)
    shard = compute(p, 6, base_seed=1, progress=False)
    row = shard.iloc[0]
    assert (row["model"], row["ansatz"], row["widths"], row["data"], row["pairs"], row["depth"]) == (
        "dqnn", "deep2", "3-3-3", "unitary", 2, 2)
    assert p.label == "deep2_w3-3-3_unitary2"
    again = compute(p, 6, base_seed=1, progress=False)
    assert shard["grad"].equals(again["grad"])  # same point, same numbers


@pytest.mark.parametrize(
    "change, key",
    [
        ({"ansatz": "local0"}, "ansatz"),
        ({"data": "entangled"}, "data"),
        ({"data": "unitary", "cost": "local"}, "cost"),
        ({"init": "haar"}, "init"),
        ({"ansatz": "general", "init": "uniform"}, "init"),
        ({"pairs": 0}, "pairs"),
        ({"backend": "pennylane"}, "backend"),
    ],
)
def test_bad_dqnn_points_are_refused_naming_the_key(change, key):
    base = {"ansatz": "local1", "n_qubits": 2, "depth": 1, "cost": "global", "model": "dqnn"}
    options = {"widths": "2-2", "data": "zero", "pairs": 1}
    fields = {k: v for k, v in change.items() if k not in options}
    options |= {k: v for k, v in change.items() if k in options}
    with pytest.raises(ValueError, match=rf"^x\.{key}"):
        validate(GradientPoint(**(base | fields), options=options), 10, prefix="x.")


@pytest.mark.parametrize("ansatz, data", [("deep2", "zero"), ("local2", "product"), ("local1", "product")])
@pytest.mark.parametrize("cost", ["global", "local"])
def test_parameter_shift_equals_autograd_for_every_parameter(ansatz, data, cost):
    p = point(3, cost, layers=2, ansatz=ansatz, data=data, pairs=2, params="all")
    auto = compute(p, 4, base_seed=3, progress=False)
    shift = compute(GradientPoint(**{**p.__dict__, "method": "param-shift"}), 4, base_seed=3, progress=False)
    assert len(auto) == 4 * dqnn.from_label(ansatz, (3, 3, 3)).n_params  # every parameter of 4 samples
    assert abs(auto["grad"] - shift["grad"]).max() < 1e-12 and (auto["cost"] == shift["cost"]).all()
    assert auto["grad"].abs().max() > 1e-3  # not trivially zero


def test_parameter_shift_is_refused_for_general_perceptrons():
    p = point(2, "global", ansatz="general", init="haar", data="zero", pairs=1, method="param-shift")
    with pytest.raises(ValueError, match="method"):
        validate(p, 10)
