"""Symmetric low-rank matrix sensing: the reference (dense) implementation.

The problem (course conventions):

    y = A(X Xᵀ),   A(Z) = (1/√m) (⟨A_1, Z⟩, …, ⟨A_m, Z⟩),   A_i = (G_i + G_iᵀ)/2, G_i Gaussian,
    L(U) = ¼ ‖A(U Uᵀ) − y‖²,   ∇L(U) = A*(A(U Uᵀ) − y) U,   A*(r) = (1/√m) Σ_i r_i A_i,

fitted by gradient descent U_{t+1} = U_t − μ ∇L(U_t) from U_0 = α G (G_ij ~ N(0, 1)) with
U ∈ R^{n×r}, r ≥ r* (overparameterized). Errors: training ‖A(UUᵀ) − y‖/‖y‖, test
‖UUᵀ − XXᵀ‖/‖XXᵀ‖. X is n × r* with ‖X‖_op = 1 and condition number κ = σ₁(XXᵀ)/σ_{r*}(XXᵀ).

This module stores the m sensing matrices densely, as an (m, n, n) tensor, and writes each
formula exactly as above: it is short, easy to check, and the oracle for faster operators. It is
used by Chapter 0 at small sizes; Chapter 3 studies the problem in depth.

Notation::

    n   matrix dimension          r*  true rank (``rank``)     r  factor width (``width``)
    m   number of measurements    α   initialization scale     μ  step size
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import rng
from .gd import gradient_descent
from .trajectory import Trajectory
from .validation import check_finite, check_int, check_positive, check_rank, check_same_device

__all__ = [
    "SensingProblem",
    "adjoint",
    "gaussian_init",
    "measure",
    "sensing_problem",
    "symmetric_loss_and_grad",
    "train_symmetric",
]


@dataclass(frozen=True)
class SensingProblem:
    """A symmetric matrix-sensing instance y = A(XXᵀ)."""

    A: torch.Tensor  # (m, n, n) symmetric sensing matrices A_i
    X: torch.Tensor  # (n, r*) ground-truth factor, ‖X‖_op = 1
    y: torch.Tensor  # (m,) measurements A(XXᵀ)

    @property
    def target(self) -> torch.Tensor:
        """The matrix to recover, XXᵀ (n × n)."""
        return self.X @ self.X.T


def measure(A: torch.Tensor, Z: torch.Tensor) -> torch.Tensor:
    """A(Z) = (1/√m)(⟨A_i, Z⟩)_i for Z of shape (n, n) or a batch (K, n, n) → (m,) or (K, m)."""
    m = A.shape[0]
    return torch.einsum("ijk,...jk->...i", A, Z) / m**0.5


def adjoint(A: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """A*(r) = (1/√m) Σ_i r_i A_i for r of shape (m,) or (K, m) → (n, n) or (K, n, n)."""
    m = A.shape[0]
    return torch.einsum("ijk,...i->...jk", A, r) / m**0.5


def sensing_problem(
    n: int, rank: int, m: int, *, seed: int, kappa: float = 1.0,
    dtype: torch.dtype = torch.float64, device: torch.device | str | None = None,
) -> SensingProblem:
    """Draw A_i = (G_i + G_iᵀ)/2 and X = Q diag(σ) with orthonormal Q and σ from 1 down to 1/√κ.

    Then ‖X‖_op = 1 and σ₁(XXᵀ)/σ_{r*}(XXᵀ) = κ.
    """
    n = check_int("n", n, minimum=1)
    rank = check_int("rank", rank, minimum=1, maximum=n)
    m = check_int("m", m, minimum=1)
    kappa = check_positive("kappa", kappa)
    if kappa < 1 or (rank == 1 and kappa != 1):
        allowed = "1 for a rank-1 matrix" if rank == 1 else ">= 1"
        raise ValueError(f"kappa must be {allowed}; got {kappa}")
    gen = rng.generator(seed)
    G = rng.randn((m, n, n), gen, dtype=dtype, device=device)
    A = (G + G.transpose(1, 2)) / 2
    Q, _ = torch.linalg.qr(rng.randn((n, rank), gen, dtype=torch.float64))
    sigma = torch.linspace(1.0, kappa**-0.5, rank, dtype=torch.float64)
    X = (Q * sigma).to(dtype=dtype, device=device)
    return SensingProblem(A=A, X=X, y=measure(A, X @ X.T))


def gaussian_init(
    alphas: torch.Tensor, n: int, width: int, *, seed: int,
    dtype: torch.dtype = torch.float64, device: torch.device | str | None = None,
) -> torch.Tensor:
    """U_0 = α_k G_k for each scale α_k: shape (K, n, r), G_k with i.i.d. N(0, 1) entries.

    The G_k are drawn one after the other from ``seed``: the k-th run gets the k-th draw whatever
    the number of runs, and a sweep over α is reproducible on every device.
    """
    alphas = torch.as_tensor(alphas, dtype=torch.float64).reshape(-1)
    if not bool(torch.isfinite(alphas).all()) or not bool((alphas > 0).all()):
        raise ValueError(f"alphas must be finite and > 0; got {alphas.tolist()}")
    n = check_int("n", n, minimum=1)
    width = check_int("width", width, minimum=1)
    gen = rng.generator(seed)
    G = torch.stack([rng.randn((n, width), gen, dtype=torch.float64) for _ in alphas])
    return (alphas[:, None, None] * G).to(dtype=dtype, device=device)


def symmetric_loss_and_grad(A: torch.Tensor, y: torch.Tensor):
    """``U -> (L(U), (∇L(U),))`` for L(U) = ¼‖A(UUᵀ) − y‖², batched over a leading axis of U."""

    def loss_and_grad(U: torch.Tensor):
        residual = measure(A, U @ U.transpose(-1, -2)) - y
        loss = 0.25 * (residual * residual).sum(-1)
        return loss, (adjoint(A, residual) @ U,)

    return loss_and_grad


def train_symmetric(
    problem: SensingProblem,
    U0: torch.Tensor,
    *,
    step_size: float = 0.25,
    n_steps: int,
    tol: float | None = None,
    record_every: int = 10,
    on_divergence: str = "raise",
) -> Trajectory:
    """Gradient descent on L(U) = ¼‖A(UUᵀ) − y‖² from ``U0`` (shape (n, r), or (K, n, r) for K runs).

    Records ``"train_error"`` ‖A(UUᵀ) − y‖/‖y‖ (the stopping criterion with ``tol``) and
    ``"test_error"`` ‖UUᵀ − XXᵀ‖/‖XXᵀ‖. Everything runs on the device and in the dtype of ``U0``,
    which must match the problem's.
    """
    A, y, target = problem.A, problem.y, problem.target
    check_finite("U0", U0)
    check_same_device(U0=U0, A=A)
    if U0.dtype != A.dtype:
        raise ValueError(f"U0 must have the problem's dtype {A.dtype}; got {U0.dtype}")
    n, r_star = problem.X.shape
    if U0.ndim not in (2, 3) or U0.shape[-2] != n:
        raise ValueError(f"U0 must have shape (n, r) or (K, n, r) with n = {n}; got {tuple(U0.shape)}")
    check_rank(U0.shape[-1], r_star, name="U0.shape[-1] (the width r)")
    y_norm = torch.linalg.vector_norm(y)

    def gram(U):
        return U @ U.transpose(-1, -2)

    metrics = {
        "train_error": lambda U: torch.linalg.vector_norm(measure(A, gram(U)) - y, dim=-1) / y_norm,
        "test_error": lambda U: torch.linalg.matrix_norm(gram(U) - target) / torch.linalg.matrix_norm(target),
    }
    return gradient_descent(
        symmetric_loss_and_grad(A, y), U0, step_size=step_size, n_steps=n_steps,
        record_every=record_every, metrics=metrics, tol=tol, tol_metric="train_error",
        batched=U0.ndim == 3, on_divergence=on_divergence,
    )
