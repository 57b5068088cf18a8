rule gradient_shard:
    """One chunk of samples of one sweep point (points above batch.max_qubits): draws, gradients
    and costs in one Parquet shard."""
    output:
        SHARD,
    log:
        LOG,
    params:
        shards=shard_job,
        seed=config["seed"],
    resources:
        runtime=runtime,
        mem_mb=mem_mb,
        gpu=lambda wc: gpu_request(int(wc.n)),
    script:
        "../../scripts/gradient_shards.py"


# One rule per batch of small points (see BATCHES in common.smk).  Outputs are flagged `update`:
# Snakemake does not delete a batch's finished shards when the batch has to run again (it was
# killed, or a longer list moved new shards into it), and the script keeps every shard whose
# metadata says it is this point, chunk, sample count and seed.  Rules without wildcards take
# precedence over gradient_shard for the same file.
for _name, _members in BATCHES.items():

    rule:
        name:
            _name
        output:
            [update(job["path"]) for job in _members],
        log:
            f"results/logs/batches/{_name.removeprefix('gradient_batch__')}.log",
        params:
            shards=_members,
            seed=config["seed"],
        resources:
            runtime=runtime,
            mem_mb=mem_mb,
            gpu=gpu_request(_members[0]["point"].n_qubits),
        script:
            "../../scripts/gradient_shards.py"
