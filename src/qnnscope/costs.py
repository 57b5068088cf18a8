"""Cost functions and observables, as backend-neutral descriptions.

An :class:`Observable` is ``constant + Σ_k coeff_k · P_k`` over Pauli strings ``P_k`` plus,
optionally, a multiple of the projector onto |0…0⟩ (the global cost needs it; written as a
Pauli sum it would have 2^n terms).  Named costs:

* ``global``: C_G = 1 − p(0…0) (Cerezo et al. 2021);
* ``local``:  C_L = 1 − (1/n) Σ_j p_j(0) = 1/2 − (1/2n) Σ_j Z_j;
* a Pauli string such as ``Z0Z1`` or ``X0Y2`` (wire index after each letter); ``zz`` is ``Z0Z1``;
* a weighted sum such as ``0.5*Z0Z1 + 0.25*X0 - 1.0*Y1Y2``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NUMBER = r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_TERM = re.compile(rf"\s*([+-])?\s*(?:({_NUMBER})\s*\*\s*)?((?:[XYZ]\d+)+)\s*")
_LETTER = re.compile(r"([XYZ])(\d+)")


@dataclass(frozen=True)
class Observable:
    """constant + Σ coeff·(Pauli string) + projector_coeff·|0…0⟩⟨0…0| on ``n_qubits`` wires.

    A Pauli string is a tuple of (wire, letter) pairs with distinct wires, sorted by wire.
    """

    n_qubits: int
    terms: tuple[tuple[float, tuple[tuple[int, str], ...]], ...] = ()
    constant: float = 0.0
    projector_coeff: float = 0.0
    name: str = "observable"

    @property
    def is_diagonal(self) -> bool:
        """True when every term is a product of Z's (diagonal in the computational basis)."""
        return all(letter == "Z" for _, string in self.terms for _, letter in string)


def _parse_string(text: str, n_qubits: int, key: str, spec: str) -> tuple[tuple[int, str], ...]:
    pairs = [(int(w), letter) for letter, w in _LETTER.findall(text)]
    wires = [w for w, _ in pairs]
    if len(set(wires)) != len(wires):
        raise ValueError(f"{key}: Pauli string {text!r} in {spec!r} repeats a wire")
    for w in wires:
        if w >= n_qubits:
            raise ValueError(
                f"{key}: term {text!r} of {spec!r} acts on wire {w} but the circuit has {n_qubits} qubits "
                f"(wires 0..{n_qubits - 1})"
            )
    return tuple(sorted(pairs))


def make_cost(spec: str, n_qubits: int, key: str = "cost") -> Observable:
    """Parse a cost name (see module docstring) into an :class:`Observable` on ``n_qubits``.

    Errors name ``key`` (the option or config key), the bad value and what is allowed.
    """
    text = spec.strip()
    low = text.lower()
    if low == "global":
        return Observable(n_qubits, constant=1.0, projector_coeff=-1.0, name="global")
    if low == "local":
        terms = tuple((-0.5 / n_qubits, ((j, "Z"),)) for j in range(n_qubits))
        return Observable(n_qubits, terms, constant=0.5, name="local")
    if low == "zz":
        text = "Z0Z1"
    terms = []
    pos = 0
    while pos < len(text) or not terms:
        m = _TERM.match(text, pos)
        if not m or m.end() == pos or (terms and not m.group(1)):
            raise ValueError(
                f"{key}: cannot read {spec!r}; allowed: 'global', 'local', 'zz', a Pauli string "
                "such as 'Z0Z1', or a weighted sum such as '0.5*Z0Z1 - 0.25*X2'"
            )
        coeff = float(m.group(2)) if m.group(2) else 1.0
        terms.append((-coeff if m.group(1) == "-" else coeff, _parse_string(m.group(3), n_qubits, key, spec)))
        pos = m.end()
    return Observable(n_qubits, tuple(terms), name=spec.strip())
