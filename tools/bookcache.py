"""Invalidate the book's execution cache when anything the notebooks depend on changes.

jupyter-cache keys a notebook on its code cells only. The outputs also depend on the library
(lib/), the installed packages and BEYONDLAZY_SCALE, so `make book` first computes a key from
those and, when it differs from the key of the last build, deletes the cache and the built pages:
no output computed with other code, other packages or at another scale reaches the site.

    python -m tools.bookcache [BUILD_DIR]      # default BUILD_DIR: _build
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STALE = (".jupyter_cache", ".doctrees", "html", "jupyter_execute")


def cache_key(root: Path = ROOT) -> str:
    digest = hashlib.sha256()
    for path in sorted((root / "lib").rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    packages = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions())
    digest.update("\n".join(packages).encode())
    digest.update(f"BEYONDLAZY_SCALE={os.environ.get('BEYONDLAZY_SCALE', '')}".encode())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def refresh(build: Path) -> bool:
    """Delete stale outputs under ``build`` if the key changed; return whether it did."""
    stamp = build / ".beyondlazy-cache-key"
    key = cache_key()
    if stamp.exists() and stamp.read_text().strip() == key:
        return False
    for name in STALE:
        shutil.rmtree(build / name, ignore_errors=True)
    build.mkdir(parents=True, exist_ok=True)
    stamp.write_text(key + "\n")
    return True


if __name__ == "__main__":
    build = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "_build"
    if refresh(build):
        print("bookcache: library, packages or scale changed: every notebook will be re-executed")
    else:
        print("bookcache: nothing the notebooks depend on changed: cached outputs are reused")
