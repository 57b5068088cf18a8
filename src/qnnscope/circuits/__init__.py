"""Backend-neutral circuits and the ansatz builders."""

from qnnscope.circuits.ansatze import ANSATZE, build
from qnnscope.circuits.description import PAULI_AXES, Circuit, Op, assemble

__all__ = ["ANSATZE", "PAULI_AXES", "Circuit", "Op", "assemble", "build"]
