"""Every page of the built book as headless Chromium renders it: figures load, MathJax typesets every
equation, and every local link and anchor resolves.

Chromium runs with ``--dump-dom``: the page's DOM after its scripts ran (MathJax included). Each page
is rendered from a copy beside it that records every image's natural size on ``load``, a size only
the browser knows. Uses the session's one build of the book (``book_build`` in conftest.py), or an
existing build's ``_build/html`` given in ``$FER_EDU_BOOK_HTML``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

REPO = Path(__file__).resolve().parents[1]
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
RECORD_SIZES = ('<script>addEventListener("load", () => { for (const img of document.images) '
                'img.setAttribute("data-natural", img.naturalWidth + "x" + img.naturalHeight); });</script>')
#: pages that must have typeset equations (so the MathJax check is never vacuous)
MATH_PAGES = {"notebooks/05_focal_loss"}


def toc_pages() -> list[str]:
    """The root and every file of _toc.yml, without extension, in its order."""
    toc = (REPO / "_toc.yml").read_text()
    return re.findall(r"^root:\s*(\S+)", toc, re.MULTILINE) + re.findall(r"^\s*-\s*file:\s*(\S+)", toc, re.MULTILINE)


def source_of(page: str) -> Path:
    return next(p for p in (REPO / f"{page}.ipynb", REPO / f"{page}.md") if p.exists())


def expected_figures(page: str) -> int:
    """Images the page must show: notebook image outputs a reader sees, and Markdown images."""
    src = source_of(page)
    if src.suffix == ".md":
        return len(re.findall(r"!\[|```\{(?:figure|image)\}", src.read_text()))
    count = 0
    for cell in json.loads(src.read_text())["cells"]:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell["cell_type"] == "markdown":
            count += len(re.findall(r"!\[", "".join(cell["source"])))
        elif not tags & {"remove-output", "remove-cell"}:
            for out in cell.get("outputs", []):
                data = out.get("data", {})
                # HTML wins over an image in the book's mime priority (a DataFrame, for instance).
                count += any(k.startswith("image/") for k in data) and "text/html" not in data
    return count


class Dom(HTMLParser):
    """What the checks need from a rendered page: images, links, ids and the equations' typesetting."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict] = []
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.math: list[bool] = []  # per equation element: does it hold an mjx-container?
        self.math_errors = 0
        self._depth = 0
        self._open_math: list[tuple[int, int]] = []  # (depth, index in self.math)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("id", "name"):
            if a.get(key):
                self.ids.add(a[key])
        if tag == "img":
            self.images.append(a)
        for key in ("href", "src"):
            if a.get(key) and tag in ("a", "link", "img", "script"):
                self.links.append(a[key])
        if tag == "mjx-container" and self._open_math:
            self.math[self._open_math[-1][1]] = True
        if tag == "mjx-merror":
            self.math_errors += 1
        if tag in VOID:
            return
        self._depth += 1
        if tag in ("span", "div") and "math" in (a.get("class") or "").split():
            self.math.append(False)
            self._open_math.append((self._depth, len(self.math) - 1))

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if self._open_math and self._open_math[-1][0] == self._depth:
            self._open_math.pop()
        self._depth -= 1


def parse(html: str) -> Dom:
    dom = Dom()
    dom.feed(html)
    return dom


@cache
def static_ids(path: Path) -> frozenset[str]:
    return frozenset(parse(path.read_text(errors="replace")).ids)


def broken_links(page_file: Path, dom: Dom) -> list[str]:
    """Local hrefs/srcs whose file is missing, or whose #anchor is not an id in the target."""
    broken = []
    for link in dom.links:
        parts = urlsplit(link)
        if parts.scheme or link.startswith("//"):
            continue  # external: the strict build cannot check these offline, and this test does not
        target = (page_file.parent / unquote(parts.path)).resolve() if parts.path else page_file
        if not target.exists():
            broken.append(f"{link} (no file {target})")
        elif parts.fragment and target.suffix == ".html":
            ids = dom.ids if target == page_file else static_ids(target)
            if unquote(parts.fragment) not in ids:
                broken.append(f"{link} (no id {parts.fragment!r})")
    return broken


@pytest.fixture(scope="session")
def browser() -> str:
    for name in BROWSERS:
        if path := shutil.which(name):
            return path
    pytest.skip("no headless Chromium: install Debian's `chromium` (.ci/run does) to check the rendered pages")


@pytest.fixture(scope="session")
def html_root(request) -> Path:
    if os.environ.get("FER_EDU_BOOK_HTML"):
        return Path(os.environ["FER_EDU_BOOK_HTML"])
    build = request.getfixturevalue("book_build")
    if not (build.html / "index.html").exists():
        pytest.fail(f"the book build left no pages:\n{build.log}")
    return build.html


def render(browser: str, page_file: Path, profile: Path) -> str:
    """The page's DOM after its scripts ran, rendered from a sibling copy that records image sizes."""
    html = page_file.read_text()
    probe = page_file.with_name(f".render-check-{page_file.name}")
    probe.write_text(html.replace("</head>", RECORD_SIZES + "</head>", 1))
    try:
        # --no-sandbox: CI containers often run as root or without user namespaces; the pages are our own.
        result = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
             "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
            check=False, capture_output=True, text=True, timeout=180)
    finally:
        probe.unlink()
    assert result.returncode == 0 and "</html>" in result.stdout, result.stderr[-2000:]
    return result.stdout.replace(probe.name, page_file.name)


@pytest.mark.slow
@pytest.mark.parametrize("page", toc_pages())
def test_page_renders(page, browser, html_root, tmp_path):
    page_file = html_root / f"{page}.html"
    assert page_file.exists(), f"{page}.html was not built"
    dom = parse(render(browser, page_file, tmp_path / "profile"))

    unloaded = [img.get("src") for img in dom.images if img.get("data-natural", "0x0").startswith("0x")]
    assert not unloaded, f"images that did not load: {unloaded}"
    figures = [img for img in dom.images if "/_images/" in f"/{img.get('src', '')}"]
    assert len(figures) >= expected_figures(page), f"{len(figures)} figures shown, {expected_figures(page)} expected"

    assert all(dom.math), f"{dom.math.count(False)} of {len(dom.math)} equations not typeset by MathJax"
    assert dom.math_errors == 0, f"{dom.math_errors} equations with TeX errors"
    if page in MATH_PAGES:
        assert dom.math, "no equations found"

    broken = broken_links(page_file.resolve(), dom)
    assert not broken, f"broken local links: {broken}"
