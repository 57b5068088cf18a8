"""Hybrid CNN → VQC image/spectrogram classifiers and their classical twin.

The architecture of Lin et al. (arXiv:2408.05899) and Mari et al. (Quantum 4, 340 (2020)): a small
CNN whose last convolution's activations A (the Grad-CAM target layer) are average-pooled, mapped
by a Linear layer and tanh·π/2 to encoding angles φ, fed to a variational circuit that the engine
simulates, read out as ⟨Z_q⟩ on every qubit and mapped by a Linear layer to class logits.

- ``vqc``: RY(φ_q) angle encoding, then ``depth`` × (entangler, RY and RZ on every qubit);
- ``dressed``: Mari et al.'s dressed circuit: H on every qubit, RY(φ_q), then ``depth`` ×
  (CNOTs on pairs (0,1),(2,3),… then (1,2),(3,4),…; RY on every qubit);
- ``classical``: the classical twin: the same CNN and pre-layer, with tanh(Linear) in place of
  the circuit.

``backbone="resnet18"`` puts the same heads on Mari et al.'s frozen ImageNet-pretrained ResNet-18
(:class:`BackboneClassifier`, weights from a user-supplied torchvision file): A is its last
convolutional block (layer4), and training optimises the head only.

Training (:func:`train`) is deterministic (seeds derived from the configuration and the epoch)
and checkpointed after every epoch, atomically: a killed training resumes from its last
checkpoint and ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from qnnscope import sampling
from qnnscope.circuits.description import Circuit, Op
from qnnscope.io import atomic_output
from qnnscope.models import resnet
from qnnscope.sim import engine

KINDS = ("vqc", "dressed", "classical")
BACKBONES = {"resnet18": (resnet.ResNet18, 512)}
"""Pretrained feature extractors: name → (module class, channels of its last block)."""
ENTANGLERS = ("cnot", "cz", "ring")
INIT_SCALE = 0.01
"""Standard deviation of the initial VQC weights (Mari et al.'s q_delta)."""


def _entangler(n: int, kind: str) -> list[Op]:
    """Two-qubit layer: ``cnot``/``cz`` on pairs (0,1),(2,3),… then (1,2),(3,4),…; ``ring`` a CNOT ring."""
    if kind == "ring":
        return [Op("CNOT", (j, (j + 1) % n)) for j in range(n if n > 2 else n - 1)]
    gate = "CNOT" if kind == "cnot" else "CZ"
    return [Op(gate, (a, a + 1)) for start in (0, 1) for a in range(start, n - 1, 2)]


def circuit(kind: str, n_qubits: int, depth: int, entangler: str = "cnot") -> Circuit:
    """The quantum layer's circuit: slots 0…n−1 are the encoding angles φ, later slots the weights."""
    n = n_qubits
    ops = [Op("H", (q,)) for q in range(n)] if kind == "dressed" else []
    ops += [Op("RY", (q,), param=q) for q in range(n)]
    slot = n
    for _ in range(depth):
        ops += _entangler(n, "cnot" if kind == "dressed" else entangler)
        for q in range(n):
            for gate in ("RY",) if kind == "dressed" else ("RY", "RZ"):
                ops.append(Op(gate, (q,), param=slot))
                slot += 1
    return Circuit(n, tuple(ops), slot, name=f"{kind}_{entangler}")


class _KernelZ(torch.autograd.Function):
    """⟨Z_q⟩ of every final state on the engine's CPU kernel, with the backward pass by the
    kernel's adjoint sweep: for an upstream gradient g (B, n) the sweep differentiates
    ⟨ψ|Σ_q g_q Z_q|ψ⟩, i.e. λ = (Σ_q g_q Z_q) ψ.  A backward pass that must itself be
    differentiable (Hessians: ``create_graph=True``) differentiates the torch path instead."""

    @staticmethod
    def forward(ctx, theta, layer):
        psi = engine.states(layer.circuit, theta.detach(), dtype=layer.dtype)
        ctx.save_for_backward(theta)
        ctx.layer, ctx.psi = layer, psi
        return layer.z_of(psi).to(theta.dtype)

    @staticmethod
    def backward(ctx, grad):
        (theta,) = ctx.saved_tensors
        layer = ctx.layer
        if torch.is_grad_enabled():
            with torch.enable_grad():
                z = layer.torch_z(theta)
                return torch.autograd.grad(z, theta, grad.to(z.dtype), create_graph=True)[0], None
        weights = grad.to(ctx.psi.real.dtype) @ layer.signs.to(ctx.psi.real.dtype).T  # (B, 2^n)
        g = engine.vector_jacobian(layer.circuit, theta.detach(), weights * ctx.psi, ctx.psi, dtype=layer.dtype)
        return g.to(theta.dtype), None


class QuantumLayer(nn.Module):
    """z = (⟨Z_0⟩, …, ⟨Z_{n−1}⟩) of the circuit with encoding angles φ (B, n) and trainable weights,
    simulated by the engine: on CPU its kernel, differentiated by the kernel's adjoint sweep
    (:class:`_KernelZ`), elsewhere (and for higher derivatives) its torch path under autograd."""

    def __init__(self, kind: str, n_qubits: int, depth: int, entangler: str, dtype: str):
        super().__init__()
        self.circuit = circuit(kind, n_qubits, depth, entangler)
        self.dtype = engine.resolve_dtype(dtype)
        self.weights = nn.Parameter(INIT_SCALE * torch.randn(self.circuit.n_params - n_qubits))
        bits = (np.arange(2**n_qubits)[:, None] >> (n_qubits - 1 - np.arange(n_qubits))) & 1
        self.register_buffer("signs", torch.as_tensor(1.0 - 2.0 * bits), persistent=False)

    @property
    def n_qubits(self) -> int:
        return self.circuit.n_qubits

    def z_of(self, psi: torch.Tensor) -> torch.Tensor:
        """⟨Z_q⟩ (B, n) of states (B, 2^n)."""
        return torch.view_as_real(psi).square().sum(-1) @ self.signs.to(psi.real.dtype)

    def torch_z(self, theta: torch.Tensor) -> torch.Tensor:
        """⟨Z_q⟩ through the engine's torch path (differentiable to any order)."""
        return self.z_of(engine.states(self.circuit, theta, dtype=self.dtype, kernel=False))

    def _z(self, theta: torch.Tensor) -> torch.Tensor:
        from torch._C._functorch import is_functorch_wrapped_tensor

        if theta.device.type != "cpu" or is_functorch_wrapped_tensor(theta):  # vmap/grad transforms: torch ops
            return self.torch_z(theta)
        if theta.requires_grad and torch.is_grad_enabled():
            return _KernelZ.apply(theta, self)
        return self.z_of(engine.states(self.circuit, theta, dtype=self.dtype))

    def forward(self, phi: torch.Tensor) -> torch.Tensor:
        theta = torch.cat([phi, self.weights.to(phi.dtype).expand(len(phi), -1)], 1)
        return self._z(theta).to(phi.dtype)

    @torch.no_grad()
    def shift_jacobian(self, phi: torch.Tensor) -> torch.Tensor:
        """∂⟨Z_q⟩/∂φ_e (B, n, n) by the two-term parameter-shift rule, exact because every φ_e
        enters one RY gate: all 2n shifted circuits of the batch in one engine call.  A Jacobian
        of n outputs, so one state per shift serves every ⟨Z_q⟩ (engine.param_shift takes one
        observable per call)."""
        b, n = phi.shape
        shifts = (math.pi / 2) * torch.eye(n, dtype=phi.dtype)
        shifted = phi[:, None, None, :] + torch.stack([shifts, -shifts])[None]  # (B, 2, n, n)
        theta = torch.cat([shifted.reshape(-1, n), self.weights.to(phi.dtype).expand(2 * n * b, -1)], 1)
        z = self._z(theta).to(phi.dtype).reshape(b, 2, n, n)  # (B, ±, e, q)
        return ((z[:, 0] - z[:, 1]) / 2).transpose(1, 2)


def cnn(in_shape: tuple[int, int, int], channels: tuple[int, int]) -> nn.Sequential:
    """The small CNN: two 3×3 convolutions with batch norm and ReLU (a 2×2 max-pool between them
    on inputs of at least 8×8)."""
    c, h, w = in_shape
    pool = [nn.MaxPool2d(2)] if min(h, w) >= 8 else []
    return nn.Sequential(
        nn.Conv2d(c, channels[0], 3, padding=1), nn.BatchNorm2d(channels[0]), nn.ReLU(), *pool,
        nn.Conv2d(channels[0], channels[1], 3, padding=1), nn.BatchNorm2d(channels[1]), nn.ReLU(),
    )


class HybridClassifier(nn.Module):
    """CNN → pool → Linear → tanh·π/2 → quantum layer (or its classical twin) → Linear; ``features``
    maps inputs to ``width`` activation channels."""

    frozen = False
    """Whether the feature extractor is frozen (then :func:`train` trains the head only)."""

    def __init__(self, kind: str, features: nn.Module, width: int, n_classes: int, n_qubits: int, depth: int,
                 entangler: str, dtype: str):
        super().__init__()
        self.kind = kind
        self.features = features
        self.pre = nn.Linear(width, n_qubits)
        if kind == "classical":
            self.hidden = nn.Linear(n_qubits, n_qubits)
        else:
            self.quantum = QuantumLayer(kind, n_qubits, depth, entangler, dtype)
        self.post = nn.Linear(n_qubits, n_classes)

    def activations(self, x: torch.Tensor) -> torch.Tensor:
        """A (B, K, h, w): the last convolution's activations (the Grad-CAM target layer)."""
        return self.features(x)

    def angles(self, a: torch.Tensor) -> torch.Tensor:
        """Encoding angles φ = tanh(Linear(mean_ij A)) · π/2 ∈ (−π/2, π/2)."""
        return torch.tanh(self.pre(a.mean((2, 3)))) * (math.pi / 2)

    def middle(self, phi: torch.Tensor) -> torch.Tensor:
        """The quantum layer's ⟨Z_q⟩, or the classical twin's tanh(Linear(φ)) in its place."""
        return torch.tanh(self.hidden(phi)) if self.kind == "classical" else self.quantum(phi)

    def readout(self, z: torch.Tensor) -> torch.Tensor:
        return self.post(z)

    def head(self, a: torch.Tensor) -> torch.Tensor:
        """Class logits from the CNN activations."""
        return self.readout(self.middle(self.angles(a)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.activations(x))


class BackboneClassifier(HybridClassifier):
    """Mari et al.'s transfer learning (Quantum 4, 340 (2020)): a frozen pretrained ResNet-18 as
    ``features`` under the same head (global average pool, Linear 512 → n, tanh·π/2, the circuit
    or its classical twin, Linear n → classes); Mari et al. train the dressed head on it."""

    @property
    def frozen(self) -> bool:
        return self.features.frozen

    def activations(self, x: torch.Tensor) -> torch.Tensor:
        """A (B, 512, ⌈H/32⌉, ⌈W/32⌉): the last convolutional block (layer4); a one-channel input is
        repeated over the three colour channels."""
        return self.features.trunk(x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x)


def check(kind: str, n_qubits: int, depth: int, entangler: str, channels, backbone: str | None = None) -> None:
    if backbone is not None and backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; allowed: {', '.join(BACKBONES)} (or none: the small CNN)")
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; allowed: {', '.join(KINDS)}")
    if entangler not in ENTANGLERS:
        raise ValueError(f"unknown entangler {entangler!r}; allowed: {', '.join(ENTANGLERS)}")
    if not 1 <= n_qubits <= 16:
        raise ValueError(f"qubits must be between 1 and 16, got {n_qubits}")
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    if len(channels) != 2 or min(channels) < 1:
        raise ValueError(f"channels must be two positive integers, got {channels}")


def available(backbone: str | None, weights: str | os.PathLike | None) -> tuple[bool, str]:
    """(True, "") if :func:`build` finds the backbone's weights file (or needs none), else (False,
    why): what a workflow skips a study on, as with :func:`qnnscope.data.available`."""
    try:
        if backbone is not None and weights is not None:
            resnet.weights_file(weights)
    except FileNotFoundError as missing:
        return False, str(missing)
    return True, ""


def build(kind: str, in_shape: tuple[int, int, int], n_classes: int, *, n_qubits: int = 4, depth: int = 2,
          entangler: str = "cnot", channels: tuple[int, int] = (8, 16), seed: int = 0,
          dtype: str = "complex64", backbone: str | None = None,
          weights: str | os.PathLike | None = None) -> HybridClassifier:
    """A freshly initialised model; weights drawn from ``seed``, real layers in float32
    (``complex64``) or float64 (``complex128``).  ``backbone="resnet18"``: the head on a frozen
    ResNet-18 (``channels`` unused) loaded from the torchvision state_dict file ``weights``
    (:class:`qnnscope.data.MissingData` naming it where it is missing; ``None``: torchvision's
    random initialisation, drawn from ``seed``)."""
    check(kind, n_qubits, depth, entangler, channels, backbone)
    if backbone is None and weights is not None:
        raise ValueError(f"weights {str(weights)!r} given without a backbone; allowed backbones: {', '.join(BACKBONES)}")
    if backbone is not None and in_shape[0] not in (1, 3):
        raise ValueError(f"backbone {backbone!r} takes 1- or 3-channel images, got in_shape {tuple(in_shape)}")
    if weights is not None:
        resnet.weights_file(weights)
    with torch.random.fork_rng():
        torch.manual_seed(sampling.stable_seed("hybrid", kind, seed))
        if backbone is None:
            model = HybridClassifier(kind, cnn(tuple(in_shape), tuple(channels)), channels[1], n_classes, n_qubits,
                                     depth, entangler, dtype)
        else:
            net, width = BACKBONES[backbone]
            model = BackboneClassifier(kind, net(), width, n_classes, n_qubits, depth, entangler, dtype)
    if weights is not None:
        model.features.load_state_dict_file(weights)
    return model.to(torch.float64 if engine.resolve_dtype(dtype) == torch.complex128 else torch.float32)


def reinitialise_quantum(model: HybridClassifier, seed: int) -> HybridClassifier:
    """A copy whose VQC weights are redrawn uniformly on [0, 2π) (Adebayo et al.'s model
    randomisation, applied to the quantum layer only); everything else is unchanged."""
    if not hasattr(model, "quantum"):
        raise ValueError("the classical twin has no quantum layer to re-initialise")
    fresh = copy.deepcopy(model)
    rng = np.random.default_rng(sampling.stable_seed("reinitialise", seed))
    with torch.no_grad():
        fresh.quantum.weights.copy_(torch.as_tensor(rng.uniform(0, 2 * math.pi, fresh.quantum.weights.shape)))
    return fresh


# ------------------------------------------------------------------------------------- training

def flat_parameters(model: nn.Module) -> list[float]:
    """All trainable parameters in ``named_parameters`` order as one float64 list (the layout of
    :func:`qnnscope.landscapes.module_objective`)."""
    return torch.cat([p.detach().reshape(-1).double() for p in model.parameters() if p.requires_grad]).tolist()


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> tuple[float, float, torch.Tensor]:
    """(mean cross-entropy, accuracy, logits) of ``model`` on ``x``, ``y``."""
    dtype = next(model.parameters()).dtype
    logits = torch.cat([model(x[s:s + batch_size].to(dtype)) for s in range(0, len(x), batch_size)])
    loss = nn.functional.cross_entropy(logits, y).item()
    return loss, (logits.argmax(1) == y).double().mean().item(), logits


class _Head(nn.Module):
    """A model's head as a module of its own: what trains on a frozen backbone's activations."""

    def __init__(self, model: HybridClassifier):
        super().__init__()
        self.model = model

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return self.model.head(a)


@torch.no_grad()
def _activations(model: HybridClassifier, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    return torch.cat([model.activations(x[s:s + batch_size]) for s in range(0, len(x), batch_size)])


def _signature(model: HybridClassifier, seed: int, epochs: int, batch_size: int, lr: float, n_train: int,
               step_size: int | None, gamma: float) -> dict:
    steps = {} if step_size is None else {"step_size": step_size, "gamma": gamma}
    return {"model": repr(model), "seed": seed, "epochs": epochs, "batch_size": batch_size, "lr": lr,
            "n_train": n_train, **steps}


def _read_checkpoint(checkpoint: str | Path | None, log: logging.Logger) -> dict | None:
    """The checkpoint's state, or None where there is none; an unreadable one (truncated or
    damaged on disk: checkpoints are written atomically) is moved aside to ``….corrupt`` with a
    warning naming it, and training starts afresh."""
    if checkpoint is None or not Path(checkpoint).exists():
        return None
    try:
        state = torch.load(checkpoint, weights_only=False)
        if not isinstance(state, dict) or not {"signature", "model", "optimiser", "rows", "epoch"} <= set(state):
            raise ValueError("not a training checkpoint")
        return state
    except Exception as exc:  # noqa: BLE001 - any failure to read it means it is unusable
        aside = Path(checkpoint).with_name(Path(checkpoint).name + ".corrupt")
        os.replace(checkpoint, aside)
        log.warning("checkpoint %s is unreadable (%s: %s); moved to %s, training starts from epoch 0", checkpoint,
                    type(exc).__name__, exc, aside)
        return None


def train(model: HybridClassifier, train_ds, test_ds, *, epochs: int, batch_size: int = 32, lr: float = 0.01,
          seed: int = 0, checkpoint: str | Path | None = None, log: logging.Logger | None = None,
          step_size: int | None = None, gamma: float = 0.1) -> tuple[HybridClassifier, pd.DataFrame]:
    """Adam on the cross-entropy over the trainable parameters, minibatches shuffled by a seed
    derived from ``seed`` and the epoch, with a cosine learning-rate schedule over ``epochs``, or
    with ``step_size``, Mari et al.'s StepLR: ``lr`` · ``gamma``^⌊epoch/step_size⌋.  A model with a
    frozen backbone trains its head only, on the backbone's activations computed once (they are a
    fixed function of the input).  After every epoch the model, optimiser, schedule and curves go
    to ``checkpoint`` (atomically); if it exists, training resumes after its last epoch (a
    checkpoint of another configuration is refused).  Returns the model and its curves: one row
    per epoch, epoch 0 being the initialisation, with train and test loss and accuracy, wall time,
    and the flat trainable-parameter vector ``theta`` (the training path that loss landscapes scan
    along)."""
    if epochs < 1 or batch_size < 1 or not lr > 0:
        raise ValueError(f"need epochs >= 1, batch_size >= 1 and lr > 0, got {epochs}, {batch_size}, {lr}")
    if step_size is not None and (step_size < 1 or not gamma > 0):
        raise ValueError(f"need step_size >= 1 and gamma > 0, got step_size {step_size}, gamma {gamma}")
    log = log or logging.getLogger("qnnscope.hybrid")
    dtype = next(model.parameters()).dtype
    x, y, test_x = train_ds.x.to(dtype), train_ds.y, test_ds.x.to(dtype)
    forward = model
    if model.frozen:
        forward, x, test_x = _Head(model), _activations(model, x), _activations(model, test_x)
    optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    scheduler = None if step_size is None else torch.optim.lr_scheduler.StepLR(optimiser, step_size, gamma)
    signature = _signature(model, seed, epochs, batch_size, lr, len(x), step_size, gamma)

    def record(epoch: int, wall: float) -> dict:
        model.eval()
        train_loss, train_acc, _ = evaluate(forward, x, y)
        test_loss, test_acc, _ = evaluate(forward, test_x, test_ds.y)
        log.info("epoch %d/%d (lr %.4g): train loss %.4f acc %.3f, test loss %.4f acc %.3f", epoch, epochs,
                 optimiser.param_groups[0]["lr"], train_loss, train_acc, test_loss, test_acc)
        return {"epoch": epoch, "train_loss": train_loss, "train_accuracy": train_acc, "test_loss": test_loss,
                "test_accuracy": test_acc, "wall_time_s": wall, "theta": flat_parameters(model)}

    rows, start = [], 0
    state = _read_checkpoint(checkpoint, log)
    if state is not None:
        if state["signature"] != signature:
            raise ValueError(f"checkpoint {checkpoint} belongs to another training configuration; "
                             "delete it to start afresh")
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        rows, start = state["rows"], state["epoch"]
        log.info("resumed from %s after epoch %d", checkpoint, start)
    else:
        rows.append(record(0, 0.0))
    for epoch in range(start, epochs):
        tic = time.perf_counter()
        order = np.random.default_rng(sampling.stable_seed("hybrid-epoch", seed, epoch)).permutation(len(x))
        if scheduler is None:
            for group in optimiser.param_groups:
                group["lr"] = lr * (1 + math.cos(math.pi * epoch / epochs)) / 2
        model.train()
        for s in range(0, len(x), batch_size):
            idx = torch.as_tensor(order[s:s + batch_size])
            optimiser.zero_grad()
            nn.functional.cross_entropy(forward(x[idx]), y[idx]).backward()
            optimiser.step()
        rows.append(record(epoch + 1, time.perf_counter() - tic))
        if scheduler is not None:
            scheduler.step()
        if checkpoint is not None:
            steps = {} if scheduler is None else {"scheduler": scheduler.state_dict()}
            with atomic_output(checkpoint) as tmp:
                torch.save({"signature": signature, "model": model.state_dict(),
                            "optimiser": optimiser.state_dict(), "rows": rows, "epoch": epoch + 1, **steps}, tmp)
    return model, pd.DataFrame(rows)
