"""One QGrad-CAM study model, from its config job to tables: data, training, explanations and
faithfulness scores (the workflow's scripts only read and write files around these calls).

A job is one ``qgradcam`` config block with ``model``, ``n`` and ``depth`` set.  Seeds derive
from the base seed and the study (data split) or the model (weights, random maps, SmoothGrad
noise, re-initialisation), so every model of a study sees the same split and explained samples.
torch, the datasets and the models are imported by the functions that use them, so the table
job (:func:`summary`) starts without them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from qnnscope import stats
from qnnscope.io import atomic_output, provenance
from qnnscope.sampling import stable_seed

if TYPE_CHECKING:
    import torch

    from qnnscope import data
    from qnnscope.models import hybrid

CAM_METHOD = {"vqc": "qgradcam", "dressed": "qgradcam", "classical": "gradcam",
              "pointwise": "qgradcam", "pointwise_classical": "gradcam"}
"""The class-activation method of each model kind (QGrad-CAM in its explicit form for the quantum models)."""
HIGHER_IS_BETTER = {"deletion_auc": False, "insertion_auc": True, "pointing_game": True, "mask_energy": True,
                    "randomisation_spearman": False}


def study_data(job: dict, base_seed: int) -> tuple[data.Dataset, data.Dataset]:
    """The block's dataset split into train and test (the same for every model of the study)."""
    from qnnscope import data

    seed = stable_seed("qgradcam-data", base_seed, job["name"])
    options = dict(job["options"])
    ds = data.load(job["dataset"], root=job["root"], seed=seed, **options)
    return data.split(ds, job["test_fraction"], seed)


def model_seed(job: dict, base_seed: int) -> int:
    return stable_seed("qgradcam-model", base_seed, job["name"], job["model"], job["n"], job["depth"])


def build_model(job: dict, in_shape, n_classes: int, base_seed: int) -> hybrid.HybridClassifier:
    from qnnscope.models import hybrid, pointwise

    if job["model"] in pointwise.KINDS:  # the circuit at every position of the feature map
        return pointwise.build_pointwise(tuple(in_shape), n_classes, kind=job["model"], n_qubits=job["n"],
                                         depth=max(job["depth"], 1), entangler=job["entangler"],
                                         channels=tuple(job["channels"]), seed=model_seed(job, base_seed),
                                         dtype=job["dtype"])
    return hybrid.build(job["model"], tuple(in_shape), n_classes, n_qubits=job["n"], depth=max(job["depth"], 1),
                        entangler=job["entangler"], channels=tuple(job["channels"]),
                        seed=model_seed(job, base_seed), dtype=job["dtype"])


def train(job: dict, base_seed: int, checkpoint, log: logging.Logger) -> tuple[hybrid.HybridClassifier, pd.DataFrame]:
    """Train the job's model on its study's split (resuming from ``checkpoint`` if it exists)."""
    from qnnscope.models import hybrid

    train_ds, test_ds = study_data(job, base_seed)
    model = build_model(job, train_ds.x.shape[1:], len(train_ds.classes), base_seed)
    log.info("%s: %s model, n = %d, depth %d, %d train / %d test samples of %s", job["name"], job["model"],
             job["n"], job["depth"], len(train_ds), len(test_ds), job["dataset"])
    t = job["training"]
    return hybrid.train(model, train_ds, test_ds, epochs=t["epochs"], batch_size=t["batch_size"], lr=t["lr"],
                        seed=model_seed(job, base_seed), checkpoint=checkpoint, log=log)


def balanced(ds: data.Dataset, k: int) -> data.Dataset:
    """The first ``k`` samples of ``ds`` taken class by class in turn (every class represented,
    whatever order the split left the samples in)."""
    y = ds.y.numpy()
    rank = np.zeros(len(y), dtype=int)
    for label in np.unique(y):
        rank[y == label] = np.arange((y == label).sum())
    return ds.take(np.lexsort((y, rank))[:k])


def save_model(model: hybrid.HybridClassifier, path) -> None:
    import torch

    with atomic_output(path) as tmp:
        torch.save(model.state_dict(), tmp)


def load_model(job: dict, path, base_seed: int) -> tuple[hybrid.HybridClassifier, data.Dataset]:
    """The trained model and the study's test set (:func:`explain` and :func:`evaluate` take
    their samples from it, so the data is loaded once per job)."""
    import torch

    _, test_ds = study_data(job, base_seed)
    model = build_model(job, test_ds.x.shape[1:], len(test_ds.classes), base_seed)
    model.load_state_dict(torch.load(path))
    model.eval()
    return model, test_ds


def _explainers(model: hybrid.HybridClassifier, settings: dict, seed: int) -> dict:
    """Method → (model, x, target) → maps (B, H, W) at input resolution, for this model kind."""
    from qnnscope import interpret

    def cam(method):
        fn = interpret.qgradcam if method == "qgradcam" else interpret.gradcam
        return lambda m, x, t: interpret.upsample(fn(m, x, t).maps, x.shape[-2:])

    def random(m, x, t):
        a = m.activations(interpret.cam.model_input(m, x))
        return interpret.upsample(interpret.random_maps((len(x), *a.shape[2:]), seed), x.shape[-2:])

    return {
        CAM_METHOD[model.kind]: cam(CAM_METHOD[model.kind]),
        "random": random,
        "saliency": lambda m, x, t: interpret.gradient_saliency(m, x, t),
        "smoothgrad": lambda m, x, t: interpret.smoothgrad(m, x, t, n=settings["smoothgrad_samples"],
                                                           noise=settings["smoothgrad_noise"], seed=seed),
    }


def _rows(ds: data.Dataset, method: str, maps: torch.Tensor, predicted: torch.Tensor) -> list[dict]:
    maps = maps.detach().double().cpu().numpy()
    return [{"sample": i, "label": int(ds.y[i]), "predicted": int(predicted[i]), "target": int(predicted[i]),
             "method": method, "height": maps.shape[1], "width": maps.shape[2],
             "map": maps[i].astype(np.float32).ravel()} for i in range(len(maps))]


def explain(job: dict, model: hybrid.HybridClassifier, test_ds: data.Dataset, base_seed: int,
            log: logging.Logger) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """Maps of every method (plus the inputs and masks) of the explained test samples, t-SNE of
    every layer, the whitening matrix of the circuit's (or twin's) output, and the metadata of
    the explanations."""
    import torch

    from qnnscope import interpret

    settings, seed = job["explain"], model_seed(job, base_seed)
    ds = balanced(test_ds, settings["samples"])
    with torch.no_grad():
        predicted = model(interpret.cam.model_input(model, ds.x)).argmax(1)
    rows = _rows(ds, "input", ds.x[:, 0], predicted)
    if ds.masks is not None:
        rows += _rows(ds, "mask", ds.masks.double(), predicted)
    timings = {}
    for method, fn in _explainers(model, settings, seed).items():
        tic = time.perf_counter()
        rows += _rows(ds, method, fn(model, ds.x, predicted), predicted)
        timings[method] = time.perf_counter() - tic
        log.info("%s maps of %d samples in %.2f s", method, len(ds), timings[method])

    sub = balanced(test_ds, settings["tsne_samples"])
    layers = interpret.layer_activations(model, sub.x)
    embedded = []
    for layer, values in layers.items():
        xy = interpret.tsne(values.double().cpu(), seed=seed % 2**32, perplexity=settings["perplexity"])
        embedded.append(pd.DataFrame({"sample": np.arange(len(sub)), "label": sub.y.numpy(), "layer": layer,
                                      "tsne_x": xy[:, 0], "tsne_y": xy[:, 1]}))
    out = "quantum_out" if "quantum_out" in layers else "hidden_out"
    w, _ = interpret.whitening(layers[out].double().cpu())
    r, c = np.indices(w.shape)
    whitening = pd.DataFrame({"layer": out, "row": r.ravel(), "col": c.ravel(), "value": w.ravel()})
    meta = {"classes": list(ds.classes), "kind": ds.kind, "model": job["model"], "dataset": job["dataset"],
            "timings_s": timings, "accuracy_explained": float((predicted == ds.y).double().mean())}
    return pd.DataFrame(rows), pd.concat(embedded, ignore_index=True), whitening, meta


def maps_of(explanations: pd.DataFrame, method: str) -> torch.Tensor:
    """The (B, H, W) maps of ``method`` from an explanations table, in sample order."""
    import torch

    rows = explanations[explanations.method == method].sort_values("sample")
    h, w = int(rows.height.iloc[0]), int(rows.width.iloc[0])
    return torch.as_tensor(np.stack([np.asarray(m, dtype=np.float64).reshape(h, w) for m in rows["map"]]))


def pointing_tolerance(settings: dict, maps: torch.Tensor) -> int:
    """The configured pointing-game tolerance, or by default Zhang et al. 2018's 15 pixels at 224
    pixels scaled to the maps' shorter side (1 pixel at 16, 2 at 32)."""
    if settings["pointing_tolerance"] is not None:
        return settings["pointing_tolerance"]
    return round(15 / 224 * min(maps.shape[-2:]))


def evaluate(job: dict, model: hybrid.HybridClassifier, test_ds: data.Dataset, explanations: pd.DataFrame,
             base_seed: int, log: logging.Logger) -> pd.DataFrame:
    """Per-sample faithfulness of every method: deletion and insertion AUC, pointing game and
    mask energy (datasets with masks), and for the quantum models the randomisation check of
    the maps that depend on the VQC weights."""
    import torch

    from qnnscope import interpret

    settings, seed = job["explain"], model_seed(job, base_seed)
    ds = balanced(test_ds, settings["samples"])
    target = torch.as_tensor(explanations[explanations.method == "input"].sort_values("sample").target.to_numpy().copy())
    frames = []

    def add(method, metric, values):
        frames.append(pd.DataFrame({"sample": np.arange(len(values)) % len(ds), "method": method, "metric": metric,
                                    "value": np.asarray(values, dtype=np.float64)}))

    explainers = _explainers(model, settings, seed)
    for method in explainers:
        maps = maps_of(explanations, method)
        add(method, "deletion_auc", interpret.deletion(model, ds.x, maps, target, steps=settings["steps"]).auc)
        add(method, "insertion_auc", interpret.insertion(model, ds.x, maps, target, steps=settings["steps"]).auc)
        if ds.masks is not None:
            add(method, "pointing_game", interpret.pointing_game(maps, ds.masks, pointing_tolerance(settings, maps)).values)
            add(method, "mask_energy", interpret.energy_share(maps, ds.masks).values)
        if model.kind != "classical" and method != "random":
            rho = [interpret.randomisation_check(model, ds.x, explainers[method], stable_seed(seed, "reinit", r),
                                                 target).rho for r in range(settings["randomisations"])]
            add(method, "randomisation_spearman", np.concatenate(rho))
        log.info("%s scored", method)
    return pd.concat(frames, ignore_index=True)


def summary(job: dict, faithfulness: pd.DataFrame, curves: pd.DataFrame, base_seed: int,
            wall_time_s: float = 0.0) -> pd.DataFrame:
    """One table row per (method, metric): mean and bootstrap CI, with the model's test accuracy."""
    settings = job["explain"]
    rows = []
    for (method, metric), group in faithfulness.groupby(["method", "metric"], sort=True):
        values = group.value.to_numpy()
        if not np.isfinite(values).sum() >= 2:
            continue
        ci = stats.bootstrap_mean(values, seed=stable_seed("qgradcam-ci", base_seed, method, metric) % 2**32,
                                  n_boot=settings["bootstrap"])
        rows.append({"name": job["name"], "dataset": job["dataset"], "model": job["model"], "n": job["n"],
                     "depth": job["depth"], "entangler": job["entangler"],
                     "test_accuracy": float(curves.test_accuracy.iloc[-1]), "epochs": int(curves.epoch.iloc[-1]),
                     "method": method, "metric": metric, "higher_is_better": HIGHER_IS_BETTER[metric],
                     "mean": ci["mean"], "lo": ci["mean_lo"], "hi": ci["mean_hi"], "n_samples": ci["n"],
                     "ci": ci["ci"], "ci_method": ci["ci_method"],
                     **provenance("torch", job["dtype"], "cpu", model_seed(job, base_seed), wall_time_s)})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- loss landscapes

@dataclass(frozen=True)
class HybridPoint:
    """A trained study model as a loss-landscape point (:mod:`qnnscope.landscapes`): the training
    cross-entropy on ``samples`` training samples as a function of all parameters, CNN weights
    (filter-normalised directions) and VQC angles (periodic directions) alike.  BatchNorm layers
    use the trained model's running statistics, so the cost is one fixed function everywhere."""

    job: dict = field(compare=False, hash=False)
    model_path: str = ""
    samples: int = 256
    model: str = "hybrid"
    cost: str = "cross_entropy"
    init: str = "default"
    device: str = "cpu"

    @property
    def ansatz(self) -> str:
        return self.job["model"]

    @property
    def n_qubits(self) -> int:
        return self.job["n"]

    @property
    def depth(self) -> int:
        return self.job["depth"]

    @property
    def dtype(self) -> str:
        return self.job["dtype"]

    @property
    def label(self) -> str:
        return f"hybrid_{self.job['model']}_{self.job['name']}"

    def columns(self) -> dict:
        return {"model": "hybrid", "ansatz": self.ansatz, "n_qubits": self.n_qubits, "depth": self.depth,
                "cost_function": self.cost, "init": self.init, "dtype": self.dtype, "qgradcam": self.job["name"],
                "dataset": self.job["dataset"], "samples": self.samples}

    def seed_key(self) -> dict:
        return {"model": "hybrid", "qgradcam": self.job["name"], "kind": self.ansatz, "n_qubits": self.n_qubits,
                "depth": self.depth}

    def __str__(self) -> str:
        return f"{self.label} n={self.n_qubits} depth={self.depth}"

    def objective(self, base_seed: int):
        """(Objective, draw): ``draw`` returns the model's seeded initialisation (the start of its
        training), whatever seed it is given."""
        import torch

        from qnnscope.models import hybrid

        from qnnscope.landscapes import SCAN_AMPLITUDES, module_objective

        train_ds, _ = study_data(self.job, base_seed)
        sub = balanced(train_ds, self.samples)
        model = build_model(self.job, train_ds.x.shape[1:], len(train_ds.classes), base_seed)
        start = np.asarray(hybrid.flat_parameters(model))
        model.load_state_dict(torch.load(self.model_path))
        model.eval()
        if model.kind != "classical":
            model.quantum.dtype = torch.complex128  # Hessians and scans in double precision
        labels = sub.y

        def loss(logits):
            return torch.nn.functional.cross_entropy(logits, labels)

        obj, _ = module_objective(model, loss, sub.x.double(), angle_params=("quantum.weights",))
        obj.name = self.label
        obj.block = max(1, SCAN_AMPLITUDES // (len(sub) * 2**self.n_qubits))  # vectors per batch: stays in cache
        return obj, lambda seed, init: start
