"""The shared gradient-descent loop, checked against the closed form of GD on a quadratic.

On L(θ) = ½ (θ − θ*)ᵀ H (θ − θ*) with H = Q diag(λ) Qᵀ, gradient descent with step size η has

    θ_t = θ* + (I − ηH)^t (θ_0 − θ*) = θ* + Q diag((1 − ηλ)^t) Qᵀ (θ_0 − θ*),
    L(θ_t) = ½ Σ_i λ_i (1 − ηλ_i)^{2t} c_i²,   c = Qᵀ(θ_0 − θ*),

stable iff η < 2/L with L = max λ. Every test below compares the loop with these formulas (or with
a second implementation), never with numbers copied from a run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch

from beyondlazy import DivergenceError, gradient_descent, value_and_grad
from beyondlazy import rng

from testkit import DEVICES, TOL


def _dtypes_for(device: torch.device) -> list[torch.dtype]:
    return [torch.float32] if device.type == "mps" else [torch.float32, torch.float64]


DEVICE_DTYPES = [
    pytest.param(p.values[0], dtype, id=f"{p.values[0]}-{str(dtype).removeprefix('torch.')}",
                 marks=p.marks)
    for p in DEVICES
    for dtype in _dtypes_for(p.values[0])
]


@dataclass(frozen=True)
class Quadratic:
    """L(θ) = ½ (θ − θ*)ᵀ H (θ − θ*), H = Q diag(λ) Qᵀ (all float64, on the CPU)."""

    Q: torch.Tensor
    eigs: torch.Tensor
    theta_star: torch.Tensor
    theta0: torch.Tensor

    @property
    def H(self) -> torch.Tensor:
        return (self.Q * self.eigs) @ self.Q.T

    def loss_and_grad(self, dtype=torch.float64, device="cpu"):
        H = self.H.to(dtype=dtype, device=device)
        theta_star = self.theta_star.to(dtype=dtype, device=device)

        def loss_and_grad(theta):
            e = theta - theta_star
            He = e @ H
            return 0.5 * (e * He).sum(-1), (He,)

        return loss_and_grad

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        e = theta - self.theta_star
        return 0.5 * (e * (e @ self.H)).sum(-1)

    def iterate(self, eta: float, t: int) -> torch.Tensor:
        """θ_t in closed form."""
        c = self.Q.T @ (self.theta0 - self.theta_star)
        return self.theta_star + self.Q @ ((1 - eta * self.eigs) ** t * c)

    def loss_at(self, eta: float, t: int) -> float:
        """L(θ_t) in closed form (Python floats, so that it can overflow to inf, never to NaN)."""
        c = (self.Q.T @ (self.theta0 - self.theta_star)).tolist()
        total = 0.0
        for lam, ci in zip(self.eigs.tolist(), c):
            factor = abs(1 - eta * lam)
            if t == 0:
                total += 0.5 * lam * ci * ci
            elif factor > 0:
                log_term = math.log(0.5 * lam * ci * ci) + 2 * t * math.log(factor)
                total += math.exp(log_term) if log_term < 709 else math.inf
        return total


def quadratic(d: int = 4, seed: int = 0, eigs=(1.0, 0.6, 0.3, 0.1)) -> Quadratic:
    gen = rng.generator(seed)
    Q, _ = torch.linalg.qr(rng.randn((d, d), gen, dtype=torch.float64))
    return Quadratic(
        Q=Q,
        eigs=torch.tensor(eigs, dtype=torch.float64),
        theta_star=rng.randn((d,), gen, dtype=torch.float64),
        theta0=rng.randn((d,), gen, dtype=torch.float64),
    )


def coordinate_metrics(d: int, batched: bool = False):
    """Record each coordinate of θ as its own metric, so that whole iterates can be compared."""
    if batched:
        return {f"theta{i}": (lambda th, i=i: th[:, i]) for i in range(d)}
    return {f"theta{i}": (lambda th, i=i: th[i]) for i in range(d)}


def recorded_iterates(traj, d: int) -> torch.Tensor:
    return torch.stack([traj[f"theta{i}"] for i in range(d)], dim=-1)


def first_divergence(q: Quadratic, eta: float, blowup: float, horizon: int = 10_000) -> int:
    """The first t whose closed-form loss is non-finite or exceeds blowup × L(θ_0)."""
    threshold = blowup * q.loss_at(eta, 0)
    for t in range(horizon):
        value = q.loss_at(eta, t)
        if not math.isfinite(value) or value > threshold:
            # The instance must not sit on the boundary, or rounding could move the step.
            assert not math.isfinite(value) or value > threshold * (1 + 1e-6)
            return t
        assert value < threshold * (1 - 1e-6)
    raise AssertionError("the closed form does not diverge within the horizon")


# ---------------------------------------------------------------------------------------------
# Closed form
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("device, dtype", DEVICE_DTYPES)
def test_gd_matches_closed_form_on_quadratic(device, dtype):
    q, eta, T = quadratic(), 1.5, 40
    traj = gradient_descent(q.loss_and_grad(dtype=dtype, device=device),
                            q.theta0.to(dtype=dtype, device=device), step_size=eta, n_steps=T,
                            metrics=coordinate_metrics(4))
    expected = torch.stack([q.iterate(eta, t) for t in range(T + 1)])
    expected_loss = torch.tensor([q.loss_at(eta, t) for t in range(T + 1)], dtype=torch.float64)
    torch.testing.assert_close(traj.steps, torch.arange(T + 1))
    torch.testing.assert_close(recorded_iterates(traj, 4).cpu().double(), expected, **TOL[dtype])
    torch.testing.assert_close(traj["loss"].cpu().double(), expected_loss, **TOL[dtype])
    torch.testing.assert_close(traj.params.cpu().double(), q.iterate(eta, T), **TOL[dtype])
    assert traj.n_steps == T


def test_float32_run_agrees_with_float64_closed_form():
    q, eta, T = quadratic(), 1.0, 60
    traj = gradient_descent(q.loss_and_grad(dtype=torch.float32), q.theta0.float(), step_size=eta,
                            n_steps=T)
    torch.testing.assert_close(traj.params.double(), q.iterate(eta, T), **TOL[torch.float32])


def test_gd_on_two_parameters_matches_closed_form_per_block():
    """Two independent quadratic blocks passed as two tensors evolve like each block alone."""
    qa, qb, eta, T = quadratic(seed=1), quadratic(seed=2), 1.2, 25
    fa, fb = qa.loss_and_grad(), qb.loss_and_grad()

    def loss_and_grad(a, b):
        la, (ga,) = fa(a)
        lb, (gb,) = fb(b)
        return la + lb, (ga, gb)

    traj = gradient_descent(loss_and_grad, [qa.theta0, qb.theta0], step_size=eta, n_steps=T)
    assert isinstance(traj.params, tuple) and len(traj.params) == 2
    torch.testing.assert_close(traj.params[0], qa.iterate(eta, T), **TOL[torch.float64])
    torch.testing.assert_close(traj.params[1], qb.iterate(eta, T), **TOL[torch.float64])


def test_zero_steps_records_only_the_initial_point():
    q = quadratic()
    traj = gradient_descent(q.loss_and_grad(), q.theta0, step_size=0.5, n_steps=0)
    assert traj.steps.tolist() == [0]
    assert traj.n_steps == 0
    torch.testing.assert_close(traj["loss"], q.loss(q.theta0)[None], **TOL[torch.float64])
    assert torch.equal(traj.params, q.theta0)


# ---------------------------------------------------------------------------------------------
# Recording
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_steps, every", [(10, 3), (9, 3), (7, 1), (5, 10), (12, 4)])
def test_record_every_records_multiples_and_the_last_step(n_steps, every):
    q, eta = quadratic(), 1.0
    traj = gradient_descent(q.loss_and_grad(), q.theta0, step_size=eta, n_steps=n_steps,
                            record_every=every, metrics=coordinate_metrics(4))
    expected_steps = sorted(set(range(0, n_steps + 1, every)) | {n_steps})
    assert traj.steps.tolist() == expected_steps
    expected = torch.stack([q.iterate(eta, t) for t in expected_steps])
    torch.testing.assert_close(recorded_iterates(traj, 4), expected, **TOL[torch.float64])
    assert traj["loss"].shape == (len(expected_steps),)


def test_trajectory_final_is_last_record_and_unknown_metric_names_the_recorded_ones():
    q = quadratic()
    traj = gradient_descent(q.loss_and_grad(), q.theta0, step_size=1.0, n_steps=5,
                            metrics={"dist": lambda th: torch.linalg.vector_norm(th - q.theta_star)})
    assert torch.equal(traj.final("dist"), traj["dist"][-1])
    torch.testing.assert_close(traj.final("dist"), torch.linalg.vector_norm(q.iterate(1.0, 5) - q.theta_star),
                               **TOL[torch.float64])
    assert not traj.batched
    with pytest.raises(KeyError, match="recorded: loss, dist"):
        traj["test_error"]


# ---------------------------------------------------------------------------------------------
# Early stopping and the converged flag
# ---------------------------------------------------------------------------------------------


def _first_record_at_or_below(values, every: int, n_steps: int, tol: float) -> int:
    for t in sorted(set(range(0, n_steps + 1, every)) | {n_steps}):
        if values(t) <= tol:
            # Away from the boundary, so that rounding cannot move the stopping step.
            assert values(t) < tol * (1 - 1e-6)
            return t
        assert values(t) > tol * (1 + 1e-6)
    return -1


@pytest.mark.parametrize("every", [1, 5])
def test_tol_on_loss_stops_at_first_record_below_tol(every):
    q, eta, tol, budget = quadratic(), 1.0, 1e-8, 1000
    t_stop = _first_record_at_or_below(lambda t: q.loss_at(eta, t), every, budget, tol)
    assert 0 < t_stop < budget
    traj = gradient_descent(q.loss_and_grad(), q.theta0, step_size=eta, n_steps=budget,
                            record_every=every, tol=tol)
    assert bool(traj.converged)
    assert traj.n_steps == t_stop
    assert int(traj.steps[-1]) == t_stop
    assert float(traj.final("loss")) <= tol
    torch.testing.assert_close(traj.params, q.iterate(eta, t_stop), **TOL[torch.float64])


def test_tol_metric_stops_on_that_metric():
    q, eta, tol, budget = quadratic(), 1.0, 1e-3, 1000

    def dist_at(t):
        return float(torch.linalg.vector_norm(q.iterate(eta, t) - q.theta_star))

    t_stop = _first_record_at_or_below(dist_at, 1, budget, tol)
    t_loss = _first_record_at_or_below(lambda t: q.loss_at(eta, t), 1, budget, tol)
    assert t_stop != t_loss  # the test distinguishes the two stopping rules
    traj = gradient_descent(
        q.loss_and_grad(), q.theta0, step_size=eta, n_steps=budget, tol=tol, tol_metric="dist",
        metrics={"dist": lambda th: torch.linalg.vector_norm(th - q.theta_star)},
    )
    assert bool(traj.converged)
    assert traj.n_steps == t_stop
    assert float(traj.final("dist")) <= tol


def test_converged_is_false_without_tol_even_at_the_minimum():
    q = quadratic()
    traj = gradient_descent(q.loss_and_grad(), q.theta_star.clone(), step_size=0.5, n_steps=3)
    assert float(traj.final("loss")) == 0.0
    assert traj.converged.dtype == torch.bool and not bool(traj.converged)
    assert traj.n_steps == 3


def test_converged_is_false_when_tol_is_not_reached_within_budget():
    q, eta, budget, tol = quadratic(), 0.1, 20, 1e-12
    assert q.loss_at(eta, budget) > tol
    traj = gradient_descent(q.loss_and_grad(), q.theta0, step_size=eta, n_steps=budget, tol=tol)
    assert not bool(traj.converged)
    assert traj.n_steps == budget


# ---------------------------------------------------------------------------------------------
# Divergence
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("every", [1, 7])
def test_divergence_above_two_over_L_raises_at_first_diverging_step(every):
    q = quadratic()
    L = float(q.eigs.max())
    eta, blowup = 2.5 / L, 1e8
    t_div = first_divergence(q, eta, blowup)
    with pytest.raises(DivergenceError) as info:
        gradient_descent(q.loss_and_grad(), q.theta0, step_size=eta, n_steps=10 * t_div,
                         record_every=every, blowup=blowup)
    err = info.value
    assert err.step == t_div
    assert err.step_size == pytest.approx(eta)
    assert err.loss == pytest.approx(q.loss_at(eta, t_div), rel=1e-8)
    assert f"step {t_div} " in str(err)
    assert f"step size {eta:.4g}" in str(err)


def test_divergence_to_infinity_is_reported_as_non_finite():
    q = quadratic(eigs=(1.0, 0.5, 0.2, 0.1))
    eta, blowup = 1e100, 1e300
    t_div = first_divergence(q, eta, blowup)
    assert not math.isfinite(q.loss_at(eta, t_div))  # overflow, not the blow-up threshold
    with pytest.raises(DivergenceError, match="NaN or infinite") as info:
        gradient_descent(q.loss_and_grad(), q.theta0, step_size=eta, n_steps=50, blowup=blowup)
    assert info.value.step == t_div


def test_step_size_below_two_over_L_does_not_diverge():
    q = quadratic()
    eta = 1.95 / float(q.eigs.max())
    traj = gradient_descent(q.loss_and_grad(), q.theta0, step_size=eta, n_steps=300)
    assert not bool(traj.diverged) and int(traj.diverged_at) == -1
    torch.testing.assert_close(traj.params, q.iterate(eta, 300), **TOL[torch.float64])


def _batched_start(q: Quadratic, K: int) -> torch.Tensor:
    return q.theta0.expand(K, -1).clone()


def test_batched_stop_flags_only_the_diverging_run():
    q, blowup, T, every = quadratic(), 1e8, 80, 3
    etas = torch.tensor([1.0, 2.5, 1.9], dtype=torch.float64)
    t_div = first_divergence(q, 2.5, blowup)
    assert t_div < T
    traj = gradient_descent(q.loss_and_grad(), _batched_start(q, 3), step_size=etas, n_steps=T,
                            record_every=every, batched=True, on_divergence="stop",
                            blowup=blowup, metrics=coordinate_metrics(4, batched=True))
    assert traj.batched
    assert traj.diverged.tolist() == [False, True, False]
    assert traj.diverged_at.tolist() == [-1, t_div, -1]
    assert traj.converged.tolist() == [False, False, False]
    assert traj.n_steps == T

    steps = traj.steps
    for name, values in traj.metrics.items():
        assert values.shape == (len(steps), 3)
        nan = torch.isnan(values)
        assert not bool(nan[:, [0, 2]].any()), name
        assert torch.equal(nan[:, 1], steps >= t_div), name

    # The diverged run is frozen at its first diverging iterate.
    torch.testing.assert_close(traj.params[1], q.iterate(2.5, t_div), rtol=1e-8, atol=0.0)


def test_batched_runs_end_where_each_run_alone_ends():
    q, T = quadratic(), 80
    etas = [1.0, 2.5, 1.9]
    traj = gradient_descent(q.loss_and_grad(), _batched_start(q, 3),
                            step_size=torch.tensor(etas, dtype=torch.float64), n_steps=T,
                            batched=True, on_divergence="stop")
    for k in (0, 2):
        alone = gradient_descent(q.loss_and_grad(), q.theta0, step_size=etas[k], n_steps=T)
        assert torch.equal(traj.params[k], alone.params)
        torch.testing.assert_close(traj["loss"][:, k], alone["loss"], rtol=1e-12, atol=0.0)


def test_batched_stop_with_tol_converges_the_stable_runs_and_not_the_diverged_one():
    q, tol = quadratic(), 1e-8
    etas = torch.tensor([1.0, 2.5, 1.5], dtype=torch.float64)
    traj = gradient_descent(q.loss_and_grad(), _batched_start(q, 3), step_size=etas,
                            n_steps=2000, tol=tol, batched=True, on_divergence="stop")
    assert traj.converged.tolist() == [True, False, True]
    assert traj.diverged.tolist() == [False, True, False]
    # It stops at the first step where both stable runs are below tol.
    t_stop = max(_first_record_at_or_below(lambda t, e=e: q.loss_at(e, t), 1, 2000, tol)
                 for e in (1.0, 1.5))
    assert traj.n_steps == t_stop


def test_batched_raise_names_the_diverging_run_and_its_step_size():
    q, blowup = quadratic(), 1e8
    etas = torch.tensor([1.0, 2.5], dtype=torch.float64)
    with pytest.raises(DivergenceError, match="run 1 of the batch") as info:
        gradient_descent(q.loss_and_grad(), _batched_start(q, 2), step_size=etas, n_steps=200,
                         batched=True, blowup=blowup)
    assert info.value.step == first_divergence(q, 2.5, blowup)
    assert info.value.step_size == pytest.approx(2.5)


def test_single_run_stop_returns_the_frozen_diverged_run():
    q, blowup = quadratic(), 1e8
    t_div = first_divergence(q, 2.5, blowup)
    traj = gradient_descent(q.loss_and_grad(), q.theta0, step_size=2.5, n_steps=10 * t_div,
                            on_divergence="stop", blowup=blowup)
    assert bool(traj.diverged) and int(traj.diverged_at) == t_div
    assert bool(torch.isnan(traj.final("loss")))
    assert not bool(torch.isnan(traj["loss"][:-1]).any())
    torch.testing.assert_close(traj.params, q.iterate(2.5, t_div), rtol=1e-8, atol=0.0)


# ---------------------------------------------------------------------------------------------
# value_and_grad (torch.func) against hand-derived gradients
# ---------------------------------------------------------------------------------------------


def test_value_and_grad_equals_hand_derived_gradient_of_quadratic():
    q = quadratic()
    hand = q.loss_and_grad()
    auto = value_and_grad(q.loss)
    for theta in (q.theta0, torch.stack([q.theta0, q.theta_star + 1.0, -q.theta0])):
        value, (grad,) = auto(theta)
        value_h, (grad_h,) = hand(theta)
        torch.testing.assert_close(value, value_h, **TOL[torch.float64])
        torch.testing.assert_close(grad, grad_h, **TOL[torch.float64])


def test_value_and_grad_equals_hand_derived_gradient_for_two_factors():
    """L(u, v) = ½‖u vᵀ − M‖²:  ∇_u L = (u vᵀ − M) v,  ∇_v L = (u vᵀ − M)ᵀ u."""
    gen = rng.generator(3)
    u, v = rng.randn((5, 2), gen, dtype=torch.float64), rng.randn((4, 2), gen, dtype=torch.float64)
    M = rng.randn((5, 4), gen, dtype=torch.float64)

    def loss(u, v):
        return 0.5 * ((u @ v.T - M) ** 2).sum()

    value, (gu, gv) = value_and_grad(loss)(u, v)
    R = u @ v.T - M
    torch.testing.assert_close(value, 0.5 * (R * R).sum(), **TOL[torch.float64])
    torch.testing.assert_close(gu, R @ v, **TOL[torch.float64])
    torch.testing.assert_close(gv, R.T @ u, **TOL[torch.float64])


def test_gd_with_value_and_grad_follows_the_closed_form():
    q, eta, T = quadratic(), 1.0, 30
    traj = gradient_descent(value_and_grad(q.loss), q.theta0, step_size=eta, n_steps=T)
    torch.testing.assert_close(traj.params, q.iterate(eta, T), **TOL[torch.float64])


# ---------------------------------------------------------------------------------------------
# Inputs are left alone; dtype and device flow from the inputs
# ---------------------------------------------------------------------------------------------


def test_gd_does_not_modify_its_input_params():
    q = quadratic()
    theta0, extra = q.theta0.clone(), torch.ones(3, dtype=torch.float64)
    before = (theta0.clone(), extra.clone())
    fq = q.loss_and_grad()

    def loss_and_grad(a, b):
        la, (ga,) = fq(a)
        return la + 0.5 * (b * b).sum(), (ga, b)

    traj = gradient_descent(loss_and_grad, (theta0, extra), step_size=1.0, n_steps=10)
    assert torch.equal(theta0, before[0]) and torch.equal(extra, before[1])
    assert not torch.equal(traj.params[0], theta0)  # it did move


@pytest.mark.parametrize("device, dtype", DEVICE_DTYPES)
def test_params_and_metrics_keep_the_input_dtype_and_device(device, dtype):
    q = quadratic()
    theta0 = q.theta0.to(dtype=dtype, device=device)
    traj = gradient_descent(
        q.loss_and_grad(dtype=dtype, device=device), theta0, step_size=1.0, n_steps=20,
        metrics={"dist": lambda th: torch.linalg.vector_norm(th - q.theta_star.to(th)),
                 "as_float": lambda th: float(th.sum())},
    )
    assert traj.params.dtype == dtype and traj.params.device.type == device.type
    for name, values in traj.metrics.items():
        assert values.dtype == dtype, name
        assert values.device.type == device.type, name
    torch.testing.assert_close(traj.params.cpu().double(), q.iterate(1.0, 20), **TOL[dtype])


@pytest.mark.parametrize("device, dtype", DEVICE_DTYPES)
def test_batched_divergence_is_detected_on_every_device(device, dtype):
    q, blowup = quadratic(), 1e8
    etas = torch.tensor([1.0, 2.5], dtype=dtype, device=device)
    traj = gradient_descent(q.loss_and_grad(dtype=dtype, device=device),
                            _batched_start(q, 2).to(dtype=dtype, device=device), step_size=etas,
                            n_steps=100, batched=True, on_divergence="stop", blowup=blowup)
    assert traj.diverged.tolist() == [False, True]
    assert traj.diverged_at.tolist() == [-1, first_divergence(q, 2.5, blowup)]
