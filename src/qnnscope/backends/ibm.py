"""IBM Quantum through qiskit-ibm-runtime: resumable, budgeted, credential-free job manifests.

Hardware time is scarce and paid for, so a submission is a record before it is anything else:

* :func:`submit` transpiles circuits to ISA circuits of the target, submits SamplerV2 jobs in a
  ``Batch`` and rewrites a read-only JSON *manifest* (job ids, backend, circuit hashes, shots,
  UTC submission time, versions, the sweep point) after every job it submits, before waiting
  for anything.  A call whose manifest is complete returns it and submits nothing.
* :func:`collect` reads a manifest, retrieves results by job id and writes bitstring counts to
  Parquet.  Jobs still queued raise :class:`JobsPending` (rerun later); failed, cancelled or lost
  jobs raise :class:`JobsFailed` with their errors, and are resubmitted (as a new manifest
  *generation* ``manifest.gen1.json``…, the old one kept) only when asked.
* A budget guard refuses a submission that would take the jobs and shots recorded so far over
  ``max_jobs`` or ``max_shots``.
* Exactly once: every job is appended to a :class:`Ledger` (JSON lines, fsynced) before the
  manifest is rewritten, submissions hold the ledger's inter-process lock, and circuits the
  ledger records a job for are never submitted again: concurrent runs, a killed submitter, a
  manifest deleted by Snakemake's cleanup or a forced rerun all end with the jobs submitted once.

Targets: a fake backend name (``fake_manila``, ``FakeManilaV2``: any ``Fake*`` backend class
of ``qiskit_ibm_runtime.fake_provider``) runs in qiskit-ibm-runtime's local testing mode, offline,
on Aer with the fake device's noise model; any other name is a real backend reached through
``QiskitRuntimeService()``, whose credentials come only from the environment (QISKIT_IBM_TOKEN,
QISKIT_IBM_CHANNEL, QISKIT_IBM_INSTANCE) or the saved qiskit account.  Nothing here reads,
logs or writes a token.

Local testing mode has no job service: a local job lives in the process that submitted it and
cannot be retrieved by id later.  Fake backends finish within seconds, so :func:`submit` waits
for local jobs *after* the manifest is written and stores their counts beside it
(``manifest.local_results.json``, read-only); :func:`collect` reads them from there.  A local job whose
results were never stored (the submitting process died) is reported as lost, like a failed job.
For tests and demonstrations, the environment variable ``QNNSCOPE_FAKE_JOB_STATUS`` (QUEUED,
RUNNING, ERROR, CANCELLED) makes :func:`collect` see every *local* job in that state; real jobs
ignore it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import warnings
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import qnnscope
from qnnscope.io import atomic_output, write_parquet

log = logging.getLogger(__name__)

FAKE_STATUS_ENV = "QNNSCOPE_FAKE_JOB_STATUS"
"""Test hook: the status every local (fake-backend) job reports to :func:`collect`."""
PENDING = ("INITIALIZING", "QUEUED", "VALIDATING", "RUNNING")
FAILED = ("ERROR", "CANCELLED", "LOST")
COUNT_COLUMNS = ("circuit", "circuit_hash", "generation", "job_id", "backend", "shots", "bits", "count")
"""Counts table: one row per (circuit, observed outcome); ``bits`` is written in qnnscope's wire
order (character j = wire j, wire 0 first), the reverse of qiskit's printed bitstrings."""


class BudgetExceeded(ValueError):
    """A submission would go over ``max_jobs`` or ``max_shots``."""


class JobsPending(RuntimeError):
    """Some jobs are still queued or running: collect again later."""


class JobsFailed(RuntimeError):
    """Some jobs failed, were cancelled or were lost; resubmit only if the user asks."""


# --- targets -------------------------------------------------------------------------------

@cache
def fake_backends() -> dict[str, type]:
    """Snake-case name (``fake_manila``) → fake backend class of ``qiskit_ibm_runtime.fake_provider``."""
    from qiskit.providers import BackendV2
    from qiskit_ibm_runtime import fake_provider

    out = {}
    for cls_name in dir(fake_provider):
        cls = getattr(fake_provider, cls_name)
        if cls_name.startswith("Fake") and isinstance(cls, type) and issubclass(cls, BackendV2):
            snake = re.sub(r"(?<!^)(?=[A-Z])", "_", cls_name.removesuffix("V2")).lower()
            if snake != "fake_backend":  # the abstract base class
                out[snake] = cls
    return dict(sorted(out.items()))


def fake_backend_class(name: str):
    """The fake backend class named by ``name`` in snake or class form (``fake_manila``,
    ``FakeManilaV2``, ``fake_sherbrooke``), or None."""
    key = re.sub(r"[^a-z0-9]", "", name.lower()).removesuffix("v2")
    return next((cls for snake, cls in fake_backends().items() if snake.replace("_", "") == key), None)


def is_local(name: str) -> bool:
    """Whether ``name`` is a fake backend that runs in local testing mode."""
    return fake_backend_class(name) is not None


def check_backend_name(name: str, key: str = "hardware.backend") -> None:
    """Offline check of a target name: one that looks like a fake backend (``fake…``, any case)
    must be one, so a typo never reaches IBM's service with the user's credentials."""
    if fake_backend_class(name) is None and re.match(r"(?i)fake", name):
        names = list(fake_backends())
        close = [n for n in names if n.startswith(name.lower()[:7])][:5] or names[:5]
        raise ValueError(f"{key}: {name!r} is not a fake backend of qiskit_ibm_runtime.fake_provider; allowed: one of "
                         f"{len(names)} fake backends ({', '.join(close)}, …) or a real backend's name")


def resolve_backend(name: str):
    """The backend object for ``name``: a fake backend instance (local testing mode), or the real
    backend from ``QiskitRuntimeService()`` with credentials from the environment or saved account
    (a mistyped fake name is refused first, offline)."""
    cls = fake_backend_class(name)
    if cls is not None:
        return cls()
    check_backend_name(name)
    from qiskit_ibm_runtime import QiskitRuntimeService

    return QiskitRuntimeService().backend(name)


# --- circuits ------------------------------------------------------------------------------

def measured_circuit(circuit, angles: np.ndarray, choice_row: np.ndarray):
    """The qiskit circuit of ``circuit`` at ``angles`` (one per op), measured on every wire
    (classical bit j = wire j), through the qiskit backend's converter without its save ops."""
    from qnnscope.backends.qiskit_backend import to_qiskit

    qc = to_qiskit(circuit, angles, choice_row)
    qc.measure_all()
    return qc


@cache
def _pass_manager(backend, optimization_level: int, seed_transpiler: int):
    from qiskit.transpiler import generate_preset_pass_manager

    return generate_preset_pass_manager(optimization_level=optimization_level, backend=backend,
                                        seed_transpiler=seed_transpiler)


def isa_circuits(circuits: list, backend, optimization_level: int = 1, seed_transpiler: int = 0) -> list:
    """Circuits transpiled to the target's ISA (its basis gates, coupling map and layout); the
    pass manager is built once per backend, level and seed."""
    return _pass_manager(backend, optimization_level, seed_transpiler).run(list(circuits))


def circuit_hash(isa, shots: int) -> str:
    """sha256 of the ISA circuit's OpenQASM 3 text and the shot count: stable across runs."""
    from qiskit import qasm3

    return hashlib.sha256(f"{qasm3.dumps(isa)}\nshots={int(shots)}".encode()).hexdigest()


# --- manifests -----------------------------------------------------------------------------

def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _write_protected(path: Path, payload: dict) -> None:
    """Write JSON atomically and make it read-only (0o444)."""
    with atomic_output(path) as tmp:
        Path(tmp).write_text(json.dumps(payload, indent=1, sort_keys=True, default=str), encoding="utf-8")
    os.chmod(path, 0o444)


def generation_path(manifest: str | os.PathLike, generation: int) -> Path:
    """``manifest.json`` for generation 0, ``manifest.genK.json`` for resubmission K."""
    manifest = Path(manifest)
    return manifest if generation == 0 else manifest.with_name(f"{manifest.stem}.gen{generation}{manifest.suffix}")


def _local_store(manifest_path: Path) -> Path:
    return manifest_path.with_name(f"{manifest_path.stem}.local_results.json")


def _qpy_path(manifest: Path) -> Path:
    return manifest.with_name(f"{manifest.stem}.circuits.qpy")


def load_generations(manifest: str | os.PathLike) -> list[dict]:
    """Every generation of a manifest, oldest first."""
    out, g = [], 0
    while generation_path(manifest, g).is_file():
        out.append(_read_json(generation_path(manifest, g)))
        g += 1
    if not out:
        raise FileNotFoundError(f"no hardware manifest at {manifest}")
    return out


def check_budget(n_jobs: int, n_shots: int, max_jobs: int, max_shots: int, key: str = "hardware.") -> None:
    """Refuse a submission of ``n_jobs`` jobs and ``n_shots`` shots beyond the limits."""
    if n_jobs > max_jobs:
        raise BudgetExceeded(f"{key}max_jobs: this needs {n_jobs} jobs, over the limit {max_jobs}; "
                             f"raise {key}max_jobs or shrink the sweep")
    if n_shots > max_shots:
        raise BudgetExceeded(f"{key}max_shots: this needs {n_shots} shots, over the limit {max_shots}; "
                             f"raise {key}max_shots or shrink the sweep")


def plan_jobs(n_circuits: int, pubs_per_job: int) -> int:
    """Jobs needed for ``n_circuits`` circuits at ``pubs_per_job`` PUBs per job."""
    return math.ceil(n_circuits / pubs_per_job)


LEDGER_NAME = "submissions.jsonl"
"""The ledger's file name beside a manifest when the caller names none."""


class Ledger:
    """The append-only record of every job ever submitted from a results directory: one JSON line
    per job (manifest, generation, job id, circuit indices and hashes, shots), written and
    flushed to disk *before* the manifest.  It is the source of truth: a job it records is never
    submitted again for the same circuits, a manifest that was deleted (a killed or forced rerun,
    Snakemake's cleanup of a failed job) is rebuilt from it, and budgets count it.  Submissions
    hold its lock (``flock`` on ``<ledger>.lock``), so concurrent runs take turns."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    @contextmanager
    def locked(self):
        """Hold the ledger's exclusive inter-process lock (released when the process dies)."""
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield self
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def records(self) -> list[dict]:
        """Every complete record (a line cut short by a crash is skipped with a warning)."""
        if not self.path.is_file():
            return []
        out = []
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                log.warning("%s:%d is not a complete record; skipped", self.path, number)
        return out

    def append(self, record: dict) -> None:
        """Append one record with a single write and fsync it before returning."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(record, sort_keys=True) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def key(self, manifest: Path) -> str:
        """How records name ``manifest``: its path relative to the ledger's directory."""
        return os.path.relpath(Path(manifest).resolve(), self.path.parent.resolve())

    def jobs(self, manifest: Path, generation: int = 0) -> list[dict]:
        """The jobs recorded for one generation of ``manifest``, in submission order."""
        name = self.key(manifest)
        return [r for r in self.records() if r.get("manifest") == name and r.get("generation", 0) == generation]

    def totals(self) -> tuple[int, int]:
        """Jobs and shots recorded so far, every manifest and generation together."""
        records = self.records()
        return len(records), sum(int(r.get("shots", 0)) for r in records)


def _ledger_of(manifest: Path, payload: dict | None, ledger: str | os.PathLike | None) -> Ledger:
    """The ledger given, else the one the manifest recorded at submission, else the default
    beside the manifest."""
    if ledger is not None:
        return Ledger(ledger)
    recorded = (payload or {}).get("ledger")
    return Ledger(manifest.parent / recorded if recorded else manifest.with_name(LEDGER_NAME))


def _check_budget_with(book: Ledger, n_jobs: int, n_shots: int, max_jobs: int, max_shots: int, key: str) -> None:
    """The budget counts what the ledger already holds: recorded + planned within the limits."""
    used_jobs, used_shots = book.totals()
    for name, used, more, limit in (("max_jobs", used_jobs, n_jobs, max_jobs), ("max_shots", used_shots, n_shots,
                                                                                 max_shots)):
        if used + more > limit:
            what = name.removeprefix("max_")
            raise BudgetExceeded(f"{key}{name}: {book.path} already records {used} {what} and this needs {more} "
                                 f"more, over the limit {limit}; raise {key}{name} or shrink the sweep")


def _versions() -> dict:
    import qiskit
    import qiskit_ibm_runtime

    return {"qnnscope_version": qnnscope.__version__, "qiskit_version": qiskit.__version__,
            "qiskit_ibm_runtime_version": qiskit_ibm_runtime.__version__}


def _run_jobs(backend, pubs: list, pubs_per_job: int, seed_simulator: int | None, on_job) -> None:
    """Submit ``pubs`` in a Batch, ``pubs_per_job`` per SamplerV2 job; ``on_job(job, indices,
    batch_id)`` is called right after each submission, before anything waits."""
    from qiskit_ibm_runtime import Batch, SamplerV2

    options = {"simulator": {"seed_simulator": seed_simulator}} if seed_simulator is not None else {}
    with Batch(backend=backend) as batch:
        with warnings.catch_warnings():  # SamplerV2 is deprecated from 0.50 but still the documented V2 primitive
            warnings.filterwarnings("ignore", message=".*SamplerV2 class is deprecated", category=DeprecationWarning)
            sampler = SamplerV2(mode=batch, options=options)
        for lo in range(0, len(pubs), pubs_per_job):
            indices = list(range(lo, min(lo + pubs_per_job, len(pubs))))
            job = sampler.run([pubs[i] for i in indices])
            on_job(job, indices, getattr(batch, "session_id", None))


def _counts_of(pub_result) -> dict[str, int]:
    """Counts of one PUB in qnnscope's wire order (qiskit prints classical bit 0 last)."""
    return {bits[::-1]: int(n) for bits, n in pub_result.join_data().get_counts().items()}


def _store_local(store: Path, jobs: list) -> None:
    """Wait for local jobs (they run in this process) and store their counts, read-only."""
    out = {}
    for job in jobs:
        try:
            out[job.job_id()] = {"status": "DONE", "counts": [_counts_of(r) for r in job.result()]}
        except Exception as exc:  # noqa: BLE001 - any failure of a local job is that job's error, reported by collect
            out[job.job_id()] = {"status": "ERROR", "error": f"{type(exc).__name__}: {exc}"}
    _write_protected(store, out)


def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path} is damaged ({exc}): rename it to {path.name}.corrupt and run again; the jobs it "
                         f"listed are rebuilt from the ledger and none is submitted again") from exc


def _merge_ledger(path: Path, payload: dict, recorded: list[dict]) -> None:
    """Add to ``payload`` every job the ledger records for it that the manifest lacks (the
    manifest was deleted or its last rewrite was lost), checking they ran these circuits."""
    known = {job["job_id"] for job in payload["jobs"]}
    hashes = [c["hash"] for c in payload["circuits"]]
    for record in recorded:
        if record["job_id"] in known:
            continue
        if [hashes[i] if i < len(hashes) else None for i in record["circuits"]] != record["hashes"]:
            raise ValueError(f"{path}: the ledger records job {record['job_id']} for other circuits than these "
                             "(config changed?); move the point's directory away to submit anew")
        payload["jobs"].append({k: record[k] for k in ("job_id", "circuits", "shots", "submitted_at")})
        payload["batch_id"] = record.get("batch_id", payload.get("batch_id"))
        log.warning("%s: job %s was in the ledger, not in the manifest: restored, not resubmitted", path,
                    record["job_id"])


def submit(
    manifest: str | os.PathLike,
    circuits: list,
    backend: str,
    shots: int,
    *,
    tags: list[dict] | None = None,
    point: dict | None = None,
    pubs_per_job: int = 100,
    max_jobs: int = 10,
    max_shots: int = 1_000_000,
    optimization_level: int = 1,
    seed_transpiler: int = 0,
    seed_simulator: int | None = None,
    ledger: str | os.PathLike | None = None,
    key: str = "hardware.",
) -> dict:
    """Transpile ``circuits`` (measured, logical) for ``backend`` and submit them as SamplerV2 jobs
    in a Batch, recording each job in the ledger and then the manifest before any wait; returns
    the manifest.

    Exactly once: under the ledger's lock, circuits that the ledger or the manifest already
    holds a job for are never submitted again (a deleted manifest is rebuilt from the ledger),
    and the budget counts every job the ledger holds.  A complete manifest is returned as is.
    ``tags`` (one JSON-able dict per circuit) and ``point`` are recorded; ``seed_simulator``
    seeds local jobs only; ``ledger`` defaults to ``submissions.jsonl`` beside the manifest, and
    the manifest records which ledger it used (collection and resubmission find it there).
    """
    from qiskit import qpy

    path = Path(manifest)
    existing = _read_json(path)
    if existing is not None and existing.get("complete"):
        log.info("manifest %s exists (%d jobs): nothing submitted", path, len(existing["jobs"]))
        return existing
    if isinstance(shots, bool) or int(shots) < 1:
        raise ValueError(f"{key}shots: must be a positive integer, got {shots!r}")
    if pubs_per_job < 1:
        raise ValueError(f"{key}pubs_per_job: must be >= 1, got {pubs_per_job}")
    tags = tags if tags is not None else [{} for _ in circuits]
    book = _ledger_of(path, existing, ledger)
    target = resolve_backend(backend)
    local = is_local(backend)
    isa = isa_circuits(circuits, target, optimization_level, seed_transpiler)
    hashes = [circuit_hash(c, shots) for c in isa]
    with book.locked():
        existing = _read_json(path)  # another run may have written it while this one transpiled
        if existing is not None and existing.get("complete"):
            log.info("manifest %s was completed by another run (%d jobs): nothing submitted", path,
                     len(existing["jobs"]))
            return existing
        aside = path.with_name(path.name + ".corrupt")
        if existing is None and aside.exists() and not book.jobs(path):
            raise ValueError(f"{path} was damaged and set aside as {aside}, and the ledger {book.path} records no job "
                             f"for it: jobs may have been submitted that no readable record holds, so nothing is "
                             f"submitted. Recover their ids from {aside} or the provider's job list; to submit anew, "
                             f"delete {aside}")
        payload = existing or {
            "generation": 0, "backend": target.name, "local": local, "shots": int(shots),
            "pubs_per_job": pubs_per_job, "optimization_level": optimization_level,
            "seed_transpiler": seed_transpiler, "seed_simulator": seed_simulator,
            "submitted_at": _now(), "point": point, "complete": False, "batch_id": None, "jobs": [],
            "ledger": os.path.relpath(book.path.resolve(), path.parent.resolve()),
            "circuits": [{"index": i, "hash": h, "shots": int(shots), "tags": t}
                         for i, (h, t) in enumerate(zip(hashes, tags))],
        } | _versions()
        if [c["hash"] for c in payload["circuits"]] != hashes:
            raise ValueError(f"{path} records other circuits than these (config changed?); move it away to submit anew")
        _merge_ledger(path, payload, book.jobs(path))
        done = {i for job in payload["jobs"] for i in job["circuits"]}
        todo = [i for i in range(len(isa)) if i not in done]
        _check_budget_with(book, plan_jobs(len(todo), pubs_per_job), len(todo) * int(shots), max_jobs, max_shots, key)
        if not _qpy_path(path).is_file():
            with atomic_output(_qpy_path(path)) as tmp, open(tmp, "wb") as fh:
                qpy.dump(isa, fh)
        _write_protected(path, payload)
        submitted = []

        def record(job, indices, batch_id):
            ids = [todo[i] for i in indices]
            entry = {"job_id": job.job_id(), "circuits": ids, "shots": int(shots) * len(ids), "submitted_at": _now()}
            book.append({"event": "submitted", "manifest": book.key(path), "generation": 0, "backend": target.name,
                         "hashes": [hashes[i] for i in ids], "batch_id": batch_id} | entry)
            payload["jobs"].append(entry)
            payload["batch_id"] = batch_id
            _write_protected(path, payload)
            log.info("submitted job %s (%d circuits) to %s", entry["job_id"], len(ids), target.name)
            submitted.append(job)

        if todo:
            _run_jobs(target, [(isa[i], None, int(shots)) for i in todo], pubs_per_job, seed_simulator if local else None,
                      record)
        payload["complete"] = True
        _write_protected(path, payload)
        if local and submitted:
            _store_local(_local_store(path), submitted)
    return payload


# --- collection ----------------------------------------------------------------------------

def _status_name(status: Any) -> str:
    return str(getattr(status, "name", status)).upper()


def job_outcome(manifest: dict, path: Path, job_id: str, service=None) -> tuple[str, list | None, str]:
    """(status, counts per PUB or None, error message) of one job of a manifest generation."""
    if manifest["local"]:
        fake = os.environ.get(FAKE_STATUS_ENV)
        if fake:
            return fake.upper(), None, f"status set by {FAKE_STATUS_ENV}"
        store = _local_store(path)
        stored = json.loads(store.read_text(encoding="utf-8")).get(job_id) if store.is_file() else None
        if stored is None:
            return "LOST", None, ("local-mode job results were never stored (the submitting process ended "
                                  "first); local jobs cannot be retrieved by id")
        return stored["status"], stored.get("counts"), stored.get("error", "")
    job = service.job(job_id)
    status = _status_name(job.status())
    if status == "DONE":
        return status, [_counts_of(r) for r in job.result()], ""
    return status, None, job.error_message() if status in FAILED else ""


def _service(generations: list[dict]):
    if all(g["local"] for g in generations):
        return None
    from qiskit_ibm_runtime import QiskitRuntimeService

    return QiskitRuntimeService()


def collect(
    manifest: str | os.PathLike,
    counts_path: str | os.PathLike | None = None,
    *,
    resubmit_failed: bool = False,
    max_jobs: int = 10,
    max_shots: int = 1_000_000,
    ledger: str | os.PathLike | None = None,
    key: str = "hardware.",
) -> pd.DataFrame:
    """Counts of every circuit of ``manifest`` (latest generation holding it), written to
    ``counts_path`` if given.  Raises :class:`JobsPending` while jobs wait, :class:`JobsFailed`
    for failed/cancelled/lost jobs unless ``resubmit_failed``, which submits their circuits as a
    new generation (within the budget) and collects again."""
    manifest = Path(manifest)
    generations = load_generations(manifest)
    service = _service(generations)
    owner: dict[int, tuple[int, dict, int]] = {}  # circuit → (generation, job, position in job)
    for g, gen in enumerate(generations):
        for job in gen["jobs"]:
            for pos, circuit in enumerate(job["circuits"]):
                owner[circuit] = (g, job, pos)
    base = generations[0]
    n_circuits = len(base["circuits"])
    outcomes, pending, failed = {}, [], []
    for g, gen in enumerate(generations):
        for job in gen["jobs"]:
            if not any(owner[c][0] == g and owner[c][1] is job for c in job["circuits"]):
                continue
            status, counts, error = job_outcome(gen, generation_path(manifest, g), job["job_id"], service)
            outcomes[job["job_id"]] = (status, counts)
            if status in PENDING:
                pending.append(job["job_id"])
            elif status != "DONE":
                failed.append((job["job_id"], status, error, [c for c in job["circuits"] if owner[c][1] is job]))
    missing = [i for i in range(n_circuits) if i not in owner]
    if pending:
        raise JobsPending(f"{len(pending)} jobs still queued or running ({', '.join(pending)}): rerun later")
    if failed or missing:
        lines = [f"job {j}: {s}: {e}" for j, s, e, _ in failed]
        if missing:
            lines.append(f"{len(missing)} circuits were never submitted (submission interrupted)")
        if not resubmit_failed:
            raise JobsFailed(f"{len(failed)} jobs failed in {manifest}:\n  " + "\n  ".join(lines)
                             + f"\nset {key}resubmit_failed: true to resubmit them (a new manifest generation)")
        log.warning("resubmitting after failures:\n  %s", "\n  ".join(lines))
        _resubmit(manifest, generations, sorted(missing + [c for *_, cs in failed for c in cs]),
                  max_jobs, max_shots, ledger, key)
        return collect(manifest, counts_path, resubmit_failed=False, max_jobs=max_jobs, max_shots=max_shots,
                       ledger=ledger, key=key)
    rows = []
    for i in range(n_circuits):
        g, job, pos = owner[i]
        counts = outcomes[job["job_id"]][1][pos]
        info = base["circuits"][i]
        for bits, n in sorted(counts.items()):
            rows.append({"circuit": i, "circuit_hash": info["hash"], "generation": g, "job_id": job["job_id"],
                         "backend": base["backend"], "shots": base["shots"], "bits": bits, "count": n}
                        | {f"tag_{k}": v for k, v in info["tags"].items()})
    frame = pd.DataFrame(rows)
    if counts_path is not None:
        write_parquet(frame, counts_path, {"manifest": str(manifest), "generations": len(generations),
                                           "backend": base["backend"], "point": base["point"]})
    return frame


def _resubmit(manifest: Path, generations: list[dict], circuits: list[int], max_jobs, max_shots, ledger, key) -> None:
    """Submit ``circuits`` of the stored ISA circuits again, as the next manifest generation
    (under the ledger's lock; nothing if another run already made that generation)."""
    from qiskit import qpy

    base = generations[0]
    book = _ledger_of(manifest, base, ledger)
    with book.locked():
        if len(load_generations(manifest)) != len(generations):
            log.warning("%s: another run resubmitted while this one collected: nothing resubmitted", manifest)
            return
        with open(_qpy_path(manifest), "rb") as fh:
            isa = qpy.load(fh)
        g = len(generations)
        path = generation_path(manifest, g)
        payload = {"generation": g, "backend": base["backend"], "local": base["local"], "shots": base["shots"],
                   "submitted_at": _now(), "point": base["point"], "resubmits": circuits, "complete": False,
                   "batch_id": None, "jobs": []} | _versions()
        _check_budget_with(book, plan_jobs(len(circuits), base["pubs_per_job"]), len(circuits) * base["shots"],
                           max_jobs, max_shots, key)
        target = resolve_backend(base["backend"])
        _write_protected(path, payload)
        submitted = []

        def record(job, indices, batch_id):
            entry = {"job_id": job.job_id(), "circuits": [circuits[i] for i in indices],
                     "shots": base["shots"] * len(indices), "submitted_at": _now()}
            book.append({"event": "resubmitted", "manifest": book.key(manifest), "generation": g,
                         "backend": target.name, "hashes": [base["circuits"][c]["hash"] for c in entry["circuits"]],
                         "batch_id": batch_id} | entry)
            payload["jobs"].append(entry)
            payload["batch_id"] = batch_id
            _write_protected(path, payload)
            log.info("resubmitted job %s (%d circuits, generation %d)", entry["job_id"], len(indices), g)
            submitted.append(job)

        _run_jobs(target, [(isa[i], None, base["shots"]) for i in circuits], base["pubs_per_job"],
                  base["seed_simulator"] if base["local"] else None, record)
        payload["complete"] = True
        _write_protected(path, payload)
        if base["local"]:
            _store_local(_local_store(path), submitted)


# --- stored circuits ------------------------------------------------------------------

def load_isa(manifest: str | os.PathLike) -> list:
    """The ISA circuits a manifest's jobs ran (stored beside it as QPY at submission)."""
    from qiskit import qpy

    with open(_qpy_path(Path(manifest)), "rb") as fh:
        return qpy.load(fh)


# --- credentials ---------------------------------------------------------------------------

def scan_for_secret(directory: str | os.PathLike, secret: str) -> list[Path]:
    """Every file under ``directory`` whose bytes contain ``secret`` (for tests: a dummy token
    must appear nowhere a run wrote)."""
    needle = secret.encode()
    return sorted(p for p in Path(directory).rglob("*") if p.is_file() and needle in p.read_bytes())
