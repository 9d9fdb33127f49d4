"""One-hidden-layer networks f(θ; x) = s_m vᵀσ(Wx), checked against an explicit sum over neurons.

The parameterizations differ only in the output factor s_m (1/√m, 1/m, 1) and in the scale of
v at initialization; the tests check each against its definition, never against stored numbers.
"""

from __future__ import annotations

import math

import pytest
import torch

from beyondlazy import rng
from beyondlazy.networks import (
    ACTIVATIONS,
    PARAMETERIZATIONS,
    OneHiddenLayer,
    flatten,
    init_params,
    network,
    output_scale,
    sphere_inputs,
    unflatten,
)

TOL = {
    torch.float64: dict(rtol=1e-12, atol=1e-12),
    torch.float32: dict(rtol=1e-5, atol=1e-6),
}


def sum_over_neurons(net, theta, x):
    """The oracle: s_m Σ_j v_j σ(⟨w_j, x⟩), one neuron at a time."""
    W, v = unflatten(net, theta)
    sigma = torch.tanh if net.activation == "tanh" else torch.relu
    return output_scale(net) * sum(v[j] * sigma(W[j] @ x) for j in range(net.m))


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
def test_network_is_the_scaled_sum_over_neurons(activation, parameterization):
    net = OneHiddenLayer(d=4, m=7, activation=activation, parameterization=parameterization)
    theta = init_params(net, seed=0)
    X = sphere_inputs(5, 4, seed=1)
    outputs = network(net, theta, X)
    assert outputs.shape == (5,)
    for i in range(5):
        torch.testing.assert_close(network(net, theta, X[i]), sum_over_neurons(net, theta, X[i]),
                                   **TOL[torch.float64])
        torch.testing.assert_close(outputs[i], network(net, theta, X[i]), **TOL[torch.float64])


def test_output_scale_is_one_over_root_m_one_over_m_or_one():
    for m in (1, 16, 400):
        scales = {p: output_scale(OneHiddenLayer(3, m, parameterization=p))
                  for p in PARAMETERIZATIONS}
        assert scales == pytest.approx({"ntk": 1 / math.sqrt(m), "mean_field": 1 / m,
                                        "standard": 1.0}, rel=1e-15)


def test_standard_and_ntk_parameterizations_agree_at_initialization():
    X = sphere_inputs(6, 5, seed=2)
    ntk, standard = (OneHiddenLayer(5, 30, parameterization=p) for p in ("ntk", "standard"))
    torch.testing.assert_close(network(ntk, init_params(ntk, seed=3), X),
                               network(standard, init_params(standard, seed=3), X),
                               **TOL[torch.float64])


def test_flatten_and_unflatten_are_inverse():
    net = OneHiddenLayer(d=3, m=5)
    gen = rng.generator(4)
    W, v = rng.randn((5, 3), gen), rng.randn((5,), gen)
    theta = flatten(W, v)
    assert theta.shape == (net.n_params,) == (5 * 3 + 5,)
    W2, v2 = unflatten(net, theta)
    assert torch.equal(W2, W) and torch.equal(v2, v)


def test_init_params_is_reproducible_and_scales_the_output_layer():
    net = OneHiddenLayer(d=3, m=50)
    first, second = init_params(net, seed=5), init_params(net, seed=5)
    assert torch.equal(first, second)
    scaled = init_params(net, seed=5, output_init=10.0)
    W, v = unflatten(net, first)
    W10, v10 = unflatten(net, scaled)
    assert torch.equal(W, W10)
    torch.testing.assert_close(v10, 10 * v, **TOL[torch.float64])


def test_sphere_inputs_have_unit_norm():
    X = sphere_inputs(20, 7, seed=6)
    torch.testing.assert_close(torch.linalg.vector_norm(X, dim=1),
                               torch.ones(20, dtype=torch.float64), **TOL[torch.float64])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_outputs_follow_the_dtype_of_the_parameters(dtype):
    net = OneHiddenLayer(d=4, m=8, activation="relu")
    theta = init_params(net, seed=7, dtype=dtype)
    X = sphere_inputs(3, 4, seed=8, dtype=dtype)
    outputs = network(net, theta, X)
    assert outputs.dtype == dtype
    reference = network(net, init_params(net, seed=7), sphere_inputs(3, 4, seed=8))
    torch.testing.assert_close(outputs.double(), reference, **TOL[dtype])


@pytest.mark.parametrize("kwargs, name", [
    (dict(d=0, m=3), "d"),
    (dict(d=3, m=0), "m"),
    (dict(d=3, m=3, activation="sigmoid"), "activation"),
    (dict(d=3, m=3, parameterization="muP"), "parameterization"),
])
def test_bad_architecture_raises_a_value_error_naming_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name} must be"):
        OneHiddenLayer(**kwargs)


def test_wrong_shapes_raise_a_value_error():
    net = OneHiddenLayer(d=3, m=4)
    with pytest.raises(ValueError, match="theta must have shape"):
        network(net, torch.zeros(5, dtype=torch.float64), torch.zeros(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="x must have shape"):
        network(net, init_params(net, seed=0), torch.zeros(2, 4, dtype=torch.float64))
