"""Start-up time of every workflow job and of the command line: what a job spends before it works.

For each adapter in ``scripts/`` the script's own top-level imports are run in a fresh Python
(one thread), ``--repeats`` times; the table gives the median wall time, the heavy libraries the
imports loaded, and the load average during the cell.  ``qnnscope --help`` is timed the same way.
Run it against another checkout (and its virtual environment) to compare two versions:

    python benchmarks/bench_startup.py                                   # this checkout
    python benchmarks/bench_startup.py --root /tmp/old --python /tmp/old/.venv/bin/python
"""

from __future__ import annotations

import argparse
import ast
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HEAVY = ("torch", "qiskit", "pennylane", "numba", "scipy", "sklearn", "librosa")
PROBE = "import sys\nprint(' '.join(m for m in {heavy!r} if m in sys.modules))"


def script_imports(path: Path) -> str:
    """The script's top-level import statements as code (what a job imports before it works)."""
    tree = ast.parse(path.read_text())
    return "\n".join(ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)))


def timed(python: str, code: str, root: Path, repeats: int) -> tuple[float, str, float]:
    """Median wall seconds of ``python -c code`` over ``repeats`` runs, the heavy modules it
    loaded, and the 1-minute load average after the runs."""
    env = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    times, loaded = [], ""
    for _ in range(repeats):
        start = time.perf_counter()
        out = subprocess.run([python, "-c", code + "\n" + PROBE.format(heavy=HEAVY)], cwd=root, env=env,
                             capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if out.returncode:
            raise RuntimeError(f"{code!r} failed in {root}:\n{out.stderr}")
        loaded = out.stdout.strip()
    return statistics.median(times), loaded, os.getloadavg()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cells = [("qnnscope --help", "import contextlib, io\nfrom qnnscope import cli\n"
              "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
              "    cli.main(['--help'])")]
    cells += [(f"scripts/{p.name}", script_imports(p)) for p in sorted((args.root / "scripts").glob("*.py"))]
    print(f"start-up of {args.root} ({args.python}), median of {args.repeats}, one thread")
    print(f"{'job':40s} {'seconds':>8s} {'load':>5s}  heavy modules loaded")
    for name, code in cells:
        seconds, loaded, load = timed(args.python, code, args.root, args.repeats)
        print(f"{name:40s} {seconds:8.2f} {load:5.2f}  {loaded or '-'}")


if __name__ == "__main__":
    main()
