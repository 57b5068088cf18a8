"""The batched statevector engine.

Why it exists: trainability sweeps evaluate millions of small circuits, and the libraries that
researchers use apply one gate to one state at a time through a Python stack (PennyLane,
qiskit-aer, lightning), or stream the whole batch through memory for every gate (a plain batched
simulator, memory-bound from about 14 qubits).  This engine evaluates S parameter draws of one
circuit structure at once and keeps the working set in cache:

* a circuit structure is compiled once (:mod:`qnnscope.sim.plan`): single-qubit chains fused
  into one 2×2 per sample, whole CZ ladders as one elementwise multiply, CNOT ladders as one
  gather; the compiled plan is cached per (structure, device, dtype) and reused across chunks;
* all per-sample gate matrices (McClean's random Pauli axes included) come from one vectorised
  torch expression — no Python loop over samples anywhere;
* on CPU the states evolve in :mod:`qnnscope.sim.kernels`, one sample per core at a time, so the
  state never leaves cache between gates; on CUDA (and whenever autograd is needed) the same
  plan runs as batched torch ops on a ``(2^n, S)`` state, amplitude-major and sample-minor.

Gradients: parameter shift for chosen parameters (all shifted copies in one batch), forward-mode
tangents for a few parameters (one extra state per parameter — the cheapest exact way to get the
cost and a few derivatives), adjoint differentiation for all parameters at constant memory (on
CPU the backward sweep runs in the compiled kernel, :func:`kernels.adjoint_sweep`; also as
:func:`vector_jacobian` for per-sample observables), and torch autograd through
:func:`expectation` when ``theta`` requires grad.  How it all fits: ``docs/engine.md``.

Validation (``tests/test_engine.py``, ``tests/test_kernel_adjoint.py``): states, costs and gradients against an explicit
dense-matrix oracle, PennyLane and qiskit-aer to 1e−10 in complex128; kernel = torch path;
adjoint = parameter shift = tangent = autograd; the exact variances of Cerezo et al. 2021 and
McClean et al. 2018.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from qnnscope.circuits.description import Circuit
from qnnscope.costs import Observable
from qnnscope.sim import kernels
from qnnscope.sim.layout import Program, lower
from qnnscope.sim.observables import observable_groups
from qnnscope.circuits.description import matrix
from qnnscope.sim.plan import AXIS, GROUP, Diagonal, OneQubit, Plan, compile_plan, wire_mask

CHUNK_BYTES = 64 * 2**20
"""Memory per chunk of samples (states plus per-sample gate matrices and their temporaries)."""
LANE_QUBITS = 8
"""Up to this many qubits the CPU kernel vectorises across samples (states are too short to
vectorise along); above it, one sample's state per core at a time stays in cache."""
REAL = {torch.complex64: torch.float32, torch.complex128: torch.float64}
_PAULI = torch.tensor([[[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]], dtype=torch.complex128)


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """'complex64' / 'complex128' (or the torch dtype) → torch dtype, with a clear error."""
    if isinstance(dtype, torch.dtype) and dtype in REAL:
        return dtype
    table = {"complex64": torch.complex64, "complex128": torch.complex128}
    if dtype not in table:
        raise ValueError(f"unknown dtype {dtype!r}; allowed: complex64, complex128")
    return table[dtype]


@dataclass
class Compiled:
    """A plan's constant tensors on one device and dtype (reused across samples and chunks)."""

    plan: Plan
    device: torch.device
    dtype: torch.dtype
    gate_steps: list[int]  # plan step index of each single-qubit step (= coefficient column)
    factor_index: dict[int, int]  # op index of every step factor -> its place in [rotations, fixed, I]
    fixed: torch.Tensor  # (n_fixed + 1, 2, 2): the fixed factors' matrices, then the identity
    chain: list[torch.Tensor]  # per chain position l: every step's l-th factor (identity past its end)
    vectors: dict  # the torch path's sign and index vectors, per distinct CZ/CNOT set, on first use
    program: Program | None  # CPU kernel program
    backward: tuple | None  # CPU adjoint sweep: (inverted rows, moment column per single-qubit step)
    fixed_axis: torch.Tensor  # (n_rot,) Pauli axis of fixed-axis rotations, −1 for RP
    rot_slot: torch.Tensor  # (n_rot,) trainable slot, −1 for fixed angle
    rot_angle: torch.Tensor  # (n_rot,) fixed angle, or the offset b of a trainable a·θ + b
    rot_scale: torch.Tensor  # (n_rot,) the factor a of a trainable a·θ + b (1 where fixed)
    rot_choice: torch.Tensor  # (n_rot,) choice slot, −1 for fixed axis
    group_factor: torch.Tensor  # (n_groups, GROUP) factor index of each Z-string term (the identity pads)

    @property
    def n(self) -> int:
        return self.plan.circuit.n_qubits

    @property
    def n_columns(self) -> int:
        """Coefficient columns: one per single-qubit step, then two per phase group."""
        return len(self.gate_steps) + 2 * len(self.plan.groups)

    def phase_index(self, j: int, masks=None) -> torch.Tensor:
        """(2^n,) which of group ``j``'s eight phases every basis state takes (logical layout, or
        the kernel's physical bit ``masks``)."""
        if masks is None:
            masks = [wire_mask(self.plan.circuit.ops[t].wires, n=self.n) for t in self.plan.groups[j][1]]
        key = ("phase index", tuple(masks))
        if key not in self.vectors:
            x = torch.arange(2**self.n, device=self.device)
            v = torch.zeros_like(x)
            for b, mask in enumerate(masks):
                v |= _parity(x & mask) << b
            self.vectors[key] = v
        return self.vectors[key]

    def z_vector(self, mask: int) -> torch.Tensor:
        """(2^n,) ±1: the Z string on the index bits ``mask``."""
        key = ("z", mask)
        if key not in self.vectors:
            x = torch.arange(2**self.n, device=self.device)
            self.vectors[key] = (1 - 2 * _parity(x & mask)).to(REAL[self.dtype])
        return self.vectors[key]

    def diag_vector(self, k: int) -> torch.Tensor:
        """(2^n, 1) signs of Diagonal step ``k`` (shared by every step with the same CZs)."""
        step = self.plan.steps[k]
        if step not in self.vectors:
            self.vectors[step] = torch.as_tensor(step.vector(self.n), dtype=REAL[self.dtype], device=self.device)[:, None]
        return self.vectors[step]

    def perm_vector(self, k: int, inverse: bool = False) -> torch.Tensor:
        """(2^n,) gather index of Permutation step ``k`` (or of its inverse)."""
        step = self.plan.steps[k]
        step = step.inverse() if inverse else step
        if step not in self.vectors:
            self.vectors[step] = torch.as_tensor(step.perm(self.n), device=self.device)
        return self.vectors[step]


def _parity(x: torch.Tensor) -> torch.Tensor:
    """Parity of the set bits of every entry (n ≤ 32)."""
    for shift in (16, 8, 4, 2, 1):
        x = x ^ (x >> shift)
    return x & 1


_CACHE: dict[tuple, Compiled] = {}
_BY_ID: dict[tuple, tuple[Circuit, Compiled]] = {}  # the same, by the circuit object's identity


def compile_circuit(circuit: Circuit, device: str | torch.device = "cpu", dtype="complex64",
                    phases: bool = True) -> Compiled:
    """Compile ``circuit`` for ``device``/``dtype`` once; later calls return the cached plan.
    ``phases=False`` lowers Z-string rotations to CNOTs and RZ (the noise models' primitive gates,
    whose rotation positions :func:`param_shift` must then share)."""
    dev, cdt = torch.device(device), resolve_dtype(dtype)
    fast = (id(circuit), str(dev), cdt, phases)  # hashing a deep circuit costs more than a small chunk's work
    if fast in _BY_ID and _BY_ID[fast][0] is circuit:
        return _BY_ID[fast][1]
    key = (circuit, str(dev), cdt, phases)
    if key in _CACHE:  # an equal circuit built again
        _BY_ID[fast] = (circuit, _CACHE[key])
        return _CACHE[key]
    plan = compile_plan(circuit, phases)
    rdt = REAL[cdt]
    program = lower(plan, rotate_layout=circuit.n_qubits > LANE_QUBITS) if dev.type == "cpu" else None
    rots = [plan.circuit.ops[i] for i in plan.rotations]
    gate_steps = [k for k, s in enumerate(plan.steps) if isinstance(s, OneQubit)]
    fixed = sorted({i for k in gate_steps for i in plan.steps[k].factors if i not in plan.rot_pos})
    factor_index = dict(plan.rot_pos)
    factor_index.update({i: len(rots) + j for j, i in enumerate(fixed)})
    identity = len(rots) + len(fixed)
    longest = max((len(plan.steps[k].factors) for k in gate_steps), default=0)
    chain = [[factor_index[plan.steps[k].factors[pos]] if pos < len(plan.steps[k].factors) else identity
              for k in gate_steps] for pos in range(longest)]
    compiled = Compiled(
        plan=plan,
        device=dev,
        dtype=cdt,
        gate_steps=gate_steps,
        factor_index=factor_index,
        fixed=torch.stack([torch.as_tensor(matrix(plan.circuit.ops[i]), dtype=cdt, device=dev) for i in fixed]
                          + [torch.eye(2, dtype=cdt, device=dev)]),
        chain=[torch.tensor(level, dtype=torch.long, device=dev) for level in chain],
        vectors={},
        program=program,
        backward=None,
        fixed_axis=torch.tensor([AXIS.get(op.gate, -1) for op in rots], dtype=torch.long, device=dev),
        rot_slot=torch.tensor([-1 if op.param is None else op.param for op in rots], dtype=torch.long, device=dev),
        rot_angle=torch.tensor([op.offset if op.is_trainable else op.angle for op in rots], dtype=rdt, device=dev),
        rot_scale=torch.tensor([op.scale for op in rots], dtype=rdt, device=dev),
        rot_choice=torch.tensor([-1 if op.choice is None else op.choice for op in rots], dtype=torch.long, device=dev),
        group_factor=torch.tensor([[factor_index[t] for t in terms] + [identity] * (GROUP - len(terms))
                                   for _, terms in plan.groups], dtype=torch.long, device=dev).reshape(-1, GROUP),
    )
    _CACHE[key] = compiled
    _BY_ID[fast] = (circuit, compiled)
    return compiled


def _rotation_axes(c: Compiled, choices: torch.Tensor) -> torch.Tensor:
    """(S, n_rot) Pauli axis of every rotation in every sample (per-sample for RP)."""
    axes = c.fixed_axis.expand(choices.shape[0], -1)
    if bool((c.rot_choice >= 0).any()):
        axes = torch.where(c.rot_choice >= 0, choices[:, c.rot_choice.clamp(min=0)], axes)
    return axes


def rotation_matrices(c: Compiled, theta: torch.Tensor, choices: torch.Tensor, offsets=None) -> torch.Tensor:
    """(S, n_rot, 2, 2) matrices R_P(φ) = cos(φ/2) I − i sin(φ/2) P, vectorised over everything,
    φ = a·θ + b for trainable rotations: with P = xX + yY + zZ (one-hot),
    R = [[c − isz, −sy − isx], [sy − isx, c + isz]]."""
    if theta.shape[1]:
        trainable = theta[:, c.rot_slot.clamp(min=0)] * c.rot_scale + c.rot_angle
        angles = torch.where(c.rot_slot >= 0, trainable, c.rot_angle)
    else:  # no trainable slot: every angle is fixed
        angles = c.rot_angle.expand(theta.shape[0], -1)
    if offsets is not None:
        angles = angles + offsets
    cos, sin = torch.cos(angles / 2), torch.sin(angles / 2)
    axes = _rotation_axes(c, choices)
    sx, sy, sz = (sin * (axes == a) for a in range(3))
    real = torch.stack([cos, -sy, sy, cos], -1)
    imag = torch.stack([-sz, -sx, -sx, sz], -1)
    return torch.complex(real, imag).to(c.dtype).reshape(*angles.shape, 2, 2)


def factor_matrices(c: Compiled, rot: torch.Tensor) -> torch.Tensor:
    """(S, n_rot + n_fixed + 1, 2, 2): every step factor's matrix per sample, indexed by
    ``c.factor_index`` (the last one is the identity)."""
    return torch.cat([rot, c.fixed.expand(rot.shape[0], -1, 2, 2)], 1)


_PHASE_BITS = torch.tensor([[(v >> b) & 1 for v in range(2**GROUP)] for b in range(GROUP)], dtype=torch.bool)


def step_matrices(c: Compiled, theta: torch.Tensor, choices: torch.Tensor, offsets=None, rot=None) -> torch.Tensor:
    """(S, n_columns, 2, 2): the fused matrix of every single-qubit step, per sample, by one
    batched product per chain position; then per phase group its table of 2^GROUP phases
    Π_b e^{∓iφ_b/2} (the diagonal of the terms' R_Z, by the parity bit b), as two 2×2 blocks."""
    if rot is None:
        rot = rotation_matrices(c, theta, choices, offsets)
    factors = factor_matrices(c, rot)
    if not c.chain:
        mats = rot.new_zeros(rot.shape[0], 0, 2, 2)
    else:
        mats = factors[:, c.chain[0]]
        for level in c.chain[1:]:
            mats = factors[:, level] @ mats
    if not len(c.group_factor):
        return mats
    d = factors[:, c.group_factor]  # (S, G, GROUP, 2, 2)
    bits = _PHASE_BITS.to(c.device)
    table = torch.where(bits, d[..., 1, 1, None], d[..., 0, 0, None]).prod(2)  # (S, G, 2^GROUP)
    return torch.cat([mats, table.reshape(table.shape[0], -1, 2, 2)], 1)


def apply_1q(psi: torch.Tensor, m: torch.Tensor, wire: int, n: int, out: torch.Tensor | None) -> torch.Tensor:
    """Apply per-sample 2×2 ``m`` (b, 2, 2) on ``wire`` of ``psi`` (2^n, b); into ``out`` if given
    (two fused passes, no allocation), else functionally (for autograd)."""
    b = psi.shape[1]
    view = psi.view(2**wire, 2, 2 ** (n - wire - 1), b)
    col0 = m[:, :, 0].transpose(0, 1).reshape(2, 1, b)
    col1 = m[:, :, 1].transpose(0, 1).reshape(2, 1, b)
    p0, p1 = view[:, 0:1], view[:, 1:2]
    if out is None:
        return (p0 * col0 + p1 * col1).reshape(psi.shape)
    o = out.view(view.shape)
    torch.mul(p0, col0, out=o)
    o.addcmul_(p1, col1)
    return out


def _zero_state(c: Compiled, b: int) -> torch.Tensor:
    psi = torch.zeros(2**c.n, b, dtype=c.dtype, device=c.device)
    psi[0] = 1
    return psi


def _phases(c: Compiled, mats: torch.Tensor, j: int) -> torch.Tensor:
    """(2^n, b): phase group ``j``'s phase of every basis state, per sample."""
    g = len(c.gate_steps) + 2 * j
    return mats[:, g:g + 2].reshape(mats.shape[0], -1)[:, c.phase_index(j)].T


def _groups_of(c: Compiled) -> dict[int, list[int]]:
    key = ("groups of",)
    if key not in c.vectors:
        c.vectors[key] = {}
        for j, (k, _) in enumerate(c.plan.groups):
            c.vectors[key].setdefault(k, []).append(j)
    return c.vectors[key]


def _run_torch(c: Compiled, mats: torch.Tensor, psi: torch.Tensor, functional: bool) -> torch.Tensor:
    """Apply every step to ``psi`` (2^n, b) with torch ops; ``mats`` is (b, n_columns, 2, 2)."""
    buf = None if functional else torch.empty_like(psi)
    col = 0
    groups = _groups_of(c)
    for k, step in enumerate(c.plan.steps):
        if isinstance(step, OneQubit):
            new = apply_1q(psi, mats[:, col], step.wire, c.n, buf)
            buf, psi = (None if functional else psi), new
            col += 1
        elif isinstance(step, Diagonal):
            factors = [c.diag_vector(k)] if step.pairs else []
            factors += [_phases(c, mats, j) for j in groups.get(k, [])]
            for f in factors:
                psi = psi * f if functional else psi.mul_(f)
        else:
            psi = psi[c.perm_vector(k)]
    return psi


def _planar(psi: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(b, 2^n) complex tensor → contiguous real and imaginary numpy arrays for the kernel."""
    return np.ascontiguousarray(psi.real.numpy()), np.ascontiguousarray(psi.imag.numpy())


def _kernel(c: Compiled, psi: torch.Tensor, coef: np.ndarray, rows: np.ndarray) -> torch.Tensor:
    """Run kernel program ``rows`` on batch-first states ``psi`` (b, 2^n) with coefficients
    ``coef`` (b, n_gate_steps, 8); returns the new states."""
    p = c.program
    if c.n <= LANE_QUBITS:
        re, im = _planar(psi.T)
        kernels.evolve_lanes(re, im, np.ascontiguousarray(coef.transpose(1, 2, 0)), rows, p.dterms, p.ddesc, p.dsign, p.ptables, c.n)
        return torch.complex(torch.from_numpy(re), torch.from_numpy(im)).T
    re, im = _planar(psi)
    kernels.evolve(re, im, coef, rows, p.dterms, p.ddesc, p.dsign, p.ptables, c.n)
    return torch.complex(torch.from_numpy(re), torch.from_numpy(im))


def kernel_coefficients(mats: torch.Tensor) -> np.ndarray:
    """(b, g, 2, 2) complex → (b, g, 8) real [re a, im a, re b, im b, re c, im c, re d, im d]
    (a phase group's two columns: its eight phases, re and im interleaved)."""
    b, g = mats.shape[:2]
    return np.ascontiguousarray(torch.view_as_real(mats.reshape(b, g, 4)).reshape(b, g, 8).numpy())


def final_states(c: Compiled, mats: torch.Tensor, functional: bool = False) -> torch.Tensor:
    """Final states (b, 2^n) for per-sample step matrices ``mats`` (b, n_gate_steps, 2, 2)."""
    b = mats.shape[0]
    if c.program is not None and not functional:
        psi = torch.zeros(b, 2**c.n, dtype=c.dtype)
        psi[:, 0] = 1
        return _kernel(c, psi, kernel_coefficients(mats), c.program.rows)
    return _run_torch(c, mats, _zero_state(c, b), functional).T


def chunk_size(c: Compiled, copies: int = 1) -> int:
    """Samples per chunk so that ``copies`` states per sample and the per-sample gate matrices
    (about 16 complex numbers per rotation while they are built) stay within CHUNK_BYTES."""
    item = torch.empty((), dtype=c.dtype).element_size()
    per = item * (copies * 2**c.n + 16 * len(c.plan.rotations))
    return max(1, CHUNK_BYTES // per)


def as_tensors(c: Compiled, theta, choices) -> tuple[torch.Tensor, torch.Tensor]:
    theta = torch.as_tensor(theta, device=c.device)
    if theta.dtype != REAL[c.dtype]:
        theta = theta.to(REAL[c.dtype])
    if choices is None or np.size(choices) == 0:
        choices = torch.zeros(theta.shape[0], 1, dtype=torch.long, device=c.device)
    return theta, torch.as_tensor(choices, dtype=torch.long, device=c.device)


class _Obs:
    """An observable's engine tensors: gather indices and coefficient vectors, batch-first."""

    def __init__(self, obs: Observable, c: Compiled):
        groups = observable_groups(obs)
        idx = torch.arange(2**obs.n_qubits, device=c.device) if any(groups) else None
        self.groups = []
        for mask in list(groups):
            vec = groups.pop(mask)  # release each host vector once it is on the device
            if not np.any(vec):
                continue
            real = not np.iscomplexobj(vec) or not np.any(vec.imag)
            t = torch.as_tensor(vec.real if real else vec, device=c.device)
            self.groups.append((None if mask == 0 else idx ^ mask, t.to(REAL[c.dtype] if real else c.dtype)))
        self.diagonal = len(self.groups) == 1 and self.groups[0][0] is None and not self.groups[0][1].is_complex()

    def apply(self, psi: torch.Tensor) -> torch.Tensor:
        """O ψ for states (b, 2^n)."""
        out = None
        for gather, coeff in self.groups:
            term = (psi if gather is None else psi[:, gather]) * coeff
            out = term if out is None else out + term
        if out is None:
            return torch.zeros_like(psi)
        return out

    def expect(self, psi: torch.Tensor) -> torch.Tensor:
        """⟨ψ|O|ψ⟩ per sample (b,); diagonal observables use |ψ|² without forming Oψ."""
        if self.diagonal:
            return torch.view_as_real(psi).square().sum(-1) @ self.groups[0][1]
        return (psi.conj() * self.apply(psi)).sum(1).real


def expectation(
    circuit: Circuit,
    observable: Observable,
    theta,
    choices=None,
    device="cpu",
    dtype="complex64",
    offsets: torch.Tensor | None = None,
) -> torch.Tensor:
    """⟨O⟩ for every sample, shape (S,).  Differentiable in ``theta`` when it requires grad."""
    c = compile_circuit(circuit, device, dtype)
    theta, choices = as_tensors(c, theta, choices)
    obs = _Obs(observable, c)
    functional = theta.requires_grad and torch.is_grad_enabled()
    size = theta.shape[0] if functional else chunk_size(c)
    out = []
    for s in range(0, theta.shape[0], size):
        sl = slice(s, s + size)
        off = None if offsets is None else offsets[sl]
        mats = step_matrices(c, theta[sl], choices[sl], off)
        out.append(obs.expect(final_states(c, mats, functional)))
    return torch.cat(out) if out else torch.empty(0, dtype=REAL[c.dtype])


def states(circuit: Circuit, theta, choices=None, device="cpu", dtype="complex64", kernel: bool = True) -> torch.Tensor:
    """Final states (S, 2^n), wire 0 most significant (for tests and small studies);
    ``kernel=False`` forces the torch path on CPU."""
    c = compile_circuit(circuit, device, dtype)
    theta, choices = as_tensors(c, theta, choices)
    return final_states(c, step_matrices(c, theta, choices), functional=not kernel)


def unitaries(circuit: Circuit, theta, choices=None, device="cpu", dtype="complex64") -> torch.Tensor:
    """The circuit's unitary for every sample, (S, 2^n, 2^n), wire 0 most significant; built by
    evolving the basis states on the torch path, so it is differentiable in ``theta``."""
    c = compile_circuit(circuit, device, dtype)
    theta, choices = as_tensors(c, theta, choices)
    s, d = theta.shape[0], 2**c.n
    mats = step_matrices(c, theta, choices).repeat_interleave(d, 0)
    basis = torch.eye(d, dtype=c.dtype, device=c.device).repeat(1, s)  # column s·d + k is e_k
    out = _run_torch(c, mats, basis, functional=True)
    return out.T.reshape(s, d, d).transpose(1, 2)


def _occurrences(c: Compiled, params) -> list[tuple[int, int]]:
    """(position in ``params``, rotation position) for every gate using each requested slot."""
    out = []
    for j, p in enumerate(params):
        if not 0 <= p < c.plan.circuit.n_params:
            raise ValueError(f"parameter index {p} outside 0..{c.plan.circuit.n_params - 1}")
        out += [(j, c.plan.rot_pos[g]) for g in c.plan.circuit.param_gates(p)]
    return out


def param_shift(circuit: Circuit, observable: Observable, theta, choices, params, device="cpu", dtype="complex64",
                expect=None):
    """Costs (S,) and ∂⟨O⟩/∂θ[p] (S, len(params)) by the two-term shift rule (R_P gates have
    eigenvalues ±1/2), summed over every primitive gate that uses slot p, each times its scale a;
    shifted copies run as one batch.
    ``expect`` replaces :func:`expectation` (same keywords), e.g. the noisy density-matrix one:
    the rule still holds when noise channels do not depend on θ."""
    c = compile_circuit(circuit, device, dtype, phases=expect is None)  # offsets index the rotations ``expect`` compiles
    theta, choices = as_tensors(c, theta, choices)
    S = theta.shape[0]
    columns = _occurrences(c, params)
    copies = 1 + 2 * len(columns)
    offsets = torch.zeros(copies, S, len(c.plan.rotations), dtype=theta.dtype, device=c.device)
    for k, (_, r) in enumerate(columns):
        offsets[1 + 2 * k, :, r] = math.pi / 2
        offsets[2 + 2 * k, :, r] = -math.pi / 2
    values = (expect or expectation)(
        circuit, observable, theta.repeat(copies, 1), choices.repeat(copies, 1), device=device, dtype=dtype,
        offsets=offsets.reshape(copies * S, -1),
    ).reshape(copies, S)
    grads = torch.zeros(S, len(params), dtype=values.dtype, device=c.device)
    for k, (j, r) in enumerate(columns):  # chain rule through φ = a·θ + b
        grads[:, j] += c.rot_scale[r] * (values[1 + 2 * k] - values[2 + 2 * k]) / 2
    return values[0], grads


def _generator_layout(c: Compiled, wanted: tuple[int, ...]) -> tuple:
    """Per trainable factor of the slots ``wanted``: its plan step, slot, scale, rotation
    position, and per level l the :func:`factor_matrices` index of the factor l places after it
    in its step (the identity past the step's end); cached per slot set."""
    key = ("generators", wanted)
    if key in c.vectors:
        return c.vectors[key]
    ops, identity, chosen = c.plan.circuit.ops, len(c.fixed) - 1 + len(c.plan.rotations), set(wanted)
    rows = []
    for k in c.gate_steps:
        factors = c.plan.steps[k].factors
        for pos, i in enumerate(factors):
            if ops[i].param in chosen:
                rows.append((k, ops[i].param, ops[i].scale, c.plan.rot_pos[i],
                             [c.factor_index[j] for j in factors[pos + 1:]]))
    depth = max((len(r[4]) for r in rows), default=0)
    later = [[r[4][level] if level < len(r[4]) else identity for r in rows] for level in range(depth)]
    layout = (
        [r[0] for r in rows],
        torch.tensor([r[1] for r in rows], dtype=torch.long, device=c.device),
        torch.tensor([r[2] for r in rows], dtype=REAL[c.dtype], device=c.device),
        torch.tensor([r[3] for r in rows], dtype=torch.long, device=c.device),
        [torch.tensor(level, dtype=torch.long, device=c.device) for level in later],
    )
    c.vectors[key] = layout
    return layout


def generator_stack(c: Compiled, choices: torch.Tensor, rot: torch.Tensor, slots=None):
    """Every trainable factor's generator moved to its step's output, in one batch:
    (plan step per factor, slot per factor, G (S, T, 2, 2)), G = a · A P A† with A the factors
    after it in its step and a its scale, so ∂(step output)/∂θ_slot = (−i/2) G · output."""
    wanted = tuple(range(c.plan.circuit.n_params)) if slots is None else tuple(sorted(set(slots)))
    steps, slot, scale, rot_pos, later = _generator_layout(c, wanted)
    pauli = _PAULI.to(device=c.device, dtype=c.dtype)[_rotation_axes(c, choices)[:, rot_pos]]
    g = pauli * scale[:, None, None].to(c.dtype)
    if later:
        mats = factor_matrices(c, rot)
        for index in later:
            f = mats[:, index]
            g = f @ g @ f.conj().transpose(-1, -2)
    return steps, slot, g


def generators(c: Compiled, theta: torch.Tensor, choices: torch.Tensor, slots=None, rot=None) -> dict[int, list[tuple[int, torch.Tensor]]]:
    """Per single-qubit step k: (slot, G) for each trainable factor (of ``slots``, default all),
    as :func:`generator_stack` computes them."""
    if rot is None:
        rot = rotation_matrices(c, theta, choices)
    steps, slot, g = generator_stack(c, choices, rot, slots)
    gens: dict[int, list[tuple[int, torch.Tensor]]] = {}
    for t, (k, p) in enumerate(zip(steps, slot.tolist())):
        gens.setdefault(k, []).append((p, g[:, t]))
    return gens


def tangent(circuit: Circuit, observable: Observable, theta, choices, params, dtype="complex64"):
    """Costs (S,) and ∂⟨O⟩/∂θ[p] (S, len(params)) by forward-mode differentiation on CPU: one
    tangent state per parameter rides along with the state from the parameter's first gate on,
    so cost + k derivatives cost 1 + k evolutions (parameter shift needs 1 + 2k)."""
    c = compile_circuit(circuit, "cpu", dtype)
    theta, choices = as_tensors(c, theta, choices)
    obs = _Obs(observable, c)
    S, k = theta.shape[0], len(params)
    _occurrences(c, params)
    index = {p: j for j, p in enumerate(params)}
    costs = torch.empty(S, dtype=REAL[c.dtype])
    grads = torch.zeros(S, k, dtype=REAL[c.dtype])
    size = chunk_size(c, 1 + k)
    prog, ops = c.program, c.plan.circuit.ops
    phase_groups = [j for j, (_, terms) in enumerate(c.plan.groups) if any(ops[t].param in index for t in terms)]
    for s in range(0, S, size):
        sl = slice(s, s + size)
        b = theta[sl].shape[0]
        rot = rotation_matrices(c, theta[sl], choices[sl])
        mats = step_matrices(c, theta[sl], choices[sl], rot=rot)
        gens = generators(c, theta[sl], choices[sl], params, rot=rot)
        coef = kernel_coefficients(mats)
        psi = torch.zeros(b, 2**c.n, dtype=c.dtype)
        psi[:, 0] = 1
        tangents: dict[int, torch.Tensor] = {}
        done = 0
        events = sorted([(prog.gate_row[kk], 0, kk) for kk in gens] + [(prog.phase_row[j], 1, j) for j in phase_groups])
        for row, kind, kk in events + [(len(prog.rows) - 1, None, None)]:
            stop = row + 1
            if stop > done:
                batch = torch.cat([psi] + list(tangents.values()))
                batch = _kernel(c, batch, np.tile(coef, (1 + len(tangents), 1, 1)), prog.rows[done:stop])
                parts = batch.split(b)
                psi, tangents = parts[0], dict(zip(tangents, parts[1:]))
                done = stop
            if kind is None:
                break
            if kind == 0:
                injections = []
                for slot, g in gens[kk]:
                    gate = np.array([[kernels.GATE, prog.phys_wire[kk], 0]])
                    injections.append((slot, _kernel(c, psi, kernel_coefficients((-0.5j * g)[:, None]), gate)))
            else:  # ∂/∂θ of exp(−iφZ_S/2), φ = aθ + b: (−ia/2) Z_S ψ (the step's diagonals commute)
                injections = [(ops[t].param, psi * (c.z_vector(prog.phase_masks[kk][pos]) * (-0.5j * ops[t].scale)))
                              for pos, t in enumerate(c.plan.groups[kk][1]) if ops[t].param in index]
            for slot, inj in injections:
                tangents[slot] = tangents[slot] + inj if slot in tangents else inj
        lam = obs.apply(psi)
        costs[sl] = (psi.conj() * lam).sum(1).real
        for slot, t in tangents.items():
            grads[sl, index[slot]] = 2 * (lam.conj() * t).sum(1).real
    return costs, grads


def _backward_program(c: Compiled) -> tuple[np.ndarray, np.ndarray]:
    """The CPU kernel's inverted program, cut after the first step with a trainable factor, and
    per single-qubit step its moment column (−1 where it has no trainable factor)."""
    if c.backward is not None:
        return c.backward
    prog, n, ops = c.program, c.n, c.plan.circuit.ops
    trainable = [any(ops[i].is_trainable for i in c.plan.steps[k].factors) for k in c.gate_steps]
    moment = np.full(len(c.gate_steps), -1, dtype=np.int64)
    columns = [j for j, t in enumerate(trainable) if t]
    moment[columns] = np.arange(len(columns))
    rows = []
    for kind, a, b in prog.rows[::-1]:
        if kind == kernels.PERM:
            rows.append((kind, b, a))
        elif kind == kernels.ROTATE:
            rows.append((kind, n - a, 0))
        else:
            rows.append((kind, a, b))
    trainable_groups = {len(c.gate_steps) + 2 * j for j, (_, terms) in enumerate(c.plan.groups)
                        if any(ops[t].is_trainable for t in terms)}
    last = [r for r, (kind, _, b) in enumerate(rows)
            if (kind == kernels.GATE and moment[b] >= 0) or (kind == kernels.PHASE and b in trainable_groups)]
    rows = rows[: last[-1] + 1] if last else []
    c.backward = (np.asarray(rows, dtype=np.int64).reshape(-1, 3), moment)
    return c.backward


def _sweep(c: Compiled, choices: torch.Tensor, rot: torch.Tensor, mats: torch.Tensor, psi: torch.Tensor,
           lam: torch.Tensor) -> torch.Tensor:
    """∂⟨ψ|O|ψ⟩/∂θ (S, n_params) float64 from final states ψ and λ = Oψ (S, 2^n), by the CPU
    kernel's backward sweep (:func:`kernels.adjoint_sweep`); ``mats`` are the step matrices."""
    rows, moment = _backward_program(c)
    grads = torch.zeros(psi.shape[0], c.plan.circuit.n_params, dtype=torch.float64)
    if not len(rows):
        return grads
    gs = len(c.gate_steps)
    out = np.zeros((psi.shape[0], max(int(moment.max(initial=-1)) + 1, c.n_columns if c.plan.groups else 0), 8))
    (re, im), (lre, lim) = _planar(psi), _planar(lam)
    coef = kernel_coefficients(torch.cat([mats[:, :gs].conj().transpose(-1, -2), mats[:, gs:].conj()], 1))
    p = c.program
    kernels.adjoint_sweep(re, im, lre, lim, coef, moment, rows, p.dterms, p.ddesc, p.dsign, p.ptables, c.n, out)
    steps, slot, g = generator_stack(c, choices, rot)
    if steps:
        if ("moments", len(steps)) not in c.vectors:  # each factor's moment column, once per plan
            c.vectors[("moments", len(steps))] = torch.as_tensor(moment[[c.program.column[k] for k in steps]])
        m = torch.view_as_complex(torch.from_numpy(out).reshape(*out.shape[:2], 4, 2))[:, c.vectors[("moments", len(steps))]]
        grads.index_add_(1, slot, (g.reshape(*g.shape[:2], 4).to(torch.complex128) * m).sum(-1).imag)
    terms = _phase_terms(c)
    if len(terms[0]):  # ∂C/∂φ = Im Σ λ̄ z ψ of each trainable Z-string term, times its scale a
        slot, scale, column, part = terms
        grads.index_add_(1, slot, torch.from_numpy(out[:, column, part]) * scale)
    return grads


def _phase_terms(c: Compiled) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]:
    """Per trainable Z-string term: its slot, scale a, moment column and the place of its
    moment's imaginary part there (:func:`kernels.adjoint_sweep`)."""
    key = ("phase terms",)
    if key not in c.vectors:
        ops, rows = c.plan.circuit.ops, []
        for j, (_, terms) in enumerate(c.plan.groups):
            rows += [(ops[t].param, ops[t].scale, len(c.gate_steps) + 2 * j, 2 * b + 1)
                     for b, t in enumerate(terms) if ops[t].is_trainable]
        slot, scale, column, part = zip(*rows) if rows else ((), (), (), ())
        c.vectors[key] = (torch.tensor(slot, dtype=torch.long), torch.tensor(scale, dtype=torch.float64),
                          np.array(column, dtype=np.int64), np.array(part, dtype=np.int64))
    return c.vectors[key]


def vector_jacobian(circuit: Circuit, theta, lam, psi=None, choices=None, dtype="complex64") -> torch.Tensor:
    """Σ_s ∂⟨ψ_s|O_s|ψ_s⟩/∂θ_s for per-sample observables given only through λ_s = O_s ψ_s (S, 2^n)
    at the final states ψ (recomputed when not given): the backward pass of any loss built from
    the final states (e.g. weighted ⟨Z_q⟩ outputs of a layer), on the CPU kernel.  Returns
    (S, n_params) in the real dtype."""
    c = compile_circuit(circuit, "cpu", dtype)
    theta, choices = as_tensors(c, theta, choices)
    if psi is None:
        rot, mats, psi = _forward(c, theta, choices)
    else:
        rot = rotation_matrices(c, theta, choices)
        mats, psi = step_matrices(c, theta, choices, rot=rot), psi.to(c.dtype)
    return _sweep(c, choices, rot, mats, psi, lam.to(c.dtype)).to(REAL[c.dtype])


def _forward(c: Compiled, theta: torch.Tensor, choices: torch.Tensor):
    """Rotation matrices, step matrices and final states of a chunk on the CPU kernel."""
    rot = rotation_matrices(c, theta, choices)
    mats = step_matrices(c, theta, choices, rot=rot)
    return rot, mats, final_states(c, mats)


def _adjoint_kernel(c: Compiled, obs: _Obs, theta: torch.Tensor, choices: torch.Tensor):
    """Costs and all gradients of one chunk on the CPU kernel."""
    rot, mats, psi = _forward(c, theta, choices)
    lam = obs.apply(psi)
    costs = (psi.conj() * lam).sum(1).real
    return costs, _sweep(c, choices, rot, mats, psi, lam).to(REAL[c.dtype])


def adjoint(circuit: Circuit, observable: Observable, theta, choices=None, device="cpu", dtype="complex64",
            kernel: bool = True):
    """Costs (S,) and the full gradient (S, n_params) by adjoint differentiation: memory is two
    states per sample whatever the depth (the forward state is un-computed gate by gate
    alongside the back-propagated λ = U†…O ψ).  On CPU the backward sweep runs in the compiled
    kernel, one sample per core; on CUDA (or ``kernel=False``) as batched torch operations."""
    c = compile_circuit(circuit, device, dtype)
    theta, choices = as_tensors(c, theta, choices)
    obs = _Obs(observable, c)
    S, n = theta.shape[0], c.n
    costs = torch.empty(S, dtype=REAL[c.dtype], device=c.device)
    grads = torch.zeros(S, circuit.n_params, dtype=REAL[c.dtype], device=c.device)
    size = chunk_size(c, 4)
    for s in range(0, S, size):
        sl = slice(s, s + size)
        if c.program is not None and kernel:
            costs[sl], grads[sl] = _adjoint_kernel(c, obs, theta[sl], choices[sl])
            continue
        b = theta[sl].shape[0]
        rot = rotation_matrices(c, theta[sl], choices[sl])
        mats = step_matrices(c, theta[sl], choices[sl], rot=rot)
        gens = generators(c, theta[sl], choices[sl], rot=rot)
        psi = final_states(c, mats, functional=c.program is None or not kernel)
        lam = obs.apply(psi)
        costs[sl] = (psi.conj() * lam).sum(1).real
        psi, lam = psi.T.contiguous(), lam.T.contiguous()
        buf, lbuf = torch.empty_like(psi), torch.empty_like(lam)
        col, groups = len(c.gate_steps), _groups_of(c)
        for k in range(len(c.plan.steps) - 1, -1, -1):
            step = c.plan.steps[k]
            if isinstance(step, OneQubit):
                col -= 1
                if k in gens:
                    v = 2**step.wire, 2, 2 ** (n - step.wire - 1), b
                    lv, pv = lam.view(v).conj(), psi.view(v)  # m[s, a, b] = Σ_{l,r} λ̄[l,a,r,s] ψ[l,b,r,s]
                    m = torch.stack([torch.stack([(lv[:, a] * pv[:, b]).sum((0, 1)) for b in (0, 1)], -1)
                                     for a in (0, 1)], -2)
                    for slot, g in gens[k]:
                        grads[sl, slot] += (g * m).sum((-1, -2)).imag
                inv = mats[:, col].conj().transpose(-1, -2)
                psi, buf = apply_1q(psi, inv, step.wire, n, buf), psi
                lam, lbuf = apply_1q(lam, inv, step.wire, n, lbuf), lam
            elif isinstance(step, Diagonal):
                ops = c.plan.circuit.ops
                for j in groups.get(k, []):
                    for t in c.plan.groups[j][1]:
                        if ops[t].is_trainable:  # ∂C/∂φ = Im Σ λ̄ z ψ, at any point of the commuting step
                            z = c.z_vector(wire_mask(ops[t].wires, n=n))[:, None]
                            grads[sl, ops[t].param] += ops[t].scale * (lam.conj() * z * psi).sum(0).imag
                    phase = _phases(c, mats, j).conj()
                    psi.mul_(phase)
                    lam.mul_(phase)
                if step.pairs:
                    psi.mul_(c.diag_vector(k))
                    lam.mul_(c.diag_vector(k))
            else:
                inverse = c.perm_vector(k, inverse=True)
                psi, lam = psi[inverse], lam[inverse]
    return costs, grads


def work_estimate(circuit: Circuit, n_samples: int, n_evolutions: int = 2, dtype="complex64") -> dict[str, float]:
    """Memory traffic (bytes) and flops of evolving ``n_evolutions`` states per sample through the
    kernel program: per gate one read and one write of the state and 16 real flops per amplitude
    (two complex multiply-adds); per diagonal, permutation or rotation one read and one write."""
    program = lower(compile_plan(circuit))
    amps = 2**circuit.n_qubits * n_samples * n_evolutions
    item = 8 if dtype == "complex64" else 16
    gates = int((program.rows[:, 0] == kernels.GATE).sum())
    others = len(program.rows) - gates
    return {"bytes": float(2 * amps * item * (gates + others)), "flops": float(16 * amps * gates)}


OBSERVABLE_BYTES = 32
"""Bytes per basis state of the observable's vectors while they are built (complex128 groups, their
device copy and the gather index); the compiled plan itself holds no array over basis states."""
STATES_PER_SAMPLE = 4
"""Full states per sample the engine holds at once at worst (ψ, λ and two work buffers of the
adjoint sweep); measured peaks at n = 18–20 sit below this count."""
PROCESS_BYTES = 600 * 2**20
"""A worker process with torch, numpy and the engine imported, before any state."""


def peak_bytes(n_qubits: int, batch: int, dtype: str = "complex64", density: bool = False) -> int:
    """Upper estimate of a job's peak memory for ``batch`` samples of an ``n_qubits`` circuit at
    once (density matrices hold 4^n amplitudes): states, the observable's vectors and the
    process itself.  Validation compares it with the memory there is before any job runs."""
    item = 8 if dtype == "complex64" else 16
    amplitudes = 4**n_qubits if density else 2**n_qubits
    return PROCESS_BYTES + OBSERVABLE_BYTES * 2**n_qubits + STATES_PER_SAMPLE * batch * amplitudes * item
