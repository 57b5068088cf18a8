"""Shard files: one chunk of samples of one sweep point, written atomically with metadata that
says exactly what it holds, so a rerun keeps every shard that is already current."""

from __future__ import annotations

import json

import numpy as np

from qnnscope.gradients.evaluate import compute
from qnnscope.gradients.point import GradientPoint
from qnnscope.io import read_metadata, write_parquet


def shard_metadata(point: GradientPoint, samples: int, chunk: int, base_seed: int) -> dict:
    """What a shard's file records about how it was made (schema metadata key ``qnnscope``)."""
    columns = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in point.columns().items()}
    return {"point": columns | {"params": point.params}, "samples": int(samples), "chunk": int(chunk),
            "base_seed": int(base_seed)}


def write_shard(path, point: GradientPoint, samples: int, chunk: int, base_seed: int, extra: dict | None = None,
                progress: bool | None = None):
    """Compute chunk ``chunk`` of ``point`` and write it to ``path`` atomically; ``extra`` columns
    (e.g. the workflow's ``sweep`` and ``depth_rule``) go first."""
    frame = compute(point, samples, chunk, base_seed, progress=progress)
    for i, (name, value) in enumerate((extra or {}).items()):
        frame.insert(i, name, value)
    return write_parquet(frame, path, shard_metadata(point, samples, chunk, base_seed))


def shard_is_current(path, point: GradientPoint, samples: int, chunk: int, base_seed: int) -> bool:
    """Whether ``path`` is a complete shard of exactly this point, sample count, chunk and seed
    (files are written atomically, so one that exists and says so is whole)."""
    expected = json.loads(json.dumps(shard_metadata(point, samples, chunk, base_seed), sort_keys=True, default=str))
    return read_metadata(path) == expected
