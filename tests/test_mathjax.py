"""Formulas are typeset at build time by MathJax itself (in Node): pages carry the output,
accessible, with glyph rules and fonts served by the site; a formula MathJax cannot read is
an error naming it; a warm build starts no Node at all."""

from __future__ import annotations

import pytest
from conftest import ROOT

from bookbuild.mathjax import MathError, Typesetter, typeset_page

PAGE = (
    '<p>线性：<span class="arithmatex">\\(y=Wx+b\\)</span>，比较 <span class="arithmatex">\\(a&lt;b\\)</span>。</p>\n'
    '<div class="arithmatex">\\[L=\\frac{1}{m}\\sum_{i=1}^m(\\hat y_i-y_i)^2\\]</div>'
)


@pytest.fixture
def typesetter(tmp_path):
    made = Typesetter(ROOT / "node_modules", tmp_path / "formulas.json")
    yield made
    made.close()


def test_formulas_become_accessible_commonhtml(typesetter):
    html = typeset_page(PAGE, typesetter)
    assert "\\(" not in html and "\\[" not in html
    assert html.count("<mjx-container") == 3
    assert html.count("<mjx-assistive-mml") == 3  # what screen readers read
    assert html.count('display="true"') >= 1  # the block formula
    assert "<mi>a</mi><mo>&lt;</mo><mi>b</mi>" in html  # the escaped < was read as <
    css = typesetter.stylesheet()
    assert "@font-face" in css and "output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff" in css
    assert ".mjx-c1D466.TEX-I" in css  # the glyph of the italic y has its rule


def test_notebook_markdown_formulas_are_typeset(typesetter):
    cell = ('<div class="jp-RenderedMarkdown" data-mime-type="text/markdown"><p>网络 $\\hat y = W_2 h$，'
            "损失 $$L=\\sum_i \\ell_i$$</p></div><pre>price = $5 and $6</pre>")
    html = typeset_page(cell, typesetter)
    assert html.count("<mjx-container") == 2 and "$" not in html.split("<pre>")[0]
    assert "<pre>price = $5 and $6</pre>" in html  # outside Markdown cells a $ is a dollar


def test_an_unreadable_formula_names_itself(typesetter):
    with pytest.raises(MathError, match=r"\\undefinedmacro"):
        typeset_page('<span class="arithmatex">\\(\\undefinedmacro x\\)</span>', typesetter)
    with pytest.raises(MathError, match=r"\\\\frac\{a"):
        typeset_page('<span class="arithmatex">\\(\\frac{a\\)</span>', typesetter)


def test_a_warm_build_starts_no_node_and_the_cache_keeps_only_what_is_used(tmp_path):
    cache = tmp_path / "formulas.json"
    first = Typesetter(ROOT / "node_modules", cache)
    typeset_page(PAGE, first)
    typeset_page('<span class="arithmatex">\\(z\\)</span>', first)
    css = first.stylesheet()
    first.close()
    second = Typesetter(ROOT / "node_modules", cache)
    html = typeset_page(PAGE, second)
    typeset_page('<span class="arithmatex">\\(z\\)</span>', second)
    assert second.stylesheet() == css and second.typeset_count == 0 and second._node is None
    second.close()
    assert html.count("<mjx-container") == 3
    third = Typesetter(ROOT / "node_modules", cache)  # the page without "z": the stylesheet is made again
    typeset_page(PAGE, third)
    assert ".mjx-c1D467.TEX-I" not in third.stylesheet()
    assert third.typeset_count == 3  # its three formulas, typeset again for the new stylesheet
    third.close()
    assert "Iz" not in cache.read_text("utf-8")
