"""Datasets of the QGrad-CAM study behind one :func:`load`: bundled, synthetic and user-supplied.

Bundled and synthetic sets always load offline; user data (MNIST IDX files, Speech Commands
folders under ``root``) raises :class:`MissingData` naming what is missing, and :func:`available`
asks the same question without loading, so a paper run can be skipped with that reason.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

from qnnscope.data import images, speech, synthetic
from qnnscope.data.dataset import Dataset, MissingData, split

__all__ = ["NAMES", "Dataset", "MissingData", "available", "check_options", "load", "split"]

_BUILTIN: dict[str, Callable[..., Dataset]] = {
    "digits": images.digits,
    "mnist_subset": images.mnist_subset,
    "synthetic_images": synthetic.synthetic_images,
    "synthetic_speech": synthetic.synthetic_speech,
}
_USER: dict[str, tuple[Callable[..., Dataset], Callable[..., None]]] = {
    "mnist": (images.mnist, images.check_mnist),
    "speech_commands": (speech.speech_commands, speech.check_speech_commands),
}
NAMES = tuple(_BUILTIN) + tuple(_USER)


def _user_root(name: str, root: str | Path | None) -> Path:
    """``root`` as a path; MissingData if a user dataset was asked for without one."""
    if root is None:
        raise MissingData(f"dataset {name!r} is user data: pass root=<directory holding it>")
    return Path(root)


def load(
    name: str, *, root: str | Path | None = None, n_per_class: int | None = None, seed: int = 0, **options
) -> Dataset:
    """Dataset ``name`` (one of :data:`NAMES`); ``root`` for user data; ``options`` go to its loader."""
    if name in _BUILTIN:
        return _BUILTIN[name](n_per_class=n_per_class, seed=seed, **options)
    if name in _USER:
        return _USER[name][0](_user_root(name, root), n_per_class=n_per_class, seed=seed, **options)
    raise ValueError(f"unknown dataset {name!r}; choose from {NAMES}")


def available(name: str, root: str | Path | None = None, **options) -> tuple[bool, str]:
    """(True, "") if :func:`load` can read ``name`` from ``root``, else (False, why) — without loading it."""
    if name in _BUILTIN:
        return True, ""
    if name not in _USER:
        raise ValueError(f"unknown dataset {name!r}; choose from {NAMES}")
    try:
        _USER[name][1](_user_root(name, root), **options)
    except MissingData as missing:
        return False, str(missing)
    return True, ""


def check_options(name: str, options: dict, where: str = "") -> None:
    """Refuse an unknown dataset or loader option before anything loads, naming the key and what
    is allowed (``where`` prefixes the config key)."""
    if name not in NAMES:
        raise ValueError(f"{where}dataset: unknown dataset {name!r}; allowed: {', '.join(NAMES)}")
    loader = _BUILTIN[name] if name in _BUILTIN else _USER[name][0]
    allowed = [p for p in inspect.signature(loader).parameters if p not in ("root", "seed", "n_per_class")]
    unknown = sorted(set(options) - set(allowed) - {"n_per_class"})
    if unknown:
        raise ValueError(f"{where}options: {', '.join(map(repr, unknown))} not an option of dataset {name!r}; "
                         f"allowed: {', '.join(allowed + ['n_per_class'])}")
