"""Hardware against simulation: what a device's counts show next to exact and noisy simulation.

One figure per hardware sweep (``results/figures/hardware/{sweep}/variance_comparison``):

* left, one panel per (cost, parameter): Var[∂C/∂θ_k] per point (n, L) from four sources on the
  same parameter draws: exact simulation, the device's calibrated noise model (exact, readout
  included), that model plus the shot-noise excess the counts must carry (hollow: the
  prediction for the device), and the device's counts; bootstrap CIs as error bars;
* right: every draw's gradient estimated from the counts against its exact value (grey) and
  against the noise model's value (colour), with the diagonal: the noise shrinks gradients
  towards 0, the counts scatter around the model by shot noise alone if the model is right.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from qnnscope.plots.gradients import MINUS, STYLE, _legend

SOURCES = (
    ("grad_var_exact", "exact simulation", "0.25", "o", True),
    ("grad_var_noisy", "device noise model", "tab:blue", "s", True),
    ("grad_var_expected", "model + shot noise (prediction)", "tab:blue", "D", False),
    ("grad_var", "device counts", "tab:red", "^", True),
)
"""(column, label, colour, marker, filled) of the variance sources, left to right in each group."""


def _has(table: pd.DataFrame, column: str) -> bool:
    return column in table.columns and table[column].notna().any()


def variance_comparison(table: pd.DataFrame, estimates: pd.DataFrame, sweep: str) -> Figure:
    """The comparison figure of hardware sweep ``sweep`` (see the module docstring) from the
    hardware table and the sweep's per-draw estimates."""
    rows = table[table["sweep"] == sweep]
    if rows.empty:
        raise ValueError(f"hardware table has no rows of sweep {sweep!r}")
    panels = list(rows.groupby(["cost_function", "param_index"], sort=True))
    draws = estimates[estimates["sweep"] == sweep]
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(4.2 * len(panels) + 4.0, 4.2), layout="constrained")
        axes = fig.subplots(1, len(panels) + 1, squeeze=False)[0]
        for ax, ((cost, param), part) in zip(axes, panels):
            _variance_panel(ax, part.sort_values(["n_qubits", "depth", "shots"]))
            ax.set_title(f"cost {cost}, gradient of θ[{param}]")
        _scatter_panel(axes[-1], draws)
        backend = ", ".join(sorted(set(rows["backend"].astype(str))))
        fig.suptitle(f"{sweep} on {backend}: exact and noisy simulation against the device, same draws")
    return fig


def _variance_panel(ax, part: pd.DataFrame) -> None:
    labels = [f"n={n}, L={d}" + (f"\n{s} shots" if part["shots"].nunique() > 1 else "")
              for n, d, s in zip(part["n_qubits"], part["depth"], part["shots"])]
    x = np.arange(len(part))
    sources = [s for s in SOURCES if _has(part, s[0])]
    width = 0.7 / len(sources)
    handles = []
    for k, (column, label, colour, marker, filled) in enumerate(sources):
        value = part[column].to_numpy(float)
        pos = x + (k - (len(sources) - 1) / 2) * width
        if _has(part, column + "_lo"):
            below = np.clip(value - part[column + "_lo"].to_numpy(float), 0, None)
            above = np.clip(part[column + "_hi"].to_numpy(float) - value, 0, None)
            handles.append(ax.errorbar(pos, value, yerr=[below, above], ls="none", color=colour, marker=marker,
                                       label=label, mfc=colour if filled else "none"))
        else:
            handles += ax.plot(pos, value, ls="none", color=colour, marker=marker, label=label,
                               mfc=colour if filled else "none")
    ax.set_yscale("log")
    ax.set_xticks(x, labels)
    ax.set_ylabel(f"Var[∂C/∂θ] ({part['n_samples'].iloc[0]} draws)")
    _legend(ax, handles=handles)


def _scatter_panel(ax, draws: pd.DataFrame) -> None:
    g = draws["grad"].to_numpy(float)
    ax.scatter(draws["grad_exact"], g, s=9, color="0.6", label="against exact", zorder=2)
    if _has(draws, "grad_noisy"):
        ax.scatter(draws["grad_noisy"], g, s=9, color="tab:blue", label="against device noise model", zorder=3)
        rms = np.sqrt(np.mean((g - draws["grad_noisy"].to_numpy(float)) ** 2))
        shot = np.sqrt(draws["grad_shot_var"].mean())
        ax.text(0.03, 0.97, f"rms(counts {MINUS} model) = {rms:.3g}\nshot noise σ = {shot:.3g}",
                transform=ax.transAxes, va="top", fontsize=8)
    top = max(np.abs(g).max(), np.abs(draws["grad_exact"]).max()) * 1.05
    ax.plot([-top, top], [-top, top], color="0.2", lw=0.8, ls="--", label="y = x")
    ax.set_xlim(-top, top)
    ax.set_ylim(-top, top)
    ax.set_aspect("equal")
    ax.set_xlabel("simulated gradient")
    ax.set_ylabel("gradient from device counts")
    ax.set_title("every draw and parameter")
    _legend(ax)
