"""QAOA on the researcher's own graph (config key `graph`, `--graph`): a graph file gives the
circuit of `families.qaoa` on its edges; the `maxcut` cost matches Wang et al.'s p = 1 closed form
and PennyLane's `qml.qaoa` to 1e-10; every bad graph is refused before any job, naming the key,
the file, the line and the value; editing the file gives new points; the workflow plans them."""

from __future__ import annotations

import itertools
import math
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from qnnscope.backends import get_backend
from qnnscope.circuits.families import graph_hash, qaoa, read_edges
from qnnscope.circuits.importers import structure_hash
from qnnscope.cli import main
from qnnscope.config import check_graphs
from qnnscope.gradients.evaluate import compute, validate
from qnnscope.gradients.point import GradientPoint

ROOT = Path(__file__).resolve().parents[1]
WEIGHTED = "# a weighted graph on 5 nodes\n0 1 0.5\n1, 2\n2 3 -1.25   # negative weight\n3 0 2\n0 2 0.75\n1 4\n"
WEIGHTED_EDGES = [(0, 1, 0.5), (1, 2, 1.0), (2, 3, -1.25), (3, 0, 2.0), (0, 2, 0.75), (1, 4, 1.0)]
TRIANGLES = "0 1\n1 2\n0 2\n2 3\n1 3\n3 4\n"
"""Two triangles (0 1 2, 1 2 3) sharing edge (1, 2), degrees 2 to 4, and a pendant edge (3, 4)."""


def graph_file(folder: Path, text: str, name: str = "g.txt") -> str:
    (folder / name).write_text(text)
    return str(folder / name)


def graph_point(pattern: str, n: int, depth: int, **fields) -> GradientPoint:
    return GradientPoint("qaoa", n, depth, options={"graph": pattern, "source": graph_hash(pattern, n)}, **fields)


def costs(point: GradientPoint, theta: np.ndarray, backend: str = "torch") -> np.ndarray:
    circuit, observable, _ = validate(point, 2)
    return get_backend(backend).evaluate(circuit, observable, theta, np.zeros((len(theta), 0), dtype=np.int64), [0],
                                         "complex128")[0]


# --- the circuit ------------------------------------------------------------------------------


def test_a_graph_file_gives_the_circuit_of_families_qaoa(tmp_path):
    path = graph_file(tmp_path, WEIGHTED)
    circuit, observable, params = validate(graph_point(path, 5, 2, cost="maxcut", params="all"), 4)
    expected = qaoa(5, 2, WEIGHTED_EDGES)
    assert circuit.ops == expected.ops and circuit.n_params == expected.n_params == 4 and params == [0, 1, 2, 3]
    assert structure_hash(circuit) == structure_hash(expected)
    with_blocks, _, _ = validate(graph_point(path, 6, 2, init="identity_block", identity_block=1), 4)
    assert with_blocks.ops == qaoa(6, 2, WEIGHTED_EDGES, identity_block=1).ops  # a sixth, isolated wire is allowed


def test_a_pattern_reads_one_graph_per_qubit_count(tmp_path):
    graph_file(tmp_path, TRIANGLES, "g_5.txt")
    graph_file(tmp_path, "0 1\n1 2\n2 3\n3 0\n", "g_4.txt")
    pattern = str(tmp_path / "g_{n}.txt")
    for n in (4, 5):
        circuit, _, _ = validate(graph_point(pattern, n, 3), 4)
        assert circuit.ops == qaoa(n, 3, read_edges(tmp_path / f"g_{n}.txt")).ops
        assert graph_point(pattern, n, 3).label == f"qaoa_g@{graph_hash(pattern, n)}"
    assert graph_hash(pattern, 4) != graph_hash(pattern, 5)


# --- the MaxCut cost --------------------------------------------------------------------------


def wang_p1(edges: list[tuple[int, int]], gamma: float, beta: float) -> float:
    """Σ_uv ⟨C_uv⟩ of p = 1 QAOA for unweighted MaxCut, Wang, Hadfield, Jiang and Rieffel, PRA 97,
    022304 (2018), Theorem 1, for |γ, β⟩ = e^{−iβB} e^{−iγC} |+⟩^n, C_uv = (1 − Z_uZ_v)/2:
    ⟨C_uv⟩ = 1/2 + (1/4) sin 4β sin γ (cos^{d_u} γ + cos^{d_v} γ)
             − (1/4) sin² 2β cos^{d_u + d_v − 2λ_uv} γ (1 − cos^{λ_uv} 2γ),
    d = degree − 1, λ_uv = the triangles on the edge."""
    neighbours: dict[int, set[int]] = {}
    for u, v in edges:
        neighbours.setdefault(u, set()).add(v)
        neighbours.setdefault(v, set()).add(u)
    total = 0.0
    for u, v in edges:
        du, dv, lam = len(neighbours[u]) - 1, len(neighbours[v]) - 1, len(neighbours[u] & neighbours[v])
        total += (0.5 + 0.25 * math.sin(4 * beta) * math.sin(gamma) * (math.cos(gamma) ** du + math.cos(gamma) ** dv)
                  - 0.25 * math.sin(2 * beta) ** 2 * math.cos(gamma) ** (du + dv - 2 * lam)
                  * (1 - math.cos(2 * gamma) ** lam))
    return total


@pytest.mark.parametrize("text, n", [(TRIANGLES, 5), ((ROOT / "config/graphs/3regular_6.txt").read_text(), 6)],
                         ids=["two-triangles", "prism"])
def test_maxcut_at_p1_is_wang_et_als_closed_form(tmp_path, text, n):
    """Slots (γ_1, β_1) = (−γ, 2β) in Farhi et al.'s angles (families.qaoa); maxcut = 1 − ⟨C⟩/|E|."""
    path = graph_file(tmp_path, text)
    edges = [(i, j) for i, j, _ in read_edges(path)]
    gamma, beta = np.random.default_rng(4).uniform(-np.pi, np.pi, (2, 6))
    ours = costs(graph_point(path, n, 1, cost="maxcut"), np.stack([-gamma, 2 * beta], axis=1))
    exact = [1 - wang_p1(edges, g, b) / len(edges) for g, b in zip(gamma, beta)]
    np.testing.assert_allclose(ours, exact, rtol=0, atol=1e-10)
    assert np.ptp(exact) > 0.2  # the angles probe the landscape, not a flat corner of it


def pennylane_cut(edges, n: int, gammas, alphas) -> float:
    """⟨C⟩ = Σ w (1 − ⟨Z_iZ_j⟩)/2 after qml.qaoa's layers e^{−iα Σ X} e^{−iγ H}, H = Σ w Z_iZ_j / 2
    (qml.qaoa.maxcut's cost Hamiltonian for unit weights, up to its constant)."""
    import pennylane as qml

    zz = [qml.PauliZ(i) @ qml.PauliZ(j) for i, j, _ in edges]
    cost_h = qml.Hamiltonian([w / 2 for _, _, w in edges], zz)
    mixer_h = qml.qaoa.x_mixer(range(n))

    @qml.qnode(qml.device("default.qubit", wires=n))
    def circuit():
        for wire in range(n):
            qml.Hadamard(wire)
        for gamma, alpha in zip(gammas, alphas):
            qml.qaoa.cost_layer(gamma, cost_h)
            qml.qaoa.mixer_layer(alpha, mixer_h)
        return [qml.expval(term) for term in zz]

    return sum(w * (1 - float(z)) / 2 for (_, _, w), z in zip(edges, circuit()))


def test_maxcut_matches_pennylane_qaoa_on_weighted_graphs(tmp_path):
    """p = 2: slots γ_l = γ (RZZ(w γ) = e^{−iγ w ZZ/2}) and β_l = 2α (RX(2α) = e^{−iα X}); the
    unweighted graph also against qml.qaoa.maxcut's own Hamiltonian, −⟨C⟩."""
    import networkx as nx
    import pennylane as qml

    theta = np.random.default_rng(8).uniform(-np.pi, np.pi, (3, 4))
    for text, n in ((WEIGHTED, 5), (TRIANGLES, 5)):
        path = graph_file(tmp_path, text)
        edges = read_edges(path)
        total = sum(abs(w) for _, _, w in edges)
        ours = costs(graph_point(path, n, 2, cost="maxcut"), theta)
        reference = [1 - pennylane_cut(edges, n, t[0::2], t[1::2] / 2) / total for t in theta]
        np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-10)
    cost_h, mixer_h = qml.qaoa.maxcut(nx.Graph([(i, j) for i, j, _ in edges]))

    @qml.qnode(qml.device("default.qubit", wires=range(n)))
    def maxcut_h(t):
        for wire in range(n):
            qml.Hadamard(wire)
        for gamma, alpha in zip(t[0::2], t[1::2] / 2):
            qml.qaoa.cost_layer(gamma, cost_h)
            qml.qaoa.mixer_layer(alpha, mixer_h)
        return qml.expval(cost_h)

    np.testing.assert_allclose(ours, [1 + float(maxcut_h(t)) / len(edges) for t in theta], rtol=0, atol=1e-10)


def test_the_shipped_graphs_are_3_regular_and_maxcut_is_the_uncut_share(monkeypatch):
    """On every basis state |z⟩, maxcut = 1 − cut(z)/|E| (cut counted by brute force); its minimum
    is 1 − (maximum cut)/|E|: 7 of 9 edges on the prism, 10 of 12 on the Wagner graph."""
    monkeypatch.chdir(ROOT)
    for n, best in ((6, 7), (8, 10)):
        pattern = "config/graphs/3regular_{n}.txt"
        edges = read_edges(pattern.format(n=n))
        degrees = np.bincount([w for i, j, _ in edges for w in (i, j)], minlength=n)
        assert degrees.tolist() == [3] * n
        _, observable, _ = validate(graph_point(pattern, n, 1, cost="maxcut"), 2)
        states = np.array(list(itertools.product((0, 1), repeat=n)))
        signs = 1 - 2 * states
        diagonal = observable.constant + sum(c * np.prod([signs[:, w] for w, _ in word], axis=0)
                                             for c, word in observable.terms)
        cut = sum(states[:, i] != states[:, j] for i, j, _ in edges)
        np.testing.assert_allclose(diagonal, 1 - cut / len(edges), rtol=0, atol=1e-14)
        assert cut.max() == best and diagonal.min() == pytest.approx(1 - best / len(edges), abs=1e-14)


def test_the_readme_example_is_a_valid_config(monkeypatch):
    from snakemake.utils import validate as validate_schema

    monkeypatch.chdir(ROOT)
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "config/README.md").read_text(), flags=re.DOTALL)
    example = yaml.safe_load(next(b for b in blocks if "graph: config/graphs/3regular_{n}.txt" in b))
    validate_schema(example, str(ROOT / "workflow/schemas/config.schema.yaml"))
    check_graphs(example)
    assert [b["graph"] for b in example["gradients"] + example["landscapes"]] == ["config/graphs/3regular_{n}.txt"] * 2


# --- shards, seeds, versions ------------------------------------------------------------------


def test_a_graph_shard_repeats_exactly_and_agrees_with_pennylane(tmp_path):
    path = graph_file(tmp_path, WEIGHTED)
    point = graph_point(path, 5, 2, cost="maxcut", params="all", dtype="complex128")
    shard = compute(point, 6, chunk=1, base_seed=3)
    again = compute(point, 6, chunk=1, base_seed=3)
    assert shard["grad"].tolist() == again["grad"].tolist() and shard["cost"].tolist() == again["cost"].tolist()
    other = compute(replace(point, backend="pennylane"), 6, chunk=1, base_seed=3)
    np.testing.assert_allclose(other["grad"], shard["grad"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(other["cost"], shard["cost"], rtol=0, atol=1e-10)
    assert set(shard["graph"]) == {path} and set(shard["source"]) == {graph_hash(path, 5)}
    assert set(shard["ansatz"]) == {"qaoa"} and set(shard["circuit"]) == {""}
    assert set(shard["cost_function"]) == {"maxcut"}
    local = compute(replace(point, cost="local"), 6, chunk=1, base_seed=3)
    assert local["seed"].tolist() == shard["seed"].tolist()  # costs of one graph share their draws


def test_editing_the_graph_makes_new_points_and_refuses_the_stale_one(tmp_path):
    path = graph_file(tmp_path, WEIGHTED)
    before = graph_point(path, 5, 2)
    drawn = before.seed_key()
    Path(path).write_text(WEIGHTED + "# a comment\n")
    commented = graph_point(path, 5, 2)
    assert commented.label != before.label and commented.label.startswith("qaoa_g@")
    assert commented.seed_key() == drawn  # the same circuit draws the same angles
    with pytest.raises(ValueError, match=r"^gradients\[0\]\.graph: .*g\.txt' changed since this point was planned"):
        validate(before, 4, prefix="gradients[0].")
    Path(path).write_text(WEIGHTED.replace("0 1 0.5", "0 1 0.25"))
    reweighted = graph_point(path, 5, 2)
    assert reweighted.label not in (before.label, commented.label) and reweighted.seed_key() != drawn


# --- refusals ---------------------------------------------------------------------------------

OUT_OF_RANGE = "0 1\n1 2\n2 3\n3 5\n"


@pytest.mark.parametrize("block, text, fragments", [
    ({"ansatz": "hea"}, TRIANGLES,
     ["gradients[0].graph: '{path}' is a MaxCut graph for QAOA; it needs model 'vqc' and gradients[0].ansatz 'qaoa'",
      "got ansatz 'hea'"]),
    ({"graph": None}, TRIANGLES,
     ["gradients[0].ansatz: 'qaoa' runs on a graph: give gradients[0].graph", "'qaoa_ring'"]),
    ({"model": "dqnn"}, TRIANGLES, ["gradients[0].graph:", "got model 'dqnn'"]),
    ({"circuit": "config/circuits/brickwork.py:build"}, TRIANGLES, ["gradients[0].graph:", "got circuit"]),
    ({"graph": None, "ansatz": "hea", "costs": ["local", "maxcut"]}, TRIANGLES,
     ["gradients[0].costs: 'maxcut' is the MaxCut cost of gradients[0].graph, which this block does not give"]),
    ({"qubits": [6, 4]}, OUT_OF_RANGE,
     ["gradients[0].graph (with gradients[0].qubits = 4): {path}, line 4: '3 5': edge (3, 5) uses wire 5; "
      "allowed: wires 0..3 (4 qubits)"]),
    ({}, "0 1\n1 2 nan\n", ["gradients[0].graph (with gradients[0].qubits = 5): {path}, line 2: '1 2 nan': "
                            "weight must be finite"]),
    ({}, "0 1 -inf\n", ["{path}, line 1: '0 1 -inf': weight must be finite"]),
    ({}, "0 1\n\n# x\n2 x\n", ["gradients[0].graph", "{path}, line 4: '2 x': wires must be non-negative integers"]),
    ({}, "0 1 1 1\n", ["{path}, line 1: '0 1 1 1': expected 'i j' or 'i j weight'"]),
    ({}, "0 1\n1 0 2\n", ["{path}, line 2: '1 0 2': repeats the edge (1, 0) of line 1; allowed: each edge once"]),
    ({"graph": "{folder}/missing_{{n}}.txt"}, TRIANGLES,
     ["gradients[0].graph (with gradients[0].qubits = 5): edge list '{folder}/missing_5.txt' (from pattern "
      "{folder}/missing_{{n}}.txt) not found"]),
    ({"graph": "{folder}/g_{{depth}}.txt"}, TRIANGLES,
     ["gradients[0].graph (with gradients[0].qubits = 5): {folder}/g_{{depth}}.txt: bad placeholder 'depth' in the "
      "graph file pattern; allowed: {{n}}"]),
], ids=["other-ansatz", "no-graph", "dqnn", "with-circuit", "maxcut-without-graph", "out-of-range", "nan", "inf",
        "malformed", "four-fields", "repeated", "missing", "placeholder"])
def test_bad_graphs_are_refused_naming_key_file_and_value(tmp_path, block, text, fragments):
    path = graph_file(tmp_path, text)
    study = {"gradients": [{"name": "g", "ansatz": "qaoa", "graph": path, "qubits": [5], "depths": [1],
                            "costs": ["maxcut"], **{k: v.format(folder=tmp_path) if isinstance(v, str) else v
                                                    for k, v in block.items()}}]}
    study["gradients"][0] = {k: v for k, v in study["gradients"][0].items() if v is not None}
    with pytest.raises(ValueError) as info:
        check_graphs(study)
    for fragment in fragments:
        assert fragment.format(path=path, folder=tmp_path) in str(info.value), str(info.value)
    study["landscapes"], study["gradients"] = study["gradients"], []
    with pytest.raises(ValueError, match=r"^landscapes\[0\]\."):
        check_graphs(study)


def test_points_refuse_what_blocks_refuse(tmp_path):
    path = graph_file(tmp_path, OUT_OF_RANGE)
    weightless = graph_file(tmp_path, "0 1 0\n1 2 0.0\n", "zero.txt")
    for point, message in [
        (GradientPoint("qaoa", 3, 1, cost="maxcut", options={"graph": weightless}),
         r"^--cost: 'maxcut' needs a graph with an edge of non-zero weight"),
        (GradientPoint("hea", 4, 1, options={"graph": path}),
         rf"^--graph: '{path}' is a MaxCut graph for QAOA; it needs model 'vqc' and --ansatz 'qaoa' \(no circuit\), "
         r"got ansatz 'hea'$"),
        (GradientPoint("qaoa", 4, 1), r"^--ansatz: 'qaoa' runs on a graph: give --graph"),
        (GradientPoint("hea", 4, 1, cost="maxcut"), r"^--cost: 'maxcut' is the MaxCut cost of the point's graph"),
        (GradientPoint("qaoa", 4, 1, options={"graph": path}),
         rf"^--graph \(with --qubits = 4\): {path}, line 4: '3 5': edge \(3, 5\) uses wire 5; allowed: wires 0\.\.3"),
    ]:
        with pytest.raises(ValueError, match=message):
            validate(point, 4, prefix="--")


# --- the command line and the workflow ----------------------------------------------------------


def test_cli_runs_qaoa_on_a_graph(tmp_path, capsys):
    path = graph_file(tmp_path, WEIGHTED)
    out = tmp_path / "s.parquet"
    assert main(["gradients", "--ansatz", "qaoa", "--graph", path, "--qubits", "5", "--depth", "2", "--cost", "maxcut",
                 "--params", "all", "--samples", "4", "--dtype", "complex128", "--seed", "5", "--out", str(out)]) == 0
    shard = pd.read_parquet(out)
    ref = compute(graph_point(path, 5, 2, cost="maxcut", params="all", dtype="complex128"), 4, base_seed=5)
    assert shard["grad"].tolist() == ref["grad"].tolist() and set(shard["graph"]) == {path}
    for argv, fragment in [(["--ansatz", "hea", "--graph", path], "--graph: "),
                           (["--ansatz", "qaoa"], "--ansatz: 'qaoa' runs on a graph: give --graph"),
                           (["--ansatz", "qaoa", "--graph", str(tmp_path / "nope.txt")], "nope.txt' not found")]:
        with pytest.raises(SystemExit) as exc:
            main(["gradients", *argv, "--qubits", "5", "--depth", "1", "--samples", "4",
                  "--out", str(tmp_path / "x.parquet")])
        assert exc.value.code == 2 and fragment in capsys.readouterr().err
    assert not (tmp_path / "x.parquet").exists()


def dry_run(folder: Path, study: dict) -> subprocess.CompletedProcess:
    (folder / "config.yaml").write_text(yaml.safe_dump({"seed": 1, "batch": {"max_qubits": 0}, **study}))
    return subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(folder),
                           "--configfile", str(folder / "config.yaml"), "-n", "results/tables/gradients.parquet",
                           "results/tables/landscapes.parquet"], capture_output=True, text=True, timeout=300)


def test_the_workflow_plans_graph_points_and_refuses_a_graph_too_big_for_its_qubits(tmp_path):
    graph_file(tmp_path, "0 1\n1 2\n2 0\n", "g_3.txt")
    graph_file(tmp_path, OUT_OF_RANGE, "g_4.txt")
    block = {"ansatz": "qaoa", "graph": "g_{n}.txt", "depths": [1], "costs": ["maxcut"]}  # relative to --directory
    study = {"gradients": [{"name": "qg", "qubits": [3, 6], "samples": 20, **block}],
             "landscapes": [{"name": "ql", "qubits": [3], "resolution": 5, **block}]}
    graph_file(tmp_path, OUT_OF_RANGE, "g_6.txt")
    done = dry_run(tmp_path, study)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for n in (3, 6):
        label = f"qaoa_g@{graph_hash(str(tmp_path / 'g_{n}.txt'), n)}"
        assert f"results/shards/gradients/qg/ansatz~{label}/n~{n}/depth~1/cost~maxcut/" in done.stdout
    scan = f"results/landscapes/ql/qaoa_g@{graph_hash(str(tmp_path / 'g_3.txt'), 3)}/n~3/depth~1/cost~maxcut/"
    assert scan in done.stdout
    study["gradients"][0]["qubits"] = [3, 4]
    refused = dry_run(tmp_path, study)
    out = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "Job stats" not in out
    assert ("gradients[0].graph (with gradients[0].qubits = 4): g_4.txt, line 4: '3 5': edge (3, 5) uses wire 5; "
            "allowed: wires 0..3 (4 qubits)") in out, out[-3000:]


def test_graph_points_get_the_lie_prediction_of_the_same_circuit(tmp_path, monkeypatch):
    """A ring written as a graph file is families.qaoa_ring: the predictions table gives the graph
    point the DLA and predicted variance of the built-in ring (theory beside measurement)."""
    from qnnscope.gradients import theory

    monkeypatch.chdir(tmp_path)
    (tmp_path / "ring.txt").write_text("0 1\n1 2\n2 3\n3 0\n")
    base = {"model": "vqc", "cost_function": "local", "init": "uniform", "n_qubits": 4, "depth": 2,
            "param_index": 0, "identity_block": 0, "noise": "none", "shots": 0, "circuit": ""}
    graph = theory.predict_row({**base, "ansatz": "qaoa", "graph": "ring.txt"})
    ring = theory.predict_row({**base, "ansatz": "qaoa_ring", "graph": ""})
    assert graph["dla_dim"] == ring["dla_dim"] and graph["dla_dim"] > 0
    assert graph["dla_type"] == ring["dla_type"]
    assert graph["var_predicted"] == pytest.approx(ring["var_predicted"], rel=1e-12, nan_ok=True)
    assert graph["prediction_reason"] == ring["prediction_reason"]
