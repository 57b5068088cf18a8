"""Benchmark McClean's measurement ∂⟨Z0Z1⟩/∂θ_{1,1} against the peers in ``peers.py``.

For every qubit count it times each peer and the qnnscope torch engine on the same ``theta`` and
``choices`` (numpy ``default_rng(seed)``), and prints seconds per (n, peer) for ``--samples``
samples, the ratios peer/engine, the first-call (compile) times, the machine's copy bandwidth
and GEMM rate, and the engine's achieved memory traffic and flop rate.  A cell whose estimated
time exceeds ``--budget`` is timed on a subset of samples and scaled linearly (marked ``*``).
Every cell records the 1-minute load average at its start and end and its CPU/wall ratio
(process CPU seconds over wall seconds of the timed runs: ≈ threads when the libraries' threads
had the cores to themselves).  Peers whose library does not import read ``n/a`` with the reason.

    .venv/bin/python benchmarks/bench_gradients.py --check --qubits 4 8 12 16 20 --threads 1
    .venv/bin/python benchmarks/bench_gradients.py --check --qubits 4 8 12 16 20 --threads 2
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ENGINE = "engine"
LOW_CPU = 0.8
"""A cell whose CPU/wall ratio is below LOW_CPU × threads did not keep its threads busy."""


def _limit_threads(threads: int) -> None:
    """Pin this process to ``threads`` CPUs and tell every threaded library the same.

    Must run before numpy, torch, jax or the simulators are imported (numba, which runs the
    engine's kernels and qibojit's, reads NUMBA_NUM_THREADS once, at import; qulacs reads
    QULACS_NUM_THREADS).  torch's pool is set by the caller with ``torch.set_num_threads``."""
    for var in (
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "NUMEXPR_NUM_THREADS",
        "NUMBA_NUM_THREADS",
        "QULACS_NUM_THREADS",
    ):
        os.environ[var] = str(threads)
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) > threads:
            os.sched_setaffinity(0, cpus[:threads])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--qubits", type=int, nargs="+", default=[4, 8, 12, 16, 20])
    p.add_argument("--depth", type=int, default=50)
    p.add_argument("--samples", type=int, default=200)
    p.add_argument(
        "--repeats", type=int, default=3, help="timed repeats per cell; the median is reported"
    )
    p.add_argument(
        "--budget",
        type=float,
        default=180.0,
        help="seconds per (n, peer) cell before subset scaling",
    )
    p.add_argument(
        "--peers",
        nargs="+",
        default=None,
        help="peer names (default: all) and/or 'engine': pl_loop pl_broadcast lightning aer "
        "tensorcircuit qulacs qsim qibojit engine",
    )
    p.add_argument("--out", type=Path, default=None, help="write <stem>.csv and <stem>.md here")
    p.add_argument("--check", action="store_true", help="check that all peers agree before timing")
    p.add_argument("--check-only", action="store_true", help="run the agreement check and exit")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument(
        "--threads",
        type=int,
        default=2,
        help="CPUs the process is pinned to and threads every library is given (1: single thread)",
    )
    p.add_argument(
        "--engine-evolutions",
        type=int,
        default=None,
        help="state evolutions per sample passed to work_estimate (default: its own default, "
        "the engine's CPU method: state + one forward-mode tangent = 2; parameter shift is 3)",
    )
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- inputs & engine


def draw(seed: int, n: int, depth: int, samples: int):
    """theta (S, n·depth) uniform on [0, 2π) and choices (S, n·depth) in {0, 1, 2}."""
    import numpy as np

    rng = np.random.default_rng(seed)
    theta = rng.uniform(0.0, 2 * np.pi, size=(samples, n * depth))
    choices = rng.integers(0, 3, size=(samples, n * depth))
    return theta, choices


@functools.lru_cache(maxsize=None)
def engine_problem(ansatz: str, cost: str, n: int, depth: int):
    """The engine's circuit and observable, built once per size: the engine compiles a circuit
    object once (its first call, reported apart) and reuses the plan while that object lives."""
    import qnnscope.circuits
    import qnnscope.costs

    return qnnscope.circuits.build(ansatz, n, depth), qnnscope.costs.make_cost(cost, n)


def engine_peer() -> tuple[Callable | None, str]:
    """The qnnscope torch engine as a peer-style function, or None and the reason it is missing."""
    try:
        from qnnscope.backends import get_backend

        engine_problem("mcclean", "Z0Z1", 2, 1)
        backend = get_backend("torch")
    except Exception as exc:  # noqa: BLE001 - engine under construction: report, do not crash
        return None, f"{type(exc).__name__}: {exc}"

    def run(n, depth, theta, choices):
        circuit, observable = engine_problem("mcclean", "Z0Z1", n, depth)
        _, grads = backend.evaluate(
            circuit, observable, theta, choices, params=[0], dtype="complex64"
        )
        return grads[:, 0]

    return run, ""


def engine_work(n: int, depth: int, samples: int, evolutions: int | None) -> dict | None:
    """``qnnscope.sim.engine.work_estimate`` for this cell, or None where it does not exist yet."""
    try:
        import qnnscope.circuits
        from qnnscope.sim.engine import work_estimate
    except Exception:  # noqa: BLE001
        return None
    circuit = qnnscope.circuits.build("mcclean", n, depth)
    if evolutions is None:
        return work_estimate(circuit, samples)
    return work_estimate(circuit, samples, evolutions)


# ------------------------------------------------------------------------------- machine


def machine_rates(threads: int) -> dict[str, float]:
    """Copy bandwidth (GB/s, read + write of a 256 MB float32 tensor) and GEMM rates (GFLOP/s,
    2048³; complex counted as 8 real flops per multiply-add)."""
    import torch

    torch.set_num_threads(threads)
    out = {}
    src = torch.ones(64 * 2**20, dtype=torch.float32)  # 256 MiB
    dst = torch.empty_like(src)
    t = _median_time(lambda: dst.copy_(src), 7)
    out["copy_GBps"] = 2 * src.numel() * 4 / t / 1e9
    N = 2048
    for dtype, flops in ((torch.float32, 2 * N**3), (torch.complex64, 8 * N**3)):
        a = torch.randn(N, N, dtype=dtype)
        b = torch.randn(N, N, dtype=dtype)
        t = _median_time(lambda a=a, b=b: a @ b, 3)
        out[f"gemm_{str(dtype).split('.')[-1]}_GFLOPs"] = flops / t / 1e9
    return out


def _median_time(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``repeats`` calls after one untimed warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


# ------------------------------------------------------------------------------- check


def check(names: list[str], fns: dict[str, Callable], seed: int, tol: float = 1e-4) -> bool:
    """All peers (and the engine, if present) agree on n=4, depth=5, S=8 to ``tol``."""
    import numpy as np

    n, depth, S = 4, 5, 8
    theta, choices = draw(seed, n, depth, S)
    grads = {}
    for name in names:
        try:
            grads[name] = np.asarray(fns[name](n, depth, theta, choices), dtype=float).reshape(S)
        except Exception as exc:  # noqa: BLE001 - a failing peer is reported, the rest checked
            print(f"check: {name} failed: {type(exc).__name__}: {exc}")
    if len(grads) < 2:
        print("check: fewer than two implementations ran; nothing to compare")
        return False
    consensus = np.median(np.stack(list(grads.values())), axis=0)
    ok = True
    print(f"check (n={n}, depth={depth}, S={S}): max |grad - median of all| per implementation")
    for name, g in grads.items():
        dev = float(np.max(np.abs(g - consensus)))
        ok &= dev <= tol
        print(f"  {name:14s} {dev:.2e}  {'ok' if dev <= tol else 'FAIL'}")
    worst = max(float(np.max(np.abs(a - b))) for a in grads.values() for b in grads.values())
    print(f"  largest pairwise difference {worst:.2e} (tolerance {tol:.0e})")
    return ok and worst <= tol


# ------------------------------------------------------------------------------- timing


@dataclass
class Cell:
    """The timing of one (n, peer)."""

    n: int
    peer: str
    dtype: str
    granule: int = 1
    max_samples: int = 2**62
    samples: int = 0
    seconds: float = math.nan  # for all ``samples`` (scaled if ``timed_samples`` is smaller)
    timed_samples: int = 0
    repeats: int = 0
    first_call: float = math.nan
    first_batch_steady: float = math.nan  # a second call on the first call's batch
    error: str = ""
    all_times: list[float] = field(default_factory=list)
    load: float = math.nan  # highest 1-minute load average seen at the cell's start and end
    load_start: float = math.nan  # 1-minute load average when the cell started
    cpu_ratio: float = math.nan  # process CPU seconds / wall seconds over the timed runs
    rerun: str = ""  # why the cell was measured a second time, if it was

    @property
    def scaled(self) -> bool:
        return 0 < self.timed_samples < self.samples


def time_cell(
    fn: Callable,
    n: int,
    depth: int,
    theta,
    choices,
    compiles: bool,
    repeats: int,
    budget: float,
    cell: Cell,
    min_pilot: float = 0.5,
) -> Cell:
    """Time ``fn`` on all samples if the budget allows ``repeats`` runs, else on a subset.

    Samples are counted in units of ``granule`` (a vmap chunk); the estimate for all samples is
    the median time of the timed subset × units(all) / units(subset)."""
    S = len(theta)
    cell.samples = S
    g = max(1, min(cell.granule, S))
    cap = max(g, min(S, cell.max_samples) // g * g)

    def units(s: int) -> int:
        return -(-s // g)

    record: dict[int, list[tuple[float, float]]] = {}  # batch -> [(wall, cpu)] in call order

    def run(s: int) -> float:
        c, t = time.process_time(), time.perf_counter()
        fn(n, depth, theta[:s], choices[:s])
        wall = time.perf_counter() - t
        record.setdefault(s, []).append((wall, time.process_time() - c))
        return wall

    spent = 0.0
    times: dict[int, list[float]] = {}
    if compiles:
        cell.first_call = run(g)
        spent += cell.first_call
    p = g
    while True:
        t = run(p)
        spent += t
        times.setdefault(p, []).append(t)
        if compiles and p == g and math.isnan(cell.first_batch_steady):
            cell.first_batch_steady = t
        if t >= min_pilot or p >= cap:
            break
        p = min(cap, units(4 * p) * g)
    per_unit = t / units(p)
    left = budget - spent
    if per_unit * units(S) * (repeats - len(times.get(S, []))) <= left:
        s = S
    else:
        affordable = int(left / (per_unit * max(1, repeats))) * g
        s = min(S, max(affordable, p))
    s = min(s, cap)
    runs = times.setdefault(s, [])
    while len(runs) < repeats and (not runs or spent + per_unit * units(s) <= budget):
        runs.append(run(s))
        spent += runs[-1]
    cell.seconds = statistics.median(runs) * units(S) / units(s)
    cell.timed_samples = s
    cell.repeats = len(runs)
    cell.all_times = runs
    timed = record[s][-len(runs):]  # the timed runs are the last calls on this batch
    cell.cpu_ratio = sum(cpu for _, cpu in timed) / sum(wall for wall, _ in timed)
    return cell


# ------------------------------------------------------------------------------- report


def _fmt(x: float) -> str:
    if math.isnan(x):
        return "n/a"
    return f"{x:.3g}" if x < 1000 else f"{x:.0f}"


def md_table(header: list[str], rows: list[list]) -> list[str]:
    """A Markdown table's lines."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(str(x) for x in row) + " |" for row in rows
    ]


def cell_table(cells: list[Cell], threads: int) -> list[str]:
    """Per-cell conditions: samples timed, load average at the start (and the highest of start
    and end), CPU/wall of the timed runs, and why a cell was re-run; then the cells whose
    CPU/wall stayed below 0.8 × ``threads``."""
    rows = [
        [
            c.n,
            c.peer,
            c.error[:60] if c.error else _fmt(c.seconds) + ("*" if c.scaled else ""),
            f"{c.timed_samples} × {c.repeats}",
            f"{c.load_start:.2f}",
            f"{c.load:.2f}",
            f"{c.cpu_ratio:.2f}",
            c.rerun or "—",
        ]
        for c in cells
    ]
    header = ["n", "column", "seconds", "timed samples × runs", "load at start", "load max",
              "CPU/wall", "re-run"]
    low = [c for c in cells if c.cpu_ratio < LOW_CPU * threads]
    note = [
        "",
        f"CPU/wall below {LOW_CPU} × {threads}: "
        + ", ".join(f"n={c.n} {c.peer} ({c.cpu_ratio:.2f})" for c in low)
        + " (code that runs on one thread, or cores taken by other processes).",
    ]
    return md_table(header, rows) + (note if low else [])


def scaled_footnote(cells: list[Cell]) -> list[str]:
    """The footnote for cells timed on a subset and scaled (none: no lines)."""
    scaled = [c for c in cells if c.scaled]
    if not scaled:
        return []
    return [
        "\\* scaled from a subset: "
        + "; ".join(f"n={c.n} {c.peer}: {c.timed_samples} samples ×{c.repeats}" for c in scaled),
        "",
    ]


def start_cell(cell: Cell) -> Cell:
    """Record the load average at the cell's start."""
    cell.load_start = cell.load = os.getloadavg()[0]
    return cell


def progress(cell: Cell) -> str:
    """One line on a finished cell for the console."""
    note = cell.error or (
        f"{_fmt(cell.seconds)} s"
        + (f" (scaled from {cell.timed_samples})" if cell.scaled else "")
        + (f", first call {_fmt(cell.first_call)} s" if not math.isnan(cell.first_call) else "")
    )
    return f"n={cell.n:2d} {cell.peer:14s} {note}  [load {cell.load:.1f}, CPU/wall {cell.cpu_ratio:.2f}]"


def markdown(cells: list[Cell], names: list[str], qubits: list[int], info: dict, args) -> str:
    by = {(c.n, c.peer): c for c in cells}
    lines = [
        (
            f"## McClean gradient ∂⟨Z0Z1⟩/∂θ_{{1,1}} (slot 0), depth {args.depth}, "
            f"{args.samples} samples, {args.threads} CPU thread(s)"
        ),
        "",
        "Seconds for all samples (median of repeats; `*` = timed on a subset and scaled linearly).",
        "",
        "| n | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for n in qubits:
        row = []
        for name in names:
            c = by.get((n, name))
            if c is None or c.error:
                row.append("err" if c is not None else "n/a")
            else:
                row.append(_fmt(c.seconds) + ("*" if c.scaled else ""))
        lines.append(f"| {n} | " + " | ".join(row) + " |")
    lines += [""]
    missing = info.get("unavailable", {})
    lines += [
        f"- `{nm}` ({info['dtypes'].get(nm, '?')}): {info['descriptions'].get(nm, '')}"
        + (f" — **n/a here**: {missing[nm]}" if nm in missing else "")
        for nm in names
    ]
    lines += [""]
    lines += scaled_footnote(cells)
    peers_only = [nm for nm in names if nm != ENGINE]
    if any(c.peer == ENGINE and not c.error for c in cells):
        lines += ["Ratio peer / engine (>1: the engine is faster).", ""]
        lines += ["| n | " + " | ".join(peers_only) + " |", "|---|" + "---|" * len(peers_only)]
        for n in qubits:
            e = by.get((n, ENGINE))
            row = []
            for name in peers_only:
                c = by.get((n, name))
                ok = e is not None and c is not None and not (c.error or e.error)
                row.append(_fmt(c.seconds / e.seconds) if ok else "n/a")
            lines.append(f"| {n} | " + " | ".join(row) + " |")
        lines.append("")
    compiled = [c for c in cells if not math.isnan(c.first_call)]
    if compiled:
        lines += ["First call (compile + one chunk) vs steady state, seconds.", ""]
        lines += [
            "| n | peer | batch | first call | steady state | difference ≈ compile |",
            "|---|---|---|---|---|---|",
        ]
        for c in compiled:
            batch = min(c.granule, c.samples)
            steady = c.first_batch_steady
            lines.append(
                f"| {c.n} | {c.peer} | {batch} | {_fmt(c.first_call)} | {_fmt(steady)} | {_fmt(c.first_call - steady)} |"
            )
        lines.append("")
    m = info["machine"]
    lines += [
        "Machine: "
        + f"copy {m['copy_GBps']:.1f} GB/s (read+write), "
        + f"GEMM 2048³ float32 {m['gemm_float32_GFLOPs']:.1f} GFLOP/s, "
        + f"complex64 {m['gemm_complex64_GFLOPs']:.1f} GFLOP/s; "
        + f"load average at start {info['load']}; {info['cpu']}",
        "",
    ]
    lines += [
        "Per cell: load average (1 min) and CPU/wall of the timed runs "
        f"(≈ {args.threads} when the cell's threads had the cores to themselves).",
        "",
    ]
    lines += cell_table(cells, args.threads) + [""]
    busy = [c for c in cells if c.load > args.threads + 0.5]
    if busy:
        lines += [
            f"Busy machine: the 1-minute load average exceeded {args.threads + 0.5} during "
            + ", ".join(f"n={c.n} {c.peer} ({c.load:.1f})" for c in busy)
            + "; threaded libraries slow down sharply when their threads compete for cores.",
            "",
        ]
    if info.get("engine_error"):
        lines += [f"Engine unavailable: {info['engine_error']}", ""]
    if info.get("work"):
        lines += ["Engine achieved rates (work_estimate / engine seconds).", ""]
        lines += [
            "| n | GB moved | GB/s | % of copy | GFLOP | GFLOP/s | % of c64 GEMM |",
            "|---|---|---|---|---|---|---|",
        ]
        for n, w in info["work"].items():
            lines.append(
                f"| {n} | {w['bytes'] / 1e9:.3g} | {w['GBps']:.3g} | {100 * w['GBps'] / m['copy_GBps']:.0f} | "
                f"{w['flops'] / 1e9:.3g} | {w['GFLOPs']:.3g} | {100 * w['GFLOPs'] / m['gemm_complex64_GFLOPs']:.1f} |"
            )
        lines.append("")
    elif ENGINE in names:
        lines += ["Engine work estimate: qnnscope.sim.engine.work_estimate not available.", ""]
    errors = [c for c in cells if c.error]
    if errors:
        lines += ["Errors: " + "; ".join(f"n={c.n} {c.peer}: {c.error}" for c in errors), ""]
    lines += ["Versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()), ""]
    return "\n".join(lines)


CSV_COLUMNS = [
    "n", "depth", "samples", "peer", "dtype", "seconds", "scaled", "timed_samples", "repeats",
    "first_call_s", "times_s", "load", "load_start", "cpu_ratio", "rerun", "error",
]


def csv_row(c: Cell, depth: int, samples: int) -> list:
    """One cell as a CSV row in :data:`CSV_COLUMNS` order."""
    return [
        c.n, depth, samples, c.peer, c.dtype, c.seconds, c.scaled, c.timed_samples, c.repeats,
        c.first_call, " ".join(f"{t:.4f}" for t in c.all_times), c.load, c.load_start,
        c.cpu_ratio, c.rerun, c.error,
    ]


def save(out: Path, text: str, header: list[str], rows: list[list]) -> None:
    """Write ``<stem>.csv`` (header and rows) and ``<stem>.md`` (text); ``out`` is the stem, or a
    path ending .csv or .md."""
    import csv

    stem = out.with_suffix("") if out.suffix in (".csv", ".md") else out
    stem.parent.mkdir(parents=True, exist_ok=True)
    with open(stem.with_suffix(".csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    stem.with_suffix(".md").write_text(text + "\n")
    print(f"wrote {stem.with_suffix('.csv')} and {stem.with_suffix('.md')}")


# ------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _limit_threads(args.threads)
    import platform

    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import peers

    peers.THREADS = args.threads
    names = args.peers or list(peers.PEERS) + [ENGINE]
    unknown = [nm for nm in names if nm not in peers.PEERS and nm != ENGINE]
    if unknown:
        print(f"unknown peers {unknown}; allowed: {', '.join(list(peers.PEERS) + [ENGINE])}")
        return 2

    missing = {nm: peers.unavailable(nm) for nm in names if nm in peers.PEERS}
    missing = {nm: why for nm, why in missing.items() if why}
    for nm, why in missing.items():
        print(f"{nm}: n/a — {why}")
    fns: dict[str, Callable] = {
        nm: peers.PEERS[nm].fn for nm in names if nm in peers.PEERS and nm not in missing
    }
    info: dict = {
        "dtypes": {nm: peers.PEERS[nm].dtype for nm in names if nm in peers.PEERS},
        "descriptions": {nm: peers.PEERS[nm].description for nm in names if nm in peers.PEERS},
        "versions": peers.versions(),
        "unavailable": missing,
    }
    info["versions"]["torch"] = torch.__version__
    if ENGINE in names:
        engine, reason = engine_peer()
        if engine is None:
            print(f"engine unavailable: {reason}")
            info["engine_error"] = reason
        else:
            fns[ENGINE] = engine
        info["dtypes"][ENGINE] = "complex64"
        info["descriptions"][ENGINE] = 'qnnscope get_backend("torch").evaluate(..., params=[0])'

    if args.check or args.check_only:
        ok = check([nm for nm in names if nm in fns], fns, args.seed)
        if args.check_only or not ok:
            return 0 if ok else 1

    info["load"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    info["cpu"] = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible"
    info["machine"] = machine_rates(args.threads)
    print(
        "machine:",
        {k: round(v, 1) for k, v in info["machine"].items()},
        "load",
        info["load"],
        flush=True,
    )

    cells: list[Cell] = []
    for n in args.qubits:
        theta, choices = draw(args.seed, n, args.depth, args.samples)
        for name in names:
            if name not in fns:
                continue
            peer = peers.PEERS.get(name)
            compiles = peer.compiles if peer else True
            cell = Cell(n, name, info["dtypes"][name])
            if peer is not None:
                cell.granule = peer.granule(n, args.depth)
                cell.max_samples = peer.max_samples(n, args.depth)
            start_cell(cell)
            try:
                if peer is not None and not compiles:
                    peer.fn(2, 1, theta[:1, :2], choices[:1, :2])  # import and start the library
                time_cell(
                    fns[name],
                    n,
                    args.depth,
                    theta,
                    choices,
                    compiles,
                    args.repeats,
                    args.budget,
                    cell,
                )
            except Exception as exc:  # noqa: BLE001 - e.g. out of memory in one peer
                cell.error = f"{type(exc).__name__}: {exc}"[:200]
            cell.load = max(cell.load, os.getloadavg()[0])
            cells.append(cell)
            print(progress(cell), flush=True)

    if ENGINE in fns:
        work = {}
        for c in cells:
            if c.peer == ENGINE and not c.error:
                w = engine_work(c.n, args.depth, args.samples, args.engine_evolutions)
                if w is None:
                    break
                work[c.n] = {
                    **w,
                    "GBps": w["bytes"] / c.seconds / 1e9,
                    "GFLOPs": w["flops"] / c.seconds / 1e9,
                }
        info["work"] = work

    text = markdown(cells, names, args.qubits, info, args)
    print()
    print(text)
    if args.out is not None:
        rows = [csv_row(c, args.depth, args.samples) for c in cells]
        save(args.out, text, CSV_COLUMNS, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
