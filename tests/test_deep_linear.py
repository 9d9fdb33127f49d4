"""Deep linear networks: the product, the hand-derived factor gradients, balanced inits, the
imbalance identity, the depth-N preconditioner, the mode ODE and the effective rank.

Oracles: autograd for the gradients; the definition of balance and the product for the inits;
the exact one-step identity of the imbalance; a first-order expansion and the closed forms at
depth 1 and 2 for the preconditioner; closed forms and a fine Runge–Kutta integration for the
mode ODE; Roy–Vetterli's values at the extremes for the effective rank.
"""

from __future__ import annotations

import math

import pytest
import torch

from beyondlazy import rng
from beyondlazy.deep_linear import (
    balanced_factors,
    balanced_init,
    completion_loss,
    deep_loss_and_grad,
    deep_sensing_problem,
    effective_rank,
    end_to_end,
    factor_gradients,
    gaussian_factors,
    imbalance,
    mode_ode_rate,
    mode_strengths,
    mode_time,
    orthogonal_target,
    preconditioner,
    psd_power,
    regression_loss,
    scalar_depth_init,
    scalar_depth_loss_and_grad,
    train_deep,
)
from beyondlazy.gd import value_and_grad

from testkit import DEVICES, TOL as _TOL

TOL = _TOL[torch.float64]


def gaussian(shape, seed):
    return rng.randn(shape, rng.generator(seed), dtype=torch.float64)


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_factor_gradients_match_autograd(depth):
    factors = tuple(gaussian((3, 6, 6), seed=j) for j in range(depth))
    Y = gaussian((6, 6), seed=99)

    def loss(*f):
        W = f[0]
        for F in f[1:]:
            W = F @ W
        return 0.5 * ((W - Y) ** 2).sum((-2, -1))

    _, auto = value_and_grad(loss)(*factors)
    value, by_hand = deep_loss_and_grad(regression_loss(Y))(*factors)
    torch.testing.assert_close(value, loss(*factors), **TOL)
    for a, b in zip(auto, by_hand):
        torch.testing.assert_close(b, a, **TOL)


def test_sensing_gradient_matches_autograd_through_the_operator():
    problem = deep_sensing_problem(5, (1.0, 0.5), 30, seed=3)
    factors = tuple(gaussian((5, 5), seed=10 + j) for j in range(3))

    def loss(*f):
        r = problem.op.measure(end_to_end(f)) - problem.y
        return 0.5 * (r * r).sum()

    _, auto = value_and_grad(loss)(*factors)
    _, by_hand = deep_loss_and_grad(problem.loss)(*factors)
    for a, b in zip(auto, by_hand):
        torch.testing.assert_close(b, a, **TOL)


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_balanced_factors_multiply_to_W0_and_are_balanced(depth):
    W0 = gaussian((2, 5, 5), seed=4)
    factors = balanced_factors(W0, depth)
    torch.testing.assert_close(end_to_end(factors), W0, **TOL)
    if depth > 1:
        assert float(imbalance(factors).abs().max()) < 1e-12


def test_gaussian_factors_have_end_to_end_scale_alpha_at_every_depth():
    for depth in (1, 2, 4):
        factors = gaussian_factors([0.1] * 400, 10, depth, seed=depth)
        mean_sq = float((end_to_end(factors) ** 2).sum((-2, -1)).mean())
        assert mean_sq == pytest.approx(0.1**2 * 10, rel=0.15)  # E‖W_0‖² = α²n
    init = balanced_init([0.1, 0.2], 6, 3, seed=0)
    assert float(imbalance(init).abs().max()) < 1e-12


def test_one_gd_step_changes_the_imbalance_by_exactly_eta_squared_times_the_gradient_terms():
    problem = deep_sensing_problem(6, (1.0,), 40, seed=5)
    factors = tuple(0.5 * gaussian((6, 6), seed=20 + j) for j in range(4))
    eta = 0.03
    _, grads = deep_loss_and_grad(problem.loss)(*factors)
    stepped = tuple(W - eta * g for W, g in zip(factors, grads))
    predicted = eta**2 * torch.stack([b.T @ b - a @ a.T for a, b in zip(grads[:-1], grads[1:])])
    torch.testing.assert_close(imbalance(stepped) - imbalance(factors), predicted,
                               rtol=1e-8, atol=1e-13)


def test_imbalance_drift_never_exceeds_its_bound_and_halves_with_the_step():
    problem = deep_sensing_problem(6, (1.0, 0.5), 40, seed=6)
    factors = tuple(0.3 * gaussian((6, 6), seed=30 + j) for j in range(3))
    drift = {}
    for eta in (0.02, 0.01):
        run = train_deep(problem.loss, factors, step_size=eta, n_steps=round(4 / eta),
                         track_imbalance=True)
        assert float(run["imbalance_slack"][1:].max()) <= 1.0
        drift[eta] = float(run.final("imbalance_drift"))
    assert drift[0.02] / drift[0.01] == pytest.approx(2.0, rel=0.1)


def test_preconditioner_is_the_first_order_move_of_W_from_a_balanced_init():
    problem = deep_sensing_problem(6, (1.0, 0.5), 30, seed=7)
    factors = balanced_factors(0.5 * gaussian((6, 6), seed=8), 3)
    W = end_to_end(factors)
    _, G = problem.loss(W)
    grads = factor_gradients(factors, G)
    errors = []
    for eta in (1e-4, 5e-5):
        delta = end_to_end(tuple(F - eta * g for F, g in zip(factors, grads))) - W
        errors.append(float(torch.linalg.matrix_norm(delta + eta * preconditioner(W, G, 3))))
    assert errors[0] / errors[1] == pytest.approx(4.0, rel=0.05)  # the remainder is O(η²)


def test_preconditioner_closed_forms_at_depth_one_and_two():
    W, G = gaussian((5, 5), seed=9), gaussian((5, 5), seed=10)
    torch.testing.assert_close(preconditioner(W, G, 1), G, **TOL)
    expected = G @ psd_power(W.T @ W, 0.5) + psd_power(W @ W.T, 0.5) @ G
    torch.testing.assert_close(preconditioner(W, G, 2), expected, **TOL)
    root = psd_power(W.T @ W, 0.5)
    torch.testing.assert_close(root @ root, W.T @ W, **TOL)


def _rk4_time(u0, u1, s, depth, dt=1e-4):
    u, t = u0, 0.0
    f = lambda x: depth * x ** (2 - 2 / depth) * (s - x)
    while u < u1:
        k1 = f(u); k2 = f(u + dt / 2 * k1); k3 = f(u + dt / 2 * k2); k4 = f(u + dt * k3)
        step = dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        if u + step >= u1:
            return t + dt * (u1 - u) / step
        u, t = u + step, t + dt
    return t


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_mode_time_matches_a_fine_runge_kutta_integration(depth):
    s, u0, u1 = 2.0, 0.05, 1.0
    assert float(mode_time(u0, u1, s, depth)) == pytest.approx(_rk4_time(u0, u1, s, depth),
                                                               rel=1e-6)


def test_mode_time_quadrature_agrees_with_the_closed_form_at_depth_two():
    s, u0, u = 1.0, 1e-4, torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    x = torch.linspace(math.log(u0), math.log(0.5), 20001, dtype=torch.float64)
    simpson = torch.trapezoid(torch.exp(0 * x) / (2 * (s - torch.exp(x))), x)
    assert float(mode_time(u0, u, s, 2)[1]) == pytest.approx(float(simpson), rel=1e-6)
    torch.testing.assert_close(mode_ode_rate(u, s, 2), 2 * u * (s - u), **TOL)


def test_aligned_balanced_gd_follows_the_mode_ode():
    Y, Q1, Q2 = orthogonal_target(5, (2.0, 1.0), rng.generator(0))
    factors = balanced_factors(1e-2 * Q1 @ Q2.T, 3)
    eta = 1e-3
    run = train_deep(regression_loss(Y), factors, step_size=eta, n_steps=4000, record_every=10,
                     metrics={"u1": lambda W: mode_strengths(W, Q1[:, :1], Q2[:, :1])[..., 0]})
    k = int((run["u1"] >= 1.0).double().argmax())
    assert float(run.steps[k]) * eta == pytest.approx(float(mode_time(1e-2, 1.0, 2.0, 3)),
                                                      rel=0.02)


def test_effective_rank_is_one_for_rank_one_and_n_for_the_identity():
    x = gaussian((7, 1), seed=1)
    assert float(effective_rank(x @ x.T)) == pytest.approx(1.0, abs=1e-6)
    assert float(effective_rank(torch.eye(7, dtype=torch.float64))) == pytest.approx(7.0)


def test_scalar_depth_gradients_match_autograd_and_init_is_balanced():
    X, y = gaussian((30, 4), seed=2), gaussian((30,), seed=3)

    def lp(w):
        r = w @ X.T - y
        return (r**4).sum(-1) / 120, (r**3) @ X / 30

    v, a = scalar_depth_init(gaussian((4,), seed=4), 3)
    assert float(a[0]) == pytest.approx(float(v.norm()))
    torch.testing.assert_close(v * a.prod(), gaussian((4,), seed=4), **TOL)
    _, auto = value_and_grad(lambda v, a: lp(v * a.prod())[0])(v, a)
    _, by_hand = scalar_depth_loss_and_grad(lp)(v, a)
    for x, z in zip(auto, by_hand):
        torch.testing.assert_close(z, x, **TOL)


def test_completion_loss_only_sees_the_observed_entries():
    mask = torch.tensor([[0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    Y = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    W = torch.tensor([[7.0, 1.0], [1.0, 0.5]], dtype=torch.float64)
    value, G = completion_loss(mask, Y)(W)
    assert float(value) == pytest.approx(0.125)
    assert float(G[0, 0]) == 0.0


@pytest.mark.parametrize("device", DEVICES)
def test_training_runs_on_every_device_in_the_input_dtype(device):
    Y = gaussian((4, 4), seed=5).to(device)
    factors = gaussian_factors([0.1, 0.2], 4, 3, seed=1, device=device)
    run = train_deep(regression_loss(Y), factors, step_size=0.05, n_steps=20, target=Y,
                     singular_values=2)
    assert run.params[0].device.type == torch.device(device).type
    assert run["sv1"].shape == (21, 2) and run.params[0].dtype == torch.float64


def test_bad_input_raises_value_errors_naming_the_parameter():
    W = gaussian((3, 3), seed=0)
    with pytest.raises(ValueError, match="depth"):
        balanced_factors(W, 0)
    with pytest.raises(ValueError, match="depth"):
        gaussian_factors([0.1], 3, 0, seed=0)
    with pytest.raises(ValueError, match=r"factors\[1\]"):
        end_to_end((W, gaussian((3, 4), seed=1)))
    with pytest.raises(ValueError, match="W0"):
        balanced_factors(gaussian((3, 4), seed=1), 2)
    with pytest.raises(ValueError, match="singular_values"):
        orthogonal_target(3, (1.0,) * 4, rng.generator(0))
    with pytest.raises(ValueError, match="alphas"):
        gaussian_factors([0.0], 3, 2, seed=0)
    with pytest.raises(ValueError, match="alphas"):
        balanced_init([-1.0], 3, 2, seed=0)
    with pytest.raises(ValueError, match="u must lie"):
        mode_time(0.1, 2.0, 1.0, 3)
