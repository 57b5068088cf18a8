"""Haar-random unitaries and states, the Hermitian log of a unitary, Pauli expansions.

Unitaries follow Mezzadri (2007): the QR decomposition of a complex Ginibre matrix,
with each column of Q multiplied by the phase of the matching diagonal entry of R.
Without that phase fix the distribution depends on the QR routine's sign convention
and is not Haar; a QR of a real Gaussian gives orthogonal matrices, not unitary ones
(tests/test_haar.py shows both fail statistics that these unitaries pass).

An integer seed seeds a CPU ``torch.Generator``, and all Gaussians are drawn in float64
on the generator's device, then cast and moved: a seed gives the same matrices on CPU
and CUDA, and in complex64 the rounding of the complex128 ones.

The Pauli expansion is hand-written because no library does it batched, on torch and
with autograd: one 4×4 contraction per qubit, O(n·4^n) per matrix, never a
4^n × 2^n × 2^n basis (4 GB at n = 7).
"""

from __future__ import annotations

import math

import torch

_BLOCK_ELEMENTS = 1 << 22
"""Matrix entries per QR call in :func:`unitaries`: bounds the QR workspace."""


def _generator(seed: int | torch.Generator) -> torch.Generator:
    """``seed`` itself if it is a generator, else a new CPU generator seeded with it."""
    if isinstance(seed, torch.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(
            f"seed must be an int or a torch.Generator, got {type(seed).__name__}"
        )
    return torch.Generator(device="cpu").manual_seed(seed)


def _complex_gaussian(
    shape: tuple[int, ...], gen: torch.Generator, dtype: torch.dtype
) -> torch.Tensor:
    """Entries (a + ib)/√2, a and b standard normal in float64 on ``gen``'s device."""
    parts = torch.randn(
        (*shape, 2), dtype=torch.float64, generator=gen, device=gen.device
    )
    return torch.view_as_complex(parts).div_(math.sqrt(2.0)).to(dtype)


def _start(samples: int, dim: int, seed: int | torch.Generator, dtype: torch.dtype) -> torch.Generator:
    """Refuse sizes below 1 and non-complex dtypes, naming the value; return the generator."""
    if samples < 1 or dim < 1:
        raise ValueError(
            f"samples and dim must be >= 1, got samples={samples}, dim={dim}"
        )
    if not dtype.is_complex:
        raise ValueError(f"dtype must be complex, got {dtype}")
    return _generator(seed)


Seed = int | torch.Generator


def unitaries(samples: int, dim: int, seed: Seed, dtype: torch.dtype = torch.complex128, device="cpu") -> torch.Tensor:
    """``samples`` Haar-random ``dim × dim`` unitaries, shape (samples, dim, dim).

    Batched QR of complex Ginibre matrices with Mezzadri's phase fix, in blocks of at
    most ``_BLOCK_ELEMENTS`` entries so the workspace is bounded whatever ``samples``.
    Deterministic for a given (samples, dim, integer seed).
    """
    gen = _start(samples, dim, seed, dtype)
    out = torch.empty((samples, dim, dim), dtype=dtype, device=device)
    block = max(1, _BLOCK_ELEMENTS // (dim * dim))
    for start in range(0, samples, block):
        stop = min(samples, start + block)
        z = _complex_gaussian((stop - start, dim, dim), gen, dtype).to(device)
        q, r = torch.linalg.qr(z)
        d = torch.diagonal(r, dim1=-2, dim2=-1)
        phase = torch.where(d == 0, 1.0, torch.sgn(d))  # R_jj = 0 has probability 0
        out[start:stop] = q * phase.unsqueeze(-2)
    return out


def states(samples: int, dim: int, seed: Seed, dtype: torch.dtype = torch.complex128, device="cpu") -> torch.Tensor:
    """``samples`` Haar-random pure states, shape (samples, dim).

    Normalised complex Gaussian vectors, seeded as :func:`unitaries`.
    """
    z = _complex_gaussian((samples, dim), _start(samples, dim, seed, dtype), dtype).to(device)
    return z / torch.linalg.vector_norm(z, dim=-1, keepdim=True)


def log_unitary(u: torch.Tensor) -> torch.Tensor:
    """Hermitian K with exp(iK) = u, batched over leading axes; eigenphases in (−π, π].

    u is normal, so it has an orthonormal eigenbasis, but ``eig`` may return a
    non-orthogonal basis of a (near-)degenerate eigenspace.  Instead: rotate u by the
    global phase that puts −1 mid-way across the widest gap of its spectrum (at least
    π/dim from every eigenvalue), take the Cayley transform C = i(1 − v)(1 + v)⁻¹
    (Hermitian with eigenvalues tan(θ/2), so distinct phases stay distinct, unlike the
    Hermitian part cos θ), and diagonalise C with ``eigh``: W is unitary to rounding
    even for degenerate spectra.  The phases are read off diag(W†uW), so exp(iK) − u
    is the part of u that W fails to diagonalise, O(dim·eps) however close the
    eigenvalues are.  Phases within √eps of −π are taken as +π (so a degenerate −1
    eigenspace gets one phase): they may exceed π by that much.
    """
    if u.dim() < 2 or u.shape[-1] != u.shape[-2]:
        raise ValueError(f"u must be (..., d, d), got shape {tuple(u.shape)}")
    if not u.dtype.is_complex:
        u = u.to(torch.complex128 if u.dtype == torch.float64 else torch.complex64)
    dim = u.shape[-1]
    eye = torch.eye(dim, dtype=u.dtype, device=u.device)

    theta = torch.sort(torch.angle(torch.linalg.eigvals(u)), dim=-1).values
    gaps = torch.cat(
        [
            theta[..., 1:] - theta[..., :-1],
            (theta[..., :1] + 2 * math.pi) - theta[..., -1:],
        ],
        -1,
    )
    widest = gaps.argmax(dim=-1, keepdim=True)
    middle = theta.gather(-1, widest) + gaps.gather(-1, widest) / 2
    v = u * torch.exp(1j * (math.pi - middle)).to(u.dtype).unsqueeze(-1)

    cayley = 1j * torch.linalg.solve(eye + v, eye - v)
    _, w = torch.linalg.eigh((cayley + cayley.mH) / 2)
    phi = torch.angle(torch.diagonal(w.mH @ u @ w, dim1=-2, dim2=-1))
    tol = math.sqrt(torch.finfo(phi.dtype).eps)
    phi = torch.where(phi < -math.pi + tol, phi + 2 * math.pi, phi)
    k = (w * phi.to(u.dtype).unsqueeze(-2)) @ w.mH
    return (k + k.mH) / 2


def _paulis(dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
    """I, X, Y, Z stacked, shape (4, 2, 2)."""
    return torch.tensor(
        [[[1, 0], [0, 1]], [[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]],
        dtype=dtype,
        device=device,
    )


def _per_qubit(x: torch.Tensor, m: torch.Tensor, n_qubits: int) -> torch.Tensor:
    """Apply the 4×4 ``m`` to each base-4 digit (one per qubit) of ``x``'s last axis.

    Each step contracts the leading digit and appends the result as the trailing one,
    so after ``n_qubits`` steps the digits are back in order (qubit 0 most significant).
    """
    lead = x.shape[:-1]
    x = x.reshape(-1, 4**n_qubits)
    for _ in range(n_qubits):
        x = x.reshape(x.shape[0], 4, -1).transpose(1, 2) @ m.T
        x = x.reshape(x.shape[0], -1)
    return x.reshape(*lead, 4**n_qubits)


def _complex_dtype(t: torch.Tensor) -> torch.dtype:
    """``t``'s dtype if complex, else the complex dtype of matching precision."""
    if t.dtype.is_complex:
        return t.dtype
    return torch.complex128 if t.dtype == torch.float64 else torch.complex64


def pauli_coefficients(k: torch.Tensor, n_qubits: int) -> torch.Tensor:
    """c_P = tr(P k)/2^n for every n-qubit Pauli string P: (..., 2^n, 2^n) → (..., 4^n).

    P is indexed lexicographically over I, X, Y, Z per qubit, qubit 0 most significant,
    so index 0 is the identity and k = Σ_P c_P P.  Batched over leading axes and
    differentiable.  The result is complex; for Hermitian k it is real up to rounding
    (take ``.real``).
    """
    d = 2**n_qubits
    if k.dim() < 2 or k.shape[-2:] != (d, d):
        raise ValueError(
            f"k must be (..., {d}, {d}) for {n_qubits} qubits, "
            f"got shape {tuple(k.shape)}"
        )
    dtype = _complex_dtype(k)
    lead = k.shape[:-2]
    # Interleave row and column bits: digit q of the flat index is 2·r_q + c_q.
    x = k.to(dtype).reshape(*lead, *([2] * (2 * n_qubits)))
    nl = len(lead)
    order = [i for q in range(n_qubits) for i in (nl + q, nl + n_qubits + q)]
    x = x.permute(*range(nl), *order).reshape(*lead, 4**n_qubits)
    # tr(P k) = Σ_{r,c} P[c, r] k[r, c], per qubit: m[p, 2r + c] = σ_p[c, r] / 2.
    m = _paulis(dtype, k.device).transpose(1, 2).reshape(4, 4) / 2
    return _per_qubit(x, m, n_qubits)


def from_pauli_coefficients(c: torch.Tensor, n_qubits: int) -> torch.Tensor:
    """Σ_P c_P P: (..., 4^n) → (..., 2^n, 2^n), inverting :func:`pauli_coefficients`.

    Same Pauli order; batched over leading axes and differentiable.
    """
    if c.dim() < 1 or c.shape[-1] != 4**n_qubits:
        raise ValueError(
            f"c must be (..., {4**n_qubits}) for {n_qubits} qubits, "
            f"got shape {tuple(c.shape)}"
        )
    dtype = _complex_dtype(c)
    lead = c.shape[:-1]
    # Per qubit: digit 2r + c of the result is Σ_p σ_p[r, c] c_p.
    m = _paulis(dtype, c.device).reshape(4, 4).T
    x = _per_qubit(c.to(dtype), m, n_qubits)
    x = x.reshape(*lead, *([2] * (2 * n_qubits)))
    nl = len(lead)
    rows = [nl + 2 * q for q in range(n_qubits)]
    cols = [nl + 2 * q + 1 for q in range(n_qubits)]
    d = 2**n_qubits
    return x.permute(*range(nl), *rows, *cols).reshape(*lead, d, d)
