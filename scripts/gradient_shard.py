"""Snakemake adapter: one gradient shard (see workflow/rules/gradients.smk)."""

import logging

from qnnscope.gradients import compute
from qnnscope.io import write_parquet

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
point, samples, chunk = snakemake.params.point, snakemake.params.samples, int(snakemake.wildcards.chunk)
frame = compute(point, samples, chunk, snakemake.params.seed, progress=False)
frame.insert(0, "sweep", snakemake.wildcards.sweep)
frame.insert(1, "depth_rule", snakemake.params.depth_rule)
write_parquet(frame, snakemake.output[0], {"point": point.columns(), "samples": samples, "chunk": chunk})
logging.info("wrote %s (%d rows)", snakemake.output[0], len(frame))
