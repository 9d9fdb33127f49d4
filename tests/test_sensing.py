"""Symmetric matrix sensing: the operator, its adjoint, the gradient, the instance and GD on it.

    A(Z) = (1/√m)(⟨A_i, Z⟩)_i,   A*(r) = (1/√m) Σ_i r_i A_i,
    L(U) = ¼‖A(UUᵀ) − y‖²,       ∇L(U) = A*(A(UUᵀ) − y) U.

The oracles are explicit Python loops over the A_i and autograd through them.
"""

from __future__ import annotations

import math

import pytest
import torch

from beyondlazy import rng
from beyondlazy.sensing import (
    adjoint,
    gaussian_init,
    measure,
    sensing_problem,
    symmetric_loss_and_grad,
    train_symmetric,
)

from testkit import DEVICES, TOL


def gaussian(shape, seed):
    return rng.randn(shape, rng.generator(seed), dtype=torch.float64)


def symmetric(shape, seed):
    G = gaussian(shape, seed)
    return (G + G.transpose(-1, -2)) / 2


def measure_loop(A: torch.Tensor, Z: torch.Tensor) -> torch.Tensor:
    m = A.shape[0]
    return torch.stack([(A[i] * Z).sum() for i in range(m)]) / math.sqrt(m)


def adjoint_loop(A: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    m = A.shape[0]
    total = torch.zeros_like(A[0])
    for i in range(m):
        total = total + r[i] * A[i]
    return total / math.sqrt(m)


def loss_loop(A: torch.Tensor, y: torch.Tensor, U: torch.Tensor) -> torch.Tensor:
    residual = measure_loop(A, U @ U.T) - y
    return 0.25 * (residual * residual).sum()


@pytest.fixture(scope="module")
def problem():
    return sensing_problem(6, 2, 25, seed=0, kappa=3.0)


# ---------------------------------------------------------------------------------------------
# The operator
# ---------------------------------------------------------------------------------------------


def test_measure_matches_a_loop_over_the_sensing_matrices(problem):
    Z = gaussian((6, 6), 1)
    torch.testing.assert_close(measure(problem.A, Z), measure_loop(problem.A, Z), **TOL[torch.float64])
    Zs = gaussian((3, 6, 6), 2)
    batched = measure(problem.A, Zs)
    assert batched.shape == (3, 25)
    for k in range(3):
        torch.testing.assert_close(batched[k], measure_loop(problem.A, Zs[k]), **TOL[torch.float64])


def test_adjoint_matches_a_loop_over_the_sensing_matrices(problem):
    r = gaussian((25,), 3)
    torch.testing.assert_close(adjoint(problem.A, r), adjoint_loop(problem.A, r), **TOL[torch.float64])
    rs = gaussian((4, 25), 4)
    batched = adjoint(problem.A, rs)
    assert batched.shape == (4, 6, 6)
    for k in range(4):
        torch.testing.assert_close(batched[k], adjoint_loop(problem.A, rs[k]), **TOL[torch.float64])


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_measure_and_adjoint_are_adjoint(problem, seed):
    Z, r = symmetric((6, 6), seed), gaussian((25,), seed + 100)
    lhs = (measure(problem.A, Z) * r).sum()
    rhs = (Z * adjoint(problem.A, r)).sum()
    torch.testing.assert_close(lhs, rhs, **TOL[torch.float64])


def test_sensing_matrices_are_symmetric(problem):
    assert torch.equal(problem.A, problem.A.transpose(1, 2))


# ---------------------------------------------------------------------------------------------
# The instance
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n, rank, kappa", [(6, 2, 3.0), (8, 3, 10.0), (5, 5, 1.0), (7, 4, 100.0)])
def test_sensing_problem_has_unit_norm_factor_with_condition_number_kappa(n, rank, kappa):
    p = sensing_problem(n, rank, 20, seed=1, kappa=kappa)
    assert p.X.shape == (n, rank)
    singular = torch.linalg.svdvals(p.X)
    assert float(singular.max()) == pytest.approx(1.0, rel=1e-12)
    torch.testing.assert_close(singular, torch.linspace(1.0, kappa**-0.5, rank, dtype=torch.float64),
                               **TOL[torch.float64])
    eigs = torch.linalg.eigvalsh(p.target).flip(0)[:rank]  # the r* nonzero eigenvalues of XXᵀ
    assert float(eigs[0] / eigs[-1]) == pytest.approx(kappa, rel=1e-10)
    assert int(torch.linalg.matrix_rank(p.target)) == rank


def test_measurements_are_the_sensing_of_the_target(problem):
    torch.testing.assert_close(problem.target, problem.X @ problem.X.T, rtol=0, atol=0)
    torch.testing.assert_close(problem.y, measure_loop(problem.A, problem.X @ problem.X.T),
                               **TOL[torch.float64])


def test_sensing_problem_is_reproducible_from_its_seed():
    first, second, other = (sensing_problem(5, 2, 12, seed=s) for s in (3, 3, 4))
    assert torch.equal(first.A, second.A) and torch.equal(first.X, second.X)
    assert torch.equal(first.y, second.y)
    assert not torch.equal(first.A, other.A)


def test_float32_problem_is_the_float64_problem_rounded():
    as64 = sensing_problem(5, 2, 12, seed=3)
    as32 = sensing_problem(5, 2, 12, seed=3, dtype=torch.float32)
    assert as32.A.dtype == as32.X.dtype == as32.y.dtype == torch.float32
    torch.testing.assert_close(as32.A, as64.A.float(), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(as32.y.double(), as64.y, **TOL[torch.float32])


# ---------------------------------------------------------------------------------------------
# The gradient
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [2, 4])
def test_hand_derived_gradient_equals_autograd(problem, width):
    U = gaussian((6, width), 8)
    loss, (grad,) = symmetric_loss_and_grad(problem.A, problem.y)(U)
    auto_loss, auto_grad = torch.func.grad_and_value(lambda u: loss_loop(problem.A, problem.y, u))(U)[::-1]
    torch.testing.assert_close(loss, auto_loss, **TOL[torch.float64])
    torch.testing.assert_close(grad, auto_grad, **TOL[torch.float64])


def test_hand_derived_gradient_equals_autograd_for_a_batch(problem):
    Us = gaussian((3, 6, 3), 9)
    loss, (grad,) = symmetric_loss_and_grad(problem.A, problem.y)(Us)
    assert loss.shape == (3,) and grad.shape == Us.shape
    auto = torch.func.grad(lambda us: sum(loss_loop(problem.A, problem.y, u) for u in us))(Us)
    torch.testing.assert_close(grad, auto, **TOL[torch.float64])
    for k in range(3):
        torch.testing.assert_close(loss[k], loss_loop(problem.A, problem.y, Us[k]), **TOL[torch.float64])


def test_gradient_vanishes_at_the_ground_truth(problem):
    loss, (grad,) = symmetric_loss_and_grad(problem.A, problem.y)(problem.X)
    assert float(loss) == pytest.approx(0.0, abs=1e-28)
    torch.testing.assert_close(grad, torch.zeros_like(grad), rtol=0, atol=1e-14)


# ---------------------------------------------------------------------------------------------
# Gradient descent on the instance
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_instance():
    return sensing_problem(8, 2, 48, seed=0, kappa=2.0)


def test_gd_from_a_tiny_init_drives_the_training_error_down(small_instance):
    U0 = 1e-3 * gaussian((8, 4), 1)  # overparameterized: r = 4 > r* = 2
    traj = train_symmetric(small_instance, U0, step_size=0.5, n_steps=400, tol=1e-3)
    start = float(traj["train_error"][0])
    assert start == pytest.approx(1.0, abs=1e-4)  # U0 U0ᵀ ≈ 0, so the residual is −y
    assert bool(traj.converged) and not bool(traj.diverged)
    assert float(traj.final("train_error")) <= 1e-3


def test_recorded_errors_match_their_definitions(small_instance):
    p = small_instance
    U0 = 1e-3 * gaussian((8, 3), 2)
    traj = train_symmetric(p, U0, n_steps=50, record_every=10)
    U = traj.params
    train = torch.linalg.norm(measure_loop(p.A, U @ U.T) - p.y) / torch.linalg.norm(p.y)
    test = torch.linalg.norm(U @ U.T - p.target) / torch.linalg.norm(p.target)
    torch.testing.assert_close(traj.final("train_error"), train, **TOL[torch.float64])
    torch.testing.assert_close(traj.final("test_error"), test, **TOL[torch.float64])
    torch.testing.assert_close(traj.final("loss"), loss_loop(p.A, p.y, U), **TOL[torch.float64])
    assert traj.steps.tolist() == [0, 10, 20, 30, 40, 50]


def test_batched_training_equals_training_each_init_alone(small_instance):
    inits = 1e-3 * gaussian((3, 8, 3), 3)
    inits[1] *= 10.0
    together = train_symmetric(small_instance, inits, n_steps=20, record_every=10)
    assert together.batched and together["test_error"].shape == (3, 3)
    for k in range(3):
        alone = train_symmetric(small_instance, inits[k], n_steps=20, record_every=10)
        torch.testing.assert_close(together.params[k], alone.params, **TOL[torch.float64])
        torch.testing.assert_close(together["test_error"][:, k], alone["test_error"], **TOL[torch.float64])


@pytest.mark.parametrize("device", DEVICES)
def test_training_runs_on_the_device_and_dtype_of_U0(device):
    dtypes = [torch.float32] if device.type == "mps" else [torch.float32, torch.float64]
    reference = None
    for dtype in dtypes:
        p = sensing_problem(6, 1, 24, seed=5, dtype=dtype, device=device)
        U0 = 1e-2 * rng.randn((6, 2), rng.generator(6), dtype=dtype, device=device)
        traj = train_symmetric(p, U0, n_steps=100, record_every=25)
        assert traj.params.dtype == dtype and traj.params.device.type == device.type
        for values in traj.metrics.values():
            assert values.dtype == dtype and values.device.type == device.type
        if reference is None:
            cpu64 = sensing_problem(6, 1, 24, seed=5)
            reference = train_symmetric(cpu64, 1e-2 * rng.randn((6, 2), rng.generator(6), dtype=torch.float64),
                                        n_steps=100, record_every=25)
        torch.testing.assert_close(traj.params.cpu().double(), reference.params, **TOL[dtype])


# ---------------------------------------------------------------------------------------------
# The initialization U_0 = α G
# ---------------------------------------------------------------------------------------------


def test_gaussian_init_scales_one_gaussian_draw_per_run():
    alphas = [1e-3, 0.5, 2.0]
    U0 = gaussian_init(alphas, 5, 4, seed=3)
    unit = gaussian_init([1.0, 1.0, 1.0], 5, 4, seed=3)
    assert U0.shape == (3, 5, 4) and U0.dtype == torch.float64
    for k, alpha in enumerate(alphas):
        torch.testing.assert_close(U0[k], alpha * unit[k], rtol=1e-15, atol=0.0)
    assert not torch.equal(unit[0], unit[1])  # independent draws, not one draw repeated
    gen = rng.generator(3)  # the k-th run gets the k-th (n, r) draw of the seed's stream
    sequential = torch.stack([rng.randn((5, 4), gen, dtype=torch.float64) for _ in range(3)])
    assert torch.equal(unit, sequential)


def test_gaussian_init_is_prefix_stable_so_adding_runs_keeps_earlier_ones():
    few = gaussian_init([1.0, 2.0], 6, 3, seed=11)
    many = gaussian_init([1.0, 2.0, 3.0, 4.0], 6, 3, seed=11)
    assert torch.equal(few, many[:2])


def test_gaussian_init_float32_is_the_float64_init_rounded():
    as64 = gaussian_init([1e-9, 0.1], 4, 3, seed=0)
    as32 = gaussian_init([1e-9, 0.1], 4, 3, seed=0, dtype=torch.float32)
    assert torch.equal(as32, as64.to(torch.float32))


@pytest.mark.parametrize("alphas, shown", [([0.1, 0.0], "0.0"), ([-1.0], "-1.0"), ([math.nan], "nan")])
def test_gaussian_init_rejects_scales_that_are_not_positive(alphas, shown):
    with pytest.raises(ValueError) as err:
        gaussian_init(alphas, 4, 3, seed=0)
    assert "alphas" in str(err.value) and shown in str(err.value) and "> 0" in str(err.value)
