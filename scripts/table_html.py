"""Snakemake adapter: a Parquet table rendered as HTML for `snakemake --report`."""


import pandas as pd

from qnnscope.io import write_html_table
from qnnscope.logs import job_log

log = job_log(snakemake.log[0])
table = pd.read_parquet(snakemake.input[0])
write_html_table(table, snakemake.output[0], title=f"results/tables/{snakemake.wildcards.table}.parquet")
log.info("rendered %d rows", len(table))
