"""One vocabulary and one notation: every page and every chapter script uses the glossary's
terms, never the variants it lists; the 笔记原文 quotes hold only the notes' own words."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest
from conftest import CODE, ROOT

from bookbuild.glossary import CJK, avoided_uses, link_first_uses, read_terms

DOCS = ROOT / "docs"
GLOSSARY = DOCS / "glossary.md"
TERMS = read_terms(GLOSSARY)
PAGES = sorted(p for p in DOCS.rglob("*.md") if p != GLOSSARY)
SEEDS = ROOT.parent / "shared" / "seeds"
# The notation of the glossary's 记号 table, per page: symbols its formulas must not use.
RECURRENT_PAGES = ("rnn.md", "vanishing-gradients.md", "lstm.md")
NOTATION_AVOIDED = {
    r"\bU\b|\bV\b": "U、V 作权重矩阵（用 W_xh、W_hh、W_hq）",
    r"\\varphi": "φ 写作 \\phi",
    r"\bs\^\{?\(t\)": "s⁽ᵗ⁾ 作隐状态（用 h⁽ᵗ⁾）",
    r"\\sigma\s*\(?\s*W_\{?hh": "σ 作 RNN 的激活函数（σ 只表示 sigmoid，一般的激活函数用 φ）",
}
FORMULA = re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$", re.DOTALL)


def test_the_glossary_is_a_real_table():
    assert len(TERMS) >= 40
    assert len({t.id for t in TERMS}) == len(TERMS)
    terms = {t.term for t in TERMS}
    for term in TERMS:
        assert term.english, term.term
        assert not set(term.avoid) & terms, f"{term.term}: a variant is another term"


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_pages_use_the_glossary_terms(page):
    found = avoided_uses(page.read_text("utf-8"), TERMS)
    assert not found, "\n".join(f"{page.name}: “{v}” → “{t.term}”：…{c}…" for v, t, c in found)


def test_nav_titles_use_the_glossary_terms():
    found = avoided_uses((ROOT / "mkdocs.yml").read_text("utf-8"), TERMS, english=False)
    assert not found, found


def _script_text(script: Path) -> str:
    """The Chinese comments and strings of a script (identifiers such as ``epoch`` are code)."""
    parts = []
    for token in tokenize.generate_tokens(io.StringIO(script.read_text("utf-8")).readline):
        if token.type in (tokenize.COMMENT, tokenize.STRING) and CJK.search(token.string):
            # an f-string's {EPOCHS} is code, not a word of the sentence
            parts.append(re.sub(r"\{[^{}]*\}", "", token.string).replace("`", ""))
    return "\n".join(parts)


@pytest.mark.parametrize("script", sorted(CODE.glob("*.py")), ids=lambda p: p.name)
def test_scripts_use_the_glossary_terms(script):
    found = avoided_uses(_script_text(script), TERMS)
    assert not found, "\n".join(f"{script.name}: “{v}” → “{t.term}”：…{c}…" for v, t, c in found)


@pytest.mark.parametrize("name", RECURRENT_PAGES)
def test_recurrent_pages_share_one_notation(name):
    formulas = " ".join(FORMULA.findall((DOCS / "chapters" / name).read_text("utf-8")))
    for pattern, why in NOTATION_AVOIDED.items():
        assert not re.search(pattern, formulas), f"{name}: {why}"


def _letters(text: str) -> str:
    """What survives of a quote once Markdown, punctuation and spacing are gone."""
    text = re.sub(r"\$[^$]*\$", "", text)
    return "".join(ch for ch in text if ch.isalnum())


def test_notes_quotes_hold_only_the_notes_words():
    if not SEEDS.is_dir():
        pytest.skip(f"the notes are not in {SEEDS}")
    notes = _letters("".join(p.read_text("utf-8") for p in sorted(SEEDS.glob("*.txt"))))
    quotes = 0
    for page in PAGES:
        for quote in re.finditer(r"^>[ \t]*笔记原文：(?P<text>[^\n]*(?:\n>[^\n]*)*)", page.read_text("utf-8"),
                                 re.MULTILINE):
            text = quote["text"].replace("\n>", "\n")
            for fragment in re.split(r"……|\.\.\.", text):
                quotes += 1
                assert _letters(fragment) in notes, f"{page.name}: not the notes' words: {fragment.strip()!r}"
        for word in re.findall(r"<q>(.*?)</q>", page.read_text("utf-8")):
            quotes += 1
            assert _letters(word) in notes, f"{page.name}: <q>{word}</q> is not the notes' words"
    assert quotes >= 12


def test_a_variant_in_prose_is_found_and_code_is_not_prose():
    text = "训练 3 个 epoch，每批 50 张。\n\n`epoch` 和 $batch$ 是代码和公式。\n\n> 笔记原文：激励函数分类\n"
    variants = [v for v, _, _ in avoided_uses(text, TERMS)]
    assert variants == ["一批", "epoch"] or sorted(variants) == sorted(["epoch", "每批"])
    assert not avoided_uses("BatchNorm 与 batch_size 都不是小批量的别名。", TERMS)
    # an English gloss and the titles of papers are not the site's prose; what follows them is
    text = "批量规范化（batch normalization）。\n\n## 参考文献\n\n- Batch Normalization\n\n## 练习\n\n每批 50 个。"
    assert [v for v, _, _ in avoided_uses(text, TERMS)] == ["每批"]


def test_first_use_of_a_term_links_to_the_glossary():
    html = ("<h2>学习率</h2><p>先调学习率，再调学习率。</p><pre><code>激活函数</code></pre>"
            '<p><span class="arithmatex">隐状态</span> 随机梯度下降 梯度下降 激活函数</p>')
    linked = link_first_uses(html, TERMS, "../glossary/")
    assert linked.count('href="../glossary/#learning-rate"') == 1
    assert "<h2>学习率</h2>" in linked and "<code>激活函数</code>" in linked
    assert linked.index("#learning-rate") < linked.index("再调学习率")
    assert "#hidden-state" not in linked  # inside a formula
    assert '#sgd" title="stochastic gradient descent（SGD）">随机梯度下降</a>' in linked
    assert '#gradient-descent"' in linked and '#activation-function"' in linked
