"""The set-up every notebook of the course runs in its second cell."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .device import cpu_budget, default_device, describe_device
from .plotting import use_course_style
from .scale import ENV_VAR, current_scale


@dataclass(frozen=True)
class Setup:
    """What a notebook runs with."""

    device: torch.device  # where notebooks put their tensors (CUDA, then MPS, then CPU)
    scale: str  # "default" (laptop sizes) or "paper" (the papers' sizes)


def notebook_setup() -> Setup:
    """Pick the device, read the scale, apply the figure style, and say so in one line.

    On the CPU, torch's threads are capped at the CPUs the process may use (:func:`beyondlazy.device.cpu_budget`):
    in a container (Binder, Docker) the host's core count would oversubscribe its quota.

    Every random draw in the course takes an explicit seed, so the notebook needs no global seed:
    rerunning it reproduces every number and figure.
    """
    from . import __version__

    setup = Setup(device=default_device(), scale=current_scale())
    if torch.get_num_threads() > cpu_budget():  # a container with fewer CPUs than the host
        torch.set_num_threads(cpu_budget())
    use_course_style()
    hint = f" ({ENV_VAR}=paper gives the papers' sizes)" if setup.scale == "default" else ""
    print(f"beyondlazy {__version__}, torch {torch.__version__}")
    print(f"device: {describe_device(setup.device)}")
    print(f"scale: {setup.scale}{hint}")
    return setup
