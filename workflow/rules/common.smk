"""Sweep points from the config: every point is checked by the package before any job runs."""

import math
from itertools import product

from qnnscope.gradients import GradientPoint, validate as validate_point

SHARD = (
    "results/shards/gradients/{sweep}/ansatz~{ansatz}/n~{n}/depth~{depth}/cost~{cost}/"
    "init~{init}/backend~{backend}/dtype~{dtype}/params~{params}/chunk~{chunk}.parquet"
)
LOG = SHARD.replace("results/shards/", "results/logs/").replace(".parquet", ".log")

wildcard_constraints:
    n=r"\d+",
    depth=r"\d+",
    chunk=r"\d+",
    sweep=r"[A-Za-z0-9_-]+",


def depth_of(spec, n: int) -> int:
    """A depth entry: an integer, or 'Kn' meaning K times the qubit count."""
    return int(spec[:-1]) * n if isinstance(spec, str) else int(spec)


def _sweeps() -> dict:
    blocks = {}
    for i, block in enumerate(config["gradients"]):
        if block["name"] in blocks:
            raise ValueError(f"gradients[{i}].name: {block['name']!r} is used by two sweeps; names must be unique")
        blocks[block["name"]] = (i, block)
    return blocks


SWEEPS = _sweeps()


def point_of(block: dict, n: int, depth: int, cost: str, init: str, backend: str, dtype: str) -> GradientPoint:
    """The package's description of one sweep point of ``block``."""
    return GradientPoint(
        ansatz=block["ansatz"], n_qubits=n, depth=depth, cost=cost, init=init,
        sigma=block["sigma"] if init == "normal" else None,
        identity_block=block["identity_block"] if init == "identity_block" else 0,
        backend=backend, dtype=dtype, params=block["params"],
    )


def gradient_shards() -> list[str]:
    """Every shard of every sweep; raises (naming the config key) on a point the package refuses."""
    paths = []
    for name, (i, block) in SWEEPS.items():
        axes = product(block["qubits"], block["depths"], block["costs"], block["inits"], block["backends"], block["dtypes"])
        for n, d, cost, init, backend, dtype in axes:
            depth = depth_of(d, n)
            point = point_of(block, n, depth, cost, init, backend, dtype)
            validate_point(point, block["samples"], prefix=f"gradients[{i}].")
            for chunk in range(math.ceil(block["samples"] / block["chunk"])):
                paths.append(SHARD.format(sweep=name, ansatz=block["ansatz"], n=n, depth=depth, cost=cost, init=init,
                                          backend=backend, dtype=dtype, params=block["params"], chunk=chunk))
    return paths


def depth_rule(wildcards) -> str:
    """The config's depth entry that gives this point's depth (``20n`` or ``5``)."""
    block = SWEEPS[wildcards.sweep][1]
    return next(str(d) for d in block["depths"] if depth_of(d, int(wildcards.n)) == int(wildcards.depth))


def chunk_samples(wildcards) -> int:
    """Samples in one chunk: the block's chunk size, or what is left of ``samples``."""
    block = SWEEPS[wildcards.sweep][1]
    return min(block["chunk"], block["samples"] - int(wildcards.chunk) * block["chunk"])


GRADIENT_SHARDS = gradient_shards()


def aggregate_targets() -> list[str]:
    return ["results/tables/gradients.parquet", "results/tables/scaling_fits.parquet"] if GRADIENT_SHARDS else []
