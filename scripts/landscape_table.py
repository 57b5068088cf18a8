"""Snakemake adapter: every scan's metrics → results/tables/landscapes.parquet."""

from qnnscope.io import read_tables, write_parquet
from qnnscope.logs import job_log

log = job_log(snakemake.log[0])
table = read_tables(list(snakemake.input))
write_parquet(table, snakemake.output[0])
log.info("collected %d scans", len(table))
