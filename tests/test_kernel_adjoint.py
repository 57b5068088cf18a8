"""The CPU kernel's all-parameter gradient (adjoint sweep in the compiled kernel) against every
reference method (torch adjoint, parameter shift, forward-mode tangents, autograd) in complex128
to 1e-10, on every ansatz and family, every cost kind and n = 1…8; against PennyLane lightning on
random circuits; and the plan's memory: no table over the 2^n basis states."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch

from qnnscope.backends import get_backend
from qnnscope.circuits import Circuit, Op, build
from qnnscope.circuits.ansatze import LAYERED
from qnnscope.circuits.families import FAMILIES
from qnnscope.costs import make_cost
from qnnscope.sampling import draw
from qnnscope.sim import engine
from qnnscope.sim.kernels import _permute, _sign
from qnnscope.sim.layout import byte_tables, lower, sign_terms
from qnnscope.sim.plan import Diagonal, Permutation, compile_plan

ATOL = 1e-10
COSTS = ("global", "local", "0.3*Z0 - 0.7*X0Y{last} + Y{last}", "tfim:g=0.7")


def _cost(spec: str, n: int):
    if spec.startswith("tfim") and n < 2:
        return make_cost("global", n)
    return make_cost(spec.format(last=n - 1) if n > 1 else "0.3*Z0 - 0.7*X0", n)


def _check_all_methods(circuit, observable, samples=3, seed=0):
    theta, choices = draw(circuit, samples, seed=seed)
    params = list(range(circuit.n_params))
    costs, grads = engine.adjoint(circuit, observable, theta, choices, dtype="complex128")
    ref_c, ref_g = engine.adjoint(circuit, observable, theta, choices, dtype="complex128", kernel=False)
    np.testing.assert_allclose(grads.numpy(), ref_g.numpy(), rtol=0, atol=ATOL)
    np.testing.assert_allclose(costs.numpy(), ref_c.numpy(), rtol=0, atol=ATOL)
    for method in (engine.param_shift, engine.tangent):
        c, g = method(circuit, observable, theta, choices, params, dtype="complex128")
        np.testing.assert_allclose(g.numpy(), grads.numpy(), rtol=0, atol=ATOL)
        np.testing.assert_allclose(c.numpy(), costs.numpy(), rtol=0, atol=ATOL)
    t = torch.tensor(theta, requires_grad=True)
    engine.expectation(circuit, observable, t, choices, dtype="complex128").sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), grads.numpy(), rtol=0, atol=ATOL)
    return grads


@pytest.mark.parametrize("name", LAYERED)
@pytest.mark.parametrize("n", range(1, 9))
def test_kernel_adjoint_equals_every_method_on_the_ansatze(name, n):
    for k, spec in enumerate(COSTS):
        circuit = build(name, n, 2, identity_block=1 if k == 1 else 0)
        grads = _check_all_methods(circuit, _cost(spec, n), seed=10 * n + k)
        if spec == "local" and name != "rx_product":
            assert np.abs(grads.numpy()).max() > 1e-3  # not trivially zero


@pytest.mark.parametrize("name", sorted(FAMILIES))
@pytest.mark.parametrize("n", (2, 4, 6, 8))
def test_kernel_adjoint_equals_every_method_on_the_families(name, n):
    try:
        circuit = build(name, n, 2)
    except ValueError:
        pytest.skip(f"{name} is not defined at n = {n}")
    for k, spec in enumerate(COSTS[1:3]):
        _check_all_methods(circuit, _cost(spec, n), seed=n + k)


def _random_circuit(n: int, length: int, seed: int) -> Circuit:
    """Random gates of every kind the kernel meets (rotations with affine slots, RP, fixed
    one-qubit gates, CZ and CNOT in any order and direction, two-qubit rotations, controlled
    rotations)."""
    rng = np.random.default_rng(seed)
    ops, slots = [], 0
    for _ in range(length):
        kind = rng.integers(8)
        a, b = (int(w) for w in rng.choice(n, 2, replace=False))
        if kind == 0:
            ops.append(Op(str(rng.choice(["RX", "RY", "RZ"])), (a,), param=slots,
                          scale=float(rng.uniform(-2, 2)), offset=float(rng.uniform(-1, 1))))
            slots += 1
        elif kind == 1 and slots:
            ops.append(Op("RY", (a,), param=int(rng.integers(slots))))  # a slot shared with an earlier gate
        elif kind == 2:
            ops.append(Op(str(rng.choice(["H", "S", "T", "X", "SDG"])), (a,)))
        elif kind == 3:
            ops.append(Op("CZ", (a, b)))
        elif kind == 4:
            ops.append(Op("CNOT", (a, b)))
        elif kind == 5:
            ops.append(Op(str(rng.choice(["RXX", "RYY", "RZZ", "RZX"])), (a, b), param=slots))
            slots += 1
        elif kind == 6:
            ops.append(Op(str(rng.choice(["CRX", "CRY", "CRZ"])), (a, b), param=slots))
            slots += 1
        else:
            ops.append(Op("RX", (a,), angle=float(rng.uniform(0, 6))))
    ops.append(Op("RY", (0,), param=slots))
    return Circuit(n, tuple(ops), slots + 1, name=f"random{seed}")


@pytest.mark.parametrize("seed", range(4))
def test_kernel_adjoint_equals_lightning_on_random_circuits(seed):
    pytest.importorskip("pennylane_lightning")
    n = 4 + seed % 3
    circuit = _random_circuit(n, 40, seed)
    observable = make_cost(f"0.4*X0Z{n - 1} + Y1 - 0.2*Z0Z1", n)
    theta, choices = draw(circuit, 3, seed=seed)
    params = list(range(circuit.n_params))
    costs, grads = engine.adjoint(circuit, observable, theta, choices, dtype="complex128")
    ref = get_backend("lightning", diff_method="adjoint").evaluate(circuit, observable, theta, choices, params,
                                                                   "complex128")
    np.testing.assert_allclose(costs.numpy(), ref[0], rtol=0, atol=ATOL)
    np.testing.assert_allclose(grads.numpy(), ref[1], rtol=0, atol=ATOL)
    assert np.abs(ref[1]).max() > 1e-2


@pytest.mark.parametrize("n", (9, 13))
def test_kernel_adjoint_on_random_circuits_in_rotated_layouts(n):
    """Above the lane size the kernel rotates the layout: CZ signs and CNOT tables are then
    evaluated in the rotated bit positions, on both states of the sweep."""
    _check_all_methods(_random_circuit(n, 60, n), make_cost(f"Z0X{n - 1} + 0.5*Y3", n), samples=2, seed=n)


def test_sign_terms_and_byte_tables_equal_the_plan_vectors_in_any_layout():
    rng = np.random.default_rng(5)
    n = 11
    for trial in range(20):
        pairs = tuple(tuple(int(w) for w in rng.choice(n, 2, replace=False)) for _ in range(rng.integers(1, 12)))
        pairs += pairs[:2]  # CZ·CZ = I must cancel
        layout = rng.permutation(n)
        bit = {w: int(layout[w]) for w in range(n)}  # wire w at physical bit bit[w] (from the LSB)
        physical = np.zeros(2**n, dtype=np.int64)  # physical index of every logical index
        for w in range(n):
            physical |= ((np.arange(2**n) >> (n - 1 - w)) & 1) << bit[w]
        terms = np.asarray(sign_terms(pairs, bit), dtype=np.int64).reshape(-1, 2)
        signs = np.array([_sign(int(x), terms, 0, len(terms)) for x in physical])
        np.testing.assert_array_equal(signs, Diagonal(pairs).vector(n))
        step = Permutation(pairs)
        r = rng.normal(size=2**n)
        out_r, out_i = np.empty(2**n), np.empty(2**n)
        phys_r = np.empty(2**n)
        phys_r[physical] = r
        _permute(phys_r, phys_r.copy(), out_r, out_i, byte_tables(step.cnots, bit))
        np.testing.assert_array_equal(out_r[physical], r[step.perm(n)])


def test_plan_and_kernel_program_hold_no_table_over_the_basis_states():
    """At n = 26 a (2^n × n) int64 table would be 14 GB and one vector over the basis states
    512 MB; compiling the plan and the kernel program allocates far less than one such vector."""
    circuit = build("hea", 26, 3)
    tracemalloc.start()
    program = lower(compile_plan(circuit))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4 * 2**20
    size = sum(a.nbytes for a in (program.rows, program.dterms, program.ddesc, program.dsign, program.ptables))
    assert size < 2**20
    # the validation estimate lets an n = 26 job run on a 24 GiB machine (tables would add 28 GB)
    assert engine.peak_bytes(26, 1) < 6 * 2**30


@pytest.mark.parametrize("kind, entangler", [("vqc", "ring"), ("dressed", "cnot"), ("vqc", "cz")])
def test_hybrid_layer_backward_by_the_kernel_sweep_equals_autograd(kind, entangler):
    """The quantum layer's ⟨Z_q⟩ outputs differentiated by the kernel's sweep (λ = Σ_q g_q Z_q ψ)
    equal autograd through the torch path, for the inputs φ and the weights; a second derivative
    (Hessians of the landscape study) goes through the torch path."""
    from qnnscope.models.hybrid import QuantumLayer

    torch.manual_seed(0)
    layer = QuantumLayer(kind, 4, 3, entangler, "complex128").double()
    phi = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(5, 4, dtype=torch.float64)
    (layer(phi) * upstream).sum().backward()
    kernel = phi.grad.clone(), layer.weights.grad.clone()
    phi.grad, layer.weights.grad = None, None
    theta = torch.cat([phi, layer.weights.expand(5, -1)], 1)
    (layer.torch_z(theta) * upstream).sum().backward()
    np.testing.assert_allclose(kernel[0].numpy(), phi.grad.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(kernel[1].numpy(), layer.weights.grad.numpy(), rtol=0, atol=1e-12)
    assert kernel[1].abs().max() > 1e-3

    def second(z_fn):
        (g,) = torch.autograd.grad((z_fn() * upstream).sum(), layer.weights, create_graph=True)
        return torch.autograd.grad(g.square().sum(), layer.weights)[0]

    h = second(lambda: layer(phi))
    h_ref = second(lambda: layer.torch_z(torch.cat([phi, layer.weights.expand(5, -1)], 1)))
    np.testing.assert_allclose(h.numpy(), h_ref.numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("straddling", [1, 3, 5, 7])
def test_cz_signs_by_block_tables_and_by_index_equal_the_plan_vector(straddling):
    """The kernel's CZ signs over blocks of 1024 states: up to CROSS_MAX high bits paired with
    low bits by tables, beyond that state by state; both equal the plan's sign vector."""
    from qnnscope.sim.kernels import BLOCK, CROSS_MAX, _cz_signs, sign_table

    n, rng = 17, np.random.default_rng(straddling)
    low = n - 10  # wires 7…16 sit in the low 10 bits of the logical layout
    pairs = tuple((int(rng.integers(low)), int(rng.integers(low, n))) for _ in range(straddling))
    pairs += tuple(tuple(int(w) for w in rng.choice(n, 2, replace=False)) for _ in range(6))
    bit = {w: n - 1 - w for w in range(n)}
    terms = np.asarray(sign_terms(pairs, bit), dtype=np.int64).reshape(-1, 2)
    r, i = np.ones(2**n), np.full(2**n, 2.0)
    cross, positions, table = sign_table(terms, 0, len(terms), BLOCK)
    paired = {bit[a] for a, b in pairs for a, b in [sorted((a, b), key=bit.get, reverse=True)] if bit[a] >= 10 > bit[b]}
    assert cross == (len(paired) if len(paired) <= CROSS_MAX else -1)
    _cz_signs(r, i, terms, np.concatenate([[0, len(terms), 0, cross], positions]), table)
    expected = Diagonal(pairs).vector(n)
    np.testing.assert_array_equal(r, expected)
    np.testing.assert_array_equal(i, 2 * expected)
