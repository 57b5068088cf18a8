"""Shot-based parameter-shift gradients, and the exact shot noise they carry.

What a device sees is not ⟨O⟩ but the mean of ``shots`` measured bitstrings.  This module
estimates costs and ∂⟨O⟩/∂θ_p from sampled bitstrings, with the two-term rule for
R_P(θ) = exp(−iθP/2): ĝ = (Ô₊ − Ô₋)/2 at θ_p ± π/2, summed over every gate that uses slot p.
Samples come from one of two sources:

* ``engine``: the batched engine's final-state probabilities of every draw × shifted copy,
  sampled in one seeded ``numpy`` multinomial call per chunk (no loop over draws or shots);
* ``aer``: qiskit-aer's ``SamplerV2`` on the same shifted circuits (converted by the qiskit
  backend), seeded with ``seed_simulator``; a device's calibrated noise model
  (:mod:`qnnscope.backends.device_noise`) gives exact outcome probabilities that are sampled
  like the engine's.  Aer's *Estimator* with a finite ``precision`` adds
  Gaussian noise to the exact value instead of sampling shots, so it does not give shot
  statistics and is not used.

Measurement settings, shifted copies and engine sampling live in :mod:`qnnscope.sim.shots`.

Variance decomposition: given θ the estimator is unbiased with
Var[ĝ | θ] = Σ_occurrences Σ_settings (σ²₊ + σ²₋) / (4·shots), σ² = ⟨O_s²⟩ − ⟨O_s⟩² the
single-shot variance of a setting's observable at the shifted point (1 − ⟨P⟩² for a ±1 Pauli
string, p(1 − p) for a projector), so over random θ

    Var[ĝ] = Var_θ[g] + E_θ[Var[ĝ | θ]],

the exact variance plus a shot-noise excess ∝ 1/shots.  :func:`shot_noise_excess` computes the
excess exactly from the engine's probabilities, so a sweep can report it and the corrected
variance Var[ĝ] − excess.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from qnnscope.circuits.description import Circuit
from qnnscope.costs import Observable
from qnnscope.sim import shots as engine_shots
from qnnscope.sim.noise import NOISELESS, NoiseModel
from qnnscope.sim.shots import (
    check,
    combine_shifts,
    measurement_settings,
    outcome_variance,
    sampled_estimates,
    shifted_copies,
)

SOURCES = ("engine", "aer")
"""Where sampled bitstrings come from."""


def probabilities(circuit, settings, theta, choices, params, device, dtype, noise=NOISELESS,
                  seed_transpiler: int = 0) -> Iterator[tuple[int, slice | np.ndarray, np.ndarray]]:
    """(setting index, rows, outcome probabilities (b, 2^n) float64) for every draw × shifted
    copy: the engine's (:func:`qnnscope.sim.shots.probabilities`), or under a fake device's noise
    model on qiskit-aer (``noise.device``, transpiled with ``seed_transpiler``)."""
    if noise.device:
        from qnnscope.backends import device_noise

        yield from device_noise.probabilities(circuit, settings, theta, choices, params, noise.device,
                                              seed_transpiler, dtype)
        return
    yield from engine_shots.probabilities(circuit, settings, theta, choices, params, device, dtype, noise)


def aer_estimates(circuit, settings, theta, choices, params, shots, seed, dtype, noise=NOISELESS) -> np.ndarray:
    """Sampled ⟨O⟩ of every draw × shifted copy from qiskit-aer's SamplerV2 (density matrices
    under ``noise``'s channels): one parameterised circuit per setting and distinct choice row,
    bound to all its rows in one PUB."""
    from qiskit_aer.primitives import SamplerV2

    from qnnscope.backends.qiskit_backend import PRECISION, aer_noise_model, bit_reversal, measured_pubs

    _, copies = shifted_copies(circuit, params)
    pubs, where = [], []
    for i, qc, rows, values in measured_pubs(circuit, settings, theta, choices, params):
        pubs.append((qc, values(qc)))
        where.append((settings[i], rows))
    options = {"backend_options": {"method": "statevector", "precision": PRECISION[dtype]}}
    if noise != NOISELESS:
        options["backend_options"] |= {"method": "density_matrix", "noise_model": aer_noise_model(noise)}
    sampler = SamplerV2(seed=seed, options=options)
    result = sampler.run(pubs, shots=shots).result()
    reverse = bit_reversal(circuit.n_qubits)
    est = np.zeros(copies * len(theta))
    for (setting, rows), pub in zip(where, result):
        packed = pub.data.meas.array  # (rows, shots, bytes), big-endian bytes, qubit k = bit k
        ints = np.zeros(packed.shape[:2], dtype=np.int64)
        for b in range(packed.shape[2]):
            ints = (ints << 8) | packed[..., b]
        est[rows] += setting.values[reverse[ints]].mean(1)
    return est


def shot_gradients(
    circuit: Circuit,
    observable: Observable,
    theta,
    choices,
    params: list[int],
    shots: int,
    seed: int,
    source: str = "engine",
    dtype: str = "complex128",
    device: str = "cpu",
    noise: NoiseModel = NOISELESS,
    seed_transpiler: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Shot estimates of the cost (S,) and of ∂⟨O⟩/∂θ[p] (S, len(params)): every draw and every
    ±π/2-shifted copy measured ``shots`` times per measurement setting, seeded by ``seed``, from
    the noiseless state or under ``noise`` (the engine's channels on either source; a device's
    calibrated model, ``noise.device``, on qiskit-aer, transpiled with ``seed_transpiler``).
    ``device`` applies to the engine source only."""
    check(circuit, observable, shots, dtype)
    if source not in SOURCES:
        raise ValueError(f"unknown shot source {source!r}; allowed: {', '.join(SOURCES)}")
    if noise.device and source != "aer":
        raise ValueError(f"noise device:{noise.device} runs on qiskit-aer (source 'aer'), got source {source!r}")
    settings = measurement_settings(observable)
    gates, copies = shifted_copies(circuit, params)
    if source == "engine" or noise.device:
        probs = probabilities(circuit, settings, theta, choices, params, device, dtype, noise, seed_transpiler)
        est = sampled_estimates(probs, settings, copies * len(theta), int(shots), seed)
    else:
        est = aer_estimates(circuit, settings, theta, choices, params, int(shots), seed, dtype, noise)
    return combine_shifts(est, gates, len(params))


def shot_variances(circuit: Circuit, observable: Observable, theta, choices, params: list[int], shots: int,
                   dtype: str = "complex128", device: str = "cpu", noise: NoiseModel = NOISELESS,
                   seed_transpiler: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Exact Var[Ĉ | θ] (S,) and Var[ĝ_p | θ] (S, len(params)) of :func:`shot_gradients`' estimates
    at each draw: Σ_settings σ²/shots, σ² = ⟨O_s²⟩ − ⟨O_s⟩² from the outcome probabilities
    (noiseless, or under ``noise``)."""
    check(circuit, observable, shots, dtype)
    settings = measurement_settings(observable)
    gates, copies = shifted_copies(circuit, params)
    var = np.zeros(copies * len(theta))
    for i, rows, p in probabilities(circuit, settings, theta, choices, params, device, dtype, noise, seed_transpiler):
        var[rows] += outcome_variance(p, settings[i].values)
    cost_var, grad_var = combine_shifts(np.clip(var, 0, None) / shots, gates, len(params), variance=True)
    return cost_var, grad_var


def shot_noise_excess(circuit: Circuit, observable: Observable, theta, choices, params: list[int], shots: int,
                      **options) -> np.ndarray:
    """E_θ[Var[ĝ_p | θ]] over the given draws, (len(params),): the amount by which the shot-based
    gradient variance exceeds the exact one (Var[ĝ] = Var_θ[g] + excess); ``options`` as for
    :func:`shot_variances` (dtype, device, noise, seed_transpiler)."""
    return shot_variances(circuit, observable, theta, choices, params, shots, **options)[1].mean(0)
