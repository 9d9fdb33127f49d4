"""A model trained side by side with its linearization, the symmetrized init and the teacher task.

Oracles: a model that is linear in θ (its linearization is itself), autograd through
:func:`beyondlazy.jacobian.linearize` for the hand-derived gradient of the linearized model,
gradient descent on the parameters of the linearized model with J_0 formed (for the kernel form
that train_lazy runs), finite differences for the network's gradient, the α-independence of the
linearized dynamics in function space, and separate runs for a batched one.
"""

from __future__ import annotations

import functools

import pytest
import torch

from beyondlazy import DivergenceError, rng
from beyondlazy.jacobian import jacobian, linearize
from beyondlazy.lazy import (
    centered,
    kernel_step_size,
    relu_teacher,
    relu_teacher_task,
    train_lazy,
)
from beyondlazy.networks import (
    ACTIVATIONS,
    PARAMETERIZATIONS,
    OneHiddenLayer,
    init_params,
    network,
    sphere_inputs,
    symmetrized_init,
    unflatten,
)

from testkit import DEVICES, TOL

TOL64 = TOL[torch.float64]


def small_problem(activation="tanh", m=16, seed=0, device="cpu", symmetric=True):
    net = OneHiddenLayer(3, m, activation, "ntk")
    task = relu_teacher_task(8, 10, 3, seed=seed, device=device)
    if symmetric:
        theta0 = symmetrized_init(net, seed=seed + 1, device=device)
        return functools.partial(network, net), theta0, task
    theta0 = init_params(net, seed=seed + 1, device=device)
    return centered(functools.partial(network, net), theta0), theta0, task


# --- the symmetrized initialization ------------------------------------------------------------


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
def test_symmetrized_init_gives_a_zero_function_at_initialization(activation, parameterization):
    net = OneHiddenLayer(5, 40, activation, parameterization)
    theta0 = symmetrized_init(net, seed=0, init_scale=3.0)
    X = sphere_inputs(50, 5, seed=1)
    W, v = unflatten(net, theta0)
    size = (v.abs() * torch.relu(X @ W.T).abs()).sum(1).max() + 1
    assert float(network(net, theta0, X).abs().max()) <= 1e-14 * float(size)
    # pairs: the same input weights, opposite output weights
    assert torch.equal(W[:20], W[20:]) and torch.equal(v[:20], -v[20:])
    assert bool((v[:20] > 0).all())


def test_symmetrized_init_is_a_scaled_reproducible_draw():
    net = OneHiddenLayer(4, 10, "relu", "standard")
    base = symmetrized_init(net, seed=2)
    assert torch.equal(base, symmetrized_init(net, seed=2))
    torch.testing.assert_close(symmetrized_init(net, seed=2, init_scale=0.1), 0.1 * base, **TOL64)
    # "standard" draws v with standard deviation 1/√m unless told otherwise
    unit = symmetrized_init(net, seed=2, output_std=1.0)
    torch.testing.assert_close(unflatten(net, unit)[1], 10**0.5 * unflatten(net, base)[1], **TOL64)


@pytest.mark.parametrize("kwargs, name", [
    (dict(init_scale=0.0), "init_scale"),
    (dict(init_scale=float("inf")), "init_scale"),
    (dict(output_std=-1.0), "output_std"),
])
def test_symmetrized_init_rejects_bad_scales(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name} must be"):
        symmetrized_init(OneHiddenLayer(3, 4), seed=0, **kwargs)


def test_symmetrized_init_needs_an_even_width():
    with pytest.raises(ValueError, match="^m must be even"):
        symmetrized_init(OneHiddenLayer(3, 5), seed=0)


def test_centered_model_vanishes_at_initialization_and_keeps_the_jacobian():
    net = OneHiddenLayer(3, 6, "tanh")
    theta0 = init_params(net, seed=3)
    model = functools.partial(network, net)
    h = centered(model, theta0)
    X = sphere_inputs(4, 3, seed=4)
    assert torch.equal(h(theta0, X), torch.zeros(4, dtype=torch.float64))
    torch.testing.assert_close(jacobian(h, theta0, X), jacobian(model, theta0, X), **TOL64)


# --- the teacher task ------------------------------------------------------------------------


def test_teacher_task_is_reproducible_with_inputs_on_the_sphere():
    task = relu_teacher_task(6, 5, 4, seed=5)
    again = relu_teacher_task(6, 5, 4, seed=5)
    assert torch.equal(task.y, again.y) and torch.equal(task.X_test, again.X_test)
    torch.testing.assert_close(torch.linalg.vector_norm(task.X, dim=1),
                               torch.ones(6, dtype=torch.float64), **TOL64)
    assert not torch.equal(task.X, task.X_test)


def test_relu_teacher_is_a_sum_of_unit_relu_neurons_with_signs():
    X = rng.randn((7, 4), rng.generator(6), dtype=torch.float64)
    y = relu_teacher(X, 3, seed=7)
    torch.testing.assert_close(relu_teacher(2.5 * X, 3, seed=7), 2.5 * y, **TOL64)  # 1-homogeneous
    # a single neuron: |y(x)| <= ‖x‖ (unit input weights), with equality along its direction
    single = relu_teacher(X, 1, seed=8)
    assert bool((single.abs() <= torch.linalg.vector_norm(X, dim=1) + 1e-12).all())


# --- training side by side -------------------------------------------------------------------


def linear_model(theta, x):
    """A model that is linear in θ: f(θ; x) = θᵀ φ(x) with fixed features φ(x) = (x, sin x)."""
    features = torch.cat([x, torch.sin(x)], dim=-1)
    return features @ theta


@pytest.mark.parametrize("device", DEVICES)
def test_linearization_of_a_linear_model_trains_exactly_like_the_model(device):
    task = relu_teacher_task(5, 7, 3, seed=9, device=device)
    theta0 = rng.randn((6,), rng.generator(10), dtype=torch.float64, device=device)
    run = train_lazy(linear_model, theta0, task.X, task.y, X_test=task.X_test,
                     y_test=task.y_test, alpha=2.0, step_size=0.5, n_steps=30, record_every=10)
    theta, theta_lin = run.params
    torch.testing.assert_close(theta, theta_lin, **TOL64)
    assert float(run["gap"].abs().max()) <= 1e-12
    assert float(run["kernel_change"].abs().max()) <= 1e-12  # the kernel of a linear model
    torch.testing.assert_close(run["train_loss"], run["lin_train_loss"], **TOL64)


def test_the_linearization_steps_follow_the_autograd_gradient_of_the_linearized_objective():
    model, theta0, task = small_problem("tanh", symmetric=False)
    alpha, eta = 3.0, 0.7
    h_lin = linearize(model, theta0)  # jvp-based, a second implementation

    def objective(theta):
        return 0.5 * ((alpha * h_lin(theta, task.X) - task.y) ** 2).mean() / alpha**2

    theta = theta0.clone()
    for _ in range(3):
        leaf = theta.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(objective(leaf), leaf)
        theta = theta - eta * grad
    run = train_lazy(model, theta0, task.X, task.y, X_test=task.X_test, y_test=task.y_test,
                     alpha=alpha, step_size=eta, n_steps=3, kernel_change=False)
    torch.testing.assert_close(run.params[1], theta, **TOL64)


def test_the_network_step_matches_central_finite_differences_of_the_objective():
    model, theta0, task = small_problem("tanh", m=4)
    alpha, eta = 2.0, 0.3
    run = train_lazy(model, theta0, task.X, task.y, X_test=task.X_test, y_test=task.y_test,
                     alpha=alpha, step_size=eta, n_steps=1, linearization=False,
                     kernel_change=False)

    def objective(theta):
        return float(0.5 * ((alpha * model(theta, task.X) - task.y) ** 2).mean() / alpha**2)

    h = 1e-6
    grad = torch.zeros_like(theta0)
    for j in range(theta0.shape[0]):
        e = torch.zeros_like(theta0)
        e[j] = h
        grad[j] = (objective(theta0 + e) - objective(theta0 - e)) / (2 * h)
    torch.testing.assert_close(run.params, theta0 - eta * grad, rtol=1e-7, atol=1e-9)


def test_the_linearized_predictions_do_not_depend_on_alpha():
    model, theta0, task = small_problem("tanh")
    alphas = torch.tensor([1.0, 10.0, 100.0], dtype=torch.float64)
    run = train_lazy(model, theta0, task.X, task.y, X_test=task.X_test, y_test=task.y_test,
                     alpha=alphas, step_size=kernel_step_size(model, theta0, task.X),
                     n_steps=40, record_every=10, kernel_change=False)
    lin = run["lin_test_loss"]
    torch.testing.assert_close(lin, lin[:, :1].expand_as(lin), **TOL64)
    # while the network's weights move by O(1/α)
    change = run.final("weight_change")
    torch.testing.assert_close(change[1] / change[2], torch.tensor(10.0, dtype=torch.float64),
                               rtol=0.05, atol=0)


@pytest.mark.parametrize("device", DEVICES)
def test_a_batch_of_scales_equals_separate_runs(device):
    model, theta0, task = small_problem("relu", device=device)
    alphas = [0.5, 4.0]
    kwargs = dict(X_test=task.X_test, y_test=task.y_test, step_size=0.8, n_steps=20,
                  record_every=5)
    batch = train_lazy(model, theta0, task.X, task.y,
                       alpha=torch.tensor(alphas, dtype=torch.float64, device=device), **kwargs)
    for k, alpha in enumerate(alphas):
        single = train_lazy(model, theta0, task.X, task.y, alpha=alpha, **kwargs)
        for name in ("loss", "test_loss", "weight_change", "kernel_change", "gap"):
            torch.testing.assert_close(batch[name][:, k], single[name], **TOL64)
        torch.testing.assert_close(batch.params[0][k], single.params[0], **TOL64)


def linearization_in_parameter_space(model, theta0, task, alphas, etas, n_steps):
    """A second implementation: gradient descent on θ for R(α h_lin(θ))/α², with J_0 formed.

    Returns (θ^lin_T, the test predictions α h_lin(θ^lin_t) of every step), one run per α.
    """
    n = task.X.shape[0]
    J0, J0_test = jacobian(model, theta0, task.X), jacobian(model, theta0, task.X_test)
    h0, h0_test = model(theta0, task.X), model(theta0, task.X_test)
    finals, test_predictions = [], []
    for alpha, eta in zip(alphas, etas):
        theta, path = theta0.clone(), []
        for t in range(n_steps + 1):
            path.append(alpha * (h0_test + J0_test @ (theta - theta0)))
            if t < n_steps:
                f = alpha * (h0 + J0 @ (theta - theta0))
                theta = theta - eta * J0.T @ (f - task.y) / (n * alpha)
        finals.append(theta)
        test_predictions.append(torch.stack(path))
    return torch.stack(finals), torch.stack(test_predictions, dim=1)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("symmetric", [True, False])
def test_the_kernel_form_of_the_linearization_equals_gradient_descent_on_its_parameters(
        device, symmetric):
    # train_lazy trains θ_0 + J_0ᵀ b with the n × n kernel; the oracle trains θ with J_0
    model, theta0, task = small_problem("tanh", device=device, symmetric=symmetric)
    alphas = torch.tensor([0.5, 3.0], dtype=torch.float64, device=device)
    etas = torch.tensor([0.9, 0.6], dtype=torch.float64, device=device) * kernel_step_size(
        model, theta0, task.X)
    run = train_lazy(model, theta0, task.X, task.y, X_test=task.X_test, y_test=task.y_test,
                     alpha=alphas, step_size=etas, n_steps=40, kernel_change=False)
    theta_lin, test_predictions = linearization_in_parameter_space(
        model, theta0, task, alphas, etas, 40)
    torch.testing.assert_close(run.params[1], theta_lin, **TOL64)
    expected = 0.5 * ((test_predictions - task.y_test) ** 2).mean(-1)
    torch.testing.assert_close(run["lin_test_loss"], expected, **TOL64)
    assert float((theta_lin - theta0).abs().max()) > 1e-3  # the linearization moved


def test_the_default_kernel_forms_no_jacobian_beyond_the_budget(monkeypatch):
    import beyondlazy.lazy as lazy

    model, theta0, task = small_problem("tanh")
    kwargs = dict(X_test=task.X_test, y_test=task.y_test, step_size=0.5, n_steps=5)
    formed = train_lazy(model, theta0, task.X, task.y, **kwargs)

    def forms_a_jacobian(*args):
        raise AssertionError("empirical_ntk forms the Jacobian")

    monkeypatch.setattr(lazy, "empirical_ntk", forms_a_jacobian)
    # the test Jacobian (10 x 64 entries) is one entry over the budget: Jacobian products only
    monkeypatch.setattr(lazy, "DENSE_JACOBIAN_BUDGET", 10 * theta0.numel() - 1)
    products = train_lazy(model, theta0, task.X, task.y, **kwargs)
    for name in ("gap", "lin_test_loss", "kernel_change"):
        torch.testing.assert_close(products[name], formed[name], **TOL64)


def test_changes_start_at_zero_and_the_step_size_is_n_over_the_top_eigenvalue():
    model, theta0, task = small_problem("tanh")
    run = train_lazy(model, theta0, task.X, task.y, X_test=task.X_test, y_test=task.y_test,
                     step_size=1.0, n_steps=3)
    for name in ("weight_change", "kernel_change", "gap"):
        assert float(run[name][0]) == 0.0
    J = jacobian(model, theta0, task.X)
    top = float(torch.linalg.eigvalsh(J @ J.T)[-1])
    assert kernel_step_size(model, theta0, task.X) == pytest.approx(8 / top, rel=1e-12)


def test_training_stops_at_the_residual_tolerance():
    model, theta0, task = small_problem("tanh", m=64)
    run = train_lazy(model, theta0, task.X, task.y, X_test=task.X_test, y_test=task.y_test,
                     step_size=kernel_step_size(model, theta0, task.X), n_steps=5000,
                     record_every=10, tol=0.1, linearization=False, kernel_change=False)
    assert bool(run.converged) and float(run.final("residual")) <= 0.1
    assert float(run["residual"][-2]) > 0.1 and run.n_steps < 5000


def test_bad_arguments_raise_value_errors_naming_the_parameter():
    model, theta0, task = small_problem()
    kwargs = dict(X_test=task.X_test, y_test=task.y_test, step_size=0.1, n_steps=2)
    with pytest.raises(ValueError, match="^alpha must hold numbers > 0"):
        train_lazy(model, theta0, task.X, task.y, alpha=-1.0, **kwargs)
    with pytest.raises(ValueError, match="^alpha must have shape"):
        train_lazy(model, theta0[None].expand(2, -1), task.X, task.y,
                   alpha=torch.ones(3, dtype=torch.float64), **kwargs)
    with pytest.raises(ValueError, match="^y must have shape"):
        train_lazy(model, theta0, task.X, task.y[:3], **kwargs)
    with pytest.raises(ValueError, match="^theta0 must have shape"):
        train_lazy(model, theta0[None, None], task.X, task.y, **kwargs)
    with pytest.raises(ValueError, match="^step_size must be a number"):
        train_lazy(model, theta0, task.X, task.y, **{**kwargs, "step_size": "big"})


def test_a_diverging_step_is_detected_not_recorded_as_nan():
    model, theta0, task = small_problem("tanh")
    eta = 50 * kernel_step_size(model, theta0, task.X)  # far above the stable step 2n/λ_max
    kwargs = dict(X_test=task.X_test, y_test=task.y_test, n_steps=200, record_every=10,
                  kernel_change=False)
    with pytest.raises(DivergenceError):
        train_lazy(model, theta0, task.X, task.y, step_size=eta, **kwargs)
    alphas = torch.tensor([1.0, 1.0], dtype=torch.float64)
    steps = torch.tensor([0.5 * eta / 50, eta], dtype=torch.float64)
    run = train_lazy(model, theta0, task.X, task.y, alpha=alphas, step_size=steps,
                     on_divergence="stop", **kwargs)
    assert run.diverged.tolist() == [False, True]
    assert bool(torch.isfinite(run["gap"][:, 0]).all())
