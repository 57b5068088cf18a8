"""DQNN training experiments (config key `dqnn_training`; Beer et al. 2020, Fig. 2a).

Per experiment block, method and number of training pairs N one job (`dqnn_training`) trains every
repetition and writes their training curves to one Parquet shard, atomically:
results/dqnn_training/{name}/method~{method}/pairs~{N}.parquet, where the method is written with
'-' for ':' (gradient:Adam → gradient-Adam).  A job gets only the settings its method uses, so
changing `lr` does not rerun `beer` jobs, and adding an N adds only its jobs; likewise `test_set`
reaches a job only when it is not the default `disjoint`, so shards written before the option
existed stay valid.  The table rule summarises every shard of every block; one figure per block.
"""

from qnnscope.generalisation import check_method

DQNN_SHARD = "results/dqnn_training/{name}/method~{method}/pairs~{pairs}.parquet"
DQNN_TABLE = "results/tables/dqnn_training.parquet"
DQNN_FIGURE = "results/figures/dqnn/{name}/test_fidelity_vs_pairs"


def method_tag(method: str) -> str:
    """The method as written in paths: gradient:Adam → gradient-Adam."""
    return method.replace(":", "-")


def _dqnn_blocks() -> dict:
    """Block name → block; refuses (naming the key) duplicate names, tasks that need equal
    input and output widths, unknown optimizers, and test sets that include more training pairs
    than they hold, before any job runs."""
    blocks = {}
    for i, block in enumerate(config.get("dqnn_training", [])):
        where = f"dqnn_training[{i}]"
        if block["name"] in blocks:
            raise ValueError(f"{where}.name: {block['name']!r} is used by two experiments; names must be unique")
        if block["widths"][0] != block["widths"][-1]:
            raise ValueError(f"{where}.widths: task {block['task']!r} maps the input layer to the output layer, "
                             f"so they need equal widths; got {block['widths']}")
        for method in block["methods"]:
            try:
                check_method(method)
            except ValueError as exc:
                raise ValueError(f"{where}.methods: {exc}") from None
        if block["test_set"] == "including_training" and max(block["pairs"]) > block["test_pairs"]:
            raise ValueError(f"{where}.pairs: with test_set 'including_training' the N training pairs are the first N "
                             f"of the test_pairs = {block['test_pairs']} test pairs, so N can be at most "
                             f"{block['test_pairs']}; got N = {max(block['pairs'])}")
        blocks[block["name"]] = block
    return blocks


DQNN_BLOCKS = _dqnn_blocks()
DQNN_SHARDS = [
    DQNN_SHARD.format(name=name, method=method_tag(method), pairs=n)
    for name, block in DQNN_BLOCKS.items()
    for method in dict.fromkeys(block["methods"])
    for n in sorted(set(block["pairs"]))
]


def dqnn_job(wildcards) -> dict:
    """Keyword arguments of :func:`qnnscope.generalisation.run_block` for one shard."""
    block = DQNN_BLOCKS.get(wildcards.name)
    methods = {method_tag(m): m for m in block["methods"]} if block else {}
    if wildcards.method not in methods or int(wildcards.pairs) not in block["pairs"]:
        raise ValueError(f"{DQNN_SHARD.format(**wildcards)} is not a shard of any dqnn_training block in the config")
    method = methods[wildcards.method]
    job = {"widths": list(block["widths"]), "task": block["task"], "n_pairs": int(wildcards.pairs),
           "test_pairs": block["test_pairs"], "repetitions": block["repetitions"], "method": method,
           "steps": block["steps"], "seed": config["seed"]}
    if block["test_set"] != "disjoint":
        job["test_set"] = block["test_set"]
    if method == "beer":
        job.update(eta=block["eta"], eps=block["eps"])
    else:
        job.update(lr=block["lr"])
    return job


def dqnn_training_targets() -> list[str]:
    """The table and every block's figure (nothing when `dqnn_training` is empty)."""
    if not DQNN_BLOCKS:
        return []
    return [DQNN_TABLE, "results/tables/dqnn_training.html"] + [
        f"{DQNN_FIGURE.format(name=name)}.{ext}" for name in DQNN_BLOCKS for ext in ("png", "pdf")]


# The table and figures take seconds: on a cluster they run where snakemake runs.
localrules: dqnn_training_table, figure_dqnn_test_fidelity


rule dqnn_training:
    """Every repetition of one (experiment, method, N): training curves (train and test fidelity
    per step) in one Parquet shard."""
    output:
        DQNN_SHARD,
    log:
        "results/logs/dqnn_training/{name}/method~{method}/pairs~{pairs}.log",
    params:
        run=dqnn_job,
    threads: 1
    resources:
        runtime=runtime,
        mem_mb=mem_mb,
    wildcard_constraints:
        name=r"[A-Za-z0-9_-]+",
        method=r"beer|gradient-[A-Za-z]+",
        pairs=r"\d+",
    script:
        "../../scripts/dqnn_training.py"


rule dqnn_training_table:
    """Final train and test fidelity per run; mean and bootstrap CI per (experiment, method, N);
    the optimal test fidelity."""
    input:
        DQNN_SHARDS,
    output:
        update(DQNN_TABLE),
    log:
        "results/logs/aggregate/dqnn_training.log",
    params:
        bootstrap=config["bootstrap"],
        ci=config["ci"],
    script:
        "../../scripts/dqnn_training_table.py"


rule figure_dqnn_test_fidelity:
    """Mean test fidelity against N, one line per method, the optimal curve dashed."""
    input:
        DQNN_TABLE,
    output:
        png=report(
            DQNN_FIGURE + ".png",
            caption="../report/dqnn_training.rst",
            category="DQNN training",
            subcategory="{name}",
            labels={"experiment": "{name}", "figure": "test fidelity vs training pairs"},
        ),
        pdf=DQNN_FIGURE + ".pdf",
    log:
        "results/logs/figures/dqnn/{name}/test_fidelity_vs_pairs.log",
    wildcard_constraints:
        name=r"[A-Za-z0-9_-]+",
    script:
        "../../scripts/dqnn_training_figure.py"
