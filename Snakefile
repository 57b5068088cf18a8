"""qnnscope: config-driven trainability studies.  `snakemake --cores N` runs config/config.yaml."""

from snakemake.utils import validate

configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/gradients.smk"
include: "workflow/rules/aggregate.smk"


rule all:
    input:
        aggregate_targets(),
    default_target: True
