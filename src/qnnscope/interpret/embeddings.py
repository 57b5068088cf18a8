"""Layer-wise representations of a hybrid model: activations, their t-SNE and UMAP, the whitening matrix.

The hackathon study of Mari et al.'s dressed circuit (Huh, Kim and Kim, Qiskit Hackathon Korea
2021) looked at how classes separate layer by layer, through every stage of the ResNet-18
backbone to the quantum layer's input φ and output z, and at the quantum-layer activations'
manifold (UMAP) and whitening matrix (how correlated the qubits' ⟨Z⟩ are).  Where its
definitions differ from the defaults here, an option gives them: ``stages`` in
:func:`layer_activations`, ``centred=False`` and ``exponent`` in :func:`whitening`, :func:`umap`.
scikit-learn and umap-learn are imported by the functions that use them.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import Tensor, nn

from qnnscope.interpret.cam import model_input

STAGES = ("pool", "flatten")


def backbone_stages(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The backbone's stages, named by their module path: every child of the module that holds
    ``layer1`` … ``layer4`` (a torchvision-style ResNet: conv1, bn1, relu, maxpool, layer1…layer4,
    …), else every child of ``model.features``."""
    for name, module in model.named_modules():
        if all(hasattr(module, f"layer{k}") for k in range(1, 5)):
            return [(f"{name}.{child}" if name else child, m) for child, m in module.named_children()]
    features = getattr(model, "features", None)
    if isinstance(features, nn.Module):
        return [(f"features.{child}", m) for child, m in features.named_children()]
    raise ValueError(f"{type(model).__name__} has no backbone stages: neither modules layer1…layer4 (a ResNet) "
                     "nor a features module")


@torch.no_grad()
def layer_activations(model: nn.Module, x: Tensor, *, stages: str | None = None) -> dict[str, Tensor]:
    """Named layer outputs, input to logits, each (B, features).

    Quantum models: ``input`` (flattened x), ``cnn`` (spatially pooled CNN activations),
    ``quantum_in`` (encoding angles φ), ``quantum_out`` (⟨Z_q⟩), ``logits``.  The classical twin
    has ``hidden_in`` and ``hidden_out`` (its tanh layer's input and output) in place of the
    quantum layer's.

    ``stages`` adds, after ``input``, the output of every backbone stage that runs
    (:func:`backbone_stages`, named like ``features.3`` or ``layer2``): spatially averaged per
    channel (``pool``, as ``cnn`` is) or flattened whole (``flatten``, as the hackathon fed its
    backbone slices to t-SNE).
    """
    if stages is not None and stages not in STAGES:
        raise ValueError(f"unknown stages {stages!r}; allowed: None, {', '.join(STAGES)}")
    x = model_input(model, x)
    captured: dict[str, Tensor] = {}

    def keep(name):
        def hook(module, inputs, output):
            pooled = output.dim() > 2 and stages == "pool"
            captured[name] = output.mean(tuple(range(2, output.dim()))) if pooled else output.flatten(1)
        return hook

    handles = [m.register_forward_hook(keep(name)) for name, m in backbone_stages(model)] if stages else []
    try:
        activations = model.activations(x)
    finally:
        for handle in handles:
            handle.remove()
    phi = model.angles(activations)
    z = model.middle(phi)
    middle = ("hidden_in", "hidden_out") if model.kind == "classical" else ("quantum_in", "quantum_out")
    return {"input": x.flatten(1), **captured, "cnn": activations.mean((2, 3)), middle[0]: phi, middle[1]: z,
            "logits": model.readout(z)}


def _matrix(features: Tensor | ArrayLike) -> np.ndarray:
    """Features (n, ...) as a float64 (n, d) array."""
    return np.asarray(features, dtype=np.float64).reshape(len(features), -1)


def tsne(features: Tensor | ArrayLike, seed: int, perplexity: float = 30.0) -> np.ndarray:
    """2-d t-SNE embedding (n, 2) of features (n, ...), PCA-initialised and seeded, so reproducible.

    The perplexity is capped at (n − 1) / 3: t-SNE calibrates each point on its 3·perplexity
    nearest neighbours, which must exist.
    """
    from sklearn.manifold import TSNE

    data = _matrix(features)
    capped = min(perplexity, (len(data) - 1) / 3)
    return TSNE(n_components=2, perplexity=capped, init="pca", random_state=seed).fit_transform(data)


def umap(features: Tensor | ArrayLike, seed: int, n_neighbors: int = 20, min_dist: float = 0.01,
         metric: str = "cosine") -> np.ndarray:
    """2-d UMAP embedding (n, 2) of features (n, ...) (McInnes et al. 2018), seeded and single-threaded,
    so reproducible on one machine.

    The defaults are those of the activation atlas (Carter et al. 2019) whose recipe, UMAP and
    whitening, the hackathon followed; ``n_neighbors`` is capped at n − 1.
    """
    import umap as umap_learn

    _cache_kernels("umap", "pynndescent")
    data = _matrix(features)
    reducer = umap_learn.UMAP(n_components=2, n_neighbors=min(n_neighbors, len(data) - 1), min_dist=min_dist,
                              metric=metric, random_state=seed, n_jobs=1)
    return reducer.fit_transform(data)


def _cache_kernels(*packages: str) -> None:
    """Give every numba kernel of the imported ``packages`` an on-disk cache: umap-learn and
    pynndescent leave most of theirs uncached, so each process would compile them again (about
    40 s on one core).  Where no cache location is writable a kernel compiles per process as before."""
    import sys

    from numba.core.dispatcher import Dispatcher

    for name, module in list(sys.modules.items()):
        if module is not None and name.split(".")[0] in packages:
            for kernel in [v for v in vars(module).values() if isinstance(v, Dispatcher)]:
                try:
                    kernel.enable_caching()
                except RuntimeError:  # numba: no locator available for the file
                    pass


def whitening(activations: Tensor | ArrayLike, eps: float = 1e-12, *, centred: bool = True,
              exponent: float = -0.5) -> tuple[np.ndarray, np.ndarray]:
    """ZCA whitening: W = M^{−1/2} (symmetric) and the mean μ, so (a − μ) W has identity second moment.

    Centred (the default), M = Σ is the sample covariance (ddof = 1) and μ the mean.  With
    ``centred=False``, M = AᵀA / N, the uncentred second moment, and μ = 0: the activation atlas's
    (Carter et al. 2019) and the hackathon's choice, for activations whose offset from zero
    carries meaning (⟨Z⟩ = 0 is the maximally mixed qubit).  Those sources show inv(AᵀA / N)
    itself, M^{−1} = W²: ``exponent=-1`` returns it in place of W.

    M is inverted through its eigendecomposition with each eigenvalue raised by ``eps`` × the
    largest: directions of (numerically) zero variance stay finite instead of blowing up, at a
    relative error of eps·λ_max/λ in the whitened second moments.
    """
    data = _matrix(activations)
    if centred:
        mean, moment = data.mean(0), np.cov(data, rowvar=False, ddof=1).reshape(data.shape[1], -1)
    else:
        mean, moment = np.zeros(data.shape[1]), data.T @ data / len(data)
    values, vectors = np.linalg.eigh(moment)
    scale = (1.0 / np.sqrt(np.clip(values, 0.0, None) + eps * values.max())) ** (-2 * exponent)
    return (vectors * scale) @ vectors.T, mean
