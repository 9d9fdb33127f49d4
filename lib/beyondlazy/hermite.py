"""Hermite polynomials under the Gaussian measure, Hermite tensors, and Stein's lemma.

Conventions (stated once here; Chapter 4 uses them throughout):

* He_k are the *probabilists'* Hermite polynomials, He_0 = 1, He_1(z) = z,
  He_{k+1}(z) = z He_k(z) − k He_{k−1}(z), orthogonal under z ~ N(0, 1) with E He_k(z)² = k!.
  The *normalized* ones are h_k = He_k/√k! (orthonormal).
* In d dimensions, x ~ N(0, I_d), the Hermite tensors are S_0 = 1, S_1(x) = x,
  S_2(x) = xxᵀ − I, and in general S_t(x) = (−1)^t ∇^t φ(x)/φ(x) (φ the Gaussian density); they
  satisfy S_{t+1}(x)_{i J} = x_i S_t(x)_J − Σ_k δ_{i j_k} S_{t−1}(x)_{J∖j_k}. They are *not*
  normalized: E[⟨A, S_t(x)⟩²] = t! ‖A‖² for a symmetric tensor A.
* Stein's lemma (Gaussian integration by parts, t times): E[f(x) S_t(x)] = E[∇^t f(x)].
  Hence, for f with E f² < ∞, the Hermite expansion

      f(x) = Σ_{t≥0} ⟨E[∇^t f], S_t(x)⟩ / t!        (in L²(N(0, I_d))),

  whose degree-t term has variance ‖E ∇^t f‖²/t!.

Notation: d input dimension, n samples, t tensor order, k polynomial degree.

Reference: Damian, Lee and Soltanolkotabi (COLT 2022), Section 4 and Lemma 4. Used in Chapter 4.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from .validation import check_int, check_shape

__all__ = [
    "expected_derivative",
    "gauss_hermite",
    "half_line_moment",
    "hermite",
    "hermite_all",
    "hermite_expansion",
    "hermite_tensor",
    "normalized_hermite",
    "stein_moment",
]


def hermite_all(k_max: int, z: torch.Tensor) -> torch.Tensor:
    """He_0(z), …, He_{k_max}(z) by the three-term recurrence; shape ``z.shape + (k_max + 1,)``.

    He_{k+1}(z) = z He_k(z) − k He_{k−1}(z) (probabilists' convention, E He_k² = k!).
    """
    k_max = check_int("k_max", k_max, minimum=0)
    values = [torch.ones_like(z)]
    if k_max >= 1:
        values.append(z.clone())
    for k in range(1, k_max):
        values.append(z * values[k] - k * values[k - 1])
    return torch.stack(values, dim=-1)


def hermite(k: int, z: torch.Tensor) -> torch.Tensor:
    """The probabilists' Hermite polynomial He_k(z), elementwise (E He_k(z)² = k! for z ~ N(0, 1))."""
    return hermite_all(check_int("k", k, minimum=0), z)[..., k]


def normalized_hermite(k: int, z: torch.Tensor) -> torch.Tensor:
    """h_k(z) = He_k(z)/√k!, elementwise: orthonormal under N(0, 1)."""
    return hermite(k, z) / math.sqrt(math.factorial(k))


def gauss_hermite(
    n_nodes: int, *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes z_i and weights w_i with Σ w_i p(z_i) = E p(z), z ~ N(0, 1), exact for deg p < 2·n_nodes.

    The weights sum to 1 (the probabilists' rule of numpy's ``hermegauss``, divided by √(2π)).
    Returns ``(nodes, weights)``, each of shape (n_nodes,).
    """
    n_nodes = check_int("n_nodes", n_nodes, minimum=1)
    nodes, weights = np.polynomial.hermite_e.hermegauss(n_nodes)
    weights = weights / math.sqrt(2 * math.pi)
    as_tensor = dict(dtype=dtype, device=device or "cpu")
    return torch.tensor(nodes, **as_tensor), torch.tensor(weights, **as_tensor)


def half_line_moment(k: int) -> float:
    """E[z^k 1(z ≥ 0)] for z ~ N(0, 1), in closed form.

    Even k: (k − 1)!!/2 (half of the full moment). Odd k = 2j + 1: 2^j j!/√(2π).
    """
    k = check_int("k", k, minimum=0)
    if k % 2 == 0:
        return math.prod(range(k - 1, 0, -2)) / 2
    j = (k - 1) // 2
    return 2**j * math.factorial(j) / math.sqrt(2 * math.pi)


def hermite_tensor(t: int, x: torch.Tensor) -> torch.Tensor:
    """The Hermite tensor S_t(x) for each row of x; shape (n, d, …, d) with t axes of length d.

    S_0 = 1, S_1(x) = x, S_2(x) = xxᵀ − I, and
    S_{t+1}(x)_{i J} = x_i S_t(x)_J − Σ_k δ_{i j_k} S_{t−1}(x)_{J∖j_k}. Memory n·d^t: meant for
    small d and t ≤ 4.

    Parameters
    ----------
    t : int
        The order (≥ 0).
    x : Tensor, shape (n, d)
    """
    t = check_int("t", t, minimum=0)
    check_shape("x", x, (None, None))
    n, d = x.shape
    eye = torch.eye(d, dtype=x.dtype, device=x.device)
    previous, current = None, torch.ones(n, dtype=x.dtype, device=x.device)
    for order in range(t):
        # current = S_order (order axes), previous = S_{order−1}
        nxt = x.reshape((n, d) + (1,) * order) * current.unsqueeze(1)
        if order >= 1:
            for k in range(order):
                # δ_{i j_k} S_{order−1}(x)_{J∖j_k}: insert the identity on axes (i, j_k)
                term = previous
                # previous has axes (n, j_1..j_{order−1} without j_k); build (n, i, j_1..j_order)
                shape_prev = list(term.shape)
                term = term.reshape(shape_prev[:1] + [1] + shape_prev[1:])
                term = term.unsqueeze(2 + k)  # the j_k axis
                delta_shape = [1, d] + [1] * order
                delta_shape[2 + k] = d
                nxt = nxt - term * eye.reshape(delta_shape)
        previous, current = current, nxt
    return current


def stein_moment(f_values: torch.Tensor, x: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Monte Carlo estimate of E[f(x) S_t(x)] and its standard error, for t ∈ {0, 1, 2}.

    By Stein's lemma this estimates E[∇^t f]: E[f(x) x] = E[∇f] and
    E[f(x)(xxᵀ − I)] = E[∇²f]. For t ≤ 2 the n × d^t products are formed in chunks.

    Parameters
    ----------
    f_values : Tensor, shape (n,)
        f(x_i) on the samples.
    x : Tensor, shape (n, d)
        i.i.d. N(0, I_d) samples.
    t : int
        0, 1 or 2.

    Returns
    -------
    (estimate, standard_error), each of shape (d,)*t.
    """
    t = check_int("t", t, minimum=0, maximum=2)
    check_shape("x", x, (None, None))
    check_shape("f_values", f_values, (x.shape[0],))
    n, d = x.shape
    total = torch.zeros((d,) * t, dtype=x.dtype, device=x.device)
    square = torch.zeros_like(total)
    chunk = max(1, 2**22 // max(1, d**t))
    for start in range(0, n, chunk):
        xc, fc = x[start:start + chunk], f_values[start:start + chunk]
        if t == 0:
            terms = fc
        elif t == 1:
            terms = fc[:, None] * xc
        else:
            terms = fc[:, None, None] * (xc[:, :, None] * xc[:, None, :]
                                          - torch.eye(d, dtype=x.dtype, device=x.device))
        total += terms.sum(0)
        square += (terms**2).sum(0)
    mean = total / n
    variance = (square / n - mean**2).clamp(min=0) * n / max(n - 1, 1)
    return mean, (variance / n).sqrt()


def expected_derivative(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, t: int) -> torch.Tensor:
    """Monte Carlo estimate of E[∇^t f(x)] by automatic differentiation, t ∈ {0, 1, 2}.

    ``f`` maps one input of shape (d,) to a scalar and is built from tensor operations;
    derivatives come from ``torch.func`` (``grad``/``hessian``) vectorized over the samples.
    Returns a tensor of shape (d,)*t: the left-hand side of Stein's identity.
    """
    t = check_int("t", t, minimum=0, maximum=2)
    check_shape("x", x, (None, None))
    if t == 0:
        values = torch.func.vmap(f)(x)
    elif t == 1:
        values = torch.func.vmap(torch.func.grad(f))(x)
    else:
        values = torch.func.vmap(torch.func.hessian(f))(x)
    return values.mean(0)


def hermite_expansion(coefficients: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Σ_t ⟨C_t, S_t(x)⟩/t! for each row of x, given C_t = E[∇^t f] for t = 0, …, T.

    The truncated Hermite expansion of f (exact for a polynomial of degree ≤ T).
    ``coefficients[t]`` has shape (d,)*t; returns shape (n,).
    """
    check_shape("x", x, (None, None))
    value = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    for t, C in enumerate(coefficients):
        S = hermite_tensor(t, x)
        value = value + (S.reshape(x.shape[0], -1) @ C.reshape(-1)) / math.factorial(t)
    return value
