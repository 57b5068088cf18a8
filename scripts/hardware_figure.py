"""Snakemake adapter: the hardware-vs-simulation figure of one hardware sweep (PNG and PDF)."""

from pathlib import Path

import pandas as pd

from qnnscope.io import read_tables
from qnnscope.logs import job_log
from qnnscope.plots.gradients import save
from qnnscope.plots.hardware import variance_comparison

log = job_log(snakemake.log[0])
figure = variance_comparison(pd.read_parquet(snakemake.input.table), read_tables(list(snakemake.input.estimates)),
                             snakemake.wildcards.name)
for path in save(figure, Path(snakemake.output.png).with_suffix("")):
    log.info("wrote %s", path)
