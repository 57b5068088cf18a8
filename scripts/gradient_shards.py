"""Snakemake adapter: the shards of one gradient job (one shard, or a batch of small points).

A shard that already holds exactly this point, chunk, sample count and seed is kept: batch jobs
that run again (killed part-way, or grown by a longer config list) never recompute a finished shard.
A batch job ends with its manifest (the shards it covers), written atomically once every shard is.
"""

import dataclasses
import json
import os

import torch

from qnnscope.gradients.shards import shard_is_current, write_shard
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
if snakemake.rule == "gradient_batch":
    manifest = snakemake.output.manifest
    tmp = os.path.join(os.path.dirname(manifest), f".{os.path.basename(manifest)}.tmp")  # a rerun reuses it
    with open(tmp, "w") as f:
        json.dump({"shards": [job["path"] for job in jobs], "seed": seed}, f, indent=1)
    os.replace(tmp, manifest)
    log.info("wrote %s (%d shards)", manifest, len(jobs))
