"""Dense numpy reference of a dissipative QNN (Beer et al., Nat. Commun. 11, 808, 2020).

Written from the definition, independently of :mod:`qnnscope.models.dqnn`: each
perceptron unitary is embedded into the full space of its layer with Kronecker products
and an explicit qubit permutation, the layer unitary is U^l = U_{m_l} ⋯ U_1, and the
input qubits are traced out by summing diagonal blocks.  Slow (4^(m_{l−1}+m_l) per
layer), meant for tests.

Qubit order everywhere: first qubit most significant.  Inside a perceptron's unitary
the order is (inputs in the listed order, output).
"""

from __future__ import annotations

import itertools
from functools import reduce

import numpy as np
import scipy.linalg

I2 = np.eye(2, dtype=complex)
X = np.array([[0, 1], [1, 0]], dtype=complex)
Y = np.array([[0, -1j], [1j, 0]], dtype=complex)
Z = np.array([[1, 0], [0, -1]], dtype=complex)
PAULIS = (I2, X, Y, Z)
CNOT = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=complex)
SWAP = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=complex)


def kron(*mats: np.ndarray) -> np.ndarray:
    return reduce(np.kron, mats, np.eye(1, dtype=complex))


def ry(t: float) -> np.ndarray:
    c, s = np.cos(t / 2), np.sin(t / 2)
    return np.array([[c, -s], [s, c]], dtype=complex)


def rz(t: float) -> np.ndarray:
    return np.diag([np.exp(-0.5j * t), np.exp(0.5j * t)])


def ket0(n: int) -> np.ndarray:
    v = np.zeros(2**n, dtype=complex)
    v[0] = 1
    return v


# --- embedding and partial trace ------------------------------------------------------

def permutation(order: list[int], n: int) -> np.ndarray:
    """The unitary P with P|b_0 … b_{n−1}⟩ = |b_{order[0]} … b_{order[n−1]}⟩: qubit
    ``order[k]`` moves to position k."""
    dim = 2**n
    p = np.zeros((dim, dim), dtype=complex)
    for idx in range(dim):
        bits = [(idx >> (n - 1 - q)) & 1 for q in range(n)]
        new = 0
        for k in range(n):
            new = 2 * new + bits[order[k]]
        p[new, idx] = 1
    return p


def embed(u: np.ndarray, qubits: list[int], n: int) -> np.ndarray:
    """``u`` (2^k, 2^k) on ``qubits`` (in u's own order) of an n-qubit register,
    identity elsewhere: P† (u ⊗ 1) P, P moving ``qubits`` to the front."""
    qubits = list(qubits)
    rest = [q for q in range(n) if q not in qubits]
    p = permutation(qubits + rest, n)
    return p.conj().T @ np.kron(u, np.eye(2 ** len(rest), dtype=complex)) @ p


def partial_trace(rho: np.ndarray, keep: list[int], n: int) -> np.ndarray:
    """Reduced state of qubits ``keep`` (increasing order): an explicit sum over the
    basis states of the traced qubits."""
    keep = sorted(keep)
    gone = [q for q in range(n) if q not in keep]
    dk = 2 ** len(keep)
    out = np.zeros((dk, dk), dtype=complex)

    def index(kept_bits, gone_bits) -> int:
        bits = [0] * n
        for q, b in zip(keep, kept_bits):
            bits[q] = b
        for q, b in zip(gone, gone_bits):
            bits[q] = b
        return int("".join(map(str, bits)), 2)

    kept = list(itertools.product((0, 1), repeat=len(keep)))
    for g in itertools.product((0, 1), repeat=len(gone)):
        rows = [index(a, g) for a in kept]
        out += rho[np.ix_(rows, rows)]
    return out


# --- the network ----------------------------------------------------------------------

def layer(rho_in: np.ndarray, m_in: int, m_out: int, perceptrons) -> np.ndarray:
    """ρ_in ⊗ |0…0⟩⟨0…0| on (m_in inputs, m_out outputs), U^l = U_{m_out} ⋯ U_1,
    conjugation, trace over the inputs.  ``perceptrons``: (inputs, output index,
    unitary), in application order."""
    n = m_in + m_out
    rho = np.kron(rho_in, np.outer(ket0(m_out), ket0(m_out)))
    u = np.eye(2**n, dtype=complex)
    for inputs, out, v in perceptrons:
        u = embed(v, list(inputs) + [m_in + out], n) @ u
    rho = u @ rho @ u.conj().T
    d = 2**m_out
    res = np.zeros((d, d), dtype=complex)
    for i in range(2**m_in):
        res += rho[i * d:(i + 1) * d, i * d:(i + 1) * d]
    return res


def network(widths, layers, rho0: np.ndarray) -> list[np.ndarray]:
    """The output of every layer (L density matrices) for input ``rho0``; ``layers[k]``
    is the perceptron list of layer k + 1 as in :func:`layer`."""
    outs, rho = [], rho0
    for k, row in enumerate(layers):
        rho = layer(rho, widths[k], widths[k + 1], row)
        outs.append(rho)
    return outs


def global_cost(rho: np.ndarray, phi: np.ndarray) -> float:
    """1 − ⟨φ|ρ|φ⟩."""
    return float(1 - (phi.conj() @ rho @ phi).real)


def local_cost(rho: np.ndarray, psis) -> float:
    """1 − (1/m) Σ_j ⟨ψ_j|ρ_j|ψ_j⟩, ρ_j the reduced state of output qubit j."""
    m = len(psis)
    f = [(p.conj() @ partial_trace(rho, [j], m) @ p).real for j, p in enumerate(psis)]
    return float(1 - np.mean(f))


# --- perceptron unitaries from their definitions --------------------------------------

def pauli_string(labels) -> np.ndarray:
    """⊗ of Paulis labelled 0 = I, 1 = X, 2 = Y, 3 = Z."""
    return kron(*(PAULIS[a] for a in labels))


def general_unitary(coeffs, n: int) -> np.ndarray:
    """exp(iK), K = Σ_P k_P P over the 4^n − 1 non-identity Pauli strings in
    lexicographic order (I < X < Y < Z, first qubit most significant); ``coeffs``
    (..., 4^n − 1) are the k_P."""
    strings = list(itertools.product(range(4), repeat=n))[1:]
    basis = np.stack([pauli_string(s) for s in strings])
    k = np.tensordot(np.asarray(coeffs), basis, axes=(-1, 0))
    return scipy.linalg.expm(1j * k)


def on(gate: np.ndarray, qubits, n: int) -> np.ndarray:
    return embed(gate, list(qubits), n)


def hea_unitary(params, n: int, depth: int) -> np.ndarray:
    """Per layer: RY(θ_{2j}) then RZ(θ_{2j+1}) on qubit j, then CNOT(0→1), …,
    CNOT(n−2→n−1)."""
    u = np.eye(2**n, dtype=complex)
    params = list(params)
    for d in range(depth):
        p = params[2 * n * d:2 * n * (d + 1)]
        for j in range(n):
            u = on(rz(p[2 * j + 1]) @ ry(p[2 * j]), [j], n) @ u
        for j in range(n - 1):
            u = on(CNOT, [j, j + 1], n) @ u
    return u


def local_unitary(params, n_inputs: int, locality: int) -> np.ndarray:
    """``locality`` 1: SWAP(input, output), then RY on the output.  ``locality`` ≥ 2:
    per input i, RY(θ_{2i}) on i, RY(θ_{2i+1}) on the output, CNOT(i → output)."""
    n, out = n_inputs + 1, n_inputs
    if locality == 1:
        return on(ry(params[0]), [out], n) @ SWAP
    u = np.eye(2**n, dtype=complex)
    for i in range(n_inputs):
        u = on(ry(params[2 * i]), [i], n) @ u
        u = on(ry(params[2 * i + 1]), [out], n) @ u
        u = on(CNOT, [i, out], n) @ u
    return u


def perceptron_unitary(family: str, params, n_inputs: int, depth: int = 1,
                       locality: int = 1) -> np.ndarray:
    if family == "general":
        return general_unitary(params, n_inputs + 1)
    if family == "deep":
        return hea_unitary(params, n_inputs + 1, depth)
    if family == "local":
        return local_unitary(params, n_inputs, locality)
    raise ValueError(family)


def wiring(widths, family: str, locality: int = 1) -> list[list[tuple[int, ...]]]:
    """Per layer, per perceptron: its input qubits, from each family's definition."""
    out = []
    for m_in, m_out in zip(widths[:-1], widths[1:]):
        if family == "local":
            out.append([tuple(range(j, min(j + locality, m_in))) for j in range(m_out)])
        else:
            out.append([tuple(range(m_in)) for _ in range(m_out)])
    return out


def n_params(family: str, n_inputs: int, depth: int = 1, locality: int = 1) -> int:
    if family == "general":
        return 4 ** (n_inputs + 1) - 1
    if family == "deep":
        return 2 * (n_inputs + 1) * depth
    return 1 if locality == 1 else 2 * n_inputs


def build(widths, family: str, theta, depth: int = 1, locality: int = 1):
    """The perceptron lists of all layers for one parameter vector ``theta``: each
    perceptron's parameters are consecutive, in layer order, then perceptron order."""
    layers, offset = [], 0
    for row in wiring(widths, family, locality):
        perceptrons = []
        for j, inputs in enumerate(row):
            k = n_params(family, len(inputs), depth, locality)
            params = theta[offset:offset + k]
            u = perceptron_unitary(family, params, len(inputs), depth, locality)
            perceptrons.append((inputs, j, u))
            offset += k
        layers.append(perceptrons)
    if offset != len(theta):
        raise ValueError(f"theta has {len(theta)} entries, the network {offset}")
    return layers
