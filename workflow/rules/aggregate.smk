rule gradient_table:
    """Per point and parameter: variance with bootstrap CIs, cost statistics, provenance.  Inputs
    are the batches' manifests and the one-shard jobs' shards; the script reads every shard of the
    config (params.shards), batched or not."""
    input:
        batches=BATCH_MANIFESTS,
        shards=SINGLE_SHARDS,
    output:
        update(GRADIENT_TABLE),
    log:
        "results/logs/aggregate/gradients.log",
    params:
        bootstrap=config["bootstrap"],
        ci=config["ci"],
        aliases=sorted(ALIASES),
        shards=GRADIENT_SHARDS,
    script:
        "../../scripts/gradient_table.py"


rule scaling_fits:
    """Exponential and polynomial fits of ln Var against the qubit count, with CIs and AIC choice."""
    input:
        "results/tables/gradients.parquet",
    output:
        update("results/tables/scaling_fits.parquet"),
    log:
        "results/logs/aggregate/scaling_fits.log",
    params:
        ci=config["ci"],
    script:
        "../../scripts/scaling_fits.py"
