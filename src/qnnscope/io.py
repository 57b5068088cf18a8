"""Parquet I/O: atomic writes and provenance.

Nothing is ever half-written: every table goes to a temporary file in the target directory and
is renamed into place, so a killed job leaves either the old file or the new one.
"""

from __future__ import annotations

import glob
import json
import os
import platform
import re
import tempfile
from contextlib import contextmanager
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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def atomic_output(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; when the block finishes, give the file the usual
    permissions (mkstemp makes it 0600; results are shared files) and rename it to ``path``.  If
    the block raises, the temporary file is removed and ``path`` is untouched.  Temporary names
    carry the writer's host and PID: temporary files of the same ``path`` that a killed writer on
    this host left behind are removed first, never those of a writer that is still running."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    host = re.sub(r"[^A-Za-z0-9_-]", "_", platform.node())
    for stale in path.parent.glob(f".{glob.escape(path.name)}.{glob.escape(host)}-*.tmp"):
        pid = stale.name[len(f".{path.name}.{host}-"):].split(".")[0]
        if pid.isdigit() and not _alive(int(pid)):
            stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{host}-{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_parquet(df: pd.DataFrame, path: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Write ``df`` to ``path`` atomically (temporary file + rename); ``metadata`` is stored as
    JSON under the schema key ``qnnscope``."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    if metadata is not None:
        meta = dict(table.schema.metadata or {})
        meta[b"qnnscope"] = json.dumps(metadata, sort_keys=True, default=str).encode()
        table = table.replace_schema_metadata(meta)
    with atomic_output(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def write_html_table(df: pd.DataFrame, path: str | os.PathLike, title: str) -> Path:
    """``df`` as a self-contained HTML page (floats to 4 significant digits), written atomically."""
    style = ("body{font-family:sans-serif;font-size:13px} table{border-collapse:collapse}"
             " th,td{border:1px solid #ccc;padding:2px 6px;text-align:right} th{background:#eee;position:sticky;top:0}")
    body = df.to_html(index=False, float_format=lambda x: f"{x:.4g}", na_rep="", border=0)
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title><style>{style}</style></head>"
            f"<body><h3>{title}</h3><p>{len(df)} rows, {df.shape[1]} columns</p>{body}</body></html>")
    with atomic_output(path) as tmp:
        Path(tmp).write_text(page, encoding="utf-8")
    return Path(path)


def parquet_intact(path: str | os.PathLike) -> bool:
    """Whether ``path`` ends like a whole Parquet file: the magic ``PAR1`` at both ends and a footer
    length that fits.  Reads 8 bytes at each end (no pyarrow), so a workflow can check thousands of
    shards before it plans any job; a truncated or overwritten file fails it."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
            size = f.seek(0, os.SEEK_END)
            if size < 12:
                return False
            f.seek(size - 8)
            tail = f.read(8)
    except OSError:
        return False
    footer = int.from_bytes(tail[:4], "little")
    return head == b"PAR1" and tail[4:] == b"PAR1" and footer <= size - 12


def set_aside(path: str | os.PathLike, why: str) -> Path:
    """Rename a damaged result to ``<name>.corrupt`` (kept for inspection, never read again) and
    return the new path; ``why`` is recorded beside it."""
    path = Path(path)
    aside = path.with_name(path.name + ".corrupt")
    os.replace(path, aside)
    aside.with_name(aside.name + ".why").write_text(why + "\n", encoding="utf-8")
    return aside


def read_metadata(path: str | os.PathLike) -> dict | None:
    """The JSON stored by :func:`write_parquet` under ``qnnscope``; None if the file is missing,
    unreadable or carries none."""
    try:
        meta = pq.read_schema(path).metadata or {}
        return json.loads(meta[b"qnnscope"]) if b"qnnscope" in meta else None
    except (OSError, ValueError, pa.ArrowInvalid):
        return None


def read_tables(paths: list[str | os.PathLike]) -> pd.DataFrame:
    """Concatenate Parquet files; a missing or unreadable file raises an error naming it."""
    frames = []
    for p in paths:
        if not Path(p).is_file():
            raise FileNotFoundError(f"no such Parquet file: {p}")
        try:
            frames.append(pd.read_parquet(p))
        except Exception as exc:  # pyarrow raises several types; name the file
            raise ValueError(f"cannot read Parquet file {p} (damaged?): {exc}; delete it and run again: the workflow "
                             "recomputes a deleted result") from exc
    return pd.concat(frames, ignore_index=True)
