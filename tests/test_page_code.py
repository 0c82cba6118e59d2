"""The code on every page runs as shown: its Python blocks, pasted in order into a fresh
interpreter (with the page's smaller ``paste_check`` settings), run to the end.

The interpreter starts in an empty folder holding only ``data/`` (a tiny MNIST in MNIST's
own format, where the MNIST pages' code looks for it); nothing from ``code/`` is importable.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import tiny_mnist
from conftest import CODE, ROOT

from bookbuild.pagecode import PageCodeError, paste_settings, program, shown_blocks

PAGES = sorted((ROOT / "docs" / "chapters").glob("*.md"))
# What the runtime behind the build looks like; a page's code must not need any of it.
RUNTIME = ("chapter_kit", "run.", "args.", "DataError")


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_page_code_runs_when_pasted(page, tmp_path):
    source = program(page, CODE)
    for word in RUNTIME:
        assert word not in source, f"{page.name} shows the build's runtime ({word!r})"
    tiny_mnist.write(tmp_path / "data", n_train=600, n_test=200, extracted=True)
    (tmp_path / "page.py").write_text(source, "utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PTNOTES_") and k != "PYTHONPATH"}
    env.update(MPLBACKEND="Agg", CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-I", "page.py"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{page.name}: pasted code failed\n{done.stderr[-3000:]}"


def test_every_chapter_page_shows_code():
    for page in PAGES:
        assert shown_blocks(page, CODE), f"{page.name} shows no code"


def test_a_page_that_uses_an_unshown_name_fails(tmp_path):
    page = tmp_path / "broken.md"
    page.write_text("```python\nSTEPS = 3\n```\n\n```python\nprint(STEPS + HIDDEN)\n```\n", "utf-8")
    (tmp_path / "page.py").write_text(program(page, CODE), "utf-8")
    done = subprocess.run([sys.executable, "-I", "page.py"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode != 0 and "NameError" in done.stderr


def test_paste_settings_replace_the_shown_values(tmp_path):
    page = tmp_path / "small.md"
    page.write_text("---\npaste_check:\n  STEPS: 2\n---\n\n```python\nSTEPS = 1000\n```\n\n"
                    "```python\nassert STEPS == 2\n```\n", "utf-8")
    assert paste_settings(page) == {"STEPS": 2}
    (tmp_path / "page.py").write_text(program(page, CODE), "utf-8")
    done = subprocess.run([sys.executable, "-I", "page.py"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_paste_setting_for_an_unshown_name_is_an_error(tmp_path):
    page = tmp_path / "typo.md"
    page.write_text("---\npaste_check:\n  STESP: 2\n---\n\n```python\nSTEPS = 1000\n```\n", "utf-8")
    with pytest.raises(PageCodeError, match="STESP"):
        program(page, CODE)
