"""The two-layer ReLU net, Algorithm 1, the kernel baselines, ridge and the metrics of Chapter 4."""

from __future__ import annotations

import math

import pytest
import torch

from beyondlazy import relu_net as rn
from beyondlazy import representation as rep
from beyondlazy import ridge
from beyondlazy import targets as tg
from beyondlazy.hermite import half_line_moment
from beyondlazy.jacobian import jacobian
from testkit import DEVICES, TOL


def perturbed_net(d, m, device, dtype=torch.float64):
    params = rn.symmetric_init(d, m, seed=0, bias_std=1.0, dtype=dtype, device=device)
    gen = torch.Generator().manual_seed(1)
    noise = [0.3 * torch.randn(p.shape, generator=gen, dtype=torch.float64).to(dtype=dtype, device=device)
             for p in params]
    return rn.ReLUNet(*(p + e for p, e in zip(params, noise)))


@pytest.mark.parametrize("device", DEVICES)
def test_symmetric_init_gives_the_zero_function(device):
    params = rn.symmetric_init(7, 20, seed=3, bias_std=1.0, device=device)
    x = tg.gaussian_inputs(100, 7, seed=0, device=device)
    assert float(rn.relu_net(params, x).abs().max()) <= 1e-12  # zero up to round-off
    assert set(params.a.abs().tolist()) == {1.0}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("chunk, workers", [(None, 1), (1, 1), (37, 1), (1000, 1), (37, 3)])
def test_hand_written_gradient_matches_autograd_in_float64(device, chunk, workers):
    if workers > 1 and device.type != "cpu":
        pytest.skip("worker threads are a CPU option")
    params = perturbed_net(5, 12, device)
    x = tg.gaussian_inputs(300, 5, seed=2, device=device)
    y = torch.sin(x[:, 0]) + x[:, 1]
    value, grads = rn.loss_and_grad(params, x, y, chunk=chunk, workers=workers)
    leaves = [p.clone().requires_grad_(True) for p in params]
    reference = rn.loss(rn.ReLUNet(*leaves), x, y)
    expected = torch.autograd.grad(reference, leaves)
    torch.testing.assert_close(value, reference.detach(), **TOL[torch.float64])
    for got, want in zip(grads, expected):
        torch.testing.assert_close(got, want, **TOL[torch.float64])


def test_hand_written_gradient_in_float32_agrees_with_float64():
    params = perturbed_net(8, 64, "cpu")
    x = tg.gaussian_inputs(2000, 8, seed=4)
    y = x[:, 0] ** 2
    _, g64 = rn.loss_and_grad(params, x, y)
    _, g32 = rn.loss_and_grad(rn.ReLUNet(*(p.float() for p in params)), x.float(), y.float())
    for a, b in zip(g32, g64):
        torch.testing.assert_close(a.double(), b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_ntk_features_match_the_torch_func_jacobian(device):
    d, m = 4, 6
    params = perturbed_net(d, m, device)
    x = tg.gaussian_inputs(30, d, seed=5, device=device)

    def model(theta, inputs):
        return rn.relu_net(rn.unflatten(theta, m, d), inputs)

    J = jacobian(model, rn.flatten(params), x)
    torch.testing.assert_close(rn.ntk_features(params, x), J, **TOL[torch.float64])


@pytest.mark.parametrize("device", DEVICES)
def test_closed_form_ridge_matches_lstsq_in_both_forms(device):
    gen = torch.Generator().manual_seed(0)
    for n, p in ((50, 8), (8, 50)):  # primal (p <= n) and dual (p > n)
        Phi = torch.randn(n, p, generator=gen, dtype=torch.float64).to(device)
        y = torch.randn(n, generator=gen, dtype=torch.float64).to(device)
        lams = torch.tensor([1e-3, 0.1, 2.0], dtype=torch.float64)
        coefs = ridge.ridge_path(Phi, y, lams)
        for lam, coef in zip(lams.tolist(), coefs):
            A = torch.cat([Phi / math.sqrt(n), math.sqrt(lam) * torch.eye(p, dtype=torch.float64, device=device)])
            b = torch.cat([y / math.sqrt(n), torch.zeros(p, dtype=torch.float64, device=device)])
            expected = torch.linalg.lstsq(A.cpu(), b.cpu()[:, None]).solution[:, 0].to(device)
            torch.testing.assert_close(coef, expected, rtol=1e-8, atol=1e-10)


def test_ridge_tuned_picks_the_best_penalty_on_the_holdout():
    gen = torch.Generator().manual_seed(0)
    Phi = torch.randn(40, 30, generator=gen, dtype=torch.float64)
    truth = torch.randn(30, generator=gen, dtype=torch.float64)
    y = Phi @ truth + 3 * torch.randn(40, generator=gen, dtype=torch.float64)
    Phi_h = torch.randn(500, 30, generator=gen, dtype=torch.float64)
    fit = ridge.ridge_tuned(Phi, y, Phi_h, Phi_h @ truth)
    assert float(fit.holdout_errors.min()) == pytest.approx(float(((Phi_h @ fit.coef - Phi_h @ truth) ** 2).mean()))


@pytest.mark.parametrize("device", DEVICES)
def test_first_step_is_the_closed_form_neuron_update(device):
    d, m, eta = 5, 8, 2.0
    params = rn.symmetric_init(d, m, seed=0, device=device)
    x = tg.gaussian_inputs(400, d, seed=1, device=device)
    y = x[:, 0] ** 2 - 1
    W1 = rep.first_layer_step(params, x, y, eta)
    gate = (x @ params.W.T > 0).double()  # b = 0
    expected = 2 * eta * params.a[:, None] * ((gate * y[:, None]).T @ x) / x.shape[0]
    torch.testing.assert_close(W1, expected, **TOL[torch.float64])


def test_exact_relu_gradient_matches_half_line_moments_and_monte_carlo():
    target = tg.damian_target(5)
    aligned = rep.relu_gradient_exact(target, target.U)
    c2, c4 = 0.5, 1 / (4 * math.sqrt(3))
    # E[g(z) z 1(z >= 0)] with g = c2 (z² − 1) + c4 (z⁴ − 6z² + 3)
    expected = (c2 * (half_line_moment(3) - half_line_moment(1))
                + c4 * (half_line_moment(5) - 6 * half_line_moment(3) + 3 * half_line_moment(1)))
    assert abs(float(aligned[0, 0]) - expected) < 1e-10
    assert float(aligned[0, 1:].abs().max()) < 1e-12
    w = torch.randn(6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    exact = rep.relu_gradient_exact(target, w)
    x = tg.gaussian_inputs(400_000, 5, seed=9)
    mc, se = rep.relu_gradient_mc(target(x), x, w)
    assert float(((mc - exact) / se).abs().max()) < 5


def test_excess_risk_of_the_zero_predictor_is_exactly_one_and_of_the_target_zero():
    target = tg.damian_target(4)
    x = tg.gaussian_inputs(5000, 4, seed=0)
    f = target(x)
    assert rep.excess_risk(torch.zeros_like(f), f) == pytest.approx(1.0, abs=1e-12)
    assert rep.excess_risk(f, f) == pytest.approx(0.0, abs=1e-12)
    half = rep.excess_risk(0.5 * f, f)  # E(f/2)² = 1/4
    assert half == pytest.approx(0.25, abs=1e-12)


def test_alignment_metrics_on_hand_made_weights():
    U = tg.orthonormal_rows(2, 4)
    W = torch.tensor([[1.0, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 2], [3, 4, 0, 0]], dtype=torch.float64)
    torch.testing.assert_close(rep.neuron_alignment(W, U),
                               torch.tensor([1.0, 1 / math.sqrt(2), 0.0, 1.0], dtype=torch.float64))
    W_in = torch.tensor([[1.0, 0, 0, 0], [0, 2, 0, 0], [1, 1, 0, 0]], dtype=torch.float64)
    assert rep.subspace_sin_angle(W_in, U) == pytest.approx(0.0, abs=1e-12)
    assert rep.subspace_sin_angle(W, U) > 0.5


@pytest.mark.parametrize("device", DEVICES)
def test_algorithm_one_learns_f_star_from_many_samples_and_the_kernels_do_not(device):
    d = 6
    target = tg.damian_target(d)
    x = tg.gaussian_inputs(4000, d, seed=0, device=device)
    y = tg.noisy_labels(target, x, noise_std=0.5, seed=1)
    xh = tg.gaussian_inputs(2000, d, seed=2, device=device)
    yh = tg.noisy_labels(target, xh, noise_std=0.5, seed=3)
    xt = tg.gaussian_inputs(4000, d, seed=4, device=device)
    predictor, net = rep.algorithm_one(x, y, xh, yh, m=60, seed=0)
    assert net.W.device == x.device and predictor(xt).device == x.device
    assert rep.excess_risk(predictor(xt), target(xt)) < 0.2
    rf = rep.fit_random_features(x, y, xh, yh, m=60, seed=1)
    assert rep.excess_risk(rf(xt), target(xt)) > 0.3


def test_full_gd_records_the_subspace_angle_and_reduces_the_loss():
    d = 8
    target = tg.multi_index_target(d)
    x = tg.gaussian_inputs(1000, d, seed=0)
    params0 = rn.symmetric_init(d, 32, seed=0, scale=1e-2)
    run = rep.train_full_gd(params0, x, target(x), U=target.U, step_size=0.2, n_steps=400,
                            record_every=100)
    assert set(run.metrics) >= {"loss", "sin_angle", "alignment", "norm_W"}
    assert float(run.final("loss")) < 0.1 * float(run["loss"][0])
    assert float(run.final("sin_angle")) < 0.1 < float(run["sin_angle"][0])


def test_bad_inputs_raise_errors_naming_the_parameter():
    with pytest.raises(ValueError, match="m must be an even"):
        rn.symmetric_init(3, 5, seed=0)
    with pytest.raises(ValueError, match="y"):
        rn.make_loss_and_grad(torch.zeros(4, 3), torch.zeros(5))
    with pytest.raises(ValueError, match="step_size"):
        rep.first_layer_step(rn.symmetric_init(3, 4, seed=0), torch.zeros(4, 3, dtype=torch.float64),
                             torch.zeros(4, dtype=torch.float64), -1.0)
    with pytest.raises(ValueError, match="penalties"):
        ridge.ridge_path(torch.ones(3, 2), torch.ones(3), torch.tensor([0.0]))
    with pytest.raises(ValueError, match="single-index"):
        rep.relu_gradient_exact(tg.multi_index_target(4), torch.ones(1, 4))


def test_refitting_the_head_on_the_pretraining_data_reproduces_algorithm_one():
    d = 5
    target = tg.damian_target(d)
    x = tg.gaussian_inputs(800, d, seed=0)
    y = tg.noisy_labels(target, x, noise_std=0.5, seed=1)
    xh = tg.gaussian_inputs(400, d, seed=2)
    yh = tg.noisy_labels(target, xh, noise_std=0.5, seed=3)
    predictor, net = rep.algorithm_one(x, y, xh, yh, m=20, seed=0)
    again = rep.refit_head(net, x, y, xh, yh)
    torch.testing.assert_close(again.coef, predictor.coef, **TOL[torch.float64])
    assert again.linear_term == predictor.linear_term
