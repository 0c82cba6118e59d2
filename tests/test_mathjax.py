"""Formulas are typeset at build time by MathJax itself (in Node): pages carry the output,
accessible, with glyph rules and fonts served by the site; a formula MathJax cannot read is
an error naming it; a warm build starts no Node at all."""

from __future__ import annotations

import pytest
from conftest import ROOT

from bookbuild.mathjax import MathError, Typesetter, glyph_characters, minified, subset_fonts, typeset_page

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
    assert "xmlns=" not in html and "unselectable" not in html and "style=" not in html.split("<mjx-math")[0]
    css = typesetter.stylesheet()
    assert css.startswith('mjx-container[jax="CHTML"]{position:relative}')  # taken off each container
    assert "@font-face" in css and "output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff" in css
    assert ".mjx-c1D466.TEX-I" in css  # the glyph of the italic y has its rule


def test_a_formula_wider_than_a_phone_takes_the_keyboards_focus(typesetter):
    """Wider than a small phone's column, a formula may scroll sideways there: it is a stop for
    the keyboard from the start (its block may not be drawn yet, and JavaScript may be off)."""
    wide = "h^{(t)}=\\tanh(W_{xh}x^{(t)}+W_{hh}h^{(t-1)}+b_h)=\\tanh(W_{xh}x^{(t)}+W_{hh}h^{(t-1)}+b_h)"
    html = typeset_page(f'<span class="arithmatex">\\({wide}\\)</span> <span class="arithmatex">\\(y=Wx+b\\)</span>',
                        typesetter)
    assert html.count('tabindex="0" role="region" aria-label="公式（可左右滚动）"') == 1
    assert html.startswith('<span class="arithmatex" data-may-scroll tabindex="0"')
    assert typesetter.formula("y=Wx+b", False)[1] < 6 < typesetter.formula(wide, False)[1]


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


def test_the_fonts_keep_every_character_the_formulas_draw(typesetter, tmp_path):
    from fontTools.ttLib import TTFont

    typeset_page(PAGE, typesetter)
    css = typesetter.stylesheet()
    drawn = glyph_characters(css)
    assert {"y", "W", "x", "b", "=", "+", "<", "\u2211"} <= drawn  # \sum is U+2211, written "\2211" in the CSS
    fonts = ROOT / "node_modules" / "mathjax" / "es5" / "output" / "chtml" / "fonts" / "woff-v2"
    subset_fonts(css, fonts, tmp_path / "fonts")
    for name in ("MathJax_Main-Regular.woff", "MathJax_Math-Italic.woff", "MathJax_Size1-Regular.woff"):
        whole, cut = TTFont(fonts / name), TTFont(tmp_path / "fonts" / name)
        kept = {chr(code) for code in cut.getBestCmap()}
        assert kept >= drawn & {chr(code) for code in whole.getBestCmap()}, name
        assert (tmp_path / "fonts" / name).stat().st_size < (fonts / name).stat().st_size / 2, name
    # a font none of whose characters is drawn is kept whole: browsers refuse an empty font
    assert (tmp_path / "fonts" / "MathJax_Zero.woff").read_bytes() == (fonts / "MathJax_Zero.woff").read_bytes()


def test_the_stylesheet_is_minified_but_keeps_its_strings():
    css = '/* 0 */\nmjx-c.mjx-c20::before {\n  padding: 0 0.25em 0 0;\n  content: " ";\n}\n\nmjx-c.mjx-c2211::before {\n  content: "\\2211";\n}\n'
    assert minified(css) == 'mjx-c.mjx-c20::before{padding:0 0.25em 0 0;content:" "}mjx-c.mjx-c2211::before{content:"\\2211"}'
    assert glyph_characters(css) == {" ", "\u2211"}
