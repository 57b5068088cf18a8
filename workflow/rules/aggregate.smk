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


rule prediction_table:
    """Theory beside measurement: per point, the measured variance, the DLA's (or a closed form's)
    prediction, their ratio, and the reason where a point has none."""
    input:
        "results/tables/gradients.parquet",
    output:
        update("results/tables/predictions.parquet"),
    log:
        "results/logs/aggregate/predictions.log",
    script:
        "../../scripts/prediction_table.py"
