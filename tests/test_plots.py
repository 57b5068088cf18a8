"""Gradient figures show the table's numbers: variances (not std) with their CIs, the fitted
slopes of the fit table, exact curves equal to the formulas, and are written atomically."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import same_color

from qnnscope import exact
from qnnscope.gradients.summary import fit, summarize
from qnnscope.plots import gradients as pg


def _shards(sweep: str, ansatz: str, cost: str, rule: str, ns, variance, params=(0,), samples: int = 400) -> pd.DataFrame:
    """Synthetic shards: Gaussian gradients of the given variance per (n, slot)."""
    frames = []
    for n in ns:
        depth = int(rule[:-1]) * n if rule.endswith("n") else int(rule)
        rng = np.random.default_rng(n * 1000 + len(rule) + len(cost))
        for k in params:
            frames.append(
                pd.DataFrame(
                    {
                        "sweep": sweep, "depth_rule": rule, "model": "vqc", "ansatz": ansatz, "n_qubits": n,
                        "depth": depth, "cost_function": cost, "init": "uniform", "sigma": np.nan, "identity_block": 0,
                        "backend": "torch", "dtype": "complex64", "method": "auto", "chunk": 0,
                        "sample": np.arange(samples), "param_index": k, "param_layer": k // n, "param_wire": k % n,
                        "grad": rng.normal(0.0, math.sqrt(variance(n, k)), samples), "cost": 0.5,
                        "qnnscope_version": "test", "wall_time_s": 0.1,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def _global(n, k):
    return (1 / 8) * (3 / 8) ** (n - 1)


def _local(n, k):
    return 1 / (8 * n**2)


@pytest.fixture(scope="module")
def cerezo():
    """Summary and fit tables of a toy sweep: rx_product, global and local cost, depth rules 1 and 2n."""
    shards = pd.concat(
        [
            _shards("toy", "rx_product", cost, rule, (2, 3, 4, 5), var)
            for cost, var in (("global", _global), ("local", _local))
            for rule in ("1", "2n")
        ],
        ignore_index=True,
    )
    table = summarize(shards, n_boot=300)
    return table, fit(table)


@pytest.fixture(scope="module")
def mcclean():
    """A McClean sweep at depth rules 10n and 20n, slots 0 and 3, variance 1.1 × the 2-design value."""
    def var(n, k):
        return 1.1 * exact.two_design_variance(n)

    shards = pd.concat([_shards("mc", "mcclean", "zz", rule, (2, 3, 4), var, params=(0, 3)) for rule in ("10n", "20n")])
    table = summarize(shards, n_boot=300)
    return table, fit(table)


def _data_lines(ax):
    return {line.get_label(): line for line in ax.containers}


def _legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _gid(ax, gid: str):
    return [line for line in ax.get_lines() if line.get_gid() == gid]


def test_format_slope_writes_three_decimals_with_true_minus_signs():
    assert pg.format_slope(-0.706688, -0.730445, -0.682931) == "slope −0.707 [−0.730, −0.683]"
    assert pg.format_slope(0.0123, -0.5, 0.25) == "slope 0.012 [−0.500, 0.250]"


def test_variance_vs_qubits_plots_grad_var_with_its_ci_and_the_fitted_slope(cerezo):
    table, fits = cerezo
    fig = pg.variance_vs_qubits(table, fits, "toy")
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title(loc="left").splitlines()[0] for ax in axes] == ["rx_product, cost global", "rx_product, cost local"]
    for ax, cost in zip(axes, ("global", "local")):
        assert ax.get_yscale() == "log" and "Var" in ax.get_ylabel() and "theta_{0}" in ax.get_ylabel()
        assert ax.get_xlabel() == "qubits n"
        legend = _legend_texts(ax)
        for rule in ("1", "2n"):
            rows = table[(table["cost_function"] == cost) & (table["depth_rule"] == rule)].sort_values("n_qubits")
            row = fits[(fits["cost_function"] == cost) & (fits["depth_rule"] == rule)].iloc[0]
            label = f"L = {rule}: " + pg.format_slope(row["exp_b"], row["exp_b_lo"], row["exp_b_hi"])
            if row["best_fit"] == "polynomial":  # the AIC's choice is named with its power of n
                label += f"; AIC: ∝ n^{row['poly_b']:.2f}".replace("-", "\u2212")
            assert label in legend
            container = _data_lines(ax)[label]
            line = container.lines[0]
            assert line.get_gid() == "data"
            np.testing.assert_array_equal(line.get_xdata(), rows["n_qubits"])
            np.testing.assert_allclose(line.get_ydata(), rows["grad_var"], rtol=0, atol=0)
            bars = np.array([seg[:, 1] for seg in container.lines[2][0].get_segments()])
            np.testing.assert_allclose(bars, rows[["grad_var_lo", "grad_var_hi"]].to_numpy(), rtol=1e-12)
        title = ax.get_legend().get_title().get_text()
        assert "ln Var" in title and "per qubit" in title


def test_variance_vs_qubits_overlays_the_exact_formula_in_black(cerezo):
    table, fits = cerezo
    fig = pg.variance_vs_qubits(table, fits, "toy")
    for ax, formula in zip(fig.axes, (_global, _local)):
        (line,) = _gid(ax, "exact")  # depth rules 1 and 2n share one exact curve
        assert line.get_color() == "black"
        np.testing.assert_array_equal(line.get_xdata(), [2, 3, 4, 5])
        np.testing.assert_allclose(line.get_ydata(), [formula(n, 0) for n in (2, 3, 4, 5)], rtol=1e-12)
        assert line.get_label().startswith("exact")
        assert not _gid(ax, "asymptote")  # the limit equals the exact curve here


def test_mcclean_exact_line_is_the_two_design_value_and_only_for_the_saturated_rule(mcclean):
    table, fits = mcclean
    fig = pg.variance_vs_qubits(table, fits, "mc")
    (ax,) = [ax for ax in fig.axes if ax.get_visible()]
    # slots 0 and 3 are in the table: the panel shows slot 0 and says so
    assert "lowest of 2 slots" in ax.get_title(loc="left")
    np.testing.assert_allclose(
        _data_lines(ax)[next(t for t in _legend_texts(ax) if t.startswith("L = 20n"))].lines[0].get_ydata(),
        table[(table["depth_rule"] == "20n") & (table["param_index"] == 0)].sort_values("n_qubits")["grad_var"],
    )
    (line,) = _gid(ax, "exact")
    np.testing.assert_allclose(line.get_ydata(), [exact.two_design_variance(n) for n in (2, 3, 4)], rtol=1e-12)
    assert "20n" in line.get_label()

    only_10n = table[table["depth_rule"] == "10n"]
    ax = pg.variance_vs_qubits(only_10n, fits, "mc").axes[0]
    assert not _gid(ax, "exact")
    (limit,) = _gid(ax, "asymptote")
    assert limit.get_linestyle() == "--"
    np.testing.assert_allclose(limit.get_ydata(), [exact.two_design_variance(n) for n in (2, 3, 4)], rtol=1e-12)


def test_variance_vs_depth_has_a_dashed_two_design_line_in_each_qubit_counts_colour(mcclean):
    table, _ = mcclean
    fig = pg.variance_vs_depth(table, "mc")
    (ax,) = [ax for ax in fig.axes if ax.get_visible()]
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "depth L (layers)"
    lines = _data_lines(ax)
    limits = _gid(ax, "asymptote")
    assert len(limits) == 3
    for n in (2, 3, 4):
        data = lines[f"n = {n}"].lines[0]
        rows = table[(table["n_qubits"] == n) & (table["param_index"] == 0)].sort_values("depth")
        np.testing.assert_array_equal(data.get_xdata(), [10 * n, 20 * n])
        np.testing.assert_allclose(data.get_ydata(), rows["grad_var"], rtol=0, atol=0)
        (dashed,) = [line for line in limits if same_color(line.get_color(), data.get_color())]
        assert dashed.get_linestyle() == "--"
        np.testing.assert_allclose(dashed.get_ydata(), exact.two_design_variance(n), rtol=1e-12)
    assert any("2-design limit" in t for t in _legend_texts(ax))


def test_global_vs_local_puts_the_costs_side_by_side_and_refuses_a_sweep_with_one_cost(cerezo, mcclean):
    table, fits = cerezo
    assert pg.has_global_and_local(table, "toy")
    fig = pg.global_vs_local(table, fits, "toy")
    left, right = fig.axes
    assert left.get_title(loc="left").startswith("global cost") and right.get_title(loc="left").startswith("local cost")
    row = fits[(fits["cost_function"] == "local") & (fits["depth_rule"] == "2n")].iloc[0]
    slope = "L = 2n: " + pg.format_slope(row["exp_b"], row["exp_b_lo"], row["exp_b_hi"])
    assert row["best_fit"] == "polynomial"  # 1/(8n²) is a power law, and the AIC says so
    assert slope + f"; AIC: ∝ n^{row['poly_b']:.2f}".replace("-", "\u2212") in _legend_texts(right)
    np.testing.assert_allclose(_gid(right, "exact")[0].get_ydata(), [_local(n, 0) for n in (2, 3, 4, 5)], rtol=1e-12)

    only_global = table[table["cost_function"] == "global"]
    assert not pg.has_global_and_local(only_global, "toy")
    with pytest.raises(ValueError, match="sweep 'toy'.*global.*local"):
        pg.global_vs_local(only_global, fits, "toy")
    with pytest.raises(ValueError, match="sweep 'mc'"):
        pg.global_vs_local(mcclean[0], mcclean[1], "mc")


def test_an_unknown_sweep_is_refused_by_name(cerezo):
    with pytest.raises(ValueError, match="sweep 'nope'.*toy"):
        pg.variance_vs_depth(cerezo[0], "nope")


def test_figures_leave_no_pyplot_state(cerezo):
    before = plt.get_fignums()
    pg.variance_vs_qubits(cerezo[0], cerezo[1], "toy")
    pg.variance_vs_depth(cerezo[0], "toy")
    assert plt.get_fignums() == before


def test_save_writes_png_and_pdf_atomically(cerezo, tmp_path):
    fig = pg.global_vs_local(cerezo[0], cerezo[1], "toy")
    stem = tmp_path / "figures" / "sub" / "global_vs_local"
    paths = pg.save(fig, stem)
    assert paths == [stem.with_name("global_vs_local.png"), stem.with_name("global_vs_local.pdf")]
    png, pdf = (p.read_bytes() for p in paths)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    assert pdf.startswith(b"%PDF") and len(pdf) > 5_000
    pg.save(fig, stem)  # overwriting is fine
    assert sorted(p.name for p in stem.parent.iterdir()) == ["global_vs_local.pdf", "global_vs_local.png"]
