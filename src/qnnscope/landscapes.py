"""Loss landscapes: directions, batched scans, Hessians, training paths and landscape metrics.

What Li et al. 2018 (arXiv:1712.09913) and orqviz (arXiv:2111.04695) offer, for the models of
qnnscope, at the engine's speed:

- an :class:`Objective` is a cost as a function of a *batch* of flat parameter vectors
  (B, P) → (B,), with a batched value-and-gradient: a whole scan grid is one batched
  evaluation (the engine's adjoint for VQCs, autograd for DQNNs and torch modules), never a
  loop over grid points;
- directions (:func:`random_direction`, :func:`hessian_directions`, :func:`pca_directions`,
  :func:`halves_directions`, :func:`axis_directions`, a segment between two vectors);
- :func:`scan` evaluates cost and gradient norm on a 1D or 2D grid around a centre;
- :func:`hessian` (exact, autograd) and :func:`hessian_extremes` (Lanczos on Hessian-vector
  products beyond ``HESSIAN_EXACT_MAX`` parameters); :func:`train` records a trajectory;
- metrics (:func:`scan_metrics`, :func:`hessian_metrics`): plateau fraction, total variation,
  the Fourier spectrum of periodic scans, Hessian spectrum at the centre.

Direction normalisation (``normalisation``):

- ``periodic`` (default for rotation angles): every component is ±1, the sign of a standard
  Gaussian draw.  Moving α along it moves every angle by exactly ±α, so the landscape along the
  direction is 2π-periodic like each angle (R_P(θ + 2π) = −R_P(θ), a global sign that cancels
  in every cost), a scan over [−π, π] covers one period, and its Fourier spectrum lives on
  integer frequencies.  Each parameter group (all angles of a circuit) has RMS component 1.
- ``rms``: the Gaussian draw scaled to RMS component 1 per group (‖d‖ = √P); not periodic.
- ``filter`` (classical layers, Li et al. Sec. 4): each filter (slice along the first axis of a
  weight tensor) of the Gaussian draw is rescaled to the norm of the same filter of the centre's
  weights; biases and other 1-D parameters get direction 0.  Angle groups of a hybrid model
  keep the periodic normalisation.

Hessian-eigen directions are unit vectors; PCA directions are orthonormal (Li et al. Sec. 7:
PCA of θ_t − θ_final, centred at the final point); a segment direction is θ_b − θ_a.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import numpy as np
from tqdm import tqdm

if TYPE_CHECKING:
    import torch

DIRECTIONS = ("random", "hessian", "pca", "segment", "halves", "axes")
"""Direction kinds of a scan: random (normalised, two independent draws in 2D), the Hessian's
top and bottom eigenvectors at the centre, the first two PCA directions of a training path,
the segment from the initial to the trained parameters (1D), the two halves of the parameter
vector (all angles of each half tied: Cerezo et al. 2021 Fig. 2), the first two coordinate axes."""
CENTRES = ("random", "zero", "identity", "trained")
"""Scan centres: a seeded random draw, θ = 0, Grant et al.'s identity-block draw, the end of a
recorded training run."""
NORMALISATIONS = ("periodic", "rms", "filter")
HESSIAN_EXACT_MAX = 400
"""Up to this many parameters the Hessian is formed exactly; beyond, Lanczos on products."""
SCAN_AMPLITUDES = 2**18
"""State amplitudes per batch of a scan (parameter vectors × samples × 2^n): about 4 MB per
complex128 state buffer, which stays in cache; measured on the hybrid digits model, batches of
16 vectors take 3.7 s for 225 grid points where batches of 256 take 8–13 s."""
PERIODIC_KINDS = ("random", "halves", "axes")
"""Directions with integer components (under the periodic normalisation): 2π-periodic scans."""


@dataclass(frozen=True)
class Group:
    """A named block of the flat parameter vector and how its directions are normalised:
    ``angle`` (rotation angles) or ``filter`` (a classical weight tensor of ``shape``)."""

    name: str
    start: int
    shape: tuple[int, ...]
    kind: str = "angle"

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    @property
    def slice(self) -> slice:
        return slice(self.start, self.start + self.size)


@dataclass
class Objective:
    """A cost over batches of flat float64 parameter vectors.  ``cost`` must be differentiable by
    autograd (Hessians, training); ``value_and_grad`` is a faster batched path where one exists
    (the engine's adjoint); ``block`` bounds the batch per call (memory)."""

    n_params: int
    cost: Callable[[torch.Tensor], torch.Tensor]
    value_and_grad: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None
    block: int = 4096
    groups: tuple[Group, ...] = ()
    name: str = "objective"
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.groups:
            self.groups = (Group("angles", 0, (self.n_params,), "angle"),)

    def evaluate(self, theta, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Costs (B,) and gradients (B, P) at every row of ``theta``, in batches of ``block``."""
        import torch

        theta = torch.as_tensor(np.asarray(theta, dtype=np.float64))
        costs, grads = np.empty(len(theta)), np.empty((len(theta), self.n_params))
        for lo in tqdm(range(0, len(theta), self.block), desc=self.name, disable=not progress):
            t = theta[lo:lo + self.block]
            if self.value_and_grad is not None:
                c, g = self.value_and_grad(t)
            else:
                t = t.clone().requires_grad_(True)
                c = self.cost(t)
                (g,) = torch.autograd.grad(c.sum(), t)
            costs[lo:lo + len(t)], grads[lo:lo + len(t)] = c.detach().double().numpy(), g.detach().double().numpy()
        return costs, grads

    def scalar(self, theta: torch.Tensor) -> torch.Tensor:
        """The cost at one parameter vector (P,), differentiable (for Hessians)."""
        return self.cost(theta.reshape(1, -1))[0]


def vqc_objective(circuit, observable, choices=None, dtype: str = "complex128", device: str = "cpu") -> Objective:
    """⟨O⟩ of ``circuit`` on the engine; ``choices`` (1, n_choices) fixes McClean's Pauli axes."""
    import torch

    from qnnscope.sim import engine

    ch = torch.zeros(1, max(1, circuit.n_choices), dtype=torch.long) if choices is None else torch.as_tensor(choices).reshape(1, -1)

    def cost(t):
        return engine.expectation(circuit, observable, t, ch.expand(t.shape[0], -1), device, dtype)

    def value_and_grad(t):
        return engine.adjoint(circuit, observable, t, ch.expand(t.shape[0], -1), device, dtype)

    return Objective(circuit.n_params, cost, value_and_grad, block=max(1, SCAN_AMPLITUDES // 2**circuit.n_qubits),
                     name=f"{circuit.name} n={circuit.n_qubits}")


def module_objective(module: torch.nn.Module, loss: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor,
                     angle_params: tuple[str, ...] = ()) -> tuple[Objective, np.ndarray]:
    """A torch module's loss ``loss(module(inputs))`` over its flattened parameters, batched with
    ``torch.func.vmap``; parameters named in ``angle_params`` (a quantum layer's rotation angles)
    form angle groups, weight tensors filter groups.  Returns the objective and the module's
    current parameters as the flat centre."""
    import torch
    from torch.func import functional_call, vmap

    names, shapes, groups, start = [], [], [], 0
    for name, p in module.named_parameters():
        names.append(name)
        shapes.append(tuple(p.shape))
        groups.append(Group(name, start, tuple(p.shape), "angle" if name in angle_params else "filter"))
        start += p.numel()
    centre = torch.cat([p.detach().reshape(-1).double() for p in module.parameters()]).numpy()
    module = module.double()

    def one(flat):
        params, pos = {}, 0
        for name, shape in zip(names, shapes):
            size = int(np.prod(shape)) if shape else 1
            params[name] = flat[pos:pos + size].reshape(shape)
            pos += size
        return loss(functional_call(module, params, (inputs,)))

    return Objective(start, vmap(one), block=256, groups=tuple(groups), name=type(module).__name__), centre


# ---------------------------------------------------------------------------------- directions

def filter_normalise(direction: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Li et al. 2018's filter normalisation of one parameter tensor's direction: every filter
    (slice along axis 0) rescaled to the norm of the same filter of ``weight``; 1-D tensors
    (biases, normalisation layers) → 0."""
    direction = np.asarray(direction, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    if weight.ndim <= 1:
        return np.zeros_like(direction)
    d = direction.reshape(len(direction), -1)
    w = weight.reshape(len(weight), -1)
    norms = np.linalg.norm(d, axis=1, keepdims=True)
    return (d / np.where(norms > 0, norms, 1) * np.linalg.norm(w, axis=1, keepdims=True)).reshape(direction.shape)


def random_direction(objective: Objective, seed: int, normalisation: str = "periodic",
                     centre: np.ndarray | None = None) -> np.ndarray:
    """A normalised Gaussian direction (see the module docstring for the normalisations); angle
    groups of a ``filter``-normalised model take the periodic normalisation."""
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"normalisation: {normalisation!r} is not allowed; allowed: {', '.join(NORMALISATIONS)}")
    g = np.random.default_rng(seed).standard_normal(objective.n_params)
    out = np.empty_like(g)
    for grp in objective.groups:
        d = g[grp.slice]
        if normalisation == "rms":
            out[grp.slice] = d / np.sqrt(np.mean(d**2))
        elif normalisation == "periodic" or grp.kind == "angle":
            out[grp.slice] = np.sign(d)
        else:
            if centre is None:
                raise ValueError("normalisation: 'filter' scales by the centre's weights; pass the centre")
            out[grp.slice] = filter_normalise(d.reshape(grp.shape), centre[grp.slice].reshape(grp.shape)).reshape(-1)
    return out


def halves_directions(n_params: int) -> np.ndarray:
    """(2, P): the indicator of the first ⌈P/2⌉ parameters and of the rest, so a 2D scan ties
    every angle of each half (Cerezo et al. 2021 Fig. 2's cross-section of ⊗ RX(θ_j))."""
    if n_params < 2:
        raise ValueError(f"directions: 'halves' needs at least 2 parameters, got {n_params}")
    d = np.zeros((2, n_params))
    half = (n_params + 1) // 2
    d[0, :half] = 1
    d[1, half:] = 1
    return d


def axis_directions(n_params: int) -> np.ndarray:
    """(2, P): the coordinate axes of θ[0] and θ[1]."""
    if n_params < 2:
        raise ValueError(f"directions: 'axes' needs at least 2 parameters, got {n_params}")
    return np.eye(2, n_params)


def pca_directions(trajectory: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Li et al.'s PCA of a training path θ_0 … θ_T around its end point: the two orthonormal
    principal directions (2, P), their explained-variance ratios (2,), and the path's
    coordinates on that plane (T+1, 2)."""
    traj = np.asarray(trajectory, dtype=np.float64)
    if len(traj) < 3:
        raise ValueError(f"directions: PCA needs a trajectory of at least 3 points, got {len(traj)}")
    x = traj - traj[-1]
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    var = s**2
    total = var.sum()
    ratio = var[:2] / total if total > 0 else np.zeros(2)
    dirs = vt[:2]
    if len(dirs) < 2:
        raise ValueError("directions: PCA needs at least 2 parameters")
    return dirs, ratio, x @ dirs.T


# ------------------------------------------------------------------------------------ Hessians

def hessian(objective: Objective, theta) -> np.ndarray:
    """The exact Hessian (P, P) at ``theta`` by double autograd."""
    import torch

    t = torch.as_tensor(np.asarray(theta, dtype=np.float64))
    h = torch.autograd.functional.hessian(objective.scalar, t)
    return ((h + h.T) / 2).numpy()


def hessian_operator(objective: Objective, theta) -> Callable[[np.ndarray], np.ndarray]:
    """v ↦ H v at ``theta`` without forming H: the gradient's graph is built once (reverse over
    reverse) and every product is one backward pass through it, so a Lanczos run of a few
    hundred products pays for one forward pass."""
    import torch

    t = torch.as_tensor(np.asarray(theta, dtype=np.float64)).clone().requires_grad_(True)
    (g,) = torch.autograd.grad(objective.scalar(t), t, create_graph=True)

    def product(vector) -> np.ndarray:
        v = torch.as_tensor(np.asarray(vector, dtype=np.float64).reshape(-1))
        (hv,) = torch.autograd.grad(g, t, v, retain_graph=True)
        return hv.detach().numpy()

    return product


def hessian_vector_product(objective: Objective, theta, vector) -> np.ndarray:
    """H v at ``theta`` without forming H (double backward)."""
    return hessian_operator(objective, theta)(vector)


def hessian_extremes(objective: Objective, theta, k: int = 1, exact_max: int = HESSIAN_EXACT_MAX):
    """Eigenvalues (ascending) and unit eigenvectors (as rows) of the Hessian at ``theta``:
    the full spectrum up to ``exact_max`` parameters, else the ``k`` lowest and ``k`` highest
    by one Lanczos run (scipy ``eigsh``, both ends) on Hessian-vector products."""
    if objective.n_params <= exact_max:
        vals, vecs = np.linalg.eigh(hessian(objective, theta))
        return vals, vecs.T
    from scipy.sparse.linalg import LinearOperator, eigsh

    if 2 * k >= objective.n_params:
        raise ValueError(f"hessian_extremes: k = {k} from each end needs more than {2 * k} parameters "
                         f"(the objective has {objective.n_params}); form the Hessian exactly instead")
    op = LinearOperator((objective.n_params,) * 2, matvec=hessian_operator(objective, theta), dtype=np.float64)
    vals, vecs = eigsh(op, k=2 * k, which="BE")
    order = np.argsort(vals)
    return vals[order], vecs.T[order]


def hessian_directions(objective: Objective, theta) -> tuple[np.ndarray, np.ndarray]:
    """(2, P): the unit eigenvectors of the largest and the smallest Hessian eigenvalue at
    ``theta``; and the eigenvalues found (the whole spectrum when it was formed exactly)."""
    vals, vecs = hessian_extremes(objective, theta)
    return np.stack([vecs[-1], vecs[0]]), vals


def hessian_metrics(eigenvalues: np.ndarray, rel_tol: float = 1e-9) -> dict:
    """Spectrum summary: extreme eigenvalues; the share of (numerically) zero eigenvalues,
    |λ| ≤ ``rel_tol``·max|λ| (redundant parameter directions, common in circuits); the condition
    number max|λ|/min|λ| over the others; and the share of negative ones among them."""
    vals = np.asarray(eigenvalues, dtype=np.float64)
    mags = np.abs(vals)
    live = mags > rel_tol * mags.max() if mags.max() > 0 else np.zeros(len(vals), bool)
    return {
        "hessian_min": float(vals.min()),
        "hessian_max": float(vals.max()),
        "hessian_condition": float(mags[live].max() / mags[live].min()) if live.any() else math.nan,
        "hessian_null_fraction": float(np.mean(~live)),
        "hessian_negative_fraction": float(np.mean(vals[live] < 0)) if live.any() else math.nan,
        "hessian_eigenvalues": len(vals),
    }


# -------------------------------------------------------------------------------- scan, train

@dataclass
class Scan:
    """A scan's grid: ``axes`` coordinates per dimension, ``cost`` and ``grad_norm`` of shape
    (R,) or (R, R) (first index along the first direction)."""

    axes: list[np.ndarray]
    cost: np.ndarray
    grad_norm: np.ndarray


def scan(objective: Objective, centre, directions, axes, progress: bool = False) -> Scan:
    """Cost and |∇C| at θ = centre + Σ_k a_k d_k over the grid ``axes`` (one coordinate array per
    direction row), evaluated as batches."""
    directions = np.atleast_2d(np.asarray(directions, dtype=np.float64))
    axes = [np.asarray(a, dtype=np.float64) for a in axes]
    if len(axes) != len(directions) or len(axes) not in (1, 2):
        raise ValueError(f"scan: needs 1 or 2 directions with one axis each, got {len(directions)} and {len(axes)}")
    mesh = np.meshgrid(*axes, indexing="ij")
    coords = np.stack([m.ravel() for m in mesh], axis=1)
    theta = np.asarray(centre, dtype=np.float64)[None] + coords @ directions
    costs, grads = objective.evaluate(theta, progress)
    shape = mesh[0].shape
    return Scan(axes, costs.reshape(shape), np.linalg.norm(grads, axis=1).reshape(shape))


def train(objective: Objective, theta0, steps: int, optimizer: str = "Adam", lr: float = 0.05):
    """``steps`` steps of a torch optimizer from ``theta0``; returns the trajectory (steps+1, P)
    and the cost at each of its points."""
    import torch

    if not hasattr(torch.optim, optimizer):
        raise ValueError(f"optimizer: torch.optim has no {optimizer!r}")
    theta = torch.nn.Parameter(torch.as_tensor(np.asarray(theta0, dtype=np.float64)).clone())
    opt = getattr(torch.optim, optimizer)([theta], lr=lr)
    path, costs = np.empty((steps + 1, objective.n_params)), np.empty(steps + 1)
    for step in range(steps + 1):
        c, g = objective.evaluate(theta.detach()[None])
        path[step], costs[step] = theta.detach().numpy(), c[0]
        if step < steps:
            opt.zero_grad()
            theta.grad = torch.as_tensor(g[0])
            opt.step()
    return path, costs


# -------------------------------------------------------------------------------------- metrics

def total_variation(values: np.ndarray, axes: list[np.ndarray]) -> float:
    """Mean |ΔC| between grid neighbours per unit length, over every axis: an estimate of the
    mean |directional derivative| that is large for rough, oscillating landscapes."""
    values = np.asarray(values, dtype=np.float64)
    parts = []
    for k, a in enumerate(axes):
        step = np.diff(a).mean()
        parts.append(np.abs(np.diff(values, axis=k)).ravel() / step)
    return float(np.concatenate(parts).mean())


def fourier_spectrum(values: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """orqviz-style Fourier analysis of a periodic scan whose grid includes both end points of one
    period: the last point (= the first) is dropped, the rest transformed.  Returns the integer
    frequencies per axis (cycles per period) and |c_k|² with c_k the normalised coefficients."""
    values = np.asarray(values, dtype=np.float64)
    core = values[tuple(slice(0, s - 1) for s in values.shape)]
    coeff = np.fft.fftn(core) / core.size
    freqs = [np.rint(np.fft.fftfreq(s, 1 / s)).astype(int) for s in core.shape]
    return freqs, np.abs(coeff) ** 2


def fourier_metrics(values: np.ndarray, rel: float = 1e-8) -> dict:
    """Power-weighted mean |k| of the non-constant part of a periodic scan, and the largest |k|
    (Euclidean, cycles per period) holding at least ``rel`` of that power."""
    freqs, power = fourier_spectrum(values)
    mesh = np.meshgrid(*freqs, indexing="ij")
    radius = np.sqrt(sum(m.astype(float) ** 2 for m in mesh))
    ac = radius > 0
    total = power[ac].sum()
    if total <= 0:
        return {"fourier_mean_frequency": 0.0, "fourier_max_frequency": 0.0}
    return {
        "fourier_mean_frequency": float((radius[ac] * power[ac]).sum() / total),
        "fourier_max_frequency": float(radius[ac][power[ac] >= rel * total].max()),
    }


def is_periodic(axes: list[np.ndarray], kind: str, normalisation: str) -> bool:
    """Whether a scan covers whole periods of its landscape: integer directions (random under the
    periodic normalisation, halves, axes) over a range of 2π."""
    integer = kind in PERIODIC_KINDS and (kind != "random" or normalisation == "periodic")
    return integer and all(np.isclose(a[-1] - a[0], 2 * np.pi) for a in axes)


def scan_metrics(result: Scan, plateau_threshold: float, periodic: bool) -> dict:
    """Plateau fraction (share of grid points with |∇C| < threshold), total variation, cost
    range, and for periodic scans the Fourier metrics with the grid's Nyquist frequency
    ((R − 1)/2 cycles per period): frequencies above it alias, so a scan along a direction
    that moves P angles (frequencies up to P) resolves its spectrum only when R > 2P + 1."""
    out = {
        "plateau_fraction": float(np.mean(result.grad_norm < plateau_threshold)),
        "total_variation": total_variation(result.cost, result.axes),
        "cost_min": float(result.cost.min()),
        "cost_max": float(result.cost.max()),
        "grad_norm_mean": float(result.grad_norm.mean()),
        "grad_norm_max": float(result.grad_norm.max()),
    }
    if periodic:
        out |= fourier_metrics(result.cost) | {"fourier_nyquist": (len(result.axes[0]) - 1) // 2}
    else:
        out |= {"fourier_mean_frequency": np.nan, "fourier_max_frequency": np.nan, "fourier_nyquist": np.nan}
    return out


# ------------------------------------------------------------------------- workflow-level jobs

@dataclass(frozen=True)
class ScanSpec:
    """One landscape scan of a model point (:class:`qnnscope.gradients.point.GradientPoint`): where it is
    centred, along what, on what grid.  ``extent`` is the half-width in units of π (α ∈
    [−extent·π, extent·π]), or plainly α ∈ [−extent, extent] under Li et al.'s ``filter``
    normalisation (a hybrid model's weights move by α times their filter norms); segment scans run t ∈ [−extent/2, 1 + extent/2] from the initial
    (t = 0) to the trained (t = 1) parameters."""

    point: object
    centre: str = "random"
    direction: str = "random"
    dims: int = 2
    resolution: int = 51
    extent: float = 1.0
    normalisation: str = "periodic"
    plateau_threshold: float = 1e-3
    hessian_max_qubits: int = 14

    @property
    def needs_training(self) -> bool:
        return self.centre == "trained" or self.direction in ("pca", "segment")


def check_spec(spec: ScanSpec, key: str = "") -> None:
    """Refuse a scan the package cannot run, naming the key, the value and what is allowed."""
    point = spec.point
    if spec.centre not in CENTRES:
        raise ValueError(f"{key}centres: {spec.centre!r} is not allowed; allowed: {', '.join(CENTRES)}")
    if spec.direction not in DIRECTIONS:
        raise ValueError(f"{key}directions: {spec.direction!r} is not allowed; allowed: {', '.join(DIRECTIONS)}")
    if spec.dims not in (1, 2):
        raise ValueError(f"{key}dimensions: {spec.dims!r} is not allowed; allowed: 1, 2")
    if spec.direction == "segment" and spec.dims != 1:
        raise ValueError(f"{key}dimensions: a segment scan is 1D (initial → trained), got dimensions {spec.dims}")
    if spec.resolution < 3:
        raise ValueError(f"{key}resolution: must be >= 3, got {spec.resolution}")
    if not spec.extent > 0:
        raise ValueError(f"{key}extent: must be > 0, got {spec.extent}")
    if point.model == "hybrid":
        if spec.normalisation not in NORMALISATIONS:
            raise ValueError(f"{key}normalisation: {spec.normalisation!r} is not allowed; allowed: {', '.join(NORMALISATIONS)}")
    elif spec.normalisation not in ("periodic", "rms"):
        raise ValueError(f"{key}normalisation: {spec.normalisation!r} is not allowed for circuit models; allowed: periodic, rms")
    if spec.centre == "identity" and (point.model != "vqc" or point.init != "identity_block"):
        raise ValueError(f"{key}centres: 'identity' is Grant et al.'s identity-block draw of a VQC; it needs model vqc "
                         f"and init 'identity_block', got model {point.model!r}, init {point.init!r}")
    if spec.direction == "pca" and spec.centre != "trained":
        raise ValueError(f"{key}centres: PCA directions are centred at the end of training; use centre 'trained' "
                         f"with direction 'pca', got centre {spec.centre!r}")
    if spec.direction == "hessian" and point.n_qubits > spec.hessian_max_qubits:
        raise ValueError(f"{key}directions: 'hessian' at n = {point.n_qubits} exceeds hessian_max_qubits = "
                         f"{spec.hessian_max_qubits}")


def landscape_seed(point, base_seed: int, *tags) -> int:
    """Seeds of a landscape: they depend on the model and its init, not on the cost, so the global
    and local landscapes of one model share centre and directions."""
    from qnnscope import sampling

    return sampling.stable_seed("qnnscope.landscape", base_seed, point.seed_key(), *tags)


def point_objective(point, base_seed: int = 0):
    """The :class:`Objective` of a model point and a function drawing its parameters:
    ``draw(seed, init)`` → one parameter vector."""
    from qnnscope import sampling
    from qnnscope.gradients import dqnn as dqnn_points
    from qnnscope.gradients.evaluate import validate
    from qnnscope.models import dqnn
    from qnnscope.sim.engine import CHUNK_BYTES

    if point.model == "hybrid":
        return point.objective(base_seed)
    if point.model == "dqnn":
        net, _, _ = validate(point, samples=2)
        cost, mode, per_sample = dqnn_points.cost_function(point, net, dqnn_points.data_seed(point, base_seed))
        obj = Objective(net.n_params, cost, block=max(1, CHUNK_BYTES // per_sample), name=f"dqnn {point.label}",
                        info={"mode": mode})
        return obj, lambda seed, init: dqnn.draw(net, 1, seed, init, point.sigma)[0]
    circuit, observable, _ = validate(point, samples=2)
    _, choices = sampling.draw(circuit, 1, landscape_seed(point, base_seed, "choices"))
    obj = vqc_objective(circuit, observable, choices, point.dtype, point.device)
    return obj, lambda seed, init: sampling.draw(circuit, 1, seed, init, point.sigma if init == "normal" else None)[0][0]


def starting_point(spec: ScanSpec, draw, n_params: int, base_seed: int) -> np.ndarray:
    """The centre before training: zeros for the ``zero`` centre, else a seeded draw of the
    point's init (for the ``identity`` centre the point's init is ``identity_block``: Grant et
    al.'s draw).  Training starts here too."""
    if spec.centre == "zero":
        return np.zeros(n_params)
    return draw(landscape_seed(spec.point, base_seed, "centre"), spec.point.init)


def scan_centre(spec: ScanSpec, draw, n_params: int, base_seed: int, trajectory: np.ndarray | None) -> np.ndarray:
    """Where a scan is centred: the end of training (``trained``), the start of training for a
    segment, else :func:`starting_point`."""
    if spec.centre == "trained":
        return trajectory[-1]
    if spec.direction == "segment":
        return trajectory[0]
    return starting_point(spec, draw, n_params, base_seed)


def train_point(spec: ScanSpec, steps: int, optimizer: str, lr: float, base_seed: int):
    """The recorded training run of a scan's model from its seeded draw (see
    :func:`starting_point`); returns the trajectory and the costs."""
    obj, draw = point_objective(spec.point, base_seed)
    start = draw(landscape_seed(spec.point, base_seed, "centre"), spec.point.init)
    return train(obj, start, steps, optimizer, lr)


def segment_axis(resolution: int, extent: float) -> np.ndarray:
    """``resolution`` evenly spaced t covering about [−extent/2, 1 + extent/2] with t = 0 (start)
    and t = 1 (end) on the grid."""
    k = max(1, min(resolution - 1, round((resolution - 1) / (1 + extent))))  # intervals within [0, 1]
    left = (resolution - 1 - k) // 2
    return (np.arange(resolution) - left) / k


def run_scan(spec: ScanSpec, base_seed: int, trajectory: np.ndarray | None = None, progress: bool = False):
    """Evaluate one scan.  Returns the grid as a table (``kind`` grid rows with coordinates
    ``a``/``b``, ``cost``, ``grad_norm``; ``kind`` path rows with the training path's
    coordinates on the scan plane when the scan has one) and a dict of what the scan knows
    about its directions (``explained_variance`` for PCA)."""
    import pandas as pd

    obj, draw = point_objective(spec.point, base_seed)
    info: dict = {}
    if spec.needs_training and trajectory is None:
        raise ValueError(f"a {spec.centre!r} centre or {spec.direction!r} direction needs the training trajectory")
    centre = scan_centre(spec, draw, obj.n_params, base_seed, trajectory)
    half = spec.extent * (1.0 if spec.normalisation == "filter" else np.pi)
    axis = np.linspace(-half, half, spec.resolution)
    path = None
    if spec.direction == "random":
        dirs = np.stack([random_direction(obj, landscape_seed(spec.point, base_seed, "direction", k), spec.normalisation,
                                          centre) for k in range(spec.dims)])
    elif spec.direction == "halves":
        dirs = halves_directions(obj.n_params)
    elif spec.direction == "axes":
        dirs = axis_directions(obj.n_params)
    elif spec.direction == "hessian":
        dirs, _ = hessian_directions(obj, centre)
    elif spec.direction == "pca":
        dirs, ratio, path = pca_directions(trajectory)
        info["explained_variance"] = [float(r) for r in ratio]
        reach = np.abs(path).max() * 1.25
        axis = np.linspace(-reach, reach, spec.resolution) if reach > 0 else axis
    else:  # segment: initial (the centre) → trained
        dirs = (trajectory[-1] - trajectory[0])[None]
        axis = segment_axis(spec.resolution, spec.extent)
    dirs = dirs[: spec.dims]
    axes = [axis] * spec.dims
    result = scan(obj, centre, dirs, axes, progress)
    mesh = np.meshgrid(*axes, indexing="ij")
    grid = pd.DataFrame({
        "kind": "grid",
        "a": mesh[0].ravel(),
        "b": mesh[1].ravel() if spec.dims == 2 else np.nan,
        "cost": result.cost.ravel(),
        "grad_norm": result.grad_norm.ravel(),
        "step": -1,
    })
    if path is not None and spec.dims == 2:
        costs = obj.evaluate(trajectory)[0]
        grid = pd.concat([grid, pd.DataFrame({"kind": "path", "a": path[:, 0], "b": path[:, 1], "cost": costs,
                                              "grad_norm": np.nan, "step": np.arange(len(path))})], ignore_index=True)
    # VQC and DQNN circuit angles are periodic; general perceptrons' Pauli coefficients and hybrid
    # models' classical weights are not
    angles = spec.point.model == "vqc" or (spec.point.model == "dqnn" and not spec.point.ansatz.startswith("general"))
    info["periodic"] = bool(angles and is_periodic(axes, spec.direction, spec.normalisation))
    return grid, info


def grid_scan(grid) -> Scan:
    """The :class:`Scan` stored in a grid table by :func:`run_scan`."""
    g = grid[grid["kind"] == "grid"]
    a = np.unique(g["a"].to_numpy())
    if g["b"].isna().all():
        return Scan([a], g["cost"].to_numpy(), g["grad_norm"].to_numpy())
    b = np.unique(g["b"].to_numpy())
    shape = (len(a), len(b))
    return Scan([a, b], g["cost"].to_numpy().reshape(shape), g["grad_norm"].to_numpy().reshape(shape))


def centre_hessian(spec: ScanSpec, base_seed: int, trajectory: np.ndarray | None = None) -> np.ndarray | None:
    """Hessian eigenvalues at the scan's centre (all of them up to ``HESSIAN_EXACT_MAX``
    parameters, else the extremes by Lanczos); None above ``hessian_max_qubits``."""
    if spec.point.n_qubits > spec.hessian_max_qubits:
        return None
    obj, draw = point_objective(spec.point, base_seed)
    return hessian_extremes(obj, scan_centre(spec, draw, obj.n_params, base_seed, trajectory), k=3)[0]


def landscape_metrics(spec: ScanSpec, grid, info: dict, base_seed: int, trajectory: np.ndarray | None = None) -> dict:
    """One row of ``results/tables/landscapes.parquet``: the scan's metrics and the Hessian
    spectrum at its centre (eigenvalues as a list)."""
    row = scan_metrics(grid_scan(grid), spec.plateau_threshold, info.get("periodic", False))
    eig = centre_hessian(spec, base_seed, trajectory)
    if eig is None:
        row |= {k: np.nan for k in ("hessian_min", "hessian_max", "hessian_condition", "hessian_null_fraction",
                                    "hessian_negative_fraction")}
        row |= {"hessian_eigenvalues": 0, "hessian_spectrum": []}
    else:
        row |= hessian_metrics(eig) | {"hessian_spectrum": [float(v) for v in eig]}
    ratio = info.get("explained_variance", [np.nan, np.nan])
    row |= {"pca_explained_1": ratio[0], "pca_explained_2": ratio[1]}
    return row


def trajectory_table(path: np.ndarray, costs: np.ndarray):
    """A training run as a table: ``step``, ``cost``, ``theta`` (the parameter vector, a list)."""
    import pandas as pd

    return pd.DataFrame({"step": np.arange(len(path)), "cost": costs, "theta": [row.tolist() for row in path]})


def read_trajectory(paths) -> np.ndarray | None:
    """The trajectory (T, P) stored by :func:`trajectory_table`; None when ``paths`` is empty
    (a scan that needs no training)."""
    import pandas as pd

    paths = list(paths)
    if not paths:
        return None
    return np.stack(pd.read_parquet(paths[0])["theta"].to_numpy())
