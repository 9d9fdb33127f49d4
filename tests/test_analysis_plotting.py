"""Measurements (relative errors, power-law fits, subspace angles) and the figure helpers."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import html.parser
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from beyondlazy import (
    loglog_slope,
    plot_power_law_fit,
    plot_spread,
    relative_error,
    rng,
    show,
    sin_angle,
    subplots,
    top_singular_subspace,
)

TOL64 = dict(rtol=1e-10, atol=1e-12)


def gaussian(shape, seed):
    return rng.randn(shape, rng.generator(seed), dtype=torch.float64)


# ---------------------------------------------------------------------------------------------
# loglog_slope
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gamma, C", [(-1.5, 3.0), (0.5, 0.01), (2.0, 1.0), (0.0, 7.0)])
def test_loglog_slope_recovers_exponent_and_constant_of_exact_power_law(gamma, C):
    x = [1.0, 2.0, 5.0, 10.0, 40.0, 100.0]
    y = [C * v**gamma for v in x]
    slope, intercept = loglog_slope(x, y)
    assert slope == pytest.approx(gamma, abs=1e-12)
    assert intercept == pytest.approx(math.log(C), abs=1e-12)


def test_loglog_slope_accepts_tensors_and_matches_numpy_least_squares():
    x = torch.logspace(0, 3, 9, dtype=torch.float64)
    y = 2.0 * x ** -0.7 * torch.exp(0.1 * gaussian((9,), 0))  # noisy: checks the least-squares fit
    slope, intercept = loglog_slope(x, y)
    expected_slope, expected_intercept = np.polyfit(np.log(x.numpy()), np.log(y.numpy()), 1)
    assert slope == pytest.approx(expected_slope, rel=1e-10)
    assert intercept == pytest.approx(expected_intercept, rel=1e-10)


@pytest.mark.parametrize(
    "x, y, name",
    [([1.0, 2.0, 3.0], [1.0, 0.0, 2.0], "y"), ([1.0, 2.0, 3.0], [1.0, -1.0, 2.0], "y"),
     ([0.0, 2.0, 3.0], [1.0, 2.0, 3.0], "x"), ([-1.0, 2.0, 3.0], [1.0, 2.0, 3.0], "x"),
     ([1.0, 2.0, 3.0], [1.0, math.nan, 2.0], "y"), ([1.0, math.inf, 3.0], [1.0, 2.0, 3.0], "x")],
)
def test_loglog_slope_rejects_non_positive_or_non_finite_data(x, y, name):
    with pytest.raises(ValueError, match=rf"^{name} must hold finite values > 0"):
        loglog_slope(x, y)


@pytest.mark.parametrize("x, y", [([1.0], [1.0]), ([1.0, 2.0], [1.0, 2.0, 3.0]), ([2.0, 2.0], [1.0, 3.0])])
def test_loglog_slope_rejects_too_few_or_identical_points(x, y):
    with pytest.raises(ValueError, match="x"):
        loglog_slope(x, y)


# ---------------------------------------------------------------------------------------------
# relative_error
# ---------------------------------------------------------------------------------------------


def test_relative_error_of_vectors_in_closed_form():
    target = torch.tensor([3.0, 4.0], dtype=torch.float64)  # ‖target‖ = 5
    assert float(relative_error(target, target)) == 0.0
    assert float(relative_error(torch.zeros(2, dtype=torch.float64), target)) == pytest.approx(1.0)
    assert float(relative_error(target + torch.tensor([0.0, 1.0], dtype=torch.float64), target)) == pytest.approx(0.2)
    assert float(relative_error(-target, target)) == pytest.approx(2.0)
    batch = torch.stack([target, 2 * target, torch.tensor([3.0, 1.0], dtype=torch.float64)])
    torch.testing.assert_close(relative_error(batch, target),
                               torch.tensor([0.0, 1.0, 0.6], dtype=torch.float64), **TOL64)


def test_relative_error_of_matrices_in_closed_form():
    n, eps = 4, 0.3
    target = torch.eye(n, dtype=torch.float64)  # ‖I‖_F = 2
    bumped = target.clone()
    bumped[0, 1] = eps
    assert float(relative_error(bumped, target)) == pytest.approx(eps / 2)
    assert float(relative_error(1.5 * target, target)) == pytest.approx(0.5)
    batch = torch.stack([target, bumped, torch.zeros(n, n, dtype=torch.float64)])
    torch.testing.assert_close(relative_error(batch, target),
                               torch.tensor([0.0, eps / 2, 1.0], dtype=torch.float64), **TOL64)


def test_relative_error_batch_equals_each_item():
    target, estimates = gaussian((5, 5), 0), gaussian((3, 5, 5), 1)
    batched = relative_error(estimates, target)
    for k in range(3):
        expected = torch.linalg.norm(estimates[k] - target) / torch.linalg.norm(target)
        torch.testing.assert_close(batched[k], expected, **TOL64)


# ---------------------------------------------------------------------------------------------
# sin_angle and top_singular_subspace
# ---------------------------------------------------------------------------------------------


def principal_sin(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """sin of the largest principal angle, from the singular values of Q_aᵀ Q_b (SVD bases)."""
    qa = torch.linalg.svd(a, full_matrices=False).U
    qb = torch.linalg.svd(b, full_matrices=False).U
    sigma_min = torch.linalg.svdvals(qa.T @ qb).min()
    return torch.sqrt(1 - sigma_min.clamp(max=1.0) ** 2)


def test_sin_angle_of_lines_is_sqrt_one_minus_cos_squared():
    for seed in range(5):
        a, b = gaussian((6, 1), 2 * seed), gaussian((6, 1), 2 * seed + 1)
        cos = float((a.T @ b).squeeze() / (a.norm() * b.norm()))
        assert float(sin_angle(a, b)) == pytest.approx(math.sqrt(1 - cos**2), rel=1e-10)


def test_sin_angle_is_zero_for_the_same_subspace_in_another_basis():
    a = gaussian((8, 3), 0)
    mixing = gaussian((3, 3), 1) + 3 * torch.eye(3, dtype=torch.float64)  # invertible
    assert float(sin_angle(a, a @ mixing)) == pytest.approx(0.0, abs=1e-12)
    assert float(sin_angle(a, -2.0 * a)) == pytest.approx(0.0, abs=1e-12)


def test_sin_angle_is_one_for_orthogonal_subspaces():
    e = torch.eye(6, dtype=torch.float64)
    assert float(sin_angle(e[:, :2], e[:, 2:4])) == pytest.approx(1.0, abs=1e-12)
    rotation, _ = torch.linalg.qr(gaussian((6, 6), 3))
    assert float(sin_angle(rotation[:, :3], rotation[:, 3:])) == pytest.approx(1.0, abs=1e-12)


def test_sin_angle_is_symmetric():
    a, b = gaussian((7, 2), 4), gaussian((7, 2), 5)
    torch.testing.assert_close(sin_angle(a, b), sin_angle(b, a), **TOL64)


@pytest.mark.parametrize("n, k, seed", [(5, 2, 0), (8, 3, 1), (12, 4, 2), (10, 5, 3)])
def test_sin_angle_matches_principal_angles(n, k, seed):
    a, b = gaussian((n, k), 10 * seed), gaussian((n, k), 10 * seed + 1)
    torch.testing.assert_close(sin_angle(a, b), principal_sin(a, b), **TOL64)


def test_sin_angle_of_a_small_rotation_is_the_sine_of_its_angle():
    theta = 0.01
    e = torch.eye(4, dtype=torch.float64)
    a = e[:, :2]
    b = torch.stack([e[:, 0], math.cos(theta) * e[:, 1] + math.sin(theta) * e[:, 2]], dim=1)
    assert float(sin_angle(a, b)) == pytest.approx(math.sin(theta), rel=1e-10)


def test_sin_angle_batches_over_leading_axes():
    a, b = gaussian((3, 6, 2), 6), gaussian((3, 6, 2), 7)
    batched = sin_angle(a, b)
    assert batched.shape == (3,)
    for k in range(3):
        torch.testing.assert_close(batched[k], principal_sin(a[k], b[k]), **TOL64)


def test_sin_angle_between_subspaces_of_different_dimension_is_one():
    a = gaussian((6, 2), 8)
    b = torch.cat([a, gaussian((6, 1), 9)], dim=1)  # contains col(a), one dimension more
    assert float(sin_angle(a, b)) == pytest.approx(1.0, abs=1e-12)


def test_sin_angle_rejects_different_ambient_dimensions():
    with pytest.raises(ValueError, match="same number of rows"):
        sin_angle(gaussian((5, 2), 0), gaussian((6, 2), 1))


def test_top_singular_subspace_spans_the_column_space_of_a_rank_k_matrix():
    left, right = gaussian((9, 3), 0), gaussian((3, 7), 1)
    basis = top_singular_subspace(left @ right, 3)
    torch.testing.assert_close(basis.T @ basis, torch.eye(3, dtype=torch.float64), **TOL64)
    assert float(sin_angle(basis, left)) == pytest.approx(0.0, abs=1e-10)


def test_top_singular_subspace_rejects_k_out_of_range():
    with pytest.raises(ValueError, match=r"k must be an integer >= 1 and <= 4; got 5"):
        top_singular_subspace(gaussian((4, 6), 0), 5)


# ---------------------------------------------------------------------------------------------
# Plotting
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def axes():
    fig, ax = subplots()
    yield ax[0, 0]
    plt.close(fig)


@pytest.mark.parametrize("n_seeds", [3, 4, 5])
def test_plot_spread_draws_the_median_over_runs(axes, n_seeds):
    x = torch.arange(1.0, 7.0)
    runs = rng.rand((n_seeds, 6), rng.generator(n_seeds), dtype=torch.float64)
    line = plot_spread(axes, x, runs, label="test error")
    np.testing.assert_allclose(line.get_xdata(), x.numpy())
    np.testing.assert_allclose(line.get_ydata(), np.median(runs.numpy(), axis=0), rtol=1e-12)


def test_plot_spread_band_spans_min_to_max(axes):
    x = torch.arange(1.0, 5.0)
    runs = rng.rand((3, 4), rng.generator(0), dtype=torch.float64)
    plot_spread(axes, x, runs, label="loss")
    (band,) = axes.collections
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.min() == pytest.approx(float(runs.min()))
    assert ys.max() == pytest.approx(float(runs.max()))


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_plot_spread_refuses_nan_and_points_to_diverged_runs(axes, bad):
    runs = torch.ones(3, 4)
    runs[1, 2] = bad
    with pytest.raises(ValueError) as err:
        plot_spread(axes, torch.arange(4.0), runs, label="test error")
    message = str(err.value)
    assert "test error" in message and "diverged" in message and "1 NaN" in message
    assert not axes.lines  # nothing was drawn


def test_plot_spread_rejects_runs_of_the_wrong_shape(axes):
    with pytest.raises(ValueError, match=r"runs must have shape .*\(\*, 4\); got \(3, 5\)"):
        plot_spread(axes, torch.arange(4.0), torch.ones(3, 5), label="loss")


def test_plot_power_law_fit_returns_the_exponent(axes):
    x = torch.tensor([1.0, 3.0, 10.0, 30.0], dtype=torch.float64)
    slope = plot_power_law_fit(axes, x, 5.0 * x**-2.0)
    assert slope == pytest.approx(-2.0, abs=1e-12)
    assert axes.get_xscale() == "log" and axes.get_yscale() == "log"


@pytest.mark.parametrize("alt", [None, "", "   ", "a plot", 42])
def test_show_refuses_a_missing_or_short_alt_text(alt):
    fig, _ = subplots()
    try:
        with pytest.raises(ValueError, match="alt must describe the figure"):
            show(fig, alt)
    finally:
        plt.close(fig)


class _ImgAlts(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.alts: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.alts.append(dict(attrs).get("alt"))


def test_show_html_is_an_img_with_the_escaped_alt_text():
    alt = 'Loss against step: "small" init < large init & both fall below 1e-6'
    fig, ax = subplots()
    ax[0, 0].plot([0, 1], [1, 0])
    figure = show(fig, "  " + alt + "\n")
    assert not plt.fignum_exists(fig.number)  # show closes the figure
    markup = figure._repr_html_()
    assert markup.startswith("<img ")
    assert "&quot;small&quot;" in markup and "&lt;" in markup and "&amp;" in markup
    parser = _ImgAlts()
    parser.feed(markup)
    assert parser.alts == [alt]  # the attribute decodes back to the text, trimmed
    assert figure._repr_png_().startswith(b"\x89PNG\r\n\x1a\n")
    assert repr(figure) == f"[figure] {alt}"
