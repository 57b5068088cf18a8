"""Snakemake adapter: shards → results/tables/gradients.parquet."""

import logging

from qnnscope.gradients import summarize
from qnnscope.io import read_tables, write_parquet

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
table = summarize(read_tables(list(snakemake.input)), n_boot=snakemake.params.bootstrap, ci=snakemake.params.ci)
write_parquet(table, snakemake.output[0])
logging.info("summarised %d shards into %d rows", len(snakemake.input), len(table))
