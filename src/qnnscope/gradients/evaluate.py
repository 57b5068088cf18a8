"""One gradient sweep point: checked before any work, then one chunk of its samples computed
as a shard frame.

A shard has one row per (sample, parameter): the sweep-point columns, ``chunk``, ``sample``,
``param_index`` / ``param_layer`` / ``param_wire`` / ``param_name`` (which parameter the gradient
belongs to; the name is the user circuit's, ``theta[k]`` for slot k of a built-in),
``grad`` (∂C/∂θ[param_index]), ``cost`` (C at the sample; the cost's name is
``cost_function``) and the provenance columns of :func:`qnnscope.io.provenance`.  Schemas are
documented in ``docs/schemas.md``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from qnnscope import sampling
from qnnscope.gradients import dqnn, vqc
from qnnscope.gradients.point import MODEL_OPTIONS, Evaluation, GradientPoint
from qnnscope.io import provenance

_MODELS = {"vqc": vqc, "dqnn": dqnn}
"""Model → the module that checks and evaluates its points (``validate``, ``evaluate``)."""


def validate(point: GradientPoint, samples: int, prefix: str = "") -> tuple:
    """Check every option of a point before any work; errors name the option (``prefix`` + its
    name), the value and what is allowed.  Returns the model's circuit (or network), its
    observable (None for DQNNs) and the parameter slots."""
    key = lambda name: f"{prefix}{name}"  # noqa: E731 - option names differ between CLI and config
    if point.model not in _MODELS:
        raise ValueError(f"{key('model')}: unknown model {point.model!r}; allowed: {', '.join(MODEL_OPTIONS)}")
    if samples < 2:
        raise ValueError(f"{key('samples')}: must be >= 2 (a sample variance needs two draws), got {samples}")
    from qnnscope.sim.engine import resolve_dtype

    try:
        resolve_dtype(point.dtype)
    except ValueError as exc:
        raise ValueError(f"{key('dtype')}: {exc}") from None
    checked = _MODELS[point.model].validate(point, samples, key)
    if point.init not in sampling.SIGMA_INITS and point.sigma is not None:
        raise ValueError(f"{key('sigma')}: applies only to init 'normal' or 'normal_depth', got sigma={point.sigma} "
                         f"with init={point.init!r}")
    if point.device != "cpu":
        import torch

        if not point.device.startswith("cuda") or not torch.cuda.is_available():
            raise ValueError(f"{key('device')}: {point.device!r} is not available here; allowed: cpu"
                             + (", cuda" if torch.cuda.is_available() else ""))
    return checked


def shard_frame(point: GradientPoint, chunk: int, samples: int, result: Evaluation) -> pd.DataFrame:
    """The shard: one row per (sample, parameter), point and provenance columns."""
    params = result.params
    frame = pd.DataFrame(
        {
            "chunk": np.int64(chunk),
            "sample": np.repeat(np.arange(samples, dtype=np.int64), len(params)),
            "param_index": np.tile(np.asarray(params, dtype=np.int64), samples),
            "param_layer": np.tile(np.asarray(result.layers, dtype=np.int64), samples),
            "param_wire": np.tile(np.asarray(result.wires, dtype=np.int64), samples),
            "param_name": np.tile(np.asarray(result.names or [f"theta[{p}]" for p in params], dtype=object), samples),
            "grad": np.asarray(result.grads).reshape(-1),
            "cost": np.repeat(result.costs, len(params)),
        }
    )
    columns = point.columns()
    for name, value in columns.items():
        frame[name] = value
    for name, value in provenance(point.backend, point.dtype, point.device, result.seed, result.wall_time_s).items():
        frame[name] = value
    return frame[list(columns) + [c for c in frame.columns if c not in columns]]


def compute(point: GradientPoint, samples: int, chunk: int = 0, base_seed: int = 0, progress: bool | None = None) -> pd.DataFrame:
    """Draw ``samples`` parameter vectors for chunk ``chunk`` of ``point`` and return the shard."""
    checked = validate(point, samples)
    seed = sampling.point_seed(point.seed_key(), chunk, base_seed)
    if point.model == "dqnn":
        result = dqnn.evaluate(point, checked, samples, seed, base_seed, progress)
    else:
        result = vqc.evaluate(point, checked, samples, seed, progress)
    return shard_frame(point, chunk, samples, result)
