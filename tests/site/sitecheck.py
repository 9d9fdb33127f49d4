"""Where the built website is, which pages it has, and how Chromium is started.

BEYONDLAZY_SITE and BEYONDLAZY_SCREENSHOTS override the two folders; CHROMIUM the browser.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SITE = Path(os.environ.get("BEYONDLAZY_SITE", ROOT / "_build" / "html"))
SHOTS = Path(os.environ.get("BEYONDLAZY_SCREENSHOTS", ROOT / "_build" / "screenshots"))
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def site_pages() -> list[str]:
    """Every HTML page of the site, relative to its root (assets and sources excluded)."""
    if not SITE.is_dir():
        return []
    skip = {"_static", "_sources", "_images", "_sphinx_design_static", "vendor"}
    return sorted(
        p.relative_to(SITE).as_posix() for p in SITE.rglob("*.html")
        if not (set(p.relative_to(SITE).parts[:-1]) & skip)
    )


REQUIRE_SITE = os.environ.get("BEYONDLAZY_REQUIRE_SITE") == "1"  # set by `make check-site`


def site_missing() -> str | None:
    """Why the site cannot be checked, or None."""
    if not (SITE / "index.html").is_file():
        return f"no website at {SITE}: build it first with `make book`"
    return None
