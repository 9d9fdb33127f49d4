"""Print the built website as one PDF of the whole book, with Debian's headless Chromium.

    python -m tools.pdf [--site _build/html] [--out _build/pdf] [--root .]

Every page of _toc.yml, in book order, is opened from a local server in headless Chromium
(Playwright driving /usr/bin/chromium; never a browser downloaded by a tool), printed once MathJax
has typeset every expression and every image has loaded, and the chapters are merged with pypdf
into ``<out>/<name>.pdf`` with one bookmark per chapter. ``<name>`` is the book's title as a
file name (``beyond-the-lazy-regime.pdf``). The PDF is also copied to the root of the site, so
that the website links it and Pages publishes it; ``<out>/<name>.json`` records what each chapter
holds (pages, figures, typeset expressions) for tests/test_pdf.py.

For the PDF every solution is printed open (a page cannot be clicked), code cells hidden on the
website stay hidden, the navigation is left out, and links between pages point at the published
website instead of the local server.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urljoin, urlparse

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools import notebooks  # noqa: E402

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# Print layout: the page's text column only (no navigation, header, launch buttons or
# "hide code" toggles), solutions open, wide equations and outputs wrapped to the page.
PRINT_CSS = """
@page { size: A4; margin: 16mm 14mm 16mm 14mm; }
.bd-header, .bd-sidebar-primary, .bd-sidebar-secondary, .bd-header-article, .header-article,
.bd-footer, .bd-footer-article, .bd-footer-content, .prev-next-area, .footer, .bd-search,
.search-button-field, .skip-link, #pst-back-to-top, .headerlink, .toggle-button,
.dropdown-launch-buttons, .dropdown-source-buttons, .article-header-buttons, .copybtn,
.announcement, details.hide > summary { display: none !important; }
.bd-main, .bd-content, .bd-article-container, .bd-article, .bd-page-width, .bd-container,
.bd-container__inner { max-width: 100% !important; width: 100% !important; margin: 0 !important;
  padding: 0 !important; display: block !important; }
body { font-size: 11pt; }
img { max-width: 100% !important; break-inside: avoid; page-break-inside: avoid; }
.cell_output, figure, .admonition, .proof, div[class*="theorem"] { break-inside: avoid-page; }
h1, h2, h3 { break-after: avoid; }
mjx-container[display="true"] { overflow: visible !important; }
pre { white-space: pre-wrap !important; word-break: break-word; }
"""
# Run in the page before printing; returns what the chapter holds.
PREPARE_JS = """async (published) => {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
        await MathJax.startup.promise;
    }
    // Solutions (sphinx-togglebutton) and dropdown admonitions are printed open; code cells
    // hidden on the website (<details class="hide ...">) stay closed.
    document.querySelectorAll('.toggle-hidden').forEach(e => e.classList.remove('toggle-hidden'));
    document.querySelectorAll('.toggle.toggle-hidden, .dropdown.toggle-hidden, [class*="toggle-hidden"]')
        .forEach(e => e.classList.remove('toggle-hidden'));
    document.querySelectorAll('details.dropdown, details.solution, details.admonition:not(.hide)')
        .forEach(d => d.open = true);
    document.querySelectorAll('img[loading="lazy"]').forEach(i => i.loading = 'eager');
    await Promise.all([...document.images].map(i => i.complete ? null :
        new Promise(r => { i.onload = i.onerror = r; })));
    if (window.MathJax && MathJax.typesetPromise) { await MathJax.typesetPromise(); }
    // Links to other pages of the site point at the published website.
    for (const a of document.querySelectorAll('a[href]')) {
        const url = new URL(a.getAttribute('href'), location.href);
        if (url.origin === location.origin && published) {
            a.href = published + url.pathname.replace(/^\\//, '') + url.hash;
        }
    }
    const main = document.querySelector('main') || document.body;
    const math = [...main.querySelectorAll('.math')];
    const shown = img => img.getClientRects().length > 0 && !img.closest('details:not([open])');
    const figures = [...main.querySelectorAll('img')].filter(shown).filter(
        i => !/_static\\/|logo/.test(i.getAttribute('src') || ''));
    return {
        title: (main.querySelector('h1') || document.querySelector('title')).textContent
            .replace(/[#¶]\\s*$/, '').trim(),
        math: math.length,
        typeset: math.filter(n => n.querySelector('mjx-container')).length,
        figures: figures.length,
        broken_figures: figures.filter(i => !(i.complete && i.naturalWidth > 0)).length,
    };
}"""


def book_name(root: Path = ROOT) -> str:
    """The PDF's file name (without .pdf): the book's title, lower case, words joined by '-'."""
    title = notebooks.book_config(root)["title"]
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def published_url(root: Path = ROOT) -> str:
    """Where GitHub Pages publishes the site of the repository named in _config.yml."""
    url, _ = notebooks.repository(root)
    owner, name = urlparse(url).path.strip("/").split("/")[:2]
    if name.lower() == f"{owner.lower()}.github.io":
        return f"https://{owner.lower()}.github.io/"
    return f"https://{owner.lower()}.github.io/{name}/"


def pages(root: Path = ROOT) -> list[str]:
    """The website's pages in book order (relative to the site's root)."""
    return [f"{name}.html" for name in notebooks.toc_files(root)]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def chromium() -> str:
    executable = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        raise SystemExit("headless Chromium not found: install Debian's package "
                         "(apt-get install chromium) or set CHROMIUM=/path/to/chromium")
    return executable


def print_pages(site: Path, names: list[str], parts: Path, published: str,
                timeout_ms: int = 120_000) -> list[dict]:
    """Print each page of ``site`` to ``parts/NNN.pdf``; return what each one holds."""
    from playwright.sync_api import sync_playwright

    handler = functools.partial(_QuietHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    chapters = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
            context = browser.new_context(viewport={"width": 1100, "height": 1400})
            for i, name in enumerate(names):
                if not (site / name).is_file():
                    raise SystemExit(f"{site / name} is missing: build the website first")
                tab = context.new_page()
                tab.set_default_timeout(timeout_ms)
                tab.goto(urljoin(base, name), wait_until="load")
                tab.wait_for_load_state("networkidle")
                tab.add_style_tag(content=PRINT_CSS)
                info = tab.evaluate(PREPARE_JS, published)
                tab.wait_for_load_state("networkidle")
                tab.emulate_media(media="print")
                part = parts / f"{i:03d}.pdf"
                tab.pdf(path=str(part), format="A4", print_background=True,
                        prefer_css_page_size=True, outline=False, tagged=True,
                        display_header_footer=True, header_template="<span></span>",
                        footer_template=(
                            '<div style="font-size:8px;width:100%;text-align:center;color:#666">'
                            f'{_escape(info["title"])} · <span class="pageNumber"></span>'
                            ' / <span class="totalPages"></span></div>'))
                tab.close()
                chapters.append({"page": name, "file": part.name, **info})
            browser.close()
    finally:
        server.shutdown()
    return chapters


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def merge(parts: Path, chapters: list[dict], out: Path, title: str, author: str) -> None:
    """One PDF from the printed pages, one bookmark per chapter; records each chapter's pages."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for chapter in chapters:
        start = len(writer.pages)
        writer.append(PdfReader(parts / chapter["file"]), import_outline=False)
        chapter["first_page"], chapter["pages"] = start, len(writer.pages) - start
        writer.add_outline_item(title=chapter["title"], page_number=start)
    writer.add_metadata({"/Title": title, "/Author": author, "/Creator": "tools/pdf.py (headless Chromium)"})
    writer.page_mode = "/UseOutlines"
    with out.open("wb") as handle:
        writer.write(handle)


def build(site: Path, out: Path, root: Path = ROOT) -> Path:
    config = notebooks.book_config(root)
    name = book_name(root)
    parts = out / "parts"
    shutil.rmtree(parts, ignore_errors=True)
    parts.mkdir(parents=True)
    started = time.perf_counter()
    chapters = print_pages(site, pages(root), parts, published_url(root))
    pdf = out / f"{name}.pdf"
    merge(parts, chapters, pdf, config["title"], config.get("author", ""))
    shutil.rmtree(parts)
    shutil.copyfile(pdf, site / pdf.name)  # the website links it and Pages publishes it
    manifest = {"pdf": pdf.name, "pages": sum(c["pages"] for c in chapters),
                "bytes": pdf.stat().st_size, "seconds": round(time.perf_counter() - started, 1),
                "chapters": [{k: v for k, v in c.items() if k != "file"} for c in chapters]}
    (out / f"{name}.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    problems = [f"{c['page']}: {c['math'] - c['typeset']} expressions not typeset" for c in chapters
                if c["typeset"] != c["math"]]
    problems += [f"{c['page']}: {c['broken_figures']} figures not loaded" for c in chapters
                 if c["broken_figures"]]
    if problems:
        raise SystemExit("the PDF would be incomplete:\n" + "\n".join(problems))
    print(f"{pdf}: {manifest['pages']} pages, {len(chapters)} chapters, "
          f"{manifest['bytes'] / 1e6:.1f} MB, {manifest['seconds']} s")
    return pdf


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.pdf", description=__doc__.split("\n")[0])
    parser.add_argument("--site", type=Path, default=ROOT / "_build" / "html", help="the built website")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "pdf", help="where the PDF goes")
    parser.add_argument("--root", type=Path, default=ROOT, help="the book's sources (_config.yml, _toc.yml)")
    args = parser.parse_args(argv)
    if not (args.site / "index.html").is_file():
        print(f"no website at {args.site}: build it first (make book or make book-executed)", file=sys.stderr)
        return 1
    build(args.site.resolve(), args.out.resolve(), args.root.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
