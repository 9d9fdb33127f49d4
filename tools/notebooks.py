"""Maintenance of the course notebooks: the set-up cell, outputs, kernelspec, the table of contents.

    python -m tools.notebooks list    # the notebooks listed in _toc.yml, one per line
    python -m tools.notebooks check   # exit 1 and explain if a notebook breaks a convention
    python -m tools.notebooks fix     # rewrite the set-up cell, strip outputs, set the kernel

Conventions (checked by tests/test_book.py as well):
- the first code cell is the set-up cell rendered from BOOTSTRAP_TEMPLATE with the repository URL
  and branch of _config.yml (the one place they live);
- the second code cell imports beyondlazy and calls beyondlazy.notebook_setup();
- notebooks are committed without outputs, execution counts or widget state, with kernel python3.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent

BOOTSTRAP_TEMPLATE = '''\
# Set-up, the same in every chapter. On Google Colab it installs the
# course library without its dependencies (Colab has torch, numpy and
# matplotlib; reinstalling them forces a restart). Elsewhere it does
# nothing: `make lab`, `make book` and Binder install everything first.
# To install from a local copy instead of the repository (a fork, or
# the tests), set BEYONDLAZY_COLAB_SOURCE to its path before running.
import os
import sys

if "google.colab" in sys.modules:
    import subprocess

    REPOSITORY = "{url}"
    PACKAGE = os.environ.get("BEYONDLAZY_COLAB_SOURCE",
                             f"beyondlazy @ git+{{REPOSITORY}}@{branch}")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                    "--no-deps", PACKAGE], check=True)'''

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def book_config(root: Path = ROOT) -> dict:
    return yaml.safe_load((root / "_config.yml").read_text())


def repository(root: Path = ROOT) -> tuple[str, str]:
    """The repository URL and branch from _config.yml."""
    repo = book_config(root)["repository"]
    return repo["url"].rstrip("/"), repo.get("branch", "main")


def bootstrap_source(root: Path = ROOT) -> str:
    url, branch = repository(root)
    return BOOTSTRAP_TEMPLATE.format(url=url, branch=branch)


def toc_files(root: Path = ROOT) -> list[str]:
    """Every file named in _toc.yml (without extension), root first."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return files


def toc_notebooks(root: Path = ROOT) -> list[Path]:
    """The notebooks listed in _toc.yml, in book order."""
    return [root / f"{f}.ipynb" for f in toc_files(root) if (root / f"{f}.ipynb").exists()]


def code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def source(cell: dict) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def problems(path: Path, root: Path = ROOT) -> list[str]:
    """What is wrong with one notebook (an empty list when nothing is)."""
    nb = json.loads(path.read_text())
    found = []
    cells = code_cells(nb)
    if len(cells) < 2:
        return [f"{path.name}: needs the set-up cell and the import cell"]
    if source(cells[0]) != bootstrap_source(root):
        found.append(f"{path.name}: the first code cell is not the set-up cell (run `make fix-notebooks`)")
    second = source(cells[1])
    if "import beyondlazy" not in second or "notebook_setup()" not in second:
        found.append(f"{path.name}: the second code cell must import beyondlazy and call notebook_setup()")
    for i, cell in enumerate(cells):
        if cell.get("outputs") or cell.get("execution_count") is not None:
            found.append(f"{path.name}: code cell {i} carries outputs or an execution count")
    if nb.get("metadata", {}).get("kernelspec", {}).get("name") != "python3":
        found.append(f"{path.name}: kernelspec must be python3")
    if "widgets" in nb.get("metadata", {}):
        found.append(f"{path.name}: carries saved widget state in its metadata")
    return found


def fix(path: Path, root: Path = ROOT) -> None:
    """Rewrite the set-up cell and strip outputs, counts and widget state, in place."""
    nb = json.loads(path.read_text())
    cells = code_cells(nb)
    if cells:
        cells[0]["source"] = bootstrap_source(root)
    for cell in cells:
        cell["outputs"] = []
        cell["execution_count"] = None
        cell.get("metadata", {}).pop("execution", None)
    nb["metadata"].pop("widgets", None)
    nb["metadata"]["kernelspec"] = dict(KERNELSPEC)
    nb["metadata"].setdefault("language_info", {"name": "python"})
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tools.notebooks")
    parser.add_argument("command", choices=["list", "check", "fix"], nargs="?", default="check")
    parser.add_argument("--root", type=Path, default=ROOT, help="the book's folder")
    args = parser.parse_args(argv)
    root, command = args.root.resolve(), args.command
    notebooks = toc_notebooks(root)
    if command == "list":
        print("\n".join(str(p.relative_to(root)) for p in notebooks))
        return 0
    if command == "fix":
        for path in sorted((root / "chapters").glob("*.ipynb")):
            fix(path, root)
        return 0
    if command == "check":
        found = [p for path in notebooks for p in problems(path, root)]
        print("\n".join(found) or f"{len(notebooks)} notebooks follow the conventions")
        return 1 if found else 0
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
