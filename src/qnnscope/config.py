"""Checks of a study config that its JSON schema cannot express, run before any job.

JSON schema's ``number`` admits NaN and ±inf (YAML's ``.nan``, ``.inf``), and its range checks
pass NaN because every comparison with NaN is false; a YAML syntax error reaches the user as
"not valid JSON or YAML" without a line; sizes that parse can still be impossible to run.
Each check raises ``ValueError`` naming the key (as ``block[i].key``), the value and what is
allowed.  Nothing here touches the network.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

MAX_CHUNKS_PER_POINT = 100_000
"""Shards one sweep point may have (samples / chunk): beyond that the job list alone fills memory."""
MAX_BOOTSTRAP = 1_000_000
"""Bootstrap resamples of a CI (each one re-reads every sample)."""


def key_path(parts: tuple) -> str:
    """``('gradients', 0, 'sigma')`` → ``gradients[0].sigma``."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def subschema(schema: dict | None, parts: tuple) -> dict:
    """The part of a JSON schema that describes the value at ``parts`` ({} where it says nothing)."""
    node = schema or {}
    for part in parts:
        if isinstance(part, int):
            node = node.get("items", {})
        else:
            node = node.get("properties", {}).get(part) or node.get("additionalProperties") or {}
        if not isinstance(node, dict):
            return {}
    return node


def allowed_numbers(node: dict) -> str:
    """``finite numbers in [0, 1]``-style words for a number schema's bounds."""
    low = [f">= {node['minimum']}"] if "minimum" in node else []
    low += [f"> {node['exclusiveMinimum']}"] if "exclusiveMinimum" in node else []
    high = [f"<= {node['maximum']}"] if "maximum" in node else []
    high += [f"< {node['exclusiveMaximum']}"] if "exclusiveMaximum" in node else []
    return "finite numbers" + (f" {' and '.join(low + high)}" if low or high else "")


def check_finite(config: Any, schema: dict | None = None, parts: tuple = ()) -> None:
    """Every number in ``config`` (nested mappings and lists) is finite; the message gives the
    key's range from ``schema`` (the config's JSON schema) where it has one."""
    if isinstance(config, dict):
        for name, value in config.items():
            check_finite(value, schema, (*parts, name))
    elif isinstance(config, (list, tuple)):
        for i, value in enumerate(config):
            check_finite(value, schema, (*parts, i))
    elif isinstance(config, float) and not math.isfinite(config):
        raise ValueError(f"{key_path(parts)}: {config!r} is not a finite number; allowed: "
                         f"{allowed_numbers(subschema(schema, parts))}")


def check_yaml(path: str | Path) -> Any:
    """Parse ``path`` as YAML and return what it holds; a syntax error names the file, line and
    column."""
    import yaml

    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        raise ValueError(f"{where}: not valid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from None


def check_sizes(config: dict) -> None:
    """Sample and chunk counts the workflow can plan, and bootstrap sizes it can afford."""
    if config.get("bootstrap", 0) > MAX_BOOTSTRAP:
        raise ValueError(f"bootstrap: {config['bootstrap']} resamples; allowed: at most {MAX_BOOTSTRAP}")
    for block_name in ("gradients", "hardware"):
        blocks = config.get(block_name) or []
        if block_name == "hardware":
            blocks = blocks.get("sweeps", []) if isinstance(blocks, dict) else []
        for i, block in enumerate(blocks):
            where = f"{block_name}[{i}]" if block_name == "gradients" else f"hardware.sweeps[{i}]"
            samples, chunk = block.get("samples", 0), block.get("chunk", 0) or block.get("samples", 1)
            if chunk and math.ceil(samples / chunk) > MAX_CHUNKS_PER_POINT:
                raise ValueError(f"{where}.samples: {samples} samples in chunks of {chunk} make "
                                 f"{math.ceil(samples / chunk)} shards per point; allowed: at most "
                                 f"{MAX_CHUNKS_PER_POINT} (raise {where}.chunk or lower {where}.samples)")


GRAPH_BLOCKS = ("gradients", "landscapes")
"""Config blocks whose VQC points may run QAOA on a user's graph (key ``graph``)."""


def check_graph_choice(ansatz: str | None, graph: str | None, circuit: str | None = None, model: str = "vqc",
                       key=lambda name: name) -> None:
    """A graph is the MaxCut instance of ansatz ``qaoa`` (Farhi et al. 2014) on a VQC, and ansatz
    ``qaoa`` needs one; ``key(name)`` spells a key (``gradients[0].graph``, ``--graph``)."""
    if graph and (model != "vqc" or circuit or ansatz != "qaoa"):
        got = (f"model {model!r}" if model != "vqc" else f"circuit {circuit!r}" if circuit
               else f"ansatz {ansatz!r}")
        raise ValueError(f"{key('graph')}: {graph!r} is a MaxCut graph for QAOA; it needs model 'vqc' and "
                         f"{key('ansatz')} 'qaoa' (no circuit), got {got}")
    if ansatz == "qaoa" and not graph and not circuit and model == "vqc":
        raise ValueError(f"{key('ansatz')}: 'qaoa' runs on a graph: give {key('graph')}, an edge-list file (one "
                         f"'i j' or 'i j weight' per line) or a pattern with {{n}}; QAOA on the ring is 'qaoa_ring'")


def check_graphs(config: dict) -> None:
    """The ``graph`` keys of the gradients and landscapes blocks (:func:`check_graph_choice`), the
    ``maxcut`` cost only with a graph, and at every qubit count a graph file that exists, reads
    (:func:`qnnscope.circuits.families.read_edges`) and uses only wires below the count.  Reads
    the files only."""
    from qnnscope.circuits.families import graph_edges

    for block_name in GRAPH_BLOCKS:
        for i, block in enumerate(config.get(block_name) or []):
            where = f"{block_name}[{i}]."
            model, graph = block.get("model", "vqc"), block.get("graph")
            check_graph_choice(block.get("ansatz"), graph, block.get("circuit"), model, lambda name: where + name)
            if not graph:
                if model != "hybrid" and any(str(c).strip().lower() == "maxcut" for c in block.get("costs", [])):
                    raise ValueError(f"{where}costs: 'maxcut' is the MaxCut cost of {where}graph, which this block "
                                     f"does not give; give a graph (with ansatz qaoa) or another cost")
                continue
            for n in block.get("qubits", []):
                graph_edges(graph, n, f"{where}graph", f"{where}qubits")
