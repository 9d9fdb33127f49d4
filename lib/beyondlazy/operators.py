"""The Gaussian measurement operator of matrix sensing, stored for speed (Chapter 3).

Normalization (the course's, stated once):

    A(Z) = (1/√m) (⟨A_1, Z⟩, …, ⟨A_m, Z⟩),        A*(r) = (1/√m) Σ_i r_i A_i,

so that E A*A(Z) = Z for symmetric Gaussian A_i acting on symmetric Z (and for Gaussian A_i on
any Z). Two storages, both a single (m, p) matrix M whose rows are the A_i, flattened:

* :class:`SymmetricOperator` (symmetric problems, y = A(XXᵀ)): A_i = (G_i + G_iᵀ)/2 is stored as
  its *isometric upper triangle* svec(A_i) = (A_jj; √2·A_jk for j < k), p = n(n+1)/2 entries:
  half the bytes of the dense (m, n, n) tensor and exactly the same numbers, since
  ⟨A_i, Z⟩ = ⟨svec A_i, svec Z⟩ for symmetric Z and svec is an isometry (smat is its inverse).
  Memory: m·n(n+1)/2 numbers, e.g. 0.80 GB in float32 at n = 200, m = 10⁴.
* :class:`AsymmetricOperator` (y = A(XYᵀ) with X ∈ R^{d1×r*}, Y ∈ R^{d2×r*}): A_i Gaussian
  d1 × d2, stored as vec(A_i); p = d1·d2. Memory: m·d1·d2 numbers (1.6 GB in float32 at
  d1 = d2 = 200, m = 10⁴).

Both apply to a *batch* of K matrices at once: K runs of a sweep (over α, seeds, step sizes)
share one pass over M, which turns K matrix–vector products into one matrix–matrix product.
``residual_and_adjoint`` computes r = A(Z) − y and A*(r) together in one streaming pass:
it walks over blocks of rows of M, and uses each block twice (for its residuals, then for its
contribution to the adjoint) while the block is still in cache. A gradient step of factorized
GD therefore reads the operator once.

Two engines run that pass on a CPU (``backend``): torch's, and numpy's, whose BLAS reads
memory at full bandwidth in a matrix–vector product where torch's reaches about two thirds
of it on some CPUs (AMD EPYC; ``benchmarks/bench_sensing.py`` measures both). ``"auto"`` uses
numpy for operators larger than the last-level cache (``NUMPY_STREAM_BYTES``), where a step
is bound by memory, and torch for smaller ones and for inputs that track gradients. With K
runs the numpy engine takes blocks ``max(1, K // 2)`` times taller: each block also reads and
writes the K × p adjoint accumulator, and taller blocks keep that traffic a fixed fraction of
the block's own bytes. ``measure`` and ``adjoint`` alone follow the same choice of engine. On a
GPU the pass is two large matrix products.

The slow, obvious implementation (a dense (m, n, n) tensor and einsum) is
:mod:`beyondlazy.sensing`; the tests check this module against it.

Notation: n matrix dimension, m measurements, K runs in a batch, p = n(n+1)/2 or d1·d2.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from . import rng
from .validation import check_int

__all__ = [
    "BACKENDS",
    "NUMPY_STREAM_BYTES",
    "AsymmetricOperator",
    "SymmetricOperator",
    "asymmetric_operator",
    "smat",
    "svec",
    "symmetric_operator",
]

#: Rows of M drawn per chunk when an operator is generated from a seed (fixed: the numbers a
#: seed gives must not depend on memory or device).
DRAW_CHUNK = 256

#: ``backend="auto"`` streams CPU operators of at least this many bytes with numpy (beyond the
#: last-level cache a step is bound by memory bandwidth); smaller ones stay with torch.
NUMPY_STREAM_BYTES = 64 << 20

BACKENDS = ("auto", "torch", "numpy")


@functools.lru_cache(maxsize=32)
def _packing(n: int, dtype: torch.dtype, device: torch.device):
    """Index maps of the packed upper triangle for n × n matrices, cached per (n, dtype, device).

    ``upper``: the flat positions j·n + k (j ≤ k, row by row) that svec reads; ``full``: for
    each flat position of the n × n matrix, the packed entry smat reads; ``weights``: 1 on the
    diagonal, √2 off it.
    """
    rows, cols = torch.triu_indices(n, n)
    packed = torch.arange(rows.numel())
    full = torch.empty((n, n), dtype=torch.long)
    full[rows, cols] = packed
    full[cols, rows] = packed
    weights = torch.full((rows.numel(),), math.sqrt(2.0), dtype=torch.float64)
    weights[rows == cols] = 1.0
    weights = weights.to(dtype)
    return (rows * n + cols).to(device), full.reshape(-1).to(device), weights.to(device)


def svec(Z: torch.Tensor) -> torch.Tensor:
    """The isometric upper triangle of symmetric Z: (Z_jj; √2·Z_jk, j < k), row by row.

    Shape (…, n, n) → (…, n(n+1)/2); ⟨svec Z, svec W⟩ = ⟨Z, W⟩ for symmetric Z, W.
    """
    n = Z.shape[-1]
    if Z.ndim < 2 or Z.shape[-2] != n:
        raise ValueError(f"Z must have shape (..., n, n); got {tuple(Z.shape)}")
    upper, _, weights = _packing(n, Z.dtype, Z.device)
    return Z.reshape(Z.shape[:-2] + (n * n,))[..., upper] * weights


def smat(v: torch.Tensor, n: int) -> torch.Tensor:
    """The inverse of :func:`svec`: shape (…, n(n+1)/2) → symmetric (…, n, n)."""
    p = n * (n + 1) // 2
    if v.shape[-1] != p:
        raise ValueError(f"v must have n(n+1)/2 = {p} entries in its last axis; got {v.shape[-1]}")
    _, full, weights = _packing(n, v.dtype, v.device)
    return (v / weights)[..., full].reshape(v.shape[:-1] + (n, n))


def _pick_block(p: int, element_size: int, block_bytes: int) -> int:
    return max(8, block_bytes // max(1, p * element_size))


@dataclass(frozen=True)
class _Operator:
    M: torch.Tensor  # (m, p): row i is the flattened A_i divided by √m
    block_rows: int  # rows of M per block in residual_and_adjoint (one run; see the module)
    backend: str = field(default="auto", kw_only=True)  # "auto", "torch" or "numpy"

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}; got {self.backend!r}")
        if self.backend == "numpy" and (
                self.M.device.type != "cpu" or self.M.dtype not in (torch.float32, torch.float64)):
            raise ValueError("backend='numpy' needs a float32 or float64 operator on the CPU; "
                             f"got {self.M.dtype} on {self.M.device}")

    @property
    def m(self) -> int:
        return self.M.shape[0]

    @property
    def nbytes(self) -> int:
        """The memory the stored operator takes, in bytes."""
        return self.M.numel() * self.M.element_size()

    def _flat_measure(self, z: torch.Tensor) -> torch.Tensor:
        if self.streams_with_numpy(z):
            return torch.from_numpy(z.numpy() @ self.M.numpy().T)
        return z @ self.M.T

    def _flat_adjoint(self, r: torch.Tensor) -> torch.Tensor:
        if self.streams_with_numpy(r):
            return torch.from_numpy(r.numpy() @ self.M.numpy())
        return r @ self.M

    def _flat_residual_and_adjoint(self, z: torch.Tensor, y: torch.Tensor):
        """Flattened (…, p) z → (A(z) − y of shape (…, m), A*(A(z) − y) of shape (…, p))."""
        if y.shape != (self.m,):
            raise ValueError(f"y must have shape (m,) = ({self.m},); got {tuple(y.shape)}")
        lead = z.shape[:-1]
        z2 = z.reshape(-1, z.shape[-1])
        if self.streams_with_numpy(z2):
            residual, adjoint = _stream_numpy(self.M, z2, y, self.block_rows)
            return residual.reshape(lead + (self.m,)), adjoint.reshape(z.shape)
        if self.block_rows >= self.m:
            residual = z2 @ self.M.T - y
            return residual.reshape(lead + (self.m,)), (residual @ self.M).reshape(z.shape)
        residual = z2.new_empty((z2.shape[0], self.m))
        adjoint = z2.new_zeros(z2.shape)
        for start in range(0, self.m, self.block_rows):
            block = self.M[start:start + self.block_rows]  # read once from memory ...
            res = (z2 @ block.T).sub_(y[start:start + self.block_rows])
            residual[:, start:start + self.block_rows] = res
            adjoint.addmm_(res, block)  # ... and used again while in cache
        return residual.reshape(lead + (self.m,)), adjoint.reshape(z.shape)

    def streams_with_numpy(self, like: torch.Tensor | None = None) -> bool:
        """Whether ``residual_and_adjoint`` streams with numpy for inputs like ``like``.

        ``like`` defaults to an input of the operator's own dtype and device without gradient
        tracking, as in factorized gradient descent.
        """
        if like is not None and like.requires_grad:
            if self.backend == "numpy":
                raise ValueError("backend='numpy' cannot track gradients; use backend='torch' "
                                 "or pass a detached input")
            return False
        if self.backend == "torch":
            return False
        if like is not None and (like.device != self.M.device or like.dtype != self.M.dtype):
            return False  # torch raises its own clear error for a mismatched input
        return self.backend == "numpy" or (
            self.M.device.type == "cpu" and self.M.dtype in (torch.float32, torch.float64)
            and self.nbytes >= NUMPY_STREAM_BYTES)


def _stream_numpy(M: torch.Tensor, z2: torch.Tensor, y: torch.Tensor, block_rows: int):
    """The one-pass residual and adjoint of ``_flat_residual_and_adjoint`` with numpy's BLAS.

    M (m, p), z2 (K, p), y (m,) share memory with numpy (no copies of M); blocks are
    ``block_rows · max(1, K // 2)`` rows tall.
    """
    Mn, zn = M.numpy(), np.ascontiguousarray(z2.detach().numpy())
    yn = y.detach().numpy()
    m, K = Mn.shape[0], zn.shape[0]
    rows = block_rows * max(1, K // 2)
    residual = np.empty((K, m), dtype=Mn.dtype)
    adjoint = np.zeros(zn.shape, dtype=Mn.dtype)
    for start in range(0, m, rows):
        block = Mn[start:start + rows]  # read once from memory ...
        res = zn @ block.T  # contiguous: a strided output would leave BLAS
        res -= yn[start:start + rows]
        residual[:, start:start + rows] = res
        adjoint += res @ block  # ... and used again while in cache
    return torch.from_numpy(residual), torch.from_numpy(adjoint)


@dataclass(frozen=True)
class SymmetricOperator(_Operator):
    """A(Z) = (1/√m)(⟨A_i, Z⟩)_i for symmetric A_i, stored as M = [svec(A_i)/√m]_i, (m, n(n+1)/2).

    Memory: ``m·n(n+1)/2·element_size`` bytes (see ``nbytes``). Device and dtype are those
    of ``M``; inputs must match them.
    """

    n: int = 0

    def measure(self, Z: torch.Tensor) -> torch.Tensor:
        """A(Z) for symmetric Z of shape (n, n) or (K, n, n) → (m,) or (K, m)."""
        return self._flat_measure(svec(Z))

    def adjoint(self, r: torch.Tensor) -> torch.Tensor:
        """A*(r) = (1/√m) Σ r_i A_i for r of shape (m,) or (K, m) → (n, n) or (K, n, n)."""
        return smat(self._flat_adjoint(r), self.n)

    def residual_and_adjoint(self, Z: torch.Tensor, y: torch.Tensor):
        """(A(Z) − y, A*(A(Z) − y)) in one pass over the operator; Z (…, n, n) symmetric."""
        residual, adj = self._flat_residual_and_adjoint(svec(Z), y)
        return residual, smat(adj, self.n)

    def dense(self) -> torch.Tensor:
        """The (m, n, n) tensor of the A_i (for tests and small sizes only)."""
        return smat(self.M, self.n) * math.sqrt(self.m)

    @classmethod
    def from_dense(cls, A: torch.Tensor, *, block_bytes: int = 4 << 20,
                   backend: str = "auto") -> "SymmetricOperator":
        """Pack an (m, n, n) tensor of symmetric A_i (e.g. :mod:`beyondlazy.sensing`'s)."""
        if A.ndim != 3 or A.shape[1] != A.shape[2]:
            raise ValueError(f"A must have shape (m, n, n); got {tuple(A.shape)}")
        if not torch.allclose(A, A.transpose(1, 2)):
            raise ValueError("A must hold symmetric matrices A_i = A_iᵀ")
        m, n = A.shape[0], A.shape[1]
        M = (svec(A) / math.sqrt(m)).contiguous()
        return cls(M, _pick_block(M.shape[1], M.element_size(), block_bytes), n, backend=backend)


@dataclass(frozen=True)
class AsymmetricOperator(_Operator):
    """A(Z) = (1/√m)(⟨A_i, Z⟩)_i for Gaussian A_i ∈ R^{d1×d2}, stored as M = [vec(A_i)/√m]_i.

    Memory: ``m·d1·d2·element_size`` bytes (see ``nbytes``).
    """

    d1: int = 0
    d2: int = 0

    def measure(self, Z: torch.Tensor) -> torch.Tensor:
        """A(Z) for Z of shape (d1, d2) or (K, d1, d2) → (m,) or (K, m)."""
        return self._flat_measure(Z.reshape(Z.shape[:-2] + (-1,)))

    def adjoint(self, r: torch.Tensor) -> torch.Tensor:
        """A*(r) = (1/√m) Σ r_i A_i for r of shape (m,) or (K, m) → (d1, d2) or (K, d1, d2)."""
        return self._flat_adjoint(r).reshape(r.shape[:-1] + (self.d1, self.d2))

    def residual_and_adjoint(self, Z: torch.Tensor, y: torch.Tensor):
        """(A(Z) − y, A*(A(Z) − y)) in one pass over the operator; Z of shape (…, d1, d2)."""
        residual, adj = self._flat_residual_and_adjoint(Z.reshape(Z.shape[:-2] + (-1,)), y)
        return residual, adj.reshape(Z.shape)

    def dense(self) -> torch.Tensor:
        """The (m, d1, d2) tensor of the A_i (for tests and small sizes only)."""
        return self.M.reshape(self.m, self.d1, self.d2) * math.sqrt(self.m)

    @classmethod
    def from_dense(cls, A: torch.Tensor, *, block_bytes: int = 4 << 20,
                   backend: str = "auto") -> "AsymmetricOperator":
        """Store an (m, d1, d2) tensor of sensing matrices."""
        if A.ndim != 3:
            raise ValueError(f"A must have shape (m, d1, d2); got {tuple(A.shape)}")
        m, d1, d2 = A.shape
        M = (A.reshape(m, d1 * d2) / math.sqrt(m)).contiguous()
        return cls(M, _pick_block(M.shape[1], M.element_size(), block_bytes), d1, d2,
                   backend=backend)


def _block_rows(block_rows, p, dtype, block_bytes, device):
    if block_rows is not None:
        return check_int("block_rows", block_rows, minimum=1)
    if torch.device(device or "cpu").type != "cpu":
        return 1 << 62  # on a GPU two large GEMMs beat a loop of small ones
    return _pick_block(p, torch.empty((), dtype=dtype).element_size(), block_bytes)


def symmetric_operator(
    n: int, m: int, gen: torch.Generator, *, dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None, block_rows: int | None = None,
    block_bytes: int = 4 << 20, backend: str = "auto",
) -> SymmetricOperator:
    """Draw A_i = (G_i + G_iᵀ)/2 (G_i with i.i.d. N(0, 1) entries), i = 1…m, stored packed.

    Rows are drawn from ``gen`` in chunks of ``DRAW_CHUNK`` in float64 on the CPU, then cast
    and moved, so the numbers depend only on the generator's state. ``block_rows`` (default:
    about ``block_bytes`` of rows on a CPU, all rows on a GPU) sets the streaming block of
    ``SymmetricOperator.residual_and_adjoint`` for one run, and ``backend`` the engine of that
    pass on a CPU (``"auto"``, ``"torch"`` or ``"numpy"``; see the module).
    """
    n = check_int("n", n, minimum=1)
    m = check_int("m", m, minimum=1)
    p = n * (n + 1) // 2
    M = torch.empty((m, p), dtype=dtype, device=device)
    for start in range(0, m, DRAW_CHUNK):
        rows = min(DRAW_CHUNK, m - start)
        G = rng.randn((rows, n, n), gen, dtype=torch.float64)
        M[start:start + rows] = (svec((G + G.transpose(1, 2)) / 2) / math.sqrt(m)).to(
            dtype=dtype, device=device)
    return SymmetricOperator(M, _block_rows(block_rows, p, dtype, block_bytes, device), n,
                             backend=backend)


def asymmetric_operator(
    d1: int, d2: int, m: int, gen: torch.Generator, *, dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None, block_rows: int | None = None,
    block_bytes: int = 4 << 20, backend: str = "auto",
) -> AsymmetricOperator:
    """Draw Gaussian A_i ∈ R^{d1×d2} (i.i.d. N(0, 1) entries), i = 1…m, stored as vec(A_i)/√m.

    ``block_rows``, ``block_bytes`` and ``backend`` as in :func:`symmetric_operator`.
    """
    d1 = check_int("d1", d1, minimum=1)
    d2 = check_int("d2", d2, minimum=1)
    m = check_int("m", m, minimum=1)
    M = torch.empty((m, d1 * d2), dtype=dtype, device=device)
    for start in range(0, m, DRAW_CHUNK):
        rows = min(DRAW_CHUNK, m - start)
        G = rng.randn((rows, d1 * d2), gen, dtype=torch.float64)
        M[start:start + rows] = (G / math.sqrt(m)).to(dtype=dtype, device=device)
    return AsymmetricOperator(M, _block_rows(block_rows, d1 * d2, dtype, block_bytes, device),
                              d1, d2, backend=backend)
