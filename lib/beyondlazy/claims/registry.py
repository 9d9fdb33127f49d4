"""The claims registry: every claim of the course as a function ``(seed, scale) -> result``.

A claim is registered with the :func:`claim` decorator next to the code it exercises::

    @claim("C0.1", statement="…", source="…", chapter="…", test="tests/…::test_…")
    def _(seed: int, scale: str) -> list[Check]:
        ...
        return [Check("test error ratio", ratio, ">=", 10.0), …]

The function returns the :class:`Check` s that decide the claim; :func:`run_claim` times it and
wraps the checks into a :class:`ClaimResult` with its provenance (seed, scale, device, versions,
commit). The claim holds when every check passes.
"""

from __future__ import annotations

import importlib
import json
import math
import pkgutil
import platform
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..device import describe_device, default_device
from ..scale import current_scale
from ..validation import check_int

__all__ = ["Check", "Claim", "ClaimResult", "all_claims", "claim", "get_claim", "run_claim"]

_RELATIONS: dict[str, Callable[[float, object], bool]] = {
    "<=": lambda v, b: v <= b,
    ">=": lambda v, b: v >= b,
    "in": lambda v, b: b[0] <= v <= b[1],
}

def claim_modules() -> list[str]:
    """The modules that register claims: ``beyondlazy.claims.chapterN``, one per chapter."""
    folder = Path(__file__).resolve().parent
    return sorted(f"{__package__}.{info.name}" for info in pkgutil.iter_modules([str(folder)])
                  if re.fullmatch(r"chapter\d+", info.name))


@dataclass(frozen=True)
class Check:
    """One measured number against its threshold: ``value relation bound``.

    ``relation`` is ``"<="``, ``">="`` or ``"in"`` (``bound`` is then a ``(low, high)`` pair).
    A NaN or infinite value never passes.
    """

    name: str
    value: float
    relation: str
    bound: float | tuple[float, float]

    def __post_init__(self):
        if self.relation not in _RELATIONS:
            raise ValueError(
                f"relation must be one of {', '.join(map(repr, _RELATIONS))}; got {self.relation!r}"
            )
        object.__setattr__(self, "value", float(self.value))
        if self.relation == "in":
            low, high = self.bound
            object.__setattr__(self, "bound", (float(low), float(high)))
        else:
            object.__setattr__(self, "bound", float(self.bound))

    @property
    def passed(self) -> bool:
        return math.isfinite(self.value) and _RELATIONS[self.relation](self.value, self.bound)

    def describe(self) -> str:
        bound = (
            f"[{self.bound[0]:.4g}, {self.bound[1]:.4g}]" if self.relation == "in" else f"{self.bound:.4g}"
        )
        verdict = "ok" if self.passed else "FAILS"
        return f"{self.name}: {self.value:.4g} (expected {self.relation} {bound})  {verdict}"


@dataclass(frozen=True)
class Claim:
    """A registered claim of the course."""

    id: str  # e.g. "C0.1"
    statement: str  # what the course asserts, with the default thresholds
    source: str  # paper, theorem or slide it comes from
    chapter: str  # the chapter (notebook) that shows it
    test: str  # the pytest node that checks it
    measure: Callable[[int, str], list[Check]] = field(repr=False, compare=False)
    test_seeds: tuple[int, ...] = (0,)  # seeds the test suite runs


@dataclass(frozen=True)
class ClaimResult:
    """The outcome of running one claim once, with its provenance."""

    claim_id: str
    seed: int
    scale: str
    checks: tuple[Check, ...]
    seconds: float
    provenance: dict

    @property
    def holds(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def to_dict(self) -> dict:
        return {
            "claim": self.claim_id,
            "seed": self.seed,
            "scale": self.scale,
            "holds": self.holds,
            "seconds": round(self.seconds, 3),
            "checks": [
                {**asdict(c), "bound": list(c.bound) if isinstance(c.bound, tuple) else c.bound,
                 "passed": c.passed}
                for c in self.checks
            ],
            "provenance": self.provenance,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def save(self, folder: str | Path) -> Path:
        """Write the result as ``<folder>/<id>-seed<seed>-<scale>.json`` and return the path."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.claim_id}-seed{self.seed}-{self.scale}.json"
        path.write_text(self.to_json() + "\n")
        return path

    def report(self) -> str:
        lines = [
            f"{self.claim_id}  {'HOLDS' if self.holds else 'DOES NOT HOLD'}  "
            f"(seed {self.seed}, scale {self.scale}, {self.seconds:.1f} s on {self.provenance['device']})"
        ]
        lines += ["  " + c.describe() for c in self.checks]
        return "\n".join(lines)


_REGISTRY: dict[str, Claim] = {}


def claim(
    id: str, *, statement: str, source: str, chapter: str, test: str,
    test_seeds: tuple[int, ...] = (0,),
) -> Callable[[Callable[[int, str], list[Check]]], Callable[[int, str], list[Check]]]:
    """Register the decorated function ``(seed, scale) -> list[Check]`` as claim ``id``."""

    def register(fn):
        if not re.fullmatch(r"C\d+\.\d+", id):
            raise ValueError(f"id must look like 'C<chapter>.<number>', e.g. 'C3.8'; got {id!r}")
        if id in _REGISTRY:
            raise ValueError(f"claim id {id!r} is already registered")
        _REGISTRY[id] = Claim(id, statement, source, chapter, test, fn, tuple(test_seeds))
        return fn

    return register


def _load() -> None:
    for module in claim_modules():
        importlib.import_module(module)


def _sort_key(claim_id: str):
    return tuple(int(part) for part in claim_id.lstrip("C").split("."))


def all_claims() -> list[Claim]:
    """Every registered claim, in course order."""
    _load()
    return [_REGISTRY[k] for k in sorted(_REGISTRY, key=_sort_key)]


def get_claim(claim_id: str) -> Claim:
    """The claim with this id; a ``KeyError`` listing the known ids otherwise."""
    _load()
    try:
        return _REGISTRY[claim_id]
    except KeyError:
        known = ", ".join(c.id for c in all_claims())
        raise KeyError(f"unknown claim id {claim_id!r}; known ids: {known}") from None


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(seed: int, scale: str) -> dict:
    """Where and how a result was computed."""
    from .. import __version__
    import numpy

    return {
        "seed": seed,
        "scale": scale,
        "device": describe_device(default_device()),
        "commit": _commit(),
        "beyondlazy": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }


def run_claim(claim_id: str, seed: int = 0, scale: str | None = None) -> ClaimResult:
    """Run claim ``claim_id`` once with ``seed`` at ``scale`` (default: ``$BEYONDLAZY_SCALE``)."""
    seed = check_int("seed", seed, minimum=0)
    scale = current_scale(scale)
    entry = get_claim(claim_id)
    start = time.perf_counter()
    checks = entry.measure(seed, scale)
    seconds = time.perf_counter() - start
    return ClaimResult(claim_id, seed, scale, tuple(checks), seconds, provenance(seed, scale))
