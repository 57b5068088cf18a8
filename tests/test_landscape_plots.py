"""Landscape figures show the scans' numbers: contours and surfaces of the grid's cost, the
training path's rows, one colour scale across cross-sections, each point's Hessian spectrum; and
the Snakemake adapters write them as PNG and PDF."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from qnnscope import landscapes as ls
from qnnscope.gradients.point import GradientPoint
from qnnscope.plots import landscapes as pl

ROOT = Path(__file__).resolve().parents[1]
BASE_SEED = 0


def _gorge_spec(n: int, cost: str, dims: int = 2, direction: str = "halves", **kw) -> ls.ScanSpec:
    """A scan of ⊗RX(θ_j) around θ = 0; n odd, so the halves (⌈n/2⌉ and ⌊n/2⌋ angles) differ and
    the landscape is not symmetric under α₁ ↔ α₂ (a transposed panel would show)."""
    return ls.ScanSpec(GradientPoint("rx_product", n, 1, cost=cost, dtype="complex128"), centre="zero",
                       direction=direction, dims=dims, resolution=21, **kw)


def _row(spec: ls.ScanSpec, grid: pd.DataFrame, info: dict, trajectory=None) -> dict:
    """A landscapes-table row: the point columns, the scan's labels and its metrics."""
    labels = {"centre": spec.centre, "direction": spec.direction, "dims": spec.dims, "name": "demo"}
    return spec.point.columns() | labels | ls.landscape_metrics(spec, grid, info, BASE_SEED, trajectory)


@pytest.fixture(scope="module")
def gorges() -> dict:
    """Grid tables of the halves cross-section at n = 5 and 9, global and local cost."""
    return {(n, cost): ls.run_scan(_gorge_spec(n, cost), BASE_SEED)[0] for n in (5, 9) for cost in ("global", "local")}


@pytest.fixture(scope="module")
def trained() -> tuple[pd.DataFrame, dict]:
    """A PCA scan around the end of a training run of a 3-qubit HEA (grid with path rows) and its metrics row."""
    spec = ls.ScanSpec(GradientPoint("hea", 3, 2, cost="local", dtype="complex128"), centre="trained",
                       direction="pca", dims=2, resolution=21)
    trajectory, _ = ls.train_point(spec, 30, "Adam", 0.1, BASE_SEED)
    grid, info = ls.run_scan(spec, BASE_SEED, trajectory)
    return grid, _row(spec, grid, info, trajectory)


def _plane(grid: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a values, b values, Z[b, a]) of a grid table's ``column``, by pivoting its rows."""
    table = grid[grid["kind"] == "grid"].pivot(index="b", columns="a", values=column)
    return table.columns.to_numpy(), table.index.to_numpy(), table.to_numpy()


def _assert_contours_of(contour, x, y, z) -> None:
    """``contour`` is the filled contour of z over (x, y): its levels cover z (to float noise), and
    its polygons are those that matplotlib draws for z at the same levels."""
    lo, hi = contour.levels[0], contour.levels[-1]
    assert lo <= z.min() + 1e-9 and hi >= z.max() - 1e-9
    z = np.clip(z, lo, hi)
    reference = Figure().subplots().contourf(x, y, z, levels=contour.levels, norm=contour.norm)
    assert len(contour.get_paths()) == len(reference.get_paths())
    for got, want in zip(contour.get_paths(), reference.get_paths()):
        np.testing.assert_allclose(got.vertices, want.vertices, rtol=0, atol=1e-12)


def _artists(fig: Figure, gid: str) -> list:
    return [a for ax in fig.axes for a in (*ax.lines, *ax.collections) if a.get_gid() == gid]


def _artist(fig: Figure, gid: str):
    (artist,) = _artists(fig, gid)
    return artist


def test_2d_scan_contours_and_surfaces_the_grid_cost(gorges):
    grid = gorges[5, "global"]
    fig = pl.scan_figure(grid, "rx_product n = 5, global", None, "halves")
    a, b, cost = _plane(grid, "cost")
    contour = _artist(fig, "cost")
    _assert_contours_of(contour, a, b, cost)
    ax = contour.axes
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("α₁ (rad)", "α₂ (rad)")
    assert [ax.xaxis.get_major_formatter()(x, 0) for x in (-np.pi, -np.pi / 2, 0, np.pi)] == ["−π", "−π/2", "0", "π"]

    surface = _artist(fig, "surface")
    assert surface.axes.name == "3d"
    corners = (cost[:-1, :-1] + cost[1:, :-1] + cost[:-1, 1:] + cost[1:, 1:]) / 4  # one face per grid cell
    np.testing.assert_allclose(np.sort(surface.get_array()), np.sort(corners.ravel()), atol=1e-12)
    assert (surface.norm.vmin, surface.norm.vmax) == (contour.norm.vmin, contour.norm.vmax)
    assert not _artists(fig, "spectrum") and not _artists(fig, "path")
    assert fig.get_suptitle() == "rx_product n = 5, global"


def test_2d_scan_shows_the_gradient_norm_on_a_log_colour_scale(gorges):
    grid = gorges[5, "global"]
    a, b, grad = _plane(grid, "grad_norm")
    contour = _artist(pl.scan_figure(grid, "t", direction="halves"), "grad_norm")
    assert isinstance(contour.norm, LogNorm) and contour.norm.vmax == grad.max()
    # exact zero at θ = 0: the scale starts GRAD_DECADES below the maximum, the zero in the lowest band
    floor = max(grad[grad > 0].min(), grad.max() * 10.0**-pl.GRAD_DECADES)
    assert grad.min() == 0 and contour.norm.vmin == pytest.approx(floor)
    _assert_contours_of(contour, a, b, np.clip(grad, floor, None))


def test_the_training_path_is_drawn_on_the_cost_contour_in_step_order(trained):
    grid, metrics = trained
    path = grid[grid["kind"] == "path"]
    assert len(path) == 31
    shuffled = pd.concat([grid[grid["kind"] == "grid"], path.sample(frac=1.0, random_state=1)], ignore_index=True)
    fig = pl.scan_figure(shuffled, "hea", metrics["hessian_spectrum"], "pca")
    line, start, end = (_artist(fig, gid) for gid in ("path", "path_start", "path_end"))
    assert line.axes is _artist(fig, "cost").axes
    np.testing.assert_array_equal(line.get_xdata(), path["a"])
    np.testing.assert_array_equal(line.get_ydata(), path["b"])
    assert (start.get_xdata()[0], start.get_ydata()[0]) == (path["a"].iloc[0], path["b"].iloc[0])
    np.testing.assert_allclose([end.get_xdata()[0], end.get_ydata()[0]], 0.0, atol=1e-12)  # PCA plane: centred at the end
    legend = [t.get_text() for t in line.axes.get_legend().get_texts()]
    assert legend[1].endswith(f"C = {path['cost'].iloc[0]:.3g}") and legend[2].endswith(f"C = {path['cost'].iloc[-1]:.3g}")
    assert line.axes.get_xlabel() == "PC₁ coordinate (rad)"
    _assert_contours_of(_artist(fig, "cost"), *_plane(grid, "cost"))


def test_a_given_spectrum_gets_a_panel_of_sorted_eigenvalues(trained):
    grid, metrics = trained
    eig = np.asarray(metrics["hessian_spectrum"])
    assert len(eig) == 12 and eig.min() < 0 < eig.max()
    spectrum = _artist(pl.scan_figure(grid, "hea", eig[::-1], "pca"), "spectrum")
    np.testing.assert_array_equal(spectrum.get_xdata(), np.arange(1, 13))
    np.testing.assert_array_equal(spectrum.get_ydata(), np.sort(eig))
    assert spectrum.axes.get_yscale() == "symlog"


def test_1d_scan_plots_cost_and_log_gradient_norm_against_the_coordinate():
    spec = _gorge_spec(4, "global", dims=1, direction="random")
    grid, info = ls.run_scan(spec, BASE_SEED)
    rows = grid[grid["kind"] == "grid"]
    fig = pl.scan_figure(grid, "1D", [], "random")
    cost, grad = _artist(fig, "cost"), _artist(fig, "grad_norm")
    for line, column in ((cost, "cost"), (grad, "grad_norm")):
        np.testing.assert_array_equal(line.get_xdata(), rows["a"])
        np.testing.assert_array_equal(line.get_ydata(), rows[column])
    assert grad.axes.get_yscale() == "log" and grad.axes.get_xlabel() == "α (rad)"
    assert grad.axes.get_shared_x_axes().joined(grad.axes, cost.axes)
    assert len(fig.axes) == 2  # an empty spectrum: no panel
    eig = _row(spec, grid, info)["hessian_spectrum"]
    with_spectrum = pl.scan_figure(grid, "1D", eig, "random")
    assert len(with_spectrum.axes) == 3
    np.testing.assert_array_equal(_artist(with_spectrum, "spectrum").get_ydata(), np.sort(eig))
    segment = pl.scan_figure(grid, "segment", None, "segment")
    assert _artist(segment, "grad_norm").axes.get_xlabel().startswith("t ")


def test_cross_sections_share_one_cost_scale_from_0_to_1(gorges):
    order = [(9, "global"), (9, "local"), (5, "global"), (5, "local")]
    fig = pl.cross_sections([(f"n = {n}", f"{cost} cost", gorges[n, cost]) for n, cost in order])
    contours = _artists(fig, "cost")
    assert [c.axes.get_title() for c in contours] == [f"n = {n}, {cost} cost" for n, cost in order]
    for contour, key in zip(contours, order):
        _assert_contours_of(contour, *_plane(gorges[key], "cost"))
        assert (contour.norm.vmin, contour.norm.vmax) == (0.0, 1.0)
        np.testing.assert_array_equal(contour.levels, contours[0].levels)
    (colourbar,) = [ax for ax in fig.axes if ax not in [c.axes for c in contours]]
    assert colourbar.get_ylabel() == "cost C"
    assert [c.axes.get_xlabel() for c in contours] == ["", "", "α₁ (rad)", "α₁ (rad)"]
    assert [c.axes.get_ylabel() for c in contours] == ["α₂ (rad)", "", "α₂ (rad)", ""]
    # the gorge: the global cost at n = 9 is near 1 on more of the plane than at n = 5; the local cost is not
    flat = {key: np.mean(_plane(gorges[key], "cost")[2] > 0.9) for key in order}
    assert flat[9, "global"] > flat[5, "global"] > 0.5 > flat[9, "local"]


def test_cross_sections_hide_missing_panels_name_pca_axes_and_refuse_bad_input(gorges):
    fig = pl.cross_sections([("n = 5", "global", gorges[5, "global"]), ("n = 5", "local", gorges[5, "local"]),
                             ("n = 9", "global", gorges[9, "global"])])
    assert sum(ax.get_visible() for ax in fig.axes) == 4  # three panels and the colour bar
    with pytest.raises(ValueError, match="two grids are labelled"):
        pl.cross_sections([("n = 5", "global", gorges[5, "global"])] * 2)
    pca = pl.cross_sections([("n = 5", "global", gorges[5, "global"])], "pca")
    assert pca.axes[0].get_xlabel() == "PC₁ coordinate (rad)" and pca.axes[0].get_ylabel() == "PC₂ coordinate (rad)"
    one_d = ls.run_scan(_gorge_spec(4, "global", dims=1), BASE_SEED)[0]
    with pytest.raises(ValueError, match="1D scan"):
        pl.cross_sections([("n = 4", "global", one_d)])


@pytest.fixture(scope="module")
def table(gorges, trained, tmp_path_factory) -> pd.DataFrame:
    """A landscapes table, through Parquet: three points with spectra, one point again with another
    direction (same centre, same spectrum) and one above ``hessian_max_qubits`` (empty spectrum)."""
    rows = [trained[1]]
    for cost in ("global", "local"):
        spec = _gorge_spec(5, cost)
        rows.append(_row(spec, gorges[5, cost], {}))
    axes = _gorge_spec(5, "global", direction="axes")
    rows.append(_row(axes, ls.run_scan(axes, BASE_SEED)[0], {}))
    too_big = _gorge_spec(9, "global", hessian_max_qubits=8)
    rows.append(_row(too_big, gorges[9, "global"], {}))
    path = tmp_path_factory.mktemp("table") / "landscapes.parquet"
    pd.DataFrame(rows).to_parquet(path)
    return pd.read_parquet(path)


def test_hessian_spectra_has_one_marker_row_per_point_with_its_eigenvalues(table):
    assert [len(s) for s in table["hessian_spectrum"]] == [12, 5, 5, 5, 0]
    before = plt.get_fignums()
    fig = pl.hessian_spectra(table)
    assert plt.get_fignums() == before  # no pyplot state
    (ax,) = fig.axes
    assert ax.get_xscale() == "symlog"
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "hea, n = 3, L = 2, local, centre trained",
        "rx_product, n = 5, L = 1, global, centre zero",
        "rx_product, n = 5, L = 1, local, centre zero",
    ]
    markers = _artists(fig, "spectrum")
    for i, (line, row) in enumerate(zip(markers, table.iloc[[0, 1, 2]].itertuples())):
        np.testing.assert_array_equal(line.get_xdata(), np.sort(row.hessian_spectrum))
        np.testing.assert_array_equal(line.get_ydata(), i)
    # ⊗RX at θ = 0: H = diag(1/2) for the global cost, diag(1/(2n)) for the local one
    np.testing.assert_allclose(markers[1].get_xdata(), 0.5, atol=1e-12)
    np.testing.assert_allclose(markers[2].get_xdata(), 0.1, atol=1e-12)
    assert ax.get_title(loc="left") == "Hessian spectra at the scan centres: demo"


def test_hessian_spectra_name_the_point_columns_that_differ(table):
    other_init = table.iloc[[1]].assign(init="normal")  # another point: its own row, named by its init
    (ax,) = pl.hessian_spectra(pd.concat([table, other_init], ignore_index=True)).axes
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 4 and {"rx_product, n = 5, L = 1, global, centre zero, init normal",
                                 "rx_product, n = 5, L = 1, global, centre zero, init uniform"} < set(labels)


def test_hessian_spectra_says_when_no_point_has_one(table):
    fig = pl.hessian_spectra(table[[len(s) == 0 for s in table["hessian_spectrum"]]])
    assert not _artists(fig, "spectrum")
    assert "no Hessian spectra" in fig.axes[0].texts[0].get_text()
    with pytest.raises(ValueError, match="lacks column.*hessian_spectrum"):
        pl.hessian_spectra(table.drop(columns="hessian_spectrum"))


def test_save_writes_non_empty_png_and_pdf(gorges, tmp_path):
    paths = pl.save(pl.scan_figure(gorges[5, "local"], "local"), tmp_path / "figs" / "scan")
    assert paths == [tmp_path / "figs" / "scan.png", tmp_path / "figs" / "scan.pdf"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths[1].read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["scan.pdf", "scan.png"]  # no temporaries left


RUNNER = """
import json, runpy, sys
from types import SimpleNamespace as NS
for job in json.loads(sys.argv[1]):
    inputs = NS(**job["input"]) if isinstance(job["input"], dict) else job["input"]
    snakemake = NS(input=inputs, params=NS(**job["params"]), output=NS(**job["output"]), log=[job["log"]],
                   wildcards=NS(**job["wildcards"]))
    runpy.run_path(job["script"], init_globals={"snakemake": snakemake}, run_name="__main__")
"""


def test_the_snakemake_adapters_write_each_figure_and_refuse_an_unknown_study(gorges, trained, table, tmp_path):
    grid, metrics = trained
    files = {"grid": tmp_path / "grid.parquet", "metrics": tmp_path / "metrics.parquet", "table": tmp_path / "t.parquet"}
    grid.to_parquet(files["grid"])
    pd.DataFrame([metrics]).to_parquet(files["metrics"])
    table.to_parquet(files["table"])
    labels = [("n = 5", "global cost"), ("n = 9", "local cost")]
    for (row, col), key in zip(labels, [(5, "global"), (9, "local")]):
        gorges[key].to_parquet(tmp_path / f"{key[0]}_{key[1]}.parquet")

    def job(script, inputs, params, stem, wildcards=None):
        out = {ext: str(tmp_path / "figures" / f"{stem}.{ext}") for ext in ("png", "pdf")}
        return {"script": str(ROOT / "scripts" / script), "input": inputs, "params": params, "output": out,
                "log": str(tmp_path / "logs" / f"{stem}.log"), "wildcards": wildcards or {}}

    jobs = [
        job("landscape_figure.py", {"grid": str(files["grid"]), "metrics": str(files["metrics"])}, {"title": "hea"}, "scan"),
        job("landscape_cross_sections.py", [str(tmp_path / "5_global.parquet"), str(tmp_path / "9_local.parquet")],
            {"labels": [list(pair) for pair in labels]}, "cross", {"direction": "halves"}),
        job("landscape_hessian_figure.py", {"table": str(files["table"])}, {"name": "demo"}, "hessian"),
    ]
    unknown = job("landscape_hessian_figure.py", {"table": str(files["table"])}, {"name": "nope"}, "nope")
    done = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(jobs + [unknown])], capture_output=True, text=True, check=False)
    for j in jobs:
        for path in j["output"].values():
            assert Path(path).stat().st_size > 0, done.stderr
        assert "wrote" in Path(j["log"]).read_text()
    assert done.returncode != 0 and "'nope' has no rows" in Path(unknown["log"]).read_text()
