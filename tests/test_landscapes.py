"""Loss landscapes: scans against closed forms, Hessians against finite differences, PCA and
filter-normalised directions, Fourier support, metrics."""

import numpy as np
import pytest
import torch

from qnnscope import landscapes as ls
from qnnscope.circuits import build
from qnnscope.costs import make_cost


def rx_objective(n, cost):
    return ls.vqc_objective(build("rx_product", n, 1), make_cost(cost, n))


@pytest.mark.parametrize("n", [1, 3, 6])
def test_tied_rx_scan_equals_closed_form(n):
    alpha = np.linspace(-np.pi, np.pi, 41)
    ones = np.ones(n)
    for cost, exact in [("global", 1 - np.cos(alpha / 2) ** (2 * n)), ("local", 1 - np.cos(alpha / 2) ** 2)]:
        obj = rx_objective(n, cost)
        result = ls.scan(obj, np.zeros(n), ones, [alpha])
        np.testing.assert_allclose(result.cost, exact, atol=1e-10, rtol=0)
        # every angle moves by ±α under a periodic random direction: cos is even, same curve
        signs = ls.random_direction(obj, seed=7)
        assert set(np.abs(signs)) == {1.0}
        np.testing.assert_allclose(ls.scan(obj, np.zeros(n), signs, [alpha]).cost, exact, atol=1e-10, rtol=0)


def test_gradient_norm_of_tied_global_scan():
    # C_G = 1 − Π cos²(θ_j/2): ∂C/∂θ_j = sin(θ_j/2)cos(θ_j/2)·Π_{k≠j} cos²(θ_k/2); all equal when tied
    n, alpha = 4, np.linspace(-3, 3, 13)
    result = ls.scan(rx_objective(n, "global"), np.zeros(n), np.ones(n), [alpha])
    each = np.sin(alpha / 2) * np.cos(alpha / 2) ** (2 * n - 1)
    np.testing.assert_allclose(result.grad_norm, np.sqrt(n) * np.abs(each), atol=1e-12)


def test_halves_scan_is_cerezo_cross_section():
    n = 5
    x = np.linspace(-np.pi, np.pi, 9)
    obj = rx_objective(n, "global")
    result = ls.scan(obj, np.zeros(n), ls.halves_directions(n), [x, x])
    X, Y = np.meshgrid(x, x, indexing="ij")
    np.testing.assert_allclose(result.cost, 1 - np.cos(X / 2) ** 6 * np.cos(Y / 2) ** 4, atol=1e-10)
    local = ls.scan(rx_objective(n, "local"), np.zeros(n), ls.halves_directions(n), [x, x])
    np.testing.assert_allclose(local.cost, 1 - (3 * np.cos(X / 2) ** 2 + 2 * np.cos(Y / 2) ** 2) / 5, atol=1e-10)


def test_hessian_equals_finite_differences():
    circuit = build("hea", 3, 2)
    obj = ls.vqc_objective(circuit, make_cost("local", 3))
    theta = np.random.default_rng(1).uniform(0, 2 * np.pi, circuit.n_params)
    h = ls.hessian(obj, theta)
    eps = 1e-4
    fd = np.empty_like(h)
    for i in range(len(theta)):
        e = np.zeros_like(theta)
        e[i] = eps
        fd[i] = (obj.evaluate([theta + e])[1][0] - obj.evaluate([theta - e])[1][0]) / (2 * eps)
    np.testing.assert_allclose(h, fd, atol=1e-8)
    np.testing.assert_allclose(h, h.T, atol=1e-14)
    # second differences of the cost itself along a random unit vector
    v = np.random.default_rng(2).standard_normal(len(theta))
    v /= np.linalg.norm(v)
    c = [obj.evaluate([theta + s * 1e-3 * v])[0][0] for s in (-1, 0, 1)]
    assert abs((c[0] - 2 * c[1] + c[2]) / 1e-6 - v @ h @ v) < 1e-5
    np.testing.assert_allclose(ls.hessian_vector_product(obj, theta, v), h @ v, atol=1e-12)


def test_rx_hessian_at_zero_is_diagonal_closed_form():
    # C_G near 0: 1 − Π cos² ≈ Σ θ_j²/4 → H = I/2;  C_L: H = I/(2n)
    n = 4
    np.testing.assert_allclose(ls.hessian(rx_objective(n, "global"), np.zeros(n)), np.eye(n) / 2, atol=1e-12)
    np.testing.assert_allclose(ls.hessian(rx_objective(n, "local"), np.zeros(n)), np.eye(n) / (2 * n), atol=1e-12)


def test_lanczos_extremes_match_exact_spectrum():
    circuit = build("hea", 3, 3)
    obj = ls.vqc_objective(circuit, make_cost("global", 3))
    theta = np.random.default_rng(3).uniform(0, 2 * np.pi, circuit.n_params)
    exact, _ = ls.hessian_extremes(obj, theta)
    vals, vecs = ls.hessian_extremes(obj, theta, k=2, exact_max=0)
    np.testing.assert_allclose(vals, np.r_[exact[:2], exact[-2:]], atol=1e-9)
    h = ls.hessian(obj, theta)
    for lam, v in zip(vals, vecs):
        np.testing.assert_allclose(h @ v, lam * v, atol=1e-8)
    dirs, _ = ls.hessian_directions(obj, theta)
    np.testing.assert_allclose(dirs @ h @ dirs.T, np.diag([exact[-1], exact[0]]), atol=1e-10)


def test_pca_directions_are_orthonormal_and_explain_the_path():
    rng = np.random.default_rng(4)
    t = np.linspace(0, 1, 50)[:, None]
    a, b = np.linalg.qr(rng.standard_normal((10, 2)))[0].T  # orthonormal
    path = 3 * t * a + 0.2 * np.sin(5 * t) * b
    dirs, ratio, coords = ls.pca_directions(path)
    np.testing.assert_allclose(dirs @ dirs.T, np.eye(2), atol=1e-12)
    np.testing.assert_allclose(ratio.sum(), 1, atol=1e-12)  # a planar path: all variance on the plane
    assert ratio[0] > 0.9
    np.testing.assert_allclose(np.linalg.norm(dirs @ np.stack([a, b]).T, axis=0), 1, atol=1e-12)  # plane = span(a, b)
    noisy = ls.pca_directions(path + 1e-2 * rng.standard_normal(path.shape))[1]
    assert 0.9 < noisy.sum() < 1
    np.testing.assert_allclose(coords[-1], 0, atol=1e-12)  # centred at the end point


def test_filter_normalised_directions_have_the_filter_norms():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(12, 2))
    x = torch.randn(5, 1, 4, 4, dtype=torch.float64)
    y = torch.tensor([0, 1, 0, 1, 1])
    obj, centre = ls.module_objective(net, lambda out: torch.nn.functional.cross_entropy(out, y), x)
    d = ls.random_direction(obj, seed=3, normalisation="filter", centre=centre)
    for grp in obj.groups:
        dd, ww = d[grp.slice].reshape(grp.shape), centre[grp.slice].reshape(grp.shape)
        if len(grp.shape) == 1:
            assert not dd.any()  # biases: zero (Li et al.)
        else:
            np.testing.assert_allclose(np.linalg.norm(dd.reshape(len(dd), -1), axis=1),
                                       np.linalg.norm(ww.reshape(len(ww), -1), axis=1), rtol=1e-12)
    # the batched (vmap) evaluation equals the module's own loss and autograd gradient
    costs, grads = obj.evaluate(np.stack([centre, centre + 0.1 * d]))
    loss = torch.nn.functional.cross_entropy(net(x), y)
    loss.backward()
    assert abs(costs[0] - loss.item()) < 1e-12
    np.testing.assert_allclose(grads[0], torch.cat([p.grad.reshape(-1) for p in net.parameters()]).numpy(), atol=1e-12)


def test_rms_normalisation_and_bad_names():
    obj = rx_objective(8, "local")
    d = ls.random_direction(obj, seed=1, normalisation="rms")
    assert abs(np.sqrt(np.mean(d**2)) - 1) < 1e-12
    with pytest.raises(ValueError, match="normalisation: 'unit'"):
        ls.random_direction(obj, seed=1, normalisation="unit")


def test_fourier_support_of_rx_landscapes():
    # halves scan of n = 6: global cost has frequencies up to 3 per axis, local only 1
    n = 6
    x = np.linspace(-np.pi, np.pi, 33)
    glob = ls.scan(rx_objective(n, "global"), np.zeros(n), ls.halves_directions(n), [x, x])
    loc = ls.scan(rx_objective(n, "local"), np.zeros(n), ls.halves_directions(n), [x, x])
    freqs, power = ls.fourier_spectrum(glob.cost)
    kx, ky = np.meshgrid(*freqs, indexing="ij")
    assert power[(np.abs(kx) > 3) | (np.abs(ky) > 3)].max() < 1e-25
    # cos⁶(x/2) = (1 + cos x)³/8 has e^{3ix} coefficient 1/64, so c_(3,3) = −1/64², |c|² = 2^-24
    assert abs(power[(kx == 3) & (ky == 3)].item() - 2.0**-24) < 1e-20
    assert ls.fourier_metrics(loc.cost)["fourier_max_frequency"] == 1
    assert ls.fourier_metrics(glob.cost)["fourier_max_frequency"] == pytest.approx(np.sqrt(18))
    assert ls.is_periodic([x, x], "halves", "periodic") and not ls.is_periodic([x, x], "random", "rms")


def test_scan_metrics_on_a_gorge():
    n = 16
    x = np.linspace(-np.pi, np.pi, 41)
    obj = rx_objective(n, "global")
    result = ls.scan(obj, np.zeros(n), np.ones(n), [x])
    m = ls.scan_metrics(result, plateau_threshold=1e-3, periodic=True)
    exact = np.abs(np.sin(x / 2) * np.cos(x / 2) ** (2 * n - 1)) * np.sqrt(n)
    assert m["plateau_fraction"] == np.mean(exact < 1e-3)
    assert 0.5 < m["plateau_fraction"] < 1  # the gorge: flat almost everywhere
    assert m["cost_min"] == pytest.approx(0, abs=1e-12)
    local = ls.scan_metrics(ls.scan(rx_objective(n, "local"), np.zeros(n), np.ones(n), [x]), 1e-3, True)
    assert local["plateau_fraction"] < 0.1
    assert ls.hessian_metrics(np.array([-1.0, 1e-14, 2.0, 4.0])) == {
        "hessian_min": -1.0, "hessian_max": 4.0, "hessian_condition": 4.0, "hessian_null_fraction": 0.25,
        "hessian_negative_fraction": pytest.approx(1 / 3), "hessian_eigenvalues": 4}


def test_training_records_a_descending_path():
    circuit = build("hea", 3, 2)
    obj = ls.vqc_objective(circuit, make_cost("local", 3))
    theta0 = np.random.default_rng(5).uniform(0, 2 * np.pi, circuit.n_params)
    path, costs = ls.train(obj, theta0, steps=60, lr=0.1)
    assert path.shape == (61, circuit.n_params) and np.array_equal(path[0], theta0)
    assert costs[-1] < costs[0] - 0.1
    np.testing.assert_allclose(costs, obj.evaluate(path)[0], atol=1e-12)


@pytest.mark.parametrize("resolution, extent", [(11, 1.0), (51, 1.0), (41, 0.5), (3, 1.0), (8, 2.0)])
def test_segment_axis_holds_both_ends(resolution, extent):
    t = ls.segment_axis(resolution, extent)
    assert len(t) == resolution and np.all(np.diff(t) > 0)
    assert np.isclose(t, 0, atol=1e-12).any() and np.isclose(t, 1, atol=1e-12).any()
    np.testing.assert_allclose(np.diff(t), np.diff(t)[0])
    assert t[0] <= 0 and t[-1] >= 1


def test_identity_centre_is_the_identity_circuit():
    # Grant et al.: each block followed by its mirror with negated angles, so hea (no fixed
    # pre-layer) at the identity centre leaves |0…0⟩ alone: both costs 0, a minimum
    from qnnscope.gradients.point import GradientPoint

    for cost in ("global", "local"):
        point = GradientPoint("hea", 4, 2, cost=cost, init="identity_block", identity_block=1, dtype="complex128")
        spec = ls.ScanSpec(point, "identity", "random", 2, resolution=5)
        ls.check_spec(spec)
        obj, draw = ls.point_objective(point, 0)
        centre = ls.starting_point(spec, draw, obj.n_params, 0)
        assert not np.allclose(centre, 0)
        costs, grads = obj.evaluate([centre])
        assert abs(costs[0]) < 1e-12 and np.abs(grads).max() < 1e-12
