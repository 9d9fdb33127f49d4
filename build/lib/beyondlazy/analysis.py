"""Small measurements shared by the chapters: relative errors, power-law fits, subspace angles."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .validation import check_int

__all__ = ["loglog_slope", "relative_error", "sin_angle", "top_singular_subspace"]


def relative_error(estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """‖estimate − target‖ / ‖target‖ (Frobenius), over the trailing two axes for matrices.

    Leading axes are batch axes: a (K, n, n) estimate against an (n, n) target gives K errors.
    Vectors (1-D) give a scalar.
    """
    diff = estimate - target
    if target.ndim <= 1:
        return torch.linalg.vector_norm(diff, dim=-1) / torch.linalg.vector_norm(target)
    return torch.linalg.matrix_norm(diff) / torch.linalg.matrix_norm(target)


def loglog_slope(x: Sequence[float] | torch.Tensor, y: Sequence[float] | torch.Tensor) -> tuple[float, float]:
    """Least-squares fit of log y = slope · log x + intercept; returns ``(slope, intercept)``.

    The exponent γ of a power law y ≈ C x^γ. Natural logarithms; needs at least two points with
    distinct, positive x and positive, finite y.
    """
    xs = [float(v) for v in (x.tolist() if isinstance(x, torch.Tensor) else x)]
    ys = [float(v) for v in (y.tolist() if isinstance(y, torch.Tensor) else y)]
    if len(xs) != len(ys) or len(xs) < 2:
        raise ValueError(
            f"x and y must have the same length >= 2; got lengths {len(xs)} and {len(ys)}"
        )
    for name, values in (("x", xs), ("y", ys)):
        if not all(math.isfinite(v) and v > 0 for v in values):
            raise ValueError(f"{name} must hold finite values > 0 for a log-log fit; got {values}")
    lx, ly = [math.log(v) for v in xs], [math.log(v) for v in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    sxx = sum((a - mx) ** 2 for a in lx)
    if sxx == 0:
        raise ValueError(f"x must hold at least two distinct values; got {xs}")
    slope = sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sxx
    return slope, my - slope * mx


def top_singular_subspace(matrix: torch.Tensor, k: int) -> torch.Tensor:
    """An orthonormal basis (n × k) of the span of the top-k left singular vectors of ``matrix``."""
    k = check_int("k", k, minimum=1, maximum=min(matrix.shape[-2:]))
    u, _, _ = torch.linalg.svd(matrix, full_matrices=False)
    return u[..., :k]


def sin_angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Sine of the largest principal angle between col(a) and col(b): ‖P_a − P_b‖_op.

    ``a`` (n × k) and ``b`` (n × l) need not be orthonormal; each is orthonormalized first (it
    must have full column rank). For k = l this is ‖(I − P_b) Q_a‖_op; for k ≠ l it is 1.
    Leading axes are batch axes.
    """
    if a.shape[-2] != b.shape[-2]:
        raise ValueError(
            f"a and b must have the same number of rows (ambient dimension); got {a.shape[-2]} and {b.shape[-2]}"
        )
    qa, _ = torch.linalg.qr(a)
    qb, _ = torch.linalg.qr(b)
    pa = qa @ qa.transpose(-1, -2)
    pb = qb @ qb.transpose(-1, -2)
    return torch.linalg.matrix_norm(pa - pb, ord=2).clamp(max=1.0)
