"""The full gate set: every gate the description allows (Pauli rotations about any word,
controlled rotations, CY/SWAP/ISWAP, T/TDG, fixed one- and two-qubit unitaries, affine slots
shared by several gates) gives the same costs and all-parameter gradients on the engine (every
gradient method, complex128, CPU kernel and torch path, lane and rotated layouts), PennyLane
(its own gates) and qiskit-aer (its own gates for costs), to 1e-10; the engine's rewriting into
primitive gates equals each gate's matrix written out."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy.linalg import expm
from scipy.stats import unitary_group

from qnnscope.backends import get_backend
from qnnscope.circuits import Circuit, Op
from qnnscope.circuits.description import GATES, Op as _Op
from qnnscope.circuits.lowering import dense_unitary, to_primitives
from qnnscope.costs import Observable
from qnnscope.sim import engine

ATOL = 1e-10
PAULI = {"I": np.eye(2), "X": np.array([[0, 1], [1, 0]]), "Y": np.array([[0, -1j], [1j, 0]]),
         "Z": np.diag([1.0, -1.0])}


def _unitary(dim: int, seed: int) -> tuple[complex, ...]:
    return tuple(unitary_group.rvs(dim, random_state=seed).reshape(-1).tolist())


def one_of_each(n: int) -> Circuit:
    """Every non-primitive gate once (on scattered wires of ``n`` ≥ 3), some sharing slots with
    affine expressions, between RY/RX layers that make the state generic."""
    a, b, c = 0, n - 1, n // 2
    ops = [Op("RY", (w,), param=0, scale=0.3 + 0.1 * w, offset=0.05 * w) for w in range(n)]
    ops += [
        Op("RXX", (a, b), param=1), Op("RYY", (b, c), param=2, scale=2.0, offset=0.3),
        Op("RZZ", (c, a), param=1, scale=-0.5), Op("RZX", (a, c), param=3),
        Op("PAULIROT", (b, a, c), param=4, pauli="YIX"), Op("PAULIROT", (c, b), angle=0.7, pauli="XZ"),
        Op("CRX", (b, a), param=5), Op("CRY", (a, c), param=6, scale=-0.7, offset=1.0), Op("CRZ", (c, a), param=7),
        Op("CY", (c, b)), Op("SWAP", (a, b)), Op("ISWAP", (b, c)), Op("T", (c,)), Op("TDG", (a,)),
        Op("UNITARY", (b, a), matrix=_unitary(4, 3)), Op("UNITARY", (c,), matrix=_unitary(2, 4)),
        Op("RX", (b,), param=8), Op("RYY", (a, b), angle=-1.1), Op("CRZ", (a, b), angle=0.4),
    ]
    ops += [Op("RX", (w,), param=9) for w in range(n)]
    return Circuit(n, tuple(ops), 10, name="one_of_each")


OBSERVABLE = {3: Observable(3, ((0.7, ((0, "X"), (2, "Y"))), (1.0, ((1, "Z"),))), 0.1, 0.5)}


def local_pauli_sum(n: int) -> Observable:
    """0.1 + 0.5·|0…0⟩⟨0…0| + Σ_j (0.3 + 0.1 j) X_j Z_{j+1} − 0.2 Z_0 Y_{n−1}: every group kind."""
    terms = tuple((0.3 + 0.1 * j, ((j, "X"), (j + 1, "Z"))) for j in range(n - 1))
    return Observable(n, terms + ((-0.2, ((0, "Z"), (n - 1, "Y"))),), 0.1, 0.5)


def draws(circuit: Circuit, samples: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 2 * np.pi, (samples, circuit.n_params)), np.zeros((samples, 0), dtype=np.int64)


def test_every_gate_is_covered():
    names = {op.gate for op in one_of_each(3).ops}
    assert set(GATES) - names == {"RP", "RZ", "H", "X", "Y", "Z", "S", "SDG", "CZ", "CNOT"}  # the primitives


def test_rewriting_equals_matrices_written_out():
    """Each gate's own matrix (expm of its generator, the controlled block, the fixed matrices) vs
    the engine's primitive rewriting, as dense unitaries up to a global phase."""
    circuit = one_of_each(4)
    lowered = to_primitives(circuit)
    assert {op.gate for op in lowered.ops} <= {"RX", "RY", "RZ", "H", "S", "SDG", "T", "TDG", "CNOT", "UNITARY"}
    theta, _ = draws(circuit, 1)
    for op in circuit.ops:
        if op.param is None:
            single, row = Circuit(4, (op,), 0), ()
        else:
            single, row = Circuit(4, (replace(op, param=0),), 1), theta[0, [op.param]]
        expected = dense_unitary(single, row)
        actual = dense_unitary(to_primitives(single), row)
        k = np.argmax(np.abs(expected))
        phase = actual.flat[k] / expected.flat[k]
        assert abs(abs(phase) - 1) < 1e-12, op.gate
        np.testing.assert_allclose(actual, phase * expected, atol=1e-12, err_msg=op.gate)


def test_pauli_rotation_generator_written_out():
    """exp(−iθ P/2) for P = Y⊗I⊗X on wires (2, 0, 1), built independently with kron and expm."""
    theta = 0.83
    op = Op("PAULIROT", (2, 0, 1), angle=theta, pauli="YIX")
    p = np.kron(np.kron(PAULI["I"], PAULI["X"]), PAULI["Y"])  # wire 0: I, wire 1: X, wire 2: Y
    np.testing.assert_allclose(dense_unitary(Circuit(3, (op,), 0), ()), expm(-0.5j * theta * p), atol=1e-12)
    state = engine.states(Circuit(3, (op,), 0), np.zeros((1, 0)), dtype="complex128")[0].numpy()
    np.testing.assert_allclose(state, expm(-0.5j * theta * p)[:, 0], atol=1e-12)


@pytest.mark.parametrize("method", ["adjoint", "tangent", "param-shift", "autograd"])
def test_engine_methods_agree_with_pennylane_and_aer(method):
    circuit, observable = one_of_each(3), OBSERVABLE[3]
    theta, choices = draws(circuit)
    params = list(range(circuit.n_params))
    ref = get_backend("pennylane").evaluate(circuit, observable, theta, choices, params, "complex128")
    aer = get_backend("qiskit-aer").evaluate(circuit, observable, theta, choices, params, "complex128")
    aer_native = get_backend("qiskit-aer").evaluate(circuit, observable, theta, choices, [], "complex128")
    ours = get_backend("torch", method=method).evaluate(circuit, observable, theta, choices, params, "complex128")
    for name, (costs, grads) in {"engine": ours, "aer": aer}.items():
        np.testing.assert_allclose(costs, ref[0], rtol=0, atol=ATOL, err_msg=name)
        np.testing.assert_allclose(grads, ref[1], rtol=0, atol=ATOL, err_msg=name)
    np.testing.assert_allclose(aer_native[0], ref[0], rtol=0, atol=ATOL)
    assert np.abs(ref[1]).max() > 0.05  # the gradients are not trivially zero


def test_shared_affine_slot_gradient_is_the_chain_rule():
    """One slot driving three gates with angles 2θ − 0.3, −0.5θ and θ + 1: the engine's gradient
    equals a central finite difference of its own cost (1e-7) — the chain rule, summed."""
    ops = (Op("H", (0,)), Op("H", (1,)), Op("RZZ", (0, 1), param=0, scale=2.0, offset=-0.3),
           Op("CRY", (1, 0), param=0, scale=-0.5), Op("RX", (1,), param=0, offset=1.0))
    circuit = Circuit(2, ops, 1)
    obs = Observable(2, ((1.0, ((0, "X"),)), (0.4, ((0, "Z"), (1, "Y")))))
    theta = np.array([[0.37], [2.1]])
    _, grads = engine.adjoint(circuit, obs, theta, dtype="complex128")
    h = 1e-5
    fd = (engine.expectation(circuit, obs, theta + h, dtype="complex128")
          - engine.expectation(circuit, obs, theta - h, dtype="complex128")) / (2 * h)
    np.testing.assert_allclose(grads[:, 0].numpy(), fd.numpy(), atol=1e-8)


@pytest.mark.parametrize("n", [5, 10])
def test_kernel_layouts_equal_torch_path(n):
    """The CPU kernel (lane kernel at n ≤ 8, rotated layouts above) equals the torch path and the
    PennyLane reference, in complex128 and (to 1e-5) complex64."""
    circuit = one_of_each(n)
    theta, choices = draws(circuit, 4, seed=n)
    kernel = engine.states(circuit, theta, dtype="complex128").numpy()
    torch_path = engine.states(circuit, theta, dtype="complex128", kernel=False).numpy()
    np.testing.assert_allclose(kernel, torch_path, atol=ATOL)
    observable = local_pauli_sum(n)
    params = list(range(circuit.n_params))
    costs, grads = get_backend("torch", method="adjoint").evaluate(circuit, observable, theta, choices, params, "complex128")
    if n <= 5:
        ref = get_backend("pennylane").evaluate(circuit, observable, theta, choices, params, "complex128")
        np.testing.assert_allclose(costs, ref[0], atol=ATOL)
        np.testing.assert_allclose(grads, ref[1], atol=ATOL)
    low = get_backend("torch", method="adjoint").evaluate(circuit, observable, theta, choices, params, "complex64")
    np.testing.assert_allclose(low[0], costs, atol=1e-5)
    np.testing.assert_allclose(low[1], grads, atol=1e-5)


def test_noise_channels_follow_the_primitive_gates_on_both_simulators():
    """Under depolarising + damping noise the engine's density matrices and Aer's noise model see
    the same primitive gates (1e-10)."""
    from qnnscope.backends.qiskit_backend import aer_expectation
    from qnnscope.sim.noise import NoiseModel, expectation as noisy_expectation

    circuit, observable = one_of_each(3), OBSERVABLE[3]
    theta, choices = draws(circuit, 2)
    noise = NoiseModel(depolarizing_1q=0.01, depolarizing_2q=0.03, amplitude_damping=0.02)
    ours = noisy_expectation(circuit, observable, theta, choices, noise, dtype="complex128").numpy()
    np.testing.assert_allclose(ours, aer_expectation(circuit, observable, theta, choices, noise), atol=ATOL)


def test_op_checks_name_the_problem():
    with pytest.raises(ValueError, match="PAULIROT needs a Pauli word"):
        Op("PAULIROT", (0, 1), param=0, pauli="XQ")
    with pytest.raises(ValueError, match="not all I"):
        Op("PAULIROT", (0, 1), param=0, pauli="II")
    with pytest.raises(ValueError, match="RZZ acts on 2 wire"):
        Op("RZZ", (0,), param=0)
    with pytest.raises(ValueError, match="not unitary"):
        Op("UNITARY", (0,), matrix=(1, 1, 0, 1))
    with pytest.raises(ValueError, match="scale must be finite"):
        Op("RX", (0,), param=0, scale=math.inf)
    with pytest.raises(ValueError, match="distinct wires"):
        Op("SWAP", (1, 1))
    with pytest.raises(ValueError, match="unknown gate 'FOO'"):
        _Op("FOO", (0,))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_equals_cpu_on_every_gate():
    circuit, observable = one_of_each(5), local_pauli_sum(5)
    theta, _ = draws(circuit)
    cpu = engine.adjoint(circuit, observable, theta, device="cpu", dtype="complex128")
    cuda = engine.adjoint(circuit, observable, theta, device="cuda", dtype="complex128")
    for a, b in zip(cpu, cuda):
        np.testing.assert_allclose(a.numpy(), b.cpu().numpy(), atol=ATOL)
