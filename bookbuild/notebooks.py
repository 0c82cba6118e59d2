"""A chapter's notebook: its script turned into cells by jupytext, made self-contained, with
the outputs of the run the build already made attached. Nothing here runs the chapter.

The notebook opens with the chapter's docstring, then a cell that installs what Colab lacks and
one ``%%writefile`` cell per local module the script imports, so that it runs anywhere on
its own: these helper cells are tagged and folded (in Jupyter, and on the site by
``fold_helper_cells``), so the reader meets the chapter first. It ends with ``main([])``
carrying that run's printed output and figures.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import re

import jupytext
import nbformat

from .runner import LOG_NAME, Outcome

MARKER = re.compile(r"^[ \t]*# --8<-- \[(start|end):[\w-]+\]\n", re.MULTILINE)
MAIN_GUARD = re.compile(r'^if __name__ == "__main__":\n    main\(\)\n?\Z', re.MULTILINE)
# Colab has torch, torchvision, matplotlib and tqdm; the chapters' CJK font comes from mplfonts.
INSTALL = "%pip install -q mplfonts==0.0.11  # 图中中文字体（Colab 等环境缺少）"
HELPER_TAG = "helper"  # nbconvert gives such a cell the class celltag_helper
RUN_CELL = 'main([])  # 参数写在列表里，例如 main(["--quick", "--device", "cpu"])'


def _source(path) -> str:
    return MARKER.sub("", path.read_text("utf-8"))


def _is_docstring(source: str) -> bool:
    try:
        statements = ast.parse(source).body
    except SyntaxError:
        return False
    return len(statements) == 1 and isinstance(getattr(statements[0], "value", None), ast.Constant)


def _figure_output(path) -> nbformat.NotebookNode:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    if path.suffix == ".gif":  # notebook viewers show GIFs through HTML
        bundle = {"text/html": f'<img src="data:image/gif;base64,{data}" alt="{path.stem}">'}
    else:
        bundle = {"image/png": data}
    return nbformat.v4.new_output("display_data", data=bundle)


def chapter_notebook(outcome: Outcome, page_url: str | None = None) -> nbformat.NotebookNode:
    chapter = outcome.chapter
    script = _source(chapter.script)
    docstring = ast.get_docstring(ast.parse(script)) or chapter.name
    title = docstring.splitlines()[0].split("：")[0]  # "回归网络：……" -> "回归网络"
    intro = [
        f"# {title}",
        "",
        docstring,
        "",
        f"这个笔记本由项目中的 `code/{chapter.script.name}` 自动生成，最后一格的输出来自构建网站时的那次运行。",
    ]
    if page_url:
        intro.append(f"讲解见网站上的[这一章]({page_url})。")
    setup = [
        nbformat.v4.new_code_cell(INSTALL),
        *(nbformat.v4.new_code_cell(f"%%writefile {m.name}\n{_source(m)}") for m in chapter.local_modules),
        nbformat.v4.new_code_cell(f'__file__ = "{chapter.script.name}"  # 章节名取自脚本的文件名'),
    ]
    for cell in setup:  # they run first, but the reader meets the chapter first: folded away
        cell.metadata.update(tags=[HELPER_TAG], jupyter={"source_hidden": True})
    intro.append(f"开头 {len(setup)} 格（已折叠）准备运行环境：安装图中中文所需的字体包，写出本章用到的辅助模块。")
    cells = [nbformat.v4.new_markdown_cell("\n".join(intro)), *setup]
    body = jupytext.reads(script, fmt="py:light")
    for cell in body.cells:
        if cell.cell_type == "code" and _is_docstring(cell.source):
            continue  # the docstring already opens the notebook
        if cell.cell_type == "code" and MAIN_GUARD.search(cell.source):
            cell.source = MAIN_GUARD.sub(RUN_CELL, cell.source).strip()
            log = outcome.entry / LOG_NAME
            outputs = [nbformat.v4.new_output("stream", name="stdout", text=log.read_text("utf-8", "replace"))]
            outputs += [_figure_output(outcome.entry / name) for name in outcome.results["figures"]]
            cell.outputs = outputs
            cell.execution_count = 1
        cells.append(cell)
    for index, cell in enumerate(cells):
        # nbformat draws random cell ids: fixed ones keep the file identical from build to build,
        # so it is rewritten, and mkdocs-jupyter renders it again, only when something changed
        cell.id = f"cell-{index}"
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata.update(
        kernelspec={"name": "python3", "display_name": "Python 3", "language": "python"},
        language_info={"name": "python"},
    )
    return notebook


def _closing_div(html: str, start: int) -> int:
    """The index just past the ``</div>`` that closes the ``<div`` at ``start``."""
    depth = 0
    for tag in re.finditer(r"<div\b|</div>", html[start:]):
        depth += 1 if tag.group(0) == "<div" else -1
        if depth == 0:
            return start + tag.end()
    raise ValueError("unbalanced <div> in a notebook page")


def fold_helper_cells(html: str) -> str:
    """On a notebook's page, each helper cell sits in a closed <details> the reader may open."""
    # the summary names the cell by its first line, e.g. "%%writefile chapter_kit.py"
    out, position = [], 0
    for cell in re.finditer(rf'<div [^>]*class="jp-Cell [^"]*celltag_{HELPER_TAG}[^"]*"[^>]*>', html):
        if cell.start() < position:
            continue
        end = _closing_div(html, cell.start())
        first_line = re.search(r"<pre>(.*?)\n", html[cell.start() : end], re.DOTALL)
        label = re.sub(r"<[^>]+>", "", first_line.group(1)).strip() if first_line else "准备运行环境"
        # folded away, the module's source goes without syntax colouring: a third of the bytes
        plain = re.sub(r"<span\b[^>]*>|</span>", "", html[cell.start() : end])
        out += [html[position : cell.start()], '<details class="notebook-helper"><summary>运行环境：<code>',
                label, "</code></summary>", plain, "</details>"]
        position = end
    out.append(html[position:])
    return "".join(out)


STYLE = re.compile(r"<style[^>]*>(?P<css>.*?)</style>", re.DOTALL)
DATA_IMAGE = re.compile(r"data:image/(?:png|gif);base64,(?P<data>[A-Za-z0-9+/=\s]+)")
EMPTY_HEADING = re.compile(r'<(?P<tag>h[1-6]) id="">(?P<text>.*?)<a class="anchor-link" href="#">', re.DOTALL)
SHARED_STYLE_MIN = 2000  # a <style> this long is the notebook template's: the same on every notebook page


def slim_page(page_html: str, figures: dict[str, str], assets_url: str) -> tuple[str, dict[str, str]]:
    """A notebook's page made light: the template's long <style> blocks become one shared
    stylesheet each (returned as {file name: CSS} for the build to write under assets_url),
    and the figures embedded in the outputs are served from the chapter's generated files
    (``figures`` maps their base64 to their URL), so a page carries neither twice."""
    sheets: dict[str, str] = {}

    def shared_style(match: re.Match) -> str:
        css = match["css"].strip()
        if css.startswith("[") and css.endswith("]"):
            # mkdocs-jupyter's template prints nbconvert's list of highlighting stylesheets as a
            # Python list ("['pre { …'"): no browser reads that; the CSS is its items
            css = "\n".join(ast.literal_eval(css))
        if len(css) < SHARED_STYLE_MIN:
            return f"<style>{css}</style>"
        name = f"notebook-{hashlib.sha256(css.encode()).hexdigest()[:12]}.css"
        sheets[name] = css
        return f'<link rel="stylesheet" href="{assets_url}{name}">'

    def served_figure(match: re.Match) -> str:
        return figures.get(re.sub(r"\s", "", match["data"]), match.group(0))

    return DATA_IMAGE.sub(served_figure, STYLE.sub(shared_style, page_html)), sheets


def heading_ids(page_html: str) -> str:
    """nbconvert gives an all-Chinese heading an empty id (and MkDocs' table of contents and
    skip link then point at #_1, #_2 …, which do not exist): each gets its slug instead."""
    from pymdownx.slugs import slugify

    slug = slugify(case="lower")
    made: list[str] = []

    def named(match: re.Match) -> str:
        base = slug(re.sub(r"<[^>]+>", "", match["text"]).strip(), "-") or "section"
        name, n = base, 1
        while name in made:
            n += 1
            name = f"{base}_{n}"
        made.append(name)
        return f'<{match["tag"]} id="{name}">{match["text"]}<a class="anchor-link" href="#{name}">'

    page_html = EMPTY_HEADING.sub(named, page_html)
    for number, name in enumerate(made, 1):
        page_html = page_html.replace(f'href="#_{number}"', f'href="#{name}"')
    return page_html
