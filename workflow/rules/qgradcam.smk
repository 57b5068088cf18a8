"""QGrad-CAM studies (config key `qgradcam`): train → explain → evaluate → table and figures.

Per block, every (model, qubits, depth) is one classifier (the classical twin has no depth and is
trained once per qubit count, under depth~0) in `results/qgradcam/{name}/model~M/n~N/depth~D/`:
`qgradcam_train` writes `model.pt` and `curves.parquet` (resuming from `checkpoint.pt` when a
training job was killed), `qgradcam_explain` the maps, embeddings and whitening matrix of the
explained test samples and their faithfulness scores.  Figures: one job per (study, qubits, depth)
draws the overlays, saliency and t-SNE of the models sharing them, one job per study its metrics
and training curves.  A block whose user data (`root`) is missing is skipped with a message;
nothing else is.
"""

import os
import sys

from qnnscope.data import available as data_available, check_options as check_data_options
from qnnscope.models.hybrid import check as check_model

QGRADCAM_MODEL = "results/qgradcam/{name}/model~{model}/n~{n}/depth~{depth}"
QGRADCAM_FIGURES = "results/figures/qgradcam/{name}"
QGRADCAM_TABLE = "results/tables/qgradcam.parquet"
QGRADCAM_GROUP_FIGURES = ("overlays", "saliency", "tsne")
QGRADCAM_STUDY_FIGURES = ("metrics", "curves")


def _qgradcam_studies() -> tuple[dict, dict]:
    """Model directory → its job; study name → its block and (n, depth) groups.  Every block is
    checked (errors name the config key) before any job runs."""
    jobs, studies = {}, {}
    for i, block in enumerate(config.get("qgradcam", [])):
        where = f"qgradcam[{i}]."
        if block["name"] in studies:
            raise ValueError(f"{where}name: {block['name']!r} is used by two qgradcam blocks; names must be unique")
        check_data_options(block["dataset"], block["options"], where)
        root = os.path.expandvars(os.path.expanduser(block["root"])) if block["root"] else None
        ok, reason = data_available(block["dataset"], root, **block["options"])
        if not ok:
            unset = f" (environment variable in {block['root']!r} not set)" if root and "$" in root else ""
            print(f"qnnscope: {where[:-1]} ({block['name']}) skipped: {reason}{unset}", file=sys.stderr)
            continue
        if len(set(block["models"])) != len(block["models"]):
            raise ValueError(f"{where}models: {block['models']} lists a model twice")
        groups = []
        for n, depth in product(block["qubits"], block["depths"]):
            groups.append((n, depth))
            for model in block["models"]:
                d = 0 if model == "classical" else depth
                try:
                    check_model("vqc" if model.startswith("pointwise") else model, n, max(d, 1), block["entangler"], block["channels"])
                except ValueError as exc:
                    raise ValueError(f"{where}{exc}") from None
                jobs[QGRADCAM_MODEL.format(name=block["name"], model=model, n=n, depth=d)] = {
                    **block, "root": root, "model": model, "n": n, "depth": d,
                }
        studies[block["name"]] = {"block": block, "groups": groups}
    return jobs, studies


QGRADCAM_JOBS, QGRADCAM_STUDIES = _qgradcam_studies()


def qgradcam_job(wildcards, output) -> dict:
    key = str(output[0]).rsplit("/", 1)[0]
    if key not in QGRADCAM_JOBS:
        raise ValueError(f"{output[0]} is not a model of any qgradcam block in the config")
    return QGRADCAM_JOBS[key]


def qgradcam_group(name: str, n: int, depth: int) -> dict[str, str]:
    """Model name → directory of the models shown together for (n, depth) of study ``name``."""
    block = QGRADCAM_STUDIES[name]["block"]
    return {m: QGRADCAM_MODEL.format(name=name, model=m, n=n, depth=0 if m == "classical" else depth)
            for m in block["models"]}


def qgradcam_study_figure_input(wildcards) -> dict[str, list[str]]:
    """Every model's training curves of study ``wildcards.name``, and the table."""
    dirs = sorted({d for d in QGRADCAM_JOBS if d.startswith(f"results/qgradcam/{wildcards.name}/")})
    return {"curves": [f"{d}/curves.parquet" for d in dirs], "table": [QGRADCAM_TABLE]}


def qgradcam_group_figure_input(wildcards) -> dict[str, list[str]]:
    """Explanations, embeddings and whitening matrices of the models shown together for (n, depth)."""
    dirs = qgradcam_group(wildcards.name, int(wildcards.n), int(wildcards.depth)).values()
    return {kind: [f"{d}/{kind}.parquet" for d in dirs] for kind in ("explanations", "embeddings", "whitening")}


def qgradcam_figure_outputs(figures: tuple[str, ...], suffix: str, labels: dict) -> dict:
    """PNG (for the report) and PDF outputs of ``figures``, named by figure (``{figure}_pdf`` for the PDF)."""
    outputs = {}
    for figure in figures:
        stem = f"{QGRADCAM_FIGURES}/{figure}{suffix}"
        outputs[figure] = report(stem + ".png", caption="../report/qgradcam.rst", category="QGrad-CAM",
                                 subcategory="{name}", labels={"study": "{name}", "figure": figure, **labels})
        outputs[f"{figure}_pdf"] = stem + ".pdf"
    return outputs


def qgradcam_targets() -> list[str]:
    """The table, its HTML and every figure of every study (nothing when `qgradcam` is empty)."""
    if not QGRADCAM_JOBS:
        return []
    targets = [QGRADCAM_TABLE, "results/tables/qgradcam.html"]
    for name, study in QGRADCAM_STUDIES.items():
        base = QGRADCAM_FIGURES.format(name=name)
        for figure in QGRADCAM_STUDY_FIGURES:
            targets += [f"{base}/{figure}.{ext}" for ext in ("png", "pdf")]
        for (n, depth), figure in product(study["groups"], QGRADCAM_GROUP_FIGURES):
            targets += [f"{base}/{figure}__n~{n}__depth~{depth}.{ext}" for ext in ("png", "pdf")]
    return targets


localrules: qgradcam_table, figure_qgradcam_study, figure_qgradcam_group


rule qgradcam_train:
    """Deterministic, checkpointed training of one classifier (a killed job resumes)."""
    output:
        model=QGRADCAM_MODEL + "/model.pt",
        curves=QGRADCAM_MODEL + "/curves.parquet",
    log:
        QGRADCAM_MODEL.replace("results/", "results/logs/") + "/train.log",
    params:
        job=qgradcam_job,
        seed=config["seed"],
    resources:
        runtime=runtime,
        mem_mb=mem_mb,
    script:
        "../../scripts/qgradcam_train.py"


rule qgradcam_explain:
    """QGrad-CAM (explicit parameter-shift form) or Grad-CAM, random maps, saliency and
    SmoothGrad of the explained test samples; t-SNE of every layer; whitening matrix; then their
    faithfulness: deletion/insertion AUC, the VQC randomisation check, pointing game and mask energy."""
    input:
        model=QGRADCAM_MODEL + "/model.pt",
    output:
        explanations=QGRADCAM_MODEL + "/explanations.parquet",
        embeddings=QGRADCAM_MODEL + "/embeddings.parquet",
        whitening=QGRADCAM_MODEL + "/whitening.parquet",
        faithfulness=QGRADCAM_MODEL + "/faithfulness.parquet",
    log:
        QGRADCAM_MODEL.replace("results/", "results/logs/") + "/explain.log",
    params:
        job=qgradcam_job,
        seed=config["seed"],
    resources:
        runtime=runtime,
        mem_mb=mem_mb,
    script:
        "../../scripts/qgradcam_explain.py"


rule qgradcam_table:
    """Test accuracy and every faithfulness metric (mean, bootstrap CI) of every model."""
    input:
        faithfulness=[f"{d}/faithfulness.parquet" for d in QGRADCAM_JOBS],
        curves=[f"{d}/curves.parquet" for d in QGRADCAM_JOBS],
    output:
        update(QGRADCAM_TABLE),
    log:
        "results/logs/aggregate/qgradcam.log",
    params:
        jobs=[QGRADCAM_JOBS[d] for d in QGRADCAM_JOBS],
        seed=config["seed"],
    script:
        "../../scripts/qgradcam_table.py"


rule figure_qgradcam_study:
    """Metrics with CIs and the training curves of every model of a study."""
    input:
        unpack(qgradcam_study_figure_input),
    output:
        **qgradcam_figure_outputs(QGRADCAM_STUDY_FIGURES, "", {}),
    log:
        "results/logs/figures/qgradcam/{name}/study.log",
    params:
        name="{name}",
        figures=list(QGRADCAM_STUDY_FIGURES),
    wildcard_constraints:
        name=r"[A-Za-z0-9_-]+",
    script:
        "../../scripts/qgradcam_figure.py"


rule figure_qgradcam_group:
    """Overlays (input | QGrad-CAM | Grad-CAM), saliency and t-SNE per layer of the models of a
    study that share (qubits, depth)."""
    input:
        unpack(qgradcam_group_figure_input),
    output:
        **qgradcam_figure_outputs(QGRADCAM_GROUP_FIGURES, "__n~{n}__depth~{depth}", {"n": "{n}", "depth": "{depth}"}),
    log:
        "results/logs/figures/qgradcam/{name}/n~{n}__depth~{depth}.log",
    params:
        name="{name}",
        figures=list(QGRADCAM_GROUP_FIGURES),
        models=lambda wildcards: list(qgradcam_group(wildcards.name, int(wildcards.n), int(wildcards.depth))),
    wildcard_constraints:
        name=r"[A-Za-z0-9_-]+",
    script:
        "../../scripts/qgradcam_figure.py"
