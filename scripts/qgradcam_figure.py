"""Snakemake adapter: QGrad-CAM figures ``params.figures``: overlays, saliency and t-SNE of a
model group, or metrics and training curves of a study (PNG and PDF each, from one job)."""

from functools import cache
from pathlib import Path

import pandas as pd

from qnnscope.io import read_metadata
from qnnscope.logs import job_log
from qnnscope.plots import qgradcam as plots
from qnnscope.plots.gradients import save

log = job_log(snakemake.log[0])


@cache
def explanations() -> dict[str, pd.DataFrame]:
    """Model → its explanations (read once for the overlays and the saliency figure)."""
    return dict(zip(snakemake.params.models, map(pd.read_parquet, snakemake.input.explanations)))


def draw(figure_name: str):
    if figure_name == "metrics":
        table = pd.read_parquet(snakemake.input.table[0])
        return plots.metrics(table[table.name == snakemake.params.name])
    if figure_name == "curves":
        curves = {}
        for path in snakemake.input.curves:
            frame = pd.read_parquet(path)
            curves[f"{frame.model.iloc[0]} (n = {frame.n.iloc[0]}, depth {frame.depth.iloc[0]})"] = frame
        return plots.curves(curves)
    models = snakemake.params.models
    meta = read_metadata(snakemake.input.explanations[0])
    if figure_name == "overlays":
        return plots.overlays(explanations(), meta["classes"], meta["kind"])
    if figure_name == "saliency":
        return plots.saliency(explanations(), meta["classes"], meta["kind"])
    return plots.tsne(dict(zip(models, map(pd.read_parquet, snakemake.input.embeddings))),
                      dict(zip(models, map(pd.read_parquet, snakemake.input.whitening))), meta["classes"])


for figure_name in snakemake.params.figures:
    for path in save(draw(figure_name), Path(snakemake.output[figure_name]).with_suffix("")):
        log.info("wrote %s", path)
