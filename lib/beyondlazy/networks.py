"""One-hidden-layer networks as pure functions of one flat parameter vector θ.

The network and its conventions (stated once here, used by Chapters 1 and 2):

    f(θ; x) = s_m · vᵀ σ(W x),        θ = (vec W, v) ∈ R^p,   p = m·d + m,

with W ∈ R^{m×d} (row j is the input weight w_j of neuron j), v ∈ R^m, an activation
σ ∈ {tanh, relu} and the output factor s_m fixed by the *parameterization*:

================  =======  ====================  ===========================================
name              s_m      initialization        what it is for
================  =======  ====================  ===========================================
``"ntk"``         1/√m     W_ij, v_j ~ N(0, 1)   the neural tangent kernel scaling (default)
``"mean_field"``  1/m      W_ij, v_j ~ N(0, 1)   the mean-field scaling: f(θ_0) → 0 as m → ∞
``"standard"``    1        W_ij ~ N(0, 1),       the usual PyTorch-style scaling: the same
                           v_j ~ N(0, 1/m)       function at initialization as ``"ntk"``, but
                                                 gradients in v that are m times larger
================  =======  ====================  ===========================================

There is no bias and no input scaling: the course draws inputs on the unit sphere (‖x‖ = 1,
:func:`sphere_inputs`), so that w_jᵀx ~ N(0, 1) at initialization. θ is flat so that the
Jacobian of the n outputs is an n × p matrix (:mod:`beyondlazy.jacobian`) and gradient descent on
θ is the iteration of Chapter 2 word for word; :func:`unflatten` gives W and v back.

Functions are batched over inputs: ``x`` of shape (d,) gives a scalar, ``X`` of shape (n, d) the
n outputs. Everything follows the device and dtype of θ and X.

Notation::

    n  samples      d  input dimension      m  width (number of hidden neurons)      p  parameters

:func:`symmetrized_init` draws the neurons in pairs with opposite output weights, so that
f(θ_0; x) = 0 for every x (the initialization of Chizat, Oyallon and Bach, used with an output
scale α in Chapter 1 and :mod:`beyondlazy.lazy`).

References: the NTK scaling is that of Jacot et al. (2018) and Du et al. (2019); the mean-field
scaling is discussed by Chizat, Oyallon and Bach (2019). Used in Chapter 2 (overparameterized
least squares) and Chapter 1 (lazy linearization).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from . import rng
from .validation import check_choice, check_finite, check_int, check_shape

__all__ = [
    "ACTIVATIONS",
    "PARAMETERIZATIONS",
    "OneHiddenLayer",
    "flatten",
    "init_params",
    "network",
    "output_scale",
    "sphere_inputs",
    "symmetrized_init",
    "unflatten",
]

ACTIVATIONS = ("tanh", "relu")
PARAMETERIZATIONS = ("ntk", "mean_field", "standard")


@dataclass(frozen=True)
class OneHiddenLayer:
    """The architecture of f(θ; x) = s_m vᵀσ(Wx) (see the module docstring)."""

    d: int  # input dimension
    m: int  # width: number of hidden neurons
    activation: str = "tanh"  # σ: "tanh" or "relu"
    parameterization: str = "ntk"  # s_m and the init: "ntk", "mean_field" or "standard"

    def __post_init__(self):
        check_int("d", self.d, minimum=1)
        check_int("m", self.m, minimum=1)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("parameterization", self.parameterization, PARAMETERIZATIONS)

    @property
    def n_params(self) -> int:
        """p = m·d + m."""
        return self.m * self.d + self.m


def output_scale(net: OneHiddenLayer) -> float:
    """The output factor s_m: 1/√m (``"ntk"``), 1/m (``"mean_field"``) or 1 (``"standard"``)."""
    return {"ntk": 1 / math.sqrt(net.m), "mean_field": 1 / net.m, "standard": 1.0}[
        net.parameterization
    ]


def unflatten(net: OneHiddenLayer, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split θ of shape (p,) into W (m, d) and v (m,) (views, no copy)."""
    check_shape("theta", theta, (net.n_params,))
    md = net.m * net.d
    return theta[:md].reshape(net.m, net.d), theta[md:]


def flatten(W: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """θ = (vec W, v): W of shape (m, d) row by row, then v of shape (m,)."""
    check_shape("W", W, (None, None))
    check_shape("v", v, (W.shape[0],))
    return torch.cat([W.reshape(-1), v])


def _sigma(name: str, z: torch.Tensor) -> torch.Tensor:
    return torch.tanh(z) if name == "tanh" else torch.relu(z)


def network(net: OneHiddenLayer, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """f(θ; x) = s_m vᵀσ(Wx) for x of shape (d,) (a scalar) or (n, d) (shape (n,)).

    Written with tensor operations only, so that ``torch.func`` transforms (``jacrev``,
    ``vmap``, ``jvp``) apply to it in θ and in x.
    """
    if x.ndim not in (1, 2) or x.shape[-1] != net.d:
        raise ValueError(f"x must have shape (d,) or (n, d) with d = {net.d}; got {tuple(x.shape)}")
    W, v = unflatten(net, theta)
    return output_scale(net) * (_sigma(net.activation, x @ W.T) @ v)


def init_params(
    net: OneHiddenLayer, *, seed: int, dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None, output_init: float = 1.0,
) -> torch.Tensor:
    """θ_0 for the parameterization of ``net``: W_ij ~ N(0, 1), v_j ~ N(0, c²) (see the table).

    ``output_init`` multiplies v_0 (and hence f(θ_0) and the Jacobian in W) by a factor τ: the
    knob Chapter 2 turns to show what a large initialization does to generalization.
    """
    gen = rng.generator(seed)
    W = rng.randn((net.m, net.d), gen, dtype=torch.float64)
    v = rng.randn((net.m,), gen, dtype=torch.float64)
    if net.parameterization == "standard":
        v = v / math.sqrt(net.m)
    if not (isinstance(output_init, (int, float)) and math.isfinite(output_init)):
        raise ValueError(f"output_init must be a finite number; got {output_init!r}")
    return flatten(W, output_init * v).to(dtype=dtype, device=device)


def sphere_inputs(
    n: int, d: int, *, seed: int, dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """n inputs drawn uniformly on the unit sphere of R^d: shape (n, d), ‖x_i‖ = 1."""
    n = check_int("n", n, minimum=1)
    d = check_int("d", d, minimum=1)
    g = rng.randn((n, d), rng.generator(seed), dtype=torch.float64)
    x = g / torch.linalg.vector_norm(g, dim=1, keepdim=True)
    return check_finite("x", x.to(dtype=dtype, device=device))


def symmetrized_init(
    net: OneHiddenLayer, *, seed: int, init_scale: float = 1.0, output_std: float | None = None,
    dtype: torch.dtype = torch.float64, device: torch.device | str | None = None,
) -> torch.Tensor:
    """θ_0 with neurons in pairs of opposite output weights, so that f(θ_0; x) = 0 for every x.

    For j < m/2 draw w_j with N(0, 1) entries and v_j = abs(g_j), g_j ~ N(0, c²); neuron
    j + m/2 copies w_j and takes −v_j. The two neurons of a pair cancel at every input (exactly
    in exact arithmetic; in floating point up to the round-off of summing m terms, about 1e-16
    relative to the sum of the terms' absolute values), while the Jacobian at θ_0 stays that of
    a random network. Both
    layers are then multiplied by the initialization scale τ (``init_scale``): for a ReLU network
    without output factor (``"standard"``) the output is 2-homogeneous, f(τθ; x) = τ² f(θ; x),
    as in Chizat, Oyallon and Bach (2019).

    Parameters
    ----------
    net : OneHiddenLayer
        The architecture; its width m must be even.
    seed : int
        Seed of the draw (:mod:`beyondlazy.rng`).
    init_scale : float
        τ > 0, multiplying W and v.
    output_std : float, optional
        c, the standard deviation of the output weights before pairing; by default that of
        :func:`init_params` (1/√m for ``"standard"``, 1 otherwise).
    dtype, device
        Of the returned θ_0 (the draw is made in float64 on the CPU).

    Returns
    -------
    Tensor, shape (p,)
        θ_0 = τ (vec W, v). Used in Chapter 1 (lazy linearization).
    """
    m = check_int("m", net.m, minimum=2)
    if m % 2:
        raise ValueError(f"m must be even for a symmetrized initialization; got {m}")
    if isinstance(init_scale, bool) or not isinstance(init_scale, (int, float)) or not (
            math.isfinite(init_scale) and init_scale > 0):
        raise ValueError(f"init_scale must be a finite number > 0; got {init_scale!r}")
    if output_std is None:
        output_std = 1 / math.sqrt(m) if net.parameterization == "standard" else 1.0
    if isinstance(output_std, bool) or not isinstance(output_std, (int, float)) or not (
            math.isfinite(output_std) and output_std > 0):
        raise ValueError(f"output_std must be a finite number > 0; got {output_std!r}")
    gen = rng.generator(seed)
    half = m // 2
    W = rng.randn((half, net.d), gen, dtype=torch.float64)
    v = output_std * rng.randn((half,), gen, dtype=torch.float64).abs()
    theta = flatten(torch.cat([W, W]), torch.cat([v, -v]))
    return (init_scale * theta).to(dtype=dtype, device=device)
