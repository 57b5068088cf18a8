"""Diagonal Z-string rotations in the engine's plan (issue 17): RZZ, Pauli-string rotations and
controlled rotations compile to phases of one Diagonal step (no CNOT permutations), applied by
the CPU kernel (one-sample and lane variants, rotated layouts) and the torch path.

Oracles: the dense unitary of the original gates (:func:`dense_unitary`) for states; for
gradients, the kernel adjoint, the torch adjoint, tangents and autograd against parameter shift,
all to 1e−10 in complex128; the noise models keep their CNOT-form primitives."""

import numpy as np
import pytest
import torch

from qnnscope.circuits import families
from qnnscope.circuits.description import Circuit, Op
from qnnscope.circuits.lowering import dense_unitary, to_primitives
from qnnscope.costs import make_cost
from qnnscope.sim import engine
from qnnscope.sim.plan import Diagonal, Permutation, compile_plan

GATES = ["RZZ", "RXX", "RYY", "RZX", "CRZ", "CRX", "CRY"]


def random_circuit(n: int, seed: int, layers: int = 3) -> Circuit:
    """RY layers, random two-qubit rotations with affine angles, a shared Pauli-string slot,
    fixed-angle phases, ISWAP and CZ: every path into a Diagonal step."""
    rng = np.random.default_rng(seed)
    ops, p = [], 0
    for _ in range(layers):
        for w in range(n):
            ops.append(Op("RY", (w,), param=p))
            p += 1
        for w in range(n - 1):
            ops.append(Op(GATES[rng.integers(len(GATES))], (w, w + 1), param=p,
                          scale=float(rng.normal()), offset=float(rng.normal())))
            p += 1
        if n >= 3:
            ops.append(Op("PAULIROT", (0, n - 1, 1), param=0, scale=0.7, offset=0.1, pauli="ZXZ"))
            ops.append(Op("PAULIROT", (0, 2), angle=0.3, pauli="ZZ"))
        if n >= 2:
            ops.append(Op("ISWAP", (0, 1)))
            ops.append(Op("CZ", (0, n - 1)))
    return Circuit(n, tuple(ops), p)


@pytest.mark.parametrize("n", [2, 3, 5, 9, 10])
def test_states_match_the_dense_oracle(n):
    circuit = random_circuit(n, seed=n)
    theta = torch.tensor(np.random.default_rng(1).uniform(0, 2 * np.pi, (5, circuit.n_params)))
    ref = np.stack([dense_unitary(circuit, theta[s].numpy())[:, 0] for s in range(5)])
    for kernel in (True, False):
        got = engine.states(circuit, theta, dtype="complex128", kernel=kernel).numpy()
        assert np.abs(got - ref).max() < 1e-12


@pytest.mark.parametrize("n", [2, 4, 9])
def test_every_gradient_method_agrees(n):
    circuit = random_circuit(n, seed=10 + n)
    theta = torch.tensor(np.random.default_rng(2).uniform(0, 2 * np.pi, (4, circuit.n_params)))
    for cost in ("local", "global"):
        obs = make_cost(cost, n)
        ref_cost, ref = engine.param_shift(circuit, obs, theta, None, list(range(circuit.n_params)), dtype="complex128")
        costs, grads = engine.adjoint(circuit, obs, theta, dtype="complex128")
        assert (costs - ref_cost).abs().max() < 1e-12 and (grads - ref).abs().max() < 1e-10
        _, grads_torch = engine.adjoint(circuit, obs, theta, dtype="complex128", kernel=False)
        assert (grads_torch - ref).abs().max() < 1e-10
        params = [0, n, n + 1, circuit.n_params - 1]
        _, tangents = engine.tangent(circuit, obs, theta, None, params, dtype="complex128")
        assert (tangents - ref[:, params]).abs().max() < 1e-10
        th = theta.clone().requires_grad_(True)
        engine.expectation(circuit, obs, th, dtype="complex128").sum().backward()
        assert (th.grad - ref).abs().max() < 1e-10


def test_a_qaoa_layer_is_one_diagonal_step_without_permutations():
    circuit = families.qaoa_ring(8, 2)
    plan = compile_plan(circuit)
    assert not any(isinstance(s, Permutation) for s in plan.steps)
    diagonals = [s for s in plan.steps if isinstance(s, Diagonal)]
    assert len(diagonals) == 2 and all(len(s.terms) == 8 for s in diagonals)  # every ring edge of a layer
    assert len(plan.groups) == 2 * 3  # 8 terms in groups of up to 3
    # the CNOT form (noise models) keeps its permutations and gives the same unitary
    cnot_form = compile_plan(circuit, phases=False)
    assert sum(isinstance(s, Permutation) for s in cnot_form.steps) > 0
    theta = torch.tensor(np.random.default_rng(3).uniform(0, 2 * np.pi, (3, circuit.n_params)))
    a = engine.states(circuit, theta, dtype="complex128")
    b = engine.states(to_primitives(circuit), theta, dtype="complex128")
    assert (a - b).abs().max() < 1e-12


def test_noisy_parameter_shift_keeps_the_cnot_form_rotation_positions():
    from qnnscope.sim.noise import NoiseModel, expectation as noisy

    circuit = random_circuit(3, seed=7, layers=1)
    obs = make_cost("local", 3)
    theta = torch.tensor(np.random.default_rng(4).uniform(0, 2 * np.pi, (3, circuit.n_params)))
    none = NoiseModel()
    _, grads = engine.param_shift(circuit, obs, theta, None, list(range(circuit.n_params)), dtype="complex128",
                                  expect=lambda *a, **k: noisy(*a, noise=none, **k))
    ref = engine.param_shift(circuit, obs, theta, None, list(range(circuit.n_params)), dtype="complex128")[1]
    assert (grads - ref).abs().max() < 1e-10
