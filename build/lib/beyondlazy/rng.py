"""Seeded randomness: every random draw in the course comes from an explicit generator.

Draws are made on the CPU in float64 and then cast and moved, so a seed gives the same numbers
on every device and in every dtype (up to the final rounding). No function of the library touches
torch's global random state.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .validation import check_int

__all__ = ["generator", "randn", "rand", "randperm"]


def generator(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed`` (a non-negative integer)."""
    check_int("seed", seed, minimum=0)
    gen = torch.Generator(device="cpu")
    gen.manual_seed(seed)
    return gen


def _target(dtype: torch.dtype | None, device: torch.device | str | None):
    return dict(dtype=dtype or torch.get_default_dtype(), device=device or "cpu")


def randn(
    shape: Sequence[int],
    gen: torch.Generator,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Standard Gaussian entries of the given shape, drawn from ``gen`` (see the module note)."""
    draw = torch.randn(tuple(shape), generator=gen, dtype=torch.float64)
    return draw.to(**_target(dtype, device))


def rand(
    shape: Sequence[int],
    gen: torch.Generator,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Uniform entries on [0, 1) of the given shape, drawn from ``gen``."""
    draw = torch.rand(tuple(shape), generator=gen, dtype=torch.float64)
    return draw.to(**_target(dtype, device))


def randperm(n: int, gen: torch.Generator, *, device: torch.device | str | None = None) -> torch.Tensor:
    """A random permutation of ``0 … n−1`` drawn from ``gen``."""
    check_int("n", n, minimum=0)
    return torch.randperm(n, generator=gen).to(device or "cpu")
