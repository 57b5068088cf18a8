"""Shot-based parameter-shift gradients, and the exact shot noise they carry.

What a device sees is not ⟨O⟩ but the mean of ``shots`` measured bitstrings.  This module
estimates costs and ∂⟨O⟩/∂θ_p from sampled bitstrings, with the two-term rule for
R_P(θ) = exp(−iθP/2): ĝ = (Ô₊ − Ô₋)/2 at θ_p ± π/2, summed over every gate that uses slot p.
Samples come from one of two sources:

* ``engine``: the batched engine's final-state probabilities of every draw × shifted copy,
  sampled in one seeded ``numpy`` multinomial call per chunk (no loop over draws or shots);
* ``aer``: qiskit-aer's ``SamplerV2`` on the same shifted circuits (converted by the qiskit
  backend), seeded with ``seed_simulator``.  Aer's *Estimator* with a finite ``precision`` adds
  Gaussian noise to the exact value instead of sampling shots, so it does not give shot
  statistics and is not used.

Measurement: the Z-diagonal part of the observable (Z strings, the |0…0⟩ projector of the global
cost, the constant) is read from one computational-basis setting; X/Y terms are grouped greedily
into qubit-wise commuting settings, each measured after basis changes (H for X, S† then H for
Y) with its own ``shots``.

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

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np
import torch

from qnnscope.circuits.description import Circuit, Op
from qnnscope.costs import Observable
from qnnscope.sim.engine import (
    as_tensors,
    chunk_size,
    compile_circuit,
    final_states,
    resolve_dtype,
    step_matrices,
)
from qnnscope.sim.noise import NOISELESS, NoiseModel, density_matrices
from qnnscope.sim.noise import chunk_size as noise_chunk_size
from qnnscope.sim.observables import observable_groups

SOURCES = ("engine", "aer")
"""Where sampled bitstrings come from."""
_BASIS_CHANGE = {"X": ("H",), "Y": ("SDG", "H")}
"""Gates (in application order) that map the letter's eigenbasis onto the computational basis."""


@dataclass(frozen=True)
class Setting:
    """One measurement basis: gates appended to the circuit, and the value of the observable's
    terms measured in it for every outcome (index with wire 0 most significant)."""

    ops: tuple[Op, ...]
    values: np.ndarray


def _diagonal(n: int, terms, constant: float = 0.0, projector: float = 0.0) -> np.ndarray:
    """Outcome values of constant + projector·|0…0⟩⟨0…0| + Σ coeff·(Z string on the terms' wires)."""
    as_z = tuple((coeff, tuple((w, "Z") for w, _ in string)) for coeff, string in terms)
    return observable_groups(Observable(n, as_z, constant, projector))[0].real.copy()


def measurement_settings(observable: Observable) -> list[Setting]:
    """The computational-basis setting (Z strings, projector, constant) and one setting per greedy
    group of qubit-wise commuting X/Y terms; the constant rides on the first setting."""
    n = observable.n_qubits
    z_terms = [t for t in observable.terms if all(letter == "Z" for _, letter in t[1])]
    groups: list[tuple[dict[int, str], list]] = []
    for term in observable.terms:
        if term in z_terms:
            continue
        letters = dict(term[1])
        for basis, members in groups:
            if all(basis.get(w, letter) == letter for w, letter in letters.items()):
                basis.update(letters)
                members.append(term)
                break
        else:
            groups.append((letters, [term]))
    settings = []
    if z_terms or observable.projector_coeff or not groups:
        settings.append(Setting((), _diagonal(n, z_terms, 0.0, observable.projector_coeff)))
    for basis, members in groups:
        ops = tuple(Op(g, (w,)) for w in sorted(basis) for g in _BASIS_CHANGE.get(basis[w], ()))
        settings.append(Setting(ops, _diagonal(n, members)))
    settings[0] = replace(settings[0], values=settings[0].values + observable.constant)
    return settings


def setting_circuit(circuit: Circuit, setting: Setting) -> Circuit:
    """``circuit`` followed by the setting's basis changes (same slots, choices and ties)."""
    if not setting.ops:
        return circuit
    return replace(circuit, ops=circuit.ops + setting.ops, name=f"{circuit.name}+basis")


def shifted_copies(circuit: Circuit, params) -> tuple[list[tuple[int, int]], int]:
    """(position in ``params``, op index) of every gate of every requested slot (a slot may drive
    several gates; the shift rule sums over them, as ``engine.param_shift``), and the number of
    circuits per draw: the unshifted one and a ±π/2 pair per gate."""
    for p in params:
        if not 0 <= p < circuit.n_params:
            raise ValueError(f"parameter index {p} outside 0..{circuit.n_params - 1}")
    gates = [(j, g) for j, p in enumerate(params) for g in circuit.param_gates(p)]
    return gates, 1 + 2 * len(gates)


def combine_shifts(values: np.ndarray, gates, n_params: int, variance: bool = False):
    """(copies·S,) values, copies-major → costs (S,) and shift-rule gradients (S, n_params);
    with ``variance``, the same for variances of independent estimates ((σ²₊ + σ²₋)/4)."""
    values = values.reshape(1 + 2 * len(gates), -1)
    grads = np.zeros((values.shape[1], n_params))
    sign = 1 if variance else -1
    for k, (j, _) in enumerate(gates):
        grads[:, j] += (values[1 + 2 * k] + sign * values[2 + 2 * k]) / (4 if variance else 2)
    return values[0], grads


def _probabilities(circuit, settings, theta, choices, params, device, dtype, noise=NOISELESS,
                   seed_transpiler: int = 0) -> Iterator[tuple[int, slice | np.ndarray, np.ndarray]]:
    """(setting index, rows, outcome probabilities (b, 2^n) float64) for every draw × shifted
    copy (rows copies-major, as in ``engine.param_shift``), chunked within the engine's memory:
    |ψ|² of the engine's states, the diagonal of its density matrices under ``noise``'s
    channels, or a fake device's noise model on qiskit-aer (``noise.device``, transpiled with
    ``seed_transpiler``)."""
    if noise.device:
        from qnnscope.backends import device_noise

        yield from device_noise.probabilities(circuit, settings, theta, choices, params, noise.device,
                                              seed_transpiler, dtype)
        return
    for i, setting in enumerate(settings):
        measured = setting_circuit(circuit, setting)
        c = compile_circuit(measured, device, dtype)
        th, ch = as_tensors(c, theta, choices)
        S = th.shape[0]
        gates, copies = shifted_copies(circuit, params)
        offsets = torch.zeros(copies, S, len(c.plan.rotations), dtype=th.dtype, device=c.device)
        for k, (_, g) in enumerate(gates):
            offsets[1 + 2 * k, :, c.plan.rot_pos[g]] = math.pi / 2
            offsets[2 + 2 * k, :, c.plan.rot_pos[g]] = -math.pi / 2
        th, ch, offsets = th.repeat(copies, 1), ch.repeat(copies, 1), offsets.reshape(copies * S, -1)
        size = chunk_size(c, 2) if noise == NOISELESS else noise_chunk_size(c)
        for s in range(0, copies * S, size):
            rows = slice(s, s + size)
            if noise == NOISELESS:
                psi = final_states(c, step_matrices(c, th[rows], ch[rows], offsets[rows]))
                p = torch.view_as_real(psi).square().sum(-1).to(torch.float64).cpu().numpy()
            else:
                rho = density_matrices(measured, th[rows], ch[rows], noise, device, dtype, offsets=offsets[rows])
                p = torch.diagonal(rho, dim1=1, dim2=2).real.to(torch.float64).cpu().numpy()
            p = np.clip(p, 0, None)
            yield i, rows, p / p.sum(1, keepdims=True)


def _sampled_estimates(probabilities, settings, n_rows: int, shots: int, seed: int) -> np.ndarray:
    """Sampled ⟨O⟩ of every draw × shifted copy: one seeded multinomial per chunk of outcome
    probabilities (from :func:`_probabilities`)."""
    rng = np.random.default_rng(seed)
    est = np.zeros(n_rows)
    for i, rows, p in probabilities:
        est[rows] += rng.multinomial(shots, p) @ settings[i].values / shots
    return est


def measured_pubs(circuit: Circuit, settings, theta, choices, params) -> Iterator[tuple[int, object, np.ndarray, Callable]]:
    """Every draw × ±π/2-shifted copy as parameterised qiskit circuits: per setting and distinct
    Pauli-choice row, (setting index, the circuit measured on every wire (classical bit j = wire
    j), its rows (copies-major, as :func:`_probabilities`), ``values(qc)``: the rows' angles as
    columns in ``qc.parameters`` order, for this circuit or a transpiled copy of it)."""
    from qiskit.circuit import (
        ParameterVector,  # qiskit takes seconds to import: only when asked for
    )

    from qnnscope.backends.qiskit_backend import to_qiskit

    theta = np.asarray(theta, dtype=np.float64)
    S = theta.shape[0]
    choices = np.zeros((S, 0), dtype=np.int64) if choices is None else np.asarray(choices).reshape(S, -1)
    gates, copies = shifted_copies(circuit, params)
    trainable = [i for i, op in enumerate(circuit.ops) if op.is_trainable]
    angles = np.tile(theta[:, [circuit.ops[i].param for i in trainable]], (copies, 1, 1))  # (copies, S, gates)
    for k, (_, g) in enumerate(gates):
        angles[1 + 2 * k, :, trainable.index(g)] += math.pi / 2
        angles[2 + 2 * k, :, trainable.index(g)] -= math.pi / 2
    rows_of = np.arange(copies * S).reshape(copies, S)
    if choices.size:
        unique, group = np.unique(choices, axis=0, return_inverse=True)
    else:
        unique, group = choices[:1], np.zeros(S, dtype=np.int64)
    vec = ParameterVector("a", len(circuit.ops))  # vec[j] drives op j
    for i, setting in enumerate(settings):
        measured = setting_circuit(circuit, setting)
        symbols = [vec[j] if op.is_trainable else (op.angle or 0.0) for j, op in enumerate(measured.ops)]
        for u, row in enumerate(unique):
            qc = to_qiskit(measured, symbols, row)
            qc.measure_all()
            mine = np.flatnonzero(group.reshape(-1) == u)

            def values(target, mine=mine):
                order = [trainable.index(p.index) for p in target.parameters]
                return angles[:, mine][..., order].reshape(-1, len(order))

            yield i, qc, rows_of[:, mine].reshape(-1), values


def _aer_estimates(circuit, settings, theta, choices, params, shots, seed, dtype, noise=NOISELESS) -> np.ndarray:
    """Sampled ⟨O⟩ of every draw × shifted copy from qiskit-aer's SamplerV2 (density matrices
    under ``noise``'s channels): one parameterised circuit per setting and distinct choice row,
    bound to all its rows in one PUB."""
    from qiskit_aer.primitives import SamplerV2

    from qnnscope.backends.qiskit_backend import PRECISION
    from qnnscope.sim.noise import aer_noise_model

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


def bit_reversal(n: int) -> np.ndarray:
    """Map qiskit's outcome integer (qubit k = bit k) to ours (wire 0 most significant)."""
    idx = np.arange(2**n)
    return sum(((idx >> k) & 1) << (n - 1 - k) for k in range(n))


def _check(circuit: Circuit, observable: Observable, shots: int, source: str, dtype: str) -> None:
    if observable.n_qubits != circuit.n_qubits:
        raise ValueError(f"observable on {observable.n_qubits} qubits, circuit on {circuit.n_qubits}")
    if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or shots < 1:
        raise ValueError(f"shots must be a positive integer, got {shots!r}")
    if source not in SOURCES:
        raise ValueError(f"unknown shot source {source!r}; allowed: {', '.join(SOURCES)}")
    resolve_dtype(dtype)


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
    _check(circuit, observable, shots, source, dtype)
    if noise.device and source != "aer":
        raise ValueError(f"noise device:{noise.device} runs on qiskit-aer (source 'aer'), got source {source!r}")
    settings = measurement_settings(observable)
    gates, copies = shifted_copies(circuit, params)
    if source == "engine" or noise.device:
        probabilities = _probabilities(circuit, settings, theta, choices, params, device, dtype, noise, seed_transpiler)
        est = _sampled_estimates(probabilities, settings, copies * len(theta), int(shots), seed)
    else:
        est = _aer_estimates(circuit, settings, theta, choices, params, int(shots), seed, dtype, noise)
    return combine_shifts(est, gates, len(params))


def shot_variances(circuit: Circuit, observable: Observable, theta, choices, params: list[int], shots: int,
                   dtype: str = "complex128", device: str = "cpu", noise: NoiseModel = NOISELESS,
                   seed_transpiler: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Exact Var[Ĉ | θ] (S,) and Var[ĝ_p | θ] (S, len(params)) of :func:`shot_gradients`' estimates
    at each draw: Σ_settings σ²/shots, σ² = ⟨O_s²⟩ − ⟨O_s⟩² from the outcome probabilities
    (noiseless, or under ``noise``)."""
    _check(circuit, observable, shots, "engine", dtype)
    settings = measurement_settings(observable)
    gates, copies = shifted_copies(circuit, params)
    var = np.zeros(copies * len(theta))
    for i, rows, p in _probabilities(circuit, settings, theta, choices, params, device, dtype, noise, seed_transpiler):
        var[rows] += outcome_variance(p, settings[i].values)
    cost_var, grad_var = combine_shifts(np.clip(var, 0, None) / shots, gates, len(params), variance=True)
    return cost_var, grad_var


def outcome_variance(p: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Single-shot variance ⟨v²⟩ − ⟨v⟩² of outcome values ``values`` under distributions ``p`` (b, 2^n)."""
    return p @ values**2 - (p @ values) ** 2


def shot_noise_excess(circuit: Circuit, observable: Observable, theta, choices, params: list[int], shots: int,
                      **options) -> np.ndarray:
    """E_θ[Var[ĝ_p | θ]] over the given draws, (len(params),): the amount by which the shot-based
    gradient variance exceeds the exact one (Var[ĝ] = Var_θ[g] + excess); ``options`` as for
    :func:`shot_variances` (dtype, device, noise, seed_transpiler)."""
    return shot_variances(circuit, observable, theta, choices, params, shots, **options)[1].mean(0)
