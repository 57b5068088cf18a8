"""Benchmark a 2D loss-landscape scan: qnnscope's batched scan against point-by-point peers.

Circuit ``hea`` (per layer RY then RZ on every qubit, then a CNOT ladder 0→1, …, n−2→n−1; slot
2j + 2n·layer is RY on wire j, the next slot RZ on wire j; R_P(θ) = exp(−iθP/2)), local cost
1 − (1/n) Σ_j p_j(0), centre uniform on [0, 2π) (``numpy.random.default_rng(seed)``), two random
directions with the periodic normalisation (every component ±1; seeds ``seed + 1``, ``seed + 2``),
grid α, β ∈ [−π, π] with ``--resolution`` points per axis.

- qnnscope: ``landscapes.scan`` (cost and adjoint gradient of every grid point, as batches) and
  the cost alone (``Objective.cost`` under ``torch.no_grad``), in complex64 and complex128;
- PennyLane ``lightning.qubit`` (complex128), one QNode call per grid point: the cost, and cost +
  gradient (``diff_method="adjoint"``, ``qml.grad``);
- orqviz ``scans.perform_2D_scan`` with the lightning cost as its loss function (it, too, calls
  the loss once per grid point); skipped with a note when orqviz does not import;
- PennyLane ``default.qubit`` (complex128), cost only, on ``--dq-points`` grid points, scaled to
  the whole grid (marked ``*``).

Before timing, all implementations are checked against the engine in complex128 on a few grid
points (costs to 1e-10, gradients to 1e-8); the script stops if they disagree.  Timing uses
``time.perf_counter`` after one warm-up call (8 grid points for the engine, one for the peers);
a qnnscope cell is the median of ``--repeats`` runs (one run when they would exceed
``--budget`` seconds), a peer runs once.  Torch, OpenMP and BLAS get ``OMP_NUM_THREADS``
threads (2 unless set).

    .venv/bin/python benchmarks/bench_landscape.py                     # 12 qubits, depth 12, 51×51
    .venv/bin/python benchmarks/bench_landscape.py --quick             # 11×11, a smoke run
"""

from __future__ import annotations

import argparse
import os
import platform
import time

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "2")

import numpy as np
import torch

from qnnscope import landscapes
from qnnscope.circuits import build
from qnnscope.costs import make_cost

COST_TOL = 1e-10
GRAD_TOL = 1e-8


def problem(n: int, depth: int, resolution: int, seed: int):
    """The engine objective's inputs and the grid: circuit, observable, centre (P,), directions
    (2, P), axis (R,) and every grid point's parameters (R², P), first index along direction 0."""
    circuit, observable = build("hea", n, depth), make_cost("local", n)
    obj = landscapes.vqc_objective(circuit, observable, dtype="complex128")
    centre = np.random.default_rng(seed).uniform(0, 2 * np.pi, circuit.n_params)
    dirs = np.stack([landscapes.random_direction(obj, seed + k) for k in (1, 2)])
    axis = np.linspace(-np.pi, np.pi, resolution)
    a, b = np.meshgrid(axis, axis, indexing="ij")
    theta = centre + np.stack([a.ravel(), b.ravel()], axis=1) @ dirs
    return circuit, observable, centre, dirs, axis, theta


def pennylane_cost(device: str, n: int, depth: int, diff_method):
    """The same circuit and cost as a PennyLane function θ (P,) → C(θ); wire 0 is the most
    significant qubit in both simulators."""
    import pennylane as qml

    dev = qml.device(device, wires=n)
    h = qml.dot([-0.5 / n] * n, [qml.Z(j) for j in range(n)])

    @qml.qnode(dev, diff_method=diff_method)
    def expval(theta):
        for layer in range(depth):
            base = 2 * n * layer
            for j in range(n):
                qml.RY(theta[base + 2 * j], wires=j)
                qml.RZ(theta[base + 2 * j + 1], wires=j)
            for j in range(n - 1):
                qml.CNOT(wires=[j, j + 1])
        return qml.expval(h)

    def cost(theta):
        return 0.5 + expval(theta)

    return cost


def cost_loop(cost, theta) -> np.ndarray:
    """orqviz-style: the loss of every grid point, one call each."""
    return np.array([float(cost(t)) for t in theta])


def grad_loop(cost, theta) -> tuple[np.ndarray, np.ndarray]:
    """Cost and adjoint gradient of every grid point, one ``qml.grad`` call each."""
    import pennylane as qml
    from pennylane import numpy as pnp

    grad = qml.grad(cost)
    costs, grads = np.empty(len(theta)), np.empty(theta.shape)
    for i, t in enumerate(theta):
        grads[i] = grad(pnp.array(t, requires_grad=True))
        costs[i] = float(grad.forward)
    return costs, grads


def orqviz_scan(cost, centre, dirs, axis) -> np.ndarray:
    """orqviz's 2D scan over the same grid; its values are indexed (β, α), returned as (α, β)."""
    from orqviz.scans import perform_2D_scan

    res = perform_2D_scan(centre, lambda p: float(cost(p)), direction_x=dirs[0], direction_y=dirs[1],
                          n_steps_x=len(axis), end_points_x=(axis[0], axis[-1]))
    return res.values.T


def engine_cost(obj, theta) -> np.ndarray:
    with torch.no_grad():
        return obj.cost(torch.as_tensor(theta)).double().numpy()


def timed(fn, *args, repeats: int = 1, budget: float = float("inf")):
    """Median seconds of up to ``repeats`` calls (after the caller's warm-up), fewer when the
    first call shows that all of them would take longer than ``budget`` seconds; and the last
    result."""
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - start)
        if times[0] * repeats > budget:
            break
    return float(np.median(times)), out


def check(circuit, observable, theta, n, depth, samples: int, have_orqviz: bool, centre, dirs, axis) -> None:
    """Every implementation against the engine in complex128 on ``samples`` grid points."""
    idx = np.linspace(0, len(theta) - 1, samples).round().astype(int)
    obj = landscapes.vqc_objective(circuit, observable, dtype="complex128")
    ref_c, ref_g = obj.evaluate(theta[idx])
    ref_cost = engine_cost(obj, theta[idx])
    light = pennylane_cost("lightning.qubit", n, depth, "adjoint")
    lc, lg = grad_loop(light, theta[idx])
    found = {
        "engine cost vs adjoint cost": np.abs(ref_cost - ref_c).max(),
        "lightning cost": np.abs(cost_loop(light, theta[idx]) - ref_c).max(),
        "lightning adjoint cost": np.abs(lc - ref_c).max(),
        "default.qubit cost": np.abs(cost_loop(pennylane_cost("default.qubit", n, depth, None), theta[idx]) - ref_c).max(),
    }
    grad_diff = np.abs(lg - ref_g).max()
    if have_orqviz:
        small = axis[:: max(1, (len(axis) - 1) // 4)]
        mesh = np.stack([m.ravel() for m in np.meshgrid(small, small, indexing="ij")], axis=1)
        found["orqviz 2D scan"] = np.abs(orqviz_scan(light, centre, dirs, small).ravel()
                                         - obj.evaluate(centre + mesh @ dirs)[0]).max()
    obj64 = landscapes.vqc_objective(circuit, observable, dtype="complex64")
    c64, g64 = obj64.evaluate(theta[idx])
    print(f"check on {samples} grid points, engine complex128 as reference (max |difference|):")
    for name, diff in found.items():
        print(f"  {name:<28} {diff:.1e}")
    print(f"  {'lightning adjoint gradient':<28} {grad_diff:.1e}")
    print(f"  {'engine complex64 cost, grad':<28} {np.abs(c64 - ref_c).max():.1e}, {np.abs(g64 - ref_g).max():.1e} (not asserted)")
    bad = [k for k, v in found.items() if not v <= COST_TOL] + (["gradient"] if not grad_diff <= GRAD_TOL else [])
    if bad:
        raise SystemExit(f"implementations disagree: {', '.join(bad)}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--qubits", type=int, default=12)
    ap.add_argument("--depth", type=int, default=12)
    ap.add_argument("--resolution", type=int, default=51, help="grid points per axis")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each qnnscope cell (median); peers run once")
    ap.add_argument("--budget", type=float, default=60.0, help="seconds a qnnscope cell's repeats may take (else one run)")
    ap.add_argument("--dq-points", type=int, default=100, help="grid points default.qubit evaluates (scaled to the grid)")
    ap.add_argument("--check-points", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="an 11×11 grid, 20 default.qubit points, 1 repeat")
    args = ap.parse_args(argv)
    if args.quick:
        args.resolution, args.dq_points, args.repeats = 11, 20, 1
    threads = int(os.environ["OMP_NUM_THREADS"])
    torch.set_num_threads(threads)
    n, depth = args.qubits, args.depth
    load0 = os.getloadavg()
    circuit, observable, centre, dirs, axis, theta = problem(n, depth, args.resolution, args.seed)
    points = len(theta)
    try:
        import orqviz  # noqa: F401
        have_orqviz = True
    except ImportError as err:
        have_orqviz = False
        print(f"orqviz not importable ({err}); its perform_2D_scan calls the loss once per grid point, "
              "which is what the lightning cost loop times")
    check(circuit, observable, theta, n, depth, args.check_points, have_orqviz, centre, dirs, axis)

    rows = []  # (method, kind, dtype, points timed, seconds for the grid, scaled); warm-up: 8 points (engine), 1 (peers)
    ref = {}
    for dtype in ("complex64", "complex128"):
        obj = landscapes.vqc_objective(circuit, observable, dtype=dtype)
        obj.evaluate(theta[:8])
        sec, _ = timed(landscapes.scan, obj, centre, dirs, [axis, axis], repeats=args.repeats, budget=args.budget)
        ref["grad", dtype] = sec
        rows.append(("qnnscope `scan`", "grad", dtype, points, sec, False))
        engine_cost(obj, theta[:8])
        sec, _ = timed(engine_cost, obj, theta, repeats=args.repeats, budget=args.budget)
        ref["cost", dtype] = sec
        rows.append(("qnnscope `Objective.cost`", "cost", dtype, points, sec, False))

    light = pennylane_cost("lightning.qubit", n, depth, "adjoint")
    cost_loop(light, theta[:1])
    grad_loop(light, theta[:1])
    sec, _ = timed(cost_loop, light, theta)
    rows.append(("lightning.qubit loop", "cost", "complex128", points, sec, False))
    sec, _ = timed(grad_loop, light, theta)
    rows.append(("lightning.qubit loop, adjoint", "grad", "complex128", points, sec, False))
    if have_orqviz:
        sec, _ = timed(orqviz_scan, light, centre, dirs, axis)
        rows.append(("orqviz `perform_2D_scan` (lightning)", "cost", "complex128", points, sec, False))
    dq = pennylane_cost("default.qubit", n, depth, None)
    sub = theta[np.linspace(0, points - 1, min(args.dq_points, points)).round().astype(int)]
    cost_loop(dq, sub[:1])
    sec, _ = timed(cost_loop, dq, sub)
    rows.append(("default.qubit loop", "cost", "complex128", len(sub), sec * points / len(sub), len(sub) < points))

    load1 = os.getloadavg()
    import pennylane as qml

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"\nhea n={n} depth={depth} ({circuit.n_params} parameters), local cost, {args.resolution}×{args.resolution} = "
          f"{points} grid points, seed {args.seed}; {cpu}, {os.cpu_count()} CPUs, {threads} threads; "
          f"load average {load0[0]:.2f} at start, {load1[0]:.2f} at end; torch {torch.__version__}, "
          f"pennylane {qml.__version__}")
    print("`grad` = cost and gradient of every parameter at every point; `cost` = cost only. "
          "Ratios: seconds over qnnscope's seconds for the same kind (cost or grad) in complex64 / complex128; "
          "> 1 means qnnscope is faster.\n")
    print("| method | kind | dtype | points | seconds | points/s | ÷ qnnscope c64 | ÷ qnnscope c128 |")
    print("|---|---|---|---|---|---|---|---|")
    for method, kind, dtype, timed_points, sec, scaled in rows:
        mark = "*" if scaled else ""
        pts = f"{timed_points} of {points}" if scaled else f"{points}"
        print(f"| {method} | {kind} | {dtype} | {pts} | {sec:.3g}{mark} | {points / sec:.4g} | "
              f"{sec / ref[kind, 'complex64']:.3g} | {sec / ref[kind, 'complex128']:.3g} |")
    if any(r[5] for r in rows):
        print("\n`*` timed on the points listed (evenly spread over the grid) and scaled linearly to the whole grid.")


if __name__ == "__main__":
    main()
