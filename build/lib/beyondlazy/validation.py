"""Argument checks shared by every public function of the library.

Each check raises a :class:`ValueError` whose message names the parameter, the value it received
and what is allowed, e.g. ``step_size must be a finite number > 0; got -0.1``. Checks return the
validated value so that they can be used inline.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch

__all__ = [
    "check_choice",
    "check_finite",
    "check_int",
    "check_positive",
    "check_rank",
    "check_same_device",
    "check_shape",
]


def _fail(name: str, value: object, allowed: str) -> ValueError:
    shown = value
    if isinstance(value, torch.Tensor):
        shown = f"tensor of shape {tuple(value.shape)}, dtype {value.dtype}, device {value.device}"
    return ValueError(f"{name} must be {allowed}; got {shown!r}")


def check_positive(name: str, value: object, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a float if it is a finite number > 0 (or >= 0 with ``allow_zero``)."""
    allowed = "a finite number >= 0" if allow_zero else "a finite number > 0"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        else:
            raise _fail(name, value, allowed)
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise _fail(name, value, allowed)
    return value


def check_int(name: str, value: object, *, minimum: int = 0, maximum: int | None = None) -> int:
    """Return ``value`` if it is an integer in ``[minimum, maximum]`` (bools are rejected)."""
    allowed = f"an integer >= {minimum}" + ("" if maximum is None else f" and <= {maximum}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(name, value, allowed)
    if value < minimum or (maximum is not None and value > maximum):
        raise _fail(name, value, allowed)
    return value


def check_choice(name: str, value: object, choices: Sequence[object]) -> object:
    """Return ``value`` if it is one of ``choices``."""
    if value not in choices:
        raise _fail(name, value, "one of " + ", ".join(repr(c) for c in choices))
    return value


def check_finite(name: str, tensor: torch.Tensor) -> torch.Tensor:
    """Return ``tensor`` if it is a floating-point tensor with only finite entries."""
    if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
        raise _fail(name, tensor, "a floating-point torch.Tensor")
    if not bool(torch.isfinite(tensor).all()):
        bad = int((~torch.isfinite(tensor)).sum())
        raise ValueError(
            f"{name} must contain only finite values; got {bad} NaN or infinite "
            f"entr{'y' if bad == 1 else 'ies'} out of {tensor.numel()}"
        )
    return tensor


def check_shape(name: str, tensor: torch.Tensor, shape: Sequence[int | None]) -> torch.Tensor:
    """Return ``tensor`` if its shape matches ``shape`` (``None`` matches any length)."""
    pattern = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
    if not isinstance(tensor, torch.Tensor):
        raise _fail(name, tensor, f"a torch.Tensor of shape {pattern}")
    if tensor.ndim != len(shape) or any(
        s is not None and s != t for s, t in zip(shape, tensor.shape)
    ):
        raise ValueError(
            f"{name} must have shape {pattern}; got shape {tuple(tensor.shape)}"
        )
    return tensor


def check_same_device(**tensors: torch.Tensor) -> torch.device:
    """Return the common device of the given tensors, or raise naming the odd one out."""
    items: Iterable[tuple[str, torch.Tensor]] = tensors.items()
    first_name, first = None, None
    for name, tensor in items:
        if first is None:
            first_name, first = name, tensor
        elif tensor.device != first.device:
            raise ValueError(
                f"{name} must be on the same device as {first_name} ({first.device}); "
                f"got device {tensor.device}"
            )
    if first is None:
        raise ValueError("check_same_device needs at least one tensor")
    return first.device


def check_rank(r: object, r_star: int, *, name: str = "r", maximum: int | None = None) -> int:
    """Return the rank ``r`` of a factorization if ``r_star <= r`` (``<= maximum`` if given).

    A factor with fewer columns than the true rank ``r*`` cannot represent the target.
    """
    allowed = f"an integer >= the true rank r* = {r_star}" + (
        "" if maximum is None else f" and <= {maximum}"
    )
    if isinstance(r, bool) or not isinstance(r, int) or r < r_star or (
        maximum is not None and r > maximum
    ):
        raise _fail(name, r, allowed)
    return r
