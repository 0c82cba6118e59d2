"""The built site in a real Chromium, served over HTTP on localhost: pages load with no
console error and no request to another host, formulas are typeset with their glyphs,
and images have loaded; also after moving between pages with instant navigation.

Playwright drives Debian's chromium (it cannot download its own browser here).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import socket
import threading
from urllib.parse import urlparse

import pytest

from conftest import ROOT, mkdocs_build

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    reason = "needs Debian's chromium (apt-get install chromium)"
    if os.environ.get("PTNOTES_REQUIRE_BROWSER"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason, allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402

PAGES = ["", "chapters/activation/", "chapters/regression/", "report/", "contributing/"]

# Resolves once MathJax has typeset the page, every font it asked for and every image has loaded.
SETTLED = """async () => {
  await MathJax.startup.promise;
  await document.fonts.ready;
  await Promise.all([...document.images].map(i => i.complete ? null :
    new Promise(done => { i.addEventListener('load', done); i.addEventListener('error', done); })));
}"""

# Every glyph MathJax placed must have its CSS rule (else it is drawn as nothing)
# and the fonts it uses must have loaded.
MATH_STATE = """() => {
  const css = [...document.querySelectorAll('style')].map(s => s.textContent).join('\\n');
  const glyphs = new Set();
  document.querySelectorAll('mjx-c').forEach(c => c.classList.forEach(k => k.startsWith('mjx-c') && glyphs.add(k)));
  return {
    formulas: document.querySelectorAll('.arithmatex').length,
    typeset: document.querySelectorAll('.arithmatex mjx-container').length,
    errors: document.querySelectorAll('mjx-merror').length,
    missingGlyphs: [...glyphs].filter(g => !css.includes('.' + g + '.') && !css.includes('.' + g + '::')),
    unloadedFonts: [...document.fonts]
      .filter(f => f.family.startsWith('MJX') && f.status === 'error').map(f => f.family),
    images: [...document.images].map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0]),
  };
}"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site_url(built_site, build_env, tmp_path_factory):
    """Rebuilds the site (chapters come from the cache) with site_url set to the test server,
    as instant navigation needs, and serves it on localhost."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    site = tmp_path_factory.mktemp("browser") / "site"
    build = mkdocs_build(ROOT / "mkdocs.yml", site, SITE_URL=url, **build_env)
    assert build.returncode == 0, build.stderr
    handler = functools.partial(QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield url
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-background-networking", "--disable-component-update"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, site_url):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.problems = []
    page.on("console", lambda m: m.type == "error" and page.problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: page.problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: page.problems.append(f"failed request: {r.url}"))

    def only_localhost(route):
        if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            page.problems.append(f"request to another host: {route.request.url}")
            route.abort()

    page.route("**/*", only_localhost)
    yield page
    context.close()


def check_page(page) -> dict:
    page.wait_for_load_state("load")
    page.evaluate(SETTLED)
    state = page.evaluate(MATH_STATE)
    assert state["typeset"] == state["formulas"], state
    assert state["errors"] == 0, state
    assert state["missingGlyphs"] == [], state
    assert state["unloadedFonts"] == [], state
    assert all(loaded for _, loaded in state["images"]), state["images"]
    return state


@pytest.mark.parametrize("path", PAGES)
def test_page_loads_cleanly_with_typeset_math(page, site_url, path):
    page.goto(site_url + path)
    state = check_page(page)
    if path.startswith("chapters/"):
        assert state["formulas"] >= 3 and state["images"]
    assert page.problems == []


def test_math_is_typeset_again_after_instant_navigation(page, site_url):
    page.goto(site_url)
    check_page(page)
    for title in ("激活函数", "回归网络：拟合 y = x²"):
        page.locator(".md-nav__link", has_text=title).first.click()
        page.wait_for_function("document.querySelectorAll('.arithmatex').length > 0")
        state = check_page(page)
        assert state["formulas"] >= 3
    # instant navigation swapped the content without reloading: the page object is the same
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    assert page.problems == []
