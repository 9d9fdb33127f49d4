"""Hermite polynomials, Hermite tensors and Stein's lemma against closed forms (Chapter 4)."""

from __future__ import annotations

import math

import pytest
import torch

from beyondlazy import hermite as hm
from beyondlazy import targets as tg
from testkit import DEVICES, TOL


@pytest.mark.parametrize("device", DEVICES)
def test_recurrence_matches_the_explicit_polynomials(device):
    z = torch.linspace(-3, 3, 41, dtype=torch.float64, device=device)
    explicit = {
        0: torch.ones_like(z), 1: z, 2: z**2 - 1, 3: z**3 - 3 * z, 4: z**4 - 6 * z**2 + 3,
        5: z**5 - 10 * z**3 + 15 * z, 6: z**6 - 15 * z**4 + 45 * z**2 - 15,
    }
    for k, value in explicit.items():
        torch.testing.assert_close(hm.hermite(k, z), value, **TOL[torch.float64])


def test_normalized_hermite_polynomials_are_orthonormal_by_quadrature():
    z, w = hm.gauss_hermite(40)
    H = torch.stack([hm.normalized_hermite(k, z) for k in range(15)])
    gram = (H * w) @ H.T
    torch.testing.assert_close(gram, torch.eye(15, dtype=torch.float64), rtol=0, atol=1e-12)


def test_gauss_hermite_integrates_gaussian_moments_exactly():
    z, w = hm.gauss_hermite(10)
    for k in range(19):  # exact for degree < 20
        moment = 0.0 if k % 2 else float(math.prod(range(k - 1, 0, -2)))
        assert abs(float((w * z**k).sum()) - moment) <= 1e-9 * max(1.0, moment)


def test_half_line_moments_match_quadrature_on_the_half_line():
    import numpy as np

    nodes, weights = np.polynomial.legendre.leggauss(200)
    z = 6.0 * (nodes + 1)  # [0, 12]
    density = np.exp(-z**2 / 2) / math.sqrt(2 * math.pi)
    for k in range(8):
        assert abs(float((6.0 * weights * density * z**k).sum()) - hm.half_line_moment(k)) < 1e-10


@pytest.mark.parametrize("device", DEVICES)
def test_hermite_tensors_match_their_closed_forms(device):
    x = torch.randn(5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).to(device)
    eye = torch.eye(4, dtype=torch.float64, device=device)
    torch.testing.assert_close(hm.hermite_tensor(1, x), x)
    torch.testing.assert_close(hm.hermite_tensor(2, x), x[:, :, None] * x[:, None, :] - eye)
    s3 = (torch.einsum("ni,nj,nk->nijk", x, x, x) - torch.einsum("ni,jk->nijk", x, eye)
          - torch.einsum("nj,ik->nijk", x, eye) - torch.einsum("nk,ij->nijk", x, eye))
    torch.testing.assert_close(hm.hermite_tensor(3, x), s3, **TOL[torch.float64])
    # along one coordinate, S_t(x)_{11…1} is the 1-D polynomial He_t(x_1)
    for t in range(5):
        diag = hm.hermite_tensor(t, x)[(slice(None),) + (0,) * t]
        torch.testing.assert_close(diag, hm.hermite(t, x[:, 0]), **TOL[torch.float64])


def test_stein_identities_hold_exactly_by_quadrature_for_a_polynomial():
    # f(x) = g(x_1, x_2) on a tensor-product Gauss–Hermite grid: E[f S_t] = E[∇^t f] exactly.
    def f(v):
        return v[..., 0] ** 3 + v[..., 0] * v[..., 1] ** 2 + 2 * v[..., 1] + v[..., 0] ** 2 * v[..., 1]

    z, w = hm.gauss_hermite(6)
    grid = torch.cartesian_prod(z, z)
    weights = torch.outer(w, w).reshape(-1)
    values = f(grid)
    for t in (1, 2):
        lhs = torch.einsum("n,n...->...", weights * values, hm.hermite_tensor(t, grid))
        derivs = (torch.func.vmap(torch.func.grad(f)) if t == 1
                  else torch.func.vmap(torch.func.hessian(f)))(grid)
        rhs = torch.einsum("n,n...->...", weights, derivs)
        torch.testing.assert_close(lhs, rhs, **TOL[torch.float64])


def test_hermite_expansion_reproduces_a_quadratic_exactly():
    d = 3
    A = torch.tensor([[1.0, 0.5, 0.0], [0.5, -1.0, 0.2], [0.0, 0.2, 0.3]], dtype=torch.float64)
    b = torch.tensor([0.3, -0.2, 1.0], dtype=torch.float64)

    def f(v):
        return v @ A @ v + b @ v + 0.7

    # E f = tr A + 0.7, E∇f = b, E∇²f = 2A
    coefficients = [torch.tensor(float(torch.trace(A)) + 0.7, dtype=torch.float64), b, 2 * A]
    x = torch.randn(50, d, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(hm.hermite_expansion(coefficients, x), torch.vmap(f)(x),
                               **TOL[torch.float64])


def test_monte_carlo_stein_moments_agree_with_autograd_derivatives():
    target = tg.damian_target(4)
    x = tg.gaussian_inputs(200_000, 4, seed=0)
    estimate, se = hm.stein_moment(target(x), x, 2)
    exact = target.expected_hessian()
    assert float(((estimate - exact) / se).abs().max()) < 5
    auto = hm.expected_derivative(lambda v: target(v), x[:20_000], 2)
    assert float((auto - exact).abs().max()) < 0.1


def test_targets_have_unit_variance_and_the_stated_hessians():
    d = 6
    f_star = tg.damian_target(d)
    assert abs(f_star.second_moment() - 1) < 1e-12 and abs(f_star.mean()) < 1e-12
    H = torch.zeros(d, d, dtype=torch.float64)
    H[0, 0] = 1.0
    torch.testing.assert_close(f_star.expected_hessian(), H, **TOL[torch.float64])
    transfer = tg.transfer_target(d)
    assert abs(transfer.second_moment() - 1) < 1e-12
    torch.testing.assert_close(transfer.expected_hessian(), torch.zeros(d, d, dtype=torch.float64),
                               rtol=0, atol=1e-12)
    multi = tg.multi_index_target(d, seed=3)
    assert abs(multi.second_moment() - 1) < 1e-12
    assert int(torch.linalg.matrix_rank(multi.expected_hessian())) == 2


def test_bad_inputs_raise_errors_naming_the_parameter():
    with pytest.raises(ValueError, match="k"):
        hm.hermite(-1, torch.zeros(3))
    with pytest.raises(ValueError, match="n_nodes"):
        hm.gauss_hermite(0)
    with pytest.raises(ValueError, match="t"):
        hm.stein_moment(torch.zeros(4), torch.zeros(4, 2), 3)
    with pytest.raises(ValueError, match="noise"):
        tg.noisy_labels(tg.damian_target(3), torch.zeros(4, 3, dtype=torch.float64), noise_std=1.0,
                        seed=0, noise="uniform")
    with pytest.raises(ValueError, match="r"):
        tg.orthonormal_rows(5, 3)
