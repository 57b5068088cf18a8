"""Figure of the trainability diagnostics, from ``results/tables/diagnostics.parquet``
(:func:`qnnscope.diagnostics.evaluate` rows).

* :func:`diagnostics_vs_depth`: three panels against the number of layers, one line per circuit
  (sweep, ansatz, qubits, init): expressibility (KL of the fidelity histogram from the Haar law,
  solid, with its CI; from the real-Haar law dotted), Meyer–Wallach Q with its CI and the Haar
  value (d − 2)/(d + 1) grey, and the QFIM's maximal rank with the parameter count dashed and the
  rank the circuit's Lie algebra predicts dash-dotted.

Artists carry gids for tests: ``kl``, ``kl_real``, ``meyer_wallach``, ``haar_q``, ``qfim_rank``,
``n_params``, ``predicted``.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from qnnscope.plots.gradients import MARKERS, STYLE, save

__all__ = ["diagnostics_vs_depth", "save"]

REQUIRED = ("sweep", "ansatz", "n_qubits", "depth", "init", "dim", "n_params")
"""Columns :func:`diagnostics_vs_depth` needs; metric columns are drawn where present."""
LINE_KEYS = ["sweep", "ansatz", "n_qubits", "init"]


def _column(rows: pd.DataFrame, name: str) -> np.ndarray:
    return rows[name].to_numpy(float) if name in rows.columns else np.full(len(rows), np.nan)


def _bars(value: np.ndarray, lo: np.ndarray, hi: np.ndarray, floor: float | None = None) -> list[np.ndarray]:
    below = np.clip(value - lo, 0, None)
    if floor is not None:  # a log axis: keep the lower bar above zero
        below = np.minimum(below, value - floor)
    return [np.nan_to_num(below), np.nan_to_num(np.clip(hi - value, 0, None))]


def diagnostics_vs_depth(table: pd.DataFrame) -> Figure:
    """KL from Haar, Meyer–Wallach Q and QFIM rank against depth, one line per circuit."""
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise ValueError(f"the diagnostics table lacks column(s) {', '.join(missing)}")
    if table.empty:
        raise ValueError("the diagnostics table has no rows")
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(12.5, 4.4), layout="constrained")
        ax_kl, ax_q, ax_rank = fig.subplots(1, 3)
        handles = []
        groups = table.sort_values("depth").groupby(LINE_KEYS, sort=True)
        for i, (key, rows) in enumerate(groups):
            sweep, ansatz, n, init = key
            colour, marker = f"C{i % 10}", MARKERS[i % len(MARKERS)]
            label = f"{ansatz}, n = {n}" + (f", {init}" if init != "uniform" else "") + (
                f" ({sweep})" if sweep != ansatz else "")
            depth = rows["depth"].to_numpy()
            kl = _column(rows, "kl_haar")
            if np.isfinite(kl).any():
                floor = np.nanmin(kl[kl > 0]) / 10 if (kl > 0).any() else 1e-6
                ax_kl.errorbar(depth, kl, yerr=_bars(kl, _column(rows, "kl_haar_lo"), _column(rows, "kl_haar_hi"), floor),
                               color=colour, marker=marker, gid="kl")
                ax_kl.plot(depth, _column(rows, "kl_real_haar"), color=colour, ls=":", marker=marker, mfc="none",
                           gid="kl_real")
            q = _column(rows, "meyer_wallach")
            if np.isfinite(q).any():
                ax_q.errorbar(depth, q, yerr=_bars(q, _column(rows, "meyer_wallach_lo"), _column(rows, "meyer_wallach_hi")),
                              color=colour, marker=marker, gid="meyer_wallach")
            rank = _column(rows, "qfim_rank")
            if np.isfinite(rank).any():
                ax_rank.plot(depth, rank, color=colour, marker=marker, gid="qfim_rank")
                ax_rank.plot(depth, _column(rows, "n_params"), color=colour, ls="--", lw=0.9, alpha=0.7, gid="n_params")
                ax_rank.plot(depth, _column(rows, "qfim_rank_predicted"), color=colour, ls="-.", lw=1.1,
                             gid="predicted")
            handles.append(Line2D([], [], color=colour, marker=marker, label=label))
        for d in sorted(table["dim"].unique()):
            ax_q.axhline((d - 2) / (d + 1), color="0.5", ls=":", lw=1.0, gid="haar_q")
        ax_kl.set_yscale("log")
        ax_kl.set_title("expressibility: KL(fidelities ‖ Haar)\nsolid: Haar, dotted: real Haar", loc="left")
        ax_kl.set_ylabel("KL divergence (nats)")
        ax_q.set_title("Meyer–Wallach entangling capability Q\ngrey dotted: Haar (d − 2)/(d + 1)", loc="left")
        ax_q.set_ylabel("mean Q")
        ax_q.set_ylim(-0.03, 1.03)
        ax_rank.set_title("QFIM rank (largest over the points)\ndashed: parameters, dash-dot: Lie algebra",
                          loc="left")
        ax_rank.set_ylabel("rank")
        for ax in (ax_kl, ax_q, ax_rank):
            ax.set_xlabel("depth (layers)")
            ax.set_xscale("log", base=2)
            ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ci = f"{table['ci'].iloc[0]:.0%} " if "ci" in table.columns else ""
        fig.suptitle(f"Trainability diagnostics against depth ({ci}bootstrap CIs)", x=0.01, ha="left")
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), frameon=False)
    return fig
