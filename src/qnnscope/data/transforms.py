"""The image pipeline of the user image sets: RGB or grey, resize, normalise, as (N, C, H, W) float32.

``resize: shorter`` is torchvision's Resize + CenterCrop convention for pretrained backbones (the
image scaled until it covers the target, keeping its aspect ratio, then the centre cut out);
``exact`` stretches to the target.  Pillow resamples bilinearly (antialiased when shrinking).
``normalise: imagenet`` uses the ImageNet statistics of torchvision's pretrained models.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
Resize = Literal["shorter", "exact"]
Normalise = Literal["none", "imagenet", "dataset"]
Channels = Literal[1, 3]
RESIZE, NORMALISE, CHANNELS = ("shorter", "exact"), ("none", "imagenet", "dataset"), (1, 3)


def image_size(size: int | list[int] | tuple[int, int] | None) -> tuple[int, int] | None:
    """``size`` (one side, or [H, W]) as (H, W), None kept; ValueError naming the option otherwise."""
    if size is None:
        return None
    hw = [size, size] if isinstance(size, int) else list(size) if isinstance(size, (list, tuple)) else []
    if len(hw) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in hw):
        raise ValueError(f"option size: {size!r} is not allowed; allowed: a positive integer or a list [H, W] of two")
    return hw[0], hw[1]


def check_image_options(size, resize: str, channels: int, normalise: str) -> tuple[int, int] | None:
    """The target (H, W) after checking the pipeline's options; ValueError naming the option otherwise."""
    for key, value, allowed in (("resize", resize, RESIZE), ("channels", channels, CHANNELS),
                                ("normalise", normalise, NORMALISE)):
        if value not in allowed or isinstance(value, bool):
            raise ValueError(f"option {key}: {value!r} is not allowed; allowed: {', '.join(map(repr, allowed))}")
    if normalise == "imagenet" and channels != 3:
        raise ValueError("option normalise: 'imagenet' needs channels: 3 (ImageNet's statistics are per RGB channel)")
    return image_size(size)


def fit(image: Image.Image, size: tuple[int, int] | None, resize: str) -> Image.Image:
    """``image`` resized to ``size`` (H, W): stretched (``exact``), or scaled to cover it and centre-cropped."""
    if size is None:
        return image
    h, w = size
    if resize == "exact":
        return image.resize((w, h), Image.Resampling.BILINEAR)
    scale = max(h / image.height, w / image.width)
    new_w, new_h = max(w, round(image.width * scale)), max(h, round(image.height * scale))
    left, top = round((new_w - w) / 2), round((new_h - h) / 2)
    return image.resize((new_w, new_h), Image.Resampling.BILINEAR).crop((left, top, left + w, top + h))


def picture(image: Image.Image, channels: int, size: tuple[int, int] | None, resize: str) -> np.ndarray:
    """(C, H, W) uint8 of ``image`` in RGB (alpha dropped) or grey (ITU-R 601 luma), resized."""
    pixels = np.asarray(fit(image.convert("RGB" if channels == 3 else "L"), size, resize))
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)


def scaled(pixels: np.ndarray, normalise: str) -> torch.Tensor:
    """(N, C, H, W) uint8 ``pixels`` as float32 in [0, 1], then standardised per channel by ImageNet's
    statistics or the set's own (population) mean and standard deviation."""
    x = np.asarray(pixels, dtype=np.float64) / 255.0
    if normalise != "none":
        if normalise == "imagenet":
            mean, std = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)
        else:
            mean, std = x.mean(axis=(0, 2, 3)), x.std(axis=(0, 2, 3))
            if (std == 0).any():
                raise ValueError(f"option normalise: 'dataset' cannot standardise channel "
                                 f"{int(np.argmin(std))}: it is constant over the set")
        x = (x - mean[None, :, None, None]) / std[None, :, None, None]
    return torch.as_tensor(x.astype(np.float32))
