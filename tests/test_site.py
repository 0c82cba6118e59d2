"""The site builds with --strict, every page shows what the run produced, nothing is
loaded from another host, and a rebuild executes no chapter."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest
import yaml

from bookbuild.chapters import discover
from bookbuild.pages import LAYOUTS, PLACEHOLDER, lookup
from conftest import CODE, ROOT, mkdocs_build, mkdocs_env

DOCS = ROOT / "docs"


def front_matter(page: Path) -> dict:
    match = re.match(r"---\n(.*?)\n---\n", page.read_text("utf-8"), re.S)
    return yaml.safe_load(match.group(1)) if match else {}


CHAPTER_PAGES = {page: front_matter(page)["chapter"] for page in DOCS.rglob("*.md") if "chapter" in front_matter(page)}


class Resources(HTMLParser):
    """Collects what a page loads (scripts, styles, images) and the text outside <code>."""

    def __init__(self):
        super().__init__()
        self.loads: list[str] = []
        self.images: list[str] = []
        self.text: list[str] = []
        self._in_code = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("code", "pre"):
            self._in_code += 1
        if tag == "script" and attrs.get("src"):
            self.loads.append(attrs["src"])
        if tag == "link" and attrs.get("rel") in ("stylesheet", "preload", "icon", "modulepreload"):
            self.loads.append(attrs["href"])
        if tag == "img":
            self.images.append(attrs["src"])
            self.loads.append(attrs["src"])

    def handle_endtag(self, tag):
        if tag in ("code", "pre"):
            self._in_code -= 1

    def handle_data(self, data):
        if not self._in_code:
            self.text.append(data)


def parse(html_file: Path) -> Resources:
    parser = Resources()
    parser.feed(html_file.read_text("utf-8"))
    return parser


def html_pages(site: Path):
    return sorted(p for p in site.rglob("*.html") if p.name != "404.html")


def page_html(site: Path, md: Path) -> Path:
    return site / md.relative_to(DOCS).with_suffix("") / "index.html"


def test_every_chapter_has_a_page():
    assert sorted(CHAPTER_PAGES.values()) == sorted(c.name for c in discover(CODE))


def test_every_snippet_section_exists():
    include = re.compile(r'--8<-- "([^":]+)(?::([\w-]+))?"')
    found = 0
    for md in DOCS.rglob("*.md"):
        for match in include.finditer(md.read_text("utf-8")):
            script, section = CODE / match.group(1), match.group(2)
            if "<" in match.group(1):  # the contributors' page shows the syntax itself
                continue
            found += 1
            assert script.is_file(), f"{md.name}: {script.name} does not exist"
            if section:
                source = script.read_text("utf-8")
                assert f"# --8<-- [start:{section}]" in source, f"{md.name}: no section {section}"
                assert f"# --8<-- [end:{section}]" in source, f"{md.name}: section {section} not closed"
    assert found >= 6


def test_every_page_loads_only_from_the_site(built_site):
    site = built_site["site"]
    for html in html_pages(site):
        for url in parse(html).loads:
            if url.startswith("data:"):
                continue  # inline (a notebook's figures): no request at all
            assert urlparse(url).scheme in ("", "file") and not url.startswith("//"), f"{html}: {url[:80]}"
            target = urljoin(html.relative_to(site).as_posix(), url.split("#")[0].split("?")[0])
            assert (site / target).is_file(), f"{html.relative_to(site)} references missing {url}"


def test_chapter_pages_show_their_figures(built_site):
    site = built_site["site"]
    for md, chapter in CHAPTER_PAGES.items():
        html = page_html(site, md)
        images = parse(html).images
        assert any(f"generated/{chapter}/" in src for src in images), f"{md.name} shows no figure"
        for src in images:
            assert (html.parent / src).resolve().is_file(), f"{md.name}: {src}"


def test_numbers_on_pages_come_from_the_run(built_site):
    site = built_site["site"]
    for md, chapter in CHAPTER_PAGES.items():
        source = md.read_text("utf-8")
        results = json.loads((site / "generated" / chapter / "results.json").read_text("utf-8"))
        html = page_html(site, md).read_text("utf-8")
        text = " ".join(parse(page_html(site, md)).text)
        # a number inside a formula is read from its MathML: <mo>−</mo><mn>12.68</mn>
        text = re.sub(r"-\s+(?=\d)", "-", text.replace("\u2212", "-"))
        assert "{{" not in html, f"{md.name} has an unfilled placeholder (placeholders in code stay verbatim)"
        quoted = 0
        for match in PLACEHOLDER.finditer(source):
            if not match.group("name"):
                continue
            value = lookup(results["results"], match.group("name"))
            if match.group("spec") not in LAYOUTS:  # tables and code blocks are checked by their cells
                assert format(value, match.group("spec") or "") in text
            quoted += 1
        assert quoted >= 3, f"{md.name} quotes too few results from its run"
        # where the numbers came from
        assert "本页结果的来源" in text and "快速模式" in text and results["meta"]["torch"] in text


def test_formulas_are_typeset_at_build_time(built_site):
    """No page ships MathJax: every formula is MathJax's output already, every glyph it uses
    has its rule in the one stylesheet, and every font that stylesheet names is served."""
    site = built_site["site"]
    css = (site / "assets" / "mathjax" / "mathjax.css").read_text("utf-8")
    rules = set(re.findall(r"\.(mjx-c[0-9A-F]+(?:\.[\w-]+)?)::before", css))
    formulas = 0
    for page in site.rglob("*.html"):
        html = page.read_text("utf-8")
        assert "tex-chtml" not in html and "MathJax.js" not in html and "window.MathJax" not in html, page
        for block in re.findall(r'class="arithmatex">(.*?)</(?:span|div)>', html, re.DOTALL):
            formulas += 1
            assert block.startswith("<mjx-container") and "<mjx-assistive-mml" in block, (page, block[:80])
        for glyph in re.findall(r'<mjx-c class="(mjx-c[0-9A-F]+(?: [\w-]+)?)"', html):
            assert glyph.replace(" ", ".") in rules, (page, glyph)
        if "notebooks/" in str(page) and "jp-RenderedMarkdown" in html:
            assert not re.search(r"\$[^$<]+\$", html.split("jp-RenderedMarkdown")[1].split("</div>")[0])
    assert formulas >= 150
    for font in re.findall(r'url\("?([^")]+\.woff)', css):
        assert (site / "assets" / "mathjax" / font).is_file(), font
    assert not (site / "assets" / "mathjax" / "tex-chtml.js").exists()


def test_first_uses_link_to_the_glossary(built_site):
    """Each chapter page links its first use of each term it uses to the glossary's row, once."""
    site = built_site["site"]
    for md in CHAPTER_PAGES:
        html = page_html(site, md).read_text("utf-8")
        links = re.findall(r'<a class="glossary-term" href="\.\./\.\./glossary/#([\w-]+)"', html)
        assert len(links) >= 3 and len(links) == len(set(links)), (md.name, links)
        assert not re.search(r"<(h[1-6]|code|pre)\b[^>]*>[^<]*<a class=\"glossary-term\"", html), md.name


def test_pages_are_light_and_well_formed(built_site):
    """Every <img> has its size (no layout shift), no heading has an empty id, and a notebook
    page stays under 400 KB of HTML: its figures are the chapter's files, its template CSS one
    shared stylesheet, its folded helper modules plain text."""
    site = built_site["site"]
    for page in site.rglob("*.html"):
        html = page.read_text("utf-8")
        for img in re.findall(r"<img\b[^>]*>", html):
            assert re.search(r' width="\d+" height="\d+"', img), (page.relative_to(site), img[:120])
        assert not re.search(r'<h[1-6] id=""|href="#_\d+"', html), page.relative_to(site)
        if page.relative_to(site).parts[0] == "notebooks":
            assert len(html.encode()) <= 400 * 1024, (page.relative_to(site), len(html.encode()))
            assert not re.search(r"data:image/(png|gif)", html), page.relative_to(site)
            assert all(len(style) < 2000 for style in re.findall(r"<style.*?</style>", html, re.DOTALL))


def test_an_unreadable_formula_fails_the_build_naming_page_and_formula(built_site, build_env, project_copy, tmp_path):
    page = project_copy / "docs" / "glossary.md"
    page.write_text(page.read_text("utf-8") + "\n坏公式：$\\frac{1}{\\undefinedmacro}$\n", "utf-8")
    failed = mkdocs_build(project_copy / "mkdocs.yml", tmp_path / "site", **build_env)
    assert failed.returncode != 0
    output = failed.stdout + failed.stderr
    assert "glossary.md" in output and "\\undefinedmacro" in output, output[-2000:]


def test_run_report_lists_every_chapter(built_site):
    html = (built_site["site"] / "report" / "index.html").read_text("utf-8")
    for chapter in discover(CODE):  # each row names its chapter's page, linked
        assert re.search(rf'<td><a href="\.\./chapters/{chapter.name.replace("_", "-")}/">[^<]+</a></td>', html), chapter
    assert html.count("<td>重新运行<br>") == len(discover(CODE))  # the first build ran them all
    assert "设备：" in html and "模式：快速模式" in html  # said once, above the table


def test_the_build_log_keeps_to_what_matters(built_site):
    log = built_site["log"]
    assert "章节 regression：" in log
    for noise in ("Converting notebook", "Cache miss", "Copied jupyter file", "Building prefix dict", "Loading model"):
        assert noise not in log, noise


def test_the_home_page_runs_chapters_with_the_projects_python():
    home = (DOCS / "index.md").read_text("utf-8")
    assert ".venv/bin/python code/regression.py" in home
    assert not re.search(r"^python3? code/", home, re.M), "a system Python has none of the packages"


def test_a_second_build_runs_no_chapter(built_site, build_env, tmp_path):
    cache = built_site["cache"]
    before = sorted(p.relative_to(cache) for p in cache.rglob("*"))
    second = mkdocs_build(ROOT / "mkdocs.yml", tmp_path / "site", **build_env)
    assert second.returncode == 0, second.stderr
    for chapter in discover(CODE):
        assert f"章节 {chapter.name}：命中缓存" in second.stderr
    assert "已运行" not in second.stderr
    assert sorted(p.relative_to(cache) for p in cache.rglob("*")) == before


@pytest.fixture
def project_copy(tmp_path):
    for part in ("docs", "code", "bookbuild", "overrides"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "mkdocs.yml", tmp_path)
    (tmp_path / "node_modules").symlink_to(ROOT / "node_modules")
    return tmp_path


def test_a_failing_chapter_fails_the_build_and_keeps_the_old_outputs(built_site, build_env, project_copy, tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(built_site["cache"], cache)  # same sources, so the copy's chapters are cache hits
    entries = sorted(p.relative_to(cache) for p in cache.rglob("*"))
    # a chapter no other chapter imports: its failure must leave every cache entry as it was
    script = project_copy / "code" / "activation.py"
    source = script.read_text("utf-8")
    start = "    run = chapter_kit.start(parser, argv)\n"
    assert start in source
    script.write_text(source.replace(start, start + "    1 / 0\n"))
    failed = mkdocs_build(project_copy / "mkdocs.yml", tmp_path / "site", **{**build_env, "PTNOTES_CACHE": str(cache)})
    assert failed.returncode != 0
    output = failed.stdout + failed.stderr
    assert "章节 activation 运行失败" in output
    assert "ZeroDivisionError" in output
    assert sorted(p.relative_to(cache) for p in cache.rglob("*")) == entries


def test_a_page_quoting_an_unrecorded_result_fails_the_build(built_site, build_env, project_copy, tmp_path):
    page = project_copy / "docs" / "chapters" / "regression.md"
    page.write_text(page.read_text("utf-8") + "\n最终准确率 {{ accuracy:.2% }}。\n")
    failed = mkdocs_build(project_copy / "mkdocs.yml", tmp_path / "site", **build_env)
    assert failed.returncode != 0
    assert "accuracy" in failed.stdout + failed.stderr


def test_a_missing_snippet_section_fails_the_build(built_site, build_env, project_copy, tmp_path):
    page = project_copy / "docs" / "chapters" / "regression.md"
    page.write_text(page.read_text("utf-8").replace('"regression.py:net"', '"regression.py:nett"'))
    failed = mkdocs_build(project_copy / "mkdocs.yml", tmp_path / "site", **build_env)
    assert failed.returncode != 0


def test_serve_reruns_a_changed_chapter_and_does_not_loop(built_site, build_env, project_copy, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path / "serve.log"
    cache = tmp_path / "cache"
    shutil.copytree(built_site["cache"], cache)
    with log.open("w") as sink:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mkdocs",
                "serve",
                "-f",
                str(project_copy / "mkdocs.yml"),
                "-a",
                f"127.0.0.1:{port}",
            ],
            cwd=project_copy,
            env=mkdocs_env(**{**build_env, "PTNOTES_CACHE": str(cache)}),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:

        def wait_for(text, count=1, seconds=120):
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                if log.read_text("utf-8").count(text) >= count:
                    return
                time.sleep(0.2)
            raise AssertionError(f"never saw {text!r} {count}×:\n{log.read_text('utf-8')}")

        wait_for("Serving on")
        assert log.read_text("utf-8").count("章节 regression：命中缓存") == 1
        script = project_copy / "code" / "regression.py"
        script.write_text(script.read_text("utf-8").replace("N_HIDDEN = 10", "N_HIDDEN = 12"))
        wait_for("章节 regression：已运行")
        wait_for("Serving on", count=1)  # the server stays up
        time.sleep(6)  # longer than the watcher's debounce: a loop would have rebuilt by now
        text = log.read_text("utf-8")
        assert text.count("章节 regression：已运行") == 1, text
        assert text.count("章节 activation：命中缓存") == 2, text  # one rebuild, activation not re-run
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_shards_run_on_separate_machines_merge_into_one_site(build_env, tmp_path):
    """A CI matrix: each shard runs its share into its own cache; the caches are copied into
    one folder; the final build finds every chapter there and runs none."""
    shares = []
    for index in (1, 2):
        cache = tmp_path / f"cache-{index}"
        result = subprocess.run(
            [sys.executable, "-m", "bookbuild", "run", "--shard", f"{index}/2"],
            cwd=ROOT,
            env=mkdocs_env(**{**build_env, "PTNOTES_CACHE": str(cache)}),
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert result.returncode == 0, result.stderr
        shares.append({line.split()[0] for line in result.stdout.splitlines()})
    chapters = {c.name for c in discover(CODE)}
    assert shares[0] | shares[1] == chapters and not shares[0] & shares[1]

    merged = tmp_path / "merged"
    for index in (1, 2):
        shutil.copytree(tmp_path / f"cache-{index}", merged, dirs_exist_ok=True)
    build = mkdocs_build(ROOT / "mkdocs.yml", tmp_path / "site", **{**build_env, "PTNOTES_CACHE": str(merged)})
    assert build.returncode == 0, build.stderr
    assert "已运行" not in build.stderr
    assert all(f"章节 {name}：命中缓存" in build.stderr for name in chapters)
    assert (tmp_path / "site" / "generated" / "mnist_cnn" / "predictions.png").is_file()


def test_status_and_bad_shards(build_env):
    env = mkdocs_env(**build_env)
    status = subprocess.run(
        [sys.executable, "-m", "bookbuild", "status"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert status.returncode == 0 and "regression" in status.stdout
    for bad in ("0/2", "3/2", "half"):
        result = subprocess.run(
            [sys.executable, "-m", "bookbuild", "run", "--shard", bad],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr


NO_NETWORK = {"https_proxy": "http://127.0.0.1:9/", "http_proxy": "http://127.0.0.1:9/", "no_proxy": ""}


def test_a_build_without_data_fails_listing_every_failed_chapter(built_site, build_env, tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(built_site["cache"], cache)
    (tmp_path / "empty").mkdir()
    env = {**build_env, **NO_NETWORK, "PTNOTES_CACHE": str(cache), "PTNOTES_DATA": str(tmp_path / "empty")}
    failed = mkdocs_build(ROOT / "mkdocs.yml", tmp_path / "site", **env)
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "2 章运行失败" in output and "章节 mnist_cnn 运行失败" in output and "章节 mnist_rnn 运行失败" in output
    assert "找不到可用的 MNIST 数据" in output


def test_serve_without_data_serves_the_site_with_failure_boxes(built_site, build_env, project_copy, tmp_path):
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cache = tmp_path / "cache"
    shutil.copytree(built_site["cache"], cache)
    for entry in cache.glob("mnist_rnn/[!.]*"):  # mnist_rnn has never run; mnist_cnn ran before
        shutil.rmtree(entry)
    (tmp_path / "empty").mkdir()
    env = {**build_env, **NO_NETWORK, "PTNOTES_CACHE": str(cache), "PTNOTES_DATA": str(tmp_path / "empty")}
    log = tmp_path / "serve.log"
    with log.open("w") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "mkdocs", "serve", "-f", str(project_copy / "mkdocs.yml"), "-a", f"127.0.0.1:{port}"],
            cwd=project_copy,
            env=mkdocs_env(**env),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 300
        while "Serving on" not in log.read_text("utf-8"):
            assert server.poll() is None and time.monotonic() < deadline, log.read_text("utf-8")
            time.sleep(0.5)

        def page(path):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/{path}", timeout=30) as response:
                return response.read().decode("utf-8")

        never_ran = page("chapters/mnist-rnn/")
        assert "这一章运行失败" in never_ran and "找不到可用的 MNIST 数据" in never_ran
        assert "还没有成功运行过" in never_ran and "generated/mnist_rnn/" not in never_ran
        assert "{{" not in never_ran and "（未运行）" in never_ran
        ran_before = page("chapters/mnist-cnn/")
        assert "这一章运行失败" in ran_before and "上一次成功的运行" in ran_before
        assert "generated/mnist_cnn/" in ran_before
        assert "这一章运行失败" not in page("chapters/regression/")
        text = log.read_text("utf-8")
        assert "章节 mnist_cnn 运行失败" in text and "章节 mnist_rnn 运行失败" in text
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_theme_stylesheets_keep_only_what_pages_and_scripts_use(built_site):
    import material

    theme = Path(material.__file__).parent / "templates" / "assets" / "stylesheets"
    site = built_site["site"] / "assets" / "stylesheets"
    (main,) = site.glob("main.*.min.css")
    css = main.read_text("utf-8")
    assert main.stat().st_size < 0.75 * (theme / main.name).stat().st_size
    # classes that only the theme's JavaScript puts on a page are named in its scripts: kept
    for selector in (".md-search-result__item", ".md-search-result__more", ".md-code__button", ".md-nav__link--active",
                     ".md-dialog--active", ".md-top"):
        assert selector in css, selector
    (palette,) = site.glob("palette.*.min.css")
    assert "[data-md-color-scheme=slate]" in palette.read_text("utf-8")  # the dark palette
    # features this site does not use: dropped, those its configuration leaves off too (their
    # classes are named in the theme's script)
    for selector in (".md-post__", ".md-social", ".md-clipboard", ".tabbed-labels", ".md-annotation", ".md-tooltip",
                     ".md-version__", "[dir=rtl]", ".md-tag"):
        assert selector not in css, selector
    notebook_sheets = list(site.glob("notebook-*.css"))
    assert notebook_sheets
    for sheet in notebook_sheets:  # the notebook pages' sheets are CSS a browser reads
        assert not sheet.read_text("utf-8").lstrip().startswith("["), sheet.name


def test_features_left_off_in_the_configuration_are_named():
    from types import SimpleNamespace

    from bookbuild.unused_css import unused_features

    config = SimpleNamespace(theme={"features": ["content.code.copy"]}, markdown_extensions=["toc"], extra={},
                             repo_url=None, plugins={"search": None})
    assert unused_features(config) == ["tabbed", "md-annotation", "md-tooltip", "md-tooltip2", "md-version",
                                       "md-source", "md-tag", "rtl"]
    config = SimpleNamespace(theme={"features": ["content.tooltips"], "direction": "rtl"},
                             markdown_extensions=["pymdownx.tabbed"], extra={"version": {"provider": "mike"}},
                             repo_url="https://example.org/r", plugins={"material/tags": None})
    assert unused_features(config) == ["md-annotation", "md-tooltip"]
