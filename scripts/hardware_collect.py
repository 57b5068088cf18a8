"""Snakemake adapter: collect one hardware point (counts and estimates), or the hardware table.

Collection exits with status 3 while jobs are queued or running ("N jobs still queued or
running: rerun later") and 4 for failed jobs (resubmitted only with hardware.resubmit_failed).
"""

import logging
import sys

from qnnscope import hardware
from qnnscope.backends import ibm
from qnnscope.io import read_tables, write_parquet
from qnnscope.logs import job_log

log = job_log(snakemake.log[0])
for noisy in ("qiskit", "qiskit_ibm_runtime"):  # per-pass transpiler timings drown the job's own lines
    logging.getLogger(noisy).setLevel(logging.WARNING)
if snakemake.rule == "hardware_table":
    table = hardware.summarize(read_tables(list(snakemake.input)), n_boot=snakemake.params.bootstrap,
                          ci=snakemake.params.ci)
    write_parquet(table, snakemake.output[0])
    log.info("summarised %d hardware points into %d rows", len(snakemake.input), len(table))
    sys.exit(0)

job, options = snakemake.params.job, snakemake.config["hardware"]
try:
    counts = ibm.collect(snakemake.input.manifest, snakemake.output.counts, resubmit_failed=options["resubmit_failed"],
                         max_jobs=options["max_jobs"], max_shots=options["max_shots"], ledger=job["ledger"])
except ibm.JobsPending as exc:
    log.error("%s", exc)
    sys.exit(3)
except ibm.JobsFailed as exc:
    log.error("%s", exc)
    sys.exit(4)
frame = hardware.estimates(counts, job["point"], job["samples"], job["seed"], isa=ibm.load_isa(snakemake.input.manifest))
frame.insert(0, "sweep", job["sweep"])
write_parquet(frame, snakemake.output.estimates)
log.info("collected %d circuits from %d jobs; wrote %s", counts["circuit"].nunique(), counts["job_id"].nunique(),
         snakemake.output.estimates)
