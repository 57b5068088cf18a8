"""qnnscope: config-driven trainability studies.  `snakemake --cores N` runs config/config.yaml."""

from pathlib import Path as _Path

from snakemake.utils import validate

from qnnscope import config as _config_checks

# Snakemake's own parser reports a YAML error without the file or line: check the default config
# first (a file given with --configfile is parsed by Snakemake before this file runs; `qnnscope
# check-config FILE` names the line for those).
if _Path("config/config.yaml").is_file():
    _config_checks.check_yaml("config/config.yaml")

configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")
# What the schema cannot express (NaN and infinities pass JSON schema's number checks; sizes that
# cannot be planned), refused before any job with the key, the value and what is allowed.
import yaml as _yaml

_config_checks.check_finite(config, _yaml.safe_load((_Path(workflow.basedir) / "workflow/schemas/config.schema.yaml").read_text()))
_config_checks.check_sizes(config)


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/gradients.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/dqnn.smk"
include: "workflow/rules/qgradcam.smk"
include: "workflow/rules/landscapes.smk"
include: "workflow/rules/hardware.smk"
include: "workflow/rules/diagnostics.smk"


# Aggregation, figures and HTML tables take seconds: on a cluster they run where snakemake runs.
localrules: all, gradient_table, scaling_fits, table_html, figure_gradients, figure_global_vs_local


rule all:
    input:
        aggregate_targets(),
        dqnn_training_targets(),
        landscape_targets(),
        qgradcam_targets(),
        hardware_targets(),
        diagnostics_targets(),
    default_target: True
