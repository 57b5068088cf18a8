"""Training data and training rules for dissipative QNNs.

- :func:`training_pairs`: (input, target) pure states: a Haar-random unitary's action on Haar
  states (Beer et al.'s task), identity learning, product states through a product of single-qubit
  Haar unitaries (targets whose marginals give the local cost), or |0…0⟩ → |0…0⟩.
- :func:`beer_step` / :func:`train_beer`: Beer et al. (2020)'s layer-wise rule.  With forward
  states ρ^{l−1}_x and backward-propagated targets σ^l_x (the adjoint channels applied to
  |φ^out_x⟩⟨φ^out_x|), every perceptron is updated at once as U^l_j ← exp(iεK^l_j) U^l_j with

      K^l_j = η (2^{m_{l−1}} i / N) Σ_x tr_rest [ U^l_j⋯U^l_1 (ρ^{l−1}_x ⊗ |0…0⟩⟨0…0|) U^l_1†⋯U^l_j† ,
                                              U^l_{j+1}†⋯U^l_{m_l}† (1 ⊗ σ^l_x) U^l_{m_l}⋯U^l_{j+1} ],

  the trace running over the qubits of layers l−1 and l that U^l_j does not act on.  It raises
  the mean fidelity (1/N) Σ_x ⟨φ^out_x|ρ^out_x|φ^out_x⟩.  The rule acts on the perceptron
  unitaries themselves, so it needs the ``general`` family.
- :func:`train_gradient`: any torch optimizer on the parameters of any family, same cost.

Both return a training curve (one row per step: train and test fidelity) for Parquet.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from qnnscope import haar, sampling
from qnnscope.models.dqnn import DQNN, _add_zero, _apply, _trace_out, global_cost, propagate, run

TASKS = ("unitary", "identity", "product", "zero")


def product_factors(task: str, widths: tuple[int, ...], n_pairs: int, seed: int, target_seed: int | None = None,
                    dtype=torch.complex128) -> tuple[torch.Tensor, torch.Tensor]:
    """The single-qubit factors (N, m, 2) of the inputs and targets of a product task (``zero``
    or ``product``): :func:`training_pairs` are their tensor products."""
    m_in, m_out = widths[0], widths[-1]
    target_seed = seed if target_seed is None else target_seed
    if task == "zero":
        zero = torch.zeros(n_pairs, 1, 2, dtype=dtype)
        zero[..., 0] = 1
        return zero.expand(-1, m_in, -1).clone(), zero.expand(-1, m_out, -1).clone()
    if task != "product":
        raise ValueError(f"task: {task!r} has entangled states; product factors exist for zero and product")
    if m_in != m_out:
        raise ValueError(f"task: 'product' maps m_0 = {m_in} qubits to m_L = {m_out}; it needs equal widths")
    qubits = torch.stack([haar.states(n_pairs, 2, sampling.stable_seed(seed, "in", j), dtype=dtype) for j in range(m_in)], 1)
    gates = torch.stack([haar.unitaries(1, 2, sampling.stable_seed(target_seed, "gate", j), dtype=dtype)[0] for j in range(m_in)])
    return qubits, torch.einsum("jab,njb->nja", gates, qubits)


def _kron_rows(factors: torch.Tensor) -> torch.Tensor:
    """(N, m, 2) factors → (N, 2^m) product states, qubit 0 most significant."""
    out = factors[:, 0]
    for j in range(1, factors.shape[1]):
        out = torch.einsum("ni,nj->nij", out, factors[:, j]).reshape(factors.shape[0], -1)
    return out


def training_pairs(task: str, widths: tuple[int, ...], n_pairs: int, seed: int, target_seed: int | None = None,
                   dtype=torch.complex128) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_pairs`` (inputs (N, 2^m_0), targets (N, 2^m_L)) for ``task``.  The unitary to learn
    depends on ``target_seed`` (default: ``seed``), the input states on ``seed``, so training and
    test sets of one task share the unitary."""
    m_in, m_out = widths[0], widths[-1]
    target_seed = seed if target_seed is None else target_seed
    if task not in TASKS:
        raise ValueError(f"task: unknown task {task!r}; allowed: {', '.join(TASKS)}")
    if task != "zero" and m_in != m_out:
        raise ValueError(f"task: {task!r} maps m_0 = {m_in} qubits to m_L = {m_out}; it needs equal widths")
    if task in ("zero", "product"):
        return tuple(_kron_rows(f) for f in product_factors(task, widths, n_pairs, seed, target_seed, dtype))
    inputs = haar.states(n_pairs, 2**m_in, sampling.stable_seed(seed, "in"), dtype=dtype)
    if task == "identity":
        return inputs, inputs.clone()
    v = haar.unitaries(1, 2**m_in, sampling.stable_seed(target_seed, "unitary"), dtype=dtype)[0]
    return inputs, inputs @ v.T


def mean_fidelity(net: DQNN, mats, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """(1/N) Σ_x ⟨φ^out_x|ρ^out_x|φ^out_x⟩ for one network given by its perceptron unitaries."""
    return float(propagate(net, mats, inputs).fidelity(targets).mean())


def _embedded(net: DQNN, mats) -> list[list[torch.Tensor]]:
    """Each perceptron's unitary on its layer's register (m_{l−1} inputs, then m_l outputs)."""
    out = []
    for l, row in enumerate(net.layers, start=1):
        m_in, k = net.widths[l - 1], net.widths[l - 1] + net.widths[l]
        eye = torch.eye(2**k, dtype=mats[0][0].dtype).unsqueeze(0)
        out.append([_apply(eye, mats[l - 1][j][:1], list(p.inputs) + [m_in + j], k)[0] for j, p in enumerate(row)])
    return out


def beer_step(net: DQNN, mats, inputs: torch.Tensor, targets: torch.Tensor, eta: float = 1.0, eps: float = 0.1):
    """One update of every perceptron by Beer et al.'s rule; ``mats`` as from
    :meth:`DQNN.unitaries` for one sample.  Returns the new unitaries."""
    if net.family != "general":
        raise ValueError(f"family: Beer et al.'s update acts on arbitrary perceptron unitaries; got {net.family!r}, needs 'general'")
    full = _embedded(net, mats)
    n = inputs.shape[0]
    rho = torch.einsum("ni,nj->nij", inputs, inputs.conj())
    forward = []  # ρ^{l−1} ⊗ |0…0⟩⟨0…0| per layer
    for l in range(1, len(net.widths)):
        x = rho
        for _ in range(net.widths[l]):
            x = _add_zero(x, True)
        forward.append(x)
        for u in full[l - 1]:
            x = u @ x @ u.conj().T
        rho = _trace_out(x, list(range(net.widths[l - 1])), net.widths[l - 1] + net.widths[l])
    sigma = torch.einsum("ni,nj->nij", targets, targets.conj())
    new = [list(row) for row in mats]
    for l in range(len(net.widths) - 1, 0, -1):
        m_in, m_out = net.widths[l - 1], net.widths[l]
        k = m_in + m_out
        row = full[l - 1]
        b = torch.einsum("ab,nij->naibj", torch.eye(2**m_in, dtype=sigma.dtype), sigma).reshape(n, 2**k, 2**k)
        backs = [b]  # B_m = 1 ⊗ σ, B_{j−1} = U_j† B_j U_j
        for u in reversed(row):
            backs.append(u.conj().T @ backs[-1] @ u)
        backs.reverse()  # backs[j] = U_{j+1}†⋯U_m† (1 ⊗ σ) U_m⋯U_{j+1}; backs[0] = U^l† (1 ⊗ σ) U^l
        a = forward[l - 1]
        for j, p in enumerate(net.layers[l - 1]):
            a = row[j] @ a @ row[j].conj().T
            m = a @ backs[j + 1] - backs[j + 1] @ a
            keep = list(p.inputs) + [m_in + j]
            rest = [q for q in range(k) if q not in keep]
            kmat = (eta * 2**m_in * 1j / n) * _trace_out(m, rest, k).sum(0)
            kmat = (kmat + kmat.conj().T) / 2  # Hermitian up to rounding
            new[l - 1][j] = torch.linalg.matrix_exp(1j * eps * kmat).unsqueeze(0) @ mats[l - 1][j]
        # σ^{l−1} = tr_l[(1 ⊗ |0…0⟩⟨0…0|) U^l† (1 ⊗ σ^l) U^l]: the block with every output bit 0
        sigma = backs[0].reshape(n, 2**m_in, 2**m_out, 2**m_in, 2**m_out)[:, :, 0, :, 0]
    return new


def _curve(method: str, step: int, train: float, test: float | None) -> dict:
    return {"method": method, "step": step, "train_fidelity": train, "test_fidelity": np.nan if test is None else test}


def train_beer(net: DQNN, mats, train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor] | None = None,
               steps: int = 100, eta: float = 1.0, eps: float = 0.1):
    """``steps`` rounds of :func:`beer_step`; returns the unitaries and the training curve."""
    rows = []
    for step in range(steps + 1):
        if step:
            mats = beer_step(net, mats, *train, eta=eta, eps=eps)
        rows.append(_curve("beer", step, mean_fidelity(net, mats, *train), None if test is None else mean_fidelity(net, mats, *test)))
    return mats, pd.DataFrame(rows)


def train_gradient(net: DQNN, theta: torch.Tensor, train: tuple[torch.Tensor, torch.Tensor],
                   test: tuple[torch.Tensor, torch.Tensor] | None = None, steps: int = 100,
                   optimizer: str = "Adam", lr: float = 0.05):
    """``steps`` steps of a torch optimizer (by name: Adam, SGD, …) on 1 − mean fidelity."""
    if not hasattr(torch.optim, optimizer):
        raise ValueError(f"optimizer: torch.optim has no {optimizer!r}")
    theta = torch.as_tensor(theta, dtype=torch.float64).reshape(1, -1).clone().requires_grad_(True)
    opt = getattr(torch.optim, optimizer)([theta], lr=lr)
    inputs, targets = train
    rows = []
    for step in range(steps + 1):
        with torch.no_grad():
            test_f = None if test is None else float(run(net, theta, test[0]).fidelity(test[1]).mean())
        opt.zero_grad()
        loss = global_cost(run(net, theta, inputs), targets, per_sample=inputs.shape[0])[0]
        rows.append(_curve(f"gradient:{optimizer}", step, 1 - float(loss.detach()), test_f))
        if step < steps:
            loss.backward()
            opt.step()
    return theta.detach(), pd.DataFrame(rows)
