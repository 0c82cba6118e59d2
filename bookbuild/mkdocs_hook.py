"""MkDocs hooks that make the chapters executable.

``on_files`` runs every chapter that is not up to date (see ``bookbuild.runner``) and
adds their figures to the site under ``generated/<chapter>/``, plus the MathJax files
the site serves itself under ``assets/mathjax/``; it then checks the chapters' claims
against the pages that cite them (``bookbuild.pages.claim_problems``) and fails the
build on any problem. ``on_page_markdown`` fills a chapter page's ``{{ result }}``
placeholders and ``{{ claim name }}`` citations from its run and puts the provenance
box under its title.

Settings, from the environment:
    PTNOTES_MODE     full (default, what a published build uses) or quick
    PTNOTES_SEED     the book's base seed, handed to every chapter as --seed (default 0)
    PTNOTES_CACHE    cache folder (default .cache/chapters)
    PTNOTES_DATA     data root handed to the chapters (default data/)
    PTNOTES_TIMEOUT  seconds one chapter may run (default 1800)
    PTNOTES_JOBS     chapters run side by side (default 2, or 1 on a one-core machine)
    PTNOTES_COLAB_REPO  owner/name of the GitHub repository whose `notebooks` branch holds the
                     generated notebooks; when set, chapter pages link to them in Colab
    PTNOTES_OFFLINE_ZIP  the offline edition, zipped (``bash scripts/dev.sh offline``); when set,
                     the site serves it under downloads/ and the home page links to it

Each chapter also gets a notebook, notebooks/<chapter>.ipynb, generated from its script
with the run's outputs attached (``bookbuild.notebooks``); mkdocs-jupyter renders it as a
page without executing anything, so no chapter ever runs twice.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import posixpath
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import urljoin

import nbformat
from mkdocs.exceptions import PluginError
from mkdocs.utils import CountHandler
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # MkDocs loads a hook by its path, not as part of a package
    sys.path.insert(0, str(ROOT))

from bookbuild import glossary, mathjax, notebooks, pages, runner, search, settings, unused_css  # noqa: E402
from bookbuild.chapters import ChapterError, discover  # noqa: E402
from bookbuild.runner import ChapterFailed  # noqa: E402

log = logging.getLogger("mkdocs.hooks.bookbuild")

# pages ship typeset formulas (bookbuild.mathjax): of MathJax, the site serves only its fonts
MATHJAX_FONTS = "output/chtml/fonts/woff-v2"
MATHJAX_CSS = "assets/mathjax/mathjax.css"
OFFLINE_ZIP_NAME = "pytorch-notes-offline.zip"
IFRAME_WORKER_SHIM = "assets/javascripts/iframe-worker-shim.js"
GLOSSARY_PAGE = "glossary.md"

_command = {"name": None}
_state: dict = {}  # this build's executor, and the lock it holds on the cache while it runs
_site: dict[str, Path] = {}  # a `mkdocs build` writes into a staging folder, moved into place at its end
_outcomes: dict = {}
_failures: dict = {}  # chapter -> (its failure, its last good outcome or None): only under `mkdocs serve`
_chapter_page: dict[str, pages.ChapterPage] = {}
_mode = "full"
# What nbconvert puts into a notebook page for MathJax 2: an empty script tag and a
# configuration block. The build typesets the notebook pages' formulas itself (bookbuild.mathjax).
NBCONVERT_MATHJAX = re.compile(
    r'<script src="">\s*</script>'
    r"|<!-- MathJax configuration -->.*?<!-- End of mathjax configuration -->"
    r'|<script type="text/x-mathjax-config">.*?</script>',
    re.DOTALL,
)


# What a build prints is what matters: each chapter, failures, warnings. mkdocs-jupyter logs
# two lines per notebook and jieba its start-up; both only say that things work as usual.
QUIET_LOGGERS = ("mkdocs.plugins.mkdocs_jupyter", "mkdocs.mkdocs-jupyter", "jieba")


def on_startup(command, dirty):
    _command["name"] = command
    if logging.getLogger("mkdocs").getEffectiveLevel() > logging.DEBUG:  # `mkdocs build -v` shows everything
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)


@event_priority(-100)  # after every other on_config: the site folder is final
def on_config(config):
    """Reads the settings (a bad one is one clear error); puts mkdocs-jupyter's cache beside the
    chapters' cache instead of the working directory. A build writes into a staging folder beside
    the site folder and replaces the site only when it succeeded: a failed build leaves the
    previous site as it was."""
    try:
        _state["executor"] = settings.executor_from_environment(ROOT)
    except settings.SettingsError as exc:
        raise PluginError(str(exc)) from None
    glossary_page = Path(config.docs_dir) / GLOSSARY_PAGE
    search.teach_jieba(glossary.read_terms(glossary_page) if glossary_page.is_file() else [])
    cache_root = _state["executor"].cache_dir.parent
    _state["math"] = mathjax.Typesetter(ROOT / "node_modules", cache_root / "mathjax" / "formulas.json")
    jupyter = config.plugins.get("mkdocs-jupyter")
    if jupyter is not None:
        jupyter.config["cache_dir"] = str(_state["executor"].cache_dir.parent / "mkdocs-jupyter")
    _site.clear()
    if _command["name"] not in ("build", "gh-deploy"):
        return config  # `mkdocs serve` builds into a temporary folder of its own
    real = Path(config.site_dir)
    for dead in real.parent.glob(f".{real.name}.building-*"):
        pid = dead.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or not Path(f"/proc/{pid}").exists():
            shutil.rmtree(dead, ignore_errors=True)
    staging = real.with_name(f".{real.name}.building-{os.getpid()}")
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
    except OSError as exc:
        raise PluginError(f"无法写入网站目录 {real}：{exc.strerror or exc}") from None
    _site.update(real=real, staging=staging)
    config.site_dir = str(staging)
    return config


def on_pre_build(config):
    """Builds on one cache take turns: the chapters' cache, the notebooks and mkdocs-jupyter's
    cache are shared, so a second build waits here for the first (and then runs no chapter)."""
    lock = _state["executor"].cache_dir / ".build.lock"
    _state["lock"] = runner.FileLock(lock).__enter__()


def _release() -> None:
    lock = _state.pop("lock", None)
    if lock is not None:
        lock.__exit__(None, None, None)


def on_post_build(config):
    typesetter = _state.pop("math", None)
    if typesetter is not None:
        try:
            css = typesetter.stylesheet()
        except mathjax.MathError as exc:
            raise PluginError(str(exc)) from None
        finally:
            typesetter.close()
        _write_if_changed(Path(config.site_dir) / MATHJAX_CSS, mathjax.minified(css))
        fonts = Path(config.site_dir) / MATHJAX_CSS.rsplit("/", 1)[0] / MATHJAX_FONTS
        mathjax.subset_fonts(css, ROOT / "node_modules" / "mathjax" / "es5" / MATHJAX_FONTS, fonts)
    try:
        search.rewrite_index(Path(config.site_dir) / "search" / "search_index.json", _state["explained_at"])
        site = Path(config.site_dir)
        annotated = any(re.search(r'class="[^"]*\bannotate\b', page.read_text("utf-8")) for page in site.rglob("*.html"))
        unused_css.drop_unused_css(site, ROOT / "node_modules", unused_css.unused_features(config, annotated))
    except (search.SearchError, unused_css.CssError) as exc:
        raise PluginError(str(exc)) from None
    _release()
    for name, (failure, previous) in _failures.items():  # the preview's log ends with what failed
        shown = "显示上一次成功运行的结果" if previous else "页面上没有结果"
        log.info(f"章节 {name} 运行失败（{failure.reason}），{shown}；最后几行输出：\n{failure.tail}")
    if not _site:
        return
    staging, real = _site["staging"], _site["real"]
    counts = [h.get_counts() for h in logging.getLogger("mkdocs").handlers if isinstance(h, CountHandler)]
    if config.strict and any(counts):  # MkDocs aborts right after this event: keep the old site
        shutil.rmtree(staging, ignore_errors=True)
        return
    old = real.with_name(f".{real.name}.old-{os.getpid()}")
    if real.exists():
        real.rename(old)
    staging.rename(real)
    shutil.rmtree(old, ignore_errors=True)
    config.site_dir = str(real)


def on_build_error(error):
    typesetter = _state.pop("math", None)
    if typesetter is not None:
        typesetter.close()
    _release()
    if _site:
        shutil.rmtree(_site["staging"], ignore_errors=True)


def _served_from_npm(config) -> list[File]:
    """What the site serves from node_modules. MathJax's fonts are not among them: on_post_build
    writes them, cut down to the characters the formulas use."""
    fonts = sorted((ROOT / "node_modules" / "mathjax" / "es5" / MATHJAX_FONTS).glob("*.woff"))
    shim = ROOT / "node_modules" / "iframe-worker" / "shim" / "index.js"
    if not fonts or not shim.is_file():
        raise PluginError("找不到 node_modules 里的 MathJax 或 iframe-worker：请先在项目根目录运行 bash scripts/dev.sh setup")
    # the offline edition's search runs its worker through this shim (mkdocs-offline.yml), served by the
    # site itself: the offline plugin's default is unpkg.com, which a reader offline or in China cannot reach
    return [File.generated(config, IFRAME_WORKER_SHIM, abs_src_path=str(shim))]


def _write_if_changed(path: Path, text: str) -> None:
    if not path.is_file() or path.read_text("utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")


def _notebook_files(config, source_dir: Path) -> list[File]:
    """The chapters' notebooks, written under ``source_dir/notebooks/``.

    They are ordinary files of a source folder of their own (not ``File.generated``):
    mkdocs-jupyter finds a notebook through its ``src_dir``.
    """
    found = []
    for name, outcome in _outcomes.items():
        page = _chapter_page.get(name)
        url = urljoin(config.site_url or "", page.path.removesuffix(".md") + "/") if page else None
        notebook = notebooks.chapter_notebook(outcome, url)
        _write_if_changed(source_dir / "notebooks" / f"{name}.ipynb", nbformat.writes(notebook))
        found.append(File(f"notebooks/{name}.ipynb", str(source_dir), config.site_dir, config.use_directory_urls))
    return found


@event_priority(50)  # before mkdocs-jupyter's on_files, which turns the notebooks into pages
def on_files(files, config):
    executor = _state["executor"]
    try:
        chapters = discover(executor.code_dir)
    except ChapterError as exc:
        raise PluginError(str(exc)) from None
    global _mode
    _outcomes.clear()
    _failures.clear()
    _mode = executor.mode
    results = executor.run_each(chapters)
    failures = [result for result in results if isinstance(result, ChapterFailed)]
    if failures and _command["name"] != "serve":
        raise PluginError(f"{len(failures)} 章运行失败：\n\n" + "\n\n".join(str(f) for f in failures))
    for chapter, outcome in zip(chapters, results, strict=True):
        if isinstance(outcome, ChapterFailed):
            # a preview serves the site anyway: the chapter's page shows what failed, and the
            # chapter's last good results, marked as such, if there are any
            log.info(f"章节 {chapter.name}：运行失败（{outcome.reason}）")
            previous = executor.last_good(chapter)
            _failures[chapter.name] = (outcome, previous)
            if previous is None:
                continue
            outcome = previous
        else:
            log.info(f"章节 {chapter.name}：{outcome.summary}")
        _outcomes[chapter.name] = outcome
        for path in outcome.output_files():
            uri = f"generated/{chapter.name}/{path.relative_to(outcome.entry).as_posix()}"
            files.append(File.generated(config, uri, abs_src_path=str(path)))
    _chapter_page.clear()
    _chapter_page.update(pages.chapter_pages(Path(config.docs_dir)))
    _check_claims()
    for file in _served_from_npm(config) + _notebook_files(config, executor.cache_dir.parent / "notebook-source"):
        files.append(file)
    _state["offline_zip"] = _offline_zip(config, files)
    _state["explained_at"] = _search_worker_and_keywords(config, files)
    # what an <img> may show: the chapters' figures (sized on the page by their files)
    _state["site_files"] = {f.dest_uri: f.abs_src_path for f in files if f.dest_uri.startswith("generated/")}
    return files


def _search_worker_and_keywords(config, files) -> dict[str, list[str]]:
    """Serves Material's search worker with its query segmentation fixed (bookbuild.search), and
    returns which page explains which glossary term, by the page's URL."""
    workers = [file for file in files if search.WORKER.fullmatch(file.src_uri)]
    if "material/search" in config.plugins and len(workers) != 1:
        raise PluginError(f"Material 的搜索 worker 应当正好一个，找到 {len(workers)} 个：检查 bookbuild/search.py 的 WORKER")
    for file in workers:
        try:
            patched = search.patched_worker(Path(file.abs_src_path).read_text("utf-8"))
        except search.SearchError as exc:
            raise PluginError(str(exc)) from None
        files.remove(file)
        files.append(File.generated(config, file.src_uri, content=patched))
    explained_at: dict[str, list[str]] = {}
    glossary_file = files.get_file_from_path(GLOSSARY_PAGE)
    if glossary_file is None:
        return explained_at
    for term in glossary.read_terms(Path(glossary_file.abs_src_path)):
        page = files.get_file_from_path(term.page) if term.page else None
        if term.page and page is None:
            raise PluginError(f"{GLOSSARY_PAGE}：术语 {term.term} 的讲解页面 {term.page} 不存在")
        if page is not None:
            explained_at.setdefault(page.url, []).append(term.term)
    return explained_at


def _offline_zip(config, files) -> str | None:
    """The offline edition's zip, served under downloads/ when PTNOTES_OFFLINE_ZIP names it."""
    path = os.environ.get("PTNOTES_OFFLINE_ZIP")
    if not path:
        return None
    if not Path(path).is_file():
        raise PluginError(f"PTNOTES_OFFLINE_ZIP：找不到离线版压缩包 {path}（先运行 bash scripts/dev.sh offline）")
    uri = f"downloads/{OFFLINE_ZIP_NAME}"
    files.append(File.generated(config, uri, abs_src_path=str(Path(path).resolve())))
    return uri


def _check_claims() -> None:
    checked = {name: outcome for name, outcome in _outcomes.items() if name not in _failures}
    problems = pages.claim_problems(checked, _chapter_page, _mode)
    if problems:
        raise PluginError("页面上的结论与运行结果不符：\n" + "\n".join(f"  {line}" for line in problems))
    for name, outcome in _outcomes.items():
        for claim_name, claim in outcome.results.get("claims", {}).items():
            if not claim["holds"]:  # only in quick mode: a preview on less data
                log.info(f"快速模式：章节 {name} 的结论 {claim_name} 不成立（{claim['check']}）")


def on_page_markdown(markdown, page, config, files):
    up = "../" * page.file.src_uri.count("/")
    offline = _state.get("offline_zip")
    namespace = {
        "offline_download": (
            f'<a href="{up}{offline}" download>下载离线版（zip，解压后打开 index.html）</a>' if offline
            else "离线版的压缩包由发布网站的工作流生成（本地用 `bash scripts/dev.sh offline` 构建）"
        ),
        "run_report": pages.report_table(list(_outcomes.values()), _chapter_page),
        "claim_report": pages.claim_report(_outcomes, _chapter_page),
    }
    claims = None
    unavailable = False
    name = page.meta.get("chapter")
    if name is not None:
        if name not in _outcomes and name not in _failures:
            raise PluginError(f"{page.file.src_uri}: front matter 里的章节 {name!r} 在 code/ 中不存在")
        boxes = []
        if name in _failures:
            failure, previous = _failures[name]
            boxes.append(pages.failure_box(failure, f"code/{name}.py", previous))
            if previous is None:  # nothing to show: the page keeps its text, without numbers or figures
                unavailable = True
                markdown = pages.without_figures(markdown, name)
        if name in _outcomes:
            outcome = _outcomes[name]
            namespace.update(outcome.results["results"])
            claims = outcome.results.get("claims", {})
            colab = os.environ.get("PTNOTES_COLAB_REPO")
            boxes.append(
                pages.provenance(outcome, f"code/{name}.py", page.file.src_uri, colab, config.use_directory_urls)
            )
        markdown = pages.insert_after_title(markdown, "\n".join(boxes))
    try:
        return pages.substitute(markdown, namespace, claims, _mode, unavailable=unavailable)
    except pages.PageError as exc:
        raise PluginError(f"{page.file.src_uri}: {exc}") from None


def on_page_content(html, page, config, files):
    """The first use of each glossary term on a page links to its row of the glossary."""
    glossary_file = files.get_file_from_path(GLOSSARY_PAGE)
    if glossary_file is None or page.file is glossary_file or page.file.src_uri.startswith("notebooks/"):
        return html
    terms = glossary.read_terms(Path(glossary_file.abs_src_path))
    return glossary.link_first_uses(html, terms, glossary_file.url_relative_to(page.file))


@event_priority(50)  # before the search plugin indexes the page
def on_page_context(context, page, config, nav):
    if page.file.src_uri.startswith("notebooks/"):
        # a notebook repeats its chapter's code: searching finds the chapter page instead
        page.meta["search"] = {"exclude": True}
    return context


def on_post_page(output, page, config):
    up = "../" * page.url.count("/")  # from the page's URL to the site's root
    if page.file.src_uri.startswith("notebooks/"):
        output = notebooks.fold_helper_cells(NBCONVERT_MATHJAX.sub("", output))
        output = notebooks.heading_ids(output)
        name = page.file.name
        figures = {}
        if name in _outcomes:
            entry = _outcomes[name].entry
            for figure in _outcomes[name].results["figures"]:
                data = base64.b64encode((entry / figure).read_bytes()).decode("ascii")
                figures[data] = f"{up}generated/{name}/{figure}"
        output, sheets = notebooks.slim_page(output, figures, f"{up}assets/stylesheets/")
        for sheet, css in sheets.items():
            _write_if_changed(Path(config.site_dir) / "assets" / "stylesheets" / sheet, css)
    try:
        output = mathjax.typeset_page(output, _state["math"])
    except mathjax.MathError as exc:
        raise PluginError(f"{page.file.src_uri}: {exc}") from None
    here = posixpath.dirname(page.url)

    def site_file(src: str) -> str | None:
        return _state["site_files"].get(posixpath.normpath(posixpath.join(here, src)))

    output = pages.avif_animations(pages.sized_images(output, site_file), site_file)
    if not page.file.src_uri.startswith("notebooks/"):  # a notebook's code is coloured by nbconvert's classes
        output = pages.guessed_block_heights(pages.lean_code_blocks(output))
    return pages.collapsed_whitespace(pages.deferred_images(output))
