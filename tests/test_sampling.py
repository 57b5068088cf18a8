"""Seeds are stable and distinct; draws follow their stated distributions; bad options are refused."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest

from qnnscope.circuits import build
from qnnscope.sampling import INITS, SIGMA_INITS, draw, point_seed, stable_seed

POINT = {"ansatz": "mcclean", "n_qubits": 4, "depth": 40, "cost": "global"}

# 20 000 samples x 20 slots = 400 000 values per check.  A sample mean of N i.i.d. values has
# standard error sd/sqrt(N) (CLT); tolerances are 5 standard errors, a false failure rate below
# 1e-6 for any seed (the seeds here are fixed, so the tests are deterministic anyway).
S = 20_000
N_VALUES = S * 20
TOL_SE = 5


@pytest.fixture(scope="module")
def circuit():
    return build("mcclean", 4, 5)


def test_stable_seed_is_pinned_and_independent_of_python_hash():
    # The literal guards against any change of encoding or hash: the same sweep point must
    # get the same seed on every machine and Python version.
    assert stable_seed("a", 1, 0.1, {"b": 2, "a": [1, 2]}) == 3297979112004717529
    assert point_seed(POINT, 0, 1234) == 1326899546582619960
    code = "from qnnscope.sampling import point_seed; print(point_seed({'depth': 40, 'n_qubits': 4, 'cost': 'global', 'ansatz': 'mcclean'}, 0, 1234))"
    for hashseed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        assert int(out.stdout) == 1326899546582619960


def test_seed_is_63_bit_and_ignores_dict_order():
    seed = point_seed(POINT, 3, 7)
    assert 0 <= seed < 2**63
    assert point_seed(dict(reversed(list(POINT.items()))), 3, 7) == seed


def test_seed_differs_across_chunks_points_and_base_seeds():
    seeds = {point_seed(POINT, chunk, 7) for chunk in range(100)}
    seeds |= {point_seed({**POINT, "n_qubits": n}, 0, 7) for n in range(5, 30)}
    seeds |= {point_seed(POINT, 0, base) for base in range(8, 30)}
    assert len(seeds) == 100 + 25 + 22


def test_seed_keeps_types_apart():
    # 4, 4.0 and "4" are different parameters; numpy scalars encode like Python ones.
    assert len({stable_seed(4), stable_seed(4.0), stable_seed("4")}) == 3
    assert stable_seed(np.int64(4), np.float64(0.5)) == stable_seed(4, 0.5)


def test_draw_shapes_dtypes_and_reproducibility(circuit):
    theta, choices = draw(circuit, 7, seed=11)
    assert theta.shape == (7, circuit.n_params) and theta.dtype == np.float64
    assert choices.shape == (7, circuit.n_choices) and choices.dtype == np.int64
    again = draw(circuit, 7, seed=11)
    np.testing.assert_array_equal(theta, again[0])
    np.testing.assert_array_equal(choices, again[1])
    assert not np.array_equal(theta, draw(circuit, 7, seed=12)[0])


def test_theta_stream_does_not_depend_on_choice_slots(circuit):
    # child stream 0 draws theta, so a circuit without RP choices gets the same angles
    no_choices = build("rx_product", 20, 1)
    assert no_choices.n_choices == 0 and no_choices.n_params == circuit.n_params
    np.testing.assert_array_equal(draw(no_choices, 50, seed=5)[0], draw(circuit, 50, seed=5)[0])


@pytest.mark.parametrize(
    "init, low, high",
    [("uniform", 0.0, 2 * math.pi), ("uniform_sym", -math.pi, math.pi), ("uniform_half", 0.0, math.pi)],
)
def test_uniform_inits_cover_their_interval(circuit, init, low, high):
    theta, _ = draw(circuit, S, seed=3, init=init)
    assert low <= theta.min() < low + 1e-3  # 4e5 draws: the gap to an end is ~ width/4e5
    assert high - 1e-3 < theta.max() < high
    se = (high - low) / math.sqrt(12) / math.sqrt(N_VALUES)  # sd of U[low, high) is width/sqrt(12)
    assert abs(theta.mean() - (low + high) / 2) < TOL_SE * se


def test_normal_init_has_mean_zero_and_sd_sigma(circuit):
    sigma = 0.3
    theta, _ = draw(circuit, S, seed=4, init="normal", sigma=sigma)
    assert abs(theta.mean()) < TOL_SE * sigma / math.sqrt(N_VALUES)
    # the sample sd of N normal values has standard error sigma / sqrt(2N)
    assert abs(theta.std(ddof=1) - sigma) < TOL_SE * sigma / math.sqrt(2 * N_VALUES)


def test_choices_are_uniform_over_x_y_z(circuit):
    _, choices = draw(circuit, S, seed=5)
    assert set(np.unique(choices)) == {0, 1, 2}
    freq = np.bincount(choices.ravel(), minlength=3) / choices.size
    se = math.sqrt((1 / 3) * (2 / 3) / choices.size)  # binomial standard error of a frequency
    np.testing.assert_allclose(freq, 1 / 3, atol=TOL_SE * se)


def test_identity_block_ties_are_exactly_minus_theta():
    circuit = build("mcclean", 3, 4, identity_block=1)
    theta, _ = draw(circuit, 1000, seed=6, init="identity_block")
    dst, src = np.array(circuit.ties).T
    np.testing.assert_array_equal(theta[:, dst], -theta[:, src])
    untied = np.setdiff1d(np.arange(circuit.n_params), dst)
    assert theta[:, untied].min() >= 0 and theta[:, untied].max() < 2 * math.pi


def test_inits_constant_lists_every_supported_init(circuit):
    tied = build("mcclean", 3, 2, identity_block=1)
    for init in INITS:
        target = tied if init == "identity_block" else circuit
        draw(target, 2, seed=0, init=init, sigma=0.1 if init in SIGMA_INITS else None)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"init": "gaussian"}, "unknown init 'gaussian'; allowed: uniform, uniform_sym"),
        ({"init": "normal"}, "init='normal' needs sigma > 0, got sigma=None"),
        ({"init": "normal", "sigma": -1.0}, "needs sigma > 0, got sigma=-1.0"),
        ({"init": "uniform", "sigma": 0.1}, "sigma applies only to init='normal'"),
        ({"init": "normal_depth", "sigma": float("inf")}, "needs sigma > 0, got sigma=inf; allowed: finite"),
        ({"init": "normal_depth", "sigma": 0.1, "depth": 0}, "needs an integer depth >= 1, got depth=0"),
        ({"n_samples": 0}, "n_samples must be >= 1, got 0"),
        ({"init": "identity_block"}, "build the ansatz with identity_block > 0"),
    ],
)
def test_bad_options_are_refused_with_what_is_allowed(circuit, kwargs, message):
    args = {"n_samples": 3, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        draw(circuit, **args)


def test_negative_chunk_is_refused():
    with pytest.raises(ValueError, match="chunk must be >= 0, got -1"):
        point_seed(POINT, -1, 0)
