"""Trainability diagnostics of a circuit under an angle law, each with a confidence interval.

- **Expressibility** (Sim, Johnson, Aspuru-Guzik 2019, Adv. Quantum Technol. 2, 1900070): the
  fidelities F = |⟨ψ(θ)|ψ(φ)⟩|² of independent pairs (θ, φ), histogrammed on ``bins`` equal bins
  of [0, 1] (75 in the paper), and the KL divergence Σ_b P_b ln(P_b / Q_b) of that histogram P
  from the bin probabilities Q of the Haar law, density (d − 1)(1 − F)^{d−2}, CDF
  1 − (1 − F)^{d−1}; and from the real-Haar law (random real unit vectors of R^d: F = x² with x
  one coordinate, so F ~ Beta(1/2, (d − 1)/2)), the reference for real circuits.  Q_b is the
  exact probability of bin b (the integral of the density, not its value at the bin centre).
  The histogram estimate is biased upwards by about (occupied bins − 1)/(2 · pairs) nats, so a
  Haar-random circuit shows a small positive KL; the CI is a basic (reverse percentile) bootstrap
  over pairs, which takes that bias off to first order (clipped at 0).
- **Frame potential** F^(t) = E[F^t] (Sim et al.'s t-design test) with a bootstrap CI, beside
  the exact Haar value t!(d − 1)!/(t + d − 1)! and the real-Haar value Π_{k<t} (2k + 1)/(d + 2k).
- **Meyer–Wallach entangling capability** Q = 2(1 − (1/n) Σ_k Tr ρ_k²) averaged over draws (the
  2 · pairs states of the fidelity pairs), beside the Haar value (d − 2)/(d + 1) (from
  E Tr ρ_A² = (d_A + d_B)/(d_A d_B + 1)).
- **Quantum Fisher information matrix** of the pure state, F_ij = 4 Re[⟨∂_iψ|∂_jψ⟩ −
  ⟨∂_iψ|ψ⟩⟨ψ|∂_jψ⟩] over the trainable slots, at random points, and its rank (Larocca et al.
  2023, Nat. Comput. Sci. 3, 542: it saturates at the dimension of the state's orbit under the
  circuit's dynamical Lie group, 2(d − 1) for a universal circuit, d − 1 for a real one).
- **Effective dimension** (Abbas et al. 2021, Nat. Comput. Sci. 1, 403) of the model
  p(k | θ, x) = |⟨k|ψ(θ, x)⟩|², the probabilities of the computational basis states k, with
  classical inputs x in some slots (``input_slots``) or none; the Fisher matrix of that
  distribution averaged over inputs, normalised over parameter samples.

State derivatives are exact and batched: R_P(φ + π) = R_P(φ)(−iP), so ∂R_P/∂φ = R_P(φ + π)/2 and
∂ψ/∂θ_j = Σ_g a_g ψ(φ_g + π)/2 over the gates g driven by slot j (angle a_g θ_j + b_g): one extra
state per gate, all evolved in one batch by the engine (:mod:`qnnscope.sim.engine`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from qnnscope import sampling
from qnnscope.circuits.description import Circuit

if TYPE_CHECKING:
    import pandas as pd

METRICS = ("expressibility", "frame_potential", "meyer_wallach", "qfim", "effective_dimension")
"""What a diagnostics point can compute (config key ``metrics``)."""
INITS = ("uniform", "uniform_sym", "uniform_half", "normal", "normal_depth")
"""Angle laws a diagnostics point accepts (identity blocks need tied circuits: not here)."""
RANK_RTOL = 1e-8
"""Default relative tolerance of the QFIM rank: singular values of the (horizontal) tangent
matrix above RANK_RTOL · the largest count, i.e. QFIM eigenvalues above RANK_RTOL² · the largest;
in complex128 the numerically-zero ones sit near 1e−15 relative."""
MAX_QUBITS = 14
"""Largest circuit a diagnostics point takes (states are held whole, in complex128)."""
MAX_AMPLITUDES = 2**31
"""Largest work of one metric in amplitudes evolved: 2 · pairs · 2^n, or
fisher_points · (1 + rotations) · 2^n."""
PROBABILITY_FLOOR = 1e-14
"""Outcomes with p_k at or below this are left out of the classical Fisher matrix (∂p_k² / p_k is
0/0 there; in complex128 such p_k are rounding noise)."""
_BLOCK = 2**22
"""Amplitudes per batch the engine evolves at once."""


def haar_frame_potential(t: int, d: int) -> float:
    """E[F^t] over Haar-random pairs in dimension d: t!(d − 1)!/(t + d − 1)! = 1 / C(t + d − 1, t)."""
    return 1.0 / math.comb(t + d - 1, t)


def real_haar_frame_potential(t: int, d: int) -> float:
    """E[F^t] over random real unit vectors of R^d: Π_{k<t} (2k + 1)/(d + 2k) (the moments of
    Beta(1/2, (d − 1)/2))."""
    return float(np.prod([(2 * k + 1) / (d + 2 * k) for k in range(t)]))


def haar_meyer_wallach(d: int) -> float:
    """E[Q] of Haar-random n-qubit states, d = 2^n: 2(1 − (2 + d/2)/(d + 1)) = (d − 2)/(d + 1)."""
    return (d - 2) / (d + 1)


def haar_bin_probabilities(edges: np.ndarray, d: int, real: bool = False) -> np.ndarray:
    """Probability of each bin [edges_b, edges_{b+1}) of F under the Haar law (survival function
    (1 − F)^{d−1}) or the real-Haar law (Beta(1/2, (d − 1)/2)); from survival functions, so that
    bins near F = 1 keep their tiny probabilities instead of rounding to 0."""
    x = np.clip(np.asarray(edges, dtype=np.float64), 0.0, 1.0)
    if real:
        from scipy.special import betaincc

        survival = betaincc(0.5, (d - 1) / 2, x)
    else:
        survival = (1.0 - x) ** (d - 1)
    return -np.diff(survival)


def _bin_index(fidelities: np.ndarray, bins: int) -> np.ndarray:
    return np.minimum((np.clip(fidelities, 0.0, 1.0) * bins).astype(np.int64), bins - 1)


def _kl(counts: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """KL of histograms ``counts`` (..., bins) from bin probabilities ``reference`` (nats)."""
    p = counts / counts.sum(-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(reference)), 0.0)
    return terms.sum(-1)


def kl_divergence(fidelities, d: int, bins: int = 75, real: bool = False, n_boot: int = 1000,
                  ci: float = 0.95, seed: int = 0) -> dict:
    """Sim et al.'s expressibility: KL of the fidelity histogram (``bins`` bins on [0, 1]) from the
    Haar (or, ``real=True``, real-Haar) law in dimension d, with a basic bootstrap CI over the
    pairs (module docstring).  Returns ``{"kl", "kl_lo", "kl_hi"}`` (nats)."""
    f = np.asarray(fidelities, dtype=np.float64)
    if f.ndim != 1 or f.size < 2:
        raise ValueError(f"kl_divergence needs a 1-D sample of at least 2 fidelities, got shape {f.shape}")
    if bins < 2:
        raise ValueError(f"bins must be >= 2, got {bins}")
    reference = haar_bin_probabilities(np.linspace(0.0, 1.0, bins + 1), d, real)
    index = _bin_index(f, bins)
    kl = float(_kl(np.bincount(index, minlength=bins), reference))
    rng = np.random.default_rng(seed)
    boots = []
    step = max(1, 2**22 // f.size)
    for start in range(0, n_boot, step):
        b = min(step, n_boot - start)
        resampled = index[rng.integers(0, f.size, size=(b, f.size))] + bins * np.arange(b)[:, None]
        counts = np.bincount(resampled.ravel(), minlength=b * bins).reshape(b, bins)
        boots.append(_kl(counts, reference))
    low, high = np.quantile(np.concatenate(boots), [(1 - ci) / 2, (1 + ci) / 2])
    # basic (reverse percentile) interval: resampling adds the histogram's upward bias once more,
    # and reflecting about the estimate takes it off again; KL >= 0
    return {"kl": kl, "kl_lo": max(0.0, 2 * kl - float(high)), "kl_hi": max(0.0, 2 * kl - float(low))}


def frame_potential(fidelities, t: int, n_boot: int = 2000, ci: float = 0.95, seed: int = 0) -> dict:
    """F^(t) = E[F^t] over the pairs with its bootstrap CI: ``{"value", "lo", "hi"}``."""
    from qnnscope.stats import bootstrap_mean

    if int(t) != t or t < 1:
        raise ValueError(f"moments: t must be an integer >= 1, got {t!r}")
    summary = bootstrap_mean(np.asarray(fidelities, dtype=np.float64) ** int(t), seed=seed, n_boot=n_boot, ci=ci)
    return {"value": summary["mean"], "lo": summary["mean_lo"], "hi": summary["mean_hi"]}


def purities(psi: np.ndarray, n_qubits: int) -> np.ndarray:
    """Tr ρ_k² of every qubit's reduced state, (S, n), for states ``psi`` (S, 2^n), wire 0 most
    significant."""
    psi = np.asarray(psi)
    out = np.empty((psi.shape[0], n_qubits))
    for k in range(n_qubits):
        v = psi.reshape(psi.shape[0], 2**k, 2, -1)
        rho = np.einsum("sjar,sjbr->sab", v, v.conj())
        out[:, k] = np.sum(np.abs(rho) ** 2, axis=(1, 2))
    return out


def meyer_wallach(psi: np.ndarray, n_qubits: int) -> np.ndarray:
    """Q = 2(1 − (1/n) Σ_k Tr ρ_k²) of every state (S,): 0 for product states, 1 for GHZ."""
    return 2.0 * (1.0 - purities(psi, n_qubits).mean(axis=1))


def states(circuit: Circuit, theta, choices=None, device: str = "cpu") -> np.ndarray:
    """Final states (S, 2^n) in complex128, evolved in blocks of at most ``_BLOCK`` amplitudes."""
    from qnnscope.sim import engine

    theta = np.asarray(theta, dtype=np.float64)
    size = max(1, _BLOCK // 2**circuit.n_qubits)
    out = [engine.states(circuit, theta[s:s + size], None if choices is None else choices[s:s + size],
                         device=device, dtype="complex128").cpu().numpy() for s in range(0, theta.shape[0], size)]
    return np.concatenate(out) if out else np.empty((0, 2**circuit.n_qubits), dtype=np.complex128)


def fidelities(circuit: Circuit, theta, choices=None, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Fidelities |⟨ψ_a|ψ_b⟩|² of the pairs (draws 2i, 2i + 1) of ``theta`` (2N, P), and the 2N
    states."""
    psi = states(circuit, theta, choices, device)
    if psi.shape[0] % 2:
        raise ValueError(f"fidelities need an even number of draws (pairs), got {psi.shape[0]}")
    return np.abs(np.sum(psi[0::2].conj() * psi[1::2], axis=1)) ** 2, psi


def _gate_slots(circuit: Circuit, slots) -> list[tuple[int, int, float]]:
    """(position in ``slots``, rotation position, scale a) of every engine gate driven by each slot."""
    from qnnscope.sim import engine

    c = engine.compile_circuit(circuit, "cpu", "complex128")
    out = []
    for j, p in enumerate(slots):
        if not 0 <= p < circuit.n_params:
            raise ValueError(f"slot {p} outside 0..{circuit.n_params - 1}")
        out += [(j, c.plan.rot_pos[g], float(c.rot_scale[c.plan.rot_pos[g]])) for g in c.plan.circuit.param_gates(p)]
    return out


def tangents(circuit: Circuit, theta, choices=None, slots=None, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """States ψ (S, d) and exact derivatives ∂ψ/∂θ_j (S, len(slots), d) in complex128 (``slots``
    default: every trainable slot), from π-shifted copies of every gate (module docstring)."""
    import torch

    from qnnscope.sim import engine

    slots = list(range(circuit.n_params)) if slots is None else list(slots)
    gates = _gate_slots(circuit, slots)
    c = engine.compile_circuit(circuit, device, "complex128")
    theta_t, choices_t = engine.as_tensors(c, np.asarray(theta, dtype=np.float64), choices)
    S, d, copies = theta_t.shape[0], 2**circuit.n_qubits, 1 + len(gates)
    psi = np.empty((S, d), dtype=np.complex128)
    dpsi = np.zeros((S, len(slots), d), dtype=np.complex128)
    size = max(1, _BLOCK // (d * copies))
    for s in range(0, S, size):
        th, ch = theta_t[s:s + size], choices_t[s:s + size]
        b = th.shape[0]
        offsets = torch.zeros(copies, b, len(c.plan.rotations), dtype=th.dtype, device=c.device)
        for k, (_, r, _) in enumerate(gates):
            offsets[1 + k, :, r] = math.pi
        mats = engine.step_matrices(c, th.repeat(copies, 1), ch.repeat(copies, 1), offsets.reshape(copies * b, -1))
        out = engine.final_states(c, mats).reshape(copies, b, d).cpu().numpy()
        psi[s:s + b] = out[0]
        for k, (j, _, scale) in enumerate(gates):
            dpsi[s:s + b, j] += 0.5 * scale * out[1 + k]
    return psi, dpsi


def qfim(psi: np.ndarray, dpsi: np.ndarray) -> np.ndarray:
    """QFIM (S, P, P) of pure states ψ (S, d) with derivatives (S, P, d):
    4 Re[⟨∂_iψ|∂_jψ⟩ − ⟨∂_iψ|ψ⟩⟨ψ|∂_jψ⟩]."""
    overlap = np.einsum("spd,sd->sp", dpsi.conj(), psi)  # ⟨∂_iψ|ψ⟩
    gram = np.einsum("sid,sjd->sij", dpsi.conj(), dpsi)
    return 4.0 * (gram - overlap[:, :, None] * overlap.conj()[:, None, :]).real


def qfim_ranks(psi: np.ndarray, dpsi: np.ndarray, rtol: float = RANK_RTOL) -> np.ndarray:
    """Rank of the QFIM at every point (S,): the rank of the real matrix [Re H, Im H] of the
    horizontal tangents H_i = ∂_iψ − ⟨ψ|∂_iψ⟩ψ (QFIM = 4 H̄ Hᵀ's real part), singular values above
    ``rtol`` times the largest."""
    if not 0 < rtol < 1:
        raise ValueError(f"rank_rtol must lie in (0, 1), got {rtol}")
    h = dpsi - np.einsum("sd,spd->sp", psi.conj(), dpsi)[:, :, None] * psi[:, None, :]
    real = np.concatenate([h.real, h.imag], axis=2)
    sv = np.linalg.svd(real, compute_uv=False)
    top = sv[:, :1]
    return np.sum(sv > rtol * np.where(top > 0, top, np.inf), axis=1)


def predicted_qfim_rank(circuit: Circuit) -> int | None:
    """The orbit dimension dim g − dim stabiliser of :func:`qnnscope.lie.predicted_qfim_rank`
    where that module offers it, else None."""
    try:
        from qnnscope.lie import predicted_qfim_rank as predict
    except (ImportError, AttributeError):
        return None
    return predict(circuit)


def classical_fisher(psi: np.ndarray, dpsi: np.ndarray) -> np.ndarray:
    """Fisher matrices (S, P, P) of the distributions p_k = |ψ_k|² over basis states:
    Σ_k ∂_i p_k ∂_j p_k / p_k, ∂p_k = 2 Re(ψ̄_k ∂ψ_k) (outcomes with p_k ≤ PROBABILITY_FLOOR left out)."""
    p = np.abs(psi) ** 2
    dp = 2.0 * (psi.conj()[:, None, :] * dpsi).real
    weight = np.divide(1.0, p, out=np.zeros_like(p), where=p > PROBABILITY_FLOOR)
    return np.einsum("sik,sjk,sk->sij", dp, dp, weight)


def effective_dimension_of(fishers: np.ndarray, dataset_size, gamma: float = 1.0, n_boot: int = 1000,
                           ci: float = 0.95, seed: int = 0) -> dict:
    """Abbas et al.'s effective dimension from Fisher matrices (W, P, P) at W parameter samples
    (each averaged over the inputs): F̂ = P · F / E_θ[tr F], and
    d = 2 ln(E_θ √det(I + κ F̂)) / ln κ, κ = γ n / (2π ln n), n = ``dataset_size`` (scalar or
    array).  The CI is a percentile bootstrap over the parameter samples (F̂'s normalisation
    recomputed in each).  Returns ``{"value", "lo", "hi", "normalised"}`` (normalised = d / P)."""
    from scipy.special import logsumexp

    f = np.asarray(fishers, dtype=np.float64)
    if f.ndim != 3 or f.shape[1] != f.shape[2] or f.shape[0] < 1:
        raise ValueError(f"fishers need shape (W, P, P), got {f.shape}")
    n = np.atleast_1d(np.asarray(dataset_size, dtype=np.float64))
    if np.any(n <= 2 * math.pi * np.log(np.maximum(n, 2))) or not gamma > 0:
        raise ValueError(f"dataset_size needs γn > 2π ln n (n >= 50 for γ = 1), got dataset_size={dataset_size}, "
                         f"gamma={gamma}")
    W, P = f.shape[:2]
    eig = np.clip(np.linalg.eigvalsh((f + f.transpose(0, 2, 1)) / 2), 0.0, None)  # (W, P), PSD up to rounding
    kappa = gamma * n / (2 * math.pi * np.log(n))  # (m,)

    def value(lam: np.ndarray) -> np.ndarray:
        """lam (..., W, P) → (..., m)."""
        trace = lam.sum(-1).mean(-1)[..., None, None, None]  # (..., 1, 1, 1)
        half_logdet = 0.5 * np.log1p(kappa[:, None, None] * P * lam[..., None, :, :] / trace).sum(-1)  # (..., m, W)
        return 2 * (logsumexp(half_logdet, axis=-1) - math.log(W)) / np.log(kappa)

    est = value(eig)
    rng = np.random.default_rng(seed)
    boots = value(eig[rng.integers(0, W, size=(n_boot, W))])
    low, high = np.quantile(boots, [(1 - ci) / 2, (1 + ci) / 2], axis=0)
    shape = np.shape(dataset_size)
    as_out = (lambda a: float(a[0])) if shape == () else (lambda a: a.reshape(shape))
    return {"value": as_out(est), "lo": as_out(low), "hi": as_out(high), "normalised": as_out(est / P)}


def effective_dimension(circuit: Circuit, weights, dataset_size, inputs=None, input_slots=(), choices=None,
                        gamma: float = 1.0, n_boot: int = 1000, ci: float = 0.95, seed: int = 0) -> dict:
    """Abbas et al.'s effective dimension of the model p(k | θ, x) = |⟨k|ψ⟩|² over basis states k.

    ``weights`` (W, P_w) fill the trainable slots, those not in ``input_slots``, in slot order;
    ``inputs`` (X, len(input_slots)) fill ``input_slots`` (a circuit without inputs: none).  The
    Fisher matrix of each weight sample is averaged over the inputs, then
    :func:`effective_dimension_of`; also returns ``fishers`` (W, P_w, P_w)."""
    input_slots = [int(s) for s in input_slots]
    trainable = [p for p in range(circuit.n_params) if p not in set(input_slots)]
    weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    x = np.zeros((1, 0)) if inputs is None else np.atleast_2d(np.asarray(inputs, dtype=np.float64))
    if weights.shape[1] != len(trainable) or x.shape[1] != len(input_slots):
        raise ValueError(f"weights need {len(trainable)} columns and inputs {len(input_slots)} (one per input slot), "
                         f"got {weights.shape} and {x.shape}")
    W, X = weights.shape[0], x.shape[0]
    theta = np.zeros((W * X, circuit.n_params))
    theta[:, trainable] = np.repeat(weights, X, axis=0)
    theta[:, input_slots] = np.tile(x, (W, 1))
    reps = None if choices is None else np.repeat(np.asarray(choices), X, axis=0)
    psi, dpsi = tangents(circuit, theta, reps, trainable)
    fishers = classical_fisher(psi, dpsi).reshape(W, X, len(trainable), len(trainable)).mean(axis=1)
    return {**effective_dimension_of(fishers, dataset_size, gamma, n_boot, ci, seed), "fishers": fishers}


@dataclass(frozen=True)
class DiagnosticsPoint:
    """One point of a diagnostics sweep: a circuit (built-in ``ansatz`` or user ``circuit``) at
    ``n_qubits`` and ``depth`` under angle law ``init`` (``sigma`` for the normal laws), and
    what to compute (see ``config/README.md`` for each field)."""

    ansatz: str
    n_qubits: int
    depth: int
    init: str = "uniform"
    sigma: float | None = None
    circuit: str = ""
    source: str = ""
    metrics: tuple[str, ...] = METRICS
    pairs: int = 1000
    bins: int = 75
    moments: tuple[int, ...] = (1, 2)
    fisher_points: int = 20
    dataset_size: int = 100_000
    rank_rtol: float = RANK_RTOL

    def seed_key(self) -> dict:
        """What the draws depend on: the circuit, its size, the angle law (not the metrics)."""
        return {"ansatz": self.ansatz, "circuit": self.circuit, "source": self.source, "n_qubits": int(self.n_qubits),
                "depth": int(self.depth), "init": self.init,
                "sigma": None if self.sigma is None else float(self.sigma)}


def build_circuit(point: DiagnosticsPoint, key: str = "") -> Circuit:
    """The point's circuit: a built-in ansatz, or the user circuit ``circuit`` (errors prefixed
    with the config key)."""
    from qnnscope.circuits.ansatze import ANSATZE, build

    if point.circuit:
        from qnnscope.circuits.importers import load

        return load(point.circuit, int(point.n_qubits), int(point.depth), key=f"{key}circuit")
    if point.ansatz not in ANSATZE:
        raise ValueError(f"{key}ansatz: unknown ansatz {point.ansatz!r}; allowed: {', '.join(sorted(ANSATZE))} "
                         "(or a user circuit under 'circuit')")
    try:
        return build(point.ansatz, int(point.n_qubits), int(point.depth))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{key}qubits/depths: {point.ansatz} at n = {point.n_qubits}, depth {point.depth}: {exc}") from None


def check_point(point: DiagnosticsPoint, key: str = "") -> Circuit:
    """Refuse a point the package cannot run, naming the config key (``key`` is its prefix), the
    value and what is allowed; returns its circuit."""
    unknown = [m for m in point.metrics if m not in METRICS]
    if unknown or not point.metrics:
        raise ValueError(f"{key}metrics: {unknown or list(point.metrics)!r} not allowed; allowed: {', '.join(METRICS)}")
    if point.init not in INITS:
        raise ValueError(f"{key}init: unknown init {point.init!r}; allowed: {', '.join(INITS)}")
    if point.init in sampling.SIGMA_INITS and (point.sigma is None or not point.sigma > 0 or not math.isfinite(point.sigma)):
        raise ValueError(f"{key}sigma: init {point.init!r} needs sigma > 0, got {point.sigma!r}; allowed: finite numbers > 0")
    if point.init not in sampling.SIGMA_INITS and point.sigma is not None:
        raise ValueError(f"{key}sigma: applies only to init 'normal' or 'normal_depth', got sigma={point.sigma} "
                         f"with init {point.init!r}")
    if not 1 <= int(point.n_qubits) <= MAX_QUBITS:
        raise ValueError(f"{key}qubits: {point.n_qubits} not allowed; allowed: 1 to {MAX_QUBITS}")
    for name, low in (("pairs", 2), ("bins", 2), ("fisher_points", 1)):
        if int(getattr(point, name)) < low:
            raise ValueError(f"{key}{name}: {getattr(point, name)} not allowed; allowed: integers >= {low}")
    if any(int(t) != t or t < 1 for t in point.moments) or not point.moments:
        raise ValueError(f"{key}moments: {list(point.moments)} not allowed; allowed: integers t >= 1")
    if not 0 < point.rank_rtol < 1:
        raise ValueError(f"{key}rank_rtol: {point.rank_rtol} not allowed; allowed: numbers in (0, 1)")
    if point.dataset_size <= 2 * math.pi * math.log(max(point.dataset_size, 2)):
        raise ValueError(f"{key}dataset_size: {point.dataset_size} not allowed; allowed: n with n > 2π ln n (n >= 50)")
    circuit = build_circuit(point, key)
    d = 2**circuit.n_qubits
    if 2 * point.pairs * d > MAX_AMPLITUDES:
        raise ValueError(f"{key}pairs: {point.pairs} pairs at n = {circuit.n_qubits} evolve {2 * point.pairs * d} "
                         f"amplitudes; allowed: at most {MAX_AMPLITUDES} (lower pairs or qubits)")
    if {"qfim", "effective_dimension"} & set(point.metrics):
        if circuit.n_params < 1:
            raise ValueError(f"{key}metrics: qfim and effective_dimension need trainable slots; "
                             f"{circuit.name!r} has none")
        work = point.fisher_points * (1 + len(_gate_slots(circuit, range(circuit.n_params)))) * d
        if work > MAX_AMPLITUDES:
            raise ValueError(f"{key}fisher_points: {point.fisher_points} points at n = {circuit.n_qubits} with "
                             f"{circuit.n_params} slots evolve {work} amplitudes; allowed: at most {MAX_AMPLITUDES}")
    sampling.layers_of(circuit, point.init, int(point.depth))
    return circuit


def _seed(point: DiagnosticsPoint, base_seed: int, stream: str) -> int:
    return sampling.stable_seed("qnnscope.diagnostics", int(base_seed), point.seed_key(), stream)


def _draw(circuit: Circuit, point: DiagnosticsPoint, n: int, seed: int):
    return sampling.draw(circuit, n, seed, point.init, sampling.sigma_for(point.init, point.sigma), int(point.depth))


def evaluate(point: DiagnosticsPoint, base_seed: int = 1, n_boot: int = 2000, ci: float = 0.95,
             device: str = "cpu") -> dict:
    """Every metric of ``point`` as one table row (a dict; columns in docs/schemas.md)."""
    import time

    start = time.perf_counter()
    circuit = check_point(point)
    n, d = circuit.n_qubits, 2**circuit.n_qubits
    row: dict = {"n_params": circuit.n_params, "dim": d, "pairs": int(point.pairs), "bins": int(point.bins),
                 "fisher_points": int(point.fisher_points), "dataset_size": int(point.dataset_size),
                 "rank_rtol": float(point.rank_rtol), "qfim_rank_predicted": float("nan")}
    wanted = set(point.metrics)
    if wanted & {"expressibility", "frame_potential", "meyer_wallach"}:
        seed = row["seed_pairs"] = _seed(point, base_seed, "pairs")
        theta, choices = _draw(circuit, point, 2 * point.pairs, seed)
        fid, psi = fidelities(circuit, theta, choices, device)
        row["fidelity_mean"] = float(fid.mean())
        if "expressibility" in wanted:
            for name, real in (("kl_haar", False), ("kl_real_haar", True)):
                kl = kl_divergence(fid, d, point.bins, real, n_boot=min(n_boot, 1000), ci=ci, seed=seed)
                row.update({name: kl["kl"], f"{name}_lo": kl["kl_lo"], f"{name}_hi": kl["kl_hi"]})
        if "frame_potential" in wanted:
            for t in point.moments:
                fp = frame_potential(fid, int(t), n_boot=n_boot, ci=ci, seed=seed + int(t))
                row.update({f"frame_potential_t{t}": fp["value"], f"frame_potential_t{t}_lo": fp["lo"],
                            f"frame_potential_t{t}_hi": fp["hi"], f"haar_frame_potential_t{t}": haar_frame_potential(t, d),
                            f"real_haar_frame_potential_t{t}": real_haar_frame_potential(t, d)})
        if "meyer_wallach" in wanted:
            from qnnscope.stats import bootstrap_mean

            q = bootstrap_mean(meyer_wallach(psi, n), seed=seed, n_boot=n_boot, ci=ci)
            row.update({"meyer_wallach": q["mean"], "meyer_wallach_lo": q["mean_lo"], "meyer_wallach_hi": q["mean_hi"],
                        "haar_meyer_wallach": haar_meyer_wallach(d)})
    if wanted & {"qfim", "effective_dimension"}:
        seed = row["seed_fisher"] = _seed(point, base_seed, "fisher")
        theta, choices = _draw(circuit, point, point.fisher_points, seed)
        psi, dpsi = tangents(circuit, theta, choices, device=device)
        if "qfim" in wanted:
            ranks = qfim_ranks(psi, dpsi, point.rank_rtol)
            predicted = predicted_qfim_rank(circuit)
            row.update({"qfim_rank": int(ranks.max()), "qfim_rank_min": int(ranks.min()),
                        "qfim_rank_predicted": float("nan") if predicted is None else float(predicted)})
        if "effective_dimension" in wanted:
            ed = effective_dimension_of(classical_fisher(psi, dpsi), point.dataset_size, n_boot=min(n_boot, 1000),
                                        ci=ci, seed=seed)
            row.update({"effective_dimension": ed["value"], "effective_dimension_lo": ed["lo"],
                        "effective_dimension_hi": ed["hi"], "effective_dimension_normalised": ed["normalised"]})
    row["wall_time_s"] = time.perf_counter() - start
    return row


def point_frame(point: DiagnosticsPoint, row: dict, sweep: str, depth_rule: str, base_seed: int,
                device: str = "cpu") -> pd.DataFrame:
    """A point's table row: its identity (sweep, circuit, size, init), the metrics of
    :func:`evaluate` and provenance (columns in docs/schemas.md)."""
    import pandas as pd

    from qnnscope.io import provenance

    identity = {"sweep": sweep, "ansatz": point.ansatz, "circuit": point.circuit, "source": point.source,
                "n_qubits": int(point.n_qubits), "depth": int(point.depth), "depth_rule": str(depth_rule),
                "init": point.init, "sigma": float("nan") if point.sigma is None else float(point.sigma),
                "metrics": ",".join(point.metrics), "moments": ",".join(str(t) for t in point.moments)}
    metrics = {k: v for k, v in row.items() if k != "wall_time_s"}
    return pd.DataFrame([{**identity, **metrics,
                          **provenance("torch", "complex128", device, int(base_seed), row["wall_time_s"])}])


def point_metadata(point: DiagnosticsPoint, sweep: str, base_seed: int, n_boot: int, ci: float) -> dict:
    """What a point file's Parquet metadata records: a file whose metadata equals this is this
    point's finished row (files are written atomically)."""
    import json

    meta = {"sweep": sweep, "point": point.__dict__, "seed": int(base_seed), "bootstrap": int(n_boot), "ci": float(ci)}
    return json.loads(json.dumps(meta, sort_keys=True, default=list))


def point_is_current(path, point: DiagnosticsPoint, sweep: str, base_seed: int, n_boot: int, ci: float) -> bool:
    """Whether ``path`` holds exactly this point's finished row (then it is not computed again)."""
    from qnnscope.io import read_metadata

    return read_metadata(path) == point_metadata(point, sweep, base_seed, n_boot, ci)


def write_point(path, point: DiagnosticsPoint, sweep: str, depth_rule: str, base_seed: int, n_boot: int = 2000,
                ci: float = 0.95, device: str = "cpu") -> dict:
    """Evaluate ``point`` and write its row to ``path`` atomically, with :func:`point_metadata`."""
    from qnnscope.io import write_parquet

    row = evaluate(point, base_seed, n_boot, ci, device)
    frame = point_frame(point, row, sweep, depth_rule, base_seed, device)
    frame["ci"] = float(ci)
    write_parquet(frame, path, metadata=point_metadata(point, sweep, base_seed, n_boot, ci))
    return row
