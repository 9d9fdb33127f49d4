"""Argument checks: every rejection is a ValueError naming the parameter, the value and what is allowed."""

from __future__ import annotations

import math
import re

import pytest
import torch

from beyondlazy import gradient_descent, rng
from beyondlazy.sensing import sensing_problem, train_symmetric
from beyondlazy.validation import (
    check_choice,
    check_finite,
    check_int,
    check_positive,
    check_rank,
    check_same_device,
    check_shape,
)

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def assert_message(err: pytest.ExceptionInfo, *parts: str) -> None:
    message = str(err.value)
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


# ---------------------------------------------------------------------------------------------
# The public checks
# ---------------------------------------------------------------------------------------------


REJECTIONS = [
    # (call, parameter name, offending value as shown, what is allowed)
    (lambda: check_positive("eta", -0.1), "eta", "-0.1", "finite number > 0"),
    (lambda: check_positive("eta", 0), "eta", "0.0", "finite number > 0"),
    (lambda: check_positive("eta", math.nan), "eta", "nan", "finite number > 0"),
    (lambda: check_positive("eta", math.inf), "eta", "inf", "finite number > 0"),
    (lambda: check_positive("eta", True), "eta", "True", "finite number > 0"),
    (lambda: check_positive("eta", "0.1"), "eta", "'0.1'", "finite number > 0"),
    (lambda: check_positive("tol", -1e-3, allow_zero=True), "tol", "-0.001", "finite number >= 0"),
    (lambda: check_int("n", 2.5), "n", "2.5", "an integer >= 0"),
    (lambda: check_int("n", True), "n", "True", "an integer >= 0"),
    (lambda: check_int("n", -1), "n", "-1", "an integer >= 0"),
    (lambda: check_int("k", 5, minimum=1, maximum=4), "k", "5", "an integer >= 1 and <= 4"),
    (lambda: check_choice("mode", "ignore", ("raise", "stop")), "mode", "'ignore'",
     "one of 'raise', 'stop'"),
    (lambda: check_finite("U0", torch.tensor([1.0, math.nan, 2.0])), "U0", "1 NaN",
     "only finite values"),
    (lambda: check_finite("U0", torch.tensor([math.inf, -math.inf])), "U0", "2 NaN or infinite",
     "only finite values"),
    (lambda: check_finite("U0", torch.arange(3)), "U0", "dtype torch.int64",
     "a floating-point torch.Tensor"),
    (lambda: check_finite("U0", [1.0, 2.0]), "U0", "[1.0, 2.0]", "a floating-point torch.Tensor"),
    (lambda: check_shape("X", torch.zeros(2, 2), (3, None)), "X", "(2, 2)", "shape (3, *)"),
    (lambda: check_shape("X", torch.zeros(3), (3, None)), "X", "(3,)", "shape (3, *)"),
    (lambda: check_shape("X", 1.0, (3,)), "X", "1.0", "a torch.Tensor of shape (3)"),
    (lambda: check_rank(1, 3), "r", "1", "an integer >= the true rank r* = 3"),
    (lambda: check_rank(9, 3, maximum=8), "r", "9", ">= the true rank r* = 3 and <= 8"),
    (lambda: check_rank(3.0, 3, name="width"), "width", "3.0", ">= the true rank r* = 3"),
    (lambda: check_same_device(a=torch.zeros(2), b=torch.zeros(2, device="meta")), "b", "meta",
     "same device as a (cpu)"),
]


@pytest.mark.parametrize("call, name, shown, allowed", REJECTIONS,
                         ids=[f"{r[1]}-{i}" for i, r in enumerate(REJECTIONS)])
def test_check_rejects_with_name_value_and_what_is_allowed(call, name, shown, allowed):
    with pytest.raises(ValueError) as err:
        call()
    assert str(err.value).startswith(name + " ")
    assert_message(err, shown, allowed)


def test_checks_return_the_validated_value():
    x = torch.ones(3, 2)
    assert check_positive("eta", 2) == 2.0 and isinstance(check_positive("eta", 2), float)
    assert check_positive("eta", torch.tensor(0.5)) == 0.5
    assert check_positive("tol", 0, allow_zero=True) == 0.0
    assert check_int("n", 4, minimum=1, maximum=4) == 4
    assert check_choice("mode", "stop", ("raise", "stop")) == "stop"
    assert check_finite("x", x) is x
    assert check_shape("x", x, (3, None)) is x
    assert check_rank(3, 3) == 3
    assert check_same_device(a=x, b=torch.zeros(1)) == torch.device("cpu")


def test_check_same_device_needs_a_tensor():
    with pytest.raises(ValueError, match="at least one tensor"):
        check_same_device()


def test_generator_rejects_a_negative_seed():
    with pytest.raises(ValueError) as err:
        rng.generator(-1)
    assert_message(err, "seed", "-1", "an integer >= 0")


# ---------------------------------------------------------------------------------------------
# gradient_descent
# ---------------------------------------------------------------------------------------------


def half_square(theta):
    return 0.5 * (theta * theta).sum(-1), (theta,)


def two_half_squares(a, b):
    return 0.5 * (a * a).sum(-1) + 0.5 * (b * b).sum(-1), (a, b)


def run(params=None, loss_and_grad=half_square, **kwargs):
    options = dict(step_size=0.1, n_steps=5)
    options.update(kwargs)
    return gradient_descent(loss_and_grad, torch.ones(3) if params is None else params, **options)


@pytest.mark.parametrize("step_size, shown", [(-0.1, "-0.1"), (0.0, "0.0"), (math.nan, "nan"),
                                              (math.inf, "inf")])
def test_gd_rejects_a_step_size_that_is_not_positive_and_finite(step_size, shown):
    with pytest.raises(ValueError) as err:
        run(step_size=step_size)
    assert_message(err, "step_size", shown, "finite number > 0")


def test_gd_rejects_per_run_step_sizes_with_a_bad_entry():
    with pytest.raises(ValueError) as err:
        run(torch.ones(3, 2), step_size=torch.tensor([0.1, -0.2, math.nan]), batched=True)
    assert_message(err, "step_size", "-0.2", "nan", "finite numbers > 0")


@pytest.mark.parametrize("n_steps, shown", [(10.0, "10.0"), (2.5, "2.5"), ("10", "'10'"),
                                            (-1, "-1"), (True, "True")])
def test_gd_rejects_n_steps_that_is_not_a_non_negative_integer(n_steps, shown):
    with pytest.raises(ValueError) as err:
        run(n_steps=n_steps)
    assert_message(err, "n_steps", shown, "an integer >= 0")


def test_gd_rejects_record_every_below_one():
    with pytest.raises(ValueError) as err:
        run(record_every=0)
    assert_message(err, "record_every", "0", "an integer >= 1")


def test_gd_rejects_params_with_different_batch_sizes():
    with pytest.raises(ValueError) as err:
        run((torch.ones(3, 2), torch.ones(4, 2)), loss_and_grad=two_half_squares, batched=True)
    assert_message(err, "params[1]", "K = 3", "(4, 2)")


def test_gd_rejects_per_run_step_sizes_of_the_wrong_length():
    with pytest.raises(ValueError) as err:
        run(torch.ones(3, 2), step_size=torch.full((4,), 0.1), batched=True)
    assert_message(err, "step_size", "(K,) = (3,)", "(4,)")


def test_gd_rejects_per_run_step_sizes_without_batched():
    with pytest.raises(ValueError) as err:
        run(torch.ones(3, 2), step_size=torch.full((3,), 0.1))
    assert_message(err, "step_size", "batched=True", "(3,)")


def test_gd_rejects_a_scalar_parameter_when_batched():
    with pytest.raises(ValueError) as err:
        run(torch.tensor(1.0), batched=True)
    assert_message(err, "params", "batch axis", "scalar")


def test_gd_rejects_params_of_mixed_dtypes():
    with pytest.raises(ValueError) as err:
        run((torch.ones(3, dtype=torch.float32), torch.ones(3, dtype=torch.float64)),
            loss_and_grad=two_half_squares)
    assert_message(err, "params", "one dtype", "torch.float32", "torch.float64")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_gd_rejects_non_finite_params(bad):
    with pytest.raises(ValueError) as err:
        run((torch.ones(3), torch.tensor([1.0, bad])), loss_and_grad=two_half_squares)
    assert_message(err, "params[1]", "1 NaN or infinite entry", "only finite values")


def test_gd_rejects_integer_params():
    with pytest.raises(ValueError) as err:
        run(torch.ones(3, dtype=torch.int64))
    assert_message(err, "params[0]", "torch.int64", "floating-point")


def test_gd_rejects_no_params():
    with pytest.raises(ValueError, match="at least one tensor"):
        run(())


@pytest.mark.parametrize("on_divergence", ["ignore", "Raise", None])
def test_gd_rejects_unknown_on_divergence(on_divergence):
    with pytest.raises(ValueError) as err:
        run(on_divergence=on_divergence)
    assert_message(err, "on_divergence", repr(on_divergence), "'raise', 'stop'")


def test_gd_rejects_a_tol_metric_that_is_not_recorded():
    with pytest.raises(ValueError) as err:
        run(tol=1e-3, tol_metric="test_error", metrics={"dist": lambda th: th.norm()})
    assert_message(err, "tol_metric", "'test_error'", "'loss'", "['dist']")


def test_gd_rejects_a_negative_tol_and_blowup():
    with pytest.raises(ValueError) as err:
        run(tol=-1.0)
    assert_message(err, "tol", "-1.0", ">= 0")
    with pytest.raises(ValueError) as err:
        run(blowup=0.0)
    assert_message(err, "blowup", "0.0", "> 0")


def test_gd_rejects_a_metric_named_loss():
    with pytest.raises(ValueError) as err:
        run(metrics={"loss": lambda th: th.sum()})
    assert_message(err, "metrics", "'loss'", "always recorded")


def test_gd_rejects_a_loss_of_the_wrong_shape():
    with pytest.raises(ValueError) as err:
        run(torch.ones(3, 2), loss_and_grad=lambda th: (0.5 * (th * th).sum(), (th,)), batched=True)
    assert_message(err, "loss_and_grad", "(3,)", "got shape ()")


def test_gd_rejects_a_metric_of_the_wrong_shape():
    with pytest.raises(ValueError) as err:
        run(torch.ones(3, 2), batched=True, metrics={"norm": lambda th: th.norm()})
    assert_message(err, "'norm'", "(3,)", "()")


@pytest.mark.parametrize("device_pair", [("cpu", "cuda"), ("cuda", "cpu")], ids=["cpu-cuda", "cuda-cpu"])
@pytest.mark.gpu
@requires_cuda
def test_gd_rejects_params_on_different_devices(device_pair):
    first, second = device_pair
    with pytest.raises(ValueError) as err:
        run((torch.ones(3, device=first), torch.ones(3, device=second)),
            loss_and_grad=two_half_squares)
    assert_message(err, "params[1]", "params[0]", f"device {second}")


@pytest.mark.gpu
@requires_cuda
def test_train_symmetric_rejects_U0_on_another_device_than_the_problem():
    problem = sensing_problem(4, 1, 10, seed=0)
    with pytest.raises(ValueError) as err:
        train_symmetric(problem, torch.ones(4, 2, dtype=torch.float64, device="cuda"), n_steps=1)
    assert_message(err, "A", "U0", "cuda")


# ---------------------------------------------------------------------------------------------
# Sensing
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rank2_problem():
    return sensing_problem(6, 2, 30, seed=0)


def test_train_symmetric_rejects_a_width_below_the_true_rank(rank2_problem):
    with pytest.raises(ValueError) as err:
        train_symmetric(rank2_problem, torch.full((6, 1), 1e-3, dtype=torch.float64), n_steps=1)
    assert_message(err, "width r", "got 1", ">= the true rank r* = 2")


@pytest.mark.parametrize("shape", [(5, 3), (6,), (2, 5, 3), (1, 2, 6, 3)])
def test_train_symmetric_rejects_U0_of_the_wrong_shape(rank2_problem, shape):
    with pytest.raises(ValueError) as err:
        train_symmetric(rank2_problem, torch.full(shape, 1e-3, dtype=torch.float64), n_steps=1)
    assert_message(err, "U0", str(shape), "(n, r) or (K, n, r) with n = 6")


def test_train_symmetric_rejects_U0_of_another_dtype(rank2_problem):
    with pytest.raises(ValueError) as err:
        train_symmetric(rank2_problem, torch.full((6, 3), 1e-3, dtype=torch.float32), n_steps=1)
    assert_message(err, "U0", "torch.float32", "torch.float64")


def test_train_symmetric_rejects_non_finite_U0(rank2_problem):
    U0 = torch.full((6, 3), 1e-3, dtype=torch.float64)
    U0[2, 1] = math.nan
    with pytest.raises(ValueError) as err:
        train_symmetric(rank2_problem, U0, n_steps=1)
    assert_message(err, "U0", "1 NaN", "finite")


@pytest.mark.parametrize("kappa, shown, allowed", [(0.5, "0.5", ">= 1"), (0.0, "0.0", "> 0"),
                                                   (-2.0, "-2.0", "> 0"), (math.nan, "nan", "finite")])
def test_sensing_problem_rejects_kappa_below_one(kappa, shown, allowed):
    with pytest.raises(ValueError) as err:
        sensing_problem(5, 2, 20, seed=0, kappa=kappa)
    assert_message(err, "kappa", shown, allowed)


def test_sensing_problem_rejects_rank_above_n():
    with pytest.raises(ValueError) as err:
        sensing_problem(4, 5, 20, seed=0)
    assert_message(err, "rank", "5", "<= 4")


@pytest.mark.parametrize("kwargs, name", [(dict(n=0), "n"), (dict(rank=0), "rank"),
                                          (dict(m=0), "m"), (dict(seed=-3), "seed")])
def test_sensing_problem_rejects_non_positive_sizes_and_negative_seeds(kwargs, name):
    args = dict(n=4, rank=1, m=10, seed=0)
    args.update(kwargs)
    with pytest.raises(ValueError) as err:
        sensing_problem(args.pop("n"), args.pop("rank"), args.pop("m"), **args)
    shown = str(kwargs[name])
    assert re.match(rf"{name} must be .*; got {shown}$", str(err.value)), str(err.value)


def test_gradient_descent_rejects_an_empty_batch():
    empty = torch.zeros(0, 3, dtype=torch.float64)
    with pytest.raises(ValueError) as err:
        gradient_descent(lambda p: (p.sum(-1), (torch.ones_like(p),)), empty,
                         step_size=0.1, n_steps=1, batched=True)
    assert "K >= 1" in str(err.value) and "K = 0" in str(err.value)
