"""Test-session setup: one OpenMP thread per library, so PennyLane, qiskit-aer and torch do not
oversubscribe the cores (the engine's kernel threads are numba's and are unaffected)."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
