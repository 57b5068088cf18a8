"""Class-discriminative maps: one explanation per class of each sample, and how much they differ.

Lin et al. (arXiv:2408.05899), as Selvaraju et al. 2017 for Grad-CAM, call their maps
class-discriminative: the map explaining class c should differ from the one explaining c' on the
same input.  :func:`class_maps` computes every class's map with any explainer that takes a
target; :func:`discrimination_score` measures the claim per sample as 1 − the mean Pearson
correlation between the maps of different classes: 0 where every class gets the same map
(up to scale and offset), 1 for uncorrelated maps, 2 for two classes with opposite maps.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations

import numpy as np
import torch
from torch import Tensor, nn

from qnnscope.interpret.faithfulness import Scored, scored

TargetExplainer = Callable[[nn.Module, Tensor, Tensor], object]
"""(model, x, target) → maps (B, h, w), or a result with ``.maps`` such as :class:`~qnnscope.interpret.cam.Cam`."""


def class_maps(explain: TargetExplainer, model: nn.Module, x: Tensor, n_classes: int) -> Tensor:
    """Maps (B, n_classes, h, w): ``explain`` run once per class c with target c for every sample
    (e.g. :func:`~qnnscope.interpret.cam.qgradcam`, :func:`~qnnscope.interpret.cam.gradcam`, saliency)."""
    if n_classes < 2:
        raise ValueError(f"class maps need n_classes >= 2, got {n_classes}")
    maps = []
    for c in range(n_classes):
        result = explain(model, x, torch.full((len(x),), c, dtype=torch.long, device=x.device))
        maps.append(getattr(result, "maps", result).detach())
    return torch.stack(maps, 1)


def pair_correlations(maps: Tensor | np.ndarray) -> np.ndarray:
    """Pearson r (B, C(C−1)/2) between the maps of every class pair c < c' of each sample (B, C, ...);
    nan for a pair with a constant map, whose correlation is undefined."""
    flat = np.asarray(maps, dtype=np.float64)
    if flat.ndim < 3 or flat.shape[1] < 2:
        raise ValueError(f"maps need shape (B, C >= 2, ...), got {flat.shape}")
    flat = flat.reshape(*flat.shape[:2], -1)
    centred = flat - flat.mean(2, keepdims=True)
    norm = (centred * centred).sum(2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.stack([(centred[:, i] * centred[:, j]).sum(1) / np.sqrt(norm[:, i] * norm[:, j])
                         for i, j in combinations(range(flat.shape[1]), 2)], 1)


def discrimination_score(maps: Tensor | np.ndarray) -> Scored:
    """Per sample 1 − mean Pearson r over the pairs of its class maps (B, C, ...), in [0, 2].

    A constant map (as Grad-CAM's ReLU gives a class with no positive evidence) has no defined
    correlation: the sample's score is nan, and ``n_used`` counts the samples scored.
    """
    return scored(1.0 - pair_correlations(maps).mean(1))
