"""Lower a :class:`Plan` to a kernel program over a moving physical wire layout.

``pos[w]`` is the bit position (0 = most significant) at which logical wire ``w`` currently
sits.  A gate whose wire has a short contiguous run (half-stride below ``HALF_MIN``) is preceded
by a rotation by ``n // 2`` positions when that lengthens the run; diagonals and permutations are
re-indexed for the layout they meet, and a last rotation restores the logical layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qnnscope.sim.kernels import DIAG, GATE, PERM, ROTATE
from qnnscope.sim.plan import Diagonal, OneQubit, Plan, _bits

HALF_MIN = 64
"""Shortest contiguous run (amplitudes) a gate may meet before a rotation is inserted; for large
n it grows to 2^(n − n//2 − 1), so that each orientation serves half the wires on long runs."""


@dataclass
class Program:
    """Kernel program plus, per single-qubit plan step, its coefficient column, the row that
    applies it and the physical wire it meets there."""

    rows: np.ndarray  # (R, 3) int64
    diags: np.ndarray  # (n_diag, 2^n) real
    perms: np.ndarray  # (n_perm, 2^n) int64
    column: dict[int, int]
    gate_row: dict[int, int]
    phys_wire: dict[int, int]


def _logical_index(pos: list[int], n: int, bits: np.ndarray) -> np.ndarray:
    """x_of_p: the logical basis index stored at each physical index under layout ``pos``."""
    weights = 1 << (n - 1 - np.arange(n))
    return (bits[:, pos] * weights).sum(1)


def lower(plan: Plan, rotate_layout: bool = True) -> Program:
    """Lower ``plan`` (see module docstring).  Consecutive single-qubit steps act on distinct
    wires and commute, so within such a run the gates with long runs go first and the rest
    after one rotation; ``rotate_layout=False`` keeps the logical layout throughout (for the
    lane kernel).  Diagonals are float64 here, cast by the caller."""
    n = plan.circuit.n_qubits
    k_rot = n // 2 if rotate_layout else 0
    bits = _bits(n)
    pos = list(range(n))
    rows: list[tuple[int, int, int]] = []
    diags: list[np.ndarray] = []
    perms: list[np.ndarray] = []
    column = {k: j for j, k in enumerate(k for k, s in enumerate(plan.steps) if isinstance(s, OneQubit))}
    gate_row: dict[int, int] = {}
    phys_wire: dict[int, int] = {}
    shift = 0

    def rotate(k: int) -> None:
        nonlocal shift
        rows.append((ROTATE, k, 0))
        for w in range(n):
            pos[w] = pos[w] + k if pos[w] < n - k else pos[w] - (n - k)
        shift = (shift + k) % n

    half_min = max(HALF_MIN, 2 ** (n - k_rot - 1))

    def long_run(k: int) -> bool:
        return 2 ** (n - pos[plan.steps[k].wire] - 1) >= half_min

    def emit(k: int) -> None:
        gate_row[k] = len(rows)
        phys_wire[k] = pos[plan.steps[k].wire]
        rows.append((GATE, phys_wire[k], column[k]))

    run: list[int] = []
    diag_rows: dict[tuple, int] = {}  # (layout, diagonal) -> row of ``diags``, shared by repeats

    def flush() -> None:
        pending = list(run)
        run.clear()
        for k in [k for k in pending if long_run(k)]:
            emit(k)
        pending = [k for k in pending if k not in gate_row]
        if pending and k_rot and n - k_rot >= 1:
            rotate(k_rot)
        for k in pending:
            emit(k)

    for k, step in enumerate(plan.steps):
        if isinstance(step, OneQubit):
            run.append(k)
            continue
        flush()
        if isinstance(step, Diagonal):
            key = (tuple(pos), id(step.diag))
            if key not in diag_rows:
                diag_rows[key] = len(diags)
                diags.append(step.diag[_logical_index(pos, n, bits)])
            rows.append((DIAG, diag_rows[key], 0))
        else:
            x_of_p = _logical_index(pos, n, bits)
            p_of_x = np.argsort(x_of_p)
            rows.append((PERM, len(perms), 0))
            perms.append(p_of_x[step.perm[x_of_p]])
    flush()
    if shift:
        rotate(n - shift)
    dim = 2**n
    return Program(
        rows=np.asarray(rows, dtype=np.int64).reshape(-1, 3),
        diags=np.asarray(diags, dtype=np.float64).reshape(-1, dim),
        perms=np.asarray(perms, dtype=np.int64).reshape(-1, dim),
        column=column,
        gate_row=gate_row,
        phys_wire=phys_wire,
    )
