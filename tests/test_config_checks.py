"""What the JSON schema lets through and the workflow must still refuse before any job: NaN and
±inf in every float key, YAML errors without a line, impossible sizes."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import yaml

from qnnscope import config as checks
from qnnscope.gradients.evaluate import validate
from qnnscope.gradients.point import GradientPoint

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
SCHEMA = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())


def _is_number(node: dict) -> bool:
    kinds = node.get("type")
    return "number" in (kinds if isinstance(kinds, list) else [kinds])


def _number_keys(schema: dict, config, parts=()):
    """Every key the schema types as a number, as a path into ``config`` (the first item of lists;
    keys the config leaves to the schema's defaults included)."""
    if _is_number(schema) and parts:
        yield parts
    for name, sub in schema.get("properties", {}).items():
        if isinstance(config, dict):
            yield from _number_keys(sub, config.get(name, {}), (*parts, name))
    if "items" in schema and isinstance(config, list) and config:
        yield from _number_keys(schema["items"], config[0], (*parts, 0))


FLOAT_KEYS = sorted(set(_number_keys(SCHEMA, CONFIG)), key=str)


def _set(config, parts, value):
    node = config
    for part in parts[:-1]:
        node = node.setdefault(part, {}) if isinstance(node, dict) else node[part]
    node[parts[-1]] = value


def test_the_default_config_has_float_keys_to_check():
    assert len(FLOAT_KEYS) >= 10
    checks.check_finite(CONFIG, SCHEMA)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("parts", FLOAT_KEYS, ids=checks.key_path)
def test_every_float_key_refuses_nan_and_infinities_naming_key_value_and_range(parts, bad):
    config = copy.deepcopy(CONFIG)
    _set(config, parts, bad)
    with pytest.raises(ValueError) as err:
        checks.check_finite(config, SCHEMA)
    message = str(err.value)
    assert message.startswith(f"{checks.key_path(parts)}: {bad!r} is not a finite number; allowed: finite numbers")


def test_the_range_comes_from_the_schema():
    config = copy.deepcopy(CONFIG)
    config["ci"] = math.nan
    with pytest.raises(ValueError, match=r"^ci: nan is not a finite number; allowed: finite numbers > 0 and < 1$"):
        checks.check_finite(config, SCHEMA)


def test_yaml_errors_name_file_line_and_column(tmp_path):
    bad = tmp_path / "study.yaml"
    bad.write_text("seed: 1\ngradients:\n  - name: a\n    qubits: [2, 3\n  other: 1\n")
    with pytest.raises(ValueError, match=rf"^{bad}:5:8: not valid YAML: expected .,. or .\]., but got .:."):
        checks.check_yaml(bad)
    default = ROOT / "config" / "config.yaml"
    assert checks.check_yaml(default) == yaml.safe_load(default.read_text())


def test_sample_counts_that_cannot_be_planned_are_refused():
    config = copy.deepcopy(CONFIG)
    config["gradients"][0] |= {"samples": 10**12, "chunk": 1000}
    with pytest.raises(ValueError, match=r"^gradients\[0\]\.samples: 1000000000000 samples in chunks of 1000 make "
                                         r"1000000000 shards per point; allowed: at most 100000"):
        checks.check_sizes(config)
    config = copy.deepcopy(CONFIG) | {"bootstrap": 10**9}
    with pytest.raises(ValueError, match=r"^bootstrap: 1000000000 resamples; allowed: at most 1000000$"):
        checks.check_sizes(config)
    checks.check_sizes(CONFIG)


def test_a_point_larger_than_the_machines_memory_is_refused_before_any_work():
    with pytest.raises(ValueError, match=r"^x\.qubits: n = 30 needs about \d+\.\d GiB \(complex64\), more than this "
                                         r"machine's \d+\.\d GiB \(on a cluster, set resources.max_mem_mb\); "
                                         r"allowed: n <= \d+$"):
        validate(GradientPoint("hea", 30, 2), 100, prefix="x.")
    with pytest.raises(ValueError, match=r"^x\.qubits: n = 16 needs about .* \(density matrices, complex128\)"):
        validate(GradientPoint("hea", 16, 2, dtype="complex128", noise="depolarizing:0.01"), 100, prefix="x.")
    validate(GradientPoint("hea", 12, 2), 100, prefix="x.")


def test_a_jobs_memory_limit_replaces_the_machines(monkeypatch):
    """With ``resources.max_mem_mb`` (a cluster node's memory) the limit is the job's: n = 22 in
    complex64 needs about 2.7 GiB (states, observable, process), so it is refused under 2000 MB, naming the key and
    the largest n that fits, and accepted under 64000 MB."""
    from qnnscope.gradients.vqc import MEMORY_ENV, peak_memory

    point = GradientPoint("hea", 22, 2)
    monkeypatch.setenv(MEMORY_ENV, "2000")
    fits = max(n for n in range(1, 22) if peak_memory(GradientPoint("hea", n, 1), 1000) <= 2000 * 2**20)
    with pytest.raises(ValueError, match=rf"^x\.qubits: n = 22 needs about 2\.7 GiB \(complex64\), more than a "
                                         rf"job's 2\.0 GiB \(resources.max_mem_mb\); allowed: n <= {fits}$"):
        validate(point, 1000, prefix="x.")
    monkeypatch.setenv(MEMORY_ENV, "64000")
    validate(point, 1000, prefix="x.")


BROKEN = "seed: 3\ngradients:\n  - name: x\n    qubits: [2, 3\n    depths: [1]\n"


def test_check_config_names_the_line_of_a_yaml_error_and_passes_the_default(tmp_path, capsys):
    from qnnscope.cli import main

    (tmp_path / "bad.yaml").write_text(BROKEN)
    with pytest.raises(SystemExit) as exit_:
        main(["check-config", str(tmp_path / "bad.yaml")])
    assert exit_.value.code == 2
    assert f"{tmp_path / 'bad.yaml'}:5:11: not valid YAML" in capsys.readouterr().err
    (tmp_path / "nan.yaml").write_text("seed: 3\nci: .nan\n")
    with pytest.raises(SystemExit):
        main(["check-config", str(tmp_path / "nan.yaml")])
    assert "ci: nan is not a finite number" in capsys.readouterr().err
    assert main(["check-config", str(Path(__file__).resolve().parents[1] / "config/config.yaml")]) == 0


def test_the_workflow_names_the_line_of_a_broken_default_config(tmp_path):
    import subprocess
    import sys

    (tmp_path / "config").mkdir()
    (tmp_path / "config/config.yaml").write_text(BROKEN)
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(root / "Snakefile"), "--directory",
                           str(tmp_path), "-n"], capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "config/config.yaml:5:11: not valid YAML: expected ',' or ']'" in done.stdout + done.stderr


def test_gradient_jobs_ask_for_the_memory_their_point_needs(tmp_path):
    """A one-shard job of an n = 22 point asks the scheduler for its engine state plus the job's
    overhead (more than ``resources.mem_mb``), checked against ``resources.max_mem_mb``."""
    import subprocess
    import sys

    from qnnscope.gradients.vqc import peak_memory

    study = {"seed": 1, "resources": {"mem_mb": 1000, "max_mem_mb": 64000},
             "gradients": [{"name": "big", "ansatz": "hea", "qubits": [22], "depths": [1], "costs": ["local"],
                            "samples": 1000, "chunk": 1000}]}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(study))
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(root / "Snakefile"), "--directory",
                           str(tmp_path), "--configfile", str(tmp_path / "config.yaml"), "-n",
                           "results/tables/gradients.parquet"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    want = math.ceil(peak_memory(GradientPoint("hea", 22, 1, cost="local"), 1000) / 2**20) + 1500
    assert want > 1000 and f"mem_mb={want}" in done.stdout


def test_a_dqnn_too_wide_for_memory_is_refused_before_any_work():
    """DQNN widths whose simulation would need more memory than a job has (deep perceptrons on
    12 + 12 qubits hold 2^48-entry tensors) are refused naming the key; small ones pass."""
    def point(widths):
        return GradientPoint("deep4", 2, 2, model="dqnn", cost="global",
                             options={"widths": widths, "data": "unitary", "pairs": 10})

    with pytest.raises(ValueError, match=r"^g\.widths: widths 12-12-12 with 10 training pairs need about \d+\.\d GiB "
                                         r"for one parameter vector, more than the \d+\.\d GiB a job can have here"):
        validate(point("12-12-12"), 100, prefix="g.")
    validate(point("3-3-3"), 100, prefix="g.")
