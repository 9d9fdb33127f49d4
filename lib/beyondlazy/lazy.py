"""Lazy training: a model trained side by side with its linearization, at an output scale α.

Chizat, Oyallon and Bach (2019) scale a model h(θ; x) by a factor α and train the objective

    F_α(θ) = R(α h(θ)) / α²,        R(f) = (1/2n) Σ_i (f_i − y_i)²,

by gradient descent θ_{t+1} = θ_t − η ∇F_α(θ_t), from an initialization with h(θ_0) = 0 (for
instance :func:`~beyondlazy.networks.symmetrized_init`). The predictions α h(θ_t) then move by
(η/n) J Jᵀ(y − α h) per step, whatever α, while θ moves by O(1/α): as α grows the model trains
like its *linearization*

    h_lin(θ; x) = h(θ_0; x) + ∇_θ h(θ_0; x)ᵀ(θ − θ_0),

i.e. like kernel gradient descent with the empirical NTK K_0 = J(θ_0)J(θ_0)ᵀ
(:mod:`beyondlazy.ntk`), and the gap between the two trained models is O(1/α). A width-m network
in the NTK parameterization is lazy in the same way as m grows (α = 1): its weights move by
O(1/√m) relative to their size.

:func:`train_lazy` trains the model and its linearization with the same step sizes in one call of
the shared loop (:func:`~beyondlazy.gd.gradient_descent`), optionally for a batch of K runs (K
scales α, or K initializations), and records along the way:

==================  ========================================================================
metric              definition (predictions are α h, on the training points unless "test")
==================  ========================================================================
``loss``            F_α(θ_t), the objective the network descends (plus the linearization's
                    objective at θ^lin_t when it is trained: the loop's divergence check
                    watches both)
``train_loss``      R(α h(θ_t)) on the training points
``test_loss``       R(α h(θ_t)) on the test points
``residual``        ‖α h(θ_t; X) − y‖ / ‖y‖ (``tol`` stops on it)
``weight_change``   ‖θ_t − θ_0‖ / ‖θ_0‖
``kernel_change``   ‖K_t − K_0‖ / ‖K_0‖, K_t = J(θ_t)J(θ_t)ᵀ on the training points
``lin_train_loss``  R(α h_lin(θ^lin_t)) on the training points (the linearization)
``lin_test_loss``   the same on the test points
``gap``             ‖α h(θ_t; X_test) − α h_lin(θ^lin_t; X_test)‖ / ‖y_test‖: the network
                    against its linearization, each after t steps
==================  ========================================================================

The linearized model is trained in function space. Its gradient (1/(nα)) J_0ᵀ(α h_lin − y) is
J_0ᵀ times n numbers, so gradient descent from θ_0 keeps θ^lin_t = θ_0 + J_0ᵀ b_t with b_t ∈ R^n:

    b_{t+1} = b_t − η (α h_lin(θ^lin_t) − y)/(nα),     α h_lin(θ^lin_t) = α (h(θ_0) + K_0 b_t),

and on test points α (h(θ_0; X_test) + K_0(X_test, X) b_t). This is kernel gradient descent with
the empirical NTK: a step costs an n × n product instead of passes through the p parameters, and
θ^lin_T = θ_0 + J_0ᵀ b_T takes one vector–Jacobian product at the end. A test checks it against
gradient descent on the parameters of the linearized model.

The teacher–student task of :func:`relu_teacher_task` is that of Chizat et al.'s experiment on
the test loss against the initialization scale τ: inputs uniform on the sphere, labels from a
teacher of m_0 ReLU neurons with unit input weights and ±1 output weights.

Notation::

    n  training points    d  input dimension    m  width    p  parameters    K  runs in a batch
    α  output scale       τ  initialization scale    η  step size    θ_0  initialization

Used in Chapter 1 (lazy linearization), claims C1.2–C1.4. Results follow the device and dtype
of θ_0 and X.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from . import rng
from .gd import gradient_descent
from .networks import sphere_inputs
from .ntk import empirical_ntk, empirical_ntk_products
from .trajectory import Trajectory
from .validation import check_finite, check_int, check_same_device, check_shape

__all__ = [
    "DENSE_JACOBIAN_BUDGET",
    "TeacherTask",
    "centered",
    "kernel_step_size",
    "relu_teacher",
    "relu_teacher_task",
    "relu_teacher_weights",
    "train_lazy",
]

Model = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: The most entries of one Jacobian (n·p or n_test·p) that :func:`train_lazy` forms for its default
#: kernel (2²⁴: 134 MB in float64); beyond it the kernel is built from Jacobian products
#: (:func:`~beyondlazy.ntk.empirical_ntk_products`) and no Jacobian is formed.
DENSE_JACOBIAN_BUDGET = 2**24


# ---------------------------------------------------------------------------------------------
# The teacher–student task
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeacherTask:
    """Training and test sets labelled by a ReLU teacher (see :func:`relu_teacher_task`)."""

    X: torch.Tensor  # training inputs, shape (n, d), on the unit sphere
    y: torch.Tensor  # training labels, shape (n,)
    X_test: torch.Tensor  # test inputs, shape (n_test, d)
    y_test: torch.Tensor  # test labels, shape (n_test,)


def relu_teacher_weights(m0: int, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The teacher's unit input weights U (m_0, d) and output signs s (m_0,), float64 on the CPU."""
    m0 = check_int("m0", m0, minimum=1)
    d = check_int("d", d, minimum=1)
    gen = rng.generator(seed)
    U = rng.randn((m0, d), gen, dtype=torch.float64)
    signs = torch.sign(rng.randn((m0,), gen, dtype=torch.float64))
    return U / torch.linalg.vector_norm(U, dim=1, keepdim=True), signs


def relu_teacher(X: torch.Tensor, m0: int, seed: int) -> torch.Tensor:
    """y(x) = Σ_{k ≤ m_0} s_k relu(u_kᵀx), ‖u_k‖ = 1, s_k = ±1, drawn from ``seed``: shape (n,).

    The teacher of Chizat, Oyallon and Bach's experiment (m_0 = 3 there); its weights are
    :func:`relu_teacher_weights`.
    """
    check_shape("X", X, (None, None))
    U, signs = relu_teacher_weights(m0, X.shape[1], seed)
    return torch.relu(X @ U.to(X).T) @ signs.to(X)


def relu_teacher_task(n: int, n_test: int, d: int, *, m0: int = 3, seed: int,
                      dtype: torch.dtype = torch.float64,
                      device: torch.device | str | None = None) -> TeacherTask:
    """n training and n_test test inputs uniform on the sphere of R^d, labelled by the teacher.

    Inputs, test inputs and teacher come from three seeds derived from ``seed``.
    """
    X = sphere_inputs(n, d, seed=seed, dtype=dtype, device=device)
    X_test = sphere_inputs(n_test, d, seed=seed + 1, dtype=dtype, device=device)
    return TeacherTask(X, relu_teacher(X, m0, seed + 2), X_test, relu_teacher(X_test, m0, seed + 2))


# ---------------------------------------------------------------------------------------------
# Training a model and its linearization side by side
# ---------------------------------------------------------------------------------------------


def kernel_step_size(model: Model, theta0: torch.Tensor, X: torch.Tensor) -> float:
    """η = n / λ_max(K_0), K_0 = J(θ_0)J(θ_0)ᵀ: the step at which kernel GD on R is stable.

    With R(f) = ‖f − y‖²/(2n), GD on the linearization moves the predictions by
    (η/n) K_0 (y − f) per step, whatever α; this η makes the largest factor exactly 1.
    """
    K0 = empirical_ntk(model, theta0, X)
    return X.shape[0] / float(torch.linalg.eigvalsh(K0)[-1])


def _as_runs(name: str, value, K: int, like: torch.Tensor) -> torch.Tensor:
    """A number or a tensor of shape (K,) as a (K,) tensor like ``like``."""
    if isinstance(value, torch.Tensor):
        if value.ndim == 0:
            value = value.reshape(1).expand(K)
        check_shape(name, value, (K,))
        value = value.to(dtype=like.dtype, device=like.device)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        value = torch.full((K,), float(value), dtype=like.dtype, device=like.device)
    else:
        raise ValueError(f"{name} must be a number or a tensor of shape (K,) = ({K},); got "
                         f"{value!r}")
    check_finite(name, value)
    if not bool((value > 0).all()):
        raise ValueError(f"{name} must hold numbers > 0; got {value.tolist()}")
    return value


def train_lazy(
    model: Model, theta0: torch.Tensor, X: torch.Tensor, y: torch.Tensor, *,
    X_test: torch.Tensor, y_test: torch.Tensor, alpha: float | torch.Tensor = 1.0,
    step_size: float | torch.Tensor, n_steps: int, record_every: int = 1,
    tol: float | None = None, linearization: bool = True, kernel_change: bool = True,
    on_divergence: str = "raise", kernel: Callable[..., torch.Tensor] | None = None,
) -> Trajectory:
    """Gradient descent on F_α(θ) = R(α h(θ))/α², for the model and (optionally) its linearization.

    Parameters
    ----------
    model : callable
        ``model(theta, x)`` = h(θ; x): a scalar for one input of shape (d,), shape (n,) for a
        batch (e.g. ``functools.partial(network, net)``).
    theta0 : Tensor, shape (p,) or (K, p)
        θ_0. Shape (K, p) runs K independent initializations (e.g. K scales τ of one draw).
    X, y : Tensors of shapes (n, d) and (n,)
        Training inputs and labels.
    X_test, y_test : Tensors of shapes (n_test, d) and (n_test,)
        Test inputs and labels.
    alpha : float or Tensor of shape (K,)
        The output scale α (one per run). A (K,) tensor with a (p,) ``theta0`` runs the K
        scales from the same θ_0.
    step_size : float or Tensor of shape (K,)
        η, e.g. :func:`kernel_step_size` (the same for every α).
    n_steps, record_every, tol, on_divergence
        As in :func:`~beyondlazy.gd.gradient_descent`; ``tol`` stops once ``residual`` ≤ tol.
    linearization : bool
        Whether to train the linearized model too (params then hold (θ_T, θ^lin_T)).
    kernel_change : bool
        Whether to record ``kernel_change`` (one kernel per run and record).
    kernel : callable, optional
        ``kernel(theta, X1, X2=None)`` = J_θ(X1)J_θ(X2)ᵀ for one θ of shape (p,), e.g.
        ``functools.partial(network_ntk, net)`` (:func:`~beyondlazy.ntk.network_ntk`, a closed
        form that forms no Jacobian). It gives K_0 and K_0(X_test, X) for the linearization
        (once per distinct θ_0) and K_t for ``kernel_change``. Defaults to
        :func:`~beyondlazy.ntk.empirical_ntk` of ``model``, or to
        :func:`~beyondlazy.ntk.empirical_ntk_products` when a Jacobian would have more than
        :data:`DENSE_JACOBIAN_BUDGET` entries.

    Returns
    -------
    Trajectory
        The metrics of the module docstring, of shape (T,) for one run and (T, K) for a batch;
        ``params`` is θ_T, or (θ_T, θ^lin_T) with the linearization. Run ``k`` of a batch uses
        ``alpha[k]``, ``step_size[k]`` and ``theta0[k]``.
    """
    check_shape("X", X, (None, None))
    check_shape("y", y, (X.shape[0],))
    check_shape("X_test", X_test, (None, X.shape[1]))
    check_shape("y_test", y_test, (X_test.shape[0],))
    for name, tensor in (("theta0", theta0), ("X", X), ("y", y), ("X_test", X_test),
                         ("y_test", y_test)):
        check_finite(name, tensor)
    check_same_device(theta0=theta0, X=X, y=y, X_test=X_test, y_test=y_test)
    if theta0.ndim not in (1, 2):
        raise ValueError(f"theta0 must have shape (p,) or (K, p); got {tuple(theta0.shape)}")
    shared = theta0.ndim == 1  # one θ_0 for every run: one kernel serves them all
    single = theta0.ndim == 1 and not (isinstance(alpha, torch.Tensor) and alpha.ndim == 1) \
        and not (isinstance(step_size, torch.Tensor) and step_size.ndim == 1)
    if theta0.ndim == 2:
        K = theta0.shape[0]
    else:
        sizes = [v.shape[0] for v in (alpha, step_size)
                 if isinstance(v, torch.Tensor) and v.ndim == 1]
        K = sizes[0] if sizes else 1
    theta0 = theta0.detach().reshape(-1, theta0.shape[-1]).expand(K, -1).clone()
    a = _as_runs("alpha", alpha, K, theta0)
    eta = _as_runs("step_size", step_size, K, theta0)
    n = X.shape[0]

    h = torch.func.vmap(model, in_dims=(0, None))  # (K, p), (n, d) -> (K, n)

    def risk(f: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """R(f) = ‖f − y‖²/(2n) for each run: (K, n) -> (K,)."""
        return 0.5 * ((f - target) ** 2).mean(dim=-1)

    def network_loss_and_grad(theta: torch.Tensor):
        with torch.enable_grad():  # the loop runs under no_grad
            theta = theta.detach().requires_grad_(True)
            loss = risk(a[:, None] * h(theta, X), y) / a**2
            (grad,) = torch.autograd.grad(loss.sum(), theta)
        return loss.detach(), grad

    y_norm_test = torch.linalg.vector_norm(y_test)
    if kernel is None:
        p = theta0.shape[1]
        if max(n, X_test.shape[0]) * p <= DENSE_JACOBIAN_BUDGET:
            def kernel(theta, X1, X2=None):
                return empirical_ntk(model, theta, X1, X2)
        else:
            def kernel(theta, X1, X2=None):
                return empirical_ntk_products(model, theta, X1, X2)

    def at_init(*inputs) -> torch.Tensor:
        """The kernel at θ_0 of every run, shape (K, ·, ·): computed once when θ_0 is shared."""
        if shared:
            return kernel(theta0[0], *inputs).expand(K, -1, -1)
        return torch.stack([kernel(theta0[k], *inputs) for k in range(K)])

    K0 = at_init(X) if (linearization or kernel_change) else None
    if linearization:
        # θ^lin = θ_0 + J_0ᵀ b: the linearization's predictions are h(θ_0) + K_0 b on the
        # training points and h(θ_0; X_test) + K_0(X_test, X) b on the test points.
        h0_train, h0_test = h(theta0, X), h(theta0, X_test)
        K0_test = at_init(X_test, X)

    def linear_predictions(b: torch.Tensor, test: bool = False) -> torch.Tensor:
        """α h_lin(θ_0 + J_0ᵀ b) for each run: (K, n) -> (K, n) or (K, n_test)."""
        if test:
            return a[:, None] * (h0_test + (K0_test @ b[..., None])[..., 0])
        return a[:, None] * (h0_train + (K0 @ b[..., None])[..., 0])

    def loss_and_grad(theta, b=None):
        loss, grad = network_loss_and_grad(theta)
        if b is None:
            return loss, (grad,)
        f_lin = linear_predictions(b)
        # the loop watches the sum for divergence: either run blowing up stops (or flags) both
        return loss + risk(f_lin, y) / a**2, (grad, (f_lin - y) / (n * a[:, None]))

    def net(theta, test=False):
        return a[:, None] * h(theta, X_test if test else X)

    y_norm = torch.linalg.vector_norm(y)
    theta0_norm = torch.linalg.vector_norm(theta0, dim=1)
    metrics = {
        "train_loss": lambda th, *rest: risk(net(th), y),
        "test_loss": lambda th, *rest: risk(net(th, True), y_test),
        "residual": lambda th, *rest: torch.linalg.vector_norm(net(th) - y, dim=1) / y_norm,
        "weight_change": lambda th, *rest: (torch.linalg.vector_norm(th - theta0, dim=1)
                                            / theta0_norm),
    }
    if kernel_change:
        def kernel_metric(theta, *rest):
            return torch.stack([torch.linalg.matrix_norm(kernel(theta[k], X) - K0[k])
                                / torch.linalg.matrix_norm(K0[k]) for k in range(K)])

        metrics["kernel_change"] = kernel_metric
    if linearization:
        metrics["lin_train_loss"] = lambda th, b: risk(linear_predictions(b), y)
        metrics["lin_test_loss"] = lambda th, b: risk(linear_predictions(b, True), y_test)
        metrics["gap"] = lambda th, b: torch.linalg.vector_norm(
            net(th, True) - linear_predictions(b, True), dim=1) / y_norm_test
    params = (theta0, theta0.new_zeros(K, n)) if linearization else (theta0,)
    trajectory = gradient_descent(
        loss_and_grad, params, step_size=eta, n_steps=n_steps, record_every=record_every,
        metrics=metrics, tol=tol, tol_metric="residual", batched=True,
        on_divergence=on_divergence)
    if linearization:  # θ^lin_T = θ_0 + J_0ᵀ b_T, one vector–Jacobian product for every run
        theta_T, b_T = trajectory.params
        _, pull_back = torch.func.vjp(lambda th: h(th, X), theta0)
        trajectory = replace(trajectory, params=(theta_T, theta0 + pull_back(b_T)[0]))
    if not single:
        return trajectory if linearization else replace(trajectory, params=trajectory.params[0])
    return Trajectory(
        steps=trajectory.steps,
        metrics={name: values[:, 0] for name, values in trajectory.metrics.items()},
        params=tuple(p[0] for p in trajectory.params) if linearization else trajectory.params[0][0],
        converged=trajectory.converged[0], diverged=trajectory.diverged[0],
        diverged_at=trajectory.diverged_at[0], n_steps=trajectory.n_steps)


def centered(model: Model, theta0: torch.Tensor) -> Model:
    """The model h(θ; x) = g(θ; x) − g(θ_0; x), which vanishes at θ_0 for any initialization.

    The other way (besides :func:`~beyondlazy.networks.symmetrized_init`) to meet Chizat,
    Oyallon and Bach's condition h(θ_0) = 0: subtract the function computed at initialization.
    Unlike the symmetrized network, the centered one keeps the second-order term of its Taylor
    expansion along the training path, so its gap to the linearization is of order 1/α
    (Chapter 1).
    """
    check_shape("theta0", theta0, (None,))
    check_finite("theta0", theta0)
    theta0 = theta0.detach()

    def h(theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return model(theta, x) - model(theta0, x)

    return h
