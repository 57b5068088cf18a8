"""Snakemake adapter: transpile and submit one hardware point; the manifest comes first.

Once any job is submitted its id is in the manifest, so a failure after that (while waiting for
local results, say) is logged and the rule still succeeds: Snakemake would otherwise delete the
manifest of a failed job, and with it the only record of jobs that are already paid for.
`hardware_collect` then reports the missing results.
"""

import logging
from pathlib import Path

from qnnscope import hardware
from qnnscope.backends import ibm
from qnnscope.logs import job_log

log = job_log(snakemake.log[0])
for noisy in ("qiskit", "qiskit_ibm_runtime"):  # per-pass transpiler timings drown the job's own lines
    logging.getLogger(noisy).setLevel(logging.WARNING)
job = snakemake.params.job
options = snakemake.config["hardware"]
manifest = Path(snakemake.output.manifest)
point = job["point"]
circuits, tags = hardware.point_circuits(point, job["samples"], job["seed"])
log.info("%s: %d circuits x %d shots for %s", manifest.parent, len(circuits), job["shots"], job["backend"])
try:
    record = ibm.submit(
        manifest, circuits, job["backend"], job["shots"], tags=tags,
        point={"sweep": job["sweep"], **point.columns(), "params": point.params, "samples": job["samples"],
               "seed": job["seed"]},
        pubs_per_job=options["pubs_per_job"], max_jobs=options["max_jobs"], max_shots=options["max_shots"],
        optimization_level=options["optimization_level"], seed_transpiler=job["seed_transpiler"],
        seed_simulator=job["seed_simulator"], ledger=job["ledger"],
    )
except Exception:
    if not manifest.is_file():
        raise
    log.exception("submission failed after %s was written; hardware_collect will report what is missing", manifest)
else:
    log.info("manifest %s: %d jobs (%s)", manifest, len(record["jobs"]), ", ".join(j["job_id"] for j in record["jobs"]))
