"""Importing PennyLane circuits: tapes, quantum functions, QNodes, templates and builder files.

Every import is checked against PennyLane itself: the engine's cost and all-parameter gradient
(complex128) equal default.qubit's expectation value and its gradient (torch backprop, and
parameter shift for the templates) to 1e−10, and our dense unitary equals ``qml.matrix`` up to a
global phase; every refusal is checked against its message."""

import math
import subprocess
import sys

import numpy as np
import pennylane as qml
import pytest
import torch

from qnnscope import haar
from qnnscope.circuits import ansatze
from qnnscope.circuits.importers import from_pennylane, load, structure_hash
from qnnscope.circuits.lowering import dense_unitary
from qnnscope.costs import make_cost
from qnnscope.sim import engine

pytestmark = [
    pytest.mark.filterwarnings("ignore::scipy.sparse.SparseEfficiencyWarning"),
    pytest.mark.filterwarnings("ignore:__array_wrap__ must accept context:DeprecationWarning"),  # PennyLane's U3
]

PAULI = {"X": qml.PauliX, "Y": qml.PauliY, "Z": qml.PauliZ}


def hamiltonian(observable):
    """The Pauli sum of an observable as a PennyLane operator (its wires are ours)."""
    assert observable.projector_coeff == 0
    ops = [qml.prod(*[PAULI[p](w) for w, p in string]) for _, string in observable.terms]
    return qml.dot([c for c, _ in observable.terms], ops)


def pennylane_value(qfunc, x, observable, diff_method="backprop"):
    """default.qubit's ⟨O⟩ and its gradient with respect to every entry of ``x`` (flattened)."""
    n = observable.n_qubits

    @qml.qnode(qml.device("default.qubit", wires=n), interface="torch", diff_method=diff_method)
    def circuit(p):
        qfunc(p)
        return qml.expval(hamiltonian(observable))

    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    value = circuit(xt)
    value.backward()
    return float(value.detach()) + observable.constant, xt.grad.numpy().reshape(-1)


def check_against_pennylane(qfunc, shape, observable, rows=2, seed=0, diff_method="backprop", **kw):
    """Import ``qfunc``, then compare costs, gradients and the dense unitary at random inputs."""
    c = from_pennylane(qfunc, shape=shape, **kw)
    rng = np.random.default_rng(seed)
    xs = rng.uniform(-math.pi, math.pi, (rows, *shape))
    name = c.param_names[0].partition("[")[0] if c.param_names else ""
    used = [int(np.ravel_multi_index(tuple(int(i) for i in p[len(name) + 1:-1].split(",")), shape))
            for p in c.param_names]
    assert used == sorted(used), "slots follow the inputs' order"
    theta = xs.reshape(rows, -1)[:, used]
    costs, grads = engine.adjoint(c, observable, theta, dtype="complex128")
    for x, row, cost, grad in zip(xs, theta, costs.numpy(), grads.numpy()):
        value, gradient = pennylane_value(qfunc, x, observable, diff_method)
        assert cost == pytest.approx(value, abs=1e-10)
        full = np.zeros(gradient.size)
        full[used] = grad
        np.testing.assert_allclose(full, gradient, atol=1e-10)
        expected = qml.matrix(qfunc, wire_order=range(c.n_qubits))(torch.tensor(x)).numpy()
        assert phase_distance(dense_unitary(c, row), expected) < 1e-10
    return c


def phase_distance(a: np.ndarray, b: np.ndarray) -> float:
    """max |a − e^{iφ} b| with the phase φ fixed by b's largest entry."""
    k = np.unravel_index(np.argmax(np.abs(b)), b.shape)
    return float(np.abs(a - (a[k] / b[k]) * b).max())


OBSERVABLE = make_cost("0.5*Z0Z1 + 0.3*X2 - 0.2*Y1 + 0.4*X0Y2", 3)
U1 = haar.unitaries(1, 2, 11).numpy()[0]
U2 = haar.unitaries(1, 4, 12).numpy()[0]
GATES = [  # (gate under test on 3 wires, inputs x[0..2]; our gates it must become)
    (lambda x: qml.RX(x[0], 1), {"RX"}),
    (lambda x: qml.RY(1.5 * x[0] - 0.2, 2), {"RY"}),
    (lambda x: qml.RZ(x[0], 0), {"RZ"}),
    (lambda x: qml.PhaseShift(-x[0] + 0.4, 1), {"RZ"}),
    (lambda x: qml.Rot(x[0], x[1], x[2], 2), {"RZ", "RY"}),
    (lambda x: qml.Rot(0.3, -1.1, 2.0, 1), {"UNITARY"}),
    (lambda x: qml.U3(x[0], 0.5 * x[1], x[2] + 1, 0), {"RZ", "RY"}),
    (lambda x: qml.IsingXX(x[0], [0, 2]), {"RXX"}),
    (lambda x: qml.IsingYY(2 * x[0], [1, 0]), {"RYY"}),
    (lambda x: qml.IsingZZ(x[0], [2, 1]), {"RZZ"}),
    (lambda x: qml.PauliRot(x[0], "XIY", [0, 1, 2]), {"PAULIROT"}),
    (lambda x: qml.PauliRot(x[0], "IZI", [0, 1, 2]), {"RZ"}),
    (lambda x: qml.MultiRZ(x[0], [0, 1, 2]), {"PAULIROT"}),
    (lambda x: qml.CRX(x[0], [1, 0]), {"CRX"}),
    (lambda x: qml.CRY(x[0], [0, 2]), {"CRY"}),
    (lambda x: qml.CRZ(x[0], [2, 1]), {"CRZ"}),
    (lambda x: qml.ControlledPhaseShift(x[0], [0, 2]), {"RZ", "CNOT"}),  # through its decomposition
    (lambda x: qml.CNOT([2, 0]), {"CNOT"}),
    (lambda x: qml.CZ([0, 1]), {"CZ"}),
    (lambda x: qml.CY([1, 2]), {"CY"}),
    (lambda x: qml.SWAP([0, 2]), {"SWAP"}),
    (lambda x: qml.ISWAP([2, 1]), {"ISWAP"}),
    (lambda x: qml.Hadamard(1), {"H"}),
    (lambda x: qml.PauliX(0), {"X"}),
    (lambda x: qml.PauliY(2), {"Y"}),
    (lambda x: qml.PauliZ(1), {"Z"}),
    (lambda x: qml.S(0), {"S"}),
    (lambda x: qml.T(2), {"T"}),
    (lambda x: qml.adjoint(qml.S(1)), {"SDG"}),
    (lambda x: qml.adjoint(qml.T(0)), {"TDG"}),
    (lambda x: qml.QubitUnitary(U1, 1), {"UNITARY"}),
    (lambda x: qml.QubitUnitary(U2, [2, 0]), {"UNITARY"}),
    (lambda x: qml.SX(1), {"RZ", "RY"}),  # through its decomposition (with a GlobalPhase, ignored)
]


@pytest.mark.parametrize("k", range(len(GATES)))
def test_each_gate_matches_pennylane(k):
    gate, expected = GATES[k]

    def qfunc(x):
        for j in range(3):
            qml.RY(x[3 + j], j)
        gate(x)
        for j in range(3):
            qml.RX(x[6 + j], j)

    c = check_against_pennylane(qfunc, (9,), OBSERVABLE, seed=k)
    inner = [op.gate for op in c.ops[3:-3]]
    assert set(inner) == expected
    assert c.param_names[-6:] == tuple(f"x[{i}]" for i in range(3, 9))


def test_templates_match_pennylane_backprop_and_parameter_shift():
    obs4 = make_cost("Z0Z3 - 0.7*X1 + 0.25*Y2Z3", 4)

    def sel(weights):
        qml.StronglyEntanglingLayers(weights, wires=range(4))

    c = check_against_pennylane(sel, (2, 4, 3), obs4, rows=2)
    assert c.n_params == 24 and c.param_names[:4] == ("weights[0,0,0]", "weights[0,0,1]", "weights[0,0,2]",
                                                      "weights[0,1,0]")
    check_against_pennylane(sel, (2, 4, 3), obs4, rows=1, seed=3, diff_method="parameter-shift")
    obs5 = make_cost("Z0Z1Z2Z3Z4 + 0.5*X4 - 0.3*Y0Y2", 5)

    def bel(theta):
        qml.BasicEntanglerLayers(theta, wires=range(5), rotation=qml.RY)

    c = check_against_pennylane(bel, (3, 5), obs5)
    assert c.counts() == {"RY": 15, "CNOT": 15} and c.param_names[-1] == "theta[2,4]"

    def qaoa(w):  # features fixed, weights trainable: RX, MultiRZ on pairs and RY
        qml.QAOAEmbedding(features=[0.3, -1.2, 2.1], weights=w, wires=range(3), local_field="Y")

    c = check_against_pennylane(qaoa, (2, 6), OBSERVABLE)
    assert c.n_params == 12


def test_shared_parameter_with_affine_expressions():
    def qfunc(theta):
        qml.RY(2 * theta[0] - 0.3, 0)
        qml.Hadamard(1)
        qml.RX(theta[0], 1)
        qml.CRX(theta[1], [1, 2])
        qml.IsingZZ(-0.5 * theta[0] + 1, [0, 1])
        qml.U3(theta[2], theta[1] / 2, 0.25, 2)
        qml.CNOT([2, 0])
        qml.PauliRot(3 * theta[2], "ZX", [0, 2])

    c = check_against_pennylane(qfunc, (3,), OBSERVABLE, rows=3)
    assert c.n_params == 3 and c.param_names == ("theta[0]", "theta[1]", "theta[2]")
    uses = [(op.gate, op.scale, op.offset) for op in c.ops if op.param == 0]
    assert [u[0] for u in uses] == ["RY", "RX", "RZZ"]
    np.testing.assert_allclose([u[1:] for u in uses], [(2, -0.3), (1, 0), (-0.5, 1)], atol=1e-14)
    assert [(op.gate, op.scale) for op in c.ops if op.param == 1] == [("CRX", 1.0), ("RZ", 0.5)]


def test_same_ansatz_as_the_builtin_structure():
    def hea(x):
        for d in range(2):
            for j in range(3):
                qml.RY(x[d, 2 * j], j)
                qml.RZ(x[d, 2 * j + 1], j)
            for j in range(2):
                qml.CNOT([j, j + 1])

    c = from_pennylane(hea, shape=(2, 6), name="hea")
    builtin = ansatze.hea(3, 2)
    assert c.ops == builtin.ops and structure_hash(c) == structure_hash(builtin)


def test_tape_trainable_params_and_wire_orders():
    ops = [qml.RX(0.4, "a"), qml.RY(-0.8, "b"), qml.CNOT(["a", "c"]), qml.RZ(1.1, "c"), qml.QubitUnitary(U1, "b"),
           qml.IsingXX(0.3, ["c", "b"])]
    tape = qml.tape.QuantumScript(ops, [qml.expval(qml.Z("a"))])
    tape.trainable_params = [1, 4]  # RY and IsingXX; the matrix (parameter 3) would stay fixed anyway
    order = ["c", "a", "b"]
    c = from_pennylane(tape, wires=order)
    assert c.param_names == ("params[0]", "params[1]") and c.n_qubits == 3
    assert [(op.gate, op.wires) for op in c.ops if op.param is not None] == [("RY", (2,)), ("RXX", (0, 2))]
    assert [op.angle for op in c.ops if op.gate == "RX"] == [0.4]
    for row in ([-0.8, 0.3], [1.7, -2.2]):
        bound = tape.bind_new_parameters(row, [1, 4])
        assert phase_distance(dense_unitary(c, row), qml.matrix(bound, wire_order=order)) < 1e-12
    with pytest.raises(ValueError, match=r"<PennyLane tape>: the circuit acts on wire\(s\) \['c'\] not in wires"):
        from_pennylane(tape, wires=["a", "b"])
    integer = qml.tape.QuantumScript([qml.RX(0.1, 2), qml.CNOT([2, 0]), qml.RY(0.2, 1)])
    assert from_pennylane(integer).ops[1].wires == (2, 0)  # integer labels sorted

    @qml.qnode(qml.device("default.qubit", wires=[1, 0]))
    def qnode(x):
        qml.RX(x[0], 0)
        qml.CNOT([1, 0])
        return qml.expval(qml.Z(0))

    c = from_pennylane(qnode, shape=1)  # a QNode's device wires give the order
    assert [op.wires for op in c.ops] == [(1,), (0, 1)] and c.name == "qnode"


BUILDER = '''
import numpy as np
import pennylane as qml


def build(n_qubits, depth):
    weights = np.random.default_rng(3).uniform(0, 2 * np.pi, (depth, n_qubits))
    ops = [qml.Hadamard(0), qml.BasicEntanglerLayers(weights, wires=range(n_qubits), rotation=qml.RY),
           qml.CRZ(0.7, wires=[0, n_qubits - 1])]
    tape = qml.tape.QuantumScript(ops, [qml.expval(qml.Z(0))])
    tape.trainable_params = [0]
    return tape


def too_wide(n_qubits, depth):
    return qml.tape.QuantumScript([qml.RX(0.1, n_qubits)])


def a_qnode(n_qubits, depth):
    return qml.QNode(lambda: qml.expval(qml.Z(0)), qml.device("default.qubit"))
'''


def test_builder_file_returning_a_tape(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plbuild.py").write_text(BUILDER)
    c = load("plbuild.py:build", 3, 2)
    assert c.name == "build" and c.n_params == 6 and c.param_names[0] == "params[0][0,0]"
    assert c.counts() == {"H": 1, "RY": 6, "CNOT": 6, "CRZ": 1}
    observable = make_cost("Z0Z2 + 0.5*X1", 3)
    namespace: dict = {}
    exec(BUILDER, namespace)  # noqa: S102 - the same builder, for PennyLane's side
    tape = namespace["build"](3, 2)

    def qfunc(w):
        with qml.QueuingManager.stop_recording():  # binding builds the operations, which must not queue twice
            bound = tape.bind_new_parameters([w], [0])
        for op in bound.operations:
            qml.apply(op)

    theta = np.random.default_rng(4).uniform(-math.pi, math.pi, (2, 6))
    costs, grads = engine.adjoint(c, observable, theta, dtype="complex128")
    for row, cost, grad in zip(theta, costs.numpy(), grads.numpy()):
        value, gradient = pennylane_value(qfunc, row.reshape(2, 3), observable)
        assert cost == pytest.approx(value, abs=1e-10)
        np.testing.assert_allclose(grad, gradient, atol=1e-10)
    with pytest.raises(ValueError) as err:
        load("plbuild.py:too_wide", 3, 1, key="circuit")
    assert "circuit: builder 'plbuild.py:too_wide': the circuit acts on wire(s) [3] not in wires [0, 1, 2]" in str(err.value)
    with pytest.raises(ValueError, match=r"'a_qnode' returned a PennyLane QNode; allowed: a PennyLane tape"):
        load("plbuild.py:a_qnode", 3, 1)


class Noisy(qml.operation.Operation):
    """A gate whose decomposition holds a channel."""

    num_wires = 1

    @staticmethod
    def compute_decomposition(wires):
        return [qml.RX(0.1, wires), qml.AmplitudeDamping(0.2, wires)]


def refusal(qfunc, shape=2):
    with pytest.raises(ValueError) as err:
        from_pennylane(qfunc, shape=shape)
    return str(err.value)


def test_refusals_name_the_operation_and_what_is_allowed():
    def unsupported(x):
        qml.RX(x[0], 0)
        qml.AmplitudeDamping(0.1, wires=1)

    msg = refusal(unsupported)
    assert msg.startswith("PennyLane function 'unsupported': operation 1 ('AmplitudeDamping' on wire(s) 1): "
                          "unsupported operation 'AmplitudeDamping' (and it has no decomposition); "
                          "supported operations: RX, RY, RZ, PhaseShift")

    def nested(x):
        qml.RY(x[1], 0)
        Noisy(wires=0)

    assert ("operation 1 ('Noisy' on wire(s) 0), in its decomposition operation 1 ('AmplitudeDamping'): "
            "unsupported operation 'AmplitudeDamping'") in refusal(nested)

    def sine(x):
        qml.RX(torch.sin(x[1]), 0)

    assert "'sine': operation 0 ('RX' on wire(s) 0): parameter 0 is not affine in x[1] (slope " in refusal(sine)

    def square(theta):
        qml.IsingZZ(theta[0] ** 2, [0, 1])

    assert ("operation 0 ('IsingZZ' on wire(s) 0, 1): parameter 0 is not affine in theta[0] (slope "
            in refusal(square))

    def two(theta):
        qml.RY(theta[0] + theta[1], 1)

    msg = refusal(two)
    assert "operation 0 ('RY' on wire(s) 1): parameter 0 depends on 2 input entries (theta[0], theta[1]); " \
           "allowed: a number or a·θ + b with numbers a ≠ 0, b and one input entry θ" in msg

    def rot(theta):
        qml.Rot(0.1, theta[0] * theta[1], 0.2, wires=0)

    assert "operation 0 ('Rot' on wire(s) 0): parameter 1 depends on 2 input entries" in refusal(rot)

    def wide(theta):
        qml.RX(theta[0], 0)
        qml.QubitUnitary(haar.unitaries(1, 8, 5).numpy()[0], wires=[0, 1, 2])

    assert ("operation 1 ('QubitUnitary' on wire(s) 0, 1, 2): a QubitUnitary on 3 wires cannot be imported; "
            "allowed: QubitUnitary on 1 or 2 wires") in refusal(wide)

    def outside(theta):
        qml.RX(float(theta[0].detach()), 0)

    assert "parameter 0 changes with the inputs" in refusal(outside)
    assert "torch autograd sees no dependence" in refusal(outside)

    def measured(theta):
        qml.RX(theta[0], 0)
        qml.measure(0)
        qml.RX(theta[1], 0)

    assert ("operation 1 ('MidMeasureMP' on wire(s) 0): mid-circuit measurements and classically controlled "
            "operations cannot be imported") in refusal(measured)
    with pytest.raises(ValueError, match="'two': a quantum function needs shape= for its parameter array"):
        from_pennylane(two)
    with pytest.raises(ValueError, match=r"'two': building the circuit on torch tensors of shape\(s\) \(1,\) "
                                         r"raised IndexError"):
        from_pennylane(two, shape=1)


def test_importing_the_module_stays_light():
    code = ("import sys, qnnscope.circuits.importers; "
            "assert not {'pennylane', 'torch'} & set(sys.modules), 'pennylane or torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
