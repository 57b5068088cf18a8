"""Device noise from the fake backends' calibration data, and shots under noise.

Oracles: the ideal device path equals the engine (layout and bit order), an empty circuit's
distribution is the product of the calibration's readout probabilities, the device model's
exact distributions predict the fake backend's own counts, and shot estimates under every kind
of noise scatter around the exact noisy gradients with exactly the predicted variance."""

from __future__ import annotations

import math

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit_ibm_runtime.fake_provider import FakeKolkataV2, FakeManilaV2

from qnnscope import sampling
from qnnscope.backends import device_noise, ibm
from qnnscope.backends.qiskit_backend import op_angles
from qnnscope.gradients.evaluate import compute, validate
from qnnscope.gradients.point import GradientPoint
from qnnscope.gradients.vqc import transpile_seed
from qnnscope.backends.shots import shot_variances
from qnnscope.sim import engine
from qnnscope.sim.noise import NoiseModel, parse_noise


def logical_circuits(point: GradientPoint, samples: int, seed: int):
    circuit, _, _ = validate(point, samples)
    theta, choices = sampling.draw(circuit, samples, seed, point.init, None)
    return circuit, theta, choices, [ibm.measured_circuit(circuit, op_angles(circuit, t), c)
                                     for t, c in zip(theta, choices)]


@pytest.mark.parametrize("backend_class", [FakeManilaV2, FakeKolkataV2])
def test_ideal_device_path_equals_the_engine(backend_class):
    """Transpiled to a 5- and a 27-qubit device, run without noise: the distributions the device
    path reads back (final layout, classical-bit order, wire order) are the engine's |ψ|²."""
    backend = backend_class()
    circuit, theta, choices, logical = logical_circuits(GradientPoint("mcclean", 3, 3, "zz"), 6, 4)
    isa = ibm.isa_circuits(logical, backend, seed_transpiler=9)
    got = np.array(device_noise.outcome_probabilities(isa, backend, noise=False))
    psi = engine.final_states(*_compiled(circuit, theta, choices))
    np.testing.assert_allclose(got, np.abs(psi.numpy()) ** 2, atol=1e-12)


def _compiled(circuit, theta, choices):
    c = engine.compile_circuit(circuit, "cpu", "complex128")
    th, ch = engine.as_tensors(c, theta, choices)
    return c, engine.step_matrices(c, th, ch)


def test_readout_errors_are_the_calibrated_assignment_probabilities():
    """No gates: the distribution is ⊗ (1 − P(1|0), P(1|0)) over the measured qubits, with
    P(1|0) = prob_meas1_prep0 read from the device's calibration properties."""
    backend = FakeManilaV2()
    qc = QuantumCircuit(3)
    qc.measure_all()
    isa = ibm.isa_circuits([qc], backend, seed_transpiler=1)[0]
    physical = [isa.find_bit(i.qubits[0]).index for i in isa.data if i.operation.name == "measure"]
    expected = np.ones(1)
    for q in physical:  # wire order: wire 0 (classical bit 0) most significant
        flip = backend.properties().qubit_property(q)["prob_meas1_prep0"][0]
        expected = np.kron(expected, [1 - flip, flip])
    (got,) = device_noise.outcome_probabilities([isa], backend)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    assert got[0] < 0.99  # readout errors are there


def test_device_model_predicts_the_fake_backends_own_counts():
    """2^16 shots of the fake device (its own sampler, in local testing mode) on transpiled
    McClean circuits: every outcome frequency within 5σ of the model's exact probability, while
    the ideal distribution is many σ away."""
    backend = FakeManilaV2()
    _, _, _, logical = logical_circuits(GradientPoint("mcclean", 3, 4, "zz"), 4, 8)
    isa = ibm.isa_circuits(logical, backend, seed_transpiler=3)
    model = np.array(device_noise.outcome_probabilities(isa, backend))
    ideal = np.array(device_noise.outcome_probabilities(isa, backend, noise=False))
    shots = 2**16
    result = backend.run(isa, shots=shots, seed_simulator=12).result()
    freq = np.zeros_like(model)
    for i in range(len(isa)):
        for bits, n in result.get_counts(i).items():
            freq[i, int(bits[::-1], 2)] = n / shots  # qiskit prints classical bit 0 last
    sigma = np.sqrt(model * (1 - model) / shots) + 1e-4
    assert np.all(np.abs(freq - model) < 5 * sigma), np.abs(freq - model).max()
    assert np.max(np.abs(freq - ideal) / sigma) > 20


def test_device_noise_is_a_sweep_option_on_qiskit_aer():
    point = dict(ansatz="hea", n_qubits=3, depth=2, cost="local", dtype="complex128", params="0,5")
    exact = compute(GradientPoint(**point, backend="qiskit-aer"), 8, 0, 1)
    noisy = compute(GradientPoint(**point, backend="qiskit-aer", noise="device:fake_manila"), 8, 0, 1)
    again = compute(GradientPoint(**point, backend="qiskit-aer", noise="device:fake_manila"), 8, 0, 1)
    np.testing.assert_array_equal(noisy.grad, again.grad)  # seeded transpilation: same numbers
    diff = np.abs(noisy.grad - exact.grad)
    assert 1e-3 < diff.max() < 0.2  # noisy, but the same circuits
    assert np.sum(noisy.grad**2) < np.sum(exact.grad**2)  # noise shrinks gradients


SHOT_CASES = {
    "engine, channels": (dict(backend="torch", noise="depolarizing:0.05,damping:0.02"), 300),
    "aer, channels": (dict(backend="qiskit-aer", noise="depolarizing_1q:0.05,depolarizing_2q:0.1"), 150),
    "aer, device": (dict(backend="qiskit-aer", noise="device:fake_manila"), 150),
}


@pytest.mark.parametrize("case", list(SHOT_CASES))
def test_noisy_shot_estimates_scatter_around_the_noisy_gradients_with_the_predicted_variance(case):
    """z = (ĝ − g_noisy)/√Var[ĝ | θ] over draws and parameters: mean 0 and variance 1, with
    Var[ĝ | θ] = Σ (σ²₊ + σ²₋)/(4·shots) from the noisy outcome distributions (an X setting
    included: the cost has X and Z terms)."""
    options, samples = SHOT_CASES[case]
    shots = 50
    point = dict(ansatz="hea", n_qubits=3, depth=1, cost="0.5*Z0Z1 + X2", dtype="complex128", params="0,1,4")
    noisy = compute(GradientPoint(**point, **options), samples, 0, 21)
    estimated = compute(GradientPoint(**point, **options, shots=shots), samples, 0, 21)
    shot_point = GradientPoint(**point, **options, shots=shots)
    circuit, observable, params = validate(shot_point, samples)
    theta, choices = sampling.draw(circuit, samples, sampling.point_seed(shot_point.seed_key(), 0, 21), "uniform", None)
    model = parse_noise(options["noise"])
    _, var = shot_variances(circuit, observable, theta, choices, params, shots, noise=model,
                            seed_transpiler=transpile_seed(shot_point))
    z = (estimated.grad.to_numpy() - noisy.grad.to_numpy()) / np.sqrt(var.reshape(-1))
    assert abs(z.mean()) < 4 / math.sqrt(z.size)
    assert 0.8 < z.var() < 1.2, z.var()


def test_noisy_shot_variance_has_its_closed_form():
    """⊗RX, local cost, depolarising λ after every gate, shots s: Var[ĝ] = a²/(8n²) +
    (1 − a²/2)/(8 n s) with a = 1 − λ (the noisy variance plus the noisy shot-noise excess)."""
    from qnnscope import stats

    n, lam, shots = 3, 0.3, 20
    frame = compute(GradientPoint("rx_product", n, 1, cost="local", dtype="complex128", shots=shots,
                                  noise=f"depolarizing:{lam}"), 20_000, 0, 5)
    summary = stats.summarize(frame.grad.to_numpy(), n_boot=500)
    a = 1 - lam
    assert summary["var_lo"] < a**2 / (8 * n**2) + (1 - a**2 / 2) / (8 * n * shots) < summary["var_hi"]


@pytest.mark.parametrize("options,fragment", [
    ({"noise": "device:fake_manila"}, "simulated on qiskit-aer; got backend 'torch'"),
    ({"noise": "device:fake_nowhere", "backend": "qiskit-aer"}, "'fake_nowhere' is not a fake IBM backend; allowed"),
    ({"noise": "device:fake_manila,depolarizing:0.1", "backend": "qiskit-aer"}, "is not a fake IBM backend"),
])
def test_bad_device_noise_is_refused(options, fragment):
    with pytest.raises(ValueError, match=fragment):
        validate(GradientPoint("hea", 2, 1, **options), 10, prefix="gradients[0].")


def test_device_model_does_not_combine_with_channels():
    with pytest.raises(ValueError, match="does not combine"):
        NoiseModel(depolarizing_1q=0.1, device="fake_manila")
