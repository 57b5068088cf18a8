"""Benchmark dissipative-QNN simulation: samples per second against PennyLane ``default.mixed``.

Network: widths n → n → n with ``deep`` perceptrons (hardware-efficient, ``--depth`` layers),
input |0…0⟩, global cost 1 − ⟨0…0|ρ_out|0…0⟩.  Both simulators get the same perceptron unitaries
(from :meth:`DQNN.unitaries`); PennyLane applies them as ``qml.QubitUnitary`` on fresh wires per
layer (3n wires) and returns the output density matrix.  The engine also times cost + gradient
of every parameter (autograd).  Cells whose estimate exceeds ``--budget`` seconds run on a subset
of samples and are scaled (marked ``*``).

    .venv/bin/python benchmarks/bench_dqnn.py --qubits 1 2 3 4 --samples 200
"""

from __future__ import annotations

import argparse
import os
import time

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "2")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from qnnscope.models.dqnn import DQNN, draw, global_cost, run  # noqa: E402


def engine_forward(net, theta, zero, target):
    with torch.no_grad():
        return global_cost(run(net, theta, zero), target)


def engine_gradient(net, theta, zero, target):
    theta = theta.clone().requires_grad_(True)
    global_cost(run(net, theta, zero), target).sum().backward()
    return theta.grad


def pennylane_forward(net, mats, samples):
    import pennylane as qml

    wires = sum(net.widths)
    dev = qml.device("default.mixed", wires=wires)
    first = [sum(net.widths[:l]) for l in range(len(net.widths))]

    @qml.qnode(dev)
    def circuit(s):
        for l, row in enumerate(net.layers, start=1):
            for j, p in enumerate(row):
                ws = [first[l - 1] + i for i in p.inputs] + [first[l] + j]
                qml.QubitUnitary(mats[l - 1][j][s].numpy(), wires=ws)
        return qml.expval(qml.Projector([0] * net.widths[-1], wires=list(range(first[-1], wires))))

    return np.array([1 - circuit(s) for s in range(samples)])


def timed(fn, *args, repeats=1):
    best = float("inf")
    out = None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - start)
    return best, out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--qubits", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--budget", type=float, default=120.0)
    args = ap.parse_args(argv)
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    rows = []
    for n in args.qubits:
        net = DQNN((n, n, n), "deep", depth=args.depth)
        theta = torch.tensor(draw(net, args.samples, seed=n))
        zero = torch.zeros(1, 2**n, dtype=torch.complex128)
        zero[0, 0] = 1
        t_fwd, cost = timed(engine_forward, net, theta, zero, zero, repeats=3)
        t_grad, _ = timed(engine_gradient, net, theta, zero, zero, repeats=3)
        mats = net.unitaries(theta)
        probe = 2
        t_probe, _ = timed(pennylane_forward, net, mats, probe)
        subset = args.samples if t_probe / probe * args.samples <= args.budget else max(probe, int(args.budget / (t_probe / probe)))
        t_pl, pl_cost = timed(pennylane_forward, net, mats, subset)
        assert np.allclose(pl_cost, cost[:subset].numpy(), atol=1e-10), "engine and default.mixed disagree"
        t_pl *= args.samples / subset
        rows.append((n, net.choose_mode(), args.samples / t_fwd, args.samples / t_grad, args.samples / t_pl, t_pl / t_fwd,
                     "*" if subset < args.samples else ""))
    print(f"deep perceptrons (depth {args.depth}), widths n-n-n, {args.samples} samples, "
          f"{os.environ['OMP_NUM_THREADS']} threads; samples per second")
    print(f"{'n':>3} {'mode':>8} {'engine':>12} {'engine+grad':>12} {'default.mixed':>14} {'ratio':>8}")
    for n, mode, f, g, p, ratio, mark in rows:
        print(f"{n:>3} {mode:>8} {f:>12.1f} {g:>12.1f} {p:>13.2f}{mark:1} {ratio:>8.0f}")


if __name__ == "__main__":
    main()
