"""Cost names parse to the right observables, and their expectations match closed forms."""

import math
from pathlib import Path

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


# --- model Hamiltonians and Hamiltonian files ------------------------------------------------

PAULI = {
    "I": np.eye(2, dtype=complex),
    "X": np.array([[0, 1], [1, 0]], dtype=complex),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=complex),
    "Z": np.array([[1, 0], [0, -1]], dtype=complex),
}
TFIM4 = str(Path(__file__).resolve().parents[1] / "config" / "hamiltonians" / "tfim4.txt")


def dense(obs: Observable) -> np.ndarray:
    """The 2^n × 2^n matrix of an observable (wire 0 most significant)."""
    n = obs.n_qubits
    h = obs.constant * np.eye(2**n, dtype=complex)
    for coeff, string in obs.terms:
        letters = dict(string)
        factors = [PAULI[letters.get(w, "I")] for w in range(n)]
        term = factors[0]
        for f in factors[1:]:
            term = np.kron(term, f)
        h = h + coeff * term
    h[0, 0] += obs.projector_coeff
    return h


def ground_energy(spec: str, n: int) -> float:
    return float(np.linalg.eigvalsh(dense(make_cost(spec, n)))[0])


def test_tfim_terms_and_name():
    obs = make_cost("tfim", 3)
    assert obs.name == "tfim"
    assert terms_of(obs) == [
        (-1.0, ((0, "Z"), (1, "Z"))),
        (-1.0, ((1, "Z"), (2, "Z"))),
        (-1.0, ((0, "X"),)),
        (-1.0, ((1, "X"),)),
        (-1.0, ((2, "X"),)),
    ]
    assert [c for c, _ in make_cost("tfim:g=0.5", 3).terms] == [-1.0, -1.0, -0.5, -0.5, -0.5]
    assert make_cost(" TFIM : g = 0.5 ", 3).terms == make_cost("tfim:g=0.5", 3).terms


def test_xxz_and_heisenberg_terms():
    obs = make_cost("xxz:delta=0.5", 2)
    assert terms_of(obs) == [(1.0, ((0, "X"), (1, "X"))), (1.0, ((0, "Y"), (1, "Y"))), (0.5, ((0, "Z"), (1, "Z")))]
    assert make_cost("heisenberg", 4).terms == make_cost("xxz", 4).terms == make_cost("xxz:delta=1", 4).terms
    assert len(make_cost("heisenberg", 4).terms) == 9  # 3 bonds of the open chain × XX, YY, ZZ


def test_tfim_ground_energy_n4_g1():
    # exact diagonalisation of H = −Σ_{i=0}^{2} Z_iZ_{i+1} − Σ_{i=0}^{3} X_i (open chain)
    assert ground_energy("tfim", 4) == pytest.approx(-4.758770483143634, abs=1e-12)
    # cross-check by free fermions: with a Hadamard on every wire H ≅ −Σ X_iX_{i+1} − g Σ Z_i, and
    # Jordan–Wigner (Z_j = −i c_{2j} c_{2j+1}, X_jX_{j+1} = −i c_{2j+1} c_{2j+2}) makes it
    # (i/2) Σ h_ab c_a c_b with h_{2j,2j+1} = g, h_{2j+1,2j+2} = 1; E_0 = −Σ ε_k over the
    # eigenvalues ±iε_k of h.
    for n, g in [(4, 1.0), (5, 0.5)]:
        h = np.zeros((2 * n, 2 * n))
        for j in range(n):
            h[2 * j, 2 * j + 1] = g
        for j in range(n - 1):
            h[2 * j + 1, 2 * j + 2] = 1.0
        eps = np.linalg.eigvals(h - h.T).imag
        assert ground_energy(f"tfim:g={g}", n) == pytest.approx(-eps[eps > 0].sum(), abs=1e-12)


def test_heisenberg_ground_energy_n4():
    assert ground_energy("heisenberg", 4) == pytest.approx(-3 - 2 * math.sqrt(3), abs=1e-12)
    assert -3 - 2 * math.sqrt(3) == pytest.approx(-6.464101615137754, abs=1e-15)
    # two sites: Σ (XX + YY + ZZ) on the singlet is −3
    assert ground_energy("heisenberg", 2) == pytest.approx(-3.0, abs=1e-12)


def test_tfim_file_equals_builtin_tfim():
    from_file = make_cost(TFIM4, 4)
    assert from_file.name == "tfim4"
    assert make_cost("file:" + TFIM4, 4).terms == from_file.terms
    np.testing.assert_allclose(dense(from_file), dense(make_cost("tfim", 4)), rtol=0, atol=ATOL)
    # the same expectation on random states (a deep hardware-efficient circuit at random angles)
    circuit = build("hea", 4, 4)
    theta = np.random.default_rng(5).uniform(0, 2 * np.pi, size=(8, circuit.n_params))
    choices = np.zeros((8, 0), dtype=np.int64)
    a = expectation(circuit, from_file, theta, choices, dtype="complex128").numpy()
    b = expectation(circuit, make_cost("tfim", 4), theta, choices, dtype="complex128").numpy()
    np.testing.assert_allclose(a, b, rtol=0, atol=ATOL)
    assert np.ptp(a) > 0.1  # the states differ enough for the comparison to mean something


def test_file_format_compact_dense_constant_and_comments(tmp_path):
    path = tmp_path / "mixed.ham"
    path.write_text(
        "# a comment line\n"
        "\n"
        "0.5   Z0Z2      # compact, trailing comment\n"
        "-0.25 XIY       \n"
        "1e-1*y1\n"
        "2.0\n"
        "0.5 III\n"
    )
    obs = make_cost(str(path), 3)
    assert obs.name == "mixed"
    assert terms_of(obs) == [(0.5, ((0, "Z"), (2, "Z"))), (-0.25, ((0, "X"), (2, "Y"))), (0.1, ((1, "Y"),))]
    assert obs.constant == 2.5
    assert make_cost(f"file:{path}", 3).terms == obs.terms


@pytest.mark.parametrize(
    "content, line, fragment",
    [
        ("-1.0 Z0Z1\nabc Z0\n", 2, "coefficient 'abc' in 'abc Z0' is not a number"),
        ("nan Z0\n", 1, "coefficient 'nan' in 'nan Z0' must be a finite number"),
        ("-inf Z0\n", 1, "coefficient '-inf' in '-inf Z0' must be a finite number"),
        ("1.0 Z0\n# c\n0.5 Z3\n", 3, "'Z3' acts on wire 3 but the circuit has 3 qubits (wires 0..2)"),
        ("1.0 ZZ\n", 1, "dense Pauli word 'ZZ' has 2 letters but the circuit has 3 qubits"),
        ("1.0 Q0\n", 1, "cannot read Pauli string 'Q0'; allowed: compact 'Z0Z1' / 'X2' or a dense word of 3 letters"),
        ("1.0 Z0Z0\n", 1, "Pauli string 'Z0Z0' repeats a wire"),
        ("1.0 Z0 X1\n", 1, "cannot read '1.0 Z0 X1'; allowed: 'COEFF PAULIS'"),
    ],
)
def test_bad_hamiltonian_files_name_key_file_line_and_text(tmp_path, content, line, fragment):
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(ValueError) as info:
        make_cost(str(path), 3, key="study.cost")
    message = str(info.value)
    assert message.startswith(f"study.cost: {path}, line {line}")
    assert fragment in message


def test_empty_and_missing_hamiltonian_files(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("# only a comment\n\n")
    with pytest.raises(ValueError, match=r"^study\.cost: Hamiltonian file '.*empty\.txt' has no terms"):
        make_cost(str(empty), 3, key="study.cost")
    with pytest.raises(ValueError, match=r"^cost: Hamiltonian file '.*nope\.txt' cannot be read: No such file"):
        make_cost(str(tmp_path / "nope.txt"), 3)
    with pytest.raises(ValueError, match=r"^cost: Hamiltonian file '.*nope' cannot be read"):
        make_cost(f"file:{tmp_path / 'nope'}", 3)
    with pytest.raises(ValueError, match=r"^cost: empty Hamiltonian file name"):
        make_cost("file:", 3)


@pytest.mark.parametrize(
    "spec, n, fragment",
    [
        ("tfim:h=1", 4, "cannot read option 'h=1' of 'tfim'; allowed options: g=<number>"),
        ("tfim:g=abc", 4, "option g must be a finite number, got 'abc'"),
        ("tfim:g=nan", 4, "option g must be a finite number, got 'nan'"),
        ("tfim:", 4, "cannot read option '' of 'tfim'"),
        ("xxz:g=1", 4, "allowed options: delta=<number>"),
        ("heisenberg:delta=0.5", 4, "allowed options: none (use 'xxz:delta=…' for an anisotropic chain)"),
        ("tfim", 1, "'tfim' is a chain and needs at least 2 qubits, got 1"),
        ("tfimm", 4, "'tfim', 'tfim:g=0.5', 'heisenberg', 'xxz:delta=0.5', or a Hamiltonian file"),
    ],
)
def test_bad_model_specs_name_key_and_allowed(spec, n, fragment):
    with pytest.raises(ValueError) as info:
        make_cost(spec, n, key="study.cost")
    assert str(info.value).startswith("study.cost:")
    assert fragment in str(info.value)
