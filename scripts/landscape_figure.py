"""Snakemake adapter: the figure of one landscape scan, with the Hessian spectrum at its centre."""

from pathlib import Path

import pandas as pd

from qnnscope.logs import job_log
from qnnscope.plots import landscapes as plots

log = job_log(snakemake.log[0])
metrics = pd.read_parquet(snakemake.input.metrics).iloc[0]
figure = plots.scan_figure(pd.read_parquet(snakemake.input.grid), snakemake.params.title, metrics["hessian_spectrum"],
                           metrics["direction"], radians=metrics.get("model") != "hybrid")
for path in plots.save(figure, Path(snakemake.output.png).with_suffix("")):
    log.info("wrote %s", path)
