"""Peak resident memory (RSS) of the engine's measurements at large n, one process per n.

For every qubit count the measurement runs in a fresh process under ``/usr/bin/time -v``
(Debian package ``time``), which reports the process's "Maximum resident set size"; the table
gives it next to the size of one state (2^n amplitudes), their ratio, and the same above the
process's baseline (the same measurement at n = 4: Python, torch, numba and the engine loaded).

* ``--measure mcclean`` (default): McClean's measurement, ∂⟨Z0Z1⟩/∂θ_{1,1} of
  ``build("mcclean", n, depth)``: ``get_backend("torch", method=...).evaluate(circuit,
  make_cost("Z0Z1", n), theta, choices, params=[0], dtype=...)``;
* ``--measure adjoint``: every parameter's gradient of ``build("hea", n, depth)`` for the local
  cost, method ``adjoint``.

An n whose expected peak (baseline + ``--factor`` states per sample) exceeds the memory
available now (MemAvailable, and the cgroup's limit) is skipped, and the table says so.

    .venv/bin/python benchmarks/bench_memory.py --qubits 20 22 24 26 --samples 2 --depth 4
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

TIME = "/usr/bin/time"
MiB = 2**20
PROCESS_BYTES = 600 * MiB
"""A process with torch, numpy, numba and the engine loaded, before any state (for the skip rule)."""
MARK = "BENCH_MEMORY "
"""Prefix of the line with which the child process reports its result."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--qubits", type=int, nargs="+", default=[20, 22, 24, 26])
    p.add_argument("--samples", type=int, default=2)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--measure", choices=["mcclean", "adjoint"], default="mcclean")
    p.add_argument("--method", default=None,
                   help="torch backend method (default: auto for mcclean, adjoint for adjoint)")
    p.add_argument("--dtype", default="complex64", choices=["complex64", "complex128"])
    p.add_argument("--device", default="cpu", help="cpu or cuda (RSS is host memory either way)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--factor", type=float, default=8.0,
                   help="states per sample assumed by the skip rule (generous; the engine holds ≤ 4)")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per process")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--no-baseline", action="store_true", help="do not measure the n = 4 baseline")
    p.add_argument("--out", type=Path, default=None, help="write <stem>.md and <stem>.json")
    p.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


# ------------------------------------------------------------------------------- memory


def parse_time_v(text: str) -> dict[str, float]:
    """The fields of ``/usr/bin/time -v``'s report this script uses: ``max_rss_bytes`` (from
    "Maximum resident set size (kbytes)"), ``elapsed_s`` (wall clock, h:mm:ss or m:ss),
    ``user_s``, ``system_s`` and ``exit_status``; absent fields are left out."""
    out: dict[str, float] = {}
    m = re.search(r"Maximum resident set size \(kbytes\):\s*(\d+)", text)
    if m:
        out["max_rss_bytes"] = int(m.group(1)) * 1024.0
    m = re.search(r"Elapsed \(wall clock\) time.*?\):\s*([\d:.]+)", text)
    if m:
        out["elapsed_s"] = sum(float(x) * 60**i for i, x in enumerate(reversed(m.group(1).split(":"))))
    for key, label in (("user_s", "User time (seconds)"), ("system_s", "System time (seconds)"),
                       ("exit_status", "Exit status")):
        m = re.search(re.escape(label) + r":\s*([\d.]+)", text)
        if m:
            out[key] = float(m.group(1))
    return out


def available_bytes() -> int:
    """Memory a new process may take now: /proc/meminfo's MemAvailable, lowered to what the
    cgroup (v2 memory.max − memory.current, or v1's limit − usage) leaves."""
    avail = math.inf
    try:
        m = re.search(r"MemAvailable:\s+(\d+) kB", Path("/proc/meminfo").read_text())
        if m:
            avail = int(m.group(1)) * 1024
    except OSError:
        pass
    for limit, usage in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                         ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            cap, used = Path(limit).read_text().strip(), Path(usage).read_text().strip()
        except OSError:
            continue
        if cap.isdigit() and used.isdigit():
            avail = min(avail, int(cap) - int(used))
    return int(avail) if avail != math.inf else 2**62


# ------------------------------------------------------------------------------- child


def child(n: int, args) -> None:
    """Run one measurement in this process and print its result after ``MARK``."""
    from bench_gradients import _limit_threads

    _limit_threads(args.threads)
    import numpy as np

    from qnnscope.backends import get_backend
    from qnnscope.circuits import build
    from qnnscope.costs import make_cost

    mcclean = args.measure == "mcclean"
    circuit = build("mcclean" if mcclean else "hea", n, args.depth)
    observable = make_cost("Z0Z1" if mcclean else "local", n)
    method = args.method or ("auto" if mcclean else "adjoint")
    backend = get_backend("torch", device=args.device, method=method)
    rng = np.random.default_rng(args.seed)
    theta = rng.uniform(0.0, 2 * np.pi, size=(args.samples, circuit.n_params))
    choices = rng.integers(0, 3, size=(args.samples, circuit.n_choices))
    params = [0] if mcclean else list(range(circuit.n_params))
    t = time.perf_counter()
    costs, grads = backend.evaluate(circuit, observable, theta, choices, params=params, dtype=args.dtype)
    seconds = time.perf_counter() - t
    finite = bool(np.isfinite(costs).all() and np.isfinite(grads).all())
    print(MARK + json.dumps({"n": n, "eval_s": seconds, "finite": finite, "method": method}), flush=True)


# ------------------------------------------------------------------------------- parent


@dataclass
class Row:
    n: int
    samples: int
    state_bytes: int
    peak_bytes: float = math.nan
    eval_s: float = math.nan
    wall_s: float = math.nan
    note: str = ""


def child_command(n: int, args) -> list[str]:
    cmd = [TIME, "-v", sys.executable, str(Path(__file__).resolve()), "--child", str(n)]
    for key in ("samples", "depth", "measure", "method", "dtype", "device", "threads", "seed"):
        value = getattr(args, key)
        if value is not None:
            cmd += [f"--{key}", str(value)]
    return cmd


def run_one(n: int, args) -> Row:
    """Measure ``n`` in a child process under ``/usr/bin/time -v``."""
    item = 8 if args.dtype == "complex64" else 16
    row = Row(n, args.samples, 2**n * item)
    t = time.perf_counter()
    try:
        proc = subprocess.run(child_command(n, args), capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        row.note = f"timed out after {args.timeout:.0f} s"
        return row
    row.wall_s = time.perf_counter() - t
    report = parse_time_v(proc.stderr)
    row.peak_bytes = report.get("max_rss_bytes", math.nan)
    result = [line[len(MARK):] for line in proc.stdout.splitlines() if line.startswith(MARK)]
    if proc.returncode != 0 or not result:
        tail = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("\t")]
        row.note = f"exit {proc.returncode}: " + (tail[-1] if tail else "no output")[:160]
        return row
    data = json.loads(result[-1])
    row.eval_s = data["eval_s"]
    if not data["finite"]:
        row.note = "non-finite gradients"
    return row


def markdown(rows: list[Row], base: Row | None, args) -> str:
    def mib(x: float) -> str:
        return "n/a" if math.isnan(x) else f"{x / MiB:.0f}"

    def ratio(x: float) -> str:
        return "n/a" if math.isnan(x) else f"{x:.2f}"

    base_bytes = base.peak_bytes if base is not None else math.nan
    what = ("McClean ∂⟨Z0Z1⟩/∂θ_{1,1}" if args.measure == "mcclean" else "HEA all-parameter gradient, local cost")
    lines = [
        f"## Peak RSS: {what}, depth {args.depth}, {args.dtype}, {args.device}, method "
        f"{args.method or ('auto' if args.measure == 'mcclean' else 'adjoint')}, {args.threads} threads",
        "",
        "| n | samples | state MiB | peak RSS MiB | peak / state | above baseline MiB | (peak − baseline) / state | eval s | wall s | note |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        above = r.peak_bytes - base_bytes
        lines.append(
            f"| {r.n} | {r.samples} | {mib(r.state_bytes)} | {mib(r.peak_bytes)} | {ratio(r.peak_bytes / r.state_bytes)} "
            f"| {mib(above)} | {ratio(above / r.state_bytes)} | {ratio(r.eval_s)} | {ratio(r.wall_s)} | {r.note} |"
        )
    lines.append("")
    if base is not None:
        lines.append(f"Baseline: the same measurement at n = 4 peaks at {mib(base.peak_bytes)} MiB "
                     f"(interpreter, torch, numba, the engine){'; ' + base.note if base.note else ''}.")
    lines.append("Peak RSS from `/usr/bin/time -v` (Maximum resident set size); wall s = the whole "
                 "process (imports included), eval s = the `evaluate` call alone.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    if args.child is not None:
        child(args.child, args)
        return 0
    if not Path(TIME).exists():
        print(f"{TIME} is missing: install GNU time (Debian/Ubuntu: apt-get install time)", file=sys.stderr)
        return 2
    base = None if args.no_baseline else run_one(4, argparse.Namespace(**{**vars(args), "samples": 1}))
    if base is not None:
        print(f"baseline n=4: {base.peak_bytes / MiB:.0f} MiB {base.note}", flush=True)
    rows = []
    for n in args.qubits:
        item = 8 if args.dtype == "complex64" else 16
        expected = PROCESS_BYTES + args.factor * args.samples * 2**n * item
        avail = available_bytes()
        if expected > avail:
            row = Row(n, args.samples, 2**n * item,
                      note=f"skipped: expected {expected / MiB:.0f} MiB > {avail / MiB:.0f} MiB available")
        else:
            row = run_one(n, args)
        rows.append(row)
        print(f"n={n}: peak {row.peak_bytes / MiB:.0f} MiB, eval {row.eval_s:.2f} s, wall {row.wall_s:.2f} s "
              f"{row.note}", flush=True)
    text = markdown(rows, base, args)
    print()
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".md").write_text(text + "\n")
        args.out.with_suffix(".json").write_text(json.dumps([{k: None if v != v else v for k, v in vars(r).items()} for r in rows], indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
