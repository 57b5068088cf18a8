"""Snakemake adapter: DQNN training shards → results/tables/dqnn_training.parquet."""

from qnnscope.io import read_tables, write_parquet
from qnnscope.logs import job_log
from qnnscope.generalisation import summarize_runs

log = job_log(snakemake.log[0])
table = summarize_runs(read_tables(list(snakemake.input)), n_boot=snakemake.params.bootstrap, ci=snakemake.params.ci)
write_parquet(table, snakemake.output[0])
log.info("summarised %d shards into %d runs", len(snakemake.input), len(table))
