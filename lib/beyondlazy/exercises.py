"""Self-checking coding exercises: the reader's function against the library's, on fresh inputs.

A coding exercise in a chapter gives the reader a stub to fill in, then calls :func:`check`::

    def power_method(M, n_iter):          # the reader writes this
        raise NotImplementedError

    bl.exercises.check(power_method, reference=library_power_method,
                       make_inputs=lambda gen: (random_psd(gen), 50))

:func:`check` draws ``trials`` fresh random inputs (from its own seeded generator, so a failure can
be reproduced), calls both functions on each, and compares the outputs with ``torch.allclose``
(float64 tolerances by default). It never raises: an unfinished stub, an exception, a shape
mismatch or a wrong value each print one helpful line, and the notebook goes on running. The
returned :class:`CheckResult` says whether every trial passed (``bool(result)``).

Outputs may be tensors, numbers, or tuples/lists of them (compared entry by entry). ``compare``
replaces the default comparison where the answer is only defined up to a symmetry (a sign, a
rotation): it receives ``(mine, reference)`` and returns ``None`` when they agree, or a sentence
saying what differs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .validation import check_int, check_positive

__all__ = ["CheckResult", "check"]


@dataclass(frozen=True)
class CheckResult:
    """The outcome of :func:`check`: ``passed`` is true when every trial matched."""

    passed: bool
    trials: int  # how many inputs were tried before the first failure (or all of them)
    message: str  # the line printed for the reader

    def __bool__(self) -> bool:
        return self.passed


def _as_tuple(value: object) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    return f"{type(value).__name__} {value!r}"


def _compare_entries(mine: object, ref: object, rtol: float, atol: float) -> str | None:
    """None when ``mine`` matches ``ref``; otherwise a sentence saying how it differs."""
    mine_t, ref_t = _as_tuple(mine), _as_tuple(ref)
    if len(mine_t) != len(ref_t):
        return f"returned {len(mine_t)} value(s), expected {len(ref_t)}"
    for k, (a, b) in enumerate(zip(mine_t, ref_t)):
        where = f"output {k}: " if len(ref_t) > 1 else ""
        if isinstance(b, torch.Tensor):
            if not isinstance(a, torch.Tensor):
                a = torch.as_tensor(a, dtype=b.dtype, device=b.device)
            if a.shape != b.shape:
                return f"{where}shape {tuple(a.shape)}, expected {tuple(b.shape)}"
            a = a.to(device=b.device, dtype=b.dtype)
            if not bool(torch.isfinite(a).all()):
                return f"{where}contains NaN or inf"
            if not torch.allclose(a, b, rtol=rtol, atol=atol):
                err = float((a - b).abs().max())
                scale = float(b.abs().max())
                return f"{where}largest difference {err:.3g} (the expected values are up to {scale:.3g})"
        else:
            try:
                a_f, b_f = float(a), float(b)
            except (TypeError, ValueError):
                if a != b:
                    return f"{where}got {_describe(a)}, expected {_describe(b)}"
                continue
            if not math.isfinite(a_f) or not math.isclose(a_f, b_f, rel_tol=rtol, abs_tol=atol):
                return f"{where}got {a_f:.6g}, expected {b_f:.6g}"
    return None


def check(
    candidate: Callable,
    *,
    reference: Callable,
    make_inputs: Callable[[torch.Generator], Sequence[object]],
    trials: int = 3,
    seed: int = 2024,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    compare: Callable[[object, object], str | None] | None = None,
    verbose: bool = True,
) -> CheckResult:
    """Check ``candidate(*inputs)`` against ``reference(*inputs)`` on ``trials`` random inputs.

    Parameters
    ----------
    candidate : the reader's function.
    reference : the library's function with the same signature (the oracle).
    make_inputs : draws one tuple of arguments from the generator it is given.
    trials : number of independent inputs (>= 1).
    seed : seed of the generator that draws the inputs (a failure is reproducible).
    rtol, atol : tolerances of ``torch.allclose`` (float64 defaults).
    compare : optional ``(mine, reference) -> None | str`` replacing the default comparison.
    verbose : print the verdict (one line).

    Returns
    -------
    CheckResult, true when every trial matched. Never raises for a wrong candidate.
    """
    if not callable(candidate):
        raise ValueError(f"candidate must be a function; got {candidate!r}")
    if not callable(reference):
        raise ValueError(f"reference must be a function; got {reference!r}")
    check_int("trials", trials, minimum=1)
    check_positive("rtol", rtol, allow_zero=True)
    check_positive("atol", atol, allow_zero=True)
    name = getattr(candidate, "__name__", "your function")
    gen = torch.Generator().manual_seed(seed)

    def verdict(passed: bool, done: int, text: str) -> CheckResult:
        if verbose:
            print(text)
        return CheckResult(passed=passed, trials=done, message=text)

    for trial in range(1, trials + 1):
        inputs = tuple(make_inputs(gen))
        expected = reference(*inputs)
        try:
            mine = candidate(*inputs)
        except NotImplementedError:
            return verdict(False, trial - 1,
                           f"Not attempted yet: fill in {name} and run this cell again.")
        except Exception as exc:  # the reader's code failed: say how, and go on
            return verdict(False, trial - 1,
                           f"{name} raised {type(exc).__name__}: {exc} (trial {trial}, inputs: "
                           + ", ".join(_describe(x) for x in inputs) + ")")
        problem = (compare(mine, expected) if compare is not None
                   else _compare_entries(mine, expected, rtol, atol))
        if problem is not None:
            return verdict(False, trial - 1,
                           f"Not yet: on trial {trial} of {trials}, {name} {problem}. "
                           f"(Inputs: " + ", ".join(_describe(x) for x in inputs) + ")")
    return verdict(True, trials,
                   f"Correct: {name} matches the library on {trials} fresh random inputs.")
