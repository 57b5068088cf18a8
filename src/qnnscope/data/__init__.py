"""Datasets of the QGrad-CAM study behind one :func:`load`: bundled, synthetic and user-supplied.

Bundled and synthetic sets always load offline; user data (MNIST IDX files, image folders, CIFAR-10
batches, Speech Commands and other speech folders under ``root``) raises :class:`MissingData`
naming what is missing, and :func:`available` asks the same question without loading, so a paper
run can be skipped with that reason.  :func:`check_options` checks a config's options against the
loader's signature (names, and values against its type hints) before anything loads.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from pathlib import Path

from qnnscope.data import folders, images, speech, synthetic
from qnnscope.data.dataset import Dataset, MissingData, split
from qnnscope.data.transforms import check_image_options, image_size

__all__ = ["NAMES", "Dataset", "MissingData", "available", "check_options", "load", "split"]

_BUILTIN: dict[str, Callable[..., Dataset]] = {
    "digits": images.digits,
    "mnist_subset": images.mnist_subset,
    "synthetic_images": synthetic.synthetic_images,
    "synthetic_rgb": synthetic.synthetic_rgb,
    "synthetic_speech": synthetic.synthetic_speech,
}
_USER: dict[str, tuple[Callable[..., Dataset], Callable[..., None]]] = {
    "mnist": (images.mnist, images.check_mnist),
    "image_folder": (folders.image_folder, folders.check_image_folder),
    "cifar10": (folders.cifar10, folders.check_cifar10),
    "speech_commands": (speech.speech_commands, speech.check_speech_commands),
    "speech_folder": (speech.speech_folder, speech.check_speech_folder),
}
NAMES = tuple(_BUILTIN) + tuple(_USER)
_VALUE_CHECKS: dict[str, Callable[[object], object]] = {
    "size": image_size, "noise": speech.noise_spec, "level": speech.folder_level, "seconds": speech.clip_seconds,
}
"""Options whose values need more than their type hint says (ranges, mappings): checked by these functions."""
_IMAGE_OPTIONS = ("size", "resize", "channels", "normalise")


def _user_root(name: str, root: str | Path | None) -> Path:
    """``root`` as a path; MissingData if a user dataset was asked for without one."""
    if root is None:
        raise MissingData(f"dataset {name!r} is user data: pass root=<directory holding it>")
    return Path(root)


def load(
    name: str, *, root: str | Path | None = None, n_per_class: int | None = None, seed: int = 0, **options
) -> Dataset:
    """Dataset ``name`` (one of :data:`NAMES`); ``root`` for user data; ``options`` go to its loader."""
    check_options(name, {**options, "n_per_class": n_per_class})
    if name in _BUILTIN:
        return _BUILTIN[name](n_per_class=n_per_class, seed=seed, **options)
    return _USER[name][0](_user_root(name, root), n_per_class=n_per_class, seed=seed, **options)


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


def _fits(value: object, hint: object) -> bool:
    """Whether a config value (YAML: lists for sequences) is of type ``hint``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is type(None):
        return value is None
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(map(_fits, value, args))
        return all(_fits(v, args[0]) for v in value) if args else True
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, origin or hint)


def _describe(hint: object) -> str:
    """A type hint in words, for error messages."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is type(None):
        return "null"
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, args))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(map(_describe, args))
    if origin in (list, tuple) and args:
        items = {_describe(a).removeprefix("an ").removeprefix("a ") + "s" for a in args if a is not Ellipsis}
        count = f"{len(args)} " if args[-1] is not Ellipsis and origin is tuple else ""
        return f"a list of {count}{' or '.join(sorted(items))}"
    if origin in (list, tuple):
        return "a list"
    return {int: "an integer", float: "a number", str: "a string", bool: "true/false", dict: "a mapping"}.get(
        origin or hint, getattr(hint, "__name__", str(hint)))


def check_options(name: str, options: dict, where: str = "") -> None:
    """Refuse an unknown dataset, an unknown loader option or a value of the wrong type or range before
    anything loads, naming the key, the value and what is allowed (``where`` prefixes the config key)."""
    if name not in NAMES:
        raise ValueError(f"{where}dataset: unknown dataset {name!r}; allowed: {', '.join(NAMES)}")
    loader = _BUILTIN[name] if name in _BUILTIN else _USER[name][0]
    parameters = inspect.signature(loader).parameters
    allowed = [p for p in parameters if p not in ("root", "seed", "n_per_class")]
    unknown = sorted(set(options) - set(allowed) - {"n_per_class"})
    if unknown:
        raise ValueError(f"{where}options: {', '.join(map(repr, unknown))} not an option of dataset {name!r}; "
                         f"allowed: {', '.join(allowed + ['n_per_class'])}")
    hints = typing.get_type_hints(loader)
    for key, value in options.items():
        if key == "n_per_class":
            if value is not None and not (_fits(value, int) and value >= 1):
                raise ValueError(f"{where}options.n_per_class: {value!r} is not allowed; allowed: a positive integer")
            continue
        if not _fits(value, hints[key]):
            booleans = any(isinstance(v, bool) for v in (value if isinstance(value, (list, tuple)) else [value]))
            hint = " (YAML reads unquoted yes, no, on, off as true/false: quote them)" if booleans else ""
            raise ValueError(f"{where}options.{key}: {value!r} is not allowed for dataset {name!r}; "
                             f"allowed: {_describe(hints[key])}{hint}")
    try:
        for key in sorted(set(options) & set(_VALUE_CHECKS)):
            _VALUE_CHECKS[key](options[key])
        if set(_IMAGE_OPTIONS) <= set(parameters):
            check_image_options(**{k: options.get(k, parameters[k].default) for k in _IMAGE_OPTIONS})
    except ValueError as exc:
        raise ValueError(f"{where}options.{str(exc).removeprefix('option ')}") from None
