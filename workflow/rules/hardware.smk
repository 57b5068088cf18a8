"""Shots on IBM Quantum hardware (config key `hardware`): submit → collect → estimates → table.

Every sweep of `hardware.sweeps` lists gradient-sweep points (ansatz, qubits, depths, costs,
inits, params) with `samples` parameter draws (the simulated sweep's chunk 0 draws for the same
point and seed) and a list of `shots`.  Per point and shot count:

* `hardware_submit` (local rule): transpiles the measured circuits (every draw, its ±π/2 shifted
  copies, every measurement setting) to ISA circuits of `hardware.backend`, submits them in a
  Batch and writes `manifest.json` (protected) before waiting for anything.  A manifest that
  exists is never submitted again: Snakemake refuses to overwrite a protected output, and the
  package returns an existing manifest untouched.  Every submitted job is also appended to
  `results/hardware/submissions.jsonl`.
* `hardware_collect`: retrieves the results by job id and writes `counts.parquet` and the
  estimated costs and gradients next to their exact values (`estimates.parquet`).  Jobs still
  queued: the job fails with "N jobs still queued or running: rerun later" (exit 3) and a later
  run collects them; failed jobs are reported with their errors (exit 4) and resubmitted only
  with `hardware.resubmit_failed: true`.
  The estimates also hold what the device's calibrated noise model predicts for the very ISA
  circuits that ran (exact, readout errors included) and the shot noise the counts must carry.
* `hardware_table`: `results/tables/hardware.parquet`, gradient variances from the device, the
  noise model (and model + shot noise) and exact, per point, shot count and parameter.
* `figure_hardware`: per sweep, the comparison figure of exact simulation, the noise model and
  the device (`results/figures/hardware/{name}/variance_comparison.{png,pdf}`).

The budget (`hardware.max_jobs`, `hardware.max_shots`) is checked over the whole study when the
workflow is parsed: nothing runs if the sweeps would exceed it.
"""

from qnnscope.backends import ibm as _ibm
from qnnscope.hardware import n_circuits as _n_circuits
from qnnscope.sampling import stable_seed

HARDWARE = config.get("hardware", {})
HW_POINT = ("results/hardware/{name}/backend~{backend}/ansatz~{ansatz}/n~{n}/depth~{depth}/cost~{cost}/"
            "init~{init}/params~{params}/samples~{samples}/shots~{shots}")
HW_LOG = HW_POINT.replace("results/hardware/", "results/logs/hardware/")
HW_LEDGER = "results/hardware/submissions.jsonl"
HW_TABLE = "results/tables/hardware.parquet"
HW_FIGURE = "results/figures/hardware/{name}/variance_comparison"


def _hardware_points() -> dict:
    """Point directory → its job; every point checked by the package and the study's total jobs
    and shots checked against the budget before any job runs."""
    points, names, jobs, shots = {}, set(), 0, 0
    for i, block in enumerate(HARDWARE.get("sweeps", [])):
        where = f"hardware.sweeps[{i}]."
        if block["name"] in names:
            raise ValueError(f"{where}name: {block['name']!r} is used by two hardware sweeps; names must be unique")
        names.add(block["name"])
        full = {**block, "model": "vqc", "method": "auto", "identity_block": 0}
        for n, d, cost, init, n_shots in product(block["qubits"], block["depths"], block["costs"], block["inits"],
                                                 block["shots"]):
            point = point_of(full, n, depth_of(d, n), cost, init, "torch", "complex128")
            validate_point(point, block["samples"], prefix=where)
            path = HW_POINT.format(name=block["name"], backend=HARDWARE["backend"], ansatz=point.ansatz, n=n,
                                   depth=point.depth, cost=point.cost_label, init=init, params=point.params,
                                   samples=block["samples"], shots=n_shots)
            size = _n_circuits(point, block["samples"])
            jobs += _ibm.plan_jobs(size, HARDWARE["pubs_per_job"])
            shots += size * n_shots
            points[path] = {"sweep": block["name"], "point": point, "samples": block["samples"], "shots": n_shots,
                            "seed": config["seed"]}
    if points:
        _ibm.check_budget(jobs, shots, HARDWARE["max_jobs"], HARDWARE["max_shots"], key="hardware.")
    return points


if HARDWARE.get("sweeps"):
    _ibm.check_backend_name(HARDWARE["backend"], key="hardware.backend")
HW_POINTS = _hardware_points()


def _check_manifests() -> None:
    """Before any job: a manifest that is not readable JSON (damaged by hand or by the disk) is
    renamed to ``manifest.json.corrupt``; the submission job that runs in its place rebuilds it
    from the ledger and submits nothing that the ledger holds."""
    for path in HW_POINTS:
        manifest = f"{path}/manifest.json"
        try:
            with open(manifest) as f:
                json.load(f)
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as exc:
            aside = set_aside(manifest, f"unreadable when the workflow was planned: {exc}")
            print(f"qnnscope: {manifest} is damaged ({exc}); moved it to {aside}; it is rebuilt from the ledger "
                  f"{HW_LEDGER} when the point runs again, and nothing the ledger holds is submitted again",
                  file=sys.stderr)


_check_manifests()


def hardware_job(wildcards) -> dict:
    """What identifies one hardware directory's submission: the point, draws, shots, backend and
    seeds.  Only these are rule params: Snakemake's params trigger would otherwise want to redo a
    protected manifest when a budget or option changes, so the scripts read `hardware.max_jobs`,
    `max_shots`, `pubs_per_job`, `optimization_level` and `resubmit_failed` from the config."""
    path = HW_POINT.format(**wildcards)
    if path not in HW_POINTS:
        raise ValueError(f"{path} is not a point of any hardware sweep in the config")
    job = HW_POINTS[path]
    return job | {"backend": HARDWARE["backend"], "ledger": HW_LEDGER,
                  "seed_transpiler": stable_seed("qnnscope.hardware.transpile", job["seed"], path) % 2**31,
                  "seed_simulator": stable_seed("qnnscope.hardware.simulate", job["seed"], path) % 2**31}


def hardware_targets() -> list[str]:
    """The hardware table and each sweep's comparison figure (nothing when `hardware.sweeps` is empty)."""
    sweeps = sorted({job["sweep"] for job in HW_POINTS.values()})
    return ([HW_TABLE] if HW_POINTS else []) + [HW_FIGURE.format(name=name) + ".png" for name in sweeps]


def hardware_sweep_estimates(wildcards) -> list[str]:
    """The estimates of every point of hardware sweep ``wildcards.name``."""
    return [f"{path}/estimates.parquet" for path, job in HW_POINTS.items() if job["sweep"] == wildcards.name]


localrules: hardware_submit, hardware_table, figure_hardware


rule hardware_submit:
    """Transpile and submit one point's circuits; the manifest is written before any wait."""
    output:
        manifest=protected(HW_POINT + "/manifest.json"),
    log:
        HW_LOG + "/submit.log",
    params:
        job=hardware_job,
    wildcard_constraints:
        name=r"[A-Za-z0-9_-]+",
        backend=r"[A-Za-z0-9_-]+",
        ansatz=r"[A-Za-z0-9_]+",
        params=r"[a-z0-9,]+",
        samples=r"\d+",
        shots=r"\d+",
    script:
        "../../scripts/hardware_submit.py"


rule hardware_collect:
    """Retrieve one point's results by job id: counts, and cost/gradient estimates."""
    input:
        manifest=HW_POINT + "/manifest.json",
    output:
        counts=update(HW_POINT + "/counts.parquet"),
        estimates=update(HW_POINT + "/estimates.parquet"),
    log:
        HW_LOG + "/collect.log",
    params:
        job=hardware_job,
    wildcard_constraints:
        name=r"[A-Za-z0-9_-]+",
        backend=r"[A-Za-z0-9_-]+",
        ansatz=r"[A-Za-z0-9_]+",
        params=r"[a-z0-9,]+",
        samples=r"\d+",
        shots=r"\d+",
    script:
        "../../scripts/hardware_collect.py"


rule hardware_table:
    """Gradient variances from the device's counts and exact, per point, shots and parameter."""
    input:
        [f"{path}/estimates.parquet" for path in HW_POINTS],
    output:
        update(HW_TABLE),
    log:
        "results/logs/hardware/table.log",
    params:
        bootstrap=config["bootstrap"],
        ci=config["ci"],
    script:
        "../../scripts/hardware_collect.py"


rule figure_hardware:
    """Exact simulation, the device's noise model and the device's counts on the same draws."""
    input:
        table=HW_TABLE,
        estimates=hardware_sweep_estimates,
    output:
        png=report(
            HW_FIGURE + ".png",
            caption="../report/hardware.rst",
            category="Hardware",
            subcategory="{name}",
            labels={"sweep": "{name}", "figure": "variance comparison"},
        ),
        pdf=HW_FIGURE + ".pdf",
    log:
        "results/logs/figures/hardware/{name}/variance_comparison.log",
    wildcard_constraints:
        name=r"[A-Za-z0-9_-]+",
    script:
        "../../scripts/hardware_figure.py"
