"""The record a solver returns: what was measured along the way, and how the run ended."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

__all__ = ["DivergenceError", "Trajectory"]


class DivergenceError(RuntimeError):
    """Gradient descent diverged: the loss became non-finite or blew up.

    Attributes
    ----------
    step : int
        The first iteration whose loss was non-finite or above the blow-up threshold.
    step_size : float
        The step size of the diverging run.
    loss : float
        The loss at that iteration (may be ``inf`` or ``nan``).
    """

    def __init__(self, step: int, step_size: float, loss: float, reason: str):
        self.step, self.step_size, self.loss = step, step_size, loss
        super().__init__(
            f"gradient descent diverged at step {step} with step size {step_size:.4g}: the loss "
            f"{reason} (loss {loss:.4g}). Try a smaller step size, e.g. {step_size / 2:.4g} "
            "(on a quadratic, GD is stable only below 2/L, L the largest curvature of the loss); "
            "in a sweep, pass on_divergence='stop' to mark this run as diverged and keep the others."
        )


@dataclass(frozen=True)
class Trajectory:
    """Everything a gradient-descent run recorded.

    Attributes
    ----------
    steps : Tensor, shape (T,)
        The iterations t at which the metrics were recorded (always including 0 and the last one).
    metrics : mapping from name to Tensor of shape (T,) or (T, K)
        One tensor per metric; ``"loss"`` is always there. For a batch of K runs the second axis
        indexes the run. Entries of a run recorded after it diverged are NaN: never plot them,
        select ``~trajectory.diverged`` first.
    params : Tensor or tuple of Tensors
        The final parameters, in the structure they were passed in.
    converged : Tensor of bool, shape () or (K,)
        Whether the run reached the tolerance ``tol`` (always False when no ``tol`` was given).
    diverged : Tensor of bool, shape () or (K,)
        Whether the run diverged (its parameters are frozen at the first diverging iterate).
    diverged_at : Tensor of int64, shape () or (K,)
        The first diverging iteration, or −1.
    n_steps : int
        The number of gradient steps taken.
    """

    steps: torch.Tensor
    metrics: Mapping[str, torch.Tensor]
    params: torch.Tensor | tuple[torch.Tensor, ...]
    converged: torch.Tensor
    diverged: torch.Tensor
    diverged_at: torch.Tensor
    n_steps: int

    def __getitem__(self, name: str) -> torch.Tensor:
        try:
            return self.metrics[name]
        except KeyError:
            raise KeyError(
                f"no metric {name!r} was recorded; recorded: {', '.join(self.metrics)}"
            ) from None

    def final(self, name: str) -> torch.Tensor:
        """The last recorded value of a metric (shape () or (K,))."""
        return self[name][-1]

    @property
    def batched(self) -> bool:
        """Whether this trajectory holds a batch of independent runs."""
        return self.converged.ndim == 1
