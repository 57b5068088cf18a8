"""Figures of loss-landscape scans, from a scan's grid table (:func:`qnnscope.landscapes.run_scan`)
and the landscapes table (rows of :func:`qnnscope.landscapes.landscape_metrics`).

* :func:`scan_figure`: one scan.  1D: the cost and |∇C| (log y) against the coordinate; 2D: a
  filled contour of the cost with the training path on it (PCA scans), the cost surface in 3D
  and |∇C| on a log colour scale; and the sorted Hessian eigenvalues at the centre when given;
* :func:`cross_sections`: 2D cost contours on one colour scale (0..1 for costs in [0, 1]), a
  row per label such as the qubit count, a column per label such as the cost (Cerezo et al.
  2021, Fig. 2: the narrow gorge of the global cost of ⊗RX(θ_j) beside the local cost);
* :func:`hessian_spectra`: the Hessian eigenvalues at the scan centre, one marker row per
  model point, on a symlog axis.

Artists carry gids for tests: ``cost`` (the cost contour, or the cost line of a 1D scan),
``surface``, ``grad_norm`` (contour or line), ``path``, ``path_start``, ``path_end`` and
``spectrum`` (eigenvalue markers).
"""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm, Normalize
from matplotlib.contour import QuadContourSet
from matplotlib.figure import Figure
from matplotlib.ticker import (
    FuncFormatter,
    LogFormatterSciNotation,
    LogLocator,
    MaxNLocator,
    MultipleLocator,
)

from qnnscope.gradients.point import POINT_COLUMNS
from qnnscope.landscapes import Scan, grid_scan
from qnnscope.plots.gradients import MINUS, STYLE, save

__all__ = ["cross_sections", "hessian_spectra", "save", "scan_figure"]

COST_BANDS = 20
"""Bands of a filled cost contour, at most (their edges are round numbers)."""
GRAD_DECADES = 6
"""The |∇C| colour scale spans this many decades below the largest value; smaller values (the
exact zeros at stationary points) are shown in its lowest band."""
LINEAR_FRACTION = 1e-3
"""Symlog axes of eigenvalues are linear within this fraction of the largest |λ| (null directions)."""
ORDER_COLUMNS = ("model", "ansatz", "widths", "n_qubits", "depth", "cost_function", "centre")
"""Columns that order the rows of :func:`hessian_spectra`."""
SPECTRA_REQUIRED = ("n_qubits", "depth", "cost_function", "centre", "hessian_spectrum")
"""Columns :func:`hessian_spectra` reads."""


def scan_figure(grid: pd.DataFrame, title: str, spectrum=None, direction: str | None = None,
                radians: bool = True) -> Figure:
    """One scan of a grid table: cost and |∇C| (1D lines or 2D contour, 3D surface and |∇C|
    contour with the training path on the cost), plus a panel of the sorted Hessian eigenvalues
    when ``spectrum`` is non-empty.  ``direction`` (the scan's direction kind) names the axes;
    ``radians`` False for coordinates that are not angles (hybrid models' weights)."""
    result = grid_scan(grid)
    path = grid[grid["kind"] == "path"].sort_values("step")
    eig = np.sort(np.asarray([] if spectrum is None else spectrum, dtype=np.float64))
    labels, angles = _coordinates(direction, len(result.axes), radians)
    with matplotlib.rc_context(STYLE):
        if len(result.axes) == 1:
            mosaic = [["cost", "spectrum"], ["grad_norm", "spectrum"]] if len(eig) else [["cost"], ["grad_norm"]]
            fig = Figure(figsize=(4.6 * len(mosaic[0]), 5.6), layout="constrained")
            axes = fig.subplot_mosaic(mosaic)
            _lines(axes["cost"], axes["grad_norm"], result, labels[0], angles)
        else:
            mosaic = [["cost", "surface", "grad_norm"] + (["spectrum"] if len(eig) else [])]
            fig = Figure(figsize=(4.8 * len(mosaic[0]), 4.2), layout="constrained")
            axes = fig.subplot_mosaic(mosaic, per_subplot_kw={"surface": {"projection": "3d"}})
            levels = _cost_levels(result.cost.min(), result.cost.max())
            norm = Normalize(levels[0], levels[-1])
            contour = _cost_contour(axes["cost"], result, levels, norm, labels, angles)
            fig.colorbar(contour, ax=axes["cost"], label="cost C")
            if not path.empty:
                _path(axes["cost"], path)
            _surface(axes["surface"], result, norm, labels, angles)
            _grad_contour(fig, axes["grad_norm"], result, labels, angles)
        if len(eig):
            _spectrum_panel(axes["spectrum"], eig)
        fig.suptitle(title, fontsize="medium")
    return fig


def cross_sections(grids: list[tuple[str, str, pd.DataFrame]], direction: str | None = None,
                   radians: bool = True) -> Figure:
    """2D cost contours of (row label, column label, grid table) triples on a grid of panels, all
    on one colour scale (0..1, widened to hold any cost outside it); axes α₁, α₂ in radians (PCA
    coordinates for ``direction`` ``pca``)."""
    if not grids:
        raise ValueError("cross_sections: needs at least one (row label, column label, grid) triple")
    rows = list(dict.fromkeys(r for r, _, _ in grids))
    cols = list(dict.fromkeys(c for _, c, _ in grids))
    scans = {}
    for r, c, grid in grids:
        if (r, c) in scans:
            raise ValueError(f"cross_sections: two grids are labelled ({r!r}, {c!r})")
        scans[r, c] = grid_scan(grid)
        if len(scans[r, c].axes) != 2:
            raise ValueError(f"cross_sections: the grid labelled ({r!r}, {c!r}) is a 1D scan; panels need 2D scans")
    levels = _cost_levels(min(0.0, *(s.cost.min() for s in scans.values())), max(1.0, *(s.cost.max() for s in scans.values())))
    norm = Normalize(levels[0], levels[-1])
    labels, angles = _coordinates(direction, 2, radians)
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(3.3 * len(cols) + 1.0, 3.1 * len(rows)), layout="constrained")
        axes = fig.subplots(len(rows), len(cols), squeeze=False, sharex=True, sharey=True)
        for (r, c), result in scans.items():
            i, j = rows.index(r), cols.index(c)
            contour = _cost_contour(axes[i, j], result, levels, norm, labels, angles)
            axes[i, j].set_title(f"{r}, {c}")
            axes[i, j].set_xlabel(labels[0] if i == len(rows) - 1 else "")
            axes[i, j].set_ylabel(labels[1] if j == 0 else "")
        for ax in axes.ravel():
            ax.set_visible(bool(ax.collections))
        fig.colorbar(contour, ax=axes, label="cost C", shrink=0.9)
    return fig


def hessian_spectra(table: pd.DataFrame) -> Figure:
    """The Hessian eigenvalues at the scan centre of each model point of a landscapes table, one
    marker row per point (rows with an empty spectrum, points above ``hessian_max_qubits``,
    are left out), on a symlog axis linear near zero."""
    missing = [c for c in SPECTRA_REQUIRED if c not in table.columns]
    if missing:
        raise ValueError(f"the landscapes table lacks column(s) {', '.join(missing)}")
    keys = [c for c in POINT_COLUMNS + ("centre",) if c in table.columns]  # scans sharing these share the spectrum
    rows = table[[len(_eigenvalues(v)) > 0 for v in table["hessian_spectrum"]]]
    rows = rows.drop_duplicates(keys).sort_values([c for c in ORDER_COLUMNS if c in rows.columns])
    varying = [c for c in keys if c not in SPECTRA_REQUIRED and rows[c].nunique(dropna=False) > 1]
    named = "name" in table.columns and table["name"].nunique() == 1
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(6.4, 1.6 + 0.38 * max(len(rows), 1)), layout="constrained")
        ax = fig.subplots()
        ax.set_title(f"Hessian spectra at the scan centres{': ' + str(table['name'].iloc[0]) if named else ''}", loc="left")
        if rows.empty:
            ax.text(0.5, 0.5, "no Hessian spectra (every point is above hessian_max_qubits)", ha="center",
                    va="center", transform=ax.transAxes)
            return fig
        colours = {cost: f"C{k % 10}" for k, cost in enumerate(dict.fromkeys(rows["cost_function"]))}
        spectra = [np.sort(_eigenvalues(v)) for v in rows["hessian_spectrum"]]
        ax.set_xscale("symlog", linthresh=_linthresh(np.concatenate(spectra)))
        for i, (eig, cost) in enumerate(zip(spectra, rows["cost_function"])):
            ax.plot(eig, np.full(len(eig), i), ls="", marker="|", ms=11, mew=1.6, color=colours[cost], gid="spectrum")
        ax.set_yticks(range(len(rows)), [_point_label(row, varying) for _, row in rows.iterrows()])
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.axvline(0.0, color="0.5", lw=0.8)
        ax.set_xlabel("Hessian eigenvalue λ (symlog)")
        ax.grid(axis="y", visible=False)
    return fig


# --- panels ------------------------------------------------------------------------------------

def _lines(cost_ax: Axes, grad_ax: Axes, result: Scan, label: str, angles: bool) -> None:
    """A 1D scan: the cost above, |∇C| on a log axis below, sharing the coordinate axis."""
    x = result.axes[0]
    cost_ax.plot(x, result.cost, color="C0", gid="cost")
    cost_ax.set_ylabel("cost C")
    grad_ax.sharex(cost_ax)
    grad_ax.plot(x, result.grad_norm, color="C3", gid="grad_norm")
    grad_ax.set_yscale("log")
    grad_ax.set_ylabel(r"$|\nabla C|$")
    grad_ax.set_xlabel(label)
    cost_ax.tick_params(labelbottom=False)
    if angles:
        _pi_ticks(grad_ax.xaxis, x)


def _cost_contour(ax: Axes, result: Scan, levels: np.ndarray, norm: Normalize, labels: list[str],
                  angles: bool) -> QuadContourSet:
    """Filled contour of a 2D scan's cost, first coordinate along x; costs are clipped to the
    levels, which cover them to 1e-9 (float noise above 1 would leave holes)."""
    a, b = result.axes
    contour = ax.contourf(a, b, np.clip(result.cost, levels[0], levels[-1]).T, levels=levels, norm=norm, cmap="viridis")
    contour.set_gid("cost")
    _plane(ax, result, labels, angles)
    return contour


def _grad_contour(fig: Figure, ax: Axes, result: Scan, labels: list[str], angles: bool) -> None:
    """Filled contour of |∇C| on a log colour scale from its smallest positive value, or from
    ``GRAD_DECADES`` decades below its largest where that is higher (values below in the lowest band)."""
    a, b = result.axes
    floor, top = _grad_range(result.grad_norm)
    contour = ax.contourf(a, b, np.clip(result.grad_norm, floor, None).T, levels=np.geomspace(floor, top, 25),
                          norm=LogNorm(floor, top), cmap="magma")
    contour.set_gid("grad_norm")
    _plane(ax, result, labels, angles)
    clipped = rf" (below $10^{{-{GRAD_DECADES}}}\,$max: lowest band)" if result.grad_norm.min() < floor else ""
    ticks = LogLocator(subs=(1.0, 2.0, 5.0) if top / floor < 100 else (1.0,))  # short ranges: 1, 2, 5 per decade
    fig.colorbar(contour, ax=ax, label=r"$|\nabla C|$" + clipped, ticks=ticks,
                 format=LogFormatterSciNotation(labelOnlyBase=False))


def _surface(ax: Axes, result: Scan, norm: Normalize, labels: list[str], angles: bool) -> None:
    """The cost as a 3D surface over the scan plane, coloured like the contour."""
    mesh = np.meshgrid(*result.axes, indexing="ij")
    surface = ax.plot_surface(*mesh, result.cost, cmap="viridis", norm=norm, linewidth=0, antialiased=False)
    surface.set_gid("surface")
    ax.set_zlabel("cost C")
    ax.set_box_aspect(None, zoom=0.8)  # room for the axis labels
    _plane(ax, result, labels, angles)


def _plane(ax: Axes, result: Scan, labels: list[str], angles: bool) -> None:
    """Axis labels of a scan-plane panel, with ticks at multiples of π for angles."""
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    if angles:
        _pi_ticks(ax.xaxis, result.axes[0])
        _pi_ticks(ax.yaxis, result.axes[1])


def _path(ax: Axes, path: pd.DataFrame) -> None:
    """The training path projected on the scan plane: a white line, its start and end marked and
    their training costs in the legend."""
    a, b, cost = path["a"].to_numpy(), path["b"].to_numpy(), path["cost"].to_numpy()
    outline = [patheffects.withStroke(linewidth=2.6, foreground="black")]
    ax.plot(a, b, color="white", lw=1.2, path_effects=outline, gid="path", label="training path")
    ax.plot(a[:1], b[:1], ls="", marker="o", color="white", mec="black", gid="path_start",
            label=f"start (step {int(path['step'].iloc[0])}), C = {cost[0]:.3g}")
    ax.plot(a[-1:], b[-1:], ls="", marker="*", ms=11, color="tab:red", mec="black", gid="path_end",
            label=f"end (step {int(path['step'].iloc[-1])}), C = {cost[-1]:.3g}")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)


def _spectrum_panel(ax: Axes, eig: np.ndarray) -> None:
    """Ascending Hessian eigenvalues at the scan centre against their rank, symlog y."""
    ax.set_yscale("symlog", linthresh=_linthresh(eig))
    ax.plot(np.arange(1, len(eig) + 1), eig, ls="", marker="o", color="C2", gid="spectrum")
    ax.axhline(0.0, color="0.5", lw=0.8)
    ax.set_xlabel("rank (ascending)")
    ax.set_ylabel("Hessian eigenvalue λ at the centre")
    ax.xaxis.get_major_locator().set_params(integer=True)


# --- helpers -----------------------------------------------------------------------------------

def _coordinates(direction: str | None, dims: int, radians: bool = True) -> tuple[list[str], bool]:
    """Axis labels of a scan's coordinates and whether they are angles (ticks at multiples of π):
    t from initial (0) to trained (1) on a segment, PCA coordinates, else α₁, α₂."""
    unit = " (rad)" if radians else ""
    if direction == "segment":
        return ["t  (0: initial, 1: trained)"], False
    if direction == "pca":
        return [f"PC{k} coordinate{unit}" for k in "₁₂"[:dims]], False
    return ([f"α{unit}"] if dims == 1 else [f"α₁{unit}", f"α₂{unit}"]), radians


def _pi_ticks(axis, values: np.ndarray) -> None:
    """Ticks at multiples of π/2, labelled ``−π``, ``π/2``, …, on an angle axis spanning π or more."""
    if np.ptp(values) < np.pi:
        return
    axis.set_major_locator(MultipleLocator(np.pi / 2))
    axis.set_major_formatter(FuncFormatter(_pi_label))


def _pi_label(x: float, _) -> str:
    """``−π``, ``−π/2``, ``0``, ``3π/2``: a tick at a multiple of π/2."""
    k = round(x / (np.pi / 2))
    if k == 0:
        return "0"
    multiple, over = (k // 2, "") if k % 2 == 0 else (k, "/2")
    return ({1: "", -1: "-"}.get(multiple, str(multiple)) + "π" + over).replace("-", MINUS)


def _cost_levels(lo: float, hi: float) -> np.ndarray:
    """About ``COST_BANDS`` contour bands at round values covering [lo, hi] rounded to 1e-9
    (0, 0.05, …, 1 for [0, 1])."""
    lo, hi = round(float(lo), 9), round(float(hi), 9)
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    return MaxNLocator(COST_BANDS).tick_values(lo, hi)


def _grad_range(grad_norm: np.ndarray) -> tuple[float, float]:
    """(floor, top) of the |∇C| colour scale; (1e-6, 1) for an all-zero gradient."""
    top = float(grad_norm.max()) if grad_norm.max() > 0 else 1.0
    positive = grad_norm[grad_norm > 0]
    floor = max(float(positive.min()) if len(positive) else 0.0, top * 10.0**-GRAD_DECADES)
    return (floor, top) if top > floor else (top / 10, top)


def _linthresh(values: np.ndarray) -> float:
    """A power of ten near ``LINEAR_FRACTION`` × max|λ| (1e-3 for an all-zero spectrum)."""
    top = float(np.abs(values).max()) if len(values) else 0.0
    return 10.0 ** math.floor(math.log10(top * LINEAR_FRACTION)) if top > 0 else 1e-3


def _eigenvalues(value) -> np.ndarray:
    """A ``hessian_spectrum`` cell (list, array or missing) as a float array."""
    return np.empty(0) if value is None else np.asarray(value, dtype=np.float64).ravel()


def _point_label(row: pd.Series, varying: list[str]) -> str:
    """``n = 3, L = 2, local, centre trained``, led by the model and ansatz and followed by the
    other point columns (``init normal``) where the rows differ in them."""
    names = [str(row[c]) for c in varying if c in ("model", "ansatz")]
    words = [f"n = {row['n_qubits']}", f"L = {row['depth']}", str(row["cost_function"]), f"centre {row['centre']}"]
    return ", ".join(names + words + [f"{c} {row[c]}" for c in varying if c not in ("model", "ansatz")])
