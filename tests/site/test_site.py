"""Every page of the built website, opened in headless Chromium with no network.

Checks, per page: no request leaves the site and none fails, no console error, every math
expression typeset by the vendored MathJax (no raw TeX left outside code), every image loaded,
every embedded widget rendered, every explorer (precomputed frames) responding to its slider,
every internal link and anchor resolving (the book's PDF too, once `make pdf` made it), a link to
the PDF, and, on notebook pages, the launch and download buttons.
A full-page screenshot of each page is saved in _build/screenshots/.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import pytest

from sitecheck import REQUIRE_SITE, SHOTS, SITE, site_missing, site_pages
from tools.pdf import book_name

PDF_NAME = f"{book_name()}.pdf"
REQUIRE_PDF = os.environ.get("BEYONDLAZY_REQUIRE_PDF") == "1"  # set by .ci/run

PAGES = site_pages()

RAW_TEX = re.compile(r"\\\(|\\\[|\$\$|\\begin\{|\\frac|\\mathcal")


@lru_cache(maxsize=None)
def anchors(path: Path) -> frozenset[str]:
    text = path.read_text(errors="replace")
    return frozenset(re.findall(r'\bid="([^"]+)"', text)) | frozenset(re.findall(r'\bname="([^"]+)"', text))


def is_notebook_page(page: str) -> bool:
    return (SITE / "_sources" / page).with_suffix(".ipynb").is_file()


def test_the_site_has_pages():
    reason = site_missing()
    if reason and not REQUIRE_SITE:
        pytest.skip(reason)
    assert "index.html" in PAGES, reason


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_completely_offline(page, base_url, browser, report):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    requests, failed, errors = [], [], []
    host = urlparse(base_url).netloc
    tab.on("request", lambda r: requests.append(r.url))
    tab.on("requestfailed", lambda r: failed.append(f"{r.url} ({r.failure})"))
    tab.on("response", lambda r: r.status >= 400 and failed.append(f"{r.url} (HTTP {r.status})"))
    tab.on("console", lambda m: m.type == "error" and errors.append(m.text))
    tab.on("pageerror", lambda e: errors.append(str(e)))

    tab.goto(urljoin(base_url, page), wait_until="load")
    tab.wait_for_load_state("networkidle")
    tab.evaluate("""async () => {
        if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
            await MathJax.startup.promise;
        }
        document.querySelectorAll('img[loading="lazy"]').forEach(i => i.loading = 'eager');
    }""")
    tab.wait_for_load_state("networkidle")

    external = [u for u in requests if urlparse(u).scheme in ("http", "https")
                and urlparse(u).netloc != host]
    assert not external, f"{page} fetched from the network: {external}"
    assert not failed, f"{page}: failed requests {failed}"
    assert not errors, f"{page}: console errors {errors}"

    math = tab.evaluate("""() => {
        const nodes = [...document.querySelectorAll('.math')];
        return {total: nodes.length,
                typeset: nodes.filter(n => n.querySelector('mjx-container')).length};
    }""")
    assert math["typeset"] == math["total"], f"{page}: {math['total'] - math['typeset']} math expressions not typeset"
    # A display equation wider than the text column must scroll, never be cut off.
    clipped = tab.evaluate("""() => [...document.querySelectorAll('mjx-container[display="true"]')]
        .filter(c => {
            const inner = c.querySelector('mjx-math');
            const wide = inner && inner.getBoundingClientRect().width > c.getBoundingClientRect().width + 1;
            return wide && !['auto', 'scroll'].includes(getComputedStyle(c).overflowX);
        })
        .map(c => (c.getAttribute('aria-label') || c.textContent).slice(0, 80))""")
    assert not clipped, f"{page}: display equations cut off at the text column: {clipped}"
    prose = tab.evaluate("""() => {
        const walker = document.createTreeWalker(document.querySelector('main') || document.body,
                                                 NodeFilter.SHOW_TEXT);
        const raw = [];
        while (walker.nextNode()) {
            const node = walker.currentNode;
            if (node.parentElement.closest('pre, code, script, style, .highlight, mjx-container')) continue;
            raw.push(node.textContent);
        }
        return raw.join(' ');
    }""")
    leftover = RAW_TEX.findall(prose)
    assert not leftover, f"{page}: raw TeX left in the prose: {leftover[:5]}"

    images = tab.evaluate("""() => [...document.images].map(i => ({src: i.src.slice(0, 80),
                                   ok: i.complete && i.naturalWidth > 0}))""")
    broken = [i["src"] for i in images if not i["ok"]]
    assert not broken, f"{page}: images not loaded: {broken}"

    widgets = tab.evaluate("""() => [...document.querySelectorAll(
            'script[type="application/vnd.jupyter.widget-view+json"]')].map(s =>
            !!(s.parentElement && s.parentElement.querySelector('[class*="widget-"]')))""")
    assert all(widgets), f"{page}: {widgets.count(False)} of {len(widgets)} widgets not rendered"

    # Explorers: precomputed frames (matplotlib's to_jshtml) must respond on the static page.
    players = tab.evaluate("""() => [...document.querySelectorAll('input.anim-slider')].map(slider => {
        const id = slider.id.replace('_anim_slider', '');
        const img = document.getElementById('_anim_img' + id);
        const before = img ? img.src : null;
        slider.value = slider.max;
        slider.dispatchEvent(new Event('input'));
        return {frames: parseInt(slider.max) + 1, changed: !!img && img.src !== before};
    })""")
    dead = [p for p in players if p["frames"] < 2 or not p["changed"]]
    assert not dead, f"{page}: {len(dead)} of {len(players)} explorers do not respond to their slider"

    links = tab.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))")
    internal = [h for h in links if not urlparse(h).scheme and not h.startswith(("mailto:", "javascript:"))]
    missing = []
    for href in internal:
        target = urlparse(urljoin(urljoin(base_url, page), href))
        path = SITE / unquote(target.path.lstrip("/"))
        if path.is_dir():
            path = path / "index.html"
        if path == SITE / PDF_NAME and not path.is_file() and not REQUIRE_PDF:
            continue  # the book's PDF exists only after `make pdf` (always under .ci/run)
        if not path.is_file():
            missing.append(href)
        elif target.fragment and path.suffix == ".html" and unquote(target.fragment) not in anchors(path):
            missing.append(href)
    assert not missing, f"{page}: internal links that do not resolve: {sorted(set(missing))}"

    assert any(h.endswith(PDF_NAME) for h in links), f"{page}: no link to the book's PDF"

    if is_notebook_page(page):
        hrefs = " ".join(links)
        assert "mybinder.org/v2/gh/" in hrefs, f"{page}: no Binder launch button"
        assert "colab.research.google.com/github/" in hrefs, f"{page}: no Colab launch button"
        assert re.search(r"_sources/.+\.ipynb", hrefs), f"{page}: no .ipynb download"

    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / (page.replace("/", "__").removesuffix(".html") + ".png")),
                   full_page=True)
    context.close()

    report["pages"] += 1
    report["requests"] += len(requests)
    report["failed_requests"] += len(failed)
    report["console_errors"] += len(errors)
    report["math_expressions"] += math["total"]
    report["images"] += len(images)
    report["widgets"] += len(widgets)
    report["explorers"] = report.get("explorers", 0) + len(players)
    report["internal_links"] += len(internal)
