"""Lower a :class:`Plan` to a kernel program over a moving physical wire layout.

``pos[w]`` is the bit position (0 = most significant) at which logical wire ``w`` currently
sits.  A gate whose wire has a short contiguous run (half-stride below ``HALF_MIN``) is preceded
by a rotation by ``n // 2`` positions when that lengthens the run; diagonals and permutations are
expressed in the physical bit positions of the layout they meet, and a last rotation restores
the logical layout.

No table over the 2^n basis states is built (the plan's memory is independent of the state's):

* a CZ product is its sign (−1)^(Σ x_a x_b), evaluated as the parity of ⊕_d (x ∧ (x ≫ d) ∧ m_d)
  with one (shift d, mask m_d) term per distinct distance between paired bits;
* a CNOT product is a GF(2)-linear map of the index bits, x ↦ Mx, evaluated by four 256-entry
  lookup tables, one per byte of the index (n ≤ 32).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qnnscope.sim.kernels import BLOCK, CROSS_MAX, DIAG, GATE, PERM, PHASE, ROTATE, sign_table
from qnnscope.sim.plan import Diagonal, OneQubit, Permutation, Plan, wire_mask

HALF_MIN = 64
"""Shortest contiguous run (amplitudes) a gate may meet before a rotation is inserted; for large
n it grows to 2^(n − n//2 − 1), so that each orientation serves half the wires on long runs."""


@dataclass
class Program:
    """Kernel program plus, per single-qubit plan step, its coefficient column, the row that
    applies it and the physical wire it meets there."""

    rows: np.ndarray  # (R, 3) int64
    dterms: np.ndarray  # (K, 2) int64: (shift, mask) terms of the CZ rows
    ddesc: np.ndarray  # (D, 4 + CROSS_MAX) int64: per CZ row (first term, count, table offset, cross bits,
    # positions); per PHASE row (term count, each term's physical bit mask)
    dsign: np.ndarray  # float64: the CZ rows' block tables (kernels.sign_table), one after another
    ptables: np.ndarray  # (P, 4, 256) int64: byte tables of the CNOT rows and of their inverses
    column: dict[int, int]
    gate_row: dict[int, int]
    phys_wire: dict[int, int]
    phase_row: list[int]  # per plan group (Plan.groups): its PHASE row
    phase_masks: list[list[int]]  # per plan group: its terms' physical bit masks there


MAX_QUBITS = 32
"""Four byte tables cover the index."""


def sign_terms(pairs, bit: dict[int, int]) -> list[tuple[int, int]]:
    """(shift d, mask m) terms with parity(⊕ x ∧ (x ≫ d) ∧ m) = Σ x_a x_b over CZ ``pairs``;
    ``bit[w]`` is wire w's bit position counted from the least significant bit.  A repeated
    pair cancels (masks combine by XOR)."""
    masks: dict[int, int] = {}
    for a, b in pairs:
        lo, hi = sorted((bit[a], bit[b]))
        masks[hi - lo] = masks.get(hi - lo, 0) ^ (1 << lo)
    return [(d, m) for d, m in sorted(masks.items()) if m]


def byte_tables(cnots, bit: dict[int, int]) -> np.ndarray:
    """(4, 256) tables with perm(x) = ⊕_k T[k][(x ≫ 8k) ∧ 255] for the CNOTs (control, target)
    in application order: perm = f₁∘…∘f_k, f(x) = x ⊕ x_c·e_t, is linear over GF(2)."""
    def apply(x: int) -> int:
        for c, t in reversed(cnots):
            x ^= ((x >> bit[c]) & 1) << bit[t]
        return x

    columns = [apply(1 << j) for j in range(MAX_QUBITS)]
    tables = np.zeros((4, 256), dtype=np.int64)
    for k in range(4):
        for v in range(1, 256):
            low = v & -v  # the table for v is the table for v without its lowest bit, plus that bit's column
            tables[k, v] = tables[k, v ^ low] ^ columns[8 * k + low.bit_length() - 1]
    return tables


def lower(plan: Plan, rotate_layout: bool = True) -> Program:
    """Lower ``plan`` (see module docstring).  Consecutive single-qubit steps act on distinct
    wires and commute, so within such a run the gates with long runs go first and the rest
    after one rotation; ``rotate_layout=False`` keeps the logical layout throughout (for the
    lane kernel).  A CZ row is (DIAG, descriptor, 0), a CNOT row (PERM, table, table of the
    inverse), a group of Z-string rotations (PHASE, descriptor, first of its two coefficient
    columns, after the single-qubit steps' columns)."""
    n = plan.circuit.n_qubits
    if n > MAX_QUBITS:
        raise ValueError(f"the CPU kernel takes at most {MAX_QUBITS} qubits, got {n}")
    k_rot = n // 2 if rotate_layout else 0
    pos = list(range(n))
    rows: list[tuple[int, int, int]] = []
    dterms: list[tuple[int, int]] = []
    descs: list[np.ndarray] = []
    signs: list[np.ndarray] = []
    n_signs = 0
    tables: list[np.ndarray] = []
    column = {k: j for j, k in enumerate(k for k, s in enumerate(plan.steps) if isinstance(s, OneQubit))}
    gate_row: dict[int, int] = {}
    phys_wire: dict[int, int] = {}
    phase_row: list[int] = []
    phase_masks: list[list[int]] = []
    groups_of: dict[int, list[int]] = {}
    for j, (k, _) in enumerate(plan.groups):
        groups_of.setdefault(k, []).append(j)
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
    diag_rows: dict[tuple, int] = {}  # (layout, pairs) -> descriptor
    perm_rows: dict[tuple, tuple[int, int]] = {}  # (layout, cnots) -> (table, inverse table)

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
        bit = {w: n - 1 - p for w, p in enumerate(pos)}
        if isinstance(step, Diagonal):
            for j in groups_of.get(k, []):
                masks = [wire_mask(plan.circuit.ops[t].wires, bit) for t in plan.groups[j][1]]
                phase_row.append(len(rows))
                phase_masks.append(masks)
                rows.append((PHASE, len(descs), len(column) + 2 * j))
                descs.append(np.array([len(masks), *masks] + [0] * (3 + CROSS_MAX - len(masks))))
            if not step.pairs:
                continue
            key = (tuple(pos), step.pairs)
            if key not in diag_rows:
                terms = sign_terms(step.pairs, bit)
                start = len(dterms)
                dterms.extend(terms)
                cross, positions, table = sign_table(np.asarray(terms, dtype=np.int64).reshape(-1, 2), 0, len(terms),
                                                     min(BLOCK, 2**n))
                diag_rows[key] = len(descs)
                descs.append(np.concatenate([[start, len(terms), n_signs, cross], positions]))
                signs.append(table)
                n_signs += len(table)
            rows.append((DIAG, diag_rows[key], 0))
        else:
            assert isinstance(step, Permutation)
            key = (tuple(pos), step.cnots)
            if key not in perm_rows:
                perm_rows[key] = (len(tables), len(tables) + 1)
                tables += [byte_tables(step.cnots, bit), byte_tables(step.inverse().cnots, bit)]
            rows.append((PERM, *perm_rows[key]))
    flush()
    if shift:
        rotate(n - shift)
    return Program(
        rows=np.asarray(rows, dtype=np.int64).reshape(-1, 3),
        dterms=np.asarray(dterms, dtype=np.int64).reshape(-1, 2),
        ddesc=np.asarray(descs, dtype=np.int64).reshape(-1, 4 + CROSS_MAX),
        dsign=np.concatenate(signs) if signs else np.zeros(0),
        ptables=np.asarray(tables, dtype=np.int64).reshape(-1, 4, 256),
        column=column,
        gate_row=gate_row,
        phys_wire=phys_wire,
        phase_row=phase_row,
        phase_masks=phase_masks,
    )

