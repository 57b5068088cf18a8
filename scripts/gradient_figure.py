"""Snakemake adapter: one gradient figure of one sweep (PNG and PDF, see workflow/rules/figures.smk)."""

from pathlib import Path

import pandas as pd

from qnnscope.logs import job_log
from qnnscope.plots import gradients as plots

log = job_log(snakemake.log[0])
table, fits = pd.read_parquet(snakemake.input.table), pd.read_parquet(snakemake.input.fits)
sweep, kind = snakemake.wildcards.sweep, snakemake.params.kind
if kind == "variance_vs_depth":
    figure = plots.variance_vs_depth(table, sweep)
else:
    figure = getattr(plots, kind)(table, fits, sweep)
stem = Path(snakemake.output.png).with_suffix("")
for path in plots.save(figure, stem):
    log.info("wrote %s", path)
