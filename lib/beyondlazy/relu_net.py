"""The two-layer ReLU network with biases of Chapter 4, its hand-written gradient, and its kernels.

    f_θ(x) = aᵀ σ(Wx + b) = Σ_j a_j σ(w_jᵀx + b_j),     σ(z) = max(z, 0),
    L(θ) = (1/n) Σ_i (f_θ(x_i) − y_i)²                  (no ½, as in Damian et al.),

with W ∈ R^{m×d} (row j = w_j), b ∈ R^m, a ∈ R^m, held in the named tuple :class:`ReLUNet`
(W, b, a). There is no output scaling: the scale lives in the initialization.

The *symmetric initialization* of Damian, Lee and Soltanolkotabi (COLT 2022) pairs neuron j with
neuron j + m/2: a_{j+m/2} = −a_j, w_{j+m/2} = w_j, b_{j+m/2} = b_j, with a_j ~ Unif{±1},
w_j ~ N(0, I_d/d), so that f_θ0 ≡ 0 exactly.

The gradient (hand-written; :func:`loss_and_grad`). With x̃ = (x, 1), w̃_j = (w_j, b_j),
z_ij = w̃_jᵀx̃_i, residual r_i = f(x_i) − y_i and R_ij = 1(z_ij > 0) r_i, let P = (2/n) Rᵀ X̃
(shape m × (d + 1)). Then, because σ(z) = 1(z > 0)·z,

    ∇_{w_j} L = a_j P_{j, :d},   ∇_{b_j} L = a_j P_{j, d},   ∇_{a_j} L = w̃_jᵀ P_j.

One step costs two GEMMs (Zᵀ = W̃X̃ᵀ, inner dimension d + 1, and RᵀX̃, inner dimension n) and a
few elementwise passes over the n × m activations; the samples are processed in chunks so that
each chunk of activations stays (nearly) in cache.

Two kernel baselines at equal width m (Chapter 4): *random features* σ(W_0x + b_0) (first layer
frozen at a random init, only a trained), and the *neural tangent kernel* features ∇_θ f_θ0(x)
of the linearized network at the symmetric init (f_θ0 ≡ 0, so f_lin(x) = ∇_θf_θ0(x)ᵀ(θ − θ0)).

Notation: n samples, d input dimension, m width. Used in Chapter 4.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch

from . import rng
from .validation import check_int, check_positive, check_same_device, check_shape

__all__ = [
    "ReLUNet",
    "flatten",
    "loss",
    "loss_and_grad",
    "make_loss_and_grad",
    "ntk_features",
    "random_features",
    "relu_net",
    "symmetric_init",
    "unflatten",
]


class ReLUNet(NamedTuple):
    """The parameters θ = (W, b, a) of f_θ(x) = aᵀσ(Wx + b)."""

    W: torch.Tensor  # (m, d) first-layer weights, row j = w_j
    b: torch.Tensor  # (m,) biases
    a: torch.Tensor  # (m,) second-layer (head) weights


def _check_params(params: ReLUNet) -> tuple[int, int]:
    W, b, a = params
    check_shape("W", W, (None, None))
    check_shape("b", b, (W.shape[0],))
    check_shape("a", a, (W.shape[0],))
    return W.shape


def relu_net(params: ReLUNet, X: torch.Tensor) -> torch.Tensor:
    """f_θ(x) = aᵀσ(Wx + b) for each row of X (n, d); shape (n,). Autograd/torch.func friendly."""
    W, b, a = params
    return torch.relu(X @ W.T + b) @ a


def loss(params: ReLUNet, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L(θ) = (1/n) Σ (f_θ(x_i) − y_i)², written with plain tensor ops (the autograd reference)."""
    return ((relu_net(params, X) - y) ** 2).mean()


def flatten(params: ReLUNet) -> torch.Tensor:
    """θ = (vec W, b, a), W row by row: the order of the columns of :func:`ntk_features`."""
    W, b, a = params
    return torch.cat([W.reshape(-1), b, a])


def unflatten(theta: torch.Tensor, m: int, d: int) -> ReLUNet:
    """Inverse of :func:`flatten` for width m and input dimension d (views, no copy)."""
    check_shape("theta", theta, (m * d + 2 * m,))
    md = m * d
    return ReLUNet(theta[:md].reshape(m, d), theta[md:md + m], theta[md + m:])


def symmetric_init(
    d: int, m: int, *, seed: int, scale: float = 1.0, bias_std: float = 0.0,
    dtype: torch.dtype = torch.float64, device: torch.device | str | None = None,
) -> ReLUNet:
    """The symmetric init of Damian et al.: f_θ0 ≡ 0 (see the module docstring).

    a_j = ±scale (fair signs), w_j ~ N(0, scale² I_d/d), b_j ~ N(0, bias_std²) (the paper: 0),
    and neuron j + m/2 copies neuron j with the opposite a. ``m`` must be even.
    """
    d = check_int("d", d, minimum=1)
    m = check_int("m", m, minimum=2)
    if m % 2:
        raise ValueError(f"m must be an even integer (neurons come in pairs); got {m}")
    scale = check_positive("scale", scale)
    bias_std = check_positive("bias_std", bias_std, allow_zero=True)
    gen = rng.generator(seed)
    half = m // 2
    W = rng.randn((half, d), gen) * (scale / math.sqrt(d))
    a = (2 * (rng.rand((half,), gen) < 0.5).double() - 1) * scale
    b = rng.randn((half,), gen) * bias_std
    out = dict(dtype=dtype, device=device)
    return ReLUNet(torch.cat([W, W]).to(**out), torch.cat([b, b]).to(**out), torch.cat([a, -a]).to(**out))


def make_loss_and_grad(
    X: torch.Tensor, y: torch.Tensor, *, chunk: int | None = None, workers: int = 1,
) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, tuple[torch.Tensor, ...]]]:
    """``loss_and_grad(W, b, a) -> (L, (∇_W L, ∇_b L, ∇_a L))`` on fixed data, hand-written.

    The form :func:`beyondlazy.gd.gradient_descent` takes (see the module docstring for the
    formulas). X̃ = (X, 1) and its transpose are stored once here. Each call streams over the n
    samples in chunks of ``chunk`` columns of the transposed activations Zᵀ = W̃X̃ᵀ (m × chunk):
    in this layout both GEMMs read contiguous operands (Zᵀ = W̃·X̃ᵀ_chunk and P += R_chunkᵀ·X̃_chunk
    with R_chunkᵀ stored as m × chunk), which on a CPU runs markedly faster than the
    row-major layout. Results follow the device and dtype of X.

    Parameters
    ----------
    X : Tensor, shape (n, d)
    y : Tensor, shape (n,)
    chunk : int, optional
        Samples per chunk (≥ 1). Default: 2^20/m on a CPU (2^20 activations, 4 MB in float32;
        the fastest in ``benchmarks/bench_two_layer_step.py``), all n at once on a GPU.
    workers : int
        CPU only: split the samples into this many blocks handled by as many Python threads
        (torch releases the GIL inside its kernels), each with its own chunk loop; the partial
        gradients are summed. 1 (the default) uses torch's own intra-op threads only.
    """
    check_shape("X", X, (None, None))
    check_shape("y", y, (X.shape[0],))
    check_same_device(X=X, y=y)
    n, d = X.shape
    Xt = torch.cat([X, torch.ones(n, 1, dtype=X.dtype, device=X.device)], 1).contiguous()
    XtT = Xt.T.contiguous()  # (d + 1, n)
    y = y.to(X.dtype)
    if chunk is not None:
        chunk = check_int("chunk", chunk, minimum=1)
    workers = check_int("workers", workers, minimum=1)
    pool = None
    if workers > 1:
        if X.device.type != "cpu":
            raise ValueError(f"workers must be 1 on device {X.device}; got {workers}")
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(workers)

    def block(Wt: torch.Tensor, a: torch.Tensor, lo: int, hi: int, rows: int):
        m = Wt.shape[0]
        P = torch.zeros(m, d + 1, dtype=X.dtype, device=X.device)
        total = torch.zeros((), dtype=X.dtype, device=X.device)
        ZT = torch.empty(m, min(rows, hi - lo), dtype=X.dtype, device=X.device)
        for start in range(lo, hi, rows):
            stop = min(start + rows, hi)
            Zc = ZT if stop - start == ZT.shape[1] else torch.empty(m, stop - start, dtype=X.dtype,
                                                                        device=X.device)
            torch.mm(Wt, XtT[:, start:stop], out=Zc)  # z_ij = w̃_jᵀx̃_i, as (m, chunk)
            Zc.clamp_(min=0)  # σ(z), in place
            r = torch.mv(Zc.T, a) - y[start:stop]  # residuals of this chunk
            total += r @ r
            Zc.gt_(0).mul_(r)  # R_ijᵀ = 1(z_ij > 0) r_i, in place
            P.addmm_(Zc, Xt[start:stop])  # P += Rᵀ X̃
        return P, total

    def loss_and_grad(W: torch.Tensor, b: torch.Tensor, a: torch.Tensor):
        m = W.shape[0]
        rows = chunk or (max(64, (1 << 20) // m) if X.device.type == "cpu" else n)
        Wt = torch.cat([W, b[:, None]], 1).contiguous()  # (m, d + 1): w̃_j
        if pool is None:
            P, total = block(Wt, a, 0, n, rows)
        else:
            bounds = [n * k // workers for k in range(workers + 1)]
            parts = [pool.submit(block, Wt, a, lo, hi, rows)
                     for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]
            results = [part.result() for part in parts]
            P = sum(r[0] for r in results)
            total = sum(r[1] for r in results)
        P *= 2.0 / n
        grad_W = a[:, None] * P[:, :d]
        grad_b = a * P[:, d]
        grad_a = (Wt * P).sum(1)
        return total / n, (grad_W, grad_b, grad_a)

    return loss_and_grad


def loss_and_grad(
    params: ReLUNet, X: torch.Tensor, y: torch.Tensor, *, chunk: int | None = None, workers: int = 1,
):
    """L(θ) and ∇L(θ) as a :class:`ReLUNet` of gradients (hand-written, see :func:`make_loss_and_grad`)."""
    _check_params(params)
    value, grads = make_loss_and_grad(X, y, chunk=chunk, workers=workers)(*params)
    return value, ReLUNet(*grads)


def random_features(W: torch.Tensor, b: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """σ(XWᵀ + b): the n × m feature matrix of a frozen first layer (random features)."""
    check_shape("W", W, (None, X.shape[-1]))
    check_shape("b", b, (W.shape[0],))
    return torch.relu(torch.addmm(b, X, W.T))


def ntk_features(params: ReLUNet, X: torch.Tensor) -> torch.Tensor:
    """∇_θ f_θ(x_i) for each row of X, in the order of :func:`flatten`: shape (n, m·d + 2m).

    Row i is ( a_j 1(z_ij > 0) x_i  for j = 1…m  |  a_j 1(z_ij > 0)  |  σ(z_ij) ), z_ij = w_jᵀx_i + b_j:
    the explicit features of the neural tangent kernel K(x, x') = ∇_θf(x)ᵀ∇_θf(x') of the network.
    """
    m, d = _check_params(params)
    check_shape("X", X, (None, d))
    W, b, a = params
    Z = torch.addmm(b, X, W.T)
    gate = (Z > 0).to(X.dtype) * a  # a_j 1(z_ij > 0)
    grad_W = (gate[:, :, None] * X[:, None, :]).reshape(X.shape[0], m * d)
    return torch.cat([grad_W, gate, torch.relu(Z)], 1)
