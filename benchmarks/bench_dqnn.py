"""Benchmark dissipative-QNN simulation: samples per second against PennyLane ``default.mixed``.

Network: widths n → n → n with ``deep`` perceptrons (hardware-efficient, ``--depth`` layers),
input |0…0⟩, global cost 1 − ⟨0…0|ρ_out|0…0⟩.  Both simulators get the same perceptron unitaries
(from :meth:`DQNN.unitaries`); PennyLane applies them as ``qml.QubitUnitary`` on fresh wires per
layer (3n wires) and returns the output density matrix.  The engine also times cost + gradient
of every parameter (autograd).  Cells whose estimate exceeds ``--budget`` seconds run on a subset
of samples and are scaled (marked ``*``).

    .venv/bin/python benchmarks/bench_dqnn.py --qubits 1 2 3 4 --samples 200

``--training``: milliseconds per training step of S = ``--networks`` general 3-3-3 networks with
N = ``--pairs`` pairs each (Beer et al.'s update; cost + gradient), as one batch and one network
at a time.  ``--fig2a``: the job time of config/paper.yaml's ``beer_fig2a`` block (N = 1 … 8,
beer and gradient:Adam, 20 repetitions, 1500 steps, one thread per job as the workflow runs it),
from blocks of 0 and ``--probe`` steps (best of 3 runs each); it only calls
:func:`run_block`, so it also runs against older checkouts of the package (PYTHONPATH).

    .venv/bin/python benchmarks/bench_dqnn.py --training --fig2a
"""

from __future__ import annotations

import argparse
import os
import time

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "2")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from qnnscope import haar  # noqa: E402
from qnnscope.models.dqnn import DQNN, draw, global_cost, run  # noqa: E402
from qnnscope.generalisation import run_block  # noqa: E402


def engine_forward(net, theta, zero, target):
    with torch.no_grad():
        return global_cost(run(net, theta, zero), target)


def engine_gradient(net, theta, inputs, targets, per_sample=1):
    theta = theta.clone().requires_grad_(True)
    global_cost(run(net, theta, inputs), targets, per_sample=per_sample).sum().backward()
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


def training_steps(networks: int, pairs: int, repeats: int = 5) -> None:
    """Milliseconds per Beer step and per cost + gradient of S networks, batched and one at a time."""
    from qnnscope.models.training import beer_step

    net = DQNN((3, 3, 3), "general")
    theta = torch.tensor(draw(net, networks, seed=1))
    x = haar.states(networks * pairs, 8, 2).reshape(networks, pairs, 8)
    y = haar.states(networks * pairs, 8, 3).reshape(networks, pairs, 8)
    mats, alone = net.unitaries(theta), [net.unitaries(theta[s:s + 1]) for s in range(networks)]

    def cost_gradient(t, xs, ys):
        return engine_gradient(net, t, xs.reshape(-1, 8), ys.reshape(-1, 8), pairs)

    rows = [("Beer step", timed(beer_step, net, mats, x, y, repeats=repeats)[0],
             timed(lambda: [beer_step(net, m, x[s], y[s]) for s, m in enumerate(alone)], repeats=repeats)[0]),
            ("cost + gradient", timed(cost_gradient, theta, x, y, repeats=repeats)[0],
             timed(lambda: [cost_gradient(theta[s:s + 1], x[s], y[s]) for s in range(networks)], repeats=repeats)[0])]
    print(f"general 3-3-3 networks, S = {networks} networks of N = {pairs} pairs, {torch.get_num_threads()} threads; "
          "ms per step of all S networks")
    print(f"{'':>16} {'batched':>10} {'one at a time':>14} {'ratio':>6}")
    for name, batched, single in rows:
        print(f"{name:>16} {batched * 1e3:>10.1f} {single * 1e3:>14.1f} {single / batched:>6.1f}")


def fig2a_estimate(probe: int, cores: int = 2, repeats: int = 3) -> None:
    """Job times of the beer_fig2a block: set-up (a block of 0 steps) plus 1500 × the time per
    step (a block of ``probe`` steps less the set-up), each the best of ``repeats`` runs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workflow's dqnn_training jobs run with one thread each
    jobs = {}
    for method in ("beer", "gradient:Adam"):
        for n in range(1, 9):
            setup, total = (timed(run_block, (3, 3, 3), "unitary", n, 10, 20, method, steps, 0.667, 0.1, 0.05, 1,
                                  repeats=repeats)[0] for steps in (0, probe))
            per_step = (total - setup) / probe
            jobs[method, n] = setup + 1500 * per_step
            print(f"{method:>14} N = {n}: {per_step * 1e3:8.1f} ms per step (20 networks), "
                  f"job {jobs[method, n] / 60:6.2f} min", flush=True)
    torch.set_num_threads(threads)
    total = sum(jobs.values())
    print(f"beer_fig2a: {total / 60:.1f} job-minutes; on {cores} cores (one job per core) about "
          f"{max(total / cores, max(jobs.values())) / 60:.1f} min")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--qubits", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--budget", type=float, default=120.0)
    ap.add_argument("--training", action="store_true", help="time training steps instead of simulation")
    ap.add_argument("--networks", type=int, default=20)
    ap.add_argument("--pairs", type=int, default=8)
    ap.add_argument("--fig2a", action="store_true", help="estimate the job time of the beer_fig2a block")
    ap.add_argument("--probe", type=int, default=20)
    args = ap.parse_args(argv)
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    if args.training or args.fig2a:
        if args.training:
            training_steps(args.networks, args.pairs)
        if args.fig2a:
            fig2a_estimate(args.probe)
        return
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
