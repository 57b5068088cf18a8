"""DQNN training: data sets, Beer et al.'s layer-wise rule and gradient training."""

from __future__ import annotations

import pytest
import torch

from qnnscope import haar
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
    assert list(beer.columns) == ["method", "sample", "step", "train_fidelity", "test_fidelity"] and len(beer) == 41


def test_a_small_beer_step_is_an_ascent_direction(task):
    theta, train, _ = task
    mats = NET.unitaries(theta)
    before = float(mean_fidelity(NET, mats, *train))
    gains = [float(mean_fidelity(NET, beer_step(NET, mats, *train, eps=eps), *train)) - before for eps in (1e-4, 2e-4)]
    assert gains[0] > 0
    assert gains[1] == pytest.approx(2 * gains[0], rel=1e-2)  # first order in ε


def batch_of_tasks(net: DQNN, samples: int, n_pairs: int):
    """Initial parameters (S, P) and (S, N, dim) pairs: every network its own unitary and data."""
    theta = torch.cat([torch.tensor(draw(net, 1, 10 + s)) for s in range(samples)])
    pairs = [training_pairs("unitary", net.widths, n_pairs, seed=20 + s, target_seed=30 + s) for s in range(samples)]
    return theta, tuple(torch.stack(part) for part in zip(*pairs))


@pytest.mark.parametrize("widths", [(3, 3, 3), (2, 3, 1, 2)])
def test_beer_training_of_a_batch_equals_training_each_network_alone(widths):
    net = DQNN(widths, "general")
    theta, (x, y) = batch_of_tasks(net, 4, 3)
    mats, curves = train_beer(net, net.unitaries(theta), (x, y), (x[:, :2], y[:, :2]), steps=8, eta=0.8, eps=0.1)
    assert list(curves["sample"].unique()) == [0, 1, 2, 3] and len(curves) == 4 * 9
    for s in range(4):
        alone, curve = train_beer(net, net.unitaries(theta[s:s + 1]), (x[s], y[s]), (x[s, :2], y[s, :2]), steps=8,
                                  eta=0.8, eps=0.1)
        mine = curves[curves["sample"] == s]
        for column in ("train_fidelity", "test_fidelity"):
            assert mine[column].to_numpy() == pytest.approx(curve[column].to_numpy(), abs=1e-12, rel=0)
        for row, row_alone in zip(mats, alone):
            for u, u_alone in zip(row, row_alone):
                assert torch.allclose(u[s:s + 1], u_alone, atol=1e-12, rtol=0)


def test_beer_step_matches_the_commutator_rule_written_with_full_register_operators():
    net = DQNN((2, 2, 1), "general")
    theta = torch.tensor(draw(net, 2, 4))
    x, y = haar.states(6, 4, 5).reshape(2, 3, 4), haar.states(6, 2, 6).reshape(2, 3, 2)
    mats = net.unitaries(theta)
    new = beer_step(net, mats, x, y, eta=0.7, eps=0.05)
    for s in range(2):
        expected = dense_beer_step(net, [[u[s] for u in row] for row in mats], x[s], y[s], eta=0.7, eps=0.05)
        for row, row_expected in zip(new, expected):
            for u, u_expected in zip(row, row_expected):
                assert torch.allclose(u[s], u_expected, atol=1e-10, rtol=0)


def dense_beer_step(net: DQNN, mats, x, y, eta, eps):
    """The update of one network as the training module's docstring writes it: every operator on
    the whole register of a layer, K^l_j = η (2^{m_{l−1}} i/N) Σ_x tr_rest[A_j, B_j]."""
    def ptrace(op, keep, k):
        bra = [k + q if q in keep else q for q in range(k)]
        out = torch.einsum(op.reshape([2] * (2 * k)), list(range(k)) + bra, keep + [k + q for q in keep])
        return out.reshape(2 ** len(keep), 2 ** len(keep))

    def embed(u, m_in, j, k):  # perceptron j: on the inputs and output j
        order = list(range(m_in)) + [m_in + j] + [q for q in range(m_in, k) if q != m_in + j]
        axes = [order.index(q) for q in range(k)]
        full = torch.kron(u, torch.eye(2 ** (k - m_in - 1), dtype=u.dtype)).reshape([2] * (2 * k))
        return full.permute(axes + [k + a for a in axes]).reshape(2**k, 2**k)

    registers, rho = [], [torch.outer(v, v.conj()) for v in x]
    for l, row in enumerate(mats, start=1):
        m_in, k = net.widths[l - 1], net.widths[l - 1] + net.widths[l]
        zeros = torch.zeros(2 ** net.widths[l], 2 ** net.widths[l], dtype=x.dtype)
        zeros[0, 0] = 1
        units, starts = [embed(u, m_in, j, k) for j, u in enumerate(row)], [torch.kron(r, zeros) for r in rho]
        registers.append((units, starts))
        for u in units:
            starts = [u @ a @ u.mH for a in starts]
        rho = [ptrace(a, list(range(m_in, k)), k) for a in starts]
    sigma = [torch.outer(v, v.conj()) for v in y]
    new = [list(row) for row in mats]
    for l in range(len(mats), 0, -1):
        m_in, k = net.widths[l - 1], net.widths[l - 1] + net.widths[l]
        units, starts = registers[l - 1]
        backs = []  # per pair: B_0 … B_m
        for sig in sigma:
            b = [torch.kron(torch.eye(2**m_in, dtype=x.dtype), sig)]
            for u in reversed(units):
                b.append(u.mH @ b[-1] @ u)
            backs.append(b[::-1])
        for j in range(len(units)):
            total = 0
            for a, b in zip(starts, backs):
                for u in units[:j + 1]:
                    a = u @ a @ u.mH
                total = total + ptrace(a @ b[j + 1] - b[j + 1] @ a, list(range(m_in)) + [m_in + j], k)
            kmat = eta * 2**m_in * 1j / len(starts) * total
            new[l - 1][j] = torch.linalg.matrix_exp(1j * eps * kmat) @ mats[l - 1][j]
        d_in, d_out = 2**m_in, 2 ** (k - m_in)
        sigma = [b[0].reshape(d_in, d_out, d_in, d_out)[:, 0, :, 0] for b in backs]
    return new


def test_gradient_training_of_a_batch_equals_training_each_network_alone():
    net = DQNN((2, 2, 2), "general")
    theta, (x, y) = batch_of_tasks(net, 3, 2)
    final, curves = train_gradient(net, theta, (x, y), (x, y), steps=6, optimizer="Adam", lr=0.05)
    for s in range(3):
        alone, curve = train_gradient(net, theta[s:s + 1], (x[s], y[s]), (x[s], y[s]), steps=6, optimizer="Adam",
                                      lr=0.05)
        mine = curves[curves["sample"] == s]
        assert mine["train_fidelity"].to_numpy() == pytest.approx(curve["train_fidelity"].to_numpy(), abs=1e-12, rel=0)
        assert torch.allclose(final[s:s + 1], alone, atol=1e-12, rtol=0)


def test_pairs_must_be_shared_or_one_set_per_network(task):
    theta, (x, y), _ = task
    mats = NET.unitaries(theta.expand(2, -1))
    with pytest.raises(ValueError, match="inputs"):
        beer_step(NET, mats, x.expand(3, -1, -1), y)
    shared = mean_fidelity(NET, mats, x, y)
    assert shared.shape == (2,) and shared[0] == shared[1]


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
