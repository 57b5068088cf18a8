"""The ``qnnscope`` command line: shards, their reproducibility, refusals and summaries."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import qnnscope
from qnnscope import sampling
from qnnscope.backends import get_backend
from qnnscope.circuits import build
from qnnscope.cli import main
from qnnscope.costs import make_cost
from qnnscope.gradients.point import GradientPoint

POINT_COLUMNS = ["model", "ansatz", "n_qubits", "depth", "cost_function", "init", "sigma", "identity_block", "backend", "dtype", "method"]
SHARD_COLUMNS = ["chunk", "sample", "param_index", "param_layer", "param_wire", "grad", "cost"]
PROVENANCE_COLUMNS = ["qnnscope_version", "backend", "dtype", "device", "seed", "wall_time_s"]
SMALL = ["--ansatz", "mcclean", "--qubits", "3", "--depth", "2", "--samples", "6", "--dtype", "complex128"]


def run(argv: list[str], capsys) -> tuple[int, str]:
    """Run the CLI in-process; return (exit status, stderr)."""
    try:
        status = main(argv)
    except SystemExit as exc:
        status = exc.code
    return status, capsys.readouterr().err


def gradients(tmp_path: Path, name: str, *extra: str, base: list[str] = SMALL) -> pd.DataFrame:
    """Run `qnnscope gradients` in-process on the small default point and read the shard."""
    out = tmp_path / name
    status = main(["gradients", *base, *extra, "--out", str(out)])
    assert status == 0
    return pd.read_parquet(out)


def hidden(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.startswith(".")]


# --- the issue's example command --------------------------------------------------------------


def test_issue_example_command_writes_the_documented_shard(tmp_path):
    out = tmp_path / "shard.parquet"
    command = [
        sys.executable, "-m", "qnnscope.cli", "gradients", "--ansatz", "mcclean", "--qubits", "6", "--depth", "60",
        "--cost", "zz", "--params", "first", "--samples", "2000", "--seed", "1", "--backend", "torch",
        "--dtype", "complex128", "--out", str(out),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    frame = pd.read_parquet(out)

    assert set(POINT_COLUMNS + SHARD_COLUMNS + PROVENANCE_COLUMNS) <= set(frame.columns)
    assert len(frame) == 2000  # one row per (sample, parameter), one parameter
    np.testing.assert_array_equal(frame["sample"], np.arange(2000))
    assert set(frame["chunk"]) == {0}
    assert set(frame["param_index"]) == {0} and set(frame["param_layer"]) == {0} and set(frame["param_wire"]) == {0}
    expected_point = {
        "model": "vqc", "ansatz": "mcclean", "n_qubits": 6, "depth": 60, "cost_function": "zz", "init": "uniform",
        "identity_block": 0, "backend": "torch", "dtype": "complex128", "method": "auto",
    }
    for column, value in expected_point.items():
        assert frame[column].tolist() == [value] * 2000, column
    assert frame["sigma"].isna().all()
    assert set(frame["qnnscope_version"]) == {qnnscope.__version__}
    assert set(frame["device"]) == {"cpu"}
    point = GradientPoint("mcclean", 6, 60, "zz")
    assert set(frame["seed"]) == {sampling.point_seed(point.seed_key(), 0, 1)}
    assert frame["wall_time_s"].nunique() == 1 and frame["wall_time_s"].iloc[0] > 0

    # ⟨Z0Z1⟩ ∈ [−1, 1] and, by the parameter-shift rule, |∂⟨Z0Z1⟩/∂θ| = |f(θ+π/2) − f(θ−π/2)|/2 ≤ 1.
    assert frame["cost"].between(-1, 1).all() and frame["grad"].abs().le(1).all()
    # McClean's 2-design value is 2^n / (3(4^n − 1)) = 5.21e−3 at n = 6.  At depth 60 = 10n the
    # variance has not quite saturated: 16 000 samples gave 1.11 ± 0.012 times the 2-design value
    # (depth 150: 1.01).  With 2000 samples the relative standard error is ≈ 3.4 %, so 1.11 ± 5 SE
    # lies within [0.94, 1.28]; the bounds below are that interval, slightly widened.
    ratio = frame["grad"].var(ddof=1) / (2**6 / (3 * (4**6 - 1)))
    assert 0.9 < ratio < 1.35, ratio
    assert hidden(tmp_path) == []  # atomic write: no temporary file left behind


# --- which parameters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, slots, layers, wires",
    [
        ("first", [0], [0], [0]),
        ("last", [5], [1], [2]),
        ("all", [0, 1, 2, 3, 4, 5], [0, 0, 0, 1, 1, 1], [0, 1, 2, 0, 1, 2]),
        ("0,4", [0, 4], [0, 1], [0, 1]),
    ],
)
def test_params_select_the_slots(tmp_path, spec, slots, layers, wires):
    frame = gradients(tmp_path, "p.parquet", "--params", spec)
    assert len(frame) == 6 * len(slots)
    np.testing.assert_array_equal(frame["sample"], np.repeat(np.arange(6), len(slots)))
    np.testing.assert_array_equal(frame["param_index"], np.tile(slots, 6))
    np.testing.assert_array_equal(frame["param_layer"], np.tile(layers, 6))
    np.testing.assert_array_equal(frame["param_wire"], np.tile(wires, 6))


def test_params_subsets_agree_with_all(tmp_path):
    every = gradients(tmp_path, "all.parquet", "--params", "all").set_index(["sample", "param_index"])
    some = gradients(tmp_path, "some.parquet", "--params", "0,4").set_index(["sample", "param_index"])
    # Same draws, same engine; tangent-mode gradients of a subset equal those of all slots up to
    # rounding (complex128, ~1e-16); 1e-12 absolute.
    np.testing.assert_allclose(some["grad"], every.loc[some.index, "grad"], rtol=0, atol=1e-12)


# --- determinism and independence -------------------------------------------------------------


def test_same_command_gives_identical_values_and_chunks_and_seeds_differ(tmp_path):
    a = gradients(tmp_path, "a.parquet", "--params", "all", "--seed", "3")
    b = gradients(tmp_path, "b.parquet", "--params", "all", "--seed", "3")
    np.testing.assert_array_equal(a["grad"].to_numpy(), b["grad"].to_numpy())
    np.testing.assert_array_equal(a["cost"].to_numpy(), b["cost"].to_numpy())
    assert a["seed"].iloc[0] == b["seed"].iloc[0]

    other_chunk = gradients(tmp_path, "c.parquet", "--params", "all", "--seed", "3", "--chunk", "1")
    other_seed = gradients(tmp_path, "d.parquet", "--params", "all", "--seed", "4")
    for other in (other_chunk, other_seed):
        assert other["seed"].iloc[0] != a["seed"].iloc[0]
        # Independent continuous draws: no cost coincides.  Gradients can be exactly 0 in both
        # (an RP drawn as Z just before a diagonal measurement), so only most of them must differ.
        assert not np.isclose(other["cost"].to_numpy(), a["cost"].to_numpy(), rtol=0, atol=1e-12).any()
        same = np.isclose(other["grad"].to_numpy(), a["grad"].to_numpy(), rtol=0, atol=1e-12)
        assert same.mean() < 0.5
    assert set(other_chunk["chunk"]) == {1}


def test_seed_column_reproduces_the_samples(tmp_path):
    frame = gradients(tmp_path, "s.parquet", "--params", "0,4", "--cost", "zz", "--seed", "9", "--chunk", "2")
    circuit = build("mcclean", 3, 2)
    theta, choices = sampling.draw(circuit, 6, int(frame["seed"].iloc[0]), "uniform")
    costs, grads = get_backend("torch").evaluate(circuit, make_cost("zz", 3), theta, choices, [0, 4], "complex128")
    # The same engine on the same inputs and batch: identical up to rounding (complex128).
    np.testing.assert_allclose(frame["grad"].to_numpy(), grads.reshape(-1), rtol=0, atol=1e-14)
    np.testing.assert_allclose(frame["cost"].to_numpy(), np.repeat(costs, 2), rtol=0, atol=1e-14)


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, fragments",
    [
        ({"--ansatz": "nope"}, ["--ansatz", "'nope'", "mcclean", "rx_product"]),
        ({"--cost": "zz", "--qubits": "1"}, ["--cost", "Z0Z1", "1 qubits", "wires 0..0"]),
        ({"--cost": "Q0"}, ["--cost", "'Q0'", "'global'"]),
        ({"--samples": "1"}, ["--samples", "got 1", ">= 2"]),
        ({"--backend": "nope"}, ["--backend", "'nope'", "torch", "pennylane"]),
        ({"--dtype": "complex32"}, ["--dtype", "'complex32'", "complex64", "complex128"]),
        ({"--params": "7"}, ["--params", "'7'", "0..5"]),
        ({"--params": "middle"}, ["--params", "'middle'", "'first'", "'last'", "'all'"]),
        ({"--init": "normal"}, ["--sigma", "None", "sigma > 0"]),
        ({"--init": "normal", "--sigma": "0"}, ["--sigma", "0.0", "sigma > 0"]),
        ({"--init": "bogus"}, ["--init", "'bogus'", "uniform", "identity_block"]),
        ({"--depth": "3", "--init": "identity_block", "--identity-block": "1"}, ["--depth", "depth 3", "divisible by 2"]),
        ({"--method": "magic"}, ["--method", "'magic'", "adjoint"]),
        ({"--chunk": "-1"}, ["--chunk", "-1", ">= 0"]),
    ],
)
def test_bad_options_exit_2_naming_option_value_and_allowed(tmp_path, capsys, change, fragments):
    options = dict(zip(SMALL[::2], SMALL[1::2])) | change
    argv = ["gradients"] + [x for kv in options.items() for x in kv] + ["--out", str(tmp_path / "bad.parquet")]
    status, err = run(argv, capsys)
    assert status == 2
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert list(tmp_path.iterdir()) == []  # no output file, no temporary file


def test_console_script_refuses_unknown_ansatz(tmp_path):
    script = Path(sys.executable).with_name("qnnscope")
    out = tmp_path / "bad.parquet"
    done = subprocess.run(
        [str(script), "gradients", "--ansatz", "nope", "--qubits", "2", "--depth", "1", "--samples", "4", "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert "--ansatz" in done.stderr and "'nope'" in done.stderr and "mcclean" in done.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_sigma_without_normal_init_is_refused(tmp_path, capsys):
    # A stray --sigma with --init uniform is unused by the draw, yet it enters the seed key and
    # the 'sigma' column: the shard would be labelled with a sigma it never used and its draws
    # would differ from the same point without --sigma.  It must be refused like in sampling.draw.
    status, err = run(["gradients", *SMALL, "--sigma", "0.3", "--out", str(tmp_path / "s.parquet")], capsys)
    assert status == 2
    assert "--sigma" in err and "0.3" in err and "normal" in err
    assert list(tmp_path.iterdir()) == []


# --- summarize --------------------------------------------------------------------------------


@pytest.fixture()
def two_shards(tmp_path):
    base = ["--ansatz", "rx_product", "--qubits", "2", "--depth", "1", "--samples", "400", "--params", "all",
            "--cost", "local", "--dtype", "complex128", "--seed", "5"]
    paths = []
    for chunk in (0, 1):
        path = tmp_path / f"chunk{chunk}.parquet"
        assert main(["gradients", *base, "--chunk", str(chunk), "--out", str(path)]) == 0
        paths.append(path)
    return paths


def test_summarize_gives_the_statistics_of_the_concatenated_shards(tmp_path, two_shards):
    out = tmp_path / "table.parquet"
    assert main(["summarize", *map(str, two_shards), "--bootstrap", "500", "--out", str(out)]) == 0
    table = pd.read_parquet(out)
    raw = pd.concat([pd.read_parquet(p) for p in two_shards], ignore_index=True)
    assert len(table) == 2  # one point, two parameters
    for slot, row in table.set_index("param_index").iterrows():
        rows = raw[raw["param_index"] == slot]
        grads, costs = rows["grad"].to_numpy(), rows["cost"].to_numpy()
        assert row["n_samples"] == 800 and row["n_chunks"] == 2
        assert row["param_layer"] == 0 and row["param_wire"] == slot
        # Same values through the same numpy reductions: equal up to one rounding (rel 1e-15).
        np.testing.assert_allclose(row["grad_var"], np.var(grads, ddof=1), rtol=1e-15, atol=0)
        np.testing.assert_allclose(row["grad_mean"], np.mean(grads), rtol=1e-15, atol=1e-18)
        np.testing.assert_allclose(row["cost_mean"], np.mean(costs), rtol=1e-15, atol=0)
        np.testing.assert_allclose(row["cost_var"], np.var(costs, ddof=1), rtol=1e-15, atol=0)
        assert row["grad_var_lo"] < row["grad_var"] < row["grad_var_hi"]
        assert row["grad_mean_lo"] < row["grad_mean"] < row["grad_mean_hi"]
        # local cost on ⊗RX, n = 2: Var[∂C_L/∂θ_j] = 1/(8n²) = 1/32 must lie in a 95 % CI of
        # 800 samples (rel SE ≈ 2.5 %, CI half-width ≈ 5 %): checked loosely, ±20 %.
        assert 0.8 / 32 < row["grad_var"] < 1.2 / 32
    assert hidden(tmp_path) == []


def test_summarize_refuses_a_duplicated_chunk(tmp_path, two_shards, capsys):
    out = tmp_path / "table.parquet"
    status, err = run(["summarize", str(two_shards[0]), str(two_shards[1]), str(two_shards[0]), "--out", str(out)], capsys)
    assert status == 2
    assert "chunk 0" in err and "more than one shard" in err
    assert not out.exists() and hidden(tmp_path) == []


def test_summarize_names_a_missing_shard(tmp_path, two_shards, capsys):
    out = tmp_path / "table.parquet"
    missing = tmp_path / "missing.parquet"
    status, err = run(["summarize", str(two_shards[0]), str(missing), "--out", str(out)], capsys)
    assert status == 2
    assert str(missing) in err
    assert not out.exists()


def test_summarize_refuses_too_few_bootstrap_resamples(tmp_path, two_shards, capsys):
    out = tmp_path / "table.parquet"
    status, err = run(["summarize", str(two_shards[0]), "--bootstrap", "10", "--out", str(out)], capsys)
    assert status == 2 and "--bootstrap" in err and "10" in err and ">= 100" in err
    assert not out.exists()


# --- atomic writes ----------------------------------------------------------------------------


def test_output_file_permissions_follow_the_umask(tmp_path):
    # write_parquet goes through tempfile.mkstemp, which creates mode 0600; after the rename the
    # shard must still be readable as any ordinarily created file would be (0666 & ~umask).
    old = os.umask(0o022)
    try:
        gradients(tmp_path, "perm.parquet")
    finally:
        os.umask(old)
    assert (tmp_path / "perm.parquet").stat().st_mode & 0o777 == 0o644
    assert hidden(tmp_path) == []


def test_compile_leaves_every_engine_kernel_in_the_numba_cache():
    """``qnnscope compile`` (run by setup) compiles each kernel the engine calls from Python (the
    lane kernel for n ≤ 8, the strided one above, the adjoint sweep, the noisy one) in both dtypes, and leaves their
    on-disk cache indices, so that a study's first jobs load them instead of compiling."""
    entry = {"kernels": ["evolve", "evolve_lanes", "adjoint_sweep"], "noise": ["_evolve_kernel"]}
    script = ("from qnnscope.cli import main; from qnnscope.sim import kernels, noise; main(['compile']); "
              "modules = {'kernels': kernels, 'noise': noise}; "
              f"print({{m: [len(getattr(modules[m], f).signatures) for f in fs] for m, fs in {entry!r}.items()}})")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert "kernels cached" in out
    assert out.strip().splitlines()[-1] == str({m: [2] * len(fs) for m, fs in entry.items()})
    from qnnscope.sim import kernels

    cache = Path(kernels.__file__).parent / "__pycache__"
    for module, names in entry.items():
        for name in names:
            assert any(p.name.startswith(f"{module}.{name}-") and p.suffix == ".nbi" for p in cache.iterdir()), name
