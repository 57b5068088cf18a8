"""Input-gradient saliency maps: vanilla |∂y^c/∂x|, SmoothGrad (Smilkov et al. 2017) and guided
backpropagation (Springenberg et al. 2015).

By default y^c is the class logit, as for Grad-CAM (:mod:`qnnscope.interpret.cam`), and a pixel's
saliency is the largest |gradient| over its channels (Simonyan et al. 2014).  The hackathon study
of Mari et al.'s dressed circuit (Huh, Kim and Kim, Qiskit Hackathon Korea 2021) differs in two
ways, both available here:

- ``summed=True``: the gradient of the summed logits ∂(Σ_c y^c)/∂x instead of one class's logit
  (by linearity, the sum of the per-class gradients; the target class plays no part);
- :func:`guided_backprop`: the signed gradient with every ReLU's backward pass letting through
  only positive gradients where its forward input was positive, shown as separate positive and
  negative parts instead of one absolute value.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from qnnscope.interpret.cam import model_input, resolve_target
from qnnscope.interpret.scores import class_score


class Guided(NamedTuple):
    """Guided-backpropagation maps (B, H, W): max over channels of the gradient's positive part
    (``positive``) and of its negative part's magnitude (``negative``), and the explained classes
    (B,), None for the summed logits."""

    positive: Tensor
    negative: Tensor
    target: Tensor


def input_gradient(model: nn.Module, x: Tensor, target: Tensor | None = None, summed: bool = False) -> Tensor:
    """The signed gradient ∂y^c/∂x of the logits of classes ``target`` (default: the prediction), or
    ∂Σ_c y^c/∂x where ``summed``; the shape of x."""
    x = model_input(model, x)
    target = None if summed else resolve_target(model, x, target)
    x.requires_grad_(True)
    logits = model(x)
    (grad,) = torch.autograd.grad(logits.sum() if summed else class_score(logits, target), x)
    return grad


def _saliency(model: nn.Module, x: Tensor, target: Tensor | None, summed: bool = False) -> Tensor:
    """|gradient| max over channels, (B, H, W)."""
    return input_gradient(model, x, target, summed).abs().amax(dim=1)


def gradient_saliency(model: nn.Module, x: Tensor, target: Tensor | None = None, *, summed: bool = False) -> Tensor:
    """Vanilla gradient saliency (B, H, W) of class ``target`` (default: the prediction), or of the
    summed logits where ``summed``."""
    return _saliency(model, x, target, summed)


def smoothgrad(model: nn.Module, x: Tensor, target: Tensor | None = None, *, n: int = 25, noise: float = 0.15,
               seed: int = 0, max_batch: int = 4096, summed: bool = False) -> Tensor:
    """SmoothGrad (B, H, W): the mean saliency of ``n`` copies of x + N(0, σ²), σ = ``noise`` × (max − min) of each input.

    The class is fixed on the clean input so every copy explains the same class.  Copies run
    through the model together, ``max_batch`` rows a pass; the noise is drawn at once from
    ``seed``, so the result does not depend on ``max_batch``.
    """
    x = model_input(model, x)
    target = resolve_target(model, x, target)
    flat = x.flatten(1)
    sigma = noise * (flat.amax(1) - flat.amin(1))
    generator = torch.Generator().manual_seed(seed)
    eps = torch.randn((n, *x.shape), generator=generator, dtype=x.dtype).to(x.device)
    noisy = (x + sigma.view(1, -1, *[1] * (x.dim() - 1)) * eps).flatten(0, 1)
    targets = target.repeat(n)
    chunk = max(1, max_batch // x.shape[0]) * x.shape[0]
    maps = torch.cat([_saliency(model, noisy[i:i + chunk], targets[i:i + chunk], summed)
                      for i in range(0, len(noisy), chunk)])
    return maps.view(n, x.shape[0], *maps.shape[1:]).mean(0)


class _GuidedReLU(TorchFunctionMode):
    """While active, every ReLU output gets a gradient hook that zeroes its negative gradients, so
    the ReLU's own backward (which zeroes where the input was ≤ 0) completes the guided rule
    R_in = [x > 0] · [R_out > 0] · R_out.  Catching the call rather than the module covers nn.ReLU
    modules (in place or not: both call ``F.relu``) and functional relus in a forward alike."""

    RELUS = (torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_, nn.functional.relu,
             nn.functional.relu_)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func in self.RELUS and isinstance(out, Tensor) and out.requires_grad:
            out.register_hook(lambda grad: grad.clamp(min=0))
        return out


def guided_backprop(model: nn.Module, x: Tensor, target: Tensor | None = None, *, summed: bool = False) -> Guided:
    """Guided backpropagation (Springenberg et al. 2015) of class ``target`` (default: the
    prediction), or of the summed logits where ``summed``: positive and negative parts apart.

    Only ReLUs are guided.  In :class:`~qnnscope.models.hybrid.HybridClassifier` they are the
    CNN's nn.ReLU modules; its head (tanh · π/2, the circuit, a Linear readout) has no relu, so the
    gradient through the head is the plain one.
    """
    x = model_input(model, x)
    target = None if summed else resolve_target(model, x, target)
    with _GuidedReLU():
        grad = input_gradient(model, x, target, summed)
    return Guided(grad.clamp(min=0).amax(dim=1), (-grad).clamp(min=0).amax(dim=1), target)
