"""Learning a representation with one gradient step (Algorithm 1 of Damian, Lee and
Soltanolkotabi, COLT 2022), the kernel baselines, transfer, and the metrics of Chapter 4.

Algorithm 1, as implemented here (the network and its gradient: :mod:`beyondlazy.relu_net`):

1. remove the mean and the linear term: α̂ = mean(y_i), β̂ = (1/n)Σ y_i x_i, y_i ← y_i − α̂ − β̂ᵀx_i;
2. symmetric init θ0 (f_θ0 ≡ 0, b = 0), one step on the first layer with weight decay λ₁ = 1/η₁:
   W⁽¹⁾ = W⁽⁰⁾ − η₁(∇_W L(θ0) + λ₁W⁽⁰⁾) = −η₁∇_W L(θ0), i.e. w_j⁽¹⁾ = 2η₁a_j (1/n)Σ y_i x_i 1(w_jᵀx_i ≥ 0);
3. redraw the biases b_j ~ N(0, 1);
4. fit the head a by ridge regression on the features σ(W⁽¹⁾x + b) (closed form; λ picked on a
   holdout set), the paper's T = Θ̃(1/(ηλ)) steps of GD with weight decay on a.

The predictor is x ↦ c(α̂ + β̂ᵀx) + aᵀσ(W⁽¹⁾x + b). The paper adds α̂ + β̂ᵀx back (c = 1). From a
few noisy samples these estimates carry more error than they remove (α̂, β̂ have d + 1 noisy
entries of size ~ 1/√n) and the excess risk rises above 1; we choose c ∈ {0, 1} on the holdout
together with λ, which keeps the risk at ≈ 1 for n ≪ d², as in the paper's figure.

The kernel baselines fit the same head (same centring, same holdout) on fixed features:
random features σ(W0x + b0) with m independent neurons (w ~ N(0, I/d), b ~ N(0, 1)), and the
NTK features ∇_θf_θ0(x) at the symmetric init with b ~ N(0, 1) (the linearized network).

The key identity behind step 2 (the paper's eq. (1), Lemma 4): for unit w,

    E[f*(x) x 1(wᵀx ≥ 0)] = Hw/√(2π) + (terms of relative size O(1/√d) for random w),

with H = E[∇²f*]; so the gradient of every neuron points along span(H) ⊆ span(Uᵀ).

Metrics: the excess risk E(f − f*)²/E f*², the absolute cosine ‖Uw_j‖/‖w_j‖ between each
neuron and span(Uᵀ), and the sin-angle between the top-r right singular subspace of W and
span(Uᵀ).

Notation: n samples, d input dimension, m width, r index dimension, η₁ first step, λ ridge.
Used in Chapter 4.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from . import rng
from .analysis import sin_angle, top_singular_subspace
from .gd import gradient_descent
from .relu_net import (
    ReLUNet, make_loss_and_grad, ntk_features, random_features, relu_net, symmetric_init,
)
from .trajectory import Trajectory
from .ridge import RELATIVE_PENALTIES, ridge_path
from .targets import IndexTarget
from .validation import check_int, check_positive, check_same_device, check_shape

__all__ = [
    "Predictor",
    "algorithm_one",
    "excess_risk",
    "first_layer_step",
    "fit_head",
    "fit_ntk",
    "fit_random_features",
    "neuron_alignment",
    "refit_head",
    "relu_gradient_exact",
    "relu_gradient_mc",
    "subspace_sin_angle",
    "train_full_gd",
]


# ---------------------------------------------------------------------------------------------
# The head: ridge on fixed features, with the mean/linear term chosen on a holdout
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Predictor:
    """x ↦ c·(α̂ + β̂ᵀx) + φ(x)ᵀĉ: a trained head on a fixed feature map φ.

    Call it on inputs of shape (n, d); features are formed in chunks (NTK features are wide).
    """

    feature_map: Callable[[torch.Tensor], torch.Tensor]  # φ: (n, d) -> (n, p)
    coef: torch.Tensor  # (p,) the head ĉ (= a for a network)
    alpha: float  # α̂, mean of the labels
    beta: torch.Tensor  # (d,) β̂ = (1/n)Σ y_i x_i
    linear_term: bool  # c: whether α̂ + β̂ᵀx is added back (picked on the holdout)
    penalty: float  # the ridge penalty λ picked on the holdout
    holdout_error: float  # mean squared error on the (noisy) holdout labels

    def __call__(self, X: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
        out = torch.cat([self.feature_map(X[s:s + chunk]) @ self.coef
                         for s in range(0, X.shape[0], chunk)])
        if self.linear_term:
            out = out + self.alpha + X @ self.beta
        return out


def _center(X: torch.Tensor, y: torch.Tensor) -> tuple[float, torch.Tensor, torch.Tensor]:
    alpha = float(y.mean())
    beta = X.T @ y / X.shape[0]
    return alpha, beta, y - alpha - X @ beta


def fit_head(
    feature_map: Callable[[torch.Tensor], torch.Tensor], X: torch.Tensor, y: torch.Tensor,
    X_hold: torch.Tensor, y_hold: torch.Tensor,
    relative_penalties: tuple[float, ...] = RELATIVE_PENALTIES,
) -> Predictor:
    """Ridge regression of the centred labels on φ(X), λ and c ∈ {0, 1} picked on the holdout.

    Labels are centred as in step 1 of Algorithm 1 (y − α̂ − β̂ᵀx); λ = ρ·tr(ΦᵀΦ/n)/p for ρ in
    ``relative_penalties``; the pair (λ, c) with the smallest holdout mean squared error wins.
    """
    check_shape("X", X, (None, None))
    check_shape("y", y, (X.shape[0],))
    check_shape("X_hold", X_hold, (None, X.shape[1]))
    check_shape("y_hold", y_hold, (X_hold.shape[0],))
    check_same_device(X=X, y=y, X_hold=X_hold, y_hold=y_hold)
    alpha, beta, centred = _center(X, y)
    Phi = feature_map(X)
    scale = float((Phi**2).mean()) or 1.0
    penalties = torch.tensor(relative_penalties, dtype=X.dtype, device=X.device) * scale
    coefs = ridge_path(Phi, centred, penalties)  # (L, p)
    head = torch.cat([feature_map(X_hold[s:s + 8192]) @ coefs.T
                      for s in range(0, X_hold.shape[0], 8192)])  # (n_hold, L)
    linear = alpha + X_hold @ beta
    errors = torch.stack([((head - y_hold[:, None]) ** 2).mean(0),
                          ((head + linear[:, None] - y_hold[:, None]) ** 2).mean(0)])  # (2, L)
    errors = torch.nan_to_num(errors, nan=float("inf"))
    best = int(errors.argmin())
    use_linear, k = divmod(best, len(relative_penalties))
    return Predictor(feature_map, coefs[k], alpha, beta, bool(use_linear), float(penalties[k]),
                     float(errors[use_linear, k]))


# ---------------------------------------------------------------------------------------------
# Algorithm 1 and the kernel baselines
# ---------------------------------------------------------------------------------------------


def first_layer_step(params0: ReLUNet, X: torch.Tensor, y: torch.Tensor, step_size: float) -> torch.Tensor:
    """W⁽¹⁾ = W⁽⁰⁾ − η₁(∇_W L(θ0) + λ₁W⁽⁰⁾) with λ₁ = 1/η₁, i.e. −η₁∇_W L(θ0); shape (m, d).

    ``y`` should be the centred labels (step 1 of Algorithm 1). With the symmetric init
    (f_θ0 ≡ 0): w_j⁽¹⁾ = 2η₁ a_j (1/n) Σ_i y_i x_i 1(w_jᵀx_i + b_j > 0).
    """
    step_size = check_positive("step_size", step_size)
    _, (grad_W, _, _) = make_loss_and_grad(X, y)(*params0)
    return -step_size * grad_W


def algorithm_one(
    X: torch.Tensor, y: torch.Tensor, X_hold: torch.Tensor, y_hold: torch.Tensor, *, m: int,
    seed: int, step_size: float | None = None,
    relative_penalties: tuple[float, ...] = RELATIVE_PENALTIES,
) -> tuple[Predictor, ReLUNet]:
    """Algorithm 1 of Damian et al. (see the module docstring): returns ``(predictor, net)``.

    ``net`` = (W⁽¹⁾, b, a) is the trained network without the linear term; ``step_size`` η₁
    defaults to √d (as in our replication of the paper's Figure 1). ``seed`` draws the init and
    the new biases.
    """
    m = check_int("m", m, minimum=2)
    d = X.shape[1]
    eta = math.sqrt(d) if step_size is None else check_positive("step_size", step_size)
    params0 = symmetric_init(d, m, seed=seed, dtype=X.dtype, device=X.device)
    _, _, centred = _center(X, y)
    W1 = first_layer_step(params0, X, centred, eta)
    b = rng.randn((m,), rng.generator(seed + 7919), dtype=X.dtype, device=X.device)
    predictor = fit_head(lambda Z: random_features(W1, b, Z), X, y, X_hold, y_hold,
                         relative_penalties)
    return predictor, ReLUNet(W1, b, predictor.coef)


def fit_random_features(
    X: torch.Tensor, y: torch.Tensor, X_hold: torch.Tensor, y_hold: torch.Tensor, *, m: int,
    seed: int, relative_penalties: tuple[float, ...] = RELATIVE_PENALTIES,
) -> Predictor:
    """Random features: the head on σ(W0x + b0), m independent neurons w ~ N(0, I/d), b ~ N(0, 1)."""
    m = check_int("m", m, minimum=1)
    d = X.shape[1]
    gen = rng.generator(seed)
    W0 = rng.randn((m, d), gen, dtype=X.dtype, device=X.device) / math.sqrt(d)
    b0 = rng.randn((m,), gen, dtype=X.dtype, device=X.device)
    return fit_head(lambda Z: random_features(W0, b0, Z), X, y, X_hold, y_hold, relative_penalties)


def fit_ntk(
    X: torch.Tensor, y: torch.Tensor, X_hold: torch.Tensor, y_hold: torch.Tensor, *, m: int,
    seed: int, relative_penalties: tuple[float, ...] = RELATIVE_PENALTIES,
) -> Predictor:
    """The linearized network (NTK) at the symmetric init with b ~ N(0, 1): the head on ∇_θf_θ0(x).

    f_θ0 ≡ 0, so f_lin(x) = ∇_θf_θ0(x)ᵀ(θ − θ0): ridge on the m(d + 2) NTK features.
    """
    params0 = symmetric_init(X.shape[1], m, seed=seed, bias_std=1.0, dtype=X.dtype, device=X.device)
    return fit_head(lambda Z: ntk_features(params0, Z), X, y, X_hold, y_hold, relative_penalties)


def refit_head(
    net: ReLUNet, X: torch.Tensor, y: torch.Tensor, X_hold: torch.Tensor, y_hold: torch.Tensor,
    relative_penalties: tuple[float, ...] = RELATIVE_PENALTIES,
) -> Predictor:
    """Transfer: keep the first layer (W, b) of a trained ``net`` and fit a new head on (X, y).

    The ridge head of :func:`fit_head` on the features σ(Wx + b) of the pretrained network, for
    a new target of the same inputs (Theorem 3 of Damian et al.).
    """
    W, b = net.W, net.b
    return fit_head(lambda Z: random_features(W, b, Z), X, y, X_hold, y_hold, relative_penalties)


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


def excess_risk(prediction: torch.Tensor, target_values: torch.Tensor, second_moment: float = 1.0) -> float:
    """E(f − f*)²/E f*² on a test set, with f*² as a control variate.

    The plain estimate mean((f − f*)²) is corrected by ĉ·(mean(f*²) − E f*²), where E f*²
    (``second_moment``, 1 for the course's targets) is known exactly and ĉ is the regression
    coefficient of (f − f*)² on f*². Unbiased up to O(1/n); for f ≈ 0 it returns 1 with no
    sampling noise (the plain estimate of a heavy-tailed f*² has a few per cent of it).
    """
    check_shape("target_values", target_values, (prediction.shape[0],))
    second_moment = check_positive("second_moment", second_moment)
    err = ((prediction - target_values) ** 2).double()
    ctrl = (target_values**2).double()
    ctrl_c = ctrl - ctrl.mean()
    coef = float((err - err.mean()) @ ctrl_c / (ctrl_c @ ctrl_c))
    return float(err.mean() - coef * (ctrl.mean() - second_moment)) / second_moment


def neuron_alignment(W: torch.Tensor, U: torch.Tensor) -> torch.Tensor:
    """The absolute cosine between each neuron w_j and span(Uᵀ): ‖Uw_j‖/‖w_j‖; shape (m,).

    For random w ~ N(0, I_d) and r = 1 its typical value is E|z|/√d = √(2/(πd)).
    """
    check_shape("W", W, (None, U.shape[1]))
    U = U.to(dtype=W.dtype, device=W.device)
    return torch.linalg.vector_norm(W @ U.T, dim=1) / torch.linalg.vector_norm(W, dim=1)


def subspace_sin_angle(W: torch.Tensor, U: torch.Tensor) -> float:
    """sin of the largest principal angle between the top-r right singular subspace of W and span(Uᵀ)."""
    check_shape("W", W, (None, U.shape[1]))
    top = top_singular_subspace(W.T, U.shape[0])
    return float(sin_angle(top, U.T.to(dtype=W.dtype, device=W.device)))


# ---------------------------------------------------------------------------------------------
# The key identity E[f*(x) x 1(wᵀx ≥ 0)] ≈ Hw/√(2π)
# ---------------------------------------------------------------------------------------------


def relu_gradient_mc(f_values: torch.Tensor, X: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Monte Carlo E[f(x) x 1(w_kᵀx ≥ 0)] for each row w_k of w, and standard errors; each (K, d).

    ``X`` (n, d) are N(0, I_d) samples and ``f_values`` (n,) the values f(x_i).
    """
    check_shape("X", X, (None, None))
    check_shape("f_values", f_values, (X.shape[0],))
    check_shape("w", w, (None, X.shape[1]))
    n = X.shape[0]
    total = torch.zeros(w.shape[0], X.shape[1], dtype=X.dtype, device=X.device)
    square = torch.zeros_like(total)
    for s in range(0, n, 1 << 16):
        Xc, fc = X[s:s + (1 << 16)], f_values[s:s + (1 << 16)]
        weights = (Xc @ w.T >= 0).to(X.dtype) * fc[:, None]  # (chunk, K)
        total += weights.T @ Xc
        square += (weights**2).T @ (Xc**2)
    mean = total / n
    variance = (square / n - mean**2).clamp(min=0)
    return mean, (variance / (n - 1)).sqrt()


def relu_gradient_exact(target: IndexTarget, w: torch.Tensor, n_nodes: int = 400) -> torch.Tensor:
    """E[f*(x) x 1(w_kᵀx ≥ 0)] for a single-index f*(x) = ĝ(uᵀx), exactly up to quadrature error.

    Write w = c u + s v (c = uᵀw, s ≥ 0, v ⊥ u a unit vector) and x = z₁u + z₂v + (rest). Only
    (z₁, z₂) matter, and integrating z₂ in closed form leaves one-dimensional integrals:

        E[f* x 1(wᵀx ≥ 0)] = u·E[ĝ(z) z Φ(cz/s)] + v·E[ĝ(z) φ(cz/s)],

    (φ, Φ the standard normal density and distribution function; for s = 0 the first is
    E[ĝ(z) z 1(cz ≥ 0)] and the second 0), computed by Gauss–Legendre quadrature on [−12, 0]
    and [0, 12] with ``n_nodes`` nodes each (float64). Returns shape (K, d) for w of shape (K, d)
    (rows need not be unit: the indicator only sees the direction).
    """
    if target.r != 1:
        raise ValueError(f"target must be single-index (r = 1) for the exact formula; got r = {target.r}")
    check_shape("w", w, (None, target.d))
    n_nodes = check_int("n_nodes", n_nodes, minimum=8)
    u = target.U[0].to(torch.float64)
    w64 = w.detach().to(torch.float64).cpu()
    w64 = w64 / torch.linalg.vector_norm(w64, dim=1, keepdim=True)
    nodes, weights = np.polynomial.legendre.leggauss(n_nodes)
    half = torch.tensor(6.0 * (nodes + 1), dtype=torch.float64)  # [0, 12]
    half_w = torch.tensor(6.0 * weights, dtype=torch.float64)
    z = torch.cat([-half, half])
    dz = torch.cat([half_w, half_w])
    density = torch.exp(-(z**2) / 2) / math.sqrt(2 * math.pi)
    g = target.link(z[:, None])
    out = torch.zeros_like(w64)
    for k, wk in enumerate(w64):
        c = float(wk @ u)
        rest = wk - c * u
        s = float(torch.linalg.vector_norm(rest))
        if s < 1e-12:
            step = (c * z >= 0).to(torch.float64)
            along, across, v = (dz * density * g * z * step).sum(), 0.0, torch.zeros_like(u)
        else:
            v = rest / s
            kappa = c / s
            cdf = 0.5 * (1 + torch.special.erf(kappa * z / math.sqrt(2)))
            pdf = torch.exp(-((kappa * z) ** 2) / 2) / math.sqrt(2 * math.pi)
            along = (dz * density * g * z * cdf).sum()
            across = (dz * density * g * pdf).sum()
        out[k] = along * u + across * v
    return out.to(dtype=w.dtype, device=w.device)


# ---------------------------------------------------------------------------------------------
# Beyond one step: plain GD on both layers from a small initialization
# ---------------------------------------------------------------------------------------------


def train_full_gd(
    params0: ReLUNet, X: torch.Tensor, y: torch.Tensor, *, U: torch.Tensor, step_size: float,
    n_steps: int, record_every: int = 10, X_test: torch.Tensor | None = None,
    f_test: torch.Tensor | None = None,
) -> Trajectory:
    """Plain GD on (W, b, a) for L(θ) = (1/n)Σ(f_θ(x_i) − y_i)², with the hand-written gradient.

    Records the loss, ``"sin_angle"`` (top-r right singular subspace of W against span(Uᵀ)),
    ``"alignment"`` (median absolute cosine of the neurons with span(Uᵀ)), ``"norm_W"`` (‖W‖_F) and, with
    a test set, ``"excess_risk"`` (E f*² = 1 assumed). Returns the
    :class:`~beyondlazy.Trajectory`; ``params`` is the final (W, b, a).
    """
    U = U.to(dtype=X.dtype, device=X.device)
    metrics = {
        "sin_angle": lambda W, b, a: torch.tensor(subspace_sin_angle(W, U), device=W.device),
        "alignment": lambda W, b, a: neuron_alignment(W, U).median(),
        "norm_W": lambda W, b, a: torch.linalg.matrix_norm(W),
    }
    if X_test is not None and f_test is not None:
        metrics["excess_risk"] = lambda W, b, a: torch.tensor(
            excess_risk(relu_net(ReLUNet(W, b, a), X_test), f_test), device=W.device)
    return gradient_descent(make_loss_and_grad(X, y), tuple(params0), step_size=step_size,
                            n_steps=n_steps, record_every=record_every, metrics=metrics)
