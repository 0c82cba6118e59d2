"""Placeholders on pages are filled from a run's results; code is shown verbatim."""

from __future__ import annotations

import pytest

from bookbuild.pages import PageError, avif_animations, insert_after_title, substitute

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
