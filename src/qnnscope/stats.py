"""Variance with bootstrap confidence intervals, depth saturation, and scaling fits.

"Variance" is the sample variance (ddof=1), never the standard deviation.  Scaling fits are
least squares on ln Var and report natural-log slopes: Var ∝ e^{b·n} (exponential) or
Var ∝ n^b (polynomial).  scipy is imported by the functions that use it.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike

BCA_MAX_N = 10_000
"""Largest sample given a BCa interval: its jackknife costs O(n²) (about 1 s at 10⁴, minutes at
10⁵); beyond it the percentile interval is used, which BCa approaches as n grows."""
_BOOT_CHUNK = 1_000_000
"""Elements per bootstrap batch, bounding memory to about 8 MB a batch whatever n_boot and n."""


def _mean_and_var(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Stacked (mean, ddof=1 variance) along ``axis``: both statistics in one bootstrap pass."""
    return np.stack([np.mean(x, axis=axis), np.var(x, ddof=1, axis=axis)])


def _bootstrap_ci(values: np.ndarray, n_boot: int, ci: float, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """(low, high, method) for the mean and variance: BCa, or percentile where BCa is nan or too slow."""
    from scipy import stats

    common = dict(vectorized=True, confidence_level=ci, batch=max(1, _BOOT_CHUNK // values.size))
    method = "BCa" if values.size <= BCA_MAX_N else "percentile"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate samples warn, then fail the finiteness check
        res = stats.bootstrap((values,), _mean_and_var, n_resamples=n_boot, method=method, rng=seed, **common)
    low, high = res.confidence_interval
    if np.all(np.isfinite(low)) and np.all(np.isfinite(high)):
        return low, high, method
    res = stats.bootstrap(
        (values,), _mean_and_var, n_resamples=0, method="percentile", bootstrap_result=res, **common
    )
    return res.confidence_interval.low, res.confidence_interval.high, "percentile"


def summarize(values: ArrayLike, n_boot: int = 2000, ci: float = 0.95, seed: int = 0) -> dict:
    """n, mean, sample variance (ddof=1) and bootstrap CIs of both, for one 1-D sample.

    ``ci_method`` says which bootstrap interval was used ("BCa" or "percentile").
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size < 2:
        raise ValueError(f"summarize needs a 1-D sample of n >= 2 values, got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("summarize needs finite values; the sample contains nan or inf")
    if not 0 < ci < 1:
        raise ValueError(f"ci must lie in (0, 1), got {ci}")
    low, high, method = _bootstrap_ci(values, n_boot, ci, seed)
    return {
        "n": int(values.size),
        "mean": float(np.mean(values)),
        "var": float(np.var(values, ddof=1)),
        "mean_lo": float(low[0]),
        "mean_hi": float(high[0]),
        "var_lo": float(low[1]),
        "var_hi": float(high[1]),
        "ci": ci,
        "ci_method": method,
    }


def _log_weights(variances: np.ndarray, var_lo: ArrayLike | None, var_hi: ArrayLike | None, ci: float) -> np.ndarray:
    """Inverse variances of ln Var, from CI widths: sd(ln Var) ≈ (ln hi − ln lo) / (2 z)."""
    from scipy import stats

    if var_lo is None and var_hi is None:
        return np.ones_like(variances)
    if var_lo is None or var_hi is None:
        raise ValueError("give both var_lo and var_hi, or neither")
    lo = np.asarray(var_lo, dtype=np.float64)
    hi = np.asarray(var_hi, dtype=np.float64)
    if lo.shape != variances.shape or hi.shape != variances.shape:
        raise ValueError(f"var_lo and var_hi need shape {variances.shape}, got {lo.shape} and {hi.shape}")
    if not (np.all(lo > 0) and np.all(hi > lo)):
        raise ValueError("weighting needs CIs with 0 < var_lo < var_hi at every point")
    z = stats.norm.ppf(0.5 + ci / 2)
    sd = (np.log(hi) - np.log(lo)) / (2 * z)
    return 1.0 / sd**2


def _wls(x: np.ndarray, y: np.ndarray, w: np.ndarray, ci: float) -> dict:
    """Weighted least squares y = a + b·x: estimates, scaled standard errors, t CIs, R², AIC.

    The weights fix the points' relative precision; the overall scale is estimated from the
    residuals (hence t with m − 2 degrees of freedom), as for scipy's curve_fit default.
    """
    from scipy import stats

    m = y.size
    sw = np.sqrt(w)
    design = np.column_stack([np.ones_like(x), x])
    coef, *_ = np.linalg.lstsq(design * sw[:, None], y * sw, rcond=None)
    rss = float(np.sum(w * (y - design @ coef) ** 2))
    cov = rss / (m - 2) * np.linalg.inv((design * w[:, None]).T @ design)
    se = np.sqrt(np.diag(cov))
    half = stats.t.ppf(0.5 + ci / 2, m - 2) * se
    tss = float(np.sum(w * (y - np.average(y, weights=w)) ** 2))
    # Gaussian log-likelihood with var_i = s²/w_i at the MLE s² = rss/m; k = 3 (a, b, s²).
    # rss is floored at the smallest normal float so that a noiseless fit has a finite AIC.
    loglik = -0.5 * m * (np.log(2 * np.pi * max(rss, np.finfo(float).tiny) / m) + 1) + 0.5 * np.sum(np.log(w))
    return {
        "a": float(coef[0]),
        "b": float(coef[1]),
        "a_se": float(se[0]),
        "b_se": float(se[1]),
        "a_lo": float(coef[0] - half[0]),
        "a_hi": float(coef[0] + half[0]),
        "b_lo": float(coef[1] - half[1]),
        "b_hi": float(coef[1] + half[1]),
        "r2": 1.0 - rss / tss if tss > 0 else float("nan"),
        "aic": float(2 * 3 - 2 * loglik),
    }


def fit_scaling(
    n_qubits: ArrayLike,
    variances: ArrayLike,
    var_lo: ArrayLike | None = None,
    var_hi: ArrayLike | None = None,
    ci: float = 0.95,
) -> dict:
    """Fit ln Var = a + b·n (exponential) and ln Var = a + b·ln n (polynomial); pick by AIC.

    Returns ``{"exponential": {...}, "polynomial": {...}, "model": best, "n_points": m,
    "weighted": bool}``; each fit has a, b, their standard errors and ``ci`` intervals
    (a_lo … b_hi), r2 and aic.  Given CIs, points are weighted by 1 / Var(ln Var).
    """
    n = np.asarray(n_qubits, dtype=np.float64)
    v = np.asarray(variances, dtype=np.float64)
    if n.ndim != 1 or n.shape != v.shape:
        raise ValueError(f"n_qubits and variances need the same 1-D shape, got {n.shape} and {v.shape}")
    if np.unique(n).size < 3:
        raise ValueError(f"a scaling fit needs at least 3 distinct qubit counts, got {sorted(set(n.tolist()))}")
    if not (np.all(n > 0) and np.all(v > 0) and np.all(np.isfinite(v))):
        raise ValueError("a scaling fit needs positive qubit counts and positive, finite variances")
    if not 0 < ci < 1:
        raise ValueError(f"ci must lie in (0, 1), got {ci}")
    w = _log_weights(v, var_lo, var_hi, ci)
    fits = {"exponential": _wls(n, np.log(v), w, ci), "polynomial": _wls(np.log(n), np.log(v), w, ci)}
    best = min(fits, key=lambda name: fits[name]["aic"])
    return {**fits, "model": best, "n_points": int(n.size), "weighted": var_lo is not None}


def saturation(depths: ArrayLike, variances: ArrayLike, var_lo: ArrayLike, var_hi: ArrayLike) -> int | None:
    """The smallest depth from which every later variance lies inside every later CI, or None.

    Checks that the variance has stopped changing with depth before a scaling fit (McClean:
    depth ≈ 10n).  A saturated tail needs at least two depths, so one point alone is not evidence.
    """
    d, v, lo, hi = (np.asarray(a, dtype=np.float64) for a in (depths, variances, var_lo, var_hi))
    if not d.ndim == 1 or not d.shape == v.shape == lo.shape == hi.shape:
        raise ValueError("depths, variances, var_lo and var_hi need the same 1-D shape")
    if np.unique(d).size != d.size:
        raise ValueError("saturation needs distinct depths")
    order = np.argsort(d)
    d, v, lo, hi = d[order], v[order], lo[order], hi[order]
    # Tail statistics from each index to the end: the tail is consistent when its largest
    # variance is below its smallest upper bound and its smallest above its largest lower bound.
    tail_v_max = np.maximum.accumulate(v[::-1])[::-1]
    tail_v_min = np.minimum.accumulate(v[::-1])[::-1]
    tail_hi_min = np.minimum.accumulate(hi[::-1])[::-1]
    tail_lo_max = np.maximum.accumulate(lo[::-1])[::-1]
    ok = (tail_v_max <= tail_hi_min) & (tail_v_min >= tail_lo_max)
    ok[-1:] = False
    start = np.flatnonzero(ok)
    return None if start.size == 0 else int(d[start[0]])


def bootstrap_mean(values: ArrayLike, seed: int = 0, n_boot: int = 2000, ci: float = 0.95) -> dict:
    """n, mean and its bootstrap CI (mean_lo, mean_hi) over the finite values: nan marks excluded samples."""
    values = np.asarray(values, dtype=np.float64)
    summary = summarize(values[np.isfinite(values)], n_boot=n_boot, ci=ci, seed=seed)
    return {key: summary[key] for key in ("n", "mean", "mean_lo", "mean_hi", "ci", "ci_method")}

