"""Grad-CAM and QGrad-CAM class-activation maps on a hybrid model's CNN activations.

For class c with score y^c (the class *logit*, as in Selvaraju et al.; the softmax would mix in
the other classes), the weights are α_k^c = mean_ij ∂y^c/∂A^k_ij over the activation maps
A = model.activations(x), and the map is ReLU(Σ_k α_k^c A^k) at activation resolution.

- :func:`gradcam`: ∂y^c/∂A by autograd through the whole head; Grad-CAM on the classical twin,
  "QGrad-CAM by autograd" on the quantum models.
- :func:`qgradcam`: the explicit form of Lin et al. (arXiv:2408.05899),
  ∂y^c/∂A = (∂φ/∂A)ᵀ (∂z/∂φ)ᵀ (∂y^c/∂z), with the quantum Jacobian ∂z/∂φ from the
  parameter-shift rule (``model.quantum.shift_jacobian``) and autograd on the classical parts only.
- :func:`random_maps`: seeded uniform noise, the floor every faithfulness metric must beat.

Call with the model in eval mode: batch statistics in train mode would couple the samples.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Cam(NamedTuple):
    """Importance weights α (B, K), maps (B, h, w) at activation resolution, and the explained classes (B,)."""

    alpha: Tensor
    maps: Tensor
    target: Tensor


def _target(logits: Tensor, target: Tensor | None) -> Tensor:
    """The classes to explain: ``target`` as given, else each sample's predicted class."""
    return logits.argmax(1) if target is None else torch.as_tensor(target, device=logits.device).long()


def model_input(model: nn.Module, x: Tensor) -> Tensor:
    """``x`` in the dtype of the model's parameters (float64 for complex128 models), detached."""
    return x.detach().to(next(iter(model.parameters()), x).dtype)


def resolve_target(model: nn.Module, x: Tensor, target: Tensor | None) -> Tensor:
    """``target`` as a long tensor, else the model's prediction on ``x``."""
    if target is not None:
        return torch.as_tensor(target, device=x.device).long()
    with torch.no_grad():
        return model(x).argmax(1)


def class_score(logits: Tensor, target: Tensor) -> Tensor:
    """Σ_b y^{target_b}_b: one scalar whose gradient holds every sample's own class-score gradient."""
    return logits.gather(1, target[:, None]).sum()


def _cam(activations: Tensor, grad: Tensor, target: Tensor) -> Cam:
    """Weights α = spatial mean of ∂y^c/∂A and maps ReLU(Σ_k α_k A^k) from activations and their gradient."""
    alpha = grad.mean(dim=(2, 3))
    maps = torch.relu(torch.einsum("bk,bkij->bij", alpha, activations))
    return Cam(alpha.detach(), maps.detach(), target)


def gradcam(model: nn.Module, x: Tensor, target: Tensor | None = None) -> Cam:
    """Grad-CAM of class ``target`` (default: the prediction) with ∂y^c/∂A by autograd through ``model.head``."""
    activations = model.activations(model_input(model, x)).detach().requires_grad_(True)
    logits = model.head(activations)
    target = _target(logits, target)
    (grad,) = torch.autograd.grad(class_score(logits, target), activations)
    return _cam(activations.detach(), grad, target)


def qgradcam(model: nn.Module, x: Tensor, target: Tensor | None = None) -> Cam:
    """QGrad-CAM by the explicit chain (∂φ/∂A)ᵀ(∂z/∂φ)ᵀ(∂y^c/∂z), the circuit's factor by parameter shift.

    The circuit is only evaluated (forward and shifted), never differentiated by autograd; the
    classical factors are vector-Jacobian products through ``model.readout`` and ``model.angles``.
    """
    if model.kind == "classical":
        raise ValueError("qgradcam needs a quantum model; use gradcam for the classical twin")
    activations = model.activations(model_input(model, x)).detach().requires_grad_(True)
    phi = model.angles(activations)
    with torch.no_grad():
        z = model.quantum(phi.detach())
        jacobian = model.quantum.shift_jacobian(phi.detach())  # (B, n_out, n_in) = ∂z/∂φ
    z = z.requires_grad_(True)
    logits = model.readout(z)
    target = _target(logits, target)
    (dy_dz,) = torch.autograd.grad(class_score(logits, target), z)
    dy_dphi = torch.einsum("bo,boi->bi", dy_dz, jacobian.to(dy_dz.dtype))
    (grad,) = torch.autograd.grad(phi, activations, grad_outputs=dy_dphi.to(phi.dtype))
    return _cam(activations.detach(), grad, target)


def upsample(maps: Tensor, size: tuple[int, int]) -> Tensor:
    """Maps (B, h, w) → (B, H, W) by bilinear interpolation, to overlay or score them at input resolution."""
    return F.interpolate(maps[:, None], size=tuple(size), mode="bilinear", align_corners=False)[:, 0]


def random_maps(shape: tuple[int, int, int], seed: int) -> Tensor:
    """Uniform [0, 1) noise maps (B, h, w) at activation resolution: the random-map floor, reproducible by seed."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(tuple(shape), generator=generator)
