"""Dissipative perceptron-based quantum neural networks (Beer et al., Nat. Commun. 11, 808 (2020)).

A network has widths [m_0, m_1, …, m_L].  Layer l applies its perceptrons U^l_1 … U^l_{m_l} in
that order to the layer's input qubits (the m_{l−1} outputs of the previous layer) and its m_l
output qubits, which start in |0⟩; perceptron j acts on its input qubits and output qubit j.
The input qubits are then traced out:

    E^l(X) = tr_{l−1}[ U^l (X ⊗ |0…0⟩⟨0…0|) U^l† ],   U^l = U^l_{m_l} ⋯ U^l_1.

Perceptron families (``family``):

- ``general``: an arbitrary unitary on all m_{l−1} inputs and the output, U = exp(iK) with
  K = Σ_P k_P P over the non-identity Pauli strings of those m_{l−1} + 1 qubits
  (4^(m_{l−1}+1) − 1 parameters); Haar-random at initialisation (:func:`draw`).
- ``deep``: the hardware-efficient circuit :func:`qnnscope.circuits.ansatze.hea` of ``depth``
  layers (RY and RZ on every qubit, then a CNOT ladder) on all inputs and the output; deep
  circuits approach a 2-design (Sharma et al. 2022, Theorem 1).
- ``local``: shallow perceptrons on few qubits.  ``locality = 1`` (Sharma et al. Fig. 3a):
  perceptron j acts on input j and output j as SWAP, then RY(θ) on the output.
  ``locality = m ≥ 2`` (Fig. 3b): perceptron j acts on inputs j … j+m−1 (those that exist) and
  output j as one two-qubit block per input i: RY(a) on i, RY(b) on the output, CNOT(i → output).
  Local networks need equal widths.

Inside a perceptron's unitary the qubit order is (inputs in the listed order, output), the first
qubit most significant.  Simulation (:func:`run`) is batched over samples and chooses, per
network, between layer-by-layer density matrices (each input qubit is traced out as soon as no
later perceptron of its layer uses it, so the peak is at most 4^(m_{l−1}+m_l)) and one pure state
of every qubit the network ever uses (2^(Σ m_l), a purification), whichever is smaller.
Everything is differentiable in the parameters (torch autograd).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from qnnscope import haar, sampling
from qnnscope.circuits.ansatze import hea
from qnnscope.circuits.description import Circuit, Op, assemble
from qnnscope.sim import engine

FAMILIES = ("general", "deep", "local")


@dataclass(frozen=True)
class Perceptron:
    """Perceptron ``index`` (output qubit j) of layer ``layer`` (1 … L)."""

    layer: int
    index: int
    inputs: tuple[int, ...]
    offset: int
    n_params: int

    @property
    def n_qubits(self) -> int:
        return len(self.inputs) + 1


def _local_circuit(n_inputs: int, locality: int) -> Circuit:
    """A local perceptron on (inputs…, output) = wires (0 … n_inputs−1, n_inputs)."""
    out = n_inputs
    if locality == 1:
        swap = [Op("CNOT", (0, out)), Op("CNOT", (out, 0)), Op("CNOT", (0, out))]
        return assemble(2, [swap + [Op("RY", (out,), param=0)]], (), "local1")
    ops: list[Op] = []
    for i in range(n_inputs):
        ops += [Op("RY", (i,), param=2 * i), Op("RY", (out,), param=2 * i + 1), Op("CNOT", (i, out))]
    return assemble(n_inputs + 1, [ops], (), f"local{locality}")


@dataclass(frozen=True)
class DQNN:
    """A dissipative QNN of the given widths and perceptron family (see the module docstring)."""

    widths: tuple[int, ...]
    family: str = "general"
    depth: int = 1
    locality: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        if len(self.widths) < 2 or min(self.widths) < 1:
            raise ValueError(f"widths: need at least two layers of at least one qubit, got {list(self.widths)}")
        if self.family not in FAMILIES:
            raise ValueError(f"family: unknown perceptron family {self.family!r}; allowed: {', '.join(FAMILIES)}")
        if self.depth < 1:
            raise ValueError(f"depth: must be >= 1, got {self.depth}")
        if self.family == "local":
            if self.locality < 1:
                raise ValueError(f"locality: must be >= 1, got {self.locality}")
            if len(set(self.widths)) != 1:
                raise ValueError(f"widths: local perceptrons need equal widths, got {list(self.widths)}")
        if self.family == "general" and max(a + 1 for a in self.widths[:-1]) > 8:
            raise ValueError(f"widths: a general perceptron on {max(self.widths[:-1]) + 1} qubits has "
                             f"4^{max(self.widths[:-1]) + 1} − 1 parameters; at most 8 qubits are allowed")

    @property
    def n_layers(self) -> int:
        return len(self.widths) - 1

    def _inputs(self, m_in: int, j: int) -> tuple[int, ...]:
        if self.family == "local":
            return tuple(range(j, min(j + self.locality, m_in)))
        return tuple(range(m_in))

    def _count(self, n_inputs: int) -> int:
        if self.family == "general":
            return 4 ** (n_inputs + 1) - 1
        return self.circuit(n_inputs).n_params

    @cached_property
    def layers(self) -> tuple[tuple[Perceptron, ...], ...]:
        layers, offset = [], 0
        for l in range(1, len(self.widths)):
            row = []
            for j in range(self.widths[l]):
                inputs = self._inputs(self.widths[l - 1], j)
                count = self._count(len(inputs))
                row.append(Perceptron(l, j, inputs, offset, count))
                offset += count
            layers.append(tuple(row))
        return tuple(layers)

    @property
    def perceptrons(self) -> list[Perceptron]:
        return [p for row in self.layers for p in row]

    @property
    def n_params(self) -> int:
        last = self.perceptrons[-1]
        return last.offset + last.n_params

    def circuit(self, n_inputs: int) -> Circuit:
        """The circuit of a ``deep`` or ``local`` perceptron with ``n_inputs`` inputs."""
        if self.family == "deep":
            return hea(n_inputs + 1, self.depth)
        if self.family == "local":
            return _local_circuit(n_inputs, self.locality)
        raise ValueError("general perceptrons are exp(iK), not circuits")

    def unitaries(self, theta: torch.Tensor, dtype="complex128") -> list[list[torch.Tensor]]:
        """Per layer, per perceptron: the (S, d, d) unitaries for parameters ``theta`` (S, n_params)."""
        theta = torch.as_tensor(theta)
        ctype = engine.resolve_dtype(dtype)
        theta = theta.to(engine.REAL[ctype])
        if theta.ndim != 2 or theta.shape[1] != self.n_params:
            raise ValueError(f"theta: expected shape (samples, {self.n_params}), got {tuple(theta.shape)}")
        out = []
        for row in self.layers:
            mats = []
            for p in row:
                t = theta[:, p.offset:p.offset + p.n_params]
                if self.family == "general":
                    coeffs = torch.cat([torch.zeros_like(t[:, :1]), t], dim=1).to(ctype)
                    k = haar.from_pauli_coefficients(coeffs, p.n_qubits)
                    mats.append(torch.linalg.matrix_exp(1j * k))
                else:
                    mats.append(engine.unitaries(self.circuit(len(p.inputs)), t, device=t.device, dtype=ctype))
            out.append(mats)
        return out

    def modes(self, pure_input: bool = True) -> dict[str, int]:
        """Peak register sizes (qubits) of the two simulation strategies: 'density' counts a
        density matrix as twice its qubits; 'pure' is every qubit of the network."""
        peak = 0
        for l, row in enumerate(self.layers, start=1):
            last = _last_use(row, self.widths[l - 1])
            live = sum(1 for k in last.values() if k >= 0)
            for j, _ in enumerate(row):
                live += 1
                peak = max(peak, live)
                live -= sum(1 for i, k in last.items() if k == j)
            peak = max(peak, live)
        out = {"density": 2 * peak}
        if pure_input:
            out["pure"] = sum(self.widths)
        return out

    def choose_mode(self, pure_input: bool = True) -> str:
        sizes = self.modes(pure_input)
        return min(sizes, key=lambda k: (sizes[k], k != "pure"))


def _last_use(row: tuple[Perceptron, ...], m_in: int) -> dict[int, int]:
    """Input qubit → index of the last perceptron of the layer that uses it (−1: none does)."""
    last = {i: -1 for i in range(m_in)}
    for j, p in enumerate(row):
        for i in p.inputs:
            last[i] = j
    return last


# --- batched simulation ------------------------------------------------------------------------

def _apply(x: torch.Tensor, u: torch.Tensor, pos: list[int], k: int) -> torch.Tensor:
    """U (B, d, d) on register positions ``pos`` of ``x`` (B, 2^k, R)."""
    b, _, r = x.shape
    q = len(pos)
    t = x.reshape(b, *([2] * k), r)
    src = [1 + p for p in pos]
    front = list(range(1, 1 + q))
    t = torch.movedim(t, src, front)
    shape = t.shape
    t = torch.bmm(u, t.reshape(b, 2**q, -1)).reshape(shape)
    return torch.movedim(t, front, src).reshape(b, 2**k, r)


def _add_zero(x: torch.Tensor, density: bool) -> torch.Tensor:
    """Append a qubit in |0⟩ as the least significant one."""
    if density:
        b, dim, _ = x.shape
        return torch.nn.functional.pad(x.reshape(b, dim, 1, dim, 1), (0, 1, 0, 0, 0, 1)).reshape(b, 2 * dim, 2 * dim)
    b, dim, r = x.shape
    return torch.nn.functional.pad(x.reshape(b, dim, 1, r), (0, 0, 0, 1)).reshape(b, 2 * dim, r)


def _trace_out(rho: torch.Tensor, pos: list[int], k: int) -> torch.Tensor:
    """Partial trace of (B, 2^k, 2^k) over register positions ``pos``."""
    b = rho.shape[0]
    t = rho.reshape(b, *([2] * (2 * k)))
    ket = list(range(1, k + 1))
    bra = [k + 1 + i for i in range(k)]
    for p in pos:
        bra[p] = ket[p]
    keep = [i for i in range(k) if i not in pos]
    out = [0] + [ket[i] for i in keep] + [bra[i] for i in keep]
    dim = 2 ** len(keep)
    return torch.einsum(t, [0] + ket + bra, out).reshape(b, dim, dim)


@dataclass
class Output:
    """The network's output for every sample: a density matrix of the output qubits ('density')
    or a pure state whose least significant qubits are the outputs ('pure')."""

    mode: str
    tensor: torch.Tensor
    n_out: int

    def density(self) -> torch.Tensor:
        """(B, 2^m, 2^m) output density matrices."""
        if self.mode == "density":
            return self.tensor
        psi = self.tensor.reshape(self.tensor.shape[0], -1, 2**self.n_out)
        return torch.einsum("bri,brj->bij", psi, psi.conj())

    def fidelity(self, target: torch.Tensor) -> torch.Tensor:
        """⟨φ|ρ|φ⟩ per sample for pure targets (B, 2^m) (or (2^m,) for all)."""
        target = torch.as_tensor(target).to(self.tensor.dtype).expand(self.tensor.shape[0], -1)
        if self.mode == "density":
            return torch.einsum("bi,bij,bj->b", target.conj(), self.tensor, target).real
        psi = self.tensor.reshape(self.tensor.shape[0], -1, 2**self.n_out)
        amp = torch.einsum("bri,bi->br", psi, target.conj())
        return (amp.real.square() + amp.imag.square()).sum(1)

    def marginals(self) -> torch.Tensor:
        """(B, m, 2, 2): the reduced state of each output qubit."""
        b, m = self.tensor.shape[0], self.n_out
        out = []
        for j in range(m):
            if self.mode == "density":
                t = self.tensor.reshape(b, 2**j, 2, 2 ** (m - j - 1), 2**j, 2, 2 ** (m - j - 1))
                out.append(torch.einsum("baicajc->bij", t))
            else:
                t = self.tensor.reshape(b, -1, 2, 2 ** (m - j - 1))
                out.append(torch.einsum("baic,bajc->bij", t, t.conj()))
        return torch.stack(out, 1)


def run(net: DQNN, theta: torch.Tensor, inputs: torch.Tensor, mode: str = "auto", dtype="complex128") -> Output:
    """Propagate inputs through the network.

    ``theta`` (S, n_params); ``inputs``: pure states (N, 2^m_0) or density matrices
    (N, 2^m_0, 2^m_0), N = 1 or N = S·n for n inputs per sample (sample-major: rows s·n … s·n+n−1
    belong to sample s).  Returns the outputs of all S·n (or S) input–parameter pairs."""
    return propagate(net, net.unitaries(torch.as_tensor(theta), dtype), inputs, mode)


def propagate(net: DQNN, mats: list[list[torch.Tensor]], inputs: torch.Tensor, mode: str = "auto") -> Output:
    """:func:`run` for given perceptron unitaries (per layer, per perceptron, (S, d, d))."""
    ctype = mats[0][0].dtype
    inputs = torch.as_tensor(inputs).to(ctype)
    dim = 2 ** net.widths[0]
    if inputs.ndim not in (2, 3) or inputs.shape[1] != dim or (inputs.ndim == 3 and inputs.shape[2] != dim):
        raise ValueError(f"inputs: expected (N, {dim}) states or (N, {dim}, {dim}) density matrices for "
                         f"{net.widths[0]} input qubits, got shape {tuple(inputs.shape)}")
    pure = inputs.ndim == 2
    if mode == "auto":
        mode = net.choose_mode(pure)
    if mode not in ("density", "pure") or (mode == "pure" and not pure):
        raise ValueError(f"mode: {mode!r} is not possible here; allowed: auto, density" + (", pure" if pure else ""))
    samples = mats[0][0].shape[0]
    if inputs.shape[0] % samples and inputs.shape[0] != 1:
        raise ValueError(f"inputs: {inputs.shape[0]} rows is neither 1 nor a multiple of {samples} samples")
    per = max(1, inputs.shape[0] // samples)
    mats = [[u.repeat_interleave(per, 0) for u in row] for row in mats]
    batch = samples * per
    if mode == "density":
        x = inputs if not pure else torch.einsum("bi,bj->bij", inputs, inputs.conj())
        x = x.expand(batch, -1, -1)
    else:
        x = inputs.expand(batch, -1).unsqueeze(-1)
    density = mode == "density"
    register = [(0, i) for i in range(net.widths[0])]  # (layer, qubit) of each register position
    for l, row in enumerate(net.layers, start=1):
        m_in = net.widths[l - 1]
        last = _last_use(row, m_in)
        layer_in = [(l - 1, i) for i in range(m_in)]
        if density:
            unused = [register.index(layer_in[i]) for i, k in last.items() if k == -1]
            if unused:
                x = _trace_out(x, unused, len(register))
                register = [r for i, r in enumerate(register) if i not in unused]
        for j, p in enumerate(row):
            x = _add_zero(x, density)
            register.append((l, j))
            pos = [register.index(layer_in[i]) for i in p.inputs] + [len(register) - 1]
            x = _apply(x, mats[l - 1][j], pos, len(register))
            if density:
                x = _apply(x.conj().transpose(1, 2), mats[l - 1][j], pos, len(register))
                done = [register.index(layer_in[i]) for i, k in last.items() if k == j]
                if done:
                    x = _trace_out(x, done, len(register))
                    register = [r for i, r in enumerate(register) if i not in done]
    if density:
        return Output("density", x, net.widths[-1])
    return Output("pure", x.squeeze(-1), net.widths[-1])


# --- costs ---------------------------------------------------------------------------------------

def global_cost(out: Output, targets: torch.Tensor, per_sample: int = 1) -> torch.Tensor:
    """C_G = 1 − (1/N) Σ_x ⟨φ_x|ρ_x|φ_x⟩ per sample, over its ``per_sample`` training pairs."""
    f = out.fidelity(targets)
    return 1 - f.reshape(-1, per_sample).mean(1)


def local_cost(out: Output, targets: torch.Tensor, per_sample: int = 1) -> torch.Tensor:
    """C_L = 1 − (1/m) Σ_j ⟨ψ_j|ρ_j|ψ_j⟩ per sample for product targets ⊗_j |ψ_j⟩, given as
    their factors (B or 1, m, 2) or as the product states themselves (B or 1, 2^m), whose
    single-qubit marginals τ_j = |ψ_j⟩⟨ψ_j| give ⟨ψ_j|ρ_j|ψ_j⟩ = tr(τ_j ρ_j)."""
    rho = out.marginals()
    targets = torch.as_tensor(targets).to(rho.dtype)
    if targets.ndim == 3:
        tau = torch.einsum("bji,bjk->bjik", targets, targets.conj())
    else:
        tau = Output("pure", targets, out.n_out).marginals()
    tau = tau.expand(rho.shape[0], -1, -1, -1)
    f = torch.einsum("bjik,bjki->bj", tau, rho).real.mean(1)
    return 1 - f.reshape(-1, per_sample).mean(1)


def chain_costs(net: DQNN, theta: torch.Tensor, inputs: torch.Tensor, targets: torch.Tensor, cost: str,
                dtype="complex128") -> torch.Tensor:
    """Costs (S,) of a ``local1`` network on product inputs and product targets, given as their
    single-qubit factors (N, m, 2) for N training pairs shared by all samples.

    Perceptron j of every layer acts on qubit j only (SWAP, then RY), so the network is m
    independent chains 1 → 1 → … → 1 and the output is the product of the chains' outputs: the
    fidelity with a product target is the product of the chains' fidelities, and the local cost
    averages them.  All S·m chains run as one batch of the (1, …, 1) network, so n = 20 or 100
    qubits cost no more than n chains of L + 1 qubits."""
    theta, inputs, targets = (torch.as_tensor(x) for x in (theta, inputs, targets))
    if net.family != "local" or net.locality != 1:
        raise ValueError(f"ansatz: chain factorisation needs local1 perceptrons, got {net.family} (locality {net.locality})")
    m, layers = net.widths[0], net.n_layers
    chain = DQNN((1,) * (layers + 1), "local", locality=1)
    s, n_pairs = theta.shape[0], inputs.shape[0]
    slots = torch.tensor([[p.offset for p in net.perceptrons if p.index == j] for j in range(m)])  # (m, L)
    per_chain = theta[:, slots].reshape(s * m, layers)
    rows = inputs.transpose(0, 1).reshape(1, m, n_pairs, 2).expand(s, -1, -1, -1).reshape(s * m * n_pairs, 2)
    goal = targets.transpose(0, 1).reshape(1, m, n_pairs, 2).expand(s, -1, -1, -1).reshape(s * m * n_pairs, 2)
    f = run(chain, per_chain, rows, mode="pure", dtype=dtype).fidelity(goal.to(engine.resolve_dtype(dtype)))
    f = f.reshape(s, m, n_pairs)
    if cost == "global":
        return 1 - f.prod(1).mean(1)
    if cost == "local":
        return 1 - f.mean(1).mean(1)
    raise ValueError(f"cost: {cost!r}; allowed: global, local")


# --- parameters ----------------------------------------------------------------------------------

INITS = ("haar", "uniform", "uniform_sym", "uniform_half", "normal")
"""Parameter distributions: ``haar`` for general perceptrons; angle distributions (see
:data:`qnnscope.sampling.INITS`) for circuit perceptrons."""


def check_init(net: DQNN, init: str | None, sigma: float | None = None) -> str:
    """The parameter distribution to use (``init``, or the family's default); a ValueError
    naming ``init`` or ``sigma`` when it does not go with the perceptrons."""
    init = init or ("haar" if net.family == "general" else "uniform")
    if (init == "haar") != (net.family == "general") or init not in INITS:
        allowed = "haar" if net.family == "general" else ", ".join(INITS[1:])
        raise ValueError(f"init: {init!r} does not go with {net.family} perceptrons; allowed: {allowed}")
    if init == "normal" and not (sigma and sigma > 0):
        raise ValueError(f"sigma: init 'normal' needs sigma > 0, got {sigma}")
    return init


def draw(net: DQNN, samples: int, seed: int, init: str | None = None, sigma: float | None = None) -> np.ndarray:
    """Random parameters (S, n_params): Haar-random general perceptrons (K = −i log U in the
    Pauli basis, ``init='haar'``, the default for them), angles of distribution ``init`` for
    circuit perceptrons (default uniform on [0, 2π))."""
    if samples < 1:
        raise ValueError(f"samples: must be >= 1, got {samples}")
    init = check_init(net, init, sigma)
    if net.family != "general":
        return sampling.angles(np.random.default_rng(seed), (samples, net.n_params), init, sigma)
    theta = np.empty((samples, net.n_params))
    for p in net.perceptrons:
        u = haar.unitaries(samples, 2**p.n_qubits, sampling.stable_seed(seed, p.layer, p.index))
        coeffs = haar.pauli_coefficients(haar.log_unitary(u), p.n_qubits)
        theta[:, p.offset:p.offset + p.n_params] = coeffs[:, 1:].real.numpy()
    return theta


def from_label(label: str, widths: tuple[int, ...]) -> DQNN:
    """``general``, ``deepD`` (hardware-efficient perceptrons of D layers) or ``localM``
    (local perceptrons on M inputs) → the network of these widths."""
    match = re.fullmatch(r"(general)|deep([1-9][0-9]*)|local([1-9][0-9]*)", label)
    if match is None:
        raise ValueError(f"ansatz: {label!r} is not a perceptron family; allowed: general, deepD, localM (e.g. deep4, local1)")
    if match.group(1):
        return DQNN(widths, "general")
    if match.group(2):
        return DQNN(widths, "deep", depth=int(match.group(2)))
    return DQNN(widths, "local", locality=int(match.group(3)))
