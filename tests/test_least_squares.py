"""Least squares by gradient descent, checked against closed forms and second implementations.

For L(θ) = ½‖Xθ − y‖² with X = USVᵀ (n ≤ p) and step size η, GD has the closed form

    r_t = (I − ηXXᵀ)^t r_0,     θ_t = θ* + (I − ηXᵀX)^t (θ_0 − θ*),     θ* = θ_0 + X⁺(y − Xθ_0),

and the step lengths η‖Xᵀ r_t‖. The nonlinear solver is checked on a linear model (where it must
reproduce the linear one) and against a plain loop over the parameters.
"""

from __future__ import annotations

import functools

import pytest
import torch

from beyondlazy import rng
from beyondlazy.least_squares import (
    closest_interpolant,
    linear_closed_form,
    linear_gd,
    linear_rate,
    nonlinear_gd,
    path_length_bound,
    potential,
)
from beyondlazy.networks import OneHiddenLayer, init_params, network, sphere_inputs
from beyondlazy.ntk import network_ntk

from testkit import DEVICES, TOL


def problem(n=8, p=30, seed=0, K=None, dtype=torch.float64, device="cpu"):
    gen = rng.generator(seed)
    X = rng.randn((n, p), gen, dtype=dtype, device=device) / p**0.5
    y = rng.randn((n,), gen, dtype=dtype, device=device)
    theta0 = rng.randn((p,) if K is None else (K, p), gen, dtype=dtype, device=device)
    return X, y, theta0


def eta_for(X):
    return 1.0 / float(torch.linalg.matrix_norm(X, ord=2)) ** 2


def test_closest_interpolant_fits_the_data_and_moves_only_in_the_row_space():
    X, y, theta0 = problem()
    closest = closest_interpolant(X, y, theta0)
    torch.testing.assert_close(X @ closest, y, **TOL[torch.float64])
    # θ* − θ0 = Xᵀc for some c: the projection of θ0 onto {θ : Xθ = y}
    c = torch.linalg.solve(X @ X.T, X @ (closest - theta0))
    torch.testing.assert_close(closest - theta0, X.T @ c, **TOL[torch.float64])


def test_closest_interpolant_is_closer_to_theta0_than_any_other_interpolant():
    X, y, theta0 = problem(seed=1)
    closest = closest_interpolant(X, y, theta0)
    best = torch.linalg.vector_norm(closest - theta0)
    for seed in range(5):  # other interpolants: θ* plus a null-space direction
        z = rng.randn((30,), rng.generator(100 + seed), dtype=torch.float64)
        other = closest + z - torch.linalg.pinv(X) @ (X @ z)
        torch.testing.assert_close(X @ other, y, **TOL[torch.float64])
        assert torch.linalg.vector_norm(other - theta0) > best


def test_closest_interpolant_from_zero_is_the_minimum_norm_solution():
    X, y, _ = problem(seed=2)
    minimum_norm = X.T @ torch.linalg.solve(X @ X.T, y)
    torch.testing.assert_close(closest_interpolant(X, y, torch.zeros(30, dtype=torch.float64)),
                               minimum_norm, **TOL[torch.float64])


@pytest.mark.parametrize("device", DEVICES)
def test_gd_from_theta0_converges_to_closest_interpolant(device):
    X, y, theta0 = problem(seed=3, K=3, device=device)
    trajectory = linear_gd(X, y, theta0, n_steps=3000, tol=1e-13)
    assert bool(trajectory.converged.all())
    assert trajectory.params.device.type == torch.device(device).type
    torch.testing.assert_close(trajectory.params, closest_interpolant(X, y, theta0),
                               rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("record_every", [1, 7])
def test_linear_gd_matches_the_closed_form_residual_iterates_and_path_length(record_every):
    X, y, theta0 = problem(seed=4, K=2)
    eta = 0.9 * eta_for(X)
    trajectory = linear_gd(X, y, theta0, step_size=eta, n_steps=60, record_every=record_every)
    exact = linear_closed_form(X, y, theta0, step_size=eta, n_steps=60)
    t = trajectory.steps
    torch.testing.assert_close(trajectory["residual"], exact.residual[t], **TOL[torch.float64])
    torch.testing.assert_close(trajectory["path_length"], exact.path_length[t],
                               **TOL[torch.float64])
    torch.testing.assert_close(trajectory["distance_to_closest"],
                               torch.linalg.vector_norm(exact.theta[t] - exact.closest, dim=-1),
                               **TOL[torch.float64])
    torch.testing.assert_close(trajectory.params, exact.theta[-1], **TOL[torch.float64])


def test_path_length_is_the_sum_of_the_step_lengths_of_a_plain_loop():
    X, y, theta0 = problem(seed=5)
    eta = eta_for(X)
    theta, total = theta0.clone(), 0.0
    for _ in range(40):
        step = eta * X.T @ (X @ theta - y)
        total += float(torch.linalg.vector_norm(step))
        theta = theta - step
    trajectory = linear_gd(X, y, theta0, step_size=eta, n_steps=40, record_every=10)
    assert float(trajectory.final("path_length")) == pytest.approx(total, rel=1e-12)


@pytest.mark.parametrize("seed", [6, 7, 8])
def test_residual_never_exceeds_the_geometric_bound(seed):
    X, y, theta0 = problem(seed=seed)
    eta = eta_for(X)
    trajectory = linear_gd(X, y, theta0, step_size=eta, n_steps=200)
    rate = linear_rate(X, eta)
    residual = trajectory["residual"]
    bound = residual[0] * rate ** trajectory.steps.double()
    above_round_off = bound > 1e-12 * residual[0]
    assert int(above_round_off.sum()) > 50
    assert bool((residual <= bound * (1 + 1e-12))[above_round_off].all())
    s = torch.linalg.svdvals(X)
    assert rate == pytest.approx(1 - float(s[-1] / s[0]) ** 2, rel=1e-12)


def test_path_length_stays_below_the_shortest_path_bound():
    X, y, theta0 = problem(seed=9)
    trajectory = linear_gd(X, y, theta0, n_steps=2000, tol=1e-12)
    s = torch.linalg.svdvals(X)
    bound = path_length_bound(float(s[-1]), float(s[0]), float(trajectory["residual"][0]))
    assert float(trajectory.final("path_length")) <= bound
    assert float(trajectory.final("path_length")) >= float(trajectory.final("distance"))


def test_batched_linear_gd_runs_each_start_independently():
    X, y, theta0 = problem(seed=10, K=3)
    batched = linear_gd(X, y, theta0, n_steps=50, record_every=5)
    for k in range(3):
        single = linear_gd(X, y, theta0[k], n_steps=50, record_every=5)
        for name in ("residual", "distance", "distance_to_closest", "path_length"):
            torch.testing.assert_close(batched[name][:, k], single[name], **TOL[torch.float64])


def test_nonlinear_gd_on_a_linear_model_reproduces_linear_gd():
    X, y, theta0 = problem(seed=11)
    eta = eta_for(X)
    model = lambda theta, x: x @ theta  # noqa: E731: f(θ; x_i) = x_iᵀθ, so J = X
    nonlinear = nonlinear_gd(model, X, y, theta0, step_size=eta, n_steps=80, record_every=8)
    linear = linear_gd(X, y, theta0, step_size=eta, n_steps=80, record_every=8)
    for name in ("residual", "distance", "path_length"):
        torch.testing.assert_close(nonlinear[name], linear[name], **TOL[torch.float64])
    s = torch.linalg.svdvals(X)
    torch.testing.assert_close(nonlinear["sigma_min"], s[-1].expand(11), **TOL[torch.float64])
    torch.testing.assert_close(nonlinear["sigma_max"], s[0].expand(11), **TOL[torch.float64])


def test_nonlinear_gd_matches_a_plain_autograd_loop_on_a_network():
    net = OneHiddenLayer(d=3, m=20)
    X, theta0 = sphere_inputs(5, 3, seed=12), init_params(net, seed=13)
    y = torch.sin(3 * X[:, 0])
    eta = 0.2
    theta, total = theta0.clone(), 0.0
    for _ in range(30):
        theta.requires_grad_(True)
        loss = 0.5 * ((network(net, theta, X) - y) ** 2).sum()
        (grad,) = torch.autograd.grad(loss, theta)
        total += eta * float(torch.linalg.vector_norm(grad))
        theta = (theta - eta * grad).detach()
    trajectory = nonlinear_gd(functools.partial(network, net), X, y, theta0, step_size=eta,
                              n_steps=30, record_every=10)
    torch.testing.assert_close(trajectory.params, theta, **TOL[torch.float64])
    assert float(trajectory.final("path_length")) == pytest.approx(total, rel=1e-10)
    assert float(trajectory.final("residual")) == pytest.approx(
        float(torch.linalg.vector_norm(network(net, theta, X) - y)), rel=1e-10)


def test_singular_values_from_the_closed_form_kernel_equal_those_of_the_jacobian():
    net = OneHiddenLayer(d=3, m=40)
    X, theta0 = sphere_inputs(6, 3, seed=21), init_params(net, seed=22)
    y = torch.cos(2 * X[:, 1])
    model = functools.partial(network, net)
    kwargs = dict(step_size=0.1, n_steps=20, record_every=5)
    by_jacobian = nonlinear_gd(model, X, y, theta0, **kwargs)
    by_kernel = nonlinear_gd(model, X, y, theta0,
                             kernel=lambda th: network_ntk(net, th, X), **kwargs)
    for name in ("sigma_min", "sigma_max", "residual"):
        torch.testing.assert_close(by_kernel[name], by_jacobian[name], **TOL[torch.float64])


def test_segment_sigma_max_bounds_the_change_of_f_and_is_exact_for_a_linear_model():
    X, y, theta0 = problem(seed=23)
    linear = nonlinear_gd(lambda theta, x: x @ theta, X, y, theta0, step_size=eta_for(X),
                          n_steps=12, record_every=4, segment_points=3)
    s1 = torch.linalg.svdvals(X)[0]
    torch.testing.assert_close(linear["sigma_max_segment"], s1.expand(4), **TOL[torch.float64])

    net = OneHiddenLayer(d=3, m=20)
    Xn, start = sphere_inputs(5, 3, seed=24), init_params(net, seed=25)
    yn = 3 * torch.sin(3 * Xn[:, 0])
    model = functools.partial(network, net)
    run = nonlinear_gd(model, Xn, yn, start, step_size=0.3, n_steps=40, record_every=10,
                       segment_points=8)
    # the sup over the segment is at least sigma_1 at both ends ...
    assert bool((run["sigma_max_segment"] >= run["sigma_max"] - 1e-12).all())
    assert bool((run["sigma_max_segment"] >= run["sigma_max"][0] - 1e-12).all())
    # ... and bounds how far f moved: |f(θ_T) − f(θ_0)| <= sup σ_1 · |θ_T − θ_0|
    moved = torch.linalg.vector_norm(model(run.params, Xn) - model(start, Xn))
    assert float(moved) <= float(run["sigma_max_segment"][-1] * run.final("distance"))


def test_potential_is_alpha_over_four_times_distance_plus_residual():
    distance = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    residual = torch.tensor([3.0, 2.0, 0.5], dtype=torch.float64)
    torch.testing.assert_close(potential(distance, residual, 0.4),
                               torch.tensor([3.0, 2.1, 0.7], dtype=torch.float64))
    assert path_length_bound(0.5, 2.0, 3.0) == pytest.approx(4 * 2.0 / 0.25 * 3.0)


def test_float32_run_agrees_with_float64():
    X, y, theta0 = problem(seed=14)
    as64 = linear_gd(X, y, theta0, n_steps=100, record_every=10)
    as32 = linear_gd(X.float(), y.float(), theta0.float(), n_steps=100, record_every=10)
    assert as32.params.dtype == torch.float32
    torch.testing.assert_close(as32["residual"].double(), as64["residual"], **TOL[torch.float32])


@pytest.mark.parametrize("make, match", [
    (lambda X, y, t: (X.T, y, t), "n <= p"),
    (lambda X, y, t: (X, y[:-1], t), "y must have shape"),
    (lambda X, y, t: (X, y, t[:-1]), "theta0 must have shape"),
    (lambda X, y, t: (X, y.float(), t), "share one dtype"),
])
def test_bad_linear_problems_raise_a_value_error(make, match):
    X, y, theta0 = make(*problem(seed=15))
    with pytest.raises(ValueError, match=match):
        linear_gd(X, y, theta0, n_steps=1)


def test_bad_step_size_raises_a_value_error_naming_it():
    X, y, theta0 = problem(seed=16)
    with pytest.raises(ValueError, match="step_size must be a finite number > 0; got -1"):
        linear_gd(X, y, theta0, step_size=-1.0, n_steps=1)
