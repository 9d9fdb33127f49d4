"""Claims of Chapter 2 (overparameterized least squares): the closest optimum and a short path."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from .. import rng
from ..device import device_for, one_cpu_thread
from ..least_squares import (
    closest_interpolant,
    linear_gd,
    linear_rate,
    nonlinear_gd,
    path_length_bound,
    potential,
)
from ..networks import OneHiddenLayer, init_params, network, sphere_inputs
from ..ntk import network_ntk
from ..scale import by_scale
from ..trajectory import Trajectory
from .registry import Check, claim

CHAPTER = "Chapter 2: Overparameterized least squares"
SOURCE = ("Oymak and Soltanolkotabi (ICML 2019), 'Gradient descent takes the shortest path?'; "
          "talk, 'Prelude: overparameterized least squares'")


# ---------------------------------------------------------------------------------------------
# Linear least squares
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinearConfig:
    """Sizes for C2.1–C2.3: min ½‖Xθ − y‖² with a Gaussian X of n rows and p ≥ 4n columns."""

    n: int  # samples (rows of X)
    p: int  # parameters (columns of X); n/p ≤ 1/4
    n_steps: int  # step budget (the runs stop at residual 1e-12·‖Xθ_0 − y‖)


LINEAR = {
    "default": LinearConfig(n=50, p=200, n_steps=3000),
    "paper": LinearConfig(n=500, p=2000, n_steps=3000),
}


def linear_problem(cfg: LinearConfig, seed: int, device=None):
    """X with i.i.d. N(0, 1/p) entries, labels y ~ N(0, I_n) and θ_0 ~ N(0, I_p), in float64.

    Returns ``(X, y, theta0)``. With n/p ≤ 1/4 the singular values of X lie near 1 ± √(n/p).
    """
    gen = rng.generator(seed)
    X = rng.randn((cfg.n, cfg.p), gen, dtype=torch.float64, device=device) / cfg.p**0.5
    y = rng.randn((cfg.n,), gen, dtype=torch.float64, device=device)
    theta0 = rng.randn((cfg.p,), gen, dtype=torch.float64, device=device)
    return X, y, theta0


def linear_run(seed: int, scale: str, theta0_rows: str = "random") -> tuple:
    """GD with η = 1/σ_1(X)² until the residual is 1e-12 of its start; one step per record.

    ``theta0_rows="both"`` runs from θ_0 and from 0 in one batched call.
    Returns ``(X, y, theta0, trajectory)``.
    """
    cfg = by_scale(LINEAR, scale)
    X, y, theta0 = linear_problem(cfg, seed, device_for(torch.float64))
    if theta0_rows == "both":
        theta0 = torch.stack([theta0, torch.zeros_like(theta0)])
    r0 = torch.linalg.vector_norm(theta0 @ X.T - y, dim=-1).min()
    trajectory = linear_gd(X, y, theta0, n_steps=cfg.n_steps, tol=1e-12 * float(r0))
    return X, y, theta0, trajectory


@claim(
    "C2.1",
    statement=(
        "Linear least squares with n < p: GD from any θ0 converges to θ0 + X⁺(y − Xθ0), the global "
        "optimum closest to θ0 (relative error <= 1e-8 in float64); from θ0 = 0 it converges "
        "to the minimum-norm solution X⁺y (relative error <= 1e-8)."
    ),
    source=SOURCE,
    chapter=CHAPTER,
    test="tests/test_claims.py::test_claim_holds[C2.1]",
    test_seeds=(0, 1, 2),
)
def _c2_1(seed: int, scale: str) -> list[Check]:
    X, y, theta0, trajectory = linear_run(seed, scale, theta0_rows="both")
    closest = closest_interpolant(X, y, theta0)
    error = torch.linalg.vector_norm(trajectory.params - closest, dim=-1)
    relative = error / torch.linalg.vector_norm(closest, dim=-1)
    return [
        Check("relative error to θ0 + X⁺(y − Xθ0), random θ0", relative[0], "<=", 1e-8),
        Check("relative error to X⁺y, θ0 = 0", relative[1], "<=", 1e-8),
    ]


def residual_bound_ratio(X: torch.Tensor, trajectory: Trajectory, step_size: float) -> torch.Tensor:
    """‖Xθ_t − y‖ / ((1 − ησ_n²)^t ‖Xθ_0 − y‖) at every recorded step t."""
    rate = linear_rate(X, step_size)
    residual = trajectory["residual"]
    t = trajectory.steps.to(residual.dtype)
    return residual / (residual[0] * rate**t)


@claim(
    "C2.2",
    statement=(
        "Linear convergence: with η = 1/σ₁(X)² and σ_n(X) the smallest singular value of the n×p "
        "matrix X, ‖Xθ_t − y‖ <= (1 − ησ_n(X)²)^t ‖Xθ_0 − y‖ at every step until the residual "
        "reaches 1e-12·‖Xθ_0 − y‖ (float64)."
    ),
    source=SOURCE,
    chapter=CHAPTER,
    test="tests/test_claims.py::test_claim_holds[C2.2]",
    test_seeds=(0, 1, 2),
)
def _c2_2(seed: int, scale: str) -> list[Check]:
    X, y, theta0, trajectory = linear_run(seed, scale)
    eta = 1.0 / float(torch.linalg.matrix_norm(X, ord=2)) ** 2
    ratio = residual_bound_ratio(X, trajectory, eta)
    residual = trajectory["residual"]
    return [
        Check("largest residual / bound over steps t >= 1", ratio[1:].max(), "<=", 1.0),
        Check("final residual / initial residual", residual[-1] / residual[0], "<=", 1e-12),
    ]


@claim(
    "C2.3",
    statement=(
        "Short path (Gaussian X, n/p <= 1/4): the total path length Σ‖θ_{t+1} − θ_t‖ of GD is "
        "<= 1.3 times the straight distance ‖θ_∞ − θ0‖, and below the bound (4β/α²)‖Xθ0 − y‖ with "
        "α, β the extreme singular values of X."
    ),
    source=SOURCE,
    chapter=CHAPTER,
    test="tests/test_claims.py::test_claim_holds[C2.3]",
    test_seeds=(0, 1, 2),
)
def _c2_3(seed: int, scale: str) -> list[Check]:
    X, y, theta0, trajectory = linear_run(seed, scale)
    S = torch.linalg.svdvals(X)
    path = trajectory.final("path_length")
    bound = path_length_bound(float(S[-1]), float(S[0]), float(trajectory["residual"][0]))
    return [
        Check("path length / distance", path / trajectory.final("distance"), "<=", 1.3),
        Check("path length / (4β/α²)‖Xθ0 − y‖", path / bound, "<=", 1.0),
    ]


# ---------------------------------------------------------------------------------------------
# A one-hidden-layer network
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NetworkConfig:
    """Sizes for C2.4–C2.5: a tanh network f(θ; x) = vᵀtanh(Wx)/√m fitting n points."""

    n: int  # training points, on the unit sphere of R^d
    d: int  # input dimension
    m: int  # width (p = m·d + m parameters, both layers trained)
    n_steps: int  # step budget (the run stops at residual ‖f(θ) − y‖ <= tol)
    tol: float  # target residual


NETWORK = {
    "default": NetworkConfig(n=20, d=20, m=200, n_steps=4000, tol=1e-10),
    "paper": NetworkConfig(n=200, d=50, m=4000, n_steps=6000, tol=1e-10),
}


def network_problem(n: int, d: int, m: int, seed: int, *, activation: str = "tanh",
                    output_init: float = 1.0, device=None):
    """Inputs on the sphere, labels y_i = sin(√d uᵀx_i) for a random unit u, and θ_0 (float64).

    Returns ``(net, X, y, theta0)``; the NTK parameterization of :mod:`beyondlazy.networks`.
    """
    net = OneHiddenLayer(d=d, m=m, activation=activation, parameterization="ntk")
    X = sphere_inputs(n, d, seed=seed, device=device)
    y = teacher(X, seed)
    theta0 = init_params(net, seed=seed + 2, device=device, output_init=output_init)
    return net, X, y, theta0


def teacher(X: torch.Tensor, seed: int) -> torch.Tensor:
    """The labels sin(√d uᵀx) of inputs X (n, d), for the unit vector u drawn from ``seed``."""
    d = X.shape[1]
    u = rng.randn((d,), rng.generator(seed + 1), dtype=torch.float64).to(X)
    return torch.sin(d**0.5 * X @ (u / torch.linalg.vector_norm(u)))


@dataclass(frozen=True)
class NetworkRun:
    """A network fitted by GD, with what the claims compare it with."""

    trajectory: Trajectory
    step_size: float  # η = 1/σ_1(J(θ_0))²
    alpha0: float  # σ_n(J(θ_0))
    beta0: float  # σ_1(J(θ_0))
    closest_linear: float  # ‖J(θ_0)⁺(y − f(θ_0))‖: the distance of the linearization's closest fit


def fit_network(net, X, y, theta0, *, n_steps: int, tol: float | None, record_every: int = 1,
                singular_values: bool = True, segment_points: int = 0) -> NetworkRun:
    """GD on ½‖f(θ) − y‖² with η = 1/σ_1(J(θ_0))², from θ_0.

    The singular values of J(θ_t) come from the closed-form kernel J(θ_t)J(θ_t)ᵀ
    (:func:`~beyondlazy.ntk.network_ntk`), so recording them at every step costs O(n²m), not an
    n × p Jacobian; ``segment_points`` > 0 also records σ_1 along the segments from θ_0.
    """
    with one_cpu_thread(X.device):
        return _fit_network(net, X, y, theta0, n_steps=n_steps, tol=tol,
                            record_every=record_every, singular_values=singular_values,
                            segment_points=segment_points)


def _fit_network(net, X, y, theta0, *, n_steps, tol, record_every, singular_values,
                 segment_points) -> NetworkRun:
    model = functools.partial(network, net)
    kernel = functools.partial(network_ntk, net, X1=X)
    # K_0 = J(θ_0)J(θ_0)ᵀ = Q diag(λ) Qᵀ: σ_i(J(θ_0)) = √λ_i, and the linearization's closest fit
    # moves by J_0⁺r_0 = J_0ᵀK_0⁻¹r_0, of norm (r_0ᵀK_0⁻¹r_0)^{1/2} (no n × p Jacobian needed).
    lam, Q = torch.linalg.eigh(kernel(theta0))
    alpha0, beta0 = float(lam[0].clamp_min(0).sqrt()), float(lam[-1].sqrt())
    r0 = y - model(theta0, X)
    closest = float(((Q.T @ r0) ** 2 / lam).sum().sqrt())
    eta = 1.0 / beta0**2
    trajectory = nonlinear_gd(model, X, y, theta0, step_size=eta, n_steps=n_steps,
                              record_every=record_every, tol=tol,
                              singular_values=singular_values,
                              kernel=kernel,
                              segment_points=segment_points)
    return NetworkRun(trajectory, eta, alpha0, beta0, closest)


@functools.lru_cache(maxsize=4)
def network_run(seed: int, scale: str) -> NetworkRun:
    """The run behind C2.4 and C2.5 (every step recorded), cached per (seed, scale)."""
    cfg = by_scale(NETWORK, scale)
    net, X, y, theta0 = network_problem(cfg.n, cfg.d, cfg.m, seed,
                                        device=device_for(torch.float64))
    return fit_network(net, X, y, theta0, n_steps=cfg.n_steps, tol=cfg.tol)


@claim(
    "C2.4",
    statement=(
        "Nonlinear least squares, wide one-hidden-layer tanh network (NTK scaling, float64, "
        "η = 1/σ₁(J(θ0))²): the residual decays geometrically to <= 1e-10, with "
        "‖f(θ_t) − y‖ <= (1 − ηα²/2)^t ‖f(θ0) − y‖ at every step, α the smallest σ_n(J(θ_t)) "
        "along the run. This unsquared bound is stronger than Oymak and Soltanolkotabi's "
        "‖f(θ_t) − y‖² <= (1 − ηα²/2)^t ‖f(θ0) − y‖² and implies it. Also ‖θ_T − θ0‖ is within "
        "10% of ‖J(θ0)⁺(y − f(θ0))‖, and path length / distance <= 1.5."
    ),
    source=SOURCE,
    chapter=CHAPTER,
    test="tests/test_claims.py::test_claim_holds[C2.4]",
    test_seeds=(0, 1, 2),
)
def _c2_4(seed: int, scale: str) -> list[Check]:
    run = network_run(seed, scale)
    trajectory = run.trajectory
    residual = trajectory["residual"]
    alpha = float(trajectory["sigma_min"].min())
    rate = 1 - run.step_size * alpha**2 / 2
    t = trajectory.steps.to(residual.dtype)
    geometric = (residual / (residual[0] * rate**t))[1:].max()
    distance = trajectory.final("distance")
    return [
        Check("final residual ‖f(θ_T) − y‖", residual[-1], "<=", 1e-10),
        Check("largest ‖f(θ_t) − y‖ / ((1 − ηα²/2)^t ‖f(θ0) − y‖), t >= 1", geometric, "<=",
              1.0),
        Check("‖θ_T − θ0‖ / ‖J(θ0)⁺(y − f(θ0))‖", distance / run.closest_linear, "in", (0.9, 1.1)),
        Check("path length / distance", trajectory.final("path_length") / distance, "<=", 1.5),
    ]


@claim(
    "C2.5",
    statement=(
        "The potential inequality (α/4)‖θ_t − θ0‖ + ‖f(θ_t) − y‖ <= ‖f(θ0) − y‖ of Oymak and "
        "Soltanolkotabi holds at every step of C2.4's run, with α the smallest singular value of "
        "the Jacobian at the iterates (at least the theorem's α, the smallest on a ball that "
        "contains them, so the inequality checked is at least as strong as the theorem's)."
    ),
    source=SOURCE,
    chapter=CHAPTER,
    test="tests/test_claims.py::test_claim_holds[C2.5]",
    test_seeds=(0, 1, 2),
)
def _c2_5(seed: int, scale: str) -> list[Check]:
    trajectory = network_run(seed, scale).trajectory
    alpha = float(trajectory["sigma_min"].min())
    values = potential(trajectory["distance"], trajectory["residual"], alpha)
    ratio = values[1:] / values[0]
    return [
        Check("largest potential / ‖f(θ0) − y‖ over steps t >= 1", ratio.max(), "<=", 1.0),
        Check("smallest singular value α along the run", alpha, ">=", 1e-3),
    ]
