"""Snakemake adapter: the recorded training run of one landscape model point → train.parquet."""

import time

from qnnscope.io import write_parquet
from qnnscope.landscapes import train_point, trajectory_table
from qnnscope.logs import job_log

log = job_log(snakemake.log[0])
job, seed = snakemake.params.job, snakemake.params.seed
spec = job["spec"]
log.info("training %s: %s, lr %g, %d steps", spec.point, job["optimizer"], job["lr"], job["steps"])
start = time.perf_counter()
path, costs = train_point(spec, job["steps"], job["optimizer"], job["lr"], seed)
wall = time.perf_counter() - start
write_parquet(trajectory_table(path, costs), snakemake.output[0],
              metadata={"point": spec.point.columns(), "optimizer": job["optimizer"], "lr": job["lr"],
                        "steps": job["steps"], "seed": seed, "wall_time_s": wall})
log.info("cost %.6g → %.6g in %.2f s", costs[0], costs[-1], wall)
