"""Claims of Chapter 3 (low-rank reconstruction from small random initialization).

Symmetric sensing L(U) = ¼‖A(UUᵀ) − y‖², asymmetric L(U, V) = ½‖A(UVᵀ) − y‖², operator
A(Z) = (1/√m)(⟨A_i, Z⟩)_i, U_0 = αG (see :mod:`beyondlazy.factorized`). Each claim has a frozen
config per scale; the default scale runs on a 2-core CPU in seconds, in float64 where errors far
below 1e-6 are measured.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from ..analysis import loglog_slope
from ..device import device_for, one_cpu_thread
from ..factorized import (
    asymmetric_init,
    asymmetric_problem,
    gaussian_init,
    lift,
    power_matrix,
    sym,
    symmetric_problem,
    train_asymmetric,
    train_symmetric,
)
from ..scale import by_scale
from .registry import Check, claim

CHAPTER = "Chapter 3: Low-rank reconstruction"
SEEDS = (0, 1, 2)

#: The measurements behind the claims are cached per (seed, scale): a notebook draws its figure
#: from a run and then runs the claim on the same seed without computing it twice.
_cached = functools.lru_cache(maxsize=16)


def _test(claim_id: str) -> str:
    return f"tests/test_claims.py::test_claim_holds[{claim_id}]"


def _first(mask: torch.Tensor) -> torch.Tensor:
    """Index of the first True along axis 0 (per column); −1 where there is none."""
    hit = mask.any(0)
    return torch.where(hit, mask.float().argmax(0), torch.full_like(hit, -1, dtype=torch.long))


# ---------------------------------------------------------------------------------------------
# C3.1 large init interpolates without generalizing
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InterpolationConfig:
    n: int  # matrix dimension
    rank: int  # true rank r*
    m: int  # measurements (m < n(n+1)/2)
    alpha_small: float  # small init scale α
    alpha_large: float  # large init scale α
    step_size: float  # μ
    n_steps: int  # step budget


INTERPOLATION = {
    "default": InterpolationConfig(n=40, rank=2, m=300, alpha_small=1e-6, alpha_large=0.1,
                                   step_size=0.25, n_steps=4000),
    "paper": InterpolationConfig(n=80, rank=2, m=1600, alpha_small=1e-6, alpha_large=0.1,
                                 step_size=0.25, n_steps=8000),
}


@claim(
    "C3.1",
    statement=(
        "Large init interpolates without generalizing: with r = n and alpha = 0.1, GD reaches "
        "training error <= 1e-6 with test error >= 0.5; from alpha = 1e-6 the test error is "
        "<= 1e-3."
    ),
    source="Li, Ma, Zhang 2018 (init experiment); talk, 'Mystery II'",
    chapter=CHAPTER, test=_test("C3.1"), test_seeds=SEEDS,
)
def _c3_1(seed: int, scale: str) -> list[Check]:
    cfg = by_scale(INTERPOLATION, scale)
    device = device_for(torch.float64)
    with one_cpu_thread(device):
        problem = symmetric_problem(cfg.n, cfg.rank, cfg.m, seed=seed, device=device)
        U0 = gaussian_init([cfg.alpha_small, cfg.alpha_large], cfg.n, cfg.n, seed=seed + 10_000,
                           device=device)
        run = train_symmetric(problem, U0, step_size=cfg.step_size, n_steps=cfg.n_steps,
                              tol=1e-6, record_every=25, diagnostics=False)
    train, test = run.final("train_error"), run.final("test_error")
    return [
        Check("training error, large init", train[1], "<=", 1e-6),
        Check("test error, large init", test[1], ">=", 0.5),
        Check("test error, small init", test[0], "<=", 1e-3),
    ]


# ---------------------------------------------------------------------------------------------
# C3.2–C3.4 the spectral phase
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpectralConfig:
    n: int  # matrix dimension
    rank: int  # true rank r*
    m_factor: int  # m = m_factor · n · r*
    widths: tuple[int, ...]  # factor widths r compared
    alpha: float  # init scale α
    n_inits: int  # random initializations per width (one batched run)
    norm_stop: float  # the spectral phase ends when ‖U_t‖_op first exceeds this
    step_size: float  # μ
    n_steps: int  # step budget (the phase ends well before)


POWER = {
    "default": SpectralConfig(n=80, rank=2, m_factor=10, widths=(4, 80), alpha=1e-6, n_inits=1,
                              norm_stop=0.05, step_size=0.25, n_steps=60),
    "paper": SpectralConfig(n=200, rank=5, m_factor=10, widths=(10, 50, 200), alpha=1e-6,
                            n_inits=1, norm_stop=0.05, step_size=0.25, n_steps=80),
}


def spectral_phase(cfg: SpectralConfig, seed: int, width: int, problem=None,
                   power_method: bool = False):
    """One batched run of ``cfg.n_inits`` inits of width r through the spectral phase."""
    device = device_for(torch.float64)
    if problem is None:
        problem = symmetric_problem(cfg.n, cfg.rank, cfg.m_factor * cfg.n * cfg.rank, seed=seed,
                                    device=device)
    U0 = gaussian_init([cfg.alpha] * cfg.n_inits, cfg.n, width, seed=seed + 1000 + width,
                       device=device)
    names = ("norm", "sin_spectral", "sin_x")
    run = train_symmetric(problem, U0, step_size=cfg.step_size, n_steps=cfg.n_steps,
                          record_every=1, diagnostics=names, power_method=power_method)
    end = _first(run["norm"] > cfg.norm_stop)
    if bool((end < 0).any()):
        raise RuntimeError(f"the spectral phase did not end within {cfg.n_steps} steps")
    return problem, run, end


@_cached
def power_phase(seed: int, scale: str) -> dict:
    """{r: (trajectory, end of phase I)} for the widths of C3.2, compared with the power method."""
    cfg = by_scale(POWER, scale)
    out, problem = {}, None
    with one_cpu_thread(device_for(torch.float64)):
        for width in cfg.widths:
            problem, run, end = spectral_phase(cfg, seed, width, problem, power_method=True)
            out[width] = (run, end)
    return out


@claim(
    "C3.2",
    statement=(
        "Early GD is the power method (m = 10 n r*, kappa = 1, r >= 2r*): until ||U_t||_op first "
        "exceeds 0.05, ||U_t - U~_t||/||U~_t|| <= 0.05 and their top-r* subspaces are within "
        "sin-angle 0.05, U~_t = (I + mu A*A(XX^T))^t U_0; at that moment the top-r* subspace of "
        "U_t is within sin-angle 0.02 of the spectral estimator's."
    ),
    source="Stöger & Soltanolkotabi 2021 (spectral phase); talk, 'Role of randomness'",
    chapter=CHAPTER, test=_test("C3.2"), test_seeds=SEEDS,
)
def _c3_2(seed: int, scale: str) -> list[Check]:
    cfg = by_scale(POWER, scale)
    checks = []
    for width, (run, end) in power_phase(seed, scale).items():
        t = int(end.max())
        gap = float(run["power_gap"][: t + 1].max())
        angle = float(run["power_angle"][: t + 1].max())
        spectral = float(run["sin_spectral"][end, torch.arange(end.numel())].max())
        checks += [
            Check(f"r = {width}: max relative gap to the power method", gap, "<=", 0.05),
            Check(f"r = {width}: max sin-angle to the power method", angle, "<=", 0.05),
            Check(f"r = {width}: sin-angle to the spectral estimator", spectral, "<=", 0.02),
        ]
    return checks


SHARPEN = {
    "default": SpectralConfig(n=80, rank=5, m_factor=4, widths=(5, 20, 80), alpha=1e-6,
                              n_inits=32, norm_stop=0.05, step_size=0.25, n_steps=60),
    "paper": SpectralConfig(n=200, rank=5, m_factor=4, widths=(5, 20, 200), alpha=1e-6,
                            n_inits=8, norm_stop=0.05, step_size=0.25, n_steps=90),
}


@_cached
def sharpening_per_init(seed: int, scale: str) -> dict[int, torch.Tensor]:
    """Per r, the sin-angle to the spectral estimator at the end of phase I of each init."""
    cfg = by_scale(SHARPEN, scale)
    angles, problem = {}, None
    with one_cpu_thread(device_for(torch.float64)):
        for width in cfg.widths:
            problem, run, end = spectral_phase(cfg, seed, width, problem)
            angles[width] = run["sin_spectral"][end, torch.arange(end.numel())].cpu()
    return angles


def sharpening(seed: int, scale: str) -> dict[int, float]:
    """Mean over inits of the sin-angle to the spectral estimator at the end of phase I, per r."""
    return {width: float(values.mean())
            for width, values in sharpening_per_init(seed, scale).items()}


@claim(
    "C3.3",
    statement=(
        "Overparameterization sharpens the spectral bias (m = 4 n r*, kappa = 1): at the end of "
        "the spectral phase, the sin-angle to the spectral estimator (mean over random inits: "
        "32 at the default scale, 8 at the paper scale) is >= 5x smaller for r = 4r* and for "
        "r = n than for r = r*."
    ),
    source="Stöger & Soltanolkotabi 2021 (abstract: more prominent for overparameterized models)",
    chapter=CHAPTER, test=_test("C3.3"), test_seeds=SEEDS,
)
def _c3_3(seed: int, scale: str) -> list[Check]:
    cfg = by_scale(SHARPEN, scale)
    angles = sharpening(seed, scale)
    exact, mid, wide = cfg.widths
    return [
        Check(f"angle ratio r = {exact} / r = {mid}", angles[exact] / angles[mid], ">=", 5.0),
        Check(f"angle ratio r = {exact} / r = {wide}", angles[exact] / angles[wide], ">=", 5.0),
    ]


ALIGN = {
    "default": SpectralConfig(n=80, rank=2, m_factor=10, widths=(4, 8, 16, 40), alpha=1e-12,
                              n_inits=5, norm_stop=0.05, step_size=0.25, n_steps=45),
    "paper": SpectralConfig(n=200, rank=5, m_factor=10, widths=(10, 20, 50, 100), alpha=1e-12,
                            n_inits=5, norm_stop=0.05, step_size=0.25, n_steps=80),
}


@_cached
def alignment_times(seed: int, scale: str, threshold: float = 0.1):
    """Mean first t with sin-angle < threshold to the spectral subspace, per r; and the rate.

    rate = ln[(1 + μλ_{r*})/(1 + μλ_{r*+1})], λ the eigenvalues of A*A(XXᵀ).
    """
    cfg = by_scale(ALIGN, scale)
    device = device_for(torch.float64)
    times = {}
    with one_cpu_thread(device):
        problem = symmetric_problem(cfg.n, cfg.rank, cfg.m_factor * cfg.n * cfg.rank, seed=seed,
                                    device=device)
        lam = torch.linalg.eigvalsh(power_matrix(problem)).flip(0)
        mu = cfg.step_size
        rate = math.log((1 + mu * lam[cfg.rank - 1]) / (1 + mu * lam[cfg.rank]))
        for width in cfg.widths:
            U0 = gaussian_init([cfg.alpha] * cfg.n_inits, cfg.n, width, seed=seed + 1000 + width,
                               device=device)
            run = train_symmetric(problem, U0, step_size=mu, n_steps=cfg.n_steps,
                                  record_every=1, diagnostics=("sin_spectral",))
            hit = _first(run["sin_spectral"] < threshold)
            if bool((hit < 0).any()):
                raise RuntimeError(f"r = {width}: not aligned within {cfg.n_steps} steps")
            times[width] = float(run.steps[hit].double().mean())
    return times, rate


@claim(
    "C3.4",
    statement=(
        "The spectral phase shortens like ln(n/r) (kappa = 1, m = 10 n r*, alpha = 1e-12): the "
        "alignment time (first t with sin-angle < 0.1 to the spectral subspace, mean over 5 "
        "inits), fitted against ln(n/r) for 2r* <= r <= n/2, has a slope within 25% of "
        "1/(2 rate), rate = ln[(1 + mu lambda_r*)/(1 + mu lambda_(r*+1))]."
    ),
    source=("Stöger & Soltanolkotabi 2021 (power-method heuristic); talk, "
            "'Insights and predictions'"),
    chapter=CHAPTER, test=_test("C3.4"), test_seeds=SEEDS,
)
def _c3_4(seed: int, scale: str) -> list[Check]:
    cfg = by_scale(ALIGN, scale)
    times, rate = alignment_times(seed, scale)
    x = [math.log(cfg.n / r) for r in times]
    y = list(times.values())
    mx, my = sum(x) / len(x), sum(y) / len(y)
    slope = sum((a - mx) * (b - my) for a, b in zip(x, y)) / sum((a - mx) ** 2 for a in x)
    return [Check("fitted slope / (1 / (2 rate))", slope * 2 * rate, "in", (0.75, 1.25))]


# ---------------------------------------------------------------------------------------------
# C3.5 three phases, C3.6 test error against α
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhasesConfig:
    n: int  # matrix dimension (r = n)
    rank: int  # true rank r*
    m: int  # measurements
    kappa: float  # condition number of XXᵀ
    alpha: float  # init scale α
    step_size: float  # μ
    n_steps: int  # steps


PHASES = {
    "default": PhasesConfig(n=80, rank=2, m=1600, kappa=2.0, alpha=1e-6, step_size=0.25,
                            n_steps=300),
    "paper": PhasesConfig(n=200, rank=5, m=10_000, kappa=2.0, alpha=1e-6, step_size=0.25,
                          n_steps=500),
}


@_cached
def three_phases(seed: int, scale: str):
    """One run with r = n recording every step: test error, ‖U_t‖, signal and noise."""
    cfg = by_scale(PHASES, scale)
    device = device_for(torch.float64)
    with one_cpu_thread(device):
        problem = symmetric_problem(cfg.n, cfg.rank, cfg.m, seed=seed, kappa=cfg.kappa,
                                    device=device)
        U0 = gaussian_init([cfg.alpha], cfg.n, cfg.n, seed=seed + 1000, device=device)
        return train_symmetric(problem, U0, step_size=cfg.step_size, n_steps=cfg.n_steps,
                               record_every=1, diagnostics=("norm", "signal", "noise"))


def longest_run(mask: torch.Tensor) -> tuple[int, int]:
    """(length, start) of the longest run of consecutive True entries of a 1-D mask; (0, -1)
    when there is none."""
    best, start, current = 0, -1, 0
    for t, inside in enumerate(mask.tolist()):
        current = current + 1 if inside else 0
        if current > best:
            best, start = current, t - current + 1
    return best, start


def phase_boundaries(run, band: tuple[float, float] = (0.2, 0.7),
                     norm_stop: float = 0.05) -> dict[str, int]:
    """The phases of a three-phase run (record every step), read off its test error.

    ``spectral_end``: first t with ‖U_t‖_op > ``norm_stop``; ``descent_start``: the first t after
    which the test error stays below the band's lower edge for good (the final descent);
    ``plateau_length``, ``plateau_start``: the longest run of consecutive iterations with the test
    error inside ``band``, between the two.
    """
    test, norm = run["test_error"][:, 0], run["norm"][:, 0]
    above = torch.nonzero(norm > norm_stop)
    spectral_end = int(above[0]) if len(above) else len(norm)
    high = torch.nonzero(test >= band[0])
    descent_start = int(high[-1]) + 1 if len(high) else 0
    inside = (test >= band[0]) & (test <= band[1])
    between = torch.zeros_like(inside)
    between[spectral_end:descent_start] = True
    length, start = longest_run(inside & between)
    return {"spectral_end": spectral_end, "descent_start": descent_start,
            "plateau_length": length, "plateau_start": start}


@claim(
    "C3.5",
    statement=(
        "Three phases (r* = 2, kappa = 2, r = n): the test error stays >= 0.9 while "
        "||U_t||_op <= 0.05 (spectral phase); then, after ||U_t||_op first exceeds 0.05 and "
        "before the final descent, it rests >= 10 consecutive iterations inside [0.2, 0.7] "
        "(a saddle: one direction learned, not the other); then it falls to <= 1e-3."
    ),
    source="Stöger & Soltanolkotabi 2021 (three phases); talk, 'Convergence phases'",
    chapter=CHAPTER, test=_test("C3.5"), test_seeds=SEEDS,
)
def _c3_5(seed: int, scale: str) -> list[Check]:
    run = three_phases(seed, scale)
    test, norm = run["test_error"][:, 0], run["norm"][:, 0]
    spectral = norm <= 0.05
    phases = phase_boundaries(run)
    return [
        Check("min test error while ||U_t|| <= 0.05", test[spectral].min(), ">=", 0.9),
        Check(f"longest run of consecutive iterations with test error in [0.2, 0.7] between "
              f"t = {phases['spectral_end']} (end of the spectral phase) and "
              f"t = {phases['descent_start']} (final descent)",
              phases["plateau_length"], ">=", 10),
        Check("final test error", test[-1], "<=", 1e-3),
    ]


@dataclass(frozen=True)
class ScalingConfig:
    n: int  # matrix dimension (r = n)
    rank: int  # true rank r*
    m_factors: tuple[int, int]  # m = factor · n · r*, the smaller one first
    alphas: tuple[float, ...]  # init scales α (one batched run)
    step_size: float  # μ
    n_steps: int  # steps (the training error has plateaued by then)


SCALING = {
    "default": ScalingConfig(n=60, rank=2, m_factors=(5, 10), alphas=(1e-2, 1e-4, 1e-6, 1e-8),
                             step_size=0.25, n_steps=400),
    "paper": ScalingConfig(n=80, rank=2, m_factors=(5, 10),
                           alphas=(1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8), step_size=0.25,
                           n_steps=1500),
}


@_cached
def alpha_sweep(seed: int, scale: str) -> dict:
    """The batched runs over α (float64, r = n), keyed by m; records every 100 steps."""
    cfg = by_scale(SCALING, scale)
    device = device_for(torch.float64)
    out = {}
    with one_cpu_thread(device):
        for factor in cfg.m_factors:
            m = factor * cfg.n * cfg.rank
            problem = symmetric_problem(cfg.n, cfg.rank, m, seed=seed, device=device)
            U0 = gaussian_init(cfg.alphas, cfg.n, cfg.n, seed=seed + 1000, device=device)
            out[m] = train_symmetric(problem, U0, step_size=cfg.step_size, n_steps=cfg.n_steps,
                                     record_every=100, diagnostics=False)
    return out


def test_error_against_alpha(seed: int, scale: str) -> dict[int, torch.Tensor]:
    """Final test error per α, for each m (float64), keyed by m."""
    return {m: run.final("test_error").cpu() for m, run in alpha_sweep(seed, scale).items()}


def training_plateau(run) -> torch.Tensor:
    """Per α, the share of the training error's total decrease (on a log scale) that happened over
    the last recorded interval: ln(e_{T−k}/e_T) / ln(e_0/e_T). About 0 on a plateau, the
    interval's share of the run (1/4 for 400 steps recorded every 100) for a geometric decline."""
    train = run["train_error"].cpu()
    return torch.log(train[-2] / train[-1]) / torch.log(train[0] / train[-1])


def fitted_exponent(alphas, errors) -> tuple[float, float]:
    """(γ, standard error of γ) of the least-squares fit ln e = γ ln α + c."""
    gamma, intercept = loglog_slope(alphas, errors)
    x = torch.tensor([math.log(a) for a in alphas], dtype=torch.float64)
    y = torch.log(torch.as_tensor(errors, dtype=torch.float64))
    residual = y - (intercept + gamma * x)
    sxx = float(((x - x.mean()) ** 2).sum())
    return gamma, math.sqrt(float((residual**2).sum()) / (len(alphas) - 2) / sxx)


@claim(
    "C3.6",
    statement=(
        "Test error scales like alpha^gamma (kappa = 1, r = n, float64, after the training error "
        "has plateaued: over the last 100 of the 400 steps it makes <= 10% of its total decrease "
        "on a log scale, for every alpha and m): monotone in alpha over 1e-2 ... 1e-8 with a "
        "fitted gamma in [0.9, 1.6] at m = 10 n r*, and gamma strictly smaller at m = 5 n r*: "
        "the difference exceeds twice its standard error from the two fits."
    ),
    source="Stöger & Soltanolkotabi 2021 (error bound ~ alpha^(21/16)); papers.md S10.1-10.2",
    chapter=CHAPTER, test=_test("C3.6"), test_seeds=SEEDS,
)
def _c3_6(seed: int, scale: str) -> list[Check]:
    cfg = by_scale(SCALING, scale)
    runs = alpha_sweep(seed, scale)
    (m_low, run_low), (m_high, run_high) = runs.items()
    low, high = run_low.final("test_error").cpu(), run_high.final("test_error").cpu()
    plateau = torch.stack([training_plateau(run_low), training_plateau(run_high)])
    gamma_low, se_low = fitted_exponent(cfg.alphas, low)
    gamma_high, se_high = fitted_exponent(cfg.alphas, high)
    steps = (high[:-1] / high[1:]).min()  # > 1 when the error falls with α
    return [
        Check("largest share of the training error's log-decrease made over the last 100 steps "
              "(over alphas and m)", plateau.max(), "<=", 0.1),
        Check(f"smallest error ratio between neighbouring alphas (m = {m_high})", steps, ">=", 1.0),
        Check(f"fitted exponent gamma (m = {m_high})", gamma_high, "in", (0.9, 1.6)),
        Check(f"(gamma(m = {m_high}) - gamma(m = {m_low})) / its standard error "
              f"(gamma {gamma_high:.3f} +- {se_high:.3f} vs {gamma_low:.3f} +- {se_low:.3f})",
              (gamma_high - gamma_low) / math.hypot(se_low, se_high), ">=", 2.0),
    ]


# ---------------------------------------------------------------------------------------------
# C3.7–C3.9 asymmetric factors
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AsymmetricConfig:
    d1: int  # rows of XYᵀ
    d2: int  # columns of XYᵀ
    rank: int  # true rank r*
    width: int  # factor width r
    m: int  # measurements (m < d1·d2)
    alphas: tuple[float, ...]  # init scales α (one batched run)
    step_size: float  # μ
    n_steps: int  # step budget


SYMMETRIZE = {
    "default": AsymmetricConfig(d1=12, d2=9, rank=2, width=5, m=60, alphas=(1.0,),
                                step_size=0.25, n_steps=0),
    "paper": AsymmetricConfig(d1=40, d2=30, rank=2, width=30, m=700, alphas=(1.0,),
                              step_size=0.25, n_steps=0),
}


@claim(
    "C3.7",
    statement=(
        "Symmetrization: with B_k = Sym(A_k), W = [U; V], W~ = [U; -V], "
        "<B_k, WW^T> - <B_k, W~W~^T> = 4<A_k, UV^T>, so the asymmetric loss "
        "1/2||A(UV^T) - y||^2 equals 1/32 ||B(WW^T) - B(W*W*^T) - (B(W~W~^T) - B(W~*W~*^T))||^2 "
        "with W* = [X; Y], W~* = [X; -Y], and exactly 1/8 ||B(WW^T) - B(W*W*^T)||^2 for every U, V "
        "(the symmetric sensing loss of the lifted matrix); all three identities hold to 1e-12 "
        "(relative, float64)."
    ),
    source="Soltanolkotabi, Stöger & Xie 2023 (reduction to the symmetric case); talk, "
           "'Symmetrization I'",
    chapter=CHAPTER, test=_test("C3.7"), test_seeds=SEEDS,
)
def _c3_7(seed: int, scale: str) -> list[Check]:
    cfg = by_scale(SYMMETRIZE, scale)
    problem = asymmetric_problem(cfg.d1, cfg.d2, cfg.rank, cfg.m, seed=seed)
    U0, V0 = asymmetric_init([1.0], cfg.d1, cfg.d2, cfg.width, seed=seed + 1)
    U, V = U0[0], V0[0]
    A = problem.op.dense()
    B = sym(A)  # (m, d1 + d2, d1 + d2)
    W, W_tilde = lift(U, V)
    Z, Z_tilde = lift(problem.X, problem.Y)

    def measure_b(M):
        return torch.einsum("kij,ij->k", B, M) / math.sqrt(cfg.m)

    lhs = torch.einsum("kij,ij->k", B, W @ W.T - W_tilde @ W_tilde.T)
    rhs = 4 * torch.einsum("kij,ij->k", A, U @ V.T)
    identity = float((lhs - rhs).abs().max() / rhs.abs().max())
    loss = 0.5 * float(((problem.op.measure(U @ V.T) - problem.y) ** 2).sum())
    lifted = (measure_b(W @ W.T) - measure_b(Z @ Z.T)
              - (measure_b(W_tilde @ W_tilde.T) - measure_b(Z_tilde @ Z_tilde.T)))
    lifted_loss = float((lifted**2).sum()) / 32
    one_lift = float(((measure_b(W @ W.T) - measure_b(Z @ Z.T)) ** 2).sum()) / 8
    return [
        Check("relative error of <B_k, WW^T - W~W~^T> = 4<A_k, UV^T>", identity, "<=", 1e-12),
        Check("relative error of L(U, V) = ||lifted residual||^2 / 32",
              abs(loss - lifted_loss) / loss, "<=", 1e-12),
        Check("relative error of L(U, V) = ||B(WW^T) - B(W*W*^T)||^2 / 8",
              abs(loss - one_lift) / loss, "<=", 1e-12),
    ]


BALANCE = {
    "default": AsymmetricConfig(d1=40, d2=30, rank=2, width=30, m=700,
                                alphas=(1e-1, 1e-2, 1e-4, 1e-6), step_size=0.25, n_steps=600),
    "paper": AsymmetricConfig(d1=40, d2=30, rank=2, width=30, m=700,
                              alphas=(1e-1, 1e-2, 1e-4, 1e-6, 1e-8), step_size=0.25,
                              n_steps=20_000),
}


@_cached
def balancedness_run(seed: int, scale: str):
    """A batched asymmetric run over α recording the imbalance and its bound at every step."""
    cfg = by_scale(BALANCE, scale)
    device = device_for(torch.float64)
    with one_cpu_thread(device):
        problem = asymmetric_problem(cfg.d1, cfg.d2, cfg.rank, cfg.m, seed=seed, device=device)
        U0, V0 = asymmetric_init(cfg.alphas, cfg.d1, cfg.d2, cfg.width, seed=seed + 1000,
                                 device=device)
        return train_asymmetric(problem, U0, V0, step_size=cfg.step_size, n_steps=cfg.n_steps,
                                record_every=1)


def balance_margins(run) -> torch.Tensor:
    """Per α, the smallest relative margin (bound − imbalance)/bound of the balancedness lemma
    over the steps t ≥ 1 (at t = 0 the two are equal by definition). Negative = violated."""
    imbalance, bound = run["imbalance"][1:], run["imbalance_bound"][1:]
    return ((bound - imbalance) / bound.abs().clamp_min(1e-300)).min(0).values


@claim(
    "C3.8",
    statement=(
        "Balancedness lemma: ||U_t^T U_t - V_t^T V_t||_F <= ||B_0||_F + 2 mu (L_0 - L_t) at every "
        "step, for every alpha in 1e-1 ... 1e-6 (mu = 0.25, L = 1/2||A(UV^T) - y||^2), on runs "
        "whose loss never rises by more than 1e-12 L_0 (round-off); never violated: the smallest "
        "relative margin (bound - imbalance)/bound over t >= 1 and the alphas is >= -1e-12 "
        "(round-off)."
    ),
    source="Soltanolkotabi, Stöger & Xie 2023 (implicit balancing); talk, 'Proof of Lemma'",
    chapter=CHAPTER, test=_test("C3.8"), test_seeds=SEEDS,
)
def _c3_8(seed: int, scale: str) -> list[Check]:
    cfg = by_scale(BALANCE, scale)
    run = balancedness_run(seed, scale)
    loss = run["loss"]
    margins = balance_margins(run)
    closest = int(margins.argmin())
    # a rise counts when it exceeds round-off: 1e-12 of the initial loss (near the floor, the
    # loss itself is round-off and jitters by more than its own size)
    rises = (loss[1:] - loss[:-1] > 1e-12 * loss[0].abs()).sum()
    return [
        Check("runs that diverged", int(run.diverged.sum()), "<=", 0),
        Check("steps at which a loss increased", int(rises), "<=", 0),
        Check("smallest relative margin (bound - imbalance)/bound over t >= 1 and alphas "
              f"(reached at alpha = {cfg.alphas[closest]:g}; per alpha: "
              + ", ".join(f"{v:.2g}" for v in margins.tolist()) + ")",
              margins.min(), ">=", -1e-12),
    ]


GENERALIZE = {
    "default": AsymmetricConfig(d1=40, d2=30, rank=2, width=30, m=700, alphas=(1e-6, 1e-1),
                                step_size=0.25, n_steps=2500),
    "paper": AsymmetricConfig(d1=100, d2=80, rank=3, width=80, m=3000, alphas=(1e-6, 1e-1),
                              step_size=0.25, n_steps=10_000),
}


@_cached
def asymmetric_generalization(seed: int, scale: str, record_every: int = 50):
    """One batched asymmetric run from the small and the large init (float64)."""
    cfg = by_scale(GENERALIZE, scale)
    device = device_for(torch.float64)
    with one_cpu_thread(device):
        problem = asymmetric_problem(cfg.d1, cfg.d2, cfg.rank, cfg.m, seed=seed, device=device)
        U0, V0 = asymmetric_init(cfg.alphas, cfg.d1, cfg.d2, cfg.width, seed=seed + 1000,
                                 device=device)
        return train_asymmetric(problem, U0, V0, step_size=cfg.step_size, n_steps=cfg.n_steps,
                                record_every=record_every, diagnostics=False)


@claim(
    "C3.9",
    statement=(
        "Asymmetric small-init generalization (L = 1/2||A(UV^T) - y||^2): alpha = 1e-6 reaches "
        "test error <= 1e-3, while alpha = 0.1 reaches training error <= 1e-6 with test error "
        ">= 0.5."
    ),
    source="Soltanolkotabi, Stöger & Xie 2023 (main theorem); papers.md S10.7",
    chapter=CHAPTER, test=_test("C3.9"), test_seeds=SEEDS,
)
def _c3_9(seed: int, scale: str) -> list[Check]:
    run = asymmetric_generalization(seed, scale)
    train, test = run.final("train_error"), run.final("test_error")
    return [
        Check("test error, small init", test[0], "<=", 1e-3),
        Check("training error, large init", train[1], "<=", 1e-6),
        Check("test error, large init", test[1], ">=", 0.5),
    ]


# ---------------------------------------------------------------------------------------------
# C3.10 the talk's slide: more overparameterization helps
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlideConfig:
    n: int  # matrix dimension
    rank: int  # true rank r*
    m: int  # measurements (10 n r*)
    kappa: float  # condition number of XXᵀ
    widths: tuple[int, int]  # r = r* and r = n
    alpha: float  # init scale α
    n_inits: int  # inits averaged over (one batched run per width)
    step_size: float  # μ
    n_steps: int  # step budget
    dtype: str  # "float32" (the talk's scale) or "float64"


SLIDE = {
    "default": SlideConfig(n=60, rank=2, m=1200, kappa=4.0, widths=(2, 60), alpha=1e-7,
                           n_inits=5, step_size=0.25, n_steps=400, dtype="float64"),
    "paper": SlideConfig(n=200, rank=5, m=10_000, kappa=4.0, widths=(5, 200), alpha=1e-7,
                         n_inits=3, step_size=0.25, n_steps=500, dtype="float32"),
}


@_cached
def slide_runs(seed: int, scale: str):
    """Test error against t for r = r* and r = n: {r: Trajectory} (batched over inits)."""
    cfg = by_scale(SLIDE, scale)
    dtype = getattr(torch, cfg.dtype)
    device = device_for(dtype)
    runs = {}
    with one_cpu_thread(device):
        problem = symmetric_problem(cfg.n, cfg.rank, cfg.m, seed=seed, kappa=cfg.kappa,
                                    dtype=dtype, device=device)
        for width in cfg.widths:
            U0 = gaussian_init([cfg.alpha] * cfg.n_inits, cfg.n, width, seed=seed + 1000 + width,
                               dtype=dtype, device=device)
            runs[width] = train_symmetric(problem, U0, step_size=cfg.step_size,
                                          n_steps=cfg.n_steps, record_every=5, diagnostics=False)
    return runs


@claim(
    "C3.10",
    statement=(
        "The talk's 'how does more overparameterization help?' (m = 10 n r*, kappa = 4, "
        "alpha = 1e-7): averaged over random inits, r = n reaches test error 0.1 in fewer "
        "iterations than r = r* (default n = 60, r* = 2; paper n = 200, r* = 5)."
    ),
    source="Talk, 'Insights and predictions' (n = 200, r* = 5, m = 10 n r*)",
    chapter=CHAPTER, test=_test("C3.10"), test_seeds=SEEDS,
)
def _c3_10(seed: int, scale: str) -> list[Check]:
    cfg = by_scale(SLIDE, scale)
    runs = slide_runs(seed, scale)
    times = {}
    for width, run in runs.items():
        hit = _first(run["test_error"] < 0.1)
        if bool((hit < 0).any()):
            return [Check(f"r = {width}: runs that never reached test error 0.1",
                          int((hit < 0).sum()), "<=", 0)]
        times[width] = float(run.steps[hit].double().mean())
    exact, wide = cfg.widths
    return [
        Check(f"mean iterations to test error 0.1: r = {exact} minus r = {wide}",
              times[exact] - times[wide], ">=", 1.0),
    ]
