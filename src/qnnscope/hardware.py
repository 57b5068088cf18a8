"""Hardware sweeps: the measured circuits of a gradient sweep point, and the estimates and
variances its counts give next to exact and noise-model simulation.

Submission, manifests, the ledger and collection of counts are the IBM backend's
(:mod:`qnnscope.backends.ibm`); this study turns a sweep point into circuits and counts into
gradients.  The simulation parts are imported by the functions that use them, so the hardware
table job starts without the engine.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

import qnnscope
from qnnscope import sampling, stats
from qnnscope.gradients.point import POINT_COLUMNS


def point_circuits(point, samples: int, base_seed: int, chunk: int = 0) -> tuple[list, list[dict]]:
    """The measured circuits of a gradient sweep point (a :class:`qnnscope.gradients.point.GradientPoint`):
    for every measurement setting, the unshifted and ±π/2-shifted copies of every draw (the same
    draws as the simulated sweep's chunk ``chunk``), with tags (setting, copy, sample)."""
    from qnnscope.backends.ibm import measured_circuit
    from qnnscope.backends.qiskit_backend import op_angles
    from qnnscope.gradients.evaluate import validate
    from qnnscope.sim.shots import measurement_settings, setting_circuit, shifted_copies

    circuit, observable, params = validate(point, samples)
    seed = sampling.point_seed(point.seed_key(), chunk, base_seed)
    theta, choices = sampling.draw(circuit, samples, seed, point.init, point.sigma if point.init == "normal" else None)
    gates, copies = shifted_copies(circuit, params)
    circuits, tags = [], []
    for k, setting in enumerate(measurement_settings(observable)):
        measured = setting_circuit(circuit, setting)
        for copy in range(copies):
            for s in range(samples):
                angles = op_angles(measured, theta[s])
                if copy:
                    angles[gates[(copy - 1) // 2][1]] += math.pi / 2 if copy % 2 else -math.pi / 2
                circuits.append(measured_circuit(measured, angles, choices[s]))
                tags.append({"setting": k, "copy": copy, "sample": s})
    return circuits, tags


def n_circuits(point, samples: int) -> int:
    """How many circuits :func:`point_circuits` makes for ``point`` (for budgets, without qiskit)."""
    from qnnscope.gradients.evaluate import validate
    from qnnscope.sim.shots import measurement_settings, shifted_copies

    circuit, observable, params = validate(point, samples)
    return len(measurement_settings(observable)) * shifted_copies(circuit, params)[1] * samples


def estimates(counts: pd.DataFrame, point, samples: int, base_seed: int, chunk: int = 0,
              isa: list | None = None) -> pd.DataFrame:
    """Per draw and parameter: the cost and parameter-shift gradient estimated from ``counts``
    (``grad``, ``cost``), next to the exact values on the same draws (``grad_exact``,
    ``cost_exact``, torch engine in complex128).  With the ISA circuits that ran (``isa``), also
    what the device's calibrated noise model predicts for them (exactly, readout errors
    included: ``grad_noisy``, ``cost_noisy``) and the variance of the shot estimate given that
    model (``grad_shot_var``, Σ (σ²₊ + σ²₋)/(4·shots)), so Var[grad] ≈ Var[grad_noisy] +
    mean(grad_shot_var) when the model describes the device."""
    from qnnscope.backends import device_noise, get_backend
    from qnnscope.backends.ibm import resolve_backend
    from qnnscope.gradients.evaluate import validate
    from qnnscope.sim.shots import combine_shifts, measurement_settings, outcome_variance, shifted_copies

    circuit, observable, params = validate(point, samples)
    settings = measurement_settings(observable)
    gates, copies = shifted_copies(circuit, params)
    est = np.zeros(copies * samples)
    for (k, copy, s), group in counts.groupby(["tag_setting", "tag_copy", "tag_sample"]):
        outcomes = group["bits"].map(lambda b: int(b, 2)).to_numpy()
        n = group["count"].to_numpy()
        est[copy * samples + s] += settings[k].values[outcomes] @ n / n.sum()
    cost, grad = combine_shifts(est, gates, len(params))
    noisy = {}
    if isa is not None:
        shots = int(counts["shots"].iloc[0])
        probs = device_noise.outcome_probabilities(isa, resolve_backend(counts["backend"].iloc[0]))
        mean, var = np.zeros(copies * samples), np.zeros(copies * samples)
        for (k, copy, s), i in counts.groupby(["tag_setting", "tag_copy", "tag_sample"])["circuit"].first().items():
            mean[copy * samples + s] += probs[i] @ settings[k].values
            var[copy * samples + s] += outcome_variance(probs[i], settings[k].values) / shots
        cost_noisy, grad_noisy = combine_shifts(mean, gates, len(params))
        grad_shot_var = combine_shifts(var, gates, len(params), variance=True)[1]
        noisy = {"grad_noisy": grad_noisy.reshape(-1), "cost_noisy": np.repeat(cost_noisy, len(params)),
                 "grad_shot_var": grad_shot_var.reshape(-1)}
    seed = sampling.point_seed(point.seed_key(), chunk, base_seed)
    theta, choices = sampling.draw(circuit, samples, seed, point.init, point.sigma if point.init == "normal" else None)
    cost_exact, grad_exact = get_backend("torch").evaluate(circuit, observable, theta, choices, params, "complex128")
    frame = pd.DataFrame({
        "chunk": np.int64(chunk),
        "sample": np.repeat(np.arange(samples, dtype=np.int64), len(params)),
        "param_index": np.tile(np.asarray(params, dtype=np.int64), samples),
        "param_layer": np.tile(np.asarray([circuit.param_layer[p] for p in params], dtype=np.int64), samples),
        "grad": grad.reshape(-1), "cost": np.repeat(cost, len(params)),
        "grad_exact": grad_exact.reshape(-1), "cost_exact": np.repeat(cost_exact, len(params)),
    } | noisy)
    for name, value in point.columns().items():
        frame[name] = value
    frame["backend"] = counts["backend"].iloc[0]
    frame["shots"] = int(counts["shots"].iloc[0])
    frame["seed"] = seed
    frame["qnnscope_version"] = qnnscope.__version__
    return frame


def summarize(frames: pd.DataFrame, n_boot: int = 2000, ci: float = 0.95) -> pd.DataFrame:
    """Per point, shots and parameter: the gradient variance (ddof=1) from the device's counts
    and from the exact values on the same draws, with bootstrap CIs, and the mean costs; with
    the noisy-simulation columns of :func:`estimates`, also the variance of the noise model's
    exact gradients (``grad_var_noisy``, CI), the mean shot-noise variance (``shot_excess``) and
    their sum (``grad_var_expected``: what the counts should show if the model is right)."""
    keys = [c for c in ("sweep", *POINT_COLUMNS, "shots", "param_index", "param_layer") if c in frames.columns]
    rows = []
    for key, group in frames.groupby(keys, sort=True, dropna=False):
        seed = sampling.stable_seed(list(map(str, key)))
        device = stats.summarize(group["grad"].to_numpy(), n_boot=n_boot, ci=ci, seed=seed)
        exact = stats.summarize(group["grad_exact"].to_numpy(), n_boot=n_boot, ci=ci, seed=seed)
        rows.append(dict(zip(keys, key)) | {
            "n_samples": device["n"], "grad_var": device["var"], "grad_var_lo": device["var_lo"],
            "grad_var_hi": device["var_hi"], "grad_var_exact": exact["var"], "grad_var_exact_lo": exact["var_lo"],
            "grad_var_exact_hi": exact["var_hi"], "ci": ci, "cost_mean": float(group["cost"].mean()),
            "cost_mean_exact": float(group["cost_exact"].mean()),
            "qnnscope_version": group["qnnscope_version"].iloc[0],
        })
        if "grad_noisy" in group:
            noisy = stats.summarize(group["grad_noisy"].to_numpy(), n_boot=n_boot, ci=ci, seed=seed)
            excess = float(group["grad_shot_var"].mean())
            rows[-1] |= {"grad_var_noisy": noisy["var"], "grad_var_noisy_lo": noisy["var_lo"],
                         "grad_var_noisy_hi": noisy["var_hi"], "shot_excess": excess,
                         "grad_var_expected": noisy["var"] + excess, "cost_mean_noisy": float(group["cost_noisy"].mean())}
    return pd.DataFrame(rows)
