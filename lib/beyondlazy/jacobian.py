"""The Jacobian of a model's outputs, its extreme singular values, and the linearized model.

A *model* is a pure function ``model(theta, x)`` of a flat parameter vector θ ∈ R^p and inputs:
one input x of shape (d,) gives a scalar, a batch X of shape (n, d) gives the n outputs (e.g.
``functools.partial(network, net)`` from :mod:`beyondlazy.networks`). On the n training points

    f(θ) = (model(θ, x_1), …, model(θ, x_n)) ∈ R^n,
    J(θ) = ∂f/∂θ ∈ R^{n×p},          J_ij = ∂ model(θ, x_i)/∂θ_j,
    α(θ) = σ_n(J(θ)),  β(θ) = σ_1(J(θ))   (smallest and largest singular values, n ≤ p),
    f_lin(θ; x) = model(θ_0, x) + ∇_θ model(θ_0, x)ᵀ(θ − θ_0)   (first-order Taylor model).

Gradient descent on ½‖f(θ) − y‖² has ∇L(θ) = J(θ)ᵀ(f(θ) − y); Oymak and Soltanolkotabi (2019)
show that when α ≤ σ_n(J) ≤ σ_1(J) ≤ β near θ_0, it converges geometrically, close to θ_0 and
along a short path (Chapter 2). The linearized model is the lazy regime of Chapter 1, whose
kernel J(θ_0)J(θ_0)ᵀ is the empirical neural tangent kernel.

The Jacobian is computed per input with ``torch.func.jacrev`` and vectorized over the n inputs
with ``torch.func.vmap``; the linearized model with one forward-mode product ``torch.func.jvp``
(J is never formed). Results follow the device and dtype of θ.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .validation import check_finite, check_same_device, check_shape

__all__ = ["extreme_singular_values", "jacobian", "linearize"]

Model = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def jacobian(model: Model, theta: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """J(θ) of shape (n, p): row i is the gradient in θ of ``model(θ, x_i)``.

    Parameters
    ----------
    model : callable
        ``model(theta, x)``, a scalar for one input x of shape (d,), built from tensor operations
        so that ``torch.func`` can transform it.
    theta : Tensor, shape (p,)
        The point where the Jacobian is taken.
    X : Tensor, shape (n, d)
        The inputs (the training points).
    """
    check_shape("theta", theta, (None,))
    check_finite("theta", theta)
    check_shape("X", X, (None, None))
    check_same_device(theta=theta, X=X)
    per_input = torch.func.jacrev(model, argnums=0)
    J = torch.func.vmap(per_input, in_dims=(None, 0))(theta, X)
    if J.shape != (X.shape[0], theta.shape[0]):
        raise ValueError(f"model(theta, x) must be a scalar for one input x; got a Jacobian of "
                         f"shape {tuple(J.shape)}")
    return J


def extreme_singular_values(J: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(σ_min, σ_max) of an n × p matrix with n ≤ p: the n-th and the first singular values.

    Computed from the eigenvalues of the n × n matrix JJᵀ (much cheaper than an SVD when n ≪ p);
    σ_min then carries a relative error of about machine epsilon times (σ_max/σ_min)². Leading
    axes are batch axes. For n ≤ p, σ_min > 0 exactly when J has full row rank, i.e. when the
    linearized model can fit any labels.
    """
    if J.ndim < 2 or J.shape[-2] > J.shape[-1]:
        raise ValueError(f"J must be an n x p matrix with n <= p (overparameterized); got shape "
                         f"{tuple(J.shape)}")
    eigs = torch.linalg.eigvalsh(J @ J.transpose(-1, -2)).clamp_min(0).sqrt()
    return eigs[..., 0], eigs[..., -1]


def linearize(model: Model, theta0: torch.Tensor) -> Model:
    """The linearized model (θ, x) ↦ model(θ_0, x) + ∇_θ model(θ_0, x)ᵀ(θ − θ_0).

    Returns a function with the calling convention of ``model`` (one input or a batch). Each call
    costs one forward-mode Jacobian–vector product (``torch.func.jvp``); J(θ_0) is never formed.

    >>> import torch
    >>> model = lambda th, x: th[0] * th[1] * x + th[1] ** 2
    >>> f_lin = linearize(model, torch.tensor([1.0, 2.0]))
    >>> f_lin(torch.tensor([1.5, 2.0]), torch.tensor([1.0, 0.0])).tolist()
    [7.0, 4.0]
    """
    check_shape("theta0", theta0, (None,))
    check_finite("theta0", theta0)
    theta0 = theta0.detach()

    def f_lin(theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        check_shape("theta", theta, theta0.shape)
        value, change = torch.func.jvp(lambda th: model(th, x), (theta0,), (theta - theta0,))
        return value + change

    return f_lin
