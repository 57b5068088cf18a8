"""User circuits as sweep subjects: a user's copy of McClean's ansatz reproduces the built-in
shards bit for bit and the 2-design variance; the table names each parameter as the user's
circuit does; editing the user's file schedules new points; every conversion failure is refused
before any job runs, naming the key, the file and the gate; the CLI takes --circuit."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from qnnscope import stats
from qnnscope.circuits.importers import source_hash
from qnnscope.cli import main
from qnnscope.gradients.evaluate import compute, validate
from qnnscope.gradients.point import GradientPoint

ROOT = Path(__file__).resolve().parents[1]
MCCLEAN = str(ROOT / "config/circuits/mcclean_builder.py") + ":build"
BRICKWORK = str(ROOT / "config/circuits/brickwork.py") + ":build"


def user_point(spec: str, n: int, depth: int, **fields) -> GradientPoint:
    return GradientPoint("mine", n, depth, options={"circuit": spec, "source": source_hash(spec, n, depth)}, **fields)


def test_a_users_mcclean_reproduces_the_built_in_shards_bit_for_bit():
    for n, depth, cost in ((3, 4, "zz"), (4, 6, "global")):
        ours = compute(user_point(MCCLEAN, n, depth, cost=cost, params="all"), 40, chunk=1, base_seed=7)
        builtin = compute(GradientPoint("mcclean", n, depth, cost=cost, params="all"), 40, chunk=1, base_seed=7)
        for column in ("grad", "cost", "param_index", "seed"):
            assert ours[column].tolist() == builtin[column].tolist(), column
        assert set(ours["ansatz"]) == {"mine"} and set(ours["circuit"]) == {MCCLEAN}


def test_a_users_mcclean_reaches_the_two_design_variance():
    """n = 4 at depth 20n: Var[∂⟨Z0Z1⟩/∂θ_1] = 2^n / (3(4^n − 1)) = 2.092e−2 inside the 95 % CI."""
    n = 4
    shard = compute(user_point(MCCLEAN, n, 20 * n, cost="zz", dtype="complex128"), 4000, base_seed=3)
    summary = stats.summarize(shard["grad"].to_numpy(), n_boot=2000, seed=1)
    exact = 2**n / (3 * (4**n - 1))
    assert summary["var_lo"] <= exact <= summary["var_hi"]
    assert abs(summary["var"] / exact - 1) < 0.1


def test_shards_name_the_users_parameters():
    shard = compute(user_point(BRICKWORK, 4, 2, cost="local", params="0,4,7"), 5)
    assert shard.groupby("param_index")["param_name"].first().to_dict() == {0: "y_0_0", 4: "zz_0_0", 7: "xx_0_2"}
    builtin = compute(GradientPoint("hea", 3, 1, params="0,1"), 3)
    assert set(builtin["param_name"]) == {"theta[0]", "theta[1]"}


def test_a_point_whose_file_changed_since_planning_is_refused(tmp_path):
    builder = tmp_path / "mine.py"
    builder.write_text(Path(BRICKWORK.rsplit(":", 1)[0]).read_text())
    spec = f"{builder}:build"
    point = user_point(spec, 4, 1)
    builder.write_text(builder.read_text() + "\n# edited\n")
    with pytest.raises(ValueError, match="changed since this point was planned"):
        validate(point, 4, prefix="gradients[0].")


# --- the workflow ------------------------------------------------------------------------------


def dry_run(tmp_path: Path, sweep: dict) -> subprocess.CompletedProcess:
    study = {"seed": 1, "gradients": [{"name": "user", "qubits": [2, 3], "depths": [2], "costs": ["local"],
                                       "samples": 20, **sweep}]}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(study))
    return subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory",
                           str(tmp_path), "--configfile", str(tmp_path / "config.yaml"), "-n", "-p",
                           "results/tables/gradients.parquet"], capture_output=True, text=True, timeout=300)


QASM = """OPENQASM 3.0;
include "stdgates.inc";
input float[64] a;
input float[64] b;
qubit[{n}] q;
ry(a) q[0];
{gate}
crz(2 * b + 0.5) q[0], q[1];
"""


def qasm_family(folder: Path, gate: str = "cx q[0], q[1];") -> str:
    for n in (2, 3):
        (folder / f"fam_{n}_2.qasm").write_text(QASM.format(n=n, gate=gate))
    return str(folder / "fam_{n}_{depth}.qasm")


def test_editing_the_users_file_schedules_new_points_only_for_it(tmp_path):
    pattern = qasm_family(tmp_path)
    before = dry_run(tmp_path, {"circuit": pattern})
    assert before.returncode == 0, before.stdout + before.stderr
    (tmp_path / "fam_3_2.qasm").write_text(QASM.format(n=3, gate="cx q[1], q[2];"))
    after = dry_run(tmp_path, {"circuit": pattern})
    assert after.returncode == 0, after.stdout + after.stderr

    def batch(done, n):  # a batch's id hashes its member shards, whose paths carry the source hash
        return set(re.findall(rf"batches/(n{n}__part\d+__[0-9a-f]+)\.json", done.stdout))

    assert batch(before, 2) == batch(after, 2) and len(batch(before, 2)) == 1
    assert batch(before, 3) and batch(before, 3).isdisjoint(batch(after, 3))


@pytest.mark.parametrize("make, fragments", [
    (lambda d: {"circuit": str(d / "missing_{n}_{depth}.qasm")}, ["gradients[0].circuit", "missing_2_2.qasm", "not found"]),
    (lambda d: {"circuit": qasm_family(d, "cu3(a, b, a) q[0], q[1];")}, ["gradients[0].circuit", "fam_2_2.qasm", "cu3"]),
    (lambda d: {"circuit": qasm_family(d, "rx(a * b) q[1];")}, ["gradients[0].circuit", "fam_2_2.qasm", "'rx'", "a*b", "a·θ + b"]),
    (lambda d: {"circuit": _builder(d, "def build(n):\n    pass\n")}, ["gradients[0].circuit", "b.py", "build", "(n_qubits, depth)"]),
    (lambda d: {"circuit": _builder(d, "def build(n, depth):\n    raise RuntimeError('no such layout')\n")},
     ["gradients[0].circuit", "b.py", "RuntimeError", "no such layout"]),
    (lambda d: {"circuit": "no_such_module_xyz:build"}, ["gradients[0].circuit", "no_such_module_xyz", "not found"]),
    (lambda d: {"ansatz": "qcnnn"}, ["gradients[0].ansatz", "qcnnn", "qcnn"]),
])
def test_conversion_failures_are_refused_before_any_job(tmp_path, make, fragments):
    done = dry_run(tmp_path, make(tmp_path))
    assert done.returncode != 0
    out = done.stdout + done.stderr
    for fragment in fragments:
        assert fragment in out, (fragment, out[-3000:])
    assert "Job stats" not in out  # refused while the workflow was read: no job planned


def _builder(folder: Path, text: str) -> str:
    (folder / "b.py").write_text(text)
    return f"{folder / 'b.py'}:build"


# --- the command line -------------------------------------------------------------------------


def test_cli_takes_a_user_circuit(tmp_path):
    out = tmp_path / "s.parquet"
    assert main(["gradients", "--circuit", MCCLEAN, "--qubits", "3", "--depth", "2", "--samples", "6",
                 "--cost", "zz", "--dtype", "complex128", "--seed", "5", "--out", str(out)]) == 0
    ref = tmp_path / "r.parquet"
    assert main(["gradients", "--ansatz", "mcclean", "--qubits", "3", "--depth", "2", "--samples", "6",
                 "--cost", "zz", "--dtype", "complex128", "--seed", "5", "--out", str(ref)]) == 0
    ours, builtin = pd.read_parquet(out), pd.read_parquet(ref)
    np.testing.assert_array_equal(ours["grad"], builtin["grad"])
    assert set(ours["ansatz"]) == {"mcclean_builder"}


def test_cli_names_a_missing_builder(tmp_path, capsys):
    try:
        status = main(["gradients", "--circuit", str(tmp_path / "nope.py") + ":build", "--qubits", "3", "--depth",
                       "2", "--samples", "6", "--out", str(tmp_path / "x.parquet")])
    except SystemExit as exc:
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err
    assert "--circuit" in err and "nope.py" in err and "not found" in err
