"""Haar unitaries have the moments and eigenvalue statistics of the CUE, and three
wrong constructions do not; log_unitary inverts exp(iK); Pauli expansions match
Kronecker products."""

import itertools
import math

import numpy as np
import pytest
import torch

from qnnscope import haar

SIGMA = 5.0
"""A statistic passes within 5 sample standard errors of its CUE value."""

SAMPLES = 20_000
SPACINGS = (0.1, 0.5, 1.0)


# --- reference values -----------------------------------------------------------------


def cue_spacing_cdf(t: float, dim: int, nodes: int = 40) -> float:
    """P(nearest-neighbour spacing < t) for CUE(dim), spacings in units of 2π/dim.

    Exact: the probability E(θ) that an arc of length θ holds no eigenphase is the
    Fredholm determinant of the CUE kernel sin(dim·x/2) / (2π sin(x/2)) on [0, θ]
    (Gauss–Legendre, Bornemann 2010), and P(spacing < θ) = 1 + E'(θ)/ρ, ρ = dim/2π.
    """

    def gap(theta: float) -> float:
        x, w = np.polynomial.legendre.leggauss(nodes)
        x, w = (x + 1) * theta / 2, w * theta / 2
        dx = x[:, None] - x[None, :]
        same = np.abs(dx) < 1e-300
        safe = np.where(same, 1.0, dx)
        kern = np.where(
            same,
            dim / (2 * math.pi),
            np.sin(dim * safe / 2) / (2 * math.pi * np.sin(safe / 2)),
        )
        sw = np.sqrt(w)
        return float(np.linalg.det(np.eye(nodes) - sw[:, None] * kern * sw[None, :]))

    theta, rho = 2 * math.pi * t / dim, dim / (2 * math.pi)
    h = 1e-5 * theta
    return 1 + (gap(theta + h) - gap(theta - h)) / (2 * h) / rho


def test_cue_spacing_reference_matches_the_closed_form_at_dim_2():
    # Two CUE eigenphases at distance Δ have density sin²(Δ/2)/π on [0, 2π]; s = Δ/π.
    for t in SPACINGS:
        a = math.pi * t
        assert cue_spacing_cdf(t, 2) == pytest.approx(
            (a - math.sin(a)) / (2 * math.pi), abs=1e-8
        )


# --- the statistics and the constructions they judge ----------------------------------


def _z(values: torch.Tensor, expected: float) -> float:
    """|sample mean − expected| in sample standard errors, the worst over real and
    imaginary parts and over any trailing axes (values: (samples, ...))."""
    values = torch.view_as_real(values) if values.is_complex() else values[..., None]
    target = torch.zeros(values.shape[1:], dtype=values.dtype)
    target[..., 0] = expected
    err = (values.mean(0) - target).abs()
    se = values.std(0) / math.sqrt(values.shape[0])
    z = torch.where(
        se > 0, err / se.clamp_min(1e-300), torch.where(err > 1e-12, math.inf, 0.0)
    )
    return z.max().item()


def statistics(u: torch.Tensor) -> dict[str, float]:
    """Each CUE property of ``u`` (samples, d, d) as a z-score against its CUE value."""
    d = u.shape[-1]
    tr = torch.diagonal(u, dim1=-2, dim2=-1).sum(-1)
    out = {
        "E|Tr U|^2 = 1": _z(tr.abs() ** 2, 1.0),
        "E(Tr U)^2 = 0": _z(tr**2, 0.0),
        "E U_ij = 0": _z(u, 0.0),
        "E|U_ij|^2 = 1/d": _z(u.abs() ** 2, 1.0 / d),
    }
    # E Tr U^m = d × the m-th Fourier coefficient of the eigenphase density (flat: 0).
    powers = torch.stack([torch.linalg.matrix_power(u, m) for m in (1, 2, 3)], 1)
    out["eigenphases flat: E Tr U^m = 0, m=1..3"] = _z(
        torch.diagonal(powers, dim1=-2, dim2=-1).sum(-1), 0.0
    )
    phases = torch.sort(torch.angle(torch.linalg.eigvals(u)), dim=-1).values
    gaps = torch.cat(
        [phases.diff(dim=-1), phases[:, :1] + 2 * math.pi - phases[:, -1:]], -1
    )
    spacing = gaps * d / (2 * math.pi)
    for t in SPACINGS:
        # per-matrix fractions are independent samples; their mean is the CDF at t
        out[f"P(s < {t}) = CUE"] = _z(
            (spacing < t).double().mean(-1), cue_spacing_cdf(t, d)
        )
    return out


def _real_gaussian(samples: int, d: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(samples, d, d, dtype=torch.float64, generator=gen)


def orthogonalised_real_gaussian(samples: int, d: int, seed: int) -> torch.Tensor:
    """The naive construction: Q of a real Gaussian, cast to complex."""
    q, _ = torch.linalg.qr(_real_gaussian(samples, d, seed))
    return q.to(torch.complex128)


def haar_orthogonal(samples: int, d: int, seed: int) -> torch.Tensor:
    """Q of a real Gaussian with R's signs fixed: Haar on O(d), still not on U(d)."""
    q, r = torch.linalg.qr(_real_gaussian(samples, d, seed))
    return (q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)).to(
        torch.complex128
    )


def complex_qr_without_phase_fix(samples: int, d: int, seed: int) -> torch.Tensor:
    """Q of a complex Ginibre matrix as LAPACK returns it (real diagonal of R)."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(samples, d, d, 2, dtype=torch.float64, generator=gen)
    q, _ = torch.linalg.qr(torch.view_as_complex(z) / math.sqrt(2))
    return q


WRONG = {
    # name: (construction, statistics it must fail at d = 4 and d = 8)
    "orthogonalised real Gaussian": (
        orthogonalised_real_gaussian,
        {
            "E|Tr U|^2 = 1",
            "E(Tr U)^2 = 0",
            "E U_ij = 0",
            "eigenphases flat: E Tr U^m = 0, m=1..3",
        },
    ),
    "Haar on O(d)": (
        haar_orthogonal,
        {
            "E(Tr U)^2 = 0",
            "eigenphases flat: E Tr U^m = 0, m=1..3",
            "P(s < 0.1) = CUE",
            "P(s < 0.5) = CUE",
            "P(s < 1.0) = CUE",
        },
    ),
    "complex QR without phase fix": (
        complex_qr_without_phase_fix,
        {
            "E|Tr U|^2 = 1",
            "E(Tr U)^2 = 0",
            "E U_ij = 0",
            "eigenphases flat: E Tr U^m = 0, m=1..3",
            "P(s < 0.5) = CUE",
            "P(s < 1.0) = CUE",
        },
    ),
}


# --- Haar unitaries -------------------------------------------------------------------


@pytest.mark.parametrize("d", [2, 4, 8])
def test_haar_unitaries_have_every_cue_statistic(d):
    u = haar.unitaries(SAMPLES, d, seed=100 + d)
    assert u.shape == (SAMPLES, d, d) and u.dtype == torch.complex128
    eye = torch.eye(d, dtype=u.dtype)
    assert torch.allclose(u.mH @ u, eye.expand_as(u), atol=1e-12)
    stats = statistics(u)
    assert all(z < SIGMA for z in stats.values()), stats


@pytest.mark.parametrize("d", [4, 8])
@pytest.mark.parametrize("name", list(WRONG))
def test_wrong_constructions_fail_the_same_statistics(name, d):
    build, must_fail = WRONG[name]
    u = build(SAMPLES, d, 200 + d)
    assert torch.allclose(
        u.mH @ u, torch.eye(d, dtype=u.dtype).expand_as(u), atol=1e-12
    )
    stats = statistics(u)
    failed = {k for k, z in stats.items() if z > SIGMA}
    assert must_fail <= failed, stats


def test_cue_spacings_repel_unlike_poisson():
    u = haar.unitaries(4000, 16, seed=7)
    phases = torch.sort(torch.angle(torch.linalg.eigvals(u)), dim=-1).values
    gaps = torch.cat(
        [phases.diff(dim=-1), phases[:, :1] + 2 * math.pi - phases[:, -1:]], -1
    )
    small = (gaps * 16 / (2 * math.pi) < 0.1).double().mean().item()
    cue, poisson = cue_spacing_cdf(0.1, 16), 1 - math.exp(-0.1)
    assert cue == pytest.approx(1.08e-3, rel=0.01)  # Wigner surmise: 1.07e-3
    assert small == pytest.approx(cue, rel=0.3)
    assert small < poisson / 30


# --- Haar states ----------------------------------------------------------------------


@pytest.mark.parametrize("d", [2, 8])
def test_haar_states_have_the_haar_moments(d):
    psi = haar.states(SAMPLES, d, seed=11)
    assert psi.shape == (SAMPLES, d)
    assert torch.allclose(
        torch.linalg.vector_norm(psi, dim=-1), torch.ones(SAMPLES, dtype=torch.float64)
    )
    p = psi.abs() ** 2
    assert _z(p, 1 / d) < SIGMA
    assert _z(p**2, 2 / (d * (d + 1))) < SIGMA  # E|ψ_i|⁴ of a Haar state
    assert (
        _z(psi**2, 0.0) < SIGMA
    )  # phases uniform: a real state would give E ψ_i² = 1/d


# --- seeds, dtypes, devices, blocks ---------------------------------------------------


def test_same_seed_gives_identical_tensors_and_different_seeds_differ():
    a, b, c = (
        haar.unitaries(50, 4, 3),
        haar.unitaries(50, 4, 3),
        haar.unitaries(50, 4, 4),
    )
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert torch.equal(haar.unitaries(50, 4, torch.Generator().manual_seed(3)), a)
    s, t = haar.states(50, 4, 3), haar.states(50, 4, 3)
    assert torch.equal(s, t) and not torch.allclose(s, haar.states(50, 4, 4))


def test_complex64_is_the_rounded_complex128_draw():
    u64 = haar.unitaries(20, 8, 5, dtype=torch.complex64)
    assert u64.dtype == torch.complex64
    assert torch.allclose(u64.to(torch.complex128), haar.unitaries(20, 8, 5), atol=1e-5)


def test_blocks_keep_each_matrix_haar_and_unitary(monkeypatch):
    monkeypatch.setattr(haar, "_BLOCK_ELEMENTS", 3 * 16)  # 3 matrices per QR call
    u = haar.unitaries(10, 4, 9)
    assert torch.allclose(
        u.mH @ u, torch.eye(4, dtype=u.dtype).expand_as(u), atol=1e-12
    )
    assert len({m.abs().sum().item() for m in u}) == 10


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_gives_the_cpu_numbers():
    cpu = haar.unitaries(100, 8, 12)
    gpu = haar.unitaries(100, 8, 12, device="cuda")
    assert gpu.device.type == "cuda"
    assert torch.allclose(gpu.cpu(), cpu, atol=1e-12)
    assert torch.equal(
        haar.states(100, 8, 12, device="cuda").cpu(), haar.states(100, 8, 12)
    )


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="complex"):
        haar.unitaries(2, 2, 0, dtype=torch.float64)
    with pytest.raises(ValueError, match="samples"):
        haar.states(0, 2, 0)
    with pytest.raises(TypeError, match="seed"):
        haar.unitaries(2, 2, 1.5)


# --- log_unitary ----------------------------------------------------------------------


def _check_log(u: torch.Tensor, atol: float = 1e-10) -> torch.Tensor:
    k = haar.log_unitary(u)
    assert torch.equal(k, k.mH)
    assert torch.allclose(torch.linalg.matrix_exp(1j * k), u, atol=atol, rtol=0)
    phases = torch.linalg.eigvalsh(k)
    assert (phases > -math.pi).all() and (phases <= math.pi + 1e-7).all()
    return k


@pytest.mark.parametrize("d", [1, 2, 8, 32, 128])
def test_log_unitary_inverts_exp_on_haar_unitaries(d):
    _check_log(haar.unitaries(4 if d == 128 else 50, d, seed=d))


def test_log_unitary_is_the_principal_log():
    # exp(iH) for Hermitian H with spectrum in (−π, π) has the unique principal log H.
    h = haar.unitaries(20, 8, 1)
    spectrum = (
        torch.rand(
            20, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64
        )
        * 2
        - 1
    ) * 3.1
    h = (h * spectrum.to(h.dtype).unsqueeze(-2)) @ h.mH
    assert torch.allclose(_check_log(torch.linalg.matrix_exp(1j * h)), h, atol=1e-10)


def test_log_unitary_of_pauli_strings_handles_degenerate_minus_one():
    # P² = 1 with eigenvalues ±1, each 2^(n−1)-fold: P = exp(iπ(1 − P)/2).
    paulis = _pauli_basis(3)
    k = _check_log(paulis)
    assert torch.allclose(
        k, math.pi * (torch.eye(8, dtype=k.dtype) - paulis) / 2, atol=1e-12
    )


@pytest.mark.parametrize(
    "phases",
    [
        [0.3, 0.3, 0.3, -1.2, -1.2, 2.0, 2.0, 2.0],  # exact degeneracies
        [0.3, 0.3 + 1e-9, 0.3 + 2e-13, 1.0, 1.0 + 1e-12, -2.0, -2.0, 0.0],  # near ones
        [
            math.pi,
            math.pi - 1e-14,
            -math.pi + 1e-14,
            -math.pi + 1e-9,
            0.0,
            1.0,
            1.0,
            -1.0,
        ],
        [math.pi] * 8,  # −1
        [0.3, -0.3, 1.0, -1.0, 2.5, -2.5, 0.0, math.pi],  # equal cos θ: Re u is blind
    ],
)
def test_log_unitary_of_degenerate_and_clustered_spectra(phases):
    w = haar.unitaries(10, 8, 3)
    diag = torch.exp(1j * torch.tensor(phases, dtype=torch.float64))
    u = (w * diag.unsqueeze(-2)) @ w.mH
    k = _check_log(u)
    # the spectrum of K is the phases, with −π read as +π
    expected = torch.tensor(phases, dtype=torch.float64)
    expected = torch.where(expected < -math.pi + 1e-7, expected + 2 * math.pi, expected)
    assert torch.allclose(
        torch.linalg.eigvalsh(k), expected.sort().values.expand(10, 8), atol=1e-10
    )


@pytest.mark.parametrize("phase", [2.0, math.pi])
def test_log_unitary_stays_accurate_on_a_large_degenerate_eigenspace(phase):
    # 120 of 128 eigenvalues equal to rounding: eig's basis of that eigenspace has
    # condition ~1e6 and V·diag·V⁻¹ loses 1e-11 (1 at −1); the eigh basis keeps 1e-14.
    w = haar.unitaries(4, 128, seed=8)
    gen = torch.Generator().manual_seed(9)
    phases = phase + 1e-15 * torch.randn(128, dtype=torch.float64, generator=gen)
    phases[120:] = torch.linspace(-2.5, 1.5, 8, dtype=torch.float64)
    u = (w * torch.exp(1j * phases).unsqueeze(-2)) @ w.mH
    k = _check_log(u, atol=1e-12)
    expected = torch.where(phases < -math.pi + 1e-7, phases + 2 * math.pi, phases)
    assert torch.allclose(
        torch.linalg.eigvalsh(k), expected.sort().values.expand(4, 128), atol=1e-12
    )


def test_log_unitary_of_permutations_and_identity():
    perm = torch.eye(6, dtype=torch.complex128)[[1, 2, 0, 4, 3, 5]]
    _check_log(
        torch.stack(
            [
                perm,
                torch.eye(6, dtype=torch.complex128),
                -torch.eye(6, dtype=torch.complex128),
            ]
        )
    )


# --- Pauli expansions -----------------------------------------------------------------


def _pauli_basis(n: int) -> torch.Tensor:
    """All n-qubit Pauli strings by explicit Kronecker products, (4^n, 2^n, 2^n)."""
    single = [
        torch.tensor(m, dtype=torch.complex128)
        for m in (
            [[1, 0], [0, 1]],
            [[0, 1], [1, 0]],
            [[0, -1j], [1j, 0]],
            [[1, 0], [0, -1]],
        )
    ]
    out = []
    for word in itertools.product(range(4), repeat=n):
        p = torch.ones(1, 1, dtype=torch.complex128)
        for letter in word:
            p = torch.kron(p, single[letter])
        out.append(p)
    return torch.stack(out)


def _random_matrices(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.view_as_complex(
        torch.randn(*shape, 2, dtype=torch.float64, generator=gen)
    )


@pytest.mark.parametrize("n", [1, 2, 3])
def test_pauli_coefficients_match_the_kronecker_construction(n):
    d, basis = 2**n, _pauli_basis(n)
    k = _random_matrices((3, 2, d, d), seed=n)  # non-Hermitian, two leading axes
    expected = torch.einsum("pij,abji->abp", basis, k) / d
    c = haar.pauli_coefficients(k, n)
    assert c.shape == (3, 2, 4**n)
    assert torch.allclose(c, expected, atol=1e-12)
    assert torch.allclose(haar.from_pauli_coefficients(c, n), k, atol=1e-12)
    coeffs = _random_matrices((5, 4**n), seed=10 + n)
    assert torch.allclose(
        haar.from_pauli_coefficients(coeffs, n),
        torch.einsum("bp,pij->bij", coeffs, basis),
        atol=1e-12,
    )


def test_pauli_order_is_lexicographic_with_qubit_0_most_significant():
    x = torch.tensor([[0, 1], [1, 0]], dtype=torch.complex128)
    z = torch.tensor([[1, 0], [0, -1]], dtype=torch.complex128)
    c = haar.pauli_coefficients(torch.kron(x, z), 2)  # "XZ" = 1·4 + 3
    assert torch.allclose(c, torch.eye(16, dtype=c.dtype)[7])
    assert torch.allclose(
        haar.pauli_coefficients(torch.eye(4, dtype=c.dtype), 2),
        torch.eye(16, dtype=c.dtype)[0],
    )


def test_pauli_round_trip_at_seven_qubits():
    k = haar.log_unitary(haar.unitaries(2, 128, seed=4))
    c = haar.pauli_coefficients(k, 7)
    assert c.shape == (2, 4**7)
    assert c.imag.abs().max() < 1e-12  # Hermitian K has real coefficients
    # Parseval: Σ_P |c_P|² = ‖K‖_F² / 2^n
    assert torch.allclose(
        (c.abs() ** 2).sum(-1), torch.linalg.matrix_norm(k) ** 2 / 128
    )
    assert torch.allclose(haar.from_pauli_coefficients(c.real, 7), k, atol=1e-12)


def test_pauli_expansions_are_differentiable():
    k = _random_matrices((2, 4, 4), seed=5).requires_grad_()
    assert torch.autograd.gradcheck(lambda m: haar.pauli_coefficients(m, 2), (k,))
    c = _random_matrices((2, 16), seed=6).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: haar.from_pauli_coefficients(v, 2), (c,))


def test_pauli_shapes_are_checked():
    with pytest.raises(ValueError, match="3 qubits"):
        haar.pauli_coefficients(torch.eye(4, dtype=torch.complex128), 3)
    with pytest.raises(ValueError, match="2 qubits"):
        haar.from_pauli_coefficients(torch.zeros(15), 2)
