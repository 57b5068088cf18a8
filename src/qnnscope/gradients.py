"""Gradient sampling of one sweep point: the shard a job writes, and the summary of shards.

A shard has one row per (sample, parameter): the sweep-point columns, ``chunk``, ``sample``,
``param_index`` / ``param_layer`` / ``param_wire`` (which parameter the gradient belongs to),
``grad`` (∂C/∂θ[param_index]), ``cost`` (C at the sample; the cost's name is ``cost_function``) and the provenance columns of
:func:`qnnscope.io.provenance`.  Schemas are documented in ``docs/schemas.md``.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from tqdm import tqdm

from qnnscope import sampling, stats
from qnnscope.backends import available, get_backend
from qnnscope.backends.torch_backend import METHODS
from qnnscope.circuits import ANSATZE, Circuit, build
from qnnscope.costs import Observable, make_cost
from qnnscope.io import provenance, read_metadata, write_parquet
from qnnscope.sim.engine import resolve_dtype

log = logging.getLogger(__name__)

POINT_COLUMNS = (
    "model", "ansatz", "n_qubits", "depth", "cost_function", "init", "sigma", "identity_block", "backend", "dtype", "method",
    "widths", "data", "pairs", "noise", "shots",
)
"""Columns that identify a sweep point in shards and tables (``widths``, ``data`` and ``pairs``
describe DQNN points and are '', '' and 0 for VQCs; ``noise`` is a noise spec, ``none`` for
exact simulation, and ``shots`` the shots per circuit, 0 for exact expectation values)."""
SIZE_COLUMNS = ("n_qubits", "depth", "widths")
"""Point columns that change along a sweep's size axes (a DQNN's widths follow from n and the
depth); scaling fits and figure lines group by the other columns."""
GROUP_COLUMNS = ("sweep", "depth_rule") + POINT_COLUMNS
"""Grouping keys of tables: the workflow's shards also carry their sweep's name and the depth as
the config wrote it (``20n`` or ``5``), so fits follow a depth rule across qubit counts."""
BLOCK_AMPLITUDES = 2**24
"""Amplitudes per engine call (samples × 2^n): bounds memory and paces the progress bar."""


@dataclass(frozen=True)
class GradientPoint:
    """One sweep point of a gradient study (see ``config/README.md`` for each field).

    ``model='vqc'``: ``ansatz`` names a circuit and ``depth`` its layers.  ``model='dqnn'``: a
    dissipative QNN (:mod:`qnnscope.models.dqnn`) whose ``ansatz`` names the perceptrons
    (``general``, ``deepD``, ``localM``), ``widths`` the qubits per layer (``4-4-4``; ``depth``
    is the number of layers, ``n_qubits`` the sweep's qubit count), ``data`` the training pairs
    (:data:`qnnscope.models.training.TASKS`) and ``pairs`` how many the cost averages over."""

    ansatz: str
    n_qubits: int
    depth: int
    cost: str = "global"
    init: str = "uniform"
    sigma: float | None = None
    identity_block: int = 0
    backend: str = "torch"
    dtype: str = "complex64"
    method: str = "auto"
    device: str = "cpu"
    params: str = "first"
    model: str = "vqc"
    widths: str = ""
    data: str = ""
    pairs: int = 0
    noise: str = "none"
    shots: int = 0

    def columns(self) -> dict:
        """The sweep-point columns of this point's rows."""
        out = {k: v for k, v in asdict(self).items() if k in POINT_COLUMNS}
        return {"model": self.model, "cost_function": self.cost} | out

    @property
    def label(self) -> str:
        """The point's architecture in one path component: the ansatz, and for a DQNN also its
        widths, data and pairs (``local1_w4-4_zero1``)."""
        if self.model == "vqc":
            return self.ansatz
        return f"{self.ansatz}_w{self.widths}_{self.data}{self.pairs}"

    def seed_key(self) -> dict:
        """What the random draw depends on: the circuit and the distribution, not the cost or the
        backend, so different costs and backends of one study see the same parameter draws."""
        if self.model == "dqnn":
            return {"model": "dqnn", "ansatz": self.ansatz, "widths": self.widths, "init": self.init,
                    "sigma": None if self.sigma is None else float(self.sigma)}
        return {
            "model": "vqc",
            "ansatz": self.ansatz,
            "n_qubits": int(self.n_qubits),
            "depth": int(self.depth),
            "init": self.init,
            "sigma": None if self.sigma is None else float(self.sigma),
            "identity_block": int(self.identity_block),
        }


def resolve_params(spec: str, circuit: Circuit, key: str = "params") -> list[int]:
    """``first`` / ``last`` / ``all`` / comma-separated slot indices → list of slots."""
    last = circuit.n_params - 1
    if spec == "first":
        return [0]
    if spec == "last":
        return [last]
    if spec == "all":
        return list(range(circuit.n_params))
    try:
        slots = [int(x) for x in str(spec).split(",") if x.strip()]
    except ValueError:
        slots = []
    if not slots or any(not 0 <= s <= last for s in slots):
        raise ValueError(
            f"{key}: {spec!r} is not allowed; use 'first', 'last', 'all' or comma-separated indices in 0..{last}"
        )
    return slots


_circuit = functools.lru_cache(maxsize=4096)(build)
"""Circuits are read-only once built; sweeps validate thousands of points that share a few."""


def validate(point: GradientPoint, samples: int, prefix: str = "") -> tuple[Circuit, Observable, list[int]]:
    """Check every option of a point before any work; errors name the option, the value and what
    is allowed.  Returns the circuit, observable and parameter slots."""
    key = lambda name: f"{prefix}{name}"  # noqa: E731 - option names differ between CLI and config
    if point.model == "dqnn":
        return _validate_dqnn(point, samples, key)
    if point.model != "vqc":
        raise ValueError(f"{key('model')}: unknown model {point.model!r}; allowed: vqc, dqnn")
    if point.ansatz not in ANSATZE:
        raise ValueError(f"{key('ansatz')}: unknown ansatz {point.ansatz!r}; allowed: {', '.join(sorted(ANSATZE))}")
    minimum = 2 if point.ansatz == "alternating" else 1
    if int(point.n_qubits) < minimum:
        raise ValueError(f"{key('qubits')}: {point.ansatz} needs at least {minimum} qubits, got {point.n_qubits}")
    if int(point.depth) < 1:
        raise ValueError(f"{key('depth')}: must be >= 1, got {point.depth}")
    if samples < 2:
        raise ValueError(f"{key('samples')}: must be >= 2 (a sample variance needs two draws), got {samples}")
    if point.backend not in available():
        raise ValueError(f"{key('backend')}: unknown backend {point.backend!r}; allowed: {', '.join(available())}")
    try:
        resolve_dtype(point.dtype)
    except ValueError as exc:
        raise ValueError(f"{key('dtype')}: {exc}") from None
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
    try:
        circuit = _circuit(point.ansatz, int(point.n_qubits), int(point.depth), int(point.identity_block))
    except ValueError as exc:
        raise ValueError(f"{key('depth')}: {exc}") from None
    observable = make_cost(point.cost, circuit.n_qubits, key=key("cost"))
    params = resolve_params(point.params, circuit, key=key("params"))
    if point.init == "normal" and not (point.sigma and point.sigma > 0):
        raise ValueError(f"{key('sigma')}: init 'normal' needs sigma > 0, got {point.sigma}")
    if point.init != "normal" and point.sigma is not None:
        raise ValueError(f"{key('sigma')}: applies only to init 'normal', got sigma={point.sigma} with init={point.init!r}")
    if point.device != "cpu":
        import torch

        if not point.device.startswith("cuda") or not torch.cuda.is_available():
            raise ValueError(f"{key('device')}: {point.device!r} is not available here; allowed: cpu" + (", cuda" if torch.cuda.is_available() else ""))
    return circuit, observable, params


NOISY_BACKENDS = ("torch", "qiskit-aer")
"""Backends that simulate noise channels (:mod:`qnnscope.sim.noise`) and draw shots (:mod:`qnnscope.shots`)."""


def _validate_noise_and_shots(point: GradientPoint, key) -> None:
    """A point's noise spec and shots: parsable, on a backend that has them; a device's noise
    model on qiskit-aer only."""
    from qnnscope.sim.noise import parse_noise

    model = parse_noise(point.noise, key("noise"))
    if isinstance(point.shots, bool) or int(point.shots) != point.shots or point.shots < 0:
        raise ValueError(f"{key('shots')}: must be an integer >= 0 (0: exact expectation values), got {point.shots!r}")
    if (point.noise != "none" or point.shots) and point.backend not in NOISY_BACKENDS:
        raise ValueError(f"{key('backend')}: noise and shots run on the backends {', '.join(NOISY_BACKENDS)}, "
                         f"got {point.backend!r}")
    if model.device and point.backend != "qiskit-aer":
        raise ValueError(f"{key('backend')}: noise {point.noise!r} is a device's calibrated noise model, simulated on "
                         f"qiskit-aer; got backend {point.backend!r} (the torch engine has the channels "
                         f"depolarizing, depolarizing_1q, depolarizing_2q, damping)")
    if (point.noise != "none" or point.shots) and point.method != "auto":
        raise ValueError(f"{key('method')}: noisy and shot-based gradients use the parameter-shift rule (method auto), "
                         f"got {point.method!r}")


def transpile_seed(point: GradientPoint) -> int:
    """The transpiler seed of a point under a device's noise model (from its draws' key)."""
    return sampling.stable_seed("qnnscope.transpile", point.seed_key()) % 2**31


def _evaluate_noisy_or_shots(point: GradientPoint, circuit: Circuit, observable: Observable, theta, choices,
                             params: list[int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Costs and parameter-shift gradients under the point's noise (exact density matrices), or
    estimated from its shots (sampled bitstrings, noiseless or noisy), on the torch engine or
    qiskit-aer; a device's noise model is transpiled to the device with a seed from the point."""
    from qnnscope import shots
    from qnnscope.sim import engine, noise

    model = noise.parse_noise(point.noise)
    seed_transpiler = transpile_seed(point)
    if point.shots:
        source = "engine" if point.backend == "torch" else "aer"
        return shots.shot_gradients(circuit, observable, theta, choices, params, point.shots, seed, source=source,
                                    dtype=point.dtype, device=point.device, noise=model,
                                    seed_transpiler=seed_transpiler)
    if model.device:
        from qnnscope.backends import device_noise

        return device_noise.gradients(circuit, observable, theta, choices, params, model.device, seed_transpiler,
                                      point.dtype)
    if point.backend == "qiskit-aer":
        from qnnscope.backends.qiskit_backend import AerBackend

        return AerBackend("density_matrix", noise_model=noise.aer_noise_model(model)).evaluate(
            circuit, observable, theta, choices, params, point.dtype)

    def expect(*args, **options):
        return noise.expectation(*args, noise=model, **options)

    costs, grads = engine.param_shift(circuit, observable, theta, choices, params, point.device, point.dtype, expect)
    return costs.double().cpu().numpy(), grads.double().cpu().numpy()


def _validate_dqnn(point: GradientPoint, samples: int, key) -> tuple:
    from qnnscope.models import dqnn, training

    if samples < 2:
        raise ValueError(f"{key('samples')}: must be >= 2 (a sample variance needs two draws), got {samples}")
    try:
        widths = tuple(int(w) for w in point.widths.split("-"))
    except ValueError:
        raise ValueError(f"{key('widths')}: {point.widths!r} is not a list of layer widths like '4-4-4'") from None
    try:
        net = dqnn.from_label(point.ansatz, widths)
    except ValueError as exc:  # the model's messages start with the offending key
        name, message = str(exc).split(": ", 1)
        raise ValueError(f"{key(name)}: {message}") from None
    if point.backend != "torch":
        raise ValueError(f"{key('backend')}: DQNNs run on the torch engine (backend torch), got {point.backend!r}")
    if point.noise != "none" or point.shots:
        raise ValueError(f"{key('noise')}/{key('shots')}: DQNN points are exact and noiseless (noise none, shots 0), "
                         f"got noise {point.noise!r}, shots {point.shots}")
    if point.method not in ("auto", "autograd", "param-shift"):
        raise ValueError(f"{key('method')}: DQNN gradients by 'autograd' (auto) or 'param-shift', got {point.method!r}")
    if point.method == "param-shift" and net.family == "general":
        raise ValueError(f"{key('method')}: 'param-shift' needs rotation-angle parameters (deepD, localM perceptrons), "
                         "not the Pauli coefficients of general perceptrons")
    resolve_dtype(point.dtype)
    if point.data not in training.TASKS:
        raise ValueError(f"{key('data')}: unknown data {point.data!r}; allowed: {', '.join(training.TASKS)}")
    if point.data != "zero" and widths[0] != widths[-1]:
        raise ValueError(f"{key('data')}: {point.data!r} maps the input layer to the output layer; it needs equal "
                         f"first and last widths, got {point.widths}")
    if point.pairs < 1:
        raise ValueError(f"{key('pairs')}: must be >= 1, got {point.pairs}")
    if point.cost not in ("global", "local"):
        raise ValueError(f"{key('cost')}: DQNN costs are 'global' (fidelity) and 'local' (per-qubit), got {point.cost!r}")
    if point.cost == "local" and point.data not in ("zero", "product"):
        raise ValueError(f"{key('cost')}: the local cost needs product targets (data zero or product), got data {point.data!r}")
    if int(point.identity_block):
        raise ValueError(f"{key('identity-block')}: identity blocks are for VQCs")
    try:
        dqnn.check_init(net, point.init, point.sigma)
    except ValueError as exc:
        name, message = str(exc).split(": ", 1)
        raise ValueError(f"{key(name)}: {message}") from None
    if point.sigma is not None and point.init != "normal":
        raise ValueError(f"{key('sigma')}: applies only to init 'normal', got sigma={point.sigma} with init={point.init!r}")
    params = resolve_params(point.params, net, key=key("params"))
    return net, None, params


def dqnn_data_seed(point: GradientPoint, base_seed: int) -> int:
    """Seed of a DQNN point's training pairs: shared by its costs, inits and chunks."""
    return sampling.stable_seed(base_seed, point.widths, point.data, point.pairs, "data")


def dqnn_cost(point: GradientPoint, net, data_seed: int):
    """The cost of a DQNN point as a batched function θ (B, n_params) → (B,), differentiable by
    autograd; also the simulation mode and the bytes per θ that its saved tensors take."""
    import torch

    from qnnscope.models import dqnn, training

    ctype = resolve_dtype(point.dtype)
    chains = net.family == "local" and net.locality == 1 and point.data in ("zero", "product")
    if chains:  # independent chains: n = 20 costs what 20 two-qubit networks cost
        inputs, targets = training.product_factors(point.data, net.widths, point.pairs, seed=data_seed, dtype=ctype)
        mode, per_sample = "chains", point.pairs * net.widths[0] * 2 ** (net.n_layers + 1) * 16 * (2 * net.n_layers + 4)
    else:
        inputs, targets = training.training_pairs(point.data, net.widths, point.pairs, seed=data_seed, dtype=ctype)
        mode = net.choose_mode(pure_input=True)
        per_sample = point.pairs * (2 ** net.modes()[mode]) * 16 * (2 * len(net.perceptrons) + 4)
    cost_fn = dqnn.global_cost if point.cost == "global" else dqnn.local_cost

    def evaluate(t: torch.Tensor) -> torch.Tensor:
        if chains:
            return dqnn.chain_costs(net, t, inputs, targets, point.cost, dtype=ctype)
        out = dqnn.run(net, t, inputs.repeat(t.shape[0], 1), mode=mode, dtype=ctype)
        return cost_fn(out, targets.repeat(t.shape[0], 1), per_sample=point.pairs)

    return evaluate, mode, per_sample


def _dqnn_evaluate(point: GradientPoint, net, theta: np.ndarray, params: list[int], data_seed: int,
                   show: bool) -> tuple[np.ndarray, np.ndarray, str]:
    """Costs (S,) and gradients (S, len(params)) of a DQNN point by autograd, in blocks that
    keep the simulation's saved tensors near CHUNK_BYTES; returns the simulation mode too."""
    import torch

    from qnnscope.sim.engine import CHUNK_BYTES

    evaluate, mode, per_sample = dqnn_cost(point, net, data_seed)
    block = max(1, CHUNK_BYTES // per_sample)
    costs, grads = np.empty(len(theta)), np.empty((len(theta), len(params)))
    for lo in tqdm(range(0, len(theta), block), desc=f"dqnn {point.ansatz} {point.widths}", disable=not show):
        hi = min(len(theta), lo + block)
        t = torch.as_tensor(theta[lo:hi])
        if point.method == "param-shift":  # every angle drives one RY/RZ gate: exact ±π/2 rule
            with torch.no_grad():
                c = evaluate(t)
                for k, q in enumerate(params):
                    shifted = t.repeat(2, 1)
                    shifted[: hi - lo, q] += np.pi / 2
                    shifted[hi - lo:, q] -= np.pi / 2
                    both = evaluate(shifted)
                    grads[lo:hi, k] = ((both[: hi - lo] - both[hi - lo:]) / 2).numpy()
            costs[lo:hi] = c.numpy()
            continue
        t.requires_grad_(True)
        c = evaluate(t)
        (g,) = torch.autograd.grad(c.sum(), t)
        costs[lo:hi], grads[lo:hi] = c.detach().numpy(), g[:, params].numpy()
    return costs, grads, mode


def _compute_dqnn(point: GradientPoint, samples: int, chunk: int, base_seed: int, progress: bool | None) -> pd.DataFrame:
    from qnnscope.models import dqnn

    net, _, params = validate(point, samples)
    seed = sampling.point_seed(point.seed_key(), chunk, base_seed)
    data_seed = dqnn_data_seed(point, base_seed)
    theta = dqnn.draw(net, samples, seed, point.init, point.sigma)
    start = time.perf_counter()
    costs, grads, mode = _dqnn_evaluate(point, net, theta, params, data_seed, sys.stderr.isatty() if progress is None else progress)
    wall = time.perf_counter() - start
    log.info("%s: %d samples x %d params in %.2f s (%s simulation)", point, samples, len(params), wall, mode)
    owner = {q: p for p in net.perceptrons for q in range(p.offset, p.offset + p.n_params)}
    return _frame(point, chunk, samples, params, costs, grads, [owner[q].layer for q in params],
                  [owner[q].index for q in params], seed, wall)


def _frame(point, chunk, samples, params, costs, grads, layers, wires, seed, wall) -> pd.DataFrame:
    """The shard: one row per (sample, parameter), point and provenance columns."""
    frame = pd.DataFrame(
        {
            "chunk": np.int64(chunk),
            "sample": np.repeat(np.arange(samples, dtype=np.int64), len(params)),
            "param_index": np.tile(np.asarray(params, dtype=np.int64), samples),
            "param_layer": np.tile(np.asarray(layers, dtype=np.int64), samples),
            "param_wire": np.tile(np.asarray(wires, dtype=np.int64), samples),
            "grad": grads.reshape(-1),
            "cost": np.repeat(costs, len(params)),
        }
    )
    for name, value in point.columns().items():
        frame[name] = value
    for name, value in provenance(point.backend, point.dtype, point.device, seed, wall).items():
        frame[name] = value
    columns = list(point.columns()) + [c for c in frame.columns if c not in point.columns()]
    return frame[columns]


def compute(point: GradientPoint, samples: int, chunk: int = 0, base_seed: int = 0, progress: bool | None = None) -> pd.DataFrame:
    """Draw ``samples`` parameter vectors for chunk ``chunk`` of ``point`` and return the shard."""
    if point.model == "dqnn":
        return _compute_dqnn(point, samples, chunk, base_seed, progress)
    circuit, observable, params = validate(point, samples)
    seed = sampling.point_seed(point.seed_key(), chunk, base_seed)
    theta, choices = sampling.draw(circuit, samples, seed, point.init, point.sigma if point.init == "normal" else None)
    options = {"device": point.device, "method": point.method} if point.backend == "torch" else {}
    backend = get_backend(point.backend, **options)
    costs, grads = np.empty(samples), np.empty((samples, len(params)))
    start = time.perf_counter()
    show = sys.stderr.isatty() if progress is None else progress
    exact = point.noise == "none" and not point.shots
    # density matrices hold 4^n amplitudes; noiseless shots draw from 2^n probabilities per shifted copy
    block = max(16, BLOCK_AMPLITUDES >> (circuit.n_qubits * (1 if point.noise == "none" else 2)))
    for lo in tqdm(range(0, samples, block), desc=f"{point.ansatz} n={point.n_qubits} L={point.depth}", disable=not show):
        hi = min(samples, lo + block)
        if exact:
            c, g = backend.evaluate(circuit, observable, theta[lo:hi], choices[lo:hi], params, point.dtype)
        else:
            c, g = _evaluate_noisy_or_shots(point, circuit, observable, theta[lo:hi], choices[lo:hi], params,
                                            sampling.stable_seed(seed, "shots", lo) % 2**32)
        costs[lo:hi], grads[lo:hi] = c, g
    wall = time.perf_counter() - start
    log.info("%s: %d samples x %d params in %.2f s", point, samples, len(params), wall)
    first_wire = {p: circuit.ops[circuit.param_gates(p)[0]].wires[0] for p in params}
    return _frame(point, chunk, samples, params, costs, grads, [circuit.param_layer[p] for p in params],
                  [first_wire[p] for p in params], seed, wall)


def shard_metadata(point: GradientPoint, samples: int, chunk: int, base_seed: int) -> dict:
    """What a shard's file records about how it was made (schema metadata key ``qnnscope``)."""
    columns = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in point.columns().items()}
    return {"point": columns | {"params": point.params}, "samples": int(samples), "chunk": int(chunk),
            "base_seed": int(base_seed)}


def write_shard(path, point: GradientPoint, samples: int, chunk: int, base_seed: int, extra: dict | None = None,
                progress: bool | None = None):
    """Compute chunk ``chunk`` of ``point`` and write it to ``path`` atomically; ``extra`` columns
    (e.g. the workflow's ``sweep`` and ``depth_rule``) go first."""
    frame = compute(point, samples, chunk, base_seed, progress=progress)
    for i, (name, value) in enumerate((extra or {}).items()):
        frame.insert(i, name, value)
    return write_parquet(frame, path, shard_metadata(point, samples, chunk, base_seed))


def shard_is_current(path, point: GradientPoint, samples: int, chunk: int, base_seed: int) -> bool:
    """Whether ``path`` is a complete shard of exactly this point, sample count, chunk and seed
    (files are written atomically, so one that exists and says so is whole)."""
    expected = json.loads(json.dumps(shard_metadata(point, samples, chunk, base_seed), sort_keys=True, default=str))
    return read_metadata(path) == expected


def summarize(shards: pd.DataFrame, n_boot: int = 2000, ci: float = 0.95) -> pd.DataFrame:
    """Per point and parameter: n_samples, grad_mean, grad_var (ddof=1) with bootstrap CIs,
    cost_mean and cost_var; bootstrap seeds derive from the group key."""
    keys = [c for c in GROUP_COLUMNS if c in shards.columns] + ["param_index", "param_layer", "param_wire"]
    duplicated = shards.duplicated(keys + ["chunk", "sample"])
    if duplicated.any():
        first = shards[duplicated].iloc[0]
        raise ValueError(
            f"the same chunk {first['chunk']} of point {first[keys].to_dict()} appears in more than one shard"
        )
    rows = []
    for key, group in shards.groupby(keys, sort=True, dropna=False):
        g = stats.summarize(group["grad"].to_numpy(), n_boot=n_boot, ci=ci, seed=sampling.stable_seed(list(map(str, key))))
        cost = group["cost"].to_numpy()
        rows.append(
            dict(zip(keys, key))
            | {
                "n_samples": g["n"],
                "grad_mean": g["mean"],
                "grad_mean_lo": g["mean_lo"],
                "grad_mean_hi": g["mean_hi"],
                "grad_var": g["var"],
                "grad_var_lo": g["var_lo"],
                "grad_var_hi": g["var_hi"],
                "ci": g["ci"],
                "ci_method": g["ci_method"],
                "cost_mean": float(cost.mean()),
                "cost_var": float(cost.var(ddof=1)),
                "n_chunks": int(group["chunk"].nunique()),
                "qnnscope_version": group["qnnscope_version"].iloc[0],
                "wall_time_s": float(group.drop_duplicates("chunk")["wall_time_s"].sum()),
            }
        )
    return pd.DataFrame(rows)


def alias_depth_rules(table: pd.DataFrame, aliases: list[tuple[str, int, int, str]]) -> pd.DataFrame:
    """Rows for depth rules that land on a point another rule already computed: for each
    (sweep, n_qubits, depth, rule), the point's rows again with ``depth_rule = rule`` (e.g. 'log'
    and '2' at n = 4), so every rule's line and fit has all its points."""
    extra = []
    for sweep, n, depth, rule in aliases:
        rows = table[(table["sweep"] == sweep) & (table["n_qubits"] == n) & (table["depth"] == depth)]
        extra.append(rows.assign(depth_rule=rule))
    return pd.concat([table, *extra], ignore_index=True) if extra else table


FIT_COLUMNS = ["depths", "widths", "n_qubits", "n_points", "best_fit", "ci"] + [
    f"{prefix}_{field}" for prefix in ("exp", "poly") for field in ("a", "b", "b_se", "b_lo", "b_hi", "r2", "aic")
]
"""Columns of a fit row after the group columns (see docs/schemas.md)."""


def fit(table: pd.DataFrame, ci: float = 0.95) -> pd.DataFrame:
    """Scaling fits of grad_var against n_qubits (see :func:`qnnscope.stats.fit_scaling`), one
    row per group of the other point columns (the workflow's ``depth_rule`` among them) and
    parameter.  A group whose qubit counts each come with one depth (e.g. depth = 20n) is fitted
    across depths, listed in ``depths``; a group with several depths per qubit count is split by
    depth."""
    others = [c for c in GROUP_COLUMNS if c in table.columns and c not in SIZE_COLUMNS] + ["param_index"]
    rows = []
    for key, group in table.groupby(others, sort=True, dropna=False):
        parts = [group] if not group["n_qubits"].duplicated().any() else [g for _, g in group.groupby("depth")]
        for part in parts:
            part = part.sort_values("n_qubits")
            if part["n_qubits"].nunique() < 3:
                continue
            result = stats.fit_scaling(part["n_qubits"], part["grad_var"], part["grad_var_lo"], part["grad_var_hi"], ci)
            row = dict(zip(others, key)) | {
                "depths": ",".join(map(str, part["depth"])),
                "widths": ",".join(map(str, part["widths"])) if "widths" in part else "",
                "n_qubits": ",".join(map(str, part["n_qubits"])),
                "n_points": result["n_points"],
                "best_fit": result["model"],
                "ci": ci,
            }
            for name, prefix in (("exponential", "exp"), ("polynomial", "poly")):
                for field in ("a", "b", "b_se", "b_lo", "b_hi", "r2", "aic"):
                    row[f"{prefix}_{field}"] = result[name][field]
            rows.append(row)
    if not rows:
        log.warning("no group has grad_var at three or more qubit counts; the fit table is empty")
    return pd.DataFrame(rows, columns=others + FIT_COLUMNS)
