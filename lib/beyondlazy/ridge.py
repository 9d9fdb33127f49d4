"""Ridge regression on fixed features, for a whole grid of penalties at once, tuned on a holdout.

    ĉ(λ) = argmin_c (1/n)‖Φc − y‖² + λ‖c‖²,     Φ ∈ R^{n×p} the features of the n samples.

Closed form from one eigendecomposition, for every λ of a grid:

* p ≤ n (primal): G = ΦᵀΦ/n = VΛVᵀ,  ĉ(λ) = V (Λ + λ)^{-1} Vᵀ Φᵀy/n;
* p > n (dual):   K = ΦΦᵀ/n = QΛQᵀ,  ĉ(λ) = Φᵀ Q (Λ + λ)^{-1} Qᵀ y/n.

Training the head a of a network with weight decay for T = Θ(1/(ηλ)) GD steps, as in Algorithm 1
of Damian et al., approaches ĉ(λ); the course uses the closed form. The penalties are given
relative to the mean eigenvalue tr(G)/p, so that one grid serves features of any scale.

Notation: n samples, p features, λ ridge penalty. Used in Chapter 4.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .validation import check_finite, check_shape

__all__ = ["RidgeFit", "ridge_path", "ridge_tuned", "RELATIVE_PENALTIES"]

#: The default grid of penalties, relative to tr(ΦᵀΦ/n)/p: 10^-8, 10^-7.5, …, 10^5. The top
#: of the grid shrinks the head to ≈ 0 even when p ≫ n (the eigenvalues of ΦΦᵀ/n are then
#: ≈ (p/n)·tr(ΦᵀΦ/n)/p), so "predict nothing" is always among the candidates.
RELATIVE_PENALTIES = tuple(10.0 ** (k / 2) for k in range(-16, 11))


def ridge_path(Phi: torch.Tensor, y: torch.Tensor, penalties: torch.Tensor) -> torch.Tensor:
    """ĉ(λ) for every λ in ``penalties`` (absolute values, > 0); shape (len(penalties), p).

    Parameters
    ----------
    Phi : Tensor, shape (n, p)
    y : Tensor, shape (n,)
    penalties : Tensor, shape (L,)
    """
    check_shape("Phi", Phi, (None, None))
    check_shape("y", y, (Phi.shape[0],))
    check_finite("Phi", Phi)
    if not bool((penalties > 0).all()):
        raise ValueError(f"penalties must all be > 0; got {penalties.tolist()}")
    n, p = Phi.shape
    penalties = penalties.to(dtype=Phi.dtype, device=Phi.device)
    if p <= n:
        eigvals, V = torch.linalg.eigh(Phi.T @ Phi / n)
        rhs = V.T @ (Phi.T @ y) / n  # (p,)
        return (rhs / (eigvals + penalties[:, None])) @ V.T
    eigvals, Q = torch.linalg.eigh(Phi @ Phi.T / n)
    rhs = Q.T @ y / n  # (n,)
    return ((rhs / (eigvals + penalties[:, None])) @ Q.T) @ Phi


@dataclass(frozen=True)
class RidgeFit:
    """The ridge solution picked on a holdout set."""

    coef: torch.Tensor  # (p,) ĉ(λ̂)
    penalty: float  # λ̂ (absolute)
    holdout_errors: torch.Tensor  # (L,) mean squared holdout error of every λ of the grid
    penalties: torch.Tensor  # (L,) the absolute grid


def ridge_tuned(
    Phi: torch.Tensor, y: torch.Tensor, Phi_hold: torch.Tensor, y_hold: torch.Tensor,
    relative_penalties: tuple[float, ...] = RELATIVE_PENALTIES,
) -> RidgeFit:
    """Ridge with λ picked on a holdout set (mean squared error), from a relative grid.

    λ = ρ · tr(ΦᵀΦ/n)/p for ρ in ``relative_penalties``.
    """
    check_shape("Phi_hold", Phi_hold, (None, Phi.shape[1]))
    check_shape("y_hold", y_hold, (Phi_hold.shape[0],))
    mean_eig = float((Phi**2).sum()) / (Phi.shape[0] * Phi.shape[1])
    mean_eig = mean_eig if mean_eig > 0 else 1.0
    penalties = torch.tensor(relative_penalties, dtype=Phi.dtype, device=Phi.device) * mean_eig
    coefs = ridge_path(Phi, y, penalties)
    errors = ((Phi_hold @ coefs.T - y_hold[:, None]) ** 2).mean(0)
    best = int(torch.nan_to_num(errors, nan=float("inf")).argmin())
    return RidgeFit(coefs[best], float(penalties[best]), errors, penalties)
