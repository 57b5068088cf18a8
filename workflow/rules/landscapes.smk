"""Loss landscapes (config key `landscapes`): train → scan (with its metrics) → table and figures.

Per block, every (qubits, depth, cost) is a model point (a VQC or a DQNN, as in `gradients`).
A point's recorded training run (only when a 'trained' centre or a pca/segment direction needs
it) goes to `{point}/train.parquet`; every (centre, direction, dimensions) of the point is one
scan job writing `{point}/centre~C/direction~D/dims~K/grid.parquet` (the whole grid evaluated
as batches) and `metrics.parquet` next to it (scan metrics and the Hessian spectrum at the
centre).  `results/tables/landscapes.parquet` collects the metrics.  Figures: one per scan, the
cross-sections of every block with 2D scans (rows: qubits and depth, columns: costs; Cerezo et
al. 2021 Fig. 2 for rx_product, centre zero, direction halves), and the Hessian spectra of a block.
"""

from qnnscope.landscapes import ScanSpec, check_spec
from qnnscope.qgradcam import HybridPoint

LANDSCAPE_POINT = "results/landscapes/{name}/{label}/n~{n}/depth~{depth}/cost~{cost}/init~{init}/dtype~{dtype}"
LANDSCAPE_SCAN = LANDSCAPE_POINT + "/centre~{centre}/direction~{direction}/dims~{dims}"
LANDSCAPE_TABLE = "results/tables/landscapes.parquet"
LANDSCAPE_FIGURES = "results/figures/landscapes/{name}"


def _landscape_scans() -> tuple[dict, dict]:
    """Scan directory → its job; training file → its job.  Every spec is checked by the package
    (errors name the config key) before any job runs."""
    names, scans, trainings = set(), {}, {}
    for i, block in enumerate(config.get("landscapes", [])):
        where = f"landscapes[{i}]."
        if block["name"] in names:
            raise ValueError(f"{where}name: {block['name']!r} is used by two landscape blocks; names must be unique")
        names.add(block["name"])
        with_circuit(block, where)
        full = {**block, "params": "first", "method": "auto"}
        if "pca" in block["directions"] and "trained" not in block["centres"]:
            raise ValueError(f"{where}directions: 'pca' scans are centred at the end of training; add 'trained' to "
                             f"{where}centres (got {block['centres']})")
        hybrid = block["model"] == "hybrid"
        if hybrid and block.get("qgradcam") not in QGRADCAM_STUDIES:
            raise ValueError(f"{where}qgradcam: hybrid landscapes scan a trained model of a qgradcam study; "
                             f"got {block.get('qgradcam')!r}, studies in the config: {sorted(QGRADCAM_STUDIES) or 'none'}")
        costs = ["cross_entropy"] if hybrid else block["costs"]
        for n, d, cost, listed in product(block["qubits"], block["depths"], costs, block["centres"]):
            for direction, dims in product(block["directions"], block["dimensions"]):
                # pca planes are centred at the trained point; a segment runs from the random start
                # (training's start) to it whatever the centre: one scan each, not one per centre
                first = listed == block["centres"][0] and dims == block["dimensions"][0]
                if (direction == "pca" and listed != "trained") or (direction == "segment" and not first):
                    continue
                centre = "random" if direction == "segment" else listed
                dims = 1 if direction == "segment" else dims
                if hybrid:
                    point = _hybrid_point(block, n, d, where)
                else:
                    init = "identity_block" if centre == "identity" and block["model"] == "vqc" else block["init"]
                    point = point_of(full, n, depth_of(d, n), cost, init, "torch", block["dtype"], where=where)
                    try:
                        if workflow.is_main_process:  # a job's own process checks its point when it runs
                            validate_point(point, 2, prefix=where)
                    except ValueError as exc:
                        raise ValueError(str(exc).replace(f"{where}inits", f"{where}init")) from None
                spec = ScanSpec(point, centre, direction, dims, block["resolution"], block["extent"],
                                block["normalisation"], block["plateau_threshold"], block["hessian_max_qubits"])
                check_spec(spec, where)
                base = LANDSCAPE_POINT.format(name=block["name"], label=point.label, n=n, depth=point.depth, cost=cost_label(cost),
                                              init=point.init, dtype=point.dtype)
                train = f"{base}/train.parquet" if spec.needs_training else None
                if hybrid:  # the qgradcam training run records the path; the model holds BatchNorm statistics
                    train = point.model_path.replace("model.pt", "curves.parquet")
                if train and not hybrid:
                    trainings[train] = {"spec": spec, **block["training"]}
                scans[f"{base}/centre~{centre}/direction~{direction}/dims~{dims}"] = {
                    "spec": spec, "train": train, "name": block["name"],
                    "title": f"{point.label}, n = {n}, depth {point.depth}, {cost} cost, centre {centre}, {direction} directions",
                }
    return scans, trainings


def _hybrid_point(block: dict, n: int, depth, where: str) -> HybridPoint:
    """The trained model of qgradcam study ``block['qgradcam']`` with kind ``ansatz``, n qubits, depth."""
    kind = block["ansatz"]
    if kind not in ("vqc", "dressed", "classical"):
        raise ValueError(f"{where}ansatz: a hybrid landscape's ansatz is the qgradcam model kind: vqc, dressed or "
                         f"classical; got {kind!r}")
    model_dir = QGRADCAM_MODEL.format(name=block["qgradcam"], model=kind, n=n, depth=0 if kind == "classical" else depth)
    if model_dir not in QGRADCAM_JOBS:
        raise ValueError(f"{where}: qgradcam study {block['qgradcam']!r} has no {kind} model with {n} qubits and "
                         f"depth {depth} (it trains models {QGRADCAM_STUDIES[block['qgradcam']]['block']['models']}, "
                         f"qubits/depths {QGRADCAM_STUDIES[block['qgradcam']]['groups']})")
    return HybridPoint(QGRADCAM_JOBS[model_dir], f"{model_dir}/model.pt", block["samples"])


LANDSCAPE_JOBS, LANDSCAPE_TRAININGS = _landscape_scans()


def landscape_job(wildcards, output) -> dict:
    """The scan job of the directory its grid lies in."""
    key = str(output[0]).rsplit("/", 1)[0]
    if key not in LANDSCAPE_JOBS:
        raise ValueError(f"{output[0]} is not a scan of any landscapes block in the config")
    return LANDSCAPE_JOBS[key]


def landscape_train_input(wildcards) -> list[str]:
    """The recorded training run of a scan (hybrid models: the qgradcam curves and the model)."""
    job = LANDSCAPE_JOBS.get(LANDSCAPE_SCAN.format(**wildcards))
    if not job:
        return []
    model = [job["spec"].point.model_path] if job["spec"].point.model == "hybrid" else []
    return ([job["train"]] if job["train"] else []) + model


def training_job(wildcards, output) -> dict:
    if output[0] not in LANDSCAPE_TRAININGS:
        raise ValueError(f"{output[0]} is not a training run of any landscapes block in the config")
    return LANDSCAPE_TRAININGS[output[0]]


def _cross_sections() -> dict:
    """(block, centre, direction) of 2D scans → [(row label, column label, grid file)]."""
    panels = {}
    for scan, job in LANDSCAPE_JOBS.items():
        spec = job["spec"]
        if spec.dims == 2:
            row = f"n = {spec.point.n_qubits}, depth {spec.point.depth}"
            panels.setdefault((job["name"], spec.centre, spec.direction), []).append((row, spec.point.cost, f"{scan}/grid.parquet"))
    return panels


LANDSCAPE_PANELS = _cross_sections()
LANDSCAPE_MODELS = {job["name"]: job["spec"].point.model for job in LANDSCAPE_JOBS.values()}


def landscape_targets() -> list[str]:
    """The table, its HTML, and every figure (nothing when `landscapes` is empty)."""
    if not LANDSCAPE_JOBS:
        return []
    targets = [LANDSCAPE_TABLE, "results/tables/landscapes.html"]
    for scan in LANDSCAPE_JOBS:
        figure = scan.replace("results/landscapes/", "results/figures/landscapes/", 1)
        targets += [f"{figure}/landscape.{ext}" for ext in ("png", "pdf")]
    for name, centre, direction in LANDSCAPE_PANELS:
        targets += [f"{LANDSCAPE_FIGURES.format(name=name)}/cross_sections__{centre}__{direction}.{ext}" for ext in ("png", "pdf")]
    for name in {job["name"] for job in LANDSCAPE_JOBS.values()}:
        targets += [f"{LANDSCAPE_FIGURES.format(name=name)}/hessian_spectra.{ext}" for ext in ("png", "pdf")]
    return targets


wildcard_constraints:
    centre="random|zero|identity|trained",
    direction="random|hessian|pca|segment|halves|axes",
    dims="1|2",


localrules: landscape_table, figure_landscape, figure_landscape_cross_sections, figure_landscape_hessian


rule landscape_train:
    """The recorded training run of a model point (trajectory and cost per step)."""
    output:
        LANDSCAPE_POINT + "/train.parquet",
    log:
        LANDSCAPE_POINT.replace("results/", "results/logs/") + "/train.log",
    params:
        job=training_job,
        seed=config["seed"],
    resources:
        runtime=runtime,
        mem_mb=mem_mb,
    script:
        "../../scripts/landscape_train.py"


rule landscape_scan:
    """Cost and gradient norm on the whole grid, evaluated as batches; then, from the same job (they
    take less than a job's start), the scan's metrics: plateau fraction, roughness, Fourier
    spectrum, and the Hessian spectrum at its centre."""
    input:
        train=landscape_train_input,
    output:
        grid=LANDSCAPE_SCAN + "/grid.parquet",
        metrics=LANDSCAPE_SCAN + "/metrics.parquet",
    log:
        LANDSCAPE_SCAN.replace("results/", "results/logs/") + "/scan.log",
    params:
        job=landscape_job,
        seed=config["seed"],
    resources:
        runtime=runtime,
        mem_mb=mem_mb,
    script:
        "../../scripts/landscape_scan.py"


rule landscape_table:
    """Every scan's metrics in one table."""
    input:
        [f"{scan}/metrics.parquet" for scan in LANDSCAPE_JOBS],
    output:
        update(LANDSCAPE_TABLE),
    log:
        "results/logs/aggregate/landscapes.log",
    script:
        "../../scripts/landscape_table.py"


rule figure_landscape:
    """One scan: 1D curve, or 2D contour (training path on its PCA plane), surface and |∇C| map;
    the Hessian spectrum at the centre."""
    input:
        grid=LANDSCAPE_SCAN + "/grid.parquet",
        metrics=LANDSCAPE_SCAN + "/metrics.parquet",
    output:
        png=report(
            LANDSCAPE_SCAN.replace("results/landscapes/", "results/figures/landscapes/", 1) + "/landscape.png",
            caption="../report/landscape.rst",
            category="Loss landscapes",
            subcategory="{name}",
            labels={"study": "{name}", "model": "{label}", "n": "{n}", "depth": "{depth}", "cost": "{cost}",
                    "centre": "{centre}", "direction": "{direction}", "dims": "{dims}"},
        ),
        pdf=LANDSCAPE_SCAN.replace("results/landscapes/", "results/figures/landscapes/", 1) + "/landscape.pdf",
    log:
        LANDSCAPE_SCAN.replace("results/", "results/logs/figures/") + "/landscape.log",
    params:
        title=lambda wildcards: LANDSCAPE_JOBS[LANDSCAPE_SCAN.format(**wildcards)]["title"],
    script:
        "../../scripts/landscape_figure.py"


rule figure_landscape_cross_sections:
    """2D cross-sections of a block side by side: rows qubits and depth, columns costs."""
    input:
        lambda wildcards: [p[2] for p in LANDSCAPE_PANELS[(wildcards.name, wildcards.centre, wildcards.direction)]],
    output:
        png=report(
            LANDSCAPE_FIGURES + "/cross_sections__{centre}__{direction}.png",
            caption="../report/landscape_cross_sections.rst",
            category="Loss landscapes",
            subcategory="{name}",
            labels={"study": "{name}", "figure": "cross-sections", "centre": "{centre}", "direction": "{direction}"},
        ),
        pdf=LANDSCAPE_FIGURES + "/cross_sections__{centre}__{direction}.pdf",
    log:
        "results/logs/figures/landscapes/{name}/cross_sections__{centre}__{direction}.log",
    params:
        labels=lambda wildcards: [[p[0], p[1]] for p in LANDSCAPE_PANELS[(wildcards.name, wildcards.centre, wildcards.direction)]],
        # hybrid models' coordinates move weights, not angles: no radians on their axes
        radians=lambda wildcards: LANDSCAPE_MODELS[wildcards.name] != "hybrid",
    wildcard_constraints:
        name=r"[A-Za-z0-9_-]+",
    script:
        "../../scripts/landscape_cross_sections.py"


rule figure_landscape_hessian:
    """Hessian eigenvalues at every scan centre of a block."""
    input:
        table=LANDSCAPE_TABLE,
    output:
        png=report(
            LANDSCAPE_FIGURES + "/hessian_spectra.png",
            caption="../report/landscape_hessian.rst",
            category="Loss landscapes",
            subcategory="{name}",
            labels={"study": "{name}", "figure": "Hessian spectra"},
        ),
        pdf=LANDSCAPE_FIGURES + "/hessian_spectra.pdf",
    log:
        "results/logs/figures/landscapes/{name}/hessian_spectra.log",
    params:
        name="{name}",
    wildcard_constraints:
        name=r"[A-Za-z0-9_-]+",
    script:
        "../../scripts/landscape_hessian_figure.py"
