"""Deep linear networks: the end-to-end matrix W = W_N ⋯ W_1 trained factor by factor (Chapter 5).

A depth-N linear network with square factors W_j ∈ R^{n×n} computes the end-to-end matrix

    W = W_N W_{N−1} ⋯ W_1,

and gradient descent runs on the factors for a loss ℓ(W) of the end-to-end matrix. With
G = ∇ℓ(W), the chain rule gives every factor's gradient from prefix and suffix products,

    ∇_{W_j} = (W_N ⋯ W_{j+1})ᵀ G (W_{j−1} ⋯ W_1)ᵀ,

computed in one backward sweep (:func:`factor_gradients`). Depth 1 is plain gradient descent on W.
What the chapter studies, each a function here:

* inits of a given end-to-end scale α: Gaussian (each factor with i.i.d. N(0, α^{2/N}/n) entries,
  so that E‖W_0‖² = α²n at every depth) and *balanced* (W_{j+1}ᵀW_{j+1} = W_jW_jᵀ), the latter
  for any prescribed end-to-end matrix W_0 (:func:`balanced_factors`);
* the imbalance matrices D_j = W_{j+1}ᵀW_{j+1} − W_jW_jᵀ, constant under gradient flow
  (Du, Hu & Lee 2018);
* the depth-N preconditioner P_W(G) = Σ_j (WWᵀ)^{(j−1)/N} G (WᵀW)^{(N−j)/N}: from a balanced init,
  gradient flow on the factors moves W by Ẇ = −P_W(∇ℓ(W)) (Arora, Cohen & Hazan 2018, Thm 1);
* the mode-strength ODE u̇ = N u^{2−2/N}(s − u) of a singular mode of strength s under the whitened
  regression loss ½‖W − Y‖² from an aligned, balanced init (Saxe, McClelland & Ganguli 2014), and
  the time it takes to go from u₀ to u (:func:`mode_time`, closed form for N ≤ 2, quadrature
  beyond);
* the effective rank exp(H(σ/‖σ‖₁)) of Roy & Vetterli, the measure of Arora, Cohen, Hu & Luo 2019.

Losses of the end-to-end matrix are functions ``W -> (ℓ(W), ∇ℓ(W))``, batched over a leading
axis of K runs: :func:`regression_loss`, :func:`sensing_loss` (Chapter 3's Gaussian operator,
:mod:`beyondlazy.operators`) and :func:`completion_loss`. :func:`train_deep` runs the course's
shared loop (:func:`beyondlazy.gd.gradient_descent`) on the factors and returns its
:class:`~beyondlazy.trajectory.Trajectory`. :func:`scalar_depth_loss_and_grad` is the
overparameterization of a weight *vector* by scalar factors, w = v·a_2⋯a_N, of Arora et al. 2018.

Notation::

    N   depth (number of factors)        n   matrix dimension (factors are n × n)
    W   end-to-end matrix W_N ⋯ W_1      α   end-to-end init scale     η   step size
    Y   target matrix, singular values s_i, singular vectors (u_i, v_i)
    m   number of measurements           K   runs in a batch

Device and dtype follow the inputs; every random draw takes a seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch

from . import rng
from .gd import gradient_descent
from .operators import AsymmetricOperator, asymmetric_operator
from .trajectory import Trajectory
from .validation import check_finite, check_int, check_positive

__all__ = [
    "DeepSensingProblem",
    "balanced_factors",
    "balanced_init",
    "completion_loss",
    "deep_loss_and_grad",
    "deep_sensing_problem",
    "effective_rank",
    "end_to_end",
    "factor_gradients",
    "gaussian_factors",
    "imbalance",
    "mode_ode_rate",
    "mode_strengths",
    "mode_time",
    "orthogonal_target",
    "preconditioner",
    "psd_power",
    "regression_loss",
    "scalar_depth_loss_and_grad",
    "scalar_depth_init",
    "sensing_loss",
    "train_deep",
]

Factors = tuple[torch.Tensor, ...]
EndToEndLoss = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def _t(M: torch.Tensor) -> torch.Tensor:
    return M.transpose(-1, -2)


def _check_depth(depth: object) -> int:
    return check_int("depth", depth, minimum=1)


def _check_factors(factors: Sequence[torch.Tensor], name: str = "factors") -> Factors:
    """The factors (W_1, …, W_N) as a tuple, each square n × n (with the same leading axes)."""
    if isinstance(factors, torch.Tensor) or len(factors) < 1:
        raise ValueError(f"{name} must be a sequence of N >= 1 tensors (W_1, ..., W_N); "
                         f"got {type(factors).__name__}")
    factors = tuple(factors)
    first = factors[0]
    for j, Wj in enumerate(factors):
        if not isinstance(Wj, torch.Tensor) or Wj.ndim < 2 or Wj.shape[-1] != Wj.shape[-2]:
            shape = tuple(Wj.shape) if isinstance(Wj, torch.Tensor) else type(Wj).__name__
            raise ValueError(f"{name}[{j}] must be a square matrix of shape (..., n, n); "
                             f"got {shape}")
        if Wj.shape != first.shape:
            raise ValueError(f"{name}[{j}] must have the shape of {name}[0], "
                             f"{tuple(first.shape)}; got {tuple(Wj.shape)}")
    return factors


# ---------------------------------------------------------------------------------------------
# The product and its gradients
# ---------------------------------------------------------------------------------------------


def end_to_end(factors: Sequence[torch.Tensor]) -> torch.Tensor:
    """W = W_N ⋯ W_1 for factors (W_1, …, W_N), each (n, n) or (K, n, n)."""
    return _product(_check_factors(factors))


def _product(factors: Factors) -> torch.Tensor:
    W = factors[0]
    for Wj in factors[1:]:
        W = Wj @ W
    return W


def factor_gradients(factors: Sequence[torch.Tensor], G: torch.Tensor) -> Factors:
    """∇_{W_j} = (W_N ⋯ W_{j+1})ᵀ G (W_{j−1} ⋯ W_1)ᵀ for j = 1 … N, G = ∇ℓ(W).

    One forward sweep stores the prefixes P_j = W_j ⋯ W_1 (P_0 = I); one backward sweep carries
    the suffix term S = (W_N ⋯ W_{j+1})ᵀ G, multiplying it by W_jᵀ on the left at each step:
    2N − 2 matrix products in all.
    """
    return _factor_gradients(_check_factors(factors), G)


def _factor_gradients(factors: Factors, G: torch.Tensor) -> Factors:
    prefixes = [None]  # P_0 = I, never multiplied
    for Wj in factors[:-1]:
        prefixes.append(Wj if prefixes[-1] is None else Wj @ prefixes[-1])
    grads = [None] * len(factors)
    S = G
    for j in range(len(factors) - 1, -1, -1):
        grads[j] = S if prefixes[j] is None else S @ _t(prefixes[j])
        if j > 0:
            S = _t(factors[j]) @ S
    return tuple(grads)


def deep_loss_and_grad(loss: EndToEndLoss):
    """``(W_1, …, W_N) -> (ℓ(W), (∇_{W_1}, …, ∇_{W_N}))`` from ``loss: W -> (ℓ(W), ∇ℓ(W))``."""

    def loss_and_grad(*factors: torch.Tensor):
        value, G = loss(_product(factors))
        return value, _factor_gradients(factors, G)

    return loss_and_grad


def regression_loss(Y: torch.Tensor) -> EndToEndLoss:
    """ℓ(W) = ½‖W − Y‖² (whitened regression), ∇ℓ(W) = W − Y; batched over W's leading axis."""

    def loss(W: torch.Tensor):
        R = W - Y
        return 0.5 * (R * R).sum((-2, -1)), R

    return loss


def sensing_loss(op: AsymmetricOperator, y: torch.Tensor) -> EndToEndLoss:
    """ℓ(W) = ½‖A(W) − y‖², ∇ℓ(W) = A*(A(W) − y), one pass over the operator per call."""

    def loss(W: torch.Tensor):
        residual, G = op.residual_and_adjoint(W, y)
        return 0.5 * (residual * residual).sum(-1), G

    return loss


def completion_loss(mask: torch.Tensor, Y: torch.Tensor) -> EndToEndLoss:
    """ℓ(W) = ½ Σ_{(i,j) observed} (W_ij − Y_ij)², ∇ℓ(W) = mask ⊙ (W − Y); mask of 0s and 1s."""

    def loss(W: torch.Tensor):
        R = mask * (W - Y)
        return 0.5 * (R * R).sum((-2, -1)), R

    return loss


# ---------------------------------------------------------------------------------------------
# Initializations
# ---------------------------------------------------------------------------------------------


def _alphas(alphas) -> torch.Tensor:
    alphas = torch.as_tensor(alphas, dtype=torch.float64).reshape(-1)
    if alphas.numel() == 0 or not bool(torch.isfinite(alphas).all()) or not bool((alphas > 0).all()):
        raise ValueError(f"alphas must be finite numbers > 0 (the end-to-end scale α); "
                         f"got {alphas.tolist()}")
    return alphas


def gaussian_factors(
    alphas, n: int, depth: int, *, seed: int,
    dtype: torch.dtype = torch.float64, device: torch.device | str | None = None,
) -> Factors:
    """Factors with i.i.d. N(0, α_k^{2/N}/n) entries: N tensors of shape (K, n, n), K = len(α).

    Then E‖W_0‖² = α²n whatever the depth: the end-to-end scale is α. Run k gets the k-th draw
    from ``seed`` whatever the number of runs.
    """
    alphas = _alphas(alphas)
    n = check_int("n", n, minimum=1)
    depth = _check_depth(depth)
    gen = rng.generator(seed)
    draws = torch.stack([rng.randn((depth, n, n), gen, dtype=torch.float64) for _ in alphas])
    scale = (alphas ** (1.0 / depth) / math.sqrt(n))[:, None, None, None]
    draws = (scale * draws).to(dtype=dtype, device=device)
    return tuple(draws[:, j].contiguous() for j in range(depth))


def balanced_factors(W0: torch.Tensor, depth: int) -> Factors:
    """Balanced factors of W_0 = U Σ Vᵀ: W_1 = V Σ^{1/N} Vᵀ, W_j = V Σ^{1/N} Vᵀ, …, W_N = U Σ^{1/N} Vᵀ.

    Precisely W_j = R_j Σ^{1/N} R_{j−1}ᵀ with R_0 = … = R_{N−1} = V and R_N = U; then
    W_N ⋯ W_1 = W_0 and W_{j+1}ᵀW_{j+1} = V Σ^{2/N} Vᵀ = W_jW_jᵀ (balanced). ``W0`` is (n, n)
    or (K, n, n); so are the N returned factors.
    """
    depth = _check_depth(depth)
    check_finite("W0", W0)
    if W0.ndim < 2 or W0.shape[-1] != W0.shape[-2]:
        raise ValueError(f"W0 must be a square matrix of shape (..., n, n); got {tuple(W0.shape)}")
    U, S, Vh = torch.linalg.svd(W0)
    root = S ** (1.0 / depth)
    middle = (_t(Vh) * root[..., None, :]) @ Vh  # V Σ^{1/N} Vᵀ
    last = (U * root[..., None, :]) @ Vh  # U Σ^{1/N} Vᵀ
    return tuple(middle.clone() for _ in range(depth - 1)) + (last,)


def balanced_init(
    alphas, n: int, depth: int, *, seed: int,
    dtype: torch.dtype = torch.float64, device: torch.device | str | None = None,
) -> Factors:
    """Balanced factors of W_0 = α_k G_k, G_k with i.i.d. N(0, 1/n) entries (E‖W_0‖² = α²n)."""
    alphas = _alphas(alphas)
    n = check_int("n", n, minimum=1)
    depth = _check_depth(depth)
    gen = rng.generator(seed)
    G = torch.stack([rng.randn((n, n), gen, dtype=torch.float64) for _ in alphas]) / math.sqrt(n)
    return tuple(W.to(dtype=dtype, device=device)
                 for W in balanced_factors(alphas[:, None, None] * G, depth))


def imbalance(factors: Sequence[torch.Tensor]) -> torch.Tensor:
    """D_j = W_{j+1}ᵀW_{j+1} − W_jW_jᵀ for j = 1 … N−1, stacked: shape (N − 1, …, n, n)."""
    factors = _check_factors(factors)
    if len(factors) < 2:
        return factors[0].new_zeros((0,) + factors[0].shape)
    return torch.stack([_t(b) @ b - a @ _t(a) for a, b in zip(factors[:-1], factors[1:])])


# ---------------------------------------------------------------------------------------------
# The end-to-end view
# ---------------------------------------------------------------------------------------------


def psd_power(M: torch.Tensor, power: float) -> torch.Tensor:
    """M^p for a symmetric positive semidefinite M (eigenvalues below 0 from round-off → 0).

    ``power = 0`` gives the identity (also on the null space of M).
    """
    if power == 0:
        eye = torch.eye(M.shape[-1], dtype=M.dtype, device=M.device)
        return eye.expand(M.shape).clone()
    lam, Q = torch.linalg.eigh(M)
    return (Q * lam.clamp_min(0) ** power) @ _t(Q)


def preconditioner(W: torch.Tensor, G: torch.Tensor, depth: int) -> torch.Tensor:
    """P_W(G) = Σ_{j=1}^{N} (WWᵀ)^{(j−1)/N} G (WᵀW)^{(N−j)/N}  (Arora, Cohen & Hazan 2018, Thm 1).

    From a balanced init, gradient flow on N factors moves the end-to-end matrix by
    Ẇ = −P_W(∇ℓ(W)). Depth 1 gives P_W(G) = G. ``W`` and ``G`` of shape (n, n) or (K, n, n).
    """
    depth = _check_depth(depth)
    if W.shape != G.shape:
        raise ValueError(f"G must have the shape of W, {tuple(W.shape)}; got {tuple(G.shape)}")
    left, right = W @ _t(W), _t(W) @ W
    out = torch.zeros_like(G)
    for j in range(1, depth + 1):
        out = out + psd_power(left, (j - 1) / depth) @ G @ psd_power(right, (depth - j) / depth)
    return out


def mode_strengths(W: torch.Tensor, U: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """u_i = u_iᵀ W v_i for the columns of U and V (the singular pairs of Y): shape (…, k)."""
    return ((U * (W @ V)).sum(-2))


def mode_ode_rate(u: torch.Tensor, s: float, depth: int) -> torch.Tensor:
    """u̇ = N u^{2−2/N}(s − u), the mode-strength ODE of Saxe, McClelland & Ganguli 2014."""
    depth = _check_depth(depth)
    return depth * u ** (2 - 2 / depth) * (s - u)


def mode_time(u0: float, u: torch.Tensor | float, s: float, depth: int,
              points: int = 4001) -> torch.Tensor:
    """The time the mode ODE u̇ = N u^{2−2/N}(s − u) takes from u₀ to u (0 < u₀ ≤ u < s).

    t = ∫_{u₀}^{u} dv / (N v^{2−2/N}(s − v)). Closed forms: N = 1, t = ln((s − u₀)/(s − u));
    N = 2, t = [ln(v/(s − v))]_{u₀}^{u} / (2s). For N ≥ 3, composite Simpson's rule in
    x = ln v on ``points`` nodes (the integrand e^{(2/N−1)x}/(N(s − e^x)) is smooth in x).
    Plotting (t(u), u) over a grid of u draws the solution u(t). Float64; ``u`` may be a tensor.
    """
    depth = _check_depth(depth)
    s = check_positive("s", s)
    u0 = check_positive("u0", u0)
    u = torch.as_tensor(u, dtype=torch.float64)
    if u0 >= s or bool((u < u0).any()) or bool((u >= s).any()):
        raise ValueError(f"u must lie in [u0, s) = [{u0:g}, {s:g}) with u0 < s; "
                         f"got u0 = {u0:g}, u in [{float(u.min()):g}, {float(u.max()):g}]")
    if depth == 1:
        return torch.log((s - u0) / (s - u))
    if depth == 2:
        return (torch.log(u / (s - u)) - math.log(u0 / (s - u0))) / (2 * s)
    points = check_int("points", points, minimum=3)
    points += 1 - points % 2  # Simpson's rule needs an odd number of nodes
    a = math.log(u0)
    flat = u.reshape(-1)
    out = torch.empty_like(flat)
    weights = torch.ones(points, dtype=torch.float64)
    weights[1:-1:2], weights[2:-1:2] = 4.0, 2.0
    for k, b in enumerate(torch.log(flat).tolist()):
        x = torch.linspace(a, b, points, dtype=torch.float64)
        f = torch.exp((2 / depth - 1) * x) / (depth * (s - torch.exp(x)))
        out[k] = (b - a) / (3 * (points - 1)) * (weights * f).sum()
    return out.reshape(u.shape)


def effective_rank(W: torch.Tensor) -> torch.Tensor:
    """exp(H(p)), p = σ/‖σ‖₁ the normalized singular values (Roy & Vetterli 2007); batched.

    Between 1 (rank one) and n (all singular values equal); the measure of low rank used by
    Arora, Cohen, Hu & Luo 2019.
    """
    sigma = torch.linalg.svdvals(W)
    p = sigma / sigma.sum(-1, keepdim=True)
    entropy = -(p * torch.log(p.clamp_min(torch.finfo(p.dtype).tiny))).sum(-1)
    return torch.exp(entropy)


# ---------------------------------------------------------------------------------------------
# Problems and the solver
# ---------------------------------------------------------------------------------------------


def orthogonal_target(
    n: int, singular_values: Sequence[float], gen: torch.Generator, *,
    dtype: torch.dtype = torch.float64, device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Y = Q₁ diag(s) Q₂ᵀ with Q₁, Q₂ random n × n orthogonal; returns (Y, Q₁, Q₂).

    The first k = len(s) columns of Q₁ and Q₂ are the singular vectors (u_i, v_i) of Y; the rest
    complete them to orthonormal bases (an aligned init uses all n).
    """
    n = check_int("n", n, minimum=1)
    s = torch.as_tensor(list(singular_values), dtype=torch.float64)
    if s.numel() < 1 or s.numel() > n:
        raise ValueError(f"singular_values must hold between 1 and n = {n} entries (the rank of "
                         f"Y is at most n); got {s.numel()}")
    if not bool(torch.isfinite(s).all()) or not bool((s > 0).all()):
        raise ValueError(f"singular_values must be finite numbers > 0; got {s.tolist()}")
    Q1, _ = torch.linalg.qr(rng.randn((n, n), gen, dtype=torch.float64))
    Q2, _ = torch.linalg.qr(rng.randn((n, n), gen, dtype=torch.float64))
    k = s.numel()
    Y = (Q1[:, :k] * s) @ Q2[:, :k].T
    return tuple(M.to(dtype=dtype, device=device) for M in (Y, Q1, Q2))


@dataclass(frozen=True)
class DeepSensingProblem:
    """y = A(Y) for an n × n target Y, with Chapter 3's Gaussian operator A."""

    op: AsymmetricOperator  # A(Z) = (1/√m)(⟨A_i, Z⟩)_i, A_i Gaussian n × n
    target: torch.Tensor  # Y (n × n)
    U: torch.Tensor  # (n, n) left singular vectors of Y (the first rank(Y) columns), completed
    V: torch.Tensor  # (n, n) right singular vectors, completed
    singular_values: torch.Tensor  # (r*,) the nonzero singular values s_i of Y
    y: torch.Tensor  # (m,) measurements A(Y)

    @property
    def loss(self) -> EndToEndLoss:
        """ℓ(W) = ½‖A(W) − y‖² and its gradient."""
        return sensing_loss(self.op, self.y)


def deep_sensing_problem(
    n: int, singular_values: Sequence[float], m: int, *, seed: int,
    dtype: torch.dtype = torch.float64, device: torch.device | str | None = None,
    backend: str = "auto",
) -> DeepSensingProblem:
    """Draw A (Gaussian n × n matrices A_i) and Y = Q₁ diag(s) Q₂ᵀ from ``seed``; y = A(Y)."""
    n = check_int("n", n, minimum=1)
    m = check_int("m", m, minimum=1)
    gen = rng.generator(seed)
    op = asymmetric_operator(n, n, m, gen, dtype=dtype, device=device, backend=backend)
    Y, Q1, Q2 = orthogonal_target(n, singular_values, gen, dtype=dtype, device=device)
    s = torch.as_tensor(list(singular_values), dtype=dtype, device=device)
    return DeepSensingProblem(op=op, target=Y, U=Q1, V=Q2, singular_values=s, y=op.measure(Y))


class _GradientLedger:
    """A ``loss_and_grad`` that keeps Σ_{s<t} (‖g_{j+1}(s)‖² + ‖g_j(s)‖²) for each j.

    The loop calls it once per iterate, at θ_t, before recording; the gradient kept from the
    previous call is the one applied to reach θ_t, so it is added then.
    """

    def __init__(self, loss_and_grad):
        self.loss_and_grad = loss_and_grad
        self.total = None
        self.pending = None

    def __call__(self, *factors):
        value, grads = self.loss_and_grad(*factors)
        squares = torch.stack([(g * g).sum((-2, -1)) for g in grads])  # (N, …)
        pair = squares[1:] + squares[:-1]
        if self.total is None:
            self.total = torch.zeros_like(pair)
        elif self.pending is not None:
            self.total = self.total + self.pending
        self.pending = pair
        return value, grads


def train_deep(
    loss: EndToEndLoss,
    factors0: Sequence[torch.Tensor],
    *,
    step_size: float | torch.Tensor,
    n_steps: int,
    record_every: int = 1,
    tol: float | None = None,
    tol_metric: str = "loss",
    metrics: Mapping[str, Callable[[torch.Tensor], torch.Tensor]] | None = None,
    target: torch.Tensor | None = None,
    singular_values: int = 0,
    track_imbalance: bool = False,
    on_divergence: str = "raise",
) -> Trajectory:
    """Gradient descent on the factors (W_1, …, W_N) for a loss ℓ(W) of W = W_N ⋯ W_1.

    Parameters
    ----------
    loss : ``W -> (ℓ(W), ∇ℓ(W))`` (:func:`regression_loss`, :func:`sensing_loss`, …).
    factors0 : the initial factors, each (n, n), or (K, n, n) for K runs in one batch.
    step_size : η (one per run as a (K,) tensor when batched).
    n_steps, record_every, tol, tol_metric, on_divergence : as in
        :func:`beyondlazy.gd.gradient_descent`.
    metrics : extra ``name -> f(W)`` functions of the end-to-end matrix, recorded.
    target : records ``test_error`` ‖W − Y‖/‖Y‖ for this Y.
    singular_values : k records σ_1(W) … σ_k(W) as ``sv1`` … ``svk``.
    track_imbalance : records ``imbalance_drift`` max_j ‖D_j(t) − D_j(0)‖ and ``imbalance_slack``
        max_j ‖D_j(t) − D_j(0)‖ / (η² Σ_{s<t}(‖g_{j+1}(s)‖² + ‖g_j(s)‖²)), which the one-step
        identity keeps ≤ 1 (single step size only).

    Returns
    -------
    Trajectory
        The record of the run (:class:`~beyondlazy.trajectory.Trajectory`); its ``params`` are
        the final factors.
    """
    factors0 = _check_factors(factors0, "factors0")
    for j, Wj in enumerate(factors0):
        check_finite(f"factors0[{j}]", Wj)
    batched = factors0[0].ndim == 3
    loss_and_grad = deep_loss_and_grad(loss)
    named: dict[str, Callable[..., torch.Tensor]] = {}
    cache: dict = {}

    def product(f):  # one product W_N ⋯ W_1 per record, shared by the metrics
        if cache.get("f") is not f[0]:
            cache.clear()
            cache.update(f=f[0], W=_product(f))
        return cache["W"]

    for name, fn in (metrics or {}).items():
        named[name] = lambda *f, fn=fn: fn(product(f))
    if target is not None:
        t_norm = torch.linalg.matrix_norm(target)
        named["test_error"] = lambda *f: torch.linalg.matrix_norm(product(f) - target) / t_norm
    n = factors0[0].shape[-1]
    singular_values = check_int("singular_values", singular_values, minimum=0, maximum=n)
    if singular_values:

        def sv(k):
            def value(*f):
                W = product(f)
                if "s" not in cache:  # one SVD per record for all k
                    cache["s"] = torch.linalg.svdvals(W)
                return cache["s"][..., k]
            return value

        for k in range(singular_values):
            named[f"sv{k + 1}"] = sv(k)
    if track_imbalance and len(factors0) > 1:
        if isinstance(step_size, torch.Tensor) and step_size.numel() > 1:
            raise ValueError("track_imbalance needs one step size for every run; got a tensor "
                             f"of shape {tuple(step_size.shape)}")
        eta = check_positive("step_size", step_size)
        ledger = _GradientLedger(loss_and_grad)
        loss_and_grad = ledger
        D0 = imbalance(factors0)

        def drifts(f):
            return torch.linalg.matrix_norm(imbalance(f) - D0)  # (N − 1, …)

        named["imbalance_drift"] = lambda *f: drifts(f).max(0).values
        named["imbalance_slack"] = lambda *f: (
            drifts(f) / (eta**2 * ledger.total).clamp_min(torch.finfo(D0.dtype).tiny)).max(0).values
    return gradient_descent(
        loss_and_grad, factors0, step_size=step_size, n_steps=n_steps,
        record_every=record_every, metrics=named, tol=tol, tol_metric=tol_metric,
        batched=batched, on_divergence=on_divergence,
    )


# ---------------------------------------------------------------------------------------------
# Depth for a weight vector: w = v · a_2 ⋯ a_N (Arora, Cohen & Hazan 2018)
# ---------------------------------------------------------------------------------------------


def scalar_depth_init(w0: torch.Tensor, depth: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Balanced (v, a) with v · a_2 ⋯ a_N = w₀: a_j = ‖v‖ = ‖w₀‖^{1/N}, v = w₀/‖v‖^{N−1}.

    Balance for the factors W_1 = vᵀ (1 × d) and the scalars a_j means a_j² = ‖v‖². ``w0`` has
    shape (d,) or (K, d); ``a`` has shape (N − 1,) or (K, N − 1) (empty at depth 1).
    """
    depth = _check_depth(depth)
    check_finite("w0", w0)
    norm = torch.linalg.vector_norm(w0, dim=-1, keepdim=True)
    if not bool((norm > 0).all()):
        raise ValueError("w0 must be nonzero (a balanced factorization of 0 is 0)")
    root = norm ** (1.0 / depth)
    v = w0 / root ** (depth - 1)
    a = root.expand(w0.shape[:-1] + (depth - 1,)).clone()
    return v, a


def scalar_depth_loss_and_grad(loss: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]):
    """``(v, a) -> (ℓ(w), (∇_v, ∇_a))`` for w = v·∏_j a_j and ``loss: w -> (ℓ(w), ∇ℓ(w))``.

    ∇_v = (∏ a) ∇ℓ(w) and ∇_{a_j} = (∏_{i≠j} a_i) ⟨v, ∇ℓ(w)⟩. Batched over a leading axis.
    """

    def loss_and_grad(v: torch.Tensor, a: torch.Tensor):
        c = a.prod(-1, keepdim=True)
        value, g = loss(v * c)
        inner = (v * g).sum(-1, keepdim=True)
        others = torch.stack([torch.cat([a[..., :j], a[..., j + 1:]], -1).prod(-1)
                              for j in range(a.shape[-1])], -1) if a.shape[-1] else a
        return value, (c * g, others * inner)

    return loss_and_grad
