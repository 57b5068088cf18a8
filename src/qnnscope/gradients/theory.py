"""Theory beside measurement: the predicted variances of every row of a gradient table.

For each row (one sweep point and parameter) :func:`add_predictions` adds

* ``dla_dim``, ``dla_type``: the dynamical Lie algebra of the row's circuit
  (:func:`qnnscope.lie.dynamical_lie_algebra`; NaN and empty for DQNNs and where the algebra is
  not determined);
* ``var_predicted``: the predicted Var[∂C/∂θ_k] of the row's parameter k, ``cost_var_predicted``
  the predicted Var[C] (Lie-algebraic rows only);
* ``prediction``: where the values come from — ``exact`` (a closed form of :mod:`qnnscope.exact`
  at the row's depth), or ``lie:<form>`` (the deep-circuit value of :func:`qnnscope.lie.predict`:
  ``one-sided``, ``prefix-averaged`` or ``two-sided`` gradient form);
* ``prediction_reason``: why a prediction is NaN (empty where both exist).

The Lie-algebraic values are deep-circuit limits: the circuit Haar-random over its DLA group.
They are given for noiseless, exact (shots = 0) points with angles uniform over a full period and
no identity blocks; a shallow circuit's measured variance lies above them.  The analysis is cached
per circuit structure, so a sweep's rows share one closure per circuit.
"""

from __future__ import annotations

import logging
import math
from functools import lru_cache

import pandas as pd

from qnnscope import exact, lie

log = logging.getLogger(__name__)

PREDICTION_COLUMNS = ("dla_dim", "dla_type", "var_predicted", "cost_var_predicted", "prediction", "prediction_reason")
"""Columns :func:`add_predictions` adds (see docs/schemas.md)."""
FULL_PERIOD = ("uniform", "uniform_sym")


def _text(value, default: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return default
    return str(value)


@lru_cache(maxsize=256)
def _circuit(ansatz: str, n: int, depth: int, identity_block: int, spec: str, graph: str = ""):
    if graph:  # QAOA on the user's graph file (the row's ``graph`` column)
        from qnnscope.circuits import families

        return families.qaoa(n, depth, families.graph_edges(graph, n), identity_block)
    if spec:
        from qnnscope.circuits.importers import load

        return load(spec, n, depth)
    from qnnscope.circuits.ansatze import build

    return build(ansatz, n, depth, identity_block)


@lru_cache(maxsize=4096)
def _predict(ansatz: str, n: int, depth: int, identity_block: int, spec: str, cost: str, slot: int, graph: str = ""):
    from qnnscope.costs import make_cost

    edges = None
    if graph:
        from qnnscope.circuits import families

        edges = families.graph_edges(graph, n)
    return lie.predict(_circuit(ansatz, n, depth, identity_block, spec, graph), make_cost(cost, n, graph=edges), slot)


@lru_cache(maxsize=256)
def _dla(ansatz: str, n: int, depth: int, identity_block: int, spec: str, graph: str = ""):
    return lie.dynamical_lie_algebra(_circuit(ansatz, n, depth, identity_block, spec, graph))


def predict_row(row) -> dict:
    """The :data:`PREDICTION_COLUMNS` of one table row (a mapping of its columns)."""
    out = {"dla_dim": math.nan, "dla_type": "", "var_predicted": math.nan, "cost_var_predicted": math.nan,
           "prediction": "", "prediction_reason": ""}
    model = _text(row.get("model"), "vqc")
    ansatz, cost, init = str(row["ansatz"]), str(row["cost_function"]), str(row["init"])
    n, depth, slot = int(row["n_qubits"]), int(row["depth"]), int(row["param_index"])
    block = int(row.get("identity_block", 0) or 0)
    sigma = row.get("sigma")
    sigma = None if sigma is None or (isinstance(sigma, float) and math.isnan(sigma)) else float(sigma)
    noise, shots = _text(row.get("noise"), "none"), int(row.get("shots", 0) or 0)
    spec, graph = _text(row.get("circuit")), _text(row.get("graph"))
    closed = None
    if noise == "none" and shots == 0 and not spec and not graph:
        try:
            closed = exact.gradient_variance(ansatz, cost, n, depth, init, slot, block, sigma, model=model,
                                             data=_text(row.get("data")))
        except ValueError:
            closed = None
    if model != "vqc":
        if closed is not None:
            out.update(var_predicted=closed, prediction="exact")
        else:
            out["prediction_reason"] = "dissipative QNN: no Lie-algebraic prediction (not one unitary circuit)"
        return out
    try:
        dla = _dla(ansatz, n, depth, block, spec, graph)
    except (ValueError, OSError) as error:
        out["prediction_reason"] = f"circuit not analysed: {error}"
        return out
    out["dla_dim"] = math.nan if dla.dim is None else float(dla.dim)
    out["dla_type"] = dla.label
    reasons = []
    if noise != "none":
        reasons.append(f"noise {noise}: the DLA theory is for unitary circuits")
    if shots:
        reasons.append(f"{shots} shots add shot noise to the exact variance")
    if block:
        reasons.append("identity-block initialisation is not a random deep circuit")
    if init not in FULL_PERIOD:
        reasons.append(f"init {init!r}: the deep-circuit value assumes angles uniform over a full period")
    if closed is not None:  # the closed form at this depth; the DLA's deep value adds nothing
        out.update(var_predicted=closed, prediction="exact")
        return out
    if reasons:
        out["prediction_reason"] = "; ".join(reasons)
        return out
    try:
        p = _predict(ansatz, n, depth, block, spec, cost, slot, graph)
    except ValueError as error:
        out["prediction_reason"] = str(error)
        return out
    out.update(cost_var_predicted=p.loss_variance, var_predicted=p.gradient_variance,
               prediction=f"lie:{p.gradient_form}" if p.gradient_form else "")
    if math.isnan(out["var_predicted"]):
        out["prediction"] = ""
        out["prediction_reason"] = p.reason
    return out


def add_predictions(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with the :data:`PREDICTION_COLUMNS` (rows of equal circuit, cost and parameter
    share one analysis)."""
    if table.empty:
        return table.assign(**{c: pd.Series(dtype=float if c in ("dla_dim", "var_predicted", "cost_var_predicted")
                                            else object) for c in PREDICTION_COLUMNS})
    rows = [predict_row(r) for r in table.to_dict("records")]
    extra = pd.DataFrame(rows, index=table.index, columns=list(PREDICTION_COLUMNS))
    return pd.concat([table.drop(columns=[c for c in PREDICTION_COLUMNS if c in table.columns]), extra], axis=1)


SUMMARY_KEYS = ("sweep", "model", "ansatz", "circuit", "graph", "cost_function", "init", "noise", "shots", "n_qubits", "depth",
                "param_index")


def prediction_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Theory beside measurement, one row per sweep point and parameter of a gradient table with
    predictions: the measured variance and its CI, the predicted one, their ratio, the DLA, and
    why a point has no prediction (``prediction_reason``)."""
    if "var_predicted" not in table:
        table = add_predictions(table)
    keys = [c for c in SUMMARY_KEYS if c in table.columns]
    cols = keys + ["grad_var", "grad_var_lo", "grad_var_hi", "var_predicted", "cost_var", "cost_var_predicted",
                   "dla_dim", "dla_type", "prediction", "prediction_reason"]
    out = table[[c for c in cols if c in table.columns]].drop_duplicates(keys).sort_values(keys).reset_index(drop=True)
    out.insert(out.columns.get_loc("var_predicted") + 1, "measured_over_predicted", out["grad_var"] / out["var_predicted"])
    return out
