"""Generalisation of dissipative QNNs (Beer et al., Nat. Commun. 11, 808 (2020), Fig. 2a).

A network learns a Haar-random unitary V from N training pairs (|φ_x⟩, V|φ_x⟩) and is tested on
M = ``test_pairs`` pairs: test fidelity = mean over test pairs of ⟨φ|V† ρ_out V|φ⟩.  Test sets
(:data:`qnnscope.exact.TEST_SETS`): ``disjoint`` (the default) tests on M fresh pairs; ``including_training`` is
Beer et al.'s own protocol (GeneralizationTask.m in github.com/qigitphannover/
DeepQuantumNeuralNetworks: train on the first N of 10 pairs, score the cost on all 10), which
tests on M pairs of which the first N are the training pairs.

- :func:`run_experiment`: one training run (one repetition of one N and method), its curve;
- :func:`run_block`: every repetition of one (N, method) as one batch of networks, with
  provenance (one workflow job); each repetition's curve is the one :func:`run_experiment` gives;
- :func:`summarize_runs`: curves → final fidelities per run, mean and bootstrap CI per group;
- :func:`qnnscope.exact.optimal_test_fidelity`: the best mean test fidelity any learner can reach
  from N pairs.

Seeds (:func:`experiment_seeds`) are stable hashes.  Within one repetition the unitary V, the
test inputs and the initial network are shared by every N and every method, so the curve over N
and the comparison of methods are paired; with ``disjoint`` test sets the training inputs are
drawn per N from their own seed, so training and test inputs differ; with
``including_training`` the training pairs are the first N test pairs, nested over N.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from qnnscope import io, sampling
from qnnscope.exact import TEST_SETS, optimal_test_fidelity

METHODS = ("beer", "gradient:OPTIMIZER")
"""Training rules: Beer et al.'s update, or a torch.optim optimizer by name (``gradient:Adam``)."""
RUN_COLUMNS = ("widths", "task", "method", "n_pairs", "repetition")
"""Columns that identify one training run (with the experiment ``name`` in workflow tables)."""
_SEED_TAG = "qnnscope.dqnn_training"


def experiment_seeds(seed: int, widths, task: str, n_pairs: int, repetition: int) -> dict[str, int]:
    """Seeds of one run: ``target`` (the unitary) and ``test`` (test inputs) depend on
    (seed, repetition) only, ``init`` (the initial network) also on the widths, ``train``
    (training inputs) on (seed, task, N, repetition)."""
    return {
        "target": sampling.stable_seed(_SEED_TAG, int(seed), "target", int(repetition)),
        "test": sampling.stable_seed(_SEED_TAG, int(seed), "test", int(repetition)),
        "init": sampling.stable_seed(_SEED_TAG, int(seed), "init", [int(w) for w in widths], int(repetition)),
        "train": sampling.stable_seed(_SEED_TAG, int(seed), "train", task, int(n_pairs), int(repetition)),
    }


def check_method(method: str) -> str | None:
    """The optimizer name of ``gradient:NAME`` (None for ``beer``); refuses anything else."""
    if method == "beer":
        return None
    kind, _, optimizer = method.partition(":")
    if kind != "gradient" or not optimizer:
        raise ValueError(f"method: unknown training rule {method!r}; "
                         "allowed: beer, gradient:OPTIMIZER (e.g. gradient:Adam)")
    import torch

    if not isinstance(getattr(torch.optim, optimizer, None), type):
        raise ValueError(f"method: torch.optim has no optimizer {optimizer!r} (in {method!r})")
    if optimizer == "LBFGS":
        raise ValueError(f"method: {method!r} needs a closure and couples the parameters of all the networks "
                         "trained together; use an optimizer that steps each parameter tensor on its own")
    return optimizer


def run_experiment(widths, task: str, n_pairs: int, test_pairs: int, repetition: int, method: str, steps: int,
                   eta: float = 1.0, eps: float = 0.1, lr: float = 0.05, seed: int = 1,
                   test_set: str = "disjoint") -> pd.DataFrame:
    """One training run of a ``general`` DQNN of ``widths`` on ``n_pairs`` pairs of ``task``
    (Haar-random initial perceptrons; ``beer``: Beer et al.'s update with η = ``eta``,
    ε = ``eps``; ``gradient:NAME``: torch.optim.NAME with learning rate ``lr``), tested on
    ``test_pairs`` pairs: fresh ones, or (``test_set='including_training'``) ones whose first N
    are the training pairs.

    Returns one row per step 0 … ``steps``: ``train_fidelity``, ``test_fidelity``, and the run's
    identity: ``widths`` ("3-3-3"), ``task``, ``test_set``, ``method``, ``n_pairs``,
    ``test_pairs``, ``repetition``, ``seed`` (the study seed), ``wall_time_s``."""
    return _train(widths, task, n_pairs, test_pairs, [int(repetition)], method, steps, eta, eps, lr, seed, test_set)


def run_block(widths, task: str, n_pairs: int, test_pairs: int, repetitions: int, method: str, steps: int,
              eta: float = 1.0, eps: float = 0.1, lr: float = 0.05, seed: int = 1, test_set: str = "disjoint",
              log: logging.Logger | None = None) -> pd.DataFrame:
    """Repetitions 0 … ``repetitions`` − 1 of :func:`run_experiment` (one workflow job), trained
    as one batch of networks, with the provenance columns of :func:`qnnscope.io.provenance`.
    Each repetition's curve equals its :func:`run_experiment` curve (to rounding);
    ``wall_time_s`` is the batch's training time shared equally among the repetitions."""
    if int(repetitions) < 1:
        raise ValueError(f"repetitions: must be >= 1, got {repetitions}")
    out = _train(widths, task, n_pairs, test_pairs, list(range(int(repetitions))), method, steps, eta, eps, lr, seed,
                 test_set)
    if log is not None:
        last = out.groupby("repetition").tail(1)
        for rep, train, test in zip(last["repetition"], last["train_fidelity"], last["test_fidelity"]):
            log.info("repetition %d/%d: train fidelity %.4f, test fidelity %.4f after %d steps", rep + 1, repetitions,
                     train, test, steps)
        log.info("trained %d networks together in %.1f s", repetitions, out["wall_time_s"].iloc[0] * int(repetitions))
    prov = io.provenance("torch", "complex128", "cpu", int(seed), 0.0)
    for column, value in prov.items():
        if column not in out.columns:
            out[column] = value
    return out


def _train(widths, task: str, n_pairs: int, test_pairs: int, repetitions: list[int], method: str, steps: int,
           eta: float, eps: float, lr: float, seed: int, test_set: str) -> pd.DataFrame:
    """The given repetitions of one (N, method) as one batch; their curves, repetition-major."""
    import torch

    from qnnscope.models.dqnn import DQNN, draw
    from qnnscope.models.training import train_beer, train_gradient, training_pairs

    optimizer = check_method(method)
    widths = tuple(int(w) for w in widths)
    for name, value, low in (("n_pairs", n_pairs, 1), ("test_pairs", test_pairs, 1), ("steps", steps, 0),
                             ("repetition", min(repetitions), 0)):
        if int(value) < low:
            raise ValueError(f"{name}: must be >= {low}, got {value}")
    if test_set not in TEST_SETS:
        raise ValueError(f"test_set: unknown test set {test_set!r}; allowed: {', '.join(TEST_SETS)}")
    if test_set == "including_training" and int(n_pairs) > int(test_pairs):
        raise ValueError(f"n_pairs: with test set 'including_training' the N training pairs are the first N of the "
                         f"{test_pairs} test pairs; N = {n_pairs} is more")
    net = DQNN(widths, "general")
    seeds = [experiment_seeds(seed, widths, task, n_pairs, rep) for rep in repetitions]
    tests = [training_pairs(task, widths, int(test_pairs), seed=sd["test"], target_seed=sd["target"]) for sd in seeds]
    if test_set == "disjoint":
        trains = [training_pairs(task, widths, int(n_pairs), seed=sd["train"], target_seed=sd["target"])
                  for sd in seeds]
    else:
        trains = [(x[: int(n_pairs)], y[: int(n_pairs)]) for x, y in tests]
    train, test = (tuple(torch.stack(part) for part in zip(*pairs)) for pairs in (trains, tests))
    theta = torch.cat([torch.as_tensor(draw(net, 1, sd["init"])) for sd in seeds])
    start = time.perf_counter()
    if optimizer is None:
        _, curve = train_beer(net, net.unitaries(theta), train, test, steps=int(steps), eta=eta, eps=eps)
    else:
        _, curve = train_gradient(net, theta, train, test, steps=int(steps), optimizer=optimizer, lr=lr)
    wall = time.perf_counter() - start
    ident = {"widths": "-".join(map(str, widths)), "task": task, "test_set": test_set, "method": method,
             "n_pairs": int(n_pairs), "test_pairs": int(test_pairs)}
    reps = np.asarray(repetitions)[curve.pop("sample").to_numpy()]
    curve = curve.drop(columns="method")
    for i, (column, value) in enumerate(ident.items()):
        curve.insert(i, column, value)
    curve.insert(len(ident), "repetition", reps)
    curve["seed"] = int(seed)
    curve["wall_time_s"] = wall / len(repetitions)
    return curve


def summarize_runs(curves: pd.DataFrame, n_boot: int = 2000, ci: float = 0.95) -> pd.DataFrame:
    """Training curves → one row per run (:data:`RUN_COLUMNS`, and ``name`` if present) at its
    last step: ``final_train_fidelity``, ``final_test_fidelity``, ``train_gain_last_tenth`` and
    ``test_gain_last_tenth`` (fidelity gained over the last tenth of the steps: ≈ 0 once
    converged); per group (the same columns but ``repetition``) ``n_runs`` and the mean of the
    final test and train fidelities with bootstrap CIs (``test_fidelity_mean``, ``…_lo``,
    ``…_hi``; NaN CIs for a single run); ``optimal_test_fidelity`` (:func:`optimal_test_fidelity`
    for the run's ``test_set`` and ``test_pairs``, for task ``unitary``; NaN otherwise); the
    curves' other columns (settings, provenance) follow.  Curves without a ``test_set`` column
    (written before it existed) had disjoint test sets."""
    missing = [c for c in (*RUN_COLUMNS, "step", "train_fidelity", "test_fidelity") if c not in curves.columns]
    if missing:
        raise ValueError(f"the training curves lack column(s) {', '.join(missing)}")
    if "test_set" not in curves.columns:
        curves = curves.assign(test_set="disjoint")
    run = (["name"] if "name" in curves.columns else []) + list(RUN_COLUMNS)
    group = [c for c in run if c != "repetition"]
    curves = curves.sort_values([*run, "step"])
    last = curves.groupby(run, sort=True).tail(1).set_index(run)
    steps = last["step"]
    earlier = curves[curves["step"] == curves.groupby(run)["step"].transform("max") * 9 // 10].set_index(run)
    rows = last.rename(columns={"train_fidelity": "final_train_fidelity", "test_fidelity": "final_test_fidelity",
                                "step": "steps"})
    for which in ("train", "test"):
        gain = last[f"{which}_fidelity"] - earlier[f"{which}_fidelity"].reindex(steps.index)
        rows[f"{which}_gain_last_tenth"] = gain
    rows = rows.reset_index()
    summary = []
    for key, part in rows.groupby(group, sort=True):
        entry = dict(zip(group, key))
        entry["n_runs"] = len(part)
        for which in ("test", "train"):
            entry.update(_mean_ci(part[f"final_{which}_fidelity"].to_numpy(), which, n_boot, ci, key))
        summary.append(entry)
    out = rows.merge(pd.DataFrame(summary), on=group, how="left")
    dims = 2 ** out["widths"].str.split("-").str[0].astype(int)
    test_pairs = out["test_pairs"] if "test_pairs" in out.columns else [None] * len(out)
    out["optimal_test_fidelity"] = [optimal_test_fidelity(n, d, kind, m) if task == "unitary" else np.nan
                                    for n, d, task, kind, m in zip(out["n_pairs"], dims, out["task"], out["test_set"],
                                                                   test_pairs)]
    out["ci"] = ci
    front = [*run, "steps", "final_train_fidelity", "final_test_fidelity", "train_gain_last_tenth",
             "test_gain_last_tenth", "n_runs", "test_fidelity_mean", "test_fidelity_lo", "test_fidelity_hi",
             "train_fidelity_mean", "train_fidelity_lo", "train_fidelity_hi", "optimal_test_fidelity", "ci"]
    return out[front + [c for c in out.columns if c not in front]]


def _mean_ci(values: np.ndarray, which: str, n_boot: int, ci: float, key) -> dict:
    """Mean and bootstrap CI (BCa where defined) of one group's final fidelities."""
    mean = float(np.mean(values))
    if values.size < 2:
        return {f"{which}_fidelity_mean": mean, f"{which}_fidelity_lo": np.nan, f"{which}_fidelity_hi": np.nan}
    if np.ptp(values) == 0:  # every run the same: the bootstrap has nothing to resample
        return {f"{which}_fidelity_mean": mean, f"{which}_fidelity_lo": mean, f"{which}_fidelity_hi": mean}
    # scipy takes a second to import: summaries need it, training jobs do not
    from qnnscope import stats

    seed = sampling.stable_seed(_SEED_TAG, "bootstrap", which, list(map(str, key)))
    res = stats.summarize(values, n_boot=n_boot, ci=ci, seed=seed)
    return {f"{which}_fidelity_mean": mean, f"{which}_fidelity_lo": res["mean_lo"],
            f"{which}_fidelity_hi": res["mean_hi"]}
