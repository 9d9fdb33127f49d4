"""Factorized GD for symmetric and asymmetric sensing: gradients, metrics, the power method,
symmetrization and the balancedness identity.

Oracles: autograd through the dense reference operator of beyondlazy.sensing, closed forms
(the power method by repeated multiplication, the one-step identity of the balancedness lemma),
and the definitions of the recorded metrics written out.
"""

from __future__ import annotations

import math

import pytest
import torch

from beyondlazy import rng, sin_angle, top_singular_subspace
from beyondlazy.factorized import (
    asymmetric_init,
    asymmetric_loss_and_grad,
    asymmetric_problem,
    gaussian_init,
    lift,
    power_matrix,
    power_method,
    spectral_estimator,
    sym,
    symmetric_loss_and_grad,
    symmetric_problem,
    train_asymmetric,
    train_symmetric,
)
from beyondlazy.sensing import measure

from testkit import TOL as _TOL

TOL = _TOL[torch.float64]


def gaussian(shape, seed):
    return rng.randn(shape, rng.generator(seed), dtype=torch.float64)


@pytest.fixture(scope="module")
def sym_problem():
    return symmetric_problem(8, 2, 40, seed=0, kappa=2.0, block_rows=7)


@pytest.fixture(scope="module")
def asym_problem():
    return asymmetric_problem(6, 5, 2, 25, seed=1, block_rows=6)


def test_symmetric_problem_has_unit_norm_target_with_condition_number_kappa(sym_problem):
    eigs = torch.linalg.eigvalsh(sym_problem.target).flip(0)
    assert float(eigs[0]) == pytest.approx(1.0, rel=1e-12)
    assert float(eigs[0] / eigs[1]) == pytest.approx(2.0, rel=1e-10)
    torch.testing.assert_close(sym_problem.y, sym_problem.op.measure(sym_problem.target), **TOL)


def test_asymmetric_target_has_unit_norm_and_condition_number_kappa():
    p = asymmetric_problem(7, 5, 3, 20, seed=2, kappa=4.0)
    s = torch.linalg.svdvals(p.target)
    assert float(s[0]) == pytest.approx(1.0, rel=1e-12)
    assert float(s[0] / s[2]) == pytest.approx(4.0, rel=1e-10)


def test_symmetric_gradient_equals_autograd_through_the_dense_operator(sym_problem):
    A, y = sym_problem.op.dense(), sym_problem.y
    U = gaussian((3, 8, 4), 3)
    loss, (grad,) = symmetric_loss_and_grad(sym_problem.op, y)(U)

    def reference(U):
        residual = measure(A, U @ U.transpose(-1, -2)) - y
        return 0.25 * (residual**2).sum()

    auto = torch.func.grad(reference)(U)
    torch.testing.assert_close(grad, auto, **TOL)
    torch.testing.assert_close(loss.sum(), reference(U), **TOL)


def test_asymmetric_gradients_equal_autograd(asym_problem):
    A, y = asym_problem.op.dense(), asym_problem.y
    U, V = gaussian((2, 6, 3), 4), gaussian((2, 5, 3), 5)
    loss, (gu, gv) = asymmetric_loss_and_grad(asym_problem.op, y)(U, V)

    def reference(U, V):
        residual = torch.einsum("kij,bij->bk", A, U @ V.transpose(-1, -2)) / math.sqrt(25) - y
        return 0.5 * (residual**2).sum()

    au, av = torch.func.grad(reference, argnums=(0, 1))(U, V)
    torch.testing.assert_close(gu, au, **TOL)
    torch.testing.assert_close(gv, av, **TOL)
    torch.testing.assert_close(loss.sum(), reference(U, V), **TOL)


def test_power_method_closed_form_equals_repeated_multiplication(sym_problem):
    Z = power_matrix(sym_problem)
    U0 = gaussian((8, 3), 6)
    step = torch.eye(8, dtype=torch.float64) + 0.25 * Z
    expected = U0.clone()
    for _ in range(7):
        expected = step @ expected
    torch.testing.assert_close(power_method(Z, U0, 0.25, 7), expected, **TOL)


def test_spectral_estimator_spans_the_top_eigenvectors_of_the_adjoint_of_y(sym_problem):
    basis = spectral_estimator(sym_problem)
    Z = sym_problem.op.adjoint(sym_problem.y)
    torch.testing.assert_close(basis.T @ basis, torch.eye(2, dtype=torch.float64), **TOL)
    lam = torch.linalg.eigvalsh(Z).flip(0)
    torch.testing.assert_close(torch.diag(basis.T @ Z @ basis), lam[:2], **TOL)


def test_recorded_metrics_match_their_definitions(sym_problem):
    U0 = gaussian_init([1e-3, 1e-2], 8, 5, seed=7)
    run = train_symmetric(sym_problem, U0, step_size=0.2, n_steps=12, record_every=12,
                          power_method=True)
    U = run.params
    X, target = sym_problem.X, sym_problem.target
    Q = torch.linalg.qr(X)[0]
    gram = U @ U.transpose(-1, -2)
    torch.testing.assert_close(run.final("test_error"),
                               torch.linalg.matrix_norm(gram - target) / target.norm(), **TOL)
    # recorded from the step's own loss, without a second pass: the same as measuring again
    residual = sym_problem.op.measure(gram) - sym_problem.y
    torch.testing.assert_close(run.final("train_error"),
                               residual.norm(dim=-1) / sym_problem.y.norm(), **TOL)
    torch.testing.assert_close(run.final("noise"),
                               torch.linalg.matrix_norm(U - Q @ Q.T @ U, ord=2), **TOL)
    torch.testing.assert_close(run.final("signal"), torch.linalg.svdvals(Q.T @ U)[:, 1], **TOL)
    torch.testing.assert_close(run.final("sin_x"),
                               sin_angle(top_singular_subspace(U, 2), Q), **TOL)
    tilde = power_method(power_matrix(sym_problem), U0, 0.2, 12)
    torch.testing.assert_close(run.final("power_gap"),
                               torch.linalg.matrix_norm(U - tilde) / tilde.norm(dim=(-1, -2)),
                               **TOL)
    assert run["power_gap"][0].abs().max() < 1e-14  # Ũ_0 = U_0


def test_early_gd_from_tiny_init_follows_the_power_method():
    problem = symmetric_problem(20, 2, 400, seed=3)
    U0 = gaussian_init([1e-8], 20, 6, seed=4)
    run = train_symmetric(problem, U0, n_steps=20, record_every=1, power_method=True)
    assert float(run["power_gap"].max()) < 1e-6


def test_symmetrization_turns_the_asymmetric_measurement_into_a_difference(asym_problem):
    A = asym_problem.op.dense()
    U, V = gaussian((6, 3), 8), gaussian((5, 3), 9)
    B = sym(A)
    assert torch.equal(B, B.transpose(1, 2)) and B.shape == (25, 11, 11)
    W, W_tilde = lift(U, V)
    lhs = torch.einsum("kij,ij->k", B, W @ W.T - W_tilde @ W_tilde.T)
    rhs = 4 * torch.einsum("kij,ij->k", A, U @ V.T)
    torch.testing.assert_close(lhs, rhs, **TOL)


def test_one_gd_step_changes_the_imbalance_by_the_lemma_identity(asym_problem):
    # B⁺ − B = μ²(∇_U Lᵀ∇_U L − ∇_V Lᵀ∇_V L) with B = UᵀU − VᵀV, exactly (float64).
    U, V, mu = gaussian((6, 4), 10), gaussian((5, 4), 11), 0.1
    _, (gu, gv) = asymmetric_loss_and_grad(asym_problem.op, asym_problem.y)(U, V)
    U1, V1 = U - mu * gu, V - mu * gv
    before, after = U.T @ U - V.T @ V, U1.T @ U1 - V1.T @ V1
    torch.testing.assert_close(after - before, mu**2 * (gu.T @ gu - gv.T @ gv), **TOL)
    torch.testing.assert_close(U.T @ gu, gv.T @ V, **TOL)  # the key identity Uᵀ∇_U L = ∇_V Lᵀ V


def test_imbalance_never_exceeds_the_lemma_bound(asym_problem):
    U0, V0 = asymmetric_init([1e-1, 1e-3], 6, 5, 4, seed=12)
    run = train_asymmetric(asym_problem, U0, V0, step_size=0.25, n_steps=60)
    assert bool((run["imbalance"] <= run["imbalance_bound"] * (1 + 1e-12)).all())
    torch.testing.assert_close(run["imbalance_bound"][0], run["imbalance"][0], **TOL)


def test_asymmetric_init_stacks_one_gaussian_draw():
    U0, V0 = asymmetric_init([2.0], 4, 3, 2, seed=5)
    W0 = gaussian_init([2.0], 7, 2, seed=5)
    torch.testing.assert_close(torch.cat([U0, V0], dim=1), W0, rtol=0, atol=0)


def test_bad_arguments_raise_value_errors_naming_the_parameter(sym_problem, asym_problem):
    with pytest.raises(ValueError, match="U0"):
        train_symmetric(sym_problem, gaussian((7, 3), 0), n_steps=1)
    with pytest.raises(ValueError, match="width r"):
        train_symmetric(sym_problem, gaussian((8, 1), 0), n_steps=1)
    with pytest.raises(ValueError, match="diagnostics"):
        train_symmetric(sym_problem, gaussian((8, 2), 0), n_steps=1, diagnostics=("nope",))
    with pytest.raises(ValueError, match="kappa"):
        symmetric_problem(5, 2, 10, seed=0, kappa=0.5)
    with pytest.raises(ValueError, match="U0 and V0"):
        train_asymmetric(asym_problem, gaussian((6, 3), 0), gaussian((5, 2), 1), n_steps=1)


def test_both_cpu_engines_train_the_same_runs_and_restore_torch_threads():
    sym = {b: symmetric_problem(10, 2, 60, seed=5, block_rows=7, backend=b)
           for b in ("torch", "numpy")}
    asym = {b: asymmetric_problem(6, 5, 2, 40, seed=6, block_rows=7, backend=b)
            for b in ("torch", "numpy")}
    U0 = gaussian_init([1e-3, 1e-1], 10, 4, seed=8)
    U1, V1 = asymmetric_init([1e-2], 6, 5, 3, seed=9)
    threads = torch.get_num_threads()
    runs = {b: train_symmetric(sym[b], U0, step_size=0.2, n_steps=30, record_every=10)
            for b in sym}
    asym_runs = {b: train_asymmetric(asym[b], U1, V1, step_size=0.2, n_steps=30,
                                     record_every=10) for b in asym}
    assert torch.get_num_threads() == threads
    for a, b in (runs.values(), asym_runs.values()):
        for name in ("train_error", "test_error"):
            torch.testing.assert_close(a[name], b[name], **TOL)
    assert float(runs["numpy"].final("test_error").max()) < 0.99  # the runs moved


def test_asymmetric_records_match_their_definitions(asym_problem):
    U0, V0 = asymmetric_init([1e-2, 0.3], 6, 5, 3, seed=10)
    run = train_asymmetric(asym_problem, U0, V0, step_size=0.2, n_steps=15, record_every=5)
    U, V = run.params
    op, y = asym_problem.op, asym_problem.y
    residual = op.measure(U @ V.transpose(-1, -2)) - y
    torch.testing.assert_close(run.final("train_error"), residual.norm(dim=-1) / y.norm(), **TOL)
    loss0, loss = (0.5 * (op.measure(A @ B.transpose(-1, -2)) - y).square().sum(-1)
                   for A, B in ((U0, V0), (U, V)))
    b0 = torch.linalg.matrix_norm(U0.transpose(-1, -2) @ U0 - V0.transpose(-1, -2) @ V0)
    torch.testing.assert_close(run.final("imbalance_bound"), b0 + 2 * 0.2 * (loss0 - loss), **TOL)


def test_asymmetric_gd_is_symmetric_gd_on_the_lift_with_half_the_step(asym_problem):
    # L(U, V) = ⅛‖B(WWᵀ) − B(W⋆W⋆ᵀ)‖² = ½ L_B(W) for every U, V, and ∇_W L = ½ ∇L_B(W):
    # one step μ on (U, V) is one step μ/2 of symmetric sensing with the lifted operator B.
    A = asym_problem.op.dense()
    m = A.shape[0]
    B = sym(A)
    U, V = gaussian((6, 3), 20), gaussian((5, 3), 21)
    W, _ = lift(U, V)
    W_star, _ = lift(asym_problem.X, asym_problem.Y)
    residual_b = (torch.einsum("kij,ij->k", B, W @ W.T - W_star @ W_star.T)) / math.sqrt(m)
    loss, (g_u, g_v) = asymmetric_loss_and_grad(asym_problem.op, asym_problem.y)(U, V)
    torch.testing.assert_close(loss, (residual_b**2).sum() / 8, **TOL)
    grad_b = torch.einsum("k,kij->ij", residual_b, B) / math.sqrt(m) @ W  # ∇ of ¼‖·‖²
    torch.testing.assert_close(torch.cat([g_u, g_v]), grad_b / 2, **TOL)
    # the lifted operator is blind to the diagonal blocks
    blocks = torch.block_diag(gaussian((6, 6), 22), gaussian((5, 5), 23))
    assert float(torch.einsum("kij,ij->k", B, blocks).abs().max()) == 0.0


class _Records(dict):
    """A stand-in for a Trajectory: metric name -> (records, K) tensor."""


def test_phase_boundaries_count_only_consecutive_iterations_in_the_band():
    from beyondlazy.claims.chapter3 import longest_run, phase_boundaries

    assert longest_run(torch.tensor([0, 1, 1, 0, 1, 1, 1, 0], dtype=torch.bool)) == (3, 4)
    assert longest_run(torch.zeros(5, dtype=torch.bool)) == (0, -1)
    T = 100
    norm = torch.where(torch.arange(T) < 20, 0.01, 1.0).double()
    test = torch.ones(T, dtype=torch.float64)
    test[20:60] = torch.where(torch.arange(40) % 2 == 0, 0.45, 0.8)  # in, out, in, out …
    test[60:] = 0.1 * 0.5 ** torch.arange(40, dtype=torch.float64)   # final descent
    run = _Records(test_error=test[:, None], norm=norm[:, None])
    phases = phase_boundaries(run)
    assert phases["spectral_end"] == 20 and phases["descent_start"] == 60
    assert phases["plateau_length"] == 1  # 20 iterations in the band, never two in a row
    test[30:45] = 0.45
    phases = phase_boundaries(_Records(test_error=test[:, None], norm=norm[:, None]))
    assert (phases["plateau_length"], phases["plateau_start"]) == (15, 30)  # t = 30 … 44


def test_training_plateau_share_and_fitted_exponent_against_closed_forms():
    from beyondlazy.claims.chapter3 import fitted_exponent, training_plateau

    steps = torch.arange(5, dtype=torch.float64)[:, None]
    geometric = 0.1 ** steps          # records every 100 steps: each interval makes 1/4
    flat = torch.cat([torch.ones(1, 1), torch.full((4, 1), 1e-3)]).double()
    share = training_plateau(_Records(train_error=torch.cat([geometric, flat], 1)))
    torch.testing.assert_close(share, torch.tensor([0.25, 0.0], dtype=torch.float64))
    alphas = (1e-2, 1e-4, 1e-6, 1e-8)
    gamma, se = fitted_exponent(alphas, [3 * a**1.25 for a in alphas])
    assert math.isclose(gamma, 1.25, rel_tol=1e-12) and se < 1e-12
    noisy = [3 * a**1.25 * f for a, f in zip(alphas, (1.1, 0.9, 1.1, 0.9))]
    assert fitted_exponent(alphas, noisy)[1] > 0


def test_balance_margin_skips_t0_and_turns_negative_on_a_violation():
    from beyondlazy.claims.chapter3 import balance_margins

    bound = torch.tensor([[1.0, 2.0], [1.5, 2.5], [2.0, 3.0]], dtype=torch.float64)
    imbalance = torch.tensor([[1.0, 2.0], [1.2, 2.6], [1.0, 1.5]], dtype=torch.float64)
    margins = balance_margins(_Records(imbalance=imbalance, imbalance_bound=bound))
    torch.testing.assert_close(margins, torch.tensor([0.2, -0.1 / 2.5], dtype=torch.float64))
