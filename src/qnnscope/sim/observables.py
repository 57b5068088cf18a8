"""Observables in the engine's form: O = Σ_m D_m ⊙ ψ[i ⊕ m] grouped by X-flip mask m.

A Pauli string is a flip mask (its X and Y wires) times a per-basis-state phase (Z and Y signs,
and i per Y); terms with the same mask share one gather, so a diagonal observable (Z strings,
the |0…0⟩ projector, constants) is a single real vector.
"""

from __future__ import annotations

import numpy as np

from qnnscope.costs import Observable
from qnnscope.sim.plan import _bits


def observable_groups(obs: Observable) -> dict[int, np.ndarray]:
    """Map flip mask → complex vector D_m such that (Oψ)[i] = Σ_m D_m[i] ψ[i ⊕ m]."""
    n = obs.n_qubits
    bits = _bits(n)
    dim = 2**n
    groups: dict[int, np.ndarray] = {0: np.full(dim, obs.constant, dtype=np.complex128)}
    if obs.projector_coeff:
        groups[0][0] += obs.projector_coeff
    for coeff, string in obs.terms:
        mask = 0
        phase = np.full(dim, complex(coeff))
        for wire, letter in string:
            bit = bits[:, wire]
            if letter in "XY":
                mask |= 1 << (n - 1 - wire)
            if letter == "Z":
                phase *= 1 - 2 * bit
            elif letter == "Y":  # ⟨i|Y|i⊕1⟩: row bit 0 → −i, row bit 1 → +i
                phase *= 1j * (2 * bit - 1)
        groups.setdefault(mask, np.zeros(dim, dtype=np.complex128))
        groups[mask] = groups[mask] + phase
    return groups
