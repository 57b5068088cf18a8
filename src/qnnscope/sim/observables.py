"""Observables in the engine's form: O = Σ_m D_m ⊙ ψ[i ⊕ m] grouped by X-flip mask m.

A Pauli string is a flip mask (its X and Y wires) times a per-basis-state phase (Z and Y signs,
and i per Y); terms with the same mask share one gather, so a diagonal observable (Z strings,
the |0…0⟩ projector, constants) is a single real vector.
"""

from __future__ import annotations

import numpy as np

from qnnscope.costs import Observable


def observable_groups(obs: Observable) -> dict[int, np.ndarray]:
    """Map flip mask → vector D_m such that (Oψ)[i] = Σ_m D_m[i] ψ[i ⊕ m]: real (float64) unless
    a term's phase is complex.  A string with flip mask m (X and Y wires), sign mask z (Z and Y
    wires) and k Y's has D[i] = c · (−i)^k · (−1)^popcount(i ∧ z), from ⟨i|Y|i ⊕ 1⟩ = −i, +i
    for row bit 0, 1; one pass per term, no table of bits."""
    n = obs.n_qubits
    dim = 2**n
    index = np.arange(dim, dtype=np.int64)
    groups: dict[int, np.ndarray] = {0: np.full(dim, float(obs.constant))}
    if obs.projector_coeff:
        groups[0][0] += obs.projector_coeff
    for coeff, string in obs.terms:
        flip = signs = 0
        for wire, letter in string:
            bit = 1 << (n - 1 - wire)
            flip |= bit if letter in "XY" else 0
            signs |= bit if letter in "YZ" else 0
        phase = complex(coeff) * (-1j) ** sum(letter == "Y" for _, letter in string)
        term = 1.0 - 2.0 * (np.bitwise_count(index & signs) & 1) if signs else np.ones(dim)
        value = phase.real if phase.imag == 0 else phase
        if flip not in groups:
            groups[flip] = term * value
        elif np.iscomplexobj(value) and not np.iscomplexobj(groups[flip]):
            groups[flip] = groups[flip] + term * value
        else:
            groups[flip] += term * value
    return groups
