"""The :class:`Dataset` every loader returns, per-class subsampling and the stratified split.

One container for images and spectrograms, so models and explanations never ask where the data
came from; ``masks`` carries the ground-truth evidence of the synthetic sets for localisation metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from qnnscope.sampling import stable_seed


class MissingData(FileNotFoundError):
    """User-supplied data (MNIST IDX files, Speech Commands folders) is not where it was asked for."""


@dataclass(frozen=True)
class Dataset:
    """Inputs ``x`` (N, 1, H, W) float32, labels ``y`` (N,) int64, class names, optional masks (N, H, W) bool."""

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
