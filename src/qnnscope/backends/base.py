"""The interface every backend implements."""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

from qnnscope.circuits.description import Circuit
from qnnscope.costs import Observable

DTYPES = ("complex64", "complex128")
"""Precisions a backend may be asked for."""


class Backend(Protocol):
    """Evaluates ⟨O⟩ and chosen partial derivatives for a batch of parameter draws."""

    name: str
    device: str

    def evaluate(
        self,
        circuit: Circuit,
        observable: Observable,
        theta: np.ndarray,
        choices: np.ndarray,
        params: Sequence[int],
        dtype: str = "complex128",
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Return costs ``(S,)`` and gradients ``(S, len(params))`` (None if no params)."""
        ...


class BatchBackend:
    """Shared front of the built-in backends: validates a call, answers an empty batch, and
    hands checked float64/int64 arrays to ``_evaluate``."""

    name = "backend"
    device = "cpu"

    def evaluate(self, circuit, observable, theta, choices, params, dtype="complex128"):
        """Costs ``(S,)`` and gradients ``(S, len(params))`` (None if no params), float64."""
        theta, choices, params = check_batch(circuit, observable, theta, choices, params, dtype)
        if len(theta) == 0:
            return np.zeros(0), (np.zeros((0, len(params))) if params else None)
        return self._evaluate(circuit, observable, theta, choices, params, dtype)

    def _evaluate(self, circuit, observable, theta, choices, params, dtype):
        raise NotImplementedError


def check_dtype(dtype: str) -> str:
    """Validate a dtype name; the error names the value and the allowed ones."""
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; allowed: {', '.join(DTYPES)}")
    return dtype


def check_batch(
    circuit: Circuit,
    observable: Observable,
    theta: np.ndarray,
    choices: np.ndarray,
    params: Sequence[int],
    dtype: str,
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Validate one ``evaluate`` call's inputs against the circuit; errors name the bad value."""
    check_dtype(dtype)
    if observable.n_qubits != circuit.n_qubits:
        raise ValueError(
            f"observable acts on {observable.n_qubits} qubits but the circuit has {circuit.n_qubits}"
        )
    theta = np.asarray(theta, dtype=np.float64)
    if theta.ndim != 2 or theta.shape[1] != circuit.n_params:
        raise ValueError(f"theta must have shape (S, {circuit.n_params}), got {theta.shape}")
    choices = np.asarray(choices, dtype=np.int64)
    if choices.shape != (len(theta), circuit.n_choices):
        raise ValueError(
            f"choices must have shape (S, {circuit.n_choices}) with S = {len(theta)} rows of theta, "
            f"got {choices.shape}"
        )
    if choices.size and (choices.min() < 0 or choices.max() > 2):
        raise ValueError(f"choices must be 0, 1 or 2 (X, Y, Z), got values {np.unique(choices)}")
    params = [int(p) for p in params]
    bad = [p for p in params if not 0 <= p < circuit.n_params]
    if bad:
        raise ValueError(f"params {bad} are not trainable slots; allowed: 0..{circuit.n_params - 1}")
    return theta, choices, params
