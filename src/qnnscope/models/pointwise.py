"""A quantum 1×1 convolution: the hybrid classifier's circuit at every position of the CNN's activations.

In :class:`qnnscope.models.hybrid.HybridClassifier` the circuit follows global pooling, so
∂y/∂A^k_ij is the same at every position (i, j) and a class-activation map is a weighted channel
sum.  Here the circuit acts on every position, as in quanvolutional networks (Henderson et al.,
Quantum Mach. Intell. 2, 2 (2020)) with a 1×1 receptive field over the K channels and Mari et
al.'s trainable pre- and post-layers: φ_ij = tanh(W A_{:,i,j} + b)·π/2 (n angles), z_ij = ⟨Z_q⟩ of
the circuit encoding φ_ij, then global average pooling and a Linear readout,
y = V (1/hw) Σ_ij z_ij + c.  The B·h·w positions are one batch of the engine: one call per pass.

- ``pointwise``: hybrid's ``vqc`` circuit (RY(φ_q) encoding, then depth × (entangler, RY, RZ));
- ``pointwise_classical``: the twin, tanh(Linear n→n) at each position in place of the circuit.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from qnnscope import sampling
from qnnscope.models import hybrid
from qnnscope.sim import engine

KINDS = ("pointwise", "pointwise_classical")


class PointwiseClassifier(hybrid.HybridClassifier):
    """CNN → at each position (Linear → tanh·π/2 → quantum layer, or the twin) → pool → Linear.

    The modules and their initialisation are :class:`~qnnscope.models.hybrid.HybridClassifier`'s
    (its ``vqc`` model, or its classical twin): only where the pooling sits differs.  φ and z are
    channels-last, (B, h, w, n), so the circuit's batch is their leading axes flattened."""

    def __init__(self, kind: str, features: nn.Module, width: int, n_classes: int, n_qubits: int, depth: int,
                 entangler: str, dtype: str):
        if kind not in KINDS:
            raise ValueError(f"unknown pointwise model kind {kind!r}; allowed: {', '.join(KINDS)}")
        super().__init__("classical" if kind == "pointwise_classical" else "vqc", features, width, n_classes,
                         n_qubits, depth, entangler, dtype)
        self.kind = kind

    def angles(self, a: torch.Tensor) -> torch.Tensor:
        """Encoding angles at every position, φ (B, h, w, n) = tanh(Linear(A[:, :, i, j])) · π/2."""
        return torch.tanh(self.pre(a.movedim(1, -1))) * (math.pi / 2)

    def middle(self, phi: torch.Tensor) -> torch.Tensor:
        """z (B, h, w, n): ⟨Z_q⟩ at every position, all B·h·w circuits in one engine call (or the
        twin's tanh(Linear(φ_ij)))."""
        if self.kind == "pointwise_classical":
            return torch.tanh(self.hidden(phi))
        return self.quantum(phi.reshape(-1, phi.shape[-1])).reshape(phi.shape)

    def readout(self, z: torch.Tensor) -> torch.Tensor:
        """Class logits from the positions' mean z̄ (B, n)."""
        return self.post(z.mean((1, 2)))


def build_pointwise(in_shape: tuple[int, int, int], n_classes: int, *, kind: str = "pointwise", n_qubits: int = 4,
                    depth: int = 2, entangler: str = "cnot", channels: tuple[int, int] = (8, 16), seed: int = 0,
                    dtype: str = "complex64") -> PointwiseClassifier:
    """A freshly initialised pointwise model (:func:`qnnscope.models.hybrid.build`'s arguments and
    conventions; ``kind`` is ``pointwise`` or ``pointwise_classical``)."""
    hybrid.check("vqc", n_qubits, depth, entangler, channels)
    with torch.random.fork_rng():
        torch.manual_seed(sampling.stable_seed("hybrid", kind, seed))
        model = PointwiseClassifier(kind, hybrid.cnn(tuple(in_shape), tuple(channels)), channels[1], n_classes,
                                    n_qubits, depth, entangler, dtype)
    return model.to(torch.float64 if engine.resolve_dtype(dtype) == torch.complex128 else torch.float32)
