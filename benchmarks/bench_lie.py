"""Cost of the dynamical Lie algebra (qnnscope.lie) against the qubit count, and PennyLane's
``qml.lie_closure`` on the same generators.

For every (circuit, n): the time of :func:`qnnscope.lie.dynamical_lie_algebra` from the circuit
(generators pushed through the fixed gates, closure, centre and ideals, classification; the
analysis cache cleared before each run), the DLA's dimension and type, and whether it was
enumerated or classified (above ``qnnscope.lie.CLOSURE_CAP`` elements: irreducible Pauli algebras
are su/so/sp by their invariant form, found over GF(2)).  PennyLane's ``qml.lie_closure`` (Pauli
representation) gets the same pushed generators where the algebra has at most ``--pl-max``
elements; its dimension is checked against ours.  Cells are medians of ``--repeats`` runs, one
thread; a PennyLane cell of one run (it is slow) says so.

    .venv/bin/python benchmarks/bench_lie.py --repeats 3
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_gradients import _limit_threads  # noqa: E402

POLYNOMIAL = ("rx_product", "qaoa_ring", "hva_tfim_open", "matchgate")
EXPONENTIAL = ("alternating", "hea")


def _pl_generators(pushed):
    from pennylane.pauli import PauliSentence, PauliWord

    from qnnscope import lie

    out = []
    for g in lie.generators(pushed):
        terms = {}
        for k, c in zip(g.keys, g.coeffs):
            word = lie.word_of(int(k), pushed.n)
            terms[PauliWord({w: p for w, p in enumerate(word) if p != "I"})] = float(c)
        out.append(PauliSentence(terms))
    return out


def _time(fn, repeats):
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2], result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=[3, 4, 5, 6, 7, 8, 10, 12, 16])
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pl-max", type=int, default=300, help="largest DLA given to qml.lie_closure")
    args = parser.parse_args()
    _limit_threads(1)
    from qnnscope import lie
    from qnnscope.circuits.ansatze import build

    print(f"load average before: {os.getloadavg()[0]:.2f}; closure cap {lie.CLOSURE_CAP} elements")
    print("| circuit | n | DLA | dim | how | qnnscope (s) | qml.lie_closure (s) | PennyLane / qnnscope |")
    print("|---|---|---|---|---|---|---|---|")
    for name in POLYNOMIAL + EXPONENTIAL:
        for n in args.qubits:
            circuit = build(name, n, args.depth)

            def ours():
                lie._analyse.cache_clear()
                return lie.dynamical_lie_algebra(circuit)

            t_ours, dla = _time(ours, args.repeats)
            how = "enumerated" if dla.enumerated else "classified"
            pl_cell, ratio = "—", "—"
            if dla.dim is not None and dla.dim <= args.pl_max:
                import pennylane as qml

                gens = _pl_generators(lie.push(circuit))
                reps = args.repeats if dla.dim <= 100 else 1
                t_pl, closed = _time(lambda: qml.lie_closure(gens, pauli=True), reps)
                if len(closed) != dla.dim:
                    raise SystemExit(f"{name} n={n}: PennyLane finds dim {len(closed)}, qnnscope {dla.dim}")
                pl_cell = f"{t_pl:.4f}" + ("" if reps > 1 else " (1 run)")
                ratio = f"{t_pl / t_ours:.1f}"
            dim = "?" if dla.dim is None else str(dla.dim)
            print(f"| {name} | {n} | {dla.label} | {dim} | {how} | {t_ours:.4f} | {pl_cell} | {ratio} |", flush=True)
            if dla.dim is None or t_ours > 60:
                break
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
