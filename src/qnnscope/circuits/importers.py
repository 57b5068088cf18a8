"""Import user circuits — qiskit ``QuantumCircuit`` objects, OpenQASM 3 files and Python builder
functions — as backend-neutral :class:`~.description.Circuit` structures.

Users bring their own ansätze; every study needs them as the built-in ones are: a fixed gate
structure plus trainable slots, each gate angle affine in at most one slot (a·θ_k + b), so that
every backend's gradients stay exact.  Whatever cannot be represented exactly (mid-circuit
measurements, classical control, non-affine angle expressions, unknown gates without a usable
definition) is refused with a ValueError that names the file or builder, the instruction
(counted from 0) and what is allowed.  :func:`source_hash` keys caches on the user's file;
:func:`structure_hash` keys seeds on the structure alone, so the same ansatz built two ways
draws the same samples.  qiskit is imported lazily: ``import qnnscope.circuits`` stays light.
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

    def __init__(self, source: str, index: int, gate: str, qubits: tuple[int, ...], path=()):
        self.source, self.index, self.gate, self.qubits, self.path = source, index, gate, qubits, path

    def inner(self, index: int, gate: str) -> _Where:
        return _Where(self.source, self.index, self.gate, self.qubits, self.path + ((index, gate),))

    def error(self, problem: str, allowed: str = _ALLOWED) -> ValueError:
        wires = ", ".join(map(str, self.qubits))
        text = f"{self.source}: instruction {self.index} ('{self.gate}' on qubit(s) {wires})"
        for index, gate in self.path:
            text += f", in its definition instruction {index} ('{gate}')"
        return ValueError(f"{text}: {problem}; {allowed}")


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
        if all(a.param is None for a in angles):
            from qiskit.circuit.library import UGate

            m = UGate(*(a.offset for a in angles)).to_matrix()
            self.emit_fixed("UNITARY", q, matrix=tuple(complex(z) for z in m.reshape(-1)))
            return
        theta, phi, lam = angles
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
        letters = label[::-1]  # letters[k] acts on the gate's k-th qubit
        word = [(w, p) for w, p in zip(q, letters) if p != "I"]
        if coeff == 0 or not word:
            if time.param is not None:
                raise where.error(f"term {coeff}·{label} has no effect, so parameter "
                                  f"{time.param.name} would be dropped", allowed)
            return
        angle = time.times(2 * coeff)
        wires = tuple(w for w, _ in word)
        letters = "".join(p for _, p in word)
        if len(word) == 1:
            self.emit("R" + letters, wires, angle)
        else:
            self.emit("PAULIROT", wires, angle, pauli=letters)

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
    :func:`from_qiskit`) or a :class:`Circuit` (used as is).  The name is the function's unless
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
    else:
        try:
            from qiskit import QuantumCircuit
        except ImportError:  # pragma: no cover - qiskit is a dependency
            QuantumCircuit = ()
        if not isinstance(result, QuantumCircuit):
            raise ValueError(f"{what} returned {type(result).__name__}; allowed: a qiskit QuantumCircuit "
                             "or a qnnscope Circuit")
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
