"""Trainability diagnostics (config key `diagnostics`): batch jobs of points → table → figure.

Every (block, qubits, depth, init) is a point (:class:`qnnscope.diagnostics.DiagnosticsPoint`),
checked by the package while the DAG is built (errors name the config key).  A point's row goes,
atomically, to
results/diagnostics/{name}/{ansatz}/n~{n}/depth~{depth}/init~{init}/{settings}.parquet, where
{settings} is a hash of what the row depends on besides its path (sigma, user circuit source,
metrics, pairs, bins, moments, Fisher points, dataset size, rank tolerance, seed, bootstrap, CI).
Points take well under a second, less than a job's start (torch, scipy, numba), so the points of
one block and qubit count run in one batch job (rule ``diagnostics_batch``), whose output is a
manifest listing them; the point files are not outputs, so Snakemake never deletes them, and a
batch that runs again (killed part-way, or a new id after a depth was added) keeps every point
whose metadata says it is finished.  `results/tables/diagnostics.parquet` collects the points of
the config; one figure shows them all.
"""

import hashlib
import json

from qnnscope.diagnostics import DiagnosticsPoint, check_point

DIAGNOSTICS_POINT = "results/diagnostics/{name}/{ansatz}/n~{n}/depth~{depth}/init~{init}/{settings}.parquet"
DIAGNOSTICS_BATCH = "results/diagnostics/{name}/batches/{diag_batch}.json"
DIAGNOSTICS_TABLE = "results/tables/diagnostics.parquet"
DIAGNOSTICS_FIGURE = "results/figures/diagnostics"


def _diagnostics_jobs() -> dict:
    """Point file → its job; refuses duplicate names and points the package cannot run."""
    names, jobs = set(), {}
    for i, block in enumerate(config.get("diagnostics", [])):
        where = f"diagnostics[{i}]."
        if block["name"] in names:
            raise ValueError(f"{where}name: {block['name']!r} is used by two diagnostics blocks; names must be unique")
        names.add(block["name"])
        with_circuit(block, where)
        for n, rule, init in product(block["qubits"], block["depths"], block["inits"]):
            depth = depth_of(rule, n)
            source = ""
            if block.get("circuit"):
                try:
                    source = source_hash(block["circuit"], n, depth)
                except ValueError as exc:
                    raise ValueError(f"{where}circuit: {exc}") from None
            point = DiagnosticsPoint(
                ansatz=block["ansatz"], n_qubits=n, depth=depth, init=init, sigma=sigma_for(init, block["sigma"]),
                circuit=block.get("circuit", ""), source=source, metrics=tuple(block["metrics"]), pairs=block["pairs"],
                bins=block["bins"], moments=tuple(block["moments"]), fisher_points=block["fisher_points"],
                dataset_size=block["dataset_size"], rank_rtol=float(block["rank_rtol"]),
            )
            if workflow.is_main_process:  # a job's own process checks its point when it runs
                check_point(point, where)
            settings = {"point": point.__dict__, "seed": config["seed"], "bootstrap": config["bootstrap"],
                        "ci": config["ci"]}
            digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=list).encode()).hexdigest()[:12]
            path = DIAGNOSTICS_POINT.format(name=block["name"], ansatz=point.ansatz, n=n, depth=depth, init=init,
                                            settings=digest)
            jobs.setdefault(path, {"path": path, "point": point, "sweep": block["name"], "depth_rule": str(rule)})
    return jobs


DIAGNOSTICS_JOBS = _diagnostics_jobs()


def _diagnostics_batches() -> dict:
    """Batch manifest → its points: per block and qubit count; the id hashes the points' files
    (which name their settings) and the seed, so a batch whose points change is a new job."""
    groups, batches = {}, {}
    for job in DIAGNOSTICS_JOBS.values():
        groups.setdefault((job["sweep"], job["point"].n_qubits), []).append(job)
    for (name, n), members in groups.items():
        key = json.dumps([config["seed"], [job["path"] for job in members]])
        batch = f"n{n}__{hashlib.sha256(key.encode()).hexdigest()[:10]}"
        batches[DIAGNOSTICS_BATCH.format(name=name, diag_batch=batch)] = members
    return batches


DIAGNOSTICS_BATCHES = _diagnostics_batches()


def _check_diagnostics_points() -> None:
    """Before any job: a batch whose manifest lists a point file that is gone or damaged loses its
    manifest (a damaged file is set aside as ``.corrupt``), so that the batch runs again and
    computes only that point; the table that summarised it goes too."""
    stale = False
    for manifest in DIAGNOSTICS_BATCHES:
        try:
            with open(manifest) as f:
                listed = json.load(f)["points"]
        except FileNotFoundError:
            continue
        except (OSError, ValueError, KeyError, TypeError):
            listed = None
        for path in listed or []:
            if os.path.exists(path) and not parquet_intact(path):
                aside = set_aside(path, "not a whole Parquet file when the workflow was planned")
                print(f"qnnscope: {path} is damaged; moved it to {aside} and it is computed again", file=sys.stderr)
        if listed is None or not all(os.path.exists(path) for path in listed):
            print(f"qnnscope: {manifest} lists a point that is gone (or is unreadable); removed it so that the batch "
                  "runs again", file=sys.stderr)
            os.remove(manifest)
            stale = True
    if stale and os.path.exists(DIAGNOSTICS_TABLE):
        os.remove(DIAGNOSTICS_TABLE)


_check_diagnostics_points()


def diagnostics_batch_jobs(wildcards) -> list[dict]:
    manifest = DIAGNOSTICS_BATCH.format(**wildcards)
    if manifest not in DIAGNOSTICS_BATCHES:
        raise ValueError(f"{manifest} is not a batch of any diagnostics block in the config")
    return DIAGNOSTICS_BATCHES[manifest]


def diagnostics_targets() -> list[str]:
    """The table, its HTML and the figure (nothing when `diagnostics` is empty)."""
    if not DIAGNOSTICS_JOBS:
        return []
    return [DIAGNOSTICS_TABLE, "results/tables/diagnostics.html"] + [f"{DIAGNOSTICS_FIGURE}.{ext}" for ext in ("png", "pdf")]


localrules: diagnostics_table, figure_diagnostics


wildcard_constraints:
    diag_batch=r"n\d+__[0-9a-f]{10}",


rule diagnostics_batch:
    """Every metric of each point of a batch (one block and qubit count) as one row with CIs and
    provenance, then the batch's manifest; finished points are kept."""
    output:
        manifest=DIAGNOSTICS_BATCH,
    log:
        "results/logs/diagnostics/{name}/{diag_batch}.log",
    params:
        jobs=diagnostics_batch_jobs,
        seed=config["seed"],
        bootstrap=config["bootstrap"],
        ci=config["ci"],
    resources:
        runtime=runtime,
        mem_mb=lambda wildcards, attempt: config["resources"]["mem_mb"] * attempt,
    script:
        "../../scripts/diagnostics_batch.py"


rule diagnostics_table:
    """Every point's row of the config in one table (the batches' manifests are the inputs; the
    script reads the point files of the config)."""
    input:
        list(DIAGNOSTICS_BATCHES),
    output:
        update(DIAGNOSTICS_TABLE),
    log:
        "results/logs/aggregate/diagnostics.log",
    params:
        points=list(DIAGNOSTICS_JOBS),
    script:
        "../../scripts/diagnostics_table.py"


rule figure_diagnostics:
    """Expressibility (KL from Haar), Meyer–Wallach Q and QFIM rank against depth, one line per circuit."""
    input:
        DIAGNOSTICS_TABLE,
    output:
        png=report(
            DIAGNOSTICS_FIGURE + ".png",
            caption="../report/diagnostics.rst",
            category="Trainability diagnostics",
            labels={"figure": "diagnostics against depth"},
        ),
        pdf=DIAGNOSTICS_FIGURE + ".pdf",
    log:
        "results/logs/figures/diagnostics.log",
    script:
        "../../scripts/diagnostics_figure.py"
