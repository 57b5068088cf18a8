"""Snakemake adapter: one QGrad-CAM figure (overlays, saliency, t-SNE of a model group; metrics
or training curves of a study)."""

from pathlib import Path

import pandas as pd

from qnnscope.io import read_metadata
from qnnscope.logs import job_log
from qnnscope.plots import qgradcam as plots
from qnnscope.plots.gradients import save

log = job_log(snakemake.log[0])
figure_name = snakemake.wildcards.figure
if figure_name == "metrics":
    table = pd.read_parquet(snakemake.input.table[0])
    figure = plots.metrics(table[table.name == snakemake.params.name])
elif figure_name == "curves":
    curves = {}
    for path in snakemake.input.curves:
        frame = pd.read_parquet(path)
        curves[f"{frame.model.iloc[0]} (n = {frame.n.iloc[0]}, depth {frame.depth.iloc[0]})"] = frame
    figure = plots.curves(curves)
else:
    models = snakemake.params.models
    explanations = dict(zip(models, map(pd.read_parquet, snakemake.input.explanations)))
    meta = read_metadata(snakemake.input.explanations[0])
    if figure_name == "overlays":
        figure = plots.overlays(explanations, meta["classes"], meta["kind"])
    elif figure_name == "saliency":
        figure = plots.saliency(explanations, meta["classes"], meta["kind"])
    else:
        figure = plots.tsne(dict(zip(models, map(pd.read_parquet, snakemake.input.embeddings))),
                            dict(zip(models, map(pd.read_parquet, snakemake.input.whitening))), meta["classes"])
for path in save(figure, Path(snakemake.output.png).with_suffix("")):
    log.info("wrote %s", path)
