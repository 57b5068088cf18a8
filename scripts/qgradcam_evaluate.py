"""Snakemake adapter: per-sample faithfulness scores of one study model's explanations."""

import pandas as pd

from qnnscope import qgradcam
from qnnscope.io import write_parquet
from qnnscope.logs import job_log

log = job_log(snakemake.log[0])
job, seed = snakemake.params.job, snakemake.params.seed
model, test_ds = qgradcam.load_model(job, snakemake.input.model, seed)
scores = qgradcam.evaluate(job, model, test_ds, pd.read_parquet(snakemake.input.explanations), seed, log)
write_parquet(scores, snakemake.output[0])
log.info("%d scores", len(scores))
