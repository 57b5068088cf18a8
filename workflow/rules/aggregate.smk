rule gradient_table:
    """Per point and parameter: variance with bootstrap CIs, cost statistics, provenance."""
    input:
        GRADIENT_SHARDS,
    output:
        "results/tables/gradients.parquet",
    log:
        "results/logs/aggregate/gradients.log",
    params:
        bootstrap=config["bootstrap"],
        ci=config["ci"],
        aliases=sorted(ALIASES),
    script:
        "../../scripts/gradient_table.py"


rule scaling_fits:
    """Exponential and polynomial fits of ln Var against the qubit count, with CIs and AIC choice."""
    input:
        "results/tables/gradients.parquet",
    output:
        "results/tables/scaling_fits.parquet",
    log:
        "results/logs/aggregate/scaling_fits.log",
    params:
        ci=config["ci"],
    script:
        "../../scripts/scaling_fits.py"
