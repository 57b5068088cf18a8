"""Import user circuits — qiskit ``QuantumCircuit`` objects, OpenQASM 3 files, PennyLane tapes,
quantum functions and QNodes, and Python builder functions — as backend-neutral
:class:`~.description.Circuit` structures.

Users bring their own ansätze; every study needs them as the built-in ones are: a fixed gate
structure plus trainable slots, each gate angle affine in at most one slot (a·θ_k + b), so that
every backend's gradients stay exact.  Whatever cannot be represented exactly (mid-circuit
measurements, classical control, non-affine angle expressions, unknown gates without a usable
definition) is refused with a ValueError that names the file or builder, the instruction
(counted from 0) and what is allowed.  :func:`source_hash` keys caches on the user's file;
:func:`structure_hash` keys seeds on the structure alone, so the same ansatz built two ways
draws the same samples.  qiskit, PennyLane and torch are imported lazily: ``import qnnscope.circuits``
stays light.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import math
import os
import re
import sys
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np

from qnnscope.circuits.description import Circuit, Op

SUPPORTED = (
    "rx", "ry", "rz", "p", "u1", "u", "u3", "u2", "h", "x", "y", "z", "s", "sdg", "t", "tdg",
    "sx", "sxdg", "cz", "cx", "cy", "swap", "iswap", "rxx", "ryy", "rzz", "rzx", "crx", "cry",
    "crz", "cp", "cu1", "unitary", "PauliEvolution",
)
"""qiskit gate names imported directly (``unitary`` on 1 or 2 qubits, ``PauliEvolution`` with
one real Pauli term); other gates are imported through their definition if it uses only these."""
IGNORED = ("barrier", "delay", "id", "global_phase")
"""Instructions without effect on expectation values, skipped."""
CONTROL_FLOW = ("if_else", "while_loop", "for_loop", "switch_case", "break_loop", "continue_loop", "box")
_ALLOWED = (
    f"supported gates: {', '.join(SUPPORTED)}; ignored: {', '.join(IGNORED)}; final measurements "
    "are dropped; other gates are imported through their definition when it uses only these"
)
_FIXED = {"h": "H", "x": "X", "y": "Y", "z": "Z", "s": "S", "sdg": "SDG", "t": "T", "tdg": "TDG",
          "cz": "CZ", "cx": "CNOT", "cy": "CY", "swap": "SWAP", "iswap": "ISWAP"}
_ROTATIONS = {"rx": "RX", "ry": "RY", "rz": "RZ", "p": "RZ", "u1": "RZ", "rxx": "RXX", "ryy": "RYY",
              "rzz": "RZZ", "rzx": "RZX", "crx": "CRX", "cry": "CRY", "crz": "CRZ"}
_MAX_NESTING = 20


class _Where:
    """The position of an instruction for error messages: top-level index, then definitions."""

    words = ("instruction", "qubit(s)", "in its definition instruction")
    allowed = _ALLOWED

    def __init__(self, source: str, index: int, gate: str, qubits: tuple, path=()):
        self.source, self.index, self.gate, self.qubits, self.path = source, index, gate, qubits, path

    def inner(self, index: int, gate: str) -> _Where:
        return type(self)(self.source, self.index, self.gate, self.qubits, self.path + ((index, gate),))

    def error(self, problem: str, allowed: str | None = None) -> ValueError:
        noun, wires, inner = self.words
        text = f"{self.source}: {noun} {self.index} ('{self.gate}' on {wires} {', '.join(map(str, self.qubits))})"
        for index, gate in self.path:
            text += f", {inner} {index} ('{gate}')"
        return ValueError(f"{text}: {problem}; {allowed or self.allowed}")


class _Angle:
    """One gate angle: fixed (``param`` None, value ``offset``) or ``scale·param + offset``."""

    __slots__ = ("offset", "param", "scale")

    def __init__(self, param, scale: float, offset: float):
        self.param, self.scale, self.offset = param, scale, offset

    def times(self, factor: float, shift: float = 0.0) -> _Angle:
        return _Angle(self.param, factor * self.scale, factor * self.offset + shift)


def _number(value, where: _Where, what: str) -> float:
    """A finite real number from a Python/numpy number or a bound qiskit expression."""
    try:
        z = complex(value.numeric() if hasattr(value, "numeric") else value)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise where.error(f"{what} {value!r} is not a number ({exc})",
                          "allowed: a finite number or a·θ + b in one parameter θ") from None
    if abs(z.imag) > 1e-12 * max(1.0, abs(z.real)) or not math.isfinite(z.real):
        raise where.error(f"{what} {value} is not a finite real number",
                          "allowed: a finite number or a·θ + b in one parameter θ")
    return float(z.real)


def _affine(value, where: _Where, what: str = "angle") -> _Angle:
    """Parse a gate parameter into a fixed angle or a·θ + b (numeric a ≠ 0, one parameter θ)."""
    from qiskit.circuit import ParameterExpression

    allowed = "allowed: a finite number or a·θ + b with numbers a ≠ 0, b and one parameter θ"
    if not isinstance(value, ParameterExpression) or not value.parameters:
        return _Angle(None, 1.0, _number(value, where, what))
    params = list(value.parameters)
    if len(params) != 1:
        names = ", ".join(sorted(p.name for p in params))
        raise where.error(f"{what} {value} depends on {len(params)} parameters ({names})", allowed)
    (theta,) = params
    try:  # qiskit raises various types on functions it cannot differentiate or evaluate
        slope = value.gradient(theta)
        affine = not (isinstance(slope, ParameterExpression) and slope.parameters)
        if affine:
            points = [(v, value.bind({theta: v})) for v in (0.0, 0.37, -1.3)]
    except Exception:  # noqa: BLE001
        affine = False
    if affine:
        a = _number(slope, where, what)
        (_, b), *checks = [(v, _number(y, where, what)) for v, y in points]
        # guard against functions whose symbolic derivative is constant but which are not affine
        affine = all(abs(y - (a * v + b)) <= 1e-9 * (1 + abs(y)) for v, y in checks)
    if not affine:
        raise where.error(f"{what} {value} is not affine in {theta.name}", allowed)
    if a == 0:
        raise where.error(f"{what} {value} has slope 0 in {theta.name}", allowed)
    return _Angle(theta, a + 0.0, b + 0.0)


def _same_up_to_phase(a: np.ndarray, b: np.ndarray, atol: float = 1e-9) -> bool:
    if a.shape != b.shape:
        return False
    k = np.unravel_index(np.argmax(np.abs(b)), b.shape)
    if abs(b[k]) < 1e-12:
        return False
    phase = a[k] / b[k]
    return abs(abs(phase) - 1) < atol and np.allclose(a, phase * b, atol=atol)


class _Converter:
    """Accumulates ops and trainable slots (numbered by first use) while walking a circuit."""

    def __init__(self):
        self.ops: list[Op] = []
        self.slots: dict = {}

    def emit_fixed(self, gate: str, wires: tuple[int, ...], **kw) -> None:
        self.ops.append(Op(gate, tuple(wires), **kw))

    def emit(self, gate: str, wires: tuple[int, ...], angle: _Angle, **kw) -> None:
        if angle.param is None:
            self.ops.append(Op(gate, tuple(wires), angle=angle.offset + 0.0, **kw))
            return
        slot = self.slots.setdefault(angle.param, len(self.slots))
        self.ops.append(Op(gate, tuple(wires), param=slot, scale=angle.scale + 0.0,
                           offset=angle.offset + 0.0, **kw))

    def convert(self, op, qubits: tuple[int, ...], where: _Where, level: int = 0) -> None:
        name = op.name
        if getattr(op, "condition", None) is not None or name in CONTROL_FLOW:
            raise where.error("classically controlled operations and control flow cannot be imported",
                              "allowed: unitary gates, with measurements only at the end")
        if name in IGNORED:
            return
        if name in ("measure", "reset"):
            raise where.error(f"'{name}' inside a gate definition cannot be imported",
                              "allowed: unitary gates, with measurements only at the end")
        if name in SUPPORTED and (_is_standard(op) or _matches_standard(op)):
            self._standard(op, qubits, where)
            return
        try:
            definition = op.definition
        except Exception:  # noqa: BLE001 - some instructions fail to build a definition
            definition = None
        if definition is None:
            raise where.error(f"unsupported gate '{name}' (and it has no definition to import)")
        if level >= _MAX_NESTING:
            raise where.error(f"gate definitions nested deeper than {_MAX_NESTING} levels")
        for k, inst in enumerate(definition.data):
            inner = tuple(qubits[definition.find_bit(q).index] for q in inst.qubits)
            self.convert(inst.operation, inner, where.inner(k, inst.operation.name), level + 1)

    def _standard(self, op, q: tuple[int, ...], where: _Where) -> None:
        name = op.name
        if name in _FIXED:
            self.emit_fixed(_FIXED[name], q)
        elif name in ("sx", "sxdg"):  # √X = e^{iπ/4} RX(π/2)
            self.emit("RX", q, _Angle(None, 1.0, math.pi / 2 if name == "sx" else -math.pi / 2))
        elif name in _ROTATIONS:
            self.emit(_ROTATIONS[name], q, _affine(op.params[0], where))
        elif name in ("cp", "cu1"):  # diag(1,1,1,e^{iλ}) = e^{iλ/4} · RZ_c(λ/2) · CRZ(λ)
            angle = _affine(op.params[0], where)
            self.emit("CRZ", q, angle)
            self.emit("RZ", q[:1], angle.times(0.5))
        elif name in ("u", "u3", "u2"):
            self._euler(op, q, where)
        elif name == "unitary":
            self._unitary(op, q, where)
        else:
            self._pauli_evolution(op, q, where)

    def _euler(self, op, q: tuple[int, ...], where: _Where) -> None:
        """U(θ, φ, λ) = RZ(φ)·RY(θ)·RZ(λ) up to a global phase; u2(φ, λ) = U(π/2, φ, λ)."""
        params = list(op.params)
        if op.name == "u2":
            params = [math.pi / 2, *params]
        angles = [_affine(p, where, f"angle {k}") for k, p in enumerate(params)]

        def fixed():
            from qiskit.circuit.library import UGate

            return UGate(*(a.offset for a in angles)).to_matrix()

        self.euler(q, *angles, fixed)

    def euler(self, q: tuple[int, ...], theta: _Angle, phi: _Angle, lam: _Angle, fixed) -> None:
        """RZ(φ)·RY(θ)·RZ(λ), or the matrix ``fixed()`` as one UNITARY when no angle is trainable."""
        if all(a.param is None for a in (theta, phi, lam)):
            self.emit_fixed("UNITARY", q, matrix=tuple(complex(z) for z in np.asarray(fixed()).reshape(-1)))
            return
        self.emit("RZ", q, lam)
        self.emit("RY", q, theta)
        self.emit("RZ", q, phi)

    def _unitary(self, op, q: tuple[int, ...], where: _Where) -> None:
        if len(q) not in (1, 2):
            raise where.error(f"a unitary on {len(q)} qubits cannot be imported",
                              "allowed: unitary gates on 1 or 2 qubits")
        m = np.asarray(op.to_matrix(), dtype=np.complex128)
        # qiskit: the gate's first qubit is the least significant bit; ours: the first wire is the most
        wires = q if len(q) == 1 else (q[1], q[0])
        try:
            self.emit_fixed("UNITARY", wires, matrix=tuple(complex(z) for z in m.reshape(-1)))
        except ValueError as exc:
            raise where.error(str(exc), "allowed: a finite unitary matrix") from None

    def _pauli_evolution(self, op, q: tuple[int, ...], where: _Where) -> None:
        """exp(−i t c P) = R_P(2 c t) for one Pauli term c·P (qiskit labels are little-endian)."""
        from qiskit.quantum_info import SparsePauliOp

        allowed = "allowed: PauliEvolutionGate of one Pauli term with a real numeric coefficient"
        operator = op.operator
        if isinstance(operator, (list, tuple)):
            if len(operator) != 1:
                raise where.error(f"an evolution of a sum of {len(operator)} operators", allowed)
            operator = operator[0]
        if not isinstance(operator, SparsePauliOp):
            try:
                operator = SparsePauliOp.from_sparse_observable(operator)
            except Exception:  # noqa: BLE001
                raise where.error(f"operator of type {type(operator).__name__}", allowed) from None
        if operator.coeffs.dtype == object:
            raise where.error(f"parameterised coefficients {list(operator.coeffs)}", allowed)
        operator = operator.simplify(atol=0)
        if len(operator) != 1:
            raise where.error(f"operator {operator.paulis.to_labels()} has {len(operator)} terms", allowed)
        label = operator.paulis.to_labels()[0]
        coeff = _number(operator.coeffs[0], where, "coefficient")
        time = _affine(op.params[0], where, "time")
        # label[::-1][k] acts on the gate's k-th qubit
        if (coeff == 0 or not self.emit_pauli(q, label[::-1], time.times(2 * coeff))) and time.param is not None:
            raise where.error(f"term {coeff}·{label} has no effect, so parameter "
                              f"{time.param.name} would be dropped", allowed)

    def emit_pauli(self, wires: tuple, letters: str, angle: _Angle) -> bool:
        """R_P(angle) about the word ``letters`` on ``wires``, identity letters dropped; False (and
        nothing emitted) if every letter is I, a global phase."""
        word = [(w, p) for w, p in zip(wires, letters) if p != "I"]
        wires, letters = tuple(w for w, _ in word), "".join(p for _, p in word)
        if len(word) == 1:
            self.emit("R" + letters, wires, angle)
        elif word:
            self.emit("PAULIROT", wires, angle, pauli=letters)
        return bool(word)

    def circuit(self, n_qubits: int, name: str) -> Circuit:
        n = len(self.slots)
        names = tuple(p.name for p in self.slots)
        return Circuit(n_qubits, tuple(self.ops), n, name=name, param_layer=(-1,) * n, param_names=names)


@lru_cache(maxsize=1)
def _standard_gates() -> dict:
    from qiskit.circuit.library import get_standard_gate_name_mapping

    return get_standard_gate_name_mapping()


def _is_standard(op) -> bool:
    """Whether ``op`` is qiskit's own gate of that name (not a user gate that reuses the name)."""
    from qiskit.circuit.library import PauliEvolutionGate, UnitaryGate

    if op.name == "unitary":
        return isinstance(op, UnitaryGate)
    if op.name == "PauliEvolution":
        return isinstance(op, PauliEvolutionGate)
    std = _standard_gates().get(op.name)
    return std is not None and op.base_class is std.base_class


def _matches_standard(op) -> bool:
    """Whether a user gate named like a standard gate (as OpenQASM 3 exporters define ``rzx``,
    ``iswap``, …) has a definition equal to it up to phase, checked at two random bindings."""
    from qiskit.circuit import ParameterExpression
    from qiskit.quantum_info import Operator

    std = _standard_gates().get(op.name)
    if std is None or op.num_qubits != std.num_qubits or len(op.params) != len(std.params):
        return False
    try:
        definition = op.definition
        if definition is None:
            return False
        symbols = set(definition.parameters)
        for p in op.params:
            if isinstance(p, ParameterExpression):
                symbols |= set(p.parameters)
        rng = np.random.default_rng(1234)
        for _ in range(2):
            binding = {s: float(rng.uniform(-math.pi, math.pi)) for s in symbols}
            values = [float(p.bind({s: binding[s] for s in p.parameters}).numeric())
                      if isinstance(p, ParameterExpression) else float(p) for p in op.params]
            bound = definition.assign_parameters({s: binding[s] for s in definition.parameters})
            if not _same_up_to_phase(Operator(bound).data, Operator(std.base_class(*values)).data):
                return False
    except Exception:  # noqa: BLE001 - anything unusual: import through the definition instead
        return False
    return True


def from_qiskit(qc, name: str | None = None, source: str = "<qiskit circuit>") -> Circuit:
    """Convert a qiskit ``QuantumCircuit`` (``Parameter``/``ParameterVector`` angles) to a
    :class:`Circuit`; qiskit qubit k is wire k.  Trainable slots are numbered by first use in the
    imported gates, ``param_names`` are the qiskit parameter names, ``param_layer`` is all −1."""
    from qiskit import QuantumCircuit

    if not isinstance(qc, QuantumCircuit):
        raise ValueError(f"{source}: expected a qiskit QuantumCircuit, got {type(qc).__name__}")
    if qc.num_qubits < 1:
        raise ValueError(f"{source}: the circuit has no qubits")
    data = list(qc.data)
    qubits = [tuple(qc.find_bit(q).index for q in inst.qubits) for inst in data]
    final, later = set(), set()  # measurements with nothing but measurements/no-ops after them
    for index in range(len(data) - 1, -1, -1):
        gate = data[index].operation.name
        if gate == "measure" and not later & set(qubits[index]):
            final.add(index)
        elif gate not in IGNORED and gate != "measure":
            later |= set(qubits[index])
    converter = _Converter()
    started: set[int] = set()  # qubits some gate has acted on
    for index, inst in enumerate(data):
        op = inst.operation
        where = _Where(source, index, op.name, qubits[index])
        if op.name == "measure":
            if index not in final:
                raise where.error("a mid-circuit measurement (gates follow it on this qubit)",
                                  "allowed: measurements only at the end")
            continue
        if op.name == "reset":
            if started & set(qubits[index]):
                raise where.error("a reset after gates", "allowed: resets only before any gate")
            continue  # a reset of |0⟩ does nothing
        converter.convert(op, qubits[index], where)
        if op.name not in IGNORED:
            started |= set(qubits[index])
    return converter.circuit(qc.num_qubits, name or qc.name or "circuit")


def _parse_message(exc: BaseException) -> str:
    """The parser's message with the line (and column) where the parser gives one."""
    seen = exc
    while seen is not None:
        token = getattr(seen, "offendingToken", None)
        if token is not None and getattr(token, "line", None) is not None:
            return f"syntax error at line {token.line}, column {token.column} near {token.text!r}"
        if seen.args and getattr(seen.args[0], "offendingToken", None) is not None:
            seen = seen.args[0]
            continue
        seen = seen.__cause__ or seen.__context__
    message = getattr(exc, "message", None)  # qiskit errors' str() quotes their message
    text = (message if isinstance(message, str) else str(exc)).strip() or type(exc).__name__
    return re.sub(r"^(\d+),(\d+):", r"line \1, column \2:", text)


def from_qasm3(path, name: str | None = None) -> Circuit:
    """Read an OpenQASM 3 file (``input float[64] θ;`` / ``input angle θ;`` are parameters)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: OpenQASM 3 file not found")
    import qiskit.qasm3

    try:
        qc = qiskit.qasm3.load(str(path))
    except Exception as exc:  # parser and importer errors come in many types
        raise ValueError(f"{path}: cannot read OpenQASM 3: {_parse_message(exc)}") from exc
    return from_qiskit(qc, name or path.stem, source=str(path))


# --------------------------------------------------------------------------------------------
# PennyLane

PENNYLANE_GATES = (
    "RX", "RY", "RZ", "PhaseShift", "Rot", "U3", "IsingXX", "IsingYY", "IsingZZ", "PauliRot", "MultiRZ",
    "CRX", "CRY", "CRZ", "Hadamard", "PauliX", "PauliY", "PauliZ", "S", "T", "Adjoint(S)", "Adjoint(T)",
    "CNOT", "CZ", "CY", "SWAP", "ISWAP", "QubitUnitary",
)
"""PennyLane operations imported directly (``QubitUnitary`` on 1 or 2 wires); templates and other
operations are decomposed by PennyLane's own decompositions until only these remain."""
PENNYLANE_IGNORED = ("Identity", "GlobalPhase", "Barrier", "Snapshot")
"""PennyLane operations without effect on expectation values, skipped."""
_PL_ALLOWED = (
    f"supported operations: {', '.join(PENNYLANE_GATES)}; ignored: {', '.join(PENNYLANE_IGNORED)}; measurements "
    "are dropped; templates and other operations are imported through PennyLane's decomposition when it uses only these"
)
_PL_ANGLE = "allowed: a number or a·θ + b with numbers a ≠ 0, b and one input entry θ"
_PL_FIXED = {"Hadamard": "H", "PauliX": "X", "PauliY": "Y", "PauliZ": "Z", "S": "S", "T": "T", "Adjoint(S)": "SDG",
             "Adjoint(T)": "TDG", "CNOT": "CNOT", "CZ": "CZ", "CY": "CY", "SWAP": "SWAP", "ISWAP": "ISWAP"}
_PL_ROTATIONS = {"RX": "RX", "RY": "RY", "RZ": "RZ", "PhaseShift": "RZ", "IsingXX": "RXX", "IsingYY": "RYY",
                 "IsingZZ": "RZZ", "CRX": "CRX", "CRY": "CRY", "CRZ": "CRZ"}


class _PennyLaneWhere(_Where):
    words = ("operation", "wire(s)", "in its decomposition operation")
    allowed = _PL_ALLOWED


class _Input(NamedTuple):
    """One entry of a PennyLane circuit's trainable inputs (ordered by its flat index)."""

    index: int
    name: str


def _numpy(value) -> np.ndarray:
    """A PennyLane parameter (number, numpy array or torch tensor) as a detached numpy array."""
    return np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)


def _input_shape(shape, source: str) -> tuple[int, ...]:
    allowed = "allowed: shape=N (N parameters), a tuple of sizes, or an example array"
    if shape is None:
        raise ValueError(f"{source}: a quantum function needs shape= for its parameter array; {allowed}")
    shape = tuple(shape.shape) if hasattr(shape, "shape") else shape
    try:
        dims = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        dims = (-1,)
    if any(d < 0 for d in dims):
        raise ValueError(f"{source}: shape={shape!r} is not a shape; {allowed}")
    return dims


def _pennylane_source(obj, shape, name, source):
    """``(make, shapes, labels, default_wires, name, source)``: ``make(leaves)`` builds the tape
    with the torch tensors ``leaves`` (of ``shapes``) as the trainable inputs named ``labels``."""
    import pennylane as qml

    if isinstance(obj, qml.tape.QuantumScript):
        source = source or "<PennyLane tape>"
        if shape is not None:
            raise ValueError(f"{source}: shape= is for quantum functions; a tape's trainable parameters are "
                             "its trainable_params")
        params = obj.get_parameters(trainable_only=False)
        chosen = [(k, j) for k, j in enumerate(obj.trainable_params) if _numpy(params[j]).dtype.kind == "f"]

        def make(leaves):
            return obj.bind_new_parameters(list(leaves), [j for _, j in chosen])

        shapes = [_numpy(params[j]).shape for _, j in chosen]
        labels = [f"params[{k}]" + ("[" + ",".join(map(str, i)) + "]" if s else "")
                  for (k, _), s in zip(chosen, shapes) for i in np.ndindex(*s)]
        return make, shapes, labels, None, name or "circuit", source
    if isinstance(obj, qml.QNode):
        func, build, default = obj.func, qml.workflow.construct_tape(obj, level="user"), obj.device.wires
    elif callable(obj):
        func, build, default = obj, qml.tape.make_qscript(obj), None
    else:
        raise ValueError(f"{source or '<PennyLane circuit>'}: expected a PennyLane tape (QuantumScript), QNode "
                         f"or quantum function, got {type(obj).__name__}")
    function = getattr(func, "__name__", "qfunc")
    source = source or f"PennyLane function {function!r}"
    shape = _input_shape(shape, source)
    try:
        first = next(iter(inspect.signature(func).parameters))
    except (StopIteration, TypeError, ValueError):
        first = "theta"
    labels = [first + ("[" + ",".join(map(str, i)) + "]" if shape else "") for i in np.ndindex(*shape)]
    return (lambda leaves: build(leaves[0])), [shape], labels, default or None, name or function, source


def _wire_order(tape, wires, default, source: str) -> list:
    """The wire labels in order (label k is our wire k): ``wires``, else ``default`` (a QNode's
    device wires), else the tape's wires, sorted when all are integers."""
    if wires is not None or default is not None:
        order = list(wires if wires is not None else default)
    else:
        order = list(tape.wires)
        if all(isinstance(w, (int, np.integer)) and not isinstance(w, bool) for w in order):
            order = sorted(order)
    if len(set(order)) != len(order):
        raise ValueError(f"{source}: wires {order} repeat a label; allowed: distinct wire labels")
    missing = [w for w in tape.wires if w not in order]
    if missing:
        raise ValueError(f"{source}: the circuit acts on wire(s) {missing} not in wires {order}; "
                         "allowed: wires= listing every wire the circuit uses")
    if not order:
        raise ValueError(f"{source}: the circuit has no wires")
    return order


def _decomposed(tape, source: str) -> list:
    """``(where, operation, final operations)`` per operation of ``tape``, each decomposed by
    PennyLane until only supported or ignored operations (or ones without decomposition) remain."""
    import pennylane as qml

    keep = set(PENNYLANE_GATES + PENNYLANE_IGNORED)
    out = []
    for index, op in enumerate(tape.operations):
        where = _PennyLaneWhere(source, index, op.name, tuple(op.wires))
        try:
            (done,), _ = qml.transforms.decompose(qml.tape.QuantumScript([op]), gate_set=keep,
                                                  stopping_condition=lambda o: not o.has_decomposition)
        except Exception as exc:  # noqa: BLE001 - decompositions raise many types
            raise where.error(f"PennyLane's decomposition raised {type(exc).__name__}: {exc}") from exc
        out.append((where, op, done.operations))
    return out


def _pennylane_angle(values, leaves, flat, inputs, where: _Where, what: str) -> _Angle:
    """A gate parameter seen at two random input points: fixed, or a·θ_k + b when its gradient
    with respect to the inputs (torch autograd) is the same at both with one nonzero entry k."""
    import torch

    ys, slopes = [], []
    for v, ls in zip(values, leaves):
        ys.append(_number(_numpy(v), where, what))
        grads = ((None,) * len(ls) if not (ls and isinstance(v, torch.Tensor) and v.requires_grad)
                 else torch.autograd.grad(v, ls, retain_graph=True, allow_unused=True))
        slopes.append(np.concatenate([np.zeros(x.numel()) if g is None else _numpy(g).reshape(-1)
                                      for x, g in zip(ls, grads)] or [np.zeros(0)]))
    used = sorted({int(k) for s in slopes for k in np.flatnonzero(np.abs(s) > 1e-12 * max(1.0, np.abs(s).max(initial=0.0)))})
    if len(used) > 1:
        names = ", ".join(inputs[k].name for k in used)
        raise where.error(f"{what} depends on {len(used)} input entries ({names})", _PL_ANGLE)
    if not used:
        if abs(ys[0] - ys[1]) > 1e-9 * (1 + abs(ys[0])):
            raise where.error(f"{what} changes with the inputs ({ys[0]:.6g}, {ys[1]:.6g}) but torch autograd sees "
                              "no dependence (is it computed outside torch?)", _PL_ANGLE)
        return _Angle(None, 1.0, ys[0])
    (k,) = used
    (a, a2), (b, b2) = [float(s[k]) for s in slopes], [float(y - s[k] * x[k]) for y, s, x in zip(ys, slopes, flat)]
    if abs(a - a2) > 1e-9 * max(1.0, abs(a)) or abs(b - b2) > 1e-9 * (1 + abs(b)):
        raise where.error(f"{what} is not affine in {inputs[k].name} (slope {a:.6g} and {a2:.6g} at two random "
                          "points)", _PL_ANGLE)
    return _Angle(inputs[k], a + 0.0, b + 0.0)


def _signature(op) -> tuple:
    return op.name, tuple(op.wires), op.hyperparameters.get("pauli_word")


def from_pennylane(obj, wires=None, name: str | None = None, source: str | None = None, *, shape=None) -> Circuit:
    """Convert a PennyLane circuit (Bergholm et al. 2018) to a :class:`Circuit`: a tape
    (``QuantumScript``), or a quantum function ``qfunc(params)`` or QNode with ``shape=`` (the
    number of parameters, the shape of ``params`` or an example array).

    Wire label ``wires[k]`` becomes wire k (default: a QNode's device wires, else the tape's wires,
    sorted when they are integers; PennyLane's first wire is the most significant bit, as ours).
    Templates and other operations go through PennyLane's own decompositions down to
    :data:`PENNYLANE_GATES`.  Trainable inputs: every entry of ``params``, or of the tape's real
    floating-point ``trainable_params`` (others, and matrices, stay fixed).  The circuit is built
    twice on torch tensors at two random points; a gate angle whose gradient with respect to the
    inputs is the same at both, with at most one nonzero entry k, is a·θ_k + b; anything else
    (sin θ, θ², θ_1 + θ_2) is refused naming the operation.  Slots follow the inputs' order
    (unused entries skipped) and are named like ``weights[1,0,2]`` (a tape's: ``params[j]``)."""
    import pennylane as qml
    import torch
    from pennylane.measurements import MidMeasureMP

    make, shapes, labels, default, name, source = _pennylane_source(obj, shape, name, source)
    rng = np.random.default_rng(1234)
    points = []
    for _ in range(2):
        leaves = [torch.tensor(rng.uniform(-math.pi, math.pi, s), dtype=torch.float64, requires_grad=True)
                  for s in shapes]
        try:
            tape = make(leaves)
        except Exception as exc:  # report whatever the user's function raised
            raise ValueError(f"{source}: building the circuit on torch tensors of shape(s) "
                             f"{', '.join(map(str, shapes))} raised {type(exc).__name__}: {exc}") from exc
        points.append((leaves, tape, _decomposed(tape, source)))
    (leaves, tape, first), (leaves2, _, second) = points
    order = _wire_order(tape, wires, default, source)
    position = {w: k for k, w in enumerate(order)}
    inputs = [_Input(k, label) for k, label in enumerate(labels)]
    flat = [np.concatenate([_numpy(x).reshape(-1) for x in ls] or [np.zeros(0)]) for ls in (leaves, leaves2)]
    if [op.name for _, op, _ in first] != [op.name for _, op, _ in second]:
        raise ValueError(f"{source}: the operations change with the parameter values; allowed: a fixed "
                         "gate structure with trainable angles")
    parsed = []
    for (where, top, final), (_, _, final2) in zip(first, second):
        if list(map(_signature, final)) != list(map(_signature, final2)):
            raise where.error("its decomposition changes with the parameter values",
                              "allowed: a fixed gate structure with trainable angles")
        for k, (op, op2) in enumerate(zip(final, final2)):
            here = where if op is top else where.inner(k, op.name)
            if isinstance(op, (MidMeasureMP, qml.ops.Conditional)):
                raise here.error("mid-circuit measurements and classically controlled operations cannot be imported",
                                 "allowed: unitary operations, with measurements only at the end")
            if op.name in PENNYLANE_IGNORED:
                continue
            if op.name not in PENNYLANE_GATES:
                raise here.error(f"unsupported operation '{op.name}'"
                                 + ("" if op.has_decomposition else " (and it has no decomposition)"))
            outside = [w for w in op.wires if w not in position]
            if outside:
                raise here.error(f"it acts on wire(s) {outside} outside wires {order}",
                                 "allowed: wires= listing every wire the circuit uses")
            q = tuple(position[w] for w in op.wires)
            if op.name == "QubitUnitary":
                if len(q) not in (1, 2):
                    raise here.error(f"a QubitUnitary on {len(q)} wires cannot be imported",
                                     "allowed: QubitUnitary on 1 or 2 wires")
                if not np.allclose(_numpy(op.data[0]), _numpy(op2.data[0]), atol=1e-12):
                    raise here.error("its matrix changes with the inputs", "allowed: a fixed matrix")
                parsed.append((op, q, (), here))
                continue
            angles = [_pennylane_angle((v, v2), (leaves, leaves2), flat, inputs, here, f"parameter {p}")
                      for p, (v, v2) in enumerate(zip(op.data, op2.data))]
            parsed.append((op, q, angles, here))
    converter = _Converter()
    converter.slots = {p: k for k, p in enumerate(sorted({a.param for *_, angles, _ in parsed for a in angles
                                                          if a.param is not None}))}
    for op, q, angles, here in parsed:
        _emit_pennylane(converter, op, q, angles, here)
    return converter.circuit(len(order), name)


def _emit_pennylane(converter: _Converter, op, q: tuple[int, ...], angles: list, where: _Where) -> None:
    import pennylane as qml

    name = op.name
    if name in _PL_FIXED:
        converter.emit_fixed(_PL_FIXED[name], q)
    elif name in _PL_ROTATIONS:  # PhaseShift(φ) = e^{iφ/2} RZ(φ); IsingXX(φ) = exp(−iφ XX/2) = RXX(φ)
        converter.emit(_PL_ROTATIONS[name], q, angles[0])
    elif name in ("Rot", "U3"):  # Rot(φ, θ, ω) = RZ(ω)·RY(θ)·RZ(φ); U3(θ, φ, δ) = e^{i(φ+δ)/2} RZ(φ)·RY(θ)·RZ(δ)
        theta, phi, lam = (angles[1], angles[2], angles[0]) if name == "Rot" else angles
        converter.euler(q, theta, phi, lam, lambda: _numpy(qml.matrix(op)))
    elif name in ("PauliRot", "MultiRZ"):
        letters = op.hyperparameters["pauli_word"] if name == "PauliRot" else "Z" * len(q)
        if not converter.emit_pauli(q, letters, angles[0]) and angles[0].param is not None:
            raise where.error(f"the word {letters} is a global phase, so input {angles[0].param.name} would be "
                              "dropped", _PL_ANGLE)
    else:
        try:
            converter.emit_fixed("UNITARY", q, matrix=tuple(complex(z) for z in _numpy(op.data[0]).reshape(-1)))
        except ValueError as exc:
            raise where.error(str(exc), "allowed: a finite unitary matrix") from None


_MODULE_HASHES: dict[str, str] = {}
"""Digest of each builder module's file when this module last imported it (to reload edits)."""


def _split_builder(spec: str) -> tuple[str, str]:
    where, sep, function = spec.rpartition(":")
    if not sep or not where or not function.isidentifier():
        raise ValueError(f"builder {spec!r}: expected module:function or path/to/file.py:function")
    return where, function


def _digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _run_source(module, path: Path) -> None:
    """Execute ``path`` in ``module``'s namespace from its source, never from a cached ``.pyc``
    (whose mtime-and-size check can miss an edit made within the same second)."""
    code = compile(path.read_bytes(), str(path), "exec")
    exec(code, module.__dict__)  # noqa: S102 - running the user's builder is the point


def _builder_module(spec: str, where: str):
    if where.endswith(".py"):
        path = Path(where)
        path = path if path.is_absolute() else Path.cwd() / path
        if not path.is_file():
            raise ValueError(f"builder {spec!r}: file {where} not found (relative to {Path.cwd()})")
        modname = "_qnnscope_builder_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
        module = importlib.util.module_from_spec(importlib.util.spec_from_file_location(modname, path))
        sys.modules[modname] = module  # as an import would (dataclasses, pickling look it up)
        try:
            _run_source(module, path)
        except (Exception, SystemExit) as exc:  # report whatever the user's file raised
            sys.modules.pop(modname, None)
            raise ValueError(f"builder {spec!r}: running {where} raised {type(exc).__name__}: {exc}") from exc
        return module
    try:
        module = sys.modules.get(where) or importlib.import_module(where)
        file = getattr(module, "__file__", None)
        if file and Path(file).is_file():
            digest = _digest(file)
            if _MODULE_HASHES.setdefault(where, digest) != digest:  # edited since we imported it
                _run_source(module, Path(file))
                _MODULE_HASHES[where] = digest
    except ModuleNotFoundError as exc:
        if exc.name and (where == exc.name or where.startswith(exc.name + ".")):
            raise ValueError(f"builder {spec!r}: module {where!r} not found on sys.path (is it installed or "
                             f"on PYTHONPATH? a local file can be given as path/to/file.py:function)") from exc
        raise ValueError(f"builder {spec!r}: importing {where} raised ModuleNotFoundError: {exc}") from exc
    except (Exception, SystemExit) as exc:
        raise ValueError(f"builder {spec!r}: importing {where} raised {type(exc).__name__}: {exc}") from exc
    return module


def from_builder(spec: str, n_qubits: int, depth: int, name: str | None = None) -> Circuit:
    """Call ``function(n_qubits, depth)`` of ``module:function`` or ``path/to/file.py:function``
    (relative to the working directory); it returns a qiskit ``QuantumCircuit`` (imported with
    :func:`from_qiskit`), a PennyLane tape (:func:`from_pennylane`; integer wire labels are wires
    0..n_qubits−1) or a :class:`Circuit` (used as is).  The name is the function's unless
    given (a returned Circuit keeps its own name unless it is the default ``circuit``)."""
    where, function = _split_builder(spec)
    module = _builder_module(spec, where)
    fn = getattr(module, function, None)
    what = f"builder {spec!r}: function {function!r}"
    if fn is None:
        raise ValueError(f"{what} not found in {where}")
    if not callable(fn):
        raise ValueError(f"{what} is not callable (it is of type {type(fn).__name__})")
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        signature = None
    if signature is not None:
        try:
            signature.bind(n_qubits, depth)
        except TypeError as exc:
            raise ValueError(f"{what}{signature} cannot be called as {function}(n_qubits, depth): {exc}") from None
    try:
        result = fn(n_qubits, depth)
    except Exception as exc:  # report whatever the builder raised
        raise ValueError(f"{what} raised {type(exc).__name__}: {exc} "
                         f"(called as {function}({n_qubits}, {depth}))") from exc
    if isinstance(result, Circuit):
        circuit = result
        if name or circuit.name == "circuit":
            circuit = replace(circuit, name=name or function)
    elif any(cls.__module__.partition(".")[0] == "pennylane" for cls in type(result).__mro__):
        from pennylane.tape import QuantumScript

        if not isinstance(result, QuantumScript):
            raise ValueError(f"{what} returned a PennyLane {type(result).__name__}; allowed: a PennyLane tape "
                             "(QuantumScript), a qiskit QuantumCircuit or a qnnscope Circuit")
        integers = all(isinstance(w, (int, np.integer)) and not isinstance(w, bool)  # the usual labels 0..n−1
                       for w in result.wires)
        circuit = from_pennylane(result, wires=range(n_qubits) if integers else None, name=name or function,
                                 source=f"builder {spec!r}")
    else:
        try:
            from qiskit import QuantumCircuit
        except ImportError:  # pragma: no cover - qiskit is a dependency
            QuantumCircuit = ()
        if not isinstance(result, QuantumCircuit):
            raise ValueError(f"{what} returned {type(result).__name__}; allowed: a qiskit QuantumCircuit, "
                             "a PennyLane tape (QuantumScript) or a qnnscope Circuit")
        circuit = from_qiskit(result, name or function, source=f"builder {spec!r}")
    if circuit.n_qubits != n_qubits:
        raise ValueError(f"{what} returned a circuit on {circuit.n_qubits} qubits, {n_qubits} were asked for")
    return circuit


def _qasm_path(spec: str, n_qubits: int, depth: int) -> Path:
    try:
        return Path(spec.format(n=n_qubits, depth=depth))
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"{spec}: bad placeholder {exc} in the file pattern; allowed: {{n}} and {{depth}}") from None


def _is_qasm(spec: str) -> bool:
    return spec.strip().lower().endswith(".qasm")


def _source_file(spec: str, n_qubits: int, depth: int) -> Path:
    """The file a spec reads for (n_qubits, depth), without executing anything."""
    if _is_qasm(spec):
        path = _qasm_path(spec.strip(), n_qubits, depth)
        if not path.is_file():
            pattern = "" if str(path) == spec.strip() else f" (from pattern {spec.strip()})"
            raise ValueError(f"{path}{pattern}: OpenQASM 3 file not found")
        return path
    where, _ = _split_builder(spec)
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise ValueError(f"builder {spec!r}: file {where} not found (relative to {Path.cwd()})")
        return path
    try:
        found = importlib.util.find_spec(where)
    except (ImportError, ValueError) as exc:
        raise ValueError(f"builder {spec!r}: module {where!r} not found ({exc})") from None
    if found is None:
        raise ValueError(f"builder {spec!r}: module {where!r} not found on sys.path (is it installed or "
                         f"on PYTHONPATH? a local file can be given as path/to/file.py:function)")
    if not found.origin or not Path(found.origin).is_file():
        raise ValueError(f"builder {spec!r}: module {where!r} has no source file to hash")
    return Path(found.origin)


def source_hash(spec: str, n_qubits: int, depth: int) -> str:
    """12 hex digits of sha256 of the file ``spec`` reads for (n_qubits, depth): the QASM file,
    the builder's ``.py`` file or its module's file (found without importing it)."""
    return _digest(_source_file(spec, n_qubits, depth))[:12]


@lru_cache(maxsize=128)
def _load(spec: str, n_qubits: int, depth: int, digest: str, cwd: str) -> Circuit:
    """Cached on the file's digest (and working directory), so edits are picked up."""
    if _is_qasm(spec):
        path = _qasm_path(spec.strip(), n_qubits, depth)
        circuit = from_qasm3(path)
        if circuit.n_qubits != n_qubits:
            raise ValueError(f"{path}: the circuit has {circuit.n_qubits} qubits, {n_qubits} were asked for")
        return circuit
    return from_builder(spec, n_qubits, depth)


def load(spec: str, n_qubits: int, depth: int, key: str = "circuit") -> Circuit:
    """A user circuit from ``spec``: a ``.qasm`` file (``{n}`` and ``{depth}`` placeholders are
    filled in) or a builder ``module:function`` / ``file.py:function``; errors are ValueErrors
    prefixed with ``key`` (the option or config key)."""
    try:
        return _load(spec, n_qubits, depth, source_hash(spec, n_qubits, depth), os.getcwd())
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from exc


def _num(x) -> str:
    return "None" if x is None else repr(float(x) + 0.0)  # + 0.0 turns −0.0 into 0.0


def structure_hash(circuit: Circuit) -> str:
    """16 hex digits of sha256 of the circuit's structure (qubits, slots, choices, ties and every
    op's fields); the name, parameter names and layers are left out."""
    ties = [(int(a), int(b)) for a, b in circuit.ties]
    header = (f"qnnscope-structure-1 n_qubits={int(circuit.n_qubits)} n_params={int(circuit.n_params)} "
              f"n_choices={int(circuit.n_choices)} ties={ties}")
    lines = [header]
    for op in circuit.ops:
        matrix = "None" if op.matrix is None else ",".join(
            f"({_num(complex(z).real)},{_num(complex(z).imag)})" for z in op.matrix)
        lines.append("|".join([
            op.gate, ",".join(str(int(w)) for w in op.wires),
            "None" if op.param is None else str(int(op.param)), _num(op.angle),
            "None" if op.choice is None else str(int(op.choice)), _num(op.scale), _num(op.offset),
            str(op.pauli), matrix,
        ]))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def spec_name(spec: str) -> str:
    """A short name for a user circuit spec, for table rows and paths: the builder's file or
    module stem, plus the function unless it is ``build`` (``circuits/brick.py:build`` → ``brick``,
    ``mypkg.zoo:qcnn`` → ``zoo_qcnn``), or the QASM file's stem without its ``{n}``/``{depth}``
    placeholders (``circuits/brick_{n}_{depth}.qasm`` → ``brick``)."""
    text = spec.strip()
    if _is_qasm(text):
        stem = re.sub(r"\{[^}]*\}", "", Path(text).stem)
    else:
        where, _, function = text.rpartition(":")
        stem = Path(where).stem if where.endswith(".py") else where.rsplit(".", 1)[-1]
        stem = stem if function == "build" else f"{stem}_{function}"
    name = re.sub(r"[^A-Za-z0-9_]+", "_", stem).strip("_")
    return name if name and name[0].isalpha() else f"circuit_{name}".rstrip("_")
