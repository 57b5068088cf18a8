"""McClean et al. 2018's ansatz written by a user with qnnscope's own gates (a builder may return
a qnnscope ``Circuit``): RY(π/4) on every qubit, then per layer a random-Pauli rotation R_P(θ)
on every qubit (the axis P is drawn per sample: gate ``RP`` with a choice slot) and a CZ ladder.
It reproduces the built-in ``mcclean`` ansatz's results bit for bit (same structure, same draws).
"""

import math

from qnnscope.circuits import Circuit, Op


def build(n_qubits: int, depth: int) -> Circuit:
    ops = [Op("RY", (q,), angle=math.pi / 4) for q in range(n_qubits)]
    slot = 0
    for _ in range(depth):
        for q in range(n_qubits):
            ops.append(Op("RP", (q,), param=slot, choice=slot))
            slot += 1
        ops += [Op("CZ", (q, q + 1)) for q in range(n_qubits - 1)]
    return Circuit(n_qubits, tuple(ops), n_params=slot, n_choices=slot, name="mcclean_user")
