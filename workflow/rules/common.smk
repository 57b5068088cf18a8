"""Sweep points from the config: every point is checked by the package before any job runs.

A shard is one chunk of samples of one sweep point, identified by its parameters in its path.
Shards of points with at most ``batch.max_qubits`` qubits are computed by batch jobs (rule
``gradient_batch``, one job per batch, its output a manifest listing the batch's shards) so that
thousands of millisecond points do not become thousands of jobs; larger points get one
``gradient_shard`` job per shard.  A batch's id carries a hash of its members, so a batch that a
config change grows is a new job (which keeps the finished shards it holds).
"""

import hashlib
import json
import math
import os
import sys
from itertools import product

from qnnscope.gradients.evaluate import validate as validate_point
from qnnscope.gradients.vqc import MEMORY_ENV, peak_memory
from qnnscope.circuits.families import graph_hash
from qnnscope.circuits.importers import source_hash, spec_name
from qnnscope.config import check_graphs
from qnnscope.gradients.point import GradientPoint, cost_label
from qnnscope.io import parquet_intact, set_aside
from qnnscope.sampling import sigma_for

SHARD = (
    "results/shards/gradients/{sweep}/ansatz~{ansatz}/n~{n}/depth~{depth}/cost~{cost}/"
    "init~{init}/backend~{backend}/dtype~{dtype}/noise~{noise}/shots~{shots}/params~{params}/chunk~{chunk}.parquet"
)
LOG = SHARD.replace("results/shards/", "results/logs/").replace(".parquet", ".log")

wildcard_constraints:
    n=r"\d+",
    depth=r"\d+",
    chunk=r"\d+",
    shots=r"\d+",
    sweep=r"[A-Za-z0-9_-]+",


def with_circuit(block: dict, where: str) -> None:
    """A block names a built-in ``ansatz`` or a user ``circuit`` (then ``ansatz``, if given, is
    the name its rows carry; by default the builder's function or the QASM file's stem)."""
    if block.get("circuit"):
        if block.get("model", "vqc") != "vqc":
            raise ValueError(f"{where}circuit: a user circuit is a vqc model, got model {block['model']!r}")
        block.setdefault("ansatz", spec_name(block["circuit"]))
    elif "ansatz" not in block:
        raise ValueError(f"{where}ansatz: give a built-in ansatz or a user circuit under 'circuit'")


def depth_of(spec, n: int) -> int:
    """A depth entry: an integer, 'Kn' meaning K times the qubit count, or 'log' (⌈log2 n⌉ ≥ 1)."""
    if spec == "log":
        return max(1, math.ceil(math.log2(n)))
    return int(spec[:-1] or 1) * n if isinstance(spec, str) else int(spec)


def _sweeps() -> dict:
    blocks = {}
    for i, block in enumerate(config["gradients"]):
        if block["name"] in blocks:
            raise ValueError(f"gradients[{i}].name: {block['name']!r} is used by two sweeps; names must be unique")
        with_circuit(block, f"gradients[{i}].")
        blocks[block["name"]] = (i, block)
    return blocks


check_graphs(config)  # the gradients and landscapes blocks' graphs, before any point is made
SWEEPS = _sweeps()


def point_of(block: dict, n: int, depth: int, cost: str, init: str, backend: str, dtype: str,
             noise: str = "none", shots: int = 0, where: str = "") -> GradientPoint:
    """The package's description of one sweep point of ``block`` (``where``: its config key)."""
    dqnn = block["model"] == "dqnn"
    options = {}
    if dqnn:
        options = {"widths": "-".join([str(depth_of(block["width"], n))] * (depth + 1)), "data": block["data"],
                   "pairs": block["pairs"]}
    elif block.get("circuit"):
        try:
            options = {"circuit": block["circuit"], "source": source_hash(block["circuit"], n, depth)}
        except ValueError as exc:
            raise ValueError(f"{where}circuit: {exc}") from None
    elif block.get("graph"):  # QAOA on the block's graph, read at n (check_graphs has read every file)
        options = {"graph": block["graph"], "source": graph_hash(block["graph"], n)}
    return GradientPoint(
        ansatz=block["ansatz"], n_qubits=n, depth=depth, cost=cost, init=init,
        sigma=sigma_for(init, block["sigma"]),
        identity_block=block["identity_block"] if init == "identity_block" else 0,
        backend=backend, dtype=dtype, params=block["params"], model=block["model"],
        method=block["method"] if backend == "torch" else "auto",
        noise=noise, shots=shots, options=options,
    )


if config["resources"].get("max_mem_mb"):  # points are checked against a job's memory, not this machine's
    os.environ[MEMORY_ENV] = str(config["resources"]["max_mem_mb"])


def _shard_jobs() -> tuple[dict, set]:
    """Every shard of every sweep → what computing it takes, and the (sweep, n, depth, rule) of
    depth rules whose point an earlier rule of the sweep already has; raises (naming the config
    key) on a point the package refuses.  Within a sweep and qubit count the order is
    chunk-major, so raising ``samples`` appends shards and leaves earlier batches as they were."""
    jobs, aliases = {}, set()
    for name, (i, block) in SWEEPS.items():
        n_chunks = math.ceil(block["samples"] / block["chunk"])
        for n in block["qubits"]:
            points = []
            for d, cost, init, backend, dtype, noise, shots in product(
                    block["depths"], block["costs"], block["inits"], block["backends"], block["dtypes"],
                    block["noise"], block["shots"]):
                point = point_of(block, n, depth_of(d, n), cost, init, backend, dtype, noise, shots, f"gradients[{i}].")
                if workflow.is_main_process:  # a job's own process checks its point when it runs
                    validate_point(point, block["samples"], prefix=f"gradients[{i}].")
                points.append((str(d), point))
            for chunk, (rule, point) in product(range(n_chunks), points):
                path = SHARD.format(sweep=name, ansatz=point.label, n=n, depth=point.depth, cost=point.cost_label,
                                    init=point.init, backend=point.backend, dtype=point.dtype, noise=point.noise,
                                    shots=point.shots, params=point.params, chunk=chunk)
                samples = min(block["chunk"], block["samples"] - chunk * block["chunk"])
                if path in jobs and jobs[path]["depth_rule"] != rule:
                    aliases.add((name, n, point.depth, rule))
                jobs.setdefault(path, {"path": path, "sweep": name, "depth_rule": rule, "point": point,
                                       "samples": samples, "chunk": chunk})
    return jobs, aliases


SHARD_JOBS, ALIASES = _shard_jobs()
GRADIENT_SHARDS = list(SHARD_JOBS)


BATCH_MANIFEST = "results/shards/gradients/{sweep}/batches/{batch}.json"
GRADIENT_TABLE = "results/tables/gradients.parquet"

wildcard_constraints:
    batch=r"n\d+__part\d+__[0-9a-f]{10}",


def _batch_id(n: int, part: int, members: list[dict]) -> str:
    """``n{n}__part{k}__{hash}``: the hash of the member shards (paths and sample counts) and the
    seed, so that a batch whose membership changes is a new job, and an unchanged one keeps its id."""
    key = json.dumps([config["seed"], [[job["path"], job["samples"]] for job in members]])
    return f"n{n}__part{part}__{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def _batches() -> dict:
    """(sweep, batch id) → its shards: per sweep and qubit count (so adding a qubit count adds
    batches and changes none), consecutive runs of ``batch.shards`` shards of points with
    n ≤ ``batch.max_qubits``."""
    batches, groups = {}, {}
    for job in SHARD_JOBS.values():
        if job["point"].n_qubits <= config["batch"]["max_qubits"]:
            groups.setdefault((job["sweep"], job["point"].n_qubits), []).append(job)
    size = config["batch"]["shards"]
    for (sweep, n), members in groups.items():
        for k in range(0, len(members), size):
            part = members[k:k + size]
            batches[(sweep, _batch_id(n, k // size, part))] = part
    return batches


BATCHES = _batches()
BATCHED_SHARDS = {job["path"] for members in BATCHES.values() for job in members}
BATCH_MANIFESTS = [BATCH_MANIFEST.format(sweep=sweep, batch=batch) for sweep, batch in BATCHES]
SINGLE_SHARDS = [path for path in GRADIENT_SHARDS if path not in BATCHED_SHARDS]


def _check_shards() -> None:
    """Before any job: a shard that is gone or damaged is computed again, and the gradient table
    that summarised it goes.  A damaged shard (not a whole Parquet file: truncated, overwritten)
    is renamed to ``<shard>.corrupt``; a batch whose manifest lists a missing or damaged shard
    loses its manifest, so that the batch runs again (recomputing only what is missing); a
    one-shard job's damaged shard is then simply missing.  Snakemake does not rerun a job for a
    missing intermediate file while the files downstream of it exist, so the table must go for
    the batch to run; the table and what depends on it are then rebuilt."""
    stale = []

    def damaged(path: str) -> bool:
        if not os.path.exists(path) or parquet_intact(path):
            return False
        aside = set_aside(path, "not a whole Parquet file when the workflow was planned")
        print(f"qnnscope: {path} is damaged (not a whole Parquet file); moved it to {aside} and it is computed "
              f"again", file=sys.stderr)
        return True

    for manifest in BATCH_MANIFESTS:
        try:
            with open(manifest) as f:
                listed = json.load(f)["shards"]
        except FileNotFoundError:
            continue
        except (OSError, ValueError, KeyError, TypeError):
            listed = None
        for path in listed or []:
            damaged(path)
        missing = [path for path in listed or [] if not os.path.exists(path)]
        if listed is None or missing:
            why = f"its shard {missing[0]} is missing" if missing else "it is unreadable"
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            print(f"qnnscope: {manifest}: {why}{more}; removed the manifest so that the batch runs again",
                  file=sys.stderr)
            os.remove(manifest)
            stale.append(manifest)
    stale += [path for path in SINGLE_SHARDS if damaged(path)]
    if stale and os.path.exists(GRADIENT_TABLE):
        os.remove(GRADIENT_TABLE)
        print(f"qnnscope: removed {GRADIENT_TABLE} (it summarised shards that are gone); "
              f"it is rebuilt once the shards have been computed again", file=sys.stderr)


_check_shards()


def batch_shards(wildcards) -> list[dict]:
    """The shards a ``gradient_batch`` job computes."""
    members = BATCHES.get((wildcards.sweep, wildcards.batch))
    if members is None:
        raise ValueError(f"{BATCH_MANIFEST.format(**wildcards)} is not a batch of any sweep in the config")
    return members


def batch_gpu(wildcards) -> int:
    return gpu_request(batch_shards(wildcards)[0]["point"].n_qubits)


def shard_job(wildcards, output) -> list[dict]:
    """The one shard a ``gradient_shard`` job computes."""
    if output[0] not in SHARD_JOBS:
        raise ValueError(f"{output[0]} is not a shard of any sweep in the config")
    return [SHARD_JOBS[output[0]]]


def gpu_request(n: int) -> int:
    """One GPU for points with at least ``resources.gpu_min_qubits`` qubits, none below."""
    return int(n >= config["resources"]["gpu_min_qubits"])


def runtime(wildcards, attempt) -> int:
    """Minutes: ``resources.runtime`` for the first attempt, that many more for each retry."""
    return config["resources"]["runtime"] * attempt


JOB_OVERHEAD_MB = 1500
"""Memory of a gradient job besides the engine's working set (Python, torch, the shard's table)."""


def mem_mb(wildcards, attempt) -> int:
    """MB a gradient job asks for: ``resources.mem_mb``, or more where the engine's working set of
    its largest point needs it, times the attempt."""
    names = dict(wildcards.items())
    if "batch" in names:
        members = BATCHES.get((names["sweep"], names["batch"]), [])
    else:
        try:
            members = [SHARD_JOBS[SHARD.format(**names)]]
        except KeyError:  # not a gradient shard (another rule's job)
            members = []
    need = max((peak_memory(job["point"], job["samples"]) for job in members if job["point"].model == "vqc"),
               default=0)
    return max(config["resources"]["mem_mb"], math.ceil(need / 2**20) + JOB_OVERHEAD_MB) * attempt


def aggregate_targets() -> list[str]:
    """Tables (Parquet and their HTML rendering) and every figure of every sweep."""
    if not GRADIENT_SHARDS:
        return []
    targets = [f"results/tables/{t}.{ext}" for t in ("gradients", "scaling_fits", "predictions") for ext in ("parquet", "html")]
    for name, (_, block) in SWEEPS.items():
        figures = ["variance_vs_qubits", "variance_vs_depth"]
        if {"global", "local"} <= set(block["costs"]):
            figures.append("global_vs_local")
        targets += [f"results/figures/gradients/{name}/{f}.{ext}" for f in figures for ext in ("png", "pdf")]
    return targets
