"""One implicit spectral bias, three settings: the small runs and figures of the conclusion.

From a small initialization the parameters are small, the loss is nearly linear in each factor,
and gradient descent first amplifies the top eigen- or singular directions of one matrix that
the data determine:

==========================  =============================  ====================================
setting (chapter)           learned matrix                 matrix whose top directions it finds
==========================  =============================  ====================================
matrix sensing (3)          U_t (UUᵀ ≈ XXᵀ)                Z = A*(y), power method (I + μZ)ᵗU_0
two-layer ReLU net (4)      first layer W_t                H = E[∇²f*]: w_j moves along Hŵ_j
deep linear net (5)         end-to-end W_t = W_N⋯W_1       Y (regression), one mode at a time
==========================  =============================  ====================================

This module runs each setting at a size that takes about a second on a laptop CPU and records
what the conclusion plots: the sin-angle between the top singular subspace of the learned matrix
and the target's, the top singular values (which show the rank-by-rank order), and for the
network the relative change ‖W_t − W_0‖/‖W_0‖ that separates the lazy regime (large
initialization: the weights barely move and the features stay random) from feature learning.

* :func:`sensing_runs` — symmetric sensing (:mod:`beyondlazy.factorized`) from U_0 = αG for a
  small and a large α;
* :func:`network_runs` — plain GD on both layers of the two-layer ReLU net of Chapter 4
  (:mod:`beyondlazy.relu_net`, L = (1/n)Σ(f(x_i) − y_i)²) on the r = 2 target of
  :func:`beyondlazy.targets.multi_index_target`, from the symmetric init at a small and a large
  scale;
* :func:`deep_linear_run` — GD on the factors of W = W_N⋯W_1 for the regression loss
  ½‖W − Y‖² (whitened inputs), Chapter 5's solver (:mod:`beyondlazy.deep_linear`) from a small
  Gaussian init, recording what the conclusion plots;
* :func:`alignment_figure`, :func:`rank_by_rank_figure` — the conclusion's two figures.

Notation: n dimension (sensing, deep linear) or samples (network), r* rank, r factor width,
m measurements (sensing) or width (network), d input dimension, α initialization scale, μ and η
step sizes, N depth. Used in the conclusion; Chapters 3, 4 and 5 treat each setting in full.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from matplotlib.lines import Line2D

from .deep_linear import gaussian_factors, regression_loss, train_deep
from .device import one_cpu_thread
from .factorized import gaussian_init, symmetric_problem, train_symmetric
from .gd import gradient_descent
from .plotting import COLORS, LINESTYLES, plot_spread, subplots
from .relu_net import ReLUNet, make_loss_and_grad, relu_net, symmetric_init
from .representation import excess_risk, subspace_sin_angle
from .targets import gaussian_inputs, multi_index_target
from .trajectory import Trajectory
from .validation import check_int, check_positive, check_shape

__all__ = [
    "alignment_figure",
    "deep_linear_run",
    "network_runs",
    "rank_by_rank_figure",
    "sensing_runs",
]

N_SINGULAR = 3  # singular values recorded per run


# ---------------------------------------------------------------------------------------------
# Chapter 3: matrix sensing
# ---------------------------------------------------------------------------------------------


def sensing_runs(
    seed: int, *, n: int = 40, rank: int = 2, m: int = 400, kappa: float = 4.0,
    alphas: Sequence[float] = (1e-6, 0.1), step_size: float = 0.25, n_steps: int = 400,
    record_every: int = 5, device: torch.device | str | None = None,
) -> Trajectory:
    """GD on L(U) = ¼‖A(UUᵀ) − y‖² with r = n from U_0 = α_k G, one batched run per α_k (float64).

    One problem (``seed``) and one G (``seed + 1``) for every α, so the runs differ only by the
    scale. Records ``train_error``, ``test_error``, ``sin_x`` (sin-angle of the top-r* left
    singular subspace of U_t to col(X)) and ``sv1``…``sv3`` (σ_k(U_t); σ_k(U_tU_tᵀ) = σ_k(U_t)²),
    each of shape (T, K). The defaults keep m = 5nr* below n(n+1)/2 = 820: the problem is
    underdetermined and the initialization decides which interpolant GD finds.
    """
    problem = symmetric_problem(n, rank, m, seed=seed, kappa=kappa, device=device)
    U0 = gaussian_init(torch.tensor(list(alphas), dtype=torch.float64), n, n, seed=seed + 1,
                       device=device)
    with one_cpu_thread(U0.device):  # a small problem: one thread is as fast, and robust
        return train_symmetric(problem, U0, step_size=step_size, n_steps=n_steps,
                               record_every=record_every, diagnostics=("sin_x",),
                               singular_values=N_SINGULAR)


# ---------------------------------------------------------------------------------------------
# Chapter 4: a two-layer ReLU network
# ---------------------------------------------------------------------------------------------


def network_runs(
    seed: int, *, d: int = 20, width: int = 128, n: int = 4000, n_test: int = 4000,
    scales: Sequence[float] = (1e-3, 1.0), step_sizes: Sequence[float] = (0.5, 0.005),
    n_steps: int = 400, record_every: int = 20, device: torch.device | str | None = None,
) -> list[Trajectory]:
    """Plain GD on (W, b, a) from the symmetric init at each scale, on the r = 2 target (float32).

    Same data (``seed``) and same init directions for every scale. Records ``sin_angle`` (top-2
    right singular subspace of W against span(Uᵀ)), ``change`` ‖W_t − W_0‖/‖W_0‖,
    ``excess_risk`` on a test set, and ``sv1``…``sv3`` (σ_k(W_t)). Each step size must suit its
    scale: the curvature of the loss grows like scale⁴·width (the ``step_sizes`` given here are
    stable for the defaults).
    """
    if len(scales) != len(step_sizes):
        raise ValueError(
            f"scales and step_sizes must have the same length; got {len(scales)} and "
            f"{len(step_sizes)}")
    d = check_int("d", d, minimum=2)
    target = multi_index_target(d)
    X = gaussian_inputs(n, d, seed=1000 * seed + 31, dtype=torch.float32, device=device)
    y = target(X)
    X_test = gaussian_inputs(n_test, d, seed=1000 * seed + 33, dtype=torch.float32,
                             device=device)
    f_test = target(X_test)
    U = target.U.to(dtype=torch.float32, device=X.device)
    loss_and_grad = make_loss_and_grad(X, y)
    runs = []
    for scale, eta in zip(scales, step_sizes):
        params0 = symmetric_init(d, width, seed=seed, scale=scale, dtype=torch.float32,
                                 device=X.device)
        W0, W0_norm = params0.W, torch.linalg.matrix_norm(params0.W)
        metrics = {
            "sin_angle": lambda W, b, a: torch.tensor(subspace_sin_angle(W, U), device=W.device),
            "change": lambda W, b, a, W0=W0, W0_norm=W0_norm: (
                torch.linalg.matrix_norm(W - W0) / W0_norm),
            "excess_risk": lambda W, b, a: torch.tensor(
                excess_risk(relu_net(ReLUNet(W, b, a), X_test), f_test), device=W.device),
        }
        for k in range(N_SINGULAR):
            metrics[f"sv{k + 1}"] = lambda W, b, a, k=k: torch.linalg.svdvals(W)[k]
        with one_cpu_thread(X.device):
            runs.append(gradient_descent(loss_and_grad, tuple(params0), step_size=eta,
                                         n_steps=n_steps, record_every=record_every,
                                         metrics=metrics))
    return runs


# ---------------------------------------------------------------------------------------------
# Chapter 5: a deep linear network
# ---------------------------------------------------------------------------------------------


def deep_linear_run(
    Y: torch.Tensor, depth: int, *, init_scale: float = 1e-3, step_size: float = 0.02,
    n_steps: int = 1000, record_every: int = 5, seed: int = 0,
) -> Trajectory:
    """GD on the N factors of W = W_N⋯W_1 for ½‖W − Y‖², by Chapter 5's solver.

    Depth N ≥ 2 starts from :func:`beyondlazy.deep_linear.gaussian_factors` (i.i.d.
    N(0, α^{2/N}/n) entries, end-to-end scale α = ``init_scale``, drawn from ``seed``); depth 1
    starts from W_0 = 0, plain GD on W (the linear model). The loop is
    :func:`beyondlazy.deep_linear.train_deep` with :func:`beyondlazy.deep_linear.regression_loss`.
    Records ``sv1``…``sv3`` (σ_k of the end-to-end W_t) and ``error`` ‖W_t − Y‖/‖Y‖. Build Y
    with :func:`beyondlazy.deep_linear.orthogonal_target`. Device and dtype follow ``Y``.
    """
    check_shape("Y", Y, (None, Y.shape[0]))
    depth = check_int("depth", depth, minimum=1)
    init_scale = check_positive("init_scale", init_scale)
    n = Y.shape[0]
    if depth == 1:
        factors = (torch.zeros(n, n, dtype=Y.dtype, device=Y.device),)
    else:
        factors = tuple(F[0] for F in gaussian_factors((init_scale,), n, depth, seed=seed,
                                                        dtype=Y.dtype, device=Y.device))
    Y_norm = torch.linalg.matrix_norm(Y)
    with one_cpu_thread(Y.device):
        return train_deep(regression_loss(Y), factors, step_size=step_size, n_steps=n_steps,
                          record_every=record_every,
                          metrics={"error": lambda W: torch.linalg.matrix_norm(W - Y) / Y_norm},
                          singular_values=min(N_SINGULAR, n))


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------


def _stack(runs: Sequence[Trajectory], name: str, column: int | None = None) -> torch.Tensor:
    values = [r[name] if column is None else r[name][:, column] for r in runs]
    return torch.stack([v.double().cpu() for v in values])


def alignment_figure(sensing: Sequence[Trajectory], network: Sequence[list[Trajectory]],
                     *, alphas: Sequence[float], scales: Sequence[float]):
    """Two panels: sin-angle to the target subspace against the step, small vs large init.

    ``sensing``: one :func:`sensing_runs` result per seed (batched over ``alphas``);
    ``network``: one :func:`network_runs` result per seed (a list over ``scales``). Medians over
    seeds with their range. Returns the figure.
    """
    fig, axes = subplots(2, width=4.3, height=3.2)
    ax = axes[0, 0]
    steps = sensing[0].steps
    for k, alpha in enumerate(alphas):
        plot_spread(ax, steps, _stack(sensing, "sin_x", k), label=f"α = {alpha:g}",
                    color=(COLORS["blue"], COLORS["vermillion"])[k % 2], linestyle=LINESTYLES[k])
    ax.set(xlabel="GD step $t$", ylabel="sin-angle", ylim=(-0.02, 1.05),
           title="Ch. 3: top-$r^\\star$ of $U_t$ vs col$(X)$")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    steps = network[0][0].steps
    for k, scale in enumerate(scales):
        runs = [per_seed[k] for per_seed in network]
        change = float(_stack(runs, "change")[:, -1].median())
        plot_spread(ax, steps, _stack(runs, "sin_angle"),
                    label=f"init scale {scale:g} (W moves {change:.3g}×)",
                    color=(COLORS["blue"], COLORS["vermillion"])[k % 2], linestyle=LINESTYLES[k])
    ax.set(xlabel="GD step $t$", ylim=(-0.02, 1.05),
           title="Ch. 4: top-2 of $W_t$ vs span$(U^\\top)$")
    ax.legend(fontsize=7)
    return fig


def rank_by_rank_figure(sensing: Sequence[Trajectory], network: Sequence[list[Trajectory]],
                        deep: Mapping[int, Sequence[Trajectory]], *, strengths: Sequence[float],
                        deep_step_size: float):
    """Three panels: the top singular values against time, at small init, in each setting.

    Sensing: σ_k(U_tU_tᵀ) of the first (smallest-α) run; network: σ_k(W_t) of the first
    (smallest-scale) run; deep linear: σ_k(W_t)/s_k against t = η·step for each depth in
    ``deep`` (depth → runs over seeds). Medians over seeds with their range.
    """
    fig, axes = subplots(3, width=3.5, height=3.0)
    colors = (COLORS["blue"], COLORS["orange"], COLORS["green"])
    ax = axes[0, 0]
    for k in range(N_SINGULAR):
        plot_spread(ax, sensing[0].steps, _stack(sensing, f"sv{k + 1}", 0) ** 2,
                    label=f"$\\sigma_{k + 1}$", color=colors[k], linestyle=LINESTYLES[k])
    ax.set(xlabel="GD step $t$", yscale="log", title="Ch. 3: $\\sigma_k(U_tU_t^\\top)$")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    for k in range(N_SINGULAR):
        plot_spread(ax, network[0][0].steps, _stack([r[0] for r in network], f"sv{k + 1}"),
                    label=f"$\\sigma_{k + 1}$", color=colors[k], linestyle=LINESTYLES[k])
    ax.set(xlabel="GD step $t$", yscale="log", title="Ch. 4: $\\sigma_k(W_t)$, small init")
    ax.legend(fontsize=7)
    ax = axes[0, 2]
    depths = sorted(deep)
    for i, depth in enumerate(depths):
        runs = deep[depth]
        time = runs[0].steps.double() * deep_step_size
        for k, s in enumerate(strengths[:N_SINGULAR]):
            plot_spread(ax, time, _stack(runs, f"sv{k + 1}") / s,
                        label=f"N = {depth}, $s_{k + 1}$ = {s:g}", color=colors[k],
                        linestyle=LINESTYLES[i % len(LINESTYLES)])
    ax.set(xlabel="time $\\eta t$", ylim=(-0.02, 1.1),
           title="Ch. 5: $\\sigma_k(W_t)/s_k$, $W = W_N\\cdots W_1$")
    # one entry per mode (colour) and per depth (line style) instead of one per curve
    handles = [Line2D([], [], color=colors[k], label=f"$s_{k + 1}$ = {s:g}")
               for k, s in enumerate(strengths[:N_SINGULAR])]
    handles += [Line2D([], [], color=COLORS["black"], linestyle=LINESTYLES[i % len(LINESTYLES)],
                       label=f"depth N = {depth}") for i, depth in enumerate(depths)]
    ax.legend(handles=handles, fontsize=7, loc="center right")
    return fig
