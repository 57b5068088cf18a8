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


rule gradient_batch:
    """The shards of one batch of small points (see BATCHES in common.smk), then the batch's
    manifest listing them.  The shards are not outputs: Snakemake never deletes them, and a batch
    that runs again (killed part-way, or a new id after its membership changed) keeps every shard
    whose metadata says it is this point, chunk, sample count and seed."""
    output:
        manifest=BATCH_MANIFEST,
    log:
        "results/logs/batches/{sweep}__{batch}.log",
    params:
        shards=batch_shards,
        seed=config["seed"],
    resources:
        runtime=runtime,
        mem_mb=mem_mb,
        gpu=batch_gpu,
    script:
        "../../scripts/gradient_shards.py"
