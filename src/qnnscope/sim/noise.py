"""Noisy simulation: batched density matrices with depolarising and amplitude-damping channels.

What: S parameter draws of one :class:`~qnnscope.circuits.description.Circuit` evolved as density
matrices ρ (S, 2^n, 2^n), gate by gate, each gate followed by the channels of a
:class:`NoiseModel`; :func:`expectation` gives tr(ρ O) per sample.  Why: devices are noisy, and
local noise makes gradients vanish exponentially in depth (Wang et al. 2021, noise-induced
barren plateaus), which pure states cannot show.

Channels, in qiskit-aer's parameters (the same numbers build :func:`qnnscope.backends.qiskit_backend.aer_noise_model`):

* ``depolarizing_1q`` = λ₁ after every single-qubit gate, on its wire:
  ρ → (1 − λ₁) ρ + λ₁ I/2 ⊗ tr_w ρ  (Aer's ``depolarizing_error(λ₁, 1)``).  As a Pauli channel
  ρ → (1 − p) ρ + (p/3)(XρX + YρY + ZρZ) with p = 3λ₁/4, so every Pauli factor on the wire
  shrinks by 1 − 4p/3 = 1 − λ₁.  λ₁ ∈ [0, 4/3].
* ``depolarizing_2q`` = λ₂ after every CZ and CNOT, on its two wires:
  ρ → (1 − λ₂) ρ + λ₂ I/4 ⊗ tr_ab ρ  (Aer's ``depolarizing_error(λ₂, 2)``); as a Pauli channel
  p = 15λ₂/16 spread evenly over the 15 non-identity two-qubit Paulis.  λ₂ ∈ [0, 16/15].
* ``amplitude_damping`` = γ after every gate, on each wire it touches, after the depolarising
  channel: Kraus operators [[1, 0], [0, √(1−γ)]] and [[0, √γ], [0, 0]] (Aer's
  ``amplitude_damping_error(γ)``): the |1⟩ population decays into |0⟩ by γ, coherences shrink by
  √(1−γ).  γ ∈ [0, 1].

Idle wires get no noise (as in Aer without delay instructions).

Relation to the engine (:mod:`qnnscope.sim.engine`): the gate matrices are the engine's
(``rotation_matrices`` and its fixed gates; CZ as a diagonal and CNOT as a permutation from the
plan compiler), and ρ is stored as a 2n-wire "state" vec(ρ): row wire w is wire w and column
wire w is wire n + w, so U ρ U† is the engine's one-qubit update with U on wire w and U* on wire
n + w.  A compiled program (gates, diagonals, permutations, channels) runs either on the CPU
kernel, which reuses the engine's numba gate loop and keeps one sample's ρ in cache while every
row is applied (hand-written for the engine's reason: torch's broadcast passes are tens of times
slower on CPU), or as batched torch ops on a (4^n, S) tensor (CUDA, and autograd in ``theta``).
Both one-qubit channels keep populations and coherences apart (a 2×2 map on the populations,
a factor on the coherences), so a gate's one-qubit channels compose into one pass.  Gates are not
fused (a channel follows each) and ρ costs 4^n per sample, so the statevector engine stays the
fast path for noiseless sweeps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numba
import numpy as np
import torch
from numba import njit, prange

from qnnscope.circuits.description import Circuit, Op
from qnnscope.costs import Observable
from qnnscope.sim import engine, kernels
from qnnscope.sim.engine import REAL, Compiled, compile_circuit, rotation_matrices
from qnnscope.sim.kernels import DIAG, GATE, PERM
from qnnscope.sim.observables import observable_groups
from qnnscope.sim.plan import Diagonal, compile_plan

CHANNEL, DEPOLARIZE_2Q = 4, 5
"""Program rows beyond the engine's kernel kinds: (CHANNEL, wire, channel row) and
(DEPOLARIZE_2Q, wire a, wire b)."""


@dataclass(frozen=True)
class NoiseModel:
    """Channel strengths in qiskit-aer's parameters (see the module docstring); all zero is
    noiseless."""

    depolarizing_1q: float = 0.0
    depolarizing_2q: float = 0.0
    amplitude_damping: float = 0.0
    device: str = ""
    """A fake IBM backend whose calibrated noise model applies instead (qiskit-aer only, see
    :mod:`qnnscope.backends.device_noise`); the channel strengths are then 0."""

    def __post_init__(self) -> None:
        if self.device and (self.depolarizing_1q or self.depolarizing_2q or self.amplitude_damping):
            raise ValueError(f"noise: device:{self.device} is a whole noise model; it does not combine with other terms")
        for name, value, top in (
            ("depolarizing_1q", self.depolarizing_1q, 4 / 3),
            ("depolarizing_2q", self.depolarizing_2q, 16 / 15),
            ("amplitude_damping", self.amplitude_damping, 1.0),
        ):
            if not 0 <= value <= top:
                raise ValueError(f"noise: {name} = {value} is outside [0, {top:.6g}]")


NOISELESS = NoiseModel()
NOISE_TERMS = {
    "depolarizing": ("depolarizing_1q", "depolarizing_2q"),
    "depolarizing_1q": ("depolarizing_1q",),
    "depolarizing_2q": ("depolarizing_2q",),
    "damping": ("amplitude_damping",),
}
"""Terms of a noise spec (:func:`parse_noise`) and the channel strengths each sets."""


def parse_noise(spec: str, key: str = "noise") -> NoiseModel:
    """A sweep's noise spec → :class:`NoiseModel`: ``none``, or comma-separated ``term:value``
    with terms ``depolarizing`` (λ after every gate, one- and two-qubit), ``depolarizing_1q``,
    ``depolarizing_2q`` and ``damping`` (amplitude damping γ after every gate), e.g.
    ``depolarizing:0.01,damping:0.002``; or ``device:NAME``, the calibrated noise model of the
    fake IBM backend NAME (``device:fake_manila``; qiskit-aer only; the name is checked against
    the fake backends by :mod:`qnnscope.backends.device_noise`, not here).  Errors name ``key``,
    the spec and what is allowed."""
    if spec == "none":
        return NOISELESS
    if spec.startswith("device:"):
        name = spec.removeprefix("device:")
        if not name.isidentifier():
            raise ValueError(f"{key}: {spec!r}: {name!r} is not a fake IBM backend name (device:NAME is a whole "
                             "noise model and takes no other terms; e.g. device:fake_manila)")
        return NoiseModel(device=name)
    values: dict[str, float] = {}
    for part in spec.split(","):
        term, _, value = part.partition(":")
        if term not in NOISE_TERMS:
            raise ValueError(f"{key}: unknown noise term {term!r} in {spec!r}; allowed: none, device:NAME (a fake IBM "
                             f"backend's calibrated noise, alone), or comma-separated term:value with terms "
                             f"{', '.join(NOISE_TERMS)}")
        try:
            strength = float(value)
        except ValueError:
            raise ValueError(f"{key}: {part!r} in {spec!r} needs a number after the colon") from None
        for field_name in NOISE_TERMS[term]:
            values[field_name] = strength
    try:
        return NoiseModel(**values)
    except ValueError as exc:
        raise ValueError(f"{key}: {spec!r}: {str(exc).removeprefix('noise: ')}") from None


def _channel(t: np.ndarray, f: float) -> np.ndarray:
    """A population/coherence-separating one-qubit channel as a row [t00, t01, t10, t11, f]:
    (ρ₀₀, ρ₁₁) → t (ρ₀₀, ρ₁₁), ρ₀₁ → f ρ₀₁, ρ₁₀ → f ρ₁₀."""
    return np.array([t[0, 0], t[0, 1], t[1, 0], t[1, 1], f])


def _depolarizer(lam: float) -> np.ndarray:
    return _channel(np.array([[1 - lam / 2, lam / 2], [lam / 2, 1 - lam / 2]]), 1 - lam)


def _damper(gamma: float) -> np.ndarray:
    return _channel(np.array([[1, gamma], [0, 1 - gamma]]), math.sqrt(1 - gamma))


def _then(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Channel ``first`` followed by ``second``."""
    t = second[:4].reshape(2, 2) @ first[:4].reshape(2, 2)
    return _channel(t, first[4] * second[4])


_RESET = _depolarizer(1.0)
"""Replace a wire by I/2 (the two-qubit depolariser is (1 − λ₂) ρ + λ₂ R_a R_b ρ)."""


@cache
def _two_qubit_step(n: int, op: Op):
    """The plan compiler's step (a Diagonal or a Permutation) for one CZ or CNOT on n wires."""
    return compile_plan(Circuit(n, (op,), 0)).steps[0]


@dataclass
class _Schedule:
    """A circuit's gates as program rows, with their constants for both interpreters."""

    compiled: Compiled
    gates: list[tuple]  # (1, k-th one-qubit gate, wire) or (2, diag/perm row, (wire a, wire b), DIAG/PERM)
    one_qubit_ops: list[int]
    diags: np.ndarray  # (n_diag, 2^n) for the kernel
    perms: np.ndarray  # (n_perm, 2^n) int64
    diag_t: list[torch.Tensor]  # the same on the device, for the torch path
    perm_t: list[torch.Tensor]


_SCHEDULES: dict[tuple, _Schedule] = {}


def _schedule(circuit: Circuit, device, dtype) -> _Schedule:
    c = compile_circuit(circuit, device, dtype, phases=False)  # channels follow CNOT-form primitives
    key = (circuit, str(c.device), c.dtype)
    if key in _SCHEDULES:
        return _SCHEDULES[key]
    n, rdt = circuit.n_qubits, REAL[c.dtype]
    gates, one, diags, perms = [], [], [], []
    for i, op in enumerate(c.plan.circuit.ops):  # the primitive gates: channels follow each
        if len(op.wires) == 1:
            gates.append((1, len(one), op.wires[0]))
            one.append(i)
            continue
        step = _two_qubit_step(n, op)
        if isinstance(step, Diagonal):
            gates.append((2, len(diags), op.wires, DIAG))
            diags.append(step.vector(n))
        else:
            gates.append((2, len(perms), op.wires, PERM))
            perms.append(step.perm(n))
    npdt = np.float32 if c.dtype == torch.complex64 else np.float64
    diag_np = np.array(diags, dtype=npdt).reshape(-1, 2**n)
    perm_np = np.array(perms, dtype=np.int64).reshape(-1, 2**n)
    s = _Schedule(
        c, gates, one, diag_np, perm_np,
        [torch.as_tensor(d, dtype=rdt, device=c.device) for d in diags],
        [torch.as_tensor(p, device=c.device) for p in perms],
    )
    _SCHEDULES[key] = s
    return s


def _program(s: _Schedule, noise: NoiseModel) -> tuple[np.ndarray, np.ndarray]:
    """Rows (kind, a, b) for the circuit under ``noise`` and the channel table (rows of 5).

    A one-qubit gate k is two GATE rows, U (coefficient column 2k) on wire w and U* (column
    2k + 1) on wire n + w, then its composed channel (table row 0); a two-qubit gate is its
    diagonal or permutation, then DEPOLARIZE_2Q, then damping on each wire (table row 1)."""
    n = s.compiled.n
    damp = _damper(noise.amplitude_damping) if noise.amplitude_damping else None
    after_1q = _depolarizer(noise.depolarizing_1q) if noise.depolarizing_1q else None
    if damp is not None:
        after_1q = damp if after_1q is None else _then(after_1q, damp)
    rows = []
    for gate in s.gates:
        if gate[0] == 1:
            _, k, w = gate
            rows += [(GATE, w, 2 * k), (GATE, n + w, 2 * k + 1)]
            if after_1q is not None:
                rows.append((CHANNEL, w, 0))
            continue
        _, index, (a, b), kind = gate
        rows.append((kind, index, 0))
        if noise.depolarizing_2q:
            rows.append((DEPOLARIZE_2Q, a, b))
        if damp is not None:
            rows += [(CHANNEL, a, 1), (CHANNEL, b, 1)]
    identity = _depolarizer(0.0)
    table = np.stack([identity if after_1q is None else after_1q, identity if damp is None else damp])
    return np.array(rows, dtype=np.int64).reshape(-1, 3), table


def _gate_matrices(s: _Schedule, rot: torch.Tensor) -> torch.Tensor:
    """(b, 2k, 2, 2): per one-qubit gate its matrix U and U*, interleaved (program columns)."""
    c = s.compiled
    if not s.one_qubit_ops:
        return torch.zeros(rot.shape[0], 0, 2, 2, dtype=c.dtype, device=c.device)
    us = engine.factor_matrices(c, rot)[:, [c.factor_index[i] for i in s.one_qubit_ops]]
    return torch.stack([us, us.conj()], 2).flatten(1, 2)


# --- torch interpreter (CUDA, autograd) -----------------------------------------------------


def _apply_channel(rho: torch.Tensor, ch: np.ndarray, wire: int, n: int) -> torch.Tensor:
    """One-qubit channel row ``ch`` on ``wire`` of vec(ρ) stored as (4^n, b); functional."""
    b = rho.shape[1]
    v = rho.view(2**wire, 2, 2 ** (n - 1), 2, 2 ** (n - wire - 1), b)
    p0, p1 = v[:, 0, :, 0], v[:, 1, :, 1]
    t00, t01, t10, t11, f = (float(x) for x in ch)
    out = v * f
    out[:, 0, :, 0] = t00 * p0 + t01 * p1
    out[:, 1, :, 1] = t10 * p0 + t11 * p1
    return out.reshape(rho.shape)


def _run_torch(s: _Schedule, mats: torch.Tensor, rows: np.ndarray, table: np.ndarray, lam2: float) -> torch.Tensor:
    """vec(ρ) (b, 4^n) after program ``rows`` from |0…0⟩⟨0…0|, as batched torch ops."""
    c, n = s.compiled, s.compiled.n
    d, b = 2**n, mats.shape[0]
    rho = torch.zeros(d * d, b, dtype=c.dtype, device=c.device)
    rho[0] = 1
    for kind, a, col in rows.tolist():
        if kind == GATE:
            rho = engine.apply_1q(rho, mats[:, col], a, 2 * n, None)
        elif kind == DIAG:
            rho = (rho.view(d, d, b) * (s.diag_t[a][:, None] * s.diag_t[a][None, :]).unsqueeze(-1)).view(d * d, b)
        elif kind == PERM:
            rho = rho.view(d, d, b)[s.perm_t[a]][:, s.perm_t[a]].reshape(d * d, b)
        elif kind == CHANNEL:
            rho = _apply_channel(rho, table[col], a, n)
        else:
            mixed = _apply_channel(_apply_channel(rho, _RESET, a, n), _RESET, col, n)
            rho = (1 - lam2) * rho + lam2 * mixed
    return rho.T


# --- CPU kernel ------------------------------------------------------------------------------


@njit(fastmath=True, cache=True)
def _channel_kernel(r, i, ch, w, n):
    rb = 1 << (2 * n - 1 - w)  # row bit of wire w in vec(ρ)
    cb = 1 << (n - 1 - w)  # column bit
    t00, t01, t10, t11, f = ch[0], ch[1], ch[2], ch[3], ch[4]
    for hi in range(0, r.shape[0], 2 * rb):
        for mid in range(hi, hi + rb, 2 * cb):
            for x in range(mid, mid + cb):
                y = x | rb | cb
                ar, ai, br, bi = r[x], i[x], r[y], i[y]
                r[x] = t00 * ar + t01 * br
                i[x] = t00 * ai + t01 * bi
                r[y] = t10 * ar + t11 * br
                i[y] = t10 * ai + t11 * bi
                r[x | rb] *= f
                i[x | rb] *= f
                r[x | cb] *= f
                i[x | cb] *= f


@njit(fastmath=True, cache=True)
def _depolarize2_kernel(r, i, wa, wb, lam, n):
    ra, rb = 1 << (2 * n - 1 - wa), 1 << (2 * n - 1 - wb)
    ca, cb = 1 << (n - 1 - wa), 1 << (n - 1 - wb)
    mask = ra | rb | ca | cb
    keep, mix = 1 - lam, lam / 4
    for x in range(r.shape[0]):
        if x & mask:
            continue
        tr = r[x] + r[x | ra | ca] + r[x | rb | cb] + r[x | mask]
        ti = i[x] + i[x | ra | ca] + i[x | rb | cb] + i[x | mask]
        for k in range(16):
            y = x | (ra if k & 1 else 0) | (rb if k & 2 else 0) | (ca if k & 4 else 0) | (cb if k & 8 else 0)
            r[y] *= keep
            i[y] *= keep
        for y in (x, x | ra | ca, x | rb | cb, x | mask):
            r[y] += mix * tr
            i[y] += mix * ti


@njit(fastmath=True, cache=True)
def _scale2(r, i, d):
    dim = d.shape[0]
    for x in range(dim):
        for y in range(dim):
            k = x * dim + y
            r[k] *= d[x] * d[y]
            i[k] *= d[x] * d[y]


@njit(fastmath=True, cache=True)
def _gather2(r, i, tr, ti, p):
    dim = p.shape[0]
    for x in range(dim):
        row = p[x] * dim
        for y in range(dim):
            tr[x * dim + y] = r[row + p[y]]
            ti[x * dim + y] = i[row + p[y]]


@njit(parallel=True, fastmath=True, cache=True)
def _evolve_kernel(re, im, coef, prog, table, diags, perms, lam2, n):
    """Apply program ``prog`` to every row vec(ρ) of (re, im) in place, one sample per thread."""
    for s in prange(re.shape[0]):
        r = re[s]
        i = im[s]
        tr = np.empty_like(r)
        ti = np.empty_like(i)
        for row in range(prog.shape[0]):
            kind, a, b = prog[row, 0], prog[row, 1], prog[row, 2]
            if kind == GATE:
                kernels.apply_gate(r, i, coef[s, b], a, 2 * n)
            elif kind == DIAG:
                _scale2(r, i, diags[a])
            elif kind == PERM:
                _gather2(r, i, tr, ti, perms[a])
                r, tr = tr, r
                i, ti = ti, i
            elif kind == CHANNEL:
                _channel_kernel(r, i, table[b], a, n)
            else:
                _depolarize2_kernel(r, i, a, b, lam2, n)
        if r.ctypes.data != re[s].ctypes.data:
            re[s, :] = r
            im[s, :] = i


def _run_kernel(s: _Schedule, mats: torch.Tensor, rows: np.ndarray, table: np.ndarray, lam2: float) -> torch.Tensor:
    """vec(ρ) (b, 4^n) after program ``rows`` from |0…0⟩⟨0…0|, on the CPU kernel."""
    c = s.compiled
    npdt = np.float32 if c.dtype == torch.complex64 else np.float64
    re = np.zeros((mats.shape[0], 4**c.n), dtype=npdt)
    im = np.zeros_like(re)
    re[:, 0] = 1
    coef = engine.kernel_coefficients(mats) if mats.shape[1] else np.zeros((len(re), 1, 8), dtype=npdt)
    _evolve_kernel(re, im, coef, rows, table.astype(npdt), s.diags, s.perms, npdt(lam2), c.n)
    return torch.complex(torch.from_numpy(re), torch.from_numpy(im))


# --- public ----------------------------------------------------------------------------------


def _vec_rho(s: _Schedule, rot: torch.Tensor, noise: NoiseModel, kernel: bool) -> torch.Tensor:
    """vec(ρ) (b, 4^n) for rotation matrices ``rot`` (b, n_rot, 2, 2)."""
    if noise.device:
        raise ValueError(f"noise device:{noise.device} is a qiskit-aer noise model (qnnscope.backends.device_noise); "
                         f"the engine simulates the channels depolarizing, depolarizing_1q, depolarizing_2q, damping")
    rows, table = _program(s, noise)
    run = _run_kernel if kernel else _run_torch
    return run(s, _gate_matrices(s, rot), rows, table, noise.depolarizing_2q)


def _use_kernel(c: Compiled, theta: torch.Tensor, kernel: bool) -> bool:
    return kernel and c.device.type == "cpu" and not (theta.requires_grad and torch.is_grad_enabled())


def density_matrices(
    circuit: Circuit, theta, choices=None, noise: NoiseModel = NOISELESS, device="cpu", dtype="complex64",
    kernel: bool = True, offsets: torch.Tensor | None = None,
) -> torch.Tensor:
    """Final density matrices (S, 2^n, 2^n), wire 0 most significant; differentiable in ``theta``
    when it requires grad; ``kernel=False`` forces the torch path on CPU; ``offsets`` as for
    :func:`expectation`."""
    s = _schedule(circuit, device, dtype)
    c = s.compiled
    theta, choices = engine.as_tensors(c, theta, choices)
    rho = _vec_rho(s, rotation_matrices(c, theta, choices, offsets), noise, _use_kernel(c, theta, kernel))
    return rho.reshape(-1, 2**c.n, 2**c.n)


def _trace_terms(observable: Observable, c: Compiled) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per flip mask m: flat indices of ρ[j ⊕ m, j] and the coefficients D_m[j], so that
    tr(ρ O) = Σ_m Σ_j D_m[j] ρ[j ⊕ m, j]  (O[j, j ⊕ m] = D_m[j], see observable_groups)."""
    d = 2**observable.n_qubits
    j = torch.arange(d, device=c.device)
    return [
        ((j ^ mask) * d + j, torch.as_tensor(vec, dtype=c.dtype, device=c.device))
        for mask, vec in observable_groups(observable).items()
        if np.any(vec)
    ]


def chunk_size(c: Compiled) -> int:
    """Samples per chunk: about four density matrices per sample within the engine's budget,
    and at least one sample per kernel thread."""
    item = torch.empty((), dtype=c.dtype).element_size()
    return max(numba.get_num_threads(), engine.CHUNK_BYTES // (4 * item * 4**c.n))


def expectation(
    circuit: Circuit,
    observable: Observable,
    theta,
    choices=None,
    noise: NoiseModel = NOISELESS,
    device="cpu",
    dtype="complex64",
    offsets: torch.Tensor | None = None,
    kernel: bool = True,
) -> torch.Tensor:
    """tr(ρ O) for every sample, shape (S,); differentiable in ``theta`` when it requires grad.
    ``offsets`` (S, n_rotations) are added to the rotation angles, as in
    :func:`qnnscope.sim.engine.expectation` (shifted copies for the parameter-shift rule)."""
    s = _schedule(circuit, device, dtype)
    c = s.compiled
    if observable.n_qubits != c.n:
        raise ValueError(f"observable acts on {observable.n_qubits} qubits, the circuit has {c.n}")
    theta, choices = engine.as_tensors(c, theta, choices)
    terms = _trace_terms(observable, c)
    use_kernel = _use_kernel(c, theta, kernel)
    size = theta.shape[0] if theta.requires_grad and torch.is_grad_enabled() else chunk_size(c)
    out = []
    for start in range(0, theta.shape[0], size):
        sl = slice(start, start + size)
        rot = rotation_matrices(c, theta[sl], choices[sl], None if offsets is None else offsets[sl])
        rho = _vec_rho(s, rot, noise, use_kernel)
        value = torch.zeros(rho.shape[0], dtype=c.dtype, device=c.device)
        for index, coeff in terms:
            value = value + rho[:, index] @ coeff
        out.append(value.real)
    return torch.cat(out) if out else torch.empty(0, dtype=REAL[c.dtype], device=c.device)
