"""Gradient shards in-process: seeds follow the documented key, backends agree, summaries are
the statistics of the raw values, and known variances come out."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from qnnscope import sampling
from qnnscope.circuits import build
from qnnscope.gradients.evaluate import compute
from qnnscope.gradients.point import GradientPoint
from qnnscope.gradients.summary import summarize

BASE = GradientPoint("mcclean", 3, 2, "global", dtype="complex128", params="all")


def seed_of(point: GradientPoint, chunk: int = 0, base_seed: int = 0) -> int:
    frame = compute(point, 2, chunk, base_seed, progress=False)
    seeds = frame["seed"].unique()
    assert len(seeds) == 1
    return int(seeds[0])


def test_seed_column_is_the_documented_point_seed():
    for chunk, base in [(0, 0), (3, 17)]:
        assert seed_of(BASE, chunk, base) == sampling.point_seed(BASE.seed_key(), chunk, base)


@pytest.mark.parametrize(
    "change",
    [
        {"cost": "local"},
        {"cost": "zz"},
        {"cost": "0.5*Z0Z1 - 0.25*X2"},
        {"dtype": "complex64"},
        {"backend": "pennylane"},
        {"params": "first"},
    ],
)
def test_seed_does_not_depend_on_cost_backend_dtype_or_params(change):
    assert seed_of(replace(BASE, **change)) == seed_of(BASE)


@pytest.mark.parametrize(
    "change",
    [
        {"ansatz": "hea"},
        {"n_qubits": 4},
        {"depth": 4},
        {"init": "uniform_sym"},
        {"init": "normal", "sigma": 0.1},
        {"init": "identity_block", "identity_block": 1},
    ],
)
def test_seed_depends_on_the_circuit_and_the_distribution(change):
    assert seed_of(replace(BASE, **change)) != seed_of(BASE)


def test_seed_depends_on_chunk_and_study_seed():
    seeds = {seed_of(BASE, 0, 0), seed_of(BASE, 1, 0), seed_of(BASE, 0, 1)}
    assert len(seeds) == 3


def test_global_and_local_costs_share_draws():
    # Same draws ⇒ the same θ; on rx_product both costs are closed-form functions of θ, so the
    # shards must be consistent with one common θ per sample: ∂C_G/∂θ_0 = ½ sin θ0 Π_{j>0} cos²(θj/2)
    # and ∂C_L/∂θ_0 = sin θ0 / (2n).  Recover θ from the draw and check both.
    g = compute(replace(BASE, ansatz="rx_product", depth=1, params="first"), 64, progress=False)
    loc = compute(replace(BASE, ansatz="rx_product", depth=1, params="first", cost="local"), 64, progress=False)
    np.testing.assert_array_equal(g["seed"], loc["seed"])
    theta, _ = sampling.draw(build("rx_product", 3, 1), 64, int(g["seed"].iloc[0]))
    exact_g = 0.5 * np.sin(theta[:, 0]) * np.prod(np.cos(theta[:, 1:] / 2) ** 2, axis=1)
    exact_l = np.sin(theta[:, 0]) / 6
    # complex128 engine, a few gates: 1e-12 absolute is ~1e4 ulp of O(1) values.
    np.testing.assert_allclose(g["grad"], exact_g, rtol=0, atol=1e-12)
    np.testing.assert_allclose(loc["grad"], exact_l, rtol=0, atol=1e-12)


@pytest.mark.parametrize("ansatz, cost", [("mcclean", "zz"), ("mcclean", "global"), ("alternating", "local"), ("hea", "0.5*Z0Z1 - 0.25*X2 + Y1")])
def test_pennylane_and_torch_shards_agree(ansatz, cost):
    point = replace(BASE, ansatz=ansatz, cost=cost)
    torch_shard = compute(point, 6, chunk=2, base_seed=5, progress=False)
    pl_shard = compute(replace(point, backend="pennylane"), 6, chunk=2, base_seed=5, progress=False)
    # DESIGN: any two backends agree to 1e-10 in complex128.
    np.testing.assert_allclose(torch_shard["grad"], pl_shard["grad"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(torch_shard["cost"], pl_shard["cost"], rtol=0, atol=1e-10)
    for column in ("sample", "param_index", "param_layer", "param_wire", "seed"):
        np.testing.assert_array_equal(torch_shard[column], pl_shard[column])
    assert set(pl_shard["backend"]) == {"pennylane"} and set(torch_shard["backend"]) == {"torch"}


def test_shard_layout_for_all_parameters():
    frame = compute(BASE, 5, chunk=1, progress=False)
    assert len(frame) == 5 * 6
    np.testing.assert_array_equal(frame["sample"], np.repeat(np.arange(5), 6))
    np.testing.assert_array_equal(frame["param_index"], np.tile(np.arange(6), 5))
    np.testing.assert_array_equal(frame["param_layer"], np.tile([0, 0, 0, 1, 1, 1], 5))
    np.testing.assert_array_equal(frame["param_wire"], np.tile([0, 1, 2, 0, 1, 2], 5))
    assert set(frame["chunk"]) == {1}
    # cost is one value per sample, repeated on each of its parameter rows
    assert (frame.groupby("sample")["cost"].nunique() == 1).all()


def test_cerezo_toy_model_variances_from_summarized_shards():
    # V = ⊗ RX(θj) on |0…0⟩, n = 3 (DESIGN): Var[∂C_G/∂θ_0] = (1/8)(3/8)^(n−1), Var[∂C_L/∂θ_0] = 1/(8n²).
    n, per_chunk, chunks = 3, 2000, 2
    shards = []
    for cost in ("global", "local"):
        point = GradientPoint("rx_product", n, 1, cost, dtype="complex128")
        shards += [compute(point, per_chunk, chunk, 7, progress=False) for chunk in range(chunks)]
    table = summarize(pd.concat(shards, ignore_index=True), n_boot=500).set_index("cost_function")
    N = per_chunk * chunks
    assert (table["n_samples"] == N).all() and (table["n_chunks"] == chunks).all()
    # Relative standard error of a sample variance: sqrt((E g⁴ / (E g²)² − 1) / N) for mean-zero g.
    #   local:  g = sin θ0 / (2n): E sin⁴ / (E sin²)² = (3/8)/(1/4) = 3/2  ⇒ rel SE = sqrt(0.5/N) ≈ 1.1 %
    #   global: g = ½ sin θ0 Π cos²(θj/2): ratio = (3/2)·((35/128)/(3/8)²)^(n−1) ≈ 5.67 ⇒ rel SE ≈ 3.4 %
    # Tolerances are 5 standard errors.
    cases = {
        "local": (1 / (8 * n**2), 5 * np.sqrt(0.5 / N)),
        "global": ((1 / 8) * (3 / 8) ** (n - 1), 5 * np.sqrt((1.5 * ((35 / 128) / (3 / 8) ** 2) ** (n - 1) - 1) / N)),
    }
    for cost, (exact, rel_tol) in cases.items():
        row = table.loc[cost]
        assert abs(row["grad_var"] / exact - 1) < rel_tol, (cost, row["grad_var"], exact)
        assert row["grad_var_lo"] < row["grad_var"] < row["grad_var_hi"]
        # E[∂C] = 0 for uniform angles; |mean| within 5 standard errors sqrt(Var/N).
        assert abs(row["grad_mean"]) < 5 * np.sqrt(exact / N)


def test_fit_recovers_the_slope_and_splits_groups_only_when_a_qubit_count_repeats():
    import numpy as np
    import pandas as pd

    from qnnscope.gradients.summary import fit

    n = np.array([4, 6, 8, 10])
    base = {"model": "vqc", "ansatz": "rx_product", "cost_function": "global", "init": "uniform", "sigma": None,
            "identity_block": 0, "backend": "torch", "dtype": "complex64", "method": "auto", "param_index": 0}
    var = 0.125 * 0.375 ** (n - 1)
    one_depth_each = pd.DataFrame([base | {"n_qubits": q, "depth": 2 * q, "grad_var": v, "grad_var_lo": v * 0.9,
                                           "grad_var_hi": v * 1.1} for q, v in zip(n, var)])
    fits = fit(one_depth_each)
    assert len(fits) == 1 and fits["depths"].iloc[0] == "8,12,16,20"
    assert fits["exp_b"].iloc[0] == pytest.approx(np.log(0.375), rel=1e-12)
    assert fits["best_fit"].iloc[0] == "exponential"
    two_depths = pd.concat([one_depth_each.assign(depth=1), one_depth_each.assign(depth=3, grad_var=var * 2)])
    split = fit(two_depths.assign(grad_var_lo=lambda d: d.grad_var * 0.9, grad_var_hi=lambda d: d.grad_var * 1.1))
    assert sorted(split["depths"]) == ["1,1,1,1", "3,3,3,3"]
    assert split["exp_b"].to_numpy() == pytest.approx([np.log(0.375)] * 2, rel=1e-12)
