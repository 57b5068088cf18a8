"""Synthetic image and spoken-keyword sets with ground-truth evidence masks, for localisation metrics.

Real data cannot say where the class evidence is; here it is placed by the generator, so the
pointing game and the share of map energy inside the mask have an answer.  All three sets are seeded
and vectorised with numpy (a few hundred examples in a fraction of a second).

- images: one small shape per class (:data:`SHAPES`) at a random position over clutter (short
  straight line fragments, which are no class shape) and Gaussian noise; the mask is the shape's
  footprint: its pixels dilated by one pixel, holes filled.
- RGB images: one filled shape per class in the class's colour (:data:`RGB_CLASSES`: colour and
  shape both name the class) at a random position and scale over a textured background of a
  random dull colour; the mask is the shape's pixels.
- speech: one time-frequency pattern per keyword (:data:`KEYWORDS`) at a random onset with a small
  random pitch jitter, over pink background noise at a random SNR, plus a noise-only class; the mask
  is the mel cells where the clean keyword's power exceeds :data:`MASK_FRACTION` of its peak.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from qnnscope.data.dataset import Dataset, rng
from qnnscope.data.speech import NOISE_CLASS, SAMPLE_RATE, mel_power, pink_noise, standardised_log_mel

_PATTERNS = {
    "plus": ["..#..", "..#..", "#####", "..#..", "..#.."],
    "square": ["#####", "#...#", "#...#", "#...#", "#####"],
    "cross": ["#...#", ".#.#.", "..#..", ".#.#.", "#...#"],
    "corner": ["#....", "#....", "#....", "#....", "#####"],
    "tee": ["#####", "..#..", "..#..", "..#..", "..#.."],
    "diamond": ["..#..", ".#.#.", "#...#", ".#.#.", "..#.."],
}
SHAPES = {name: np.array([[c == "#" for c in row] for row in rows]) for name, rows in _PATTERNS.items()}
"""The 5×5 class shapes of the synthetic images, in class order."""
_FRAGMENT_STEPS = np.array([[0, 1], [1, 0], [1, 1], [1, -1]])
"""Directions of clutter fragments: horizontal, vertical and both diagonals."""

RGB_CLASSES = {
    "red_square": ((0.9, 0.1, 0.1), "square"),
    "blue_disc": ((0.1, 0.25, 0.95), "disc"),
    "green_triangle": ((0.1, 0.8, 0.15), "triangle"),
    "yellow_diamond": ((0.95, 0.85, 0.1), "diamond"),
}
"""Classes of the synthetic RGB images, in class order: (colour in [0, 1]³, filled shape)."""

KEYWORDS = ("rising", "falling", "vowel", "warble")
"""Synthetic keywords: rising and falling chirps, a two-formant harmonic stack, a frequency-modulated tone."""
KEYWORD_SECONDS = 0.35
MASK_FRACTION = 0.1
"""A mel cell is keyword evidence where the clean keyword's power exceeds this fraction (−10 dB) of its peak."""


def synthetic_images(
    *,
    n_per_class: int | None = None,
    seed: int = 0,
    size: int = 16,
    n_classes: int = 4,
    clutter: int = 4,
    fragment: int = 3,
    noise: float = 0.1,
) -> Dataset:
    """``n_per_class`` (default 100) size×size images per class: the class shape over ``clutter`` fragments and noise."""
    if not 1 <= n_classes <= len(SHAPES):
        raise ValueError(f"n_classes must lie in 1..{len(SHAPES)}, got {n_classes}")
    n_per_class = 100 if n_per_class is None else n_per_class
    names = tuple(SHAPES)[:n_classes]
    shape_size = SHAPES[names[0]].shape[0]
    if size < shape_size + 2:
        raise ValueError(
            f"size must be >= {shape_size + 2} to hold a {shape_size}×{shape_size} shape and its footprint"
        )
    gen = rng("synthetic_images", seed, size, n_classes, clutter, fragment, noise)
    n = n_per_class * n_classes
    y = np.repeat(np.arange(n_classes), n_per_class)
    evidence = np.zeros((n, size, size), dtype=bool)
    origin = gen.integers(1, size - shape_size, size=(n, 2))
    for label, name in enumerate(names):
        rows, cols = np.nonzero(SHAPES[name])
        idx = np.flatnonzero(y == label)
        evidence[idx[:, None], origin[idx, :1] + rows, origin[idx, 1:] + cols] = True
    per_image = np.ones((1, 3, 3), dtype=bool)
    masks = ndimage.binary_fill_holes(ndimage.binary_dilation(evidence, structure=per_image), structure=per_image)

    start = gen.integers(0, size, size=(n, clutter, 1, 2))
    step = _FRAGMENT_STEPS[gen.integers(0, len(_FRAGMENT_STEPS), size=(n, clutter))][:, :, None, :]
    pixels = start + step * np.arange(fragment)[None, None, :, None]
    inside = ((pixels >= 0) & (pixels < size)).all(axis=-1)
    which = np.broadcast_to(np.arange(n)[:, None, None], inside.shape)
    clutter_img = np.zeros((n, size, size), dtype=np.float32)
    intensity = np.broadcast_to(gen.uniform(0.5, 1.0, size=(n, clutter, 1)), inside.shape)
    clutter_img[which[inside], pixels[inside][:, 0], pixels[inside][:, 1]] = intensity[inside]
    clutter_img[masks] = 0.0

    shape_img = evidence * gen.uniform(0.7, 1.0, size=(n, 1, 1))
    x = np.clip(shape_img + clutter_img + noise * gen.standard_normal((n, size, size)), 0.0, 1.0)
    return Dataset(
        "synthetic_images",
        "image",
        torch.as_tensor(x.astype(np.float32)).unsqueeze(1),
        torch.as_tensor(y, dtype=torch.int64),
        names,
        torch.as_tensor(masks),
    )


def _footprint(shape: str, dy: np.ndarray, dx: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Pixels whose centres (offsets ``dy``, ``dx`` from the centre) lie in a filled ``shape`` of half-size ``r``."""
    if shape == "square":
        return np.maximum(abs(dy), abs(dx)) <= r
    if shape == "disc":
        return dy**2 + dx**2 <= r**2
    if shape == "triangle":
        return (dy <= r) & (abs(dx) <= (dy + r) / 2)
    return abs(dy) + abs(dx) <= r


def synthetic_rgb(
    *,
    n_per_class: int | None = None,
    seed: int = 0,
    size: int = 32,
    n_classes: int = 3,
    texture: float = 0.15,
    noise: float = 0.05,
) -> Dataset:
    """``n_per_class`` (default 100) size×size RGB images per class: the class's coloured shape, half-size
    uniform in [size/8, size/5], over a background of a random dull colour with smooth texture and pixel noise."""
    if not 1 <= n_classes <= len(RGB_CLASSES):
        raise ValueError(f"n_classes must lie in 1..{len(RGB_CLASSES)}, got {n_classes}")
    if size < 8:
        raise ValueError(f"size must be >= 8 to hold a shape of half-size size/8 or more, got {size}")
    n_per_class = 100 if n_per_class is None else n_per_class
    names = tuple(RGB_CLASSES)[:n_classes]
    gen = rng("synthetic_rgb", seed, size, n_classes, texture, noise)
    n = n_per_class * n_classes
    y = np.repeat(np.arange(n_classes), n_per_class)
    r = gen.uniform(size / 8, size / 5, size=(n, 1, 1))
    centre = r[..., None] + gen.uniform(0, 1, size=(n, 1, 1, 2)) * (size - 1 - 2 * r[..., None])
    rows, cols = np.mgrid[:size, :size]
    dy, dx = rows - centre[..., 0], cols - centre[..., 1]
    masks = np.zeros((n, size, size), dtype=bool)
    colours = np.zeros((n, 3, 1, 1))
    for label, name in enumerate(names):
        idx = np.flatnonzero(y == label)
        colour, shape = RGB_CLASSES[name]
        masks[idx] = _footprint(shape, dy[idx], dx[idx], r[idx])
        colours[idx] = np.reshape(colour, (3, 1, 1))
    field = ndimage.gaussian_filter(gen.standard_normal((n, 3, size, size)), sigma=(0, 0, size / 8, size / 8))
    field /= field.std(axis=(2, 3), keepdims=True)
    background = gen.uniform(0.2, 0.6, size=(n, 3, 1, 1)) + texture * field
    brightness = gen.uniform(0.8, 1.0, size=(n, 1, 1, 1))
    x = np.where(masks[:, None], brightness * colours, background) + noise * gen.standard_normal((n, 3, size, size))
    return Dataset(
        "synthetic_rgb",
        "image",
        torch.as_tensor(np.clip(x, 0.0, 1.0).astype(np.float32)),
        torch.as_tensor(y, dtype=torch.int64),
        names,
        torch.as_tensor(masks),
    )


def _keyword_waves(keyword: str, tau: np.ndarray, jitter: np.ndarray) -> np.ndarray:
    """Clean ``keyword`` (n, samples) at times ``tau`` (samples,) since onset, frequencies scaled by ``jitter`` (n, 1)."""
    if keyword in ("rising", "falling"):
        f0, f1 = (400.0, 1600.0) if keyword == "rising" else (1600.0, 400.0)
        phase = 2 * np.pi * jitter * (f0 * tau + (f1 - f0) * tau**2 / (2 * KEYWORD_SECONDS))
        return np.sin(phase)
    if keyword == "warble":
        carrier, depth, rate = 2600.0, 300.0, 8.0
        phase = 2 * np.pi * jitter * (carrier * tau - depth / (2 * np.pi * rate) * np.cos(2 * np.pi * rate * tau))
        return np.sin(phase)
    f0, formants, bandwidth = 125.0, (600.0, 1200.0), 120.0
    harmonics = np.arange(1, int(SAMPLE_RATE / 2 / f0))
    freqs = f0 * harmonics[None, :] * jitter
    weights = sum(np.exp(-0.5 * ((freqs - f) / bandwidth) ** 2) for f in formants)
    return np.einsum("nk,nkt->nt", weights, np.sin(2 * np.pi * freqs[:, :, None] * tau))


def synthetic_speech(
    *,
    n_per_class: int | None = None,
    seed: int = 0,
    n_keywords: int = 4,
    snr_db: tuple[float, float] = (0.0, 10.0),
    jitter: float = 0.06,
    n_mels: int = 32,
) -> Dataset:
    """``n_per_class`` (default 60) 1-s clips per keyword plus a noise-only class, as standardised log-mels.

    Keywords last :data:`KEYWORD_SECONDS` at a uniform random onset; pitch is scaled by exp(U(−jitter,
    jitter)); the SNR (keyword power over the whole clip against noise power) is uniform in ``snr_db``.
    """
    if not 1 <= n_keywords <= len(KEYWORDS):
        raise ValueError(f"n_keywords must lie in 1..{len(KEYWORDS)}, got {n_keywords}")
    n_per_class = 60 if n_per_class is None else n_per_class
    classes = KEYWORDS[:n_keywords] + (NOISE_CLASS,)
    gen = rng("synthetic_speech", seed, n_keywords, list(snr_db), jitter, n_mels)
    n = n_per_class * len(classes)
    y = np.repeat(np.arange(len(classes)), n_per_class)
    length = int(KEYWORD_SECONDS * SAMPLE_RATE)
    onset = gen.integers(0, SAMPLE_RATE - length + 1, size=(n, 1))
    scale = np.exp(gen.uniform(-jitter, jitter, size=(n, 1)))
    snr = gen.uniform(*snr_db, size=(n, 1))
    tau = np.arange(length) / SAMPLE_RATE
    envelope = np.sin(np.pi * tau / KEYWORD_SECONDS) ** 2

    clean = np.zeros((n, SAMPLE_RATE))
    for label, keyword in enumerate(classes[:-1]):
        idx = np.flatnonzero(y == label)
        wave = envelope * _keyword_waves(keyword, tau, scale[idx])
        wave *= 10 ** (snr[idx] / 20) / np.sqrt((wave**2).sum(axis=1, keepdims=True) / SAMPLE_RATE)
        clean[idx[:, None], onset[idx] + np.arange(length)] = wave
    waves = clean + pink_noise(gen, n, SAMPLE_RATE)

    clean_power = mel_power(clean, SAMPLE_RATE, n_mels)
    peak = clean_power.max(axis=(1, 2), keepdims=True)
    masks = (clean_power > MASK_FRACTION * peak) & (peak > 0)
    return Dataset(
        "synthetic_speech",
        "speech",
        standardised_log_mel(mel_power(waves, SAMPLE_RATE, n_mels)),
        torch.as_tensor(y, dtype=torch.int64),
        classes,
        torch.as_tensor(masks),
    )
