"""Snakemake adapter: train one QGrad-CAM study model → model.pt and curves.parquet (a killed
job resumes from checkpoint.pt beside them)."""

import time
from pathlib import Path

from qnnscope import qgradcam
from qnnscope.io import provenance, write_parquet
from qnnscope.logs import job_log

log = job_log(snakemake.log[0])
job, seed = snakemake.params.job, snakemake.params.seed
checkpoint = Path(snakemake.output.model).with_name("checkpoint.pt")
start = time.perf_counter()
model, curves = qgradcam.train(job, seed, checkpoint, log)
meta = provenance("torch", job["dtype"], "cpu", qgradcam.model_seed(job, seed), time.perf_counter() - start)
write_parquet(curves.assign(model=job["model"], n=job["n"], depth=job["depth"]), snakemake.output.curves, metadata=meta)
qgradcam.save_model(model, snakemake.output.model)
checkpoint.unlink(missing_ok=True)
log.info("test accuracy %.4f after %d epochs", curves.test_accuracy.iloc[-1], curves.epoch.iloc[-1])
