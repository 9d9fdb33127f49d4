"""Factorized gradient descent for low-rank matrix sensing from small random init (Chapter 3).

Symmetric problem (Stöger & Soltanolkotabi 2021): recover XXᵀ (X ∈ R^{n×r*}, ‖X‖_op = 1) from
y = A(XXᵀ) by gradient descent on

    L(U) = ¼ ‖A(UUᵀ) − y‖²,        ∇L(U) = A*(A(UUᵀ) − y) U,          U ∈ R^{n×r}, r ≥ r*,

from U_0 = α G (G_ij ~ N(0, 1)). Asymmetric problem (Soltanolkotabi, Stöger & Xie 2023):
recover XYᵀ (X ∈ R^{d1×r*}, Y ∈ R^{d2×r*}) from y = A(XYᵀ) with

    L(U, V) = ½ ‖A(UVᵀ) − y‖²,   ∇_U L = G V,  ∇_V L = Gᵀ U,   G = A*(A(UVᵀ) − y),

from [U_0; V_0] = α G. The operator A and its normalization are those of
:mod:`beyondlazy.operators`. Both solvers run the course's shared loop
(:func:`beyondlazy.gd.gradient_descent`) on a batch of K runs and record

* ``train_error`` ‖A(UUᵀ) − y‖/‖y‖ and ``test_error`` ‖UUᵀ − XXᵀ‖/‖XXᵀ‖ (UVᵀ, XYᵀ);
* with ``diagnostics=True``: ``norm`` ‖U‖_op; the signal/noise split of U along col(X),
  ``signal`` σ_{r*}(V_Xᵀ U) (smallest singular value of the part in col(X); V_X an orthonormal
  basis of col(X)) and ``noise`` ‖(I − V_X V_Xᵀ) U‖_op; ``sin_x`` and ``sin_spectral``, the
  sin-angle of the top-r* left singular subspace of U to col(X) and to the spectral estimator;
* asymmetric: ``imbalance`` ‖UᵀU − VᵀV‖_F and ``imbalance_bound`` ‖B_0‖_F + 2μ(L_0 − L_t), the
  balancedness lemma's bound (B = UᵀU − VᵀV);
* symmetric with ``power_method=True``: ``power_gap`` ‖U_t − Ũ_t‖/‖Ũ_t‖ and ``power_angle``
  (sin-angle of their top-r* subspaces), against the power-method iterate
  Ũ_t = (I + μZ)ᵗ U_0, Z = A*A(XXᵀ) = A*(y).

Also here: the spectral estimator (top-r* eigenvectors of A*(y)), the power-method iterate, and
the symmetrization map Sym(A) = [[0, A], [Aᵀ, 0]] with the lifts W = [U; V], W̃ = [U; −V] that
turn the asymmetric problem into a symmetric one.

Notation: n (or d1, d2) dimensions, r* true rank (``rank``), r factor width, m measurements,
α initialization scale, μ step size, κ condition number of the target, K runs in a batch.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import torch

from . import rng
from .analysis import sin_angle, top_singular_subspace
from .device import one_cpu_thread
from .gd import gradient_descent
from .operators import (
    AsymmetricOperator,
    SymmetricOperator,
    asymmetric_operator,
    symmetric_operator,
)
from .sensing import gaussian_init
from .trajectory import Trajectory
from .validation import (
    check_finite,
    check_int,
    check_positive,
    check_rank,
    check_same_device,
)

__all__ = [
    "AsymmetricProblem",
    "SymmetricProblem",
    "asymmetric_init",
    "asymmetric_loss_and_grad",
    "asymmetric_problem",
    "gaussian_init",
    "lift",
    "power_matrix",
    "power_method",
    "spectral_estimator",
    "sym",
    "symmetric_loss_and_grad",
    "symmetric_problem",
    "train_asymmetric",
    "train_symmetric",
]


def _spectrum(rank: int, kappa: float) -> torch.Tensor:
    kappa = check_positive("kappa", kappa)
    if kappa < 1 or (rank == 1 and kappa != 1):
        allowed = "1 for a rank-1 matrix" if rank == 1 else ">= 1"
        raise ValueError(f"kappa must be {allowed}; got {kappa}")
    return torch.linspace(1.0, kappa**-0.5, rank, dtype=torch.float64)


@dataclass(frozen=True)
class SymmetricProblem:
    """A symmetric instance y = A(XXᵀ), with the operator stored packed."""

    op: SymmetricOperator  # the measurement operator A
    X: torch.Tensor  # (n, r*) ground-truth factor, ‖X‖_op = 1
    y: torch.Tensor  # (m,) measurements A(XXᵀ)

    @property
    def target(self) -> torch.Tensor:
        """XXᵀ (n × n)."""
        return self.X @ self.X.T


@dataclass(frozen=True)
class AsymmetricProblem:
    """An asymmetric instance y = A(XYᵀ)."""

    op: AsymmetricOperator  # the measurement operator A
    X: torch.Tensor  # (d1, r*)
    Y: torch.Tensor  # (d2, r*); XYᵀ has ‖XYᵀ‖_op = 1
    y: torch.Tensor  # (m,) measurements A(XYᵀ)

    @property
    def target(self) -> torch.Tensor:
        """XYᵀ (d1 × d2)."""
        return self.X @ self.Y.T


def symmetric_problem(
    n: int, rank: int, m: int, *, seed: int, kappa: float = 1.0,
    dtype: torch.dtype = torch.float64, device: torch.device | str | None = None,
    block_rows: int | None = None, backend: str = "auto",
) -> SymmetricProblem:
    """Draw A_i = (G_i + G_iᵀ)/2 and X = Q diag(σ), σ from 1 down to 1/√κ (Q orthonormal).

    Then ‖X‖_op = 1 and σ₁(XXᵀ)/σ_{r*}(XXᵀ) = κ. Memory: the packed operator, m·n(n+1)/2 numbers.
    ``block_rows`` and ``backend`` as in :func:`beyondlazy.operators.symmetric_operator`.
    """
    n = check_int("n", n, minimum=1)
    rank = check_int("rank", rank, minimum=1, maximum=n)
    sigma = _spectrum(rank, kappa)
    gen = rng.generator(seed)
    op = symmetric_operator(n, m, gen, dtype=dtype, device=device, block_rows=block_rows,
                            backend=backend)
    Q, _ = torch.linalg.qr(rng.randn((n, rank), gen, dtype=torch.float64))
    X = (Q * sigma).to(dtype=dtype, device=device)
    return SymmetricProblem(op=op, X=X, y=op.measure(X @ X.T))


def asymmetric_problem(
    d1: int, d2: int, rank: int, m: int, *, seed: int, kappa: float = 1.0,
    dtype: torch.dtype = torch.float64, device: torch.device | str | None = None,
    block_rows: int | None = None, backend: str = "auto",
) -> AsymmetricProblem:
    """Draw Gaussian A_i ∈ R^{d1×d2}, X = Q₁ diag(σ), Y = Q₂ diag(σ), σ from 1 down to 1/√κ.

    Then XYᵀ has singular values σ², ‖XYᵀ‖_op = 1 and condition number κ. ``block_rows`` and
    ``backend`` as in :func:`beyondlazy.operators.asymmetric_operator`.
    """
    d1 = check_int("d1", d1, minimum=1)
    d2 = check_int("d2", d2, minimum=1)
    rank = check_int("rank", rank, minimum=1, maximum=min(d1, d2))
    sigma = _spectrum(rank, kappa)
    gen = rng.generator(seed)
    op = asymmetric_operator(d1, d2, m, gen, dtype=dtype, device=device, block_rows=block_rows,
                             backend=backend)
    Q1, _ = torch.linalg.qr(rng.randn((d1, rank), gen, dtype=torch.float64))
    Q2, _ = torch.linalg.qr(rng.randn((d2, rank), gen, dtype=torch.float64))
    X = (Q1 * sigma).to(dtype=dtype, device=device)
    Y = (Q2 * sigma).to(dtype=dtype, device=device)
    return AsymmetricProblem(op=op, X=X, Y=Y, y=op.measure(X @ Y.T))


def asymmetric_init(
    alphas, d1: int, d2: int, width: int, *, seed: int,
    dtype: torch.dtype = torch.float64, device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """[U_0; V_0] = α_k G_k (G_k with i.i.d. N(0, 1) entries): shapes (K, d1, r) and (K, d2, r)."""
    W0 = gaussian_init(alphas, d1 + d2, width, seed=seed, dtype=dtype, device=device)
    return W0[:, :d1].contiguous(), W0[:, d1:].contiguous()


# ---------------------------------------------------------------------------------------------
# Losses and hand-derived gradients (batched over a leading axis of the factors)
# ---------------------------------------------------------------------------------------------


def _t(M: torch.Tensor) -> torch.Tensor:
    return M.transpose(-1, -2)


def symmetric_loss_and_grad(op: SymmetricOperator, y: torch.Tensor):
    """``U -> (L(U), (∇L(U),))`` for L(U) = ¼‖A(UUᵀ) − y‖², ∇L(U) = A*(A(UUᵀ) − y) U.

    One pass over the operator per call (``SymmetricOperator.residual_and_adjoint``).
    """

    def loss_and_grad(U: torch.Tensor):
        residual, G = op.residual_and_adjoint(U @ _t(U), y)
        return 0.25 * (residual * residual).sum(-1), (G @ U,)

    return loss_and_grad


def asymmetric_loss_and_grad(op: AsymmetricOperator, y: torch.Tensor):
    """``(U, V) -> (L, (∇_U L, ∇_V L))`` for L = ½‖A(UVᵀ) − y‖²: ∇_U L = G V, ∇_V L = Gᵀ U."""

    def loss_and_grad(U: torch.Tensor, V: torch.Tensor):
        residual, G = op.residual_and_adjoint(U @ _t(V), y)
        return 0.5 * (residual * residual).sum(-1), (G @ V, _t(G) @ U)

    return loss_and_grad


# ---------------------------------------------------------------------------------------------
# Spectral estimator and power method
# ---------------------------------------------------------------------------------------------


def power_matrix(problem: SymmetricProblem) -> torch.Tensor:
    """Z = A*A(XXᵀ) = A*(y) (n × n), the matrix whose power method early GD follows."""
    return problem.op.adjoint(problem.y)


def spectral_estimator(problem: SymmetricProblem, k: int | None = None) -> torch.Tensor:
    """The top-k eigenvectors (n × k, orthonormal) of A*(y); k defaults to r*.

    The classical spectral initialization: E A*(y) = XXᵀ, so its top eigenvectors estimate col(X).
    """
    r_star = problem.X.shape[1]
    k = r_star if k is None else check_int("k", k, minimum=1, maximum=problem.X.shape[0])
    _, vectors = torch.linalg.eigh(power_matrix(problem))
    return vectors[:, -k:].flip(-1)


def power_method(Z: torch.Tensor, U0: torch.Tensor, step_size: float, t: int) -> torch.Tensor:
    """Ũ_t = (I + μZ)ᵗ U_0 for symmetric Z (n × n) and U_0 of shape (n, r) or (K, n, r).

    Computed as Q diag((1 + μλ)ᵗ) Qᵀ U_0 from the eigendecomposition Z = Q diag(λ) Qᵀ.
    """
    step_size = check_positive("step_size", step_size)
    t = check_int("t", t, minimum=0)
    lam, Q = torch.linalg.eigh(Z)
    return Q @ (((1 + step_size * lam) ** t)[:, None] * (Q.T @ U0))


# ---------------------------------------------------------------------------------------------
# Symmetrization of the asymmetric problem
# ---------------------------------------------------------------------------------------------


def sym(A: torch.Tensor) -> torch.Tensor:
    """Sym(A) = [[0, A], [Aᵀ, 0]] for A of shape (…, d1, d2) → (…, d1 + d2, d1 + d2)."""
    d1, d2 = A.shape[-2:]
    out = A.new_zeros(A.shape[:-2] + (d1 + d2, d1 + d2))
    out[..., :d1, d1:] = A
    out[..., d1:, :d1] = _t(A)
    return out


def lift(U: torch.Tensor, V: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """W = [U; V] and W̃ = [U; −V] (stacked along the rows; leading batch axes allowed)."""
    return torch.cat([U, V], dim=-2), torch.cat([U, -V], dim=-2)


# ---------------------------------------------------------------------------------------------
# Solvers
# ---------------------------------------------------------------------------------------------


def _check_factor(name: str, U: torch.Tensor, rows: int, r_star: int, like: torch.Tensor):
    check_finite(name, U)
    check_same_device(**{name: U, "problem": like})
    if U.dtype != like.dtype:
        raise ValueError(f"{name} must have the problem's dtype {like.dtype}; got {U.dtype}")
    if U.ndim not in (2, 3) or U.shape[-2] != rows:
        raise ValueError(
            f"{name} must have shape ({rows}, r) or (K, {rows}, r); got {tuple(U.shape)}")
    check_rank(U.shape[-1], r_star, name=f"{name}.shape[-1] (the width r)")


def _subspace_metrics(basis_x: torch.Tensor, spectral: torch.Tensor, r_star: int) -> dict:
    proj = basis_x @ basis_x.T

    def top(U):
        return top_singular_subspace(U, r_star)

    return {
        "norm": lambda U, *rest: torch.linalg.matrix_norm(U, ord=2),
        "signal": lambda U, *rest: torch.linalg.svdvals(basis_x.T @ U)[..., r_star - 1],
        "noise": lambda U, *rest: torch.linalg.matrix_norm(U - proj @ U, ord=2),
        "sin_x": lambda U, *rest: sin_angle(top(U), basis_x),
        "sin_spectral": lambda U, *rest: sin_angle(top(U), spectral),
    }


def _power_metrics(Z: torch.Tensor, U0: torch.Tensor, mu: float, n_steps: int,
                   record_every: int, r_star: int) -> dict:
    lam, Q = torch.linalg.eigh(Z)
    coeffs = Q.T @ U0
    state = {"t": None, "tilde": None}

    def tilde(U):  # called once per record, at t = 0, k, 2k, …, and at the last step
        if state.get("U") is not U:
            t = 0 if state["t"] is None else min(state["t"] + record_every, n_steps)
            state.update(t=t, U=U, tilde=Q @ (((1 + mu * lam) ** t)[:, None] * coeffs))
        return state["tilde"]

    def gap(U):
        T = tilde(U)
        return torch.linalg.matrix_norm(U - T) / torch.linalg.matrix_norm(T)

    def angle(U):
        T = tilde(U)
        return sin_angle(top_singular_subspace(U, r_star), top_singular_subspace(T, r_star))

    return {"power_gap": gap, "power_angle": angle}


class _SharedLoss:
    """A ``loss_and_grad`` that keeps its last loss, so that the recorded ``train_error`` at the
    same parameters (the loop records right after computing the gradient there) costs no
    second pass over the operator: ‖A(Z) − y‖ = √(L/c) with L = c‖A(Z) − y‖².
    """

    def __init__(self, loss_and_grad, c: float, op):
        self.loss_and_grad, self.c, self.op = loss_and_grad, c, op
        self.params, self.loss = None, None

    def __call__(self, *params):
        with _streaming_threads(self.op):
            loss, grads = self.loss_and_grad(*params)
        self.params, self.loss = params, loss
        return loss, grads

    def _kept(self, params) -> bool:
        return self.params is not None and len(params) == len(self.params) and all(
            a is b for a, b in zip(params, self.params))

    def loss_at(self, *params):
        """L at ``params``: the kept loss when it was computed there, else a new pass."""
        return self.loss if self._kept(params) else self(*params)[0]

    def residual_norm(self, params, direct):
        """‖A(Z) − y‖ at ``params``: from the kept loss when it was computed there."""
        if self._kept(params):
            return torch.sqrt(self.loss.clamp_min(0) / self.c)
        return direct()


def _streaming_threads(op):
    """One torch CPU thread while numpy's BLAS streams a large operator (else nothing).

    The gradient's own torch work is O(n²r), far below the stream's m·n² reads, but torch's
    idle threads spin for milliseconds after each small operation and took about a fifth of
    the step time from numpy's threads on a 2-core CPU (``benchmarks/bench_sensing.py``).
    Recorded metrics (SVDs) run outside, with all threads.
    """
    return one_cpu_thread(op.M.device) if op.streams_with_numpy() else nullcontext()


def train_symmetric(
    problem: SymmetricProblem, U0: torch.Tensor, *, step_size: float = 0.25, n_steps: int,
    record_every: int = 1, tol: float | None = None, on_divergence: str = "raise",
    diagnostics: bool | tuple[str, ...] = True, power_method: bool = False,
    singular_values: int = 0,
) -> Trajectory:
    """Gradient descent on L(U) = ¼‖A(UUᵀ) − y‖² from ``U0`` ((n, r), or (K, n, r) for K runs).

    Records the metrics listed in the module docstring (``tol`` stops on ``train_error``);
    ``diagnostics`` is True (all of them), False (the two errors only) or a tuple of names among
    ``norm, signal, noise, sin_x, sin_spectral`` (SVDs at every record cost time).
    ``singular_values = k`` also records σ_1(U_t) … σ_k(U_t) as ``sv1`` … ``svk``.
    ``power_method=True`` compares each record with Ũ_t = (I + μZ)ᵗ U_0 (its metrics assume the
    records are taken by this call's loop, in order). Runs on the device and in the dtype of
    ``U0``, which must match the problem's.
    """
    op, y, X = problem.op, problem.y, problem.X
    n, r_star = X.shape
    _check_factor("U0", U0, n, r_star, y)
    step_size = check_positive("step_size", step_size)
    n_steps = check_int("n_steps", n_steps, minimum=0)
    record_every = check_int("record_every", record_every, minimum=1)
    target = problem.target
    y_norm, t_norm = torch.linalg.vector_norm(y), torch.linalg.matrix_norm(target)

    def gram(U):
        return U @ _t(U)

    loss_and_grad = _SharedLoss(symmetric_loss_and_grad(op, y), 0.25, op)
    metrics = {
        "train_error": lambda U: loss_and_grad.residual_norm(
            (U,), lambda: torch.linalg.vector_norm(op.measure(gram(U)) - y, dim=-1)) / y_norm,
        "test_error": lambda U: torch.linalg.matrix_norm(gram(U) - target) / t_norm,
    }
    if diagnostics or power_method:
        basis_x = torch.linalg.qr(X)[0]
        Z = power_matrix(problem)
    if diagnostics:
        spectral = torch.linalg.eigh(Z)[1][:, -r_star:]
        extra = _subspace_metrics(basis_x, spectral, r_star)
        names = tuple(extra) if diagnostics is True else tuple(diagnostics)
        for name in names:
            if name not in extra:
                raise ValueError(
                    f"diagnostics must be True, False or a tuple of names among {tuple(extra)}; "
                    f"got {name!r}")
            metrics[name] = extra[name]
    k_max = min(n, U0.shape[-1])
    singular_values = check_int("singular_values", singular_values, minimum=0, maximum=k_max)
    for k in range(singular_values):
        metrics[f"sv{k + 1}"] = lambda U, k=k: torch.linalg.svdvals(U)[..., k]
    if power_method:
        metrics.update(_power_metrics(Z, U0, step_size, n_steps, record_every, r_star))
    return gradient_descent(
        loss_and_grad, U0, step_size=step_size, n_steps=n_steps,
        record_every=record_every, metrics=metrics, tol=tol, tol_metric="train_error",
        batched=U0.ndim == 3, on_divergence=on_divergence,
    )


def train_asymmetric(
    problem: AsymmetricProblem, U0: torch.Tensor, V0: torch.Tensor, *, step_size: float = 0.25,
    n_steps: int, record_every: int = 1, tol: float | None = None,
    on_divergence: str = "raise", diagnostics: bool = True,
) -> Trajectory:
    """Gradient descent on L(U, V) = ½‖A(UVᵀ) − y‖² from (``U0``, ``V0``), batched like U0.

    Records ``train_error``, ``test_error`` and, with ``diagnostics``, ``norm`` ‖UVᵀ‖_op,
    ``imbalance`` ‖UᵀU − VᵀV‖_F and ``imbalance_bound`` ‖B_0‖_F + 2μ(L_0 − L_t).
    """
    op, y = problem.op, problem.y
    (d1, r_star), d2 = problem.X.shape, problem.Y.shape[0]
    _check_factor("U0", U0, d1, r_star, y)
    _check_factor("V0", V0, d2, r_star, y)
    if U0.shape[:-2] != V0.shape[:-2] or U0.shape[-1] != V0.shape[-1]:
        raise ValueError(
            f"U0 and V0 must share the batch and the width r; got {tuple(U0.shape)} and "
            f"{tuple(V0.shape)}")
    step_size = check_positive("step_size", step_size)
    target = problem.target
    y_norm, t_norm = torch.linalg.vector_norm(y), torch.linalg.matrix_norm(target)
    loss_and_grad = _SharedLoss(asymmetric_loss_and_grad(op, y), 0.5, op)

    def imbalance(U, V):
        return torch.linalg.matrix_norm(_t(U) @ U - _t(V) @ V)

    metrics = {
        "train_error": lambda U, V: loss_and_grad.residual_norm(
            (U, V), lambda: torch.linalg.vector_norm(op.measure(U @ _t(V)) - y, dim=-1)) / y_norm,
        "test_error": lambda U, V: torch.linalg.matrix_norm(U @ _t(V) - target) / t_norm,
    }
    if diagnostics:
        loss0 = loss_and_grad(U0, V0)[0]
        b0 = imbalance(U0, V0)
        metrics.update({
            "norm": lambda U, V: torch.linalg.matrix_norm(U @ _t(V), ord=2),
            "imbalance": imbalance,
            "imbalance_bound": lambda U, V: (
                b0 + 2 * step_size * (loss0 - loss_and_grad.loss_at(U, V))),
        })
    return gradient_descent(
        loss_and_grad, (U0, V0), step_size=step_size, n_steps=n_steps,
        record_every=record_every, metrics=metrics, tol=tol, tol_metric="train_error",
        batched=U0.ndim == 3, on_divergence=on_divergence,
    )
