"""The self-checking exercise helper accepts the library's own answer and rejects wrong ones."""

from __future__ import annotations

import pytest
import torch

from beyondlazy.exercises import check


def _gram(X):
    return X.T @ X


def _inputs(gen):
    return (torch.randn(5, 3, generator=gen, dtype=torch.float64),)


def test_check_accepts_a_second_implementation_of_the_reference():
    def mine(X):
        return torch.einsum("ki,kj->ij", X, X)

    result = check(mine, reference=_gram, make_inputs=_inputs, verbose=False)
    assert result and result.trials == 3


def test_check_rejects_a_wrong_value_and_says_by_how_much():
    result = check(lambda X: X.T @ X + 1e-3, reference=_gram, make_inputs=_inputs, verbose=False)
    assert not result and result.trials == 0
    assert "largest difference 0.001" in result.message


def test_check_reports_a_wrong_shape():
    result = check(lambda X: X @ X.T, reference=_gram, make_inputs=_inputs, verbose=False)
    assert not result and "shape (5, 5), expected (3, 3)" in result.message


def test_check_reports_an_unfinished_stub_without_raising(capsys):
    def power_method(X):
        raise NotImplementedError

    result = check(power_method, reference=_gram, make_inputs=_inputs)
    assert not result and "Not attempted yet: fill in power_method" in capsys.readouterr().out


def test_check_reports_an_exception_of_the_readers_code():
    result = check(lambda X: X @ torch.ones(7), reference=_gram, make_inputs=_inputs,
                   verbose=False)
    assert not result and "RuntimeError" in result.message


def test_check_catches_an_error_that_only_some_inputs_reveal():
    # Right on the first draw only: each trial must use fresh inputs.
    first = {}

    def memorizes(X):
        first.setdefault("answer", X.T @ X)
        return first["answer"]

    result = check(memorizes, reference=_gram, make_inputs=_inputs, verbose=False)
    assert not result and result.trials == 1


def test_check_compares_tuples_and_numbers_entrywise():
    def ref(X):
        return X.sum(), X.norm()

    assert check(lambda X: (float(X.sum()), X.norm()), reference=ref, make_inputs=_inputs,
                 verbose=False)
    wrong = check(lambda X: (X.sum(), X.norm() * 2), reference=ref, make_inputs=_inputs,
                  verbose=False)
    assert not wrong and "output 1" in wrong.message


def test_check_uses_a_custom_comparison_up_to_sign():
    def sign_free(a, b):
        return None if min(float((a - b).abs().max()), float((a + b).abs().max())) < 1e-10 \
            else "differs by more than a sign"

    assert check(lambda X: -_gram(X), reference=_gram, make_inputs=_inputs, compare=sign_free,
                 verbose=False)


def test_check_rejects_bad_arguments_with_a_clear_error():
    with pytest.raises(ValueError, match="trials must be an integer >= 1; got 0"):
        check(_gram, reference=_gram, make_inputs=_inputs, trials=0)
    with pytest.raises(ValueError, match="candidate must be a function"):
        check(3, reference=_gram, make_inputs=_inputs)
