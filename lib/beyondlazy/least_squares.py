"""Overparameterized least squares: gradient descent, its closed forms, the shortest-path bounds.

Linear least squares (n ≤ p, X of full row rank):

    L(θ) = ½‖Xθ − y‖²,   ∇L(θ) = Xᵀ(Xθ − y),   θ_{t+1} = θ_t − η Xᵀ(Xθ_t − y),

from θ_0. With X = U S Vᵀ (thin SVD, singular values σ_1 ≥ … ≥ σ_n > 0) and η ≤ 1/σ_1²:

    r_t = Xθ_t − y = (I − ηXXᵀ)^t r_0,        ‖r_t‖ ≤ (1 − ησ_n²)^t ‖r_0‖,
    θ_t → θ* = θ_0 + X⁺(y − Xθ_0)             (the interpolant closest to θ_0),
    path length Σ_t ‖θ_{t+1} − θ_t‖ = Σ_t η‖Xᵀr_t‖.

Gradient steps lie in the row space of X, so θ_t − θ_0 stays there; θ* is the only interpolant
with that property, which is why it is the closest one. From θ_0 = 0 it is the minimum-norm
solution X⁺y.

Nonlinear least squares (a model θ ↦ f(θ) ∈ R^n, e.g. a network's outputs on n points):

    L(θ) = ½‖f(θ) − y‖²,   ∇L(θ) = J(θ)ᵀ(f(θ) − y).

Oymak and Soltanolkotabi (2019) assume α ≤ σ_n(J(θ)) ≤ σ_1(J(θ)) ≤ β and an L-Lipschitz J on the
ball of radius R = 4‖f(θ_0) − y‖/α around θ_0, and η ≤ min(1, α²/(L‖f(θ_0) − y‖))/(2β²); then
(the potential is their eq. (2.9); the other constants are recalled, see Chapter 2)

    ‖f(θ_t) − y‖² ≤ (1 − ηα²/2)^t ‖f(θ_0) − y‖²                  (geometric convergence),
    (α/4)‖θ_t − θ_0‖ + ‖f(θ_t) − y‖ ≤ ‖f(θ_0) − y‖                 (the potential),
    Σ_t ‖θ_{t+1} − θ_t‖ ≤ (4β/α²)‖f(θ_0) − y‖                      (a short path).

Every solver here returns a :class:`~beyondlazy.trajectory.Trajectory` from the shared loop
:func:`~beyondlazy.gd.gradient_descent`, with the metrics ``residual`` ‖f(θ_t) − y‖,
``distance`` ‖θ_t − θ_0‖ and ``path_length`` Σ_{s<t} ‖θ_{s+1} − θ_s‖ (accumulated at every step,
whatever ``record_every`` is), plus ``distance_to_closest`` (linear) or ``sigma_min`` and
``sigma_max`` of J(θ_t) (nonlinear).

Notation::

    n  samples (rows of X)    p  parameters    η  step size    α, β  extreme singular values of J

Used in Chapter 2. Reference: Oymak and Soltanolkotabi, "Overparameterized nonlinear learning:
gradient descent takes the shortest path?" (ICML 2019).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .gd import gradient_descent
from .jacobian import extreme_singular_values, jacobian
from .trajectory import Trajectory
from .validation import check_finite, check_int, check_positive, check_same_device, check_shape

__all__ = [
    "LinearClosedForm",
    "closest_interpolant",
    "linear_closed_form",
    "linear_gd",
    "linear_loss_and_grad",
    "linear_rate",
    "linearized_interpolant",
    "nonlinear_gd",
    "path_length_bound",
    "potential",
]


def _check_problem(X: torch.Tensor, y: torch.Tensor, theta0: torch.Tensor) -> None:
    check_shape("X", X, (None, None))
    check_finite("X", X)
    n, p = X.shape
    if n > p:
        raise ValueError(f"X must have n <= p (an overparameterized problem); got shape ({n}, {p})")
    check_shape("y", y, (n,))
    check_finite("y", y)
    if theta0.ndim not in (1, 2) or theta0.shape[-1] != p:
        raise ValueError(f"theta0 must have shape (p,) or (K, p) with p = {p}; got "
                         f"{tuple(theta0.shape)}")
    check_finite("theta0", theta0)
    check_same_device(X=X, y=y, theta0=theta0)
    if not X.dtype == y.dtype == theta0.dtype:
        raise ValueError(f"X, y and theta0 must share one dtype; got {X.dtype}, {y.dtype}, "
                         f"{theta0.dtype}")


def closest_interpolant(X: torch.Tensor, y: torch.Tensor, theta0: torch.Tensor) -> torch.Tensor:
    """θ* = θ_0 + X⁺(y − Xθ_0): the solution of Xθ = y closest to θ_0 (shape of θ_0).

    θ_0 may hold K starting points, shape (K, p). Computed from the thin SVD of X, which must have
    full row rank. With θ_0 = 0 this is the minimum-norm solution X⁺y.
    """
    _check_problem(X, y, theta0)
    U, S, Vh = torch.linalg.svd(X, full_matrices=False)
    if not bool(S[-1] > S[0] * X.shape[1] * torch.finfo(X.dtype).eps):
        raise ValueError("X must have full row rank (σ_n > 0); got a numerically rank-deficient X")
    r0 = y - theta0 @ X.T
    return theta0 + ((r0 @ U) / S) @ Vh


def linear_rate(X: torch.Tensor, step_size: float) -> float:
    """The contraction factor 1 − ησ_n(X)² of the residual per step (valid for η ≤ 1/σ_1²)."""
    eta = check_positive("step_size", step_size)
    S = torch.linalg.svdvals(X)
    return 1.0 - eta * float(S[-1]) ** 2


def path_length_bound(alpha: float, beta: float, residual0: float) -> float:
    """The shortest-path bound (4β/α²)‖f(θ_0) − y‖ of Oymak and Soltanolkotabi (2019)."""
    alpha, beta = check_positive("alpha", alpha), check_positive("beta", beta)
    return 4 * beta / alpha**2 * check_positive("residual0", residual0, allow_zero=True)


def potential(distance: torch.Tensor, residual: torch.Tensor, alpha: float) -> torch.Tensor:
    """The potential (α/4)‖θ_t − θ_0‖ + ‖f(θ_t) − y‖, elementwise in the recorded values.

    Oymak and Soltanolkotabi (2019) show it never exceeds its initial value ‖f(θ_0) − y‖: misfit
    can only be traded for distance at the exchange rate α/4.
    """
    alpha = check_positive("alpha", alpha)
    return alpha / 4 * distance + residual


@dataclass(frozen=True)
class LinearClosedForm:
    """GD on ½‖Xθ − y‖² in closed form at the steps t = 0 … T (the oracle for :func:`linear_gd`)."""

    theta: torch.Tensor  # (T+1, p) or (T+1, K, p): θ_t = θ* + (I − ηXᵀX)^t (θ_0 − θ*)
    residual: torch.Tensor  # (T+1,) or (T+1, K): ‖(I − ηXXᵀ)^t r_0‖
    path_length: torch.Tensor  # (T+1,) or (T+1, K): Σ_{s<t} η‖Xᵀ r_s‖
    closest: torch.Tensor  # (p,) or (K, p): θ* = θ_0 + X⁺(y − Xθ_0)


def linear_closed_form(
    X: torch.Tensor, y: torch.Tensor, theta0: torch.Tensor, *, step_size: float, n_steps: int,
) -> LinearClosedForm:
    """The iterates, residuals and path lengths of GD in closed form, from the SVD X = USVᵀ.

    With c = Uᵀ r_0, the residual is ‖r_t‖² = Σ_i (1 − ησ_i²)^{2t} c_i², one step has length
    η‖Xᵀ r_t‖ = η (Σ_i σ_i²(1 − ησ_i²)^{2t} c_i²)^{1/2}, and
    θ_t − θ* = V diag((1 − ησ_i²)^t / σ_i) c.
    """
    _check_problem(X, y, theta0)
    eta = check_positive("step_size", step_size)
    T = check_int("n_steps", n_steps, minimum=0)
    U, S, Vh = torch.linalg.svd(X, full_matrices=False)
    closest = closest_interpolant(X, y, theta0)
    c = (theta0 @ X.T - y) @ U  # (n,) or (K, n): the initial residual in the basis U
    t = torch.arange(T + 1, dtype=X.dtype, device=X.device)
    decay = (1 - eta * S**2) ** t[:, None]  # (T+1, n)
    if c.ndim == 2:
        decay = decay[:, None, :]
    coeff = decay * c  # the residual in the basis U at every step
    residual = torch.linalg.vector_norm(coeff, dim=-1)
    steps = eta * torch.linalg.vector_norm(coeff * S, dim=-1)
    path = torch.cat([torch.zeros_like(steps[:1]), torch.cumsum(steps[:-1], dim=0)])
    theta = closest + (coeff / S) @ Vh
    return LinearClosedForm(theta=theta, residual=residual, path_length=path, closest=closest)


def linearized_interpolant(
    model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], theta0: torch.Tensor,
    X: torch.Tensor, y: torch.Tensor,
) -> torch.Tensor:
    """θ_lin = θ_0 + J(θ_0)⁺(y − f(θ_0)): where GD on the linearized model converges.

    It is the interpolant of the linearized model f_lin closest to θ_0 (the linear theorem applied
    to J(θ_0)), and its predictions f_lin(θ_lin; x) = f(θ_0; x) + k(x)ᵀK⁻¹(y − f(θ_0)) are those of
    kernel regression with the empirical NTK K = J(θ_0)J(θ_0)ᵀ, k(x) = J(θ_0)∇_θ f(θ_0; x).
    """
    J0 = jacobian(model, theta0, X)
    return closest_interpolant(J0, y - model(theta0, X) + J0 @ theta0, theta0)


def linear_loss_and_grad(X: torch.Tensor, y: torch.Tensor):
    """``θ -> (½‖Xθ − y‖², (Xᵀ(Xθ − y),))``, batched over a leading axis of θ."""

    def loss_and_grad(theta: torch.Tensor):
        r = theta @ X.T - y
        return 0.5 * (r * r).sum(-1), (r @ X,)

    return loss_and_grad


class _PathLength:
    """Wraps ``loss_and_grad`` to add up the step lengths η‖∇L(θ_t)‖ at every step.

    The loop calls ``loss_and_grad(θ_t)`` once per step, then (at a record) the metrics on the same
    θ_t, then steps to θ_{t+1} = θ_t − η∇L(θ_t). At a record, :meth:`metric` returns the length
    of the path up to θ_t, i.e. before the step that this call's gradient is about to take.
    """

    def __init__(self, loss_and_grad, step_size: float):
        self.loss_and_grad, self.eta = loss_and_grad, step_size
        self.theta, self.before, self.total = None, None, None

    def __call__(self, theta: torch.Tensor):
        loss, (grad,) = self.loss_and_grad(theta)
        step = self.eta * torch.linalg.vector_norm(grad, dim=-1)
        self.before = torch.zeros_like(step) if self.total is None else self.total
        self.total = self.before + step
        self.theta = theta
        return loss, (grad,)

    def metric(self, theta: torch.Tensor) -> torch.Tensor:
        if theta is not self.theta:  # the loop evaluates metrics right after the gradient
            raise RuntimeError("the path length is only known at the iterate of the last gradient")
        return self.before


def linear_gd(
    X: torch.Tensor, y: torch.Tensor, theta0: torch.Tensor, *, step_size: float | None = None,
    n_steps: int, record_every: int = 1, tol: float | None = None,
) -> Trajectory:
    """Gradient descent on ½‖Xθ − y‖² from θ_0 of shape (p,) or (K, p) (K runs, one X).

    Parameters
    ----------
    X : Tensor, shape (n, p), n ≤ p, full row rank
    y : Tensor, shape (n,)
    theta0 : Tensor, shape (p,) or (K, p)
    step_size : float, optional
        η; defaults to 1/σ_1(X)², the largest step for which ‖r_t‖ ≤ (1 − ησ_n²)^t ‖r_0‖.
    n_steps, record_every, tol
        As in :func:`~beyondlazy.gd.gradient_descent`; ``tol`` stops the run once
        ``residual`` ≤ tol.

    Returns
    -------
    Trajectory
        Metrics ``residual``, ``distance`` ‖θ_t − θ_0‖, ``distance_to_closest`` ‖θ_t − θ*‖
        (θ* from :func:`closest_interpolant`) and ``path_length``.
    """
    _check_problem(X, y, theta0)
    if step_size is None:
        step_size = 1.0 / float(torch.linalg.matrix_norm(X, ord=2)) ** 2
    eta = check_positive("step_size", step_size)
    closest = closest_interpolant(X, y, theta0)
    path = _PathLength(linear_loss_and_grad(X, y), eta)
    metrics = {
        "residual": lambda th: torch.linalg.vector_norm(th @ X.T - y, dim=-1),
        "distance": lambda th: torch.linalg.vector_norm(th - theta0, dim=-1),
        "distance_to_closest": lambda th: torch.linalg.vector_norm(th - closest, dim=-1),
        "path_length": path.metric,
    }
    return gradient_descent(
        path, theta0, step_size=eta, n_steps=n_steps, record_every=record_every,
        metrics=metrics, tol=tol, tol_metric="residual", batched=theta0.ndim == 2,
    )


def nonlinear_gd(
    model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], X: torch.Tensor,
    y: torch.Tensor, theta0: torch.Tensor, *, step_size: float, n_steps: int,
    record_every: int = 1, tol: float | None = None, singular_values: bool = True,
    kernel: Callable[[torch.Tensor], torch.Tensor] | None = None, segment_points: int = 0,
) -> Trajectory:
    """Gradient descent on ½‖f(θ) − y‖², f(θ) = model(θ, X), from θ_0 of shape (p,).

    The gradient J(θ)ᵀ(f(θ) − y) is one backward pass of ``torch.autograd``.

    Parameters
    ----------
    model : callable
        ``model(theta, x)``: a scalar for one input x of shape (d,), shape (n,) for X of shape
        (n, d), built from tensor operations (e.g. ``functools.partial(network, net)`` from
        :mod:`beyondlazy.networks`).
    X : Tensor, shape (n, d)
        The training inputs.
    y : Tensor, shape (n,)
        The labels.
    theta0 : Tensor, shape (p,), p ≥ n
        The initialization.
    step_size : float
        η, e.g. 1/σ_1(J(θ_0))².
    n_steps, record_every, tol
        As in :func:`~beyondlazy.gd.gradient_descent`; ``tol`` stops once ``residual`` ≤ tol.
    singular_values : bool
        Whether to record ``sigma_min`` and ``sigma_max`` of J(θ_t) (one Jacobian per record,
        :func:`~beyondlazy.jacobian.jacobian`, unless ``kernel`` is given).
    kernel : callable, optional
        ``kernel(theta)`` = J(θ)J(θ)ᵀ on the training inputs, shape (n, n) (e.g.
        :func:`~beyondlazy.ntk.network_ntk` for the networks of :mod:`beyondlazy.networks`). The
        singular values are then the square roots of its extreme eigenvalues, and no n × p
        Jacobian is formed: what makes recording them at every step of a wide network affordable.
    segment_points : int
        If > 0 (with ``singular_values``), also record ``sigma_max_segment``: the largest
        σ_1(J) at θ_0 + s(θ_t − θ_0) for s = 0, 1/k, …, 1 (k = ``segment_points``), a sampled
        estimate of sup σ_1(J) over the segment from θ_0 to θ_t. That supremum, not σ_1 at the
        iterates, is what bounds ‖f(θ_t) − f(θ_0)‖ ≤ sup σ_1 · ‖θ_t − θ_0‖ (the mean value
        inequality along the segment).

    Returns
    -------
    Trajectory
        Metrics ``residual`` ‖f(θ_t) − y‖, ``distance`` ‖θ_t − θ_0‖, ``path_length`` and,
        if asked, ``sigma_min``, ``sigma_max`` and ``sigma_max_segment``.
    """
    check_shape("theta0", theta0, (None,))
    check_finite("theta0", theta0)
    check_shape("X", X, (None, None))
    check_finite("X", X)
    check_shape("y", y, (X.shape[0],))
    check_finite("y", y)
    check_same_device(theta0=theta0, X=X, y=y)
    eta = check_positive("step_size", step_size)
    if y.shape[0] > theta0.shape[0]:
        raise ValueError(f"theta0 must have at least n = {y.shape[0]} entries (n <= p); got "
                         f"{theta0.shape[0]}")

    def f(theta):
        return model(theta, X)

    def loss_and_grad(theta):
        with torch.enable_grad():  # the loop runs under no_grad
            theta = theta.detach().requires_grad_(True)
            r = f(theta) - y
            loss = 0.5 * (r * r).sum()
            (grad,) = torch.autograd.grad(loss, theta)
        return loss.detach(), (grad,)

    path = _PathLength(loss_and_grad, eta)
    metrics = {
        "residual": lambda th: torch.linalg.vector_norm(f(th) - y),
        "distance": lambda th: torch.linalg.vector_norm(th - theta0),
        "path_length": path.metric,
    }
    segment_points = check_int("segment_points", segment_points, minimum=0)
    if singular_values:
        cache = {}

        def values_at(theta):
            if kernel is None:
                return extreme_singular_values(jacobian(model, theta, X))
            eigs = torch.linalg.eigvalsh(kernel(theta)).clamp_min(0).sqrt()
            return eigs[0], eigs[-1]

        def extremes(theta):
            if cache.get("theta") is not theta:
                cache["theta"], cache["values"] = theta, values_at(theta)
            return cache["values"]

        metrics["sigma_min"] = lambda th: extremes(th)[0]
        metrics["sigma_max"] = lambda th: extremes(th)[1]
        if segment_points:
            def on_segment(theta):
                points = [theta0 + (k / segment_points) * (theta - theta0)
                          for k in range(segment_points)]
                return torch.stack([values_at(p)[1] for p in points]
                                   + [extremes(theta)[1]]).max()

            metrics["sigma_max_segment"] = on_segment
    return gradient_descent(
        path, theta0, step_size=eta, n_steps=n_steps, record_every=record_every,
        metrics=metrics, tol=tol, tol_metric="residual",
    )
