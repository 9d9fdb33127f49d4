"""The problem-size switch: one environment variable moves every experiment from laptop to paper.

Every experiment of the course has two sizes:

``default``
    a laptop CPU runs it in seconds (at most 60 s a claim or a notebook on 2 CPU cores); the
    website and CI show this scale;
``paper``
    the dimensions used in the papers, meant for a GPU.

The scale is read from the environment variable ``BEYONDLAZY_SCALE`` in exactly one place,
:func:`current_scale`; an explicit ``scale=`` argument always wins over the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypeVar

__all__ = ["ENV_VAR", "SCALES", "by_scale", "current_scale"]

ENV_VAR = "BEYONDLAZY_SCALE"
SCALES = ("default", "paper")

T = TypeVar("T")


def current_scale(scale: str | None = None) -> str:
    """The scale in use: ``scale`` if given, else ``$BEYONDLAZY_SCALE``, else ``'default'``."""
    if scale is None:
        raw = os.environ.get(ENV_VAR, "")
        value = raw.strip().lower() or "default"
        if value not in SCALES:
            raise ValueError(
                f"{ENV_VAR} must be one of {', '.join(map(repr, SCALES))} (or unset); got {raw!r}"
            )
        return value
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(map(repr, SCALES))}; got {scale!r}")
    return scale


def by_scale(choices: Mapping[str, T], scale: str | None = None) -> T:
    """Pick the entry of ``choices`` (keyed ``'default'`` and ``'paper'``) for the scale in use.

    >>> by_scale({"default": 50, "paper": 200}, scale="paper")
    200
    """
    missing = [s for s in SCALES if s not in choices]
    if missing:
        raise ValueError(
            f"choices must have an entry for every scale {SCALES}; got keys {sorted(choices)}"
        )
    return choices[current_scale(scale)]
