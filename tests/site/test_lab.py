"""The notebooks as a reader runs them: JupyterLab in headless Chromium.

JupyterLab starts on 127.0.0.1 with a token, in a temporary folder holding copies of the chapter
notebooks, with its settings, workspaces and runtime files in that folder too.
- Every chapter is opened (render check): theorem, definition and exercise blocks must be
  rendered by jupyterlab-myst (no raw ``:::{prf:...}`` fence left) and the math typeset.
- One chapter is run whole (Run > Run All Cells): LAB_RUN, by default Chapter 3b, the shortest
  chapter with a live explorer (about 50 s of computing on 2 cores; running every chapter would
  add about 5 minutes to CI for no path the other chapters exercise differently). Its cells must
  finish without an error output, and moving the explorer's slider must redraw its figure.
Screenshots go to _build/lab-screenshots/. Runs under `make check-site` (BEYONDLAZY_REQUIRE_SITE=1),
where a missing chromium or JupyterLab is a failure, or with BEYONDLAZY_LAB=1; skipped otherwise.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sitecheck import CHROMIUM_FLAGS, REQUIRE_SITE, ROOT
from tools import notebooks

SHOTS = Path(os.environ.get("BEYONDLAZY_LAB_SCREENSHOTS", ROOT / "_build" / "lab-screenshots"))
NOTEBOOKS = notebooks.toc_notebooks()
LAB_RUN = os.environ.get("LAB_RUN", "03b_phases_and_scaling")
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
RENDERED = ".myst, .jp-RenderedMarkdown"
RAW_FENCE = (":::{prf:", ":::{exercise", ":::{solution", ":::{admonition", ":::{note", "```{prf:")


def missing(reason: str):
    pytest.fail(reason) if REQUIRE_SITE else pytest.skip(reason)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 over copies of the notebooks: (base URL, token, folder)."""
    if not (REQUIRE_SITE or os.environ.get("BEYONDLAZY_LAB") == "1"):
        pytest.skip("the JupyterLab test runs under `make check-site` (or with BEYONDLAZY_LAB=1): minutes of work")
    if shutil.which("jupyter-lab", path=str(Path(sys.executable).parent)) is None:
        missing("JupyterLab is not installed: pip install -e '.[lab]'")
    home = tmp_path_factory.mktemp("lab")
    work = home / "work"
    work.mkdir()
    for path in NOTEBOOKS:
        shutil.copy(path, work / path.name)
    settings = home / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    # Every cell in the page (no virtual scrolling), so that the checks see the whole notebook.
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    apputils = home / "settings" / "@jupyterlab" / "apputils-extension"
    apputils.mkdir(parents=True)
    (apputils / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    log = (home / "lab.log").open("w")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "jupyter-lab"), "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
         f"--LabApp.user_settings_dir={home / 'settings'}", f"--LabApp.workspaces_dir={home / 'workspaces'}",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         "--LabApp.extension_manager=readonly", "--allow-root",
         "--KernelManager.transport_encryption=auto"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work)
    base = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{base}api/status?token={token}", timeout=5)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"JupyterLab did not start: {(home / 'lab.log').read_text()[-2000:]}")
            time.sleep(0.5)
    yield base, token, work
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


@pytest.fixture(scope="module")
def tab(lab):
    playwright_api = pytest.importorskip("playwright.sync_api")
    executable = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        missing("headless Chromium not found: apt-get install chromium")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.set_default_timeout(120_000)
        page.on("dialog", lambda dialog: dialog.accept())  # "leave with unsaved changes?"
        yield page
        browser.close()


def open_notebook(tab, lab, name: str):
    base, token, _ = lab
    tab.goto(f"{base}lab/tree/{name}.ipynb?token={token}&reset", wait_until="load")
    tab.wait_for_selector(".jp-NotebookPanel .jp-Cell", state="attached")
    # Kernel started and idle, markdown rendered, math typeset.
    tab.wait_for_function("""() => {
        const status = document.querySelector('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator');
        return !status || status.getAttribute('data-status') === 'idle';
    }""")
    # Every markdown cell rendered (by jupyterlab-myst: a .myst widget).
    tab.wait_for_function(f"""() => {{
        const cells = [...document.querySelectorAll('{PANEL} .jp-MarkdownCell')];
        return cells.length > 0 && cells.every(c => c.querySelector('{RENDERED}'));
    }}""", timeout=60_000)
    tab.wait_for_timeout(1000)


def rendered_markdown(tab) -> dict:
    return tab.evaluate(f"""() => {{
        const root = document.querySelector('{PANEL}');
        const cells = [...root.querySelectorAll('.jp-MarkdownCell')];
        const text = cells.map(c => {{
            const out = c.querySelector('{RENDERED}');
            return out ? out.innerText : '';
        }}).join('\\n');
        return {{
            cells: cells.length,
            unrendered: cells.filter(c => !c.querySelector('{RENDERED}')).length,
            text,
            math: root.querySelectorAll('.jp-MarkdownCell mjx-container, .jp-MarkdownCell .katex').length,
            admonitions: root.querySelectorAll('.jp-MarkdownCell aside, .jp-MarkdownCell .admonition').length,
        }};
    }}""")


def shot(tab, name: str):
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"{name}.png"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_renders_its_myst_blocks_and_math_in_jupyterlab(path, lab, tab):
    open_notebook(tab, lab, path.stem)
    found = rendered_markdown(tab)
    shot(tab, f"{path.stem}-opened")
    assert found["cells"] > 0 and found["unrendered"] == 0, found
    raw = [fence for fence in RAW_FENCE if fence in found["text"]]
    assert not raw, f"{path.name}: MyST directives shown as raw text in JupyterLab: {raw}"
    assert found["math"] > 0, f"{path.name}: no typeset math in JupyterLab"
    # The learning objectives and prerequisites boxes, at least, are rendered admonitions.
    assert found["admonitions"] >= 2, f"{path.name}: admonitions not rendered: {found['admonitions']}"
    assert "$$" not in found["text"] and "\\frac" not in found["text"]


def test_a_chapter_runs_clean_in_jupyterlab_and_its_explorer_responds(lab, tab):
    if not (ROOT / "chapters" / f"{LAB_RUN}.ipynb").exists():
        pytest.skip(f"no chapter {LAB_RUN}")
    open_notebook(tab, lab, LAB_RUN)
    started = time.monotonic()
    tab.click('.lm-MenuBar-item:has-text("Run")')
    tab.click('.lm-Menu-item[data-command="runmenu:run-all"]')
    # Done when every code cell has an execution count and the kernel is idle.
    tab.wait_for_function("""() => {
        const prompts = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')];
        return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
    }""", timeout=600_000)
    seconds = time.monotonic() - started
    errors = tab.evaluate("""() => [...document.querySelectorAll(
        '.jp-NotebookPanel:not(.lm-mod-hidden) [data-mime-type="application/vnd.jupyter.error"], ' +
        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
        .map(e => e.innerText.slice(0, 300)).filter(t => /Error|Traceback/.test(t))""")
    shot(tab, f"{LAB_RUN}-ran")
    assert not errors, f"{LAB_RUN}: error outputs after Run All: {errors}"

    # The live explorer: move its first slider one step, and its figure must be redrawn.
    slider = tab.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .widget-interact .widget-slider").first
    slider.scroll_into_view_if_needed()
    box = slider.locator("xpath=ancestor::div[contains(@class,'widget-interact')][1]")
    before = box.locator("img").first.get_attribute("src")
    box.screenshot(path=str(SHOTS / f"{LAB_RUN}-explorer-before.png"))
    slider.locator(".noUi-handle, .ui-slider-handle, input").first.focus()
    tab.keyboard.press("ArrowRight")
    tab.wait_for_function("""([el, before]) => {
        const img = el.querySelector('img');
        return img && img.getAttribute('src') !== before;
    }""", arg=[box.element_handle(), before], timeout=180_000)
    box.screenshot(path=str(SHOTS / f"{LAB_RUN}-explorer-after.png"))
    (SHOTS / "lab-run.json").write_text(json.dumps({"notebook": LAB_RUN, "run_all_seconds": round(seconds, 1)}) + "\n")
