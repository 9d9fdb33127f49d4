"""The neural tangent kernel: empirical (two ways) and, for a two-layer ReLU net, its width limit.

For a model f(θ; x) (a pure function ``model(theta, x)``, as in :mod:`beyondlazy.jacobian`) the
*empirical* neural tangent kernel at θ is

    K_θ(x, x') = ∇_θ f(θ; x)ᵀ ∇_θ f(θ; x'),      K_θ(X, X') = J_θ(X) J_θ(X')ᵀ ∈ R^{n × n'},

the kernel of the linearized model f_lin(θ; x) = f(θ_0; x) + ∇_θ f(θ_0; x)ᵀ(θ − θ_0) (gradient
descent on the linearized model is kernel gradient descent with K_{θ_0}). It is computed two
independent ways:

* :func:`empirical_ntk` forms the Jacobians (``torch.func.jacrev``, vectorized over the inputs)
  and contracts them: J(X) J(X')ᵀ;
* :func:`empirical_ntk_products` never stores an n × p Jacobian: column j of K is
  J(X) (J(X')ᵀ e_j), one vector–Jacobian product (reverse mode) followed by one
  Jacobian–vector product (forward mode), vectorized over j in chunks.

For the one-hidden-layer network f(θ; x) = s_m vᵀσ(Wx) of :mod:`beyondlazy.networks` the kernel
also has a closed form, a sum over neurons (:func:`network_ntk`):

    K_θ(x, x') = s_m² Σ_j [ v_j² σ'(w_jᵀx) σ'(w_jᵀx') xᵀx' + σ(w_jᵀx) σ(w_jᵀx') ],

the first term from the input weights w_j, the second from the output weights v_j. It costs
O(n n' m) instead of the O(n n' p) of contracting Jacobians, which is what makes the singular
values of J(θ_t) affordable at every step of a wide network's run (Chapter 2).

For the one-hidden-layer network f(θ; x) = (1/√m) Σ_j v_j relu(w_jᵀx) of :mod:`beyondlazy.networks`
(NTK parameterization, W_ij, v_j ~ N(0, 1), both layers trained), the law of large numbers gives,
as m → ∞, the deterministic limit (Jacot, Gabriel and Hongler 2018; Cho and Saul 2009 for the
arc-cosine kernels κ_0, κ_1)

    K_∞(x, x') = xᵀx' κ_0(x, x') + κ_1(x, x'),
    κ_0(x, x') = E 1(wᵀx > 0) 1(wᵀx' > 0) = (π − φ)/(2π),
    κ_1(x, x') = E relu(wᵀx) relu(wᵀx') = ‖x‖‖x'‖ (sin φ + (π − φ) cos φ)/(2π),

with φ ∈ [0, π] the angle between x and x' and w ~ N(0, I_d). The first term comes from the
input weights W, the second from the output weights v. The empirical kernel fluctuates around
K_∞ by O(1/√m) (a Monte-Carlo average of m independent neurons): Chapter 1, claim C1.1.

Notation::

    n, n'  inputs in X, X'      d  input dimension      m  width      p  parameters

Results follow the device and dtype of θ and X.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .jacobian import jacobian
from .networks import OneHiddenLayer, output_scale, unflatten
from .validation import check_finite, check_int, check_same_device, check_shape

__all__ = ["arccos0", "arccos1", "empirical_ntk", "empirical_ntk_products", "network_ntk",
           "relu_ntk"]

Model = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _pair(X1: torch.Tensor, X2: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    check_shape("X1", X1, (None, None))
    check_finite("X1", X1)
    if X2 is None:
        return X1, X1
    check_shape("X2", X2, (None, X1.shape[1]))
    check_finite("X2", X2)
    check_same_device(X1=X1, X2=X2)
    return X1, X2


def empirical_ntk(model: Model, theta: torch.Tensor, X1: torch.Tensor,
                  X2: torch.Tensor | None = None) -> torch.Tensor:
    """K_θ(X1, X2) = J_θ(X1) J_θ(X2)ᵀ by forming and contracting the Jacobians.

    Parameters
    ----------
    model : callable
        ``model(theta, x)``, a scalar for one input x of shape (d,).
    theta : Tensor, shape (p,)
        Where the kernel is taken (θ_0 for the kernel of the linearized model).
    X1 : Tensor, shape (n, d)
    X2 : Tensor, shape (n', d), optional
        Defaults to X1 (the n × n Gram matrix on the training points).

    Returns
    -------
    Tensor, shape (n, n')
    """
    X1, X2 = _pair(X1, X2)
    J1 = jacobian(model, theta, X1)
    J2 = J1 if X2 is X1 else jacobian(model, theta, X2)
    return J1 @ J2.T


def empirical_ntk_products(model: Model, theta: torch.Tensor, X1: torch.Tensor,
                           X2: torch.Tensor | None = None, *,
                           chunk_size: int | None = 16) -> torch.Tensor:
    """K_θ(X1, X2) from Jacobian products only: column j is J(X1)(J(X2)ᵀ e_j).

    Each column costs one vector–Jacobian product (``torch.func.vjp``, reverse mode) and one
    Jacobian–vector product (``torch.func.jvp``, forward mode); the columns are vectorized with
    ``torch.func.vmap`` in chunks of ``chunk_size``, so at most ``chunk_size`` vectors of length p
    are held at once (never the n × p Jacobian). An implementation independent of
    :func:`empirical_ntk`, used to check it (claim C1.1).

    Parameters
    ----------
    model, theta, X1, X2
        As in :func:`empirical_ntk`.
    chunk_size : int or None
        Columns computed together (None: all at once).

    Returns
    -------
    Tensor, shape (n, n')
    """
    check_shape("theta", theta, (None,))
    check_finite("theta", theta)
    X1, X2 = _pair(X1, X2)
    check_same_device(theta=theta, X1=X1)
    if chunk_size is not None:
        check_int("chunk_size", chunk_size, minimum=1)
    theta = theta.detach()
    _, pullback = torch.func.vjp(lambda th: model(th, X2), theta)

    def column(e: torch.Tensor) -> torch.Tensor:
        (tangent,) = pullback(e)  # J(X2)ᵀ e, shape (p,)
        return torch.func.jvp(lambda th: model(th, X1), (theta,), (tangent,))[1]

    eye = torch.eye(X2.shape[0], dtype=theta.dtype, device=theta.device)
    columns = torch.func.vmap(column, chunk_size=chunk_size)(eye)  # row j = K[:, j]
    return columns.T


def network_ntk(net: OneHiddenLayer, theta: torch.Tensor, X1: torch.Tensor,
                X2: torch.Tensor | None = None) -> torch.Tensor:
    """K_θ(X1, X2) of the network f(θ; x) = s_m vᵀσ(Wx) in closed form (no Jacobian is formed).

    K_θ(x, x') = s_m² [ xᵀx' Σ_j v_j² σ'(w_jᵀx) σ'(w_jᵀx') + Σ_j σ(w_jᵀx) σ(w_jᵀx') ], with
    σ' = 1 − tanh² for tanh and σ'(z) = 1(z > 0) for ReLU (the derivative autograd uses, 0 at 0).
    It equals :func:`empirical_ntk` of ``functools.partial(network, net)`` up to round-off.

    Parameters
    ----------
    net : OneHiddenLayer
        The architecture (:mod:`beyondlazy.networks`).
    theta : Tensor, shape (p,)
        θ = (vec W, v).
    X1 : Tensor, shape (n, d)
    X2 : Tensor, shape (n', d), optional
        Defaults to X1.

    Returns
    -------
    Tensor, shape (n, n')
    """
    check_finite("theta", theta)
    X1, X2 = _pair(X1, X2)
    check_shape("X1", X1, (None, net.d))
    check_same_device(theta=theta, X1=X1)
    W, v = unflatten(net, theta)

    def features(X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        Z = X @ W.T  # (n, m): the pre-activations w_jᵀx
        if net.activation == "tanh":
            S = torch.tanh(Z)
            return S, 1 - S * S
        return torch.relu(Z), (Z > 0).to(Z.dtype)

    S1, D1 = features(X1)
    S2, D2 = (S1, D1) if X2 is X1 else features(X2)
    input_part = (X1 @ X2.T) * ((D1 * v * v) @ D2.T)
    return output_scale(net) ** 2 * (input_part + S1 @ S2.T)


def _angle(X1: torch.Tensor, X2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The angles φ ∈ [0, π] between the rows of X1 and X2, and the products of their norms.

    φ = 2 atan2(‖x̂ − x̂'‖, ‖x̂ + x̂'‖) for the unit vectors x̂, x̂': accurate to round-off at every
    angle (arccos of the cosine loses half the digits near φ = 0 and φ = π).
    """
    n1 = torch.linalg.vector_norm(X1, dim=1, keepdim=True)
    n2 = torch.linalg.vector_norm(X2, dim=1, keepdim=True)
    if not (bool((n1 > 0).all()) and bool((n2 > 0).all())):
        raise ValueError("X1 and X2 must have non-zero rows (the angle between inputs is "
                         "undefined at 0)")
    U1, U2 = X1 / n1, X2 / n2
    mode = "donot_use_mm_for_euclid_dist"  # the direct formula: no cancellation
    minus = torch.cdist(U1, U2, compute_mode=mode)
    plus = torch.cdist(U1, -U2, compute_mode=mode)
    return 2 * torch.atan2(minus, plus), n1 * n2.T


def arccos0(X1: torch.Tensor, X2: torch.Tensor | None = None) -> torch.Tensor:
    """κ_0(x, x') = E_w 1(wᵀx > 0) 1(wᵀx' > 0) = (π − φ)/(2π), w ~ N(0, I_d): shape (n, n').

    The arc-cosine kernel of degree 0 (Cho and Saul 2009), φ the angle between x and x'.
    """
    X1, X2 = _pair(X1, X2)
    phi, _ = _angle(X1, X2)
    return (math.pi - phi) / (2 * math.pi)


def arccos1(X1: torch.Tensor, X2: torch.Tensor | None = None) -> torch.Tensor:
    """κ_1(x, x') = E_w relu(wᵀx) relu(wᵀx') = ‖x‖‖x'‖(sin φ + (π − φ)cos φ)/(2π): (n, n').

    The arc-cosine kernel of degree 1 (Cho and Saul 2009), w ~ N(0, I_d).
    """
    X1, X2 = _pair(X1, X2)
    phi, norms = _angle(X1, X2)
    return norms * (torch.sin(phi) + (math.pi - phi) * torch.cos(phi)) / (2 * math.pi)


def relu_ntk(X1: torch.Tensor, X2: torch.Tensor | None = None) -> torch.Tensor:
    """The infinite-width NTK of f(θ; x) = (1/√m) vᵀrelu(Wx): xᵀx' κ_0(x, x') + κ_1(x, x').

    The limit, as m → ∞, of :func:`empirical_ntk` for ``OneHiddenLayer(d, m, "relu", "ntk")`` at
    an initialization of :func:`~beyondlazy.networks.init_params` (both layers trained); see the
    module docstring. Shape (n, n'). Reference: Jacot, Gabriel and Hongler (2018); Chapter 1.

    >>> import torch
    >>> x = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    >>> float(relu_ntk(x))  # φ = 0: 1/2 (input layer) + 1/2 (output layer)
    1.0
    """
    X1, X2 = _pair(X1, X2)
    return (X1 @ X2.T) * arccos0(X1, X2) + arccos1(X1, X2)
