"""The ``qnnscope`` command line: the same functions the workflow's scripts call.

    qnnscope gradients --ansatz mcclean --qubits 6 --depth 60 --cost zz --params first \\
        --samples 2000 --seed 1 --backend torch --dtype complex128 --out shard.parquet
    qnnscope gradients --ansatz qaoa --graph config/graphs/3regular_{n}.txt --qubits 6 --depth 2 \\
        --cost maxcut --samples 2000 --out shard.parquet
    qnnscope summarize shard.parquet [more.parquet ...] --out table.parquet
    qnnscope fit table.parquet --out fits.parquet
    qnnscope compile
    qnnscope check-config config/config.yaml

Every option is checked before any work starts; a bad value exits with status 2 and a message
naming the option, the value and what is allowed, and writes no file.  Arguments are parsed
before anything heavy is imported: ``qnnscope --help`` never loads the engine.
"""

from __future__ import annotations

import argparse
import logging
import sys

from qnnscope import __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qnnscope", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"qnnscope {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("gradients", help="sample gradients of one sweep point into a Parquet shard")
    which = g.add_mutually_exclusive_group(required=True)
    which.add_argument("--ansatz", help="a built-in ansatz or family: mcclean | alternating | rx_product | hea | "
                                        "qcnn | ttn | hva_tfim | hva_xxz | qaoa_ring | matchgate | equivariant; "
                                        "qaoa with --graph")
    which.add_argument("--circuit", help="a user circuit: module:function or file.py:function called as "
                                         "function(n_qubits, depth), or an OpenQASM 3 file or pattern like "
                                         "circuits/mine_{n}_{depth}.qasm")
    g.add_argument("--graph", help="--ansatz qaoa: the MaxCut graph, an edge-list file ('i j' or 'i j weight' per "
                                   "line) or a pattern like graphs/3regular_{n}.txt")
    g.add_argument("--qubits", type=int, required=True, help="number of qubits n")
    g.add_argument("--depth", type=int, required=True, help="number of layers L")
    g.add_argument("--cost", default="global", help="global | local | zz | Pauli string (Z0Z1) | weighted sum | "
                                                   "maxcut (with --graph)")
    g.add_argument("--params", default="first", help="first | last | all | comma-separated slot indices")
    g.add_argument("--samples", type=int, required=True, help="parameter draws in this shard (>= 2)")
    g.add_argument("--seed", type=int, default=0, help="study seed; the draw seed also hashes the point and chunk")
    g.add_argument("--chunk", type=int, default=0, help="chunk index: different chunks give independent draws")
    g.add_argument("--init", default="uniform", help="uniform | uniform_sym | uniform_half | normal | normal_depth | identity_block")
    g.add_argument("--sigma", type=float, default=None, help="standard deviation for --init normal; --init normal_depth: variance sigma²/depth")
    g.add_argument("--identity-block", type=int, default=0, help="layers per half block for --init identity_block")
    g.add_argument("--backend", default="torch", help="torch | pennylane | lightning | qiskit-aer")
    g.add_argument("--dtype", default="complex64", help="complex64 | complex128")
    g.add_argument("--method", default="auto", help="torch backend: auto | tangent | param-shift | adjoint | autograd")
    g.add_argument("--device", default="cpu", help="torch backend: cpu | cuda | cuda:N")
    g.add_argument("--out", required=True, help="output Parquet shard (written atomically)")

    s = sub.add_parser("summarize", help="per point and parameter statistics of gradient shards")
    s.add_argument("shards", nargs="+", help="Parquet shards written by 'qnnscope gradients'")
    s.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples for the CIs")
    s.add_argument("--ci", type=float, default=0.95, help="confidence level of the CIs")
    s.add_argument("--out", required=True, help="output Parquet table (written atomically)")
    f = sub.add_parser("fit", help="scaling fits of the variance against the qubit count")
    f.add_argument("table", help="Parquet table written by 'qnnscope summarize'")
    f.add_argument("--ci", type=float, default=0.95, help="confidence level of the slope CIs")
    f.add_argument("--out", required=True, help="output Parquet table (written atomically)")
    sub.add_parser("compile", help="compile the engine's numba kernels and librosa's into their on-disk caches "
                                  "(setup runs it, so that a study's first jobs do not each compile them)")
    c = sub.add_parser("check-config", help="check a study config offline: YAML syntax (file, line and column "
                                            "of an error), finite numbers, plannable sizes")
    c.add_argument("config", help="the study's YAML config file")
    return parser


def _check_config(args: argparse.Namespace) -> None:
    from qnnscope import config

    study = config.check_yaml(args.config) or {}
    if not isinstance(study, dict):
        raise ValueError(f"{args.config}: a config is a mapping of keys, got {type(study).__name__}")
    config.check_finite(study)
    config.check_sizes(study)
    config.check_graphs(study)
    print(f"{args.config}: valid YAML, finite numbers, plannable sizes, readable graphs (the workflow checks the rest "
          "when it starts)")


COMPILE_POINTS = [
    {"ansatz": "mcclean", "n_qubits": n, "depth": 2, "dtype": dtype, "method": method, "noise": noise, "params": params}
    for dtype in ("complex64", "complex128")
    for n, method, noise, params in ((3, "auto", "none", "first"), (3, "auto", "none", "all"),
                                     (3, "tangent", "none", "first"), (3, "adjoint", "none", "all"),
                                     (3, "auto", "depolarizing:0.01", "first"), (9, "auto", "none", "first"))
]
"""Tiny points whose gradients run every compiled kernel family of the engine in both dtypes."""


def _compile(args: argparse.Namespace) -> None:
    import time

    import numpy as np

    from qnnscope.data import speech
    from qnnscope.gradients.evaluate import compute
    from qnnscope.gradients.point import GradientPoint

    start = time.perf_counter()
    for fields in COMPILE_POINTS:
        compute(GradientPoint(**fields), samples=2)
    speech.mel_power(np.zeros((1, speech.SAMPLE_RATE), dtype=np.float32))
    print(f"qnnscope compile: engine and librosa kernels cached in {time.perf_counter() - start:.1f} s")


def _fit(args: argparse.Namespace) -> None:
    from qnnscope.gradients.summary import fit
    from qnnscope.io import read_tables, write_parquet

    fits = fit(read_tables([args.table]), ci=args.ci)
    write_parquet(fits, args.out)
    shown = ["ansatz", "cost_function", "depths", "param_index", "best_fit", "exp_b", "exp_b_lo", "exp_b_hi", "poly_b"]
    print(fits[shown].to_string(index=False))


def _gradients(args: argparse.Namespace) -> None:
    from qnnscope.gradients.evaluate import validate
    from qnnscope.gradients.point import GradientPoint
    from qnnscope.gradients.shards import write_shard

    options = {}
    if args.circuit:
        from qnnscope.circuits.importers import source_hash, spec_name

        try:
            options = {"circuit": args.circuit, "source": source_hash(args.circuit, args.qubits, args.depth)}
        except ValueError as exc:
            raise ValueError(f"--circuit: {exc}") from None
    if args.graph:  # QAOA on the graph's file at this size, its content hash recorded as for a circuit
        from qnnscope.circuits.families import graph_edges, graph_hash
        from qnnscope.config import check_graph_choice

        check_graph_choice(args.ansatz, args.graph, args.circuit, key=lambda name: f"--{name}")
        graph_edges(args.graph, args.qubits, "--graph", "--qubits")
        options = {"graph": args.graph, "source": graph_hash(args.graph, args.qubits)}
    point = GradientPoint(
        ansatz=args.ansatz or spec_name(args.circuit),
        options=options,
        n_qubits=args.qubits,
        depth=args.depth,
        cost=args.cost,
        init=args.init,
        sigma=args.sigma,
        identity_block=args.identity_block,
        backend=args.backend,
        dtype=args.dtype,
        method=args.method,
        device=args.device,
        params=args.params,
    )
    validate(point, args.samples, prefix="--")
    if args.chunk < 0:
        raise ValueError(f"--chunk: must be >= 0, got {args.chunk}")
    write_shard(args.out, point, args.samples, args.chunk, args.seed)


def _summarize(args: argparse.Namespace) -> None:
    if args.bootstrap < 100:
        raise ValueError(f"--bootstrap: must be >= 100 resamples, got {args.bootstrap}")
    from qnnscope.gradients.summary import summarize
    from qnnscope.io import read_tables, write_parquet

    table = summarize(read_tables(args.shards), n_boot=args.bootstrap, ci=args.ci)
    write_parquet(table, args.out)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``qnnscope`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        {"gradients": _gradients, "summarize": _summarize, "fit": _fit, "compile": _compile, "check-config": _check_config}[args.command](args)
    except (ValueError, FileNotFoundError) as exc:
        parser.exit(2, f"qnnscope {args.command}: error: {exc}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
