"""Snakemake adapter: shards → results/tables/gradients.parquet."""


from qnnscope.gradients import summarize
from qnnscope.io import read_tables, write_parquet
from qnnscope.logs import job_log

log = job_log(snakemake.log[0])
table = summarize(read_tables(list(snakemake.input)), n_boot=snakemake.params.bootstrap, ci=snakemake.params.ci)
write_parquet(table, snakemake.output[0])
log.info("summarised %d shards into %d rows", len(snakemake.input), len(table))
