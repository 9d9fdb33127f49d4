"""Choosing a device for notebooks, and describing the one in use.

Library functions never choose a device: their results live on the device, and in the dtype,
of their input tensors. Only notebooks and the command line call :func:`default_device`.
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path

import torch

__all__ = [
    "available_devices", "cpu_budget", "default_device", "describe_device", "device_for",
    "one_cpu_thread",
]

_CGROUP_FILES = (
    Path("/sys/fs/cgroup/cpu.max"),  # cgroup v2: "<quota> <period>" or "max <period>"
    Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),  # cgroup v1: quota (−1 for none) ...
)


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


def _quota_cpus(cpu_max: str | None, cfs_quota: str | None, cfs_period: str | None) -> int | None:
    """CPUs allowed by a container's CPU quota (rounded up), or None if there is no quota."""
    try:
        if cpu_max:
            quota, period = cpu_max.split()[:2]
            if quota != "max":
                return max(1, math.ceil(int(quota) / int(period)))
        if cfs_quota and cfs_period and int(cfs_quota) > 0:
            return max(1, math.ceil(int(cfs_quota) / int(cfs_period)))
    except ValueError:
        return None
    return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cpu_budget() -> int:
    """How many CPUs this process may really use: its CPU affinity, capped by a container quota.

    ``os.cpu_count()`` reports the host's cores, also inside a container limited to one or two
    of them (Binder, Docker, Kubernetes). torch then starts one thread per host core on a
    budget of one or two, and every parallel operation waits for threads that are not running:
    small problems become ten times slower. :func:`beyondlazy.notebook.notebook_setup` caps torch's CPU
    threads at this number.
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    v1 = _CGROUP_FILES[1]
    quota = _quota_cpus(_read(_CGROUP_FILES[0]), _read(v1), _read(v1.with_name("cpu.cfs_period_us")))
    return max(1, min(cpus or 1, quota or cpus or 1))


@contextlib.contextmanager
def one_cpu_thread(device: torch.device):
    """Run the block with one torch CPU thread when ``device`` is the CPU (restored afterwards).

    For the small problems of the claims one thread is as fast as several, and a busy
    neighbouring process cannot stall it (a parallel operation waits for all of its threads).
    """
    before = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
