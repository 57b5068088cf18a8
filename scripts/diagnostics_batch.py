"""Snakemake adapter: the points of one diagnostics batch, one Parquet row each, then the batch's
manifest (see workflow/rules/diagnostics.smk).

A point file that already holds exactly this point, seed, bootstrap size and CI level is kept, so
a batch that runs again (killed part-way, or grown by a longer config list) never recomputes a
finished point.  The manifest is written atomically once every point is.
"""

import json

import torch

from qnnscope.diagnostics import point_is_current, write_point
from qnnscope.io import atomic_output
from qnnscope.logs import job_log

log = job_log(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
jobs, seed = snakemake.params.jobs, snakemake.params.seed
n_boot, ci = snakemake.params.bootstrap, snakemake.params.ci
for i, job in enumerate(jobs, 1):
    point = job["point"]
    if point_is_current(job["path"], point, job["sweep"], seed, n_boot, ci):
        log.info("[%d/%d] kept %s", i, len(jobs), job["path"])
        continue
    row = write_point(job["path"], point, job["sweep"], job["depth_rule"], seed, n_boot, ci)
    log.info("[%d/%d] wrote %s (%s, n = %d, depth %d, init %s) in %.2f s", i, len(jobs), job["path"], point.ansatz,
             point.n_qubits, point.depth, point.init, row["wall_time_s"])
with atomic_output(snakemake.output.manifest) as tmp, open(tmp, "w") as f:
    json.dump({"points": [job["path"] for job in jobs], "seed": seed}, f, indent=1)
log.info("wrote %s (%d points)", snakemake.output.manifest, len(jobs))
