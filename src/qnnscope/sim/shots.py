"""Shot sampling on the engine: measurement settings, ±π/2-shifted copies, and bitstrings drawn
from the engine's exact outcome probabilities (see :mod:`qnnscope.backends.shots` for the
estimators, which also sample on qiskit-aer and under a device's noise model).

Measurement: the Z-diagonal part of the observable (Z strings, the |0…0⟩ projector of the global
cost, the constant) is read from one computational-basis setting; X/Y terms are grouped greedily
into qubit-wise commuting settings, each measured after basis changes (H for X, S† then H for
Y) with its own ``shots``.  Probabilities of every draw × shifted copy come from the engine's
final states (|ψ|²) or the diagonal of its density matrices under noise channels, and are
sampled in one seeded ``numpy`` multinomial call per chunk (no loop over draws or shots).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import torch

from qnnscope.circuits.description import Circuit, Op
from qnnscope.circuits.lowering import to_primitives
from qnnscope.costs import Observable
from qnnscope.sim.engine import (
    as_tensors,
    chunk_size,
    compile_circuit,
    final_states,
    resolve_dtype,
    step_matrices,
)
from qnnscope.sim.noise import NOISELESS, density_matrices
from qnnscope.sim.noise import chunk_size as noise_chunk_size
from qnnscope.sim.observables import observable_groups

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
    """``circuit`` in primitive gates followed by the setting's basis changes (same slots,
    choices and ties; op indices are those of :func:`shifted_copies`)."""
    circuit = to_primitives(circuit)
    if not setting.ops:
        return circuit
    return replace(circuit, ops=circuit.ops + setting.ops, name=f"{circuit.name}+basis")


def shifted_copies(circuit: Circuit, params) -> tuple[list[tuple[int, int, float]], int]:
    """(position in ``params``, op index in the primitive circuit, scale a of the gate's angle
    a·θ + b) of every gate of every requested slot (a slot may drive several gates; the shift
    rule sums over them, as ``engine.param_shift``), and the number of circuits per draw: the
    unshifted one and a ±π/2 pair per gate."""
    for p in params:
        if not 0 <= p < circuit.n_params:
            raise ValueError(f"parameter index {p} outside 0..{circuit.n_params - 1}")
    prim = to_primitives(circuit)
    gates = [(j, g, prim.ops[g].scale) for j, p in enumerate(params) for g in prim.param_gates(p)]
    return gates, 1 + 2 * len(gates)


def combine_shifts(values: np.ndarray, gates, n_params: int, variance: bool = False):
    """(copies·S,) values, copies-major → costs (S,) and shift-rule gradients (S, n_params);
    with ``variance``, the same for variances of independent estimates ((σ²₊ + σ²₋)/4)."""
    values = values.reshape(1 + 2 * len(gates), -1)
    grads = np.zeros((values.shape[1], n_params))
    sign = 1 if variance else -1
    for k, (j, _, a) in enumerate(gates):  # chain rule through a·θ + b
        grads[:, j] += (a * a if variance else a) * (values[1 + 2 * k] + sign * values[2 + 2 * k]) / (4 if variance else 2)
    return values[0], grads


def probabilities(circuit, settings, theta, choices, params, device, dtype, noise=NOISELESS) -> Iterator[tuple[int, slice | np.ndarray, np.ndarray]]:
    """(setting index, rows, outcome probabilities (b, 2^n) float64) for every draw × shifted
    copy (rows copies-major, as in ``engine.param_shift``), chunked within the engine's memory:
    |ψ|² of the engine's states, or the diagonal of its density matrices under ``noise``'s
    channels."""
    for i, setting in enumerate(settings):
        measured = setting_circuit(circuit, setting)
        c = compile_circuit(measured, device, dtype)
        th, ch = as_tensors(c, theta, choices)
        S = th.shape[0]
        gates, copies = shifted_copies(circuit, params)
        offsets = torch.zeros(copies, S, len(c.plan.rotations), dtype=th.dtype, device=c.device)
        for k, (_, g, _) in enumerate(gates):
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


def sampled_estimates(probabilities, settings, n_rows: int, shots: int, seed: int) -> np.ndarray:
    """Sampled ⟨O⟩ of every draw × shifted copy: one seeded multinomial per chunk of outcome
    probabilities (from :func:`probabilities`)."""
    rng = np.random.default_rng(seed)
    est = np.zeros(n_rows)
    for i, rows, p in probabilities:
        est[rows] += rng.multinomial(shots, p) @ settings[i].values / shots
    return est


def outcome_variance(p: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Single-shot variance ⟨v²⟩ − ⟨v⟩² of outcome values ``values`` under distributions ``p`` (b, 2^n)."""
    return p @ values**2 - (p @ values) ** 2


def check(circuit: Circuit, observable: Observable, shots: int, dtype: str) -> None:
    """Refuse a mismatched observable, a non-positive shot count or an unknown dtype."""
    if observable.n_qubits != circuit.n_qubits:
        raise ValueError(f"observable on {observable.n_qubits} qubits, circuit on {circuit.n_qubits}")
    if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or shots < 1:
        raise ValueError(f"shots must be a positive integer, got {shots!r}")
    resolve_dtype(dtype)
