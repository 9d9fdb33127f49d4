"""What the tests share: tolerances keyed by dtype, and the devices to run on."""

from __future__ import annotations

import pytest
import torch

from beyondlazy import available_devices

# Tolerances, in one place, keyed by dtype.
TOL = {
    torch.float64: dict(rtol=1e-10, atol=1e-12),
    torch.float32: dict(rtol=1e-4, atol=1e-5),
}

# Every device this machine offers; the non-CPU ones carry the `gpu` marker.
DEVICES = [
    pytest.param(d, id=str(d), marks=() if d.type == "cpu" else pytest.mark.gpu)
    for d in available_devices()
]
