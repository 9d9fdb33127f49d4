"""The neural tangent kernel: two implementations, a hand-derived formula and the width limit.

Oracles: the Jacobian contraction J Jᵀ against Jacobian–vector products (two independent
implementations), the hand-derived kernel of f = s_m vᵀσ(Wx), the arc-cosine kernels at angles
where they are known by hand, and Monte-Carlo averages over many neurons.
"""

from __future__ import annotations

import functools
import math

import pytest
import torch

from beyondlazy import rng
from beyondlazy.networks import (
    ACTIVATIONS,
    PARAMETERIZATIONS,
    OneHiddenLayer,
    init_params,
    network,
    output_scale,
    sphere_inputs,
    unflatten,
)
from beyondlazy.ntk import (
    arccos0, arccos1, empirical_ntk, empirical_ntk_products, network_ntk, relu_ntk,
)

from testkit import DEVICES, TOL


def setting(activation="relu", parameterization="ntk", d=4, m=12, seed=0, device="cpu",
            dtype=torch.float64):
    net = OneHiddenLayer(d, m, activation, parameterization)
    theta = init_params(net, seed=seed, dtype=dtype, device=device)
    return net, functools.partial(network, net), theta


def ntk_by_hand(net, theta, X1, X2):
    """s_m² [ (X1 X2ᵀ) ∘ (σ'(Z1) diag(v²) σ'(Z2)ᵀ) + σ(Z1) σ(Z2)ᵀ ],  Z = X Wᵀ."""
    W, v = unflatten(net, theta)
    if net.activation == "tanh":
        act, slope = torch.tanh, lambda z: 1 - torch.tanh(z) ** 2
    else:
        act, slope = torch.relu, lambda z: (z > 0).to(z.dtype)
    Z1, Z2 = X1 @ W.T, X2 @ W.T
    first = (X1 @ X2.T) * ((slope(Z1) * v**2) @ slope(Z2).T)
    return output_scale(net) ** 2 * (first + act(Z1) @ act(Z2).T)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
def test_ntk_by_jacobians_matches_the_hand_derived_kernel(device, activation, parameterization):
    net, model, theta = setting(activation, parameterization, device=device)
    X1 = sphere_inputs(5, 4, seed=1, device=device)
    X2 = sphere_inputs(3, 4, seed=2, device=device)
    K = empirical_ntk(model, theta, X1, X2)
    assert K.shape == (5, 3) and K.device.type == torch.device(device).type
    torch.testing.assert_close(K, ntk_by_hand(net, theta, X1, X2), **TOL[torch.float64])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
def test_closed_form_network_ntk_equals_the_jacobian_contraction(device, activation,
                                                                 parameterization):
    net, model, theta = setting(activation, parameterization, m=30, seed=3, device=device)
    X1 = sphere_inputs(6, 4, seed=4, device=device)
    X2 = sphere_inputs(2, 4, seed=5, device=device)
    for A, B in [(X1, None), (X1, X2)]:
        torch.testing.assert_close(network_ntk(net, theta, A, B),
                                   empirical_ntk(model, theta, A, B), **TOL[torch.float64])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("chunk_size", [1, 4, None])
def test_ntk_by_products_agrees_with_the_jacobian_contraction(device, activation, chunk_size):
    _, model, theta = setting(activation, m=30, seed=3, device=device)
    X1 = sphere_inputs(6, 4, seed=4, device=device)
    X2 = sphere_inputs(5, 4, seed=5, device=device)
    torch.testing.assert_close(empirical_ntk_products(model, theta, X1, X2, chunk_size=chunk_size),
                               empirical_ntk(model, theta, X1, X2), **TOL[torch.float64])


def test_ntk_on_one_set_of_inputs_is_a_symmetric_positive_semidefinite_gram_matrix():
    _, model, theta = setting("tanh", m=8, seed=6)
    X = sphere_inputs(7, 4, seed=7)
    K = empirical_ntk(model, theta, X)
    torch.testing.assert_close(K, K.T, **TOL[torch.float64])
    assert float(torch.linalg.eigvalsh(K)[0]) > -1e-12
    torch.testing.assert_close(empirical_ntk_products(model, theta, X), K, **TOL[torch.float64])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ntk_follows_the_dtype_of_the_parameters(dtype):
    _, model, theta = setting(m=10, seed=8, dtype=dtype)
    X = sphere_inputs(4, 4, seed=9, dtype=dtype)
    K = empirical_ntk(model, theta, X)
    assert K.dtype == dtype
    _, model64, theta64 = setting(m=10, seed=8)
    reference = empirical_ntk(model64, theta64, X.double())
    torch.testing.assert_close(K.double(), reference, **TOL[dtype])


def angles(phis, norms=(1.0, 1.0)):
    """Two inputs of R^3 with the given norms at each angle φ: X1 (k, 3), X2 (k, 3)."""
    phis = torch.tensor(phis, dtype=torch.float64)
    X1 = norms[0] * torch.stack([torch.ones_like(phis), 0 * phis, 0 * phis], dim=1)
    X2 = norms[1] * torch.stack([torch.cos(phis), torch.sin(phis), 0 * phis], dim=1)
    return X1, X2


def test_arc_cosine_kernels_at_angles_known_by_hand():
    X1, X2 = angles([0.0, math.pi / 2, math.pi], norms=(2.0, 3.0))
    k0 = torch.diagonal(arccos0(X1, X2))
    k1 = torch.diagonal(arccos1(X1, X2))
    # φ = 0: P(wᵀx > 0) = 1/2 and E relu(wᵀx)² = ‖x‖²/2 (here ‖x‖‖x'‖ = 6)
    # φ = π/2: the quadrant 1/4 and E relu(g1) E relu(g2) ‖x‖‖x'‖ = 6/(2π)
    # φ = π: the two half-spaces are disjoint
    expected0 = torch.tensor([0.5, 0.25, 0.0], dtype=torch.float64)
    expected1 = torch.tensor([3.0, 6 / (2 * math.pi), 0.0], dtype=torch.float64)
    torch.testing.assert_close(k0, expected0, **TOL[torch.float64])
    torch.testing.assert_close(k1, expected1, **TOL[torch.float64])
    ntk = torch.diagonal(relu_ntk(X1, X2))
    torch.testing.assert_close(ntk, torch.tensor([6 * 0.5 + 3.0, 6 / (2 * math.pi), 0.0],
                                                 dtype=torch.float64), **TOL[torch.float64])


def test_arc_cosine_kernels_match_monte_carlo_averages_over_gaussian_weights():
    X = sphere_inputs(5, 3, seed=10)
    w = rng.randn((400_000, 3), rng.generator(11), dtype=torch.float64)
    Z = X @ w.T  # (5, samples)
    samples0 = (Z > 0).double()
    samples1 = torch.relu(Z)
    for exact, samples in ((arccos0(X), samples0), (arccos1(X), samples1)):
        products = samples[:, None, :] * samples[None, :, :]
        mean = products.mean(-1)
        standard_error = products.std(-1) / math.sqrt(products.shape[-1])
        assert bool(((mean - exact).abs() <= 5 * standard_error + 1e-12).all())


def test_empirical_relu_ntk_approaches_the_infinite_width_kernel():
    X = sphere_inputs(4, 3, seed=12)
    errors = []
    for m in (100, 3000, 200_000):
        _, model, theta = setting("relu", d=3, m=m, seed=13)
        K = empirical_ntk(model, theta, X)
        errors.append(float(torch.linalg.matrix_norm(K - relu_ntk(X))
                            / torch.linalg.matrix_norm(relu_ntk(X))))
    assert errors[2] < 0.02 and errors[2] < errors[1] < errors[0]


def test_relu_ntk_of_inputs_on_the_sphere_has_ones_on_the_diagonal():
    X = sphere_inputs(6, 5, seed=14)
    torch.testing.assert_close(torch.diagonal(relu_ntk(X)), torch.ones(6, dtype=torch.float64),
                               **TOL[torch.float64])


def test_bad_inputs_raise_value_errors_naming_the_parameter():
    _, model, theta = setting()
    X = sphere_inputs(3, 4, seed=15)
    with pytest.raises(ValueError, match="^X2 must have shape"):
        empirical_ntk(model, theta, X, torch.zeros(2, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="^chunk_size must be"):
        empirical_ntk_products(model, theta, X, chunk_size=0)
    with pytest.raises(ValueError, match="non-zero rows"):
        relu_ntk(torch.zeros(2, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="^X1 must contain only finite"):
        arccos1(torch.full((2, 4), float("nan"), dtype=torch.float64))
