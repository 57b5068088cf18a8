"""Simulation backends behind one interface.

Every backend has ``name``, ``device`` and ``evaluate(circuit, observable, theta, choices,
params, dtype)`` returning ``(costs, grads)``: ``costs`` a float64 array ``(S,)`` of ⟨O⟩ per
sample and ``grads`` a float64 array ``(S, len(params))`` of ∂⟨O⟩/∂θ[p] (or ``None`` when
``params`` is empty).  ``theta`` is ``(S, n_params)`` float, ``choices`` ``(S, n_choices)`` int.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any, Callable

from qnnscope.backends.base import Backend

_FACTORIES: dict[str, Callable[..., Backend]] = {}
_BUILTIN = {
    "torch": ("qnnscope.backends.torch_backend", "TorchBackend", {}),
    "pennylane": ("qnnscope.backends.pennylane_backend", "PennyLaneBackend", {"device_name": "default.qubit"}),
    "lightning": ("qnnscope.backends.pennylane_backend", "PennyLaneBackend", {"device_name": "lightning.qubit"}),
    "qiskit-aer": ("qnnscope.backends.qiskit_backend", "AerBackend", {}),
}
"""Built-in backends, imported only when asked for (PennyLane and qiskit take seconds to import)."""


def register(name: str, factory: Callable[..., Backend]) -> None:
    """Make a backend available under ``name`` (plugins)."""
    _FACTORIES[name] = factory


def available() -> list[str]:
    """Names accepted by :func:`get_backend`."""
    return sorted(set(_BUILTIN) | set(_FACTORIES))


def get_backend(name: str, **options: Any) -> Backend:
    """Instantiate backend ``name``; an unknown name raises a ValueError listing the allowed ones."""
    if name in _FACTORIES:
        return _FACTORIES[name](**options)
    if name not in _BUILTIN:
        raise ValueError(f"unknown backend {name!r}; allowed: {', '.join(available())}")
    module, cls, fixed = _BUILTIN[name]
    return getattr(import_module(module), cls)(**fixed, **options)


__all__ = ["Backend", "available", "get_backend", "register"]
