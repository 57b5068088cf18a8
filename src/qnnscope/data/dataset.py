"""The :class:`Dataset` every loader returns, per-class subsampling and the stratified split.

One container for images (grey or RGB) and spectrograms, so models and explanations never ask where
the data came from; ``masks`` carries the ground-truth evidence (the synthetic sets' objects, the
speech frames above the noise floor of noisy speech) for localisation metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from qnnscope.sampling import stable_seed


class MissingData(FileNotFoundError):
    """User-supplied data (MNIST IDX files, image or speech folders, CIFAR-10 batches) is not where it was asked for."""


@dataclass(frozen=True)
class Dataset:
    """Inputs ``x`` (N, C, H, W) float32 with C = 1 (grey images, spectrograms) or 3 (RGB, channels in
    R, G, B order), labels ``y`` (N,) int64, class names, optional masks (N, H, W) bool shared by the channels."""

    name: str
    kind: str
    x: torch.Tensor
    y: torch.Tensor
    classes: tuple[str, ...]
    masks: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.y)

    def take(self, indices: np.ndarray) -> Dataset:
        """The samples at ``indices``, masks along."""
        idx = torch.as_tensor(np.asarray(indices), dtype=torch.long)
        masks = None if self.masks is None else self.masks[idx]
        return Dataset(self.name, self.kind, self.x[idx], self.y[idx], self.classes, masks)


def data_folder(root: str | Path, part: str | None, what: str, layout: str) -> tuple[Path, Path]:
    """(root, the folder to read: ``root/part``, or ``root`` without a part); MissingData naming what is absent."""
    root = Path(root)
    if not root.is_dir():
        raise MissingData(f"{what} {root} not found: expected {layout}")
    base = root if part is None else root / part
    if not base.is_dir():
        raise MissingData(f"option part: folder {base} not found; folders in {root}: "
                          f"{sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith('.'))}")
    return root, base


def rng(name: str, seed: int, *parts: object) -> np.random.Generator:
    """The random stream of dataset ``name`` under ``seed``: a stable hash, so no two datasets share one."""
    return np.random.default_rng(stable_seed("qnnscope.data", name, seed, *parts))


def per_class_indices(y: np.ndarray, n_per_class: int | None, seed: int) -> np.ndarray:
    """Sorted indices of at most ``n_per_class`` samples of each class, drawn without replacement by ``seed``."""
    y = np.asarray(y)
    if n_per_class is None:
        return np.arange(len(y))
    if n_per_class < 1:
        raise ValueError(f"n_per_class must be >= 1, got {n_per_class}")
    gen = rng("per_class", seed)
    picks = [gen.permutation(np.flatnonzero(y == c))[:n_per_class] for c in np.unique(y)]
    return np.sort(np.concatenate(picks))


def split(ds: Dataset, test_fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """A stratified (train, test) split: every class keeps its share in both parts; same seed, same split."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    train, test = train_test_split(
        np.arange(len(ds)),
        test_size=test_fraction,
        stratify=ds.y.numpy(),
        random_state=stable_seed("qnnscope.data.split", ds.name, seed) % 2**32,
    )
    return ds.take(np.sort(train)), ds.take(np.sort(test))
