"""Snakemake adapter: 2D cost cross-sections of several scans on one colour scale (Cerezo et al. 2021, Fig. 2);
``params.labels`` holds one [row label, column label] per input grid, in the same order; the
``direction`` wildcard names the axes."""

from pathlib import Path

import pandas as pd

from qnnscope.logs import job_log
from qnnscope.plots import landscapes as plots

log = job_log(snakemake.log[0])
grids = [(row, col, pd.read_parquet(path)) for path, (row, col) in zip(snakemake.input, snakemake.params.labels, strict=True)]
figure = plots.cross_sections(grids, snakemake.wildcards.direction, getattr(snakemake.params, "radians", True))
for path in plots.save(figure, Path(snakemake.output.png).with_suffix("")):
    log.info("wrote %s", path)
