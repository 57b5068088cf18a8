"""Device noise from IBM calibration data: exact noisy outcome distributions of ISA circuits.

What: the outcome probabilities a device's noise model predicts for a measured circuit,
computed exactly (no shots) on qiskit-aer's density-matrix simulator: the circuit transpiled to
the device (its basis gates, coupling map and layout), every gate followed by the device's
calibrated errors (depolarising and thermal relaxation, per qubit and per pair), then each
measured qubit's readout error applied as its 2×2 assignment matrix.  Why: a gradient sweep can
then run under a real device's noise (``noise: device:fake_manila``, exact or with shots), and
the hardware workflow can put next to a device's counts what its own noise model predicts for
the very circuits it ran.

The noise model is qiskit-aer's ``NoiseModel.from_backend_properties`` on the backend's
calibration properties, the model the fake backends of ``qiskit_ibm_runtime.fake_provider``
themselves sample from in local testing mode (tested against their counts); a backend without
properties gets ``NoiseModel.from_backend``.  Idle qubits get no noise, as on the fake backends
(no delays are scheduled).  ``rz`` is virtual and noiseless on IBM devices.

Measurement: ``save_probabilities`` replaces the final measurements (it reads the state before
measurement), so readout errors, which Aer applies only to ``measure``, are applied afterwards
from the model's own ``roerror`` entries; the result is exactly the distribution the device's
noise model samples from.  Probabilities come back in qnnscope's order (wire 0 most significant).
"""

from __future__ import annotations

from functools import cache

import numpy as np

from qnnscope.circuits.description import Circuit
from qnnscope.costs import Observable


@cache
def backend(name: str):
    """The fake backend ``name`` (cached: its calibration data is read once per process)."""
    from qnnscope.backends import ibm

    if not ibm.is_local(name):
        raise ValueError(f"device noise {name!r}: not a fake backend of qiskit_ibm_runtime.fake_provider; "
                         f"allowed: {', '.join(fake_backends())}")
    return ibm.resolve_backend(name)


def fake_backends() -> tuple[str, ...]:
    """Names of the fake backends (snake case: ``fake_manila``…) whose calibration data can be used."""
    from qnnscope.backends import ibm

    return tuple(ibm.fake_backends())


def noise_model(backend):
    """qiskit-aer's noise model of ``backend`` from its calibration properties."""
    from qiskit_aer.noise import NoiseModel

    properties = backend.properties() if hasattr(backend, "properties") else None
    if properties is not None:
        return NoiseModel.from_backend_properties(properties)
    return NoiseModel.from_backend(backend)


def readout_matrices(model) -> dict[int, np.ndarray]:
    """Physical qubit → its assignment matrix A[prepared, measured] from the model's readout errors."""
    out = {}
    for error in model.to_dict()["errors"]:
        if error["type"] == "roerror":
            for qubits in error["gate_qubits"]:
                if len(qubits) != 1:
                    raise ValueError(f"correlated readout error on qubits {qubits} is not supported")
                out[int(qubits[0])] = np.asarray(error["probabilities"], dtype=float)
    return out


def _probability_circuit(isa):
    """``isa`` with its final measurements replaced by ``save_probabilities`` on the measured
    qubits, in classical-bit order; returns the circuit and those physical qubits."""
    out = isa.copy_empty_like()
    measured: dict[int, int] = {}  # clbit → physical qubit
    for instruction in isa.data:
        name = instruction.operation.name
        qubits = [isa.find_bit(q).index for q in instruction.qubits]
        if name == "measure":
            measured[isa.find_bit(instruction.clbits[0]).index] = qubits[0]
        elif name == "barrier":
            continue
        elif set(qubits) & set(measured.values()):
            raise ValueError(f"{isa.name}: {name} on qubits {qubits} after their measurement; only final "
                             f"measurements are supported")
        else:
            out.append(instruction)
    if sorted(measured) != list(range(isa.num_clbits)):
        raise ValueError(f"{isa.name}: classical bits {sorted(set(range(isa.num_clbits)) - set(measured))} are "
                         f"never measured")
    physical = [measured[k] for k in range(isa.num_clbits)]
    out.save_probabilities(physical, label="p")
    return out, physical


def _with_readout(p: np.ndarray, physical: list[int], readout: dict[int, np.ndarray]) -> np.ndarray:
    """Aer's probabilities (bit k = classical bit k = wire k) → after readout errors, in wire order."""
    n = len(physical)
    t = p.reshape((2,) * n)  # axis n − 1 − k is bit k
    for k, q in enumerate(physical):
        if q in readout:
            t = np.moveaxis(np.tensordot(t, readout[q], axes=([n - 1 - k], [0])), -1, n - 1 - k)
    return t.transpose(tuple(range(n - 1, -1, -1))).reshape(-1)


@cache
def _simulator(backend, dtype: str, noise: bool):
    """Aer's density-matrix simulator under ``backend``'s noise model (ideal without ``noise``)
    and the model's readout matrices, built once per backend: building the model from the
    calibration data takes longer than simulating a small circuit."""
    from qiskit_aer import AerSimulator

    from qnnscope.backends.qiskit_backend import PRECISION

    model = noise_model(backend) if noise else None
    readout = readout_matrices(model) if noise else {}
    return AerSimulator(method="density_matrix", noise_model=model, precision=PRECISION[dtype]), readout


def outcome_probabilities(isa_circuits: list, backend, dtype: str = "complex128", noise: bool = True,
                          parameter_values: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """Exact outcome distributions (wire 0 most significant) of measured ISA circuits under
    ``backend``'s noise model (``noise=False``: ideal, for checks).  With ``parameter_values``
    (one (B, n_parameters) array per circuit, columns in ``circuit.parameters`` order) each
    circuit is run for its B bindings and its entry is (B, 2^n); otherwise (2^n,)."""
    simulator, readout = _simulator(backend, dtype, noise)
    prepared = [_probability_circuit(c) for c in isa_circuits]

    def distribution(data, physical):  # save_probabilities: dense, little-endian over ``physical``
        return _with_readout(np.asarray(data["p"], dtype=float), physical, readout)

    if parameter_values is None:
        result = simulator.run([qc for qc, _ in prepared]).result()
        return [distribution(result.data(i), physical) for i, (_, physical) in enumerate(prepared)]
    out = []
    for (qc, physical), values in zip(prepared, parameter_values):
        values = np.asarray(values, dtype=float)
        binds = [{p: values[:, j].tolist() for j, p in enumerate(qc.parameters)}]
        result = simulator.run([qc], parameter_binds=binds).result()
        out.append(np.array([distribution(result.data(b), physical) for b in range(len(values))]))
    return out


def probabilities(circuit: Circuit, settings, theta, choices, params: list[int], device: str, seed_transpiler: int,
                  dtype: str = "complex128", optimization_level: int = 1):
    """(setting index, rows, outcome probabilities (b, 2^n)) of every draw × ±π/2-shifted copy
    (rows copies-major, as :func:`qnnscope.sim.shots.probabilities`) under fake backend ``device``'s
    noise: one parameterised circuit per setting and distinct Pauli-choice row, transpiled once
    (seeded) and bound to all its rows in one simulator call."""
    from qnnscope.backends import ibm
    from qnnscope.backends.qiskit_backend import measured_pubs

    target = backend(device)
    for i, qc, rows, values in measured_pubs(circuit, settings, theta, choices, params):
        isa = ibm.isa_circuits([qc], target, optimization_level, seed_transpiler)[0]
        (p,) = outcome_probabilities([isa], target, dtype, parameter_values=[values(isa)])
        yield i, rows, p


def gradients(circuit: Circuit, observable: Observable, theta, choices, params: list[int], device: str,
              seed_transpiler: int, dtype: str = "complex128") -> tuple[np.ndarray, np.ndarray]:
    """Exact costs (S,) and parameter-shift gradients (S, len(params)) under ``device``'s noise
    model, readout errors included: what infinitely many shots on that device would estimate."""
    from qnnscope.sim.shots import combine_shifts, measurement_settings, shifted_copies

    settings = measurement_settings(observable)
    gates, copies = shifted_copies(circuit, params)
    est = np.zeros(copies * len(theta))
    for i, rows, p in probabilities(circuit, settings, theta, choices, params, device, seed_transpiler, dtype):
        est[rows] += p @ settings[i].values
    return combine_shifts(est, gates, len(params))
