"""Shot-based gradients: the shot variance is the exact variance plus a 1/shots excess (rx_product,
where both are known in closed form), the estimator is unbiased, the engine's sampler and
qiskit-aer's SamplerV2 agree in distribution, and seeds fix the estimates."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from qnnscope.circuits import Circuit, Op, build
from qnnscope.costs import make_cost
from qnnscope.exact import gradient_variance
from qnnscope.sampling import draw
from qnnscope.backends.shots import shot_gradients, shot_noise_excess, shot_variances
from qnnscope.sim.shots import measurement_settings
from qnnscope.sim import engine
from qnnscope.stats import summarize

N = 3
DRAWS = 20_000
MIXED = "0.7*Z0 + 0.5*Z1Z2 + 0.3*X0 - 0.2*Y1X2"
"""An observable with an asymmetric Z part (catches bit-order slips) and X/Y terms (basis changes)."""


def standard_error(summary: dict, stat: str) -> float:
    """Bootstrap standard error of ``stat`` ('mean' or 'var') from its 95 % interval."""
    return (summary[f"{stat}_hi"] - summary[f"{stat}_lo"]) / (2 * 1.96)


def closed_form_excess(cost: str, n: int, shots: int) -> float:
    """E_θ[Var[ĝ_1 | θ]] for rx_product, θ uniform: with φ_1 shifted by ±π/2 the single-shot
    variances are (local) (1/4n²)(cos²φ_1 + Σ_{j>1} sin²φ_j), mean 1/(8n), and (global)
    P(1 − P) with P = ((1 ∓ sin φ_1)/2) Π_{j>1} cos²(φ_j/2), mean 2^−n − (3/8)^n; the excess is
    (σ²₊ + σ²₋)/(4·shots) averaged."""
    if cost == "local":
        return 1 / (16 * n * shots)
    return (2.0**-n - (3 / 8) ** n) / (2 * shots)


def rx_draws(n: int = N, draws: int = DRAWS, seed: int = 7):
    circuit = build("rx_product", n, 1)
    theta, choices = draw(circuit, draws, seed=seed)
    return circuit, theta, choices


@pytest.mark.parametrize("cost", ["global", "local"])
def test_per_draw_shot_variance_matches_the_product_state_formula(cost):
    circuit, theta, choices = rx_draws(draws=50)
    shots = 10
    _, grad_var = shot_variances(circuit, make_cost(cost, N), theta, choices, [0], shots)
    phi1, rest = theta[:, 0], theta[:, 1:]
    if cost == "local":
        single = {s: (np.cos(phi1) ** 2 + np.sum(np.sin(rest) ** 2, 1)) / (4 * N**2) for s in (1, -1)}
    else:
        p = {s: (1 - s * np.sin(phi1)) / 2 * np.prod(np.cos(rest / 2) ** 2, 1) for s in (1, -1)}
        single = {s: p[s] * (1 - p[s]) for s in (1, -1)}
    np.testing.assert_allclose(grad_var[:, 0], (single[1] + single[-1]) / (4 * shots), rtol=0, atol=1e-14)


@pytest.mark.parametrize("cost", ["global", "local"])
def test_shot_noise_excess_matches_its_closed_form_and_scales_as_one_over_shots(cost):
    circuit, theta, choices = rx_draws()
    observable = make_cost(cost, N)
    _, per_draw = shot_variances(circuit, observable, theta, choices, [0], 100)
    excess = shot_noise_excess(circuit, observable, theta, choices, [0], 100)
    assert excess[0] == pytest.approx(per_draw[:, 0].mean(), rel=1e-12)
    se = per_draw[:, 0].std(ddof=1) / math.sqrt(DRAWS)
    assert abs(excess[0] - closed_form_excess(cost, N, 100)) < 4 * se
    at_10 = shot_noise_excess(circuit, observable, theta, choices, [0], 10)
    assert at_10[0] == pytest.approx(10 * excess[0], rel=1e-12)


@pytest.mark.parametrize("cost", ["global", "local"])
def test_shot_variance_is_the_exact_variance_plus_the_shot_noise_excess(cost):
    circuit, theta, choices = rx_draws()
    observable = make_cost(cost, N)
    exact = gradient_variance("rx_product", cost, N, 1, "uniform", 0)
    assert exact == pytest.approx((1 / 8) * (3 / 8) ** (N - 1) if cost == "global" else 1 / (8 * N**2))
    for shots in (10, 100, 1000):
        _, grads = shot_gradients(circuit, observable, theta, choices, [0], shots, seed=shots)
        summary = summarize(grads[:, 0], seed=shots)
        se = standard_error(summary, "var")
        assert abs(summary["var"] - (exact + closed_form_excess(cost, N, shots))) < 3 * se
        if shots == 10:  # the excess is resolved: the exact value alone is excluded
            assert summary["var"] - exact > 5 * se


@pytest.mark.parametrize("cost", ["global", "local"])
def test_measured_excess_over_the_exact_gradients_falls_as_one_over_shots(cost):
    # on the same draws Var[ĝ] − Var[g] ≈ mean(ε² + 2(g − ḡ)ε), ε = ĝ − g: θ's sampling error cancels
    circuit, theta, choices = rx_draws()
    observable = make_cost(cost, N)
    _, exact = engine.param_shift(circuit, observable, theta, choices, [0], dtype="complex128")
    exact = exact[:, 0].numpy()
    for shots in (10, 100, 1000):
        noisy = shot_gradients(circuit, observable, theta, choices, [0], shots, seed=shots)[1][:, 0]
        eps = noisy - exact
        measured = np.var(noisy, ddof=1) - np.var(exact, ddof=1)
        se = np.std(eps**2 + 2 * (exact - exact.mean()) * eps, ddof=1) / math.sqrt(DRAWS)
        assert abs(measured - closed_form_excess(cost, N, shots)) < 3 * se


def fixed_point(circuit, repeats: int, seed: int = 11):
    theta, choices = draw(circuit, 1, seed=seed)
    return np.repeat(theta, repeats, 0), np.repeat(choices, repeats, 0)


@pytest.mark.parametrize("source", ["engine", "aer"])
def test_estimates_are_unbiased_with_the_exact_shot_variance_at_fixed_theta(source):
    circuit, observable, params, shots = build("hea", N, 1), make_cost(MIXED, N), [0, 3], 20
    theta, choices = fixed_point(circuit, 1000)
    costs, grads = shot_gradients(circuit, observable, theta, choices, params, shots, seed=1, source=source)
    one = theta[:1], choices[:1]
    exact_cost, exact_grads = engine.param_shift(circuit, observable, *one, params, dtype="complex128")
    cost_var, grad_var = shot_variances(circuit, observable, *one, params, shots)
    columns = [(costs, exact_cost[0], cost_var[0])]
    columns += [(grads[:, j], exact_grads[0, j], grad_var[0, j]) for j in range(len(params))]
    for values, value, variance in columns:
        summary = summarize(values)
        assert abs(summary["mean"] - float(value)) < 3 * standard_error(summary, "mean")
        assert abs(summary["var"] - variance) < 3 * standard_error(summary, "var")


def test_engine_and_aer_samples_agree_in_distribution_over_random_draws():
    circuit, observable, params, shots = build("hea", N, 2), make_cost(MIXED, N), [0, 5], 30
    theta, choices = draw(circuit, 1000, seed=3)
    ours = shot_gradients(circuit, observable, theta, choices, params, shots, seed=4)[1]
    aers = shot_gradients(circuit, observable, theta, choices, params, shots, seed=4, source="aer")[1]
    for j in range(len(params)):
        a, b = summarize(ours[:, j]), summarize(aers[:, j])
        for stat in ("mean", "var"):
            se = math.hypot(standard_error(a, stat), standard_error(b, stat))
            assert abs(a[stat] - b[stat]) < 3 * se


@pytest.mark.parametrize(
    "source, cost, points, params",
    [("engine", "global", 4, [0, 1, 4]), ("engine", MIXED, 4, [0, 1, 4]), ("aer", MIXED, 1, [1])],
)
def test_a_million_shots_give_the_exact_gradient(source, cost, points, params):
    circuit, observable = build("hea", N, 2), make_cost(cost, N)
    theta, choices = draw(circuit, points, seed=5)
    exact_costs, exact_grads = engine.param_shift(circuit, observable, theta, choices, params, dtype="complex128")
    costs, grads = shot_gradients(circuit, observable, theta, choices, params, 10**6, seed=6, source=source)
    np.testing.assert_allclose(costs, exact_costs.numpy(), atol=3e-3, rtol=0)
    np.testing.assert_allclose(grads, exact_grads.numpy(), atol=3e-3, rtol=0)


@pytest.mark.parametrize("source", ["engine", "aer"])
def test_a_slot_used_by_several_gates_sums_the_shift_rule_over_them(source):
    circuit = Circuit(
        2,
        (Op("RX", (0,), param=0), Op("RY", (1,), param=1), Op("CNOT", (0, 1)), Op("RX", (1,), param=0)),
        n_params=2,
    )
    observable = make_cost("Z1 + 0.5*X0", 2)
    theta = np.array([[0.4, 1.1], [2.0, -0.7]])
    _, exact = engine.param_shift(circuit, observable, theta, None, [0, 1], dtype="complex128")
    _, grads = shot_gradients(circuit, observable, theta, None, [0, 1], 10**4, seed=9, source=source)
    _, variance = shot_variances(circuit, observable, theta, None, [0, 1], 10**4)
    assert np.all(np.abs(grads - exact.numpy()) < 4 * np.sqrt(variance))
    untied = replace(circuit, ops=circuit.ops[:3] + (Op("RX", (1,), param=2),), n_params=3)
    first_gate_only = engine.param_shift(untied, observable, theta[:, [0, 1, 0]], None, [0], dtype="complex128")[1]
    assert np.all(np.abs(grads[:, 0] - first_gate_only[:, 0].numpy()) > 4 * np.sqrt(variance[:, 0]))


@pytest.mark.parametrize("source", ["engine", "aer"])
def test_same_seed_same_estimates_different_seed_different(source):
    circuit, observable = build("mcclean", N, 2), make_cost("zz", N)
    theta, choices = draw(circuit, 20, seed=2)
    run = lambda seed: shot_gradients(circuit, observable, theta, choices, [0, 2], 100, seed=seed, source=source)
    first, again, other = run(1), run(1), run(2)
    for a, b, c in zip(first, again, other):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)


def test_qubit_wise_commuting_terms_share_a_measurement_setting():
    settings = measurement_settings(make_cost("X0X1 + 2*X0 - Y1 + 0.5*Z0", 2))
    assert [[(op.gate, op.wires) for op in s.ops] for s in settings] == [
        [],
        [("H", (0,)), ("H", (1,))],
        [("SDG", (1,)), ("H", (1,))],
    ]
    # outcome values, wire 0 most significant: Z0 in the computational basis; X0X1 + 2·X0 after H⊗H
    np.testing.assert_array_equal(settings[0].values, [0.5, 0.5, -0.5, -0.5])
    np.testing.assert_array_equal(settings[1].values, [3, 1, -3, -1])
    np.testing.assert_array_equal(settings[2].values, [-1, 1, -1, 1])


def test_bad_shots_or_source_are_refused_with_what_is_allowed():
    circuit, theta, choices = rx_draws(draws=2)
    observable = make_cost("local", N)
    with pytest.raises(ValueError, match="shots must be a positive integer"):
        shot_gradients(circuit, observable, theta, choices, [0], 0, seed=0)
    with pytest.raises(ValueError, match="allowed: engine, aer"):
        shot_gradients(circuit, observable, theta, choices, [0], 10, seed=0, source="estimator")
