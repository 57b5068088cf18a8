"""Snakemake adapter: every study model's test accuracy and faithfulness metrics (mean, CI) → one table."""

import pandas as pd

from qnnscope import qgradcam
from qnnscope.io import read_metadata, write_parquet
from qnnscope.logs import job_log

log = job_log(snakemake.log[0])
seed = snakemake.params.seed
frames = []
for job, scores, curves in zip(snakemake.params.jobs, snakemake.input.faithfulness, snakemake.input.curves):
    wall = (read_metadata(curves) or {}).get("wall_time_s", 0.0)
    frames.append(qgradcam.summary(job, pd.read_parquet(scores), pd.read_parquet(curves), seed, wall))
table = pd.concat(frames, ignore_index=True)
write_parquet(table, snakemake.output[0])
log.info("%d rows from %d models", len(table), len(frames))
