"""Snakemake adapter: explanations, t-SNE embeddings and whitening matrix of one study model, then
the per-sample faithfulness scores of its explanations, from one job (the model and test set are
loaded once)."""

import pandas as pd

from qnnscope import qgradcam
from qnnscope.io import write_parquet
from qnnscope.logs import job_log

log = job_log(snakemake.log[0])
job, seed = snakemake.params.job, snakemake.params.seed
model, test_ds = qgradcam.load_model(job, snakemake.input.model, seed)
weights = {key: value.clone() for key, value in model.state_dict().items()}
explanations, embeddings, whitening, meta = qgradcam.explain(job, model, test_ds, seed, log)
write_parquet(explanations, snakemake.output.explanations, metadata=meta)
write_parquet(embeddings, snakemake.output.embeddings, metadata=meta)
write_parquet(whitening, snakemake.output.whitening, metadata=meta)
log.info("explained %d samples (accuracy on them %.3f)", explanations["sample"].nunique(), meta["accuracy_explained"])

model.load_state_dict(weights)  # the scores see the trained model exactly as loaded
scores = qgradcam.evaluate(job, model, test_ds, pd.read_parquet(snakemake.output.explanations), seed, log)
write_parquet(scores, snakemake.output.faithfulness)
log.info("%d scores", len(scores))
