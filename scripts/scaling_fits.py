"""Snakemake adapter: results/tables/gradients.parquet → results/tables/scaling_fits.parquet."""

import logging

from qnnscope.gradients import fit
from qnnscope.io import read_tables, write_parquet

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
fits = fit(read_tables([snakemake.input[0]]), ci=snakemake.params.ci)
write_parquet(fits, snakemake.output[0])
logging.info("%d fits", len(fits))
