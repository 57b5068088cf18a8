"""Dynamical Lie algebras (DLAs) of circuits and the deep-circuit variances they predict.

A circuit U(θ) = F_m R_m(θ) ⋯ F_1 R_1(θ) F_0 (rotations R_k = exp(−iθ H_k/2) between fixed
gates F) is brought into the form U = W · R'_m ⋯ R'_1 · F_0: the gates before the first trainable
one (``F_0``, the state preparation) make the initial state ψ₀ = F_0|0…0⟩, and every later fixed
gate is pushed onto the output, so each generator becomes H'_k = A_k† H_k A_k (A_k: the fixed
gates between the preparation and rotation k) and the observable O' = W† O W.  Clifford gates
map Pauli strings to Pauli strings; other fixed gates (T, fixed-angle rotations, ``UNITARY``)
map them to Pauli sums.  Rotations of one slot that follow each other and commute form one
generator Σ a_g H'_g (a_g the gates' scales: the Hamiltonian variational ansätze' Σ Z_iZ_{i+1});
``RP`` gates (random Pauli axis) contribute X, Y and Z.

The DLA g = ⟨iH'_k⟩_Lie is closed in the Pauli basis: generators that are single Pauli strings
close by set operations (their commutators are Pauli strings), others by Gram–Schmidt on sparse
Pauli sums.  Beyond :data:`CLOSURE_CAP` elements the algebra is classified instead of
enumerated: a Pauli-string algebra that acts irreducibly (no Pauli string commutes with every
generator) is su(2ⁿ), or so(2ⁿ) / sp(2ⁿ⁻¹) when it preserves a symmetric / antisymmetric
bilinear form J, itself a Pauli string found by linear algebra over GF(2) (Aguilar et al., "Full
classification of Pauli Lie algebras", arXiv:2408.00081).  Enumerated algebras are split into
their centre and simple ideals: Pauli-string algebras by the connected components of the
anticommutation graph of their non-central strings, others through the centroid of the adjoint
representation (the linear maps commuting with ad_x and ad_y for two generic x, y).

Predictions (the circuit Haar-random over the DLA group G = e^g, i.e. deep enough; Ragone et al.,
"A Lie algebraic theory of barren plateaus", Nat. Commun. 15, 7172 (2024), arXiv:2309.09342;
Fontana et al., Nat. Commun. 15, 7171 (2024)).  With ℓ = Tr[U ρ U† O] and a decomposition of the
traceless Hermitian operators into G-modules M_λ that are irreducible, of real type and pairwise
inequivalent, P_λ(H) the squared Hilbert–Schmidt norm of H's projection onto M_λ:

    Var[ℓ]      = Σ_λ P_λ(ρ) P_λ(O) / dim M_λ,
    Var[∂_k ℓ]  = ¼ Σ_λ P_λ(ρ) P_λ(O) κ_λ(H_k) / (dim M_λ)²       (both blocks deep),
    Var[∂_k ℓ]  = ¼ Σ_λ P_λ(i[H_k, ρ_A]) P_λ(O) / dim M_λ           (nothing trainable before k),

κ_λ(H) = Σ_B ‖[B, H]‖² over an orthonormal basis of M_λ, and ρ_A the state the gate acts on.
The gradient forms follow from ∂_k ℓ = (i/2) Tr[ρ_A [H_k, U_B† O U_B]] with U_A, U_B the gates
before and after: averaging over U_B gives Ragone's form with i[H_k, ρ_A] for ρ, and averaging
that over U_A uses Schur's lemma on M_λ (ad_{H_k} maps M_λ into itself).  The simple ideals g_j
of g are such modules (the centre contributes nothing); when O' or ρ lies in ig (up to the
identity and the centre) they are all that is needed.  For g = su(d), so(d), sp(d/2) acting
irreducibly, the traceless operators are g ⊕ M⊥ with both modules irreducible, so the same
formulas hold for any O and ρ, with κ_g(H) = c‖H‖² (c = 2d, d − 2, d + 2) and
κ_{M⊥}(H) = (2d − c)‖H‖².  Otherwise, for n ≤ :data:`TWIRL_MAX_QUBITS`, the second moment is
computed exactly as the projection of O⊗O onto the commutant of G⊗G (alternating projections
onto the commutants of the generators' one-parameter groups); beyond that there is no prediction
and :attr:`Prediction.reason` says why.

Known values reproduced (tests): McClean et al.'s 2ⁿ/(3(4ⁿ − 1)) (su(2ⁿ), one-sided), Cerezo et
al.'s product-ansatz value (abelian), and the orthogonal group's values for real circuits.

Pauli strings are integers: bit j is the X part and bit n + j the Z part of wire j; the string
is the Hermitian operator i^{|x∧z|} XˣZᶻ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from qnnscope.circuits.description import (
    CONTROLLED_ROTATIONS,
    PAULI_ROTATIONS,
    Circuit,
    Op,
    matrix,
)

CLOSURE_CAP = 20_000
"""Largest DLA enumerated element by element; beyond it the algebra is classified."""
GENERIC_CAP = 1_500
"""Largest DLA closed by Gram–Schmidt when generators are Pauli sums."""
DECOMPOSE_CAP = 400
"""Largest Pauli-sum DLA split into ideals through its structure constants."""
TWIRL_MAX_QUBITS = 4
"""Largest qubit count for the exact second-moment twirl (commutant of G⊗G, d⁴ entries)."""
MAX_QUBITS = 24
"""Largest circuit analysed (dense initial state and observable)."""
TOL = 1e-9

# --- Pauli arithmetic ---------------------------------------------------------------------------

_LETTER_BITS = {"I": (0, 0), "X": (1, 0), "Y": (1, 1), "Z": (0, 1)}


def key_of(word: str, n: int, wires=None) -> int:
    """Integer key of the Pauli string with letter ``word[i]`` on wire ``wires[i]`` (default i)."""
    x = z = 0
    for w, letter in zip(range(len(word)) if wires is None else wires, word):
        bx, bz = _LETTER_BITS[letter.upper()]
        x |= bx << w
        z |= bz << w
    return x | (z << n)


def word_of(key: int, n: int) -> str:
    x, z = key & ((1 << n) - 1), key >> n
    return "".join("IXZY"[((x >> j) & 1) | (((z >> j) & 1) << 1)] for j in range(n))


def _anti(a: int, b: int, n: int) -> int:
    m = (1 << n) - 1
    return ((a & m & (b >> n)) ^ ((a >> n) & b & m)).bit_count() & 1


def _n_y(key: int, n: int) -> int:
    return (key & (key >> n) & ((1 << n) - 1)).bit_count()


@dataclass(frozen=True)
class PauliSum:
    """Σ c_k P_k with real coefficients (a Hermitian operator), keys unique."""

    n: int
    keys: np.ndarray  # int64
    coeffs: np.ndarray  # float64

    @staticmethod
    def of(n: int, pairs) -> PauliSum:
        pairs = list(pairs)
        keys = np.array([k for k, _ in pairs], dtype=np.int64)
        coeffs = np.array([c for _, c in pairs], dtype=np.float64)
        return _aggregate(n, keys, coeffs)

    def norm2(self) -> float:
        """Σ c² (the Hilbert–Schmidt norm² divided by d)."""
        return float(self.coeffs @ self.coeffs)

    def traceless(self) -> PauliSum:
        keep = self.keys != 0
        return PauliSum(self.n, self.keys[keep], self.coeffs[keep])

    def scaled(self, factor: float) -> PauliSum:
        return PauliSum(self.n, self.keys, self.coeffs * factor)

    def __add__(self, other: PauliSum) -> PauliSum:
        return _aggregate(self.n, np.concatenate([self.keys, other.keys]), np.concatenate([self.coeffs, other.coeffs]))


def _aggregate(n, keys, coeffs, tol: float = 1e-12):
    if len(keys) == 0:
        return PauliSum(n, np.zeros(0, np.int64), np.zeros(0))
    uniq, inv = np.unique(keys, return_inverse=True)
    summed = np.bincount(inv, weights=coeffs.real if np.iscomplexobj(coeffs) else coeffs, minlength=len(uniq))
    keep = np.abs(summed) > tol
    return PauliSum(n, uniq[keep].astype(np.int64), summed[keep])


def _pc(a):
    return np.bitwise_count(a.astype(np.uint64)).astype(np.int64)


def _product_terms(n, ka, kb):
    """Keys and phase exponents e (P_a P_b = i^e P_{a⊕b}) for arrays ka, kb (broadcast)."""
    m = np.int64((1 << n) - 1)
    xa, za, xb, zb = ka & m, ka >> n, kb & m, kb >> n
    k3 = ka ^ kb
    x3, z3 = k3 & m, k3 >> n
    e = (_pc(xa & za) + _pc(xb & zb) + 2 * _pc(za & xb) - _pc(x3 & z3)) % 4
    return k3, e


def bracket(a: PauliSum, b: PauliSum) -> PauliSum:
    """{A, B} = −i[A, B] (Hermitian for Hermitian A, B)."""
    n = a.n
    ka, kb = a.keys[:, None], b.keys[None, :]
    m = np.int64((1 << n) - 1)
    anti = (_pc((ka & m) & (kb >> n)) + _pc((ka >> n) & (kb & m))) & 1
    ia, ib = np.nonzero(anti)
    if len(ia) == 0:
        return PauliSum(n, np.zeros(0, np.int64), np.zeros(0))
    k3, e = _product_terms(n, a.keys[ia], b.keys[ib])
    sign = np.where(e == 1, 2.0, -2.0)
    return _aggregate(n, k3, sign * a.coeffs[ia] * b.coeffs[ib])


def _complex_product(n, ka, ca, kb, cb):
    """Product of two complex Pauli sums (keys, complex coefficients)."""
    k3, e = _product_terms(n, ka[:, None], kb[None, :])
    c = (ca[:, None] * cb[None, :]) * (1j ** e)
    k3, c = k3.reshape(-1), c.reshape(-1)
    uniq, inv = np.unique(k3, return_inverse=True)
    out = np.zeros(len(uniq), dtype=complex)
    np.add.at(out, inv, c)
    keep = np.abs(out) > 1e-12
    return uniq[keep], out[keep]


# --- states and expectations --------------------------------------------------------------------


def _flat_state(psi_tensor: np.ndarray, n: int) -> np.ndarray:
    """Tensor (2,)*n with axis j = wire j → flat vector with bit j of the index = wire j."""
    return np.ascontiguousarray(np.transpose(psi_tensor, tuple(reversed(range(n))))).reshape(-1)


def apply_pauli(key: int, psi: np.ndarray, n: int) -> np.ndarray:
    """P|ψ⟩ for a flat state (bit j of the index = wire j)."""
    m = (1 << n) - 1
    x, z = key & m, key >> n
    idx = np.arange(len(psi), dtype=np.int64)
    sign = 1 - 2 * (_pc(idx & z) & 1)
    phase = 1j ** ((x & z).bit_count() % 4)
    out = np.empty_like(psi)
    out[idx ^ x] = phase * sign * psi
    return out


def expectations(keys: np.ndarray, psi: np.ndarray, n: int, block: int = 64) -> np.ndarray:
    """⟨ψ|P_k|ψ⟩ for every key (real)."""
    m = np.int64((1 << n) - 1)
    idx = np.arange(len(psi), dtype=np.int64)
    out = np.empty(len(keys))
    for s in range(0, len(keys), block):
        k = np.asarray(keys[s:s + block], dtype=np.int64)[:, None]
        x, z = k & m, k >> n
        sign = 1 - 2 * (_pc(idx[None, :] & z) & 1)
        phase = 1j ** (_pc(x & z) % 4)
        vals = phase[:, 0] * np.sum(np.conj(psi[idx[None, :] ^ x]) * sign * psi[None, :], axis=1)
        out[s:s + block] = vals.real
    return out


def _sum_expectation(h: PauliSum, psi: np.ndarray) -> float:
    return float(h.coeffs @ expectations(h.keys, psi, h.n)) if len(h.keys) else 0.0


def _apply_sum(h: PauliSum, psi: np.ndarray) -> np.ndarray:
    out = np.zeros_like(psi)
    for k, c in zip(h.keys, h.coeffs):
        out += c * apply_pauli(int(k), psi, h.n)
    return out


# --- pushing fixed gates -----------------------------------------------------------------------

_PAULI_2 = {"I": np.eye(2), "X": np.array([[0, 1], [1, 0]]), "Y": np.array([[0, -1j], [1j, 0]]),
            "Z": np.diag([1.0, -1.0])}


def _local_matrix(word: str) -> np.ndarray:
    m = np.array([[1.0]])
    for letter in word:
        m = np.kron(m, _PAULI_2[letter])
    return m


def _fixed_matrix(op: Op, choice_letter: str | None = None) -> np.ndarray:
    """Matrix of a parameter-free op (fixed-angle rotations included; first wire most significant)."""
    if op.is_rotation:
        word = _rotation_word(op, choice_letter)
        if op.gate in CONTROLLED_ROTATIONS:
            p = _local_matrix(word[-1])
            r = _expm_pauli(p, op.angle)
            return np.block([[np.eye(2), np.zeros((2, 2))], [np.zeros((2, 2)), r]])
        return _expm_pauli(_local_matrix(word), op.angle)
    return matrix(op)


def _expm_pauli(p: np.ndarray, angle: float) -> np.ndarray:
    return math.cos(angle / 2) * np.eye(len(p)) - 1j * math.sin(angle / 2) * p


def _rotation_word(op: Op, choice_letter: str | None = None) -> str:
    if op.gate in PAULI_ROTATIONS:
        return op.pauli if op.gate == "PAULIROT" else PAULI_ROTATIONS[op.gate]
    if op.gate in CONTROLLED_ROTATIONS:
        return "Z" + op.gate[-1]
    if op.gate == "RP":
        return choice_letter or "Z"
    return op.gate[-1]


class _Frame:
    """Images A†X_jA and A†Z_jA of the single-wire Paulis under the fixed gates A pushed so far."""

    def __init__(self, n: int):
        self.n = n
        self.images = {}
        for j in range(n):
            self.images[(j, "X")] = (np.array([1 << j], np.int64), np.array([1.0 + 0j]))
            self.images[(j, "Z")] = (np.array([1 << (n + j)], np.int64), np.array([1.0 + 0j]))

    def image_local(self, word: str, wires) -> tuple[np.ndarray, np.ndarray]:
        """Image of the Hermitian Pauli string ``word`` on ``wires``: i^{|x∧z|} Π X images Π Z images."""
        keys, coeffs = np.array([0], np.int64), np.array([1.0 + 0j])
        for letter in ("X", "Z"):
            for w, p in zip(wires, word):
                if p == letter or p == "Y":
                    ik, ic = self.images[(w, letter)]
                    keys, coeffs = _complex_product(self.n, keys, coeffs, ik, ic)
        n_y = sum(p == "Y" for p in word)
        return keys, coeffs * (1j ** n_y)

    def image(self, word: str, wires) -> PauliSum:
        keys, coeffs = self.image_local(word, wires)
        if np.max(np.abs(coeffs.imag), initial=0) > 1e-9:
            raise AssertionError("image of a Hermitian operator is not Hermitian")
        return PauliSum(self.n, keys, coeffs.real)

    def push(self, op: Op, choice_letter: str | None = None) -> None:
        """A ← F·A for the fixed gate F = ``op``: A†F†PFA for each single-wire P of F's wires."""
        wires = op.wires
        new = {}
        for (pos, letter), terms in _transfer(op, choice_letter):
            keys, coeffs = [], []
            for q, c in terms:
                ik, ic = self.image_local(q, wires)
                keys.append(ik)
                coeffs.append(c * ic)
            uniq, inv = np.unique(np.concatenate(keys), return_inverse=True)
            out = np.zeros(len(uniq), complex)
            np.add.at(out, inv, np.concatenate(coeffs))
            keep = np.abs(out) > 1e-12
            new[(wires[pos], letter)] = (uniq[keep], out[keep])
        self.images.update(new)


@lru_cache(maxsize=4096)
def _local_words(k: int) -> tuple[tuple[str, np.ndarray], ...]:
    words = [""]
    for _ in range(k):
        words = [w + p for w in words for p in "IXYZ"]
    return tuple((w, _local_matrix(w)) for w in words)


@lru_cache(maxsize=4096)
def _transfer(op: Op, choice_letter: str | None = None):
    """F†PF in the Pauli basis for P = X, Z on each wire of the fixed gate F (cached per gate)."""
    f = _fixed_matrix(op, choice_letter)
    k = len(op.wires)
    words = _local_words(k)
    mats = dict(words)
    out = []
    for pos in range(k):
        for letter in ("X", "Z"):
            conj = f.conj().T @ mats["I" * pos + letter + "I" * (k - pos - 1)] @ f
            terms = []
            for q, m in words:
                c = np.trace(m @ conj) / 2**k
                if abs(c) > 1e-12:
                    terms.append((q, complex(c)))
            out.append(((pos, letter), tuple(terms)))
    return tuple(out)


def _prepare_state(ops, n: int) -> np.ndarray:
    psi = np.zeros((2,) * n, dtype=complex)
    psi[(0,) * n] = 1.0
    for op in ops:
        m = _fixed_matrix(op).reshape((2,) * (2 * len(op.wires)))
        k = len(op.wires)
        psi = np.tensordot(m, psi, axes=(list(range(k, 2 * k)), list(op.wires)))
        psi = np.moveaxis(psi, list(range(k)), list(op.wires))
    return _flat_state(psi, n)


@dataclass
class Group:
    """One generator: consecutive commuting rotations of one slot (``slot`` None: fixed angle)."""

    slot: int
    alternatives: list[PauliSum]  # one generator, or X/Y/Z images for a random-axis RP gate
    index: int  # position among the groups


@dataclass
class PushedCircuit:
    n: int
    psi0: np.ndarray
    groups: list[Group]
    frame: _Frame
    clifford: bool  # every pushed generator a single Pauli string

    def observable(self, obs) -> PauliSum:
        """O' = W† O W for a :class:`qnnscope.costs.Observable`."""
        n = self.n
        parts: list[PauliSum] = [PauliSum.of(n, [(0, float(obs.constant))])] if obs.constant else []
        for coeff, string in obs.terms:
            word = "".join(p for _, p in string)
            wires = [w for w, _ in string]
            parts.append(self.frame.image(word, wires).scaled(coeff))
        if obs.projector_coeff:
            # |0…0⟩⟨0…0| = Π_j (I + Z_j)/2 = 2^{-n} Σ_{S} Z_S
            if n > 14:
                raise ValueError(f"the projector cost on {n} qubits has 2^{n} Pauli terms; the Lie analysis takes n <= 14")
            for mask in range(2**n):
                wires = [j for j in range(n) if mask >> j & 1]
                term = self.frame.image("Z" * len(wires), wires) if wires else PauliSum.of(n, [(0, 1.0)])
                parts.append(term.scaled(obs.projector_coeff / 2**n))
        total = PauliSum.of(n, [])
        for p in parts:
            total = total + p
        return total


def push(circuit: Circuit) -> PushedCircuit:
    """The circuit as initial state ψ₀ and generators with the fixed gates pushed to the output."""
    n = circuit.n_qubits
    if n > MAX_QUBITS:
        raise ValueError(f"Lie analysis: n = {n} qubits is above the limit {MAX_QUBITS}")
    ops = list(circuit.ops)
    first = next((i for i, op in enumerate(ops) if op.is_trainable), len(ops))
    psi0 = _prepare_state(ops[:first], n)
    frame = _Frame(n)
    groups: list[Group] = []
    current: list[tuple[Op, PauliSum]] = []

    def close():
        if not current:
            return
        op0 = current[0][0]
        if op0.gate == "RP":
            alts = list(current[0][1])
        else:
            total = PauliSum.of(n, [])
            for op, h in current:
                total = total + h
            alts = [total]
        groups.append(Group(op0.param, alts, len(groups)))
        current.clear()

    for op in ops[first:]:
        if not op.is_trainable:
            close()
            frame.push(op)
            continue
        if op.gate == "RP":
            close()
            alts = [frame.image(letter, op.wires) for letter in "XYZ"]
            current.append((op, alts))
            close()
            continue
        h = _generator(frame, op)
        if current and (current[0][0].param == op.param and current[0][0].gate != "RP"
                        and all(len(bracket(h, g).keys) == 0 for _, g in current)):
            current.append((op, h))
        else:
            close()
            current.append((op, h))
    close()
    clifford = all(len(a.keys) == 1 for g in groups for a in g.alternatives)
    return PushedCircuit(n, psi0, groups, frame, clifford)


def _generator(frame: _Frame, op: Op) -> PauliSum:
    """a·H' for a trainable gate exp(−i(aθ + b)H/2) (CRP: H = (I − Z_c)P_t/2)."""
    word = _rotation_word(op)
    if op.gate in CONTROLLED_ROTATIONS:
        c, t = op.wires
        h = frame.image(word[-1], [t]).scaled(0.5) + frame.image("Z" + word[-1], [c, t]).scaled(-0.5)
    else:
        h = frame.image(word, op.wires)
    return h.scaled(op.scale)


# --- closure -----------------------------------------------------------------------------------


def _closure_strings(gens: list[int], n: int, cap: int) -> list[int] | None:
    basis = dict.fromkeys(k for k in gens if k != 0)
    gens = list(basis)
    queue = list(basis)
    m = (1 << n) - 1
    gx = [(g & m, g >> n) for g in gens]
    while queue:
        a = queue.pop()
        ax, az = a & m, a >> n
        for g, (x, z) in zip(gens, gx):
            if ((ax & z) ^ (az & x)).bit_count() & 1:
                c = a ^ g
                if c not in basis:
                    basis[c] = None
                    queue.append(c)
                    if len(basis) > cap:
                        return None
    return list(basis)


class _Span:
    """Orthonormal basis (coefficient space) of a growing span of Pauli sums."""

    def __init__(self, n: int):
        self.n = n
        self.col: dict[int, int] = {}
        self.keys: list[int] = []
        self.rows = np.zeros((0, 0))

    def _dense(self, h: PauliSum, grow: bool) -> np.ndarray:
        if grow:
            new = [int(k) for k in h.keys if int(k) not in self.col]
            for k in new:
                self.col[k] = len(self.keys)
                self.keys.append(k)
            if new:
                self.rows = np.pad(self.rows, ((0, 0), (0, len(self.keys) - self.rows.shape[1])))
        v = np.zeros(len(self.keys))
        for k, c in zip(h.keys, h.coeffs):
            j = self.col.get(int(k))
            if j is not None:
                v[j] = c
        return v

    def add(self, h: PauliSum) -> PauliSum | None:
        """Add h's component orthogonal to the span; returns the new unit element or None."""
        v = self._dense(h, grow=True)
        norm = np.linalg.norm(v)
        if norm < TOL:
            return None
        for _ in range(2):
            if len(self.rows):
                v = v - self.rows.T @ (self.rows @ v)
        r = np.linalg.norm(v)
        if r < 1e-8 * max(norm, 1.0):
            return None
        v /= r
        self.rows = np.vstack([self.rows, v[None, :]]) if len(self.rows) else v[None, :]
        nz = np.nonzero(np.abs(v) > 1e-13)[0]
        return PauliSum(self.n, np.array([self.keys[j] for j in nz], np.int64), v[nz])

    def coords(self, h: PauliSum) -> np.ndarray:
        return self.rows @ self._dense(h, grow=False) if len(self.rows) else np.zeros(0)


def _closure_sums(gens: list[PauliSum], n: int, cap: int) -> list[PauliSum] | None:
    span = _Span(n)
    basis: list[PauliSum] = []
    queue: list[PauliSum] = []
    for g in gens:
        b = span.add(g.traceless())
        if b is not None:
            basis.append(b)
            queue.append(b)
    gens = list(basis)
    while queue:
        a = queue.pop()
        for g in gens:
            c = bracket(g, a)
            if len(c.keys) == 0:
                continue
            b = span.add(c)
            if b is not None:
                basis.append(b)
                queue.append(b)
                if len(basis) > cap:
                    return None
    return basis


# --- GF(2) linear algebra for Pauli-string algebras ---------------------------------------------


def _solve_gf2(rows: list[int], rhs: list[int], n_bits: int):
    """Solve A q = b over GF(2) (rows as bit masks); returns (particular solution or None, rank,
    basis of the null space)."""
    pivots: list[tuple[int, int, int]] = []  # (pivot bit, row, rhs)
    for r, b in zip(rows, rhs):
        for bit, prow, pb in pivots:
            if r >> bit & 1:
                r ^= prow
                b ^= pb
        if r == 0:
            if b:
                return None, len(pivots), []
            continue
        bit = r.bit_length() - 1
        # eliminate this bit from earlier pivots (reduced form)
        pivots = [(pbit, prow ^ r, pb ^ b) if prow >> bit & 1 else (pbit, prow, pb) for pbit, prow, pb in pivots]
        pivots.append((bit, r, b))
    q = 0
    for bit, prow, pb in pivots:
        if pb:
            q |= 1 << bit
    # q satisfies the system when free variables are 0 (reduced echelon form)
    pivot_bits = {bit for bit, _, _ in pivots}
    null = []
    for free in range(n_bits):
        if free in pivot_bits:
            continue
        v = 1 << free
        for bit, prow, _ in pivots:
            if prow >> free & 1:
                v |= 1 << bit
        null.append(v)
    return q, len(pivots), null


def _symplectic_row(key: int, n: int) -> int:
    """Row r with r·q = ⟨P, Q⟩ (symplectic product) for Q = q: swap the X and Z halves."""
    m = (1 << n) - 1
    return ((key >> n) & m) | ((key & m) << n)


def _irreducible_form(gens: list[int], n: int) -> tuple[bool, int | None]:
    """(acts irreducibly, invariant-form Pauli key J or None) for Pauli-string generators."""
    rows = [_symplectic_row(g, n) for g in gens]
    _, rank, null = _solve_gf2(rows, [0] * len(rows), 2 * n)
    irreducible = rank == 2 * n
    if not irreducible:
        return False, None
    q, _, _ = _solve_gf2(rows, [(1 + _n_y(g, n)) & 1 for g in gens], 2 * n)
    return True, q


# --- the algebra --------------------------------------------------------------------------------


def _label(dim: int, pauli: bool = False) -> str:
    """Simple compact Lie algebra of dimension ``dim`` as su/so/sp: isomorphic names joined by
    ≅, non-isomorphic ones of equal dimension (so(2r+1), sp(r)) by |."""
    names = []
    k = math.isqrt(dim + 1)
    if k * k == dim + 1 and k >= 2 and not (pauli and k & (k - 1)):
        names.append(f"su({k})")  # a Pauli-string algebra's su ideals are su(2^m)
    m = (1 + math.isqrt(1 + 8 * dim)) // 2
    if m * (m - 1) // 2 == dim and m >= 3 and m != 4:
        names.append(f"so({m})")
    r = (-1 + math.isqrt(1 + 8 * dim)) // 4
    if r >= 1 and r * (2 * r + 1) == dim:
        names.append(f"sp({r})")
    isomorphic = ({"su(2)", "so(3)", "sp(1)"}, {"su(4)", "so(6)"}, {"so(5)", "sp(2)"})
    if not names:
        return f"simple({dim})"
    if len(names) == 1:
        return names[0]
    return ("≅" if any(set(names) <= group for group in isomorphic) else "|").join(names)


@dataclass
class Ideal:
    """A simple ideal (or, with ``kind`` 'complement', the module M⊥ of an irreducible algebra)."""

    dim: int
    label: str
    keys: np.ndarray | None = None  # Pauli-string ideal: its strings
    basis: list[PauliSum] | None = None  # Pauli-sum ideal: orthonormal coefficient vectors
    kind: str = "ideal"  # 'ideal', 'su', 'so', 'sp', 'complement'
    form: int | None = None  # invariant form J (so, sp, complement)
    casimir: float = 0.0  # c with κ(H) = c‖H‖² (closed forms)
    span: _Span | None = field(default=None, repr=False, compare=False)  # projections of Pauli-sum ideals


@dataclass
class DLA:
    """Dynamical Lie algebra of a circuit: dimension, centre, simple ideals, classification."""

    n: int
    dim: int | None
    centre_dim: int | None
    ideals: list[Ideal]
    label: str
    kind: str  # 'abelian', 'su', 'so', 'sp', 'free-fermion', 'reductive', 'unknown'
    enumerated: bool
    irreducible: bool | None
    form: int | None = None
    basis_keys: np.ndarray | None = None  # Pauli-string algebra: every string
    basis: list[PauliSum] | None = None
    centre_keys: np.ndarray | None = None
    centre: list[PauliSum] = field(default_factory=list)
    note: str = ""
    enumerated_split: bool = False  # enumerated, but projections use the closed forms


def _full_label(kind: str, n: int) -> str:
    d = 2**n
    return {"su": f"su({d})", "so": f"so({d})", "sp": f"sp({d // 2})"}[kind]


def _closed_ideals(kind: str, n: int, form: int | None) -> list[Ideal]:
    d = 2**n
    dims = {"su": d * d - 1, "so": d * (d - 1) // 2, "sp": d * (d + 1) // 2}
    casimir = {"su": 2.0 * d, "so": d - 2.0, "sp": d + 2.0}
    out = [Ideal(dims[kind], _full_label(kind, n), kind=kind, form=form, casimir=casimir[kind])]
    if kind != "su" and d * d - 1 > dims[kind]:  # sp(1) = su(2) on one qubit leaves no complement
        out.append(Ideal(d * d - 1 - dims[kind], "M⊥", kind="complement", form=form, casimir=2.0 * d - casimir[kind]))
    return out


def _string_algebra(keys: list[int], n: int, gens: list[int]) -> DLA:
    arr = np.array(sorted(keys), dtype=np.int64)
    irreducible, form = _irreducible_form(gens, n)
    d = 2**n
    if irreducible:
        kind = "su" if form is None else ("so" if _n_y(form, n) % 2 == 0 else "sp")
        if len(arr) == {"su": d * d - 1, "so": d * (d - 1) // 2, "sp": d * (d + 1) // 2}[kind] and d > 4:
            # the whole su/so/sp of an irreducible action: simple, no components to find
            return DLA(n, len(arr), 0, _closed_ideals(kind, n, form), _full_label(kind, n), kind, True, True, form,
                       basis_keys=arr, centre_keys=arr[:0], enumerated_split=True)
    m = np.int64((1 << n) - 1)
    # anticommutation graph
    anti = ((_pc((arr[:, None] & m) & (arr[None, :] >> n)) + _pc((arr[:, None] >> n) & (arr[None, :] & m))) & 1).astype(bool) \
        if len(arr) <= 6000 else None
    if anti is None:
        central, comps = _components_large(arr, n)
    else:
        central = ~anti.any(axis=1)
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import connected_components

        idx = np.nonzero(~central)[0]
        sub = anti[np.ix_(idx, idx)]
        n_comp, lab = connected_components(csr_matrix(sub), directed=False)
        comps = [arr[idx[lab == c]] for c in range(n_comp)]
    centre_keys = arr[central]
    irreducible, form = _irreducible_form(gens, n)
    ideals = [ideal for c in comps for ideal in _string_component_ideals(c, n)]
    dla = DLA(n, len(arr), len(centre_keys), ideals, "", "", True, irreducible, form,
              basis_keys=arr, centre_keys=centre_keys)
    _classify(dla)
    return dla


SPLIT_STRINGS = 160
"""Components of the anticommutation graph up to this size are checked for simplicity."""


def _string_component_ideals(keys: np.ndarray, n: int) -> list[Ideal]:
    """The simple ideals of one connected component of the anticommutation graph.  A component
    is an ideal but need not be simple (so(4) = su(2) ⊕ su(2) can be one component): small ones
    are split through their structure constants; larger ones are taken as simple when their
    dimension is that of a simple algebra."""
    m = len(keys)
    label = _label(m, pauli=True)
    if m > SPLIT_STRINGS and not label.startswith("simple"):
        return [Ideal(m, label, keys=keys)]
    if m > DECOMPOSE_CAP:
        return [Ideal(m, label, keys=keys)]
    index = {int(k): i for i, k in enumerate(keys)}
    ad = np.zeros((m, m, m))
    for i, a in enumerate(keys):
        for k, b in enumerate(keys):
            if _anti(int(a), int(b), n):
                _, e = _product_terms(n, np.array([a]), np.array([b]))
                ad[i, index[int(a) ^ int(b)], k] = 2.0 if e[0] == 1 else -2.0
    parts = _split_semisimple(ad, np.eye(m))
    if len(parts) == 1:
        return [Ideal(m, label, keys=keys)]
    out = []
    for vecs in parts:
        basis = [PauliSum(n, keys[np.abs(v) > 1e-13], v[np.abs(v) > 1e-13]) for v in vecs]
        out.append(Ideal(len(vecs), _label(len(vecs)), basis=basis))
    return out


def _components_large(arr: np.ndarray, n: int):
    """Centre and anticommutation components for a large string set (blockwise)."""
    m = np.int64((1 << n) - 1)
    parent = np.arange(len(arr))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    touched = np.zeros(len(arr), bool)
    for s in range(0, len(arr), 512):
        a = arr[s:s + 512]
        anti = ((_pc((a[:, None] & m) & (arr[None, :] >> n)) + _pc((a[:, None] >> n) & (arr[None, :] & m))) & 1).astype(bool)
        for i_local, row in enumerate(anti):
            js = np.nonzero(row)[0]
            if len(js):
                touched[s + i_local] = True
                ri = find(s + i_local)
                for j in js:
                    rj = find(j)
                    if rj != ri:
                        parent[rj] = ri
    roots = np.array([find(i) for i in range(len(arr))])
    central = ~touched
    comps = [arr[(roots == r) & ~central] for r in np.unique(roots[~central])]
    return central, comps


def _classify(dla: DLA) -> None:
    n, d = dla.n, 2**dla.n
    simple = [i for i in dla.ideals]
    if not simple:
        dla.kind = "abelian"
        dla.label = f"u(1)^⊕{dla.centre_dim}" if dla.centre_dim else "0"
        return
    if len(simple) == 1 and dla.irreducible and dla.centre_dim == 0:
        kind = None
        if simple[0].dim == d * d - 1 and dla.form is None:
            kind = "su"
        elif dla.form is not None:
            sym = _n_y(dla.form, n) % 2 == 0
            if sym and simple[0].dim == d * (d - 1) // 2:
                kind = "so"
            elif not sym and simple[0].dim == d * (d + 1) // 2:
                kind = "sp"
        if kind is not None:
            dla.kind = kind
            dla.label = _full_label(kind, n)
            dla.ideals = _closed_ideals(kind, n, dla.form)
            if dla.basis_keys is not None or dla.basis is not None:
                # keep the enumerated strings for QFIM ranks; projections use the closed forms
                dla.enumerated_split = True
            return
    parts = [i.label if len(simple) == 1 else i.label.split("≅")[0] for i in simple]
    free_fermion = [p for p in parts if {f"so({2 * n})", f"so({2 * n + 1})"} & set(p.replace("|", "≅").split("≅"))]
    label = _compact(parts)
    if dla.centre_dim:
        label += f" ⊕ u(1)^⊕{dla.centre_dim}" if dla.centre_dim > 1 else " ⊕ u(1)"
    dla.label = label
    if free_fermion and len(simple) == 1:
        dla.kind = "free-fermion"
    else:
        dla.kind = "reductive" if dla.centre_dim else ("semisimple" if len(simple) > 1 else "simple")


def _classify_large(gens: list[int], n: int, cap: int) -> DLA:
    irreducible, form = _irreducible_form(gens, n)
    if not irreducible:
        return DLA(n, None, None, [], "unknown", "unknown", False, False,
                   note=f"more than {cap} elements and reducible (Pauli strings commute with every generator): "
                        f"not classified; raise qnnscope.lie.CLOSURE_CAP to enumerate it")
    kind = "su" if form is None else ("so" if _n_y(form, n) % 2 == 0 else "sp")
    d = 2**n
    dim = {"su": d * d - 1, "so": d * (d - 1) // 2, "sp": d * (d + 1) // 2}[kind]
    return DLA(n, dim, 0, _closed_ideals(kind, n, form), _full_label(kind, n), kind, False, True, form,
               note=f"classified without enumeration (more than {cap} elements): irreducible Pauli algebra "
                    + ("without invariant form" if form is None else f"with invariant form {word_of(form, n)}"))


def _sum_algebra(basis: list[PauliSum], n: int) -> DLA:
    """Centre and simple ideals of an enumerated Pauli-sum algebra through structure constants."""
    m = len(basis)
    span = _Span(n)
    for b in basis:
        span.add(b)
    if m > DECOMPOSE_CAP:
        return DLA(n, m, None, [], f"dim {m}", "unknown", True, None, basis=basis,
                   note=f"dimension {m} above {DECOMPOSE_CAP}: not split into ideals")
    ad = np.zeros((m, m, m))
    for i in range(m):
        for k in range(i + 1, m):
            c = span.coords(bracket(basis[i], basis[k]))
            ad[i, :, k] = c
            ad[k, :, i] = -c
    # centre: x with Σ_k x_k ad[i][:, k] = 0 for all i
    stacked = ad.reshape(m * m, m) if m else np.zeros((0, 0))
    if m:
        _, s, vt = np.linalg.svd(stacked, full_matrices=False)
        rank = int(np.sum(s > 1e-8 * max(s[0], 1.0))) if len(s) else 0
        centre_vecs, semi = vt[rank:], vt[:rank]
    else:
        centre_vecs, semi = np.zeros((0, 0)), np.zeros((0, 0))
    ideals_vecs = _split_semisimple(ad, semi) if len(semi) else []
    def to_sum(vec):
        h = PauliSum.of(n, [])
        for coef, b in zip(vec, basis):
            if abs(coef) > 1e-13:
                h = h + b.scaled(coef)
        return h
    ideals = [Ideal(len(v), _label(len(v)), basis=[to_sum(x) for x in v]) for v in ideals_vecs]
    centre = [to_sum(v) for v in centre_vecs]
    dla = DLA(n, m, len(centre), ideals, "", "", True, None, basis=basis, centre=centre)
    _classify(dla)
    return dla


def _split_semisimple(ad: np.ndarray, semi: np.ndarray) -> list[np.ndarray]:
    """Orthonormal bases (rows, in the algebra's coordinates) of the simple ideals of the
    semisimple part spanned by the rows of ``semi``."""
    rng = np.random.default_rng(12345)
    s = len(semi)
    x, y = rng.normal(size=s) @ semi, rng.normal(size=s) @ semi  # generic elements (algebra coordinates)
    ax = semi @ np.tensordot(x, ad, axes=1) @ semi.T  # ad_x restricted to the semisimple part
    ay = semi @ np.tensordot(y, ad, axes=1) @ semi.T
    mu, v = np.linalg.eigh(1j * ax)  # ad_x is real antisymmetric: i·ad_x is Hermitian
    blocks, start = [], 0
    for i in range(1, s + 1):
        if i == s or abs(mu[i] - mu[start]) > 1e-7 * max(1.0, abs(mu[start])):
            blocks.append(list(range(start, i)))
            start = i
    vinv = v.conj().T
    yp = vinv @ ay @ v
    unknowns = [(p, q) for b in blocks for p in b for q in b]
    k = min(s, max(3, -(-3 * len(unknowns) // s)))
    w = np.eye(s, dtype=complex) if k == s else rng.normal(size=(s, k)) + 1j * rng.normal(size=(s, k))
    yw = yp @ w
    rows = np.zeros((k * s, len(unknowns)), complex)
    for u, (p, q) in enumerate(unknowns):
        # column of T'_{pq} in (T'Y' − Y'T') w: row a gets δ_{ap}(Y'w)_q − Y'_{ap} w_q
        block = -np.outer(yp[:, p], w[q, :])
        block[p, :] += yw[q, :]
        rows[:, u] = block.T.reshape(-1)
    _, sv, vh = np.linalg.svd(rows)
    null = vh[np.sum(sv > 1e-8 * sv[0]):].conj()
    if len(null) <= 1:
        return [semi]
    coef = rng.normal(size=len(null)) @ null
    tp = np.zeros((s, s), complex)
    for c, (p, q) in zip(coef, unknowns):
        tp[p, q] = c
    t = v @ tp @ vinv
    t = ((t + t.conj().T) / 2).real  # Σ_j Re(λ_j) Π_j: the ideals are its eigenspaces
    ev, evec = np.linalg.eigh(t)
    out, start = [], 0
    for i in range(1, s + 1):
        if i == s or abs(ev[i] - ev[start]) > 1e-6 * max(1.0, np.max(np.abs(ev))):
            out.append(evec[:, start:i].T)
            start = i
    # each block must be an ideal: closed under ad, commuting with the others, not abelian
    for i, b in enumerate(out):
        rest = np.vstack([o for j, o in enumerate(out) if j != i]) if len(out) > 1 else np.zeros((0, s))
        bad = len(b) < 3 or any(np.linalg.norm(rest @ (semi @ np.tensordot(e @ semi, ad, axes=1) @ semi.T) @ b.T) > 1e-6
                                for e in b[:4])
        if bad:
            return [semi]
    return [b @ semi for b in out]


def generators(pushed: PushedCircuit) -> list[PauliSum]:
    return [a for g in pushed.groups for a in g.alternatives]


def _from_single_strings(gens: list[PauliSum], n: int) -> DLA | None:
    """The DLA when the algebra of the single-string generators already holds every Pauli term
    of the others (then it is the whole DLA), else None."""
    singles = list(dict.fromkeys(int(g.keys[0]) for g in gens if len(g.keys) == 1 and g.keys[0] != 0))
    terms = {int(k) for g in gens if len(g.keys) > 1 for k in g.keys if k != 0}
    if not singles:
        return None
    sub = _closure_strings(singles, n, CLOSURE_CAP)
    if sub is None:
        big = _classify_large(singles, n, CLOSURE_CAP)
        if big.kind == "su" or (big.kind in ("so", "sp") and all(
                _in_form_algebra(np.array([t], np.int64), big.form, n)[0] for t in terms)):
            big.note += "; the single-string generators already generate it and hold every term of the others"
            return big
        return None
    if terms <= set(sub):
        return _string_algebra(sub, n, singles)
    return None


def _compact(parts: list[str]) -> str:
    counts: dict[str, int] = {}
    for p in parts:
        counts[p] = counts.get(p, 0) + 1
    return " ⊕ ".join(p if c == 1 else f"{p}^⊕{c}" for p, c in sorted(counts.items(), key=lambda t: (-len(t[0]), t[0])))


@lru_cache(maxsize=512)
def _analyse(circuit: Circuit) -> tuple[PushedCircuit, DLA]:
    pushed = push(circuit)
    n = circuit.n_qubits
    gens = generators(pushed)
    if pushed.clifford:
        keys = [int(g.keys[0]) for g in gens]
        closed = _closure_strings(keys, n, CLOSURE_CAP)
        uniq = list(dict.fromkeys(k for k in keys if k))
        dla = _classify_large(uniq, n, CLOSURE_CAP) if closed is None else _string_algebra(closed, n, uniq)
    else:
        dla = _from_single_strings(gens, n)
        basis = None if dla is not None else _closure_sums(gens, n, GENERIC_CAP)
        if dla is not None:
            pass
        elif basis is not None and len(basis) == 4**n - 1:
            dla = DLA(n, len(basis), 0, _closed_ideals("su", n, None), _full_label("su", n), "su", False, True,
                      note="every traceless operator: su(2^n)")
        elif basis is None:
            dla = DLA(n, None, None, [], "unknown", "unknown", False, None,
                      note=f"more than {GENERIC_CAP} elements with Pauli-sum generators: not enumerated")
        else:
            dla = _sum_algebra(basis, n)
    return pushed, dla


def dynamical_lie_algebra(circuit: Circuit) -> DLA:
    """The DLA of ``circuit`` (cached per circuit structure)."""
    return _analyse(circuit)[1]


# --- projections --------------------------------------------------------------------------------


def _in_form_algebra(keys: np.ndarray, form: int, n: int) -> np.ndarray:
    m = np.int64((1 << n) - 1)
    f = np.int64(form)
    sympl = (_pc((keys & m) & (f >> n)) + _pc((keys >> n) & (f & m))) & 1
    ny = _pc(keys & (keys >> n) & m) & 1
    return (sympl == ((1 + ny) & 1)) & (keys != 0)


def _proj_sum(mod: Ideal, h: PauliSum, d: int) -> float:
    """P_λ(H) = ‖Π_λ H‖²_HS for a Pauli sum."""
    if mod.kind == "su":
        return d * h.traceless().norm2()
    if mod.kind in ("so", "sp", "complement"):
        inside = _in_form_algebra(h.keys, mod.form, h.n)
        p_g = d * float(h.coeffs[inside] @ h.coeffs[inside])
        return p_g if mod.kind != "complement" else d * h.traceless().norm2() - p_g
    if mod.keys is not None:
        sel = np.isin(h.keys, mod.keys)
        return d * float(h.coeffs[sel] @ h.coeffs[sel])
    if mod.span is None:  # built once per ideal: rows share it
        mod.span = _Span(h.n)
        for b in mod.basis:
            mod.span.add(b)
    return d * float(np.sum(mod.span.coords(h) ** 2))


def _form_apply(form: int, psi: np.ndarray, n: int) -> np.ndarray:
    return apply_pauli(form, psi, n)


def _proj_state(mod: Ideal, psi: np.ndarray, n: int) -> float:
    """P_λ(ρ) for ρ = |ψ⟩⟨ψ|."""
    d = 2**n
    if mod.kind == "su":
        return 1 - 1 / d
    if mod.kind in ("so", "sp", "complement"):
        jpsi = _form_apply(mod.form, psi, n)
        a = psi @ jpsi  # ψᵀ J ψ
        b = np.vdot(psi, _form_apply(mod.form, psi.conj(), n))  # ψ† J ψ*
        p_g = float(((1 - (a * b)) / 2).real)
        return p_g if mod.kind != "complement" else (1 - 1 / d) - p_g
    if mod.keys is not None:
        e = expectations(mod.keys, psi, n)
        return float(e @ e) / d
    total = 0.0
    for b in mod.basis:
        total += _sum_expectation(b, psi) ** 2
    return total / d


def _proj_commutator(mod: Ideal, h: PauliSum, psi: np.ndarray, n: int) -> float:
    """P_λ(X) for X = i[H, ρ], ρ = |ψ⟩⟨ψ|."""
    d = 2**n
    a = _apply_sum(h, psi)
    mean = np.vdot(psi, a).real
    norm_x = 2 * (np.vdot(a, a).real - mean**2)  # ‖X‖² = 2(⟨H²⟩ − ⟨H⟩²)
    if mod.kind == "su":
        return norm_x
    if mod.kind in ("so", "sp", "complement"):
        u, v = [1j * a, -1j * psi], [psi, a]  # X = Σ |u_k⟩⟨v_k|
        j = lambda x: _form_apply(mod.form, x, n)  # noqa: E731
        tr = sum(np.vdot(v[k], j(v[l].conj())) * (u[l] @ j(u[k])) for k in range(2) for l in range(2))
        p_g = float(((norm_x - tr) / 2).real)
        return p_g if mod.kind != "complement" else norm_x - p_g
    elems = [PauliSum(n, np.array([k], np.int64), np.array([1.0])) for k in mod.keys] if mod.keys is not None else mod.basis
    total = 0.0
    for b in elems:
        c = bracket(b, h)  # −i[B, H];  Tr(B X) = ⟨ψ|i[B, H]|ψ⟩ = −⟨ψ|{B, H}|ψ⟩
        if len(c.keys):
            total += _sum_expectation(c, psi) ** 2
    return total / d


def _kappa(mod: Ideal, h: PauliSum, d: int) -> float:
    """κ_λ(H) = Σ_B ‖[B, H]‖²_HS over an orthonormal basis of the module."""
    if mod.kind in ("su", "so", "sp", "complement"):
        return mod.casimir * d * h.traceless().norm2()
    elems = [PauliSum(h.n, np.array([k], np.int64), np.array([1.0])) for k in mod.keys] if mod.keys is not None else mod.basis
    return sum(bracket(b, h).norm2() for b in elems)


# --- exact twirl for small n --------------------------------------------------------------------


def _dense(h: PauliSum) -> np.ndarray:
    n = h.n
    d = 2**n
    out = np.zeros((d, d), complex)
    eye = np.eye(d, dtype=complex)
    for k, c in zip(h.keys, h.coeffs):
        out += c * np.stack([apply_pauli(int(k), eye[:, i], n) for i in range(d)], axis=1)
    return out


def _twirl(gens: list[np.ndarray], x: np.ndarray, copies: int, tol: float = 1e-12, max_sweeps: int = 5000) -> np.ndarray:
    """Projection of ``x`` onto the commutant of {G^{⊗copies}}: alternating projections onto the
    commutants of the one-parameter groups e^{−itH} of each generator H."""
    eig = []
    for h in gens:
        w, v = np.linalg.eigh(h)
        if copies == 2:
            lam = (w[:, None] + w[None, :]).reshape(-1)
            vv = np.kron(v, v)
        else:
            lam, vv = w, v
        eig.append((vv, np.abs(lam[:, None] - lam[None, :]) < 1e-8))
    for _ in range(max_sweeps):
        before = x
        for vv, keep in eig:
            y = vv.conj().T @ x @ vv
            x = vv @ (y * keep) @ vv.conj().T
        if np.linalg.norm(x - before) < tol * max(1.0, np.linalg.norm(x)):
            return x
    raise RuntimeError("twirl did not converge")


# --- predictions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prediction:
    """Deep-circuit predictions for one (circuit, observable, parameter)."""

    dla_dim: float  # NaN when unknown
    dla_type: str
    loss_variance: float  # NaN: no prediction
    gradient_variance: float
    method: str  # 'modules', 'ideals', 'twirl' or ''
    reason: str  # why a prediction is NaN ('' when both exist)
    one_sided: bool = False
    gradient_form: str = ""  # one-sided, prefix-averaged or two-sided


def _nan_prediction(dla: DLA | None, reason: str) -> Prediction:
    dim = float(dla.dim) if dla is not None and dla.dim is not None else float("nan")
    return Prediction(dim, dla.label if dla is not None else "", float("nan"), float("nan"), "", reason)


def _slot_group(pushed: PushedCircuit, slot: int) -> tuple[Group | None, str]:
    groups = [g for g in pushed.groups if g.slot == slot]
    if not groups:
        return None, f"slot {slot} drives no gate"
    if len(groups) > 1:
        return None, f"slot {slot} drives gates at {len(groups)} separate places (not one commuting block)"
    return groups[0], ""


def _commute(a: Group, b: Group) -> bool:
    return all(len(bracket(x, y).keys) == 0 for x in a.alternatives for y in b.alternatives)


def _stabilises(g: Group, psi: np.ndarray) -> bool:
    """ψ is an eigenvector of every alternative of g's generator (the gate is a phase on it)."""
    for h in g.alternatives:
        v = _apply_sum(h, psi)
        if np.linalg.norm(v - np.vdot(psi, v) * psi) > 1e-9:
            return False
    return True


def _prefix(pushed: PushedCircuit, group: Group) -> list[Group]:
    """The trainable groups that act before ``group`` and cannot be removed: a group that commutes
    with ``group`` and with every later prefix group moves behind it (into the block after), and
    a first group of which ψ₀ is an eigenvector only adds a phase.  Empty: the gradient has the
    exact one-sided form with ρ_A = ψ₀."""
    prefix = [g for g in pushed.groups if g.index < group.index]
    changed = True
    while changed and prefix:
        changed = False
        if _stabilises(prefix[0], pushed.psi0):
            prefix.pop(0)
            changed = True
            continue
        for i in range(len(prefix) - 1, -1, -1):
            if all(_commute(prefix[i], later) for later in prefix[i + 1:] + [group]):
                prefix.pop(i)
                changed = True
                break
    return prefix


def predict(circuit: Circuit, observable, slot: int | None = None, average_prefix: bool = True) -> Prediction:
    """Deep-circuit variances of ℓ = ⟨O⟩ and of ∂ℓ/∂θ[slot] for ``circuit`` (random angles,
    the circuit Haar-random over its DLA group).  ``observable``: a
    :class:`qnnscope.costs.Observable`.

    The gradient's form: ``one-sided`` when no trainable gate acts before the parameter (after
    moving commuting gates behind it and dropping gates that only add a phase to ψ₀: exact for a
    deep rest); otherwise, for su(d) and Pauli-string gates with integer scales, the gates before
    it are averaged exactly (``prefix-averaged``, any prefix depth; ``average_prefix=False``
    skips it); else ``two-sided``, assuming the gates before are deep too."""
    pushed, dla = _analyse(circuit)
    n, d = circuit.n_qubits, 2**circuit.n_qubits
    if dla.dim is None:
        return _nan_prediction(dla, f"DLA not determined: {dla.note}")
    o = pushed.observable(observable)
    psi = pushed.psi0
    group, group_reason = (None, "no parameter asked") if slot is None else _slot_group(pushed, slot)
    one_sided = group is not None and not _prefix(pushed, group)
    closed = dla.kind in ("su", "so", "sp") and dla.irreducible and (dla.enumerated_split or not dla.enumerated)
    mods = dla.ideals
    method = ""
    if closed:
        method = "modules"
    else:
        o_t = o.traceless()
        p_o = sum(_proj_sum(m, o_t, d) for m in mods) + _centre_part(dla, o_t, d)
        o_in = abs(p_o - d * o_t.norm2()) <= 1e-9 * max(1.0, d * o_t.norm2())
        p_r = sum(_proj_state(m, psi, n) for m in mods) + _centre_state(dla, psi, n)
        r_in = abs(p_r - (1 - 1 / d)) <= 1e-9
        if o_in or r_in:
            method = "ideals"
        elif n <= TWIRL_MAX_QUBITS:
            return _twirl_prediction(pushed, dla, o, group, group_reason, one_sided)
        else:
            return _nan_prediction(dla, "neither the observable nor the initial state lies in the DLA (up to identity "
                                        f"and centre), and the exact twirl is limited to n <= {TWIRL_MAX_QUBITS}")
    p_rho = [_proj_state(m, psi, n) for m in mods]
    p_obs = [_proj_sum(m, o, d) for m in mods]
    loss = float(sum(a * b / m.dim for a, b, m in zip(p_rho, p_obs, mods)))
    grad, reason = float("nan"), group_reason
    if group is not None:
        vals = []
        for h in group.alternatives:
            if one_sided:
                vals.append(0.25 * sum(_proj_commutator(m, h, psi, n) * b / m.dim for m, b in zip(mods, p_obs)))
            else:
                vals.append(0.25 * sum(a * b * _kappa(m, h, d) / m.dim**2 for m, a, b in zip(mods, p_rho, p_obs)))
        grad, reason = float(np.mean(vals)), ""
    form = "" if group is None else ("one-sided" if one_sided else "two-sided")
    if average_prefix and group is not None and not one_sided and method == "modules" and dla.kind == "su":
        averaged = _prefix_averaged(pushed, group, p_obs[0] / mods[0].dim)
        if averaged is not None:
            grad, form = averaged, "prefix-averaged"
    return Prediction(float(dla.dim), dla.label, loss, grad, method, reason, one_sided, form)


PREFIX_CAP = 1 << 16
"""Most Pauli strings tracked when averaging a gradient over the gates before it."""


def _integer_single(h: PauliSum) -> bool:
    return len(h.keys) == 1 and float(h.coeffs[0]).is_integer() and h.coeffs[0] != 0


def _prefix_averaged(pushed: PushedCircuit, group: Group, o_factor: float) -> float | None:
    """Var[∂ℓ] = ¼ E_A[‖i[H, ρ_A]‖²] P(O)/dim g for g = su(d), averaging exactly over the gates
    before the parameter (uniform angles over a full period): ‖i[H, ρ_A]‖² = 2a²(1 − ⟨P⟩²_A)
    for H = aP, and E_A⟨P⟩²_A follows by propagating squared Pauli weights backwards through
    the prefix (a gate exp(−iθbG/2), b a non-zero integer, keeps a string commuting with G and
    sends half the weight of an anticommuting one to G·P: cos² and sin² average to ½, cross
    terms to 0).  None where that does not apply (Pauli sums, non-integer scales, too many
    strings)."""
    prefix = _prefix(pushed, group)
    n = pushed.n
    if len(group.alternatives) != 1 or not _integer_single(group.alternatives[0]):
        return None
    if not all(_integer_single(a) for g in prefix for a in g.alternatives):
        return None
    h = group.alternatives[0]
    weights = {int(h.keys[0]): 1.0}
    for g in reversed(prefix):
        alts = [int(a.keys[0]) for a in g.alternatives]
        share = 1.0 / len(alts)
        new: dict[int, float] = {}
        for alt in alts:
            for q, w in weights.items():
                if _anti(q, alt, n):
                    new[q] = new.get(q, 0.0) + share * w / 2
                    new[q ^ alt] = new.get(q ^ alt, 0.0) + share * w / 2
                else:
                    new[q] = new.get(q, 0.0) + share * w
        weights = new
        if len(weights) > PREFIX_CAP:
            return None
    keys = np.array(list(weights), dtype=np.int64)
    second = float(np.array(list(weights.values())) @ expectations(keys, pushed.psi0, n) ** 2)
    a2 = float(h.coeffs[0]) ** 2
    return 0.25 * 2 * a2 * (1 - second) * o_factor


def _centre_part(dla: DLA, h: PauliSum, d: int) -> float:
    if dla.centre_keys is not None and len(dla.centre_keys):
        sel = np.isin(h.keys, dla.centre_keys)
        return d * float(h.coeffs[sel] @ h.coeffs[sel])
    if dla.centre:
        return _proj_sum(Ideal(len(dla.centre), "z", basis=dla.centre), h, d)
    return 0.0


def _centre_state(dla: DLA, psi: np.ndarray, n: int) -> float:
    if dla.centre_keys is not None and len(dla.centre_keys):
        return _proj_state(Ideal(len(dla.centre_keys), "z", keys=dla.centre_keys), psi, n)
    if dla.centre:
        return _proj_state(Ideal(len(dla.centre), "z", basis=dla.centre), psi, n)
    return 0.0


def _twirl_prediction(pushed, dla, o: PauliSum, group, group_reason, one_sided) -> Prediction:
    d = 2**pushed.n
    gens = [_dense(g) for g in generators(pushed)]
    rng = np.random.default_rng(2024)  # generic elements of g first: their commutants are small
    gens = [sum(rng.normal() * g for g in gens) for _ in range(3)] + gens
    om = _dense(o)
    rho = np.outer(pushed.psi0, pushed.psi0.conj())
    oo = _twirl(gens, np.kron(om, om), 2)
    o1 = _twirl(gens, om, 1)
    mean = np.trace(rho @ o1).real
    loss = float(np.vdot(np.kron(rho, rho), oo).real - mean**2)
    grad, reason = float("nan"), group_reason
    if group is not None:
        vals = []
        rr = None if one_sided else _twirl(gens, np.kron(rho, rho), 2)
        for h in group.alternatives:
            hm = _dense(h)
            if one_sided:
                x = 1j * (hm @ rho - rho @ hm)
                vals.append(0.25 * np.vdot(np.kron(x, x), oo).real)
            else:
                h1, h2 = np.kron(hm, np.eye(d)), np.kron(np.eye(d), hm)
                inner = h2 @ rr - rr @ h2
                z = -(h1 @ inner - inner @ h1)
                vals.append(0.25 * np.vdot(z, oo).real)
        grad, reason = float(np.mean(vals)), ""
    form = "" if group is None else ("one-sided" if one_sided else "two-sided")
    return Prediction(float(dla.dim), dla.label, loss, grad, "twirl", reason, one_sided, form)


def predicted_qfim_rank(circuit: Circuit) -> int | None:
    """Saturated QFIM rank: the real dimension of the orbit of ψ₀ under the DLA group, i.e. the
    rank of {(B − ⟨B⟩)ψ₀ : B ∈ ig} as real vectors (Larocca et al. 2023).  None when the DLA is
    not enumerated (su: 2(d − 1) and sp: 2(d − 1), both transitive on the sphere, are given)."""
    pushed, dla = _analyse(circuit)
    n, d = circuit.n_qubits, 2**circuit.n_qubits
    if dla.kind in ("su", "sp") and dla.irreducible:
        return 2 * (d - 1)
    if dla.basis_keys is None and dla.basis is None:
        return None
    psi = pushed.psi0
    elems = [PauliSum(n, np.array([k], np.int64), np.array([1.0])) for k in dla.basis_keys] if dla.basis_keys is not None else dla.basis
    if len(elems) * d > 5e7:
        return None
    vecs = []
    for b in elems:
        v = _apply_sum(b, psi)
        v = v - np.vdot(psi, v) * psi
        vecs.append(np.concatenate([v.real, v.imag]))
    return int(np.linalg.matrix_rank(np.array(vecs), tol=1e-8)) if vecs else 0
