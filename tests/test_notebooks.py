"""Every chapter has a notebook generated from its script, carrying the outputs of the run the
build made; the notebook runs on its own, with nothing from the project beside it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import nbformat
import pytest

import tiny_mnist
from bookbuild.chapters import discover
from bookbuild.notebooks import slim_page
from conftest import CODE, ROOT, mkdocs_build

CHAPTERS = [chapter.name for chapter in discover(CODE)]


def notebook_of(built_site, name):
    return nbformat.read(built_site["site"] / "notebooks" / name / f"{name}.ipynb", as_version=4)


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_chapter_has_a_notebook_with_the_runs_outputs(built_site, name):
    notebook = notebook_of(built_site, name)
    nbformat.validate(notebook)
    assert (built_site["site"] / "notebooks" / name / "index.html").is_file()  # rendered as a page
    results = json.loads((built_site["site"] / "generated" / name / "results.json").read_text("utf-8"))
    last = notebook.cells[-1]
    assert last.source.startswith("main([])")
    assert last.outputs[0].output_type == "stream" and f"{name}: 结果已写入" in last.outputs[0].text
    figures = [o for o in last.outputs if o.output_type == "display_data"]
    assert len(figures) == len(results["figures"])
    sources = "\n".join(cell.source for cell in notebook.cells)
    assert "--8<--" not in sources  # snippet markers are for the site only
    assert "%%writefile chapter_kit.py" in sources
    helpers = [cell for cell in notebook.cells if "helper" in cell.metadata.get("tags", [])]
    assert helpers and all(cell.metadata["jupyter"]["source_hidden"] for cell in helpers)
    assert any("%%writefile chapter_kit.py" in cell.source for cell in helpers)


def test_notebook_pages_fold_the_helper_cells(built_site):
    """The reader meets the chapter first: the environment cells are closed <details>."""
    html = (built_site["site"] / "notebooks" / "lstm" / "index.html").read_text("utf-8")
    folds = re.findall(r'<details class="notebook-helper"><summary>运行环境：<code>(.*?)</code></summary>', html)
    assert any("%%writefile chapter_kit.py" in label for label in folds), folds
    notebook = notebook_of(built_site, "lstm")
    assert len(folds) == sum("helper" in cell.metadata.get("tags", []) for cell in notebook.cells)
    # nothing of chapter_kit's source stands outside a fold
    outside = re.sub(r'<details class="notebook-helper">.*?</details>', "", html, flags=re.DOTALL)
    assert "def mnist_files" not in outside and "celltag_helper" not in outside


def test_notebooks_are_the_same_file_from_build_to_build(build_env, tmp_path):
    # Identical bytes: mkdocs-jupyter's cache then serves the rendered page on the next build.
    # (Its cache keeps only what the last build used, so this test makes both builds itself.)
    # Verbose builds: a normal build keeps mkdocs-jupyter's messages out of the log.
    builds = [mkdocs_build(ROOT / "mkdocs.yml", tmp_path / f"site{i}", verbose=True, **build_env) for i in (1, 2)]
    assert all(build.returncode == 0 for build in builds), builds[-1].stderr
    first, second = (tmp_path / f"site{i}" / "notebooks" / "lstm" / "lstm.ipynb" for i in (1, 2))
    assert first.read_bytes() == second.read_bytes()
    assert builds[1].stderr.count("Cache hit") == len(CHAPTERS)
    # the build never executes a notebook: they carry the outputs of the build's own runs
    log = builds[0].stderr + builds[1].stderr
    assert "execute=True" not in log
    # (the first build converts each notebook, or finds it in mkdocs-jupyter's cache from an earlier build)
    converted = builds[0].stderr.count("Converting notebook (execute=False)")
    assert converted + builds[0].stderr.count("Cache hit") == len(CHAPTERS)


def test_notebook_pages_stay_out_of_the_search_index(built_site):
    index = json.loads((built_site["site"] / "search" / "search_index.json").read_text("utf-8"))
    assert not any(doc["location"].startswith("notebooks/") for doc in index["docs"])



def test_chapter_pages_link_their_notebook(built_site):
    html = (built_site["site"] / "chapters" / "regression" / "index.html").read_text("utf-8")
    assert 'href="../../notebooks/regression/"' in html
    assert 'href="../../notebooks/regression/regression.ipynb" download' in html
    assert "colab.research.google.com" not in html  # no repository configured for this build


def test_colab_link_when_the_repository_is_known(build_env, tmp_path):
    build = mkdocs_build(
        ROOT / "mkdocs.yml", tmp_path / "site", PTNOTES_COLAB_REPO="someone/pytorch-notes", **build_env
    )
    assert build.returncode == 0, build.stderr
    html = (tmp_path / "site" / "chapters" / "lstm" / "index.html").read_text("utf-8")
    assert "https://colab.research.google.com/github/someone/pytorch-notes/blob/notebooks/lstm.ipynb" in html


def runnable_script(notebook, folder, argv):
    """What a notebook kernel would run: %%writefile cells become files, %pip is skipped."""
    lines = []
    for cell in notebook.cells:
        if cell.cell_type != "code" or cell.source.startswith("%pip"):
            continue
        if cell.source.startswith("%%writefile "):
            header, body = cell.source.split("\n", 1)
            (folder / header.split()[1]).write_text(body + "\n", "utf-8")
            continue
        lines.append(cell.source.replace("main([])", f"main({argv!r})"))
    return "\n\n".join(lines) + "\n"


@pytest.mark.parametrize("name", ["regression", "mnist_cnn"])
def test_a_notebook_runs_on_its_own(built_site, tmp_path, name):
    folder = tmp_path / "alone"
    folder.mkdir()
    argv = ["--quick", "--device", "cpu", "--out", str(tmp_path / "out")]
    if name == "mnist_cnn":
        tiny_mnist.write(tmp_path / "data", extracted=True)
        argv += ["--data", str(tmp_path / "data")]
    (folder / "notebook.py").write_text(runnable_script(notebook_of(built_site, name), folder, argv), "utf-8")
    # run from the folder, as a kernel started there would: only the folder is on the path
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PTNOTES_DATA")}
    result = subprocess.run(
        [sys.executable, "notebook.py"], cwd=folder, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((tmp_path / "out" / "results.json").read_text("utf-8"))["chapter"] == name


def test_the_highlighting_stylesheet_is_css_not_a_python_list():
    """mkdocs-jupyter prints nbconvert's highlighting CSS as a Python list; the shared sheet is CSS."""
    rules = ".highlight-ipynb .k { color: #008000 }\n" * 100
    printed = repr(["pre { line-height: 125%; }\n" + rules])  # what the template writes
    page = f'<head><style type="text/css">\n    {printed}\n  </style></head>'
    slimmed, sheets = slim_page(page, {}, "../assets/stylesheets/")
    (css,) = sheets.values()
    assert css.startswith("pre { line-height: 125%; }\n.highlight-ipynb .k { color: #008000 }\n")
    assert "<style" not in slimmed and 'href="../assets/stylesheets/notebook-' in slimmed
    printed = repr(["pre { font-family: 'Noto Sans Mono' }"])  # repr chooses double quotes here
    short = f"<style>{printed}</style>"
    assert slim_page(short, {}, "")[0] == "<style>pre { font-family: 'Noto Sans Mono' }</style>"
