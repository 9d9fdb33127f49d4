"""The PDF of the whole book (`make pdf`), read back with pypdf against the built website.

Skipped with the reason when no PDF was built, except under `make pdf` and .ci/run
(BEYONDLAZY_REQUIRE_PDF=1), where a missing PDF is a failure. BEYONDLAZY_PDF overrides the
PDF's path; BEYONDLAZY_SITE the website it was printed from.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tools import notebooks
from tools import pdf as book_pdf

ROOT = Path(__file__).resolve().parent.parent
PDF = Path(os.environ.get("BEYONDLAZY_PDF", ROOT / "_build" / "pdf" / f"{book_pdf.book_name()}.pdf"))
SITE = Path(os.environ.get("BEYONDLAZY_SITE", ROOT / "_build" / "html"))
MANIFEST = PDF.with_suffix(".json")
REQUIRE = os.environ.get("BEYONDLAZY_REQUIRE_PDF") == "1"
RAW_TEX = re.compile(r"\\frac|\\mathcal|\\mathbb|\\begin\{|\\left|\\sum_|\$\$|\\\(|\\\[")


@pytest.fixture(scope="module")
def reader():
    if not PDF.is_file():
        reason = f"no PDF at {PDF}: build it with `make pdf` (after `make book` or `make book-executed`)"
        pytest.fail(reason) if REQUIRE else pytest.skip(reason)
    pypdf = pytest.importorskip("pypdf")
    return pypdf.PdfReader(PDF)


@pytest.fixture(scope="module")
def chapters(reader):
    """Each bookmark's title and page range, in order."""
    outline = [item for item in reader.outline if not isinstance(item, list)]
    starts = [reader.get_destination_page_number(item) for item in outline]
    ends = starts[1:] + [len(reader.pages)]
    return [{"title": item.title, "start": s, "end": e} for item, s, e in zip(outline, starts, ends)]


class _Page(HTMLParser):
    """The text of a built page's code blocks and outputs, and its raster figures."""

    def __init__(self):
        super().__init__()
        self.pre_depth, self.code, self.figures = 0, [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "pre":
            self.pre_depth += 1
        if tag == "img":
            src = attrs.get("src") or ""
            if "_images/" in src or src.startswith(("data:image/png", "data:image/jpeg")):
                self.figures.add(src)

    def handle_endtag(self, tag):
        if tag == "pre":
            self.pre_depth -= 1

    def handle_data(self, data):
        if self.pre_depth:
            self.code.append(data)


def built_page(name: str) -> _Page:
    page = _Page()
    page.feed((SITE / name).read_text(errors="replace"))
    return page


def text_of(reader, chapter) -> str:
    return "\n".join(reader.pages[i].extract_text() or "" for i in range(chapter["start"], chapter["end"]))


def image_xobjects(reader, chapter) -> set[int]:
    """The distinct raster images drawn on the chapter's pages (also inside form XObjects)."""
    found: set[int] = set()

    def walk(resources):
        xobjects = resources.get("/XObject") if resources else None
        for ref in (xobjects.get_object().values() if xobjects else []):
            obj = ref.get_object()
            if obj.get("/Subtype") == "/Image":
                found.add(ref.idnum if hasattr(ref, "idnum") else id(obj))
            elif obj.get("/Subtype") == "/Form":
                walk(obj.get("/Resources"))

    for i in range(chapter["start"], chapter["end"]):
        walk(reader.pages[i].get("/Resources"))
    return found


def test_one_chapter_per_page_of_the_table_of_contents(reader, chapters):
    pages = book_pdf.pages()
    assert len(chapters) == len(pages) == len(notebooks.toc_files()), [c["title"] for c in chapters]
    assert all(c["end"] > c["start"] for c in chapters), chapters
    manifest = json.loads(MANIFEST.read_text())
    assert [c["page"] for c in manifest["chapters"]] == pages
    assert [c["title"] for c in chapters] == [c["title"] for c in manifest["chapters"]]
    for chapter in chapters:
        # NFKC: Chromium's fonts write ligatures ("ﬁ") into the text layer.
        first = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", reader.pages[chapter["start"]].extract_text() or ""))
        words = unicodedata.normalize("NFKC", chapter["title"]).split()[:3]
        assert " ".join(words) in first, f"chapter {chapter['title']!r} does not start on its page"


def test_every_notebook_chapter_is_in_the_pdf(chapters):
    names = [c["page"] for c in json.loads(MANIFEST.read_text())["chapters"]]
    for notebook in notebooks.toc_notebooks():
        assert notebook.relative_to(ROOT).with_suffix(".html").as_posix() in names


def test_every_equation_was_typeset_and_no_raw_tex_is_left_outside_code(reader, chapters):
    manifest = json.loads(MANIFEST.read_text())
    for chapter, printed in zip(chapters, manifest["chapters"]):
        assert printed["typeset"] == printed["math"], f"{printed['page']}: MathJax had not finished"
        code = "\n".join(built_page(printed["page"]).code)
        flat_code = re.sub(r"\s+", "", code)
        # Lines of the PDF that are (pieces of) code cells or outputs may hold TeX legitimately
        # (matplotlib labels); every other line must not.
        prose = [line for line in text_of(reader, chapter).splitlines()
                 if re.sub(r"\s+", "", line) not in flat_code]
        leftover = [line for line in prose if RAW_TEX.search(line)]
        assert not leftover, f"{printed['page']}: raw TeX in the PDF's text: {leftover[:3]}"


def test_every_figure_is_embedded(reader, chapters):
    manifest = json.loads(MANIFEST.read_text())
    total = 0
    for chapter, printed in zip(chapters, manifest["chapters"]):
        figures = built_page(printed["page"]).figures
        embedded = image_xobjects(reader, chapter)
        assert len(embedded) >= len(figures), (
            f"{printed['page']}: {len(figures)} figures on the page, {len(embedded)} images in the PDF")
        assert printed["broken_figures"] == 0
        total += len(embedded)
    if any(p.exists() for p in notebooks.toc_notebooks()):
        assert total > 0, "the book's chapters draw figures: the PDF has none"


def test_links_point_at_the_published_website_not_the_local_server(reader):
    uris = [annot.get_object().get("/A", {}).get("/URI", "")
            for page in reader.pages for annot in (page.get("/Annots") or [])]
    local = [u for u in uris if re.match(r"https?://(127\.|localhost)", str(u))]
    assert not local, local[:5]


def test_the_website_serves_the_pdf_it_links():
    if not PDF.is_file():
        pytest.skip("no PDF built")
    copy = SITE / PDF.name
    assert copy.is_file() and copy.read_bytes() == PDF.read_bytes()


def test_published_url_follows_the_repository():
    url, _ = notebooks.repository()
    owner, name = url.rstrip("/").split("/")[-2:]
    assert book_pdf.published_url() == f"https://{owner.lower()}.github.io/{name}/"
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", book_pdf.book_name())


def test_every_page_links_the_published_pdf():
    footer = notebooks.book_config()["html"]["extra_footer"]
    assert f'href="{book_pdf.published_url()}{book_pdf.book_name()}.pdf"' in footer
