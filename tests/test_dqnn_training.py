"""DQNN training: data sets, Beer et al.'s layer-wise rule and gradient training."""

from __future__ import annotations

import pytest
import torch

from qnnscope.models.dqnn import DQNN, draw
from qnnscope.models.training import beer_step, mean_fidelity, train_beer, train_gradient, training_pairs

NET = DQNN((2, 3, 2), "general")


@pytest.fixture(scope="module")
def task():
    theta = torch.tensor(draw(NET, 1, 5))
    train = training_pairs("unitary", NET.widths, 6, seed=1, target_seed=9)
    test = training_pairs("unitary", NET.widths, 10, seed=2, target_seed=9)
    return theta, train, test


def test_beer_update_and_gradient_descent_both_raise_the_fidelity(task):
    theta, train, test = task
    mats, beer = train_beer(NET, NET.unitaries(theta), train, test, steps=40, eta=1.0, eps=0.1)
    _, adam = train_gradient(NET, theta, train, test, steps=40, lr=0.05)
    start = beer["train_fidelity"].iloc[0]
    assert start == pytest.approx(adam["train_fidelity"].iloc[0], abs=1e-12)  # same network at step 0
    assert start < 0.5
    assert beer["train_fidelity"].iloc[-1] > 0.9 and adam["train_fidelity"].iloc[-1] > 0.9
    assert beer["test_fidelity"].iloc[-1] > beer["test_fidelity"].iloc[0] + 0.2
    assert adam["test_fidelity"].iloc[-1] > 0.9  # 6 pairs ≥ 4 = dim: the unitary is determined
    for row in mats[0] + mats[1]:  # Beer's update keeps perceptrons unitary
        u = row[0]
        assert torch.allclose(u @ u.conj().T, torch.eye(u.shape[0], dtype=u.dtype), atol=1e-10)
    assert list(beer.columns) == ["method", "step", "train_fidelity", "test_fidelity"] and len(beer) == 41


def test_a_small_beer_step_is_an_ascent_direction(task):
    theta, train, _ = task
    mats = NET.unitaries(theta)
    before = mean_fidelity(NET, mats, *train)
    gains = [mean_fidelity(NET, beer_step(NET, mats, *train, eps=eps), *train) - before for eps in (1e-4, 2e-4)]
    assert gains[0] > 0
    assert gains[1] == pytest.approx(2 * gains[0], rel=1e-2)  # first order in ε


def test_beer_update_needs_general_perceptrons():
    net = DQNN((2, 2), "deep")
    with pytest.raises(ValueError, match="family"):
        beer_step(net, net.unitaries(torch.zeros(1, net.n_params)), *training_pairs("identity", net.widths, 2, 0))


def test_training_pairs():
    x, y = training_pairs("unitary", (3, 3), 12, seed=1, target_seed=2)  # 12 ≥ 8 pairs fix V
    x2, y2 = training_pairs("unitary", (3, 3), 5, seed=3, target_seed=2)
    v = torch.linalg.lstsq(x, y).solution.T  # the same V maps both sets
    assert torch.allclose(x2 @ v.T, y2, atol=1e-8) and torch.allclose(v @ v.conj().T, torch.eye(8, dtype=v.dtype), atol=1e-8)
    assert torch.allclose(torch.linalg.norm(x, dim=1), torch.ones(12, dtype=torch.float64))
    i, j = training_pairs("identity", (2, 2), 4, seed=1)
    assert torch.equal(i, j)
    p, q = training_pairs("product", (3, 3), 4, seed=1)
    for state in (p, q):  # products: every single-qubit reduced state is pure
        t = state.reshape(4, 2, 4)
        rho0 = torch.einsum("nia,nja->nij", t, t.conj())
        assert torch.allclose(torch.linalg.matrix_norm(rho0, ord=2), torch.ones(4, dtype=torch.float64), atol=1e-10)
    z, w = training_pairs("zero", (2, 1), 3, seed=0)
    assert z.shape == (3, 4) and w.shape == (3, 2) and z[0, 0] == 1 and w[0, 0] == 1
    with pytest.raises(ValueError, match="task"):
        training_pairs("unitary", (2, 1), 3, seed=0)
    with pytest.raises(ValueError, match="task"):
        training_pairs("teleport", (2, 2), 3, seed=0)
