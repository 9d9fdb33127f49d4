"""The one gradient-descent loop every chapter shares.

    θ_{t+1} = θ_t − η ∇L(θ_t),        t = 0, 1, …, T − 1.

The loop records metrics every ``record_every`` steps (and at the last step), stops early once a
chosen metric reaches ``tol``, and watches for divergence at every step without slowing the step
down (the check stays on the device; it is read back only when metrics are recorded).

Parameters may hold a *batch* of K independent runs along their first axis (``batched=True``):
the loss then returns one value per run, the step size may differ per run, and a run that
diverges is frozen and flagged while the others go on. This is how a sweep over seeds, step sizes
or initialization scales becomes one call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch

from .trajectory import DivergenceError, Trajectory
from .validation import check_choice, check_finite, check_int, check_positive, check_same_device

__all__ = ["gradient_descent", "value_and_grad"]

Params = tuple[torch.Tensor, ...]
LossAndGrad = Callable[..., tuple[torch.Tensor, Sequence[torch.Tensor]]]


def value_and_grad(loss: Callable[..., torch.Tensor]) -> LossAndGrad:
    """Turn ``loss(*params) -> L`` into ``loss_and_grad(*params) -> (L, grads)`` with autograd.

    ``L`` may be a scalar or, for a batch of independent runs, a vector with one loss per run:
    the gradient is then that of ``L.sum()``, which is each run's own gradient because the runs
    do not interact. Use it when no hand-derived gradient is available (or to test one). It works
    inside the loop's ``torch.no_grad()``; plain reverse-mode autograd is used because it costs
    far less per call than ``torch.func.grad`` on small problems.
    """

    def loss_and_grad(*params: torch.Tensor):
        with torch.enable_grad():
            leaves = [p.detach().requires_grad_(True) for p in params]
            value = loss(*leaves)
            grads = torch.autograd.grad(value.sum(), leaves)
        return value.detach(), grads

    return loss_and_grad


def _as_step_sizes(step_size, batch: int | None, like: torch.Tensor) -> torch.Tensor:
    if isinstance(step_size, torch.Tensor) and step_size.numel() > 1:
        if batch is None or step_size.shape != (batch,):
            raise ValueError(
                "step_size must be a number, or (for batched=True) a tensor of shape "
                f"(K,) = ({batch},); got a tensor of shape {tuple(step_size.shape)}"
            )
        if not bool(torch.isfinite(step_size).all()) or not bool((step_size > 0).all()):
            raise ValueError(
                f"step_size must hold finite numbers > 0; got {step_size.tolist()}"
            )
        return step_size.to(dtype=like.dtype, device=like.device)
    value = check_positive("step_size", step_size)
    shape = () if batch is None else (batch,)
    return torch.full(shape, value, dtype=like.dtype, device=like.device)


def gradient_descent(
    loss_and_grad: LossAndGrad,
    params: torch.Tensor | Sequence[torch.Tensor],
    *,
    step_size: float | torch.Tensor,
    n_steps: int,
    record_every: int = 1,
    metrics: Mapping[str, Callable[..., torch.Tensor]] | None = None,
    tol: float | None = None,
    tol_metric: str = "loss",
    batched: bool = False,
    on_divergence: str = "raise",
    blowup: float = 1e8,
) -> Trajectory:
    """Run gradient descent θ_{t+1} = θ_t − η ∇L(θ_t) and return its :class:`Trajectory`.

    Parameters
    ----------
    loss_and_grad : callable
        ``loss_and_grad(*params) -> (L, grads)``: the loss (a scalar, or shape (K,) when batched)
        and one gradient per parameter. Hand-derived where the math is the lesson; otherwise
        :func:`value_and_grad` builds it from the loss.
    params : Tensor or sequence of Tensors
        The initialization θ_0 (not modified). All on one device and of one floating dtype; the
        run happens there, in that dtype.
    step_size : float or Tensor of shape (K,)
        The step size η (one per run when batched).
    n_steps : int
        The largest number of steps T.
    record_every : int
        Record the metrics every this many steps (and always at steps 0 and the last one).
    metrics : mapping name -> callable, optional
        ``metric(*params) -> value`` (scalar, or shape (K,) when batched), evaluated at each
        record. The loss is always recorded as ``"loss"``.
    tol : float, optional
        Stop once ``tol_metric`` is ≤ ``tol`` for every (non-diverged) run; checked at records.
    tol_metric : str
        The recorded metric compared with ``tol`` (default the loss).
    batched : bool
        Whether the first axis of every parameter indexes K independent runs.
    on_divergence : {"raise", "stop"}
        ``"raise"`` (default) raises :class:`DivergenceError`; ``"stop"`` freezes a diverging run
        at its first diverging iterate, flags it in ``diverged`` and goes on with the others.
    blowup : float
        A run diverges when its loss is non-finite or exceeds ``blowup`` times its initial loss.

    Returns
    -------
    Trajectory
        The recorded steps and metrics, final parameters, and converged/diverged flags.

    Examples
    --------
    Minimize the quadratic ½‖θ − 1‖² from θ_0 = 0:

    >>> import torch
    >>> traj = gradient_descent(lambda th: (0.5 * ((th - 1) ** 2).sum(), (th - 1,)),
    ...                         torch.zeros(3), step_size=0.5, n_steps=60, tol=1e-12)
    >>> bool(traj.converged), round(float(traj.params[0]), 6)
    (True, 1.0)
    """
    single = isinstance(params, torch.Tensor)
    theta: Params = (params,) if single else tuple(params)
    if not theta:
        raise ValueError("params must hold at least one tensor; got an empty sequence")
    check_same_device(**{f"params[{i}]": p for i, p in enumerate(theta)})
    for i, p in enumerate(theta):
        check_finite(f"params[{i}]", p)
    dtypes = {p.dtype for p in theta}
    if len(dtypes) != 1:
        raise ValueError(f"params must share one dtype; got {sorted(map(str, dtypes))}")
    n_steps = check_int("n_steps", n_steps, minimum=0)
    record_every = check_int("record_every", record_every, minimum=1)
    check_choice("on_divergence", on_divergence, ("raise", "stop"))
    blowup = check_positive("blowup", blowup)
    if tol is not None:
        tol = check_positive("tol", tol, allow_zero=True)
    metrics = dict(metrics or {})
    if "loss" in metrics:
        raise ValueError("metrics must not define 'loss'; it is always recorded")
    if tol is not None and tol_metric != "loss" and tol_metric not in metrics:
        raise ValueError(
            f"tol_metric must be 'loss' or one of the metrics {sorted(metrics)}; got {tol_metric!r}"
        )

    ref = theta[0]
    batch = None
    if batched:
        if ref.ndim == 0:
            raise ValueError("params must have a leading batch axis when batched=True; got a scalar")
        batch = ref.shape[0]
        if batch == 0:
            raise ValueError("params must hold at least one run (K >= 1) when batched=True; got K = 0")
        for i, p in enumerate(theta):
            if p.ndim == 0 or p.shape[0] != batch:
                raise ValueError(
                    f"params[{i}] must have the batch size K = {batch} as its first axis; "
                    f"got shape {tuple(p.shape)}"
                )
    eta = _as_step_sizes(step_size, batch, ref)
    one_step_size = not (isinstance(step_size, torch.Tensor) and step_size.numel() > 1)
    scalar_eta = float(eta.reshape(-1)[0]) if one_step_size else None
    flag_shape = () if batch is None else (batch,)
    device = ref.device

    def per_run(p: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Broadcast a (K,) or () vector against parameter p."""
        return x.reshape(x.shape + (1,) * (p.ndim - x.ndim))

    theta = tuple(p.detach().clone() for p in theta)
    alive = torch.ones(flag_shape, dtype=torch.bool, device=device)
    diverged_at = torch.full(flag_shape, -1, dtype=torch.long, device=device)
    converged = torch.zeros(flag_shape, dtype=torch.bool, device=device)
    loss_at_divergence = torch.zeros(flag_shape, dtype=ref.dtype, device=device)
    threshold = None
    records: dict[str, list[torch.Tensor]] = {"loss": [], **{name: [] for name in metrics}}
    steps: list[int] = []
    nan = torch.tensor(float("nan"), dtype=ref.dtype, device=device)
    t = 0

    with torch.no_grad():
        while True:
            loss, grads = loss_and_grad(*theta)
            loss = loss.detach()
            if loss.shape != flag_shape:
                raise ValueError(
                    f"loss_and_grad must return a loss of shape {flag_shape}"
                    f"{' (one per run)' if batched else ''}; got shape {tuple(loss.shape)}"
                )
            if threshold is None:
                threshold = blowup * loss.abs().clamp_min(torch.finfo(loss.dtype).tiny)
            newly = alive & (~torch.isfinite(loss) | (loss > threshold))
            diverged_at = torch.where(newly, t, diverged_at)
            loss_at_divergence = torch.where(newly, loss, loss_at_divergence)
            alive = alive & ~newly

            last = t == n_steps
            if t % record_every == 0 or last:
                if not bool(alive.all()) and on_divergence == "raise":
                    run = int(torch.nonzero(~alive.reshape(-1))[0]) if batched else 0
                    step = int(diverged_at.reshape(-1)[run])
                    value = float(loss_at_divergence.reshape(-1)[run])
                    reason = "became NaN or infinite" if not math.isfinite(value) else (
                        f"grew above {blowup:.0e} times its initial value")
                    where = f" (run {run} of the batch)" if batched else ""
                    raise DivergenceError(step, float(eta.reshape(-1)[run]), value, reason + where)
                steps.append(t)
                records["loss"].append(torch.where(alive, loss, nan))
                for name, fn in metrics.items():
                    value = torch.as_tensor(fn(*theta), device=device)
                    if value.shape != flag_shape:
                        raise ValueError(
                            f"metric {name!r} must return shape {flag_shape}; got {tuple(value.shape)}"
                        )
                    records[name].append(torch.where(alive, value.to(ref.dtype), nan))
                if tol is not None:
                    converged = alive & (records[tol_metric][-1] <= tol)
                    if bool((converged | ~alive).all()):
                        break
                if not bool(alive.any()):
                    break
            if last:
                break
            if scalar_eta is not None:  # one fused kernel per parameter: p − η g
                stepped = tuple(p.add(g, alpha=-scalar_eta) for p, g in zip(theta, grads))
            else:
                stepped = tuple(p - per_run(p, eta) * g for p, g in zip(theta, grads))
            if on_divergence == "stop":  # freeze diverged runs (with "raise", the next record raises)
                stepped = tuple(torch.where(per_run(p, alive), q, p) for p, q in zip(theta, stepped))
            theta = stepped
            t += 1

    return Trajectory(
        steps=torch.tensor(steps, dtype=torch.long),
        metrics={name: torch.stack(values) for name, values in records.items()},
        params=theta[0] if single else theta,
        converged=converged,
        diverged=~alive,
        diverged_at=diverged_at,
        n_steps=t,
    )
