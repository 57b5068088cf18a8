"""Dissipative QNNs: the batched simulation equals a dense numpy reference, PennyLane
and qiskit-aer; states stay physical; costs, gradients, parameter draws and the mode
choice do what they claim."""

from __future__ import annotations

import math
from functools import reduce

import dqnn_oracle as oracle
import numpy as np
import pytest
import torch

from qnnscope import haar
from qnnscope.models import dqnn
from qnnscope.models.dqnn import DQNN

TOL = 1e-10

NETS = [
    DQNN((1, 1), "general"),
    DQNN((2, 1), "general"),
    DQNN((2, 2), "general"),
    DQNN((1, 2, 1), "general"),
    DQNN((2, 3, 2), "general"),
    DQNN((2, 2), "deep", depth=1),
    DQNN((3, 2, 3), "deep", depth=1),
    DQNN((2, 2), "deep", depth=3),
    DQNN((3, 2, 3), "deep", depth=3),
    DQNN((1, 1), "local", locality=1),
    DQNN((3, 3), "local", locality=1),
    DQNN((2, 2, 2), "local", locality=1),
    DQNN((3, 3), "local", locality=2),
    DQNN((3, 3, 3), "local", locality=2),
    DQNN((4, 4), "local", locality=2),
]


def name(net: DQNN) -> str:
    extra = {"deep": f"-d{net.depth}", "local": f"-m{net.locality}"}.get(net.family, "")
    return f"{net.family}{extra}-{'x'.join(map(str, net.widths))}"


def parameters(net: DQNN, samples: int, seed: int) -> np.ndarray:
    """Haar perceptrons for the general family, uniform angles otherwise."""
    return dqnn.draw(net, samples, seed)


def mixed_states(count: int, dim: int, seed: int) -> np.ndarray:
    """Full-rank random density matrices G G† / tr(G G†)."""
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(count, dim, dim)) + 1j * rng.normal(size=(count, dim, dim))
    rho = g @ g.conj().transpose(0, 2, 1)
    return rho / np.trace(rho, axis1=1, axis2=2)[:, None, None]


def as_density(x: np.ndarray) -> np.ndarray:
    return np.einsum("bi,bj->bij", x, x.conj()) if x.ndim == 2 else x


def product(factors: np.ndarray) -> np.ndarray:
    """(B, m, 2) single-qubit factors → (B, 2^m) product states."""
    return np.stack([reduce(np.kron, row) for row in factors])


def reference(net: DQNN, theta: np.ndarray, inputs: np.ndarray, every_layer=False):
    """Oracle outputs of every (sample, input) row, in the row order of ``run``."""
    rho_in = as_density(inputs)
    samples = theta.shape[0]
    per = max(1, rho_in.shape[0] // samples)
    outs = []
    for s in range(samples):
        layers = oracle.build(net.widths, net.family, theta[s], net.depth, net.locality)
        for k in range(per):
            rho0 = rho_in[0] if rho_in.shape[0] == 1 else rho_in[s * per + k]
            res = oracle.network(net.widths, layers, rho0)
            outs.append(res if every_layer else res[-1])
    return outs


def engine_density(net: DQNN, theta, inputs, mode: str) -> np.ndarray:
    theta, inputs = torch.as_tensor(theta), torch.as_tensor(inputs)
    out = dqnn.run(net, theta, inputs, mode=mode, dtype="complex128")
    assert out.mode == mode
    return out.density().detach().numpy()


def assert_physical(rho: np.ndarray) -> None:
    """Hermitian, trace one, eigenvalues ≥ −1e−12, for a batch (B, d, d)."""
    assert np.abs(rho - rho.conj().transpose(0, 2, 1)).max() < 1e-12
    assert np.abs(np.trace(rho, axis1=1, axis2=2) - 1).max() < 1e-12
    assert np.linalg.eigvalsh(rho).min() > -1e-12


# --- the simulation equals the dense reference ----------------------------------------

@pytest.mark.parametrize("net", NETS, ids=name)
def test_run_equals_oracle(net):
    """Per-sample inputs (N = S·n rows) and one shared input, pure (both modes) and
    mixed (density mode)."""
    samples, per = 3, 2
    d = 2 ** net.widths[0]
    theta = parameters(net, samples, seed=11)
    pure = haar.states(samples * per, d, 5).numpy()
    pure_shared = haar.states(1, d, 6).numpy()
    mixed = mixed_states(samples * per, d, 7)
    mixed_shared = mixed_states(1, d, 8)
    cases = [(pure, "density"), (pure, "pure"), (pure_shared, "density"),
             (pure_shared, "pure"), (mixed, "density"), (mixed_shared, "density")]
    for inputs, mode in cases:
        want = np.stack(reference(net, theta, inputs))
        got = engine_density(net, theta, inputs, mode)
        rows = samples * per if inputs.shape[0] > 1 else samples
        assert got.shape == (rows,) + want.shape[1:]
        assert np.abs(got - want).max() < TOL, (mode, inputs.shape)
        assert_physical(got)


def test_auto_mode_equals_oracle():
    net = DQNN((2, 2), "general")
    theta = parameters(net, 2, seed=3)
    inputs = haar.states(2, 4, 4).numpy()
    out = dqnn.run(net, torch.as_tensor(theta), torch.as_tensor(inputs))
    assert out.mode == net.choose_mode(True)
    want = np.stack(reference(net, theta, inputs))
    assert np.abs(out.density().numpy() - want).max() < TOL


@pytest.mark.parametrize("net", [DQNN((2, 3, 2, 1), "general"),
                                 DQNN((2, 3, 2, 2), "deep", depth=2),
                                 DQNN((3, 3, 3, 3), "local", locality=2)], ids=name)
def test_every_layer_stays_physical(net):
    """Truncating the widths gives each layer's output (parameters are laid out layer by
    layer); every one is a density matrix and equals the reference's."""
    theta = parameters(net, 2, seed=21)
    inputs = mixed_states(2, 2 ** net.widths[0], 22)
    layers = reference(net, theta, inputs, every_layer=True)
    for k in range(1, net.n_layers + 1):
        part = DQNN(net.widths[:k + 1], net.family, net.depth, net.locality)
        got = engine_density(part, theta[:, :part.n_params], inputs, "density")
        want = np.stack([row[k - 1] for row in layers])
        assert np.abs(got - want).max() < TOL
        assert_physical(got)
        assert_physical(want)


# --- cross-backend: PennyLane default.mixed, qiskit-aer density matrix ----------------

CROSS = [
    DQNN((1, 1), "general"),
    DQNN((2, 1), "general"),
    DQNN((1, 2, 1), "general"),
    DQNN((2, 2), "deep", depth=2),
    DQNN((2, 1, 2), "deep", depth=1),
    DQNN((2, 2, 2), "local", locality=1),
    DQNN((3, 3), "local", locality=2),
]


def wires(net: DQNN) -> list[list[int]]:
    """Fresh wires for every layer: qubit i of layer l is wire sum(widths[:l]) + i."""
    offsets = np.cumsum((0,) + net.widths)
    return [list(range(offsets[k], offsets[k + 1])) for k in range(len(net.widths))]


def perceptron_wires(net: DQNN, w: list[list[int]]) -> list[list[int]]:
    """The wires (inputs…, output) of every perceptron, in application order."""
    return [[w[p.layer - 1][i] for i in p.inputs] + [w[p.layer][p.index]]
            for p in net.perceptrons]


def perceptron_matrices(net: DQNN, theta_row: np.ndarray) -> list[np.ndarray]:
    layers = oracle.build(net.widths, net.family, theta_row, net.depth, net.locality)
    return [u for row in layers for _, _, u in row]


@pytest.mark.parametrize("net", CROSS, ids=name)
def test_run_equals_pennylane(net):
    qml = pytest.importorskip("pennylane")
    w = wires(net)
    dev = qml.device("default.mixed", wires=sum(net.widths))
    placement = perceptron_wires(net, w)

    @qml.qnode(dev)
    def circuit(rho0, mats):
        qml.QubitDensityMatrix(rho0, wires=w[0])
        for u, on in zip(mats, placement):
            qml.QubitUnitary(u, wires=on)
        return qml.density_matrix(wires=w[-1])

    d = 2 ** net.widths[0]
    theta = parameters(net, 2, seed=31)
    for inputs in (as_density(haar.states(2, d, 32).numpy()), mixed_states(2, d, 33)):
        got = engine_density(net, theta, inputs, "density")
        want = np.stack([circuit(inputs[s], perceptron_matrices(net, theta[s]))
                         for s in range(2)])
        assert np.abs(got - want).max() < TOL


@pytest.mark.parametrize("net", [n for n in CROSS if n.family != "general"], ids=name)
def test_circuit_perceptrons_equal_pennylane_gates(net):
    """Deep and local perceptrons built from PennyLane's own gates, not matrices."""
    qml = pytest.importorskip("pennylane")
    w = wires(net)
    dev = qml.device("default.mixed", wires=sum(net.widths))
    placement = perceptron_wires(net, w)

    def perceptron(t, on):
        out = on[-1]
        if net.family == "deep":
            for d in range(net.depth):
                p = t[2 * len(on) * d:]
                for j, q in enumerate(on):
                    qml.RY(p[2 * j], wires=q)
                    qml.RZ(p[2 * j + 1], wires=q)
                for a, b in zip(on[:-1], on[1:]):
                    qml.CNOT(wires=[a, b])
        elif net.locality == 1:
            qml.SWAP(wires=on)
            qml.RY(t[0], wires=out)
        else:
            for i, q in enumerate(on[:-1]):
                qml.RY(t[2 * i], wires=q)
                qml.RY(t[2 * i + 1], wires=out)
                qml.CNOT(wires=[q, out])

    @qml.qnode(dev)
    def circuit(psi, theta_row):
        qml.StatePrep(psi, wires=w[0])
        for p, on in zip(net.perceptrons, placement):
            perceptron(theta_row[p.offset:p.offset + p.n_params], on)
        return qml.density_matrix(wires=w[-1])

    theta = parameters(net, 3, seed=41)
    inputs = haar.states(3, 2 ** net.widths[0], 42).numpy()
    want = np.stack([circuit(inputs[s], theta[s]) for s in range(3)])
    for mode in ("density", "pure"):
        assert np.abs(engine_density(net, theta, inputs, mode) - want).max() < TOL


def little_endian(rho: np.ndarray, n: int) -> np.ndarray:
    """Reverse the qubit order of an n-qubit density matrix (ours ↔ qiskit's)."""
    order = list(range(n))[::-1] + list(range(n, 2 * n))[::-1]
    return rho.reshape([2] * (2 * n)).transpose(order).reshape(2**n, 2**n)


@pytest.mark.parametrize("net", [DQNN((2, 1), "general"),
                                 DQNN((2, 1, 2), "deep", depth=2),
                                 DQNN((3, 3), "local", locality=2)], ids=name)
def test_run_equals_qiskit_aer(net):
    aer = pytest.importorskip("qiskit_aer")
    qiskit = pytest.importorskip("qiskit")
    from qiskit.quantum_info import DensityMatrix

    n, m = sum(net.widths), net.widths[-1]
    w = wires(net)
    placement = perceptron_wires(net, w)
    theta = parameters(net, 2, seed=51)
    inputs = mixed_states(2, 2 ** net.widths[0], 52)
    sim = aer.AerSimulator(method="density_matrix")
    rest = np.outer(oracle.ket0(n - net.widths[0]), oracle.ket0(n - net.widths[0]))
    want = []
    for s in range(2):
        qc = qiskit.QuantumCircuit(n)
        qc.set_density_matrix(DensityMatrix(little_endian(np.kron(inputs[s], rest), n)))
        for u, on in zip(perceptron_matrices(net, theta[s]), placement):
            qc.unitary(u, on[::-1])  # qiskit: first listed qubit least significant
        qc.save_density_matrix(qubits=w[-1], label="rho")
        job = sim.run(qiskit.transpile(qc, sim, optimization_level=0))
        want.append(little_endian(np.asarray(job.result().data(0)["rho"]), m))
    got = engine_density(net, theta, inputs, "density")
    assert np.abs(got - np.stack(want)).max() < TOL


# --- costs ----------------------------------------------------------------------------

@pytest.mark.parametrize("widths", [(3, 3), (2, 2, 2), (4, 4, 4)])
@pytest.mark.parametrize("mode", ["density", "pure"])
def test_swap_chain_costs_are_analytic(widths, mode):
    """Locality-1 perceptrons carry qubit j along chain j and rotate it: on |0…0⟩
    chain j ends in RY(θ_j)|0⟩, θ_j the sum of its angles, so with target |0…0⟩
    C_G = 1 − Π_j cos²(θ_j/2) and C_L = 1 − (1/n) Σ_j cos²(θ_j/2)."""
    net = DQNN(widths, "local", locality=1)
    n, layers = widths[0], len(widths) - 1
    theta = parameters(net, 8, seed=61)
    cos2 = np.cos(theta.reshape(8, layers, n).sum(1) / 2) ** 2
    zero = torch.as_tensor(oracle.ket0(n))
    out = dqnn.run(net, torch.as_tensor(theta), zero[None], mode=mode)
    zeros = torch.tensor([[1.0, 0.0]] * n)[None]
    assert np.abs(dqnn.global_cost(out, zero).numpy() - (1 - cos2.prod(1))).max() < TOL
    assert np.abs(dqnn.local_cost(out, zeros).numpy() - (1 - cos2.mean(1))).max() < TOL


@pytest.mark.parametrize("net", [DQNN((2, 2), "general"),
                                 DQNN((3, 2, 3), "deep", depth=2),
                                 DQNN((3, 3, 3), "local", locality=2)], ids=name)
def test_costs_equal_oracle(net):
    """Several training pairs per sample, random targets: costs from the dense ρ."""
    samples, per = 3, 2
    rows, m = samples * per, net.widths[-1]
    theta = parameters(net, samples, seed=71)
    inputs = haar.states(rows, 2 ** net.widths[0], 72).numpy()
    phi = haar.states(rows, 2**m, 73).numpy()
    psis = haar.states(rows * m, 2, 74).numpy().reshape(rows, m, 2)
    rhos = reference(net, theta, inputs)
    want_g = [oracle.global_cost(r, p) for r, p in zip(rhos, phi)]
    want_l = [oracle.local_cost(r, q) for r, q in zip(rhos, psis)]
    want_g = np.reshape(want_g, (samples, per)).mean(1)
    want_l = np.reshape(want_l, (samples, per)).mean(1)
    for mode in ("density", "pure"):
        out = dqnn.run(net, torch.as_tensor(theta), torch.as_tensor(inputs), mode=mode)
        got_g = dqnn.global_cost(out, torch.as_tensor(phi), per_sample=per).numpy()
        got_l = dqnn.local_cost(out, torch.as_tensor(psis), per_sample=per).numpy()
        assert np.abs(got_g - want_g).max() < TOL
        assert np.abs(got_l - want_l).max() < TOL


def test_local_cost_takes_product_targets_as_states():
    net = DQNN((2, 3), "deep", depth=2)
    theta = parameters(net, 2, seed=75)
    inputs = haar.states(2, 4, 76)
    psis = haar.states(6, 2, 77).numpy().reshape(2, 3, 2)
    out = dqnn.run(net, torch.as_tensor(theta), inputs)
    by_factors = dqnn.local_cost(out, torch.as_tensor(psis)).numpy()
    by_states = dqnn.local_cost(out, torch.as_tensor(product(psis))).numpy()
    rhos = reference(net, theta, inputs.numpy())
    want = [oracle.local_cost(r, q) for r, q in zip(rhos, psis)]
    assert np.abs(by_factors - want).max() < TOL
    assert np.abs(by_states - want).max() < TOL


@pytest.mark.parametrize("widths", [(3, 3), (2, 2, 2, 2)])
def test_chain_costs_equal_the_full_network(widths):
    """A local1 network is independent chains: the factorised costs equal the full
    simulation on product inputs and targets."""
    net = DQNN(widths, "local", locality=1)
    samples, pairs, m = 3, 2, widths[0]
    theta = torch.as_tensor(parameters(net, samples, seed=78))
    xs = haar.states(pairs * m, 2, 79).reshape(pairs, m, 2)
    ys = haar.states(pairs * m, 2, 80).reshape(pairs, m, 2)
    full_in = torch.as_tensor(np.tile(product(xs.numpy()), (samples, 1)))
    full_ys = torch.as_tensor(np.tile(product(ys.numpy()), (samples, 1)))
    out = dqnn.run(net, theta, full_in, mode="density")
    want_g = dqnn.global_cost(out, full_ys, per_sample=pairs)
    want_l = dqnn.local_cost(out, ys.repeat(samples, 1, 1), per_sample=pairs)
    got_g = dqnn.chain_costs(net, theta, xs, ys, "global")
    got_l = dqnn.chain_costs(net, theta, xs, ys, "local")
    assert np.abs((got_g - want_g).numpy()).max() < TOL
    assert np.abs((got_l - want_l).numpy()).max() < TOL
    with pytest.raises(ValueError, match="ansatz"):
        dqnn.chain_costs(DQNN(widths, "local", locality=2), theta, xs, ys, "global")


# --- gradients ------------------------------------------------------------------------

GRAD_NETS = [DQNN((1, 2, 2), "general"), DQNN((2, 2, 2), "deep", depth=2),
             DQNN((2, 2, 2), "local", locality=1), DQNN((3, 3, 3), "local", locality=2)]
CIRCUIT_GRAD_NETS = [n for n in GRAD_NETS if n.family != "general"]
PER = 2


def cost_problem(net: DQNN, which: str, seed: int):
    """A cost of parameter rows (R, P) → (R,) over PER fixed training pairs."""
    m = net.widths[-1]
    inputs = haar.states(PER, 2 ** net.widths[0], seed)
    if which == "global":
        targets = haar.states(PER, 2**m, seed + 1)
    else:
        targets = haar.states(PER * m, 2, seed + 1).reshape(PER, m, 2)
    cost = dqnn.global_cost if which == "global" else dqnn.local_cost

    def evaluate(theta: torch.Tensor, mode: str) -> torch.Tensor:
        rows = theta.shape[0]
        out = dqnn.run(net, theta, inputs.repeat(rows, 1), mode=mode)
        tgt = targets.repeat(rows, *([1] * (targets.ndim - 1)))
        return cost(out, tgt, per_sample=PER)

    return evaluate


def autograd(evaluate, theta: np.ndarray, mode: str) -> np.ndarray:
    t = torch.tensor(theta[None], dtype=torch.float64, requires_grad=True)
    evaluate(t, mode).sum().backward()
    return t.grad[0].numpy()


def shifted(evaluate, theta: np.ndarray, mode: str, h: float) -> np.ndarray:
    """C(θ + h e_k) − C(θ − h e_k) for every k, as one batch of 2P rows."""
    eye = np.eye(theta.size)
    rows = np.concatenate([theta + h * eye, theta - h * eye])
    with torch.no_grad():
        c = evaluate(torch.as_tensor(rows), mode).numpy()
    return c[:theta.size] - c[theta.size:]


@pytest.mark.parametrize("which", ["global", "local"])
@pytest.mark.parametrize("net", GRAD_NETS, ids=name)
def test_autograd_equals_finite_differences(net, which):
    evaluate = cost_problem(net, which, seed=81)
    theta = parameters(net, 1, seed=82)[0]
    for mode in ("density", "pure"):
        grad = autograd(evaluate, theta, mode)
        fd = shifted(evaluate, theta, mode, 1e-6) / 2e-6
        assert np.abs(grad).max() > 1e-3  # not vacuous
        assert np.abs(grad - fd).max() < 1e-6


@pytest.mark.parametrize("which", ["global", "local"])
@pytest.mark.parametrize("net", CIRCUIT_GRAD_NETS, ids=name)
def test_autograd_equals_parameter_shift(net, which):
    """Every angle of a deep or local perceptron drives one rotation, so
    ∂C/∂θ_k = [C(θ + π/2 e_k) − C(θ − π/2 e_k)] / 2 exactly."""
    evaluate = cost_problem(net, which, seed=91)
    theta = parameters(net, 1, seed=92)[0]
    for mode in ("density", "pure"):
        grad = autograd(evaluate, theta, mode)
        ps = shifted(evaluate, theta, mode, math.pi / 2) / 2
        assert np.abs(grad - ps).max() < TOL


# --- parameter draws ------------------------------------------------------------------

@pytest.mark.parametrize("net", [DQNN((2, 1), "general"), DQNN((2, 2), "deep", depth=2),
                                 DQNN((3, 3), "local", locality=2)], ids=name)
def test_draw_is_deterministic_per_seed(net):
    a = dqnn.draw(net, 4, 123)
    assert a.shape == (4, net.n_params)
    assert np.array_equal(a, dqnn.draw(net, 4, 123))
    assert not np.allclose(a, dqnn.draw(net, 4, 124))
    if net.family != "general":  # uniform on [0, 2π), not [0, π)
        angles = dqnn.draw(net, 500, 5).ravel()
        assert angles.min() >= 0 and angles.max() < 2 * math.pi
        assert abs(angles.mean() - math.pi) < 0.1 and angles.max() > 6.2


def test_general_draws_are_haar():
    """exp(iK) of the drawn coefficients is unitary with the Haar moments of U(d),
    d ≥ 2: E|Tr U|² = 1, E|Tr U|⁴ = 2, E|U_00|² = 1/d (2- and 3-qubit perceptrons)."""
    net = DQNN((1, 2, 1), "general")
    theta = dqnn.draw(net, 1500, 2024)
    for p in (net.perceptrons[0], net.perceptrons[-1]):
        u = oracle.general_unitary(theta[:, p.offset:p.offset + p.n_params], p.n_qubits)
        d = 2**p.n_qubits
        assert np.abs(u @ u.conj().transpose(0, 2, 1) - np.eye(d)).max() < 1e-10
        tr2 = np.abs(np.trace(u, axis1=1, axis2=2)) ** 2
        assert abs(tr2.mean() - 1) < 0.15
        assert abs((tr2**2).mean() - 2) < 0.5
        assert abs((np.abs(u[:, 0, 0]) ** 2).mean() - 1 / d) < 0.2 / d


# --- mode choice and validation -------------------------------------------------------

def test_choose_mode():
    net = DQNN((3, 3, 3), "general")
    assert net.choose_mode(pure_input=True) == "pure"  # 2^9 amplitudes < 4^6 entries
    assert net.choose_mode(pure_input=False) == "density"
    small = DQNN((1, 1), "general")
    theta = torch.as_tensor(parameters(small, 1, 0))
    with pytest.raises(ValueError, match="mode"):
        dqnn.run(small, theta, torch.as_tensor(mixed_states(1, 2, 0)), mode="pure")


@pytest.mark.parametrize("kwargs, key", [
    (dict(widths=(3,)), "widths"),
    (dict(widths=(2, 0)), "widths"),
    (dict(widths=(2, 2), family="dense"), "family"),
    (dict(widths=(2, 2), family="deep", depth=0), "depth"),
    (dict(widths=(2, 2), family="local", locality=0), "locality"),
    (dict(widths=(2, 3), family="local"), "widths"),
])
def test_bad_networks_are_rejected(kwargs, key):
    with pytest.raises(ValueError, match=key):
        DQNN(**kwargs)


def test_from_label():
    assert dqnn.from_label("general", (2, 1)) == DQNN((2, 1), "general")
    assert dqnn.from_label("deep4", (2, 2)) == DQNN((2, 2), "deep", depth=4)
    assert dqnn.from_label("local2", (3, 3)) == DQNN((3, 3), "local", locality=2)
    for bad in ("deep", "local0", "dense"):
        with pytest.raises(ValueError, match="ansatz"):
            dqnn.from_label(bad, (2, 2))


def test_bad_inputs_are_rejected():
    net = DQNN((1, 1), "local")
    with pytest.raises(ValueError, match="inputs"):
        dqnn.run(net, torch.zeros(2, net.n_params), haar.states(3, 2, 0))
    with pytest.raises(ValueError, match="theta"):
        dqnn.run(net, torch.zeros(2, net.n_params + 1), haar.states(2, 2, 0))
