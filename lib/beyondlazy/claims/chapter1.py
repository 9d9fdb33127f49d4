"""Claims of Chapter 1 (lazy linearization): when a network trains like its linearization.

Networks are those of :mod:`beyondlazy.networks`, f(θ; x) = s_m vᵀσ(Wx) with inputs on the unit
sphere; training is gradient descent on R(α h(θ))/α², R(f) = ‖f − y‖²/(2n), side by side with the
linearization (:func:`beyondlazy.lazy.train_lazy`); labels come from the ReLU teacher of Chizat,
Oyallon and Bach (:func:`beyondlazy.lazy.relu_teacher_task`). Each claim has a frozen config per
scale; the default scale runs on a 2-core CPU in seconds, in float64.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from ..analysis import loglog_slope
from ..device import device_for, one_cpu_thread
from ..lazy import centered, kernel_step_size, relu_teacher_task, train_lazy
from ..networks import (
    OneHiddenLayer, init_params, network, sphere_inputs, symmetrized_init, unflatten,
)
from ..ntk import empirical_ntk, empirical_ntk_products, network_ntk, relu_ntk
from ..scale import by_scale
from .registry import Check, claim

CHAPTER = "Chapter 1: Lazy linearization"

#: The runs behind the claims are cached per (seed, scale): the notebook draws its figures from
#: them and then runs the claims on the same seeds without computing them twice.
_cached = functools.lru_cache(maxsize=32)


def _test(claim_id: str) -> str:
    return f"tests/test_claims.py::test_claim_holds[{claim_id}]"


def _log_grid(low: float, high: float, count: int, *, even: bool = False) -> tuple[int, ...]:
    """``count`` integers spaced evenly in log scale from ``low`` to ``high`` (even ones if asked:
    a symmetrized initialization pairs the neurons)."""
    step = (math.log10(high) - math.log10(low)) / (count - 1)
    points = [10 ** (math.log10(low) + k * step) for k in range(count)]
    return tuple(2 * int(round(x / 2)) if even else int(round(x)) for x in points)


# ---------------------------------------------------------------------------------------------
# C1.1 the empirical NTK, two ways, and its infinite-width limit
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NTKLimitConfig:
    """Sizes for C1.1: the empirical NTK of f = vᵀrelu(Wx)/√m against the arc-cosine limit."""

    n: int  # inputs on the unit sphere (the kernel is n × n)
    d: int  # input dimension
    widths: tuple[int, ...]  # widths m, evenly spaced in log scale
    draws: int  # independent initializations per width (the error is their root mean square)
    check_width: int  # width at which the two implementations of the NTK are compared


NTK_LIMIT = {
    "default": NTKLimitConfig(n=20, d=10, widths=_log_grid(100, 10_000, 9), draws=2,
                              check_width=1000),
    "paper": NTKLimitConfig(n=100, d=10, widths=_log_grid(100, 10_000, 17), draws=10,
                            check_width=10_000),
}


@_cached
def ntk_limit(seed: int, scale: str) -> dict:
    """Relative errors ‖K_m − K_∞‖/‖K_∞‖ per width, and the two implementations compared.

    Returns a dict with ``widths``, ``errors`` (shape (len(widths), draws)), ``rms`` (per width),
    ``K_inf`` and the agreement ``max |K_jac − K_prod| / max |K_jac|`` at ``check_width``.
    """
    cfg = by_scale(NTK_LIMIT, scale)
    device = device_for(torch.float64)
    with one_cpu_thread(device):
        X = sphere_inputs(cfg.n, cfg.d, seed=seed, device=device)
        K_inf = relu_ntk(X)
        errors = torch.zeros(len(cfg.widths), cfg.draws, dtype=torch.float64)
        for i, m in enumerate(cfg.widths):
            net = OneHiddenLayer(cfg.d, m, "relu", "ntk")
            for r in range(cfg.draws):
                theta = init_params(net, seed=1000 * seed + 100 * r + 1, device=device)
                K = network_ntk(net, theta, X)  # = empirical_ntk(model, theta, X), tested
                errors[i, r] = float(torch.linalg.matrix_norm(K - K_inf)
                                     / torch.linalg.matrix_norm(K_inf))
        net = OneHiddenLayer(cfg.d, cfg.check_width, "relu", "ntk")
        model = functools.partial(network, net)
        theta = init_params(net, seed=1000 * seed + 7, device=device)
        K_jac = empirical_ntk(model, theta, X)
        K_prod = empirical_ntk_products(model, theta, X)
    agreement = float((K_jac - K_prod).abs().max() / K_jac.abs().max())
    return {"widths": cfg.widths, "errors": errors, "rms": errors.pow(2).mean(1).sqrt(),
            "K_inf": K_inf.cpu(), "agreement": agreement}


@claim(
    "C1.1",
    statement=(
        "The empirical NTK computed two ways (Jacobian contraction J Jᵀ; vjp/jvp products "
        "without forming J) agrees to 1e-10 in float64; the empirical NTK of a two-layer ReLU "
        "network (NTK parameterization, both layers) converges to the analytic infinite-width "
        "(arc-cosine) NTK, with a fitted log-log slope of the relative error in [−0.7, −0.3] "
        "over m = 10²…10⁴."
    ),
    source=("Jacot, Gabriel and Hongler (NeurIPS 2018), 'Neural tangent kernel'; Cho and Saul "
            "(NeurIPS 2009) for the arc-cosine kernels; talk, 'Overparameterized nonlinear least "
            "squares'"),
    chapter=CHAPTER,
    test=_test("C1.1"),
    test_seeds=(0, 1, 2),
)
def _c1_1(seed: int, scale: str) -> list[Check]:
    result = ntk_limit(seed, scale)
    slope, _ = loglog_slope(result["widths"], result["rms"])
    return [
        Check("max |K_jac − K_prod| / max |K|", result["agreement"], "<=", 1e-10),
        Check("fitted slope of ‖K_m − K_∞‖/‖K_∞‖ against m", slope, "in", (-0.7, -0.3)),
    ]


# ---------------------------------------------------------------------------------------------
# C1.2 laziness against width
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WidthConfig:
    """Sizes for C1.2: two-layer ReLU networks of growing width fitted to teacher labels."""

    n: int  # training points on the sphere
    n_test: int  # test points
    d: int  # input dimension
    widths: tuple[int, ...]  # widths m (NTK parameterization, both layers trained)
    tol: float  # stop at relative training residual ‖f − y‖/‖y‖ <= tol
    n_steps: int  # step budget
    record_every: int  # steps between records (each record forms one Jacobian)


WIDTH = {
    "default": WidthConfig(n=20, n_test=100, d=10, widths=(100, 316, 1000, 3162, 10_000),
                           tol=1e-3, n_steps=5000, record_every=50),
    "paper": WidthConfig(n=100, n_test=1000, d=10, widths=_log_grid(100, 10_000, 9, even=True),
                         tol=1e-3, n_steps=20_000, record_every=50),
}


@_cached
def width_sweep(seed: int, scale: str) -> dict:
    """One trained network (and its linearization) per width: ``{m: Trajectory}``.

    Inputs and teacher from ``seed``; θ_0 symmetrized (f(θ_0) = 0, so that every width fits the
    same residual y); η = n/λ_max(K_0); training stops at relative residual ``tol``.
    """
    cfg = by_scale(WIDTH, scale)
    device = device_for(torch.float64)
    runs = {}
    with one_cpu_thread(device):
        task = relu_teacher_task(cfg.n, cfg.n_test, cfg.d, seed=seed, device=device)
        for m in cfg.widths:
            net = OneHiddenLayer(cfg.d, m, "relu", "ntk")
            model = functools.partial(network, net)
            theta0 = symmetrized_init(net, seed=seed + 100, device=device)
            runs[m] = train_lazy(
                model, theta0, task.X, task.y, X_test=task.X_test, y_test=task.y_test,
                step_size=kernel_step_size(model, theta0, task.X), n_steps=cfg.n_steps,
                record_every=cfg.record_every, tol=cfg.tol,
                kernel=functools.partial(network_ntk, net))
    return runs


def first_layer_change(seed: int, scale: str) -> torch.Tensor:
    """‖W_T − W_0‖/‖W_0‖ per width of :func:`width_sweep`: the input weights alone."""
    cfg = by_scale(WIDTH, scale)
    changes = []
    for m, run in width_sweep(seed, scale).items():
        net = OneHiddenLayer(cfg.d, m, "relu", "ntk")
        theta_T = run.params[0] if isinstance(run.params, tuple) else run.params
        W0, _ = unflatten(net, symmetrized_init(net, seed=seed + 100, device=theta_T.device))
        W_T, _ = unflatten(net, theta_T)
        changes.append(torch.linalg.matrix_norm(W_T - W0) / torch.linalg.matrix_norm(W0))
    return torch.stack(changes).cpu()


@claim(
    "C1.2",
    statement=(
        "Laziness against width (two-layer ReLU, NTK parameterization, symmetrized "
        "initialization, both layers trained by GD to relative residual 1e-3): the relative "
        "weight change ‖θ_T − θ_0‖/‖θ_0‖, and that of the first layer alone, "
        "‖W_T − W_0‖/‖W_0‖, scale like m^{-1/2} (fitted log-log slopes in [−0.65, −0.35] over "
        "m = 10²…10⁴); the relative kernel change ‖K_T − K_0‖/‖K_0‖ and the "
        "gap between the network and its linearization on test points decrease with m (fitted "
        "log-log slopes <= −0.3)."
    ),
    source=("Jacot, Gabriel and Hongler (NeurIPS 2018); Du et al. (ICLR 2019); talk, "
            "'Overparameterized nonlinear least squares' (the lemma: wide networks)"),
    chapter=CHAPTER,
    test=_test("C1.2"),
    test_seeds=(0, 1, 2),
)
def _c1_2(seed: int, scale: str) -> list[Check]:
    runs = width_sweep(seed, scale)
    widths = list(runs)
    final = {name: torch.stack([runs[m].final(name) for m in widths])
             for name in ("weight_change", "kernel_change", "gap", "residual")}
    slope = {name: loglog_slope(widths, final[name])[0]
             for name in ("weight_change", "kernel_change", "gap")}
    slope["first_layer"] = loglog_slope(widths, first_layer_change(seed, scale))[0]
    return [
        Check("largest final relative residual", final["residual"].max(), "<=", 1e-3),
        Check("fitted slope of the weight change against m", slope["weight_change"], "in",
              (-0.65, -0.35)),
        Check("fitted slope of the first-layer change ‖W_T − W_0‖/‖W_0‖ against m",
              slope["first_layer"], "in", (-0.65, -0.35)),
        Check("fitted slope of the kernel change against m", slope["kernel_change"], "<=", -0.3),
        Check("fitted slope of the test-point gap against m", slope["gap"], "<=", -0.3),
    ]


# ---------------------------------------------------------------------------------------------
# C1.3 laziness against the output scale α
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScaleConfig:
    """Sizes for C1.3: one tanh network trained at output scales α (one batched run)."""

    n: int  # training points
    n_test: int  # test points
    d: int  # input dimension
    m: int  # width (NTK parameterization, both layers trained)
    alphas: tuple[float, ...]  # output scales α
    n_steps: int  # steps (the same η and number of steps for every α)


SCALE = {
    "default": ScaleConfig(n=20, n_test=100, d=10, m=100,
                           alphas=(1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0), n_steps=400),
    "paper": ScaleConfig(n=100, n_test=1000, d=10, m=1000,
                         alphas=tuple(2.0**k for k in range(11)), n_steps=2000),
}


def scale_model(seed: int, scale: str, *, activation: str = "tanh", init: str = "centered",
                device=None):
    """The model h of C1.3 and its θ_0: ``(model, theta0, task)``.

    ``init="centered"``: h = g − g(θ_0) with g at a Gaussian initialization (the claim);
    ``init="symmetrized"``: h = g with a symmetrized θ_0. Both have h(θ_0) = 0.
    """
    cfg = by_scale(SCALE, scale)
    task = relu_teacher_task(cfg.n, cfg.n_test, cfg.d, seed=seed, device=device)
    net = OneHiddenLayer(cfg.d, cfg.m, activation, "ntk")
    g = functools.partial(network, net)
    if init == "centered":
        theta0 = init_params(net, seed=seed + 100, device=device)
        return centered(g, theta0), theta0, task
    return g, symmetrized_init(net, seed=seed + 100, device=device), task


@_cached
def scale_sweep(seed: int, scale: str, activation: str = "tanh", init: str = "centered"):
    """The network and its linearization trained at every α of the config, in one batched call."""
    cfg = by_scale(SCALE, scale)
    device = device_for(torch.float64)
    with one_cpu_thread(device):
        model, theta0, task = scale_model(seed, scale, activation=activation, init=init,
                                          device=device)
        alphas = torch.tensor(cfg.alphas, dtype=torch.float64, device=device)
        return train_lazy(model, theta0, task.X, task.y, X_test=task.X_test,
                          y_test=task.y_test, alpha=alphas,
                          step_size=kernel_step_size(model, theta0, task.X),
                          n_steps=cfg.n_steps, record_every=cfg.n_steps // 8,
                          kernel_change=False)


@claim(
    "C1.3",
    statement=(
        "Laziness against the output scale α (Chizat–Oyallon–Bach scaling: GD on "
        "R(α h(θ))/α² with a step independent of α, a fixed number of steps, and the centered "
        "model h = g − g(θ_0), so that h(θ_0) = 0): for a smooth (tanh) two-layer network the gap "
        "between the trained network and its trained linearization on test points decreases "
        "like 1/α (fitted log-log slope in [−1.3, −0.7] over α = 1…64, width 100; paper scale "
        "α = 1…1024, width 1000), the rate of the finite-horizon bound "
        "sup_{t<=T}‖αh(θ_α(t)) − αh̄(θ̄_α(t))‖ = O(1/α) of Chizat, Oyallon and Bach, and so does "
        "the weight change (their bound sup_{t<=T}‖θ_α(t) − θ_0‖ = O(1/α)). The chapter also "
        "shows the symmetrized initialization (paired neurons, h(θ_0) = 0 without centering), "
        "where the second-order term cancels and the gap falls faster, like 1/α² for tanh: "
        "consistent with the bound, but not its rate."
    ),
    source=("Chizat, Oyallon and Bach (NeurIPS 2019), 'On lazy training in differentiable "
            "programming'; talk, 'Lazy vs. non-lazy training'"),
    chapter=CHAPTER,
    test=_test("C1.3"),
    test_seeds=(0, 1, 2),
)
def _c1_3(seed: int, scale: str) -> list[Check]:
    cfg = by_scale(SCALE, scale)
    trajectory = scale_sweep(seed, scale, "tanh", "centered")
    gap = trajectory.final("gap")
    slope, _ = loglog_slope(cfg.alphas, gap)
    weight_slope, _ = loglog_slope(cfg.alphas, trajectory.final("weight_change"))
    return [
        Check("largest final relative residual", trajectory.final("residual").max(), "<=", 1e-2),
        Check("fitted slope of the network–linearization gap against α", slope, "in",
              (-1.3, -0.7)),
        Check("fitted slope of the weight change against α", weight_slope, "in", (-1.3, -0.7)),
    ]


# ---------------------------------------------------------------------------------------------
# C1.4 lazy training generalizes worse (Chizat et al.'s teacher–student experiment)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeacherStudentConfig:
    """Sizes for C1.4: a two-layer ReLU student of a ReLU teacher, at initialization scales τ."""

    d: int  # input dimension
    n: int  # training points (uniform on the sphere)
    n_test: int  # test points
    m: int  # student width (output Σ_j v_j relu(w_jᵀx), no output factor)
    m0: int  # teacher width
    taus: tuple[float, ...]  # initialization scales τ (θ_0 = τ · symmetrized draw)
    n_steps: int  # GD steps, step size η = min(η_max, c/τ²)
    step_max: float  # η_max
    step_const: float  # c


TEACHER_STUDENT = {
    "default": TeacherStudentConfig(
        d=50, n=500, n_test=500, m=50, m0=3,
        taus=tuple(10 ** (-2 + k / 2) for k in range(6)), n_steps=500, step_max=10.0,
        step_const=0.1),
    "paper": TeacherStudentConfig(  # Chizat et al.'s shallow-network experiment
        d=100, n=1000, n_test=1000, m=50, m0=3,
        taus=tuple(10 ** (-2.2 + k / 10) for k in range(33)), n_steps=10_000, step_max=10.0,
        step_const=0.1),
}


@_cached
def teacher_student(seed: int, scale: str):
    """The student trained at every τ in one batched call: ``(taus, trajectory, zero_loss)``.

    ``zero_loss`` is the test loss of the zero predictor, R(0) = ‖y_test‖²/(2 n_test).
    """
    cfg = by_scale(TEACHER_STUDENT, scale)
    device = device_for(torch.float64)
    with one_cpu_thread(device):
        task = relu_teacher_task(cfg.n, cfg.n_test, cfg.d, m0=cfg.m0, seed=seed, device=device)
        net = OneHiddenLayer(cfg.d, cfg.m, "relu", "standard")
        draw = symmetrized_init(net, seed=seed + 100, output_std=1.0, device=device)
        taus = torch.tensor(cfg.taus, dtype=torch.float64, device=device)
        steps = torch.clamp(cfg.step_const / taus**2, max=cfg.step_max)
        trajectory = train_lazy(
            functools.partial(network, net), taus[:, None] * draw, task.X, task.y,
            X_test=task.X_test, y_test=task.y_test, step_size=steps, n_steps=cfg.n_steps,
            record_every=max(1, cfg.n_steps // 20), linearization=False, kernel_change=False,
            on_divergence="stop")
    return cfg.taus, trajectory, float(0.5 * (task.y_test**2).mean())


@claim(
    "C1.4",
    statement=(
        "Lazy training generalizes worse (Chizat et al.'s teacher–student task: student width "
        "50, teacher of 3 ReLU neurons, symmetrized initialization τ·θ_0, step "
        "min(10, 0.1/τ²); default scale d = 50, n = 500, 500 steps, τ = 0.01…3.2; paper scale "
        "their d = 100, n = 1000, 10⁴ steps, τ = 10^(−2.2…1)): the test loss at the smallest "
        "scale τ is <= 1/3 of the lazy plateau (the mean test loss over the scales τ >= 1), "
        "where the weights barely move (relative change <= 0.1 at the largest τ)."
    ),
    source=("Chizat, Oyallon and Bach (NeurIPS 2019), shallow-network experiment 'test loss "
            "against τ' (official code, test_vs_scale); talk, 'Lazy vs. non-lazy training'"),
    chapter=CHAPTER,
    test=_test("C1.4"),
    test_seeds=(0, 1, 2),
)
def _c1_4(seed: int, scale: str) -> list[Check]:
    taus, trajectory, zero = teacher_student(seed, scale)
    test = trajectory.final("test_loss")
    large = [k for k, tau in enumerate(taus) if tau >= 1 - 1e-9]
    plateau = test[large].mean()
    return [
        Check("test loss at the smallest τ / lazy plateau", test[0] / plateau, "<=", 1 / 3),
        Check("lazy plateau / zero predictor's test loss", plateau / zero, "<=", 1.0),
        Check("relative weight change at the largest τ", trajectory.final("weight_change")[-1],
              "<=", 0.1),
    ]
