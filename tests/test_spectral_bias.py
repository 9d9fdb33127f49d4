"""The conclusion's side-by-side runs: the deep linear gradient, the order of learning, and the
contrast between small and large initializations.

Oracles: autograd for the hand-written gradient of the factors, the closed form of GD on the
linear model (depth 1), the definitions of the recorded metrics written out, and the statements
the conclusion prints (small init aligns, large init keeps its random directions).
"""

from __future__ import annotations

import math

import pytest
import torch

from beyondlazy import spectral_bias as sb
from beyondlazy.gd import value_and_grad

from testkit import TOL as _TOL

TOL = _TOL[torch.float64]


def test_deep_linear_gradient_matches_autograd():
    Y = sb.mode_target(5, (2.0, 1.0), seed=0)
    factors = sb.deep_linear_init(5, 3, 0.5, seed=1)

    def loss(*F):
        W = F[2] @ F[1] @ F[0]
        return 0.5 * ((W - Y) ** 2).sum()

    value, grads = sb.deep_linear_loss_and_grad(Y)(*factors)
    value_ref, grads_ref = value_and_grad(loss)(*factors)
    torch.testing.assert_close(value, value_ref, **TOL)
    for g, g_ref in zip(grads, grads_ref):
        torch.testing.assert_close(g, g_ref, **TOL)


def test_depth_one_from_zero_follows_the_closed_form_of_gd_on_a_linear_model():
    # W_{t+1} = W_t - η(W_t - Y) from 0 gives W_t = (1 - (1 - η)^t) Y: every mode at one rate.
    Y = sb.mode_target(6, (3.0, 2.0, 1.0), seed=2)
    eta, T = 0.05, 40
    run = sb.deep_linear_run(Y, 1, step_size=eta, n_steps=T, record_every=T)
    factor = 1 - (1 - eta) ** T
    for k, s in enumerate((3.0, 2.0, 1.0)):
        assert float(run[f"sv{k + 1}"][-1]) == pytest.approx(factor * s, rel=1e-10)
    assert float(run.final("error")) == pytest.approx(1 - factor, rel=1e-10)


def test_mode_target_has_the_requested_singular_values():
    Y = sb.mode_target(7, (3.0, 2.0, 0.5), seed=3)
    svals = torch.linalg.svdvals(Y)
    torch.testing.assert_close(svals[:3], torch.tensor([3.0, 2.0, 0.5], dtype=torch.float64),
                               **TOL)
    assert float(svals[3:].abs().max()) < 1e-12


def test_depth_three_learns_the_modes_one_at_a_time_in_the_order_of_their_strengths():
    Y = sb.mode_target(8, (3.0, 2.0, 1.0), seed=0)
    run = sb.deep_linear_run(Y, 3, init_scale=1e-3, step_size=0.02, n_steps=1200, seed=10)
    halves = [int((run[f"sv{k + 1}"] >= s / 2).nonzero()[0]) for k, s in enumerate((3.0, 2.0, 1.0))]
    assert halves[0] < halves[1] < halves[2]
    # when mode 1 is half learned, mode 3 is still at the scale of the initialization
    assert float(run["sv3"][halves[0]]) < 0.05
    assert float(run.final("error")) < 0.05


def test_deep_linear_init_has_end_to_end_scale_alpha_and_validates_its_input():
    n, alpha = 40, 1e-3
    factors = sb.deep_linear_init(n, 3, alpha, seed=0)
    W = factors[2] @ factors[1] @ factors[0]
    # E‖W‖_F² = n·α² for independent N(0, α^{2/3}/n) factors
    assert 0.5 < float(torch.linalg.matrix_norm(W)) / (alpha * math.sqrt(n)) < 2.0
    with pytest.raises(ValueError, match="depth"):
        sb.deep_linear_init(n, 0, alpha, seed=0)
    with pytest.raises(ValueError, match="init_scale"):
        sb.deep_linear_init(n, 2, -1.0, seed=0)
    with pytest.raises(ValueError, match="strengths"):
        sb.mode_target(3, (1.0, 2.0, 3.0, 4.0), seed=0)


def test_small_init_sensing_aligns_with_col_x_and_large_init_keeps_random_directions():
    # the conclusion's sizes (n = 40, r* = 2, κ = 4, m = 400, r = n), 300 steps
    run = sb.sensing_runs(0, alphas=(1e-6, 0.1), n_steps=300, record_every=100)
    sin_small, sin_large = run.final("sin_x").tolist()
    assert sin_small < 0.02 and sin_large > 0.8
    test_small, test_large = run.final("test_error").tolist()
    assert test_small < 1e-2 < 0.5 < test_large


def test_sensing_records_the_singular_values_of_the_factor():
    run = sb.sensing_runs(1, n=12, rank=2, m=60, alphas=(1e-3,), n_steps=20, record_every=20)
    U = run.params[0]  # the first (only) run of the batch, (n, r)
    assert U.shape == (12, 12)
    torch.testing.assert_close(run["sv1"][-1, 0], torch.linalg.svdvals(U)[0], **TOL)


def test_network_small_init_learns_the_subspace_while_the_lazy_one_barely_moves():
    small, large = sb.network_runs(0, d=12, width=64, n=2000, n_test=2000, n_steps=300)
    assert float(small.final("sin_angle")) < 0.2
    assert float(large.final("sin_angle")) > 0.8
    assert float(large.final("change")) < 0.2 < float(small.final("change"))
    with pytest.raises(ValueError, match="same length"):
        sb.network_runs(0, scales=(1e-3, 1.0), step_sizes=(0.5,))


def test_figures_draw_every_setting(tmp_path):
    sensing = [sb.sensing_runs(s, n=12, rank=2, m=60, n_steps=20, record_every=10)
               for s in range(2)]
    network = [sb.network_runs(s, d=8, width=16, n=200, n_test=200, n_steps=20)
               for s in range(2)]
    Y = sb.mode_target(4, (3.0, 2.0, 1.0), seed=0)
    deep = {N: [sb.deep_linear_run(Y, N, n_steps=20, seed=s) for s in range(2)] for N in (1, 3)}
    fig = sb.alignment_figure(sensing, network, alphas=(1e-6, 0.1), scales=(1e-3, 1.0))
    assert len(fig.axes) == 2
    fig.savefig(tmp_path / "a.png")
    fig = sb.rank_by_rank_figure(sensing, network, deep, strengths=(3.0, 2.0, 1.0),
                                 deep_step_size=0.02)
    assert len(fig.axes) == 3
    fig.savefig(tmp_path / "b.png")


def test_deep_linear_run_follows_the_device_and_dtype_of_the_target():
    Y = sb.mode_target(4, (1.0,), seed=0).to(torch.float32)
    run = sb.deep_linear_run(Y, 2, n_steps=3, record_every=3)
    assert all(p.dtype == torch.float32 for p in run.params)
    assert run["sv1"].dtype == torch.float32
