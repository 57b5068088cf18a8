"""qnnscope: config-driven trainability studies.  `snakemake --cores N` runs config/config.yaml."""

from snakemake.utils import validate

configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/gradients.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/dqnn.smk"
include: "workflow/rules/qgradcam.smk"
include: "workflow/rules/landscapes.smk"
include: "workflow/rules/hardware.smk"


# Aggregation, figures and HTML tables take seconds: on a cluster they run where snakemake runs.
localrules: all, gradient_table, scaling_fits, table_html, figure_gradients, figure_global_vs_local


rule all:
    input:
        aggregate_targets(),
        dqnn_training_targets(),
        landscape_targets(),
        qgradcam_targets(),
        hardware_targets(),
    default_target: True
