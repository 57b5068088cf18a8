"""Snakemake adapter: results/tables/gradients.parquet → results/tables/scaling_fits.parquet."""


from qnnscope.gradients.summary import fit
from qnnscope.io import read_tables, write_parquet
from qnnscope.logs import job_log

log = job_log(snakemake.log[0])
fits = fit(read_tables([snakemake.input[0]]), ci=snakemake.params.ci)
write_parquet(fits, snakemake.output[0])
log.info("%d fits", len(fits))
