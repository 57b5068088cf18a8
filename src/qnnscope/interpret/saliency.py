"""Input-gradient saliency maps: vanilla |∂y^c/∂x| and SmoothGrad (Smilkov et al. 2017).

y^c is the class logit, as for Grad-CAM (:mod:`qnnscope.interpret.cam`); a pixel's saliency is the
largest |gradient| over its channels (Simonyan et al. 2014).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from qnnscope.interpret.cam import class_score, model_input, resolve_target


def _saliency(model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
    """|∂y^c/∂x| max over channels, (B, H, W), for given classes."""
    x = model_input(model, x).requires_grad_(True)
    (grad,) = torch.autograd.grad(class_score(model(x), target), x)
    return grad.abs().amax(dim=1)


def gradient_saliency(model: nn.Module, x: Tensor, target: Tensor | None = None) -> Tensor:
    """Vanilla gradient saliency (B, H, W) of class ``target`` (default: the prediction)."""
    return _saliency(model, x, resolve_target(model, x, target))


def smoothgrad(model: nn.Module, x: Tensor, target: Tensor | None = None, *, n: int = 25, noise: float = 0.15,
               seed: int = 0, max_batch: int = 4096) -> Tensor:
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
    maps = torch.cat([_saliency(model, noisy[i:i + chunk], targets[i:i + chunk]) for i in range(0, len(noisy), chunk)])
    return maps.view(n, x.shape[0], *maps.shape[1:]).mean(0)
