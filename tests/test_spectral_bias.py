"""The conclusion's side-by-side runs: the deep linear gradient, the order of learning, and the
contrast between small and large initializations.

Oracles: the closed form of GD on the linear model (depth 1), Chapter 5's init and product for
the deep linear run's start and records (its gradient and solver are tested in
test_deep_linear.py), the definitions of the recorded metrics written out, and the statements
the conclusion prints (small init aligns, large init keeps its random directions, depth 3 learns
the modes in the order of their strengths).
"""

from __future__ import annotations

import math

import pytest
import torch

from beyondlazy import rng
from beyondlazy import spectral_bias as sb
from beyondlazy.deep_linear import end_to_end, gaussian_factors, orthogonal_target

from testkit import TOL as _TOL

TOL = _TOL[torch.float64]


def _target(n, strengths, seed, dtype=torch.float64):
    return orthogonal_target(n, strengths, rng.generator(seed), dtype=dtype)[0]


def test_depth_one_from_zero_follows_the_closed_form_of_gd_on_a_linear_model():
    # W_{t+1} = W_t - η(W_t - Y) from 0 gives W_t = (1 - (1 - η)^t) Y: every mode at one rate.
    Y = _target(6, (3.0, 2.0, 1.0), seed=2)
    eta, T = 0.05, 40
    run = sb.deep_linear_run(Y, 1, step_size=eta, n_steps=T, record_every=T)
    factor = 1 - (1 - eta) ** T
    torch.testing.assert_close(run.params[0], factor * Y, **TOL)
    for k, s in enumerate((3.0, 2.0, 1.0)):
        assert float(run[f"sv{k + 1}"][-1]) == pytest.approx(factor * s, rel=1e-10)
    assert float(run.final("error")) == pytest.approx(1 - factor, rel=1e-10)


def test_depth_three_learns_the_modes_one_at_a_time_in_the_order_of_their_strengths():
    Y = _target(8, (3.0, 2.0, 1.0), seed=0)
    run = sb.deep_linear_run(Y, 3, init_scale=1e-3, step_size=0.02, n_steps=1200, seed=10)
    halves = [int((run[f"sv{k + 1}"] >= s / 2).nonzero()[0]) for k, s in enumerate((3.0, 2.0, 1.0))]
    assert halves[0] < halves[1] < halves[2]
    # when mode 1 is half learned, mode 3 is still at the scale of the initialization
    assert float(run["sv3"][halves[0]]) < 0.05
    assert float(run.final("error")) < 0.05


def test_deep_linear_run_starts_from_chapter_5s_gaussian_factors_and_records_their_product():
    # the init is gaussian_factors(α, n, N, seed), so E‖W_0‖_F² = nα²; the records are the
    # definitions ‖W − Y‖/‖Y‖ and σ_k(W) of the end-to-end W = W_N⋯W_1
    n, depth, alpha, seed = 40, 3, 1e-3, 4
    Y = _target(n, (2.0, 1.0), seed=0)
    factors0 = tuple(F[0] for F in gaussian_factors((alpha,), n, depth, seed=seed))
    W0 = end_to_end(factors0)
    assert 0.5 < float(torch.linalg.matrix_norm(W0)) / (alpha * math.sqrt(n)) < 2.0
    run = sb.deep_linear_run(Y, depth, init_scale=alpha, n_steps=4, record_every=4, seed=seed)
    Y_norm = torch.linalg.matrix_norm(Y)
    assert float(run["error"][0]) == pytest.approx(
        float(torch.linalg.matrix_norm(W0 - Y) / Y_norm), rel=1e-12)
    torch.testing.assert_close(run["sv1"][0], torch.linalg.svdvals(W0)[0], **TOL)
    W_T = end_to_end(run.params)
    assert float(run.final("error")) == pytest.approx(
        float(torch.linalg.matrix_norm(W_T - Y) / Y_norm), rel=1e-12)
    torch.testing.assert_close(torch.stack([run[f"sv{k}"][-1] for k in (1, 2, 3)]),
                               torch.linalg.svdvals(W_T)[:3], **TOL)


@pytest.mark.parametrize(("depth", "init_scale", "name"),
                         [(0, 1e-3, "depth"), (2, -1.0, "init_scale"), (2, 0.0, "init_scale")])
def test_deep_linear_run_rejects_bad_input_naming_the_parameter(depth, init_scale, name):
    Y = _target(3, (1.0,), seed=0)
    with pytest.raises(ValueError, match=name):
        sb.deep_linear_run(Y, depth, init_scale=init_scale, n_steps=1)


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
    Y = _target(4, (3.0, 2.0, 1.0), seed=0)
    deep = {N: [sb.deep_linear_run(Y, N, n_steps=20, seed=s) for s in range(2)] for N in (1, 3)}
    fig = sb.alignment_figure(sensing, network, alphas=(1e-6, 0.1), scales=(1e-3, 1.0))
    assert len(fig.axes) == 2
    fig.savefig(tmp_path / "a.png")
    fig = sb.rank_by_rank_figure(sensing, network, deep, strengths=(3.0, 2.0, 1.0),
                                 deep_step_size=0.02)
    assert len(fig.axes) == 3
    fig.savefig(tmp_path / "b.png")


def test_deep_linear_run_follows_the_device_and_dtype_of_the_target():
    Y = _target(4, (1.0,), seed=0, dtype=torch.float32)
    run = sb.deep_linear_run(Y, 2, n_steps=3, record_every=3)
    assert all(p.dtype == torch.float32 for p in run.params)
    assert run["sv1"].dtype == torch.float32
