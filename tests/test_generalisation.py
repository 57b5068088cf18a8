"""DQNN generalisation (Beer et al. 2020, Fig. 2a): the optimal test fidelity, training runs, seeds,
and the `dqnn_training` workflow end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from qnnscope import haar
from qnnscope.generalisation import (
    experiment_seeds,
    optimal_test_fidelity,
    run_block,
    run_experiment,
    summarize_runs,
)
from qnnscope.models.training import training_pairs

ROOT = Path(__file__).resolve().parents[1]


def learner_from_pairs(inputs: torch.Tensor, outputs: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """The unitary a learner builds from pairs it sees only as rays: the outputs' unknown phases
    fixed by the overlaps with the first pair, V on the span of the inputs, and an arbitrary
    unitary from the rest of the space onto the rest of the image."""
    x, y = inputs.T, outputs.T  # (d, N)
    d, n = x.shape
    if n > 1:
        phase = (x[:, 0].conj() @ x) / (y[:, 0].conj() @ y)
        y = y * (phase / phase.abs())
    k = min(n, d)
    filler = haar.states(d, d, gen).T
    span, _ = torch.linalg.qr(torch.cat([x, filler], 1))
    image = (y @ torch.linalg.pinv(x)) @ span[:, :k]
    rest, _ = torch.linalg.qr(torch.cat([image, haar.states(d, d, gen).T], 1))
    return image @ span[:, :k].mH + rest[:, k:] @ span[:, k:].mH


def learner_fidelity(dim: int, n_pairs: int, trials: int, seed: int,
                     test_pairs: int | None = None) -> tuple[float, float]:
    """Monte Carlo mean (and standard error) of the test fidelity of :func:`learner_from_pairs`
    over Haar-random unitaries, training inputs and test inputs: 4 fresh test states, or
    (``test_pairs`` = M) M Haar pairs whose first N are the training pairs."""
    gen = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(trials):
        v = haar.unitaries(1, dim, gen)[0]
        phi = haar.states(4 if test_pairs is None else test_pairs, dim, gen)
        x = haar.states(n_pairs, dim, gen) if test_pairs is None else phi[:n_pairs]
        rays = (x @ v.T) * torch.exp(2j * torch.pi * torch.rand(n_pairs, 1, generator=gen, dtype=torch.float64))
        u = learner_from_pairs(x, rays, gen)
        values.append(float(((phi @ v.T).conj() * (phi @ u.T)).sum(1).abs().square().mean()))
    values = np.asarray(values)
    return values.mean(), values.std(ddof=1) / np.sqrt(trials)


def test_optimal_test_fidelity_closed_form():
    for d in (2, 4, 8):
        assert optimal_test_fidelity(0, d) == pytest.approx(1 / d)  # nothing learnt: the Haar average
        assert optimal_test_fidelity(d, d) == 1.0 and optimal_test_fidelity(d + 3, d) == 1.0
        assert optimal_test_fidelity(d - 1, d) == pytest.approx((d * d - d + 2) / (d * (d + 1)))  # a phase is missing
    assert optimal_test_fidelity(7, 8) == pytest.approx(58 / 72)
    curve = optimal_test_fidelity(np.arange(9), 8)
    assert np.all(np.diff(curve) > 0)
    naive = np.arange(9) / 8 + (1 - np.arange(9) / 8) / 8  # test weight in the span learnt, rest guessed
    assert np.all(curve[1:8] < naive[1:8])
    with pytest.raises(ValueError, match="n_pairs"):
        optimal_test_fidelity(-1, 4)


@pytest.mark.parametrize("dim, n_pairs", [(4, 1), (4, 2), (4, 3), (4, 4), (8, 1), (8, 4), (8, 7), (8, 9)])
def test_optimal_test_fidelity_matches_the_learner_exact_on_the_span(dim, n_pairs):
    mean, se = learner_fidelity(dim, n_pairs, trials=1500, seed=dim * 100 + n_pairs)
    expected = optimal_test_fidelity(n_pairs, dim)
    if n_pairs >= dim:
        assert mean == pytest.approx(1.0, abs=1e-9)
    else:
        assert abs(mean - expected) < 4 * se, (mean, se, expected)


def test_optimal_test_fidelity_when_the_test_set_includes_the_training_pairs():
    for d in (4, 8):
        fresh = optimal_test_fidelity(np.arange(11), d)
        including = optimal_test_fidelity(np.arange(11), d, "including_training", 10)
        assert including == pytest.approx((np.arange(11) + (10 - np.arange(11)) * fresh) / 10)
        assert np.all(including[1:d] > fresh[1:d]) and np.all(including[d:] == 1.0)
    assert optimal_test_fidelity(10, 8, "including_training", 10) == 1.0
    assert optimal_test_fidelity(3, 8, "including_training", 3) == 1.0  # every test pair was trained on
    with pytest.raises(ValueError, match="test_pairs"):
        optimal_test_fidelity(5, 8, "including_training", 4)
    with pytest.raises(ValueError, match="test_set"):
        optimal_test_fidelity(5, 8, "overlapping", 10)


@pytest.mark.parametrize("dim, n_pairs", [(4, 1), (4, 3), (8, 2), (8, 5), (8, 7)])
def test_optimal_test_fidelity_including_training_matches_the_learner_exact_on_the_span(dim, n_pairs):
    mean, se = learner_fidelity(dim, n_pairs, trials=1500, seed=dim * 1000 + n_pairs, test_pairs=10)
    expected = optimal_test_fidelity(n_pairs, dim, "including_training", 10)
    assert abs(mean - expected) < 4 * se, (mean, se, expected)


def test_seeds_share_the_unitary_and_test_set_within_a_repetition():
    a = experiment_seeds(1, (3, 3, 3), "unitary", 2, repetition=0)
    b = experiment_seeds(1, (3, 3, 3), "unitary", 5, repetition=0)
    c = experiment_seeds(1, (3, 3, 3), "unitary", 2, repetition=1)
    assert a["target"] == b["target"] and a["test"] == b["test"] and a["init"] == b["init"]
    assert a["train"] != b["train"] and len(set(a.values())) == 4
    assert all(a[k] != c[k] for k in a)
    # the same V maps the training inputs of N = 2 and of N = 5
    x2, y2 = training_pairs("unitary", (3, 3), 2, seed=a["train"], target_seed=a["target"])
    x5, y5 = training_pairs("unitary", (3, 3), 5, seed=b["train"], target_seed=b["target"])
    xt, yt = training_pairs("unitary", (3, 3), 10, seed=a["test"], target_seed=a["target"])
    v = torch.linalg.lstsq(xt, yt).solution.T  # 10 ≥ 8 test pairs fix V
    assert torch.allclose(x2 @ v.T, y2, atol=1e-8) and torch.allclose(x5 @ v.T, y5, atol=1e-8)
    assert not torch.allclose(x2, xt[:2])  # training and test inputs differ


def test_a_short_run_raises_the_test_fidelity():
    curve = run_experiment((2, 2), "unitary", 4, 10, 0, "beer", steps=40, eta=1.0, eps=0.1, seed=3)
    assert len(curve) == 41 and list(curve["step"]) == list(range(41))
    identity = {"widths", "task", "method", "n_pairs", "test_pairs", "repetition"}
    assert identity | {"train_fidelity", "test_fidelity"} <= set(curve)
    assert (curve["widths"] == "2-2").all() and (curve["method"] == "beer").all()
    assert curve["test_fidelity"].iloc[-1] > curve["test_fidelity"].iloc[0] + 0.3
    adam = run_experiment((2, 2), "unitary", 4, 10, 0, "gradient:Adam", steps=40, lr=0.05, seed=3)
    assert adam["test_fidelity"].iloc[0] == pytest.approx(curve["test_fidelity"].iloc[0], abs=1e-12)  # same start
    with pytest.raises(ValueError, match="method"):
        run_experiment((2, 2), "unitary", 1, 1, 0, "gradient:Nesterov", steps=1)


@pytest.mark.parametrize("method, test_set", [("beer", "disjoint"), ("gradient:Adam", "disjoint"),
                                             ("beer", "including_training")])
def test_a_block_trains_its_repetitions_together_as_each_alone(method, test_set):
    block = run_block((3, 3, 3), "unitary", 3, 5, 3, method, steps=12, eta=0.667, seed=4, test_set=test_set)
    assert list(block["repetition"].unique()) == [0, 1, 2] and (block["test_set"] == test_set).all()
    for rep in range(3):
        alone = run_experiment((3, 3, 3), "unitary", 3, 5, rep, method, steps=12, eta=0.667, seed=4, test_set=test_set)
        mine = block[block["repetition"] == rep]
        assert list(mine["step"]) == list(alone["step"])
        for column in ("train_fidelity", "test_fidelity"):
            assert mine[column].to_numpy() == pytest.approx(alone[column].to_numpy(), abs=1e-12, rel=0)


def test_including_training_trains_on_the_first_test_pairs():
    both = run_experiment((2, 2), "unitary", 5, 5, 0, "beer", steps=10, seed=3, test_set="including_training")
    assert both["test_fidelity"].to_numpy() == pytest.approx(both["train_fidelity"].to_numpy(), abs=1e-14)
    part = run_experiment((2, 2), "unitary", 2, 5, 0, "beer", steps=10, seed=3, test_set="including_training")
    assert part["test_fidelity"].iloc[0] == pytest.approx(both["test_fidelity"].iloc[0], abs=1e-14)  # same test set
    with pytest.raises(ValueError, match="n_pairs"):
        run_experiment((2, 2), "unitary", 6, 5, 0, "beer", steps=1, test_set="including_training")
    with pytest.raises(ValueError, match="test_set"):
        run_experiment((2, 2), "unitary", 2, 5, 0, "beer", steps=1, test_set="overlapping")


def test_summary_gives_final_values_and_group_means():
    curves = []
    for rep in range(3):
        for n in (1, 2):
            steps = np.arange(11)
            curves.append(pd.DataFrame({"widths": "2-2", "task": "unitary", "method": "beer", "n_pairs": n,
                                        "repetition": rep, "step": steps, "train_fidelity": 0.5 + steps / 20,
                                        "test_fidelity": 0.1 * n + 0.01 * rep + steps / 1000}))
    table = summarize_runs(pd.concat(curves), n_boot=500, ci=0.9)
    assert len(table) == 6
    row = table[(table["n_pairs"] == 2) & (table["repetition"] == 1)].iloc[0]
    assert row["final_test_fidelity"] == pytest.approx(0.2 + 0.01 + 0.01)
    assert row["test_fidelity_mean"] == pytest.approx(0.2 + 0.01 + 0.01)  # reps 0, 1, 2 average to rep 1
    assert row["test_fidelity_lo"] < row["test_fidelity_mean"] < row["test_fidelity_hi"]
    assert row["train_gain_last_tenth"] == pytest.approx(0.05) and row["n_runs"] == 3
    assert row["optimal_test_fidelity"] == pytest.approx(optimal_test_fidelity(2, 4))
    assert (table["test_set"] == "disjoint").all()  # curves from before the option: fresh test pairs
    including = summarize_runs(pd.concat(curves).assign(test_set="including_training", test_pairs=10), n_boot=500)
    expected = optimal_test_fidelity(2, 4, "including_training", 10)
    assert including["optimal_test_fidelity"].iloc[-1] == pytest.approx(expected)


def test_workflow_runs_a_tiny_experiment(tmp_path):
    config = {"seed": 2, "bootstrap": 200, "gradients": [],
              "dqnn_training": [{"name": "tiny", "widths": [2, 2], "pairs": [1, 4], "repetitions": 2, "steps": 30,
                                 "test_pairs": 5, "methods": ["beer", "gradient:Adam"]},
                                {"name": "authors", "widths": [2, 2], "pairs": [1, 4], "repetitions": 2, "steps": 30,
                                 "test_pairs": 5, "test_set": "including_training"}]}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
           "--configfile", str(tmp_path / "config.yaml"), "--cores", "2"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    shards = sorted(p.relative_to(tmp_path / "results/dqnn_training").as_posix()
                    for p in (tmp_path / "results/dqnn_training").rglob("*.parquet"))
    assert shards == ["authors/method~beer/pairs~1.parquet", "authors/method~beer/pairs~4.parquet"] + [
        f"tiny/method~{m}/pairs~{n}.parquet" for m in ("beer", "gradient-Adam") for n in (1, 4)]
    everything = pd.read_parquet(tmp_path / "results/tables/dqnn_training.parquet")
    authors, table = everything[everything["name"] == "authors"], everything[everything["name"] == "tiny"]
    assert len(table) == 2 * 2 * 2  # methods × N × repetitions
    assert (table["test_set"] == "disjoint").all() and (authors["test_set"] == "including_training").all()
    assert authors["optimal_test_fidelity"].to_numpy() == pytest.approx(
        optimal_test_fidelity(authors["n_pairs"].to_numpy(), 4, "including_training", 5))
    for column in ("name", "widths", "task", "method", "n_pairs", "repetition", "final_test_fidelity",
                   "final_train_fidelity", "test_fidelity_mean", "test_fidelity_lo", "test_fidelity_hi",
                   "optimal_test_fidelity", "qnnscope_version", "wall_time_s"):
        assert column in table.columns, column
    assert set(table["method"]) == {"beer", "gradient:Adam"} and (table["steps"] == 30).all()
    assert (table["test_fidelity_lo"] <= table["test_fidelity_mean"]).all()
    for name in ("tiny", "authors"):
        figure = tmp_path / f"results/figures/dqnn/{name}/test_fidelity_vs_pairs"
        assert figure.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert figure.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"
    logs = tmp_path / "results/logs"
    assert (logs / "dqnn_training/tiny/method~gradient-Adam/pairs~4.log").is_file()
    more = yaml.safe_load(yaml.safe_dump(config))
    more["dqnn_training"][0]["pairs"].append(2)
    more["dqnn_training"][0]["lr"] = 0.1  # reruns gradient jobs only
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(more))
    dry = subprocess.run([*cmd, "-n", "--quiet", "rules"], capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    rows = [line.split() for line in dry.stdout.splitlines()]
    counts = {row[0]: int(row[1]) for row in rows if len(row) == 2 and row[1].isdigit()}
    counts.pop("total", None)
    assert counts == {"dqnn_training": 2 + 2, "dqnn_training_table": 1, "table_html": 1, "figure_dqnn_test_fidelity": 2,
                      "all": 1}


@pytest.mark.parametrize("change, message", [
    ({"test_set": "overlapping"}, "test_set"),
    ({"test_set": "including_training", "pairs": [2, 6]}, "dqnn_training[0].pairs"),
], ids=["unknown-test-set", "more-pairs-than-the-test-set"])
def test_malformed_test_sets_are_rejected_before_any_job_runs(tmp_path, change, message):
    block = {"name": "bad", "widths": [2, 2], "pairs": [1, 2], "test_pairs": 5, **change}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"gradients": [], "dqnn_training": [block]}))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
           "--configfile", str(tmp_path / "config.yaml"), "--cores", "1", "-n"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and message in done.stdout + done.stderr, done.stdout + done.stderr
    assert not (tmp_path / "results").exists()
