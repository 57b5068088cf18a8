"""Figures of a QGrad-CAM study, from its models' ``explanations``, ``embeddings``, ``whitening``
and ``curves`` tables and its rows of ``results/tables/qgradcam.parquet``
(:mod:`qnnscope.qgradcam`).

* :func:`overlays`: a row per class (one explained test sample, chosen by
  :func:`class_samples`), the input, then each model's class-activation map over it: QGrad-CAM
  for the quantum models, Grad-CAM for the classical twin (Lin et al. 2024, arXiv:2408.05899);
* :func:`saliency`: the same samples, vanilla gradient and SmoothGrad of each model;
* :func:`metrics`: a panel per faithfulness metric, a bar per (model, method) with its bootstrap
  CI, the random-map floor of each model dashed;
* :func:`tsne`: a row per model, the t-SNE of each layer coloured by class, and the whitening
  matrix of the quantum (classical twin: hidden) layer's output;
* :func:`curves`: accuracy and loss against epoch, train dashed and test solid.

Conventions.  Every map panel is min–max normalised to [0, 1] (:func:`normalise`), so maps of
different scales share one colour bar.  Speech inputs are log-mel spectrograms (mel bins ×
frames), drawn with the lowest mel bin at the bottom and time along x.  Ground-truth masks, where
the data set has them, are white contours on every panel of their row.

Artists carry gids for tests: ``input``, ``map`` (images), ``mask`` (contours), ``predicted``
(text), ``bar``, ``ci`` (error bars), ``random`` (floors), ``points`` (t-SNE scatters),
``whitening`` (image), ``train`` and ``test`` (curves).
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from qnnscope.plots.gradients import STYLE, _grid, save

__all__ = ["class_samples", "curves", "metrics", "normalise", "overlays", "saliency", "save", "tsne"]

MODELS = ("vqc", "dressed", "classical")
"""Model order of rows and columns; other model names follow in the order given."""
MODEL_LABELS = {"classical": "classical twin"}
CAMS = {"qgradcam": "QGrad-CAM", "gradcam": "Grad-CAM"}
"""Class-activation methods, the first a model's table has is its overlay column."""
METHODS = {**CAMS, "saliency": "vanilla gradient", "smoothgrad": "SmoothGrad", "random": "random map"}
"""Methods of the metrics bars, in bar order (random is the dashed floor, not a bar)."""
METRICS = {"deletion_auc": "deletion AUC", "insertion_auc": "insertion AUC", "pointing_game": "pointing game",
           "mask_energy": "map energy inside the mask", "randomisation_spearman": "randomisation Spearman ρ"}
"""Metrics in panel order; metrics not listed follow, titled by their name."""
METRIC_NOTES = {"randomisation_spearman": ": the map depends on the VQC weights"}
LAYERS = {"input": "input", "cnn": "CNN features", "quantum_in": "quantum input φ", "hidden_in": "hidden input",
          "quantum_out": "quantum output ⟨Z⟩", "hidden_out": "hidden output", "logits": "logits"}
"""Layers of the t-SNE columns, in order (the classical twin's hidden layer stands for the circuit)."""
EXPLANATION_COLUMNS = ("sample", "label", "predicted", "method", "height", "width", "map")
TABLE_COLUMNS = ("model", "method", "metric", "mean", "lo", "hi")
EMBEDDING_COLUMNS = ("label", "layer", "tsne_x", "tsne_y")
WHITENING_COLUMNS = ("layer", "row", "col", "value")
CURVE_COLUMNS = ("epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy")
OVERLAY_CMAP, SALIENCY_CMAP, WHITENING_CMAP = "jet", "inferno", "RdBu_r"
OVERLAY_ALPHA = 0.5
FLOOR_COLOUR, FLOOR_LABEL = "0.15", "random map (floor)"
IMAGE_STYLE = STYLE | {"axes.grid": False}


def normalise(values: np.ndarray) -> np.ndarray:
    """``values`` min–max scaled to [0, 1] (a constant map to zeros), so maps of any scale share a colour bar."""
    values = np.asarray(values, dtype=np.float64)
    span = np.ptp(values)
    return (values - values.min()) / span if span > 0 else np.zeros_like(values)


def class_samples(explanations: dict[str, pd.DataFrame]) -> dict[int, int]:
    """Label → the sample shown for it: the first sample of the class that the most models classify
    correctly (with one model: its first correct sample, else its first sample); only samples
    every model explained count, and classes without one are left out."""
    models = _ordered(explanations)
    inputs = [_inputs(explanations[m], m)[["sample", "label", "predicted"]] for m in models]
    rows = pd.concat(inputs).assign(correct=lambda f: f["label"] == f["predicted"])
    score = rows.groupby("sample").agg(label=("label", "first"), correct=("correct", "sum"), models=("correct", "size"))
    score = score[score["models"] == len(models)].sort_index()
    best = score.sort_values("correct", ascending=False, kind="stable").groupby("label").head(1)
    return {int(label): int(sample) for label, sample in sorted(zip(best["label"], best.index))}


def overlays(explanations: dict[str, pd.DataFrame], classes, kind: str) -> Figure:
    """A row per class: the input, then each model's class-activation map over it (QGrad-CAM of the
    quantum models, Grad-CAM of the classical twin), each marked with that model's prediction."""
    columns = [(f"{CAMS[_cam(explanations[m], m)]} ({_label(m)})", m, _cam(explanations[m], m))
               for m in _ordered(explanations)]
    return _sample_grid(explanations, classes, kind, columns, OVERLAY_CMAP, over_input=True)


def saliency(explanations: dict[str, pd.DataFrame], classes, kind: str) -> Figure:
    """The samples of :func:`overlays`: the input, then vanilla gradient and SmoothGrad of each model."""
    columns = [(f"{METHODS[method]} ({_label(m)})", m, method)
               for m in _ordered(explanations) for method in ("saliency", "smoothgrad")]
    return _sample_grid(explanations, classes, kind, columns, SALIENCY_CMAP, over_input=False)


def metrics(table: pd.DataFrame) -> Figure:
    """A panel per metric of one study's table rows: a bar per (model, method) with its CI
    (``lo``..``hi``), the model's random-map mean as a dashed floor across its bars."""
    _require(table, TABLE_COLUMNS, "the QGrad-CAM table")
    present = list(dict.fromkeys(table["metric"]))
    panels = [m for m in METRICS if m in present] + [m for m in present if m not in METRICS]
    methods = [m for m in METHODS if m != "random" and m in set(table["method"])]
    methods += sorted(set(table["method"]) - set(METHODS))
    colours = {m: f"C{i % 10}" for i, m in enumerate(methods)}
    groups = _metric_groups(table)
    with matplotlib.rc_context(STYLE):
        fig, axes = _grid(len(panels))
        for ax, metric in zip(axes, panels):
            rows = table[table["metric"] == metric]
            parts = [(label, rows[(rows[list(keys)] == pd.Series(keys)).all(axis=1)]) for label, keys in groups]
            parts = [(label, part) for label, part in parts if len(part)]
            for label, part in parts:
                if part["method"].duplicated().any():
                    raise ValueError(f"the QGrad-CAM table has several {metric} rows of one method for {label!r}")
            width = 0.8 / max([int((part["method"] != "random").sum()) for _, part in parts] + [1])
            for g, (_, part) in enumerate(parts):
                bars = part[part["method"] != "random"].sort_values("method", key=lambda m: m.map(methods.index))
                for k, (_, row) in enumerate(bars.iterrows()):
                    _bar(ax, g + (k - (len(bars) - 1) / 2) * width, width, row, colours[row["method"]])
                for floor in part.loc[part["method"] == "random", "mean"]:
                    ax.hlines(floor, g - 0.45, g + 0.45, colors=FLOOR_COLOUR, linestyles="--", lw=1.2, gid="random",
                              zorder=4)
            ax.set_title(_metric_title(metric, rows), loc="left")
            ax.set_xticks(range(len(parts)), [label for label, _ in parts])
            ax.set_ylabel(_ci_label(rows))
            ax.grid(axis="x", visible=False)
        handles = [Patch(color=colours[m], label=METHODS.get(m, m)) for m in methods]
        if "random" in set(table["method"]):
            handles.append(Line2D([], [], color=FLOOR_COLOUR, ls="--", label=FLOOR_LABEL))
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 5), frameon=False)
        if "name" in table.columns and table["name"].nunique() == 1:
            dataset = f" ({table['dataset'].iloc[0]})" if "dataset" in table.columns else ""
            fig.suptitle(f"Faithfulness of the explanations: {table['name'].iloc[0]}{dataset}", fontsize="medium")
    return fig


def tsne(embeddings: dict[str, pd.DataFrame], whitening: dict[str, pd.DataFrame], classes) -> Figure:
    """A row per model: the t-SNE of each layer, input to logits, points coloured by class (one
    legend), then the whitening matrix of the model's quantum (or hidden) layer output."""
    models = _ordered(embeddings)
    for model in models:
        _require(embeddings[model], EMBEDDING_COLUMNS, f"the embeddings of {model}")
    layers = {m: [layer for layer in LAYERS if layer in set(embeddings[m]["layer"])] for m in models}
    ncols = max(len(v) for v in layers.values()) + 1
    colours = _class_colours(len(classes))
    with matplotlib.rc_context(IMAGE_STYLE):
        fig = Figure(figsize=(2.3 * ncols + 0.8, 2.3 * len(models) + 0.7), layout="constrained")
        axes = fig.subplots(len(models), ncols, squeeze=False)
        for i, model in enumerate(models):
            frame = embeddings[model]
            for ax, layer in zip(axes[i], layers[model]):
                for label, points in frame[frame["layer"] == layer].groupby("label", sort=True):
                    ax.scatter(points["tsne_x"], points["tsne_y"], s=6, color=colours[label], linewidths=0,
                               gid="points")
                ax.set_title(LAYERS[layer])
                ax.set_xticks([])
                ax.set_yticks([])
            for ax in axes[i, len(layers[model]):-1]:
                ax.set_visible(False)
            axes[i, 0].set_ylabel(_label(model))
            _whitening_panel(fig, axes[i, -1], whitening.get(model))
        labels = sorted({int(v) for m in models for v in embeddings[m]["label"]})
        handles = [Line2D([], [], ls="", marker="o", color=colours[c], label=str(classes[c])) for c in labels]
        fig.legend(handles=handles, title="class", loc="outside lower center", ncols=min(len(handles), 10),
                   frameon=False)
    return fig


def curves(curves: dict[str, pd.DataFrame]) -> Figure:
    """Accuracy and loss against epoch, a colour per model, train dashed and test solid; the
    legend gives each model's final test accuracy."""
    models = _ordered(curves)
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(9.0, 4.4), layout="constrained")
        axes = fig.subplots(1, 2, sharex=True)
        for i, model in enumerate(models):
            frame = _require(curves[model], CURVE_COLUMNS, f"the curves of {model}").sort_values("epoch")
            final = f"{frame['test_accuracy'].iloc[-1]:.1%}"
            for ax, quantity in zip(axes, ("accuracy", "loss")):
                ax.plot(frame["epoch"], frame[f"train_{quantity}"], color=f"C{i % 10}", ls="--", gid="train",
                        label=f"{_label(model)}: train")
                ax.plot(frame["epoch"], frame[f"test_{quantity}"], color=f"C{i % 10}", ls="-", gid="test",
                        label=f"{_label(model)}: test (final {final})")
        for ax, quantity in zip(axes, ("accuracy", "cross-entropy loss")):
            ax.set_xlabel("epoch")
            ax.set_ylabel(quantity)
            ax.set_title(f"{quantity} (train dashed, test solid)", loc="left")
            ax.xaxis.get_major_locator().set_params(integer=True)
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=len(models),
                   frameon=False)
    return fig


# --- panels ------------------------------------------------------------------------------------

def _sample_grid(explanations: dict[str, pd.DataFrame], classes, kind: str, columns: list[tuple[str, str, str]],
                 cmap: str, over_input: bool) -> Figure:
    """A row per class of :func:`class_samples`: the input, then a (title, model, method) column
    each, the map normalised and drawn over the input when ``over_input``; mask contours on all."""
    if kind not in ("image", "speech"):
        raise ValueError(f"kind must be 'image' or 'speech', not {kind!r}")
    chosen = class_samples(explanations)
    first = explanations[_ordered(explanations)[0]]
    speech = kind == "speech"
    with matplotlib.rc_context(IMAGE_STYLE):
        size = (2.4, 1.9) if speech else (1.9, 1.9)
        fig = Figure(figsize=(size[0] * (len(columns) + 1) + 1.0, size[1] * len(chosen) + 0.4), layout="constrained")
        axes = fig.subplots(len(chosen), len(columns) + 1, squeeze=False)
        for row, (label, sample) in zip(axes, chosen.items()):
            image = _map(first, sample, "input")
            mask = _map(first, sample, "mask") if "mask" in set(first["method"]) else None
            _image(row[0], image, "gray", "input", speech)
            for ax, (_, model, method) in zip(row[1:], columns):
                if over_input:
                    _image(ax, image, "gray", "input", speech)
                shown = _image(ax, normalise(_map(explanations[model], sample, method)), cmap, "map", speech,
                               alpha=OVERLAY_ALPHA if over_input else None, vmin=0.0, vmax=1.0)
                predicted = int(_inputs(explanations[model], model).set_index("sample").at[sample, "predicted"])
                ax.text(0.03, 0.97, f"pred. {classes[predicted]}", transform=ax.transAxes, ha="left", va="top",
                        fontsize=7, gid="predicted", bbox={"facecolor": "white", "alpha": 0.75, "lw": 0, "pad": 1.2})
            if mask is not None and mask.any():
                for ax in row:
                    _outline(ax, mask)
            row[0].set_ylabel(f"{classes[label]}" + ("\nmel bin" if speech else ""))
        for ax, (title, _, _) in zip(axes[0], [("input", None, None)] + columns):
            ax.set_title(title, fontsize=8)
        for ax in axes.ravel():
            if speech:
                ax.label_outer()
                ax.xaxis.get_major_locator().set_params(integer=True)
                ax.yaxis.get_major_locator().set_params(integer=True)
            else:
                ax.set_xticks([])
                ax.set_yticks([])
        if speech:
            for ax in axes[-1]:
                ax.set_xlabel("frame")
        what = "map over the input" if over_input else "map"
        fig.colorbar(shown, ax=axes, shrink=0.6, label=f"{what}, normalised to [0, 1]")
    return fig


def _image(ax: Axes, values: np.ndarray, cmap: str, gid: str, speech: bool, **kw) -> AxesImage:
    """One (height, width) array as an image: spectrograms low mel bins at the bottom and
    stretched to the panel, images upright with square pixels."""
    image = ax.imshow(values, cmap=cmap, origin="lower" if speech else "upper", aspect="auto" if speech else "equal",
                      interpolation="nearest", **kw)
    image.set_gid(gid)
    return image


def _outline(ax: Axes, mask: np.ndarray) -> None:
    """The mask's edge as a white contour on the pixel boundaries; the mask is padded with zeros
    so that evidence at the border is closed off, and the panel keeps the image's limits."""
    limits = ax.get_xlim(), ax.get_ylim()
    rows, cols = (np.arange(-1, size + 1) for size in mask.shape)
    ax.contour(cols, rows, np.pad(mask, 1), levels=[0.5], colors="white", linewidths=1.0).set_gid("mask")
    ax.set(xlim=limits[0], ylim=limits[1])


def _bar(ax: Axes, x: float, width: float, row: pd.Series, colour: str) -> None:
    """A mean as a bar with its CI (``lo``..``hi``) as a black error bar."""
    mean = float(row["mean"])
    below, above = np.nan_to_num(np.clip([mean - row["lo"], row["hi"] - mean], 0, None))
    ax.bar(x, mean, width, color=colour, gid="bar", zorder=2)
    bars = ax.errorbar(x, mean, yerr=[[below], [above]], fmt="none", ecolor="black", elinewidth=1.0, zorder=3)
    bars.lines[2][0].set_gid("ci")


def _whitening_panel(fig: Figure, ax: Axes, frame: pd.DataFrame | None) -> None:
    """The whitening matrix as a heatmap on a diverging colour scale symmetric about zero; the
    panel is hidden when the model has none."""
    if frame is None or frame.empty:
        ax.set_visible(False)
        return
    _require(frame, WHITENING_COLUMNS, "the whitening table")
    layers = frame["layer"].unique()
    if len(layers) != 1:
        raise ValueError(f"a whitening table holds one layer's matrix; this one has {', '.join(map(str, layers))}")
    matrix = frame.pivot(index="row", columns="col", values="value").sort_index().sort_index(axis=1).to_numpy()
    limit = float(np.abs(matrix).max()) or 1.0
    image = ax.imshow(matrix, cmap=WHITENING_CMAP, vmin=-limit, vmax=limit, interpolation="nearest")
    image.set_gid("whitening")
    unit = "qubit" if str(layers[0]).startswith("quantum") else "unit"
    ax.set_title(f"whitening W: {LAYERS.get(layers[0], layers[0])}")
    ax.set_xticks(range(matrix.shape[1]))
    ax.set_yticks(range(matrix.shape[0]))
    ax.set_xlabel(unit)
    ax.set_ylabel(unit)
    fig.colorbar(image, ax=ax, shrink=0.8)


# --- helpers -----------------------------------------------------------------------------------

def _require(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> pd.DataFrame:
    """``frame``, or an error naming the columns of ``columns`` it lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {', '.join(missing)}")
    return frame


def _ordered(frames: dict) -> list[str]:
    """Model names in the order vqc, dressed, classical, then the others as given."""
    if not frames:
        raise ValueError("no models given")
    return sorted(frames, key=lambda m: MODELS.index(m) if m in MODELS else len(MODELS))


def _label(model: str) -> str:
    return MODEL_LABELS.get(model, model)


def _inputs(frame: pd.DataFrame, model: str) -> pd.DataFrame:
    """The ``input`` rows of a model's explanations table (one per explained sample)."""
    _require(frame, EXPLANATION_COLUMNS, f"the explanations of {model}")
    return frame[frame["method"] == "input"]


def _cam(frame: pd.DataFrame, model: str) -> str:
    """The class-activation method of a model's explanations (QGrad-CAM, else Grad-CAM)."""
    present = set(frame["method"])
    for method in CAMS:
        if method in present:
            return method
    raise ValueError(f"the explanations of {model} have no {' or '.join(CAMS)} rows")


def _map(frame: pd.DataFrame, sample: int, method: str) -> np.ndarray:
    """The (height, width) map of one sample and method (row-major in the table)."""
    rows = frame[(frame["sample"] == sample) & (frame["method"] == method)]
    if len(rows) != 1:
        raise ValueError(f"expected one {method!r} row of sample {sample}, found {len(rows)}")
    row = rows.iloc[0]
    return np.asarray(row["map"], dtype=np.float64).reshape(int(row["height"]), int(row["width"]))


def _metric_groups(table: pd.DataFrame) -> list[tuple[str, dict]]:
    """(tick label, column values) per bar group: a model, split by qubits and depth where the
    table has several; the label gives the test accuracy where the table has it."""
    keys = ["model"] + [c for c in ("n", "depth") if c in table.columns and table[c].nunique() > 1]
    groups = table.drop_duplicates(keys)
    groups = groups.assign(order=[MODELS.index(m) if m in MODELS else len(MODELS) for m in groups["model"]])
    out = []
    for _, row in groups.sort_values(["order"] + keys[1:], kind="stable").iterrows():
        words = [_label(row["model"])] + [f"{'n' if c == 'n' else 'L'} = {row[c]}" for c in keys[1:]]
        accuracy = f"\ntest acc. {row['test_accuracy']:.1%}" if "test_accuracy" in table.columns else ""
        out.append((", ".join(words) + accuracy, {c: row[c] for c in keys}))
    return out


def _metric_title(metric: str, rows: pd.DataFrame) -> str:
    """``deletion AUC (lower is better)``, the direction from the table's ``higher_is_better``;
    metrics of unknown direction by name only."""
    name = METRICS.get(metric, metric)
    directions = set(rows["higher_is_better"].dropna()) if "higher_is_better" in rows.columns else set()
    if len(directions) != 1:
        return name
    return f"{name}\n({'higher' if directions.pop() else 'lower'} is better{METRIC_NOTES.get(metric, '')})"


def _ci_label(rows: pd.DataFrame) -> str:
    """``mean over 50 samples, 95% bootstrap CI`` with what the table says of both."""
    samples = ""
    if "n_samples" in rows.columns:
        low, high = int(rows["n_samples"].min()), int(rows["n_samples"].max())
        samples = f" over {low}" + (f"–{high}" if high > low else "") + " samples"
    ci = f", {rows['ci'].iloc[0]:.0%} CI" if "ci" in rows.columns else ", CI"
    return "mean" + samples + ci


def _class_colours(n: int) -> list:
    """A distinct colour per class: tab10, tab20 beyond ten classes, viridis beyond twenty."""
    if n <= 20:
        return list(matplotlib.colormaps["tab10" if n <= 10 else "tab20"].colors[:n])
    return list(matplotlib.colormaps["viridis"].resampled(n)(range(n)))
