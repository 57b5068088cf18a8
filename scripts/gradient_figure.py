"""Snakemake adapter: gradient figures of one sweep, ``params.kinds`` (PNG and PDF each, see
workflow/rules/figures.smk): one job draws them all, so their start-up is paid once."""

from pathlib import Path

import pandas as pd

from qnnscope.logs import job_log
from qnnscope.plots import gradients as plots

log = job_log(snakemake.log[0])
table, fits = pd.read_parquet(snakemake.input.table), pd.read_parquet(snakemake.input.fits)
sweep = snakemake.wildcards.sweep
for kind in snakemake.params.kinds:
    if kind == "variance_vs_depth":
        figure = plots.variance_vs_depth(table, sweep)
    else:
        figure = getattr(plots, kind)(table, fits, sweep)
    for path in plots.save(figure, Path(snakemake.output[kind]).with_suffix("")):
        log.info("wrote %s", path)
