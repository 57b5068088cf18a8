"""Peer implementations of McClean et al.'s measurement, written the way researchers do it today.

Each peer computes ∂⟨Z0Z1⟩/∂θ_{1,1} — the gradient of trainable slot 0 (first layer, first
qubit) — of the McClean ansatz for every sample, from the same arrays the engine receives:

* ``theta``   ``(S, n*depth)`` angles, slot ``k = layer*n + qubit`` (layer-major, qubit-minor);
* ``choices`` ``(S, n*depth)`` Pauli axis of each rotation (0 = X, 1 = Y, 2 = Z).

Circuit: RY(π/4) on every qubit, then ``depth`` layers of R_P(θ) on every qubit, each followed
by a CZ ladder (0,1), (1,2), …; R_P(θ) = exp(−iθP/2).  Every peer is a function
``peer(n, depth, theta, choices) -> grads (S,)`` and is registered in :data:`PEERS` with the
precision it runs in and a one-line description.  The libraries are imported inside the
functions, so a missing library only disables its own peer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

THREADS = 2
"""CPU threads a peer may use where the library takes the number as an option (Aer)."""

BACKPROP_TAPE_LIMIT = 256 * 2**20
"""Bytes of autograd tape above which the default.qubit loop switches from backprop to
parameter shift.  Backprop keeps every intermediate state (≈ gates × 2^n × 16 B): it is the
faster method for small states, 5× slower than two shifted executions at n=16, and would not
fit in memory at n=20."""

TC_CHUNK_BYTES = 3 * 2**30
"""Memory a TensorCircuit vmap chunk may use; samples are processed in chunks of this size."""

BROADCAST_BYTES = 2 * 2**30
"""Memory the broadcast default.qubit peer may use (2S complex128 states, ~3 live copies)."""


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


PEERS: dict[str, Peer] = {
    "pl_loop": Peer(
        pennylane_loop,
        "complex128",
        "PennyLane default.qubit, loop over samples, qml.grad (backprop; parameter shift once "
        "the tape exceeds 256 MiB)",
    ),
    "pl_broadcast": Peer(
        pennylane_broadcast,
        "complex128",
        "PennyLane default.qubit, parameter broadcasting, 2S shifted copies in one execution",
        max_samples=lambda n, depth: max(1, BROADCAST_BYTES // (2 * 2**n * 16 * 3)),
    ),
    "lightning": Peer(
        lightning_adjoint, "complex64", "PennyLane lightning.qubit, adjoint, loop over samples"
    ),
    "aer": Peer(aer_shift, "complex64", "qiskit-aer statevector single, 2S circuits in one run"),
    "tensorcircuit": Peer(
        tensorcircuit_jax,
        "complex64",
        "TensorCircuit-NG (JAX), jit+vmap of value_and_grad, scan over layers",
        granule=_tc_chunk,
        compiles=True,
    ),
}
"""Peers by name, in table order."""


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
    ):
        try:
            __import__(module)
            out[dist] = version(dist)
        except Exception as exc:  # noqa: BLE001 - any import failure is reported, not raised
            out[dist] = f"unavailable ({type(exc).__name__}: {exc})"
    return out
