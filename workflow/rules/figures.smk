FIGURE = "results/figures/gradients/{sweep}/{figure}"


rule figure_variance_vs_qubits:
    """Variance of the gradient against the qubit count: one line per depth, fitted slopes, exact curves."""
    input:
        table="results/tables/gradients.parquet",
        fits="results/tables/scaling_fits.parquet",
    output:
        png=report(
            FIGURE.replace("{figure}", "variance_vs_qubits") + ".png",
            caption="../report/variance_vs_qubits.rst",
            category="Gradient variance",
            subcategory="{sweep}",
            labels={"sweep": "{sweep}", "figure": "variance vs qubits"},
        ),
        pdf=FIGURE.replace("{figure}", "variance_vs_qubits") + ".pdf",
    log:
        "results/logs/figures/gradients/{sweep}/variance_vs_qubits.log",
    params:
        kind="variance_vs_qubits",
    script:
        "../../scripts/gradient_figure.py"


use rule figure_variance_vs_qubits as figure_variance_vs_depth with:
    output:
        png=report(
            FIGURE.replace("{figure}", "variance_vs_depth") + ".png",
            caption="../report/variance_vs_depth.rst",
            category="Gradient variance",
            subcategory="{sweep}",
            labels={"sweep": "{sweep}", "figure": "variance vs depth"},
        ),
        pdf=FIGURE.replace("{figure}", "variance_vs_depth") + ".pdf",
    log:
        "results/logs/figures/gradients/{sweep}/variance_vs_depth.log",
    params:
        kind="variance_vs_depth",


use rule figure_variance_vs_qubits as figure_global_vs_local with:
    output:
        png=report(
            FIGURE.replace("{figure}", "global_vs_local") + ".png",
            caption="../report/global_vs_local.rst",
            category="Gradient variance",
            subcategory="{sweep}",
            labels={"sweep": "{sweep}", "figure": "global vs local cost"},
        ),
        pdf=FIGURE.replace("{figure}", "global_vs_local") + ".pdf",
    log:
        "results/logs/figures/gradients/{sweep}/global_vs_local.log",
    params:
        kind="global_vs_local",


rule table_html:
    """A table rendered as HTML for the report (the Parquet file stays the data)."""
    input:
        "results/tables/{table}.parquet",
    output:
        report(
            "results/tables/{table}.html",
            caption="../report/tables.rst",
            category="Tables",
            labels={"table": "{table}"},
        ),
    log:
        "results/logs/tables/{table}_html.log",
    wildcard_constraints:
        table="gradients|scaling_fits|dqnn_training|landscapes|qgradcam",
    script:
        "../../scripts/table_html.py"
