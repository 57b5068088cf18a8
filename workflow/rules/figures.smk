FIGURE = "results/figures/gradients/{sweep}/{figure}"


rule figure_gradients:
    """One sweep's variance against the qubit count (one line per depth, fitted slopes, exact curves)
    and against the depth (2-design asymptote dashed), from one job."""
    input:
        table="results/tables/gradients.parquet",
        fits="results/tables/scaling_fits.parquet",
    output:
        variance_vs_qubits=report(
            FIGURE.replace("{figure}", "variance_vs_qubits") + ".png",
            caption="../report/variance_vs_qubits.rst",
            category="Gradient variance",
            subcategory="{sweep}",
            labels={"sweep": "{sweep}", "figure": "variance vs qubits"},
        ),
        variance_vs_qubits_pdf=FIGURE.replace("{figure}", "variance_vs_qubits") + ".pdf",
        variance_vs_depth=report(
            FIGURE.replace("{figure}", "variance_vs_depth") + ".png",
            caption="../report/variance_vs_depth.rst",
            category="Gradient variance",
            subcategory="{sweep}",
            labels={"sweep": "{sweep}", "figure": "variance vs depth"},
        ),
        variance_vs_depth_pdf=FIGURE.replace("{figure}", "variance_vs_depth") + ".pdf",
    log:
        "results/logs/figures/gradients/{sweep}/variance.log",
    params:
        kinds=["variance_vs_qubits", "variance_vs_depth"],
    script:
        "../../scripts/gradient_figure.py"


rule figure_global_vs_local:
    """Global against local cost side by side (sweeps with both costs)."""
    input:
        table="results/tables/gradients.parquet",
        fits="results/tables/scaling_fits.parquet",
    output:
        global_vs_local=report(
            FIGURE.replace("{figure}", "global_vs_local") + ".png",
            caption="../report/global_vs_local.rst",
            category="Gradient variance",
            subcategory="{sweep}",
            labels={"sweep": "{sweep}", "figure": "global vs local cost"},
        ),
        global_vs_local_pdf=FIGURE.replace("{figure}", "global_vs_local") + ".pdf",
    log:
        "results/logs/figures/gradients/{sweep}/global_vs_local.log",
    params:
        kinds=["global_vs_local"],
    script:
        "../../scripts/gradient_figure.py"


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
        table="gradients|scaling_fits|predictions|dqnn_training|landscapes|qgradcam|diagnostics",
    script:
        "../../scripts/table_html.py"
