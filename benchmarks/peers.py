"""Peer implementations of McClean et al.'s measurement, written the way researchers do it today.

Each peer computes ∂⟨Z0Z1⟩/∂θ_{1,1} — the gradient of trainable slot 0 (first layer, first
qubit) — of the McClean ansatz for every sample, from the same arrays the engine receives:

* ``theta``   ``(S, n*depth)`` angles, slot ``k = layer*n + qubit`` (layer-major, qubit-minor);
* ``choices`` ``(S, n*depth)`` Pauli axis of each rotation (0 = X, 1 = Y, 2 = Z).

Circuit: RY(π/4) on every qubit, then ``depth`` layers of R_P(θ) on every qubit, each followed
by a CZ ladder (0,1), (1,2), …; R_P(θ) = exp(−iθP/2).  Every peer is a function
``peer(n, depth, theta, choices) -> grads (S,)`` and is registered in :data:`PEERS` with the
precision it runs in and a one-line description.  The libraries are imported inside the
functions, so a missing library only disables its own peer: :func:`unavailable` says why a peer
cannot run here, and the tables print ``n/a`` for it.

The qulacs, qsim and qibojit peers build their circuits from one gate list,
:func:`mcclean_gates` (``(gate, wires, angle)`` in circuit order), through one builder per library
(:func:`qulacs_circuit`, :func:`cirq_circuit`, :func:`qibo_circuit`), which
``bench_allparam.py`` reuses for the hardware-efficient ansatz.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass

import numpy as np

THREADS = 2
"""CPU threads a peer may use where the library takes the number as an option (Aer, qsim,
qibojit); qulacs reads ``QULACS_NUM_THREADS`` (set by ``bench_gradients._limit_threads``)."""

BACKPROP_TAPE_LIMIT = 256 * 2**20
"""Bytes of autograd tape above which the default.qubit loop switches from backprop to
parameter shift.  Backprop keeps every intermediate state (≈ gates × 2^n × 16 B): it is the
faster method for small states, 5× slower than two shifted executions at n=16, and would not
fit in memory at n=20."""

TC_CHUNK_BYTES = 3 * 2**30
"""Memory a TensorCircuit vmap chunk may use; samples are processed in chunks of this size."""

BROADCAST_BYTES = 2 * 2**30
"""Memory the broadcast default.qubit peer may use (2S complex128 states, ~3 live copies)."""

QSIM_MISSING = (
    "not in the bench extra: qsimcirq 0.22.1 requires contourpy<1.3.3 and cirq-core 1.7.0 "
    "pandas<3.1, so pip would downgrade this environment's contourpy and pandas"
)
QIBOJIT_MISSING = (
    "not in the bench extra: qibojit 0.1.17 requires numba<0.62 and psutil<6, so pip would "
    "downgrade this environment's numba, llvmlite, numpy and psutil"
)


@dataclass(frozen=True)
class Peer:
    """A peer implementation and what the tables say about it."""

    fn: Callable[[int, int, np.ndarray, np.ndarray], np.ndarray]
    dtype: str
    description: str
    granule: Callable[[int, int], int] = lambda n, depth: 1
    """Smallest batch the peer processes at full efficiency (subset timings use multiples)."""
    compiles: bool = False
    """True when the first call on a new shape compiles (its time is reported separately)."""
    max_samples: Callable[[int, int], int] = lambda n, depth: 2**62
    """Most samples one call may take without risking the machine's memory."""
    requires: tuple[str, ...] = ()
    """Modules the peer imports; if one does not import, the peer's column reads ``n/a``."""
    missing: str = ""
    """Why the peer's library is not part of the ``bench`` extra (said when it does not import)."""


def _n_gates(n: int, depth: int) -> int:
    return n + depth * (2 * n - 1)


# --------------------------------------------------------------------------- a. default.qubit loop


def _pl_mcclean(n: int, depth: int) -> Callable:
    """McClean's circuit as a PennyLane quantum function of (θ_{1,1}, the other angles, choices)."""
    import pennylane as qml

    gates = (qml.RX, qml.RY, qml.RZ)

    def circuit(first, rest, choice):
        params = [first] + list(rest)
        for j in range(n):
            qml.RY(np.pi / 4, wires=j)
        for layer in range(depth):
            for j in range(n):
                k = layer * n + j
                gates[choice[k]](params[k], wires=j)
            for j in range(n - 1):
                qml.CZ(wires=[j, j + 1])
        return qml.expval(qml.PauliZ(0) @ qml.PauliZ(1))

    return circuit


def pennylane_loop(n: int, depth: int, theta: np.ndarray, choices: np.ndarray) -> np.ndarray:
    """PennyLane ``default.qubit``, one QNode and one ``qml.grad`` call per sample.

    As in PennyLane's barren-plateau demo: a Python loop over samples, a fresh device and QNode
    per sample, the gate of every slot picked from [RX, RY, RZ] in Python.  Only θ_{1,1} is
    marked trainable (it is the only derivative wanted).  ``diff_method="backprop"`` (the
    default "best" for this device) while its tape fits in :data:`BACKPROP_TAPE_LIMIT`,
    otherwise ``"parameter-shift"`` (two executions, constant memory).  default.qubit starts
    from a complex128 |0…0⟩ and promotes every gate to it, so this peer runs in complex128.
    """
    import pennylane as qml
    from pennylane import numpy as pnp

    tape_bytes = _n_gates(n, depth) * 2**n * 16
    diff_method = "backprop" if tape_bytes <= BACKPROP_TAPE_LIMIT else "parameter-shift"

    circuit = _pl_mcclean(n, depth)

    grads = np.empty(len(theta))
    for s in range(len(theta)):
        dev = qml.device("default.qubit", wires=n)
        qnode = qml.QNode(circuit, dev, interface="autograd", diff_method=diff_method)
        first = pnp.array(theta[s, 0], requires_grad=True)
        rest = pnp.array(theta[s, 1:], requires_grad=False)
        grads[s] = qml.grad(qnode, argnums=0)(first, rest, choices[s])
    return grads


# --------------------------------------------------------------------- b. default.qubit broadcast


def pennylane_broadcast(n: int, depth: int, theta: np.ndarray, choices: np.ndarray) -> np.ndarray:
    """PennyLane ``default.qubit`` with parameter broadcasting over all samples at once.

    A broadcast gate has one type for the whole batch, but the Pauli axis differs per sample.
    Grouping samples by their choices is useless here (3^(n·depth) patterns, every sample is
    its own group), so every slot is applied as RX(θ·[P=X]) RY(θ·[P=Y]) RZ(θ·[P=Z]) with
    broadcast angles: two of the three are the identity for each sample (3× the gates, but
    one circuit execution for the whole batch).  The gradient of slot 0 is the parameter-shift
    rule, (E(θ₀+π/2) − E(θ₀−π/2))/2, with both shifted copies of all samples in one broadcast
    batch of 2S.  Runs in complex128 (see :func:`pennylane_loop`).
    """
    import pennylane as qml

    S = len(theta)
    shifted = np.concatenate([theta, theta]).astype(np.float64)
    shifted[:S, 0] += np.pi / 2
    shifted[S:, 0] -= np.pi / 2
    both = np.concatenate([choices, choices])
    angles = [np.where(both == axis, shifted, 0.0) for axis in range(3)]  # (2S, n*depth) each

    dev = qml.device("default.qubit", wires=n)

    @qml.qnode(dev, diff_method=None)
    def circuit(ax, ay, az):
        for j in range(n):
            qml.RY(np.pi / 4, wires=j)
        for layer in range(depth):
            for j in range(n):
                k = layer * n + j
                qml.RX(ax[:, k], wires=j)
                qml.RY(ay[:, k], wires=j)
                qml.RZ(az[:, k], wires=j)
            for j in range(n - 1):
                qml.CZ(wires=[j, j + 1])
        return qml.expval(qml.PauliZ(0) @ qml.PauliZ(1))

    values = np.asarray(circuit(*angles))
    return (values[:S] - values[S:]) / 2


# ------------------------------------------------------------------ c. lightning.qubit adjoint


def lightning_adjoint(n: int, depth: int, theta: np.ndarray, choices: np.ndarray) -> np.ndarray:
    """PennyLane ``lightning.qubit`` (C++), ``diff_method="adjoint"``, complex64, one QNode call
    per sample; only θ_{1,1} is trainable, so the adjoint pass differentiates that slot only."""
    import pennylane as qml
    from pennylane import numpy as pnp

    dev = qml.device("lightning.qubit", wires=n, c_dtype=np.complex64)

    circuit = qml.qnode(dev, diff_method="adjoint")(_pl_mcclean(n, depth))

    grad = qml.grad(circuit, argnums=0)
    out = np.empty(len(theta))
    for s in range(len(theta)):
        first = pnp.array(theta[s, 0], requires_grad=True)
        rest = pnp.array(theta[s, 1:], requires_grad=False)
        out[s] = grad(first, rest, choices[s])
    return out


# ------------------------------------------------------------------------ d. qiskit-aer shift


def aer_shift(n: int, depth: int, theta: np.ndarray, choices: np.ndarray) -> np.ndarray:
    """qiskit-aer statevector, single precision: parameter shift of slot 0 with all 2S shifted
    circuits (numbers bound, one Python-built circuit each) in ONE ``AerSimulator.run`` call,
    ⟨Z0Z1⟩ saved with ``save_expectation_value``.  RX/RY/RZ/CZ are Aer basis gates, so no
    transpile.  Qiskit orders qubits little-endian; Z0Z1 on qubits (0, 1) is the same number."""
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import Pauli
    from qiskit_aer import AerSimulator

    sim = AerSimulator(
        method="statevector",
        precision="single",
        max_parallel_threads=THREADS,
        max_parallel_experiments=0,
    )
    zz = Pauli("ZZ")
    S = len(theta)
    circuits = []
    for shift in (np.pi / 2, -np.pi / 2):
        for s in range(S):
            angles = theta[s].astype(np.float64)
            angles[0] += shift
            qc = QuantumCircuit(n)
            rot = (qc.rx, qc.ry, qc.rz)
            for j in range(n):
                qc.ry(np.pi / 4, j)
            for layer in range(depth):
                for j in range(n):
                    k = layer * n + j
                    rot[choices[s, k]](float(angles[k]), j)
                for j in range(n - 1):
                    qc.cz(j, j + 1)
            qc.save_expectation_value(zz, [0, 1])
            circuits.append(qc)
    result = sim.run(circuits).result()
    values = np.array([result.data(i)["expectation_value"] for i in range(2 * S)], dtype=float)
    return (values[:S] - values[S:]) / 2


# -------------------------------------------------------------------- e. TensorCircuit (JAX)

_TC_CACHE: dict[tuple[int, int, int], Callable] = {}


def _tc_chunk(n: int, depth: int) -> int:
    """Samples per vmap call: scan carries (depth states) plus one layer's recomputation."""
    per_sample = (depth + 4 * n) * 2**n * 8
    return int(max(1, min(256, TC_CHUNK_BYTES // per_sample)))


def _tc_function(n: int, depth: int, chunk: int) -> Callable:
    """``jit(vmap(value_and_grad(energy, argnums=0)))`` for one (n, depth, chunk), cached."""
    key = (n, depth, chunk)
    if key in _TC_CACHE:
        return _TC_CACHE[key]
    import jax
    import jax.numpy as jnp
    import tensorcircuit as tc

    K = tc.set_backend("jax")
    tc.set_dtype("complex64")
    eye = jnp.eye(2, dtype=jnp.complex64)
    paulis = jnp.array(
        [[[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]], dtype=jnp.complex64
    )

    def rp(angle, onehot):
        # R_P(θ) = cos(θ/2) I − i sin(θ/2) P, P picked by a one-hot row: vmappable, one gate.
        pauli = jnp.einsum("k,kab->ab", onehot.astype(jnp.complex64), paulis)
        return jnp.cos(angle / 2) * eye - 1j * jnp.sin(angle / 2) * pauli

    # One tc.Circuit for all 50 layers compiles in minutes-to-hours (its contraction path
    # search and the XLA graph grow with the gate count: n=8 took 5 s at depth 5, 25 s at
    # depth 20, >10 min at depth 50).  TensorCircuit's documented remedy is to scan over
    # layers, each a small Circuit with ``inputs=state``; jax.checkpoint on the body keeps
    # the reverse pass to one stored state per layer.
    @jax.checkpoint
    def layer(state, xs):
        angles, onehots = xs
        c = tc.Circuit(n, inputs=state)
        for j in range(n):
            c.any(j, unitary=rp(angles[j], onehots[j]))
        for j in range(n - 1):
            c.cz(j, j + 1)
        return c.state(), None

    def energy(first, rest, onehots):
        angles = jnp.concatenate([first[None], rest]).reshape(depth, n)
        c = tc.Circuit(n)
        for j in range(n):
            c.ry(j, theta=np.pi / 4)
        state, _ = jax.lax.scan(layer, c.state(), (angles, onehots.reshape(depth, n, 3)))
        return K.real(tc.Circuit(n, inputs=state).expectation_ps(z=[0, 1]))

    fn = jax.jit(jax.vmap(jax.value_and_grad(energy, argnums=0)))
    _TC_CACHE[key] = fn
    return fn


def tensorcircuit_jax(n: int, depth: int, theta: np.ndarray, choices: np.ndarray) -> np.ndarray:
    """TensorCircuit-NG, JAX backend, complex64: ``jax.jit(jax.vmap(jax.value_and_grad(energy,
    argnums=0)))`` over samples, the gradient taken w.r.t. θ[0] only.  Samples go through in
    fixed-size chunks (padded), so one compilation serves every call at this (n, depth)."""
    S = len(theta)
    chunk = min(_tc_chunk(n, depth), S)
    fn = _tc_function(n, depth, chunk)
    onehots = np.eye(3, dtype=np.float32)[choices]
    theta32 = theta.astype(np.float32)
    pad = (-S) % chunk
    if pad:
        theta32 = np.concatenate([theta32, np.repeat(theta32[-1:], pad, axis=0)])
        onehots = np.concatenate([onehots, np.repeat(onehots[-1:], pad, axis=0)])
    out = []
    for start in range(0, S + pad, chunk):
        sl = slice(start, start + chunk)
        _, g = fn(theta32[sl, 0], theta32[sl, 1:], onehots[sl])
        out.append(np.asarray(g))
    return np.concatenate(out)[:S].astype(float)


# ------------------------------------------------------- gate lists and one builder per library

Gate = tuple[str, tuple[int, ...], "float | None"]
"""``(name, wires, angle)``: ``RX``/``RY``/``RZ`` with their angle (R_P(θ) = exp(−iθP/2)), or
``CZ``/``CNOT`` (control first) with angle ``None``."""

AXES = ("RX", "RY", "RZ")


def mcclean_gates(n: int, depth: int, angles: Sequence[float], choice: Sequence[int]) -> list[Gate]:
    """McClean's circuit for one sample, in circuit order.  Slot ``k`` (θ_{1,1} is ``k = 0``) is
    gate ``n + k // n * (2n − 1) + k % n``: trainable slot 0 is gate ``n``."""
    gates: list[Gate] = [("RY", (j,), np.pi / 4) for j in range(n)]
    for layer in range(depth):
        for j in range(n):
            k = layer * n + j
            gates.append((AXES[choice[k]], (j,), float(angles[k])))
        gates += [("CZ", (j, j + 1), None) for j in range(n - 1)]
    return gates


def qulacs_circuit(n: int, gates: list[Gate], parametric: Container[int] = ()):
    """A qulacs ``ParametricQuantumCircuit`` of ``gates``; rotations whose index is in
    ``parametric`` become parametric gates, numbered in gate order.

    qulacs's ``RX``/``RY``/``RZ`` and its parametric rotations are exp(+iθP/2): fixed rotations
    go in as ``RotX``/``RotY``/``RotZ`` (exp(−iθP/2)) and parametric ones with −θ, so a
    parametric gate's qulacs parameter is −θ and ∂/∂θ is minus qulacs's derivative."""
    from qulacs import ParametricQuantumCircuit

    circuit = ParametricQuantumCircuit(n)
    for i, (name, wires, angle) in enumerate(gates):
        if angle is None:
            getattr(circuit, f"add_{name}_gate")(*wires)
        elif i in parametric:
            getattr(circuit, f"add_parametric_{name}_gate")(wires[0], -angle)
        else:
            getattr(circuit, f"add_Rot{name[1]}_gate")(wires[0], angle)
    return circuit


def cirq_circuit(qubits, gates: list[Gate]):
    """A cirq ``Circuit`` of ``gates`` on ``qubits`` (cirq's rx/ry/rz are exp(−iθP/2))."""
    import cirq

    make = {"RX": cirq.rx, "RY": cirq.ry, "RZ": cirq.rz}
    fixed = {"CZ": cirq.CZ, "CNOT": cirq.CNOT}
    ops = [
        fixed[name](*(qubits[w] for w in wires)) if angle is None else make[name](angle)(qubits[wires[0]])
        for name, wires, angle in gates
    ]
    return cirq.Circuit(ops)


def qibo_circuit(n: int, gates: list[Gate], trainable: Container[int] = ()):
    """A qibo ``Circuit`` of ``gates``; rotations whose index is in ``trainable`` are trainable
    (``set_parameters`` order), the others fixed (qibo's RX/RY/RZ are exp(−iθP/2))."""
    from qibo import Circuit, gates as qg

    circuit = Circuit(n)
    for i, (name, wires, angle) in enumerate(gates):
        if angle is None:
            circuit.add(getattr(qg, name)(*wires))
        else:
            circuit.add(getattr(qg, name)(wires[0], angle, trainable=i in trainable))
    return circuit


def _shift_difference(values: np.ndarray) -> np.ndarray:
    """(E(θ₀ + π/2) − E(θ₀ − π/2)) / 2 from values laid out (S, 2) as [+shift, −shift]."""
    values = np.asarray(values, dtype=float).reshape(-1, 2)
    return (values[:, 0] - values[:, 1]) / 2


SHIFTS = (np.pi / 2, -np.pi / 2)


# --------------------------------------------------------------------------------- f. qulacs


def qulacs_shift(n: int, depth: int, theta: np.ndarray, choices: np.ndarray) -> np.ndarray:
    """qulacs (C++, complex128): parameter shift of slot 0, 2 ``update_quantum_state`` runs per
    sample.  Per sample one ``ParametricQuantumCircuit`` whose only parametric gate is slot 0
    (``set_parameter`` between the two runs), ⟨Z0Z1⟩ by ``Observable.get_expectation_value``.
    Faster than ``ParametricQuantumCircuit.backprop`` for one parameter: backprop sweeps the
    circuit forward twice and backward once with two states (≈ 2× the work here)."""
    from qulacs import Observable, QuantumState

    obs = Observable(n)
    obs.add_operator(1.0, "Z 0 Z 1")
    state = QuantumState(n)
    values = np.empty((len(theta), 2))
    for s in range(len(theta)):
        circuit = qulacs_circuit(n, mcclean_gates(n, depth, theta[s], choices[s]), parametric=(n,))
        for i, shift in enumerate(SHIFTS):
            circuit.set_parameter(0, -(theta[s, 0] + shift))
            state.set_zero_state()
            circuit.update_quantum_state(state)
            values[s, i] = obs.get_expectation_value(state)
    return _shift_difference(values)


# ----------------------------------------------------------------------------------- g. qsim


def qsim_shift(n: int, depth: int, theta: np.ndarray, choices: np.ndarray) -> np.ndarray:
    """qsim (``qsimcirq.QSimSimulator``, C++, single precision, ``cpu_threads`` = THREADS):
    parameter shift of slot 0, 2 ``simulate_expectation_values`` runs per sample, each of a
    Python-built cirq circuit with the angles as numbers; ⟨Z0Z1⟩ as a cirq ``PauliString``."""
    import cirq
    import qsimcirq

    qubits = cirq.LineQubit.range(n)
    sim = qsimcirq.QSimSimulator(qsimcirq.QSimOptions(cpu_threads=THREADS))
    zz = cirq.Z(qubits[0]) * cirq.Z(qubits[1])
    values = np.empty((len(theta), 2))
    for s in range(len(theta)):
        for i, shift in enumerate(SHIFTS):
            angles = theta[s].astype(np.float64)
            angles[0] += shift
            circuit = cirq_circuit(qubits, mcclean_gates(n, depth, angles, choices[s]))
            values[s, i] = sim.simulate_expectation_values(circuit, zz)[0].real
    return _shift_difference(values)


# -------------------------------------------------------------------------------- h. qibojit


_QIBO_SET: tuple[int, str] | None = None


def qibojit_backend(dtype: str = "complex64") -> None:
    """qibo on its qibojit backend (numba kernels), THREADS threads, ``dtype`` states; set once
    (each ``set_backend`` rebuilds the backend, ~3 ms, and logs a line)."""
    global _QIBO_SET
    if _QIBO_SET == (THREADS, dtype):
        return
    import qibo

    qibo.set_backend("qibojit", platform="numba")
    qibo.set_threads(THREADS)
    qibo.set_dtype(dtype)
    _QIBO_SET = (THREADS, dtype)


def qibojit_shift(n: int, depth: int, theta: np.ndarray, choices: np.ndarray) -> np.ndarray:
    """qibo with the qibojit backend (numba), complex64: parameter shift of slot 0, 2 circuit
    executions per sample.  Per sample one qibo ``Circuit`` whose only trainable gate is slot 0
    (``set_parameters`` between the two executions), ⟨Z0Z1⟩ by ``SymbolicHamiltonian``."""
    from qibo.hamiltonians import SymbolicHamiltonian
    from qibo.symbols import Z

    qibojit_backend()
    zz = SymbolicHamiltonian(Z(0) * Z(1), nqubits=n)
    values = np.empty((len(theta), 2))
    for s in range(len(theta)):
        circuit = qibo_circuit(n, mcclean_gates(n, depth, theta[s], choices[s]), trainable=(n,))
        for i, shift in enumerate(SHIFTS):
            circuit.set_parameters([theta[s, 0] + shift])
            values[s, i] = float(np.real(zz.expectation_from_state(circuit().state())))
    return _shift_difference(values)


PEERS: dict[str, Peer] = {
    "pl_loop": Peer(
        pennylane_loop,
        "complex128",
        "PennyLane default.qubit, loop over samples, qml.grad (backprop; parameter shift once "
        "the tape exceeds 256 MiB)",
        requires=("pennylane",),
    ),
    "pl_broadcast": Peer(
        pennylane_broadcast,
        "complex128",
        "PennyLane default.qubit, parameter broadcasting, 2S shifted copies in one execution",
        max_samples=lambda n, depth: max(1, BROADCAST_BYTES // (2 * 2**n * 16 * 3)),
        requires=("pennylane",),
    ),
    "lightning": Peer(
        lightning_adjoint,
        "complex64",
        "PennyLane lightning.qubit, adjoint, loop over samples",
        requires=("pennylane", "pennylane_lightning"),
    ),
    "aer": Peer(
        aer_shift,
        "complex64",
        "qiskit-aer statevector single, 2S circuits in one run",
        requires=("qiskit", "qiskit_aer"),
    ),
    "tensorcircuit": Peer(
        tensorcircuit_jax,
        "complex64",
        "TensorCircuit-NG (JAX), jit+vmap of value_and_grad, scan over layers",
        granule=_tc_chunk,
        compiles=True,
        requires=("tensorcircuit", "jax"),
    ),
    "qulacs": Peer(
        qulacs_shift,
        "complex128",
        "qulacs, parameter shift (2 update_quantum_state runs per sample), loop over samples",
        requires=("qulacs",),
    ),
    "qsim": Peer(
        qsim_shift,
        "complex64",
        "qsim (qsimcirq), parameter shift (2 simulate_expectation_values runs per sample), "
        "loop over samples",
        requires=("cirq", "qsimcirq"),
        missing=QSIM_MISSING,
    ),
    "qibojit": Peer(
        qibojit_shift,
        "complex64",
        "qibo + qibojit (numba), parameter shift (2 circuit executions per sample), loop over samples",
        requires=("qibo", "qibojit"),
        missing=QIBOJIT_MISSING,
    ),
}
"""Peers by name, in table order."""


def unavailable(name: str, registry: dict[str, Peer] | None = None) -> str:
    """Why peer ``name`` of ``registry`` (default :data:`PEERS`) cannot run in this environment,
    or '' when it can."""
    peer = (PEERS if registry is None else registry)[name]
    for module in peer.requires:
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - any import failure disables the peer
            why = f"{module} does not import ({type(exc).__name__}: {exc})"
            return f"{why}; {peer.missing}" if peer.missing else why
    return ""


def versions() -> dict[str, str]:
    """Versions of the peer libraries (a library that does not import says why)."""
    from importlib.metadata import version

    out = {}
    for module, dist in (
        ("pennylane", "pennylane"),
        ("pennylane_lightning", "pennylane_lightning"),
        ("qiskit", "qiskit"),
        ("qiskit_aer", "qiskit-aer"),
        ("tensorcircuit", "tensorcircuit-ng"),
        ("jax", "jax"),
        ("jaxlib", "jaxlib"),
        ("qulacs", "qulacs"),
        ("cirq", "cirq-core"),
        ("qsimcirq", "qsimcirq"),
        ("qibo", "qibo"),
        ("qibojit", "qibojit"),
    ):
        try:
            __import__(module)
            out[dist] = version(dist)
        except Exception as exc:  # noqa: BLE001 - any import failure is reported, not raised
            out[dist] = f"unavailable ({type(exc).__name__}: {exc})"
    return out
