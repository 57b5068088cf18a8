"""Snakemake adapter: expressibility, entanglement and QFIM rank against depth, one figure."""

from pathlib import Path

import pandas as pd

from qnnscope.logs import job_log
from qnnscope.plots import diagnostics as plots

log = job_log(snakemake.log[0])
figure = plots.diagnostics_vs_depth(pd.read_parquet(snakemake.input[0]))
for path in plots.save(figure, Path(snakemake.output.png).with_suffix("")):
    log.info("wrote %s", path)
