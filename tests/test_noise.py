"""Noisy density-matrix simulation: noiseless = the engine's pure states, the channels = qiskit-aer's
to 1e−10, the closed forms of each channel, physical states, and noise-induced plateaus (the
signal decays exponentially in depth, at the contraction factor where it can be derived)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from qnnscope.circuits import build
from qnnscope.circuits.description import Circuit, Op
from qnnscope.costs import Observable, make_cost
from qnnscope.sampling import draw
from qnnscope.sim import engine
from qnnscope.backends.qiskit_backend import aer_expectation, aer_noise_model
from qnnscope.sim.noise import NoiseModel, density_matrices, expectation

F64 = "complex128"


def one_qubit(*ops: Op, n_params: int = 1) -> Circuit:
    return Circuit(1, ops, n_params)


def zero_pauli(n: int, letters: str) -> Observable:
    """The Pauli string with ``letters`` on wires 0, 1, … of an n-qubit register."""
    return Observable(n, ((1.0, tuple(enumerate(letters))),))


MIXED = Circuit(
    3,
    (
        Op("H", (0,)), Op("RX", (1,), param=0), Op("RP", (2,), param=1, choice=0), Op("CNOT", (2, 0)),
        Op("S", (1,)), Op("RY", (0,), param=2), Op("CZ", (0, 2)), Op("SDG", (2,)), Op("Y", (1,)),
        Op("RZ", (1,), param=3), Op("X", (0,)), Op("CNOT", (0, 1)), Op("Z", (2,)), Op("RX", (2,), angle=0.7),
        Op("RP", (0,), param=4, choice=1), Op("CZ", (1, 2)),
    ),
    n_params=5,
    n_choices=2,
)
"""Every gate type of the description, CNOT against the wire order, CZ on non-neighbours."""


@pytest.mark.parametrize("kernel", [True, False])
@pytest.mark.parametrize("name, n", [("mcclean", 3), ("hea", 4), ("alternating", 4), ("rx_product", 2)])
def test_noiseless_density_matrix_is_the_projector_on_the_engine_state(name, n, kernel):
    circuit = build(name, n, 3)
    theta, choices = draw(circuit, 6, seed=n)
    psi = engine.states(circuit, theta, choices, dtype=F64)
    rho = density_matrices(circuit, theta, choices, dtype=F64, kernel=kernel)
    torch.testing.assert_close(rho, psi[:, :, None] * psi[:, None, :].conj(), rtol=0, atol=1e-12)


NOISES = [
    NoiseModel(depolarizing_1q=0.07),
    NoiseModel(depolarizing_2q=0.12),
    NoiseModel(amplitude_damping=0.09),
    NoiseModel(0.05, 0.1, 0.08),
]


@pytest.mark.parametrize("noise", NOISES)
@pytest.mark.parametrize("circuit", [MIXED, build("mcclean", 3, 2), build("hea", 4, 2), build("alternating", 4, 2)],
                         ids=["mixed", "mcclean", "hea", "alternating"])
def test_engine_channels_equal_aer_density_matrix(circuit, noise):
    theta, choices = draw(circuit, 4, seed=7)
    n = circuit.n_qubits
    for spec in ("local", "global", "Z0Z1", "0.5*X0Y1 - 0.3*Z2 + 0.2*Y0 + 0.4*X1Z2"):
        observable = make_cost(spec, n)
        reference = aer_expectation(circuit, observable, theta, choices, noise)
        for kernel in (True, False):
            ours = expectation(circuit, observable, theta, choices, noise, dtype=F64, kernel=kernel)
            np.testing.assert_allclose(ours.numpy(), reference, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", ["mcclean", "hea", "alternating"])
def test_cpu_kernel_equals_torch_path_under_noise(name):
    circuit = build(name, 5, 2)
    theta, choices = draw(circuit, 5, seed=3)
    noise = NoiseModel(0.03, 0.06, 0.04)
    fast = density_matrices(circuit, theta, choices, noise, dtype=F64)
    torch.testing.assert_close(fast, density_matrices(circuit, theta, choices, noise, dtype=F64, kernel=False),
                               rtol=0, atol=1e-12)


PAULI = {"X": np.array([[0, 1], [1, 0]]), "Y": np.array([[0, -1j], [1j, 0]]), "Z": np.diag([1, -1])}


def dense(observable: Observable) -> np.ndarray:
    """The observable as a 2^n × 2^n matrix from Kronecker products (wire 0 most significant)."""
    n = observable.n_qubits
    out = observable.constant * np.eye(2**n, dtype=complex)
    out[0, 0] += observable.projector_coeff
    for coeff, string in observable.terms:
        factors = dict(string)
        term = np.ones((1, 1))
        for w in range(n):
            term = np.kron(term, PAULI[factors[w]] if w in factors else np.eye(2))
        out += coeff * term
    return out


def test_expectation_is_the_trace_with_the_dense_observable_across_chunks():
    circuit = build("mcclean", 6, 1)
    theta, choices = draw(circuit, 300, seed=9)  # more than one chunk of 6-qubit density matrices
    observable = make_cost("0.5*X0Y3 - 0.3*Z5 + 0.2*Y1Z2X4 - 0.1*X0X1X2X3X4X5", 6)
    noise = NoiseModel(0.03, 0.05, 0.04)
    rho = density_matrices(circuit, theta, choices, noise, dtype=F64).numpy()
    values = expectation(circuit, observable, theta, choices, noise, dtype=F64)
    np.testing.assert_allclose(values.numpy(), np.einsum("sij,ji->s", rho, dense(observable)).real, atol=1e-12)


def test_complex64_is_close_to_complex128():
    circuit = build("hea", 4, 3)
    theta, choices = draw(circuit, 8, seed=1)
    observable = make_cost("local", 4)
    noise = NoiseModel(0.02, 0.05, 0.03)
    single = expectation(circuit, observable, theta, choices, noise, dtype="complex64")
    double = expectation(circuit, observable, theta, choices, noise, dtype=F64)
    assert single.dtype == torch.float32
    np.testing.assert_allclose(single.numpy(), double.numpy(), atol=1e-5)


THETA = np.linspace(0.1, 2 * math.pi, 9)[:, None]


def test_depolarising_shrinks_z_by_one_minus_lambda_the_pauli_convention_by_one_minus_4p_over_3():
    lam = 0.3
    p = 3 * lam / 4  # the Pauli-channel probability of the same channel
    z = expectation(one_qubit(Op("RX", (0,), param=0)), make_cost("Z0", 1), THETA,
                    noise=NoiseModel(depolarizing_1q=lam), dtype=F64)
    np.testing.assert_allclose(z.numpy(), (1 - lam) * np.cos(THETA[:, 0]), atol=1e-14)
    np.testing.assert_allclose(z.numpy(), (1 - 4 * p / 3) * np.cos(THETA[:, 0]), atol=1e-14)


def test_amplitude_damping_moves_the_excited_population_to_zero():
    gamma = 0.35
    z = expectation(one_qubit(Op("RX", (0,), param=0)), make_cost("Z0", 1), THETA,
                    noise=NoiseModel(amplitude_damping=gamma), dtype=F64)
    np.testing.assert_allclose(z.numpy(), 1 - (1 - gamma) * (1 - np.cos(THETA[:, 0])), atol=1e-14)


def test_depolarising_acts_before_damping_and_both_shrink_coherences():
    lam, gamma = 0.2, 0.3
    circuit = one_qubit(Op("RX", (0,), param=0))
    noise = NoiseModel(depolarizing_1q=lam, amplitude_damping=gamma)
    c = np.cos(THETA[:, 0])
    z = expectation(circuit, make_cost("Z0", 1), THETA, noise=noise, dtype=F64)
    y = expectation(circuit, make_cost("Y0", 1), THETA, noise=noise, dtype=F64)
    np.testing.assert_allclose(z.numpy(), 1 - (1 - gamma) * ((1 - lam) * (1 - c) + lam), atol=1e-14)
    np.testing.assert_allclose(y.numpy(), -(1 - lam) * math.sqrt(1 - gamma) * np.sin(THETA[:, 0]), atol=1e-14)


def test_two_qubit_depolarising_shrinks_bell_correlations_by_one_minus_lambda():
    lam = 0.4
    bell = Circuit(2, (Op("H", (0,)), Op("CNOT", (0, 1))), 0)
    noise = NoiseModel(depolarizing_2q=lam)
    for letters, ideal in (("ZZ", 1), ("XX", 1), ("YY", -1), ("ZI", 0)):
        observable = zero_pauli(2, letters.replace("I", ""))
        value = expectation(bell, observable, np.zeros((1, 0)), noise=noise, dtype=F64)
        np.testing.assert_allclose(value.numpy(), [(1 - lam) * ideal], atol=1e-14)


@pytest.mark.parametrize("noise", [NoiseModel(0.1, 0.2, 0.15), NoiseModel(4 / 3, 16 / 15, 1.0)])
def test_density_matrices_stay_hermitian_normalised_and_positive(noise):
    circuit = build("mcclean", 3, 4)
    theta, choices = draw(circuit, 10, seed=2)
    rho = density_matrices(circuit, theta, choices, noise, dtype=F64)
    torch.testing.assert_close(rho, rho.conj().transpose(1, 2), rtol=0, atol=1e-13)
    np.testing.assert_allclose(torch.diagonal(rho, dim1=1, dim2=2).sum(1).numpy(), 1, atol=1e-13)
    assert torch.linalg.eigvalsh(rho).min() > -1e-13


def test_product_circuit_signal_decays_by_one_minus_lambda_per_layer_and_pauli_factor():
    """rx_product: each wire's L rotations are each followed by a depolariser, which commutes with
    them, so a weight-w Pauli string keeps (1 − λ)^(wL) of its noiseless value, sample by sample."""
    lam = 0.1
    observable = make_cost("Z0Z1", 3)
    for depth in range(1, 6):
        circuit = build("rx_product", 3, depth)
        theta, choices = draw(circuit, 5, seed=depth)
        noisy = expectation(circuit, observable, theta, choices, NoiseModel(lam), dtype=F64)
        ideal = engine.expectation(circuit, observable, theta, choices, dtype=F64)
        np.testing.assert_allclose(noisy.numpy(), (1 - lam) ** (2 * depth) * ideal.numpy(), rtol=1e-10, atol=1e-15)


def test_entangling_circuit_signal_decays_by_the_same_factor_every_layer():
    """HEA with qubit 0's RY angles in {0, π}: Z0 (the CNOT ladder's first control) goes through
    each layer as ±Z0, picking up (1 − λ₁)² from qubit 0's two gates and (1 − λ₂) from CNOT(0, 1),
    whatever the other angles: the ratio of successive depths is that constant."""
    lam1, lam2, n = 0.05, 0.1, 4
    rng = np.random.default_rng(5)
    observable = make_cost("Z0", n)
    values = []
    for depth in range(1, 6):
        circuit = build("hea", n, depth)
        theta, choices = draw(circuit, 6, seed=depth)
        theta[:, 0 :: 2 * n] = math.pi * rng.integers(0, 2, size=(6, depth))  # RY on qubit 0
        noisy = expectation(circuit, observable, theta, choices, NoiseModel(lam1, lam2), dtype=F64)
        values.append(np.abs(noisy.numpy()))
    ratios = np.array(values[1:]) / np.array(values[:-1])
    np.testing.assert_allclose(ratios, (1 - lam1) ** 2 * (1 - lam2), rtol=1e-10)


def test_unital_noise_bounds_cost_and_gradient_by_an_exponential_in_depth():
    """Wang et al. 2021: under local depolarising noise every HEA layer applies at least
    (1 − λ)² to each non-identity Pauli component of ρ, and unitaries keep their norm, so
    ‖ρ − I/d‖_F ≤ (1 − λ)^(2L) √(1 − 1/d); hence |⟨Z0⟩| and, by the shift rule, |∂⟨Z0⟩/∂θ|
    are at most √(d − 1)(1 − λ)^(2L)."""
    lam, n = 0.1, 3
    d = 2**n
    observable = make_cost("Z0", n)
    for depth in (1, 3, 6):
        circuit = build("hea", n, depth)
        theta, choices = draw(circuit, 20, seed=depth)
        envelope = (1 - lam) ** (2 * depth)
        rho = density_matrices(circuit, theta, choices, NoiseModel(lam, lam), dtype=F64)
        spread = (rho - torch.eye(d, dtype=rho.dtype) / d).flatten(1).norm(dim=1)
        assert spread.max() <= envelope * math.sqrt(1 - 1 / d)
        theta_t = torch.tensor(theta, requires_grad=True)
        expectation(circuit, observable, theta_t, choices, NoiseModel(lam, lam), dtype=F64).sum().backward()
        assert theta_t.grad.abs().max() <= envelope * math.sqrt(d - 1)


def test_autograd_gradient_equals_the_shift_rule_under_noise():
    """The noise does not depend on θ, so ⟨O⟩ stays a first-order trigonometric polynomial in each
    single-gate angle and the two-term shift rule is exact for noisy circuits too."""
    circuit = build("hea", 3, 2)
    theta, choices = draw(circuit, 4, seed=11)
    observable = make_cost("0.7*Z0Z1 - 0.2*X2", 3)
    noise = NoiseModel(0.05, 0.08, 0.06)
    theta_t = torch.tensor(theta, requires_grad=True)
    expectation(circuit, observable, theta_t, choices, noise, dtype=F64).sum().backward()
    n_rot = len(engine.compile_circuit(circuit).plan.rotations)
    for slot in (0, 5, circuit.n_params - 1):
        gate = engine.compile_circuit(circuit).plan.rot_pos[circuit.param_gates(slot)[0]]
        shift = torch.zeros(len(theta), n_rot, dtype=torch.float64)
        shift[:, gate] = math.pi / 2
        plus = expectation(circuit, observable, theta, choices, noise, dtype=F64, offsets=shift)
        minus = expectation(circuit, observable, theta, choices, noise, dtype=F64, offsets=-shift)
        np.testing.assert_allclose(theta_t.grad[:, slot].numpy(), ((plus - minus) / 2).numpy(), atol=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_equals_cpu():
    circuit = build("mcclean", 4, 3)
    theta, choices = draw(circuit, 16, seed=4)
    observable = make_cost("local", 4)
    noise = NoiseModel(0.02, 0.04, 0.03)
    cpu = expectation(circuit, observable, theta, choices, noise, dtype=F64)
    cuda = expectation(circuit, observable, theta, choices, noise, "cuda", F64)
    np.testing.assert_allclose(cuda.cpu().numpy(), cpu.numpy(), atol=1e-12)


def test_noise_strengths_outside_the_physical_range_are_refused():
    with pytest.raises(ValueError, match="depolarizing_1q = 1.5 is outside"):
        NoiseModel(depolarizing_1q=1.5)
    with pytest.raises(ValueError, match="amplitude_damping = -0.1"):
        NoiseModel(amplitude_damping=-0.1)


def test_aer_noise_model_covers_the_basis_gates_and_refuses_others():
    model = aer_noise_model(NoiseModel(0.01, 0.02, 0.03), basis_gates=["sx", "rz", "ecr"])
    assert set(model.noise_instructions) == {"sx", "rz", "ecr"}
    assert set(aer_noise_model(NoiseModel(depolarizing_2q=0.1)).noise_instructions) == {"cx", "cz"}
    with pytest.raises(ValueError, match="'ccx'"):
        aer_noise_model(NoiseModel(0.01), basis_gates=["ccx"])
