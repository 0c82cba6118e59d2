"""The built site in a real Chromium, served over HTTP on localhost: every page loads with
no console error and no request to another host; every formula is typeset with its glyphs,
also after instant navigation; every image has loaded and the animations move; Chinese
search finds the right page; nothing scrolls sideways at phone width; dark mode works and
keeps figures on a light background. A screenshot of every page is kept for CI.

Playwright drives Debian's chromium (it cannot download its own browser here); on other
machines PTNOTES_CHROMIUM may name another Chromium-based browser.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import socket
import threading
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from bookbuild.chapters import discover
from bookbuild.glossary import read_terms
from conftest import ROOT, mkdocs_build

CHROMIUM = os.environ.get("PTNOTES_CHROMIUM") or next(
    filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None
)
if CHROMIUM is None:
    reason = "needs Debian's chromium (apt-get install chromium)"
    if os.environ.get("PTNOTES_REQUIRE_BROWSER"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason, allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402

DOCS = ROOT / "docs"
# every page of the site, as a path under the site root
# every page of the site: the Markdown pages, and each chapter's notebook page
PAGES = sorted(
    "" if md.name == "index.md" else md.relative_to(DOCS).with_suffix("").as_posix() + "/" for md in DOCS.rglob("*.md")
) + sorted(f"notebooks/{chapter.name}/" for chapter in discover(ROOT / "code"))
SCREENSHOTS = Path(os.environ.get("PTNOTES_SCREENSHOTS", ROOT / "test-artifacts" / "screenshots"))
PHONE = {"width": 375, "height": 812}
SEARCHES = {
    "卷积": "chapters/convolution/",
    "梯度消失": "chapters/vanishing-gradients/",
    "反向传播": "chapters/autograd/",
    "激活函数": "chapters/activation/",
    "长短期记忆": "chapters/lstm/",
    "残差": "chapters/degradation/",
}
# and every glossary term: the page the glossary says explains it
TERMS = {t.term: t.page.removesuffix(".md") + "/" for t in read_terms(DOCS / "glossary.md") if t.page}
SEARCHES |= TERMS
SEEN = {"pages": 0, "formulas": 0, "images": 0, "animations": 0}  # formulas include notebook cells

# Resolves once the page's fonts have loaded and every image has finished loading (or
# failed: the check that follows tells which). Polls, because after an instant navigation
# the new images may not have started loading yet. The formulas need no waiting: the build
# typeset them, and the page carries MathJax's output, not MathJax.
SETTLED = """async () => {
  await document.fonts.ready;
  const deadline = Date.now() + 20000;
  const done = i => i.complete && (i.naturalWidth > 0 || i.dataset.failed);
  document.querySelectorAll('img').forEach(i => i.addEventListener('error', () => { i.dataset.failed = 1; }));
  while (![...document.images].every(done) && Date.now() < deadline) {
    // figures load when the reader scrolls near them (loading="lazy"): scroll to the next, as a reader would
    [...document.images].find(i => !done(i)).scrollIntoView({block: 'center'});
    await new Promise(r => setTimeout(r, 50));
  }
  window.scrollTo(0, 0);
  // two frames: the blocks back on screen are drawn, and accessibility.js has measured their formulas
  for (let frame = 0; frame < 2; frame++) await new Promise(r => requestAnimationFrame(r));
}"""

# The browser skips the style, layout and paint of the blocks off screen (extra.css:
# content-visibility), which would leave them blank in a full-page screenshot and hide from a
# width check anything wider than the page: both look at every block rendered.
# A block drawn for the first time may use a font nothing drawn before used: it is waited for.
SHOW_EVERY_BLOCK = """async () => {
  document.head.insertAdjacentHTML('beforeend', '<style>.md-content__inner > * { content-visibility: visible !important }</style>');
  document.body.offsetHeight;
  await document.fonts.ready;
}"""

# A block the browser renders under content-visibility: auto has layout, paint and style
# containment. Given that containment by hand, or none, every element of the page must sit in
# the same place: containment moves nothing (margins that passed through a block, say).
BLOCK_BOXES = """async (contained) => {
  const skippable = [...document.querySelectorAll('.md-content__inner > *')]
    .filter(block => getComputedStyle(block).contentVisibility === 'auto' || block.dataset.skippable);
  for (const block of skippable) {
    block.dataset.skippable = 1;
    block.style.contentVisibility = 'visible';
    block.style.contain = contained ? 'layout paint style' : 'none';
  }
  document.body.offsetHeight;
  await document.fonts.ready;  // a block drawn for the first time may need a font not loaded yet
  const boxes = [...document.querySelectorAll('.md-content *')].map(e => {
    const r = e.getBoundingClientRect();
    return `${e.tagName.toLowerCase()}.${e.className}: ${[r.top, r.left, r.width, r.height].map(Math.round)}`;
  });
  return {skippable: skippable.length, boxes};
}"""

# Every glyph MathJax placed must have its CSS rule (else it is drawn as nothing), the fonts
# it uses must have loaded, and every formula must take up room on the page.
MATH_STATE = """() => {
  const css = [...document.styleSheets].flatMap(s => { try { return [...s.cssRules].map(r => r.cssText); }
                                                      catch (e) { return []; } }).join('\\n');
  const glyphs = new Set();
  document.querySelectorAll('mjx-c').forEach(c => c.classList.forEach(k => k.startsWith('mjx-c') && glyphs.add(k)));
  return {
    formulas: document.querySelectorAll('.arithmatex').length,
    typeset: document.querySelectorAll('.arithmatex mjx-container').length,
    empty: [...document.querySelectorAll('mjx-container')].filter(m => m.getBoundingClientRect().width === 0
                                                               && m.offsetParent !== null).length,
    notebookMath: document.querySelectorAll('.jp-RenderedMarkdown mjx-container').length,
    errors: document.querySelectorAll('mjx-merror').length,
    scripts: [...document.scripts].map(s => s.src).filter(src => /mathjax/i.test(src)),
    missingGlyphs: [...glyphs].filter(g => !css.includes('.' + g + '.') && !css.includes('.' + g + '::')),
    unloadedFonts: [...document.fonts]
      .filter(f => f.family.startsWith('MJX') && f.status === 'error').map(f => f.family),
    images: [...document.images].map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0]),
  };
}"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


SUBPATH = "/pytorch-notes/"


class SubpathHandler(QuietHandler):
    """Serves the site under SUBPATH, as GitHub Pages serves a project site."""

    def translate_path(self, path):
        if not path.startswith(SUBPATH):
            return "/nonexistent"
        return super().translate_path("/" + path[len(SUBPATH) :])


@pytest.fixture(scope="module")
def site_url(built_site):
    """The test build, served on localhost at another port and path than its site_url: instant
    navigation must work wherever the site is served (overrides/main.html)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}{SUBPATH}"
    sitemap = (built_site["site"] / "sitemap.xml").read_text("utf-8")
    assert f"<loc>{url}" not in sitemap  # the build's site_url is elsewhere
    handler = functools.partial(SubpathHandler, directory=str(built_site["site"]))
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
    assert state["errors"] == 0 and state["empty"] == 0 and state["scripts"] == [], state
    assert state["missingGlyphs"] == [], state
    assert state["unloadedFonts"] == [], state
    assert all(loaded for _, loaded in state["images"]), state["images"]
    return state


@pytest.fixture(scope="module", autouse=True)
def summary():
    """What the browser tests covered, for the CI log and the closing note."""
    yield
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS.parent / "browser-summary.json").write_text(json.dumps(SEEN, indent=2))
    print(f"\nbrowser tests covered: {SEEN}")


@pytest.mark.parametrize("path", PAGES)
def test_page_loads_cleanly_with_typeset_math(page, site_url, path):
    page.goto(site_url + path)
    state = check_page(page)
    if path.startswith(("chapters/", "notebooks/")):
        assert state["images"], f"{path} shows no figure"
    if path in ("notebooks/regression/", "notebooks/lstm/"):
        assert state["notebookMath"] >= 1, "the notebook's formulas are typeset"
    SEEN["pages"] += 1
    SEEN["formulas"] += state["formulas"] + state["notebookMath"]
    SEEN["images"] += len(state["images"])
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate(SHOW_EVERY_BLOCK)
    page.screenshot(path=str(SCREENSHOTS / f"{path.strip('/').replace('/', '-') or 'index'}.png"), full_page=True)
    assert page.problems == []


def test_animations_move(page, site_url):
    page.goto(site_url + "chapters/regression/")
    check_page(page)
    animations = page.locator("img[src$='.gif']")
    assert animations.count() >= 1
    for i in range(animations.count()):
        gif = animations.nth(i)
        # the browser shows the AVIF of the same frames (half the bytes); the GIF is the fallback
        assert gif.evaluate("img => img.currentSrc").endswith(".avif")
        gif.scroll_into_view_if_needed()
        first = gif.screenshot()
        page.wait_for_timeout(700)  # frames change every 100 ms
        assert gif.screenshot() != first, "the animation does not move"
        SEEN["animations"] += 1


def test_search_loads_when_the_reader_turns_to_it(page, site_url):
    """The search worker's script and the index are most of what a page could load and most
    readers never search: both are fetched when the reader first turns to the search box."""
    requested = []
    page.on("request", lambda request: requested.append(urlparse(request.url).path))
    page.goto(site_url + "chapters/rnn/")
    page.evaluate(SETTLED)
    page.wait_for_timeout(1000)
    searching = [path for path in requested if "/workers/search." in path or path.endswith("/search_index.json")]
    assert searching == [], searching
    box = page.locator("input.md-search__input")
    box.click()
    box.fill("卷积")
    box.press("End")
    page.locator(".md-search-result__item > a").first.wait_for(timeout=15000)
    assert any("/workers/search." in path for path in requested)
    assert any(path.endswith("/search/search_index.json") for path in requested)
    assert page.problems == []


@pytest.mark.parametrize("query", SEARCHES)
def test_chinese_search_finds_the_page(page, site_url, query):
    page.goto(site_url)
    box = page.locator("input.md-search__input")
    box.click()  # at desktop width the search box sits in the header
    box.fill(query)
    box.press("End")  # Material searches on key-up
    results = page.locator(".md-search-result__item > a")
    results.first.wait_for(timeout=15000)
    hrefs = [unquote(results.nth(i).get_attribute("href")) for i in range(results.count())]
    found = list(dict.fromkeys(href.split("#")[0].split("?")[0] for href in hrefs))  # pages, as ranked
    assert any(href.endswith(SEARCHES[query]) for href in found[:3]), f"{query}: {found[:5]}"
    if query in TERMS and re.fullmatch(r"[\u3400-\u9fff]+", query):  # a term is looked up whole, not as its first characters
        assert any(f"h={query}" in href for href in hrefs), f"{query}: {hrefs[:3]}"


@pytest.mark.parametrize("path", PAGES)
def test_nothing_scrolls_sideways_on_a_phone(browser, site_url, path):
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(site_url + path)
    page.wait_for_load_state("load")
    page.evaluate(SETTLED)
    page.evaluate(SHOW_EVERY_BLOCK)  # contained, a too-wide block would be cut off, not widen the page
    # Under mobile emulation the layout viewport grows to fit content that is too wide, so
    # window.innerWidth cannot be the measure: compare with the phone's own width.
    overflow = page.evaluate(f"Math.max(document.documentElement.scrollWidth, window.innerWidth) - {PHONE['width']}")
    # an inline formula scrolls (and is a stop for the keyboard) only when it is wider than the column
    scrolls_though_it_fits = page.evaluate("""[...document.querySelectorAll('span.arithmatex')]
      .filter(f => f.scrollWidth > f.clientWidth && f.querySelector('mjx-math').getBoundingClientRect().width <= f.clientWidth + 1)
      .map(f => f.querySelector('math').textContent)""")
    if path == "chapters/regression/":
        page.screenshot(path=str(SCREENSHOTS / "phone-regression.png"), full_page=False)
    context.close()
    assert overflow <= 0, f"{path} is {overflow}px wider than the phone"
    assert not scrolls_though_it_fits, f"{path}: formulas that fit but scroll: {scrolls_though_it_fits[:5]}"


@pytest.mark.parametrize("width", [PHONE["width"], 1280])
def test_skipping_blocks_off_screen_moves_nothing(browser, site_url, width):
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    problems = []
    for path in (path for path in PAGES if not path.startswith("notebooks/")):
        page.goto(site_url + path)
        page.evaluate(SETTLED)
        plain = page.evaluate(BLOCK_BOXES, False)
        contained = page.evaluate(BLOCK_BOXES, True)
        if path.startswith("chapters/") and plain["skippable"] < 5:
            problems.append(f"{path}: only {plain['skippable']} blocks are skipped off screen")
        moved = [(a, b) for a, b in zip(plain["boxes"], contained["boxes"]) if a != b]
        if moved:
            problems.append(f"{path} at {width}px: {len(moved)} elements move, first {moved[0]}")
    context.close()
    assert not problems, "\n".join(problems)


def test_a_block_in_use_shows_what_sticks_out_of_it(page, site_url):
    """A checked sentence's tooltip hangs below its line: while it shows, its block is not
    contained (containment would cut it off at the block's edge)."""
    page.goto(site_url + "chapters/vanishing-gradients/")
    page.evaluate(SETTLED)
    claim = page.locator("p .claim").first
    block = "c => getComputedStyle(c.closest('.md-content__inner > *')).contentVisibility"
    assert claim.evaluate(block) == "auto"
    claim.hover()
    assert claim.evaluate(block) == "visible"


def test_a_link_to_a_late_section_lands_on_it(browser, site_url):
    """The blocks above a section are guessed heights until they are drawn: a link to the page's
    last section must still show that section at the top of a phone's screen."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(site_url + "chapters/vanishing-gradients/")
    last = page.evaluate("[...document.querySelectorAll('.md-typeset h2[id]')].at(-1).id")
    page.goto("about:blank")  # a link from elsewhere: the page loads afresh
    page.goto(site_url + f"chapters/vanishing-gradients/#{last}")
    page.wait_for_load_state("load")
    page.wait_for_timeout(500)
    top = page.evaluate(f"document.getElementById('{last}').getBoundingClientRect().top")
    context.close()
    assert 0 <= top <= 150, f"#{last} is at {top}px"


def test_the_run_report_table_fits_a_phone(browser, site_url):
    """Not just the page: the table itself needs no sideways scrolling, and its rows name pages."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(site_url + "report/")
    page.evaluate(SETTLED)
    table = page.locator(".run-report table")
    sizes = table.evaluate("t => [t.scrollWidth, t.clientWidth, t.getBoundingClientRect().right]")
    links = table.locator("tbody td:first-child a")
    names = [links.nth(i).inner_text() for i in range(links.count())]
    context.close()
    assert sizes[0] <= sizes[1] and sizes[2] <= PHONE["width"], f"report table {sizes} on a {PHONE['width']}px phone"
    assert len(names) == len(discover(ROOT / "code")) and "回归网络：拟合 y = x²" in names


AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_RUN = """async () => (await axe.run(document, {
  runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']},
})).violations.filter(v => ['serious', 'critical'].includes(v.impact))
  .map(v => `${v.id} (${v.nodes.length}): ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ')}`)"""


@pytest.mark.parametrize("scheme, viewport", [("light", None), ("dark", None), ("light", PHONE)])
def test_every_page_meets_wcag_aa(browser, site_url, scheme, viewport):
    """axe-core on every page, in the light and the dark palette and on a phone: no serious or
    critical violation of WCAG 2.1 AA or of axe's best practices (which Lighthouse counts too: a
    search dialog without a name; a formula that scrolls on a phone but takes no focus)."""
    context = browser.new_context(color_scheme=scheme, **({"viewport": viewport} if viewport else {}))
    page = context.new_page()
    found = {}
    for path in PAGES:
        page.goto(site_url + path)
        page.evaluate(SETTLED)
        page.add_script_tag(path=str(AXE))
        violations = page.evaluate(AXE_RUN)
        if violations:
            found[path or "/"] = violations
    context.close()
    assert not found, "\n".join(f"{path}: {v}" for path, vs in found.items() for v in vs)


def test_dark_mode_toggle_keeps_figures_legible(page, site_url):
    page.goto(site_url + "chapters/regression/")
    check_page(page)
    scheme = "document.body.getAttribute('data-md-color-scheme')"
    assert page.evaluate(scheme) == "default"
    page.locator("form[data-md-component='palette'] label:visible").first.click()
    page.wait_for_function(f"{scheme} === 'slate'")
    backgrounds = page.evaluate(
        "[...document.querySelectorAll('.md-typeset img')].map(i => getComputedStyle(i).backgroundColor)"
    )
    assert backgrounds and set(backgrounds) == {"rgb(255, 255, 255)"}, backgrounds
    page.screenshot(path=str(SCREENSHOTS / "dark-regression.png"), full_page=False)
    page.reload()  # the choice is remembered
    assert page.evaluate(scheme) == "slate"


@pytest.mark.parametrize("path", ["chapters/rnn/", "chapters/vanishing-gradients/", "notebooks/regression/"])
def test_formulas_read_with_javascript_off(browser, site_url, path):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(site_url + path)
    page.wait_for_load_state("load")
    page.evaluate("document.fonts.ready.then(() => true)")
    state = page.evaluate(MATH_STATE)
    context.close()
    assert state["typeset"] == state["formulas"] and state["empty"] == 0, state
    assert state["formulas"] + state["notebookMath"] >= 1
    assert state["missingGlyphs"] == [] and state["unloadedFonts"] == [], state


def test_math_is_typeset_again_after_instant_navigation(page, site_url):
    """Instant navigation, at an address other than site_url: the pages swap without a reload
    (a value set on the first page survives), and each one's formulas are there."""
    page.goto(site_url)
    check_page(page)
    page.evaluate("window.sameDocument = true")
    for title in ("激活函数", "回归网络：拟合 y = x²", "LSTM"):
        page.locator(".md-nav__link", has_text=title).first.click()
        # wait for the new page's own heading: the previous page had formulas too
        page.wait_for_function(
            "t => (document.querySelector('.md-content h1') || {}).textContent?.startsWith(t)",
            arg=title.split("：")[0],
        )
        state = check_page(page)
        assert state["formulas"] >= 3
        assert page.evaluate("window.sameDocument === true"), f"{title}: a full reload, not instant navigation"
    assert page.problems == []


@pytest.fixture(scope="module")
def offline_site(built_site, build_env, tmp_path_factory):
    """The offline edition (mkdocs-offline.yml), built once; its chapters are cache hits."""
    site = tmp_path_factory.mktemp("offline") / "site-offline"
    build = mkdocs_build(ROOT / "mkdocs-offline.yml", site, **build_env)
    assert build.returncode == 0, build.stderr
    return site


def test_the_offline_edition_reads_from_disk(browser, offline_site):
    """Opened as files: every page's links open files (never folder listings), every formula
    and image shows, and each chapter's notebook downloads."""
    from urllib.request import url2pathname

    css = (offline_site / "assets" / "mathjax" / "mathjax.css").read_text("utf-8")
    context = browser.new_context()
    page = context.new_page()
    elsewhere = []  # an offline page loads nothing from the network
    page.on("request", lambda r: r.url.startswith(("file:", "data:", "blob:")) or elsewhere.append(r.url))
    opened = 0
    for html in sorted(offline_site.rglob("*.html")):
        if html.name == "404.html":
            continue
        page.goto(html.as_uri())
        page.evaluate(SETTLED)
        state = page.evaluate(MATH_STATE)
        where = html.relative_to(offline_site)
        assert state["typeset"] == state["formulas"] and state["empty"] == 0, (where, state)
        # a page opened from disk may not read its stylesheets' rules: check the glyphs on the file
        glyphs = set(page.evaluate("[...document.querySelectorAll('mjx-c[class]')].map(c => '.' + [...c.classList].join('.'))"))
        assert not [g for g in glyphs if g + "::before" not in css and g + "." not in css], where
        assert state["unloadedFonts"] == [], (where, state)
        assert all(loaded for _, loaded in state["images"]), (where, state["images"])
        for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"):
            if href.startswith("file://"):
                target = Path(url2pathname(urlparse(href).path))
                assert target.is_file(), f"{where}: {href} is not a file"
        opened += 1
    chapter = (offline_site / "chapters" / "regression.html").as_uri()
    page.goto(chapter)
    download = page.locator("a[download]").first.get_attribute("href")
    assert download.endswith("regression.ipynb")
    assert (offline_site / "chapters" / download).resolve().is_file()
    context.close()
    assert opened >= len(PAGES)
    assert elsewhere == [], elsewhere[:5]


def test_the_offline_edition_searches_from_disk(browser, offline_site):
    context = browser.new_context()
    page = context.new_page()
    page.goto((offline_site / "index.html").as_uri())
    box = page.locator("input.md-search__input")
    box.click()
    box.fill("梯度裁剪")
    box.press("End")
    results = page.locator(".md-search-result__item > a")
    results.first.wait_for(timeout=15000)
    hrefs = [results.nth(i).get_attribute("href") for i in range(results.count())]
    context.close()
    assert any("vanishing-gradients.html" in href for href in hrefs[:3]), hrefs
