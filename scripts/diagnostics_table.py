"""Snakemake adapter: every diagnostics point's row of the config → results/tables/diagnostics.parquet."""

from qnnscope.io import read_tables, write_parquet
from qnnscope.logs import job_log

log = job_log(snakemake.log[0])
table = read_tables(list(snakemake.params.points))
table = table.sort_values(["sweep", "ansatz", "n_qubits", "init", "depth"], kind="stable", ignore_index=True)
write_parquet(table, snakemake.output[0])
log.info("collected %d points from %d batches", len(table), len(snakemake.input))
