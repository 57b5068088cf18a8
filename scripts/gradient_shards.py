"""Snakemake adapter: the shards of one gradient job (one shard, or a batch of small points).

A shard that already holds exactly this point, chunk, sample count and seed is kept: batch jobs
that run again (killed part-way, or grown by a longer config list) never recompute a finished shard.
"""

import dataclasses

import torch

from qnnscope.gradients import shard_is_current, write_shard
from qnnscope.logs import job_log

log = job_log(snakemake.log[0])
device = "cuda" if snakemake.resources.get("gpu", 0) and torch.cuda.is_available() else "cpu"
jobs, seed = snakemake.params.shards, snakemake.params.seed
for i, job in enumerate(jobs, 1):
    point = job["point"]
    if point.backend == "torch":
        point = dataclasses.replace(point, device=device)
    if shard_is_current(job["path"], point, job["samples"], job["chunk"], seed):
        log.info("[%d/%d] kept %s", i, len(jobs), job["path"])
        continue
    write_shard(job["path"], point, job["samples"], job["chunk"], seed,
                extra={"sweep": job["sweep"], "depth_rule": job["depth_rule"]}, progress=False)
    log.info("[%d/%d] wrote %s", i, len(jobs), job["path"])
