"""Snakemake adapter: every repetition of one (experiment, method, N) of a `dqnn_training` block →
one Parquet shard of training curves (see workflow/rules/dqnn.smk)."""

import torch

from qnnscope.io import write_parquet
from qnnscope.logs import job_log
from qnnscope.generalisation import run_block

log = job_log(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
job = snakemake.params.run
log.info("%s: widths %s, task %s, N = %d, %s, %d repetitions of %d steps (one batch), %d %s test pairs",
         snakemake.wildcards.name, job["widths"], job["task"], job["n_pairs"], job["method"], job["repetitions"],
         job["steps"], job["test_pairs"], job.get("test_set", "disjoint"))
curves = run_block(**job, log=log)
curves.insert(0, "name", snakemake.wildcards.name)
write_parquet(curves, snakemake.output[0], metadata={"name": snakemake.wildcards.name, **job})
log.info("wrote %s (%d rows)", snakemake.output[0], len(curves))
