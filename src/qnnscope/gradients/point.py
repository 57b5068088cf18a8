"""What a gradient sweep point is, and the columns that identify it in shards and tables.

A point has the fields every model shares (circuit size, cost, initialisation, backend,
precision, noise, shots) and a model's own options in ``options`` (a DQNN's layer widths,
training data and pairs), so a new model adds an entry to :data:`MODEL_OPTIONS`, not fields.
Light on purpose: figure and table jobs import this module, never a simulator.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

MODEL_OPTIONS: dict[str, dict[str, Any]] = {
    "vqc": {"circuit": "", "graph": "", "source": ""},
    "dqnn": {"widths": "", "data": "", "pairs": 0},
}
"""Model → its options and their defaults (the defaults are also the column values of other
models' rows): a VQC's ``circuit`` (a user circuit: a builder ``module:function`` or
``file.py:function``, or an OpenQASM 3 file or pattern; '' for a built-in ansatz), ``graph``
(ansatz ``qaoa``'s MaxCut graph: an edge-list file or a pattern with ``{n}``; '' otherwise) and
``source`` (the content hash of the file that circuit or graph was read from at this size, so
results of two versions of a file never mix); a DQNN's ``widths`` (qubits per layer,
``4-4-4``), ``data`` (training pairs, :data:`qnnscope.models.training.TASKS`) and ``pairs`` (how
many the cost averages over)."""
OPTION_DEFAULTS = {name: value for options in MODEL_OPTIONS.values() for name, value in options.items()}
"""Every model option and its default (one default per option name across models)."""
OPTION_COLUMNS = tuple(OPTION_DEFAULTS)
"""Every model option, as table columns."""
POINT_COLUMNS = (
    "model", "ansatz", "n_qubits", "depth", "cost_function", "init", "sigma", "identity_block", "backend", "dtype",
    "method", *OPTION_COLUMNS, "noise", "shots",
)
"""Columns that identify a sweep point in shards and tables (model options take their defaults
on other models' rows: ``widths``, ``data`` and ``pairs`` are '', '' and 0 for VQCs; ``noise``
is a noise spec, ``none`` for exact simulation, and ``shots`` the shots per circuit, 0 for
exact expectation values)."""
SIZE_COLUMNS = ("n_qubits", "depth", "widths", "source")
"""Point columns that change along a sweep's size axes (a DQNN's widths follow from n and the
depth, a user circuit's source file may be one per size); scaling fits and figure lines group by
the other columns."""
GROUP_COLUMNS = ("sweep", "depth_rule") + POINT_COLUMNS
"""Grouping keys of tables: the workflow's shards also carry their sweep's name and the depth as
the config wrote it (``20n`` or ``5``), so fits follow a depth rule across qubit counts."""


@dataclass(frozen=True)
class GradientPoint:
    """One sweep point of a gradient study (see ``config/README.md`` for each field).

    ``model='vqc'``: ``ansatz`` names a circuit (a built-in ansatz or family, ``qaoa`` on the
    graph in option ``graph``, or the name of the user circuit in option ``circuit``) and
    ``depth`` its layers.  ``model='dqnn'``: a dissipative QNN (:mod:`qnnscope.models.dqnn`) whose ``ansatz`` names the perceptrons
    (``general``, ``deepD``, ``localM``) and ``depth`` the number of layers; ``n_qubits`` is the
    sweep's qubit count and ``options`` (a mapping, stored as sorted pairs) the model's own
    settings of :data:`MODEL_OPTIONS`."""

    ansatz: str
    n_qubits: int
    depth: int
    cost: str = "global"
    init: str = "uniform"
    sigma: float | None = None
    identity_block: int = 0
    backend: str = "torch"
    dtype: str = "complex64"
    method: str = "auto"
    device: str = "cpu"
    params: str = "first"
    model: str = "vqc"
    noise: str = "none"
    shots: int = 0
    options: Any = field(default=())

    def __post_init__(self) -> None:
        items = dict(self.options)
        allowed = MODEL_OPTIONS.get(self.model)
        if allowed is not None:
            unknown = sorted(set(items) - set(allowed))
            if unknown:
                raise ValueError(f"{unknown[0]}: not an option of model {self.model!r}; allowed: "
                                 f"{', '.join(allowed) or 'none'}")
        object.__setattr__(self, "options", tuple(sorted(items.items())))

    def option(self, name: str) -> Any:
        """The model option ``name`` (its default when the point does not set it)."""
        return dict(self.options).get(name, OPTION_DEFAULTS[name])

    def columns(self) -> dict:
        """The sweep-point columns of this point's rows."""
        fields = asdict(self)
        out = {"model": self.model, "cost_function": self.cost}
        for name in POINT_COLUMNS[1:]:
            if name in OPTION_COLUMNS:
                out[name] = self.option(name)
            elif name != "cost_function":
                out[name] = fields[name]
        return out

    @property
    def label(self) -> str:
        """The point's architecture in one path component: the ansatz; for a user circuit also the
        hash of its file (``brick@1a2b3c4d5e6f``), for QAOA on a graph the graph's name and file hash
        (``qaoa_3regular@1a2b3c4d5e6f``); for a DQNN also its widths, data and pairs
        (``local1_w4-4_zero1``)."""
        if self.model == "vqc" and self.option("graph"):
            from qnnscope.circuits.families import graph_name

            return f"{self.ansatz}_{graph_name(self.option('graph'))}@{self.option('source')}"
        if self.model == "vqc":
            return f"{self.ansatz}@{self.option('source')}" if self.option("circuit") else self.ansatz
        return f"{self.ansatz}_w{self.option('widths')}_{self.option('data')}{self.option('pairs')}"

    @property
    def cost_label(self) -> str:
        """The cost in one path component: its spec, or for a Hamiltonian file its stem and the
        hash of its content (``tfim4@1a2b3c4d``), so an edited file gets new points."""
        return cost_label(self.cost)

    def seed_key(self) -> dict:
        """What the random draw depends on: the circuit and the distribution, not the cost or the
        backend, so different costs and backends of one study see the same parameter draws.  A
        user circuit, and QAOA on a graph, is known by its structure: one equal to a built-in
        ansatz's draws what that ansatz draws (bit for bit), any other by its structure's hash
        (which holds the graph's edges and weights)."""
        sigma = None if self.sigma is None else float(self.sigma)
        if self.model == "dqnn":
            return {"model": "dqnn", "ansatz": self.ansatz, "widths": self.option("widths"), "init": self.init,
                    "sigma": sigma}
        ansatz, n, depth = self.ansatz, int(self.n_qubits), int(self.depth)
        if self.option("circuit") or self.option("graph"):
            from qnnscope.circuits.ansatze import same_as_builtin
            from qnnscope.circuits.families import graph_edges, qaoa
            from qnnscope.circuits.importers import load

            circuit = (load(self.option("circuit"), n, depth) if self.option("circuit")
                       else qaoa(n, depth, graph_edges(self.option("graph"), n)))
            ansatz = same_as_builtin(circuit, depth)
        return {"model": "vqc", "ansatz": ansatz, "n_qubits": n, "depth": depth, "init": self.init, "sigma": sigma,
                "identity_block": int(self.identity_block)}


def cost_label(cost: str) -> str:
    """See :attr:`GradientPoint.cost_label`."""
    import hashlib
    from pathlib import Path

    text = cost.strip()
    path = text[len("file:"):].strip() if text.lower().startswith("file:") else text
    if not (text.lower().startswith("file:") or text.lower().endswith((".txt", ".ham"))):
        return text
    try:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:8]
    except OSError:
        digest = "missing"  # validation names the missing file
    return f"{Path(path).stem}@{digest}"


def resolve_params(spec: str, n_params: int, key: str = "params") -> list[int]:
    """``first`` / ``last`` / ``all`` / comma-separated slot indices → list of slots of a model
    with ``n_params`` parameters."""
    last = n_params - 1
    if spec == "first":
        return [0]
    if spec == "last":
        return [last]
    if spec == "all":
        return list(range(n_params))
    try:
        slots = [int(x) for x in str(spec).split(",") if x.strip()]
    except ValueError:
        slots = []
    if not slots or any(not 0 <= s <= last for s in slots):
        raise ValueError(
            f"{key}: {spec!r} is not allowed; use 'first', 'last', 'all' or comma-separated indices in 0..{last}"
        )
    return slots


class Evaluation(NamedTuple):
    """What a model's evaluator returns for one chunk: costs (S,), gradients (S, len(params)) of
    the slots ``params``, each slot's layer and wire, the chunk's seed, the wall time and each
    slot's name (the user circuit's parameter names; ``theta[k]`` where it has none)."""

    costs: Any
    grads: Any
    params: list[int]
    layers: list[int]
    wires: list[int]
    seed: int
    wall_time_s: float
    names: Any = None
