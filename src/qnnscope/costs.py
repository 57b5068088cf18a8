"""Cost functions and observables, as backend-neutral descriptions.

An :class:`Observable` is ``constant + Σ_k coeff_k · P_k`` over Pauli strings ``P_k`` plus,
optionally, a multiple of the projector onto |0…0⟩ (the global cost needs it; written as a
Pauli sum it would have 2^n terms).  Named costs:

* ``global``: C_G = 1 − p(0…0) (Cerezo et al. 2021);
* ``local``:  C_L = 1 − (1/n) Σ_j p_j(0) = 1/2 − (1/2n) Σ_j Z_j;
* a Pauli string such as ``Z0Z1`` or ``X0Y2`` (wire index after each letter); ``zz`` is ``Z0Z1``;
* a weighted sum such as ``0.5*Z0Z1 + 0.25*X0 - 1.0*Y1Y2``;
* ``tfim`` — the transverse-field Ising chain with open ends,
  H = −Σ_{i=0}^{n−2} Z_i Z_{i+1} − g Σ_{i=0}^{n−1} X_i, g = 1 unless given as ``tfim:g=0.5``
  (n = 4, g = 1: ground energy −4.758770483143634);
* ``xxz`` — the XXZ chain with open ends, H = Σ_{i=0}^{n−2} X_iX_{i+1} + Y_iY_{i+1} + Δ Z_iZ_{i+1},
  Δ = 1 unless given as ``xxz:delta=0.5``; ``heisenberg`` is ``xxz`` with Δ = 1
  (n = 4: ground energy −3 − 2√3); both need n ≥ 2;
* ``file:PATH``, or any PATH ending in ``.txt`` or ``.ham``: a Pauli sum read from a file (see
  :func:`read_hamiltonian`), e.g. ``config/hamiltonians/tfim4.txt``;
* ``maxcut`` — the MaxCut cost of the point's graph (QAOA's ``graph``, Farhi et al. 2014) as the
  share of edge weight left uncut, 1 − ⟨C⟩/W with C = Σ_(ij) w_ij (1 − Z_iZ_j)/2 and
  W = Σ_(ij) |w_ij| (see :func:`maxcut`): in [0, 1] for non-negative weights, 0 where every edge is
  cut.

Hamiltonian file format — one term per line, ``COEFF PAULIS`` (or ``COEFF*PAULIS``), where
PAULIS is the compact form ``Z0Z1``, ``X2`` (letter X/Y/Z, then the wire) or a dense word such
as ``ZZII`` with one letter I/X/Y/Z per qubit (wire 0 first, exactly n letters).  A line holding
only a number is a constant; ``#`` starts a comment; blank lines are skipped.  Coefficients must be
finite real numbers and wires must be below the circuit's qubit count.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

_NUMBER = r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_TERM = re.compile(rf"\s*([+-])?\s*(?:({_NUMBER})\s*\*\s*)?((?:[XYZ]\d+)+)\s*")
_LETTER = re.compile(r"([XYZ])(\d+)")


@dataclass(frozen=True)
class Observable:
    """constant + Σ coeff·(Pauli string) + projector_coeff·|0…0⟩⟨0…0| on ``n_qubits`` wires.

    A Pauli string is a tuple of (wire, letter) pairs with distinct wires, sorted by wire.
    """

    n_qubits: int
    terms: tuple[tuple[float, tuple[tuple[int, str], ...]], ...] = ()
    constant: float = 0.0
    projector_coeff: float = 0.0
    name: str = "observable"

    @property
    def is_diagonal(self) -> bool:
        """True when every term is a product of Z's (diagonal in the computational basis)."""
        return all(letter == "Z" for _, string in self.terms for _, letter in string)


def _parse_string(text: str, n_qubits: int, where: str) -> tuple[tuple[int, str], ...]:
    """A compact Pauli string (``Z0Z1``) as sorted (wire, letter) pairs; ``where`` starts errors."""
    pairs = [(int(w), letter) for letter, w in _LETTER.findall(text)]
    wires = [w for w, _ in pairs]
    if len(set(wires)) != len(wires):
        raise ValueError(f"{where}: Pauli string {text!r} repeats a wire")
    for w in wires:
        if w >= n_qubits:
            raise ValueError(
                f"{where}: {text!r} acts on wire {w} but the circuit has {n_qubits} qubits "
                f"(wires 0..{n_qubits - 1})"
            )
    return tuple(sorted(pairs))


def make_cost(spec: str, n_qubits: int, key: str = "cost", graph=None) -> Observable:
    """Parse a cost name (see module docstring) into an :class:`Observable` on ``n_qubits``;
    ``graph`` (edges (i, j, w)) is the point's graph, which ``maxcut`` needs.

    Errors name ``key`` (the option or config key), the bad value and what is allowed.
    """
    text = spec.strip()
    low = text.lower()
    if low == "maxcut":
        if graph is None:
            raise ValueError(f"{key}: 'maxcut' is the MaxCut cost of the point's graph, and this point has none; "
                             "give a graph (config key 'graph' or --graph, with ansatz qaoa) or another cost")
        return maxcut(graph, n_qubits, key)
    if low.startswith("file:"):
        return read_hamiltonian(text[len("file:"):].strip(), n_qubits, key)
    if low.endswith(HAMILTONIAN_SUFFIXES):
        return read_hamiltonian(text, n_qubits, key)
    if low.partition(":")[0].strip() in CHAIN_MODELS:
        return chain_model(text, n_qubits, key)
    if low == "global":
        return Observable(n_qubits, constant=1.0, projector_coeff=-1.0, name="global")
    if low == "local":
        terms = tuple((-0.5 / n_qubits, ((j, "Z"),)) for j in range(n_qubits))
        return Observable(n_qubits, terms, constant=0.5, name="local")
    if low == "zz":
        text = "Z0Z1"
    terms = []
    pos = 0
    while pos < len(text) or not terms:
        m = _TERM.match(text, pos)
        if not m or m.end() == pos or (terms and not m.group(1)):
            raise ValueError(
                f"{key}: cannot read {spec!r}; allowed: 'global', 'local', 'zz', a Pauli string "
                "such as 'Z0Z1', a weighted sum such as '0.5*Z0Z1 - 0.25*X2', 'maxcut' (with a graph), 'tfim', "
                "'tfim:g=0.5', 'heisenberg', 'xxz:delta=0.5', or a Hamiltonian file 'file:PATH' (or PATH ending "
                ".txt/.ham)"
            )
        coeff = float(m.group(2)) if m.group(2) else 1.0
        terms.append((-coeff if m.group(1) == "-" else coeff, _parse_string(m.group(3), n_qubits, f"{key}: in {spec!r}")))
        pos = m.end()
    return Observable(n_qubits, tuple(terms), name=spec.strip())


# --- model Hamiltonians ----------------------------------------------------------------------

CHAIN_MODELS = {"tfim": {"g": 1.0}, "xxz": {"delta": 1.0}, "heisenberg": {}}
"""Built-in open-chain Hamiltonians and the options each takes (with defaults)."""


def _chain_options(text: str, n_qubits: int, key: str) -> tuple[str, dict[str, float]]:
    """The model name and its options (defaults filled in) of ``model[:name=value,…]``."""
    model, colon, rest = text.partition(":")
    model = model.strip().lower()
    options = dict(CHAIN_MODELS[model])
    allowed = ", ".join(f"{name}=<number>" for name in options) or "none"
    hint = " (use 'xxz:delta=…' for an anisotropic chain)" if model == "heisenberg" else ""
    items = [part.strip() for part in rest.split(",")] if colon else []
    for item in items:
        name, eq, value = (x.strip() for x in item.partition("="))
        if name.lower() not in options or not eq:
            raise ValueError(
                f"{key}: {text!r}: cannot read option {item!r} of {model!r}; allowed options: {allowed}{hint}"
            )
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise ValueError(f"{key}: {text!r}: option {name} must be a finite number, got {value!r}")
        options[name.lower()] = number
    if n_qubits < 2:
        raise ValueError(f"{key}: {text!r} is a chain and needs at least 2 qubits, got {n_qubits}")
    return model, options


def chain_model(spec: str, n_qubits: int, key: str = "cost") -> Observable:
    """The built-in open-chain Hamiltonian ``spec`` (``tfim``, ``tfim:g=…``, ``xxz``,
    ``xxz:delta=…``, ``heisenberg``; see the module docstring) on ``n_qubits`` wires."""
    text = spec.strip()
    model, options = _chain_options(text, n_qubits, key)
    bonds = [(i, i + 1) for i in range(n_qubits - 1)]
    terms: list[tuple[float, tuple[tuple[int, str], ...]]] = []
    if model == "tfim":
        terms += [(-1.0, ((i, "Z"), (j, "Z"))) for i, j in bonds]
        terms += [(-options["g"], ((i, "X"),)) for i in range(n_qubits)]
    else:
        delta = options.get("delta", 1.0)
        for i, j in bonds:
            terms += [(1.0, ((i, "X"), (j, "X"))), (1.0, ((i, "Y"), (j, "Y"))), (delta, ((i, "Z"), (j, "Z")))]
    return Observable(n_qubits, tuple(terms), name=text.lower().replace(" ", ""))


def maxcut(edges, n_qubits: int, key: str = "cost") -> Observable:
    """The MaxCut cost of a weighted graph ``edges`` ((i, j) or (i, j, w)) for QAOA (Farhi,
    Goldstone, Gutmann, arXiv:1411.4028): the share of edge weight left uncut,

        C_MC = 1 − ⟨C⟩/W,  C = Σ_(ij) w_ij (1 − Z_iZ_j)/2,  W = Σ_(ij) |w_ij|,

    i.e. the Pauli sum (1 − Σ w_ij/(2W)) + Σ (w_ij/(2W)) Z_iZ_j.  Minimising it maximises the
    expected cut; normalised by W so that, like ``global`` and ``local``, it lies in [0, 1] for
    non-negative weights (0 only where every edge of non-zero weight is cut) and variances compare
    across sizes."""
    checked = [(int(e[0]), int(e[1]), float(e[2]) if len(e) == 3 else 1.0) for e in edges]
    total = sum(abs(w) for _, _, w in checked)
    if not total > 0:
        raise ValueError(f"{key}: 'maxcut' needs a graph with an edge of non-zero weight, got {edges!r}")
    for i, j, _ in checked:
        if not (0 <= i < n_qubits and 0 <= j < n_qubits) or i == j:
            raise ValueError(f"{key}: 'maxcut': edge ({i}, {j}) is not two distinct wires in 0..{n_qubits - 1} "
                             f"({n_qubits} qubits)")
    terms = tuple((w / (2 * total), tuple(sorted(((i, "Z"), (j, "Z"))))) for i, j, w in checked)
    constant = 1.0 - sum(w for _, _, w in checked) / (2 * total)
    return Observable(n_qubits, terms, constant=constant, name="maxcut")


# --- Hamiltonian files ----------------------------------------------------------------------

HAMILTONIAN_SUFFIXES = (".txt", ".ham")
"""A cost spec ending in one of these is read as a Hamiltonian file."""
_COMPACT = re.compile(r"(?:[XYZ]\d+)+")
_DENSE = re.compile(r"[IXYZ]+")


def _file_term(
    word: str, n_qubits: int, where: str
) -> tuple[tuple[int, str], ...]:
    """One line's Pauli string (empty for an all-I dense word)."""
    upper = word.upper()
    if _COMPACT.fullmatch(upper):
        return _parse_string(upper, n_qubits, where)
    if _DENSE.fullmatch(upper):
        if len(upper) != n_qubits:
            raise ValueError(
                f"{where}: dense Pauli word {word!r} has {len(upper)} letters but the circuit has "
                f"{n_qubits} qubits (one letter I/X/Y/Z per qubit)"
            )
        return tuple((w, letter) for w, letter in enumerate(upper) if letter != "I")
    raise ValueError(
        f"{where}: cannot read Pauli string {word!r}; allowed: compact 'Z0Z1' / 'X2' or a dense "
        f"word of {n_qubits} letters I/X/Y/Z such as {'Z' * min(n_qubits, 2) + 'I' * (n_qubits - 2)!r}"
    )


def read_hamiltonian(path: str | Path, n_qubits: int, key: str = "cost") -> Observable:
    """A weighted Pauli sum from a Hamiltonian file (format in the module docstring) on
    ``n_qubits`` wires, named after the file's stem.  Errors name ``key``, the file, the line
    number, the bad text and what is allowed."""
    if not str(path).strip():
        raise ValueError(f"{key}: empty Hamiltonian file name; allowed: 'file:PATH' or PATH ending .txt/.ham")
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ValueError(f"{key}: Hamiltonian file {str(path)!r} cannot be read: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{key}: Hamiltonian file {str(path)!r} is not a text file") from None
    terms: list[tuple[float, tuple[tuple[int, str], ...]]] = []
    constant = 0.0
    seen_any = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{key}: {path}, line {number}"
        fields = line.replace("*", " ").split()
        if len(fields) > 2:
            raise ValueError(
                f"{where}: cannot read {line!r}; allowed: 'COEFF PAULIS' (e.g. '-1.0 Z0Z1' or '0.5 XXII') "
                "or a lone number (a constant)"
            )
        try:
            coeff = float(fields[0])
        except ValueError:
            raise ValueError(
                f"{where}: coefficient {fields[0]!r} in {line!r} is not a number; allowed: "
                "'COEFF PAULIS' (e.g. '-1.0 Z0Z1') or a lone number (a constant)"
            ) from None
        if not math.isfinite(coeff):
            raise ValueError(f"{where}: coefficient {fields[0]!r} in {line!r} must be a finite number")
        seen_any = True
        string = _file_term(fields[1], n_qubits, f"{where} ({line!r})") if len(fields) == 2 else ()
        if string:
            terms.append((coeff, string))
        else:
            constant += coeff
    if not seen_any:
        raise ValueError(f"{key}: Hamiltonian file {str(path)!r} has no terms (only comments or blank lines)")
    return Observable(n_qubits, tuple(terms), constant=constant, name=path.stem)
