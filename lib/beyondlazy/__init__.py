"""beyondlazy: the library of the course "Beyond the Lazy Regime".

Overparameterized models trained by gradient descent, beyond the lazy (NTK) regime, with every
claim of the course checked numerically. One module per mathematical object; the public names are
re-exported here.

Notation, shared by the whole course (each module's docstring restates the symbols it uses)::

    θ, θ_t       parameters, at step t            η, μ     step size
    L            training loss                    α        initialization scale
    n            samples (or matrix dimension in Chapter 0/3)
    m            network width (Chapters 1, 4) or number of measurements (Chapters 0, 3)
    r, r*        factor width and true rank        d        input dimension
    K            number of runs batched into one call

Device and dtype follow the input tensors; randomness always comes from an explicit seed
(:mod:`beyondlazy.rng`); problem sizes follow ``BEYONDLAZY_SCALE`` (:mod:`beyondlazy.scale`).
"""

from . import (
    analysis, claims, deep_linear, exercises, explorer, factorized, hermite, jacobian, lazy,
    least_squares, networks, ntk, operators, plotting, relu_net, representation, ridge, rng, scale,
    sensing, spectral_bias, targets,
)
from .analysis import loglog_slope, relative_error, sin_angle, top_singular_subspace
from .device import available_devices, default_device, describe_device, device_for
from .gd import gradient_descent, value_and_grad
from .lazy import TeacherTask, relu_teacher_task, train_lazy
from .networks import symmetrized_init
from .notebook import Setup, notebook_setup
from .ntk import arccos0, arccos1, empirical_ntk, empirical_ntk_products, relu_ntk
from .plotting import COLORS, plot_power_law_fit, plot_spread, show, subplots
from .representation import algorithm_one, excess_risk, neuron_alignment, subspace_sin_angle
from .scale import SCALES, by_scale, current_scale
from .trajectory import DivergenceError, Trajectory

__version__ = "0.1.0"

__all__ = [
    "COLORS",
    "DivergenceError",
    "SCALES",
    "Setup",
    "TeacherTask",
    "Trajectory",
    "algorithm_one",
    "analysis",
    "available_devices",
    "by_scale",
    "claims",
    "current_scale",
    "deep_linear",
    "default_device",
    "describe_device",
    "device_for",
    "empirical_ntk",
    "empirical_ntk_products",
    "excess_risk",
    "exercises",
    "explorer",
    "factorized",
    "gradient_descent",
    "hermite",
    "jacobian",
    "lazy",
    "least_squares",
    "loglog_slope",
    "networks",
    "neuron_alignment",
    "notebook_setup",
    "ntk",
    "operators",
    "plot_power_law_fit",
    "plot_spread",
    "plotting",
    "relative_error",
    "relu_net",
    "relu_ntk",
    "relu_teacher_task",
    "representation",
    "ridge",
    "rng",
    "scale",
    "sensing",
    "spectral_bias",
    "show",
    "sin_angle",
    "subplots",
    "subspace_sin_angle",
    "symmetrized_init",
    "targets",
    "top_singular_subspace",
    "train_lazy",
    "value_and_grad",
]
