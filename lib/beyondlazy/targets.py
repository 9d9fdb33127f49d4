"""Gaussian inputs and multi-index polynomial targets f*(x) = g(Ux), with label noise.

The learning problem of Chapter 4 (Damian, Lee and Soltanolkotabi, COLT 2022, Section 3):

    x ~ N(0, I_d),   y = f*(x) + ε,   f*(x) = g(Ux),

with U ∈ R^{r×d} orthonormal rows (r ≪ d, "span(Uᵀ)" the subspace f* depends on), g a polynomial
of degree p normalized to E f*(x)² = 1, and label noise ε independent of x (Rademacher ±ς, as in
the paper, or Gaussian N(0, ς²)). A *single-index* target is the case r = 1.

Targets are small immutable records holding U and g, so that every quantity of the chapter can be
computed from them exactly: the variance E f*², the matrix H = E[∇²f*] = Uᵀ E[∇²g(z)] U and the
degree-t Hermite coefficients, by Gauss–Hermite quadrature in r dimensions (:mod:`beyondlazy.hermite`).

Notation: n samples, d input dimension, r index dimension, p degree, ς noise level.
Used in Chapter 4.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from . import rng
from .hermite import gauss_hermite, hermite
from .validation import check_choice, check_int, check_positive, check_shape

__all__ = [
    "IndexTarget",
    "damian_target",
    "gaussian_inputs",
    "multi_index_target",
    "noisy_labels",
    "orthonormal_rows",
    "single_index_target",
    "transfer_target",
]


@dataclass(frozen=True, eq=False)
class IndexTarget:
    """f*(x) = scale · g(Ux): a multi-index target (see the module docstring).

    Call it on inputs of shape (n, d) (or (d,)) to get f*(x). ``g`` acts on z = Ux of shape
    (…, r) and is built from tensor operations (so that ``torch.func`` can differentiate f*).
    """

    U: torch.Tensor  # (r, d) orthonormal rows: the index directions
    g: Callable[[torch.Tensor], torch.Tensor] = field(repr=False)  # link g: (…, r) -> (…)
    degree: int  # p, the degree of the polynomial g
    name: str  # a readable formula, for legends
    scale: float = 1.0  # normalization constant making E f*² = 1

    @property
    def r(self) -> int:
        return self.U.shape[0]

    @property
    def d(self) -> int:
        return self.U.shape[1]

    def link(self, z: torch.Tensor) -> torch.Tensor:
        """scale · g(z) for z of shape (…, r)."""
        return self.scale * self.g(z)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.d:
            raise ValueError(f"x must have last axis of length d = {self.d}; got shape {tuple(x.shape)}")
        return self.link(x @ self.U.to(dtype=x.dtype, device=x.device).T)

    def _quadrature(self):
        """Tensor-product Gauss–Hermite rule in r dimensions, exact for this degree."""
        nodes, weights = gauss_hermite(self.degree + 2, dtype=torch.float64)
        grid = torch.tensor(list(itertools.product(nodes.tolist(), repeat=self.r)), dtype=torch.float64)
        w = torch.tensor([math.prod(c) for c in itertools.product(weights.tolist(), repeat=self.r)],
                         dtype=torch.float64)
        return grid, w

    def second_moment(self) -> float:
        """E f*(x)² (exact, by quadrature); 1 for every target built by this module."""
        z, w = self._quadrature()
        return float((w * self.link(z) ** 2).sum())

    def mean(self) -> float:
        """E f*(x) (exact)."""
        z, w = self._quadrature()
        return float((w * self.link(z)).sum())

    def expected_gradient(self) -> torch.Tensor:
        """E[∇f*(x)] = Uᵀ E[∇(scale·g)(z)], shape (d,), float64 (exact by quadrature)."""
        z, w = self._quadrature()
        grad = torch.func.vmap(torch.func.grad(lambda v: self.link(v)))(z)
        return (w[:, None] * grad).sum(0) @ self.U.to(torch.float64).cpu()

    def expected_hessian(self) -> torch.Tensor:
        """H = E[∇²f*(x)] = Uᵀ E[∇²(scale·g)(z)] U, shape (d, d), float64 (exact by quadrature)."""
        z, w = self._quadrature()
        hess = torch.func.vmap(torch.func.hessian(lambda v: self.link(v)))(z)
        inner = (w[:, None, None] * hess).sum(0)
        U = self.U.to(torch.float64).cpu()
        return U.T @ inner @ U


def gaussian_inputs(
    n: int, d: int, *, seed: int, dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """n i.i.d. inputs x ~ N(0, I_d): shape (n, d)."""
    n = check_int("n", n, minimum=1)
    d = check_int("d", d, minimum=1)
    return rng.randn((n, d), rng.generator(seed), dtype=dtype, device=device)


def orthonormal_rows(r: int, d: int, *, seed: int | None = None) -> torch.Tensor:
    """U ∈ R^{r×d} with orthonormal rows: the first r coordinate axes if ``seed`` is None, else
    a uniformly random r-frame (QR of a Gaussian matrix). float64 on the CPU."""
    d = check_int("d", d, minimum=1)
    r = check_int("r", r, minimum=1, maximum=d)
    if seed is None:
        return torch.eye(d, dtype=torch.float64)[:r]
    q, _ = torch.linalg.qr(rng.randn((d, r), rng.generator(seed)))
    return q.T.contiguous()


def single_index_target(d: int, coefficients: dict[int, float], *, u: torch.Tensor | None = None,
                        name: str | None = None) -> IndexTarget:
    """f*(x) = Σ_k c_k He_k(uᵀx), normalized to E f*² = 1 (u = e_1 by default).

    ``coefficients`` maps the degree k to c_k; E f*² = Σ_k c_k² k!, and the target is rescaled
    by 1/√(Σ_k c_k² k!) (a no-op for the course's targets, which have unit variance already).
    """
    d = check_int("d", d, minimum=1)
    if not coefficients or any(check_int("degree", k, minimum=0) < 0 for k in coefficients):
        raise ValueError(f"coefficients must map degrees k >= 0 to numbers; got {coefficients!r}")
    U = orthonormal_rows(1, d) if u is None else (u / torch.linalg.vector_norm(u)).reshape(1, d).double().cpu()
    variance = sum(c**2 * math.factorial(k) for k, c in coefficients.items())
    check_positive("sum of c_k² k!", variance)
    terms = dict(coefficients)

    def g(z: torch.Tensor) -> torch.Tensor:
        z1 = z[..., 0]
        return sum(c * hermite(k, z1) for k, c in terms.items())

    label = name or " + ".join(f"{c:.3g} He{k}" for k, c in terms.items())
    return IndexTarget(U=U, g=g, degree=max(terms), name=label, scale=1 / math.sqrt(variance))


def damian_target(d: int) -> IndexTarget:
    """f*(x) = He₂(x₁)/2 + He₄(x₁)/(4√3): the target of Damian et al.'s Figure 1 (p = 4, E f*² = 1).

    Its Hermite coefficients are E∇²f* = H = e₁e₁ᵀ (rank r = 1) and E∇⁴f* = 2√3 e₁^{⊗4}; the
    He₂ and He₄ parts each carry half of the variance.
    """
    return single_index_target(d, {2: 0.5, 4: 1 / (4 * math.sqrt(3))},
                               name="He2(x1)/2 + He4(x1)/(4√3)")


def transfer_target(d: int) -> IndexTarget:
    """g_T(x) = He₃(x₁)/√6 (= He₃/√3!): the downstream target of Damian et al.'s Figure 2."""
    return single_index_target(d, {3: 1 / math.sqrt(6)}, name="He3(x1)/√6")


def multi_index_target(d: int, *, seed: int | None = None) -> IndexTarget:
    """The r = 2 target of Chapter 4's full-GD experiment, normalized to E f*² = 1:

        f*(x) = c · [ (He₂(z₁) + He₂(z₂))/2 + z₁z₂/√2 ],   z = Ux,   c = √(2/3).

    The bracket has variance 1/2 + 1/2 + 1/2 = 3/2, hence c. Its H = c·[[1, 1/√2], [1/√2, 1]]
    (in the U coordinates) has rank 2: Assumption 2 of the paper holds. U: the first two axes
    (``seed=None``) or a random 2-frame.
    """
    U = orthonormal_rows(2, d, seed=seed)

    def g(z: torch.Tensor) -> torch.Tensor:
        z1, z2 = z[..., 0], z[..., 1]
        return (hermite(2, z1) + hermite(2, z2)) / 2 + z1 * z2 / math.sqrt(2)

    return IndexTarget(U=U, g=g, degree=2, name="(He2(z1) + He2(z2))/2 + z1 z2/√2, normalized",
                       scale=math.sqrt(2 / 3))


NOISES = ("rademacher", "gaussian")


def noisy_labels(
    target: IndexTarget, x: torch.Tensor, *, noise_std: float, seed: int, noise: str = "rademacher",
) -> torch.Tensor:
    """y = f*(x) + ε with ε = ±ς (Rademacher, as in Damian et al.) or ε ~ N(0, ς²); shape (n,).

    ``noise_std`` is ς (so the noise variance is ς²; the paper's Figure 1 uses ς² = 1).
    """
    check_shape("x", x, (None, target.d))
    noise_std = check_positive("noise_std", noise_std, allow_zero=True)
    check_choice("noise", noise, NOISES)
    gen = rng.generator(seed)
    if noise == "rademacher":
        eps = 2 * (rng.rand((x.shape[0],), gen) < 0.5).double() - 1
    else:
        eps = rng.randn((x.shape[0],), gen)
    return target(x) + noise_std * eps.to(dtype=x.dtype, device=x.device)
