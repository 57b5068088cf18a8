"""Gradient variances equal the exact values of the barren-plateau literature.

Each test samples through the same path the workflow uses (``gradients.compute``: seeded draw →
engine → shard) and compares the sample variance (ddof=1) with the closed form.  The tolerance is
four standard errors of the sample variance, estimated from the sample's own fourth moment:
SE² = (m4 − s⁴ (N−3)/(N−1)) / N.  Each test also checks that this tolerance is below 10 % of the
exact value, so a formula wrong by 10 % (or a std plotted as a variance, a wrong base of the
exponent, n instead of n²) cannot pass.
"""

from __future__ import annotations

import numpy as np
import pytest

from qnnscope.gradients.evaluate import compute
from qnnscope.gradients.point import GradientPoint


def variance_and_se(values: np.ndarray) -> tuple[float, float]:
    """Sample variance (ddof=1) and its standard error from the fourth central moment."""
    n = values.size
    var = values.var(ddof=1)
    m4 = np.mean((values - values.mean()) ** 4)
    return var, np.sqrt((m4 - var**2 * (n - 3) / (n - 1)) / n)


def sampled(point: GradientPoint, samples: int, seed: int = 7) -> np.ndarray:
    shard = compute(point, samples, chunk=0, base_seed=seed, progress=False)
    assert (shard["param_index"] == 0).all()
    return shard["grad"].to_numpy()


def assert_matches(values: np.ndarray, exact: float) -> None:
    var, se = variance_and_se(values)
    assert 4 * se < 0.1 * exact, "too few samples to tell a 10 % error"
    assert abs(var - exact) < 4 * se, f"Var = {var:.5e} vs exact {exact:.5e} (4 SE = {4 * se:.2e})"


@pytest.mark.parametrize("n", [2, 4, 8])
def test_rx_product_global_cost_variance_is_one_eighth_times_three_eighths_to_the_n_minus_one(n):
    # Cerezo et al. 2021: C_G = 1 − Π_j cos²(θ_j/2); ∂C_G/∂θ_1 = ½ sin θ_1 Π_{j>1} cos²(θ_j/2)
    # the product of cos² factors is heavy-tailed: n = 8 needs 250k draws for a 2.5 % SE
    values = sampled(GradientPoint("rx_product", n, 1, cost="global", dtype="complex128"), 250000)
    assert_matches(values, (1 / 8) * (3 / 8) ** (n - 1))


@pytest.mark.parametrize("n", [2, 4, 8])
def test_rx_product_local_cost_variance_is_one_over_eight_n_squared(n):
    # C_L = 1 − (1/n) Σ_j cos²(θ_j/2); ∂C_L/∂θ_1 = sin θ_1 / (2n)
    values = sampled(GradientPoint("rx_product", n, 1, cost="local", dtype="complex128"), 20000)
    assert_matches(values, 1 / (8 * n**2))


@pytest.mark.parametrize("n, exact", [(4, 2.092e-2), (6, 5.210e-3)])
def test_mcclean_first_parameter_variance_reaches_the_two_design_value(n, exact):
    # McClean et al. 2018: ∂⟨Z0Z1⟩/∂θ_{1,1} with the rest of the circuit a 2-design has
    # Var = 2^n / (3 (4^n − 1)).  At depth 10n the variance is still a few percent above it
    # (see the next test); at 20n it has saturated to well within the statistical error.
    assert exact == pytest.approx(2**n / (3 * (4**n - 1)), rel=1e-3)
    values = sampled(GradientPoint("mcclean", n, 20 * n, cost="Z0Z1", dtype="complex64"), 30000)
    assert_matches(values, 2**n / (3 * (4**n - 1)))


def test_mcclean_at_depth_ten_n_has_not_yet_saturated_for_six_qubits():
    # Measured: Var(L=60)/Var_2design = 1.088 ± 0.012 at n = 6 — fits must check saturation.
    n = 6
    var, se = variance_and_se(sampled(GradientPoint("mcclean", n, 10 * n, cost="Z0Z1"), 30000))
    exact = 2**n / (3 * (4**n - 1))
    assert var - 4 * se > 1.03 * exact
