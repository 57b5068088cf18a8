"""Parameter distributions and seeding.

Seeds come from a stable hash of a sweep point's parameters and chunk index, so a sample
never depends on job order, machine or Python version.  :func:`draw` turns a seed into the
random part of a sample: the angles ``theta`` and the Pauli ``choices`` of ``RP`` rotations.

Random streams: ``numpy.random.default_rng(seed).spawn(2)`` gives two independent child
generators; child 0 draws ``theta`` and child 1 draws ``choices``.  So the angles do not
depend on how many choice slots a circuit has, and the Pauli draw does not depend on ``init``.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import numpy as np

from qnnscope.circuits.description import PAULI_AXES, Circuit

INITS = ("uniform", "uniform_sym", "uniform_half", "normal", "normal_depth", "identity_block")
"""Angle distributions: U[0, 2π) (default), U[−π, π), U[0, π), N(0, σ²), N(0, σ²/L) with L the
circuit's depth (Zhang et al. 2022, "Escaping from the barren plateau via Gaussian
initializations in deep variational quantum circuits", NeurIPS), and Grant et al. 2019's identity
blocks (U[0, 2π) with each mirrored slot set to −θ of its original)."""
SIGMA_INITS = ("normal", "normal_depth")
"""The inits that take ``sigma``."""

_UNIFORM_RANGES = {
    "uniform": (0.0, 2 * math.pi),
    "uniform_sym": (-math.pi, math.pi),
    "uniform_half": (0.0, math.pi),
    "identity_block": (0.0, 2 * math.pi),
}


def _to_json(obj: Any) -> Any:
    """JSON fallback for numpy scalars and arrays; anything else is refused, not guessed."""
    if isinstance(obj, (np.generic, np.ndarray)):
        return obj.tolist()
    raise TypeError(f"cannot derive a seed from {type(obj).__name__} value {obj!r}")


def stable_seed(*parts: Any) -> int:
    """A 63-bit seed from blake2b over canonical JSON of ``parts`` (sorted keys, floats by repr).

    Types count: ``4`` and ``4.0`` and ``"4"`` give different seeds, so callers must pass
    sweep parameters with the types the config schema gives them.
    """
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=_to_json)
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def point_seed(point: dict, chunk: int, base_seed: int) -> int:
    """The seed of chunk ``chunk`` of sweep point ``point`` in a study seeded by ``base_seed``."""
    if chunk < 0:
        raise ValueError(f"chunk must be >= 0, got {chunk}")
    return stable_seed("qnnscope.point", base_seed, point, chunk)


def sigma_for(init: str, sigma: float | None) -> float | None:
    """``sigma`` where ``init`` takes one (:data:`SIGMA_INITS`), else None: what callers pass to
    :func:`draw` from a point that carries a sigma whatever its init."""
    return sigma if init in SIGMA_INITS else None


def circuit_depth(circuit: Circuit) -> int | None:
    """The number of layers of ``circuit`` (slots of layer −1, a preamble, do not count), or None
    where it records none (user circuits: every slot has layer −1)."""
    layers = {layer for layer in circuit.param_layer if layer >= 0}
    return max(layers) + 1 if layers else None


def _check_options(circuit: Circuit, n_samples: int, init: str, sigma: float | None) -> None:
    """Refuse bad options with a message naming the option, its value and what is allowed."""
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; allowed: {', '.join(INITS)}")
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    if init in SIGMA_INITS and (sigma is None or not sigma > 0 or not math.isfinite(sigma)):
        raise ValueError(f"init={init!r} needs sigma > 0, got sigma={sigma!r}; allowed: finite numbers > 0")
    if init not in SIGMA_INITS and sigma is not None:
        raise ValueError(f"sigma applies only to init='normal' or init='normal_depth', got sigma={sigma!r} "
                         f"with init={init!r}")
    if init == "identity_block" and not circuit.ties:
        raise ValueError(
            f"init='identity_block' needs a circuit with tied slots, but {circuit.name!r} has "
            "none; build the ansatz with identity_block > 0"
        )


def layers_of(circuit: Circuit, init: str, depth: int | None) -> int | None:
    """L of ``init='normal_depth'``: ``depth`` when given, else the circuit's layer count; a
    ValueError naming ``depth`` when neither is known or it is below 1 (None for other inits)."""
    if init != "normal_depth":
        return None
    layers = circuit_depth(circuit) if depth is None else depth
    if layers is None:
        raise ValueError(f"init='normal_depth' needs the circuit's depth L (variance sigma²/L), but {circuit.name!r} "
                         "records no layers (a user circuit); pass depth")
    if int(layers) != layers or layers < 1:
        raise ValueError(f"init='normal_depth' needs an integer depth >= 1, got depth={layers!r}")
    return int(layers)


def angles(rng: np.random.Generator, shape: tuple[int, ...], init: str, sigma: float | None = None,
           layers: int | None = None) -> np.ndarray:
    """Independent angles of distribution ``init`` (for ``identity_block``: uniform on [0, 2π),
    before the mirrored slots are tied; for ``normal_depth``: N(0, sigma²/layers))."""
    if init == "normal":
        return rng.normal(0.0, sigma, size=shape)
    if init == "normal_depth":
        return rng.normal(0.0, sigma / math.sqrt(layers), size=shape)
    low, high = _UNIFORM_RANGES[init]
    return rng.uniform(low, high, size=shape)


def _draw_theta(
    rng: np.random.Generator, circuit: Circuit, n_samples: int, init: str, sigma: float | None,
    layers: int | None = None,
) -> np.ndarray:
    """Angles ``(n_samples, n_params)`` from distribution ``init``."""
    theta = angles(rng, (n_samples, circuit.n_params), init, sigma, layers)
    if init == "identity_block":
        dst, src = np.asarray(circuit.ties).T
        theta[:, dst] = -theta[:, src]
    return theta


def draw(
    circuit: Circuit,
    n_samples: int,
    seed: int,
    init: str = "uniform",
    sigma: float | None = None,
    depth: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n_samples`` random samples of ``circuit``: float64 angles ``(S, n_params)`` and
    int64 Pauli choices ``(S, n_choices)`` uniform on {0, 1, 2} = (X, Y, Z).

    ``depth`` is L of ``init='normal_depth'`` (variance sigma²/L); by default the circuit's layer
    count (:func:`circuit_depth`), which user circuits do not record.  Other inits ignore it."""
    _check_options(circuit, n_samples, init, sigma)
    layers = layers_of(circuit, init, depth)
    theta_rng, choice_rng = np.random.default_rng(seed).spawn(2)
    theta = _draw_theta(theta_rng, circuit, n_samples, init, sigma, layers)
    choices = choice_rng.integers(0, len(PAULI_AXES), size=(n_samples, circuit.n_choices), dtype=np.int64)
    return theta, choices
