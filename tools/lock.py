"""Pin every package the course installs to the version it was tested with: constraints.txt.

    python -m tools.lock            # rewrite constraints.txt from this environment
    python -m tools.lock --check    # exit 1 if constraints.txt differs from this environment

pyproject.toml keeps ranges (Colab and GPU users keep the torch they have). constraints.txt pins
the whole closure of `beyondlazy[dev]` (with the `lab` extra that Binder installs) at the versions
installed here, read from the installed packages' metadata (no resolver, no network). The
Makefile installs with it (`make CONSTRAINTS=/dev/null ...` lifts it; the weekly CI run does),
and Binder installs `-e .[lab]` under it, so a launch in a year gets what the course was tested
with. Run it after `make test` passes with upgraded packages, and commit both.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / "constraints.txt"
PROJECT = "beyondlazy"
HEADER = """\
# Every package the course installs, at the version it is tested with (written by
# `python -m tools.lock` from the tested environment; do not edit by hand).
# The Makefile installs with it; Binder's requirements.txt installs `-e .[lab]` under it.
# On a machine where you want pip to choose itself (e.g. a CUDA build of torch):
#   make book CONSTRAINTS=/dev/null
"""


def project_requirements(extras: set[str], root: Path = ROOT) -> list[Requirement]:
    """The course package's requirements with ``extras``, from pyproject.toml (not the installed copy)."""
    import tomllib

    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    optional = project.get("optional-dependencies", {})
    found, todo, seen = [Requirement(r) for r in project["dependencies"]], list(extras), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for line in optional.get(extra, []):
            requirement = Requirement(line)
            if canonicalize_name(requirement.name) == PROJECT:
                todo.extend(requirement.extras)  # dev = ["beyondlazy[book,test,...]"]
            else:
                found.append(requirement)
    return found


def closure(requirements: list[Requirement]) -> dict[str, str]:
    """Every installed distribution the requirements pull in: {canonical name: version}."""
    pinned: dict[str, str] = {}
    todo = [(r, frozenset(r.extras)) for r in requirements]
    done: set[tuple[str, frozenset]] = set()
    while todo:
        requirement, extras = todo.pop()
        name = canonicalize_name(requirement.name)
        if (name, extras) in done:
            continue
        done.add((name, extras))
        try:
            dist = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            raise SystemExit(f"{requirement.name} is required but not installed: run `make setup` first")
        pinned[name] = re.sub(r"\+.*$", "", dist.version)  # torch 2.13.0+cpu -> 2.13.0
        for line in dist.requires or []:
            child = Requirement(line)
            wanted = [""] + sorted(extras)
            if child.marker and not any(child.marker.evaluate({**default_environment(), "extra": e})
                                        for e in wanted):
                continue
            todo.append((child, frozenset(child.extras)))
    pinned.pop(PROJECT, None)
    return pinned


def render(pins: dict[str, str]) -> str:
    return HEADER + "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()))


def read(path: Path = CONSTRAINTS) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    return pins


def main(argv: list[str]) -> int:
    pins = closure(project_requirements({"dev", "lab"}))
    if "--check" in argv:
        current = read()
        changed = sorted(set(current.items()) ^ set(pins.items()))
        print("\n".join(f"{n}=={v}" for n, v in changed) or "constraints.txt matches this environment")
        return 1 if changed else 0
    CONSTRAINTS.write_text(render(pins))
    print(f"{CONSTRAINTS.name}: {len(pins)} packages pinned")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
