"""Gradients of variational-circuit points: exact on any backend, under noise channels or a
device's calibrated noise model, or estimated from shots."""

from __future__ import annotations

import functools
import logging
import sys
import time

import numpy as np
from tqdm import tqdm

from qnnscope import sampling
from qnnscope.circuits import ANSATZE, Circuit, build
from qnnscope.circuits.families import graph_edges, graph_hash, qaoa
from qnnscope.config import check_graph_choice
from qnnscope.costs import Observable, make_cost
from qnnscope.gradients.point import Evaluation, GradientPoint, resolve_params

log = logging.getLogger(__name__)

BLOCK_AMPLITUDES = 2**24
"""Amplitudes per engine call (samples × 2^n): bounds memory and paces the progress bar."""
NOISY_BACKENDS = ("torch", "qiskit-aer")
"""Backends that simulate noise channels (:mod:`qnnscope.sim.noise`) and draw shots
(:mod:`qnnscope.backends.shots`)."""

_circuit = functools.lru_cache(maxsize=4096)(build)
"""Circuits are read-only once built; sweeps validate thousands of points that share a few."""
_qaoa = functools.lru_cache(maxsize=1024)(qaoa)
"""QAOA circuits by (n, depth, edges, identity_block), likewise."""


def validate(point: GradientPoint, samples: int, key) -> tuple[Circuit, Observable, list[int]]:
    """The VQC-specific checks of :func:`qnnscope.gradients.evaluate.validate`."""
    from qnnscope.backends import available
    from qnnscope.backends.torch_backend import METHODS

    spec, graph = point.option("circuit"), point.option("graph")
    check_graph_choice(point.ansatz, graph, spec, key=key)
    if not spec and not graph and point.ansatz not in ANSATZE:
        raise ValueError(f"{key('ansatz')}: unknown ansatz {point.ansatz!r}; allowed: {', '.join(sorted(ANSATZE))}"
                         f", qaoa (with a graph, {key('graph')}) or a user circuit ({key('circuit')})")
    minimum = 2 if point.ansatz == "alternating" and not spec else 1
    if int(point.n_qubits) < minimum:
        raise ValueError(f"{key('qubits')}: {point.ansatz} needs at least {minimum} qubits, got {point.n_qubits}")
    if int(point.depth) < 1:
        raise ValueError(f"{key('depth')}: must be >= 1, got {point.depth}")
    if point.backend not in available():
        raise ValueError(f"{key('backend')}: unknown backend {point.backend!r}; allowed: {', '.join(available())}")
    if point.method not in METHODS:
        raise ValueError(f"{key('method')}: unknown method {point.method!r}; allowed: {', '.join(METHODS)}")
    if point.backend != "torch" and (point.method != "auto" or point.device != "cpu"):
        raise ValueError(f"{key('method')}/{key('device')}: only the torch backend takes a method or device")
    if point.init not in sampling.INITS:
        raise ValueError(f"{key('init')}: unknown init {point.init!r}; allowed: {', '.join(sampling.INITS)}")
    _validate_noise_and_shots(point, key)
    if (point.init == "identity_block") != (int(point.identity_block) > 0):
        raise ValueError(
            f"{key('identity-block')}: init 'identity_block' and identity_block > 0 go together, "
            f"got init={point.init!r}, identity_block={point.identity_block}"
        )
    edges = None
    if spec:
        circuit = _user_circuit(point, key)
    elif graph:
        circuit, edges = _graph_circuit(point, key)
    else:
        try:
            circuit = _circuit(point.ansatz, int(point.n_qubits), int(point.depth), int(point.identity_block))
        except ValueError as exc:
            raise ValueError(f"{key('depth')}: {exc}") from None
    observable = make_cost(point.cost, circuit.n_qubits, key=key("cost"), graph=edges)
    params = resolve_params(point.params, circuit.n_params, key=key("params"))
    if point.init in sampling.SIGMA_INITS and not (point.sigma and point.sigma > 0):
        raise ValueError(f"{key('sigma')}: init {point.init!r} needs sigma > 0, got {point.sigma}")
    _check_memory(point, samples, key)
    return circuit, observable, params


def _user_circuit(point: GradientPoint, key) -> Circuit:
    """The user circuit of ``point`` (option ``circuit``), read once per structure; refuses a
    point whose source files changed since the point was planned (its ``source`` hash)."""
    from qnnscope.circuits.importers import load, source_hash

    spec, n, depth = point.option("circuit"), int(point.n_qubits), int(point.depth)
    if point.init == "identity_block":
        raise ValueError(f"{key('inits')}: identity_block initialisation needs a built-in ansatz, not a user circuit")
    _unchanged(point, key("circuit"), spec, source_hash(spec, n, depth))
    return load(spec, n, depth, key=key("circuit"))


def _unchanged(point: GradientPoint, name: str, spec: str, current: str) -> None:
    """Refuse a point whose file ``spec`` (option ``name``) hashes to other than its recorded
    ``source``: it changed since the point was planned."""
    recorded = point.option("source")
    if recorded and recorded != current:
        raise ValueError(f"{name}: {spec!r} changed since this point was planned (source {recorded}, now {current}); "
                         "re-run the workflow so that the new version gets its own points")


def _graph_circuit(point: GradientPoint, key) -> tuple[Circuit, list]:
    """QAOA (Farhi et al. 2014) on the graph of ``point`` (option ``graph``, read at its qubit
    count) and the graph's edges; refuses a point whose graph file changed since the point was
    planned (its ``source`` hash)."""
    graph, n = point.option("graph"), int(point.n_qubits)
    edges = graph_edges(graph, n, key("graph"), key("qubits"))
    _unchanged(point, key("graph"), graph, graph_hash(graph, n))
    try:
        return _qaoa(n, int(point.depth), tuple(edges), int(point.identity_block)), edges
    except ValueError as exc:
        raise ValueError(f"{key('depth')}: {exc}") from None


def block_size(point: GradientPoint, samples: int) -> int:
    """Samples per engine call: a block of about BLOCK_AMPLITUDES amplitudes (4^n for density
    matrices, 2^n otherwise), at least 16, at most ``samples``."""
    shift = int(point.n_qubits) * (1 if point.noise == "none" else 2)
    return min(samples, max(16, BLOCK_AMPLITUDES >> shift))


MEMORY_ENV = "QNNSCOPE_JOB_MEMORY_MB"
"""Environment variable: the most memory (MB) one job may have, where it is not this machine's
(a cluster node's, set by the workflow from ``resources.max_mem_mb``)."""


def memory_available() -> int:
    """Bytes one job can have at most: ``$QNNSCOPE_JOB_MEMORY_MB`` where set, else this machine's
    physical memory."""
    import os

    if os.environ.get(MEMORY_ENV):
        return int(os.environ[MEMORY_ENV]) * 2**20
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def peak_memory(point: GradientPoint, samples: int) -> int:
    """Bytes the engine's working set for ``samples`` draws of ``point`` peaks at."""
    from qnnscope.sim.engine import peak_bytes

    return peak_bytes(int(point.n_qubits), block_size(point, samples), point.dtype, point.noise != "none")


def _check_memory(point: GradientPoint, samples: int, key) -> None:
    """Refuse a point whose peak memory (:func:`qnnscope.sim.engine.peak_bytes`) exceeds this
    machine's memory, naming the qubit count, the estimate and what fits."""
    import os

    density = point.noise != "none"
    need = peak_memory(point, samples)
    have = memory_available()
    if need > have:
        fits = max((n for n in range(1, int(point.n_qubits))
                    if peak_memory(GradientPoint(point.ansatz, n, 1, noise=point.noise, dtype=point.dtype),
                                   samples) <= have), default=0)
        whose = (f"a job's {have / 2**30:.1f} GiB (resources.max_mem_mb)" if os.environ.get(MEMORY_ENV)
                 else f"this machine's {have / 2**30:.1f} GiB (on a cluster, set resources.max_mem_mb)")
        raise ValueError(f"{key('qubits')}: n = {point.n_qubits} needs about {need / 2**30:.1f} GiB "
                         f"({'density matrices, ' if density else ''}{point.dtype}), more than {whose}; "
                         f"allowed: n <= {fits}")


def _validate_noise_and_shots(point: GradientPoint, key) -> None:
    """A point's noise spec and shots: parsable, on a backend that has them; a device's noise
    model (a fake backend's name, checked offline) on qiskit-aer only."""
    from qnnscope.sim.noise import parse_noise

    model = parse_noise(point.noise, key("noise"))
    if isinstance(point.shots, bool) or int(point.shots) != point.shots or point.shots < 0:
        raise ValueError(f"{key('shots')}: must be an integer >= 0 (0: exact expectation values), got {point.shots!r}")
    if (point.noise != "none" or point.shots) and point.backend not in NOISY_BACKENDS:
        raise ValueError(f"{key('backend')}: noise and shots run on the backends {', '.join(NOISY_BACKENDS)}, "
                         f"got {point.backend!r}")
    if model.device:
        from qnnscope.backends import device_noise

        if model.device not in device_noise.fake_backends():
            raise ValueError(f"{key('noise')}: {point.noise!r}: {model.device!r} is not a fake IBM backend; allowed: "
                             f"device:NAME with NAME one of {', '.join(device_noise.fake_backends())}")
        if point.backend != "qiskit-aer":
            raise ValueError(f"{key('backend')}: noise {point.noise!r} is a device's calibrated noise model, simulated "
                             f"on qiskit-aer; got backend {point.backend!r} (the torch engine has the channels "
                             f"depolarizing, depolarizing_1q, depolarizing_2q, damping)")
    if (point.noise != "none" or point.shots) and point.method != "auto":
        raise ValueError(f"{key('method')}: noisy and shot-based gradients use the parameter-shift rule (method auto), "
                         f"got {point.method!r}")


def transpile_seed(point: GradientPoint) -> int:
    """The transpiler seed of a point under a device's noise model (from its draws' key)."""
    return sampling.stable_seed("qnnscope.transpile", point.seed_key()) % 2**31


def _noisy_or_shots(point: GradientPoint, circuit: Circuit, observable: Observable, theta, choices,
                    params: list[int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Costs and parameter-shift gradients under the point's noise (exact density matrices), or
    estimated from its shots (sampled bitstrings, noiseless or noisy), on the torch engine or
    qiskit-aer; a device's noise model is transpiled to the device with a seed from the point."""
    from qnnscope.sim import engine, noise

    model = noise.parse_noise(point.noise)
    seed_transpiler = transpile_seed(point)
    if point.shots:
        from qnnscope.backends import shots

        source = "engine" if point.backend == "torch" else "aer"
        return shots.shot_gradients(circuit, observable, theta, choices, params, point.shots, seed, source=source,
                                    dtype=point.dtype, device=point.device, noise=model,
                                    seed_transpiler=seed_transpiler)
    if model.device:
        from qnnscope.backends import device_noise

        return device_noise.gradients(circuit, observable, theta, choices, params, model.device, seed_transpiler,
                                      point.dtype)
    if point.backend == "qiskit-aer":
        from qnnscope.backends.qiskit_backend import AerBackend, aer_noise_model

        return AerBackend("density_matrix", noise_model=aer_noise_model(model)).evaluate(
            circuit, observable, theta, choices, params, point.dtype)

    def expect(*args, **options):
        return noise.expectation(*args, noise=model, **options)

    costs, grads = engine.param_shift(circuit, observable, theta, choices, params, point.device, point.dtype, expect)
    return costs.double().cpu().numpy(), grads.double().cpu().numpy()


def evaluate(point: GradientPoint, checked: tuple, samples: int, seed: int, progress: bool | None) -> Evaluation:
    """Draw ``samples`` parameter vectors from ``seed`` and evaluate costs and gradients, in
    blocks that bound memory (``checked``: what :func:`validate` returned)."""
    from qnnscope.backends import get_backend

    circuit, observable, params = checked
    theta, choices = sampling.draw(circuit, samples, seed, point.init, sampling.sigma_for(point.init, point.sigma),
                                   depth=int(point.depth))
    options = {"device": point.device, "method": point.method} if point.backend == "torch" else {}
    backend = get_backend(point.backend, **options)
    costs, grads = np.empty(samples), np.empty((samples, len(params)))
    start = time.perf_counter()
    show = sys.stderr.isatty() if progress is None else progress
    exact = point.noise == "none" and not point.shots
    block = block_size(point, samples)
    for lo in tqdm(range(0, samples, block), desc=f"{point.ansatz} n={point.n_qubits} L={point.depth}", disable=not show):
        hi = min(samples, lo + block)
        if exact:
            c, g = backend.evaluate(circuit, observable, theta[lo:hi], choices[lo:hi], params, point.dtype)
        else:
            c, g = _noisy_or_shots(point, circuit, observable, theta[lo:hi], choices[lo:hi], params,
                                   sampling.stable_seed(seed, "shots", lo) % 2**32)
        costs[lo:hi], grads[lo:hi] = c, g
    wall = time.perf_counter() - start
    log.info("%s: %d samples x %d params in %.2f s", point, samples, len(params), wall)
    wires = [circuit.ops[circuit.param_gates(p)[0]].wires[0] for p in params]
    layers = [circuit.param_layer[p] if circuit.param_layer else -1 for p in params]
    names = [circuit.param_names[p] if circuit.param_names else f"theta[{p}]" for p in params]
    return Evaluation(costs, grads, params, layers, wires, seed, wall, names)
