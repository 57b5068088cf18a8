"""Snakemake adapter: results/tables/gradients.parquet → results/tables/predictions.parquet (measured
variances beside the Lie-algebraic and closed-form predictions, and why a point has none)."""

import pandas as pd

from qnnscope.gradients.theory import prediction_summary
from qnnscope.io import write_parquet
from qnnscope.logs import job_log

log = job_log(snakemake.log[0])
table = prediction_summary(pd.read_parquet(snakemake.input[0]))
write_parquet(table, snakemake.output[0])
missing = table[table["var_predicted"].isna()]
log.info("%d points, %d with a prediction", len(table), len(table) - len(missing))
for reason, rows in missing.groupby("prediction_reason"):
    log.info("no prediction for %d points (%s): %s", len(rows), ", ".join(sorted(rows["sweep"].unique())), reason)
