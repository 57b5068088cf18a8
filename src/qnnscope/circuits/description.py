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

from dataclasses import dataclass, field
from typing import Iterable

ROTATIONS = ("RX", "RY", "RZ", "RP")
"""Single-qubit rotation gates; ``RP`` takes its Pauli axis from ``choices``."""
FIXED_1Q = ("H", "X", "Y", "Z", "S", "SDG")
"""Parameter-free single-qubit gates."""
FIXED_2Q = ("CZ", "CNOT")
"""Parameter-free two-qubit gates (``CNOT`` wires are (control, target))."""
PAULI_AXES = ("X", "Y", "Z")
"""Meaning of the integer values in ``choices``."""


@dataclass(frozen=True)
class Op:
    """One gate.

    A rotation takes its angle from the trainable slot ``param`` or, if ``param`` is None, the
    fixed ``angle``.  An ``RP`` rotation takes its Pauli axis from choice slot ``choice``.
    """

    gate: str
    wires: tuple[int, ...]
    param: int | None = None
    angle: float | None = None
    choice: int | None = None

    def __post_init__(self) -> None:
        if self.gate in ROTATIONS:
            if len(self.wires) != 1:
                raise ValueError(f"{self.gate} acts on one wire, got wires={self.wires}")
            if (self.param is None) == (self.angle is None):
                raise ValueError(f"{self.gate} needs exactly one of param or angle")
            if (self.gate == "RP") != (self.choice is not None):
                raise ValueError("an RP rotation needs a choice slot, and only RP takes one")
        elif self.gate in FIXED_1Q:
            if len(self.wires) != 1 or self.param is not None:
                raise ValueError(f"{self.gate} is a fixed one-qubit gate, got {self}")
        elif self.gate in FIXED_2Q:
            if len(self.wires) != 2 or self.wires[0] == self.wires[1] or self.param is not None:
                raise ValueError(f"{self.gate} acts on two distinct wires, got {self}")
        else:
            raise ValueError(
                f"unknown gate {self.gate!r}; allowed: {', '.join(ROTATIONS + FIXED_1Q + FIXED_2Q)}"
            )

    @property
    def is_rotation(self) -> bool:
        return self.gate in ROTATIONS

    @property
    def is_trainable(self) -> bool:
        return self.param is not None

    def dagger(self, param: int | None = None) -> "Op":
        """The inverse gate; a trainable rotation's inverse gets slot ``param`` (initialised to −θ)."""
        if self.is_rotation:
            if self.param is None:
                return Op(self.gate, self.wires, angle=-self.angle, choice=self.choice)
            return Op(self.gate, self.wires, param=param, choice=self.choice)
        if self.gate == "S":
            return Op("SDG", self.wires)
        if self.gate == "SDG":
            return Op("S", self.wires)
        return self


@dataclass(frozen=True)
class Circuit:
    """An ansatz structure on ``n_qubits`` wires, starting from |0…0⟩.

    ``ties`` maps a trainable slot to the slot whose negated value it starts from (identity-block
    initialisation); it constrains only initialisation, never training.  ``param_layer`` gives the
    layer of every slot, so tables can say which parameter a gradient belongs to.
    """

    n_qubits: int
    ops: tuple[Op, ...]
    n_params: int
    n_choices: int = 0
    name: str = "circuit"
    ties: tuple[tuple[int, int], ...] = ()
    param_layer: tuple[int, ...] = field(default=())

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

    Each layer's trainable slots are numbered from 0 within the layer and renumbered globally
    here; the same holds for choice slots.  With ``identity_block = k > 0`` (Grant et al. 2019)
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
    n_params = sum(1 for op in ops if op.param is not None)
    param_layer.extend([-1] * n_params)
    n_choices = 0
    block: list[list[Op]] = []  # globally-numbered ops of the current block's first half
    for depth_index, layer in enumerate(layers):
        in_mirror = identity_block and (depth_index // identity_block) % 2 == 1
        if in_mirror:
            source = block.pop()
            new_ops = []
            for op in reversed(source):
                if op.param is not None:
                    new_ops.append(op.dagger(param=n_params))
                    ties.append((n_params, op.param))
                    param_layer.append(depth_index)
                    n_params += 1
                else:
                    new_ops.append(op.dagger())
            ops.extend(new_ops)
            continue
        local_p = {op.param for op in layer if op.param is not None}
        local_c = {op.choice for op in layer if op.choice is not None}
        pmap = {p: n_params + i for i, p in enumerate(sorted(local_p))}
        cmap = {c: n_choices + i for i, c in enumerate(sorted(local_c))}
        numbered = [
            Op(
                op.gate,
                op.wires,
                param=None if op.param is None else pmap[op.param],
                angle=op.angle,
                choice=None if op.choice is None else cmap[op.choice],
            )
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
