"""The Jacobian of a network's outputs, its extreme singular values and the linearized model.

Oracles: the hand-derived Jacobian of f(θ; x) = s_m vᵀσ(Wx),

    ∂f/∂w_j = s_m v_j σ'(w_jᵀx) x,      ∂f/∂v_j = s_m σ(w_jᵀx),

``torch.autograd.functional.jacobian`` (a second implementation), central finite differences,
and the full SVD.
"""

from __future__ import annotations

import functools

import pytest
import torch

from beyondlazy import rng
from beyondlazy.jacobian import extreme_singular_values, jacobian, linearize
from beyondlazy.networks import (
    ACTIVATIONS,
    OneHiddenLayer,
    init_params,
    network,
    output_scale,
    sphere_inputs,
    unflatten,
)

from testkit import TOL as _TOL

TOL = _TOL[torch.float64]


def setting(activation="tanh", n=6, d=4, m=9, seed=0):
    net = OneHiddenLayer(d=d, m=m, activation=activation)
    return net, init_params(net, seed=seed), sphere_inputs(n, d, seed=seed + 1)


def jacobian_by_hand(net, theta, X):
    W, v = unflatten(net, theta)
    z = X @ W.T  # (n, m)
    if net.activation == "tanh":
        value, slope = torch.tanh(z), 1 - torch.tanh(z) ** 2
    else:
        value, slope = torch.relu(z), (z > 0).to(z.dtype)
    s = output_scale(net)
    dW = s * (v * slope)[:, :, None] * X[:, None, :]  # (n, m, d)
    return torch.cat([dW.reshape(X.shape[0], -1), s * value], dim=1)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_jacobian_matches_the_hand_derived_formula(activation):
    net, theta, X = setting(activation)
    J = jacobian(functools.partial(network, net), theta, X)
    assert J.shape == (6, net.n_params)
    torch.testing.assert_close(J, jacobian_by_hand(net, theta, X), **TOL)


def test_jacobian_matches_torch_autograd_functional_jacobian():
    net, theta, X = setting(m=12, seed=3)
    reference = torch.autograd.functional.jacobian(lambda th: network(net, th, X), theta)
    torch.testing.assert_close(jacobian(functools.partial(network, net), theta, X), reference,
                               **TOL)


def test_jacobian_matches_central_finite_differences():
    net, theta, X = setting(n=3, d=3, m=4, seed=5)
    h = 1e-6
    columns = []
    for j in range(net.n_params):
        e = torch.zeros_like(theta)
        e[j] = h
        columns.append((network(net, theta + e, X) - network(net, theta - e, X)) / (2 * h))
    torch.testing.assert_close(jacobian(functools.partial(network, net), theta, X),
                               torch.stack(columns, dim=1), rtol=1e-7, atol=1e-8)


def test_extreme_singular_values_match_the_svd():
    J = rng.randn((7, 30), rng.generator(6), dtype=torch.float64)
    sigma_min, sigma_max = extreme_singular_values(J)
    s = torch.linalg.svdvals(J)
    torch.testing.assert_close(sigma_min, s[-1], **TOL)
    torch.testing.assert_close(sigma_max, s[0], **TOL)


def test_extreme_singular_values_reject_more_rows_than_columns():
    with pytest.raises(ValueError, match="n <= p"):
        extreme_singular_values(torch.zeros(5, 3, dtype=torch.float64))


def test_linearized_model_is_f0_plus_jacobian_times_displacement():
    net, theta0, X = setting(m=10, seed=7)
    model = functools.partial(network, net)
    delta = 0.1 * rng.randn(theta0.shape, rng.generator(8), dtype=torch.float64)
    expected = model(theta0, X) + jacobian(model, theta0, X) @ delta
    torch.testing.assert_close(linearize(model, theta0)(theta0 + delta, X), expected, **TOL)


def test_linearization_error_is_second_order_in_the_displacement():
    net, theta0, X = setting(m=10, seed=9)
    model = functools.partial(network, net)
    f_lin = linearize(model, theta0)
    delta = rng.randn(theta0.shape, rng.generator(10), dtype=torch.float64)
    errors = [float(torch.linalg.vector_norm(model(theta0 + h * delta, X)
                                             - f_lin(theta0 + h * delta, X)))
              for h in (1e-2, 5e-3)]
    assert errors[0] / errors[1] == pytest.approx(4.0, rel=0.05)
