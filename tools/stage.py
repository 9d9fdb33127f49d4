"""Copy the book's sources into a scratch folder whose notebooks are executed in place.

    python -m tools.stage DEST

`make test` runs nbmake with --overwrite on DEST, so that each notebook is executed exactly once;
DEST's _config.yml has execution switched off, so `make book-executed` publishes those outputs
without running anything again.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SKIP = {".git", ".venv", "_build", ".book-executed", "__pycache__", ".pytest_cache", ".ipynb_checkpoints", "node_modules"}


def stage(dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)

    def ignore(folder, names):
        return [n for n in names if n in SKIP or n.endswith(".egg-info")]

    shutil.copytree(ROOT, dest, ignore=ignore)
    config = yaml.safe_load((dest / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "off"
    (dest / "_config.yml").write_text(
        "# Staged copy: notebooks were executed by nbmake; the build must not execute them again.\n"
        + yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m tools.stage DEST", file=sys.stderr)
        sys.exit(2)
    stage(Path(sys.argv[1]).resolve())
