"""Serve the built website on 127.0.0.1 and open it in headless Chromium (Playwright).

Run with `make check-site` after `make book` (or `make book-executed`). Needs Debian's `chromium`
(`apt-get install chromium`) and the `playwright` package (never `playwright install`: the
system browser is used). Screenshots and a JSON report go to _build/screenshots/. Without a built
site the checks are skipped, except under `make check-site`, where that is a failure.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sitecheck import CHROMIUM_FLAGS, REQUIRE_SITE, SHOTS, SITE, site_missing


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output readable
        pass


@pytest.fixture(scope="session")
def base_url():
    reason = site_missing()
    if reason:
        pytest.fail(reason) if REQUIRE_SITE else pytest.skip(reason)
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="session")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    executable = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        pytest.fail("headless Chromium not found: install Debian's package (apt-get install chromium) "
                    "or set CHROMIUM=/path/to/chromium")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def report():
    """Counts over every page, written to _build/screenshots/report.json at the end."""
    data = {"pages": 0, "requests": 0, "failed_requests": 0, "console_errors": 0,
            "math_expressions": 0, "images": 0, "widgets": 0, "internal_links": 0}
    yield data
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "report.json").write_text(json.dumps(data, indent=2) + "\n")
    print("\nsite check:", ", ".join(f"{k} {v}" for k, v in data.items()))
