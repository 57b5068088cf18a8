"""Cost names parse to the right observables, and their expectations match closed forms."""

import math

import numpy as np
import pytest

from qnnscope.circuits import Op, assemble, build
from qnnscope.costs import Observable, make_cost
from qnnscope.sim.engine import expectation

# Expectations are computed in complex128 through a handful of gates on 3 qubits: rounding
# error is a few ulp of O(1) values (~1e-15).  1e-12 leaves three orders of magnitude of
# headroom and still catches any real mistake (a wrong sign or angle convention is O(0.1)).
ATOL = 1e-12


def terms_of(obs: Observable) -> list[tuple[float, tuple[tuple[int, str], ...]]]:
    return [(c, s) for c, s in obs.terms]


def test_global_cost_is_one_minus_the_all_zero_projector():
    obs = make_cost("global", 4)
    assert obs.n_qubits == 4
    assert obs.constant == 1.0
    assert obs.projector_coeff == -1.0
    assert obs.terms == ()


@pytest.mark.parametrize("n", [1, 3, 4])
def test_local_cost_is_one_half_minus_mean_of_z(n):
    obs = make_cost("local", n)
    assert obs.constant == 0.5
    assert obs.projector_coeff == 0.0
    assert terms_of(obs) == [(-1 / (2 * n), ((j, "Z"),)) for j in range(n)]
    assert obs.is_diagonal


def test_zz_is_z0z1():
    assert make_cost("zz", 3).terms == make_cost("Z0Z1", 3).terms == ((1.0, ((0, "Z"), (1, "Z"))),)
    assert make_cost("ZZ", 3).terms == make_cost("Z0Z1", 3).terms


def test_pauli_string_wires_are_sorted_and_letters_kept():
    assert make_cost("Z2X0", 3).terms == ((1.0, ((0, "X"), (2, "Z"))),)
    assert not make_cost("Z2X0", 3).is_diagonal


def test_weighted_sum_reads_signs_and_implicit_unit_coefficients():
    obs = make_cost("0.5*Z0Z1 - 0.25*X2 + Y1", 3)
    assert terms_of(obs) == [
        (0.5, ((0, "Z"), (1, "Z"))),
        (-0.25, ((2, "X"),)),
        (1.0, ((1, "Y"),)),
    ]
    assert obs.constant == 0.0 and obs.projector_coeff == 0.0


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("-Z0 + X1", [(-1.0, ((0, "Z"),)), (1.0, ((1, "X"),))]),
        ("Z0 - X1", [(1.0, ((0, "Z"),)), (-1.0, ((1, "X"),))]),
        ("0.5*Z0Z1 + 0.25*X0 - 1.0*Y1Y2", [(0.5, ((0, "Z"), (1, "Z"))), (0.25, ((0, "X"),)), (-1.0, ((1, "Y"), (2, "Y")))]),
        ("1e-3*Z0 - 2E+1*X2", [(1e-3, ((0, "Z"),)), (-20.0, ((2, "X"),))]),
        ("-0.5 * Z0", [(-0.5, ((0, "Z"),))]),
    ],
)
def test_weighted_sum_variants(spec, expected):
    assert terms_of(make_cost(spec, 3)) == expected


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("Q0", "'Q0'"),
        ("Z0Z0", "'Z0Z0'"),
        ("Z5", "'Z5'"),
        ("", "''"),
        ("   ", "'   '"),
        ("1.2.3*Z0", "'1.2.3*Z0'"),
        ("Z0 + + X1", "'Z0 + + X1'"),
    ],
)
def test_bad_cost_strings_name_the_key_and_the_value(spec, fragment):
    with pytest.raises(ValueError) as info:
        make_cost(spec, 3, key="study.cost")
    message = str(info.value)
    assert message.startswith("study.cost:")
    assert fragment in message


def test_wire_out_of_range_says_what_is_allowed():
    with pytest.raises(ValueError, match=r"wires 0\.\.2"):
        make_cost("Z5", 3)


# --- expectations against closed forms -------------------------------------------------------
#
# rx_product(3, 1) is RX(θ0) ⊗ RX(θ1) ⊗ RX(θ2) on |000⟩.  With RX(θ) = exp(−iθX/2):
#   RX(θ)|0⟩ = cos(θ/2)|0⟩ − i sin(θ/2)|1⟩ =: (c, −is).
#   p_j(0) = c_j²  ⇒  global = 1 − Π_j c_j²,  local = 1 − (1/n) Σ_j c_j²;
#   ⟨Z⟩ = c² − s² = cos θ, and Z's on different wires factorise ⇒ ⟨Z0 Z1⟩ = cos θ0 cos θ1;
#   ⟨X⟩ = 2 Re(conj(c)·(−is)) = 2 Re(−i c s) = 0 (the Bloch vector stays in the y–z plane);
#   ⟨Y⟩ = ψ† Y ψ with Y = [[0, −i], [i, 0]]: Yψ = (−i·(−is), i·c) = (−s, ic), so
#         ⟨Y⟩ = c·(−s) + conj(−is)·(ic) = −cs + (is)(ic) = −cs − cs = −2cs = −sin θ.


@pytest.fixture(scope="module")
def rx_samples():
    circuit = build("rx_product", 3, 1)
    theta = np.random.default_rng(11).uniform(0, 2 * np.pi, size=(16, 3))
    choices = np.zeros((16, 0), dtype=np.int64)
    return circuit, theta, choices


def expect(circuit, spec, theta, choices):
    obs = make_cost(spec, circuit.n_qubits)
    return expectation(circuit, obs, theta, choices, dtype="complex128").numpy()


def test_global_cost_on_rx_product(rx_samples):
    circuit, theta, choices = rx_samples
    exact = 1 - np.prod(np.cos(theta / 2) ** 2, axis=1)
    np.testing.assert_allclose(expect(circuit, "global", theta, choices), exact, rtol=0, atol=ATOL)


def test_local_cost_on_rx_product(rx_samples):
    circuit, theta, choices = rx_samples
    exact = 1 - np.mean(np.cos(theta / 2) ** 2, axis=1)
    np.testing.assert_allclose(expect(circuit, "local", theta, choices), exact, rtol=0, atol=ATOL)


@pytest.mark.parametrize(
    "spec, closed_form",
    [
        ("Z0Z1", lambda t: np.cos(t[:, 0]) * np.cos(t[:, 1])),
        ("zz", lambda t: np.cos(t[:, 0]) * np.cos(t[:, 1])),
        ("Z2", lambda t: np.cos(t[:, 2])),
        ("X0", lambda t: np.zeros(len(t))),
        ("Y0", lambda t: -np.sin(t[:, 0])),
        ("Y1Y2", lambda t: np.sin(t[:, 1]) * np.sin(t[:, 2])),
        ("Y0Z2", lambda t: -np.sin(t[:, 0]) * np.cos(t[:, 2])),
        ("0.5*Z0Z1 - 0.25*X2 + Y1", lambda t: 0.5 * np.cos(t[:, 0]) * np.cos(t[:, 1]) - np.sin(t[:, 1])),
    ],
)
def test_pauli_expectations_on_rx_product(rx_samples, spec, closed_form):
    circuit, theta, choices = rx_samples
    np.testing.assert_allclose(expect(circuit, spec, theta, choices), closed_form(theta), rtol=0, atol=ATOL)


def test_x_and_y_on_ry_product():
    # RY(θ)|0⟩ = (cos θ/2, sin θ/2) is real: ⟨X⟩ = 2cs = sin θ, ⟨Y⟩ = 0, ⟨Z⟩ = cos θ.  This makes
    # the X check non-trivial (under RX alone ⟨X⟩ is identically 0).
    circuit = assemble(2, [[Op("RY", (0,), param=0), Op("RY", (1,), param=1)]], name="ry_product")
    theta = np.random.default_rng(12).uniform(0, 2 * np.pi, size=(16, 2))
    choices = np.zeros((16, 0), dtype=np.int64)
    t0, t1 = theta[:, 0], theta[:, 1]
    np.testing.assert_allclose(expect(circuit, "X0", theta, choices), np.sin(t0), rtol=0, atol=ATOL)
    np.testing.assert_allclose(expect(circuit, "X0X1", theta, choices), np.sin(t0) * np.sin(t1), rtol=0, atol=ATOL)
    np.testing.assert_allclose(expect(circuit, "Y1", theta, choices), 0.0, rtol=0, atol=ATOL)
    np.testing.assert_allclose(
        expect(circuit, "2*X0Z1 - Z0", theta, choices), 2 * np.sin(t0) * np.cos(t1) - np.cos(t0), rtol=0, atol=ATOL
    )


def test_global_cost_at_zero_and_at_pi():
    # θ = 0 leaves |000⟩ (cost 0); θ0 = π flips qubit 0 to |1⟩ (p(000) = 0, cost 1).
    circuit = build("rx_product", 3, 1)
    theta = np.array([[0.0, 0.0, 0.0], [math.pi, 0.0, 0.0]])
    choices = np.zeros((2, 0), dtype=np.int64)
    np.testing.assert_allclose(expect(circuit, "global", theta, choices), [0.0, 1.0], rtol=0, atol=ATOL)
    np.testing.assert_allclose(expect(circuit, "local", theta, choices), [0.0, 1 / 3], rtol=0, atol=ATOL)
