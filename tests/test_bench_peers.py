"""The benchmark peers compute the engine's numbers (benchmarks/peers.py, bench_allparam.py).

Each first-parameter peer must give the engine's ∂⟨Z0Z1⟩/∂θ_{1,1} of the McClean ansatz, and each
all-parameter column the complex128 engine's cost and full gradient of ``hea``; a peer whose
library is not installed (qulacs, qsim and qibojit are not test dependencies) is skipped.
"""

import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import bench_allparam  # noqa: E402
import bench_gradients  # noqa: E402
import peers  # noqa: E402

peers.THREADS = 1


@pytest.mark.parametrize("name", ["qulacs", "qsim", "qibojit", "lightning"])
def test_first_parameter_peer_matches_engine(name):
    why = peers.unavailable(name)
    if why:
        pytest.skip(why)
    engine, reason = bench_gradients.engine_peer()
    assert engine is not None, reason
    n, depth = 3, 4
    theta, choices = bench_gradients.draw(7, n, depth, 4)
    want = np.asarray(engine(n, depth, theta, choices), dtype=float)
    got = np.asarray(peers.PEERS[name].fn(n, depth, theta, choices), dtype=float)
    assert np.abs(want).max() > 1e-2  # a real gradient, not a vanishing one
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_mcclean_gates_put_slot_zero_at_gate_n():
    n, depth = 3, 2
    gates = peers.mcclean_gates(n, depth, np.arange(n * depth) + 10.0, [0, 1, 2, 2, 1, 0])
    assert len(gates) == n + depth * (2 * n - 1)
    assert gates[:n] == [("RY", (j,), np.pi / 4) for j in range(n)]
    assert gates[n] == ("RX", (0,), 10.0)  # slot 0
    assert gates[2 * n : 3 * n - 1] == [("CZ", (0, 1), None), ("CZ", (1, 2), None)]
    assert gates[n + (2 * n - 1)] == ("RZ", (0,), 13.0)  # slot 3: layer 1, qubit 0


@pytest.mark.parametrize("name", ["lightning", "qulacs"])
def test_all_parameter_column_matches_complex128_engine(name):
    cols = bench_allparam.columns()
    why = peers.unavailable(name, cols)
    if why:
        pytest.skip(why)
    n = 3
    _, _, theta = bench_allparam.problem(n, 3, 11)  # asserts hea_gates is the engine's circuit
    ok, checks = bench_allparam.check_row(n, theta, {name: cols[name]})
    (_, dev, tol, _), = checks
    assert ok and dev <= tol, f"{name}: max |Δ| {dev:.1e} > {tol:.0e}"
    costs, grads = cols[name].fn(n, n, theta, bench_allparam.no_choices(theta))
    assert grads.shape == (3, 2 * n * n) and np.abs(grads).max() > 1e-2
    assert np.all((costs >= 0) & (costs <= 1))  # the local cost lies in [0, 1]


def test_time_cell_records_cpu_over_wall():
    def idle(n, depth, theta, choices):
        time.sleep(0.02 * len(theta))

    theta = np.zeros((4, 1))
    cell = bench_gradients.start_cell(bench_gradients.Cell(2, "idle", "none"))
    bench_gradients.time_cell(idle, 2, 1, theta, theta, False, 3, 10.0, cell, min_pilot=0.05)
    assert cell.repeats == 3 and cell.timed_samples == 4
    assert 0.0 <= cell.cpu_ratio < 0.3  # sleeping costs wall time, not CPU time
    assert cell.load_start >= 0.0


def test_missing_library_is_reported_not_raised():
    fake = {"ghost": peers.Peer(lambda *a: None, "complex64", "", requires=("no_such_module_xyz",),
                                missing="not in the bench extra: test")}
    why = peers.unavailable("ghost", fake)
    assert "no_such_module_xyz" in why and why.endswith("not in the bench extra: test")
