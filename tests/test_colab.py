"""Launches: the Colab path executed against this checkout; Binder and `make lab` from one list.

Colab: every notebook's set-up cell runs in a fresh interpreter that looks like a Colab runtime
(a stand-in `google.colab` module; torch, numpy and matplotlib installed; the course library
not importable), with BEYONDLAZY_COLAB_SOURCE pointing at a wheel built from this checkout
instead of the repository URL and pip's target a temporary folder. Then everything the notebook
imports must import, and `beyondlazy` must come from what the cell installed.

JupyterLab: the `lab` extra of pyproject.toml is the one list of what a reader's JupyterLab
needs; `make lab` (through `dev`) and Binder (requirements.txt) both install it, and Binder
installs it at the versions of constraints.txt.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tools import lock, notebooks

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = notebooks.toc_notebooks()

# Runs in a fresh interpreter: hide the course library, stand in for Colab, run each set-up cell.
DRIVER = r'''
import importlib, importlib.util, json, os, sys, types

spec = json.loads(sys.stdin.read())
# What Colab has: the scientific stack, and no course library anywhere on the path.
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in type(f).__module__]
while (found := importlib.util.find_spec("beyondlazy")) is not None:
    home = os.path.realpath(os.path.dirname(os.path.dirname(found.origin)))
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != home]
google = types.ModuleType("google")
google.colab = types.ModuleType("google.colab")
sys.modules.update({"google": google, "google.colab": google.colab})

results = {}
for name, cell in spec["cells"].items():
    target = os.path.join(spec["targets"], name)
    os.environ["PIP_TARGET"] = target  # where the cell's `pip install` puts the library
    exec(compile(cell, f"{name} (set-up cell)", "exec"), {"__name__": "__main__"})
    for module in [m for m in sys.modules if m.split(".")[0] == "beyondlazy"]:
        del sys.modules[module]
    sys.path.insert(0, target)
    imported = {m: importlib.import_module(m).__name__ for m in spec["imports"][name]}
    import beyondlazy
    results[name] = {"beyondlazy": beyondlazy.__file__, "imported": sorted(imported)}
    sys.path.remove(target)
print(json.dumps(results))
'''


def imports_of(path: Path) -> list[str]:
    """Every module a notebook imports (absolute imports in its code cells)."""
    found = set()
    for cell in notebooks.code_cells(json.loads(path.read_text())):
        code = "\n".join(l for l in notebooks.source(cell).splitlines() if not l.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module)
    return sorted(found)


def build_requirements_installed() -> bool:
    from importlib import metadata

    from packaging.requirements import Requirement

    for line in tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]:
        requirement = Requirement(line)
        try:
            if not requirement.specifier.contains(metadata.version(requirement.name), prereleases=True):
                return False
        except metadata.PackageNotFoundError:
            return False
    return True


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The course library built once from this checkout (what the Colab switch installs)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        (source / name).write_bytes((ROOT / name).read_bytes())
    subprocess.run(["cp", "-r", str(ROOT / "lib"), str(source / "lib")], check=True)
    out = tmp_path_factory.mktemp("wheel")
    # Build with the installed setuptools when it is recent enough (fast, offline); otherwise
    # (a fresh Python 3.11 venv bundles setuptools 65) let pip fetch what pyproject.toml asks for.
    isolation = ["--no-build-isolation"] if build_requirements_installed() else []
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", *isolation,
                    "-w", str(out), str(source)], check=True, timeout=300)
    (built,) = out.glob("beyondlazy-*.whl")
    return built


def test_every_notebook_runs_its_colab_setup_and_imports_against_this_checkout(wheel, tmp_path):
    cells = {p.stem: notebooks.source(notebooks.code_cells(json.loads(p.read_text()))[0]) for p in NOTEBOOKS}
    spec = {"cells": cells, "imports": {p.stem: imports_of(p) for p in NOTEBOOKS}, "targets": str(tmp_path)}
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_TARGET")}
    env.update(BEYONDLAZY_COLAB_SOURCE=str(wheel), MPLBACKEND="Agg", PIP_DISABLE_PIP_VERSION_CHECK="1")
    run = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps(spec), capture_output=True,
                         text=True, env=env, cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(run.stdout.strip().splitlines()[-1])
    assert sorted(results) == sorted(cells)
    for name, result in results.items():
        # The library the notebook imported is the one its set-up cell installed.
        assert Path(result["beyondlazy"]).is_relative_to(tmp_path / name), result["beyondlazy"]
        assert "beyondlazy" in result["imported"] and result["imported"] == spec["imports"][name]


def test_setup_cell_switch_is_documented_and_defaults_to_the_repository():
    cell = notebooks.bootstrap_source()
    url, branch = notebooks.repository()
    assert 'os.environ.get("BEYONDLAZY_COLAB_SOURCE",' in cell and "BEYONDLAZY_COLAB_SOURCE to its path" in cell
    assert f'git+{{REPOSITORY}}@{branch}"' in cell and url in cell
    assert "BEYONDLAZY_COLAB_SOURCE" in (ROOT / "README.md").read_text()


def test_imports_of_finds_every_kind_of_import(tmp_path):
    nb = {"cells": [{"cell_type": "code", "source": "import a.b as c, d\nfrom e.f import g\nfrom . import h\n%time x = 1"}],
          "metadata": {}}
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(nb))
    assert imports_of(path) == ["a.b", "d", "e.f"]


# --- JupyterLab and Binder: one list ---------------------------------------------------------

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def names(requirements) -> set[str]:
    return {re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def test_the_lab_extra_lists_what_a_readers_jupyterlab_needs():
    lab = names(PYPROJECT["optional-dependencies"]["lab"])
    assert {"jupyterlab", "jupyterlab-myst", "ipywidgets", "ipykernel"} <= lab, lab


def test_make_lab_and_binder_install_the_same_lab_extra():
    dev = PYPROJECT["optional-dependencies"]["dev"]
    assert any(re.fullmatch(r"beyondlazy\[[\w,]*\blab\b[\w,]*\]", d) for d in dev), dev
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r'^lab: \$\(INSTALLED\)', makefile, flags=re.M)
    assert '-e ".[dev]"' in makefile
    lines = [l.strip() for l in (ROOT / "requirements.txt").read_text().splitlines()
             if l.strip() and not l.startswith("#")]
    assert "-e .[lab]" in lines
    # No second list: every other line is an index or the constraints file.
    others = [l for l in lines if l != "-e .[lab]"]
    assert all(l.startswith(("--extra-index-url", "-c ")) for l in others), others
    assert "-c constraints.txt" in lines


def test_binder_runs_the_python_the_course_is_tested_with():
    runtime = (ROOT / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.\d+", runtime)
    minimum = re.search(r">=\s*3\.(\d+)", PYPROJECT["requires-python"]).group(1)
    assert int(runtime.split(".")[1]) >= int(minimum)
    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists(), \
        "a binder/ folder makes repo2docker ignore runtime.txt and requirements.txt"


def test_constraints_pin_everything_binder_and_make_install():
    pins = lock.read()
    # What Binder installs (the lab extra and the library's own dependencies) and what `make`
    # installs (dev), with every package they pull in, pinned with ==.
    wanted = lock.closure(lock.project_requirements({"dev", "lab"}))
    assert set(wanted) <= set(pins), sorted(set(wanted) - set(pins))
    assert all(re.fullmatch(r"[\w.]+", v) for v in pins.values())
    assert not any(n.startswith("nvidia-") for n in pins), "the CPU build of torch pulls in no CUDA libraries"
    if os.environ.get("CONSTRAINTS", "constraints.txt") == "constraints.txt":
        # The environment `make` installed with these constraints is the one they pin.
        assert {n: pins[n] for n in wanted} == wanted


# --- Kernels: encrypted, so the build prints no "TCP without encryption" warning --------------

def start_and_run(policy: str | None, tmp_path: Path) -> tuple[str, bool, str]:
    """Start a python3 kernel, run one cell; return its status, whether keys were used, its log."""
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="python3", **({"transport_encryption": policy} if policy else {}))
    log_path = tmp_path / f"kernel-{policy}.log"
    with log_path.open("w") as log:
        km.start_kernel(stderr=log, stdout=subprocess.DEVNULL)
        try:
            client = km.client()
            client.start_channels()
            client.wait_for_ready(timeout=120)
            reply = client.execute_interactive("x = 6 * 7", timeout=120)
            client.stop_channels()
        finally:
            km.shutdown_kernel(now=False)
    return reply["content"]["status"], bool(km.get_connection_info().get("curve_publickey")), log_path.read_text()


def test_book_and_nbmake_kernels_encrypt_their_connection_and_do_not_warn(tmp_path):
    zmq = pytest.importorskip("zmq")
    if not zmq.has("curve"):
        pytest.skip("pyzmq without CurveZMQ: kernels cannot encrypt here")
    # The oracle: without keys the kernel warns.
    status, keys, log = start_and_run("disabled", tmp_path)
    assert status == "ok" and not keys and "without encryption" in log
    from tools import kernel_encryption

    assert kernel_encryption.enable()
    status, keys, log = start_and_run(None, tmp_path)  # the default, as nbmake and myst-nb use it
    assert status == "ok" and keys and "without encryption" not in log, log


def test_the_builds_load_the_kernel_encryption_default():
    makefile = (ROOT / "Makefile").read_text()
    assert "-p tools.kernel_encryption" in makefile  # nbmake in `make test`
    assert "--KernelManager.transport_encryption=auto" in makefile  # `make lab`
    config = notebooks.book_config()["sphinx"]["local_extensions"]
    assert config.get("kernel_encryption") == "tools"  # the book build (myst-nb)
