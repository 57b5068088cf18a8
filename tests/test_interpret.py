"""Explanations and faithfulness metrics against closed forms: QGrad-CAM's parameter-shift chain
equals autograd, Grad-CAM and saliency of linear heads are their weights, deletion AUCs are hand sums."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy import integrate, ndimage, stats
from torch import nn

from qnnscope import interpret
from qnnscope import stats as qstats
from qnnscope.models import hybrid


def quantum_model(kind: str, seed: int = 0) -> hybrid.HybridClassifier:
    """A complex128 digits-shaped quantum model with O(1) VQC weights (not the near-zero initial ones)."""
    return hybrid.reinitialise_quantum(hybrid.build(kind, (1, 8, 8), 10, dtype="complex128", seed=seed), seed).eval()


def images(n: int, seed: int, channels: int = 1) -> torch.Tensor:
    return torch.rand(n, channels, 8, 8, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


class PooledLinear(nn.Module):
    """A CAM oracle: activations are the input's channels, logits = W · (spatial mean of A) + b."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.linear = nn.Linear(weight.shape[1], weight.shape[0]).double()
        with torch.no_grad():
            self.linear.weight.copy_(weight)

    def activations(self, x):
        return x

    def head(self, a):
        return self.linear(a.mean((2, 3)))

    def forward(self, x):
        return self.head(self.activations(x))


class PixelLinear(nn.Module):
    """Logits (Σ_p w_p x_p, 0) over all channels and pixels: the class-0 probability is σ(w · x)."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(weight.double())

    def forward(self, x):
        score = (x.flatten(1) * self.weight.flatten()).sum(1)
        return torch.stack([score, torch.zeros_like(score)], 1)


def sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


# --------------------------------------------------------------------------------------- CAMs

@pytest.mark.parametrize("kind", ["vqc", "dressed"])
def test_qgradcam_parameter_shift_chain_equals_autograd(kind):
    model, x = quantum_model(kind), images(16, 1)
    for c in (0, 3, 7, 9):
        target = torch.full((16,), c)
        auto, explicit = interpret.gradcam(model, x, target), interpret.qgradcam(model, x, target)
        scale = auto.alpha.abs().max()
        assert scale > 1e-4  # a non-trivial gradient
        assert (explicit.alpha - auto.alpha).abs().max() <= 1e-6 * scale
        assert (explicit.maps - auto.maps).abs().max() <= 1e-6 * auto.maps.abs().max()
        assert torch.equal(explicit.target, target)


def test_gradcam_of_a_pooled_linear_head_is_its_weights_over_hw():
    weight = torch.tensor([[1.0, -2.0, 0.5], [-1.0, 3.0, 2.0]], dtype=torch.float64)
    model, x = PooledLinear(weight), images(4, 3, channels=3) - 0.5
    for c in (0, 1):
        cam = interpret.gradcam(model, x, torch.full((4,), c))
        assert torch.allclose(cam.alpha, (weight[c] / 64).expand(4, -1), rtol=0, atol=1e-15)
        assert torch.allclose(cam.maps, torch.relu(torch.einsum("k,bkij->bij", weight[c] / 64, x)), rtol=0, atol=1e-15)


def test_gradcam_explains_the_prediction_by_default_on_the_classical_twin():
    model = hybrid.build("classical", (1, 8, 8), 10, seed=4).eval()
    x = images(8, 4).float()
    cam = interpret.gradcam(model, x)
    assert torch.equal(cam.target, model(x).argmax(1))
    assert cam.maps.shape == (8, 4, 4) and cam.alpha.shape == (8, 16) and (cam.maps >= 0).all()


def test_upsample_and_random_maps():
    assert torch.equal(interpret.upsample(torch.full((2, 4, 4), 0.25), (8, 8)), torch.full((2, 8, 8), 0.25))
    maps = interpret.random_maps((3, 4, 4), seed=5)
    assert maps.shape == (3, 4, 4) and (maps >= 0).all() and (maps < 1).all()
    assert torch.equal(maps, interpret.random_maps((3, 4, 4), seed=5))
    assert not torch.equal(maps, interpret.random_maps((3, 4, 4), seed=6))


# ----------------------------------------------------------------------------------- saliency

def test_saliency_of_a_linear_model_is_the_weight_magnitude_max_over_channels():
    weight = torch.randn(2, 8, 8, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    model, x = PixelLinear(weight), images(3, 6, channels=2)
    expected = weight.abs().amax(0).expand(3, -1, -1)
    assert torch.allclose(interpret.gradient_saliency(model, x, torch.zeros(3, dtype=torch.long)), expected, atol=1e-15)
    # the gradient of a linear model is the same at every noisy copy
    smooth = interpret.smoothgrad(model, x, torch.zeros(3, dtype=torch.long), n=10, noise=0.3, seed=0)
    assert torch.allclose(smooth, expected, atol=1e-15)


def test_smoothgrad_is_seeded_and_independent_of_batching():
    model, x = quantum_model("dressed", seed=7), images(4, 7)
    one_pass = interpret.smoothgrad(model, x, n=6, seed=3)
    chunked = interpret.smoothgrad(model, x, n=6, seed=3, max_batch=8)
    assert torch.allclose(one_pass, chunked, rtol=0, atol=1e-14)
    assert not torch.allclose(one_pass, interpret.smoothgrad(model, x, n=6, seed=4))
    assert torch.allclose(interpret.smoothgrad(model, x, n=1, noise=0.0), interpret.gradient_saliency(model, x), atol=1e-14)


# ------------------------------------------------------------------------------- embeddings

@pytest.mark.parametrize("kind, middle", [("vqc", ("quantum_in", "quantum_out")), ("classical", ("hidden_in", "hidden_out"))])
def test_layer_activations_run_from_input_to_logits(kind, middle):
    model = hybrid.build(kind, (1, 8, 8), 10, n_qubits=3, dtype="complex128", seed=8).eval()
    x = images(6, 8)
    layers = interpret.layer_activations(model, x)
    assert list(layers) == ["input", "cnn", *middle, "logits"]
    assert [v.shape[1] for v in layers.values()] == [64, 16, 3, 3, 10]
    assert torch.allclose(layers["logits"], model(x), atol=1e-14)


def test_whitening_of_quantum_outputs_gives_identity_covariance():
    model = quantum_model("vqc", seed=9)
    z = interpret.layer_activations(model, images(200, 9))["quantum_out"].numpy()
    w, mean = interpret.whitening(z)
    assert np.allclose(w, w.T, atol=1e-12) and np.allclose(mean, z.mean(0))
    assert np.abs(np.cov((z - mean) @ w, rowvar=False) - np.eye(4)).max() < 1e-8


def test_tsne_is_deterministic_and_caps_the_perplexity():
    features = torch.randn(12, 5, generator=torch.Generator().manual_seed(10))
    embedding = interpret.tsne(features, seed=0)  # perplexity 30 > n: capped at 11/3
    assert embedding.shape == (12, 2)
    assert np.array_equal(embedding, interpret.tsne(features, seed=0))


# ---------------------------------------------------------------------------- faithfulness

def test_deletion_auc_of_a_perfect_and_a_reversed_map_on_a_pixel_linear_model():
    weight = torch.tensor([[[4.0, 3.0], [2.0, 1.0]]])
    model, x = PixelLinear(weight), torch.ones(1, 1, 2, 2, dtype=torch.float64)
    perfect = interpret.deletion(model, x, weight, torch.tensor([0]), steps=4, max_batch=3)
    remaining = [10, 6, 3, 1, 0]  # w · x after deleting the 0…4 largest weights
    probs = [sigmoid(v) for v in remaining]
    assert np.allclose(perfect.fractions, [0, 0.25, 0.5, 0.75, 1])
    assert np.allclose(perfect.probs[0], probs, rtol=0, atol=1e-15)
    assert perfect.auc[0] == pytest.approx(0.25 * (probs[0] / 2 + sum(probs[1:4]) + probs[4] / 2), abs=1e-15)
    reversed_ = interpret.deletion(model, x, -weight, torch.tensor([0]), steps=4)
    worst = [sigmoid(v) for v in (10, 9, 7, 4, 0)]
    assert reversed_.auc[0] == pytest.approx(0.25 * (worst[0] / 2 + sum(worst[1:4]) + worst[4] / 2), abs=1e-15)
    assert perfect.auc[0] < reversed_.auc[0]


def test_insertion_restores_pixels_in_map_order_into_the_blurred_image():
    weight = torch.tensor([[[4.0, -3.0, 2.0], [1.0, -1.0, 0.5], [0.0, 2.0, -2.0]]])
    model = PixelLinear(weight)
    x = images(1, 11)[:, :, :3, :3]
    curve = interpret.insertion(model, x, weight.abs(), torch.tensor([0]), steps=9, blur_sigma=1.0)
    blurred = ndimage.gaussian_filter(x.numpy()[0, 0], 1.0, mode="reflect").ravel()
    current, probs = blurred.copy(), []
    for pixel in [None, *np.argsort(-weight.abs().numpy().ravel(), kind="stable")]:
        if pixel is not None:
            current[pixel] = x.numpy().ravel()[pixel]
        probs.append(sigmoid(float(current @ weight.numpy().ravel())))
    assert np.allclose(curve.probs[0], probs, rtol=0, atol=1e-14)
    assert curve.auc[0] == pytest.approx(integrate.trapezoid(probs, np.arange(10) / 9), abs=1e-14)


def test_blur_keeps_a_constant_image():
    assert torch.allclose(interpret.faithfulness.blur(torch.full((2, 1, 5, 7), 0.3), 2.0), torch.full((2, 1, 5, 7), 0.3))


def test_pointing_game_hits_inside_misses_outside_and_skips_empty_masks():
    masks = torch.zeros(4, 8, 8, dtype=torch.bool)
    masks[:3, 2:4, 2:4] = True  # sample 3 has no evidence
    maps = torch.zeros(4, 8, 8)
    maps[0, 3, 3] = 1  # inside
    maps[1, 7, 7] = 1  # far outside
    maps[2, 3, 5] = 1  # two pixels right of the mask
    maps[3, 3, 3] = 1
    hits, n_used = interpret.pointing_game(maps, masks)
    assert np.array_equal(hits[:3], [1, 0, 0]) and np.isnan(hits[3]) and n_used == 3
    assert np.array_equal(interpret.pointing_game(maps, masks, tolerance=2).values[:3], [1, 0, 1])
    assert np.array_equal(interpret.pointing_game(maps, masks, tolerance=1).values[:3], [1, 0, 0])


def test_energy_share_of_a_uniform_map_is_the_mask_area_fraction():
    masks = torch.zeros(3, 8, 8, dtype=torch.bool)
    masks[0, :5, :3] = True
    masks[1, 4:, :] = True
    share, n_used = interpret.energy_share(torch.ones(3, 8, 8), masks)
    assert share[0] == 15 / 64 and share[1] == 0.5 and np.isnan(share[2]) and n_used == 2
    assert interpret.energy_share(masks[:1].float() * 2.5, masks[:1]).values[0] == 1.0


def test_rank_correlation_matches_scipy_per_sample():
    a = torch.randint(0, 5, (6, 4, 4), generator=torch.Generator().manual_seed(12)).double()  # with ties
    b = a + torch.rand(6, 4, 4, generator=torch.Generator().manual_seed(13)) * 3
    rho = interpret.rank_correlation(a, b)
    assert np.allclose(rho, [stats.spearmanr(a[i].ravel(), b[i].ravel()).statistic for i in range(6)], atol=1e-14)
    assert interpret.rank_correlation(a, -a) == pytest.approx(-np.ones(6))
    assert np.isnan(interpret.rank_correlation(torch.ones(1, 4, 4), a[:1])[0])


def gradcam_maps(model, x, target):
    return interpret.gradcam(model, x, target).maps


def two_blobs(n: int, seed: int) -> SimpleNamespace:
    """8×8 images with a bright 2×2 blob in the left (class 0) or right (class 1) third, over faint noise."""
    g = np.random.default_rng(seed)
    y = g.integers(0, 2, n)
    x = 0.1 * g.random((n, 1, 8, 8))
    rows, cols = g.integers(0, 7, n), g.integers(0, 2, n) + 6 * y
    for i in range(n):
        x[i, 0, rows[i]:rows[i] + 2, cols[i]:cols[i] + 2] += 1
    return SimpleNamespace(x=torch.as_tensor(x, dtype=torch.float32), y=torch.as_tensor(y))


def test_randomising_the_vqc_weights_changes_the_trained_models_qgradcam():
    train, test = two_blobs(128, 14), two_blobs(64, 15)
    model, curves = hybrid.train(hybrid.build("vqc", (1, 8, 8), 2, seed=0), train, test,
                                 epochs=3, batch_size=16, lr=0.05, seed=0)
    assert curves["test_accuracy"].iloc[-1] >= 0.95
    rhos = []
    for seed in range(4):
        check = interpret.randomisation_check(model.eval(), test.x, gradcam_maps, seed=seed)
        assert np.array_equal(check.self_rho, np.ones(64))
        assert qstats.bootstrap_mean(check.rho, seed=0)["mean_hi"] < 0.9  # measured 0.82, 0.76, 0.50, 0.06
        rhos.append(check.rho)
    assert qstats.bootstrap_mean(np.concatenate(rhos), seed=0)["mean_hi"] < 0.6  # measured mean 0.38, CI [0.30, 0.48]


def test_a_map_that_vanishes_under_randomisation_counts_as_uncorrelated():
    model, x = quantum_model("vqc", seed=16), images(3, 16)

    def vanishing(m, x, t):  # the trained model's Grad-CAM, all zeros for any other model
        return gradcam_maps(m, x, t) * (m is model)

    check = interpret.randomisation_check(model, x, vanishing, seed=0)
    assert np.array_equal(check.rho, np.zeros(3)) and np.array_equal(check.self_rho, np.ones(3))


def test_bootstrap_mean_drops_excluded_samples_and_reuses_summarize():
    values = np.array([1.0, 0.0, np.nan, 1.0, 1.0, 0.0, 1.0])
    summary = qstats.bootstrap_mean(values, seed=1, n_boot=500)
    reference = qstats.summarize(values[~np.isnan(values)], n_boot=500, seed=1)
    assert summary["n"] == 6 and summary["mean"] == pytest.approx(4 / 6)
    assert (summary["mean_lo"], summary["mean_hi"]) == (reference["mean_lo"], reference["mean_hi"])
