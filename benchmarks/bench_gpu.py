"""GPU tables for the qnnscope engine on CUDA: seconds and achieved memory bandwidth.

Two tables, one row per qubit count n (default 16 18 … 28), complex64:

* ``first``: McClean's measurement, ∂⟨Z0Z1⟩/∂θ_{1,1} (slot 0) of ``build("mcclean", n, depth)``,
  by parameter shift (forward-mode tangents run on the CPU kernel only);
* ``all``: the gradient of every parameter of ``build("hea", n, hea_depth)`` for the local cost,
  by adjoint differentiation.

Each cell calls ``get_backend("torch", device="cuda", method=...).evaluate(...)``: a first call
(plan compilation, reported), a pilot that grows the batch until one run takes a quarter of
``--target`` seconds, then ``--repeats`` timed runs (``torch.cuda.synchronize()`` after each) of a
batch sized to take about ``--target`` seconds, capped by ``--samples``, by what fits in the free
GPU memory (``torch.cuda.mem_get_info``) and by ``--budget``; the median is reported.  Achieved
bandwidth = ``qnnscope.sim.engine.work_estimate(circuit, S, 3, dtype)["bytes"]`` / median seconds,
against the device's copy bandwidth measured in the same run (a large device-to-device
``copy_``, read + write).  Parameter shift of one slot evolves 3 states per sample (θ, θ ± π/2);
the adjoint evolves the state forward and two states (ψ, λ) backward: also counted as 3.

A cell that fails (CUDA out of memory: retried with half the batch, down to one sample) is marked
in the table and the run goes on; tables are rewritten after every cell.

    python benchmarks/bench_gpu.py --out results/bench/gpu
    python benchmarks/bench_gpu.py --dry-run      # CPU or GPU: plan, headers, a tiny smoke run
"""

from __future__ import annotations

import argparse
import csv
import math
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_gradients import _fmt, _median_time  # noqa: E402
from bench_memory import available_bytes  # noqa: E402

GiB = 2**30
MEMORY_SHARE = 0.8
"""Share of the free GPU memory a cell's batch may take (see Table.states)."""


@dataclass(frozen=True)
class Table:
    """One table: which circuit, cost and gradient method its cells time."""

    key: str
    title: str
    ansatz: str
    cost: str
    method: str
    evolutions: int  # state evolutions per sample counted by work_estimate
    states: int  # full states per sample the batch may hold at once (generous, for sizing)

    def params(self, n_params: int) -> list[int]:
        return [0] if self.key == "first" else list(range(n_params))


TABLES = {
    "first": Table("first", "First-parameter McClean gradient ∂⟨Z0Z1⟩/∂θ_{1,1}, parameter shift",
                   "mcclean", "Z0Z1", "param-shift", 3, 12),
    "all": Table("all", "All-parameter HEA gradient of the local cost, adjoint",
                 "hea", "local", "adjoint", 3, 8),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--qubits", type=int, nargs="+", default=[16, 18, 20, 22, 24, 26, 28])
    p.add_argument("--tables", nargs="+", choices=list(TABLES), default=list(TABLES))
    p.add_argument("--depth", type=int, default=10, help="layers of the McClean ansatz (table first)")
    p.add_argument("--hea-depth", type=int, default=4, help="layers of the HEA (table all)")
    p.add_argument("--samples", type=int, default=4096, help="most samples per cell")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per cell; the median is reported")
    p.add_argument("--target", type=float, default=1.0, help="seconds one timed run should take")
    p.add_argument("--budget", type=float, default=25.0, help="seconds one cell may take, first call included")
    p.add_argument("--total-budget", type=float, default=200.0,
                   help="seconds for all cells; cells not started by then are marked skipped")
    p.add_argument("--dtype", default="complex64", choices=["complex64", "complex128"])
    p.add_argument("--device", default="cuda", help="cuda, cuda:N (or cpu, to try the script)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--out", type=Path, default=None, help="write <stem>.csv and <stem>.md, after every cell")
    p.add_argument("--dry-run", action="store_true",
                   help="select the device, build the smallest row's circuits and plan, print the "
                        "table headers and time a tiny cell on the selected device; exit 0 without CUDA")
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- device


def select_device(requested: str, cuda_available: bool) -> tuple[str | None, str]:
    """The device to run on and a line saying why; None when a CUDA device was asked for and
    torch sees none."""
    if requested.startswith("cuda"):
        if cuda_available:
            return requested, f"device: {requested} (CUDA available)"
        return None, (f"device: {requested} requested but torch sees no CUDA device: a real run "
                      "needs a CUDA GPU (a dry run goes on on cpu)")
    return requested, f"device: {requested} (not a GPU: numbers are not GPU numbers)"


def synchronizer(device: str) -> Callable[[], None]:
    import torch

    if device.startswith("cuda"):
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def gpu_free_bytes(device: str) -> int | None:
    """Free memory of a CUDA device (torch.cuda.mem_get_info), None on cpu."""
    import torch

    if not device.startswith("cuda"):
        return None
    return int(torch.cuda.mem_get_info(torch.device(device))[0])


def copy_bandwidth(device: str) -> float:
    """GB/s of a device-to-device copy of up to 2 GiB (a quarter of free memory), counted as read +
    write, median of 10 after a warm-up; NaN where it fails."""
    import torch

    free = gpu_free_bytes(device)
    size = min(2 * GiB, (free or 4 * GiB) // 4) // 4 * 4
    sync = synchronizer(device)
    try:
        src = torch.ones(size // 4, dtype=torch.float32, device=device)
        dst = torch.empty_like(src)
        seconds = _median_time(lambda: (dst.copy_(src), sync()), 10)
        return 2 * size / seconds / 1e9
    except Exception as exc:  # noqa: BLE001 - report, never stop the run
        print(f"copy bandwidth: {type(exc).__name__}: {exc}", flush=True)
        return math.nan
    finally:
        src = dst = None
        if device.startswith("cuda"):
            torch.cuda.empty_cache()


def is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def device_alive(device: str) -> bool:
    """Whether the device still runs a tiny op (a failed kernel can poison the CUDA context)."""
    import torch

    try:
        torch.ones(4, device=device).add_(1).sum().item()
        return True
    except Exception:  # noqa: BLE001
        return False


# ------------------------------------------------------------------------------- cells


@dataclass
class Cell:
    table: str
    n: int
    depth: int
    samples: int = 0
    seconds: float = math.nan  # median of the timed runs
    times: list[float] = field(default_factory=list)
    first_call: float = math.nan
    bytes: float = math.nan
    gpu_peak: float = math.nan  # torch.cuda.max_memory_allocated during the timed runs
    note: str = ""  # why the cell is marked (OOM, skipped, fewer runs, an exception)

    @property
    def ok(self) -> bool:
        return not math.isnan(self.seconds)


def draw(circuit, samples: int, seed: int):
    """theta (S, n_params) uniform on [0, 2π) and choices (S, n_choices) in {0, 1, 2}."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return (rng.uniform(0.0, 2 * np.pi, size=(samples, circuit.n_params)),
            rng.integers(0, 3, size=(samples, circuit.n_choices)))


def host_bytes(n: int) -> int:
    """Host memory the engine takes per circuit over 2^n basis states: its observable's vectors
    (``engine.OBSERVABLE_BYTES`` per basis state; the plans hold no table over basis states)."""
    from qnnscope.sim import engine

    return engine.OBSERVABLE_BYTES * 2**n


def measure(table: Table, n: int, depth: int, device: str, args, deadline: float) -> Cell:
    """Time one cell (see the module docstring); never raises."""
    import torch

    cell = Cell(table.key, n, depth)
    try:
        _measure(cell, table, device, args, min(deadline, time.perf_counter() + args.budget))
    except Exception as exc:  # noqa: BLE001 - one failing cell must not end the run
        cell.note = ("OOM at 1 sample: " if is_oom(exc) else "") + f"{type(exc).__name__}: {exc}"[:160]
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return cell


def _measure(cell: Cell, table: Table, device: str, args, deadline: float) -> None:
    import torch

    from qnnscope.backends import get_backend
    from qnnscope.circuits import build
    from qnnscope.costs import make_cost
    from qnnscope.sim.engine import work_estimate

    n = cell.n
    item = 8 if args.dtype == "complex64" else 16
    host = host_bytes(n)
    if host > 0.8 * available_bytes():
        cell.note = f"skipped: the engine would take {host / GiB:.0f} GiB of host memory"
        return
    free = gpu_free_bytes(device)
    cap = args.samples
    if free is not None:
        cap = min(cap, int(MEMORY_SHARE * free) // (table.states * 2**n * item))
        if cap < 1:
            cell.note = f"skipped: one sample needs ~{table.states * 2**n * item / GiB:.1f} GiB, {free / GiB:.1f} GiB free"
            return
    circuit = build(table.ansatz, n, cell.depth)
    observable = make_cost(table.cost, n)
    backend = get_backend("torch", device=device, method=table.method)
    params = table.params(circuit.n_params)
    theta, choices = draw(circuit, cap, args.seed)
    sync = synchronizer(device)

    def run(s: int) -> float:
        t = time.perf_counter()
        backend.evaluate(circuit, observable, theta[:s], choices[:s], params, dtype=args.dtype)
        sync()
        return time.perf_counter() - t

    cell.first_call = run(1)
    while True:  # on CUDA OOM: half the batch, down to one sample
        try:
            _time_cell(cell, run, cap, args, deadline, device)
            break
        except Exception as exc:  # noqa: BLE001
            if not is_oom(exc) or cap == 1:
                raise
        cap //= 2  # outside the except clause, so that the failed run's tensors are freed
        cell.note = f"OOM: batch cut to {cap}"
        torch.cuda.empty_cache()
    cell.bytes = work_estimate(circuit, cell.samples, table.evolutions, args.dtype)["bytes"]


def _time_cell(cell: Cell, run: Callable[[int], float], cap: int, args, deadline: float, device: str) -> None:
    """Pilot, then ``args.repeats`` timed runs of the chosen batch (fewer if the budget ends); the
    first call (one sample) warms up the one-sample shape."""
    import torch

    cuda = device.startswith("cuda")
    s, t = 1, math.nan
    left = deadline - time.perf_counter()
    if cell.first_call * (args.repeats + 1) < left:  # a steady pilot is affordable
        while True:
            t = run(s)
            if t >= args.target / 4 or s >= cap or time.perf_counter() + 4 * t > deadline:
                break
            s = min(cap, 4 * s)
    per_sample = max(1e-9, (cell.first_call if math.isnan(t) else t) / s)
    left = deadline - time.perf_counter()
    wanted = max(1, min(cap, int(args.target / per_sample)))
    size = max(1, min(wanted, int(left / (per_sample * (args.repeats + 1)))))
    if size < wanted:
        cell.note = (cell.note + "; " if cell.note else "") + f"batch cut to {size} by the budget"
    if size != s:  # warm up the new batch shape
        run(size)
    runs = max(1, min(args.repeats, int((deadline - time.perf_counter()) / (per_sample * size))))
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    cell.times = [run(size) for _ in range(runs)]
    if cuda:
        cell.gpu_peak = float(torch.cuda.max_memory_allocated(device))
    cell.samples = size
    cell.seconds = statistics.median(cell.times)
    if runs < args.repeats:
        cell.note = (cell.note + "; " if cell.note else "") + f"† {runs} run(s): budget"


# ------------------------------------------------------------------------------- report

HEADER = ["n", "samples", "s / run", "ms / sample", "first call s", "GB moved", "GB/s", "of copy",
          "GPU peak GiB", "note"]


def table_header(table: Table, depth: int, dtype: str) -> list[str]:
    return [
        f"### {table.title} (`{table.ansatz}`, depth {depth}, cost `{table.cost}`, {dtype})",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]


def row(cell: Cell, peak: float) -> str:
    gbps = cell.bytes / cell.seconds / 1e9 if cell.ok else math.nan
    share = f"{100 * gbps / peak:.0f} %" if cell.ok and not math.isnan(gbps * peak) else "n/a"
    values = [
        str(cell.n),
        str(cell.samples or "—"),
        _fmt(cell.seconds),
        _fmt(1e3 * cell.seconds / cell.samples) if cell.ok else "n/a",
        _fmt(cell.first_call),
        _fmt(cell.bytes / 1e9),
        _fmt(gbps),
        share,
        _fmt(cell.gpu_peak / GiB),
        cell.note.replace("|", "/"),
    ]
    return "| " + " | ".join(values) + " |"


def markdown(cells: list[Cell], info: dict, args) -> str:
    lines = [
        "## qnnscope engine on the GPU",
        "",
        f"{info['device_name']}; copy bandwidth {_fmt(info['peak_GBps'])} GB/s (device-to-device `copy_`, "
        f"read + write); torch {info['torch']}, CUDA {info['cuda']}; {info['when']}.",
        "",
        f"Median of {args.repeats} timed runs after a warm-up; GB moved = `work_estimate(circuit, S, 3)` "
        "(3 state evolutions per sample: θ and θ ± π/2 for parameter shift; forward, then ψ and λ "
        "backward for the adjoint); GB/s = GB moved / s per run; `†` = fewer timed runs (budget).",
        "",
    ]
    for key in args.tables:
        table = TABLES[key]
        depth = args.depth if table.ansatz == "mcclean" else args.hea_depth
        lines += table_header(table, depth, args.dtype)
        lines += [row(c, info["peak_GBps"]) for c in cells if c.table == key]
        lines.append("")
    return "\n".join(lines)


def write(stem: Path, cells: list[Cell], info: dict, args) -> None:
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".md").write_text(markdown(cells, info, args) + "\n")
    with open(stem.with_suffix(".csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["table", "ansatz", "cost", "method", "n", "depth", "dtype", "samples", "seconds",
                    "times_s", "first_call_s", "bytes", "GBps", "copy_GBps", "gpu_peak_bytes", "note"])
        for c in cells:
            t = TABLES[c.table]
            w.writerow([c.table, t.ansatz, t.cost, t.method, c.n, c.depth, args.dtype, c.samples, c.seconds,
                        " ".join(f"{x:.5f}" for x in c.times), c.first_call, c.bytes,
                        c.bytes / c.seconds / 1e9 if c.ok else math.nan, info["peak_GBps"], c.gpu_peak, c.note])


def environment(device: str, peak: float) -> dict:
    import torch

    name = torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else platform.processor() or "cpu"
    return {"device_name": name, "peak_GBps": peak, "torch": torch.__version__, "cuda": torch.version.cuda,
            "when": time.strftime("%Y-%m-%d %H:%M")}


# ------------------------------------------------------------------------------- main


def dry_run(args, device: str) -> int:
    """Build the smallest row's circuits and plans on CPU, print the headers, time a tiny cell."""
    from qnnscope.circuits import build
    from qnnscope.costs import make_cost
    from qnnscope.sim.engine import work_estimate

    n = min(args.qubits)
    item = 8 if args.dtype == "complex64" else 16
    free = gpu_free_bytes(device)
    for key in args.tables:
        table = TABLES[key]
        depth = args.depth if table.ansatz == "mcclean" else args.hea_depth
        try:
            circuit = build(table.ansatz, n, depth)
            make_cost(table.cost, n)
            steps = "?"
            try:
                from qnnscope.sim.plan import compile_plan

                steps = str(len(compile_plan(circuit).steps))
            except ImportError:
                pass
            work = work_estimate(circuit, 1, table.evolutions, args.dtype)
        except Exception as exc:  # noqa: BLE001
            print(f"table {key}: cannot build n={n}: {type(exc).__name__}: {exc}")
            return 1
        fit = "" if free is None else f", fits {int(MEMORY_SHARE * free) // (table.states * 2**n * item)} samples"
        print(f"table {key}: {table.ansatz} n={n} depth {depth}: {len(circuit.ops)} ops, {circuit.n_params} "
              f"parameters, {steps} plan steps; method {table.method}, {len(table.params(circuit.n_params))} "
              f"gradient(s); state {2**n * item / 2**20:.1f} MiB{fit}; work_estimate per sample "
              f"{work['bytes'] / 1e9:.3g} GB")
    print(f"rows n = {' '.join(map(str, args.qubits))}; tables it would fill:\n")
    for key in args.tables:
        table = TABLES[key]
        print("\n".join(table_header(table, args.depth if table.ansatz == "mcclean" else args.hea_depth, args.dtype)))
        print()
    tiny = argparse.Namespace(**{**vars(args), "samples": 4, "repeats": 1, "target": 0.01, "budget": 30.0})
    cells = [measure(TABLES[key], 4, 2, device, tiny, time.perf_counter() + 60) for key in args.tables]
    bad = [c for c in cells if not c.ok]
    print(f"smoke cells on {device} (n=4, depth 2, up to 4 samples):")
    for c in cells:
        print(f"  {c.table}: {row(c, math.nan)}")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    print(f"python {platform.python_version()}, torch {torch.__version__} (CUDA build {torch.version.cuda})", flush=True)
    device, why = select_device(args.device, torch.cuda.is_available())
    print(why, flush=True)
    if args.dry_run:
        return dry_run(args, device or "cpu")
    if device is None:
        return 2
    peak = copy_bandwidth(device)
    info = environment(device, peak)
    print(f"{info['device_name']}: copy bandwidth {_fmt(peak)} GB/s", flush=True)
    cells: list[Cell] = []
    start = time.perf_counter()
    alive = True
    for n in args.qubits:
        for key in args.tables:
            table = TABLES[key]
            depth = args.depth if table.ansatz == "mcclean" else args.hea_depth
            if not alive:
                cell = Cell(key, n, depth, note="skipped: the CUDA context failed earlier")
            elif time.perf_counter() - start > args.total_budget:
                cell = Cell(key, n, depth, note=f"skipped: --total-budget {args.total_budget:.0f} s spent")
            elif any(c.table == key and c.note.startswith("OOM at 1") for c in cells):
                cell = Cell(key, n, depth, note="skipped: OOM at a smaller n")
            else:
                cell = measure(table, n, depth, device, args, start + args.total_budget)
                alive = cell.ok or device_alive(device)
            cells.append(cell)
            print(f"{key:5s} {row(cell, peak)}", flush=True)
            if args.out is not None:
                write(args.out, cells, info, args)
    print()
    print(markdown(cells, info, args))
    if args.out is not None:
        print(f"wrote {args.out.with_suffix('.md')} and {args.out.with_suffix('.csv')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
