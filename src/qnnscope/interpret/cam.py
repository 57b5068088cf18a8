"""Grad-CAM and QGrad-CAM class-activation maps on a hybrid model's CNN activations.

For class c with score y^c (by default the class *logit*, as in Selvaraju et al.; the softmax
would mix in the other classes; ``score=`` picks another of :mod:`qnnscope.interpret.scores`),
the weights are α_k^c = mean_ij ∂y^c/∂A^k_ij over the activation maps A = model.activations(x),
and the map is ReLU(Σ_k α_k^c A^k) at activation resolution.

- :func:`gradcam`: ∂y^c/∂A by autograd through the whole head; Grad-CAM on the classical twin,
  "QGrad-CAM by autograd" on the quantum models.
- :func:`qgradcam`: the explicit form of Lin et al. (arXiv:2408.05899),
  ∂y^c/∂A = (∂φ/∂A)ᵀ (∂z/∂φ)ᵀ (∂y^c/∂z), with the quantum Jacobian ∂z/∂φ from the
  parameter-shift rule (``model.quantum.shift_jacobian``) and autograd on the classical parts only.
- :func:`random_maps`: seeded uniform noise, the floor every faithfulness metric must beat.

Both work unchanged on the pointwise models (:mod:`qnnscope.models.pointwise`), whose circuit acts
at every position: there the chain runs per position, ∂y^c/∂A^k_ij = Σ_q (∂y^c/∂z̄_q)(1/hw)
Σ_m (∂z_q,ij/∂φ_m,ij)(∂φ_m,ij/∂A^k_ij), and ∂y^c/∂A varies over (i, j), so besides Grad-CAM's
channel weights the maps can weight every position by its own gradient (``maps=``):

- ``gradcam``: ReLU(Σ_k α_k^c A^k_ij) (Selvaraju et al. 2017);
- ``layercam``: ReLU(Σ_k ReLU(∂y^c/∂A^k_ij) A^k_ij) (LayerCAM, Jiang et al., IEEE TIP 30, 5875 (2021));
- ``elementwise``: ReLU(Σ_k (∂y^c/∂A^k_ij) A^k_ij), gradient × activation at the layer; equal to
  ``gradcam`` wherever the gradient is constant over positions (the pooled hybrid models).

Call with the model in eval mode: batch statistics in train mode would couple the samples.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from qnnscope.interpret.scores import class_score


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


MAPS = ("gradcam", "layercam", "elementwise")
"""How a map weights the activations: by channel (Grad-CAM) or at every position (LayerCAM, gradient × activation)."""


def _cam(activations: Tensor, grad: Tensor, target: Tensor, maps: str = "gradcam") -> Cam:
    """Weights α = spatial mean of ∂y^c/∂A and the ``maps`` weighting of the activations by their gradient."""
    alpha = grad.mean(dim=(2, 3))
    if maps == "gradcam":
        weighted = torch.einsum("bk,bkij->bij", alpha, activations)
    else:
        weighted = ((torch.relu(grad) if maps == "layercam" else grad) * activations).sum(1)
    return Cam(alpha.detach(), torch.relu(weighted).detach(), target)


def _check_maps(maps: str) -> None:
    if maps not in MAPS:
        raise ValueError(f"unknown maps {maps!r}; allowed: {', '.join(MAPS)}")


def activation_gradient(model: nn.Module, x: Tensor, target: Tensor | None = None, *, method: str = "autograd",
                        score: str = "logit") -> tuple[Tensor, Tensor, Tensor]:
    """(A, ∂y^c/∂A, c): the activations (B, K, h, w), the class score's gradient at every channel
    and position, and the explained classes (default: the predictions); the class score y^c is
    ``score`` of :data:`qnnscope.interpret.scores.SCORES` (default the logit).

    ``autograd`` differentiates through ``model.head``; ``shift`` is Lin et al.'s explicit chain
    (∂φ/∂A)ᵀ(∂z/∂φ)ᵀ(∂y^c/∂z): the circuit is only evaluated (forward and shifted), its Jacobian by
    parameter shift (``model.quantum.shift_jacobian``), never differentiated by autograd; the
    classical factors are vector-Jacobian products through ``model.readout`` and ``model.angles``.
    The circuit acts on the last axis of φ, every leading index (sample, and position for the
    pointwise models) being one circuit in one batch.
    """
    if method not in ("autograd", "shift"):
        raise ValueError(f"unknown gradient method {method!r}; allowed: autograd, shift")
    if method == "shift" and not hasattr(model, "quantum"):
        raise ValueError(f"qgradcam needs a quantum model, got kind {getattr(model, 'kind', type(model).__name__)!r}; "
                         "use gradcam for the classical twin")
    activations = model.activations(model_input(model, x)).detach().requires_grad_(True)
    if method == "autograd":
        logits = model.head(activations)
        target = _target(logits, target)
        (grad,) = torch.autograd.grad(class_score(logits, target, score, model=model), activations)
        return activations.detach(), grad, target
    phi = model.angles(activations)
    flat = phi.detach().reshape(-1, phi.shape[-1])
    with torch.no_grad():
        z = model.quantum(flat)
        jacobian = model.quantum.shift_jacobian(flat)  # (N, n_out, n_in) = ∂z/∂φ
    z = z.reshape(phi.shape).requires_grad_(True)
    logits = model.readout(z)
    target = _target(logits, target)
    (dy_dz,) = torch.autograd.grad(class_score(logits, target, score, model=model), z)
    dy_dz = dy_dz.reshape(flat.shape)
    dy_dphi = torch.einsum("bo,boi->bi", dy_dz, jacobian.to(dy_dz.dtype)).reshape(phi.shape)
    (grad,) = torch.autograd.grad(phi, activations, grad_outputs=dy_dphi.to(phi.dtype))
    return activations.detach(), grad, target


def gradcam(model: nn.Module, x: Tensor, target: Tensor | None = None, *, maps: str = "gradcam",
            score: str = "logit") -> Cam:
    """Grad-CAM of class ``target`` (default: the prediction) with ∂y^c/∂A by autograd through ``model.head``."""
    _check_maps(maps)
    return _cam(*activation_gradient(model, x, target, score=score), maps)


def qgradcam(model: nn.Module, x: Tensor, target: Tensor | None = None, *, maps: str = "gradcam",
             score: str = "logit") -> Cam:
    """QGrad-CAM by the explicit chain (∂φ/∂A)ᵀ(∂z/∂φ)ᵀ(∂y^c/∂z), the circuit's factor by parameter
    shift (:func:`activation_gradient` with ``method="shift"``)."""
    _check_maps(maps)
    return _cam(*activation_gradient(model, x, target, method="shift", score=score), maps)


def upsample(maps: Tensor, size: tuple[int, int]) -> Tensor:
    """Maps (B, h, w) → (B, H, W) by bilinear interpolation, to overlay or score them at input resolution."""
    return F.interpolate(maps[:, None], size=tuple(size), mode="bilinear", align_corners=False)[:, 0]


def random_maps(shape: tuple[int, int, int], seed: int) -> Tensor:
    """Uniform [0, 1) noise maps (B, h, w) at activation resolution: the random-map floor, reproducible by seed."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(tuple(shape), generator=generator)
