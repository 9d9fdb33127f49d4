"""The packed measurement operator agrees with the dense reference of beyondlazy.sensing.

    A(Z) = (1/√m)(⟨A_i, Z⟩)_i,   A*(r) = (1/√m) Σ_i r_i A_i.

Oracles: the (m, n, n) einsum implementation in sensing.py, and explicit sums over the A_i.
"""

from __future__ import annotations

import math

import pytest
import torch

from beyondlazy import rng
from beyondlazy.operators import (
    NUMPY_STREAM_BYTES,
    AsymmetricOperator,
    SymmetricOperator,
    asymmetric_operator,
    smat,
    svec,
    symmetric_operator,
)
from beyondlazy.sensing import adjoint, measure, sensing_problem

from testkit import DEVICES, TOL


def gaussian(shape, seed, dtype=torch.float64):
    return rng.randn(shape, rng.generator(seed), dtype=dtype)


def symmetric(shape, seed):
    G = gaussian(shape, seed)
    return (G + G.transpose(-1, -2)) / 2


@pytest.fixture(scope="module")
def dense():
    return sensing_problem(7, 2, 30, seed=0).A


def test_svec_is_an_isometry_and_smat_inverts_it():
    Z, W = symmetric((5, 6, 6), 1), symmetric((5, 6, 6), 2)
    torch.testing.assert_close((svec(Z) * svec(W)).sum(-1), (Z * W).sum((-1, -2)),
                               **TOL[torch.float64])
    torch.testing.assert_close(smat(svec(Z), 6), Z, rtol=0, atol=1e-15)
    assert svec(Z).shape == (5, 21)


@pytest.mark.parametrize("backend", ["torch", "numpy"])
@pytest.mark.parametrize("block_bytes", [1, 10**9])  # tiny blocks (streaming) and one block
def test_packed_operator_matches_the_dense_einsum(dense, block_bytes, backend):
    op = SymmetricOperator.from_dense(dense, block_bytes=block_bytes, backend=backend)
    assert op.nbytes == 30 * 28 * 8  # m · n(n+1)/2 float64 numbers: half the dense tensor
    Z = symmetric((3, 7, 7), 3)
    torch.testing.assert_close(op.measure(Z), measure(dense, Z), **TOL[torch.float64])
    r = gaussian((3, 30), 4)
    torch.testing.assert_close(op.adjoint(r), adjoint(dense, r), **TOL[torch.float64])
    y = gaussian((30,), 5)
    residual, adj = op.residual_and_adjoint(Z, y)
    torch.testing.assert_close(residual, measure(dense, Z) - y, **TOL[torch.float64])
    torch.testing.assert_close(adj, adjoint(dense, measure(dense, Z) - y), **TOL[torch.float64])
    torch.testing.assert_close(op.dense(), dense, **TOL[torch.float64])


def test_streaming_in_blocks_gives_the_same_numbers_as_one_pass(dense):
    small = SymmetricOperator.from_dense(dense, block_bytes=1)
    assert small.block_rows < small.m  # several blocks
    whole = SymmetricOperator.from_dense(dense, block_bytes=10**9)
    Z, y = symmetric((4, 7, 7), 6), gaussian((30,), 7)
    for a, b in zip(small.residual_and_adjoint(Z, y), whole.residual_and_adjoint(Z, y)):
        torch.testing.assert_close(a, b, **TOL[torch.float64])


@pytest.mark.parametrize("backend", ["torch", "numpy"])
@pytest.mark.parametrize("K", [1, 5, 16, 40])  # numpy's blocks: 3, 6, 24 and 60 rows of 30
def test_batched_streaming_gives_each_run_its_own_residual_and_adjoint(dense, K, backend):
    op = SymmetricOperator(SymmetricOperator.from_dense(dense).M, 3, dense.shape[1],
                           backend=backend)
    Z, y = symmetric((K, 7, 7), 8), gaussian((30,), 9)
    residual, adj = op.residual_and_adjoint(Z, y)
    for k in (0, K - 1):
        torch.testing.assert_close(residual[k], measure(dense, Z[k]) - y, **TOL[torch.float64])
        torch.testing.assert_close(adj[k], adjoint(dense, measure(dense, Z[k]) - y),
                                   **TOL[torch.float64])


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_asymmetric_operator_matches_explicit_sums(backend):
    op = asymmetric_operator(5, 4, 17, rng.generator(0), block_rows=3, backend=backend)
    A = op.dense()
    Z, r = gaussian((5, 4), 1), gaussian((17,), 2)
    loop = torch.stack([(A[i] * Z).sum() for i in range(17)]) / math.sqrt(17)
    torch.testing.assert_close(op.measure(Z), loop, **TOL[torch.float64])
    total = sum(r[i] * A[i] for i in range(17)) / math.sqrt(17)
    torch.testing.assert_close(op.adjoint(r), total, **TOL[torch.float64])
    residual, adj = op.residual_and_adjoint(Z, r)
    torch.testing.assert_close(adj, op.adjoint(op.measure(Z) - r), **TOL[torch.float64])
    assert AsymmetricOperator.from_dense(A).M.shape == (17, 20)


@pytest.mark.parametrize("seed", [0, 1])
def test_measure_and_adjoint_are_adjoint(seed):
    op = symmetric_operator(6, 20, rng.generator(seed), block_rows=7)
    Z, r = symmetric((6, 6), seed + 10), gaussian((20,), seed + 20)
    torch.testing.assert_close((op.measure(Z) * r).sum(), (Z * op.adjoint(r)).sum(),
                               **TOL[torch.float64])


def test_drawn_operator_is_symmetrized_gaussian_with_unit_expected_gram():
    op = symmetric_operator(4, 4000, rng.generator(3))
    A = op.dense()
    assert torch.equal(A, A.transpose(1, 2))
    # E A*A(Z) = Z for symmetric Gaussian A_i = (G + Gᵀ)/2: off-diagonal variance 1/2, diagonal 1.
    Z = symmetric((4, 4), 4)
    torch.testing.assert_close(op.adjoint(op.measure(Z)), Z, rtol=0, atol=0.15)


def test_a_seed_gives_the_same_operator_in_float32_rounded():
    as64 = symmetric_operator(5, 300, rng.generator(9), dtype=torch.float64)
    as32 = symmetric_operator(5, 300, rng.generator(9), dtype=torch.float32)
    assert as32.M.dtype == torch.float32
    torch.testing.assert_close(as32.M.double(), as64.M, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("device", DEVICES)
def test_results_live_on_the_device_and_dtype_of_the_operator(device):
    op = symmetric_operator(5, 40, rng.generator(0), dtype=torch.float32, device=device)
    Z = symmetric((5, 5), 1).float().to(device)
    out = op.measure(Z)
    assert out.device.type == device.type and out.dtype == torch.float32
    assert op.adjoint(out).shape == (5, 5)


def test_bad_arguments_raise_value_errors_naming_the_parameter():
    with pytest.raises(ValueError, match="n must be"):
        symmetric_operator(0, 10, rng.generator(0))
    with pytest.raises(ValueError, match="block_rows must be"):
        symmetric_operator(3, 10, rng.generator(0), block_rows=0)
    op = symmetric_operator(3, 10, rng.generator(0))
    with pytest.raises(ValueError, match="y must have shape"):
        op.residual_and_adjoint(torch.zeros(3, 3, dtype=torch.float64), torch.zeros(4))
    with pytest.raises(ValueError, match="symmetric"):
        SymmetricOperator.from_dense(gaussian((2, 3, 3), 0))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_numpy_and_torch_engines_agree_in_each_dtype(dtype):
    torch_op = symmetric_operator(9, 50, rng.generator(4), dtype=dtype, block_rows=4,
                                  backend="torch")
    numpy_op = SymmetricOperator(torch_op.M, 4, 9, backend="numpy")
    Z, y = symmetric((3, 9, 9), 5).to(dtype), gaussian((50,), 6).to(dtype)
    for a, b in zip(torch_op.residual_and_adjoint(Z, y), numpy_op.residual_and_adjoint(Z, y)):
        assert b.dtype == dtype
        torch.testing.assert_close(a, b, **TOL[dtype])


def test_auto_streams_with_numpy_only_beyond_the_cache_and_without_gradients():
    n = 20
    p = n * (n + 1) // 2
    m_large = NUMPY_STREAM_BYTES // (4 * p) + 1
    large = symmetric_operator(n, m_large, rng.generator(0), dtype=torch.float32)
    small = symmetric_operator(n, 100, rng.generator(0), dtype=torch.float32)
    assert large.nbytes >= NUMPY_STREAM_BYTES > small.nbytes
    assert large.streams_with_numpy() and not small.streams_with_numpy()
    tracked = torch.zeros(n, n, requires_grad=True)
    assert not large.streams_with_numpy(tracked)
    assert not large.streams_with_numpy(torch.zeros(n, n, dtype=torch.float64))
    assert not SymmetricOperator(large.M, 8, n, backend="torch").streams_with_numpy()
    # the two engines give the same gradient step on the large operator
    Z, y = symmetric((n, n), 1).float(), gaussian((m_large,), 2).float()
    torch_engine = SymmetricOperator(large.M, large.block_rows, n, backend="torch")
    for a, b in zip(large.residual_and_adjoint(Z, y), torch_engine.residual_and_adjoint(Z, y)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_the_numpy_engine_refuses_what_it_cannot_run():
    M = symmetric_operator(3, 10, rng.generator(0)).M
    with pytest.raises(ValueError, match="backend must be one of"):
        SymmetricOperator(M, 4, 3, backend="blas")
    with pytest.raises(ValueError, match="backend='numpy' needs a float32 or float64"):
        SymmetricOperator(M.half(), 4, 3, backend="numpy")
    op = SymmetricOperator(M, 4, 3, backend="numpy")
    Z = torch.zeros(3, 3, dtype=torch.float64, requires_grad=True)
    with pytest.raises(ValueError, match="cannot track gradients"):
        op.residual_and_adjoint(Z, torch.zeros(10, dtype=torch.float64))
