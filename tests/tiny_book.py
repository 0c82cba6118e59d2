"""A tiny book for build tests: the real hook, bookbuild and chapter_kit, one chapter, one page.

Its chapter records one claim that holds on even seeds and fails on odd ones, and takes
well under a second to run after importing torch.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import CODE, ROOT, mkdocs_env

TINY_CHAPTER = '''\
"""tiny：测试用的一章。"""

import chapter_kit


def main(argv=None):
    parser = chapter_kit.chapter_parser(__file__, __doc__)
    run = chapter_kit.start(parser, argv)
    remainder = run.seed % 2
    run.record(remainder=remainder)
    run.claim("even_seed", remainder == 0, f"种子 {run.seed} 除以 2 的余数 {remainder} = 0")
    run.finish()


if __name__ == "__main__":
    main()
'''

TINY_PAGE = """\
---
chapter: tiny
---

# 小书

这次运行的种子是偶数{{ claim even_seed }}，余数是 {{ remainder }}。代码里的 `{{ claim not_a_citation }}` 照原样显示。
"""

TINY_CONFIG = """\
site_name: tiny
site_url: http://127.0.0.1:8000/
strict: true
hooks:
  - bookbuild/mkdocs_hook.py
plugins:
  - mkdocs-jupyter:
      include: ["notebooks/*.ipynb"]
      execute: false
      include_requirejs: false
markdown_extensions:
  - admonition
  - md_in_html
  - tables
nav:
  - index.md
  - report.md
not_in_nav: |
  /notebooks/
"""


def make(tmp_path: Path) -> Path:
    """Writes the tiny book into ``tmp_path``; returns it."""
    shutil.copytree(ROOT / "bookbuild", tmp_path / "bookbuild", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "code").mkdir()
    shutil.copy(CODE / "chapter_kit.py", tmp_path / "code")
    (tmp_path / "code" / "tiny.py").write_text(TINY_CHAPTER, "utf-8")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text(TINY_PAGE, "utf-8")
    shutil.copy(ROOT / "docs" / "report.md", tmp_path / "docs")
    (tmp_path / "mkdocs.yml").write_text(TINY_CONFIG, "utf-8")
    (tmp_path / "node_modules").symlink_to(ROOT / "node_modules")
    return tmp_path


def build(book: Path, site: Path | str | None = None, **env) -> subprocess.CompletedProcess:
    """``mkdocs build`` of the book in full mode (settings in ``env`` override) into ``site``."""
    settings = {"PTNOTES_MODE": "full", "PTNOTES_CACHE": str(book / "cache"), **env}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "-f", str(book / "mkdocs.yml"), "-d", str(site or book / "site")],
        cwd=book,
        env=mkdocs_env(**settings),
        capture_output=True,
        text=True,
        timeout=300,
    )
