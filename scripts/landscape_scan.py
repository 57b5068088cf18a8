"""Snakemake adapter: one landscape scan (the whole grid as batches) → grid.parquet."""

import sys
import time

from qnnscope.io import write_parquet
from qnnscope.landscapes import read_trajectory, run_scan
from qnnscope.logs import job_log

log = job_log(snakemake.log[0])
job, seed = snakemake.params.job, snakemake.params.seed
spec = job["spec"]
log.info("scan %s: centre %s, %s directions, %dD, %d points per axis", spec.point, spec.centre, spec.direction,
         spec.dims, spec.resolution)
start = time.perf_counter()
grid, info = run_scan(spec, seed, read_trajectory(snakemake.input.train), progress=sys.stderr.isatty())
wall = time.perf_counter() - start
write_parquet(grid, snakemake.output[0], metadata={"info": info, "seed": seed, "wall_time_s": wall,
                                                   "point": spec.point.columns()})
log.info("%d grid points in %.2f s (%.0f points/s)", spec.resolution**spec.dims, wall, spec.resolution**spec.dims / wall)
