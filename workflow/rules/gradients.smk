rule gradient_shard:
    """One chunk of samples of one sweep point: draws, gradients and costs in one Parquet shard."""
    output:
        SHARD,
    log:
        LOG,
    params:
        samples=chunk_samples,
        depth_rule=depth_rule,
        seed=config["seed"],
        point=lambda wc: point_of(SWEEPS[wc.sweep][1], int(wc.n), int(wc.depth), wc.cost, wc.init, wc.backend, wc.dtype),
    script:
        "../../scripts/gradient_shard.py"
