"""Placeholders on pages are filled from a run's results; code is shown verbatim."""

from __future__ import annotations

import re

import pytest

from bookbuild.pages import (
    PageError,
    avif_animations,
    collapsed_whitespace,
    deferred_images,
    guessed_block_heights,
    insert_after_title,
    lean_code_blocks,
    substitute,
)

RESULTS = {"final_loss": 0.012345, "grad_max": {"sigmoid": 0.25}, "steps": 150, "grad": [2.0, 0.2000001]}


def test_values_are_formatted_with_their_spec():
    text = "损失 {{ final_loss:.4f }}，{{ steps }} 步，{{grad_max.sigmoid:.0%}}，{{ grad.1:.1f }}。"
    assert substitute(text, RESULTS) == "损失 0.0123，150 步，25%，0.2。"


def test_code_blocks_and_inline_code_are_left_alone():
    text = "```python\nprint('{{ final_loss }}')\n```\n写作 `{{ final_loss:.4f }}`，值为 {{ final_loss:.2f }}。\n"
    assert substitute(text, RESULTS) == (
        "```python\nprint('{{ final_loss }}')\n```\n写作 `{{ final_loss:.4f }}`，值为 0.01。\n"
    )


def test_an_unknown_result_names_what_exists():
    with pytest.raises(PageError, match="accuracy.*final_loss"):
        substitute("{{ accuracy:.2% }}", RESULTS)


def test_a_bad_format_spec_is_an_error():
    with pytest.raises(PageError, match="steps"):
        substitute("{{ steps:.2q }}", RESULTS)


def test_text_and_rows_have_layouts():
    namespace = {"model": "Net(\n  (fc): Linear\n)", "rows": [{"k": 3, "ok": True}, {"k": 5, "ok": False}]}
    assert substitute("{{ model:code }}", namespace) == "```text\nNet(\n  (fc): Linear\n)\n```"
    assert substitute("{{ rows:table }}", namespace) == "| k | ok |\n| --- | --- |\n| 3 | True |\n| 5 | False |"
    with pytest.raises(PageError, match="字典"):
        substitute("{{ model:table }}", namespace)


def test_box_goes_under_the_title():
    assert insert_after_title("intro\n# 标题\n正文\n", "BOX\n") == "intro\n# 标题\n\nBOX\n\n正文\n"


def test_an_animation_with_an_avif_beside_it_is_a_picture():
    files = {"g/a.gif", "g/a.avif", "g/b.gif", "g/c.png", "g/c.avif"}
    html = '<p><img alt="训练" src="g/a.gif" width="640"> <img src="g/b.gif"> <img src="g/c.png"></p>'
    assert avif_animations(html, lambda src: src if src in files else None) == (
        '<p><picture><source srcset="g/a.avif" type="image/avif"><img alt="训练" src="g/a.gif" width="640"></picture>'
        ' <img src="g/b.gif"> <img src="g/c.png"></p>'
    )


def test_figures_but_the_first_load_when_the_reader_nears_them():
    html = '<img src="a.png"> <img src="b.png" width="2" height="1"> <img src="c.png" loading="eager">'
    assert deferred_images(html) == (
        '<img src="a.png"> <img src="b.png" width="2" height="1" loading="lazy" decoding="async"> '
        '<img src="c.png" loading="eager">'
    )


def test_code_blocks_lose_the_spans_the_theme_does_not_colour():
    code = ('<div class="highlight"><pre><span></span><code><span class="kn">import</span><span class="w"> </span>'
            '<span class="nn">torch</span>\n<span class="n">x</span><span class="o">=</span><span class="mi">1</span>\n'
            "</code></pre></div>")
    assert lean_code_blocks(code) == (
        '<div class="highlight"><pre><span></span><code><span class="kn">import</span> <span class="nn">torch</span>\n'
        'x<span class="o">=</span><span class="mi">1</span>\n</code></pre></div>'
    )
    # outside a code block, a span of class n is someone else's
    assert lean_code_blocks('<p><span class="n">n</span></p>') == '<p><span class="n">n</span></p>'


def test_whitespace_between_tags_collapses_but_not_inside_code_or_text():
    html = '<nav>\n      <a>一</a>\n\n      <a>二</a>\n</nav><pre>  x\n\n  y</pre>\n   <p>甲  乙\n   丙</p>'
    assert collapsed_whitespace(html) == '<nav>\n<a>一</a>\n<a>二</a>\n</nav><pre>  x\n\n  y</pre>\n<p>甲  乙\n   丙</p>'


def test_each_top_level_block_guesses_its_height():
    code = '<div class="highlight"><pre><code>a\nb\nc\n</code></pre></div>'
    html = (
        '<header><p>页眉</p></header><article class="md-content__inner md-typeset">\n<h1 id="t">标题</h1>\n'
        + "<p>" + "字" * 34 + "</p>\n" + code + "\n"
        + '<ul>\n<li>一</li>\n<li><p>二</p><ul><li>三</li></ul></li>\n</ul>\n'
        + '<p><img src="f.png"></p>\n</article><footer><p>页脚</p></footer>'
    )
    out = guessed_block_heights(html)
    heights = re.findall(r'<(\w+)[^>]* style="contain-intrinsic-block-size: auto ([\d.]+)em"', out)
    # two lines of a 17-em column; three code lines; the list's four lines (three items, a paragraph)
    assert heights == [("p", "3.2"), ("div", "4.9"), ("ul", "11.4")]
    assert out.count("style=") == 3  # nothing outside the article, nor the paragraph with a figure
    assert "<header><p>页眉</p></header>" in out and "<footer><p>页脚</p></footer>" in out
    assert guessed_block_heights("<p>没有正文</p>") == "<p>没有正文</p>"
