"""Layer-wise representations of a hybrid model: activations, their t-SNE, the whitening matrix.

The hackathon study of Mari et al.'s dressed circuit looked at how classes separate layer by
layer, the quantum layer's input φ and output z included, and at the whitening matrix of the
quantum-layer activations (how correlated the qubits' ⟨Z⟩ are).
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import ArrayLike
from sklearn.manifold import TSNE
from torch import Tensor, nn

from qnnscope.interpret.cam import model_input


@torch.no_grad()
def layer_activations(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
    """Named layer outputs, input to logits, each (B, features).

    Quantum models: ``input`` (flattened x), ``cnn`` (spatially pooled CNN activations),
    ``quantum_in`` (encoding angles φ), ``quantum_out`` (⟨Z_q⟩), ``logits``.  The classical twin
    has ``hidden_in`` and ``hidden_out`` (its tanh layer's input and output) in place of the
    quantum layer's.
    """
    x = model_input(model, x)
    activations = model.activations(x)
    phi = model.angles(activations)
    z = model.middle(phi)
    middle = ("hidden_in", "hidden_out") if model.kind == "classical" else ("quantum_in", "quantum_out")
    return {"input": x.flatten(1), "cnn": activations.mean((2, 3)), middle[0]: phi, middle[1]: z,
            "logits": model.readout(z)}


def tsne(features: Tensor | ArrayLike, seed: int, perplexity: float = 30.0) -> np.ndarray:
    """2-d t-SNE embedding (n, 2) of features (n, ...), PCA-initialised and seeded, so reproducible.

    The perplexity is capped at (n − 1) / 3: t-SNE calibrates each point on its 3·perplexity
    nearest neighbours, which must exist.
    """
    data = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    capped = min(perplexity, (len(data) - 1) / 3)
    return TSNE(n_components=2, perplexity=capped, init="pca", random_state=seed).fit_transform(data)


def whitening(activations: Tensor | ArrayLike, eps: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
    """ZCA whitening: W = Σ^{−1/2} (symmetric) and the mean μ, so (a − μ) W has identity covariance.

    Σ is the sample covariance (ddof = 1), inverted through its eigendecomposition with each
    eigenvalue raised by ``eps`` × the largest: directions of (numerically) zero variance stay
    finite instead of blowing up, at a relative error of eps·λ_max/λ in the whitened variances.
    """
    data = np.asarray(activations, dtype=np.float64).reshape(len(activations), -1)
    mean = data.mean(0)
    values, vectors = np.linalg.eigh(np.cov(data, rowvar=False, ddof=1).reshape(data.shape[1], -1))
    scale = 1.0 / np.sqrt(np.clip(values, 0.0, None) + eps * values.max())
    return (vectors * scale) @ vectors.T, mean
