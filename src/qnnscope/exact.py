"""Exact gradient variances of the barren-plateau literature, where they are known.

Two models have closed forms:

* ``rx_product`` (Cerezo et al. 2021's warm-up model), V = ⊗_j RX(θ_{l,j}) stacked over L
  layers on |0…0⟩.  All RX gates on a wire commute, so wire j sees one rotation by
  φ_j = Σ_l θ_{l,j}, and ∂C/∂θ_{l,k} = ∂C/∂φ_k for *every* layer l: with
  p_j = cos²(φ_j/2) the probability of 0 on wire j,

      global  C_G = 1 − Π_j p_j,            ∂C_G/∂φ_k = ½ sin φ_k Π_{j≠k} cos²(φ_j/2),
      local   C_L = 1 − (1/n) Σ_j p_j,      ∂C_L/∂φ_k = sin φ_k / (2n).

  The φ_j are independent, and both costs are symmetric under permuting wires, so the variance
  is the same for every parameter index; it depends on the angle law only through the
  characteristic function c_m = E[e^{imφ}] = χ(m)^L at m = 1, 2, where χ(m) = E[e^{imθ}] of one
  angle.  For θ uniform on any interval of length 2π, χ(m) = 0 (m ≠ 0), so φ mod 2π is uniform
  at every depth (the sum of a uniform angle and any independent angle is uniform mod 2π) and
  the variance is (1/8)(3/8)^(n−1) (global) or 1/(8n²) (local) for every index and depth.  The
  same formula gives the other angle laws of :mod:`qnnscope.sampling`: ``uniform_half`` [0, π)
  (χ(2) = 0, χ(1) = 2i/π, so the local variance is again 1/(8n²) at even depth) and ``normal``
  (χ(m) = e^{−m²σ²/2}).  As L → ∞, χ(m)^L → 0 and every law reaches the uniform value.

* ``mcclean`` with cost ⟨Z_0 Z_1⟩ (``zz``), ∂/∂θ_{1,1} (slot 0), angles uniform: once the
  circuit after the first rotation is a unitary 2-design, Var = 2^n / (3(4^n − 1)) (McClean et
  al. 2018).  That is the depth → ∞ limit, not the value at finite depth: measured with
  50 000 draws (standard error 0.7 %), Var(L)/limit at L = 10n is 1.015, 1.038, 1.065, 1.085,
  1.116, 1.154 for n = 3…8 (still 15 % high at n = 8), at L = 15n within 2 %, and at L = 20n
  within the 0.7 % error for n = 2…8.  :func:`gradient_variance` therefore gives the limit
  only from depth ``MCCLEAN_SATURATION`` · n on.

Also here: Beer et al.'s generalisation bound for dissipative QNNs learning a Haar-random
unitary, :func:`optimal_test_fidelity` (the best mean test fidelity any learner reaches from N
training pairs).

Angles enter only through R_P(θ) = exp(−iθP/2), and expectation values are unchanged by
R → −R, so every expectation is 2π-periodic in each angle: ``uniform`` [0, 2π) and
``uniform_sym`` [−π, π) give the same gradient distribution.
"""

from __future__ import annotations

import cmath
import math

import numpy as np

from qnnscope.costs import make_cost

MCCLEAN_SATURATION = 20
"""Depth per qubit from which the McClean variance is within sampling error (< 1 %, n ≤ 8) of
its 2-design limit; at 10n it is still 4–15 % above it for n = 4…8."""
_FULL_PERIOD = ("uniform", "uniform_sym")
"""Angle laws uniform over a full period 2π."""
_ZZ = ((1.0, ((0, "Z"), (1, "Z"))),)


def two_design_variance(n: int) -> float:
    """Var[∂⟨Z_0Z_1⟩/∂θ_{1,1}] = 2^n / (3(4^n − 1)) when the rest of the circuit is a 2-design."""
    if n < 2:
        raise ValueError(f"⟨Z0Z1⟩ needs at least 2 qubits, got n = {n}")
    return 2.0**n / (3.0 * (4.0**n - 1.0))


def _angle_characteristic(init: str, m: int, sigma: float | None) -> complex | None:
    """χ(m) = E[e^{imθ}] of one angle drawn from ``init``, or None for a law without one here."""
    if init in _FULL_PERIOD:
        return 0j
    if init == "uniform_half":
        return (cmath.exp(1j * m * math.pi) - 1) / (1j * m * math.pi)
    if init == "normal":
        if sigma is None or not sigma > 0:
            raise ValueError(f"init 'normal' needs sigma > 0, got sigma={sigma!r}")
        return complex(math.exp(-(m**2) * sigma**2 / 2))
    return None


def _rx_product_variance(cost: str, n: int, c1: complex, c2: complex) -> float:
    """Var[∂C/∂φ_k] of ``rx_product`` from c_m = E[e^{imφ}] of the per-wire total angle φ."""
    sin_mean = c1.imag  # E[sin φ]
    sin2_mean = (1 - c2.real) / 2  # E[sin² φ]
    if cost == "local":
        return (sin2_mean - sin_mean**2) / (4 * n**2)
    cos2 = (1 + c1.real) / 2  # E[cos²(φ/2)]
    cos4 = 3 / 8 + c1.real / 2 + c2.real / 8  # E[cos⁴(φ/2)] = E[(1 + cos φ)²] / 4
    return sin2_mean * cos4 ** (n - 1) / 4 - (sin_mean * cos2 ** (n - 1)) ** 2 / 4


def _is_zz(cost: str, n_qubits: int) -> bool:
    """True when ``cost`` is the observable Z_0 Z_1 (``zz``, ``Z0Z1``, ``1.0*Z0Z1``, …)."""
    try:
        obs = make_cost(cost, n_qubits)
    except ValueError:
        return False
    return obs.terms == _ZZ and obs.constant == 0 and obs.projector_coeff == 0


def _clean_sigma(sigma: float | None) -> float | None:
    """Tables store a missing sigma as NaN."""
    return None if sigma is None or (isinstance(sigma, float) and math.isnan(sigma)) else float(sigma)


def gradient_variance(
    ansatz: str,
    cost: str,
    n_qubits: int,
    depth: int,
    init: str,
    param_index: int,
    identity_block: int = 0,
    sigma: float | None = None,
    model: str = "vqc",
    data: str = "",
) -> float | None:
    """Exact Var[∂C/∂θ[param_index]] of a sweep point, or None where no exact value is known.

    DQNNs (``model='dqnn'``): ``local1`` perceptrons (SWAP, then RY on the output) on
    ``data='zero'`` map |0…0⟩ to ⊗_j RY(Θ_j)|0⟩ with Θ_j the sum of chain j's angles, and the
    cost is that of ``rx_product`` with ``depth`` = layers (Sharma et al. 2022, Fig. 3a): the same
    values, slot for slot (perceptron slots are layer-major like ``rx_product``'s).

    Known: ``rx_product`` with ``global`` / ``local`` cost, any parameter and depth, init
    ``uniform``, ``uniform_sym``, ``uniform_half`` or ``normal`` (give ``sigma``); ``mcclean``
    with ``zz`` cost, slot 0, init ``uniform`` / ``uniform_sym`` and depth ≥
    ``MCCLEAN_SATURATION`` · n, where the 2-design limit holds to sampling precision.
    Identity blocks (``identity_block > 0``) have no exact value here.
    """
    if model == "dqnn":
        if ansatz != "local1" or data != "zero":
            return None
        ansatz = "rx_product"
    n, depth, param_index = int(n_qubits), int(depth), int(param_index)
    if n < 1 or depth < 1 or param_index < 0:
        raise ValueError(f"need n_qubits >= 1, depth >= 1, param_index >= 0; got {n}, {depth}, {param_index}")
    if int(identity_block) != 0:
        return None
    if ansatz == "rx_product":
        if param_index >= n * depth:
            raise ValueError(f"rx_product with {n} qubits and depth {depth} has slots 0..{n * depth - 1}, got {param_index}")
        name = cost.strip().lower()
        chi1, chi2 = (_angle_characteristic(init, m, _clean_sigma(sigma)) for m in (1, 2))
        if name not in ("global", "local") or chi1 is None:
            return None
        return _rx_product_variance(name, n, chi1**depth, chi2**depth)
    if ansatz == "mcclean" and depth >= MCCLEAN_SATURATION * n:
        return asymptote(ansatz, cost, n, param_index, init)
    return None


def asymptote(ansatz: str, cost: str, n_qubits: int, param_index: int, init: str) -> float | None:
    """The depth → ∞ limit of Var[∂C/∂θ[param_index]], or None where it is not known.

    ``mcclean`` / ``zz`` / slot 0 / full-period uniform angles: the 2-design value
    :func:`two_design_variance`.  ``rx_product`` / ``global`` or ``local``: the uniform-angle
    value, which every angle law of :func:`gradient_variance` approaches as χ(m)^L → 0.
    """
    n = int(n_qubits)
    if ansatz == "mcclean" and int(param_index) == 0 and init in _FULL_PERIOD and n >= 2 and _is_zz(cost, n):
        return two_design_variance(n)
    if ansatz == "rx_product" and cost.strip().lower() in ("global", "local") and init in _FULL_PERIOD + ("uniform_half", "normal"):
        return _rx_product_variance(cost.strip().lower(), n, 0j, 0j)
    return None


TEST_SETS = ("disjoint", "including_training")
"""Test sets: M fresh pairs, or M pairs whose first N are the training pairs (Beer et al.'s code)."""


def optimal_test_fidelity(n_pairs, dim: int, test_set: str = "disjoint", test_pairs: int | None = None):
    """Best achievable mean test fidelity for a Haar-random unitary V on ``dim`` dimensions
    learnt from ``n_pairs`` pure training pairs with Haar-random inputs, tested on Haar inputs
    (``test_set='disjoint'``):

        F*(N) = (N² + d + 1) / (d(d + 1))   for N < d,        F*(N) = 1   for N ≥ d.

    Derivation.  Let S = span{φ_1 … φ_N}, k = dim S = min(N, d).  The pairs are rays, but for
    generic (non-orthogonal) inputs the overlaps ⟨φ_x|φ_y⟩ = ⟨Vφ_x|Vφ_y⟩ fix the outputs' relative
    phases, so the data determine V on S up to a global phase, and nothing else.  Given V on S,
    the Haar measure leaves W = V restricted to S⊥ → (VS)⊥ Haar-random on U(d − k).  Write a test
    state φ = a + b (a ∈ S, b ∈ S⊥); averaging the target Vφ over W gives the linear map

        Π(φφ†) = V a a† V† + ‖b‖² P⊥/(d − k)          (P⊥: projector on (VS)⊥),

    without cross terms since E W = 0, also for d − k = 1 (W is then a uniform phase).  A trained
    learner is a channel Φ; its mean test fidelity E_φ tr[Φ(φφ†) Π(φφ†)] is linear in Φ, and
    E[φφ† ⊗ φφ†] = (1 + SWAP)/(d(d + 1)) turns it into (d + tr[J_Π J_Φ])/(d(d + 1)) with the
    Choi matrices J_Φ (tr_out J_Φ = 1) and J_Π = |Ω_S⟩⟨Ω_S| + P⊥ ⊗ P_{S⊥}ᵀ/(d − k),
    |Ω_S⟩ = Σ_{i∈S} |Vi⟩|i⟩.  As |Ω_S⟩⟨Ω_S| ≤ k (1 ⊗ P_S), tr[J_Π J_Φ] ≤ k·k + (d − k)/(d − k):

        F* ≤ (k² + d + 1)/(d(d + 1)),

    attained by the unitary equal to V on S and to any fixed unitary S⊥ → (VS)⊥: no channel
    beats "exact on the span, anything unitary on the rest".  For k = d the complement is empty
    and F* = 1.  N = d − 1 is not enough: the missing column is known up to a phase, but that
    phase is relative to the known part and matters for every superposition, so
    F*(d − 1) = (d² − d + 2)/(d(d + 1)) (0.806 for d = 8).  N = 0 gives the Haar average 1/d.

    This is the unentangled case of the quantum no-free-lunch theorem (Poland, Beer, Osborne,
    arXiv:2003.14103; Sharma et al., arXiv:2007.04900): mean risk ≥ 1 − (N² + d + 1)/(d(d + 1)).
    It lies below the naive line N/d + (1 − N/d)/d (the test state's weight in S learnt, the
    rest guessed), which no learner reaches on average for 0 < N < d.

    ``test_set='including_training'`` (Beer et al.'s code): the test set is M = ``test_pairs``
    Haar pairs and the learner trains on the first N of them, so the test fidelity is
    (1/M)[Σ_{x ≤ N} f_x + Σ_{x > N} f_x].  A training term is at most 1.  An unseen pair is a
    Haar state independent of the data, so given the data its expected term is the learner's
    mean fidelity on fresh states, at most F*(N) by the bound above (which holds for every data
    set, the average running over V's freedom on S⊥ and the test state).  Hence

        F*_incl(N) = (N · 1 + (M − N) · F*(N)) / M,

    and it is reached: the learner exact on S fits every training pair (φ_x ∈ S) with fidelity 1
    and reaches F*(N) on fresh states at once.  It is 1 from N = d, and above F*(N) for 0 < N < d
    by N(1 − F*(N))/M.  Beer et al.'s published Fig. 2a curve could not be checked against it
    here (the figure's data are not available offline).

    Works on arrays of N.
    """
    if dim < 1:
        raise ValueError(f"dim: must be >= 1, got {dim}")
    n = np.asarray(n_pairs)
    if np.any(n < 0):
        raise ValueError(f"n_pairs: must be >= 0, got {n_pairs}")
    if test_set not in TEST_SETS:
        raise ValueError(f"test_set: unknown test set {test_set!r}; allowed: {', '.join(TEST_SETS)}")
    k = np.minimum(n, dim).astype(float)
    value = np.where(n >= dim, 1.0, (k**2 + dim + 1) / (dim * (dim + 1)))
    if test_set == "including_training":
        if test_pairs is None or np.any(n > test_pairs):
            raise ValueError(f"test_pairs: test set 'including_training' holds the N training pairs, so it needs "
                             f"test_pairs >= N = {np.max(n)}; got {test_pairs}")
        value = (n + (test_pairs - n) * value) / test_pairs
    return float(value) if value.ndim == 0 else value
