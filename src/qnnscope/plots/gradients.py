"""Figures of gradient-variance sweeps, from the summary table (``results/tables/gradients.parquet``)
and the scaling fits (``results/tables/scaling_fits.parquet``); schemas in ``docs/schemas.md``.

* :func:`variance_vs_qubits`: Var against n per (ansatz, cost[, init]) panel, one line per depth
  rule, the fitted exponential slope in the legend, exact values as black lines;
* :func:`variance_vs_depth`: Var against depth per panel, one line per qubit count, the depth → ∞
  limit dashed in the line's colour (McClean et al. 2018, Fig. 4);
* :func:`global_vs_local`: global | local cost side by side (Cerezo et al. 2021, Fig. 2).

Conventions.  The y axis is the sample variance (ddof = 1) of ∂C/∂θ_k, never a standard
deviation; error bars are its bootstrap CI (``grad_var_lo`` / ``grad_var_hi``).  Each panel shows
one parameter slot k, the lowest ``param_index`` in its rows (θ_0 = θ_{1,1} in the usual sweeps);
the panel title names it with its layer and wire and says how many slots the table holds.
Legend slopes are the ``exp_b`` of the fit table: b in ln Var = a + b·n, natural log per qubit,
with its CI, written by :func:`format_slope` as ``slope −0.707 [−0.730, −0.683]``.  Line labels
are ``L = <depth rule>`` (plus backend, dtype, … where the sweep has several).

Artists carry gids so that tests and scripts can find them: ``data`` (measured variances),
``exact`` (exact values at the plotted depths, :func:`qnnscope.exact.gradient_variance`),
``asymptote`` (depth → ∞ limit, :func:`qnnscope.exact.asymptote`) and ``predicted`` (the
Lie-algebraic deep-circuit prediction of every row that has one, the table's ``var_predicted``,
dashed in the data line's colour: :mod:`qnnscope.gradients.theory`).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from qnnscope import exact
from qnnscope.gradients.point import GROUP_COLUMNS, SIZE_COLUMNS
from qnnscope.io import atomic_output

STYLE = {
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 8,
    "legend.title_fontsize": 8,
    "lines.linewidth": 1.4,
    "lines.markersize": 4.5,
    "errorbar.capsize": 2.5,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
}
"""Matplotlib settings of every figure here (applied with ``rc_context``, not globally)."""
REQUIRED = ("sweep", "depth_rule", "ansatz", "cost_function", "init", "n_qubits", "depth", "param_index",
            "grad_var", "grad_var_lo", "grad_var_hi")
"""Columns the figure functions read from the summary table."""
PANEL_COLUMNS = ("model", "ansatz", "cost_function", "init", "sigma", "identity_block")
"""Columns that split a sweep into panels (init, sigma, … only where the sweep has several)."""
LINE_COLUMNS = ("depth_rule", "backend", "dtype", "method", "noise", "shots")
"""Columns that split a panel into lines in the Var-vs-qubits figures."""
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
MINUS = "\u2212"


def format_slope(b: float, lo: float, hi: float) -> str:
    """``slope −0.707 [−0.730, −0.683]``: a fitted ln-Var slope per qubit and its CI, 3 decimals."""
    text = f"slope {b:.3f} [{lo:.3f}, {hi:.3f}]"
    return text.replace("-", MINUS)


def has_global_and_local(table: pd.DataFrame, sweep: str) -> bool:
    """True when sweep ``sweep`` has rows of both the global and the local cost."""
    costs = set(table.loc[table["sweep"] == sweep, "cost_function"].astype(str).str.strip().str.lower())
    return {"global", "local"} <= costs


def save(fig: Figure, stem: str | os.PathLike) -> list[Path]:
    """Write ``stem.png`` (200 dpi) and ``stem.pdf`` atomically (temporary file beside each, then
    rename), creating parent directories; returns both paths."""
    paths = []
    for ext, options in (("png", {"dpi": 200}), ("pdf", {})):
        path = Path(f"{os.fspath(stem)}.{ext}")
        with atomic_output(path) as tmp, matplotlib.rc_context({"pdf.fonttype": 42}):
            fig.savefig(tmp, format=ext, **options)
        paths.append(path)
    return paths


def variance_vs_qubits(table: pd.DataFrame, fits: pd.DataFrame | None, sweep: str) -> Figure:
    """Var[∂C/∂θ_k] against qubits, one panel per (ansatz, cost[, init]) of ``sweep``, one line
    per depth rule with its fitted slope, exact values overlaid in black where known."""
    rows = _select(table, sweep)
    panels = _split(rows, _varying_or_shown(rows, PANEL_COLUMNS, always=("ansatz", "cost_function")))
    with matplotlib.rc_context(STYLE):
        fig, axes = _grid(len(panels))
        labels = ["depth_rule"] + _varying(rows, LINE_COLUMNS[1:])
        for ax, (title, part) in zip(axes, panels):
            _qubit_panel(ax, part, fits, labels)
            ax.set_title(title + "\n" + _param_note(part), loc="left")
        fig.suptitle(f"Var against qubits: {sweep}", fontsize="medium")
    return fig


def global_vs_local(table: pd.DataFrame, fits: pd.DataFrame | None, sweep: str) -> Figure:
    """Var[∂C/∂θ_k] against qubits for the global (left) and local (right) cost of ``sweep``,
    lines per depth rule with fitted slopes, exact values overlaid (Cerezo et al. 2021)."""
    rows = _select(table, sweep)
    if not has_global_and_local(rows, sweep):
        costs = ", ".join(sorted(rows["cost_function"].astype(str).unique()))
        raise ValueError(f"sweep {sweep!r} needs both a 'global' and a 'local' cost for this figure; it has: {costs}")
    cost = rows["cost_function"].astype(str).str.strip().str.lower()
    labels = ["depth_rule"] + _varying(rows, tuple(c for c in PANEL_COLUMNS + LINE_COLUMNS[1:] if c != "cost_function"))
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(9.0, 4.8), layout="constrained")
        axes = fig.subplots(1, 2, sharey=True)
        for ax, name in zip(axes, ("global", "local")):
            part = rows[cost == name]
            _qubit_panel(ax, part, fits, labels)
            ax.set_title(f"{name} cost\n" + _param_note(part), loc="left")
            ax.yaxis.set_tick_params(labelleft=True)
        fig.suptitle(f"Global against local cost: {sweep}", fontsize="medium")
    return fig


def variance_vs_depth(table: pd.DataFrame, sweep: str) -> Figure:
    """Var[∂C/∂θ_k] against depth, one panel per (ansatz, cost[, init]) of ``sweep``, one line per
    qubit count, the depth → ∞ limit dashed in the line's colour where it is known."""
    rows = _select(table, sweep)
    panels = _split(rows, _varying_or_shown(rows, PANEL_COLUMNS, always=("ansatz", "cost_function")))
    extra = _varying(rows, LINE_COLUMNS[1:])
    with matplotlib.rc_context(STYLE):
        fig, axes = _grid(len(panels))
        for ax, (title, part) in zip(axes, panels):
            _depth_panel(ax, part, extra)
            ax.set_title(title + "\n" + _param_note(part), loc="left")
        fig.suptitle(f"Var against depth: {sweep}", fontsize="medium")
    return fig


# --- panels ------------------------------------------------------------------------------------

def _qubit_panel(ax: Axes, part: pd.DataFrame, fits: pd.DataFrame | None, labels: list[str]) -> None:
    """Lines of Var against n (one per group of the non-qubit point columns), fitted slopes in
    the labels, then the exact curves and, where it differs from them, the depth → ∞ limit."""
    part, k = _lowest_param(part)
    keys = [c for c in GROUP_COLUMNS if c in part.columns and c not in SIZE_COLUMNS]
    n_all = np.arange(part["n_qubits"].min(), part["n_qubits"].max() + 1)
    curves: dict[tuple, list[str]] = {}  # (n values, exact values) → depth rules that give it
    ci = None
    predicted_shown = False
    lines = sorted(part.groupby(keys, sort=False, dropna=False), key=lambda item: _line_order(item[1], labels))
    for i, (_, line) in enumerate(lines):
        line = line.sort_values("n_qubits")
        first = line.iloc[0]
        label = _line_label(first, labels)
        fit = _match_fit(fits, first, keys, line)
        if fit is not None:
            label += ": " + format_slope(fit["exp_b"], fit["exp_b_lo"], fit["exp_b_hi"])
            if fit.get("best_fit") == "polynomial":  # AIC prefers Var ∝ n^b: say so, with b
                label += f"; AIC: ∝ n^{fit['poly_b']:.2f}".replace("-", MINUS)
            ci = fit.get("ci", ci)
        _errorbar(ax, line["n_qubits"], line, f"C{i % 10}", MARKERS[i % len(MARKERS)], label)
        predicted_shown |= _predicted(ax, line["n_qubits"], line, f"C{i % 10}")
        curve = _exact_curve(first, n_all)
        if curve is not None:
            curves.setdefault(curve, []).append(str(first["depth_rule"]))
    for j, ((xs, ys), rules) in enumerate(curves.items()):
        which = "" if len(curves) == 1 else ", L = " + ", ".join(rules)
        ax.plot(xs, ys, color="black", lw=1.1, ls=("-", "-.", ":")[j % 3], gid="exact", zorder=3,
                label=_exact_label(part.iloc[0]) + which)
    limit = _limit_curve(part.iloc[0], k, n_all)
    if limit is not None and not any(tuple(xs) == tuple(limit[0]) and np.allclose(ys, limit[1], rtol=1e-12) for xs, ys in curves):
        ax.plot(*limit, color="black", lw=1.1, ls="--", gid="asymptote", zorder=3, label=_limit_label(part.iloc[0]))
    if predicted_shown:
        ax.plot([], [], color="0.35", ls=(0, (4, 2)), lw=1.0, label=PREDICTED_LABEL)
    ax.set_xlabel("qubits n")
    ax.set_ylabel(_ylabel(k))
    ax.set_yscale("log")
    ax.xaxis.get_major_locator().set_params(integer=True)
    title = None if ci is None else f"fit ln Var = a + slope·n; slope per qubit [{ci:.0%} CI]"
    _legend(ax, title=title)


def _depth_panel(ax: Axes, part: pd.DataFrame, extra: list[str]) -> None:
    """Lines of Var against depth, one per qubit count (and backend, … in ``extra``); where
    :func:`qnnscope.exact.asymptote` knows the limit, a dashed line at it in the line's colour."""
    part, k = _lowest_param(part)
    keys = ["n_qubits"] + extra
    groups = list(part.groupby(keys, sort=True, dropna=False))
    colours = [to_hex(c) for c in matplotlib.colormaps["viridis"](np.linspace(0.0, 0.85, max(len(groups), 2)))]
    limit_shown = None
    predicted_shown = False
    for i, (_, line) in enumerate(groups):
        # several depth rules can land on one depth (10n at n=2 and '20'): keep the larger sample
        line = line.sort_values(["depth", "n_samples" if "n_samples" in line else "depth"]).drop_duplicates("depth", keep="last")
        first = line.iloc[0]
        label = ", ".join([f"n = {first['n_qubits']}"] + [_line_value(c, first[c]) for c in extra])
        _errorbar(ax, line["depth"], line, colours[i], MARKERS[i % len(MARKERS)], label)
        predicted_shown |= _predicted(ax, line["depth"], line, colours[i])
        value = exact.asymptote(first["ansatz"], str(first["cost_function"]), int(first["n_qubits"]), k, first["init"])
        if value is not None and _int(first, "identity_block") == 0:
            ax.axhline(value, color=colours[i], ls="--", lw=1.0, gid="asymptote", zorder=1)
            limit_shown = first
    depth = part["depth"]
    if depth.max() >= 10 * depth.min():
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.set_xlabel("depth L (layers)")
    ax.set_ylabel(_ylabel(k))
    ax.set_yscale("log")
    handles, _ = ax.get_legend_handles_labels()
    if limit_shown is not None:
        handles.append(Line2D([], [], color="0.35", ls="--", lw=1.0, label=_limit_label(limit_shown) + ", per n"))
    if predicted_shown:
        handles.append(Line2D([], [], color="0.35", ls=(0, (4, 2)), lw=1.0, label=PREDICTED_LABEL + ", per line"))
    _legend(ax, handles=handles)


PREDICTED_LABEL = "DLA prediction (deep circuit)"


def _predicted(ax: Axes, x: pd.Series, rows: pd.DataFrame, colour) -> bool:
    """The Lie-algebraic deep-circuit prediction of these rows (``var_predicted`` where
    ``prediction`` is ``lie:…``, :mod:`qnnscope.gradients.theory`), dashed in the line's colour
    (gid ``predicted``); False where no row has one."""
    if "var_predicted" not in rows or "prediction" not in rows:
        return False
    keep = rows["prediction"].astype(str).str.startswith("lie") & rows["var_predicted"].notna()
    if not keep.any():
        return False
    xs, ys = x[keep].to_numpy(), rows.loc[keep, "var_predicted"].to_numpy(float)
    order = np.argsort(xs)
    ax.plot(xs[order], ys[order], color=colour, ls=(0, (4, 2)), lw=1.0, marker="_", markersize=8, gid="predicted",
            zorder=1)
    return True


def _errorbar(ax: Axes, x: pd.Series, rows: pd.DataFrame, colour, marker: str, label: str) -> None:
    """Var with its bootstrap CI as asymmetric error bars; the data line has gid ``data``."""
    var = rows["grad_var"].to_numpy(float)
    below = np.clip(var - rows["grad_var_lo"].to_numpy(float), 0, None)
    above = np.clip(rows["grad_var_hi"].to_numpy(float) - var, 0, None)
    bars = ax.errorbar(x.to_numpy(), var, yerr=[below, above], color=colour, marker=marker, label=label, zorder=2)
    bars.lines[0].set_gid("data")


def _legend(ax: Axes, handles: list | None = None, title: str | None = None) -> None:
    """Legend below the axes, so it never covers data."""
    if handles is None:
        handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=handles, title=title, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False,
              borderaxespad=0.0, handlelength=2.4, ncols=2 if len(handles) > 6 else 1)


# --- exact values ------------------------------------------------------------------------------

def _exact_curve(row: pd.Series, n_all: np.ndarray) -> tuple | None:
    """(n values, exact Var) of one line at every qubit count in ``n_all`` whose depth its rule
    gives (``20n``, ``5``); None when fewer than two are known."""
    points = []
    for n in n_all:
        depth = _rule_depth(str(row["depth_rule"]), int(n))
        if depth is None:
            continue
        value = exact.gradient_variance(row["ansatz"], str(row["cost_function"]), int(n), depth, row["init"],
                                        int(row["param_index"]), _int(row, "identity_block"), _sigma(row),
                                        model=str(row.get("model", "vqc")), data=str(row.get("data", "")))
        if value is not None:
            points.append((int(n), value))
    if len(points) < 2:
        return None
    xs, ys = zip(*points)
    return tuple(xs), tuple(ys)


def _limit_curve(row: pd.Series, k: int, n_all: np.ndarray) -> tuple | None:
    """(n values, depth → ∞ limit) over ``n_all`` where :func:`qnnscope.exact.asymptote` knows it."""
    if _int(row, "identity_block") != 0:
        return None
    points = [(int(n), exact.asymptote(row["ansatz"], str(row["cost_function"]), int(n), k, row["init"])) for n in n_all]
    points = [(n, v) for n, v in points if v is not None]
    if len(points) < 2:
        return None
    xs, ys = zip(*points)
    return tuple(xs), tuple(ys)


def _exact_label(row: pd.Series) -> str:
    """Legend text of an exact curve: the formula where it is the textbook one."""
    cost = str(row["cost_function"]).strip().lower()
    if row["ansatz"] == "mcclean":
        return rf"2-design value $2^n/[3(4^n-1)]$, exact for L $\geq$ {exact.MCCLEAN_SATURATION}n"
    product = row["ansatz"] == "rx_product" or (row.get("model") == "dqnn" and row["ansatz"] == "local1")
    if product and row["init"] in ("uniform", "uniform_sym"):
        return r"exact: $(1/8)(3/8)^{n-1}$" if cost == "global" else r"exact: $1/(8n^2)$"
    return "exact"


def _limit_label(row: pd.Series) -> str:
    if row["ansatz"] == "mcclean":
        return r"2-design limit $2^n/[3(4^n-1)]$ (L$\to\infty$)"
    return r"limit L$\to\infty$"


# --- table helpers -----------------------------------------------------------------------------

def _select(table: pd.DataFrame, sweep: str) -> pd.DataFrame:
    """The rows of ``sweep``; errors name missing columns or the sweeps the table has."""
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise ValueError(f"the gradient table lacks column(s) {', '.join(missing)}; figures need {', '.join(REQUIRED)}")
    rows = table[table["sweep"] == sweep]
    if rows.empty:
        raise ValueError(f"sweep {sweep!r} has no rows in the gradient table; sweeps: {', '.join(map(str, table['sweep'].unique()))}")
    return rows


def _varying(rows: pd.DataFrame, columns: tuple[str, ...]) -> list[str]:
    """The columns (present in ``rows``) that take more than one value."""
    return [c for c in columns if c in rows.columns and rows[c].nunique(dropna=False) > 1]


def _varying_or_shown(rows: pd.DataFrame, columns: tuple[str, ...], always: tuple[str, ...]) -> list[str]:
    return [c for c in columns if c in always or c in _varying(rows, columns)]


def _split(rows: pd.DataFrame, columns: list[str]) -> list[tuple[str, pd.DataFrame]]:
    """(title, rows) per combination of ``columns``, in sorted order."""
    out = []
    for key, part in rows.groupby(columns, sort=True, dropna=False):
        first = part.iloc[0]
        words = [f"{first['ansatz']}, cost {first['cost_function']}"]
        words += [_describe(c, first[c]) for c in columns if c not in ("ansatz", "cost_function")]
        out.append((", ".join(words), part))
    return out


def _describe(column: str, value) -> str:
    names = {"init": "init", "sigma": "σ", "identity_block": "identity blocks", "model": "model"}
    return f"{names.get(column, column)} {value}"


def _grid(n_panels: int) -> tuple[Figure, list[Axes]]:
    """A constrained-layout figure with up to three panels a row."""
    ncols = min(3, n_panels)
    nrows = math.ceil(n_panels / ncols)
    fig = Figure(figsize=(4.6 * ncols, 4.8 * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, list(axes[:n_panels])


def _lowest_param(part: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    k = int(part["param_index"].min())
    return part[part["param_index"] == k], k


def _param_note(part: pd.DataFrame) -> str:
    """``∂/∂θ_0: layer 0, wire 0 (lowest of 3 slots in the table)``."""
    at_k, k = _lowest_param(part)
    where = []
    for column, name in (("param_layer", "layer"), ("param_wire", "wire")):
        if column in at_k.columns and at_k[column].nunique() == 1:
            where.append(f"{name} {int(at_k[column].iloc[0])}")
    note = f"∂/∂θ$_{{{k}}}$" + (": " + ", ".join(where) if where else "")
    slots = part["param_index"].nunique()
    return note + (f" (lowest of {slots} slots in the table)" if slots > 1 else "")


def _ylabel(k: int) -> str:
    return rf"Var[$\partial C/\partial\theta_{{{k}}}$]  (rad$^{{-2}}$)"


def _rule_depth(rule: str, n: int) -> int | None:
    """The depth a rule gives at n qubits: ``20n`` → 20n, ``5`` → 5; None for other rules."""
    if m := re.fullmatch(r"\s*(\d+)\s*n\s*", rule):
        return int(m.group(1)) * n
    if re.fullmatch(r"\s*\d+\s*", rule):
        return int(rule)
    return None


def _line_order(line: pd.DataFrame, labels: list[str]) -> tuple:
    """Sort lines by depth rule (fixed depths first, then per-qubit rules by factor), then labels."""
    rule = str(line["depth_rule"].iloc[0])
    m = re.fullmatch(r"\s*(\d+)\s*(n?)\s*", rule)
    order = (1 if m.group(2) else 0, int(m.group(1))) if m else (2, 0)
    return order + tuple(str(line[c].iloc[0]) for c in labels)


def _line_label(first: pd.Series, labels: list[str]) -> str:
    words = [f"L = {first['depth_rule']}"] + [_describe(c, first[c]) if c in PANEL_COLUMNS else _line_value(c, first[c])
                                              for c in labels[1:]]
    return ", ".join(words)


def _line_value(column: str, value) -> str:
    """A line column's value in a legend: shots as "exact"/"N shots", noise "none" as "noiseless"."""
    if column == "shots":
        return "exact" if int(value) == 0 else f"{int(value)} shots"
    if column == "noise" and value == "none":
        return "noiseless"
    return str(value)


def _same(column: pd.Series, value) -> pd.Series:
    """Elementwise equality where two missing values (NaN, None) count as equal."""
    if pd.isna(value):
        return column.isna()
    return column == value


def _match_fit(fits: pd.DataFrame | None, first: pd.Series, keys: list[str], line: pd.DataFrame) -> pd.Series | None:
    """The fit row of a line: same group columns and slot; where a group was split by depth, the
    row whose ``depths`` are the line's."""
    if fits is None or fits.empty or "exp_b" not in fits.columns:
        return None
    mask = _same(fits["param_index"], first["param_index"])
    for column in keys:
        if column in fits.columns:
            mask &= _same(fits[column], first[column])
    found = fits[mask]
    if len(found) > 1 and "depths" in found.columns:
        found = found[found["depths"] == ",".join(map(str, line["depth"]))]
    return found.iloc[0] if len(found) == 1 else None


def _int(row: pd.Series, column: str) -> int:
    return int(row[column]) if column in row.index and not pd.isna(row[column]) else 0


def _sigma(row: pd.Series) -> float | None:
    return float(row["sigma"]) if "sigma" in row.index and not pd.isna(row["sigma"]) else None
