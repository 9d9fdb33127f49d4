"""Choosing a device for notebooks, and describing the one in use.

Library functions never choose a device: their results live on the device, and in the dtype,
of their input tensors. Only notebooks and the command line call :func:`default_device`.
"""

from __future__ import annotations

import os

import torch

__all__ = ["available_devices", "default_device", "describe_device", "device_for"]


def default_device() -> torch.device:
    """The best available device: CUDA, then Apple's MPS, then the CPU.

    MPS has no float64: claims that need double precision run their float64 parts on the CPU.
    """
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def device_for(dtype: torch.dtype) -> torch.device:
    """The default device if it supports ``dtype``, else the CPU (Apple's MPS has no float64)."""
    device = default_device()
    if device.type == "mps" and dtype == torch.float64:
        return torch.device("cpu")
    return device


def available_devices() -> list[torch.device]:
    """Every device this machine offers (the CPU first); tests run solvers on each."""
    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append(torch.device("mps"))
    return devices


def describe_device(device: torch.device | str | None = None) -> str:
    """A short human-readable name, e.g. ``'cuda (NVIDIA H100 80GB HBM3)'`` or ``'cpu (2 threads)'``."""
    device = torch.device(device) if device is not None else default_device()
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        threads = torch.get_num_threads()
        return f"cpu ({threads} thread{'s' if threads != 1 else ''}, {os.cpu_count()} cores)"
    return device.type
