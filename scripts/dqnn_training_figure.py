"""Snakemake adapter: test fidelity against the number of training pairs for one experiment."""

from pathlib import Path

import pandas as pd

from qnnscope.logs import job_log
from qnnscope.plots import dqnn as plots

log = job_log(snakemake.log[0])
figure = plots.test_fidelity_vs_pairs(pd.read_parquet(snakemake.input[0]), snakemake.wildcards.name)
for path in plots.save(figure, Path(snakemake.output.png).with_suffix("")):
    log.info("wrote %s", path)
