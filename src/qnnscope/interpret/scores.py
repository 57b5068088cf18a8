"""The class score s^c whose gradient Grad-CAM, QGrad-CAM and saliency maps follow.

- ``logit`` (the default, as in Selvaraju et al. 2017): the class logit y^c.
- ``probability``: p_c = softmax(y)_c.  Its gradient is the softmax Jacobian applied to the
  logits' gradients, ∂p_c = p_c (∂y^c − Σ_k p_k ∂y^k), so it mixes in every other class and
  vanishes as p_c → 1 (why Grad-CAM uses the logit).
- ``expectation``: the quantum layer's output feeding class c.  Lin et al. (arXiv:2408.05899)
  weight the activation maps by ∂f^ℓ/∂A with f^ℓ the VQC's expectation value for class ℓ; here
  the circuit's ⟨Z_q⟩ reach the classes through a Linear readout y = W z + b, so the class's
  expectation value is that of the observable O_c = Σ_q W_cq Z_q:
  ⟨O_c⟩ = Σ_q W_cq ⟨Z_q⟩ = y^c − b_c (not the single ⟨Z_q⟩ of largest weight, which ignores the
  other qubits the class reads).  The bias is constant, so its gradients and therefore its maps
  equal the logit's exactly; only the score's value differs.

The score of a batch is Σ_b s^{target_b}_b: one scalar whose gradient holds every sample's own
class-score gradient (the samples do not interact in eval mode).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

SCORES = ("logit", "probability", "expectation")


def check_score(score: str) -> None:
    if score not in SCORES:
        raise ValueError(f"unknown class score {score!r}; allowed: {', '.join(SCORES)}")


def readout_offset(model: nn.Module) -> Tensor:
    """b = readout(0) (C,): the readout's constant term, its bias for a Linear readout, detached."""
    if getattr(model, "kind", "classical") == "classical" or not hasattr(model, "quantum"):
        raise ValueError("score 'expectation' needs a quantum model (the class's ⟨O_c⟩ = Σ_q W_cq ⟨Z_q⟩); "
                         f"got {type(model).__name__} of kind {getattr(model, 'kind', None)!r}")
    param = next(model.parameters())
    zero = torch.zeros(1, model.quantum.n_qubits, dtype=param.dtype, device=param.device)
    with torch.no_grad():
        return model.readout(zero)[0]


def class_score(logits: Tensor, target: Tensor, score: str = "logit", *, model: nn.Module | None = None) -> Tensor:
    """Σ_b s^{target_b}_b for the ``score`` of :data:`SCORES`; ``model`` (a quantum model) for ``expectation``."""
    check_score(score)
    if score == "probability":
        logits = torch.softmax(logits, 1)
    elif score == "expectation":
        if model is None:
            raise ValueError("score 'expectation' needs the model, for its readout's bias")
        logits = logits - readout_offset(model).to(logits)
    return logits.gather(1, target[:, None]).sum()
