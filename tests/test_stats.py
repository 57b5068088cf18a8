"""Variances and their CIs, scaling fits and depth saturation give the numbers theory says."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from qnnscope.stats import BCA_MAX_N, fit_scaling, saturation, summarize

Z95 = sps.norm.ppf(0.975)


# --- summarize -------------------------------------------------------------------------------


def test_summarize_variance_is_numpy_ddof1_exactly():
    x = np.random.default_rng(1).exponential(size=500)
    out = summarize(x)
    assert out["var"] == np.var(x, ddof=1)
    assert out["mean"] == np.mean(x)
    assert out["n"] == 500
    assert out["var_lo"] < out["var"] < out["var_hi"]
    assert out["mean_lo"] < out["mean"] < out["mean_hi"]


def test_bootstrap_ci_of_normal_variance_has_the_asymptotic_width():
    # For n normal values Var(s²) = 2σ⁴/(n−1), so a 95% CI is about 2·z·σ²·sqrt(2/(n−1)) wide.
    # The width's relative error here is ~3%: s² vs σ² (1.4%), the sample kurtosis the bootstrap
    # sees (1.2%) and the Monte-Carlo error of the 2.5%/97.5% quantiles of 2000 resamples (2.2%);
    # 12% is about 4 of those standard errors.
    sigma, n = 2.0, BCA_MAX_N
    x = np.random.default_rng(2).normal(0.0, sigma, size=n)
    out = summarize(x, n_boot=2000, seed=3)
    assert out["ci_method"] == "BCa"
    assert out["var_lo"] < sigma**2 < out["var_hi"]
    expected = 2 * sigma**2 * Z95 * math.sqrt(2 / (n - 1))
    assert out["var_hi"] - out["var_lo"] == pytest.approx(expected, rel=0.12)
    # and the mean's CI is about 2·z·σ/sqrt(n) wide and covers the true mean 0
    assert out["mean_lo"] < 0 < out["mean_hi"]
    assert out["mean_hi"] - out["mean_lo"] == pytest.approx(2 * Z95 * sigma / math.sqrt(n), rel=0.12)


def test_summarize_is_reproducible_for_a_seed():
    x = np.random.default_rng(4).normal(size=300)
    assert summarize(x, seed=5) == summarize(x, seed=5)
    assert summarize(x, seed=5)["var_lo"] != summarize(x, seed=6)["var_lo"]


def test_constant_sample_falls_back_to_the_percentile_interval():
    out = summarize(np.full(50, 0.25))
    assert out["ci_method"] == "percentile"
    assert (out["var"], out["var_lo"], out["var_hi"]) == (0.0, 0.0, 0.0)
    assert out["mean_lo"] == out["mean_hi"] == 0.25


def test_large_samples_use_the_percentile_interval():
    x = np.random.default_rng(6).normal(size=BCA_MAX_N + 1)
    out = summarize(x, n_boot=500)
    assert out["ci_method"] == "percentile"
    assert out["var_lo"] < 1.0 < out["var_hi"]


@pytest.mark.parametrize("bad", [[1.0], [], [[1.0, 2.0], [3.0, 4.0]], [1.0, np.nan]])
def test_summarize_refuses_what_has_no_variance(bad):
    with pytest.raises(ValueError, match="summarize needs"):
        summarize(np.asarray(bad))


# --- fit_scaling -----------------------------------------------------------------------------

N = np.arange(2, 11)


def test_exponential_decay_is_recovered_exactly():
    # Cerezo et al.'s global-cost toy model: Var = (1/8)(3/8)^(n−1), so ln Var = ln(1/3) + n·ln(3/8)
    fit = fit_scaling(N, 0.125 * (3 / 8) ** (N - 1))
    assert fit["model"] == "exponential"
    exp = fit["exponential"]
    assert exp["b"] == pytest.approx(math.log(3 / 8), abs=1e-12)
    assert exp["a"] == pytest.approx(math.log(1 / 3), abs=1e-12)
    assert exp["r2"] == pytest.approx(1.0, abs=1e-12)
    assert exp["b_lo"] <= math.log(3 / 8) <= exp["b_hi"]
    assert fit["exponential"]["aic"] < fit["polynomial"]["aic"]


def test_polynomial_decay_is_recovered_exactly():
    # Cerezo et al.'s local-cost toy model: Var = 1/(8n²), so ln Var = −ln 8 − 2 ln n
    fit = fit_scaling(N, 1 / (8 * N**2.0))
    assert fit["model"] == "polynomial"
    poly = fit["polynomial"]
    assert poly["b"] == pytest.approx(-2.0, abs=1e-12)
    assert poly["a"] == pytest.approx(-math.log(8), abs=1e-12)
    assert fit["exponential"]["r2"] < 0.99


def test_weights_do_not_move_an_exact_fit():
    var = 0.125 * (3 / 8) ** (N - 1)
    widths = np.linspace(1.1, 3.0, N.size)
    fit = fit_scaling(N, var, var / widths, var * widths)
    assert fit["weighted"] and fit["model"] == "exponential"
    assert fit["exponential"]["b"] == pytest.approx(math.log(3 / 8), abs=1e-12)


def test_a_point_with_a_wide_ci_hardly_pulls_the_fit():
    var = np.exp(-0.5 * N)
    var[-1] *= 20  # an outlier ...
    lo, hi = var / 1.05, var * 1.05
    lo[-1], hi[-1] = var[-1] / 1e4, var[-1] * 1e4  # ... whose CI says it knows nothing
    assert fit_scaling(N, var, lo, hi)["exponential"]["b"] == pytest.approx(-0.5, abs=0.01)
    assert abs(fit_scaling(N, var)["exponential"]["b"] + 0.5) > 0.15  # unweighted, it pulls


def test_slope_ci_has_its_nominal_coverage():
    # Gaussian noise on ln Var with the sd each point's CI states: the t interval with m − 2
    # dof is exact, so over R = 2000 replicates the coverage is 0.95 ± 4·sqrt(0.95·0.05/R).
    rng = np.random.default_rng(7)
    n = np.array([4.0, 6.0, 8.0, 10.0, 12.0])
    sd = np.array([0.05, 0.1, 0.15, 0.2, 0.3])
    a, b, reps = -1.0, -0.7, 2000
    covered = 0
    for _ in range(reps):
        log_var = a + b * n + rng.normal(0.0, sd)
        fit = fit_scaling(n, np.exp(log_var), np.exp(log_var - Z95 * sd), np.exp(log_var + Z95 * sd))
        covered += fit["exponential"]["b_lo"] <= b <= fit["exponential"]["b_hi"]
    assert abs(covered / reps - 0.95) < 4 * math.sqrt(0.95 * 0.05 / reps)


def test_noisy_variances_from_samples_give_a_ci_covering_the_true_slope():
    # the whole path: samples with Var = (1/8)(3/8)^(n−1) → summarize → weighted fit
    rng = np.random.default_rng(8)
    n = np.arange(2, 9)
    true_var = 0.125 * (3 / 8) ** (n - 1)
    rows = [summarize(rng.normal(0.0, math.sqrt(v), size=2000), seed=k) for k, v in enumerate(true_var)]
    fit = fit_scaling(n, [r["var"] for r in rows], [r["var_lo"] for r in rows], [r["var_hi"] for r in rows])
    assert fit["model"] == "exponential"
    assert fit["exponential"]["b_lo"] < math.log(3 / 8) < fit["exponential"]["b_hi"]
    assert fit["exponential"]["b_se"] < 0.02


@pytest.mark.parametrize(
    "n, var, extra, message",
    [
        ([2, 3], [0.1, 0.05], {}, "at least 3 distinct qubit counts"),
        ([2, 2, 3, 3], [0.1, 0.1, 0.05, 0.05], {}, "at least 3 distinct qubit counts"),
        ([2, 3, 4], [0.1, 0.0, 0.01], {}, "positive, finite variances"),
        ([2, 3, 4], [0.1, 0.05, 0.01], {"var_lo": [0.09, 0.04, 0.009]}, "both var_lo and var_hi"),
        ([2, 3, 4], [0.1, 0.05, 0.01], {"var_lo": [0.1, 0.04, 0.0], "var_hi": [0.1, 0.06, 0.02]}, "0 < var_lo < var_hi"),
    ],
)
def test_fit_scaling_refuses_what_it_cannot_fit(n, var, extra, message):
    with pytest.raises(ValueError, match=message):
        fit_scaling(n, var, **extra)


# --- saturation ------------------------------------------------------------------------------

DEPTHS = np.array([1, 2, 4, 8, 16, 32, 64])


def test_saturation_finds_where_the_variance_stops_changing():
    var = np.array([0.30, 0.15, 0.08, 0.05, 0.041, 0.040, 0.0395])
    lo, hi = var * 0.95, var * 1.05
    assert saturation(DEPTHS, var, lo, hi) == 16
    order = np.random.default_rng(9).permutation(DEPTHS.size)
    assert saturation(DEPTHS[order], var[order], lo[order], hi[order]) == 16


def test_saturation_needs_mutual_agreement_not_just_overlap():
    # depths 16 and 32 have overlapping CIs, but neither value lies inside the other's CI
    var = np.array([0.30, 0.15, 0.08, 0.05, 0.0415, 0.0395, 0.040])
    lo, hi = var * 0.97, var * 1.03
    assert saturation(DEPTHS, var, lo, hi) == 32


def test_still_decaying_variance_has_not_saturated():
    var = 0.5 ** np.arange(DEPTHS.size)
    assert saturation(DEPTHS, var, var * 0.9, var * 1.1) is None
    assert saturation([10], [0.1], [0.09], [0.11]) is None
