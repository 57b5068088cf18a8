"""User circuits and the two-qubit rotations on the engine, against the fastest peers.

Two tables, each cell the median of ``--repeats`` timed runs after one untimed warm-up call
(compilation and imports never counted), one thread per process:

1. **User circuit vs built-in.**  The hardware-efficient ansatz built in (``hea``), the same
   circuit read from an OpenQASM 3 file (qiskit's loader) and from a Python builder returning a
   qiskit ``QuantumCircuit``: engine time of the first-parameter gradient (McClean's
   measurement) and of the all-parameter gradient (adjoint), and the ratio user / built-in.  The
   three must give identical gradients (checked first, 1e-12 in complex128).
2. **Two-qubit rotations.**  A brickwork of RXX·RYY·RZZ on neighbouring pairs (own slot each)
   and RY on every wire, ``depth`` layers, local cost: the all-parameter gradient on the engine
   (adjoint, complex64) vs PennyLane ``lightning.qubit`` (adjoint, native IsingXX/YY/ZZ,
   complex64, one QNode call per sample) and qiskit-aer (statevector, single precision,
   parameter shift on its native rxx/ryy/rzz, all shifted circuits in one ``run``).  Every
   implementation is first checked against the engine (1e-4: the peers run in single
   precision).  The peers loop over samples, so they are timed on ``--peer-samples`` draws and
   scaled linearly to S (said in the table).

    .venv/bin/python benchmarks/bench_circuits.py --qubits 4 8 12 --samples 64 --out results/bench/circuits
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_gradients import _limit_threads, _median_time  # noqa: E402


def brickwork(n: int, depth: int):
    """RY on every wire, then RXX, RYY, RZZ on pairs (0,1),(2,3),… then (1,2),(3,4),…, per layer."""
    from qnnscope.circuits import Circuit, Op

    ops, slot = [], 0
    for _ in range(depth):
        for w in range(n):
            ops.append(Op("RY", (w,), param=slot))
            slot += 1
        for start in (0, 1):
            for a in range(start, n - 1, 2):
                for gate in ("RXX", "RYY", "RZZ"):
                    ops.append(Op(gate, (a, a + 1), param=slot))
                    slot += 1
    return Circuit(n, tuple(ops), slot, name="brickwork")


def _hea_qiskit(n: int, depth: int):
    """The built-in HEA written in qiskit, one Parameter per slot in gate order."""
    from qiskit import QuantumCircuit
    from qiskit.circuit import ParameterVector

    theta = ParameterVector("theta", 2 * n * depth)
    qc, k = QuantumCircuit(n), 0
    for _ in range(depth):
        for w in range(n):
            qc.ry(theta[k], w)
            qc.rz(theta[k + 1], w)
            k += 2
        for w in range(n - 1):
            qc.cx(w, w + 1)
    return qc


def user_circuits(n: int, depth: int, folder: Path) -> dict:
    """The built-in HEA, its OpenQASM 3 file and its qiskit builder, as qnnscope circuits."""
    from qiskit import qasm3

    from qnnscope.circuits import build
    from qnnscope.circuits.importers import load

    qasm = folder / f"hea_{n}_{depth}.qasm"
    qasm.write_text(qasm3.dumps(_hea_qiskit(n, depth)))
    builder = folder / "hea_builder.py"
    builder.write_text(
        "from qiskit import QuantumCircuit\nfrom qiskit.circuit import ParameterVector\n\n\n"
        "def build(n, depth):\n"
        "    theta = ParameterVector('theta', 2 * n * depth)\n"
        "    qc, k = QuantumCircuit(n), 0\n"
        "    for _ in range(depth):\n"
        "        for w in range(n):\n"
        "            qc.ry(theta[k], w)\n            qc.rz(theta[k + 1], w)\n            k += 2\n"
        "        for w in range(n - 1):\n            qc.cx(w, w + 1)\n"
        "    return qc\n"
    )
    return {
        "built-in": build("hea", n, depth),
        "qasm": load(str(qasm), n, depth),
        "builder": load(f"{builder}:build", n, depth),
    }


def lightning(circuit, observable, theta):
    """PennyLane lightning.qubit, adjoint, complex64, native gates, a QNode call per sample."""
    from qnnscope.backends import get_backend

    backend = get_backend("lightning", diff_method="adjoint")
    params = list(range(circuit.n_params))
    return lambda: backend.evaluate(circuit, observable, theta, _no_choices(theta), params, "complex64")[1]


def aer_native(circuit, observable, theta):
    """qiskit-aer statevector, single precision, parameter shift on qiskit's own rxx/ryy/rzz:
    every shifted circuit bound from one parameterised template, all in one ``run``."""
    import numpy as np
    from qiskit.circuit import ParameterVector
    from qiskit_aer import AerSimulator

    from qnnscope.backends.qiskit_backend import _pauli_op, to_qiskit

    vec = ParameterVector("a", circuit.n_params)
    template = to_qiskit(circuit, [vec[op.param] for op in circuit.ops], [])
    template.save_expectation_value(_pauli_op(observable), range(circuit.n_qubits))
    sim = AerSimulator(method="statevector", precision="single", max_parallel_threads=1)
    P = circuit.n_params

    def run():
        rows = [theta[s] + shift for s in range(len(theta)) for shift in
                [np.zeros(P)] + [sign * np.pi / 2 * np.eye(P)[k] for k in range(P) for sign in (1, -1)]]
        bound = [template.assign_parameters(row) for row in rows]
        result = sim.run(bound).result()
        values = np.array([result.data(i)["expectation_value"] for i in range(len(rows))]).reshape(len(theta), -1)
        return (values[:, 1::2] - values[:, 2::2]) / 2

    return run


def _no_choices(theta):
    import numpy as np

    return np.zeros((len(theta), 0), dtype=np.int64)


def table_user(qubits, depth_factor, samples, repeats, folder) -> list[str]:
    import numpy as np

    from qnnscope.backends import get_backend
    from qnnscope.costs import make_cost

    lines = ["| n | depth | measurement | built-in (s) | QASM file (s) | builder (s) | QASM / built-in | builder / built-in |",
             "|---|---|---|---|---|---|---|---|"]
    for n in qubits:
        depth = depth_factor * n
        circuits = user_circuits(n, depth, folder)
        observable = make_cost("local", n)
        theta = np.random.default_rng(n).uniform(0, 2 * np.pi, (samples, circuits["built-in"].n_params))
        for label, method, params in (("first parameter", "auto", [0]),
                                      ("all parameters", "adjoint", list(range(theta.shape[1])))):
            backend = get_backend("torch", method=method)
            ref = backend.evaluate(circuits["built-in"], observable, theta[:4], _no_choices(theta[:4]), params, "complex128")
            times = {}
            for name, circuit in circuits.items():
                got = backend.evaluate(circuit, observable, theta[:4], _no_choices(theta[:4]), params, "complex128")
                assert np.abs(got[1] - ref[1]).max() < 1e-12, f"{name} differs from the built-in"
                times[name] = _median_time(lambda c=circuit: backend.evaluate(
                    c, observable, theta, _no_choices(theta), params, "complex64"), repeats)
            base = times["built-in"]
            lines.append(f"| {n} | {depth} | {label} | {base:.4f} | {times['qasm']:.4f} | {times['builder']:.4f} | "
                         f"{times['qasm'] / base:.3f} | {times['builder'] / base:.3f} |")
            print(lines[-1], flush=True)
    return lines


def table_rotations(qubits, depth, samples, repeats, peers, peer_samples) -> list[str]:
    import numpy as np

    from qnnscope.backends import get_backend
    from qnnscope.costs import make_cost

    lines = ["| n | params | engine (s) | " + " | ".join(f"{p} (s)" for p in peers)
             + " | fastest peer / engine |", "|---|---|---|" + "---|" * len(peers) + "---|"]
    for n in qubits:
        circuit, observable = brickwork(n, depth), make_cost("local", n)
        theta = np.random.default_rng(n).uniform(0, 2 * np.pi, (samples, circuit.n_params))
        params = list(range(circuit.n_params))
        engine = get_backend("torch", method="adjoint")
        ref = engine.evaluate(circuit, observable, theta[:2], _no_choices(theta[:2]), params, "complex128")[1]
        runs = {"engine": lambda: engine.evaluate(circuit, observable, theta, _no_choices(theta), params, "complex64")}
        makers = {"lightning": lightning, "aer": aer_native}
        subset = min(samples, peer_samples)
        for p in peers:
            check = makers[p](circuit, observable, theta[:2])()
            assert np.abs(np.asarray(check) - ref).max() < 1e-4, f"{p} disagrees with the engine"
            runs[p] = makers[p](circuit, observable, theta[:subset])
        times = {name: _median_time(fn, repeats) for name, fn in runs.items()}
        for p in peers:  # peers loop over samples: their time scales linearly from the subset
            times[p] *= samples / subset
        fastest = min(times[p] for p in peers)
        lines.append(f"| {n} | {circuit.n_params} | {times['engine']:.4f} | "
                     + " | ".join(f"{times[p]:.4f}" for p in peers) + f" | {fastest / times['engine']:.1f}× |")
        print(lines[-1], flush=True)
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--qubits", type=int, nargs="+", default=[4, 8, 12])
    p.add_argument("--depth-factor", type=int, default=2, help="table 1: HEA depth = factor × n")
    p.add_argument("--depth", type=int, default=4, help="table 2: brickwork layers")
    p.add_argument("--samples", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--peers", nargs="+", default=["lightning", "aer"], choices=["lightning", "aer"])
    p.add_argument("--peer-samples", type=int, default=8,
                   help="table 2: peers are timed on this many samples and scaled linearly to --samples")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None, help="write <out>.md with both tables")
    args = p.parse_args(argv)
    _limit_threads(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    load = os.getloadavg()
    header = [f"# Circuits benchmark ({time.strftime('%Y-%m-%d %H:%M')}, {args.threads} thread(s), "
              f"S = {args.samples}, median of {args.repeats}, load average before {load[0]:.2f})", ""]
    with tempfile.TemporaryDirectory() as folder:
        print("\n".join(header))
        first = table_user(args.qubits, args.depth_factor, args.samples, args.repeats, Path(folder))
    second = table_rotations(args.qubits, args.depth, args.samples, args.repeats, args.peers, args.peer_samples)
    text = "\n".join(header + ["## User circuit vs built-in (HEA, local cost, complex64)", ""] + first
                     + ["", f"## Two-qubit rotations: all-parameter gradient, brickwork depth {args.depth}", "",
                        f"Peer columns are timed on {min(args.samples, args.peer_samples)} samples and scaled "
                        f"linearly to S = {args.samples}; the engine column is timed on all S.", ""] + second
                     + ["", f"load average after: {os.getloadavg()[0]:.2f}"])
    print(text.split("\n")[-1])
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(f"{args.out}.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
