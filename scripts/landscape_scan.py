"""Snakemake adapter: one landscape scan → grid.parquet (the whole grid as batches), then its
metrics and the Hessian spectrum at its centre → metrics.parquet.  One job does both: the metrics
take a fraction of a second, less than a job's start."""

import dataclasses
import sys
import time

import pandas as pd

from qnnscope.io import provenance, read_metadata, write_parquet
from qnnscope.landscapes import landscape_metrics, read_trajectory, run_scan
from qnnscope.logs import job_log

log = job_log(snakemake.log[0])
job, seed = snakemake.params.job, snakemake.params.seed
spec = job["spec"]
trajectory = read_trajectory(snakemake.input.train)
log.info("scan %s: centre %s, %s directions, %dD, %d points per axis", spec.point, spec.centre, spec.direction,
         spec.dims, spec.resolution)
start = time.perf_counter()
grid, info = run_scan(spec, seed, trajectory, progress=sys.stderr.isatty())
scan_wall = time.perf_counter() - start
write_parquet(grid, snakemake.output.grid, metadata={"info": info, "seed": seed, "wall_time_s": scan_wall,
                                                     "point": spec.point.columns()})
log.info("%d grid points in %.2f s (%.0f points/s)", spec.resolution**spec.dims, scan_wall,
         spec.resolution**spec.dims / scan_wall)

start = time.perf_counter()
grid = pd.read_parquet(snakemake.output.grid)  # the metrics see the grid as stored
row = landscape_metrics(spec, grid, read_metadata(snakemake.output.grid)["info"], seed, trajectory)
wall = time.perf_counter() - start
settings = {k: v for k, v in dataclasses.asdict(spec).items() if k != "point"}
table = pd.DataFrame([{"name": job["name"], **spec.point.columns(), **settings, **row,
                       "scan_wall_time_s": scan_wall,
                       **provenance("torch", spec.point.dtype, spec.point.device, seed, wall)}])
write_parquet(table, snakemake.output.metrics)
log.info("plateau fraction %.3f, total variation %.4g, Hessian [%s, %s]", row["plateau_fraction"],
         row["total_variation"], row["hessian_min"], row["hessian_max"])
