"""Importing user circuits: qiskit circuits, OpenQASM 3 files and builder functions.

Unitaries are checked against qiskit's own ``Operator`` (bit order reversed: our wire 0 is the
most significant bit) up to a global phase; costs and gradients against qiskit's Statevector and
finite differences; every refusal message against the file or builder and the gate it names."""

import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from qiskit import QuantumCircuit, qasm3
from qiskit.circuit import Gate, Parameter, ParameterVector
from qiskit.circuit.library import (
    CU1Gate,
    PauliEvolutionGate,
    U1Gate,
    U2Gate,
    U3Gate,
    XXPlusYYGate,
)
from qiskit.quantum_info import Operator, SparsePauliOp, Statevector, random_unitary

from qnnscope.backends.qiskit_backend import to_qiskit
from qnnscope.circuits import ansatze
from qnnscope.circuits.description import Circuit, Op
from qnnscope.circuits.importers import (
    from_builder,
    from_qasm3,
    from_qiskit,
    load,
    source_hash,
    structure_hash,
)
from qnnscope.circuits.lowering import dense_unitary
from qnnscope.costs import make_cost
from qnnscope.sim import engine

pytestmark = pytest.mark.filterwarnings("ignore::scipy.sparse.SparseEfficiencyWarning")


def phase_distance(a: np.ndarray, b: np.ndarray) -> float:
    """max |a − e^{iφ} b| with the phase φ fixed by b's largest entry."""
    k = np.unravel_index(np.argmax(np.abs(b)), b.shape)
    return float(np.abs(a - (a[k] / b[k]) * b).max())


def ours_vs_qiskit(qc: QuantumCircuit, circuit: Circuit, values: dict) -> float:
    """Distance between our dense unitary and qiskit's (bits reversed) at parameter ``values``."""
    by_name = {p.name: v for p, v in values.items()}
    row = np.array([by_name[name] for name in circuit.param_names])
    bound = qc.assign_parameters(values) if values else qc
    bound = bound.remove_final_measurements(inplace=False)
    return phase_distance(dense_unitary(circuit, row), Operator(bound.reverse_bits()).data)


def qiskit_value(qc: QuantumCircuit, observable) -> float:
    """⟨O⟩ of a bound qiskit circuit from qiskit's Statevector (qiskit qubit k = our wire k)."""
    sv = Statevector(qc.remove_final_measurements(inplace=False))
    value = observable.constant + observable.projector_coeff * abs(sv.data[0]) ** 2
    if observable.terms:
        op = SparsePauliOp.from_sparse_list(
            [("".join(p for _, p in s), [w for w, _ in s], c) for c, s in observable.terms], observable.n_qubits
        )
        value += sv.expectation_value(op).real
    return float(value)


# --------------------------------------------------------------------------------------------
# every supported gate, fixed angles


def _cases():
    rng = np.random.default_rng(7)

    def r():
        return float(rng.uniform(-math.pi, math.pi))

    return {
        "rx": lambda qc: qc.rx(r(), 1),
        "ry": lambda qc: qc.ry(r(), 2),
        "rz": lambda qc: qc.rz(r(), 0),
        "p": lambda qc: qc.p(r(), 1),
        "u1": lambda qc: qc.append(U1Gate(r()), [2]),
        "u": lambda qc: qc.u(r(), r(), r(), 0),
        "u3": lambda qc: qc.append(U3Gate(r(), r(), r()), [1]),
        "u2": lambda qc: qc.append(U2Gate(r(), r()), [2]),
        "h": lambda qc: qc.h(1),
        "x": lambda qc: qc.x(0),
        "y": lambda qc: qc.y(2),
        "z": lambda qc: qc.z(1),
        "s": lambda qc: qc.s(0),
        "sdg": lambda qc: qc.sdg(2),
        "t": lambda qc: qc.t(1),
        "tdg": lambda qc: qc.tdg(0),
        "sx": lambda qc: qc.sx(2),
        "sxdg": lambda qc: qc.sxdg(1),
        "cz": lambda qc: qc.cz(2, 0),
        "cx": lambda qc: qc.cx(2, 0),
        "cy": lambda qc: qc.cy(0, 2),
        "swap": lambda qc: qc.swap(1, 2),
        "iswap": lambda qc: qc.iswap(2, 0),
        "rxx": lambda qc: qc.rxx(r(), 0, 2),
        "ryy": lambda qc: qc.ryy(r(), 2, 1),
        "rzz": lambda qc: qc.rzz(r(), 1, 0),
        "rzx": lambda qc: qc.rzx(r(), 2, 0),
        "crx": lambda qc: qc.crx(r(), 2, 0),
        "cry": lambda qc: qc.cry(r(), 0, 1),
        "crz": lambda qc: qc.crz(r(), 1, 2),
        "cp": lambda qc: qc.cp(r(), 2, 0),
        "cu1": lambda qc: qc.append(CU1Gate(r()), [0, 2]),
        "unitary1": lambda qc: qc.unitary(random_unitary(2, seed=11), [1]),
        "unitary2": lambda qc: qc.unitary(random_unitary(4, seed=12), [2, 0]),
        "pauli_evolution_xzy": lambda qc: qc.append(
            PauliEvolutionGate(SparsePauliOp(["XZY"], [0.7]), time=r()), [2, 0, 1]),
        "pauli_evolution_with_identity": lambda qc: qc.append(
            PauliEvolutionGate(SparsePauliOp(["YIX"], [-1.3]), time=r()), [0, 1, 2]),
        "pauli_evolution_one_letter": lambda qc: qc.append(
            PauliEvolutionGate(SparsePauliOp(["IY"], [0.4]), time=r()), [2, 1]),
        # not native: imported through their definitions
        "ccx": lambda qc: qc.ccx(2, 0, 1),
        "r": lambda qc: qc.r(r(), r(), 1),
        "ch": lambda qc: qc.ch(1, 2),
        "cswap": lambda qc: qc.cswap(1, 0, 2),
        "ecr": lambda qc: qc.ecr(0, 2),
        "xx_plus_yy": lambda qc: qc.append(XXPlusYYGate(r(), r()), [2, 1]),
        "cu": lambda qc: qc.cu(r(), r(), r(), r(), 0, 1),
    }


CASES = _cases()


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_supported_gate_matches_qiskit(case):
    qc = QuantumCircuit(3)
    for q in range(3):  # a generic state around the gate, so every matrix entry matters
        qc.unitary(random_unitary(2, seed=q), [q])
    CASES[case](qc)
    qc.cx(0, 1)
    qc.cx(1, 2)
    circuit = from_qiskit(qc, name=case)
    assert circuit.n_qubits == 3 and circuit.n_params == 0 and circuit.name == case
    assert ours_vs_qiskit(qc, circuit, {}) < 1e-10


def test_native_gates_keep_their_names():
    qc = QuantumCircuit(3)
    for case in ("rxx", "ryy", "rzz", "rzx", "crx", "cry", "crz", "iswap", "cy", "swap", "t", "tdg", "cx"):
        CASES[case](qc)
    gates = [op.gate for op in from_qiskit(qc).ops]
    assert gates == ["RXX", "RYY", "RZZ", "RZX", "CRX", "CRY", "CRZ", "ISWAP", "CY", "SWAP", "T", "TDG", "CNOT"]
    qc = QuantumCircuit(3)
    qc.rzx(0.3, 2, 0)  # qiskit rzx(θ, a, b): Z on a, X on b
    qc.unitary(random_unitary(4, seed=1), [2, 0])
    qc.append(PauliEvolutionGate(SparsePauliOp(["XZ"], [0.5]), time=0.8), [0, 2])
    rzx, unitary, pauli = from_qiskit(qc).ops
    assert (rzx.gate, rzx.wires, rzx.angle) == ("RZX", (2, 0), 0.3)
    assert (unitary.gate, unitary.wires) == ("UNITARY", (0, 2))  # reversed: qiskit's first qubit is the LSB
    assert (pauli.gate, pauli.wires, pauli.pauli) == ("PAULIROT", (0, 2), "ZX")  # label "XZ": Z on qubit 0
    assert pauli.angle == pytest.approx(2 * 0.5 * 0.8)


def test_parameterised_gates_match_qiskit_at_random_angles():
    th = ParameterVector("th", 16)
    qc = QuantumCircuit(3)
    qc.h([0, 1, 2])
    qc.rx(th[0], 0)
    qc.ry(2 * th[1] - 0.3, 1)
    qc.rz(th[2] / 3, 2)
    qc.p(th[3], 0)
    qc.u(th[4], th[5] + 1, -th[6], 1)
    qc.append(U2Gate(th[7], 0.4), [2])
    qc.rxx(th[8], 0, 2)
    qc.ryy(th[9], 2, 1)
    qc.rzz(th[10], 1, 0)
    qc.rzx(th[11], 2, 0)
    qc.crx(th[12], 2, 0)
    qc.cry(th[13], 0, 1)
    qc.crz(th[14], 1, 2)
    qc.cp(0.5 * th[15] + 0.2, 2, 0)
    qc.append(PauliEvolutionGate(SparsePauliOp(["YXZ"], [0.6]), time=th[0] - 1), [0, 1, 2])
    qc.r(th[1], th[2], 0)  # through its definition: u3(θ, φ − π/2, −φ + π/2)
    circuit = from_qiskit(qc)
    assert sorted(circuit.param_names) == sorted(p.name for p in th)
    rng = np.random.default_rng(3)
    for _ in range(3):
        values = {p: float(rng.uniform(-4, 4)) for p in th}
        assert ours_vs_qiskit(qc, circuit, values) < 1e-10


def test_slots_numbered_by_first_appearance():
    th = ParameterVector("theta", 3)
    qc = QuantumCircuit(2)
    qc.ry(th[2], 0)
    qc.rx(th[0], 1)
    qc.rz(th[2], 1)
    qc.cry(th[1], 0, 1)
    c = from_qiskit(qc)
    assert c.param_names == ("theta[2]", "theta[0]", "theta[1]")
    assert [op.param for op in c.ops] == [0, 1, 0, 2]
    assert c.param_layer == (-1, -1, -1)


# --------------------------------------------------------------------------------------------
# affine expressions and gradients


def test_affine_shared_slot_costs_and_gradients():
    theta, phi, psi = Parameter("theta"), Parameter("phi"), Parameter("psi")
    qc = QuantumCircuit(3)
    qc.ry(2 * theta - 0.3, 0)
    qc.h(1)
    qc.rx(theta, 1)
    qc.crx(phi, 1, 2)
    qc.rzz(-0.5 * theta + 1, 0, 1)
    qc.u(psi, phi / 2, 0.25, 2)
    qc.cx(2, 0)
    qc.rzx(3 * psi, 0, 2)
    c = from_qiskit(qc)
    assert c.n_params == 3 and c.param_names == ("theta", "phi", "psi")
    uses = [(op.gate, op.scale, op.offset) for op in c.ops if op.param == 0]
    assert uses == [("RY", 2.0, -0.3), ("RX", 1.0, 0.0), ("RZZ", -0.5, 1.0)]
    observable = make_cost("0.5*Z0Z1 + 0.3*X2", 3)
    rng = np.random.default_rng(5)
    theta_rows = rng.uniform(-math.pi, math.pi, (4, 3))
    costs, grads = engine.adjoint(c, observable, theta_rows, dtype="complex128")
    costs, grads = costs.numpy(), grads.numpy()
    params = [theta, phi, psi]
    h = 1e-5
    for row, cost, grad in zip(theta_rows, costs, grads):
        def value(x):
            return qiskit_value(qc.assign_parameters(dict(zip(params, x))), observable)

        assert cost == pytest.approx(value(row), abs=1e-10)
        fd = [(value(row + h * e) - value(row - h * e)) / (2 * h) for e in np.eye(3)]
        np.testing.assert_allclose(grad, fd, atol=1e-8)
    expect = engine.expectation(c, observable, theta_rows, dtype="complex128").numpy()
    np.testing.assert_allclose(expect, costs, atol=1e-12)


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda a, b: a**2, "**2"),
        (lambda a, b: a.sin(), "sin(a)"),
        (lambda a, b: a + b, "2 parameters"),
        (lambda a, b: a.exp(), "exp(a)"),
        (lambda a, b: a.abs(), "abs(a)"),
    ],
)
def test_non_affine_expressions_refused(make, fragment):
    a, b = Parameter("a"), Parameter("b")
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.rzz(make(a, b), 0, 1)
    with pytest.raises(ValueError) as err:
        from_qiskit(qc, source="mybuilder")
    msg = str(err.value)
    assert msg.startswith("mybuilder: instruction 2 ('rzz' on qubit(s) 0, 1)")
    assert fragment in msg
    assert "a·θ + b" in msg


def test_refusals_name_the_gate_and_what_is_allowed():
    def refused(qc):
        with pytest.raises(ValueError) as err:
            from_qiskit(qc, source="src.py")
        return str(err.value)

    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.measure(0, 0)
    qc.x(0)
    msg = refused(qc)
    assert "src.py: instruction 1 ('measure' on qubit(s) 0)" in msg and "mid-circuit" in msg

    qc = QuantumCircuit(1)
    qc.h(0)
    qc.reset(0)
    assert "instruction 1 ('reset'" in refused(qc)

    qc = QuantumCircuit(2, 1)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(1)
    msg = refused(qc)
    assert "'if_else'" in msg and "classically controlled" in msg

    qc = QuantumCircuit(3)
    qc.unitary(random_unitary(8, seed=1), [0, 1, 2])
    msg = refused(qc)
    assert "'unitary'" in msg and "3 qubits" in msg

    qc = QuantumCircuit(2)
    qc.append(PauliEvolutionGate(SparsePauliOp(["XX", "ZZ"], [1.0, 0.5]), time=0.3), [0, 1])
    msg = refused(qc)
    assert "'PauliEvolution'" in msg and "2 terms" in msg

    qc = QuantumCircuit(1)
    qc.rx(float("inf"), 0)
    msg = refused(qc)
    assert "'rx'" in msg and "inf" in msg and "finite" in msg

    qc = QuantumCircuit(2)
    qc.h(1)
    qc.append(Gate("mystery", 2, []), [1, 0])
    msg = refused(qc)
    assert "instruction 1 ('mystery' on qubit(s) 1, 0)" in msg and "unsupported gate 'mystery'" in msg
    assert "supported gates: rx, ry, rz" in msg and "iswap" in msg

    inner = QuantumCircuit(1)
    a = Parameter("a")
    inner.rx(a * a, 0)
    inner.name = "block"
    qc = QuantumCircuit(2)
    qc.append(inner.to_gate(), [1])
    msg = refused(qc)
    assert "instruction 0 ('block' on qubit(s) 1), in its definition instruction 0 ('rx')" in msg
    assert "a*a is not affine in a" in msg


def test_final_measurements_and_leading_resets_dropped():
    qc = QuantumCircuit(2, 2)
    qc.reset([0, 1])
    qc.h(0)
    qc.measure(0, 0)
    qc.barrier()
    qc.x(1)
    qc.measure(1, 1)
    qc.measure(0, 1)
    c = from_qiskit(qc)
    assert [op.gate for op in c.ops] == ["H", "X"]
    qc = QuantumCircuit(2, 1)
    qc.h(0)
    qc.measure(0, 0)
    qc.x(1)  # a gate on another qubit does not make the measurement mid-circuit
    assert [op.gate for op in from_qiskit(qc).ops] == ["H", "X"]


# --------------------------------------------------------------------------------------------
# OpenQASM 3


def _write(path, text):
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def roundtrip_circuit() -> Circuit:
    rng = np.random.default_rng(9)
    u1 = tuple(complex(z) for z in random_unitary(2, seed=4).data.reshape(-1))
    u2 = tuple(complex(z) for z in random_unitary(4, seed=5).data.reshape(-1))
    u3 = tuple(complex(z) for z in random_unitary(4, seed=6).data.reshape(-1))
    ops = [
        Op("RX", (0,), param=0),
        Op("RY", (1,), param=0, scale=2.0, offset=-0.3),
        Op("RZ", (2,), param=1),
        Op("H", (3,)),
        Op("RXX", (0, 1), param=2),
        Op("RYY", (1, 2), param=3, scale=-0.5, offset=0.7),
        Op("RZZ", (2, 3), param=1, scale=1.5),
        Op("RZX", (3, 0), param=4),
        Op("PAULIROT", (0, 2, 3), param=5, pauli="XYZ"),
        Op("CRX", (0, 1), param=6),
        Op("CRY", (2, 0), param=7),
        Op("CRZ", (1, 3), param=8, offset=0.1),
        Op("CY", (3, 1)),
        Op("SWAP", (0, 2)),
        Op("ISWAP", (1, 3)),
        Op("T", (0,)),
        Op("TDG", (2,)),
        Op("UNITARY", (1,), matrix=u1),
        Op("UNITARY", (2, 0), matrix=u2),
        Op("RX", (3,), angle=float(rng.uniform(-3, 3))),
        Op("UNITARY", (3, 1), matrix=u3),
        Op("RY", (0,), param=9),
        Op("RZ", (3,), param=9, scale=-1.0),
    ]
    return Circuit(4, tuple(ops), 10, name="roundtrip")


def test_qasm3_round_trip_costs_and_gradients(tmp_path):
    circuit = roundtrip_circuit()
    pv = ParameterVector("theta", circuit.n_params)
    angles = [op.scale * pv[op.param] + op.offset if op.param is not None else op.angle_of(()) for op in circuit.ops]
    text = qasm3.dumps(to_qiskit(circuit, angles, []))
    path = tmp_path / "roundtrip.qasm"
    path.write_text(text)
    back = from_qasm3(path)
    assert back.name == "roundtrip" and back.n_qubits == 4 and back.n_params == circuit.n_params
    # the exporter names ParameterVector elements _theta_k_; map them back to the original slots
    order = [int(name.strip("_").split("_")[-1]) for name in back.param_names]
    assert order == list(range(circuit.n_params))  # slots in first-appearance order survive
    natives = {op.gate for op in back.ops}
    assert {"RXX", "RYY", "RZX", "ISWAP", "CRX", "CY", "SWAP", "T", "TDG"} <= natives  # custom gates recognised
    observable = make_cost("0.5*Z0Z1 + 0.3*X2 - 0.2*Y1Z3", 4)
    theta = np.random.default_rng(2).uniform(-math.pi, math.pi, (5, circuit.n_params))
    costs, grads = engine.adjoint(circuit, observable, theta, dtype="complex128")
    costs2, grads2 = engine.adjoint(back, observable, theta, dtype="complex128")
    np.testing.assert_allclose(costs2.numpy(), costs.numpy(), atol=1e-10)
    np.testing.assert_allclose(grads2.numpy(), grads.numpy(), atol=1e-10)
    assert phase_distance(dense_unitary(back, theta[0]), dense_unitary(circuit, theta[0])) < 1e-10


def test_qasm3_inputs_and_expressions(tmp_path):
    path = _write(tmp_path / "two.qasm", """
        OPENQASM 3.0;
        include "stdgates.inc";
        input float[64] theta0;
        input angle theta1;
        qubit[2] q;
        bit[2] c;
        h q[0];
        rx(2*theta1 - 0.3) q[1];
        cx q[0], q[1];
        rz(theta0) q[1];
        ry(theta1) q[0];
        c = measure q;
    """)
    c = from_qasm3(path)
    assert c.name == "two" and c.n_qubits == 2
    assert c.param_names == ("theta1", "theta0")  # first appearance in the gates
    assert [(op.gate, op.param, op.scale, op.offset) for op in c.ops if op.param is not None] == [
        ("RX", 0, 2.0, -0.3), ("RZ", 1, 1.0, 0.0), ("RY", 0, 1.0, 0.0)]


def test_qasm3_errors_name_the_file_and_gate(tmp_path):
    with pytest.raises(ValueError, match=r"nothere\.qasm: OpenQASM 3 file not found"):
        from_qasm3(tmp_path / "nothere.qasm")

    bad = _write(tmp_path / "syntax.qasm", """
        OPENQASM 3.0;
        include "stdgates.inc";
        qubit[2] q;
        h q[0]
        cx q[0], q[1];
    """)
    with pytest.raises(ValueError) as err:
        from_qasm3(bad)
    msg = str(err.value)
    assert "syntax.qasm" in msg and "line 5" in msg

    undefined = _write(tmp_path / "undefined.qasm", """
        OPENQASM 3.0;
        qubit q;
        foo q;
    """)
    with pytest.raises(ValueError) as err:
        from_qasm3(undefined)
    assert "undefined.qasm" in str(err.value) and "'foo'" in str(err.value) and "line 3" in str(err.value)

    mid = _write(tmp_path / "mid.qasm", """
        OPENQASM 3.0;
        include "stdgates.inc";
        qubit[2] q;
        bit b;
        h q[0];
        b = measure q[0];
        cx q[0], q[1];
    """)
    with pytest.raises(ValueError) as err:
        from_qasm3(mid)
    msg = str(err.value)
    assert "mid.qasm: instruction 1 ('measure' on qubit(s) 0)" in msg and "mid-circuit" in msg

    custom = _write(tmp_path / "custom.qasm", """
        OPENQASM 3.0;
        include "stdgates.inc";
        input float[64] a;
        input float[64] b;
        gate wobble(x, y) q { h q; rx(x + y) q; }
        qubit[1] q;
        wobble(a, b) q[0];
    """)
    with pytest.raises(ValueError) as err:
        from_qasm3(custom)
    msg = str(err.value)
    assert "custom.qasm: instruction 0 ('wobble'" in msg and "'rx'" in msg and "depends on 2 parameters (a, b)" in msg

    controlled = _write(tmp_path / "controlled.qasm", """
        OPENQASM 3.0;
        include "stdgates.inc";
        qubit[2] q;
        bit b;
        b = measure q[0];
        if (b) x q[1];
    """)
    with pytest.raises(ValueError) as err:
        from_qasm3(controlled)
    assert "controlled.qasm" in str(err.value) and "classically controlled" in str(err.value)


def test_user_gate_reusing_a_standard_name_is_imported_by_its_definition(tmp_path):
    path = _write(tmp_path / "fake.qasm", """
        OPENQASM 3.0;
        input float[64] a;
        gate rzx(x) p, q { U(x, 0, 0) p; }
        qubit[2] q;
        rzx(a) q[0], q[1];
    """)
    c = from_qasm3(path)
    assert [op.gate for op in c.ops] == ["RZ", "RY", "RZ"]  # not qiskit's rzx: its own U definition
    assert c.ops[1].param == 0 and c.ops[0].angle == 0.0


def test_load_qasm_pattern_and_qubit_check(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for n in (2, 3):
        lines = [f"rx(w) q[{j}];" for j in range(n)]
        _write(tmp_path / f"circ_{n}_1.qasm", "OPENQASM 3.0;\ninclude \"stdgates.inc\";\n"
               f"input float[64] w;\nqubit[{n}] q;\n" + "\n".join(lines) + "\n")
    c = load("circ_{n}_{depth}.qasm", 3, 1)
    assert c.n_qubits == 3 and c.name == "circ_3_1" and c.n_params == 1
    assert load("circ_{n}_{depth}.qasm", 3, 1) is c  # cached
    with pytest.raises(ValueError) as err:
        load("circ_{n}_{depth}.qasm", 4, 1, key="ansatz.file")
    msg = str(err.value)
    assert msg.startswith("ansatz.file: circ_4_1.qasm (from pattern circ_{n}_{depth}.qasm)") and "not found" in msg
    (tmp_path / "circ_2_2.qasm").write_text((tmp_path / "circ_3_1.qasm").read_text())
    with pytest.raises(ValueError, match=r"^circuit: circ_2_2\.qasm: the circuit has 3 qubits, 2 were asked"):
        load("circ_{n}_{depth}.qasm", 2, 2)
    with pytest.raises(ValueError, match=r"bad placeholder.*\{n\} and \{depth\}"):
        load("circ_{qubits}.qasm", 2, 2)


# --------------------------------------------------------------------------------------------
# builders

BUILDER = """
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qnnscope.circuits import ansatze


def build(n_qubits, depth):
    theta = ParameterVector("w", n_qubits * depth)
    qc = QuantumCircuit(n_qubits)
    for layer in range(depth):
        for q in range(n_qubits):
            qc.ry(theta[layer * n_qubits + q], q)
        for q in range(n_qubits - 1):
            qc.cz(q, q + 1)
    return qc


def mcclean(n_qubits, depth):
    return ansatze.mcclean(n_qubits, depth)


def one_arg(n):
    return QuantumCircuit(n)


def boom(n_qubits, depth):
    raise RuntimeError("no such layout")


def number(n_qubits, depth):
    return 42


def too_small(n_qubits, depth):
    return QuantumCircuit(n_qubits - 1)


not_a_function = 3
"""


@pytest.fixture
def builder_module(tmp_path, monkeypatch):
    name = f"user_circuits_{abs(hash(str(tmp_path))) % 10**8}"
    (tmp_path / f"{name}.py").write_text(BUILDER)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    yield name
    sys.modules.pop(name, None)


def test_builder_module_and_file(builder_module, tmp_path):
    c = from_builder(f"{builder_module}:build", 3, 2)
    assert c.name == "build" and c.n_qubits == 3 and c.n_params == 6
    assert c.param_names == tuple(f"w[{k}]" for k in range(6))
    assert [op.gate for op in c.ops] == ["RY"] * 3 + ["CZ"] * 2 + ["RY"] * 3 + ["CZ"] * 2
    f = from_builder(f"{builder_module}.py:build", 3, 2)
    g = from_builder(str(tmp_path / f"{builder_module}.py") + ":build", 3, 2)
    assert structure_hash(f) == structure_hash(c) == structure_hash(g)
    m = from_builder(f"{builder_module}:mcclean", 4, 3)
    assert m == ansatze.mcclean(4, 3)  # a qnnscope Circuit is used as is
    loaded = load(f"{builder_module}.py:mcclean", 4, 3)
    assert structure_hash(loaded) == structure_hash(ansatze.mcclean(4, 3))
    assert structure_hash(load("qnnscope.circuits.ansatze:hea", 3, 2)) == structure_hash(ansatze.hea(3, 2))


@pytest.mark.parametrize(
    "function, problems",
    [
        ("nothing", ["function 'nothing' not found"]),
        ("not_a_function", ["'not_a_function' is not callable (it is of type int)"]),
        ("one_arg", ["'one_arg'(n)", "cannot be called as one_arg(n_qubits, depth)"]),
        ("boom", ["'boom' raised RuntimeError: no such layout"]),
        ("number", ["'number' returned int", "QuantumCircuit"]),
        ("too_small", ["'too_small' returned a circuit on 2 qubits, 3 were asked for"]),
    ],
)
def test_builder_errors(builder_module, function, problems):
    for spec in (f"{builder_module}:{function}", f"{builder_module}.py:{function}"):
        with pytest.raises(ValueError) as err:
            load(spec, 3, 2, key="circuit.builder")
        msg = str(err.value)
        assert msg.startswith(f"circuit.builder: builder {spec!r}")
        for problem in problems:
            assert problem in msg


def test_builder_missing_module_or_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"builder 'no_such_module_xyz:build': module 'no_such_module_xyz' not found"):
        from_builder("no_such_module_xyz:build", 2, 1)
    with pytest.raises(ValueError, match=r"^circuit: builder 'no_such_module_xyz:build'.*not found"):
        load("no_such_module_xyz:build", 2, 1)
    with pytest.raises(ValueError, match=r"builder 'gone\.py:build': file gone\.py not found"):
        from_builder("gone.py:build", 2, 1)
    with pytest.raises(ValueError, match=r"expected module:function or path/to/file\.py:function"):
        load("just_a_name", 2, 1)
    (tmp_path / "broken.py").write_text("def build(n, d):\n    return (\n")
    with pytest.raises(ValueError, match=r"builder 'broken\.py:build': running broken\.py raised SyntaxError"):
        from_builder("broken.py:build", 2, 1)


# --------------------------------------------------------------------------------------------
# hashes


def test_source_hash_tracks_file_edits(builder_module, tmp_path):
    qasm = _write(tmp_path / "c_2.qasm", 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nh q[0];\n')
    h1 = source_hash("c_{n}.qasm", 2, 1)
    assert len(h1) == 12 and int(h1, 16) >= 0
    assert source_hash(str(qasm), 2, 5) == h1  # stable, and the same bytes give the same hash
    qasm.write_text(qasm.read_text() + "x q[1];\n")
    assert source_hash("c_{n}.qasm", 2, 1) != h1
    for spec in (f"{builder_module}:build", f"{builder_module}.py:build"):
        assert source_hash(spec, 3, 2) == source_hash(spec, 4, 1)
    before = source_hash(f"{builder_module}:build", 3, 2)
    assert source_hash(f"{builder_module}.py:build", 3, 2) == before  # the same file either way
    old = load(f"{builder_module}:build", 3, 2)
    (tmp_path / f"{builder_module}.py").write_text(BUILDER.replace('"w"', '"v"'))
    after = source_hash(f"{builder_module}:build", 3, 2)
    assert after != before
    assert source_hash(f"{builder_module}.py:build", 3, 2) == after
    new = load(f"{builder_module}:build", 3, 2)  # an edited module is re-run (a same-size edit, too)
    assert old.param_names[0] == "w[0]" and new.param_names[0] == "v[0]"
    assert load(f"{builder_module}.py:build", 3, 2).param_names[0] == "v[0]"
    with pytest.raises(ValueError, match=r"c_3\.qasm.*not found"):
        source_hash("c_{n}.qasm", 3, 1)
    with pytest.raises(ValueError, match=r"module 'no_such_module_xyz' not found"):
        source_hash("no_such_module_xyz:f", 3, 1)


def test_source_hash_does_not_import_qiskit_or_run_the_module(tmp_path):
    (tmp_path / "loud_mod.py").write_text("raise SystemExit('executed')\n")
    code = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n"
        "from qnnscope.circuits.importers import source_hash\n"
        "h = source_hash('loud_mod:build', 2, 1)\n"
        "assert 'qiskit' not in sys.modules and 'loud_mod' not in sys.modules\n"
        "print(h)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert len(out.stdout.strip()) == 12


def test_structure_hash():
    a = ansatze.mcclean(4, 3)
    assert len(structure_hash(a)) == 16
    renamed = Circuit(a.n_qubits, a.ops, a.n_params, a.n_choices, name="other", ties=a.ties,
                      param_layer=(), param_names=tuple(f"p{k}" for k in range(a.n_params)))
    assert structure_hash(renamed) == structure_hash(a)
    ops = list(a.ops)
    ops[0] = Op("RY", (0,), angle=math.pi / 4 + 1e-12)
    assert structure_hash(Circuit(4, tuple(ops), a.n_params, a.n_choices)) != structure_hash(a)
    assert structure_hash(ansatze.mcclean(4, 2)) != structure_hash(a)
    assert structure_hash(ansatze.hea(3, 2, identity_block=1)) != structure_hash(ansatze.hea(3, 2))
    # −0.0 and numpy floats hash as 0.0 and plain floats
    x = Circuit(1, (Op("RX", (0,), param=0, offset=-0.0, scale=np.float64(1.0)),), 1)
    assert structure_hash(x) == structure_hash(Circuit(1, (Op("RX", (0,), param=0),), 1))


def test_hea_qasm_family_has_the_builtin_structure(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    n, depth = 3, 2
    lines = ["OPENQASM 3.0;", 'include "stdgates.inc";']
    lines += [f"input float[64] t{k};" for k in range(2 * n * depth)]
    lines.append(f"qubit[{n}] q;")
    k = 0
    for _ in range(depth):
        for j in range(n):
            lines += [f"ry(t{k}) q[{j}];", f"rz(t{k + 1}) q[{j}];"]
            k += 2
        lines += [f"cx q[{j}], q[{j + 1}];" for j in range(n - 1)]
    (tmp_path / f"hea_{n}_{depth}.qasm").write_text("\n".join(lines) + "\n")
    imported = load("hea_{n}_{depth}.qasm", n, depth)
    builtin = ansatze.hea(n, depth)
    assert imported.ops == builtin.ops and imported.name == "hea_3_2"
    assert imported.param_names == tuple(f"t{k}" for k in range(12))
    assert structure_hash(imported) == structure_hash(builtin)


def test_importing_the_module_stays_light():
    code = "import sys, qnnscope.circuits.importers; assert 'qiskit' not in sys.modules, 'qiskit imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
