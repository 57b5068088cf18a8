"""How faithful explanation maps are: deletion/insertion AUC, model randomisation, localisation.

- :func:`deletion` / :func:`insertion` (Petsiuk et al. 2018, RISE): pixels in order of decreasing
  map value are set to zero (deletion) or restored into a Gaussian-blurred copy (insertion), in
  ``steps`` equal steps; the curve is the softmax probability of the explained class against the
  fraction of pixels changed, its area by the trapezoid rule over [0, 1].  Low deletion AUC and
  high insertion AUC mean the map found the pixels the model uses.
- :func:`randomisation_check` (Adebayo et al. 2018): per-sample Spearman correlation between the
  maps of the trained model and of a copy with re-initialised VQC weights.  A map that explains
  the quantum model must change (low correlation); the trained model's map computed a second
  time is the reference (correlation 1 for a deterministic method).
- :func:`pointing_game` (Zhang et al. 2018) and :func:`energy_share` on ground-truth masks, and
  :func:`background_evidence`: how much of a map lies outside them, in the background or noise
  (Lin et al., arXiv:2408.05899, find QGrad-CAM attending to the non-speech frames of noisy speech).
- :func:`summarise`: mean and bootstrap CI (:func:`qnnscope.stats.bootstrap_mean`) over the
  finite values, with the count of nan ones.

Maps are torch tensors (B, H, W) at input resolution (see :func:`qnnscope.interpret.cam.upsample`);
per-sample results are float64 numpy arrays, nan where a sample has no defined value.  The mask
metrics return :class:`Scored`, values with the number of samples that have one, so no sample
drops out unseen.  Masks are a (B, H, W) tensor, or a sequence of B (H, W) masks with None for a
sample without one, or None for a batch without masks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike
from scipy import integrate, ndimage, stats
from torch import Tensor, nn

from qnnscope import stats as qstats
from qnnscope.interpret.cam import model_input, resolve_target
from qnnscope.models import hybrid

Explainer = Callable[[nn.Module, Tensor, Tensor], Tensor]
"""(model, x, target) → maps (B, H, W): what :func:`randomisation_check` compares."""


class Curve(NamedTuple):
    """Per-sample AUC (B,), fractions of pixels changed (steps + 1,), class probabilities (B, steps + 1)."""

    auc: np.ndarray
    fractions: np.ndarray
    probs: np.ndarray


class Scored(NamedTuple):
    """Per-sample values (B,), nan where undefined, and ``n_used``: how many are defined."""

    values: np.ndarray
    n_used: int


class Background(NamedTuple):
    """Per sample: the share of positive map mass outside the mask (``share``), and 1 where the
    map's maximum lies outside it, else 0 (``peak``), each with its count of defined samples."""

    share: Scored
    peak: Scored


def scored(values: np.ndarray) -> Scored:
    """``values`` with the count of finite ones."""
    return Scored(values, int(np.isfinite(values).sum()))


def summarise(result: Scored | np.ndarray, seed: int = 0, n_boot: int = 2000, ci: float = 0.95) -> dict:
    """n (finite values), n_nan, mean and its bootstrap CI (mean_lo, mean_hi) of per-sample values."""
    values = np.asarray(result.values if isinstance(result, Scored) else result, dtype=np.float64).ravel()
    finite = int(np.isfinite(values).sum())
    if finite < 2:
        raise ValueError(f"a bootstrap CI needs at least 2 defined values; {finite} of {values.size} are defined")
    return {**qstats.bootstrap_mean(values, seed=seed, n_boot=n_boot, ci=ci), "n_nan": values.size - finite}


class Randomisation(NamedTuple):
    """Per-sample Spearman ρ: trained vs re-initialised VQC (``rho``), trained vs itself again (``self_rho``)."""

    rho: np.ndarray
    self_rho: np.ndarray


def _curve(model: nn.Module, start: Tensor, end: Tensor, maps: Tensor, target: Tensor, steps: int,
           max_batch: int) -> Curve:
    """Move pixels (all channels) from ``start`` to ``end`` in decreasing map order; every step's images in one batch."""
    if maps.shape != (start.shape[0], *start.shape[2:]):
        raise ValueError(f"maps need shape (B, H, W) = {(start.shape[0], *start.shape[2:])}, got {tuple(maps.shape)}")
    b, n_pix = maps.shape[0], maps[0].numel()
    order = torch.argsort(maps.flatten(1), dim=1, descending=True, stable=True)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(n_pix).expand(b, -1))
    counts = torch.round(torch.linspace(0, n_pix, steps + 1, dtype=torch.float64)).long()
    changed = (rank[:, None, :] < counts[None, :, None]).view(b, steps + 1, 1, *maps.shape[1:])
    images = torch.where(changed, end[:, None], start[:, None]).flatten(0, 1)
    rows = target.repeat_interleave(steps + 1)
    with torch.no_grad():
        probs = torch.cat([
            torch.softmax(model(images[i:i + max_batch]), 1).gather(1, rows[i:i + max_batch, None])[:, 0]
            for i in range(0, len(images), max_batch)
        ])
    probs = probs.view(b, steps + 1).double().cpu().numpy()
    fractions = counts.double().numpy() / n_pix
    return Curve(integrate.trapezoid(probs, fractions, axis=1), fractions, probs)


def deletion(model: nn.Module, x: Tensor, maps: Tensor, target: Tensor | None = None, *, steps: int = 32,
             max_batch: int = 4096) -> Curve:
    """Deletion curve and AUC: the most salient pixels set to zero first (lower AUC = more faithful)."""
    x = model_input(model, x)
    target = resolve_target(model, x, target)
    return _curve(model, x, torch.zeros_like(x), maps, target, steps, max_batch)


def blur(x: Tensor, sigma: float) -> Tensor:
    """Gaussian blur (B, C, H, W) over the two spatial axes with standard deviation ``sigma`` pixels, reflecting edges."""
    blurred = ndimage.gaussian_filter(x.detach().cpu().numpy(), sigma=(0, 0, sigma, sigma), mode="reflect")
    return torch.as_tensor(blurred, dtype=x.dtype, device=x.device)


def insertion(model: nn.Module, x: Tensor, maps: Tensor, target: Tensor | None = None, *, steps: int = 32,
              blur_sigma: float | None = None, max_batch: int = 4096) -> Curve:
    """Insertion curve and AUC: the most salient pixels restored first into a blurred copy (higher AUC = more faithful).

    ``blur_sigma`` defaults to a quarter of the shorter image side, which erases digit-sized
    strokes at any resolution (RISE blurs 224-pixel images with σ = 5).
    """
    x = model_input(model, x)
    target = resolve_target(model, x, target)
    sigma = min(x.shape[-2:]) / 4 if blur_sigma is None else blur_sigma
    return _curve(model, blur(x, sigma), x, maps, target, steps, max_batch)


def rank_correlation(a: Tensor | ArrayLike, b: Tensor | ArrayLike) -> np.ndarray:
    """Per-sample Spearman ρ between maps a and b (B, ...), ties ranked by their mean; nan where a map is constant."""
    ra = stats.rankdata(np.asarray(a, dtype=np.float64).reshape(len(a), -1), axis=1)
    rb = stats.rankdata(np.asarray(b, dtype=np.float64).reshape(len(b), -1), axis=1)
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (ra * rb).sum(1) / np.sqrt((ra * ra).sum(1) * (rb * rb).sum(1))


def randomisation_check(model: nn.Module, x: Tensor, explain: Explainer, seed: int,
                        target: Tensor | None = None) -> Randomisation:
    """Spearman ρ of each sample's map under the trained and the VQC-re-initialised model, and the self-reference.

    Both models explain the same class (``target``, default the trained model's prediction).  A
    map that vanishes (turns constant, as an all-negative Grad-CAM does under its ReLU) after
    randomisation keeps none of the trained map's ranking: ρ = 0 there, not nan, so such samples
    count as changed instead of dropping out; ρ stays nan where the trained map is constant.
    """
    target = resolve_target(model, x, target)
    trained = explain(model, x, target)
    randomised = explain(hybrid.reinitialise_quantum(model, seed), x, target)
    rho = rank_correlation(trained, randomised)
    vanished = _constant(randomised) & ~_constant(trained)
    return Randomisation(np.where(vanished, 0.0, rho), rank_correlation(trained, explain(model, x, target)))


def _constant(maps: Tensor) -> np.ndarray:
    """Per sample: is the map the same value everywhere?"""
    flat = maps.flatten(1)
    return (flat == flat[:, :1]).all(1).cpu().numpy()


def _masks(maps: Tensor, masks: Tensor | Sequence[Tensor | None] | None) -> Tensor:
    """Masks as a bool (B, H, W) tensor, a sample without a mask given an empty one."""
    if maps.dim() != 3:
        raise ValueError(f"maps need shape (B, H, W), got {tuple(maps.shape)}")
    if not isinstance(masks, Tensor):
        given = [None] * len(maps) if masks is None else list(masks)
        if len(given) != len(maps):
            raise ValueError(f"need one mask (or None) per map: {len(maps)} maps, {len(given)} masks")
        empty = torch.zeros(maps.shape[1:], dtype=torch.bool, device=maps.device)
        masks = torch.stack([empty if m is None else torch.as_tensor(m, device=maps.device) for m in given])
    if maps.shape != masks.shape:
        raise ValueError(f"maps and masks need the same (B, H, W) shape, got {tuple(maps.shape)} and {tuple(masks.shape)}")
    return masks.bool()


def pointing_game(maps: Tensor, masks: Tensor | Sequence[Tensor | None] | None, tolerance: int = 0) -> Scored:
    """1 where a map's maximum lies in the mask or within ``tolerance`` pixels of it (Euclidean), else 0;
    nan for missing and empty masks.

    Ties for the maximum go to the first pixel in row-major order.
    """
    masks = _masks(maps, masks)
    inside = masks
    if tolerance > 0:
        r = torch.arange(-tolerance, tolerance + 1)
        disk = ((r[:, None] ** 2 + r[None, :] ** 2) <= tolerance**2).to(torch.float32)
        inside = F.conv2d(inside[:, None].float(), disk[None, None], padding=tolerance)[:, 0] > 0
    hits = inside.flatten(1).gather(1, maps.flatten(1).argmax(1, keepdim=True))[:, 0]
    usable = masks.flatten(1).any(1).cpu().numpy()
    return scored(np.where(usable, hits.double().cpu().numpy(), np.nan))


def energy_share(maps: Tensor, masks: Tensor | Sequence[Tensor | None] | None) -> Scored:
    """Σ_mask map / Σ map per sample (maps non-negative); nan for missing and empty masks and all-zero maps."""
    masks = _masks(maps, masks)
    total = maps.flatten(1).double().sum(1).cpu().numpy()
    inside = (maps * masks).flatten(1).double().sum(1).cpu().numpy()
    usable = masks.flatten(1).any(1).cpu().numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        return scored(np.where(usable & (total != 0), inside / total, np.nan))


def background_evidence(maps: Tensor, masks: Tensor | Sequence[Tensor | None] | None, *,
                        frames: bool = False) -> Background:
    """Evidence a map puts in the background (outside the foreground ``masks``): the share of its
    positive mass there, Σ_bg max(m, 0) / Σ max(m, 0), and whether its maximum lies there (ties to
    the first pixel in row-major order, as in :func:`pointing_game`).

    ``frames=True`` takes as foreground every whole column (the time frames of a spectrogram)
    that holds a mask cell, so the background is the frames without speech.  Both values are nan
    for a sample without a mask, with an empty mask or with a mask covering everything (no
    background); ``share`` also where the map has no positive mass, ``peak`` where it is constant.
    """
    masks = _masks(maps, masks)
    if frames:
        masks = masks.any(1, keepdim=True).expand_as(masks)
    flat, fg = maps.flatten(1).double(), masks.flatten(1)
    usable = (fg.any(1) & ~fg.all(1)).cpu().numpy()
    positive = flat.clamp(min=0)
    total = positive.sum(1).cpu().numpy()
    outside = (positive * ~fg).sum(1).cpu().numpy()
    peak = (~fg).gather(1, flat.argmax(1, keepdim=True))[:, 0].double().cpu().numpy()
    constant = _constant(maps)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(usable & (total > 0), outside / total, np.nan)
    return Background(scored(share), scored(np.where(usable & ~constant, peak, np.nan)))
