"""Figures of DQNN training experiments, from ``results/tables/dqnn_training.parquet``
(:func:`qnnscope.generalisation.summarize_runs`).

* :func:`test_fidelity_vs_pairs`: Beer et al. (2020) Fig. 2a: mean final test fidelity against the
  number of training pairs N with its bootstrap CI, one line per training rule, the final training
  fidelity dotted in the same colour, the optimal test fidelity of the experiment's test set
  dashed (task ``unitary``: fresh test pairs, or M test pairs that include the N training pairs)
  and the random-guess level 1/d dotted grey.

Artists carry gids for tests: ``test`` (test-fidelity lines), ``train``, ``optimal``, ``guess``.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from qnnscope.exact import optimal_test_fidelity
from qnnscope.plots.gradients import MARKERS, STYLE, save

__all__ = ["test_fidelity_vs_pairs", "save"]

REQUIRED = ("name", "widths", "task", "method", "n_pairs", "repetition", "test_fidelity_mean", "test_fidelity_lo",
            "test_fidelity_hi", "train_fidelity_mean")
"""Columns :func:`test_fidelity_vs_pairs` reads."""


def test_fidelity_vs_pairs(table: pd.DataFrame, name: str) -> Figure:
    """Mean final test fidelity (± CI) against N for experiment ``name``, one line per method."""
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise ValueError(f"the DQNN training table lacks column(s) {', '.join(missing)}")
    rows = table[table["name"] == name]
    if rows.empty:
        names = ", ".join(map(str, table["name"].unique()))
        raise ValueError(f"experiment {name!r} has no rows in the DQNN training table; experiments: {names}")
    first = rows.iloc[0]
    dim = 2 ** int(str(first["widths"]).split("-")[0])
    test_set = first["test_set"] if "test_set" in rows.columns else "disjoint"
    groups = rows.drop_duplicates(["method", "n_pairs"]).sort_values(["method", "n_pairs"])
    n_all = np.arange(int(rows["n_pairs"].min()), int(rows["n_pairs"].max()) + 1)
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(5.6, 4.6), layout="constrained")
        ax = fig.subplots()
        for i, (method, line) in enumerate(groups.groupby("method", sort=True)):
            colour, marker = f"C{i % 10}", MARKERS[i % len(MARKERS)]
            n, mean = line["n_pairs"].to_numpy(), line["test_fidelity_mean"].to_numpy(float)
            below = np.clip(mean - line["test_fidelity_lo"].to_numpy(float), 0, None)
            above = np.clip(line["test_fidelity_hi"].to_numpy(float) - mean, 0, None)
            bars = ax.errorbar(n, mean, yerr=[np.nan_to_num(below), np.nan_to_num(above)], color=colour, marker=marker,
                               label=f"{method}: test", zorder=3)
            bars.lines[0].set_gid("test")
            ax.plot(n, line["train_fidelity_mean"], color=colour, marker=marker, mfc="none", ls=":", lw=1.0,
                    label=f"{method}: train", gid="train", zorder=2)
        if first["task"] == "unitary":
            if test_set == "including_training":
                m = int(first["test_pairs"])
                optimal = optimal_test_fidelity(n_all, dim, test_set, m)
                label = rf"optimal: $(N + (M-N)F^*_N)/M$, M = {m}"
            else:
                optimal = optimal_test_fidelity(n_all, dim)
                label = r"optimal: $F^*_N = (N^2+d+1)/(d(d+1))$, 1 for $N \geq d$"
            ax.plot(n_all, optimal, color="black", ls="--", lw=1.1, gid="optimal", zorder=1, label=label)
            ax.axhline(1 / dim, color="0.5", ls=":", lw=1.0, gid="guess", zorder=0,
                       label=f"random guess 1/d (d = {dim})")
        ax.set_xlabel("training pairs N")
        ax.set_ylabel("fidelity (final step)")
        ax.set_ylim(0, 1.04)
        ax.xaxis.get_major_locator().set_params(integer=True)
        reps = rows.groupby(["method", "n_pairs"])["repetition"].nunique()
        runs = f"{reps.min()}" if reps.min() == reps.max() else f"{reps.min()}–{reps.max()}"
        ci = f", {first['ci']:.0%} bootstrap CI" if "ci" in rows.columns else ""
        tested = ""
        if "test_pairs" in rows.columns:
            kind = "pairs, the first N of them trained on" if test_set == "including_training" else "fresh pairs"
            tested = f"\ntest set: {int(first['test_pairs'])} {kind}"
        ax.set_title(f"{name}: {first['widths']} network, task {first['task']}\n"
                     f"mean over {runs} repetitions{ci}{tested}", loc="left")
        handles, labels = ax.get_legend_handles_labels()
        order = sorted(range(len(labels)), key=lambda i: (not labels[i].endswith(": test"),
                                                          not labels[i].endswith(": train"), i))
        ax.legend([handles[i] for i in order], [labels[i] for i in order], loc="upper center",
                  bbox_to_anchor=(0.5, -0.14), frameon=False, ncols=2)
    return fig
