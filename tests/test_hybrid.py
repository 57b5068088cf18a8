"""Hybrid CNN → VQC classifiers: the quantum layer against closed forms and PennyLane, the
parameter-shift Jacobian against autograd, deterministic checkpointed training that resumes
after a kill with the same weights, and the digits accuracy the issue asks for."""

import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from qnnscope.backends import get_backend
from qnnscope.costs import Observable
from qnnscope.models import hybrid


def _layer(kind, n, depth, entangler="cnot"):
    return hybrid.QuantumLayer(kind, n, depth, entangler, "complex128").double()


def test_one_qubit_layers_follow_their_closed_forms():
    phi = torch.linspace(-1.5, 1.5, 7, dtype=torch.float64)[:, None]
    vqc, dressed = _layer("vqc", 1, 1), _layer("dressed", 1, 1)
    with torch.no_grad():
        vqc.weights.copy_(torch.tensor([0.3, 1.1]))  # RY(w0) then RZ(w1): RZ leaves ⟨Z⟩ alone
        dressed.weights.copy_(torch.tensor([0.7]))
    # RY(a)|0⟩ has ⟨Z⟩ = cos a;  RY(a)|+⟩ has ⟨Z⟩ = −sin a
    assert torch.allclose(vqc(phi)[:, 0], torch.cos(phi[:, 0] + 0.3), atol=1e-14)
    assert torch.allclose(dressed(phi)[:, 0], -torch.sin(phi[:, 0] + 0.7), atol=1e-14)


@pytest.mark.parametrize("kind,entangler", [("vqc", "cnot"), ("vqc", "cz"), ("vqc", "ring"), ("dressed", "cnot")])
def test_quantum_layer_equals_pennylane(kind, entangler):
    n, depth = 4, 2
    layer = _layer(kind, n, depth, entangler)
    rng = np.random.default_rng(1)
    phi = torch.as_tensor(rng.uniform(-1.5, 1.5, (3, n)))
    with torch.no_grad():
        layer.weights.copy_(torch.as_tensor(rng.uniform(0, 2 * math.pi, layer.weights.shape)))
        z = layer(phi).numpy()
    theta = np.concatenate([phi.numpy(), np.broadcast_to(layer.weights.detach().numpy(), (3, layer.weights.numel()))], 1)
    pl = get_backend("pennylane")
    for q in range(n):
        costs, _ = pl.evaluate(layer.circuit, Observable(n, ((1.0, ((q, "Z"),)),)), theta, np.zeros((3, 0), int), [], "complex128")
        np.testing.assert_allclose(z[:, q], costs, atol=1e-10)


@pytest.mark.parametrize("kind", ["vqc", "dressed"])
def test_shift_jacobian_equals_autograd(kind):
    layer = _layer(kind, 3, 2)
    with torch.no_grad():
        layer.weights.copy_(torch.linspace(0.1, 2.9, layer.weights.numel(), dtype=torch.float64))
    phi = torch.tensor([[0.2, -0.4, 1.0], [1.3, 0.5, -0.9]], dtype=torch.float64)
    auto = torch.stack([torch.autograd.functional.jacobian(layer, p[None])[0, :, 0] for p in phi])
    assert torch.allclose(layer.shift_jacobian(phi), auto, atol=1e-12)
    assert auto.abs().max() > 0.1


def test_build_is_seeded_and_refuses_bad_options():
    a = hybrid.build("vqc", (1, 8, 8), 10, seed=3)
    b = hybrid.build("vqc", (1, 8, 8), 10, seed=3)
    c = hybrid.build("vqc", (1, 8, 8), 10, seed=4)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.pre.weight, c.pre.weight)
    with pytest.raises(ValueError, match="unknown model kind 'cnn'.*vqc, dressed, classical"):
        hybrid.build("cnn", (1, 8, 8), 10)
    with pytest.raises(ValueError, match="unknown entangler 'swap'"):
        hybrid.build("vqc", (1, 8, 8), 10, entangler="swap")


def test_head_is_readout_of_quantum_of_angles():
    model = hybrid.build("dressed", (1, 8, 8), 3, n_qubits=3, dtype="complex128")
    x = torch.rand(5, 1, 8, 8, dtype=torch.float64)
    a = model.activations(x)
    assert a.shape == (5, 16, 4, 4)
    phi = model.angles(a)
    assert phi.abs().max() < math.pi / 2
    assert torch.equal(model(x), model.readout(model.quantum(phi)))


def test_reinitialise_changes_only_the_circuit_weights():
    model = hybrid.build("vqc", (1, 8, 8), 4, seed=0)
    fresh = hybrid.reinitialise_quantum(model, seed=1)
    assert not torch.equal(model.quantum.weights, fresh.quantum.weights)
    assert 0 <= fresh.quantum.weights.min() and fresh.quantum.weights.max() < 2 * math.pi
    same = [n for n, p in model.named_parameters() if n != "quantum.weights"]
    assert all(torch.equal(dict(model.named_parameters())[n], dict(fresh.named_parameters())[n]) for n in same)
    with pytest.raises(ValueError, match="classical twin"):
        hybrid.reinitialise_quantum(hybrid.build("classical", (1, 8, 8), 4), seed=1)


def _toy(n=96, seed=0):
    """Two classes told apart by which half of an 8×8 image is bright."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = 0.3 * torch.rand(n, 1, 8, 8, generator=g)
    x[y == 0, :, :4] += 0.7
    x[y == 1, :, 4:] += 0.7
    return SimpleNamespace(x=x, y=y)


def test_training_is_deterministic_and_a_finished_checkpoint_is_not_retrained(tmp_path):
    data, test = _toy(), _toy(seed=1)
    options = dict(epochs=3, batch_size=16, lr=0.02, seed=5)
    first, curves = hybrid.train(hybrid.build("vqc", (1, 8, 8), 2, n_qubits=2, seed=0), data, test, **options)
    ckpt = tmp_path / "model.pt"
    again, _ = hybrid.train(hybrid.build("vqc", (1, 8, 8), 2, n_qubits=2, seed=0), data, test, **options,
                            checkpoint=ckpt)
    assert all(torch.equal(p, q) for p, q in zip(first.parameters(), again.parameters()))
    assert curves.test_accuracy.iloc[-1] > 0.9
    # a finished checkpoint resumes after its last epoch: nothing is trained again
    fresh = hybrid.build("vqc", (1, 8, 8), 2, n_qubits=2, seed=0)
    resumed, resumed_curves = hybrid.train(fresh, data, test, **options, checkpoint=ckpt)
    assert all(torch.equal(p, q) for p, q in zip(first.parameters(), resumed.parameters()))
    np.testing.assert_array_equal(curves.test_accuracy, resumed_curves.test_accuracy)
    with pytest.raises(ValueError, match="another training configuration"):
        hybrid.train(hybrid.build("vqc", (1, 8, 8), 2, n_qubits=2, seed=0), data, test,
                     **{**options, "lr": 0.05}, checkpoint=ckpt)


def test_a_truncated_checkpoint_is_set_aside_and_training_starts_afresh(tmp_path, caplog):
    data, test = _toy(), _toy(seed=1)
    options = dict(epochs=2, batch_size=16, lr=0.02, seed=5)
    first, curves = hybrid.train(hybrid.build("vqc", (1, 8, 8), 2, n_qubits=2, seed=0), data, test, **options)
    ckpt = tmp_path / "model.pt"
    ckpt.write_bytes(b"PK\x03\x04 truncated by a full disk")
    with caplog.at_level("WARNING"):
        again, again_curves = hybrid.train(hybrid.build("vqc", (1, 8, 8), 2, n_qubits=2, seed=0), data, test,
                                           **options, checkpoint=ckpt)
    assert f"checkpoint {ckpt} is unreadable" in caplog.text
    assert (tmp_path / "model.pt.corrupt").read_bytes().endswith(b"full disk")
    assert all(torch.equal(p, q) for p, q in zip(first.parameters(), again.parameters()))
    np.testing.assert_array_equal(curves.test_accuracy, again_curves.test_accuracy)


KILLED = textwrap.dedent("""
    import sys, torch
    sys.path.insert(0, {tests!r})
    from test_hybrid import _toy
    from qnnscope.models import hybrid
    model, _ = hybrid.train(hybrid.build("vqc", (1, 8, 8), 2, n_qubits=2, seed=0), _toy(768), _toy(seed=1),
                            epochs=6, batch_size=16, lr=0.02, seed=5, checkpoint={ckpt!r})
    torch.save(model.state_dict(), {out!r})
""")


def test_training_killed_mid_epoch_resumes_from_its_checkpoint(tmp_path):
    ckpt, out = tmp_path / "model.pt", tmp_path / "final.pt"
    script = KILLED.format(tests=os.path.dirname(__file__), ckpt=str(ckpt), out=str(out))
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 120
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert ckpt.exists() and not out.exists(), "the job should be killed after its first checkpoint"
    done = torch.load(ckpt, weights_only=False)["epoch"]
    assert 1 <= done < 6
    subprocess.run([sys.executable, "-c", script], check=True)
    # the uninterrupted run in a process of its own, so both runs see the same threads and kernels
    alone = KILLED.format(tests=os.path.dirname(__file__), ckpt=str(tmp_path / "alone.pt"), out=str(tmp_path / "alone_final.pt"))
    subprocess.run([sys.executable, "-c", alone], check=True)
    straight = torch.load(tmp_path / "alone_final.pt")
    resumed = torch.load(out)
    assert resumed.keys() == straight.keys()
    assert all(torch.equal(resumed[k], v) for k, v in straight.items())


@pytest.mark.slow
def test_hybrid_reaches_ninety_percent_on_digits():
    from qnnscope.data import load, split

    train_ds, test_ds = split(load("digits"), 0.2, seed=0)
    model = hybrid.build("vqc", train_ds.x.shape[1:], 10, n_qubits=8, depth=2, seed=0)
    _, curves = hybrid.train(model, train_ds, test_ds, epochs=20, batch_size=32, lr=0.01, seed=0)
    assert curves.test_accuracy.iloc[-1] >= 0.9


def test_landscape_objective_of_a_hybrid_model_is_its_loss_and_gradient():
    """The batched (vmap) landscape objective through the engine equals the model's own loss and
    autograd gradient, row by row."""
    from qnnscope.landscapes import module_objective

    model = hybrid.build("dressed", (1, 8, 8), 3, n_qubits=3, dtype="complex128").eval()
    data = _toy(12)
    labels = data.y % 3

    def loss(logits):
        return torch.nn.functional.cross_entropy(logits, labels)

    obj, centre = module_objective(model, loss, data.x.double(), angle_params=("quantum.weights",))
    assert [g.kind for g in obj.groups if g.name == "quantum.weights"] == ["angle"]
    rng = np.random.default_rng(0)
    thetas = np.stack([centre, centre + 0.1 * rng.standard_normal(centre.shape)])
    costs, grads = obj.evaluate(thetas)
    for theta, cost, grad in zip(thetas, costs, grads):
        torch.nn.utils.vector_to_parameters(torch.as_tensor(theta), model.parameters())
        model.zero_grad()
        value = loss(model(data.x.double()))
        value.backward()
        assert cost == pytest.approx(value.item(), abs=1e-12)
        np.testing.assert_allclose(grad, torch.nn.utils.parameters_to_vector([p.grad for p in model.parameters()]),
                                   atol=1e-12)
