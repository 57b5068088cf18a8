"""Snakemake adapter: a scan's metrics and the Hessian spectrum at its centre → metrics.parquet."""

import dataclasses
import time

import pandas as pd

from qnnscope.io import provenance, read_metadata, write_parquet
from qnnscope.landscapes import landscape_metrics, read_trajectory
from qnnscope.logs import job_log

log = job_log(snakemake.log[0])
job, seed = snakemake.params.job, snakemake.params.seed
spec = job["spec"]
start = time.perf_counter()
grid = pd.read_parquet(snakemake.input.grid)
meta = read_metadata(snakemake.input.grid)
row = landscape_metrics(spec, grid, meta["info"], seed, read_trajectory(snakemake.input.train))
wall = time.perf_counter() - start
settings = {k: v for k, v in dataclasses.asdict(spec).items() if k != "point"}
table = pd.DataFrame([{"name": job["name"], **spec.point.columns(), **settings, **row,
                       "scan_wall_time_s": meta["wall_time_s"],
                       **provenance("torch", spec.point.dtype, spec.point.device, seed, wall)}])
write_parquet(table, snakemake.output[0])
log.info("plateau fraction %.3f, total variation %.4g, Hessian [%s, %s]", row["plateau_fraction"],
         row["total_variation"], row["hessian_min"], row["hessian_max"])
