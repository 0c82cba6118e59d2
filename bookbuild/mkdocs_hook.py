"""MkDocs hooks that make the chapters executable.

``on_files`` runs every chapter that is not up to date (see ``bookbuild.runner``) and
adds their figures to the site under ``generated/<chapter>/``, plus the MathJax files
the site serves itself under ``assets/mathjax/``. ``on_page_markdown`` fills a chapter
page's ``{{ result }}`` placeholders from its run and puts the provenance box under
its title.

Settings, from the environment:
    PTNOTES_MODE     full (default, what a published build uses) or quick
    PTNOTES_CACHE    cache folder (default .cache/chapters)
    PTNOTES_DATA     data root handed to the chapters (default data/)
    PTNOTES_TIMEOUT  seconds one chapter may run (default 1800)
    PTNOTES_JOBS     chapters run side by side (default 2, or 1 on a one-core machine)
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # MkDocs loads a hook by its path, not as part of a package
    sys.path.insert(0, str(ROOT))

from bookbuild import pages, settings  # noqa: E402
from bookbuild.chapters import ChapterError, discover  # noqa: E402
from bookbuild.runner import ChapterFailed  # noqa: E402

log = logging.getLogger("mkdocs.hooks.bookbuild")

MATHJAX_PARTS = ("tex-chtml.js", "output/chtml/fonts/woff-v2", "input/tex/extensions")

_outcomes: dict = {}


def _mathjax_files(config) -> list[File]:
    source = ROOT / "node_modules" / "mathjax" / "es5"
    if not (source / "tex-chtml.js").is_file():
        raise PluginError("找不到 MathJax（node_modules/mathjax）：请先在项目根目录运行 npm ci")
    found = []
    for part in MATHJAX_PARTS:
        path = source / part
        for file in [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()):
            uri = f"assets/mathjax/{file.relative_to(source).as_posix()}"
            found.append(File.generated(config, uri, abs_src_path=str(file)))
    return found


def on_files(files, config):
    try:
        executor = settings.executor_from_environment(ROOT)
        chapters = discover(executor.code_dir)
    except (settings.SettingsError, ChapterError) as exc:
        raise PluginError(str(exc)) from None
    _outcomes.clear()
    try:
        outcomes = executor.run_all(chapters)
    except ChapterFailed as exc:
        raise PluginError(f"章节 {exc.chapter} 运行失败（{exc.reason}），输出的最后几行：\n{exc.tail}") from None
    for chapter, outcome in zip(chapters, outcomes, strict=True):
        verb = "命中缓存" if outcome.cache_hit else f"已运行，{outcome.run_info['wall_time_s']:.1f} s"
        log.info(f"章节 {chapter.name}：{verb}")
        _outcomes[chapter.name] = outcome
        for path in outcome.output_files():
            uri = f"generated/{chapter.name}/{path.relative_to(outcome.entry).as_posix()}"
            files.append(File.generated(config, uri, abs_src_path=str(path)))
    for file in _mathjax_files(config):
        files.append(file)
    return files


def on_page_markdown(markdown, page, config, files):
    namespace = {"run_report": pages.report_table(list(_outcomes.values()))}
    name = page.meta.get("chapter")
    if name is not None:
        if name not in _outcomes:
            raise PluginError(f"{page.file.src_uri}: front matter 里的章节 {name!r} 在 code/ 中不存在")
        outcome = _outcomes[name]
        namespace.update(outcome.results["results"])
        markdown = pages.insert_after_title(markdown, pages.provenance(outcome, f"code/{name}.py"))
    try:
        return pages.substitute(markdown, namespace)
    except pages.PageError as exc:
        raise PluginError(f"{page.file.src_uri}: {exc}") from None
