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
    checks.check_yaml(ROOT / "config" / "config.yaml")


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
                                         r"machine's \d+\.\d GiB; allowed here: n <= \d+$"):
        validate(GradientPoint("hea", 30, 2), 100, prefix="x.")
    with pytest.raises(ValueError, match=r"^x\.qubits: n = 16 needs about .* \(density matrices, complex128\)"):
        validate(GradientPoint("hea", 16, 2, dtype="complex128", noise="depolarizing:0.01"), 100, prefix="x.")
    validate(GradientPoint("hea", 12, 2), 100, prefix="x.")
