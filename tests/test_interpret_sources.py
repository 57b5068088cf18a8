"""The sources' analyses against exact values: class-discriminative maps (Lin et al. 2024), evidence
in the background, guided backpropagation and summed-logit saliency, uncentred whitening and UMAP
(the Mari et al. hackathon), and the class scores that Grad-CAM can follow."""

import numpy as np
import pytest
import torch
from torch import nn

from qnnscope import data, interpret
from qnnscope import stats as qstats
from qnnscope.interpret import scores
from qnnscope.models import hybrid
from test_interpret import PooledLinear


def images(n: int, seed: int, size: int = 8) -> torch.Tensor:
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def quantum_model(kind: str, n_classes: int = 3, seed: int = 0) -> hybrid.HybridClassifier:
    """A complex128 8×8-input quantum model with O(1) VQC weights."""
    return hybrid.reinitialise_quantum(hybrid.build(kind, (1, 8, 8), n_classes, dtype="complex128", seed=seed), seed).eval()


# ------------------------------------------------------------------------- class-discriminative maps

def test_trained_qgradcam_maps_discriminate_classes_more_than_a_random_models():
    ds = data.load("synthetic_images", n_per_class=30, seed=0, size=8, n_classes=3)
    train, test = data.split(ds, 0.25, 0)
    random = hybrid.build("dressed", (1, 8, 8), 3, seed=0).eval()
    model, curves = hybrid.train(hybrid.build("dressed", (1, 8, 8), 3, seed=0), train, test, epochs=4, batch_size=16,
                                 lr=0.05, seed=0)
    assert curves.test_accuracy.iloc[-1] == 1.0  # measured: 0.30, 0.39, 0.74, 1.0, 1.0
    model.eval()
    trained_score = interpret.discrimination_score(interpret.class_maps(interpret.qgradcam, model, test.x, 3))
    random_score = interpret.discrimination_score(interpret.class_maps(interpret.qgradcam, random, test.x, 3))
    # of 23 test samples, measured 22 (torch on 2 threads: one trained class map is all zero under
    # Grad-CAM's ReLU, so its score is nan) or 23 (1 thread: that map peaks at 2e-3)
    assert trained_score.n_used >= 21 and random_score.n_used == 23
    trained, untrained = (interpret.summarise(s, seed=0) for s in (trained_score, random_score))
    assert trained["n_nan"] == 23 - trained_score.n_used and untrained["n_nan"] == 0
    # measured: trained 1.121, CI [1.071, 1.175] (1 thread: 1.143, CI [1.100, 1.187]);
    # random-weight 0.160, CI [0.140, 0.180]
    assert trained["mean"] - untrained["mean"] > 0.8
    assert trained["mean_lo"] > untrained["mean_hi"] + 0.8


def test_discrimination_score_is_0_for_identical_and_2_for_opposite_maps():
    base = torch.rand(3, 1, 5, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    same = interpret.discrimination_score(base.expand(3, 4, 5, 5))
    assert np.array_equal(same.values, np.zeros(3)) and same.n_used == 3
    opposite = interpret.discrimination_score(torch.cat([base, -base], 1))
    assert np.array_equal(opposite.values, np.full(3, 2.0))
    # r is invariant to scale and offset: 3·map + 1 is the same explanation
    assert np.allclose(interpret.discrimination_score(torch.cat([base, 3 * base + 1], 1)).values, 0, atol=1e-15)


def test_a_constant_class_map_gives_a_counted_nan():
    maps = torch.rand(4, 3, 4, 4, generator=torch.Generator().manual_seed(2))
    maps[1, 2] = 0.0  # Grad-CAM's ReLU zeroes a class without positive evidence
    score = interpret.discrimination_score(maps)
    assert np.isnan(score.values[1]) and np.isfinite(score.values[[0, 2, 3]]).all() and score.n_used == 3
    r = np.corrcoef(maps[0].flatten(1).numpy())
    assert score.values[0] == pytest.approx(1 - r[np.triu_indices(3, 1)].mean(), abs=1e-12)
    summary = interpret.summarise(score, seed=4, n_boot=500)
    reference = qstats.bootstrap_mean(score.values, seed=4, n_boot=500)
    assert summary["n_nan"] == 1 and summary["n"] == 3 and summary["mean_lo"] == reference["mean_lo"]
    with pytest.raises(ValueError, match="1 of 4 are defined"):
        interpret.summarise(np.array([0.5, np.nan, np.nan, np.nan]))


def test_class_maps_hold_every_classes_gradcam():
    """On a pooled linear head Grad-CAM of class c is ReLU(Σ_k W_ck A^k / hw)."""
    weight = torch.tensor([[1.0, -2.0], [-1.0, 3.0], [0.5, 0.5]], dtype=torch.float64)
    x = images(2, 3).expand(2, 2, 8, 8) * torch.tensor([1.0, -1.0], dtype=torch.float64)[:, None, None] + 0.1
    maps = interpret.class_maps(interpret.gradcam, PooledLinear(weight), x, 3)
    assert maps.shape == (2, 3, 8, 8)
    for c in range(3):
        assert torch.allclose(maps[:, c], torch.relu(torch.einsum("k,bkij->bij", weight[c] / 64, x)), atol=1e-15)


# --------------------------------------------------------------------------------- background

def test_background_evidence_on_hand_made_maps():
    masks = torch.zeros(4, 4, 4, dtype=torch.bool)
    masks[:, :2, :2] = True  # foreground: the top-left quarter
    maps = torch.zeros(4, 4, 4, dtype=torch.float64)
    maps[0, 0, 0], maps[0, 3, 3] = 3.0, 1.0  # 1/4 of the mass outside, peak inside
    maps[1, 0, 1], maps[1, 2, 2], maps[1, 3, 0] = 1.0, 2.0, -5.0  # negative mass ignored: 2/3 outside, peak outside
    maps[2] = 1.0  # uniform: 12/16 outside, constant so no peak
    maps[3] = -1.0  # no positive mass: no share, constant
    result = interpret.background_evidence(maps, masks)
    assert np.array_equal(result.share.values[:3], [0.25, 2 / 3, 0.75]) and np.isnan(result.share.values[3])
    assert np.array_equal(result.peak.values[:2], [0.0, 1.0]) and np.isnan(result.peak.values[2:]).all()
    assert (result.share.n_used, result.peak.n_used) == (3, 2)


def test_background_evidence_counts_missing_empty_and_full_masks():
    maps = torch.arange(5 * 16, dtype=torch.float64).reshape(5, 4, 4) % 7
    one = torch.zeros(4, 4, dtype=torch.bool)
    one[1:3, 1:3] = True
    masks = [one, None, torch.zeros(4, 4, dtype=torch.bool), torch.ones(4, 4, dtype=torch.bool), one]
    result = interpret.background_evidence(maps, masks)
    assert result.share.n_used == 2 and result.peak.n_used == 2
    assert np.isnan(result.share.values[1:4]).all() and np.isnan(result.peak.values[1:4]).all()
    for i in (0, 4):
        assert result.share.values[i] == maps[i][~one].sum().item() / maps[i].sum().item()
    none = interpret.background_evidence(maps, None)
    assert none.share.n_used == 0 and np.isnan(none.share.values).all()


def test_background_evidence_by_frames_takes_whole_columns_as_foreground():
    masks = torch.zeros(1, 3, 4, dtype=torch.bool)
    masks[0, 0, 1] = True  # one mel cell of frame 1: the whole frame is speech
    maps = torch.tensor([[[0.0, 0.0, 1.0, 0.0], [0.0, 2.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]])
    assert interpret.background_evidence(maps, masks).share.values[0] == 1.0  # every positive cell is off the mask cell
    frames = interpret.background_evidence(maps, masks, frames=True)
    assert frames.share.values[0] == 0.5 and frames.peak.values[0] == 0.0


def test_pointing_game_and_energy_share_count_the_samples_with_masks():
    tensor_masks = torch.zeros(3, 8, 8, dtype=torch.bool)
    tensor_masks[:, 2:5, 2:5] = True
    maps = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(5))
    full = interpret.pointing_game(maps, tensor_masks), interpret.energy_share(maps, tensor_masks)
    listed = [tensor_masks[0], None, tensor_masks[2]]
    partial = interpret.pointing_game(maps, listed), interpret.energy_share(maps, listed)
    for whole, part in zip(full, partial):
        assert whole.n_used == 3 and part.n_used == 2 and np.isnan(part.values[1])
        assert np.array_equal(whole.values[[0, 2]], part.values[[0, 2]])
    with pytest.raises(ValueError, match="3 maps, 2 masks"):
        interpret.energy_share(maps, listed[:2])


# ----------------------------------------------------------------------------------- saliency

class OneReLU(nn.Module):
    """logits = V · relu(U · vec(x)): the guided gradient is Uᵀ([h > 0] · max(V_c, 0)) in closed form."""

    def __init__(self, relu: str):
        super().__init__()
        g = torch.Generator().manual_seed(7)
        self.u, self.v = torch.randn(6, 16, generator=g, dtype=torch.float64), torch.randn(3, 6, generator=g, dtype=torch.float64)
        self.relu = relu
        self.module = nn.ReLU(inplace=relu == "inplace")

    def forward(self, x):
        h = x.flatten(1) @ self.u.T
        h = torch.nn.functional.relu(h) if self.relu == "functional" else self.module(h)
        return h @ self.v.T


@pytest.mark.parametrize("relu", ["module", "inplace", "functional"])
def test_guided_backprop_of_a_one_relu_network_is_the_hand_computed_gradient(relu):
    model, x = OneReLU(relu), images(5, 8, size=4) - 0.5
    target = torch.tensor([0, 1, 2, 1, 0])
    active = (x.flatten(1) @ model.u.T > 0).double()
    expected = ((active * model.v[target].clamp(min=0)) @ model.u).view(5, 4, 4)
    guided = interpret.guided_backprop(model, x, target)
    assert torch.allclose(guided.positive, expected.clamp(min=0), rtol=0, atol=1e-14)
    assert torch.allclose(guided.negative, (-expected).clamp(min=0), rtol=0, atol=1e-14)
    plain = ((active * model.v[target]) @ model.u).view(5, 1, 4, 4)
    assert torch.allclose(interpret.input_gradient(model, x, target), plain, rtol=0, atol=1e-14)
    assert not torch.allclose(plain[:, 0], expected)  # guiding changed it


def test_guided_backprop_of_a_hybrid_model_matches_relu_module_backward_hooks():
    model, x = quantum_model("vqc", seed=9), images(4, 9)
    guided = interpret.guided_backprop(model, x)

    def clamp(module, grad_input, grad_output):  # an independent guided rule on the CNN's nn.ReLU modules
        return (grad_input[0].clamp(min=0),)

    handles = [m.register_full_backward_hook(clamp) for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        reference = interpret.input_gradient(model, x, guided.target)[:, 0]
    finally:
        for h in handles:
            h.remove()
    scale = reference.abs().max()
    assert torch.allclose(guided.positive - guided.negative, reference, rtol=0, atol=1e-12 * scale)
    assert not torch.allclose(reference, interpret.input_gradient(model, x, guided.target)[:, 0])


def test_summed_logit_saliency_is_the_sum_of_the_class_gradients():
    model, x = quantum_model("dressed", seed=10), images(4, 10)
    per_class = sum(interpret.input_gradient(model, x, torch.full((4,), c)) for c in range(3))
    summed = interpret.input_gradient(model, x, summed=True)
    assert torch.allclose(summed, per_class, rtol=0, atol=1e-12 * per_class.abs().max())
    assert torch.equal(interpret.gradient_saliency(model, x, summed=True), summed.abs().amax(1))
    assert torch.allclose(interpret.smoothgrad(model, x, n=1, noise=0.0, summed=True), summed.abs().amax(1), atol=1e-14)


# --------------------------------------------------------------------------------- embeddings

def test_uncentred_whitening_gives_identity_second_moment():
    z = interpret.layer_activations(quantum_model("vqc", seed=11), images(300, 11))["quantum_out"].numpy()
    # eps = 0, the exact M^(-1/2): the mean dominates AᵀA/N here (condition number ~1e6), where the
    # default eps would show its relative error eps·λ_max/λ_min ≈ 5e-7
    w, mean = interpret.whitening(z, eps=0.0, centred=False)
    assert np.array_equal(mean, np.zeros(4)) and np.allclose(w, w.T, atol=1e-12)
    white = z @ w
    assert np.abs(white.T @ white / len(z) - np.eye(4)).max() < 1e-8
    assert np.abs(z.mean(0)).max() > 0.05  # the offset matters: this is not the centred whitening
    inverse, _ = interpret.whitening(z, eps=0.0, centred=False, exponent=-1)
    assert np.allclose(inverse, np.linalg.inv(z.T @ z / len(z)), rtol=1e-8, atol=0)
    assert np.allclose(inverse, w @ w, rtol=1e-10, atol=0)


class TinyResNet(nn.Module):
    """torchvision's ResNet names (conv1, bn1, relu, maxpool, layer1…layer4) on 8×8 inputs, 16 output channels."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1, self.relu, self.maxpool = nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Identity()
        self.layer1, self.layer2 = nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 8, 3, stride=2, padding=1)
        self.layer3, self.layer4 = nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 16, 3, padding=1)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def test_layer_activations_by_named_stages_of_both_backbones():
    model, x = hybrid.build("vqc", (1, 8, 8), 3, dtype="complex128", seed=12).eval(), images(5, 12)
    assert list(interpret.layer_activations(model, x)) == ["input", "cnn", "quantum_in", "quantum_out", "logits"]
    pooled = interpret.layer_activations(model, x, stages="pool")
    assert list(pooled)[1:8] == [f"features.{k}" for k in range(7)]
    with torch.no_grad():
        third = model.features[:3](x)
    assert torch.equal(pooled["features.2"], third.mean((2, 3)))
    assert torch.equal(pooled["features.6"], pooled["cnn"])
    flat = interpret.layer_activations(model, x, stages="flatten")
    assert torch.equal(flat["features.2"], third.flatten(1)) and flat["features.2"].shape == (5, 8 * 64)

    model.features = TinyResNet().double().eval()
    stages = interpret.layer_activations(model, x, stages="flatten")
    names = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
    assert list(stages) == ["input", *[f"features.{n}" for n in names], "cnn", "quantum_in", "quantum_out", "logits"]
    assert stages["features.layer4"].shape == (5, 16 * 16)
    with pytest.raises(ValueError, match="unknown stages 'mean'"):
        interpret.layer_activations(model, x, stages="mean")


def test_umap_is_deterministic_for_a_seed():
    pytest.importorskip("umap")
    features = np.random.default_rng(13).normal(size=(40, 4))
    embedding = interpret.umap(features, seed=0)
    assert embedding.shape == (40, 2) and np.isfinite(embedding).all()
    assert np.array_equal(embedding, interpret.umap(features, seed=0))
    assert not np.allclose(embedding, interpret.umap(features, seed=1))


# ------------------------------------------------------------------------------------- scores

def activation_jacobian(model, a, score, target):
    """∂ Σ_b s^{target_b}_b / ∂A for a class score."""
    a = a.detach().requires_grad_(True)
    return torch.autograd.grad(scores.class_score(model.head(a), target, score, model=model), a)[0]


def test_probability_score_gradient_is_the_softmax_jacobian_times_the_logit_gradients():
    model = quantum_model("vqc", seed=14)
    a = model.activations(images(4, 14)).detach()
    target = torch.tensor([0, 2, 1, 2])
    logit_grads = torch.stack([activation_jacobian(model, a, "logit", torch.full((4,), k)) for k in range(3)], 1)
    with torch.no_grad():
        p = torch.softmax(model.head(a), 1)
    jacobian = p.gather(1, target[:, None]) * (torch.nn.functional.one_hot(target, 3) - p)  # ∂p_c/∂y_k
    expected = torch.einsum("bk,bk...->b...", jacobian, logit_grads)
    got = activation_jacobian(model, a, "probability", target)
    assert torch.allclose(got, expected, rtol=0, atol=1e-12 * expected.abs().max())


def test_expectation_score_is_the_class_observable_and_has_the_logits_gradient():
    model = quantum_model("dressed", seed=15)
    a = model.activations(images(3, 15)).detach()
    target = torch.tensor([2, 0, 1])
    with torch.no_grad():
        z = model.middle(model.angles(a))
        logits = model.readout(z)
    observable = (z * model.post.weight[target]).sum()  # Σ_b Σ_q W_{c_b q} ⟨Z_q⟩_b
    assert scores.class_score(logits, target, "expectation", model=model).item() == pytest.approx(observable.item(), abs=1e-14)
    assert torch.equal(activation_jacobian(model, a, "expectation", target), activation_jacobian(model, a, "logit", target))
    with pytest.raises(ValueError, match="needs a quantum model"):
        scores.class_score(logits, target, "expectation", model=hybrid.build("classical", (1, 8, 8), 3))
    with pytest.raises(ValueError, match="unknown class score 'margin'; allowed: logit, probability, expectation"):
        scores.class_score(logits, target, "margin")
