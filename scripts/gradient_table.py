"""Snakemake adapter: shards → results/tables/gradients.parquet (every shard of the config, batched or not:
``params.shards``; the inputs are the batches' manifests and the one-shard jobs' shards)."""

from qnnscope.gradients.summary import alias_depth_rules, summarize
from qnnscope.gradients.theory import add_predictions
from qnnscope.io import read_tables, write_parquet
from qnnscope.logs import job_log

log = job_log(snakemake.log[0])
table = summarize(read_tables(list(snakemake.params.shards)), n_boot=snakemake.params.bootstrap, ci=snakemake.params.ci)
table = alias_depth_rules(table, snakemake.params.aliases)
table = add_predictions(table)
write_parquet(table, snakemake.output[0])
log.info("predicted variances for %d of %d rows (DLA and closed forms)", int(table["var_predicted"].notna().sum()),
         len(table))
log.info("summarised %d shards into %d rows (%d depth-rule aliases)", len(snakemake.params.shards), len(table),
         len(snakemake.params.aliases))
