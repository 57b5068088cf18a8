"""The quantum 1×1 convolution and its class-activation maps: the model is the circuit at every
position (a loop over positions and the one-position hybrid model agree with it), QGrad-CAM's
parameter-shift chain equals autograd at every position, the gradient varies over positions where
the pooled hybrid's cannot, LayerCAM is its hand formula, and the model trains."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from qnnscope import data, interpret
from qnnscope.interpret import cam
from qnnscope.models import hybrid, pointwise
from qnnscope.sim import engine


def pointwise_model(kind: str = "pointwise", seed: int = 0, in_shape=(1, 8, 8)) -> pointwise.PointwiseClassifier:
    """A complex128 model with O(1) circuit weights (not the near-zero initial ones)."""
    model = pointwise.build_pointwise(in_shape, 4, kind=kind, n_qubits=3, dtype="complex128", seed=seed)
    return (hybrid.reinitialise_quantum(model, seed) if kind == "pointwise" else model).eval()


def images(n: int, seed: int, size: int = 8) -> torch.Tensor:
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ---------------------------------------------------------------------------------- the model

def test_one_engine_call_equals_a_loop_over_positions(monkeypatch):
    model, x = pointwise_model(seed=1), images(3, 1)
    calls = []
    states = engine.states
    monkeypatch.setattr(engine, "states", lambda *a, **k: calls.append(len(a[1])) or states(*a, **k))
    with torch.no_grad():
        a = model.activations(x)
        phi = model.angles(a)
        z = model.middle(phi)
        logits = model.readout(z)
    assert calls == [3 * 4 * 4]  # B·h·w circuits, one call
    assert phi.shape == z.shape == (3, 4, 4, 3) and z.abs().max() <= 1
    with torch.no_grad():
        loop = torch.stack([torch.stack([model.quantum(torch.tanh(a[:, :, i, j] @ model.pre.weight.T + model.pre.bias)
                                                       * (math.pi / 2)) for j in range(4)], 1) for i in range(4)], 1)
        by_hand = loop.mean((1, 2)) @ model.post.weight.T + model.post.bias
    assert torch.allclose(z, loop, rtol=0, atol=1e-13)
    assert torch.allclose(logits, by_hand, rtol=0, atol=1e-13)
    assert torch.allclose(model(x), by_hand, rtol=0, atol=1e-13)


@pytest.mark.parametrize("kind, twin", [("pointwise", "vqc"), ("pointwise_classical", "classical")])
def test_at_one_position_the_pointwise_model_is_the_hybrid_model(kind, twin):
    """With a 1×1 activation map, pooling before or after the circuit is the same model."""
    model = pointwise_model(kind, seed=2, in_shape=(2, 1, 1))
    reference = hybrid.build(twin, (2, 1, 1), 4, n_qubits=3, dtype="complex128", seed=5).eval()
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in reference.named_parameters()]
    reference.load_state_dict(model.state_dict())
    x = torch.randn(5, 2, 1, 1, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(model(x), reference(x), rtol=0, atol=1e-13)
    assert model.kind == kind
    if kind == "pointwise":
        assert model.quantum.circuit.n_params == 3 + 2 * 2 * 3  # φ, then depth × (RY, RZ) on 3 qubits


def test_build_checks_its_arguments_and_is_seeded():
    with pytest.raises(ValueError, match="unknown pointwise model kind 'dressed'; allowed: pointwise, pointwise_classical"):
        pointwise.build_pointwise((1, 8, 8), 4, kind="dressed")
    with pytest.raises(ValueError, match="unknown entangler 'star'"):
        pointwise.build_pointwise((1, 8, 8), 4, entangler="star")
    first, again = (pointwise.build_pointwise((1, 8, 8), 4, seed=3) for _ in range(2))
    assert hybrid.flat_parameters(first) == hybrid.flat_parameters(again)
    assert hybrid.flat_parameters(first) != hybrid.flat_parameters(pointwise.build_pointwise((1, 8, 8), 4, seed=4))
    assert next(first.parameters()).dtype == torch.float32


# ------------------------------------------------------------------------------------- CAMs

@pytest.mark.parametrize("maps", cam.MAPS)
def test_qgradcam_parameter_shift_chain_equals_autograd_at_every_position(maps):
    model, x = pointwise_model(seed=3), images(6, 3)
    for c in (0, 2, 3):
        target = torch.full((6,), c)
        _, auto_grad, _ = cam.activation_gradient(model, x, target)
        _, shift_grad, _ = cam.activation_gradient(model, x, target, method="shift")
        assert auto_grad.abs().max() > 1e-4  # a non-trivial gradient
        assert (shift_grad - auto_grad).abs().max() <= 1e-6 * auto_grad.abs().max()
        auto, explicit = interpret.gradcam(model, x, target, maps=maps), interpret.qgradcam(model, x, target, maps=maps)
        assert (explicit.alpha - auto.alpha).abs().max() <= 1e-6 * auto.alpha.abs().max()
        assert auto.maps.max() > 0 and (explicit.maps - auto.maps).abs().max() <= 1e-6 * auto.maps.max()
        assert torch.equal(explicit.target, target) and auto.maps.shape == (6, 4, 4)


def spread(grad: torch.Tensor) -> float:
    """Largest deviation of ∂y/∂A^k_ij from its spatial mean, relative to the largest |∂y/∂A|."""
    return ((grad - grad.mean((2, 3), keepdim=True)).abs().max() / grad.abs().max()).item()


@pytest.mark.parametrize("method", ["autograd", "shift"])
def test_the_gradient_varies_over_positions_only_when_the_circuit_acts_at_each(method):
    x, target = images(4, 4), torch.tensor([0, 1, 2, 3])
    quantum = pointwise_model(seed=4)
    dressed = hybrid.reinitialise_quantum(hybrid.build("dressed", (1, 8, 8), 4, n_qubits=3, dtype="complex128",
                                                       seed=4), 4).eval()
    assert spread(cam.activation_gradient(quantum, x, target, method=method)[1]) > 1e-3
    assert spread(cam.activation_gradient(dressed, x, target, method=method)[1]) <= 1e-12
    # so gradient × activation is Grad-CAM for the pooled model, and not for the pointwise one
    fn = interpret.qgradcam if method == "shift" else interpret.gradcam
    assert torch.allclose(fn(dressed, x, target, maps="elementwise").maps, fn(dressed, x, target).maps, rtol=0,
                          atol=1e-12 * fn(dressed, x, target).maps.max())
    local, channel = fn(quantum, x, target, maps="elementwise").maps, fn(quantum, x, target).maps
    assert (local - channel).abs().max() > 1e-3 * channel.max()


@pytest.mark.parametrize("fn", [interpret.gradcam, interpret.qgradcam])
def test_the_probability_score_is_the_softmax_jacobian_of_the_logit_gradients(fn):
    """∂p_c/∂A = p_c (∂y^c/∂A − Σ_k p_k ∂y^k/∂A): the score reaches both gradients through the same chain."""
    model, x = pointwise_model(seed=7), images(3, 7)
    with torch.no_grad():
        p = torch.softmax(model(x), 1)
    per_class = torch.stack([fn(model, x, torch.full((3,), c)).alpha for c in range(4)], 1)  # (B, C, K)
    for c in (0, 3):
        target = torch.full((3,), c)
        expected = p[:, c, None] * (per_class[:, c] - torch.einsum("bk,bkj->bj", p, per_class))
        result = fn(model, x, target, score="probability").alpha
        assert (result - expected).abs().max() <= 1e-12 * expected.abs().max()


class Quadratic(nn.Module):
    """A CAM oracle with a position-dependent gradient: y^c = Σ_kij W_ck (A^k_ij)², ∂y^c/∂A^k_ij = 2 W_ck A^k_ij."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(weight)

    def activations(self, x):
        return x

    def head(self, a):
        return torch.einsum("ck,bkij->bc", self.weight, a.square())


def test_layercam_and_elementwise_maps_are_their_hand_formulas():
    gen = torch.Generator().manual_seed(5)
    weight, x = torch.randn(2, 3, generator=gen, dtype=torch.float64), torch.randn(2, 3, 3, 3, generator=gen, dtype=torch.float64)
    model, target = Quadratic(weight), torch.tensor([1, 0])
    w, a = weight.numpy(), x.numpy()
    layercam, elementwise, channel = (np.zeros((2, 3, 3)) for _ in range(3))
    for b in range(2):
        c = int(target[b])
        alpha = [2 * w[c, k] * a[b, k].mean() for k in range(3)]
        for i in range(3):
            for j in range(3):
                grads = [2 * w[c, k] * a[b, k, i, j] for k in range(3)]
                layercam[b, i, j] = max(0.0, sum(max(0.0, g) * a[b, k, i, j] for k, g in enumerate(grads)))
                elementwise[b, i, j] = max(0.0, sum(g * a[b, k, i, j] for k, g in enumerate(grads)))
                channel[b, i, j] = max(0.0, sum(alpha[k] * a[b, k, i, j] for k in range(3)))
    for maps, expected in (("layercam", layercam), ("elementwise", elementwise), ("gradcam", channel)):
        result = interpret.gradcam(model, x, target, maps=maps)
        assert np.allclose(result.maps.numpy(), expected, rtol=0, atol=1e-14), maps
        assert np.allclose(result.alpha.numpy(), 2 * w[target] * a.mean((2, 3)), rtol=0, atol=1e-14)
    assert layercam.min() == 0 and layercam.max() > 0 and not np.allclose(layercam, elementwise)


def test_bad_options_and_the_classical_twin_are_refused():
    model, x = pointwise_model("pointwise_classical", seed=6), images(2, 6)
    with pytest.raises(ValueError, match="qgradcam needs a quantum model, got kind 'pointwise_classical'"):
        interpret.qgradcam(model, x)
    with pytest.raises(ValueError, match="unknown maps 'scorecam'; allowed: gradcam, layercam, elementwise"):
        interpret.gradcam(model, x, maps="scorecam")
    with pytest.raises(ValueError, match="unknown class score 'margin'"):
        interpret.gradcam(model, x, score="margin")
    with pytest.raises(ValueError, match="unknown gradient method 'adjoint'; allowed: autograd, shift"):
        cam.activation_gradient(model, x, method="adjoint")
    assert interpret.gradcam(model, x).maps.shape == (2, 4, 4)


# --------------------------------------------------------------------------------- training

@pytest.mark.parametrize("kind", pointwise.KINDS)
def test_hybrid_training_lowers_the_loss_of_a_pointwise_model(kind):
    ds = data.load("synthetic_images", n_per_class=12, size=8, seed=0)
    train_ds, test_ds = data.split(ds, 0.25, seed=0)
    model = pointwise.build_pointwise((1, 8, 8), 4, kind=kind, n_qubits=3, seed=0)
    model, curves = hybrid.train(model, train_ds, test_ds, epochs=8, batch_size=12, lr=0.1, seed=0)
    assert list(curves.epoch) == list(range(9))
    assert curves.train_loss.iloc[-1] < 0.8 * curves.train_loss.iloc[0]  # measured: 0.69 (pointwise), 0.60 (twin)
    assert curves.train_accuracy.iloc[-1] > 0.4  # four classes: chance is 0.25
    assert curves.theta.iloc[-1] == hybrid.flat_parameters(model)
