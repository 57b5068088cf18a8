"""The engine's own guarantees: plan fusion, CPU kernel = torch path, every gradient method
agrees, results independent of chunking, complex64 close to complex128, CUDA = CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qnnscope.circuits import build
from qnnscope.circuits.ansatze import LAYERED
from qnnscope.costs import make_cost
from qnnscope.sampling import draw
from qnnscope.sim import engine
from qnnscope.sim.kernels import GATE, ROTATE
from qnnscope.sim.layout import lower
from qnnscope.sim.plan import Diagonal, OneQubit, Permutation, compile_plan


def kinds(circuit):
    steps = compile_plan(circuit).steps
    return [type(s).__name__ for s in steps]


def test_mcclean_fuses_preamble_and_applies_each_cz_ladder_as_one_diagonal():
    steps = compile_plan(build("mcclean", 4, 3)).steps
    assert [type(s) for s in steps] == ([OneQubit] * 4 + [Diagonal]) * 3
    assert all(len(s.factors) == 2 for s in steps[:4])  # RY(π/4) · R_P(θ) fused
    bits = (np.arange(16)[:, None] >> np.arange(3, -1, -1)) & 1
    ladder = np.prod([1 - 2 * (bits[:, j] & bits[:, j + 1]) for j in range(3)], axis=0)
    np.testing.assert_array_equal(steps[4].vector(4), ladder)


def test_alternating_applies_each_sublayer_of_czs_as_one_diagonal():
    assert kinds(build("alternating", 6, 1)) == ["OneQubit"] * 6 + ["Diagonal"] + ["OneQubit"] * 6 + ["Diagonal"] + ["OneQubit"] * 4


def test_hea_fuses_ry_rz_and_applies_the_cnot_ladder_as_one_permutation():
    steps = compile_plan(build("hea", 5, 2)).steps
    assert [type(s) for s in steps] == ([OneQubit] * 5 + [Permutation]) * 2
    assert all(len(s.factors) == 2 for s in steps if isinstance(s, OneQubit))


def test_layout_rotations_keep_every_gate_on_a_long_run():
    program = lower(compile_plan(build("mcclean", 14, 4)))
    rows = program.rows
    assert (rows[:, 0] == ROTATE).sum() <= 4 + 1  # about one per layer, plus the way back
    n = 14
    for kind, wire, _ in rows:
        if kind == GATE:
            assert 2 ** (n - wire - 1) >= 64


CASES = [(name, n) for name in LAYERED for n in (2, 7, 13) if not (name == "alternating" and n < 2)]


@pytest.mark.parametrize("name, n", CASES)
def test_cpu_kernel_equals_torch_path(name, n):
    circuit = build(name, n, 3)
    theta, choices = draw(circuit, 5, seed=n)
    fast = engine.states(circuit, theta, choices, dtype="complex128")
    reference = engine.states(circuit, theta, choices, dtype="complex128", kernel=False)
    np.testing.assert_allclose(fast.numpy(), reference.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(torch.linalg.vector_norm(fast, dim=1).numpy(), 1, atol=1e-12)


@pytest.mark.parametrize("name", LAYERED)
def test_every_gradient_method_agrees_on_all_parameters(name):
    circuit = build(name, 9, 2, identity_block=1)
    theta, choices = draw(circuit, 3, seed=1)
    observable = make_cost("0.3*Z0Z1 - 0.7*X3Y4 + Z8", 9)
    params = list(range(circuit.n_params))
    costs, adjoint = engine.adjoint(circuit, observable, theta, choices, dtype="complex128")
    for method in (engine.param_shift, engine.tangent):
        c, g = method(circuit, observable, theta, choices, params, dtype="complex128")
        np.testing.assert_allclose(g.numpy(), adjoint.numpy(), rtol=0, atol=1e-10)
        np.testing.assert_allclose(c.numpy(), costs.numpy(), rtol=0, atol=1e-12)
    t = torch.tensor(theta, requires_grad=True)
    engine.expectation(circuit, observable, t, choices, dtype="complex128").sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), adjoint.numpy(), rtol=0, atol=1e-10)


def test_results_do_not_depend_on_the_chunk_size_beyond_rounding(monkeypatch):
    # torch's row reductions may group additions differently for other batch shapes (1 ulp);
    # identical commands are bit-identical (tests/test_cli.py).
    circuit = build("mcclean", 8, 5)
    theta, choices = draw(circuit, 40, seed=3)
    observable = make_cost("Z0Z1", 8)
    whole = engine.tangent(circuit, observable, theta, choices, [0, 17], dtype="complex128")
    monkeypatch.setattr(engine, "CHUNK_BYTES", 3 * 2**8 * 16)  # one sample per chunk
    pieces = engine.tangent(circuit, observable, theta, choices, [0, 17], dtype="complex128")
    for a, b in zip(whole, pieces):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-14)


def test_complex64_matches_complex128_to_single_precision():
    circuit = build("mcclean", 10, 20)
    theta, choices = draw(circuit, 8, seed=4)
    observable = make_cost("Z0Z1", 10)
    c64, g64 = engine.tangent(circuit, observable, theta, choices, [0], dtype="complex64")
    c128, g128 = engine.tangent(circuit, observable, theta, choices, [0], dtype="complex128")
    assert c64.dtype == torch.float32
    # 200 fused gates, each rounding at ~6e-8 relative: errors stay well below 1e-5
    np.testing.assert_allclose(c64.numpy(), c128.numpy(), atol=1e-5)
    np.testing.assert_allclose(g64.numpy(), g128.numpy(), atol=1e-5)


def test_work_estimate_counts_every_gate_pass():
    circuit = build("mcclean", 12, 10)
    rows = lower(compile_plan(circuit)).rows
    work = engine.work_estimate(circuit, n_samples=3, n_evolutions=2)
    amps = 2**12 * 3 * 2
    assert work["flops"] == 16 * amps * 12 * 10
    assert work["bytes"] == 2 * 8 * amps * len(rows)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", LAYERED)
def test_cuda_equals_cpu(name):
    circuit = build(name, 10, 4)
    theta, choices = draw(circuit, 16, seed=9)
    observable = make_cost("local", 10)
    cpu = engine.adjoint(circuit, observable, theta, choices, "cpu", "complex128")
    cuda = engine.adjoint(circuit, observable, theta, choices, "cuda", "complex128")
    for a, b in zip(cpu, cuda):
        np.testing.assert_allclose(b.cpu().numpy(), a.numpy(), rtol=0, atol=1e-10)
    ps = engine.param_shift(circuit, observable, theta, choices, [0, 5], "cuda", "complex128")
    np.testing.assert_allclose(ps[1].cpu().numpy(), cpu[1][:, [0, 5]].numpy(), rtol=0, atol=1e-10)


def test_adjacent_cz_ladders_of_an_identity_block_cancel_in_the_merged_diagonal():
    # layer 0's ladder and its mirror's reversed ladder meet; CZ·CZ = I must survive merging
    steps = compile_plan(build("mcclean", 4, 2, identity_block=1)).steps
    diagonals = [s for s in steps if isinstance(s, Diagonal)]
    assert len(diagonals) == 1
    np.testing.assert_array_equal(diagonals[0].vector(4), np.ones(16))
