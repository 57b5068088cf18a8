"""Gradients of dissipative-QNN points (Beer et al. 2020): the cost over a point's training
pairs as a batched differentiable function, evaluated by autograd or the ±π/2 shift rule."""

from __future__ import annotations

import logging
import sys
import time

import numpy as np
from tqdm import tqdm

from qnnscope import sampling
from qnnscope.gradients.point import Evaluation, GradientPoint, resolve_params

log = logging.getLogger(__name__)


def widths_of(point: GradientPoint) -> tuple[int, ...]:
    """The point's layer widths (``'4-4-4'`` → (4, 4, 4))."""
    return tuple(int(w) for w in str(point.option("widths")).split("-"))


def validate(point: GradientPoint, samples: int, key) -> tuple:
    """The DQNN-specific checks of :func:`qnnscope.gradients.evaluate.validate`; returns the
    network, no observable, and the parameter slots."""
    from qnnscope.models import dqnn, training

    widths_spec, data, pairs = point.option("widths"), point.option("data"), point.option("pairs")
    try:
        widths = widths_of(point)
    except ValueError:
        raise ValueError(f"{key('widths')}: {widths_spec!r} is not a list of layer widths like '4-4-4'") from None
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
    if data not in training.TASKS:
        raise ValueError(f"{key('data')}: unknown data {data!r}; allowed: {', '.join(training.TASKS)}")
    if data != "zero" and widths[0] != widths[-1]:
        raise ValueError(f"{key('data')}: {data!r} maps the input layer to the output layer; it needs equal "
                         f"first and last widths, got {widths_spec}")
    if pairs < 1:
        raise ValueError(f"{key('pairs')}: must be >= 1, got {pairs}")
    if point.cost not in ("global", "local"):
        raise ValueError(f"{key('cost')}: DQNN costs are 'global' (fidelity) and 'local' (per-qubit), got {point.cost!r}")
    if point.cost == "local" and data not in ("zero", "product"):
        raise ValueError(f"{key('cost')}: the local cost needs product targets (data zero or product), got data {data!r}")
    if int(point.identity_block):
        raise ValueError(f"{key('identity-block')}: identity blocks are for VQCs")
    try:
        dqnn.check_init(net, point.init, point.sigma)
    except ValueError as exc:
        name, message = str(exc).split(": ", 1)
        raise ValueError(f"{key(name)}: {message}") from None
    _check_memory(point, net, key)
    return net, None, resolve_params(point.params, net.n_params, key=key("params"))


def data_seed(point: GradientPoint, base_seed: int) -> int:
    """Seed of a DQNN point's training pairs: shared by its costs, inits and chunks."""
    return sampling.stable_seed(base_seed, point.option("widths"), point.option("data"), point.option("pairs"), "data")


def sample_bytes(point: GradientPoint, net) -> tuple[str, int]:
    """The simulation mode of a DQNN point and the bytes its saved tensors take per θ (all its
    training pairs): known from the widths alone, before any data is drawn."""
    data, pairs = point.option("data"), point.option("pairs")
    if net.family == "local" and net.locality == 1 and data in ("zero", "product"):
        return "chains", pairs * net.widths[0] * 2 ** (net.n_layers + 1) * 16 * (2 * net.n_layers + 4)
    mode = net.choose_mode(pure_input=True)
    return mode, pairs * (2 ** net.modes()[mode]) * 16 * (2 * len(net.perceptrons) + 4)


def _check_memory(point: GradientPoint, net, key) -> None:
    """Refuse a network whose one-θ working set exceeds the memory a job can have."""
    from qnnscope.gradients.vqc import memory_available

    _, need = sample_bytes(point, net)
    have = memory_available()
    if need > have:
        raise ValueError(f"{key('widths')}: widths {point.option('widths')} with {point.option('pairs')} training "
                         f"pairs need about {need / 2**30:.1f} GiB for one parameter vector, more than the "
                         f"{have / 2**30:.1f} GiB a job can have here; use narrower layers or fewer pairs")


def cost_function(point: GradientPoint, net, seed: int):
    """The cost of a DQNN point as a batched function θ (B, n_params) → (B,), differentiable by
    autograd, on training pairs drawn from ``seed``; also the simulation mode and the bytes per
    θ that its saved tensors take."""
    import torch

    from qnnscope.models import dqnn, training
    from qnnscope.sim.engine import resolve_dtype

    ctype = resolve_dtype(point.dtype)
    data, pairs = point.option("data"), point.option("pairs")
    mode, per_sample = sample_bytes(point, net)
    chains = mode == "chains"
    if chains:  # independent chains: n = 20 costs what 20 two-qubit networks cost
        inputs, targets = training.product_factors(data, net.widths, pairs, seed=seed, dtype=ctype)
    else:
        inputs, targets = training.training_pairs(data, net.widths, pairs, seed=seed, dtype=ctype)
    cost_fn = dqnn.global_cost if point.cost == "global" else dqnn.local_cost

    def evaluate(t: torch.Tensor) -> torch.Tensor:
        if chains:
            return dqnn.chain_costs(net, t, inputs, targets, point.cost, dtype=ctype)
        out = dqnn.run(net, t, inputs.repeat(t.shape[0], 1), mode=mode, dtype=ctype)
        return cost_fn(out, targets.repeat(t.shape[0], 1), per_sample=pairs)

    return evaluate, mode, per_sample


def _costs_and_grads(point: GradientPoint, net, theta: np.ndarray, params: list[int], seed: int,
                     show: bool) -> tuple[np.ndarray, np.ndarray, str]:
    """Costs (S,) and gradients (S, len(params)) by autograd (or the shift rule), in blocks that
    keep the simulation's saved tensors near CHUNK_BYTES; returns the simulation mode too."""
    import torch

    from qnnscope.sim.engine import CHUNK_BYTES

    evaluate, mode, per_sample = cost_function(point, net, seed)
    block = max(1, CHUNK_BYTES // per_sample)
    costs, grads = np.empty(len(theta)), np.empty((len(theta), len(params)))
    for lo in tqdm(range(0, len(theta), block), desc=f"dqnn {point.ansatz} {point.option('widths')}", disable=not show):
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


def evaluate(point: GradientPoint, checked: tuple, samples: int, seed: int, base_seed: int,
             progress: bool | None) -> Evaluation:
    """Draw ``samples`` parameter vectors from ``seed`` and evaluate costs and gradients over the
    point's training pairs (drawn from ``base_seed``)."""
    from qnnscope.models import dqnn

    net, _, params = checked
    theta = dqnn.draw(net, samples, seed, point.init, point.sigma)
    start = time.perf_counter()
    show = sys.stderr.isatty() if progress is None else progress
    costs, grads, mode = _costs_and_grads(point, net, theta, params, data_seed(point, base_seed), show)
    wall = time.perf_counter() - start
    log.info("%s: %d samples x %d params in %.2f s (%s simulation)", point, samples, len(params), wall, mode)
    owner = {q: p for p in net.perceptrons for q in range(p.offset, p.offset + p.n_params)}
    return Evaluation(costs, grads, params, [owner[q].layer for q in params], [owner[q].index for q in params], seed,
                      wall)
