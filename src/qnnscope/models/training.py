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

Both train S independent networks, each on its own pairs ((S, N, dim) inputs and targets), as one
batch: a step is a few dozen tensor operations on all S networks together, not S (or S·N)
Python-level ones, and network s ends where it would alone (to rounding).  Both return training
curves (one row per network and step: train and test fidelity).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from qnnscope import haar, sampling
from qnnscope.models.dqnn import DQNN, _apply, global_cost, propagate

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


def _per_network(data: torch.Tensor, samples: int, name: str) -> torch.Tensor:
    """Pure states (N, dim), shared by all ``samples`` networks, or (S, N, dim), one set per
    network → (S, N, dim)."""
    data = torch.as_tensor(data)
    if data.ndim == 2:
        return data.expand(samples, -1, -1)
    if data.ndim != 3 or data.shape[0] != samples:
        raise ValueError(f"{name}: expected (N, dim) states shared by all networks or ({samples}, N, dim), one set per "
                         f"network; got shape {tuple(data.shape)}")
    return data


def mean_fidelity(net: DQNN, mats, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(1/N) Σ_x ⟨φ^out_x|ρ^out_x|φ^out_x⟩ (S,) for S networks given by their perceptron unitaries
    (per layer, per perceptron, (S, d, d)); pairs as in :func:`beer_step`."""
    s = mats[0][0].shape[0]
    inputs, targets = _per_network(inputs, s, "inputs"), _per_network(targets, s, "targets")
    n = inputs.shape[1]
    f = propagate(net, mats, inputs.reshape(s * n, -1)).fidelity(targets.reshape(s * n, -1))
    return f.reshape(s, n).mean(1)


def _traced_product(x: torch.Tensor, w: torch.Tensor, keep: list[int], k: int) -> torch.Tensor:
    """tr_rest(X W†) (S, 2^q, 2^q) for factors (S, 2^k, M), tracing out the register positions not
    in ``keep`` (kept in their order) and summing over the M columns."""
    s, q = x.shape[0], len(keep)
    front = list(range(1, 1 + q))
    x, w = (torch.movedim(t.reshape(s, *([2] * k), -1), [1 + p for p in keep], front).reshape(s, 2**q, -1)
            for t in (x, w))
    return x @ w.mH


def _exp_i(k: torch.Tensor, eps: float) -> torch.Tensor:
    """exp(iεK) for Hermitian K (S, d, d) (its lower triangle), by eigendecomposition: unitary to
    rounding, and the same for a network whatever batch it is in (torch.linalg.matrix_exp picks
    the Taylor degree of a single matrix by its norm, but uses degree 18 for a batch, which differs
    by ~1e−12)."""
    lam, vec = torch.linalg.eigh(k)
    return (vec * torch.exp(1j * eps * lam).unsqueeze(-2)) @ vec.mH


def beer_step(net: DQNN, mats, inputs: torch.Tensor, targets: torch.Tensor, eta: float = 1.0, eps: float = 0.1):
    """One update of every perceptron of S independent networks by Beer et al.'s rule, as one batch.

    ``mats`` as from :meth:`DQNN.unitaries` (per layer, per perceptron, (S, d, d)); ``inputs`` and
    ``targets``: (S, N, dim), network s's N training pairs, or (N, dim) shared by all.  Network s
    gets exactly the update it would get alone.  Returns the new unitaries.

    No operator on a layer's whole register (2^k × 2^k, k = m_{l−1} + m_l) is formed.  In the
    rule's term tr_rest[A_j, B_j] (module docstring), the forward operator factors as
    A_j = U_j⋯U_1 (ρ ⊗ |0…0⟩⟨0…0|) U_1†⋯U_j† = X_j Y_j†, with the 2^k × 2^{m_{l−1}} matrices
    X_0 = ρ ⊗ |0…0⟩, Y_0 = 1 ⊗ |0…0⟩, X_j = U_j X_{j−1}, Y_j = U_j Y_{j−1}.  A_j and
    B_j = U_{j+1}† B_{j+1} U_{j+1} (B_m = 1 ⊗ σ) are Hermitian, so tr_rest[A_j, B_j] = C_j − C_j†
    with C_j = tr_rest(X_j W_j†), W_j = B_j Y_j; and as U_{j+1} Y_j = Y_{j+1}, W_j = U_{j+1}† W_{j+1}
    from W_m = (1 ⊗ σ) Y_m.  The sum over pairs is part of the product that gives C_j, and the
    previous layer's σ = tr_l[(1 ⊗ |0…0⟩⟨0…0|) U^l† (1 ⊗ σ) U^l] is Y_m† W_m, per pair."""
    if net.family != "general":
        raise ValueError(f"family: Beer et al.'s update acts on arbitrary perceptron unitaries; got {net.family!r}, needs 'general'")
    s = mats[0][0].shape[0]
    inputs, targets = _per_network(inputs, s, "inputs"), _per_network(targets, s, "targets")
    n = inputs.shape[1]
    rho = torch.einsum("sni,snj->snij", inputs, inputs.conj())
    xs, ys = [], []  # per layer and perceptron: X_j (S, 2^k, N·2^m_{l−1}), columns (pair, a); Y_j (S, 2^k, 2^m_{l−1})
    for l, row in enumerate(net.layers, start=1):
        d_in, d_out, k = 2 ** net.widths[l - 1], 2 ** net.widths[l], net.widths[l - 1] + net.widths[l]
        x = rho.new_zeros(s, d_in, d_out, n, d_in)
        x[:, :, 0] = rho.transpose(1, 2)  # X_0[(i, 0), (pair, a)] = ρ_pair[i, a]
        y = rho.new_zeros(s, d_in, d_out, d_in)
        y[:, :, 0] = torch.eye(d_in, dtype=rho.dtype)
        x, y = x.reshape(s, 2**k, n * d_in), y.reshape(s, 2**k, d_in)
        xs.append([])
        ys.append([])
        for j, p in enumerate(row):
            pos = list(p.inputs) + [net.widths[l - 1] + j]
            x, y = _apply(x, mats[l - 1][j], pos, k), _apply(y, mats[l - 1][j], pos, k)
            xs[-1].append(x)
            ys[-1].append(y)
        # ρ^l = tr_{l−1}(X Y†) per pair
        rho = torch.einsum("sioxa,sipa->sxop", x.reshape(s, d_in, d_out, n, d_in),
                           y.reshape(s, d_in, d_out, d_in).conj())
    sigma = torch.einsum("sni,snj->snij", targets, targets.conj())
    new = [list(row) for row in mats]
    for l in range(len(net.widths) - 1, 0, -1):
        m_in, d_in, d_out = net.widths[l - 1], 2 ** net.widths[l - 1], 2 ** net.widths[l]
        k = m_in + net.widths[l]
        y = ys[l - 1][-1]
        w = torch.einsum("sxop,sipa->sioxa", sigma, y.reshape(s, d_in, d_out, d_in)).reshape(s, 2**k, n * d_in)
        previous = (y.mH @ w).reshape(s, d_in, n, d_in).transpose(1, 2)  # σ^{l−1} = Y_m† (1 ⊗ σ^l) Y_m per pair
        for j in reversed(range(len(net.layers[l - 1]))):
            keep = list(net.layers[l - 1][j].inputs) + [m_in + j]
            c = _traced_product(xs[l - 1][j], w, keep, k)
            new[l - 1][j] = _exp_i((eta * 2**m_in * 1j / n) * (c - c.mH), eps) @ mats[l - 1][j]
            w = _apply(w, mats[l - 1][j].mH, keep, k)
        sigma = previous
    return new


def _curves(method: str, train: list[torch.Tensor], test: list[torch.Tensor] | None) -> pd.DataFrame:
    """Per-step fidelities (a list over steps of (S,) tensors) → one row per (network, step)."""
    fids = torch.stack(train).T.numpy()  # (S, steps + 1)
    s, count = fids.shape
    tests = np.full_like(fids, np.nan) if test is None else torch.stack(test).T.numpy()
    return pd.DataFrame({"method": method, "sample": np.repeat(np.arange(s), count),
                         "step": np.tile(np.arange(count), s), "train_fidelity": fids.reshape(-1),
                         "test_fidelity": tests.reshape(-1)})


def train_beer(net: DQNN, mats, train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor] | None = None,
               steps: int = 100, eta: float = 1.0, eps: float = 0.1):
    """``steps`` rounds of :func:`beer_step` on S networks at once (pairs as there); returns the
    unitaries and the training curves (``sample`` s = 0 … S − 1, ``step``, fidelities)."""
    train_f, test_f = [], None if test is None else []
    for step in range(steps + 1):
        if step:
            mats = beer_step(net, mats, *train, eta=eta, eps=eps)
        train_f.append(mean_fidelity(net, mats, *train))
        if test is not None:
            test_f.append(mean_fidelity(net, mats, *test))
    return mats, _curves("beer", train_f, test_f)


def train_gradient(net: DQNN, theta: torch.Tensor, train: tuple[torch.Tensor, torch.Tensor],
                   test: tuple[torch.Tensor, torch.Tensor] | None = None, steps: int = 100,
                   optimizer: str = "Adam", lr: float = 0.05):
    """``steps`` steps of a torch optimizer (by name: Adam, SGD, …) on 1 − mean fidelity of S
    networks at once: ``theta`` (S, n_params), pairs as in :func:`beer_step`.  The S losses are
    summed, and each network's parameters are a tensor of their own, so every optimizer that
    treats its parameter tensors separately (all of torch.optim but LBFGS) moves network s
    exactly as it would alone.  Returns the parameters (S, n_params) and the training curves."""
    if not hasattr(torch.optim, optimizer):
        raise ValueError(f"optimizer: torch.optim has no {optimizer!r}")
    theta = torch.as_tensor(theta, dtype=torch.float64).reshape(-1, net.n_params)
    params = [t.clone().requires_grad_(True) for t in theta]
    opt = getattr(torch.optim, optimizer)(params, lr=lr)
    s = len(params)
    inputs, targets = (_per_network(x, s, name) for x, name in zip(train, ("inputs", "targets")))
    n = inputs.shape[1]
    inputs, targets = inputs.reshape(s * n, -1), targets.reshape(s * n, -1)
    train_f, test_f = [], None if test is None else []
    for step in range(steps + 1):
        opt.zero_grad()
        mats = net.unitaries(torch.stack(params))
        if test is not None:
            with torch.no_grad():
                test_f.append(mean_fidelity(net, [[u.detach() for u in row] for row in mats], *test))
        losses = global_cost(propagate(net, mats, inputs), targets, per_sample=n)
        train_f.append(1 - losses.detach())
        if step < steps:
            losses.sum().backward()
            opt.step()
    return torch.stack(params).detach(), _curves(f"gradient:{optimizer}", train_f, test_f)
