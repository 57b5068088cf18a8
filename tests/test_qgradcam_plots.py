"""QGrad-CAM figures show the tables' numbers: each class's chosen sample and its normalised map
over the input (spectrograms upright, not transposed), mask contours where the mask is, bars and
CIs equal to the table's mean, lo and hi, t-SNE points and a whitening matrix on a symmetric
colour scale, and training curves with the final test accuracy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import AxesImage

from qnnscope.plots import qgradcam as pq

CLASSES = ("zero", "one", "two", "three")  # "three" has no explained sample: no row
MODELS = ("vqc", "dressed", "classical")
LABELS = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2])
PREDICTED = {  # sample → prediction of each model
    "vqc":       [1, 0, 2, 0, 0, 2, 0, 2, 2],
    "dressed":   [1, 0, 0, 0, 2, 2, 0, 0, 2],
    "classical": [1, 2, 1, 0, 0, 2, 0, 2, 1],
}
CHOSEN = {0: 3, 1: 1, 2: 5}
"""Class 0: sample 0 is misclassified by all, 3 is right for all; class 1: no model is ever right
(first sample); class 2: sample 2 is right for the vqc only, 5 for all models."""
MASK = (slice(2, 5), slice(5, 8))  # rows 2..4, columns 5..7


def _map(model: str, sample: int, method: str, shape: tuple[int, int]) -> np.ndarray:
    """A distinct non-negative map per (model, sample, method), not already in [0, 1]."""
    rng = np.random.default_rng([MODELS.index(model), sample, len(method), sum(map(ord, method))])
    return (2.0 + 7.0 * rng.random(shape)).astype(np.float32)


def _explanations(model: str, shape=(8, 8), mask: bool = True) -> pd.DataFrame:
    cam = "gradcam" if model == "classical" else "qgradcam"
    methods = ["input"] + (["mask"] if mask else []) + [cam, "random", "saliency", "smoothgrad"]
    rows = []
    for sample, label in enumerate(LABELS):
        for method in methods:
            values = _map(model, sample, method, shape)
            if method == "input":
                values = _map("vqc", sample, "input", shape)  # every model explains the same inputs
            if method == "mask":
                values = np.zeros(shape, np.float32)
                values[MASK] = label != 1  # class 1 is the noise class: no evidence
            rows.append({"sample": sample, "label": int(label), "predicted": PREDICTED[model][sample],
                         "target": PREDICTED[model][sample], "method": method, "height": shape[0], "width": shape[1],
                         "map": values.ravel()})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def explanations() -> dict[str, pd.DataFrame]:
    return {m: _explanations(m) for m in ("classical", "dressed", "vqc")}  # any order in, vqc first out


def _expected(model: str, sample: int, method: str, shape=(8, 8)) -> np.ndarray:
    m = _map(model, sample, method, shape).astype(np.float64)
    return (m - m.min()) / (m.max() - m.min())


def _panels(fig) -> np.ndarray:
    """The image panels (axes holding an image) in grid order, as rows × columns."""
    axes = [ax for ax in fig.axes if ax.images]
    rows = sorted({round(ax.get_position().y0, 6) for ax in axes}, reverse=True)
    return np.array([[ax for ax in sorted(axes, key=lambda a: a.get_position().x0)
                      if round(ax.get_position().y0, 6) == y] for y in rows], dtype=object)


def _images(ax, gid: str) -> list[AxesImage]:
    return [im for im in ax.images if im.get_gid() == gid]


def _gid(ax, gid: str) -> list:
    return [a for a in (*ax.collections, *ax.lines, *ax.patches, *ax.texts) if a.get_gid() == gid]


def test_the_shown_sample_of_a_class_is_its_first_correct_one():
    assert pq.class_samples({"vqc": _explanations("vqc")}) == {0: 3, 1: 1, 2: 2}
    assert pq.class_samples({m: _explanations(m) for m in MODELS}) == CHOSEN  # right for all models beats right for one
    shuffled = _explanations("vqc").sample(frac=1.0, random_state=0)
    assert pq.class_samples({"vqc": shuffled}) == {0: 3, 1: 1, 2: 2}


def test_overlays_draw_each_models_normalised_map_of_the_chosen_sample_over_its_input(explanations):
    fig = pq.overlays(explanations, CLASSES, "image")
    panels = _panels(fig)
    assert panels.shape == (3, 4)
    assert [ax.get_title() for ax in panels[0]] == ["input", "QGrad-CAM (vqc)", "QGrad-CAM (dressed)",
                                                   "Grad-CAM (classical twin)"]
    assert [ax.get_ylabel() for ax in panels[:, 0]] == ["zero", "one", "two"]
    for row, (label, sample) in zip(panels, CHOSEN.items()):
        inputs = [_images(ax, "input") for ax in row]
        assert all(len(i) == 1 for i in inputs)
        for (image,) in inputs:
            np.testing.assert_array_equal(image.get_array(), _map("vqc", sample, "input", (8, 8)))
            assert image.get_cmap().name == "gray"
        assert not _images(row[0], "map")
        for ax, model in zip(row[1:], MODELS):
            (shown,) = _images(ax, "map")
            method = "gradcam" if model == "classical" else "qgradcam"
            np.testing.assert_allclose(shown.get_array(), _expected(model, sample, method), rtol=0, atol=1e-12)
            assert (shown.norm.vmin, shown.norm.vmax) == (0.0, 1.0) and 0 < shown.get_alpha() < 1
            assert ax.images.index(shown) > ax.images.index(_images(ax, "input")[0])  # drawn over the input
            (text,) = _gid(ax, "predicted")
            assert text.get_text() == f"pred. {CLASSES[PREDICTED[model][sample]]}"


def test_mask_contours_outline_the_mask_on_every_panel_of_its_row(explanations):
    panels = _panels(pq.overlays(explanations, CLASSES, "image"))
    for row, label in zip(panels, CHOSEN):
        contours = [_gid(ax, "mask") for ax in row]
        if label == 1:  # noise class: an empty mask has no contour
            assert not any(contours)
            continue
        for ax, (contour,) in zip(row, contours):
            vertices = np.concatenate([p.vertices for p in contour.get_paths()])
            # columns 5..7 along x and rows 2..4 along y, on the pixel edges (7.5: closed at the border)
            assert (vertices[:, 0].min(), vertices[:, 0].max()) == pytest.approx((4.5, 7.5))
            assert (vertices[:, 1].min(), vertices[:, 1].max()) == pytest.approx((1.5, 4.5))
            assert ax.get_xlim() == (-0.5, 7.5) and ax.get_ylim() == (7.5, -0.5)  # the image's limits kept


def test_spectrograms_are_drawn_mel_bins_up_and_frames_along_x():
    shape = (16, 12)  # mel bins × frames
    explanations = {m: _explanations(m, shape, mask=False) for m in ("vqc", "classical")}
    fig = pq.overlays(explanations, CLASSES, "speech")
    panels = _panels(fig)
    assert panels.shape == (3, 3) and pq.class_samples(explanations) == CHOSEN
    for row, sample in zip(panels, CHOSEN.values()):
        (shown,) = _images(row[1], "map")
        np.testing.assert_allclose(shown.get_array(), _expected("vqc", sample, "qgradcam", shape), atol=1e-12)
        for ax in row:
            assert all(im.origin == "lower" for im in ax.images)
            assert ax.images[0].get_extent() == [-0.5, 11.5, -0.5, 15.5]
            assert not _gid(ax, "mask")
    assert all(ax.get_xlabel() == "frame" for ax in panels[-1])
    assert [ax.get_ylabel() for ax in panels[:, 0]] == [f"{CLASSES[c]}\nmel bin" for c in CHOSEN]


def test_saliency_shows_vanilla_gradient_and_smoothgrad_of_each_model_alone(explanations):
    panels = _panels(pq.saliency(explanations, CLASSES, "image"))
    titles = ["input"] + [f"{method} ({name})" for name in ("vqc", "dressed", "classical twin")
                          for method in ("vanilla gradient", "SmoothGrad")]
    assert [ax.get_title() for ax in panels[0]] == titles
    for row, sample in zip(panels, CHOSEN.values()):
        for k, ax in enumerate(row[1:]):
            model, method = MODELS[k // 2], ("saliency", "smoothgrad")[k % 2]
            assert not _images(ax, "input")
            (shown,) = _images(ax, "map")
            np.testing.assert_allclose(shown.get_array(), _expected(model, sample, method), atol=1e-12)


def _table() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = []
    for model, cam, accuracy in (("vqc", "qgradcam", 0.93), ("dressed", "qgradcam", 0.95), ("classical", "gradcam", 0.97)):
        for metric in ("deletion_auc", "pointing_game", "randomisation_spearman"):
            methods = [cam, "saliency", "smoothgrad"] + ([] if metric == "randomisation_spearman" else ["random"])
            if metric == "randomisation_spearman" and model == "classical":
                continue
            for method in methods:
                lo, mean, hi = np.sort(rng.random(3))
                rows.append({"name": "demo", "dataset": "digits", "kind": "image", "model": model, "n": 4, "depth": 2,
                             "test_accuracy": accuracy, "method": method, "metric": metric,
                             "higher_is_better": metric == "pointing_game", "mean": mean, "lo": lo,
                             "hi": hi, "n_samples": 40, "ci": 0.95})
    return pd.DataFrame(rows)


def test_metric_bars_and_their_ci_are_the_tables_mean_lo_and_hi():
    table = _table()
    fig = pq.metrics(table)
    panels = [ax for ax in fig.axes if ax.get_visible() and _gid(ax, "bar")]
    assert [ax.get_title(loc="left") for ax in panels] == [
        "deletion AUC\n(lower is better)", "pointing game\n(higher is better)",
        "randomisation Spearman ρ\n(lower is better: the map depends on the VQC weights)"]
    untold = pq.metrics(table.drop(columns="higher_is_better"))  # a table that does not say: no direction claimed
    assert [ax.get_title(loc="left") for ax in untold.axes if ax.get_visible() and _gid(ax, "bar")] == [
        "deletion AUC", "pointing game", "randomisation Spearman ρ"]
    for ax, metric in zip(panels, ("deletion_auc", "pointing_game", "randomisation_spearman")):
        rows = table[table["metric"] == metric]
        bars = rows[rows["method"] != "random"]
        heights = sorted(p.get_height() for p in _gid(ax, "bar"))
        np.testing.assert_allclose(heights, np.sort(bars["mean"]), rtol=0, atol=1e-12)
        extents = sorted((seg[:, 1].min(), seg[:, 1].max()) for ci in _gid(ax, "ci") for seg in ci.get_segments())
        np.testing.assert_allclose(extents, sorted(zip(bars["lo"], bars["hi"])), rtol=0, atol=1e-12)
        floors = sorted(seg[0, 1] for line in _gid(ax, "random") for seg in line.get_segments())
        np.testing.assert_allclose(floors, np.sort(rows.loc[rows["method"] == "random", "mean"]), atol=1e-12)
        labels = [t.get_text() for t in ax.get_xticklabels()]
        assert labels[:2] == ["vqc\ntest acc. 93.0%", "dressed\ntest acc. 95.0%"]
        assert ax.get_ylabel() == "mean over 40 samples, 95% CI"
    # each model's floor spans its own bars
    ax = panels[0]
    for line in _gid(ax, "random"):
        (seg,) = line.get_segments()
        inside = [p for p in _gid(ax, "bar") if seg[0, 0] <= p.get_x() and p.get_x() + p.get_width() <= seg[1, 0]]
        assert len(inside) == 3
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["QGrad-CAM", "Grad-CAM", "vanilla gradient",
                                                          "SmoothGrad", "random map (floor)"]


def _embeddings(model: str) -> pd.DataFrame:
    rng = np.random.default_rng(len(model))
    middle = ("hidden_in", "hidden_out") if model == "classical" else ("quantum_in", "quantum_out")
    return pd.DataFrame([{"sample": s, "label": int(LABELS[s]), "layer": layer, "tsne_x": rng.normal(),
                          "tsne_y": rng.normal()} for layer in ("logits", "input", "cnn", *middle) for s in range(9)])


def test_tsne_rows_are_models_and_the_whitening_scale_is_symmetric():
    w = np.arange(16.0).reshape(4, 4) / 8 - 0.3  # not symmetric: a transposed heatmap would show; range −0.3..1.575
    r, c = np.indices(w.shape)
    whitening = {"vqc": pd.DataFrame({"layer": "quantum_out", "row": r.ravel(), "col": c.ravel(), "value": w.ravel()})}
    embeddings = {"classical": _embeddings("classical"), "vqc": _embeddings("vqc")}
    fig = pq.tsne(embeddings, whitening, CLASSES)
    scatters = [ax for ax in fig.axes if _gid(ax, "points")]
    assert [ax.get_title() for ax in scatters] == ["input", "CNN features", "quantum input φ", "quantum output ⟨Z⟩",
                                                   "logits", "input", "CNN features", "hidden input", "hidden output",
                                                   "logits"]
    assert scatters[0].get_ylabel() == "vqc" and scatters[5].get_ylabel() == "classical twin"
    logits = embeddings["vqc"][embeddings["vqc"]["layer"] == "logits"]
    for collection, (_, points) in zip(_gid(scatters[4], "points"), logits.groupby("label")):
        np.testing.assert_array_equal(collection.get_offsets(), points[["tsne_x", "tsne_y"]].to_numpy())
    (heat,) = [im for ax in fig.axes for im in _images(ax, "whitening")]
    np.testing.assert_array_equal(heat.get_array(), w)
    assert heat.get_clim() == (-1.575, 1.575)
    assert heat.get_cmap().name == "RdBu_r"
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["zero", "one", "two"]
    classical_whitening = [ax for ax in fig.axes if not ax.get_visible()]
    assert len(classical_whitening) == 1  # the classical twin has no whitening table here


def test_curves_are_dashed_train_and_solid_test_with_the_final_accuracy():
    epochs = np.arange(1, 6)
    curves = {m: pd.DataFrame({"epoch": epochs, "train_loss": 1 / epochs, "train_accuracy": 1 - 0.5 / epochs,
                               "test_loss": 1.2 / epochs, "test_accuracy": acc - 0.4 / epochs, "wall_time_s": 1.0})
              for m, acc in (("classical", 1.0), ("vqc", 0.98))}
    fig = pq.curves(curves)
    accuracy, loss = fig.axes
    assert [line.get_label() for line in accuracy.lines] == ["vqc: train", "vqc: test (final 90.0%)",
                                                             "classical twin: train", "classical twin: test (final 92.0%)"]
    for ax, quantity in ((accuracy, "accuracy"), (loss, "loss")):
        for line in ax.lines:
            model = "vqc" if line.get_label().startswith("vqc") else "classical"
            assert line.get_linestyle() == ("--" if line.get_gid() == "train" else "-")
            np.testing.assert_array_equal(line.get_ydata(), curves[model][f"{line.get_gid()}_{quantity}"])
    (legend,) = fig.legends
    assert len(legend.get_texts()) == 4


def test_figures_save_as_png_and_pdf(explanations, tmp_path):
    paths = pq.save(pq.overlays(explanations, CLASSES, "image"), tmp_path / "figures" / "overlays")
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths[1].read_bytes()[:5] == b"%PDF-"


def test_unknown_kind_and_missing_columns_are_named(explanations):
    with pytest.raises(ValueError, match="kind must be"):
        pq.overlays(explanations, CLASSES, "video")
    with pytest.raises(ValueError, match="lacks column"):
        pq.metrics(_table().drop(columns="lo"))
