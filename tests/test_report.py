"""The Snakemake report: one small run of every kind of study (gradient variance of a VQC and a
DQNN, DQNN training, a loss landscape, QGrad-CAM, a fake-hardware sweep), then
`snakemake --report`.  The report has every study's category and caption, its introduction names
every study, and no caption or introduction renders with a docutils error or warning.  Checked
through outputs and categories, not rule names."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from pathlib import Path

import docutils.core
import jinja2
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]
CAPTIONS = sorted((ROOT / "workflow/report").glob("*.rst"))
STUDY = {
    "seed": 4,
    "bootstrap": 200,
    "gradients": [
        {"name": "report_vqc", "ansatz": "rx_product", "qubits": [2, 3], "depths": [1], "costs": ["global", "local"],
         "samples": 200},
        {"name": "report_dqnn", "model": "dqnn", "ansatz": "local1", "width": "n", "qubits": [2, 3], "depths": [1],
         "costs": ["global"], "data": "zero", "samples": 100},
    ],
    "dqnn_training": [
        {"name": "report_training", "widths": [2, 2], "pairs": [1, 2], "repetitions": 2, "steps": 10,
         "test_pairs": 4, "methods": ["beer"]},
    ],
    "landscapes": [
        {"name": "report_landscape", "ansatz": "rx_product", "qubits": [2], "depths": [1],
         "costs": ["global", "local"], "centres": ["zero"], "directions": ["halves"], "resolution": 9},
    ],
    "qgradcam": [
        {"name": "report_qgradcam", "dataset": "synthetic_images", "options": {"n_per_class": 16, "n_classes": 2},
         "models": ["vqc"], "qubits": [2], "depths": [1], "training": {"epochs": 2},
         "explain": {"samples": 6, "smoothgrad_samples": 2, "steps": 4, "randomisations": 1, "tsne_samples": 10,
                     "perplexity": 3, "bootstrap": 100}},
    ],
    "diagnostics": [
        {"name": "report_diagnostics", "ansatz": "hea", "qubits": [2], "depths": [1, 2], "pairs": 50, "fisher_points": 2},
    ],
    "hardware": {
        "backend": "fake_manila", "max_jobs": 2, "max_shots": 100_000,
        "sweeps": [{"name": "report_hardware", "ansatz": "mcclean", "qubits": [2], "depths": [1], "costs": ["zz"],
                    "samples": 4, "shots": [100]}],
    },
}
CATEGORIES = ("Gradient variance", "DQNN training", "Loss landscapes", "QGrad-CAM", "Hardware", "Trainability diagnostics",
              "Tables")
"""One report category per kind of study, and the tables."""
STUDIES = ("report_vqc", "report_dqnn", "report_training", "report_landscape", "report_qgradcam", "report_hardware")
"""Every block's name: each is a subcategory (gradient sweeps, DQNN training, landscapes,
QGrad-CAM, hardware)."""
CAPTION_TEXT = (
    "Gradient variance against the qubit count",  # variance_vs_qubits
    "Gradient variance against the number of layers",  # variance_vs_depth
    "Global against local cost",  # global_vs_local
    "Generalisation of a dissipative QNN",  # dqnn_training
    "Loss landscape of",  # landscape
    "Hessian eigenvalues at every scan centre",  # landscape_hessian
    "QGrad-CAM study",  # qgradcam
    "Hardware sweep",  # hardware
    "Trainability diagnostics against the number of layers",  # diagnostics
    "Trainability diagnostics: one row per point",  # tables: diagnostics
    "Loss landscapes: one row per scan",  # tables: landscapes
    "QGrad-CAM: one row per (model, explanation method, metric)",  # tables: qgradcam
)
INTRODUCTION = ("Gradient variance", "DQNN training", "Loss landscapes", "QGrad-CAM", "Hardware",
                "Trainability diagnostics", "report_vqc", "report_training", "report_landscape", "report_qgradcam",
                "report_hardware", "report_diagnostics")
"""What the report's introduction (workflow/report/workflow.rst) says about this run."""
DOCUTILS_TROUBLE = ("System Message", "system-message", "Undefined substitution", "ERROR/", "WARNING/",
                    "Unknown target", "Docutils")
"""What docutils writes into HTML for a problem (its literals' class "docutils" is no problem)."""


def text_of(page: str) -> str:
    """The report's text: its data are JSON strings inside the page, so undo JSON escapes
    (\\u2207, \\/, \\") and HTML entities before searching."""
    unescaped = re.sub(r'\\u[0-9a-fA-F]{4}|\\[/"\\nt]', lambda m: json.loads(f'"{m.group(0)}"'), page)
    return html.unescape(unescaped)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> str:
    study = tmp_path_factory.mktemp("report")
    (study / "config.yaml").write_text(yaml.safe_dump(STUDY))
    base = [*SNAKEMAKE, "--directory", str(study), "--configfile", str(study / "config.yaml"), "--cores", "2"]
    done = subprocess.run(base, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    done = subprocess.run([*base, "--report", "results/report.html"], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return text_of((study / "results/report.html").read_text())


def test_the_report_has_every_study_and_caption(report):
    missing = [item for item in CATEGORIES + STUDIES + CAPTION_TEXT if item not in report]
    assert not missing, f"not in the report: {missing}"


def test_the_introduction_names_every_study_of_the_run(report):
    start = report.index("qnnscope report")
    missing = [item for item in INTRODUCTION if item not in report[start:]]
    assert not missing, f"not in the introduction: {missing}"


def test_the_report_has_no_docutils_errors_or_empty_fields(report):
    found = [marker for marker in DOCUTILS_TROUBLE if marker in report]
    assert not found, f"docutils trouble in the report: {found}"
    # a caption naming a wildcard its rule does not have renders it empty
    empty = [markup for markup in ("<strong></strong>", "<em></em>", "<tt class=\"docutils literal\"></tt>")
             if markup in report]
    assert not empty, f"empty fields in captions: {empty}"


class _Anything:
    """Wildcards for rendering a caption outside a run: the given ones, a placeholder for others."""

    def __init__(self, **known):
        self.known = known

    def __getattr__(self, name):
        return self.known.get(name, f"<{name}>")


@pytest.mark.parametrize(
    "caption, table",
    [(p.name, t) for p in CAPTIONS
     for t in (["gradients", "scaling_fits", "predictions", "dqnn_training", "landscapes", "qgradcam", "hardware", "diagnostics"]
               if p.name == "tables.rst" else [None])],
)
def test_every_caption_renders_without_docutils_messages(caption, table):
    """Also the captions of outputs the small run above does not make, and every table's branch."""
    wildcards = _Anything(table=table) if table else _Anything()
    config = {"ci": 0.95, "gradients": STUDY["gradients"], "dqnn_training": STUDY["dqnn_training"],
              "landscapes": STUDY["landscapes"], "qgradcam": STUDY["qgradcam"], "hardware": STUDY["hardware"],
              "diagnostics": STUDY["diagnostics"]}
    snakemake = type("Snakemake", (), {"wildcards": wildcards, "config": config})
    text = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(
        (ROOT / "workflow/report" / caption).read_text()).render(snakemake=snakemake, categories={}, files={})
    messages = []
    body = docutils.core.publish_parts(
        text, writer="html",
        settings_overrides={"report_level": 1, "halt_level": 5, "warning_stream": _Collect(messages)})["html_body"]
    assert not messages, "".join(messages)
    assert "system-message" not in body


class _Collect:
    """A docutils warning stream that keeps what it is given."""

    def __init__(self, into: list):
        self.into = into

    def write(self, text):
        self.into.append(text)

    def flush(self):
        pass
