"""Parquet I/O: atomic writes and provenance.

Nothing is ever half-written: every table goes to a temporary file in the target directory and
is renamed into place, so a killed job leaves either the old file or the new one.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import qnnscope


def provenance(backend: str, dtype: str, device: str, seed: int | None, wall_time_s: float) -> dict:
    """The provenance columns every table row carries."""
    import torch

    return {
        "qnnscope_version": qnnscope.__version__,
        "backend": backend,
        "dtype": dtype,
        "device": device,
        "seed": seed,
        "wall_time_s": wall_time_s,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "host": platform.node(),
    }


def write_parquet(df: pd.DataFrame, path: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Write ``df`` to ``path`` atomically (temporary file + rename); ``metadata`` is stored as
    JSON under the schema key ``qnnscope``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(df, preserve_index=False)
    if metadata is not None:
        meta = dict(table.schema.metadata or {})
        meta[b"qnnscope"] = json.dumps(metadata, sort_keys=True, default=str).encode()
        table = table.replace_schema_metadata(meta)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; results are shared files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_tables(paths: list[str | os.PathLike]) -> pd.DataFrame:
    """Concatenate Parquet files; a missing or unreadable file raises an error naming it."""
    frames = []
    for p in paths:
        if not Path(p).is_file():
            raise FileNotFoundError(f"no such Parquet file: {p}")
        try:
            frames.append(pd.read_parquet(p))
        except Exception as exc:  # pyarrow raises several types; name the file
            raise ValueError(f"cannot read Parquet file {p}: {exc}") from exc
    return pd.concat(frames, ignore_index=True)
