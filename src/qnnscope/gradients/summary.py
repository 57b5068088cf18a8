"""Summaries of shards: per point and parameter, the gradient variance (ddof=1) with bootstrap
CIs; and scaling fits of the variance against the qubit count."""

from __future__ import annotations

import logging

import pandas as pd

from qnnscope import sampling, stats
from qnnscope.gradients.point import GROUP_COLUMNS, SIZE_COLUMNS

log = logging.getLogger(__name__)


def summarize(shards: pd.DataFrame, n_boot: int = 2000, ci: float = 0.95) -> pd.DataFrame:
    """Per point and parameter: n_samples, grad_mean, grad_var (ddof=1) with bootstrap CIs,
    cost_mean and cost_var; bootstrap seeds derive from the group key."""
    keys = [c for c in GROUP_COLUMNS if c in shards.columns] + ["param_index", "param_layer", "param_wire"]
    duplicated = shards.duplicated(keys + ["chunk", "sample"])
    if duplicated.any():
        first = shards[duplicated].iloc[0]
        raise ValueError(
            f"the same chunk {first['chunk']} of point {first[keys].to_dict()} appears in more than one shard"
        )
    rows = []
    for key, group in shards.groupby(keys, sort=True, dropna=False):
        g = stats.summarize(group["grad"].to_numpy(), n_boot=n_boot, ci=ci, seed=sampling.stable_seed(list(map(str, key))))
        cost = group["cost"].to_numpy()
        named = {"param_name": group["param_name"].iloc[0]} if "param_name" in group else {}
        rows.append(
            dict(zip(keys, key))
            | named
            | {
                "n_samples": g["n"],
                "grad_mean": g["mean"],
                "grad_mean_lo": g["mean_lo"],
                "grad_mean_hi": g["mean_hi"],
                "grad_var": g["var"],
                "grad_var_lo": g["var_lo"],
                "grad_var_hi": g["var_hi"],
                "ci": g["ci"],
                "ci_method": g["ci_method"],
                "cost_mean": float(cost.mean()),
                "cost_var": float(cost.var(ddof=1)),
                "n_chunks": int(group["chunk"].nunique()),
                "qnnscope_version": group["qnnscope_version"].iloc[0],
                "wall_time_s": float(group.drop_duplicates("chunk")["wall_time_s"].sum()),
            }
        )
    return pd.DataFrame(rows)


def alias_depth_rules(table: pd.DataFrame, aliases: list[tuple[str, int, int, str]]) -> pd.DataFrame:
    """Rows for depth rules that land on a point another rule already computed: for each
    (sweep, n_qubits, depth, rule), the point's rows again with ``depth_rule = rule`` (e.g. 'log'
    and '2' at n = 4), so every rule's line and fit has all its points."""
    extra = []
    for sweep, n, depth, rule in aliases:
        rows = table[(table["sweep"] == sweep) & (table["n_qubits"] == n) & (table["depth"] == depth)]
        extra.append(rows.assign(depth_rule=rule))
    return pd.concat([table, *extra], ignore_index=True) if extra else table


FIT_COLUMNS = ["depths", "widths", "n_qubits", "n_points", "best_fit", "ci"] + [
    f"{prefix}_{field}" for prefix in ("exp", "poly") for field in ("a", "b", "b_se", "b_lo", "b_hi", "r2", "aic")
]
"""Columns of a fit row after the group columns (see docs/schemas.md)."""


def fit(table: pd.DataFrame, ci: float = 0.95) -> pd.DataFrame:
    """Scaling fits of grad_var against n_qubits (see :func:`qnnscope.stats.fit_scaling`), one
    row per group of the other point columns (the workflow's ``depth_rule`` among them) and
    parameter.  A group whose qubit counts each come with one depth (e.g. depth = 20n) is fitted
    across depths, listed in ``depths``; a group with several depths per qubit count is split by
    depth."""
    others = [c for c in GROUP_COLUMNS if c in table.columns and c not in SIZE_COLUMNS] + ["param_index"]
    rows = []
    for key, group in table.groupby(others, sort=True, dropna=False):
        parts = [group] if not group["n_qubits"].duplicated().any() else [g for _, g in group.groupby("depth")]
        for part in parts:
            part = part.sort_values("n_qubits")
            if part["n_qubits"].nunique() < 3:
                continue
            result = stats.fit_scaling(part["n_qubits"], part["grad_var"], part["grad_var_lo"], part["grad_var_hi"], ci)
            row = dict(zip(others, key)) | {
                "depths": ",".join(map(str, part["depth"])),
                "widths": ",".join(map(str, part["widths"])) if "widths" in part else "",
                "n_qubits": ",".join(map(str, part["n_qubits"])),
                "n_points": result["n_points"],
                "best_fit": result["model"],
                "ci": ci,
            }
            for name, prefix in (("exponential", "exp"), ("polynomial", "poly")):
                for field in ("a", "b", "b_se", "b_lo", "b_hi", "r2", "aic"):
                    row[f"{prefix}_{field}"] = result[name][field]
            rows.append(row)
    if not rows:
        log.warning("no group has grad_var at three or more qubit counts; the fit table is empty")
    return pd.DataFrame(rows, columns=others + FIT_COLUMNS)
