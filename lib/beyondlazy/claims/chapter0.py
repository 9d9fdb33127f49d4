"""Claims of Chapter 0 (introduction): the two mysteries."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..device import device_for
from ..scale import by_scale
from ..sensing import gaussian_init, sensing_problem, train_symmetric
from .registry import Check, claim


@dataclass(frozen=True)
class TwoInitsConfig:
    """Sizes for C0.1: symmetric matrix sensing with a factor twice as wide as the matrix."""

    n: int  # matrix dimension
    rank: int  # true rank r*
    m: int  # number of measurements (m < n(n+1)/2: many interpolants)
    width: int  # factor width r (r ≥ r*; here r = 2n)
    alpha_small: float  # small initialization scale α
    alpha_large: float  # large initialization scale α
    step_size: float  # μ
    n_steps: int  # step budget


TWO_INITS = {
    "default": TwoInitsConfig(n=32, rank=1, m=192, width=64, alpha_small=1e-10, alpha_large=0.1,
                              step_size=0.25, n_steps=3000),
    "paper": TwoInitsConfig(n=80, rank=2, m=960, width=160, alpha_small=1e-10, alpha_large=0.05,
                            step_size=0.25, n_steps=6000),
}


def two_inits_run(seed: int, scale: str):
    """Train one model from a small and a large init (one batched call); return the trajectory."""
    cfg = by_scale(TWO_INITS, scale)
    device = device_for(torch.float64)  # errors near 1e-6 need float64
    problem = sensing_problem(cfg.n, cfg.rank, cfg.m, seed=seed, device=device)
    U0 = gaussian_init([cfg.alpha_small, cfg.alpha_large], cfg.n, cfg.width, seed=seed + 10_000,
                       device=device)
    return train_symmetric(problem, U0, step_size=cfg.step_size, n_steps=cfg.n_steps, tol=1e-6,
                           record_every=25)


@claim(
    "C0.1",
    statement=(
        "Many global optima, different generalization: one overparameterized model, trained by GD "
        "to training error <= 1e-6 from a small and from a large init, reaches test errors that "
        "differ >= 10x."
    ),
    source="Talk, 'Mystery II: Generalization' (different init scales reach different global optima)",
    chapter="Chapter 0: Introduction",
    test="tests/test_claims.py::test_claim_holds[C0.1]",
    test_seeds=(0, 1, 2),
)
def _c0_1(seed: int, scale: str) -> list[Check]:
    trajectory = two_inits_run(seed, scale)
    train = trajectory.final("train_error")
    test = trajectory.final("test_error")
    return [
        Check("training error, small init", train[0], "<=", 1e-6),
        Check("training error, large init", train[1], "<=", 1e-6),
        Check("test error ratio, large / small init", test[1] / test[0], ">=", 10.0),
        Check("test error, small init", test[0], "<=", 1e-3),
    ]
