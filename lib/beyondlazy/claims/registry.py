"""The claims registry: every claim of the course as a function ``(seed, scale) -> result``.

A claim is registered with the :func:`claim` decorator next to the code it exercises::

    @claim("C0.1", statement="…", source="…", chapter="…", test="tests/…::test_…")
    def _(seed: int, scale: str) -> list[Check]:
        ...
        return [Check("test error ratio", ratio, ">=", 10.0), …]

The function returns the :class:`Check` s that decide the claim; :func:`run_claim` times it and
wraps the checks into a :class:`ClaimResult` with its provenance (seed, scale, device, versions,
commit, code fingerprint). The claim holds when every check passes.

Provenance and staleness
------------------------
A saved result records the git commit it was computed from (``<commit>+dirty`` when the library
had uncommitted changes) and a fingerprint of the claim's code (:func:`code_fingerprint`): a hash
of the source of the registered function and of everything of the course's code it reaches —
the module-level helpers, classes and configuration values it names, followed transitively,
including the library functions they call. A saved result is

``current``
    its fingerprint equals the fingerprint of the code now, and it was computed from committed code;
``stale``
    the claim's code changed since (the parts that changed are named);
``uncommitted``
    computed from uncommitted code (``+dirty``), or from a copy without git history;
``unknown``
    saved before fingerprints were recorded.

Because the fingerprint follows only what a claim uses, an edit to one claim of a chapter module
leaves its siblings' results current.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import importlib
import inspect
import json
import math
import os
import pkgutil
import platform
import re
import subprocess
import tempfile
import time
import types
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..device import describe_device, default_device
from ..scale import current_scale
from ..validation import check_int

__all__ = ["Check", "Claim", "ClaimResult", "ResultStatus", "all_claims", "claim", "code_fingerprint",
           "code_provenance", "get_claim", "result_path", "result_status", "run_claim"]

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
        """Write the result as ``<folder>/<id>-seed<seed>-<scale>.json`` and return the path.

        The file is written to a temporary name and renamed: an interrupted run never leaves a
        truncated result behind.
        """
        path = result_path(folder, self.claim_id, self.seed, self.scale)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(self.to_json() + "\n")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
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


def result_path(folder: str | Path, claim_id: str, seed: int, scale: str) -> Path:
    """Where :meth:`ClaimResult.save` writes the result of ``claim_id`` for ``seed`` at ``scale``."""
    return Path(folder) / f"{claim_id}-seed{seed}-{scale}.json"


# ---------------------------------------------------------------------------------------------
# Provenance: the commit and the fingerprint of a claim's code
# ---------------------------------------------------------------------------------------------

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # lib/beyondlazy
_PACKAGE = __package__.split(".")[0]  # "beyondlazy"


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10,
                             cwd=_PACKAGE_DIR)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _commit() -> str:
    """``git rev-parse HEAD`` (12 digits), ``+dirty`` when the library has uncommitted changes.

    Only the library (``lib/beyondlazy``, untracked files included) decides dirtiness: results,
    notebooks and documentation do not change what a claim computes.
    """
    head = _git("rev-parse", "--short=12", "HEAD")
    if not head:
        return "unknown"
    status = _git("status", "--porcelain", "--untracked-files=normal", "--", ".")
    if status is None:
        return "unknown"
    return head + ("+dirty" if status else "")


def _normalized_source(obj) -> str:
    """The source of ``obj`` without blank lines, whole-line comments and trailing whitespace."""
    lines = inspect.getsource(obj).splitlines()
    kept = [line.rstrip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return "\n".join(kept)


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _is_ours(obj, home: str) -> bool:
    """Whether ``obj`` (a function, class or module) belongs to the course's code."""
    module = obj.__name__ if isinstance(obj, types.ModuleType) else getattr(obj, "__module__", None)
    return isinstance(module, str) and (module == home or module == _PACKAGE
                                        or module.startswith(_PACKAGE + "."))


def _names(code: types.CodeType) -> set[str]:
    """Every global or attribute name used by ``code`` and the code nested in it."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


class _Fingerprinter:
    """Collects the parts of the course's code a function reaches, each with a hash."""

    def __init__(self, home: str):
        self.home = home  # the claim's own module, also followed when it is not in the package
        self.parts: dict[str, str] = {}
        self.seen: set[int] = set()

    def function(self, fn) -> None:
        fn = inspect.unwrap(fn)
        if id(fn) in self.seen or not isinstance(fn, types.FunctionType):
            return
        if fn.__code__.co_filename.startswith("<"):  # generated (e.g. a dataclass's __init__):
            return  # the source of its class covers it
        self.seen.add(id(fn))
        key = f"{fn.__module__}.{fn.__qualname__}"
        defaults = [fn.__defaults__, fn.__kwdefaults__]
        digest = _short_hash(_normalized_source(fn) + "\n" + self.value(defaults))
        if "<lambda>" in key:  # lambdas share a name: tell them apart by their code
            key += "#" + digest[:8]
        self.parts[key] = digest
        self.follow(fn.__code__, fn.__globals__)
        for cell in fn.__closure__ or ():  # functions a closure calls; data is the caller's
            try:
                content = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if isinstance(content, (types.FunctionType, type)):
                self.object(content)

    def cls(self, cls: type) -> None:
        if id(cls) in self.seen:
            return
        self.seen.add(id(cls))
        self.parts[f"{cls.__module__}.{cls.__qualname__}"] = _short_hash(_normalized_source(cls))
        for member in vars(cls).values():
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            if isinstance(member, property):
                for accessor in (member.fget, member.fset, member.fdel):
                    if accessor is not None:
                        self.function(accessor)
            elif isinstance(member, types.FunctionType):
                self.function(member)

    def object(self, obj) -> None:
        obj = inspect.unwrap(obj) if callable(obj) and not isinstance(obj, type) else obj
        if isinstance(obj, types.FunctionType) and _is_ours(obj, self.home):
            self.function(obj)
        elif isinstance(obj, type) and _is_ours(obj, self.home):
            self.cls(obj)

    def follow(self, code: types.CodeType, namespace: dict) -> None:
        """Add what the names of ``code`` resolve to in ``namespace`` (a module's globals)."""
        names = _names(code)
        module_name = namespace.get("__name__", "?")
        for name in sorted(names):
            if name not in namespace:
                continue  # a builtin, a local or an attribute name
            self.resolve(f"{module_name}.{name}", namespace[name], names)

    def resolve(self, key: str, value, names: set[str]) -> None:
        if isinstance(value, types.ModuleType):
            if _is_ours(value, self.home) and id(value) not in self.seen:
                self.seen.add(id(value))
                for name in sorted(names):  # e.g. ``rng.generator``: follow the attributes used
                    if hasattr(value, name):
                        self.resolve(f"{value.__name__}.{name}", getattr(value, name), names)
                self.seen.discard(id(value))
        elif isinstance(value, (types.FunctionType, type)) or callable(getattr(value, "__wrapped__", None)):
            self.object(value)
        elif not callable(value):
            description = self.value(value)
            if description is not None:
                self.parts[key] = _short_hash(description)

    def value(self, value, depth: int = 0) -> str | None:
        """A deterministic description of a configuration value; ``None`` for foreign objects."""
        if depth > 20:
            return "..."
        if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
            return repr(value)
        if isinstance(value, enum.Enum):
            return f"{type(value).__qualname__}.{value.name}"
        if isinstance(value, (tuple, list)):
            inner = [self.value(v, depth + 1) for v in value]
            return f"{type(value).__name__}({', '.join(str(i) for i in inner)})"
        if isinstance(value, (set, frozenset)):
            return f"set({', '.join(sorted(str(self.value(v, depth + 1)) for v in value))})"
        if isinstance(value, dict):
            items = [f"{self.value(k, depth + 1)}: {self.value(v, depth + 1)}" for k, v in value.items()]
            return "{" + ", ".join(items) + "}"
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            self.object(type(value))
            fields = [f"{f.name}={self.value(getattr(value, f.name), depth + 1)}"
                      for f in dataclasses.fields(value)]
            return f"{type(value).__qualname__}({', '.join(fields)})"
        if isinstance(value, (types.FunctionType, type)):
            self.object(value)
            return f"{value.__module__}.{value.__qualname__}"
        if isinstance(value, functools.partial):
            self.object(value.func)
            return f"partial({self.value(value.func, depth + 1)}, {self.value(value.args, depth + 1)}, " \
                   f"{self.value(value.keywords, depth + 1)})"
        if type(value).__module__ == "torch" and isinstance(value, (torch.dtype, torch.device)):
            return str(value)
        return None if depth == 0 else f"<{type(value).__module__}.{type(value).__qualname__}>"


def code_fingerprint(fn: Callable) -> dict:
    """The fingerprint of a claim's code: ``{"fingerprint": hash, "parts": {name: hash}}``.

    The parts are the function itself (its source, decorator included, normalized: blank lines,
    whole-line comments and trailing spaces removed) and, transitively, every function, class and
    module-level value of the course's code (the claim's module and the ``beyondlazy`` package)
    that it names: helpers through their source, configurations (e.g. a dict of frozen dataclass
    instances per scale) through a deterministic description of their values, library functions
    through their source. Third-party code (torch, numpy) is covered by the versions recorded
    next to the fingerprint. Names are resolved statically (the names a code object uses), so a
    method called on an object is covered when its class is named somewhere on the way (e.g. by
    the function that constructs it).
    """
    fn = inspect.unwrap(fn)
    collector = _Fingerprinter(fn.__module__)
    collector.function(fn)
    parts = dict(sorted(collector.parts.items()))
    digest = _short_hash("\n".join(f"{k}={v}" for k, v in parts.items()))
    return {"fingerprint": digest, "parts": parts}


def code_provenance(claim_id: str) -> dict:
    """The commit and code fingerprint of ``claim_id`` now (read them before running the claim)."""
    entry = get_claim(claim_id)
    try:
        code = code_fingerprint(entry.measure)
    except (OSError, TypeError):  # no source available (e.g. a claim defined interactively)
        code = {"fingerprint": None, "parts": {}}
    return {"commit": _commit(), "code": code}


def provenance(seed: int, scale: str, code: dict | None = None) -> dict:
    """Where and how a result was computed; ``code`` as returned by :func:`code_provenance`."""
    from .. import __version__
    import numpy

    code = code if code is not None else {"commit": _commit(), "code": {"fingerprint": None, "parts": {}}}
    return {
        "seed": seed,
        "scale": scale,
        "device": describe_device(default_device()),
        "commit": code["commit"],
        "code": code["code"],
        "beyondlazy": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }


def _cache_counts(module_name: str) -> tuple[int, int]:
    """Hits and misses of the ``functools.lru_cache`` s of a claim module."""
    module = importlib.import_module(module_name)
    hits = misses = 0
    for value in vars(module).values():
        info = getattr(value, "cache_info", None)
        if callable(info):
            stats = info()
            hits, misses = hits + stats.hits, misses + stats.misses
    return hits, misses


def run_claim(claim_id: str, seed: int = 0, scale: str | None = None, *,
              code: dict | None = None) -> ClaimResult:
    """Run claim ``claim_id`` once with ``seed`` at ``scale`` (default: ``$BEYONDLAZY_SCALE``).

    ``code`` is the claim's :func:`code_provenance`, read now when not given (a long batch reads it
    once before it starts, so that an edit made while it runs cannot be attributed to it).
    """
    seed = check_int("seed", seed, minimum=0)
    scale = current_scale(scale)
    entry = get_claim(claim_id)
    code = code if code is not None else code_provenance(claim_id)
    module = entry.measure.__module__
    before = _cache_counts(module)
    start = time.perf_counter()
    checks = entry.measure(seed, scale)
    seconds = time.perf_counter() - start
    hits, misses = (a - b for a, b in zip(_cache_counts(module), before))
    record = provenance(seed, scale, code)
    if hits and not misses:  # every measurement came from an earlier claim of this process
        record["reused_cached_run"] = True
    return ClaimResult(claim_id, seed, scale, tuple(checks), seconds, record)


# ---------------------------------------------------------------------------------------------
# Status of a saved result
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultStatus:
    """Whether a saved result still describes the code now: ``name`` and a short explanation."""

    name: str  # "current", "stale", "uncommitted" or "unknown"
    detail: str

    @property
    def current(self) -> bool:
        return self.name == "current"


def result_status(data: dict, now: dict | None = None) -> ResultStatus:
    """The status of a saved result ``data`` (parsed JSON) against the code now.

    ``now`` is the claim's current :func:`code_provenance` ``["code"]`` (read from the registry
    when not given; a result of an unregistered claim is ``stale``).
    """
    record = data.get("provenance", {})
    saved = record.get("code") or {}
    if not saved.get("fingerprint"):
        return ResultStatus("unknown", "computed before code fingerprints were recorded")
    if now is None:
        try:
            now = code_provenance(data["claim"])["code"]
        except KeyError:
            return ResultStatus("stale", f"claim {data.get('claim')!r} is no longer registered")
    if saved["fingerprint"] != now.get("fingerprint"):
        old, new = saved.get("parts", {}), now.get("parts", {})
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        shown = ", ".join(f"`{k.removeprefix(_PACKAGE + '.')}`" for k in changed[:4])
        more = f" and {len(changed) - 4} more" if len(changed) > 4 else ""
        return ResultStatus("stale", f"code changed since: {shown}{more}" if changed else "code changed since")
    commit = str(record.get("commit", "unknown"))
    if commit == "unknown":
        return ResultStatus("uncommitted", "code as now, but computed without a git commit on record")
    if commit.endswith("+dirty"):
        return ResultStatus("uncommitted", f"code as now, but computed with uncommitted changes on "
                                           f"top of `{commit.removesuffix('+dirty')}`")
    return ResultStatus("current", f"code unchanged since `{commit}`")
