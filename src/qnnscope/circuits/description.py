"""Backend-neutral circuit description.

A :class:`Circuit` is a fixed *structure*: an ordered tuple of :class:`Op` on ``n_qubits``
wires.  What varies from one random sample to the next lives outside the structure, in two
arrays that every backend receives together:

* ``theta``   — float array ``(S, n_params)``: the trainable angles, one row per sample;
* ``choices`` — int array ``(S, n_choices)``: per-sample gate choices, currently the Pauli axis
  (0 = X, 1 = Y, 2 = Z) of ``RP`` rotations (McClean et al.'s random Pauli rotations).

Conventions: R_P(θ) = exp(−iθP/2); wire 0 is the most significant bit of a basis-state index
(``|q0 q1 … q_{n-1}⟩``), as in PennyLane.  Qiskit's little-endian order is handled inside its
backend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Iterable

import numpy as np

ROTATIONS = ("RX", "RY", "RZ", "RP")
"""Single-qubit rotation gates; ``RP`` takes its Pauli axis from ``choices``."""
PAULI_ROTATIONS = {"RXX": "XX", "RYY": "YY", "RZZ": "ZZ", "RZX": "ZX", "PAULIROT": None}
"""Rotations exp(−iθP/2) about a Pauli string P, one letter per wire (``PAULIROT`` takes its
word from ``Op.pauli``; ``RZX`` is Z on its first wire and X on its second, as qiskit's ``rzx``)."""
CONTROLLED_ROTATIONS = ("CRX", "CRY", "CRZ")
"""|0⟩⟨0| ⊗ I + |1⟩⟨1| ⊗ R_P(θ), wires (control, target)."""
FIXED_1Q = ("H", "X", "Y", "Z", "S", "SDG", "T", "TDG")
"""Parameter-free single-qubit gates."""
FIXED_2Q = ("CZ", "CNOT", "CY", "SWAP", "ISWAP")
"""Parameter-free two-qubit gates (controlled gates' wires are (control, target))."""
UNITARY = "UNITARY"
"""A fixed unitary given as a matrix on one or two wires (``Op.matrix``, wire 0 of the op most
significant)."""
PRIMITIVES = ROTATIONS + ("H", "X", "Y", "Z", "S", "SDG", "T", "TDG", "CZ", "CNOT")
"""The gates the engine executes; every other gate is rewritten into these by
:func:`qnnscope.circuits.lowering.to_primitives` (plus one-qubit ``UNITARY``)."""
GATES = ROTATIONS + tuple(PAULI_ROTATIONS) + CONTROLLED_ROTATIONS + FIXED_1Q + FIXED_2Q + (UNITARY,)
"""Every gate name a :class:`Op` may carry."""
PARAMETERISED = ROTATIONS + tuple(PAULI_ROTATIONS) + CONTROLLED_ROTATIONS
"""Gates with an angle (fixed, or affine in a trainable slot)."""
PAULI_AXES = ("X", "Y", "Z")
"""Meaning of the integer values in ``choices``."""


@dataclass(frozen=True)
class Op:
    """One gate.

    A parameterised gate takes its angle from the trainable slot ``param`` as the affine
    expression ``scale · θ[param] + offset`` (one slot may drive several gates: QAOA and HVA share
    one angle over a layer) or, if ``param`` is None, the fixed ``angle``.  An ``RP`` rotation takes
    its Pauli axis from choice slot ``choice``; a ``PAULIROT`` its word from ``pauli``; a
    ``UNITARY`` its matrix from ``matrix`` (row-major complex entries, 2×2 or 4×4).
    """

    gate: str
    wires: tuple[int, ...]
    param: int | None = None
    angle: float | None = None
    choice: int | None = None
    scale: float = 1.0
    offset: float = 0.0
    pauli: str | None = None
    matrix: tuple[complex, ...] | None = None

    def __post_init__(self) -> None:
        if self.gate not in GATES:
            raise ValueError(f"unknown gate {self.gate!r}; allowed: {', '.join(GATES)}")
        if len(set(self.wires)) != len(self.wires):
            raise ValueError(f"{self.gate} needs distinct wires, got wires={self.wires}")
        if self.gate in PARAMETERISED:
            self._check_parameterised()
        elif self.param is not None or self.angle is not None or self.choice is not None:
            raise ValueError(f"{self.gate} is a fixed gate and takes no angle, got {self}")
        elif self.gate in FIXED_1Q and len(self.wires) != 1:
            raise ValueError(f"{self.gate} is a fixed one-qubit gate, got wires={self.wires}")
        elif self.gate in FIXED_2Q and len(self.wires) != 2:
            raise ValueError(f"{self.gate} acts on two distinct wires, got wires={self.wires}")
        elif self.gate == UNITARY:
            self._check_matrix()
        if self.gate != "PAULIROT" and self.pauli is not None:
            raise ValueError(f"only PAULIROT takes a Pauli word, got {self}")
        if self.gate != UNITARY and self.matrix is not None:
            raise ValueError(f"only UNITARY takes a matrix, got {self}")

    def _check_parameterised(self) -> None:
        arity = 1 if self.gate in ROTATIONS else 2
        if self.gate == "PAULIROT":
            word = self.pauli or ""
            if len(word) != len(self.wires) or set(word) - set("IXYZ") or not set(word) - {"I"}:
                raise ValueError(
                    f"PAULIROT needs a Pauli word of letters I, X, Y, Z (not all I), one per wire; got "
                    f"pauli={self.pauli!r} on wires={self.wires}"
                )
        elif len(self.wires) != arity:
            raise ValueError(f"{self.gate} acts on {arity} wire(s), got wires={self.wires}")
        if (self.param is None) == (self.angle is None):
            raise ValueError(f"{self.gate} needs exactly one of param or angle")
        if (self.gate == "RP") != (self.choice is not None):
            raise ValueError("an RP rotation needs a choice slot, and only RP takes one")
        for name in ("angle", "scale", "offset"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{self.gate} {name} must be finite, got {value}")
        if self.param is None and (self.scale != 1.0 or self.offset != 0.0):
            raise ValueError(f"{self.gate} with a fixed angle takes no scale or offset")

    def _check_matrix(self) -> None:
        if len(self.wires) not in (1, 2):
            raise ValueError(f"UNITARY acts on one or two wires, got wires={self.wires}")
        d = 2 ** len(self.wires)
        if self.matrix is None or len(self.matrix) != d * d:
            raise ValueError(f"UNITARY on {len(self.wires)} wire(s) needs a {d}×{d} matrix")
        m = np.array(self.matrix, dtype=np.complex128).reshape(d, d)
        if not np.all(np.isfinite(m)) or not np.allclose(m.conj().T @ m, np.eye(d), atol=1e-8):
            raise ValueError(f"UNITARY matrix on wires {self.wires} is not unitary (or not finite)")

    @property
    def is_rotation(self) -> bool:
        """Whether the gate has an angle (fixed or trainable)."""
        return self.gate in PARAMETERISED

    @property
    def is_trainable(self) -> bool:
        return self.param is not None

    def angle_of(self, row) -> float:
        """This gate's angle for one sample's trainable values ``row`` (0 for fixed gates)."""
        if self.param is not None:
            return self.scale * row[self.param] + self.offset
        return self.angle if self.angle is not None else 0.0

    def dagger(self, param: int | None = None) -> "Op":
        """The inverse gate; a trainable gate's inverse gets slot ``param`` (initialised to −θ,
        so its angle is scale·θ' − offset)."""
        if self.is_rotation:
            if self.param is None:
                return replace(self, angle=-self.angle)
            return replace(self, param=param, offset=-self.offset)
        inverse = {"S": "SDG", "SDG": "S", "T": "TDG", "TDG": "T"}
        if self.gate in inverse:
            return Op(inverse[self.gate], self.wires)
        if self.gate in ("ISWAP", UNITARY):
            return Op(UNITARY, self.wires, matrix=tuple(np.conj(matrix(self)).T.reshape(-1).tolist()))
        return self


def matrix(op: Op) -> np.ndarray:
    """The matrix of a fixed gate (wire order of ``op.wires``, first wire most significant)."""
    if op.gate == UNITARY:
        d = 2 ** len(op.wires)
        return np.array(op.matrix, dtype=np.complex128).reshape(d, d)
    return FIXED_MATRICES[op.gate]


_S2 = 1 / math.sqrt(2)
FIXED_MATRICES = {
    "H": np.array([[_S2, _S2], [_S2, -_S2]], dtype=np.complex128),
    "X": np.array([[0, 1], [1, 0]], dtype=np.complex128),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=np.complex128),
    "Z": np.array([[1, 0], [0, -1]], dtype=np.complex128),
    "S": np.array([[1, 0], [0, 1j]], dtype=np.complex128),
    "SDG": np.array([[1, 0], [0, -1j]], dtype=np.complex128),
    "T": np.array([[1, 0], [0, np.exp(1j * math.pi / 4)]], dtype=np.complex128),
    "TDG": np.array([[1, 0], [0, np.exp(-1j * math.pi / 4)]], dtype=np.complex128),
    "CZ": np.diag([1, 1, 1, -1]).astype(np.complex128),
    "CNOT": np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=np.complex128),
    "CY": np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, -1j], [0, 0, 1j, 0]], dtype=np.complex128),
    "SWAP": np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=np.complex128),
    "ISWAP": np.array([[1, 0, 0, 0], [0, 0, 1j, 0], [0, 1j, 0, 0], [0, 0, 0, 1]], dtype=np.complex128),
}
"""Matrices of the parameter-free gates (two-qubit ones: first wire most significant)."""


@dataclass(frozen=True)
class Circuit:
    """An ansatz structure on ``n_qubits`` wires, starting from |0…0⟩.

    ``ties`` maps a trainable slot to the slot whose negated value it starts from (identity-block
    initialisation); it constrains only initialisation, never training.  ``param_layer`` gives the
    layer of every slot and ``param_names`` its name in the user's circuit (qiskit ``Parameter``
    or QASM input names), so tables can say which parameter a gradient belongs to.
    """

    n_qubits: int
    ops: tuple[Op, ...]
    n_params: int
    n_choices: int = 0
    name: str = "circuit"
    ties: tuple[tuple[int, int], ...] = ()
    param_layer: tuple[int, ...] = field(default=())
    param_names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.n_qubits < 1:
            raise ValueError(f"n_qubits must be >= 1, got {self.n_qubits}")
        seen_params: set[int] = set()
        for op in self.ops:
            for w in op.wires:
                if not 0 <= w < self.n_qubits:
                    raise ValueError(f"{op} touches wire {w} outside 0..{self.n_qubits - 1}")
            if op.param is not None:
                if not 0 <= op.param < self.n_params:
                    raise ValueError(f"{op} uses slot {op.param} outside 0..{self.n_params - 1}")
                seen_params.add(op.param)
            if op.choice is not None and not 0 <= op.choice < self.n_choices:
                raise ValueError(f"{op} uses choice {op.choice} outside 0..{self.n_choices - 1}")
        if len(seen_params) != self.n_params:
            raise ValueError("every trainable slot must be used by at least one gate")
        if self.param_layer and len(self.param_layer) != self.n_params:
            raise ValueError("param_layer needs one entry per trainable slot")
        if self.param_names and len(self.param_names) != self.n_params:
            raise ValueError("param_names needs one entry per trainable slot")

    def param_gates(self, slot: int) -> list[int]:
        """Indices into ``ops`` of the gates that use trainable slot ``slot``."""
        return [i for i, op in enumerate(self.ops) if op.param == slot]

    def counts(self) -> dict[str, int]:
        """Gate counts by name (for reports and benchmarks)."""
        out: dict[str, int] = {}
        for op in self.ops:
            out[op.gate] = out.get(op.gate, 0) + 1
        return out


def assemble(
    n_qubits: int,
    layers: Iterable[list[Op]],
    preamble: Iterable[Op] = (),
    name: str = "circuit",
    identity_block: int = 0,
) -> Circuit:
    """Build a :class:`Circuit` from a preamble and layers whose ops use *local* slot numbers.

    Each layer's trainable slots are renumbered globally here in order of first use (a slot may
    drive several gates); the same holds for choice slots.  With ``identity_block = k > 0`` (Grant et al. 2019)
    the layers are grouped into blocks of ``2k``: the first ``k`` are kept and the next ``k`` are
    replaced by the adjoint of the first ``k`` (reverse order, inverse gates, own trainable slots
    tied to −θ of their originals, same Pauli choices), so every block starts as the identity.
    """
    layers = [list(layer) for layer in layers]
    if identity_block:
        if len(layers) % (2 * identity_block):
            raise ValueError(
                f"identity_block={identity_block} needs a depth divisible by {2 * identity_block}, "
                f"got depth {len(layers)}"
            )
    ops: list[Op] = list(preamble)
    param_layer: list[int] = []
    ties: list[tuple[int, int]] = []
    n_params = len({op.param for op in ops if op.param is not None})
    param_layer.extend([-1] * n_params)
    n_choices = 0
    block: list[list[Op]] = []  # globally-numbered ops of the current block's first half
    for depth_index, layer in enumerate(layers):
        in_mirror = identity_block and (depth_index // identity_block) % 2 == 1
        if in_mirror:
            source = block.pop()
            new_ops = []
            mirrored: dict[int, int] = {}  # original slot -> its mirror's slot (shared slots stay shared)
            for op in reversed(source):
                if op.param is not None:
                    if op.param not in mirrored:
                        mirrored[op.param] = n_params
                        ties.append((n_params, op.param))
                        param_layer.append(depth_index)
                        n_params += 1
                    new_ops.append(op.dagger(param=mirrored[op.param]))
                else:
                    new_ops.append(op.dagger())
            ops.extend(new_ops)
            continue
        local_p = dict.fromkeys(op.param for op in layer if op.param is not None)  # in order of first use
        local_c = dict.fromkeys(op.choice for op in layer if op.choice is not None)
        pmap = {p: n_params + i for i, p in enumerate(local_p)}
        cmap = {c: n_choices + i for i, c in enumerate(local_c)}
        numbered = [
            replace(op, param=None if op.param is None else pmap[op.param],
                    choice=None if op.choice is None else cmap[op.choice])
            for op in layer
        ]
        n_params += len(pmap)
        n_choices += len(cmap)
        param_layer.extend([depth_index] * len(pmap))
        ops.extend(numbered)
        if identity_block:
            block.append(numbered)
    return Circuit(
        n_qubits=n_qubits,
        ops=tuple(ops),
        n_params=n_params,
        n_choices=n_choices,
        name=name,
        ties=tuple(ties),
        param_layer=tuple(param_layer),
    )
