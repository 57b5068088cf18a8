"""Exact gradient variances: the literature's numbers, an independent quadrature of the
statevector gradient, and sampling through the workflow's path (``gradients.compute``)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import integrate, special

from qnnscope import exact
from qnnscope.gradients.evaluate import compute
from qnnscope.gradients.point import GradientPoint


def test_two_design_variance_has_the_design_numbers():
    for n, value in ((4, 2.092e-2), (6, 5.210e-3), (8, 1.302e-3)):
        assert exact.two_design_variance(n) == pytest.approx(value, rel=5e-4)
    with pytest.raises(ValueError, match="2 qubits"):
        exact.two_design_variance(1)


@pytest.mark.parametrize("init", ["uniform", "uniform_sym"])
def test_rx_product_full_period_angles_give_cerezos_formulas_for_every_slot_and_depth(init):
    for n, depth in itertools.product(range(1, 11), range(1, 5)):
        for slot in (0, n * depth - 1):
            assert exact.gradient_variance("rx_product", "global", n, depth, init, slot) == pytest.approx(
                (1 / 8) * (3 / 8) ** (n - 1), rel=1e-12
            )
            assert exact.gradient_variance("rx_product", "local", n, depth, init, slot) == pytest.approx(
                1 / (8 * n**2), rel=1e-12
            )


# --- independent closed form: quadrature over the angles of a numpy statevector -------------

def _costs(phi: np.ndarray, cost: str) -> np.ndarray:
    """C at per-wire total angles ``phi`` (..., n) from the statevector ⊗_j RX(φ_j)|0⟩."""
    wire = np.stack([np.cos(phi / 2), -1j * np.sin(phi / 2)], axis=-1)  # (..., n, 2)
    state = wire[..., 0, :]
    for j in range(1, phi.shape[-1]):
        state = (state[..., :, None] * wire[..., j, None, :]).reshape(*phi.shape[:-1], -1)
    probs = np.abs(state) ** 2
    if cost == "global":
        return 1 - probs[..., 0]
    n = phi.shape[-1]
    zero_on_wire = [probs.reshape(*phi.shape[:-1], *(2,) * n).take(0, axis=-n + j).sum(axis=tuple(range(-n + 1, 0))) for j in range(n)]
    return 1 - np.mean(zero_on_wire, axis=0)


def _quadrature_variance(n: int, depth: int, cost: str, nodes: np.ndarray, weights: np.ndarray, slot: int) -> float:
    """Var of the parameter-shift gradient of slot ``slot`` (layer slot // n, wire slot % n),
    integrated on a tensor grid over all n·depth angles with the 1-D rule (nodes, weights)."""
    grids = np.meshgrid(*[nodes] * (n * depth), indexing="ij")
    theta = np.stack([g.reshape(-1) for g in grids], axis=-1)  # (points, depth·n), slot order
    w = np.prod(np.meshgrid(*[weights] * (n * depth), indexing="ij"), axis=0).reshape(-1)
    shift = np.zeros(n * depth)
    shift[slot] = math.pi / 2
    phi = lambda t: t.reshape(-1, depth, n).sum(axis=1)
    grad = (_costs(phi(theta + shift), cost) - _costs(phi(theta - shift), cost)) / 2
    mean = np.sum(w * grad) / np.sum(w)
    return float(np.sum(w * (grad - mean) ** 2) / np.sum(w))


def _rule(init: str, sigma: float | None = None, points: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """A 1-D quadrature rule for one angle's law: Gauss–Legendre on the interval, Gauss–Hermite for the normal."""
    if init == "normal":
        x, w = special.roots_hermitenorm(points)
        return sigma * x, w
    low, high = {"uniform": (0, 2 * math.pi), "uniform_sym": (-math.pi, math.pi), "uniform_half": (0, math.pi)}[init]
    x, w = special.roots_legendre(points)
    return low + (x + 1) * (high - low) / 2, w


@pytest.mark.parametrize("cost", ["global", "local"])
@pytest.mark.parametrize("n", [2, 3])
def test_rx_product_depth_one_uniform_matches_scipy_integration_of_the_analytic_gradient(cost, n):
    # ∂C_G/∂θ_1 = ½ sin θ_1 Π_{j>1} cos²(θ_j/2), ∂C_L/∂θ_1 = sin θ_1 / (2n), integrated by nquad
    if cost == "global":
        grad = lambda *t: 0.5 * math.sin(t[0]) * math.prod(math.cos(x / 2) ** 2 for x in t[1:])
    else:
        grad = lambda *t: math.sin(t[0]) / (2 * n)
    box = [(0, 2 * math.pi)] * n
    volume = (2 * math.pi) ** n
    mean = integrate.nquad(grad, box)[0] / volume
    second = integrate.nquad(lambda *t: grad(*t) ** 2, box)[0] / volume
    assert exact.gradient_variance("rx_product", cost, n, 1, "uniform", 0) == pytest.approx(second - mean**2, rel=1e-8)


@pytest.mark.parametrize(
    "init, sigma, n, depth, slot",
    [
        ("uniform", None, 2, 2, 3),
        ("uniform_half", None, 2, 1, 0),
        ("uniform_half", None, 2, 2, 1),
        ("uniform_half", None, 1, 3, 2),
        ("normal", 0.4, 2, 2, 2),
        ("normal", 1.3, 3, 1, 1),
    ],
)
@pytest.mark.parametrize("cost", ["global", "local"])
def test_rx_product_matches_quadrature_of_the_statevector_gradient(cost, init, sigma, n, depth, slot):
    value = exact.gradient_variance("rx_product", cost, n, depth, init, slot, sigma=sigma)
    assert value == pytest.approx(_quadrature_variance(n, depth, cost, *_rule(init, sigma), slot), rel=1e-6)


def test_rx_product_half_period_angles_are_not_cerezos_value_at_odd_depth():
    # U[0, π): E[sin φ] = (2/π)^L at odd L, so the local variance is (1/2 − (2/π)^{2L}) / (4n²)
    for depth in (1, 3):
        value = exact.gradient_variance("rx_product", "local", 3, depth, "uniform_half", 0)
        assert value == pytest.approx((0.5 - (2 / math.pi) ** (2 * depth)) / 36, rel=1e-12)
        assert value < 0.95 / 72
    assert exact.gradient_variance("rx_product", "local", 3, 2, "uniform_half", 0) == pytest.approx(1 / 72, rel=1e-12)


# --- sampling through gradients.compute ------------------------------------------------------

def _variance_and_se(values: np.ndarray) -> tuple[float, float]:
    """Sample variance (ddof=1) and its standard error from the fourth central moment."""
    var = values.var(ddof=1)
    m4 = np.mean((values - values.mean()) ** 4)
    return var, math.sqrt((m4 - var**2 * (values.size - 3) / (values.size - 1)) / values.size)


def _assert_sampled(point: GradientPoint, samples: int, value: float) -> None:
    shard = compute(point, samples, base_seed=11, progress=False)
    for slot, group in shard.groupby("param_index"):
        var, se = _variance_and_se(group["grad"].to_numpy())
        assert 4 * se < 0.1 * value, "too few samples to tell a 10 % error"
        assert abs(var - value) < 4 * se, f"slot {slot}: Var = {var:.5e} vs exact {value:.5e} (4 SE = {4 * se:.2e})"


@pytest.mark.parametrize(
    "cost, init, sigma",
    [("global", "uniform", None), ("local", "uniform_sym", None), ("global", "uniform_half", None), ("local", "normal", 0.5)],
)
def test_rx_product_exact_value_holds_for_every_slot_of_a_sampled_two_layer_circuit(cost, init, sigma):
    n, depth = 3, 2
    value = exact.gradient_variance("rx_product", cost, n, depth, init, 0, sigma=sigma)
    assert all(exact.gradient_variance("rx_product", cost, n, depth, init, k, sigma=sigma) == value for k in range(n * depth))
    point = GradientPoint("rx_product", n, depth, cost=cost, init=init, sigma=sigma, dtype="complex128", params="all")
    _assert_sampled(point, 40000, value)


def test_mcclean_sampled_at_twenty_n_layers_equals_the_two_design_value():
    n = 3
    value = exact.gradient_variance("mcclean", "zz", n, 20 * n, "uniform", 0)
    assert value == exact.two_design_variance(n)
    _assert_sampled(GradientPoint("mcclean", n, 20 * n, cost="zz"), 20000, value)


# --- where nothing exact is known ----------------------------------------------------------------

def test_mcclean_value_is_given_only_for_the_first_slot_zz_full_period_angles_and_saturated_depth():
    n = 6
    assert exact.gradient_variance("mcclean", "Z0Z1", n, 20 * n, "uniform_sym", 0) == exact.two_design_variance(n)
    assert exact.gradient_variance("mcclean", "1.0*Z0Z1", n, 30 * n, "uniform", 0) == exact.two_design_variance(n)
    # 10n is still 4-15 % above the limit for n = 4..8 (see the module docstring)
    assert exact.gradient_variance("mcclean", "zz", n, 10 * n, "uniform", 0) is None
    assert exact.gradient_variance("mcclean", "zz", n, 20 * n, "uniform", 1) is None
    assert exact.gradient_variance("mcclean", "Z0Z2", n, 20 * n, "uniform", 0) is None
    assert exact.gradient_variance("mcclean", "global", n, 20 * n, "uniform", 0) is None
    assert exact.gradient_variance("mcclean", "zz", n, 20 * n, "uniform_half", 0) is None
    assert exact.gradient_variance("mcclean", "zz", n, 20 * n, "identity_block", 0, identity_block=2) is None


def test_unknown_models_costs_and_laws_have_no_exact_value():
    assert exact.gradient_variance("hea", "global", 4, 2, "uniform", 0) is None
    assert exact.gradient_variance("alternating", "local", 4, 2, "uniform", 0) is None
    assert exact.gradient_variance("rx_product", "Z0", 4, 1, "uniform", 0) is None
    assert exact.gradient_variance("rx_product", "global", 4, 2, "identity_block", 0, identity_block=1) is None
    with pytest.raises(ValueError, match="slots 0..7"):
        exact.gradient_variance("rx_product", "global", 4, 2, "uniform", 8)
    with pytest.raises(ValueError, match="sigma"):
        exact.gradient_variance("rx_product", "global", 4, 2, "normal", 0)


def test_asymptote_is_the_depth_limit():
    assert exact.asymptote("mcclean", "zz", 8, 0, "uniform") == exact.two_design_variance(8)
    assert exact.asymptote("mcclean", "zz", 8, 3, "uniform") is None
    assert exact.asymptote("mcclean", "zz", 8, 0, "normal") is None
    assert exact.asymptote("hea", "zz", 8, 0, "uniform") is None
    for init, sigma in (("uniform_half", None), ("normal", 0.7)):
        deep = exact.gradient_variance("rx_product", "global", 5, 300, init, 0, sigma=sigma)
        assert deep == pytest.approx(exact.asymptote("rx_product", "global", 5, 0, init), rel=1e-9)
        assert deep == pytest.approx((1 / 8) * (3 / 8) ** 4, rel=1e-9)
