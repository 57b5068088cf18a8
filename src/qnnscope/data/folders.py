"""User image sets: class-per-folder trees read with Pillow, and CIFAR-10's python batches.

- ``image_folder``: ``root/<class>/*.jpg|jpeg|png`` (Kaggle's Dogs vs Cats once sorted into
  ``cat/`` and ``dog/``), or ``root/<part>/<class>/...`` (hymenoptera's ``train/`` and ``val/``);
  classes are the folders in sorted order, hidden files and folders skipped.
- ``cifar10``: the python batches of Krizhevsky's CIFAR-10 (``data_batch_1..5``, ``test_batch``,
  ``batches.meta``) in ``root`` or ``root/cifar-10-batches-py``; the pickles are read by an
  unpickler that admits numpy arrays and nothing else, so a forged batch cannot run code.

Both go through :mod:`qnnscope.data.transforms` (resize, RGB or grey, normalisation).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image

from qnnscope.data.dataset import Dataset, MissingData, data_folder, per_class_indices
from qnnscope.data.transforms import Channels, Normalise, Resize, check_image_options, picture, scaled

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
LAYOUT = "root/<class>/*.jpg|jpeg|png (or root/<part>/<class>/... with option part)"
CIFAR_BATCHES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
CIFAR_PIXELS = 3 * 32 * 32


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _class_dirs(base: Path, classes: list[str] | None) -> list[Path]:
    """The class folders of ``base``: ``classes`` in the order given, or all folders sorted; at least two."""
    found = [p for p in _visible(base) if p.is_dir()]
    if classes is None:
        if not found:
            raise MissingData(f"no class folders in {base}: expected {LAYOUT}")
        dirs = found
    else:
        missing = [c for c in classes if not (base / c).is_dir()]
        if missing:
            raise MissingData(f"option classes: folders {missing} not found in {base}; "
                              f"found: {[p.name for p in found]}")
        dirs = [base / c for c in classes]
    if len(dirs) < 2:
        raise ValueError(f"{base}: {len(dirs)} class folder(s) {[p.name for p in dirs]}; a classifier needs at least 2")
    return dirs


def _image_files(root: str | Path, part: str | None, classes: list[str] | None
                 ) -> tuple[list[Path], np.ndarray, tuple[str, ...]]:
    """Image paths, labels and class names of the tree under ``root`` (or ``root/part``)."""
    _, base = data_folder(root, part, "image folder", LAYOUT)
    paths, labels = [], []
    dirs = _class_dirs(base, classes)
    for label, folder in enumerate(dirs):
        entries = _visible(folder)
        files = [p for p in entries if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        if not files:
            inner = [p.name for p in entries if p.is_dir()]
            hint = f" (it holds folders {inner}: pass part: {folder.name} to read {folder}/<class>/)" if inner else ""
            raise MissingData(f"class folder {folder} holds no {'/'.join(IMAGE_SUFFIXES)} images{hint}")
        paths += files
        labels += [label] * len(files)
    return paths, np.asarray(labels, dtype=np.int64), tuple(d.name for d in dirs)


def check_image_folder(root: str | Path, *, part: str | None = None, classes: list[str] | None = None,
                       **_: object) -> None:
    """Raise MissingData unless ``root`` holds the class folders :func:`image_folder` would read (images unopened)."""
    _image_files(root, part, classes)


def _read_image(path: Path, channels: int, size: tuple[int, int] | None, resize: str) -> np.ndarray:
    """One image file as (C, H, W) uint8; ValueError naming the file if Pillow cannot decode it."""
    try:
        with Image.open(path) as image:
            return picture(image, channels, size, resize)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ValueError(f"{path}: not a readable image ({exc})") from exc


def _stack(pictures: list[np.ndarray], names: list) -> np.ndarray:
    """(N, C, H, W) of same-sized pictures; ValueError naming the first one of another size (no ``size`` given)."""
    for pixels, name in zip(pictures, names):
        if pixels.shape != pictures[0].shape:
            raise ValueError(f"{name} is {pixels.shape[1]}×{pixels.shape[2]} but {names[0]} is "
                             f"{pictures[0].shape[1]}×{pictures[0].shape[2]}: set option size to resize them")
    return np.stack(pictures)


def image_folder(
    root: str | Path,
    *,
    n_per_class: int | None = None,
    seed: int = 0,
    part: str | None = None,
    classes: list[str] | None = None,
    size: int | list[int] | None = 32,
    resize: Resize = "shorter",
    channels: Channels = 3,
    normalise: Normalise = "none",
) -> Dataset:
    """Images of ``root/<class>/`` (or ``root/<part>/<class>/``), ``n_per_class`` per class drawn by ``seed``,
    in RGB (or grey, ``channels: 1``), resized to ``size`` (None: as stored, all alike) and normalised."""
    hw = check_image_options(size, resize, channels, normalise)
    paths, labels, names = _image_files(root, part, classes)
    keep = per_class_indices(labels, n_per_class, seed)
    chosen = [paths[i] for i in keep]
    pixels = _stack([_read_image(p, channels, hw, resize) for p in chosen], chosen)
    return Dataset("image_folder", "image", scaled(pixels, normalise), torch.as_tensor(labels[keep]), names)


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds plain containers and numpy arrays only (CIFAR's batches hold nothing else)."""

    ALLOWED = {(m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray") for n in ("_reconstruct", "scalar")}
    ALLOWED |= {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}  # encode: bytes pickled by Python 3

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a data batch")
        return super().find_class(module, name)


def _unpickle(path: Path, keys: tuple[str, ...]) -> dict:
    """The dict pickled in ``path`` with str keys, holding at least ``keys``; ValueError naming the file otherwise."""
    try:
        with path.open("rb") as handle:
            batch = _ArrayUnpickler(handle, encoding="latin1").load()
    except Exception as exc:  # a corrupt pickle can raise nearly any error type
        raise ValueError(f"{path}: not a CIFAR-10 python batch ({type(exc).__name__}: {exc})") from exc
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: not a CIFAR-10 python batch (holds a {type(batch).__name__}, not a dict)")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    missing = [k for k in keys if k not in batch]
    if missing:
        raise ValueError(f"{path}: CIFAR-10 batch without key(s) {missing}; it has {sorted(map(str, batch))}")
    return batch


def _cifar_dir(root: str | Path) -> Path:
    """The folder holding ``batches.meta``: ``root`` or ``root/cifar-10-batches-py``."""
    root = Path(root)
    for folder in (root, root / "cifar-10-batches-py"):
        if (folder / "batches.meta").is_file():
            return folder
    if not root.is_dir():
        raise MissingData(f"CIFAR-10 directory {root} not found: expected the python batches "
                          "(data_batch_1..5, test_batch, batches.meta) there")
    raise MissingData(f"{root / 'batches.meta'} not found (nor in {root / 'cifar-10-batches-py'}): "
                      "expected CIFAR-10's python batches")


def _cifar_files(root: str | Path, part: str, classes: list[str] | None) -> tuple[list[Path], list[str], list[str]]:
    """The batch files of ``part``, the class names of batches.meta and the names of ``classes`` (all if None)."""
    if part not in CIFAR_BATCHES:
        raise ValueError(f"option part: {part!r} is not allowed for cifar10; allowed: {', '.join(CIFAR_BATCHES)}")
    folder = _cifar_dir(root)
    missing = [name for name in CIFAR_BATCHES[part] if not (folder / name).is_file()]
    if missing:
        raise MissingData(f"CIFAR-10 batch file(s) {missing} not found in {folder}")
    meta_path = folder / "batches.meta"
    meta = _unpickle(meta_path, ("label_names",))["label_names"]
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in meta]
    if len(names) != len(set(names)) or not names:
        raise ValueError(f"{meta_path}: label_names {names} are not distinct class names")
    unknown = [c for c in classes or () if c not in names]
    if unknown:
        raise ValueError(f"option classes: {unknown} not CIFAR-10 classes; allowed: {', '.join(names)}")
    chosen = list(classes) if classes is not None else names
    if len(chosen) < 2:
        raise ValueError(f"option classes: {chosen} has {len(chosen)} class; a classifier needs at least 2")
    return [folder / name for name in CIFAR_BATCHES[part]], names, chosen


def check_cifar10(root: str | Path, *, part: str = "train", classes: list[str] | None = None, **_: object) -> None:
    """Raise MissingData unless the batches :func:`cifar10` would read are in ``root`` (only batches.meta is opened)."""
    _cifar_files(root, part, classes)


def _cifar_batch(path: Path, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3, 32, 32) uint8 pixels and labels of one batch, checked against the format."""
    batch = _unpickle(path, ("data", "labels"))
    pixels, labels = batch["data"], np.asarray(batch["labels"])
    if not (isinstance(pixels, np.ndarray) and pixels.dtype == np.uint8 and pixels.shape[1:] == (CIFAR_PIXELS,)):
        found = f"{pixels.dtype} {pixels.shape}" if isinstance(pixels, np.ndarray) else type(pixels).__name__
        raise ValueError(f"{path}: data must be a uint8 array (N, {CIFAR_PIXELS}), got {found}")
    if labels.shape != (len(pixels),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{path}: {len(pixels)} images but labels of shape {labels.shape} ({labels.dtype})")
    if len(labels) and not 0 <= labels.min() <= labels.max() < n_classes:
        raise ValueError(f"{path}: labels outside 0..{n_classes - 1} (found {labels.min()}..{labels.max()})")
    return pixels.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def cifar10(
    root: str | Path,
    *,
    n_per_class: int | None = None,
    seed: int = 0,
    part: Literal["train", "test"] = "train",
    classes: list[str] | None = None,
    size: int | list[int] | None = None,
    resize: Resize = "shorter",
    channels: Channels = 3,
    normalise: Normalise = "none",
) -> Dataset:
    """CIFAR-10 (Krizhevsky 2009) from its python batches: ``part`` train (50k) or test (10k), ``classes``
    a subset by name (in that order), 32×32 RGB or resized to ``size``, in grey with ``channels: 1``, normalised."""
    hw = check_image_options(size, resize, channels, normalise)
    files, names, chosen = _cifar_files(root, part, classes)
    batches = [_cifar_batch(path, len(names)) for path in files]
    pixels, labels = np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])
    relabel = np.full(len(names), -1)
    relabel[[names.index(c) for c in chosen]] = np.arange(len(chosen))
    inside = np.flatnonzero(relabel[labels] >= 0)
    keep = inside[per_class_indices(relabel[labels[inside]], n_per_class, seed)]
    pixels = pixels[keep]
    if (hw, channels) != (None, 3):
        pixels = np.stack([picture(Image.fromarray(p.transpose(1, 2, 0)), channels, hw, resize) for p in pixels])
    return Dataset("cifar10", "image", scaled(pixels, normalise), torch.as_tensor(relabel[labels[keep]]), tuple(chosen))
